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
	// key is an admin client key, for wxtoken's own API; shopKey is a
	// business server's key, granted every app and nothing more, which
	// an SDK can hold in place of the AppSecret.
	key, shopKey string
	apps         map[string]stackApp
	logs         *syncBuffer

	// What serve needs to start wxtoken again.
	apis    []string
	simURL  string
	dir     string
	env     map[string]string
	overlap time.Duration
	stop    func()
}

// startStack runs a simulator whose tokens live ttl, and a wxtoken in
// front of it, for apps of the given token APIs; everything stops when the
// test ends. The silenceper SDK's one global hook is pointed at the
// wxtoken, which is why these tests do not run in parallel.
func startStack(t *testing.T, ttl, overlap time.Duration, apis ...string) *stack {
	t.Helper()
	st := &stack{apps: map[string]stackApp{}, logs: &syncBuffer{}, apis: apis, env: map[string]string{}, overlap: overlap, dir: t.TempDir()}
	simApps := map[string]string{}
	for i, api := range apis {
		a := stackApp{id: fmt.Sprintf("wx%016x", i+1), api: api, secret: randomHex(16)}
		st.apps[a.id] = a
		simApps[a.id] = a.secret
		st.env[fmt.Sprintf("SECRET_%d", i)] = a.secret
	}
	sim, err := simulator.New(simulator.Options{Apps: simApps, TTL: ttl, Overlap: overlap})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	st.sim, st.simURL = sim, simSrv.URL
	st.key, st.shopKey = "wxt_"+randomHex(24), "wxt_"+randomHex(24)
	t.Cleanup(func() {
		for _, a := range st.apps {
			if strings.Contains(st.logs.String(), a.secret) {
				t.Errorf("the wxtoken log holds the AppSecret of %s", a.id)
			}
		}
		if strings.Contains(st.logs.String(), st.key) || strings.Contains(st.logs.String(), st.shopKey) {
			t.Errorf("the wxtoken log holds a client key")
		}
	})
	st.serve(t, true)

	// The SDK's documented hook: every URL it builds for WeChat's API
	// host goes to wxtoken instead.
	util.SetURIModifier(func(uri string) string {
		return strings.Replace(uri, "https://api.weixin.qq.com", st.base, 1)
	})
	t.Cleanup(func() { util.SetURIModifier(nil) })
	return st
}

// serve starts wxtoken on the stack's store, with the business server's
// key in its config or not; it stops when the test ends, or at restart.
func (st *stack) serve(t *testing.T, withShopKey bool) {
	t.Helper()
	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nstore: {driver: bolt, path: %q}\n", filepath.Join(st.dir, "wxtoken.db"))
	fmt.Fprintf(&y, "upstream: {base_url: %q, fallback_base_urls: [], timeout: 5s, overlap: %s}\n", st.simURL, st.overlap)
	y.WriteString("refresh: {margin: 500ms, passive_interval: 200ms}\ncompat: {enabled: true}\napps:\n")
	for i, api := range st.apis {
		fmt.Fprintf(&y, "  - {appid: wx%016x, secret_env: SECRET_%d, token_api: %s, tickets: [jsapi]}\n", i+1, i, api)
	}
	fmt.Fprintf(&y, "clients:\n  - {name: interop, key_sha256: %q, apps: [\"*\"], admin: true}\n", keyHash(st.key))
	if withShopKey {
		fmt.Fprintf(&y, "  - {name: shop, key_sha256: %q, apps: [\"*\"]}\n", keyHash(st.shopKey))
	}
	cfg, err := config.Parse([]byte(y.String()), st.dir, func(k string) (string, bool) { v, ok := st.env[k]; return v, ok })
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
	var once sync.Once
	st.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(st.stop)
}

// restart stops wxtoken and starts it again on the same store, with the
// business server's key in its config or not: removing a key from the
// config and restarting is how a key is revoked.
func (st *stack) restart(t *testing.T, withShopKey bool) {
	t.Helper()
	st.stop()
	st.serve(t, withShopKey)
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

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
