package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// startHealthServer starts a real wxtoken server (memory store, one app on
// the simulator) and returns its port.
func startHealthServer(t *testing.T) string {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{"wx00000000000000aa": "s"}, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sts := httptest.NewServer(sim)
	t.Cleanup(sts.Close)
	y := fmt.Sprintf("listen: 127.0.0.1:0\nstore: {driver: memory}\nupstream: {base_url: %q, fallback_base_urls: []}\napps: [{appid: wx00000000000000aa, secret_env: S}]\nclients: [{name: ops, key_sha256: %q, admin: true}]\n", sts.URL, strings.Repeat("ab", 32))
	cfg, err := config.Parse([]byte(y), t.TempDir(), func(string) (string, bool) { return "s", true })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Listener: ln})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(srv.Addr())
	return port
}

func writeHealthConfig(t *testing.T, y string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wxtoken.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHealthcheckAgainstARealServer(t *testing.T) {
	port := startHealthServer(t)
	// A port nothing listens on: one that was free a moment ago.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"by address", []string{"--addr", "127.0.0.1:" + port}, 0, "/healthz: 200", ""},
		{"ready", []string{"--addr", "127.0.0.1:" + port, "--ready"}, 0, "/readyz: 200", ""},
		{"by URL", []string{"--url", "http://127.0.0.1:" + port}, 0, "/healthz: 200", ""},
		// The config's secrets need not be at hand: only listen is read.
		{"config listening on every interface", []string{"--config", writeHealthConfig(t, "listen: 0.0.0.0:"+port+"\napps: [{appid: wxA, secret_env: NOT_SET_HERE}]\n")}, 0, "http://127.0.0.1:" + port + "/healthz: 200", ""},
		{"config listening on every IPv6 interface", []string{"--config", writeHealthConfig(t, "listen: '[::]:"+port+"'\n")}, 0, "http://127.0.0.1:" + port + "/healthz: 200", ""},
		{"nothing listens", []string{"--addr", closed}, 1, "", "http://" + closed + "/healthz: "},
		{"config missing", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, 1, "", "read config"},
		{"two targets", []string{"--addr", "127.0.0.1:1", "--url", "http://127.0.0.1:1"}, 2, "", "give one of"},
		{"bad address", []string{"--addr", "localhost"}, 2, "", "not HOST:PORT"},
		{"bad URL", []string{"--url", "ftp://x"}, 2, "", "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runVerb(append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout, tt.stdout, stderr, tt.stderr)
			}
		})
	}
}

func TestHealthcheckNotReadyExitsOne(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"not_ready"}`)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer ts.Close()
	code, _, stderr := runVerb("healthcheck", "--url", ts.URL, "--ready")
	if code != 1 || !strings.Contains(stderr, `/readyz answered 503: {"status":"not_ready"}`) {
		t.Errorf("exit %d, stderr %q; want 1 and the answer", code, stderr)
	}
	if code, _, _ := runVerb("healthcheck", "--url", ts.URL); code != 0 {
		t.Errorf("healthz: exit %d, want 0", code)
	}
}

// TestHealthcheckTLSOnLoopback: a server with tls in its config is asked
// over HTTPS on the loopback address, whose name its certificate does not
// carry.
func TestHealthcheckTLSOnLoopback(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	cfg := writeHealthConfig(t, "listen: 0.0.0.0:"+u.Port()+"\ntls: {cert_file: c.pem, key_file: k.pem}\n")
	code, stdout, stderr := runVerb("healthcheck", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "https://127.0.0.1:"+u.Port()+"/healthz: 200") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 over https", code, stdout, stderr)
	}
	// Elsewhere than on loopback the certificate is checked as usual.
	code, _, stderr = runVerb("healthcheck", "--url", "https://localhost.invalid:"+u.Port())
	if code != 1 {
		t.Errorf("exit %d (%s), want 1", code, stderr)
	}
}

func TestHealthcheckTimesOut(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	code, _, stderr := runVerb("healthcheck", "--url", ts.URL, "--timeout", "200ms")
	if code != 1 || !strings.Contains(stderr, "no answer in time") {
		t.Errorf("exit %d, stderr %q; want 1 and no answer in time", code, stderr)
	}
}
