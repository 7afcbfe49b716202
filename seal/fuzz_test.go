package seal_test

import (
	"errors"
	"testing"

	"github.com/wxtoken/wxtoken/seal"
)

// FuzzOpen: whatever a store hands back, Open does not panic, fails with
// ErrOpen or ErrUnknownKey, and opens nothing but what was sealed.
func FuzzOpen(f *testing.F) {
	k, err := seal.ParseKey(testKey)
	if err != nil {
		f.Fatal(err)
	}
	s := seal.New(k)
	v := mustSeal(f, s, "secret", ad)
	f.Add(v)
	f.Add(v[:20])
	f.Add("v1.0000000000000000.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, sealed string) {
		got, err := s.Open(sealed, ad)
		switch {
		case err == nil && string(got) != "secret":
			// "secret" is all that was ever sealed under the key
			// (in every fuzzing process, each with its own
			// nonce); anything else opening is a forgery.
			t.Fatalf("%q opened as %q", sealed, got)
		case err != nil && !errors.Is(err, seal.ErrOpen) && !errors.Is(err, seal.ErrUnknownKey):
			t.Fatalf("%q: error %v is neither ErrOpen nor ErrUnknownKey", sealed, err)
		}
		_ = s.NeedsRekey(sealed)
	})
}
