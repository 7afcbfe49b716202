package clientkey

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestEqualKeys(t *testing.T) {
	for n := 0; n <= 20; n++ {
		a := strings.Repeat("k", n)
		if !equalKeys(a, strings.Clone(a)) {
			t.Fatalf("%q: not equal to itself", a)
		}
		if equalKeys(a, a+"k") || equalKeys(a+"k", a) {
			t.Fatalf("%q: equal to a longer key", a)
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{'j', 'K', 0, 0x80, 0xff} {
				b := []byte(a)
				b[i] = c
				if equalKeys(a, string(b)) {
					t.Fatalf("%q equal to %q", a, b)
				}
			}
		}
	}
}

// seenKeys returns the remembered keys by client name; a client with
// more than one has them joined by spaces.
func seenKeys(k *Ring) map[string]string {
	got := map[string]string{}
	if seen := k.seen.Load(); seen != nil {
		for _, v := range *seen {
			name := v.entry.client.Name
			got[name] = strings.TrimPrefix(got[name]+" "+v.key, " ")
		}
	}
	return got
}

// TestKeyRingRemembersOnlyVerifiedKeys checks that the keys remembered to
// skip the SHA-256 are exactly the keys that verified, one per client,
// whatever else is presented, and that remembered keys keep answering
// for their own clients.
func TestKeyRingRemembersOnlyVerifiedKeys(t *testing.T) {
	const keyA, keyB = "wxt_remember-a-0123456789abcdefghijklmnop", "wxt_remember-b-0123456789abcdefghijklmnop"
	hash := func(key string) string { s := sha256.Sum256([]byte(key)); return hex.EncodeToString(s[:]) }
	ring, err := New([]Client{
		{Name: "a", KeySHA256: hash(keyA), Apps: []string{"wxA"}},
		{Name: "b", KeySHA256: hash(keyB), Apps: []string{"wxB"}},
		{Name: "never-used", KeySHA256: hash("wxt_unused")},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(key string) (string, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		c, err := ring.Authenticate(r)
		if err != nil {
			return "", err
		}
		return c.Name, nil
	}
	misses := []string{keyA[:len(keyA)-1], keyA + "x", keyA[:len(keyA)-1] + "q", "x" + keyA[1:], strings.ToUpper(keyA), "wxt_unknown"}
	for _, k := range misses {
		if name, err := auth(k); err == nil {
			t.Fatalf("%q accepted as %q", k, name)
		}
	}
	if got := seenKeys(ring); len(got) != 0 {
		t.Fatalf("refused keys were remembered: %v", got)
	}
	for range 3 {
		for key, want := range map[string]string{keyA: "a", keyB: "b"} {
			if name, err := auth(key); err != nil || name != want {
				t.Fatalf("%q: client %q, error %v; want %q", key, name, err, want)
			}
		}
		// Near misses of a remembered key are refused too.
		for _, k := range misses {
			if name, err := auth(k); err == nil {
				t.Fatalf("%q accepted as %q once %q was remembered", k, name, keyA)
			}
		}
	}
	if got := seenKeys(ring); len(got) != 2 || got["a"] != keyA || got["b"] != keyB {
		t.Fatalf("remembered %v, want a and b with their keys", got)
	}

	// A client keeps the one entry it has: another key said to verify as
	// a's (which SHA-256 makes impossible in practice) adds nothing, and
	// neither does a key whose hash is taken.
	a := ring.keys[sha256.Sum256([]byte(keyA))]
	ring.remember(maphash.String(ring.seed, "wxt_other"), "wxt_other", a)
	ring.remember(maphash.String(ring.seed, keyB), "wxt_other", ring.keys[sha256.Sum256([]byte("wxt_unused"))])
	if got := seenKeys(ring); len(got) != 2 || got["a"] != keyA || got["b"] != keyB {
		t.Fatalf("after remembering more: %v, want a and b with their keys only", got)
	}
}

func TestKeyRingConcurrent(t *testing.T) {
	var clients []Client
	var keys []string
	for i := range 8 {
		key := "wxt_concurrent-" + strings.Repeat(string(rune('a'+i)), 30)
		s := sha256.Sum256([]byte(key))
		clients = append(clients, Client{Name: key[len(key)-1:], KeySHA256: hex.EncodeToString(s[:])})
		keys = append(keys, key)
	}
	ring, err := New(clients)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				key := keys[(g+i)%len(keys)]
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+key)
				c, err := ring.Authenticate(r)
				if err != nil || c.Name != key[len(key)-1:] {
					t.Errorf("%q: client %+v, error %v", key, c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := seenKeys(ring); len(got) != len(keys) {
		t.Errorf("remembered %d keys, want %d", len(got), len(keys))
	}
}
