package interop

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

// TestMsgcryptAgreesWithSilenceper: what wxtoken's msgcrypt encrypts,
// silenceper/wechat decrypts, and the other way round, at lengths around
// the 32-byte padding blocks; both compute the same msg_signature; and
// each refuses what the other encrypted for another appid.
func TestMsgcryptAgreesWithSilenceper(t *testing.T) {
	const (
		token     = "interopToken"
		aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		appID     = "wx0123456789abcdef"
		timestamp = "1733220000"
		nonce     = "872361"
	)
	c, err := msgcrypt.New(token, aesKey, appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 13, 14, 15, 31, 32, 33, 64, 100, 1000, 4096} {
		msg := bytes.Repeat([]byte("<xml><InfoType>component_verify_ticket</InfoType></xml>"), n/16+1)[:n]

		t.Run(fmt.Sprintf("%d bytes, ours to theirs", n), func(t *testing.T) {
			encrypt, sig, err := c.Seal(msg, timestamp, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if theirs := util.Signature(token, timestamp, nonce, encrypt); theirs != sig {
				t.Fatalf("signature: ours %s, theirs %s", sig, theirs)
			}
			_, got, err := util.DecryptMsg(appID, encrypt, aesKey)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("theirs decrypted %q, want %q", got, msg)
			}
			if _, _, err := util.DecryptMsg("wx0000000000000000", encrypt, aesKey); err == nil {
				t.Fatal("theirs accepted our message for another appid")
			}
		})

		t.Run(fmt.Sprintf("%d bytes, theirs to ours", n), func(t *testing.T) {
			random := []byte("0123456789abcdef")
			encrypted, err := util.EncryptMsg(random, msg, appID, aesKey)
			if err != nil {
				t.Fatal(err)
			}
			encrypt := string(encrypted)
			got, err := c.Decrypt(util.Signature(token, timestamp, nonce, encrypt), timestamp, nonce, encrypt)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("ours decrypted %q, want %q", got, msg)
			}
			// Same random bytes, same ciphertext: the two agree
			// on every byte of the layout and the padding.
			var r [16]byte
			copy(r[:], random)
			ours, err := c.EncryptWithRandom(r, msg)
			if err != nil {
				t.Fatal(err)
			}
			if ours != encrypt {
				t.Fatalf("ciphertexts differ:\n ours   %s\n theirs %s", ours, encrypt)
			}

			other, err := util.EncryptMsg(random, msg, "wx0000000000000000", aesKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Decrypt(util.Signature(token, timestamp, nonce, string(other)), timestamp, nonce, string(other)); err == nil {
				t.Fatal("ours accepted their message for another appid")
			}
		})
	}
}
