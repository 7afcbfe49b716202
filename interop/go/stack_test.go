package interop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// stackApp is one app known to the simulator and to wxtoken.
type stackApp struct {
	id, api string // api: stable or classic
	secret  string
}

// stack is the WeChat simulator and a wxtoken with its front door in front
// of it, on 127.0.0.1:0.
type stack struct {
	sim  *simulator.Simulator
	srv  *server.Server
	base string
	key  string
	apps map[string]stackApp
	logs *syncBuffer
}

// startStack runs a simulator whose tokens live ttl, and a wxtoken in
// front of it, for apps of the given token APIs; everything stops when the
// test ends. The silenceper SDK's one global hook is pointed at the
// wxtoken, which is why these tests do not run in parallel.
func startStack(t *testing.T, ttl, overlap time.Duration, apis ...string) *stack {
	t.Helper()
	st := &stack{apps: map[string]stackApp{}, logs: &syncBuffer{}}
	simApps := map[string]string{}
	env := map[string]string{}
	var y strings.Builder
	for i, api := range apis {
		a := stackApp{id: fmt.Sprintf("wx%016x", i+1), api: api, secret: randomHex(16)}
		st.apps[a.id] = a
		simApps[a.id] = a.secret
		env[fmt.Sprintf("SECRET_%d", i)] = a.secret
	}
	sim, err := simulator.New(simulator.Options{Apps: simApps, TTL: ttl, Overlap: overlap})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	st.sim = sim

	key := make([]byte, 24)
	_, _ = rand.Read(key)
	st.key = "wxt_" + hex.EncodeToString(key)
	sum := sha256.Sum256([]byte(st.key))

	dir := t.TempDir()
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nstore: {driver: bolt, path: %q}\n", filepath.Join(dir, "wxtoken.db"))
	fmt.Fprintf(&y, "upstream: {base_url: %q, fallback_base_urls: [], timeout: 5s, overlap: %s}\n", simSrv.URL, overlap)
	y.WriteString("refresh: {margin: 500ms, passive_interval: 200ms}\ncompat: {enabled: true}\napps:\n")
	for i, api := range apis {
		fmt.Fprintf(&y, "  - {appid: wx%016x, secret_env: SECRET_%d, token_api: %s, tickets: [jsapi]}\n", i+1, i, api)
	}
	fmt.Fprintf(&y, "clients:\n  - {name: interop, key_sha256: %q, apps: [\"*\"], admin: true}\n", hex.EncodeToString(sum[:]))
	cfg, err := config.Parse([]byte(y.String()), dir, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(st.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	st.srv, st.base = srv, srv.URL()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for _, a := range st.apps {
			if strings.Contains(st.logs.String(), a.secret) {
				t.Errorf("the wxtoken log holds the AppSecret of %s", a.id)
			}
		}
		if strings.Contains(st.logs.String(), st.key) {
			t.Errorf("the wxtoken log holds the client key")
		}
	})

	// The SDK's documented hook: every URL it builds for WeChat's API
	// host goes to wxtoken instead.
	util.SetURIModifier(func(uri string) string {
		return strings.Replace(uri, "https://api.weixin.qq.com", st.base, 1)
	})
	t.Cleanup(func() { util.SetURIModifier(nil) })
	return st
}

// app returns the one app of the given token API.
func (st *stack) app(t *testing.T, api string) stackApp {
	t.Helper()
	for _, a := range st.apps {
		if a.api == api {
			return a
		}
	}
	t.Fatalf("no %s app", api)
	return stackApp{}
}

// noValueInLogs fails the test if a credential value is in wxtoken's log.
func (st *stack) noValueInLogs(t *testing.T, values ...string) {
	t.Helper()
	for _, v := range values {
		if v != "" && strings.Contains(st.logs.String(), v) {
			t.Errorf("the wxtoken log holds a credential value (%.8s...)", v)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
