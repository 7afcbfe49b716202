package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// The apps and keys of the reload verb's server.
const (
	reloadAppA     = "wx00000000000000a1"
	reloadAppB     = "wx00000000000000b2"
	reloadSecret   = "0123456789abcdef0123456789abcdef"
	reloadAdminKey = "wxt_reload-admin-key"
	reloadShopKey  = "wxt_reload-shop-key"
)

// reloadServer is a server started from a config file that a test
// rewrites.
type reloadServer struct {
	srv  *server.Server
	path string
	head string
	logs *logbuf.Buffer
}

func sum(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// startReloadServer serves apps (the apps section) from a config file
// until the test ends.
func startReloadServer(t *testing.T, apps string) *reloadServer {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{reloadAppA: reloadSecret, reloadAppB: reloadSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	rs := &reloadServer{path: filepath.Join(dir, "wxtoken.yaml"), logs: &logbuf.Buffer{}}
	rs.head = fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: memory}
upstream: {base_url: %q, fallback_base_urls: []}
clients:
  - {name: ops, key_sha256: %q, apps: ["*"], admin: true}
  - {name: shop, key_sha256: %q, apps: ["*"]}
`, ts.URL, sum(reloadAdminKey), sum(reloadShopKey))
	rs.write(t, apps)
	env := func(string) (string, bool) { return reloadSecret, true }
	cfg, err := config.Load(rs.path, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.srv, err = server.New(ctx, cfg, server.Options{ConfigPath: rs.path, Env: env,
		Logger: slog.New(slog.NewTextHandler(rs.logs, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rs.srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rs
}

func (rs *reloadServer) write(t *testing.T, apps string) {
	t.Helper()
	if err := os.WriteFile(rs.path, []byte(rs.head+apps), 0o600); err != nil {
		t.Fatal(err)
	}
}

func reloadApps(ids ...string) string {
	s := "apps:\n"
	for _, id := range ids {
		s += "  - {appid: " + id + ", secret_env: SECRET}\n"
	}
	return s
}

// runVerb runs a client verb against rs with key.
func (rs *reloadServer) runVerb(key string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	args = append(args, "--server", rs.srv.URL(), "--key", key)
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sum(string(b))
}

// TestReloadVerb: wxtoken reload applies the file and says what changed;
// a broken file exits 1 naming every problem, and changes nothing;
// status shows the digest of the file in force; a key that is not an
// admin's is refused.
func TestReloadVerb(t *testing.T) {
	rs := startReloadServer(t, reloadApps(reloadAppA))
	code, out, _ := rs.runVerb(reloadAdminKey, "status")
	if code != 0 || !strings.Contains(out, "sha256 "+fileSum(t, rs.path)) {
		t.Fatalf("status at start: %d\n%s", code, out)
	}
	rs.write(t, reloadApps(reloadAppA, reloadAppB))
	code, out, errs := rs.runVerb(reloadAdminKey, "reload")
	if code != 0 || !strings.Contains(out, "apps added: "+reloadAppB) || !strings.Contains(out, "sha256 "+fileSum(t, rs.path)) {
		t.Fatalf("reload: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := rs.runVerb(reloadShopKey, "token", reloadAppB); code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("token of the added app: %d %s", code, out)
	}
	if code, out, _ := rs.runVerb(reloadAdminKey, "status"); code != 0 || !strings.Contains(out, reloadAppB) || !strings.Contains(out, "sha256 "+fileSum(t, rs.path)) {
		t.Errorf("status after the reload: %d\n%s", code, out)
	}
	good := fileSum(t, rs.path)

	rs.write(t, "apps:\n  - {appid: "+reloadAppA+", secret_env: SECRET, token_api: fancy}\n  - {appid: bad id, secret_env: SECRET}\n")
	code, out, errs = rs.runVerb(reloadAdminKey, "reload")
	if code != 1 || !strings.Contains(errs, "apps[0].token_api") || !strings.Contains(errs, "apps[1].appid") || !strings.Contains(errs, "nothing changed") {
		t.Errorf("reload of a broken file: %d\n%s%s", code, out, errs)
	}
	if _, out, _ := rs.runVerb(reloadAdminKey, "status"); !strings.Contains(out, "sha256 "+good) || !strings.Contains(out, reloadAppB) {
		t.Errorf("status after a refused reload:\n%s", out)
	}

	if code, _, errs := rs.runVerb(reloadShopKey, "reload"); code != 1 || !strings.Contains(errs, "admin") {
		t.Errorf("reload with a shop key: %d %s", code, errs)
	}
	rs.write(t, reloadApps(reloadAppA, reloadAppB))
	code, out, _ = rs.runVerb(reloadAdminKey, "reload", "--json")
	var res struct {
		Added  []string `json:"added"`
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || len(res.Added) != 0 || res.Config.Digest != fileSum(t, rs.path) {
		t.Errorf("reload --json of an unchanged file: %d %s", code, out)
	}
}

// TestHangupReloads: each signal on the channel reloads the file; the
// loop ends with its context.
func TestHangupReloads(t *testing.T) {
	rs := startReloadServer(t, reloadApps(reloadAppA))
	hup := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		reloadOnHangup(ctx, rs.srv, hup, slog.New(slog.NewTextHandler(rs.logs, nil)))
		close(done)
	}()
	rs.write(t, reloadApps(reloadAppA, reloadAppB))
	hup <- syscall.SIGHUP
	// The loop takes the next signal only once the reload is done.
	hup <- syscall.SIGHUP
	cancel()
	<-done
	if n := strings.Count(rs.logs.String(), `msg="configuration reloaded"`); n != 2 {
		t.Errorf("%d reloads logged, want 2:\n%s", n, rs.logs)
	}
	req, _ := http.NewRequest(http.MethodGet, rs.srv.URL()+"/v1/apps/"+reloadAppB+"/access_token", nil)
	req.Header.Set("Authorization", "Bearer "+reloadShopKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the app the signal added: %d %s", resp.StatusCode, b)
	}
}
