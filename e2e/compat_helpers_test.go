package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// wxContentType is the content type of WeChat's JSON answers, which the
// front door labels its own with.
const wxContentType = "application/json; encoding=utf-8"

// newCompatEnv is newEnv with the front door enabled.
func newCompatEnv(t *testing.T, s setup) *env {
	t.Helper()
	e := newEnv(t, s)
	e.cfg.Compat.Enabled = true
	return e
}

// secretOf returns the AppSecret the simulator and the config share for
// appID.
func (e *env) secretOf(appID string) string {
	e.t.Helper()
	for v, what := range e.secrets {
		if what == "the AppSecret of "+appID {
			return v
		}
	}
	e.t.Fatalf("no secret for %s", appID)
	return ""
}

// wxAnswer is an answer of the front door, decoded loosely as SDKs
// decode WeChat's.
type wxAnswer struct {
	status      int
	header      http.Header
	raw         string
	ErrCode     int      `json:"errcode"`
	ErrMsg      string   `json:"errmsg"`
	AccessToken string   `json:"access_token"`
	Ticket      string   `json:"ticket"`
	ExpiresIn   int64    `json:"expires_in"`
	IPList      []string `json:"ip_list"`
}

func (a wxAnswer) String() string { return fmt.Sprintf("HTTP %d %s", a.status, a.raw) }

// wxRequest is one call to the front door.
type wxRequest struct {
	method, path, body string
	header             map[string]string
}

// wxDo sends req to the server started last and decodes the answer; the
// answer is searched for the config's secrets. It is safe to call from
// any goroutine.
func (e *env) wxDo(req wxRequest) (wxAnswer, error) {
	var rd io.Reader
	if req.body != "" {
		rd = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, e.base+req.path, rd)
	if err != nil {
		return wxAnswer{}, err
	}
	for k, v := range req.header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := e.hc.Do(r)
	if err != nil {
		return wxAnswer{}, fmt.Errorf("%s %s: %w", req.method, routeOf(req.path), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return wxAnswer{}, err
	}
	a := wxAnswer{status: resp.StatusCode, header: resp.Header, raw: string(bytes.TrimSpace(b))}
	e.checkNoSecret("the front door's answer to "+req.method+" "+routeOf(req.path), answer{status: a.status, header: a.header, body: b})
	if len(b) > 0 && json.Valid(b) {
		_ = json.Unmarshal(b, &a)
	}
	return a, nil
}

// wx is wxDo for the test's goroutine.
func (e *env) wx(t *testing.T, method, path, body string, header map[string]string) wxAnswer {
	t.Helper()
	a, err := e.wxDo(wxRequest{method: method, path: path, body: body, header: header})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantWXError checks a WeChat-shaped failure wxtoken answered itself.
func wantWXError(t *testing.T, a wxAnswer, errcode int) {
	t.Helper()
	if a.status != http.StatusOK || a.ErrCode != errcode || !strings.HasPrefix(a.ErrMsg, "wxtoken: ") {
		t.Fatalf("want HTTP 200 with errcode %d and a wxtoken errmsg, got %s", errcode, a)
	}
	if ct := a.header.Get("Content-Type"); ct != wxContentType {
		t.Errorf("Content-Type %q, want %q", ct, wxContentType)
	}
}

// classicPath is the query of GET /cgi-bin/token.
func classicTokenPath(appID, secret string) string {
	return "/cgi-bin/token?grant_type=client_credential&appid=" + appID + "&secret=" + secret
}

// stableTokenBody is the body of POST /cgi-bin/stable_token.
func stableTokenBody(appID, secret string, force bool) string {
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
	return string(b)
}

// upstreamCall is one request as the upstream received it.
type upstreamCall struct {
	method, path, rawPath, query, host string
	header                             http.Header
	body                               []byte
	// at is when the call arrived.
	at time.Time
}

// upstreamRecorder stands between wxtoken and the simulator and records every
// call wxtoken relays, so that tests can see what reached the upstream.
type upstreamRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []upstreamCall
}

func (rc *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.calls = append(rc.calls, upstreamCall{
		method: r.Method, path: r.URL.Path, rawPath: r.URL.EscapedPath(), query: r.URL.RawQuery,
		host: r.Host, header: r.Header.Clone(), body: b, at: time.Now(),
	})
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rc.next.ServeHTTP(w, r)
}

// since returns the calls recorded after the first n.
func (rc *upstreamRecorder) since(n int) []upstreamCall {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]upstreamCall(nil), rc.calls[n:]...)
}

func (rc *upstreamRecorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.calls)
}

// recordUpstream puts a upstreamRecorder in front of e's simulator and points the
// config's upstream at it; call it before start.
func (e *env) recordUpstream(t *testing.T) *upstreamRecorder {
	t.Helper()
	rc := &upstreamRecorder{next: e.sim}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e.cfg.Upstream.BaseURL = srv.URL
	return rc
}

// noTokenInLogs fails the test if any of the values appear in the server
// log.
func (e *env) noTokenInLogs(t *testing.T, values ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, v := range values {
		if v != "" && strings.Contains(logs, v) {
			t.Errorf("the server log holds a credential value (%.8s...)", v)
		}
	}
}
