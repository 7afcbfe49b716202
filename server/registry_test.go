package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// registryServer runs a server with a store key (or none) whose clients
// are an admin and a key granted the entries tagged "shops"; the
// simulator knows the configured app and regApp.
func registryServer(t *testing.T, withKey bool) (*server.Server, *simulator.Simulator, string) {
	t.Helper()
	sim, simURL, storeKey := registrySimulator(t, map[string]string{appID: secret, regApp: regSecret})
	hash := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	keyLine := ""
	if withKey {
		keyLine = ", encryption_key_env: STORE_KEY"
	}
	dir := t.TempDir()
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q%s}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
apps:
  - {appid: %s, secret: %s}
clients:
  - {name: ops, key_sha256: %q, apps: [%s], admin: true}
  - {name: shops, key_sha256: %q, apps: ["tag:shops"]}
`, filepath.Join(dir, "wxtoken.db"), keyLine, simURL, appID, secret, hash(adminKey), appID, hash(tagKey))
	cfg, err := config.Parse([]byte(y), dir, func(name string) (string, bool) { return storeKey, name == "STORE_KEY" })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	srv, stop := startServer(t, cfg)
	t.Cleanup(stop)
	return srv, sim, regSecret
}

// registrySimulator runs a simulator that knows apps, and returns it, its
// URL and a new store key.
func registrySimulator(t *testing.T, apps map[string]string) (*simulator.Simulator, string, string) {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: apps, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	storeKey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return sim, ts.URL, storeKey
}

// startServer runs a server for cfg; the function stops it.
func startServer(t *testing.T, cfg *config.Config) (*server.Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	return srv, func() { cancel(); <-done }
}

const (
	regApp    = "wx00000000000000b7"
	regSecret = "registered-secret-0123456789abcdef"
	adminKey  = "wxt_server-registry-admin-key"
	tagKey    = "wxt_server-registry-tag-key"
)

// getToken asks GET /v1/apps/{appid}/access_token with key.
func getToken(t *testing.T, base, appid, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/apps/"+appid+"/access_token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok struct {
		AppID       string `json:"appid"`
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &tok); err != nil || tok.AppID != appid {
			t.Fatalf("%s: %v: %s", appid, err, body)
		}
	}
	return resp.StatusCode, tok.AccessToken
}

// An app registered while the server runs is served over HTTP to a key
// granted its tag, and refused once unregistered.
func TestRegisteredAppServedOverHTTP(t *testing.T) {
	srv, sim, regSecret := registryServer(t, true)
	ctx := t.Context()
	if code, _ := getToken(t, srv.URL(), regApp, tagKey); code != http.StatusForbidden {
		t.Fatalf("before the registration: %d, want 403", code)
	}
	if code, _ := getToken(t, srv.URL(), regApp, adminKey); code != http.StatusNotFound {
		t.Fatalf("admin key before the registration: %d, want 404", code)
	}
	if _, err := srv.Registry().Register(ctx, wxtoken.Registration{AppID: regApp, Secret: regSecret, Tags: []string{"shops"}}); err != nil {
		t.Fatal(err)
	}
	code, tok := getToken(t, srv.URL(), regApp, tagKey)
	if code != http.StatusOK || !sim.Check(tok).Valid || sim.Check(tok).AppID != regApp {
		t.Fatalf("the registered app: %d, token valid %v", code, sim.Check(tok).Valid)
	}
	if code, _ := getToken(t, srv.URL(), appID, tagKey); code != http.StatusForbidden {
		t.Errorf("the tag key reads the configured app: %d", code)
	}
	if code, _ := getToken(t, srv.URL(), regApp, adminKey); code != http.StatusForbidden {
		t.Errorf("a key not granted the registered app: %d, want 403", code)
	}
	_, err := srv.Registry().Register(ctx, wxtoken.Registration{AppID: appID, Secret: secret})
	if wxtoken.ErrorCode(err) != wxtoken.EConflict {
		t.Errorf("registering the configured app: %v", err)
	}
	if err := srv.Registry().Unregister(ctx, regApp); err != nil {
		t.Fatal(err)
	}
	if code, _ := getToken(t, srv.URL(), regApp, tagKey); code != http.StatusForbidden {
		t.Errorf("after unregistering: %d, want 403", code)
	}
	if code, _ := getToken(t, srv.URL(), regApp, adminKey); code != http.StatusNotFound {
		t.Errorf("admin key after unregistering: %d, want 404", code)
	}
}

// Without a store key the server runs, and a registration is refused
// with what to set.
func TestRegisterNeedsAStoreKey(t *testing.T) {
	srv, _, regSecret := registryServer(t, false)
	_, err := srv.Registry().Register(t.Context(), wxtoken.Registration{AppID: regApp, Secret: regSecret})
	if wxtoken.ErrorCode(err) != wxtoken.EUnavailable || !strings.Contains(wxtoken.ErrorMessage(err), "store.encryption_key_env") {
		t.Fatalf("registering without a store key: %v", err)
	}
	if code, _ := getToken(t, srv.URL(), appID, adminKey); code != http.StatusOK {
		t.Errorf("the configured app: %d", code)
	}
}

// A config with no app at all, but a store key and an admin client, runs
// a server that keeps only what is registered through the admin API: it
// is ready at once, serves an app registered over HTTP, and serves it
// again after a restart without a new upstream call.
func TestServerWithOnlyRegisteredEntries(t *testing.T) {
	sim, simURL, storeKey := registrySimulator(t, map[string]string{regApp: regSecret})
	sum := sha256.Sum256([]byte(adminKey))
	dir := t.TempDir()
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q, encryption_key_env: STORE_KEY}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
clients:
  - {name: ops, key_sha256: %q, apps: ["*"], admin: true}
`, filepath.Join(dir, "wxtoken.db"), simURL, hex.EncodeToString(sum[:]))
	cfg, err := config.Parse([]byte(y), dir, func(name string) (string, bool) { return storeKey, name == "STORE_KEY" })
	if err != nil {
		t.Fatalf("a config with no app but a store key and an admin: %v", err)
	}
	if !strings.Contains(strings.Join(cfg.Warnings, "\n"), "only the entries registered") {
		t.Errorf("no warning that only registered entries are kept: %q", cfg.Warnings)
	}
	srv, stop := startServer(t, cfg)
	resp, err := http.Get(srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz with nothing registered yet: %d", resp.StatusCode)
	}
	body := fmt.Sprintf(`{"appid": %q, "secret": %q, "tickets": ["jsapi"]}`, regApp, regSecret)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/v1/apps", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/apps: %d %s", resp.StatusCode, answer)
	}
	code, tok := getToken(t, srv.URL(), regApp, adminKey)
	if code != http.StatusOK || !sim.Check(tok).Valid {
		t.Fatalf("the registered app: %d, token valid %v", code, sim.Check(tok).Valid)
	}
	stop()
	calls := sim.Calls(simulator.EndpointStableToken, regApp)

	srv, stop = startServer(t, cfg)
	defer stop()
	code, again := getToken(t, srv.URL(), regApp, adminKey)
	if code != http.StatusOK || again != tok {
		t.Fatalf("after the restart: %d, the same token %v", code, again == tok)
	}
	if n := sim.Calls(simulator.EndpointStableToken, regApp); n != calls {
		t.Errorf("%d token calls after the restart, want none", n-calls)
	}
}
