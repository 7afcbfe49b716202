package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wxtoken/wxtoken/seal"
)

// MakeKeyHint tells an operator how to make a store encryption key: 32
// random bytes in standard base64, 44 characters.
const MakeKeyHint = "make one with `head -c 32 /dev/urandom | base64` (32 random bytes, 44 characters of base64) and name the environment variable or the file (mode 600 or 640) that holds it in store.encryption_key_env or store.encryption_key_file"

// ErrNoEncryptionKey is the error of Store.Sealer when the config names no
// encryption key; it wraps seal.ErrNoKey.
var ErrNoEncryptionKey = fmt.Errorf("%w: the config sets neither store.encryption_key_env nor store.encryption_key_file; %s", seal.ErrNoKey, MakeKeyHint)

// Encrypted reports whether the store has an encryption key for the
// secrets it keeps.
func (s *Store) Encrypted() bool { return s.EncryptionKey.ID() != "" }

// Sealer returns what seals the secrets kept in the store (authorizers'
// refresh tokens, AppSecrets registered through the admin API): it seals
// under the encryption key and opens values sealed under it or under the
// previous key, if one is set. Without an encryption key it returns
// ErrNoEncryptionKey.
func (s *Store) Sealer() (*seal.Sealer, error) {
	if !s.Encrypted() {
		return nil, ErrNoEncryptionKey
	}
	if s.PreviousEncryptionKey.ID() == "" {
		return seal.New(s.EncryptionKey), nil
	}
	return seal.New(s.EncryptionKey, s.PreviousEncryptionKey), nil
}

// storeKeys loads the store's encryption keys: the key that seals, and the
// previous one, kept during a rotation to open what it sealed.
func (ch *checker) storeKeys(s *Store) {
	s.EncryptionKey, _ = ch.storeKey("encryption_key", s.EncryptionKeyEnv, &s.EncryptionKeyFile, true)
	prev, prevKey := ch.storeKey("previous_encryption_key", s.PreviousEncryptionKeyEnv, &s.PreviousEncryptionKeyFile, false)
	s.PreviousEncryptionKey = prev
	primarySet := s.EncryptionKeyEnv != "" || s.EncryptionKeyFile != ""
	prevSet := s.PreviousEncryptionKeyEnv != "" || s.PreviousEncryptionKeyFile != ""
	switch {
	case prevSet && !primarySet:
		ch.errorf("store", "previous_encryption_key_env or _file is set without encryption_key_env or _file: the previous key only opens what it sealed before a rotation; the current key, which seals, is required")
	case prev.ID() != "" && prev.ID() == s.EncryptionKey.ID():
		ch.warnf(prevKey, "the same key as encryption_key_env or _file (id %s): nothing is being rotated; set the new key as the encryption key, or remove the previous one", prev.ID())
	}
}

// storeKey loads one key of the store from its store.name_env or
// store.name_file key, whichever is set, and returns it with the key path
// it came from. It returns the zero Key when neither is set or the key is
// unusable (a problem is then recorded); hint adds how to make a key to a
// problem with a key that is missing.
func (ch *checker) storeKey(name, env string, file *string, hint bool) (seal.Key, string) {
	envKey, fileKey := "store."+name+"_env", "store."+name+"_file"
	switch {
	case env != "" && *file != "":
		ch.errorf("store", "set only one of %s_env and %s_file", name, name)
		return seal.Key{}, ""
	case env != "":
		if !envNameRe.MatchString(env) {
			// Never echoed: it may be the key itself, pasted where
			// its variable's name belongs.
			if _, err := seal.ParseKey(env); err == nil {
				ch.errorf(envKey, "holds a key, not the name of the environment variable that holds it")
			} else {
				ch.errorf(envKey, "is not an environment variable name (letters, digits and \"_\", not starting with a digit)")
			}
			return seal.Key{}, ""
		}
		k, err := seal.LoadKey(ch.env, env, "")
		if err != nil {
			ch.keyFailed(envKey, err, hint)
			return seal.Key{}, ""
		}
		return k, envKey
	case *file != "":
		raw := *file
		*file = ch.path(raw)
		if _, err := seal.ParseKey(raw); err == nil {
			ch.errorf(fileKey, "holds a key, not the name of the file that holds it")
			return seal.Key{}, ""
		}
		k, err := seal.LoadKey(ch.env, "", *file)
		if err != nil {
			// seal names the file by its resolved path; the problem
			// names it as written, as for every other file.
			reason := strings.TrimPrefix(err.Error(), "seal: key file "+*file+": ")
			ch.problems = append(ch.problems, &FieldError{Key: fileKey, Problem: fmt.Sprintf("cannot use %s: %s", show(raw), reason), Err: err})
			return seal.Key{}, ""
		}
		return k, fileKey
	}
	return seal.Key{}, ""
}

// keyFailed records that a key could not be loaded. seal's messages name
// the variable or file and never the key; the "seal: " they start with
// says nothing to an operator reading a config problem.
func (ch *checker) keyFailed(key string, err error, hint bool) {
	problem := strings.TrimPrefix(err.Error(), "seal: ")
	if errors.Is(err, seal.ErrNoKey) {
		problem = strings.TrimPrefix(problem, "no encryption key: ") + " or empty"
		if hint {
			problem += "; " + MakeKeyHint
		}
	}
	ch.problems = append(ch.problems, &FieldError{Key: key, Problem: problem, Err: err})
}
