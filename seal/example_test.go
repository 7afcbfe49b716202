package seal_test

import (
	"fmt"
	"log"

	"github.com/wxtoken/wxtoken/seal"
)

// A secret is sealed for its record, and opened after the key was
// rotated; NeedsRekey finds it for resealing under the new key.
func ExampleSealer() {
	oldText, _ := seal.GenerateKey() // kept by the operator, like `wxtoken keygen` output
	oldKey, err := seal.ParseKey(oldText)
	if err != nil {
		log.Fatal(err)
	}
	sealed, err := seal.New(oldKey).Seal([]byte("the AppSecret"), "apps/wx0123456789abcdef/secret")
	if err != nil {
		log.Fatal(err)
	}

	newText, _ := seal.GenerateKey()
	newKey, _ := seal.ParseKey(newText)
	s := seal.New(newKey, oldKey)
	plain, err := s.Open(sealed, "apps/wx0123456789abcdef/secret")
	fmt.Println(string(plain), err, s.NeedsRekey(sealed))

	_, err = s.Open(sealed, "apps/wxfedcba9876543210/secret")
	fmt.Println(err)
	// Output:
	// the AppSecret <nil> true
	// seal: cannot open sealed value: authentication failed: the value was changed or belongs to another record
}
