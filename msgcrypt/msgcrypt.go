// Package msgcrypt implements the message encryption WeChat applies to the
// events it pushes to a server: the open platform's authorization events
// (component_verify_ticket, authorized, unauthorized, ...) and, with the
// same scheme, Official Account and WeCom callbacks.
//
// A push carries msg_signature, timestamp and nonce in its query and an
// XML envelope whose Encrypt element holds base64(AES-256-CBC(plaintext)),
// where the key is the platform's 43-character EncodingAESKey decoded from
// base64, the IV is the key's first 16 bytes, and
//
//	plaintext = 16 random bytes ‖ uint32 big-endian len(msg) ‖ msg ‖ appid ‖ PKCS#7 padding to 32
//
// msg_signature = hex(sha1(concat(sort(token, timestamp, nonce, Encrypt)))).
//
// The package uses the standard library only. A Crypter is safe for
// concurrent use. Nothing it returns, error or string, contains the
// EncodingAESKey or the Token.
package msgcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The errors Decrypt reports, wrapped with detail that never includes key
// material; test for them with errors.Is.
var (
	// ErrSignature: msg_signature does not match the token, timestamp,
	// nonce and Encrypt. The push did not come from WeChat (or the Token
	// is wrong), and nothing was decrypted.
	ErrSignature = errors.New("msgcrypt: message signature mismatch")
	// ErrPadding: the decrypted block does not end in valid PKCS#7
	// padding for 32-byte blocks, which usually means a wrong
	// EncodingAESKey.
	ErrPadding = errors.New("msgcrypt: invalid padding (wrong EncodingAESKey?)")
	// ErrAppID: the message decrypted but is closed by another appid
	// than the configured one.
	ErrAppID = errors.New("msgcrypt: message is addressed to another appid")
	// ErrMalformed: Encrypt is not base64, not a whole number of blocks,
	// or its plaintext does not have the documented layout; also an
	// envelope that cannot be parsed.
	ErrMalformed = errors.New("msgcrypt: malformed message")
)

const (
	// keyChars is the length of an EncodingAESKey: 32 bytes in base64
	// without its one padding character.
	keyChars = 43
	// padBlock is the block size of WeChat's PKCS#7 padding: 32, not
	// the AES block size.
	padBlock = 32
	// randomLen and lenLen make up the header before the message.
	randomLen = 16
	lenLen    = 4
	headerLen = randomLen + lenLen
)

// A Crypter checks, decrypts and produces WeChat's encrypted messages for
// one appid (for the open platform, the component_appid; for WeCom, the
// corpid). Make one with New.
type Crypter struct {
	token string
	appID string
	block cipher.Block
	iv    [aes.BlockSize]byte
}

// New returns a Crypter for the message check Token, the 43-character
// EncodingAESKey and the appid that must close every message.
//
// The key is base64 of 32 bytes without the trailing "=". Keys that WeChat
// generates are 43 random letters and digits, so the unused low bits of the
// last character are often not zero; they are ignored, as WeChat does. An
// error never repeats the key.
func New(token, encodingAESKey, appID string) (*Crypter, error) {
	if token == "" {
		return nil, errors.New("msgcrypt: the message check Token is empty")
	}
	if appID == "" {
		return nil, errors.New("msgcrypt: the appid is empty")
	}
	key, err := decodeKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		// Not reached: key is 32 bytes.
		return nil, fmt.Errorf("msgcrypt: %w", err)
	}
	c := &Crypter{token: token, appID: appID, block: block}
	copy(c.iv[:], key)
	return c, nil
}

// decodeKey decodes an EncodingAESKey, saying what is wrong without
// quoting it.
func decodeKey(s string) ([]byte, error) {
	if len(s) != keyChars {
		return nil, fmt.Errorf("msgcrypt: the EncodingAESKey must be %d characters, got %d", keyChars, len(s))
	}
	// Checked by hand because the base64 decoder skips newlines and
	// would report some other problem for them.
	for i := 0; i < len(s); i++ {
		if !isBase64Char(s[i]) {
			return nil, fmt.Errorf("msgcrypt: the EncodingAESKey has a character that is not base64 at position %d", i+1)
		}
	}
	key, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(key) != 32 {
		// Not reached: 43 base64 characters and "=" are 32 bytes.
		return nil, errors.New("msgcrypt: the EncodingAESKey does not decode to 32 bytes")
	}
	return key, nil
}

func isBase64Char(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '+' || b == '/'
}

// String describes the Crypter by its appid alone, so that printing one
// never shows the Token or the key.
func (c *Crypter) String() string { return "msgcrypt.Crypter(" + c.appID + ")" }

// GoString is String, for %#v.
func (c *Crypter) GoString() string { return c.String() }

// AppID is the appid the Crypter expects at the end of every message and
// puts at the end of the ones it encrypts.
func (c *Crypter) AppID() string { return c.appID }

// Signature is the msg_signature of a message: the lowercase hex SHA-1 of
// the Token, timestamp, nonce and Encrypt value, sorted as strings and
// joined without a separator.
func (c *Crypter) Signature(timestamp, nonce, encrypt string) string {
	parts := [4]string{c.token, timestamp, nonce, encrypt}
	slices.Sort(parts[:])
	h := sha1.New()
	for _, p := range parts {
		_, _ = io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Decrypt checks msgSignature against timestamp, nonce and encrypt (the
// Encrypt element of the envelope) and only then decrypts, returning the
// message: the XML of the event. The signature and the closing appid are
// compared in constant time. The errors wrap ErrSignature, ErrPadding,
// ErrAppID or ErrMalformed.
//
// Decrypt does not limit the size of encrypt; the caller limits the body
// it reads.
func (c *Crypter) Decrypt(msgSignature, timestamp, nonce, encrypt string) ([]byte, error) {
	want := c.Signature(timestamp, nonce, encrypt)
	if subtle.ConstantTimeCompare([]byte(want), []byte(msgSignature)) != 1 {
		return nil, ErrSignature
	}
	return c.open(encrypt)
}

// open decrypts a value whose signature was checked. Padding errors are
// reported as such: without the Token no one can make a message reach
// this point, so they cannot serve as a padding oracle.
func (c *Crypter) open(encrypt string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: Encrypt is not base64: %w", ErrMalformed, err)
	}
	if len(ct) == 0 || len(ct)%padBlock != 0 {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is not a whole number of %d-byte blocks", ErrMalformed, len(ct), padBlock)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.iv[:]).CryptBlocks(plain, ct)

	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > padBlock {
		return nil, fmt.Errorf("%w: pad length %d is outside 1..%d", ErrPadding, pad, padBlock)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: the %d pad bytes differ", ErrPadding, pad)
		}
	}
	body := plain[:len(plain)-pad]

	if len(body) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes are too short for the %d-byte header", ErrMalformed, len(body), headerLen)
	}
	n := binary.BigEndian.Uint32(body[randomLen:headerLen])
	rest := body[headerLen:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: length field %d exceeds the %d bytes after it", ErrMalformed, n, len(rest))
	}
	msg, tail := rest[:n:n], rest[n:]
	if subtle.ConstantTimeCompare(tail, []byte(c.appID)) != 1 {
		return nil, ErrAppID
	}
	return msg, nil
}

// Encrypt encrypts msg as WeChat does, with 16 random bytes from
// crypto/rand in front, and returns the base64 Encrypt value.
func (c *Crypter) Encrypt(msg []byte) (encrypt string, err error) {
	var random [randomLen]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("msgcrypt: random bytes: %w", err)
	}
	return c.EncryptWithRandom(random, msg)
}

// EncryptWithRandom is Encrypt with the 16 leading bytes given, so that
// tests get the same ciphertext every time. Use Encrypt otherwise.
func (c *Crypter) EncryptWithRandom(random [16]byte, msg []byte) (encrypt string, err error) {
	if uint64(len(msg)) > math.MaxUint32 {
		return "", fmt.Errorf("msgcrypt: a message of %d bytes does not fit the 4-byte length field", len(msg))
	}
	size := headerLen + len(msg) + len(c.appID)
	pad := padBlock - size%padBlock // 1..32: a full block when size is a multiple
	plain := make([]byte, size+pad)
	copy(plain, random[:])
	binary.BigEndian.PutUint32(plain[randomLen:], uint32(len(msg)))
	copy(plain[headerLen:], msg)
	copy(plain[headerLen+len(msg):], c.appID)
	for i := size; i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.iv[:]).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}

// Seal encrypts msg and signs the result with timestamp and nonce: what a
// push needs, the Encrypt value for the envelope and the msg_signature
// for the query.
func (c *Crypter) Seal(msg []byte, timestamp, nonce string) (encrypt, signature string, err error) {
	encrypt, err = c.Encrypt(msg)
	if err != nil {
		return "", "", err
	}
	return encrypt, c.Signature(timestamp, nonce, encrypt), nil
}
