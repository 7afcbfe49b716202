package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
)

// KeyRing holds the configured client keys, known only by their SHA-256,
// and tells which client a request's bearer key belongs to. The HTTP API
// authenticates with one, and so can other front ends of the same
// listener, such as the WeChat-compatible front door, so that every way
// in checks keys the same way. It is safe for concurrent use, and the
// clients it accepts never change after NewKeyRing.
type KeyRing struct {
	keys map[[sha256.Size]byte]*client

	// The keys that have already been verified against keys, so that a
	// key seen again costs a map lookup and a comparison instead of a
	// SHA-256 (nearly every request carries a key seen before). Entries
	// are made only after the SHA-256 check succeeds, at most one per
	// client, so the set is bounded by the configuration and no caller
	// can grow it. seen is copied on write and replaced whole, so that
	// readers take no lock; it changes at most len(keys) times.
	seed   maphash.Seed
	seenMu sync.Mutex // serializes writers of seen
	seen   atomic.Pointer[map[uint64]verifiedKey]
}

// verifiedKey is a bearer key whose SHA-256 matched its client's.
type verifiedKey struct {
	key    string
	client *client
}

// NewKeyRing returns the key ring of clients. It fails when a client's
// key_sha256 is not 64 hex digits or is repeated.
func NewKeyRing(clients []config.Client) (*KeyRing, error) {
	k := &KeyRing{keys: make(map[[sha256.Size]byte]*client, len(clients)), seed: maphash.MakeSeed()}
	for i, c := range clients {
		// The value is never quoted in these errors: a key pasted where
		// its hash belongs must not end up in a log.
		sum, err := hex.DecodeString(strings.ToLower(c.KeySHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("httpapi: clients[%d] (%s): key_sha256 must be 64 hex digits, the SHA-256 of the key", i, c.Name)
		}
		cl := &client{hash: [sha256.Size]byte(sum), config: c}
		cl.config.Apps = slices.Clone(c.Apps)
		if _, dup := k.keys[cl.hash]; dup {
			return nil, fmt.Errorf("httpapi: clients[%d] (%s): the same key_sha256 as another client", i, c.Name)
		}
		k.keys[cl.hash] = cl
	}
	return k, nil
}

// Authenticate returns the configured client whose key r carries in its
// Authorization header, or an *wxtoken.Error with code EUnauthorized whose
// message never repeats what was sent. The Apps of the client returned
// must not be modified.
func (k *KeyRing) Authenticate(r *http.Request) (config.Client, error) {
	c, err := k.lookup(r)
	if err != nil {
		return config.Client{}, err
	}
	return c.config, nil
}

// lookup finds the client of r's bearer key.
//
// A key verified before is found in seen by a 64-bit hash of the key
// under a secret random seed, and the entry's key is then compared with
// the one presented in constant time. Neither step tells a caller
// anything about the keys that exist: the map is keyed by a hash the
// caller cannot compute without the seed, its keys are integers compared
// whole, and the final comparison does not depend on how many bytes
// match. Looking the key up by its raw text instead would let the map's
// string comparison, which stops at the first difference, time how much
// of a guess matches a real key.
//
// Any other key is hashed with SHA-256 and looked up by its digest in
// keys, and the entry found is then compared in constant time. The map's
// timing cannot help an attacker: it depends only on the digest of the
// key presented, and SHA-256 lets no one choose a key whose digest shares
// a prefix with a stored one, so probing the map learns nothing about the
// configured digests; and a digest, even if learnt, does not yield the
// key. Scanning every client instead would cost time linear in the number
// of clients on every request for no gain in secrecy.
func (k *KeyRing) lookup(r *http.Request) (*client, error) {
	key, ok := bearerKey(r)
	if !ok {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, `missing or malformed Authorization header: want "Authorization: Bearer <key>"`)
	}
	c, found := k.find(key)
	if !found {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "unknown client key")
	}
	return c, nil
}

// find returns the client whose key is key, as lookup describes.
func (k *KeyRing) find(key string) (*client, bool) {
	id := maphash.String(k.seed, key)
	if seen := k.seen.Load(); seen != nil {
		if v, found := (*seen)[id]; found && equalKeys(v.key, key) {
			return v.client, true
		}
	}
	sum := sha256.Sum256([]byte(key))
	c, found := k.keys[sum]
	if !found || subtle.ConstantTimeCompare(c.hash[:], sum[:]) != 1 {
		return nil, false
	}
	k.remember(id, key, c)
	return c, true
}

// Key returns the configured client whose key is key, for a front end
// that receives a key somewhere other than the Authorization header (the
// front door takes one in place of an AppSecret). It is looked up and
// compared as in Authenticate; ok is false for an unknown key, which is
// never quoted.
func (k *KeyRing) Key(key string) (c config.Client, ok bool) {
	if key == "" || len(key) > maxKeyLength {
		return config.Client{}, false
	}
	cl, found := k.find(key)
	if !found {
		return config.Client{}, false
	}
	return cl.config, true
}

// remember records that key, whose hash under the seed is id, verified as
// c's. A client keeps the one entry it first got: a second key with the
// same SHA-256 is not to be found, and a client that already has an
// entry therefore adds none, which bounds seen by the number of clients.
func (k *KeyRing) remember(id uint64, key string, c *client) {
	k.seenMu.Lock()
	defer k.seenMu.Unlock()
	var seen map[uint64]verifiedKey
	if old := k.seen.Load(); old != nil {
		if _, taken := (*old)[id]; taken {
			// Another key with the same 64-bit hash (as good as never):
			// that key stays, and this one is checked by SHA-256 each time.
			return
		}
		for _, v := range *old {
			if v.client == c {
				return
			}
		}
		seen = make(map[uint64]verifiedKey, len(*old)+1)
		for id, v := range *old {
			seen[id] = v
		}
	} else {
		seen = make(map[uint64]verifiedKey, 1)
	}
	// A copy of the key, not a slice of the request's header line, so
	// that the entry holds no more memory than the key.
	seen[id] = verifiedKey{key: strings.Clone(key), client: c}
	k.seen.Store(&seen)
}

// equalKeys compares two keys in a time that depends on their lengths
// only, not on how many of their bytes match.
func equalKeys(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	// Eight bytes at a time, then the rest: the differences are gathered
	// with OR, never tested on the way.
	var diff uint64
	for ; len(a) >= 8; a, b = a[8:], b[8:] {
		diff |= load64(a) ^ load64(b)
	}
	for i := 0; i < len(a); i++ {
		diff |= uint64(a[i] ^ b[i])
	}
	return subtle.ConstantTimeEq(int32(uint32(diff|diff>>32)), 0) == 1
}
