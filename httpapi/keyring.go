package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
)

// KeyRing holds the configured client keys, known only by their SHA-256,
// and tells which client a request's bearer key belongs to. The HTTP API
// authenticates with one, and so can other front ends of the same
// listener, such as the WeChat-compatible front door, so that every way
// in checks keys the same way. It is safe for concurrent use and never
// changes after NewKeyRing.
type KeyRing struct {
	keys map[[sha256.Size]byte]*client
}

// NewKeyRing returns the key ring of clients. It fails when a client's
// key_sha256 is not 64 hex digits or is repeated.
func NewKeyRing(clients []config.Client) (*KeyRing, error) {
	k := &KeyRing{keys: make(map[[sha256.Size]byte]*client, len(clients))}
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
// The key is looked up by its SHA-256 in a map and the entry found is then
// compared in constant time. The map's timing cannot help an attacker: it
// depends only on the digest of the key presented, and SHA-256 lets no one
// choose a key whose digest shares a prefix with a stored one, so probing
// the map learns nothing about the configured digests; and a digest, even
// if learnt, does not yield the key. The constant-time compare keeps the
// final yes/no independent of how many bytes match, whatever the map does
// inside. Scanning every client instead would cost time linear in the
// number of clients on every request for no gain in secrecy.
func (k *KeyRing) lookup(r *http.Request) (*client, error) {
	key, ok := bearerKey(r)
	if !ok {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, `missing or malformed Authorization header: want "Authorization: Bearer <key>"`)
	}
	sum := sha256.Sum256([]byte(key))
	c, found := k.keys[sum]
	if !found || subtle.ConstantTimeCompare(c.hash[:], sum[:]) != 1 {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "unknown client key")
	}
	return c, nil
}

// Key returns the configured client whose key is key, for a front end
// that receives a key somewhere other than the Authorization header (the
// front door takes one in place of an AppSecret). It is looked up and
// compared as in Authenticate; ok is false for an unknown key, and the
// key is never kept or quoted.
func (k *KeyRing) Key(key string) (c config.Client, ok bool) {
	if key == "" || len(key) > maxKeyLength {
		return config.Client{}, false
	}
	sum := sha256.Sum256([]byte(key))
	cl, found := k.keys[sum]
	if !found || subtle.ConstantTimeCompare(cl.hash[:], sum[:]) != 1 {
		return config.Client{}, false
	}
	return cl.config, true
}
