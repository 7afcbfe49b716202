package msgcrypt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

// FuzzDecrypt feeds Decrypt two kinds of input, each signed so that it
// gets past the signature: an arbitrary Encrypt string, and an arbitrary
// plaintext encrypted with the right key (random ciphertext almost never
// decrypts to valid padding, so the second is what reaches the layout
// checks). Nothing may panic, every error must be one of the sentinels,
// and whatever decrypts must be what the plaintext says.
func FuzzDecrypt(f *testing.F) {
	c := mustNew(f, token, sampleKey, appID)
	for _, msg := range []string{"", "x", "<xml><InfoType>unauthorized</InfoType></xml>"} {
		e, err := c.EncryptWithRandom([16]byte{1}, []byte(msg))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(padded(layout(uint32(len(msg)), msg, appID)), e)
	}
	f.Add(padded(layout(0xFFFFFFFF, "", appID)), "")
	f.Add(make([]byte, 32), "!!!")
	f.Add(bytes.Repeat([]byte{32}, 64), "AAAA")

	f.Fuzz(func(t *testing.T, plain []byte, encrypt string) {
		check := func(msg []byte, err error) {
			if err == nil {
				return
			}
			if msg != nil {
				t.Fatalf("an error (%v) came with a message", err)
			}
			if !errors.Is(err, msgcrypt.ErrPadding) && !errors.Is(err, msgcrypt.ErrAppID) && !errors.Is(err, msgcrypt.ErrMalformed) {
				t.Fatalf("error %v is none of the sentinels", err)
			}
		}

		msg, err := decryptSigned(c, encrypt)
		check(msg, err)
		if err == nil {
			// A message that decrypts re-encrypts to one that
			// decrypts the same.
			again, err := decryptSigned(c, mustEncrypt(t, c, string(msg)))
			if err != nil || !bytes.Equal(again, msg) {
				t.Fatalf("re-encrypted %q decrypts as %q, %v", msg, again, err)
			}
		}

		if len(plain) == 0 || len(plain)%16 != 0 || len(plain) > 1<<16 {
			return
		}
		msg, err = decryptSigned(c, rawEncrypt(t, plain))
		check(msg, err)
		if err == nil {
			n := binary.BigEndian.Uint32(plain[16:20])
			pad := int(plain[len(plain)-1])
			if want := plain[20 : 20+n]; !bytes.Equal(msg, want) || len(plain)%32 != 0 || pad < 1 || pad > 32 ||
				string(plain[20+n:len(plain)-pad]) != appID {
				t.Fatalf("plaintext %x decrypted to %q", plain, msg)
			}
		}
	})
}
