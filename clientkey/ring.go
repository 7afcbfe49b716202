// Package clientkey holds the client keys of wxtoken's HTTP listener and
// what each was granted: the Ring tells which configured client a bearer
// key belongs to, and a Client whether it may read the credentials of an
// app, a WeCom agent, a third-party platform or an account that
// authorized one. The HTTP API authenticates with a Ring, and so do
// the other front ends of the same listener, such as the WeChat-compatible
// front door, so that every way in checks keys the same way.
//
// Keys are known only by their SHA-256; a key presented is hashed or
// compared in constant time, never looked up by its text, and never
// quoted in an error.
package clientkey

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
)

// All is the grant that covers every configured app, WeCom agent and
// platform, and every authorizer.
const All = "*"

// TagPrefix starts a tag grant: "tag:T" covers every entry registered
// with the tag T (see wxtoken.Registration.Tags), as the ring's TagLookup
// tells them.
const TagPrefix = "tag:"

// TagLookup returns the tags of the entry id, nil for an id that has
// none or is not registered. It is called on every check of a client
// that holds a tag grant and no other grant of the id, so it must be
// cheap and safe for concurrent use; the slice returned is only read.
type TagLookup func(id string) []string

// MaxKeyLength bounds the keys worth hashing. wxtoken keygen's keys are
// far shorter; anything longer cannot be a configured key.
const MaxKeyLength = 512

// Client is a caller of the listener, known by the SHA-256 of its key.
type Client struct {
	// Name labels the client in logs.
	Name string
	// KeySHA256 is the hex SHA-256 of the client's bearer key.
	KeySHA256 string
	// Apps are what the key may read: appids, WeCom corpids (every agent
	// of the corp), WeCom agents as "corpid/agentid" (see
	// wxtoken.WeComID), component_appids (the platform and every account
	// that authorized it), authorizers as
	// "component_appid:authorizer_appid" (see wxtoken.AuthorizerID),
	// TagPrefix and a tag (every entry registered with that tag, through
	// a Ring made by NewTagged), or All. An empty list grants nothing,
	// which suits a key used only to scrape /metrics.
	Apps []string
	// Admin keys may list the status of every app and agent.
	Admin bool

	// tagGrants are the tags of the grants "tag:T" in Apps, and tags
	// tells an id's tags; both are set by the Ring, so that a Client made
	// by hand grants nothing by tag.
	tagGrants []string
	tags      TagLookup
}

// Allows reports whether the client was granted id: an appid or a
// component_appid (a platform's own credentials), a WeCom agent's
// wxtoken.WeComID, which its corpid grants too, or an authorizer's
// wxtoken.AuthorizerID, which its component_appid grants too. A grant is
// not told apart by its family: a grant "X" covers the id X, every agent
// "X/..." of a corp X and every authorizer "X:..." of a platform X, which
// is why a configuration never uses one id for two of an app, a corp and
// a platform (package config refuses that).
//
// A grant "tag:T" covers the ids the ring's TagLookup tags T. It is
// asked only when no other grant covers id, and only of a client that
// holds such a grant, so that the other clients pay nothing for tags.
func (c *Client) Allows(id string) bool {
	// The common case, an id granted by name or by All, takes one pass
	// over the grants and no parsing of the id.
	for _, g := range c.Apps {
		if g == id || g == All {
			return true
		}
	}
	fam, owner, member := wxtoken.ParseID(id)
	if fam != wxtoken.FamilyApp && owner != "" && member != "" {
		for _, g := range c.Apps {
			if g == owner {
				return true
			}
		}
	}
	if len(c.tagGrants) == 0 || c.tags == nil {
		return false
	}
	return c.allowsByTag(id)
}

// allowsByTag reports whether one of id's tags is among c's tag grants.
func (c *Client) allowsByTag(id string) bool {
	for _, t := range c.tags(id) {
		for _, g := range c.tagGrants {
			if g == t {
				return true
			}
		}
	}
	return false
}

// Ring holds the configured client keys, known only by their SHA-256, and
// tells which client a request's bearer key belongs to. It is safe for
// concurrent use, and the clients it accepts never change after New.
type Ring struct {
	keys map[[sha256.Size]byte]*entry

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

// entry is a configured client, keyed by the hash of its key.
type entry struct {
	hash   [sha256.Size]byte
	client Client
}

// verifiedKey is a bearer key whose SHA-256 matched its client's.
type verifiedKey struct {
	key   string
	entry *entry
}

// New returns the key ring of clients, whose tag grants grant nothing
// (see NewTagged). It fails when a client's KeySHA256 is not 64 hex
// digits or is repeated.
func New(clients []Client) (*Ring, error) { return NewTagged(clients, nil) }

// NewTagged returns the key ring of clients, whose grants "tag:T" cover
// the ids tags says are tagged T; a nil tags makes such grants grant
// nothing. It fails as New does.
func NewTagged(clients []Client, tags TagLookup) (*Ring, error) {
	k := &Ring{keys: make(map[[sha256.Size]byte]*entry, len(clients)), seed: maphash.MakeSeed()}
	for i, c := range clients {
		// The value is never quoted in these errors: a key pasted where
		// its hash belongs must not end up in a log.
		sum, err := hex.DecodeString(strings.ToLower(c.KeySHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("clientkey: clients[%d] (%s): key_sha256 must be 64 hex digits, the SHA-256 of the key", i, c.Name)
		}
		e := &entry{hash: [sha256.Size]byte(sum), client: c}
		e.client.Apps = slices.Clone(c.Apps)
		e.client.tagGrants, e.client.tags = nil, nil
		for _, g := range c.Apps {
			if t, ok := strings.CutPrefix(g, TagPrefix); ok && t != "" && tags != nil {
				e.client.tagGrants = append(e.client.tagGrants, t)
				e.client.tags = tags
			}
		}
		if _, dup := k.keys[e.hash]; dup {
			return nil, fmt.Errorf("clientkey: clients[%d] (%s): the same key_sha256 as another client", i, c.Name)
		}
		k.keys[e.hash] = e
	}
	return k, nil
}

// Authenticate returns the configured client whose key r carries in its
// Authorization header, or an *wxtoken.Error with code EUnauthorized whose
// message never repeats what was sent. The client returned is the ring's
// own: it must not be modified.
//
// A key verified before is found by a 64-bit hash of the key under a
// secret random seed, and the entry's key is then compared with the one
// presented in constant time. Neither step tells a caller anything about
// the keys that exist: the map is keyed by a hash the caller cannot
// compute without the seed, its keys are integers compared whole, and the
// final comparison does not depend on how many bytes match. Looking the
// key up by its raw text instead would let the map's string comparison,
// which stops at the first difference, time how much of a guess matches a
// real key.
//
// Any other key is hashed with SHA-256 and looked up by its digest, and
// the entry found is then compared in constant time. The map's timing
// cannot help an attacker: it depends only on the digest of the key
// presented, and SHA-256 lets no one choose a key whose digest shares a
// prefix with a stored one, so probing the map learns nothing about the
// configured digests; and a digest, even if learnt, does not yield the
// key. Scanning every client instead would cost time linear in the number
// of clients on every request for no gain in secrecy.
func (k *Ring) Authenticate(r *http.Request) (*Client, error) {
	key, ok := BearerKey(r)
	if !ok {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, `missing or malformed Authorization header: want "Authorization: Bearer <key>"`)
	}
	e, found := k.find(key)
	if !found {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "unknown client key")
	}
	return &e.client, nil
}

// Key returns the configured client whose key is key, for a front end
// that receives a key somewhere other than the Authorization header (the
// front door takes one in place of an AppSecret). It is looked up and
// compared as in Authenticate; ok is false for an unknown key, which is
// never quoted. The client returned must not be modified.
func (k *Ring) Key(key string) (c *Client, ok bool) {
	if key == "" || len(key) > MaxKeyLength {
		return nil, false
	}
	e, found := k.find(key)
	if !found {
		return nil, false
	}
	return &e.client, true
}

// find returns the entry whose key is key, as Authenticate describes.
func (k *Ring) find(key string) (*entry, bool) {
	id := maphash.String(k.seed, key)
	if seen := k.seen.Load(); seen != nil {
		if v, found := (*seen)[id]; found && equalKeys(v.key, key) {
			return v.entry, true
		}
	}
	sum := sha256.Sum256([]byte(key))
	e, found := k.keys[sum]
	if !found || subtle.ConstantTimeCompare(e.hash[:], sum[:]) != 1 {
		return nil, false
	}
	k.remember(id, key, e)
	return e, true
}

// remember records that key, whose hash under the seed is id, verified as
// e's. A client keeps the one entry it first got: a second key with the
// same SHA-256 is not to be found, and a client that already has an
// entry therefore adds none, which bounds seen by the number of clients.
func (k *Ring) remember(id uint64, key string, e *entry) {
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
			if v.entry == e {
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
	seen[id] = verifiedKey{key: strings.Clone(key), entry: e}
	k.seen.Store(&seen)
}

// BearerKey returns the key of the request's one Authorization header of
// the Bearer scheme (matched without regard to case, as RFC 9110 says):
// not empty, at most MaxKeyLength bytes, without spaces or tabs.
func BearerKey(r *http.Request) (string, bool) {
	// net/http stores request headers under canonical keys, so the map
	// is read directly, without canonicalizing the name again.
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return "", false
	}
	const scheme = "bearer"
	v := vals[0]
	// "Bearer" as written nearly always; any other case is matched too.
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' || v[:len(scheme)] != "Bearer" && !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	key := strings.TrimLeft(v[len(scheme):], " ")
	// Two byte searches cost less than strings.ContainsAny, which builds
	// a set of the bytes on every call.
	if key == "" || len(key) > MaxKeyLength || strings.IndexByte(key, ' ') >= 0 || strings.IndexByte(key, '\t') >= 0 {
		return "", false
	}
	return key, true
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

// load64 returns the first eight bytes of s (at least eight long) as a
// little-endian word; the compiler makes it one bounds check and one load.
func load64(s string) uint64 {
	w := s[:8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}
