package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
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
