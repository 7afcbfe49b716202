package compat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// An app the Service keeps beside the configured ones (registered at run
// time) gets its token at /cgi-bin/token with a client key granted it in
// place of the AppSecret, which the front door does not know; without
// Kept it is an unknown appid.
func TestKeptAppTokenWithAKey(t *testing.T) {
	const (
		kept     = "wx00000000000000k1"
		keyKept  = "wxt_compat-kept-key-0123456789"
		keyOther = "wxt_compat-other-key-0123456789"
	)
	hash := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	ring, err := clientkey.New([]clientkey.Client{
		{Name: "kept", KeySHA256: hash(keyKept), Apps: []string{kept}},
		{Name: "other", KeySHA256: hash(keyOther), Apps: []string{"wxA"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := &mock.Service{CredentialFn: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		return wxtoken.Grant{AppID: appID, Kind: kind, Value: "TOKEN-" + appID, ExpiresIn: time.Hour, ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}
	newHandler := func(keptFn func(string) (wxtoken.Family, bool)) *Handler {
		h, err := New(Options{Service: svc, AppOf: func(string) (string, bool) { return "", false },
			Apps: []App{{AppID: "wxA", Secret: "secretA"}}, Keys: ring, Kept: keptFn, Upstream: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := newHandler(func(id string) (wxtoken.Family, bool) { return wxtoken.FamilyApp, id == kept })
	target := func(secret string) string {
		return "/cgi-bin/token?grant_type=client_credential&appid=" + kept + "&secret=" + secret
	}
	rec, b := get(h, target(keyKept))
	var tok tokenBody
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); rec.Code != http.StatusOK || err != nil || tok.AccessToken != "TOKEN-"+kept {
		t.Fatalf("with a granted key: %d %s", rec.Code, rec.Body)
	}
	for name, secret := range map[string]string{"a key not granted it": keyOther, "a guessed secret": "0123456789abcdef0123456789abcdef"} {
		if _, b = get(h, target(secret)); b.ErrCode != errInvalidSecret {
			t.Errorf("%s: errcode %d, want %d", name, b.ErrCode, errInvalidSecret)
		}
	}
	if _, b = get(newHandler(nil), target(keyKept)); b.ErrCode != errInvalidAppID {
		t.Errorf("without Kept: errcode %d, want %d", b.ErrCode, errInvalidAppID)
	}
}
