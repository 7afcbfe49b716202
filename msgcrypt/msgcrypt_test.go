package msgcrypt_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

const (
	// sampleKey is WeChat's sample EncodingAESKey. Its last character
	// has non-zero unused bits, as many real keys do.
	sampleKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	token     = "pamtest"
	appID     = "wxb11529c136998cb6"
	timestamp = "1409304348"
	nonce     = "xxxxxx"
)

func mustNew(t testing.TB, token, key, appID string) *msgcrypt.Crypter {
	t.Helper()
	c, err := msgcrypt.New(token, key, appID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawEncrypt encrypts plain, whose length must be a multiple of 16, with
// the sample key and no padding or layout of its own, so that tests can
// hand Decrypt any plaintext at all. It is written from the documented
// scheme, independently of the package.
func rawEncrypt(t testing.TB, plain []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(sampleKey + "=")
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(ct, plain)
	return base64.StdEncoding.EncodeToString(ct)
}

// layout builds 16 random bytes ‖ length ‖ msg ‖ tail, as the plaintext
// before padding.
func layout(length uint32, msg, tail string) []byte {
	b := bytes.Repeat([]byte{0xA5}, 16)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(append(b, msg...), tail...)
}

// padded pads b to a multiple of 32 as WeChat does.
func padded(b []byte) []byte {
	n := 32 - len(b)%32
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

// decryptSigned signs encrypt properly, so that Decrypt gets past the
// signature to the check under test.
func decryptSigned(c *msgcrypt.Crypter, encrypt string) ([]byte, error) {
	return c.Decrypt(c.Signature(timestamp, nonce, encrypt), timestamp, nonce, encrypt)
}

func TestRoundTripAtEveryLengthAroundTheBlocks(t *testing.T) {
	// Appids of 18 characters (a real one) and of 12, with which an
	// empty message fills exactly one 32-byte block and takes a whole
	// block of padding.
	for _, id := range []string{appID, "wx0123456789"} {
		c := mustNew(t, token, sampleKey, id)
		var lengths []int
		for n := 0; n <= 130; n++ {
			lengths = append(lengths, n)
		}
		lengths = append(lengths, 255, 256, 1000, 1024, 4096, 65535, 65537)
		for _, n := range lengths {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(i*7 + n)
			}
			encrypt, sig, err := c.Seal(msg, timestamp, nonce)
			if err != nil {
				t.Fatalf("appid %s, %d bytes: Seal: %v", id, n, err)
			}
			ct, err := base64.StdEncoding.DecodeString(encrypt)
			if err != nil {
				t.Fatal(err)
			}
			size := 20 + n + len(id)
			if want := size + 32 - size%32; len(ct) != want {
				t.Fatalf("appid %s, %d bytes: ciphertext of %d bytes, want %d", id, n, len(ct), want)
			}
			got, err := c.Decrypt(sig, timestamp, nonce, encrypt)
			if err != nil {
				t.Fatalf("appid %s, %d bytes: Decrypt: %v", id, n, err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("appid %s, %d bytes: round trip changed the message", id, n)
			}
		}
	}
}

func TestEncryptUsesFreshRandomBytes(t *testing.T) {
	c := mustNew(t, token, sampleKey, appID)
	a, err := c.Encrypt([]byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encrypt([]byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two encryptions of one message are equal: the random prefix is not random")
	}
}

func TestKeysDifferingOnlyInUnusedBitsAreOneKey(t *testing.T) {
	// The 43rd character carries 4 bits of the key; its 2 low bits are
	// unused. "G" and "E" differ only there, so WeChat treats them as
	// the same key, and so must we.
	g := mustNew(t, token, sampleKey, appID)
	e := mustNew(t, token, sampleKey[:42]+"E", appID)
	encrypt, sig, err := g.Seal([]byte("hello"), timestamp, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := e.Decrypt(sig, timestamp, nonce, encrypt); err != nil || string(msg) != "hello" {
		t.Fatalf("Decrypt = %q, %v", msg, err)
	}
}

func TestDecryptRejects(t *testing.T) {
	c := mustNew(t, token, sampleKey, appID)
	good, err := c.EncryptWithRandom([16]byte{}, []byte("<xml>event</xml>"))
	if err != nil {
		t.Fatal(err)
	}
	goodSig := c.Signature(timestamp, nonce, good)
	goodCT, _ := base64.StdEncoding.DecodeString(good)
	b64 := base64.StdEncoding.EncodeToString

	// padEnd returns a 64-byte plaintext with a valid layout whose last
	// bytes are replaced by tail.
	padEnd := func(tail ...byte) []byte {
		b := padded(layout(5, "hello", appID))
		copy(b[len(b)-len(tail):], tail)
		return b
	}
	tests := []struct {
		name    string
		sig     string // "" means signed properly
		encrypt string
		want    error
	}{
		{"a signature with one digit changed", flipHex(goodSig), good, msgcrypt.ErrSignature},
		{"an empty signature", "-", good, msgcrypt.ErrSignature},
		{"an uppercase signature", strings.ToUpper(goodSig), good, msgcrypt.ErrSignature},
		{"the signature of another nonce", c.Signature(timestamp, "other", good), good, msgcrypt.ErrSignature},
		{"a signature made with another token", mustNew(t, "other", sampleKey, appID).Signature(timestamp, nonce, good), good, msgcrypt.ErrSignature},
		{"a wrong signature on garbage: the signature is checked first", flipHex(goodSig), "!!not base64!!", msgcrypt.ErrSignature},

		{"another appid", "", mustEncrypt(t, mustNew(t, token, sampleKey, "wx0000000000000000"), "hello"), msgcrypt.ErrAppID},
		{"the appid and more", "", rawEncrypt(t, padded(layout(5, "hello", appID+"x"))), msgcrypt.ErrAppID},
		{"a prefix of the appid", "", rawEncrypt(t, padded(layout(5, "hello", appID[:17]))), msgcrypt.ErrAppID},
		{"no appid", "", rawEncrypt(t, padded(layout(5, "hello", ""))), msgcrypt.ErrAppID},
		{"a length field that leaves no appid", "", rawEncrypt(t, padded(layout(5+18, "hello", appID))), msgcrypt.ErrAppID},
		{"a length field one short", "", rawEncrypt(t, padded(layout(4, "hello", appID))), msgcrypt.ErrAppID},

		{"pad byte 0", "", rawEncrypt(t, padEnd(0)), msgcrypt.ErrPadding},
		{"pad byte 33", "", rawEncrypt(t, padEnd(bytes.Repeat([]byte{33}, 33)...)), msgcrypt.ErrPadding},
		{"pad byte 255", "", rawEncrypt(t, padEnd(255)), msgcrypt.ErrPadding},
		{"unequal pad bytes", "", rawEncrypt(t, padEnd(4, 3, 4, 4)), msgcrypt.ErrPadding},
		{"a pad of 32 with its first byte wrong", "", rawEncrypt(t, padEnd(append([]byte{31}, bytes.Repeat([]byte{32}, 31)...)...)), msgcrypt.ErrPadding},
		{"no padding at all", "", rawEncrypt(t, layout(8, "12345678", "wx0123456789abcdefghijklmnopqrstuvwx")), msgcrypt.ErrPadding},
		{"the wrong key", "", mustEncrypt(t, mustNew(t, token, strings.Repeat("A", 43), appID), "hello"), msgcrypt.ErrPadding},

		{"an empty Encrypt", "", "", msgcrypt.ErrMalformed},
		{"bad base64", "", "!!not base64!!", msgcrypt.ErrMalformed},
		{"base64 missing its padding", "", strings.TrimRight(good, "=") + "A", msgcrypt.ErrMalformed},
		{"half a block cut off", "", b64(goodCT[:len(goodCT)-16]), msgcrypt.ErrMalformed},
		{"one byte cut off", "", b64(goodCT[:len(goodCT)-1]), msgcrypt.ErrMalformed},
		{"one byte added", "", b64(append(bytes.Clone(goodCT), 0)), msgcrypt.ErrMalformed},
		{"16 bytes, one AES block", "", b64(goodCT[:16]), msgcrypt.ErrMalformed},
		{"a length field one beyond the data", "", rawEncrypt(t, padded(layout(5+18+1, "hello", appID))), msgcrypt.ErrMalformed},
		{"a length field of 2^32-1", "", rawEncrypt(t, padded(layout(0xFFFFFFFF, "hello", appID))), msgcrypt.ErrMalformed},
		{"a length field of 2^31", "", rawEncrypt(t, padded(layout(1<<31, "hello", appID))), msgcrypt.ErrMalformed},
		{"a plaintext shorter than the header", "", rawEncrypt(t, append(bytes.Repeat([]byte{0}, 19), bytes.Repeat([]byte{13}, 13)...)), msgcrypt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.sig
			switch sig {
			case "":
				sig = c.Signature(timestamp, nonce, tt.encrypt)
			case "-":
				sig = ""
			}
			msg, err := c.Decrypt(sig, timestamp, nonce, tt.encrypt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decrypt = %q, %v; want %v", msg, err, tt.want)
			}
			for _, other := range []error{msgcrypt.ErrSignature, msgcrypt.ErrPadding, msgcrypt.ErrAppID, msgcrypt.ErrMalformed} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v is also %v", err, other)
				}
			}
			if msg != nil {
				t.Errorf("a rejected message returned %q", msg)
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func mustEncrypt(t testing.TB, c *msgcrypt.Crypter, msg string) string {
	t.Helper()
	e, err := c.Encrypt([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// flipHex changes the first hex digit of s.
func flipHex(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

// assertNoSecrets fails if s shows the sample key (or a long part of it),
// its bytes, or the token.
func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(sampleKey + "=")
	for _, secret := range []string{sampleKey[:12], sampleKey[12:24], sampleKey[24:36], sampleKey[31:], token, string(key[:8]), fmt.Sprintf("%x", key[:8]), fmt.Sprint(key[:4])} {
		if strings.Contains(s, secret) {
			t.Fatalf("%q shows a secret (%q)", s, secret)
		}
	}
}

func TestNewRejectsBadKeysWithoutShowingThem(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"empty", "", "43 characters, got 0"},
		{"42 characters", sampleKey[:42], "43 characters, got 42"},
		{"44 characters with the padding", sampleKey + "=", "43 characters, got 44"},
		{"a 32-byte key in hex", strings.Repeat("ab", 32), "43 characters, got 64"},
		{"base64url", sampleKey[:10] + "-" + sampleKey[11:], "not base64 at position 11"},
		{"a padding character", sampleKey[:42] + "=", "not base64 at position 43"},
		{"a newline", sampleKey[:20] + "\n" + sampleKey[21:], "not base64 at position 21"},
		{"a space", " " + sampleKey[1:], "not base64 at position 1"},
		{"non-ASCII", "é" + sampleKey[2:], "not base64 at position 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := msgcrypt.New(token, tt.key, appID)
			if err == nil {
				t.Fatalf("New accepted the key: %v", c)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "EncodingAESKey") {
				t.Errorf("error %q does not say %q about the EncodingAESKey", err, tt.want)
			}
			assertNoSecrets(t, err.Error())
		})
	}
	if _, err := msgcrypt.New("", sampleKey, appID); err == nil || !strings.Contains(err.Error(), "Token") {
		t.Errorf("an empty token: %v", err)
	}
	if _, err := msgcrypt.New(token, sampleKey, ""); err == nil || !strings.Contains(err.Error(), "appid") {
		t.Errorf("an empty appid: %v", err)
	}
}

func TestPrintingACrypterShowsNoSecret(t *testing.T) {
	c := mustNew(t, token, sampleKey, appID)
	s := fmt.Sprintf("%v %+v %#v %s %v", c, c, c, c, []any{c})
	if !strings.Contains(s, appID) {
		t.Errorf("%q does not name the appid", s)
	}
	assertNoSecrets(t, s)
	if c.AppID() != appID {
		t.Errorf("AppID = %q", c.AppID())
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name, body, appID, encrypt string
		bad                        bool
	}{
		{"open platform", `<xml><AppId><![CDATA[wx1]]></AppId><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>`, "wx1", "abc+/=", false},
		{"ToUserName in place of AppId", `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[abc]]></Encrypt></xml>`, "gh_1", "abc", false},
		{"both: AppId wins", `<xml><ToUserName>gh_1</ToUserName><AppId>wx1</AppId><Encrypt>abc</Encrypt></xml>`, "wx1", "abc", false},
		{"plain text and spaces around the addressee", "<xml>\n  <AppId> wx1 </AppId>\n  <Encrypt>abc</Encrypt>\n</xml>", "wx1", "abc", false},
		{"other elements ignored", `<xml><AppId>wx1</AppId><MsgType>x</MsgType><Encrypt>abc</Encrypt><Extra><A/></Extra></xml>`, "wx1", "abc", false},
		{"no Encrypt", `<xml><AppId>wx1</AppId></xml>`, "", "", true},
		{"an empty Encrypt", `<xml><AppId>wx1</AppId><Encrypt><![CDATA[]]></Encrypt></xml>`, "", "", true},
		{"no addressee", `<xml><Encrypt>abc</Encrypt></xml>`, "", "", true},
		{"another root element", `<msg><AppId>wx1</AppId><Encrypt>abc</Encrypt></msg>`, "", "", true},
		{"not XML", `{"AppId":"wx1","Encrypt":"abc"}`, "", "", true},
		{"empty", ``, "", "", true},
		{"cut short", `<xml><AppId>wx1</AppId><Encrypt>ab`, "", "", true},
		{"an external entity", `<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><AppId>wx1</AppId><Encrypt>&e;</Encrypt></xml>`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, enc, err := msgcrypt.ParseEnvelope([]byte(tt.body))
			if tt.bad {
				if !errors.Is(err, msgcrypt.ErrMalformed) {
					t.Fatalf("ParseEnvelope = %q, %q, %v; want ErrMalformed", id, enc, err)
				}
				return
			}
			if err != nil || id != tt.appID || enc != tt.encrypt {
				t.Fatalf("ParseEnvelope = %q, %q, %v; want %q, %q", id, enc, err, tt.appID, tt.encrypt)
			}
		})
	}
}

func TestEnvelopeRoundTrips(t *testing.T) {
	c := mustNew(t, token, sampleKey, appID)
	encrypt := mustEncrypt(t, c, "<xml><InfoType>component_verify_ticket</InfoType></xml>")
	body := msgcrypt.Envelope(appID, encrypt)
	want := "<xml><AppId><![CDATA[" + appID + "]]></AppId><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>"
	if string(body) != want {
		t.Fatalf("Envelope = %s", body)
	}
	// Values that would end a CDATA section or look like markup.
	for _, v := range []string{"a]]>b", "]]>", "<x>&amp;", "]]]]>"} {
		id, enc, err := msgcrypt.ParseEnvelope(msgcrypt.Envelope(v, v))
		if err != nil || id != v || enc != v {
			t.Errorf("Envelope(%q) parses as %q, %q, %v", v, id, enc, err)
		}
	}
}
