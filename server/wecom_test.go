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
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestWeComAgentsAreServed: a configured WeCom agent reaches the engine
// and the HTTP API under its routes, for a key granted its corp, and
// shows in the status as CORPID/AGENTID; a key granted another corp is
// refused it. (Which upstream calls serve it is the engine's and the
// upstream client's business, tested there.)
func TestWeComAgentsAreServed(t *testing.T) {
	const (
		corp     = "ww0123456789abcdef"
		agent    = "1000002"
		corpKey  = "wxt_server-wecom-corp-key"
		otherKey = "wxt_server-wecom-other-key"
	)
	hash := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{appID: secret}, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q}
upstream: {base_url: %q, wecom_base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
apps:
  - {appid: %s, secret: %s}
wecom:
  - corpid: %s
    name: acme
    agents:
      - {agentid: %q, secret: wecom-agent-secret-0001}
  - corpid: ww00000000000000ff
    agents:
      - {agentid: %q, secret: wecom-agent-secret-0002}
clients:
  - {name: corp, key_sha256: %q, apps: [%s], admin: true}
  - {name: other, key_sha256: %q, apps: [ww00000000000000ff]}
`, filepath.Join(dir, "wxtoken.db"), ts.URL, ts.URL, appID, secret, corp, agent, agent, hash(corpKey), corp, hash(otherKey))
	cfg, err := config.Parse([]byte(y), dir, nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{})
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
	get := func(path, key string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	path := "/v1/wecom/" + corp + "/" + agent + "/access_token"
	// The agent is configured and granted: whatever the upstream makes of
	// it, the answer is the engine's (a token, or why there is none), not
	// the API's refusal.
	switch status, body := get(path, corpKey); status {
	case http.StatusOK, http.StatusServiceUnavailable:
	default:
		t.Errorf("%s with the corp's key: HTTP %d %s", path, status, body)
	}
	if status, body := get(path, otherKey); status != http.StatusForbidden {
		t.Errorf("%s with another corp's key: HTTP %d %s, want 403", path, status, body)
	}
	if status, body := get("/v1/wecom/"+corp+"/1000009/access_token", corpKey); status != http.StatusNotFound {
		t.Errorf("an unknown agent of the corp: HTTP %d %s, want 404", status, body)
	}
	status, body := get("/v1/apps", corpKey)
	var list struct {
		Apps []struct {
			AppID string `json:"appid"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
		t.Fatalf("/v1/apps: HTTP %d %s (%v)", status, body, err)
	}
	want := []string{appID, corp + "/" + agent, "ww00000000000000ff/" + agent}
	if len(list.Apps) != len(want) {
		t.Fatalf("/v1/apps lists %s, want %q", body, want)
	}
	for i, w := range want {
		if list.Apps[i].AppID != w {
			t.Errorf("/v1/apps[%d] = %q, want %q", i, list.Apps[i].AppID, w)
		}
	}
}
