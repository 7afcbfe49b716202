package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/httpapi"
)

func TestKeyRing(t *testing.T) {
	const key = "wxt_keyring-test-key"
	sum := sha256.Sum256([]byte(key))
	ring, err := httpapi.NewKeyRing([]config.Client{{Name: "shop", KeySHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Apps: []string{"wxA"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header string
		ok     bool
	}{
		{"Bearer " + key, true},
		{"bearer " + key, true},
		{"Bearer " + key + "x", false},
		{"Bearer", false},
		{"Basic " + key, false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		cl, err := ring.Authenticate(r)
		if c.ok != (err == nil) {
			t.Errorf("%q: client %q, error %v", c.header, cl.Name, err)
			continue
		}
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.EUnauthorized || strings.Contains(err.Error(), key) {
				t.Errorf("%q: error %v", c.header, err)
			}
			continue
		}
		if cl.Name != "shop" || !cl.Allows("wxA") || cl.Allows("wxB") {
			t.Errorf("%q: client %+v", c.header, cl)
		}
	}
	if _, err := httpapi.NewKeyRing([]config.Client{{Name: "bad", KeySHA256: key}}); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("a key in place of its hash: %v", err)
	}
	dup := []config.Client{{Name: "a", KeySHA256: hex.EncodeToString(sum[:])}, {Name: "b", KeySHA256: hex.EncodeToString(sum[:])}}
	if _, err := httpapi.NewKeyRing(dup); err == nil {
		t.Error("a repeated key_sha256 was accepted")
	}
}

// TestKeyRingKey: a key passed as a value is found as the same key in an
// Authorization header would be, and nothing else is.
func TestKeyRingKey(t *testing.T) {
	const key = "wxt_keyring-test-key"
	sum := sha256.Sum256([]byte(key))
	ring, err := httpapi.NewKeyRing([]config.Client{{Name: "shop", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{"wxA"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := ring.Key(key); !ok || c.Name != "shop" || !c.Allows("wxA") || c.Allows("wxB") {
		t.Errorf("the configured key: %+v %v", c, ok)
	}
	for _, k := range []string{"", key + "x", "Bearer " + key, strings.ToUpper(key), strings.Repeat("k", 513)} {
		if c, ok := ring.Key(k); ok {
			t.Errorf("%.24q: found %q", k, c.Name)
		}
	}
}
