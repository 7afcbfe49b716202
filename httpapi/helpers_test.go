package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/metrics"
)

// t0 is the fixed clock of these tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// The client keys of the test server.
const (
	keyShop    = "wxk_shop_3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"   // granted wxshop
	keyAll     = "wxk_all_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"    // granted "*"
	keyAdmin   = "wxk_admin_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"  // admin, granted nothing
	keyScraper = "wxk_scrape_1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d" // granted nothing
	keyUnknown = "wxk_nobody_00000000000000000000000000000000"
)

// The configured apps.
const (
	appShop  = "wx0123456789abcdef"
	appOther = "wxfedcba9876543210"
	appNone  = "wx00000000000000ff" // not configured
)

func sha(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

func testClients() []clientkey.Client {
	return []clientkey.Client{
		{Name: "shop", KeySHA256: sha(keyShop), Apps: []string{appShop}},
		{Name: "all", KeySHA256: sha(keyAll), Apps: []string{clientkey.All}},
		{Name: "ops", KeySHA256: sha(keyAdmin), Admin: true},
		{Name: "prometheus", KeySHA256: sha(keyScraper)},
	}
}

// stub holds the answers of the test's wxtoken.Service (see service). By
// default every configured app has an access_token and both tickets.
type stub struct {
	mu         sync.Mutex
	credential func(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error)
	refresh    func(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error)
	status     []wxtoken.AppStatus
	notReady   []string
	calls      []string
}

func value(appID string, kind wxtoken.Kind) string { return "VALUE-" + appID + "-" + string(kind) }

func grant(appID string, kind wxtoken.Kind) wxtoken.Grant {
	return wxtoken.Grant{AppID: appID, Kind: kind, Value: value(appID, kind), ExpiresIn: 7000 * time.Second, ExpiresAt: t0.Add(7000 * time.Second)}
}

func (s *stub) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *stub) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// service is the stub as a wxtoken.Service: it records every call and
// answers as the stub's fields say when the call comes.
func (s *stub) service() *mock.Service {
	return &mock.Service{
		CredentialFn: func(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			s.record("credential " + appID + " " + string(kind))
			if s.credential != nil {
				return s.credential(ctx, appID, kind)
			}
			return grant(appID, kind), nil
		},
		RefreshFn: func(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
			s.record("refresh " + appID + " " + string(kind) + " " + stale)
			if s.refresh != nil {
				return s.refresh(ctx, appID, kind, stale)
			}
			g := grant(appID, kind)
			g.Value = "NEW-" + g.Value
			return g, nil
		},
		StatusFn:   func(context.Context) []wxtoken.AppStatus { return s.status },
		NotReadyFn: func(context.Context) []string { return s.notReady },
	}
}

// env is a running test server.
type env struct {
	srv     *httptest.Server
	svc     *stub
	metrics *metrics.Metrics
	logs    *logbuf.Buffer
}

// newEnv starts the Handler over svc behind a real HTTP server; change
// adjusts the options first.
func newEnv(t *testing.T, svc *stub, change func(*httpapi.Options)) *env {
	t.Helper()
	logs := &logbuf.Buffer{}
	opts := httpapi.Options{
		Service: svc.service(),
		Clients: testClients(),
		Apps:    []string{appShop, appOther},
		Metrics: metrics.New(metrics.WithNow(func() time.Time { return t0 })),
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     func() time.Time { return t0 },
	}
	if change != nil {
		change(&opts)
	}
	h, err := httpapi.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, svc: svc, metrics: opts.Metrics, logs: logs}
}

// answer is a response with its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// req is a request to send; key "" sends no Authorization header.
type req struct {
	method string
	path   string
	key    string
	body   string
	header map[string]string
}

func (e *env) do(t *testing.T, q req) answer {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	method := q.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, e.srv.URL+q.path, body)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if q.key != "" {
		r.Header.Set("Authorization", "Bearer "+q.key)
	}
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, q.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, q.path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *env) get(t *testing.T, path, key string) answer {
	t.Helper()
	return e.do(t, req{path: path, key: key})
}

// decode parses a JSON answer strictly into v.
func decode(t *testing.T, a answer, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %q: %v", a.body, err)
	}
}

// wantError checks an error answer's status, code and JSON form.
func wantError(t *testing.T, a answer, status int, code wxtoken.Code) httpapi.ErrorBody {
	t.Helper()
	if a.status != status {
		t.Fatalf("status = %d, want %d; body %s", a.status, status, a.body)
	}
	wantJSON(t, a)
	var e httpapi.ErrorResponse
	decode(t, a, &e)
	if e.Error.Code != code {
		t.Errorf("code = %q, want %q; body %s", e.Error.Code, code, a.body)
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %s", a.body)
	}
	if !strings.Contains(a.body, `"wechat_errcode"`) == (e.Error.WeChatErrCode != 0) {
		t.Errorf("wechat_errcode present iff non-zero: %s", a.body)
	}
	return e.Error
}

func wantJSON(t *testing.T, a answer) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q, want application/json; charset=utf-8", ct)
	}
	if !json.Valid([]byte(a.body)) {
		t.Errorf("body is not JSON: %q", a.body)
	}
}
