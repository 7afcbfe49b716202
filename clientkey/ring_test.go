package clientkey_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

func TestKeyRing(t *testing.T) {
	const key = "wxt_keyring-test-key"
	sum := sha256.Sum256([]byte(key))
	ring, err := clientkey.New([]clientkey.Client{{Name: "shop", KeySHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Apps: []string{"wxA"}}})
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
			t.Errorf("%q: client %q, error %v", c.header, nameOf(cl), err)
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
	if _, err := clientkey.New([]clientkey.Client{{Name: "bad", KeySHA256: key}}); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("a key in place of its hash: %v", err)
	}
	dup := []clientkey.Client{{Name: "a", KeySHA256: hex.EncodeToString(sum[:])}, {Name: "b", KeySHA256: hex.EncodeToString(sum[:])}}
	if _, err := clientkey.New(dup); err == nil {
		t.Error("a repeated key_sha256 was accepted")
	}
}

// TestKeyRingKey: a key passed as a value is found as the same key in an
// Authorization header would be, and nothing else is.
func TestKeyRingKey(t *testing.T) {
	const key = "wxt_keyring-test-key"
	sum := sha256.Sum256([]byte(key))
	ring, err := clientkey.New([]clientkey.Client{{Name: "shop", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{"wxA"}}})
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

// nameOf is the name of c, or "" for none.
func nameOf(c *clientkey.Client) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// TestAllows: a grant names an appid, a WeCom corp (every agent of it), a
// WeCom agent, a platform (its own credentials and every authorizer's), an
// authorizer, or everything; nothing else matches.
func TestAllows(t *testing.T) {
	const (
		app    = "wx0123456789abcdef"
		corp   = "ww0123456789abcdef"
		other  = "ww00000000000000ff"
		agent  = "1000002"
		agent2 = "contacts"
		comp   = "wx00000000000000c1"
		comp2  = "wx00000000000000c2"
		auth   = "wx00000000000000a1"
		auth2  = "wx00000000000000a2"
	)
	id := wxtoken.WeComID
	az := wxtoken.AuthorizerID
	tests := []struct {
		name   string
		grants []string
		yes    []string
		no     []string
	}{
		{"nothing", nil, nil, []string{app, id(corp, agent), corp, "*", ""}},
		{"an appid", []string{app}, []string{app}, []string{id(corp, agent), "wx0123456789abcde", corp}},
		{"a corp", []string{corp}, []string{id(corp, agent), id(corp, agent2)}, []string{app, id(other, agent), "ww0123456789abcde/" + agent}},
		{"an agent", []string{id(corp, agent)}, []string{id(corp, agent)}, []string{id(corp, agent2), corp, app, id(other, agent)}},
		{"all", []string{clientkey.All}, []string{app, id(corp, agent), id(other, agent2)}, nil},
		{"an agent and an app", []string{id(other, agent2), app}, []string{app, id(other, agent2)}, []string{id(other, agent), id(corp, agent2)}},
		{"a platform", []string{comp}, []string{comp, az(comp, auth), az(comp, auth2)},
			[]string{comp2, az(comp2, auth), auth, app, "wx00000000000000c:" + auth, comp + "x:" + auth, comp + ":"}},
		{"an authorizer", []string{az(comp, auth)}, []string{az(comp, auth)},
			[]string{comp, auth, az(comp, auth2), az(comp2, auth), az(comp, auth) + "x"}},
		{"an authorizer's appid alone", []string{auth}, []string{auth}, []string{az(comp, auth), comp}},
		{"all covers platforms", []string{clientkey.All}, []string{comp, az(comp2, auth2)}, nil},
		{"an id without its second part", []string{app, corp, comp}, nil, []string{app + ":", corp + "/", comp + ":", ":", "/"}},
		{"an empty grant covers no empty owner", []string{""}, nil, []string{":" + auth, "/" + agent, app}},
		{"a platform and a corp", []string{comp, corp}, []string{az(comp, auth), id(corp, agent), comp},
			[]string{corp + ":" + auth + "/x", az(comp2, auth), id(other, agent)}},
	}
	for _, tt := range tests {
		c := &clientkey.Client{Name: tt.name, Apps: tt.grants}
		for _, x := range tt.yes {
			if !c.Allows(x) {
				t.Errorf("%s: %q not allowed", tt.name, x)
			}
		}
		for _, x := range tt.no {
			if c.Allows(x) {
				t.Errorf("%s: %q allowed", tt.name, x)
			}
		}
	}
}

// TestNewCopiesGrants: changing the slice given to New changes nothing
// the ring grants.
func TestNewCopiesGrants(t *testing.T) {
	const key = "wxt_copy-test-key"
	sum := sha256.Sum256([]byte(key))
	grants := []string{"wxA"}
	ring, err := clientkey.New([]clientkey.Client{{Name: "a", KeySHA256: hex.EncodeToString(sum[:]), Apps: grants}})
	if err != nil {
		t.Fatal(err)
	}
	grants[0] = "wxB"
	if c, ok := ring.Key(key); !ok || !c.Allows("wxA") || c.Allows("wxB") {
		t.Errorf("after the caller's slice changed: %+v", c)
	}
}

// TestTagGrants: a grant "tag:T" covers the ids the ring's lookup tags T,
// and nothing without a lookup; the lookup is asked only for a client
// that holds a tag grant and no grant of the id by name.
func TestTagGrants(t *testing.T) {
	const (
		keyTag   = "wxt_tag-test-key"
		keyPlain = "wxt_plain-test-key"
		keyMixed = "wxt_mixed-test-key"
	)
	hash := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	tags := map[string][]string{
		"wxreg1":               {"shops", "eu"},
		"wxreg2":               {"eu"},
		"ww00000000000000aa/1": {"shops"},
	}
	var asked []string
	lookup := func(id string) []string { asked = append(asked, id); return tags[id] }
	clients := []clientkey.Client{
		{Name: "tag", KeySHA256: hash(keyTag), Apps: []string{"tag:shops"}},
		{Name: "plain", KeySHA256: hash(keyPlain), Apps: []string{"wxreg2"}},
		{Name: "mixed", KeySHA256: hash(keyMixed), Apps: []string{"wxA", "tag:eu", "tag:"}},
	}
	ring, err := clientkey.NewTagged(clients, lookup)
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) *clientkey.Client {
		c, ok := ring.Key(key)
		if !ok {
			t.Fatalf("key of %s not found", key)
		}
		return c
	}
	for _, tt := range []struct {
		key string
		yes []string
		no  []string
	}{
		{keyTag, []string{"wxreg1", "ww00000000000000aa/1"}, []string{"wxreg2", "wxA", "shops", "ww00000000000000aa/2"}},
		{keyPlain, []string{"wxreg2"}, []string{"wxreg1", "ww00000000000000aa/1"}},
		{keyMixed, []string{"wxA", "wxreg1", "wxreg2"}, []string{"ww00000000000000aa/1", "wxB"}},
	} {
		c := get(tt.key)
		for _, id := range tt.yes {
			if !c.Allows(id) {
				t.Errorf("%s: %q not allowed", c.Name, id)
			}
		}
		for _, id := range tt.no {
			if c.Allows(id) {
				t.Errorf("%s: %q allowed", c.Name, id)
			}
		}
	}
	// The plain client never asks; the mixed one not for what it was
	// granted by name.
	asked = nil
	get(keyPlain).Allows("wxreg1")
	get(keyMixed).Allows("wxA")
	if len(asked) != 0 {
		t.Errorf("the lookup was asked for %q by clients that need no tags", asked)
	}
	// A lookup that changes is followed: a tag taken off is no grant.
	tags["wxreg1"] = []string{"eu"}
	if get(keyTag).Allows("wxreg1") {
		t.Error("wxreg1 allowed by a tag it no longer has")
	}
	// Without a lookup, tag grants grant nothing.
	plain, err := clientkey.New(clients)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := plain.Key(keyTag); c.Allows("ww00000000000000aa/1") {
		t.Error("a ring without a lookup granted by tag")
	}
	// A client made by hand has no lookup either.
	if (&clientkey.Client{Apps: []string{"tag:eu"}}).Allows("wxreg2") {
		t.Error("a Client made by hand granted by tag")
	}
}
