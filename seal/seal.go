// Package seal encrypts the secrets wxtoken keeps in its store (AppSecrets
// registered through the admin API, authorizers' refresh tokens) so that a
// copy of the store (a backup, a Redis dump, a stolen disk) does not give
// them away. It uses AES-256-GCM from the standard library.
//
// A sealed value is a string that says how to open it:
//
//	v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>
//
// "v1" is the format; the key id is 16 lowercase hex digits, the first 8
// bytes of the SHA-256 of the key (Key.ID), so that Open picks the key at
// once and an operator can tell which key a value needs; the nonce is 12
// random bytes; base64url is without padding. The associated data that
// GCM authenticates is the header "v1.<key id>." followed by the ad the
// caller gives: the name of the record the value belongs to, such as
// "apps/wx0123456789abcdef/secret", so that a value copied into another
// record does not open there.
//
// Keys rotate: a Sealer seals with its primary key and opens with any of
// its keys, and NeedsRekey finds the values to seal again before an old
// key is dropped. With random nonces a key must seal fewer than 2^32
// values; a store of 100,000 secrets resealed on every change stays far
// below that.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The errors Open reports, wrapped with detail; test with errors.Is.
var (
	// ErrUnknownKey: the value was sealed under a key the Sealer does
	// not have (one removed too early, or another installation's). The
	// error names the key id.
	ErrUnknownKey = errors.New("seal: sealed under an unknown key")
	// ErrOpen: the value is not a sealed value, was changed, or belongs
	// to another record (other associated data).
	ErrOpen = errors.New("seal: cannot open sealed value")
)

const (
	version  = "v1"
	idChars  = 2 * idLen
	headLen  = len(version) + 1 + idChars + 1 // "v1.<id>."
	nonceLen = 12
	tagLen   = 16
)

// A Sealer seals and opens values with a primary key and any number of
// older keys. It is safe for concurrent use.
type Sealer struct {
	primary *entry // nil without a usable primary key
	keys    map[[idLen]byte]*entry
}

type entry struct {
	head string // "v1.<id>."
	aead cipher.AEAD
}

// New returns a Sealer that seals under primary and opens values sealed
// under primary or any of older. Zero Keys are skipped; without a primary
// key, Seal fails with ErrNoKey.
func New(primary Key, older ...Key) *Sealer {
	s := &Sealer{keys: make(map[[idLen]byte]*entry, 1+len(older))}
	for i, k := range append([]Key{primary}, older...) {
		if !k.set {
			continue
		}
		e, dup := s.keys[k.id]
		if !dup {
			var err error
			if e, err = newEntry(k); err != nil {
				// Not reached: k holds 32 bytes, which AES-256
				// and GCM accept.
				continue
			}
			s.keys[k.id] = e
		}
		if i == 0 {
			s.primary = e
		}
	}
	return s
}

func newEntry(k Key) (*entry, error) {
	block, err := aes.NewCipher(k.raw[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &entry{head: version + "." + k.ID() + ".", aead: aead}, nil
}

// String describes the Sealer by its primary key's id and its number of
// keys.
func (s *Sealer) String() string {
	id := "none"
	if s.primary != nil {
		id = s.primary.head[len(version)+1 : headLen-1]
	}
	return "seal.Sealer(primary " + id + ", " + strconv.Itoa(len(s.keys)) + " keys)"
}

// Seal encrypts plaintext under the primary key with a fresh random
// nonce, authenticating ad with it, and returns the sealed string. Open
// needs the same ad.
func (s *Sealer) Seal(plaintext []byte, ad string) (string, error) {
	if s.primary == nil {
		return "", ErrNoKey
	}
	e := s.primary
	payload := e.aead.Seal(nil, nil, plaintext, []byte(e.head+ad))
	return e.head + base64.RawURLEncoding.EncodeToString(payload), nil
}

// Open returns the plaintext of a value that Seal returned for the same
// ad, under any of the Sealer's keys. It fails with ErrUnknownKey when
// none of them has the value's key id, and with ErrOpen when the value is
// malformed, was changed, or was sealed for another ad.
func (s *Sealer) Open(sealed string, ad string) ([]byte, error) {
	id, payload, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	e := s.keys[id]
	if e == nil {
		return nil, fmt.Errorf("%w %x", ErrUnknownKey, id)
	}
	ct, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: the payload is not base64url", ErrOpen)
	}
	if len(ct) < nonceLen+tagLen {
		return nil, fmt.Errorf("%w: the payload is %d bytes, shorter than a nonce and a tag", ErrOpen, len(ct))
	}
	plain, err := e.aead.Open(nil, nil, ct, []byte(e.head+ad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed: the value was changed or belongs to another record", ErrOpen)
	}
	return plain, nil
}

// NeedsRekey reports whether sealed is anything but a value sealed under
// the primary key: sealed under an older or an unknown key, or not a
// sealed value at all. It does not open the value. Values for which it is
// true are the ones to Open and Seal again before an older key is
// removed.
func (s *Sealer) NeedsRekey(sealed string) bool {
	id, _, err := parse(sealed)
	if err != nil || s.primary == nil {
		return true
	}
	return s.keys[id] != s.primary
}

// parse splits a sealed value into its key id and its payload, checking
// the header's form.
func parse(sealed string) (id [idLen]byte, payload string, err error) {
	if !strings.HasPrefix(sealed, version+".") {
		return id, "", fmt.Errorf("%w: not a sealed value (no %q prefix)", ErrOpen, version+".")
	}
	if len(sealed) < headLen || sealed[headLen-1] != '.' {
		return id, "", fmt.Errorf("%w: no key id after the prefix", ErrOpen)
	}
	hexID := sealed[len(version)+1 : headLen-1]
	if _, err := hex.Decode(id[:], []byte(hexID)); err != nil || hex.EncodeToString(id[:]) != hexID {
		return id, "", fmt.Errorf("%w: the key id is not %d lowercase hex digits", ErrOpen, idChars)
	}
	payload = sealed[headLen:]
	if strings.ContainsAny(payload, "\r\n") {
		// The base64 decoder would skip them; a sealed value has none.
		return id, "", fmt.Errorf("%w: a newline in the payload", ErrOpen)
	}
	return id, payload, nil
}
