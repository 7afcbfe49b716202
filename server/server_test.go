package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

const (
	appID  = "wx00000000000000aa"
	secret = "0123456789abcdef0123456789abcdef"
)

// fixture is a simulator with one app, and the config of a wxtoken in
// front of it with its bolt store in dbPath.
type fixture struct {
	sim    *simulator.Simulator
	cfg    *config.Config
	dbPath string
	logs   *logbuf.Buffer
	log    *slog.Logger
}

func newFixture(t *testing.T, listen string) *fixture {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{appID: secret}, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	f := &fixture{sim: sim, dbPath: filepath.Join(dir, "wxtoken.db"), logs: &logbuf.Buffer{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	y := fmt.Sprintf(`listen: %s
store: {driver: bolt, path: %q}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
apps:
  - {appid: %s, secret_env: SHOP_SECRET}
clients:
  - {name: ops, key_sha256: %q, apps: ["*"], admin: true}
`, listen, f.dbPath, ts.URL, appID, strings.Repeat("ab", 32))
	f.cfg, err = config.Parse([]byte(y), dir, func(name string) (string, bool) {
		return secret, name == "SHOP_SECRET"
	})
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return f
}

// tokenCalls counts the token calls the simulator answered.
func (f *fixture) tokenCalls() int {
	return f.sim.Calls("/cgi-bin/stable_token", appID) + f.sim.Calls("/cgi-bin/token", appID)
}

// With the port taken, the start fails on the address before anything
// else happens: no store file, no call to WeChat, no refresh that the
// failed start cuts short and reports as an upstream failure.
func TestPortTakenFailsBeforeAnythingElse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	f := newFixture(t, addr)
	srv, err := server.New(t.Context(), f.cfg, server.Options{Logger: f.log})
	if err == nil {
		srv.Close()
		t.Fatal("server.New on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("the error does not name %s: %v", addr, err)
	}
	if _, serr := os.Stat(f.dbPath); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the store was opened before the address was taken (stat: %v)", serr)
	}
	if n := f.tokenCalls(); n != 0 {
		t.Errorf("%d token calls to WeChat from a server that could not listen", n)
	}
	if logs := f.logs.String(); strings.Contains(logs, "refresh failed") || strings.Contains(logs, "context canceled") {
		t.Errorf("the failed start logged a refresh failure:\n%s", logs)
	}
}

// A store file cut short is a one-line start error naming the file and
// saying what to do, not a crash inside bbolt: the open runs in this test
// process, where a SIGBUS would end the test binary.
func TestTruncatedStoreFailsStart(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	s, err := bolt.Open(f.dbPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		c := wxtoken.Credential{AppID: fmt.Sprintf("wx%016d", i), Kind: wxtoken.KindAccessToken, Value: strings.Repeat("v", 1500), Version: 1}
		if err := s.Put(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{8 << 10, 12 << 10, 20 << 10} {
		if err := os.WriteFile(f.dbPath, data[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(t.Context(), f.cfg, server.Options{Logger: f.log})
		if err == nil {
			srv.Close()
			t.Fatalf("server.New with a store cut to %d bytes succeeded", size)
		}
		msg := err.Error()
		if !strings.Contains(msg, f.dbPath) || !strings.Contains(msg, "cut short") || !strings.Contains(msg, "move it aside") || strings.Contains(msg, "\n") {
			t.Errorf("a store cut to %d bytes: want one line naming %s, saying it was cut short and to move it aside; got %q", size, f.dbPath, msg)
		}
	}
}

// An oversized request head is answered in JSON, like every other error,
// over a real connection: net/http would answer it in plain text before
// any handler runs.
func TestOversizedHeadersAnswerJSON(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, f.cfg, server.Options{Logger: f.log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	get := func(header int) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL()+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Padding", strings.Repeat("p", header))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	if resp, body := get(15 << 10); resp.StatusCode != http.StatusOK {
		t.Errorf("a 15 KiB header: HTTP %d %s, want 200", resp.StatusCode, body)
	}
	for _, size := range []int{17 << 10, 24 << 10, 200 << 10} {
		resp, body := get(size)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a %d-byte header: HTTP %d, want 431", size, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("a %d-byte header: Content-Type %q", size, ct)
		}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, "16384") {
			t.Errorf("a %d-byte header: body %q (%v), want the invalid error naming the limit", size, body, err)
		}
	}
}

// TestBasePathOverTheAPIIsRefused: a compat.base_path that starts with a
// segment of the HTTP API's routes is refused, by CheckConfig and by New
// before it listens; one that only looks like one is fine.
func TestBasePathOverTheAPIIsRefused(t *testing.T) {
	for _, tt := range []struct {
		basePath string
		err      string // "" for none
	}{
		{"/v1", `compat.base_path: "/v1" would hide the HTTP API's /v1 routes`},
		{"/metrics/wx", `compat.base_path: "/metrics/wx" would hide the HTTP API's /metrics routes`},
		{"/healthz", "would hide the HTTP API's /healthz routes"},
		{"/readyz/x", "would hide the HTTP API's /readyz routes"},
		{"/v10", ""},
		{"/wechat/v1", ""},
	} {
		t.Run(tt.basePath, func(t *testing.T) {
			f := newFixture(t, "127.0.0.1:0")
			f.cfg.Compat.Enabled, f.cfg.Compat.BasePath = true, tt.basePath
			err := server.CheckConfig(f.cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("CheckConfig: %v", err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("CheckConfig: %v, want a *config.FieldError with %q", err, tt.err)
			}
			ln, lerr := net.Listen("tcp", "127.0.0.1:0")
			if lerr != nil {
				t.Fatal(lerr)
			}
			defer ln.Close()
			f.cfg.Listen = ln.Addr().String() // taken: New must fail on the base path first
			if _, err := server.New(t.Context(), f.cfg, server.Options{Logger: f.log}); !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("New: %v, want the base path's error", err)
			}
		})
	}
}
