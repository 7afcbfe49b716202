package compat

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// TestSetApps: the apps and keys SetApps gives are what the next call is
// checked against: a new AppSecret is accepted and the old one refused,
// an app added is served and one removed is unknown, a key added works;
// a bad list changes nothing.
func TestSetApps(t *testing.T) {
	h := newStub(t, func() (wxtoken.Grant, error) { return wxtoken.Grant{Value: "T", ExpiresIn: time.Hour}, nil })
	if rec, _ := get(h, tokenTarget); !strings.Contains(rec.Body.String(), `"access_token":"T"`) {
		t.Fatalf("before: %s", rec.Body)
	}
	const key = "wxk_late_0000000000000000000000000001"
	sum := sha256.Sum256([]byte(key))
	ring, err := clientkey.New([]clientkey.Client{{Name: "late", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{"wxB"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetApps([]App{{AppID: "wxA", Secret: "secretA2"}, {AppID: "wxB", Secret: "secretB"}}, nil, ring); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target, want string
	}{
		{tokenTarget, `"errcode":40125`},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxA&secret=secretA2", `"access_token":"T"`},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxB&secret=secretB", `"access_token":"T"`},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxB&secret=" + key, `"access_token":"T"`},
	} {
		if rec, _ := get(h, c.target); !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %s, want %s", c.target, rec.Body, c.want)
		}
	}
	if err := h.SetApps([]App{{AppID: "wxB", Secret: "secretB"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if rec, _ := get(h, "/cgi-bin/token?grant_type=client_credential&appid=wxA&secret=secretA2"); !strings.Contains(rec.Body.String(), `"errcode":40013`) {
		t.Errorf("the removed app: %s", rec.Body)
	}
	if err := h.SetApps([]App{{AppID: "wxC"}}, nil, nil); err == nil {
		t.Error("an app without a secret was taken")
	}
	if rec, _ := get(h, "/cgi-bin/token?grant_type=client_credential&appid=wxB&secret=secretB"); !strings.Contains(rec.Body.String(), `"access_token":"T"`) {
		t.Errorf("after a refused SetApps: %s", rec.Body)
	}
}
