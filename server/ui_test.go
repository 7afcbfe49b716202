package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/ui"
)

// The status page is served under /ui/ beside the HTTP API, with the
// WeChat-compatible front door in front of both: each keeps its own paths.
func TestStatusPageServedBesideTheAPI(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	f.cfg.Compat.Enabled = true
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, f.cfg, server.Options{Logger: f.log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := get("/ui/")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Security-Policy") != ui.ContentSecurityPolicy ||
		!strings.Contains(body, `action="/ui/login"`) {
		t.Errorf("/ui/ without a session: HTTP %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := get("/ui"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: HTTP %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/ui/static/ui.js"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("the page's script: HTTP %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The API's paths are still the API's, in JSON.
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: HTTP %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/uix"); resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/uix: HTTP %d %q, want the API's JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// A compat.base_path under /ui would hide the status page, and is
// refused as one under an API route is.
func TestBasePathOverTheStatusPageIsRefused(t *testing.T) {
	for _, base := range []string{"/ui", "/ui/wechat"} {
		f := newFixture(t, "127.0.0.1:0")
		f.cfg.Compat.Enabled, f.cfg.Compat.BasePath = true, base
		var fe *config.FieldError
		if err := server.CheckConfig(f.cfg); !errors.As(err, &fe) || !strings.Contains(err.Error(), "would hide the status page at /ui/") {
			t.Errorf("%s: CheckConfig: %v", base, err)
		}
	}
	f := newFixture(t, "127.0.0.1:0")
	f.cfg.Compat.Enabled, f.cfg.Compat.BasePath = true, "/uiwechat"
	if err := server.CheckConfig(f.cfg); err != nil {
		t.Errorf("/uiwechat: CheckConfig: %v", err)
	}
}

// A reload hands the status page the new keys: an admin key added signs
// in at once, and a session whose key lost its admin flag ends.
func TestReloadGivesTheStatusPageItsKeys(t *testing.T) {
	apps := "apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n"
	f := newReloadFixture(t, apps+clients())
	base := "http://" + f.srv.Addr()
	signIn := func(key string) (*http.Cookie, int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == ui.CookieName {
				return c, resp.StatusCode
			}
		}
		return nil, resp.StatusCode
	}
	page := func(c *http.Cookie) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/ui/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if _, code := signIn(keyLate); code != http.StatusUnauthorized {
		t.Fatalf("an unknown key signs in: HTTP %d", code)
	}
	ops, code := signIn(keyOps)
	if ops == nil || code != http.StatusSeeOther || page(ops) != http.StatusOK {
		t.Fatalf("ops cannot sign in: HTTP %d", code)
	}
	// ops loses its admin flag; late becomes an admin.
	f.reload(apps + "clients:\n" +
		fmt.Sprintf("  - {name: ops, key_sha256: %q, apps: [\"*\"]}\n", keySum(keyOps)) +
		fmt.Sprintf("  - {name: late, key_sha256: %q, apps: [\"*\"], admin: true}\n", keySum(keyLate)))
	if code := page(ops); code != http.StatusUnauthorized {
		t.Errorf("the session of a key no longer an admin's: HTTP %d, want 401", code)
	}
	if late, code := signIn(keyLate); late == nil || page(late) != http.StatusOK {
		t.Errorf("the admin key added cannot sign in: HTTP %d", code)
	}
}
