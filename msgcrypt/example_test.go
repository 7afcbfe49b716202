package msgcrypt_test

import (
	"fmt"
	"log"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

// A push as WeChat sends it to the platform's event URL, and as the
// server reads it back.
func ExampleCrypter_Decrypt() {
	c, err := msgcrypt.New("msgtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}

	// The sender: the query carries timestamp, nonce and msg_signature.
	event := []byte("<xml><AppId>wx0123456789abcdef</AppId><InfoType>component_verify_ticket</InfoType></xml>")
	encrypt, signature, err := c.Seal(event, "1733220000", "872361")
	if err != nil {
		log.Fatal(err)
	}
	body := msgcrypt.Envelope("wx0123456789abcdef", encrypt)

	// The receiver.
	appID, encrypt, err := msgcrypt.ParseEnvelope(body)
	if err != nil {
		log.Fatal(err)
	}
	msg, err := c.Decrypt(signature, "1733220000", "872361", encrypt)
	fmt.Println(appID, err)
	fmt.Println(string(msg))

	_, err = c.Decrypt(signature, "1733220001", "872361", encrypt)
	fmt.Println(err)
	// Output:
	// wx0123456789abcdef <nil>
	// <xml><AppId>wx0123456789abcdef</AppId><InfoType>component_verify_ticket</InfoType></xml>
	// msgcrypt: message signature mismatch
}
