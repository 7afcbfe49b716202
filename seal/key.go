package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

const (
	keyLen   = 32
	keyChars = 44 // base64 of 32 bytes, with its one "=" of padding
	idLen    = 8
	// maxKeyFile bounds what LoadKey reads: a key file holds 44
	// characters and perhaps a newline.
	maxKeyFile = 1024
)

// ErrNoKey means there is no key to use: LoadKey was given neither an
// environment variable nor a file, or the variable is unset or empty; or a
// Sealer was made without a primary key.
var ErrNoKey = errors.New("seal: no encryption key")

// A Key is an AES-256 key for a Sealer. Its zero value is no key. It
// prints as its id only, never as its bytes.
type Key struct {
	raw [keyLen]byte
	id  [idLen]byte
	set bool
}

func newKey(raw []byte) Key {
	k := Key{set: true}
	copy(k.raw[:], raw)
	sum := sha256.Sum256(k.raw[:])
	copy(k.id[:], sum[:idLen])
	return k
}

// ID is the key's id as it appears in sealed values: the first 8 bytes of
// the SHA-256 of the key's 32 bytes, in hex. An operator can compute it
// with `base64 -d | sha256sum | cut -c1-16`. It is "" for the zero Key.
func (k Key) ID() string {
	if !k.set {
		return ""
	}
	return hex.EncodeToString(k.id[:])
}

// String names the key by its id, so that printing a Key never shows it.
func (k Key) String() string {
	if !k.set {
		return "seal.Key(none)"
	}
	return "seal.Key(" + k.ID() + ")"
}

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// GenerateKey returns a new random key in the form ParseKey reads: 32
// bytes from crypto/rand as standard base64 with padding, 44 characters.
func GenerateKey() (string, error) {
	var b [keyLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("seal: random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// ParseKey reads a key: 32 bytes as standard base64 with padding, 44
// characters (what GenerateKey returns). The error says what is wrong
// without repeating the value.
func ParseKey(s string) (Key, error) {
	k, err := parseKey(s)
	if err != nil {
		return Key{}, fmt.Errorf("seal: %w", err)
	}
	return k, nil
}

// parseKey is ParseKey with errors that the caller prefixes with where
// the key came from.
func parseKey(s string) (Key, error) {
	if len(s) != keyChars {
		hint := ""
		switch {
		case strings.TrimSpace(s) != s:
			hint = " (there are spaces or newlines around it)"
		case len(s) == keyChars-1:
			hint = ` (is its "=" padding missing?)`
		case len(s) == 2*keyLen && isHex(s):
			hint = " (it looks like hex; the key is base64)"
		}
		return Key{}, fmt.Errorf("the key must be %d characters of base64 (%d bytes), got %d characters%s", keyChars, keyLen, len(s), hint)
	}
	if i := strings.IndexAny(s, "-_"); i >= 0 {
		return Key{}, fmt.Errorf("the key has a base64url character at position %d; it must be standard base64 (with + and /)", i+1)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			if _, lax := base64.StdEncoding.DecodeString(s); lax == nil {
				return Key{}, errors.New("the key's last base64 character has its unused bits set: it was not written by a base64 encoder")
			}
			return Key{}, fmt.Errorf("the key is not standard base64: bad character or padding at position %d", int64(ce)+1)
		}
		return Key{}, errors.New("the key is not standard base64")
	}
	if len(raw) != keyLen {
		return Key{}, fmt.Errorf(`the key decodes to %d bytes, want %d (check its "=" padding: one at the end)`, len(raw), keyLen)
	}
	zero := true
	for _, b := range raw {
		zero = zero && b == 0
	}
	if zero {
		return Key{}, errors.New("the key is all zero bytes; use a random one")
	}
	return newKey(raw), nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// LoadKey reads a key from the environment variable envName or from file,
// whichever is set (store.encryption_key_env, store.encryption_key_file);
// setting both is an error, and setting neither is ErrNoKey. env looks up
// a variable, as os.LookupEnv does (nil means os.LookupEnv). One trailing
// newline ("\n" or "\r\n") is removed, as echo and editors leave one.
//
// A key file that users other than its owner and group may read or that
// anyone but its owner may write is refused, as ssh refuses such private
// keys: a key that others can read protects nothing, and one that others
// can replace lets them choose the key that future secrets are sealed
// under. Group read is allowed, since granting a service's group read
// access is the usual way to hand it a secret (root:wxtoken 0640, or
// Kubernetes' fsGroup).
//
// Errors name the variable or the file, never the key.
func LoadKey(env func(string) (string, bool), envName, file string) (Key, error) {
	switch {
	case envName != "" && file != "":
		return Key{}, errors.New("seal: set only one of the key's environment variable and file")
	case envName != "":
		if env == nil {
			env = os.LookupEnv
		}
		v, ok := env(envName)
		if !ok || v == "" {
			return Key{}, fmt.Errorf("%w: environment variable %s is not set", ErrNoKey, envName)
		}
		k, err := parseKey(trimNewline(v))
		if err != nil {
			return Key{}, fmt.Errorf("seal: environment variable %s: %w", envName, err)
		}
		return k, nil
	case file != "":
		k, err := loadKeyFile(file)
		if err != nil {
			return Key{}, fmt.Errorf("seal: key file %s: %w", file, err)
		}
		return k, nil
	default:
		return Key{}, fmt.Errorf("%w: neither an environment variable nor a file is set", ErrNoKey)
	}
}

func loadKeyFile(name string) (Key, error) {
	f, err := os.Open(name)
	if err != nil {
		return Key{}, unwrapPath(err)
	}
	defer f.Close()
	// Stat the open file, not the name, so that the file checked is the
	// file read.
	st, err := f.Stat()
	if err != nil {
		return Key{}, unwrapPath(err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o027 != 0 {
		return Key{}, fmt.Errorf("mode %04o lets other users read or change the key; allow at most the owner to write and the group to read (chmod 600, or 640)", perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, unwrapPath(err)
	}
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("larger than %d bytes: not a key file", maxKeyFile)
	}
	if len(data) == 0 {
		return Key{}, errors.New("empty")
	}
	return parseKey(trimNewline(string(data)))
}

// unwrapPath drops the path from an *fs.PathError, which the caller
// already names, keeping the cause for errors.Is.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func trimNewline(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\n")
}
