package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

const (
	opsVerbKey  = "wxt_operate-admin-key"
	shopVerbKey = "wxt_operate-shop-key"
	opsVerbApp  = "wx00000000000000ab"
)

// startOpsVerbServer runs a server with one app in front of a simulator,
// for the retry and clear-quota verbs.
func startOpsVerbServer(t *testing.T) string {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{opsVerbApp: "app-secret"}, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sts := httptest.NewServer(sim)
	t.Cleanup(sts.Close)
	sha := func(k string) string { sum := sha256.Sum256([]byte(k)); return hex.EncodeToString(sum[:]) }
	dir := t.TempDir()
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
quota: {poll: false}
apps:
  - {appid: %s, secret: app-secret}
clients:
  - {name: ops, key_sha256: %q, admin: true}
  - {name: shop, key_sha256: %q, apps: ["*"]}
`, filepath.Join(dir, "wxtoken.db"), sts.URL, opsVerbApp, sha(opsVerbKey), sha(shopVerbKey))
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
	t.Cleanup(func() { cancel(); <-done })
	return srv.URL()
}

func TestRetryAndClearQuotaVerbs(t *testing.T) {
	base := startOpsVerbServer(t)
	as := func(key string, args ...string) []string {
		return append(args, "--server", base, "--key", key)
	}
	runVerbCases(t, []verbCase{
		{name: "retry needs an admin key", args: as(shopVerbKey, "retry", opsVerbApp), code: 1, stderr: []string{"admin client key"}},
		{name: "retry needs a target", args: as(opsVerbKey, "retry"), code: 2, stderr: []string{"APPID"}},
		{name: "retry", args: as(opsVerbKey, "retry", opsVerbApp), code: 0, has: []string{opsVerbApp, "access_token", "fresh"}},
		{name: "retry a WeCom agent not kept", args: as(opsVerbKey, "retry", "--wecom", "ww0123456789abcdef/1000002"), code: 1, stderr: []string{"not kept"}},
		{name: "clear-quota asks for --yes", args: as(opsVerbKey, "clear-quota", opsVerbApp), code: 2, stderr: []string{"--yes"}},
		{name: "clear-quota needs an admin key", args: as(shopVerbKey, "clear-quota", opsVerbApp, "--yes"), code: 1, stderr: []string{"admin client key"}},
		{name: "clear-quota", args: as(opsVerbKey, "clear-quota", opsVerbApp, "--yes"), code: 0,
			has: []string{"clears left this month: 9", "/cgi-bin/stable_token: 0 of 500000 used today"}},
		{name: "clear-quota as JSON", args: as(opsVerbKey, "clear-quota", opsVerbApp, "--yes", "--json"), code: 0,
			has: []string{`"clear_remaining_this_month": 8`}},
	})
}
