package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newClient(t *testing.T, f *fakeServer, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(f.URL, testKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startServer(t *testing.T) *fakeServer {
	t.Helper()
	f := newFakeServer()
	t.Cleanup(f.Close)
	return f
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url, key string
		opts           []client.Option
		wantErr        string
	}{
		{name: "plain", url: "http://127.0.0.1:8080", key: "k"},
		{name: "prefix and slash", url: "https://example.com/wxtoken/", key: "k"},
		{name: "no scheme", url: "127.0.0.1:8080", key: "k", wantErr: "absolute http or https URL"},
		{name: "other scheme", url: "ftp://example.com", key: "k", wantErr: "absolute http or https URL"},
		{name: "query", url: "http://example.com/?a=b", key: "k", wantErr: "must not have a query"},
		{name: "no key", url: "http://example.com", wantErr: "client key is required"},
		{name: "key with newline", url: "http://example.com", key: "a\nb", wantErr: "one line"},
		{name: "zero timeout", url: "http://example.com", key: "k", opts: []client.Option{client.WithTimeout(0)}, wantErr: "WithTimeout"},
		{name: "negative early", url: "http://example.com", key: "k", opts: []client.Option{client.WithEarly(-time.Second)}, wantErr: "WithEarly"},
		{name: "nil clock", url: "http://example.com", key: "k", opts: []client.Option{client.WithClock(nil)}, wantErr: "WithClock"},
		{name: "nil http client", url: "http://example.com", key: "k", opts: []client.Option{client.WithHTTPClient(nil)}, wantErr: "WithHTTPClient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.url, tt.key, tt.opts...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.key != "" && err != nil && strings.Contains(err.Error(), tt.key) && len(tt.key) > 1 {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

func TestCredentialShapes(t *testing.T) {
	f := startServer(t)
	f.set(func(f *fakeServer) { f.expiresAt = "2025-03-01T10:00:00Z" })
	c := newClient(t, f)
	ctx := context.Background()

	g, err := c.Credential(ctx, testAppID, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	want := wxtoken.Grant{
		AppID: testAppID, Kind: wxtoken.KindAccessToken, Value: testAppID + "-access_token-1",
		ExpiresIn: 7200 * time.Second, ExpiresAt: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Credential = %+v, want %+v", g, want)
	}

	g, err = c.Credential(ctx, testAppID, wxtoken.KindWxCard)
	if err != nil {
		t.Fatal(err)
	}
	if g.Value != testAppID+"-wx_card-1" || g.Kind != wxtoken.KindWxCard {
		t.Errorf("wx_card Credential = %+v", g)
	}

	g, err = c.Refresh(ctx, testAppID, wxtoken.KindJSAPITicket, testAppID+"-jsapi-1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Value != testAppID+"-jsapi-2" {
		t.Errorf("Refresh of the current ticket = %q, want the next one", g.Value)
	}
	g, err = c.Refresh(ctx, testAppID, wxtoken.KindJSAPITicket, "something older")
	if err != nil {
		t.Fatal(err)
	}
	if g.Value != testAppID+"-jsapi-2" {
		t.Errorf("Refresh of an old ticket = %q, want the current one", g.Value)
	}
	if n := f.count("refresh jsapi"); n != 2 {
		t.Errorf("%d refresh requests, want 2", n)
	}
}

func TestLocalArgumentChecks(t *testing.T) {
	f := startServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["AccessToken without appid"] = c.AccessToken(ctx, "")
	_, checks["Ticket of access_token kind"] = c.Ticket(ctx, testAppID, wxtoken.KindAccessToken)
	_, checks["Credential of unknown kind"] = c.Credential(ctx, testAppID, "card")
	_, checks["Refresh without stale"] = c.Refresh(ctx, testAppID, wxtoken.KindAccessToken, "")
	_, checks["Invalidate without stale"] = c.Invalidate(ctx, testAppID, "")
	_, checks["InvalidateTicket of unknown kind"] = c.InvalidateTicket(ctx, testAppID, "x", "t")
	_, checks["JSSDKConfig without url"] = c.JSSDKConfig(ctx, testAppID, "")
	for name, err := range checks {
		if got := wxtoken.ErrorCode(err); got != wxtoken.EInvalid {
			t.Errorf("%s: code %q (%v), want invalid", name, got, err)
		}
	}
	if f.count("get access_token")+f.count("refresh access_token")+f.count("jssdk_config") != 0 {
		t.Error("a request that is wrong on its face reached the server")
	}
}

// TestAccessTokenCache walks a token's life on a fake clock: served from
// memory until the early refetch point, refetched in the background from
// there while the old token is still handed out, and never handed out once
// expired.
func TestAccessTokenCache(t *testing.T) {
	type step struct {
		at       time.Duration // since the first fetch
		rotate   bool          // the server has a new token from here on
		fail     bool          // the server fails from here on
		want     string        // token returned; "" for an error
		requests int           // GETs the server has seen after the step settled
	}
	tok := func(n string) string { return testAppID + "-access_token-" + n }
	tests := []struct {
		name      string
		expiresIn int64
		opts      []client.Option
		steps     []step
	}{
		{
			name: "7200 s: refetch 30 s early", expiresIn: 7200,
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: time.Hour, want: tok("1"), requests: 1},
				{at: 7170*time.Second - 1, rotate: true, want: tok("1"), requests: 1},
				{at: 7170 * time.Second, want: tok("1"), requests: 2}, // the old one, while the new one is fetched
				{at: 7170 * time.Second, want: tok("2"), requests: 2},
				{at: 7200 * time.Second, want: tok("2"), requests: 2},
				{at: 14340*time.Second - 1, want: tok("2"), requests: 2},
				{at: 14340 * time.Second, want: tok("2"), requests: 3},
			},
		},
		{
			name: "100 s: refetch a tenth early", expiresIn: 100,
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: 90*time.Second - 1, rotate: true, want: tok("1"), requests: 1},
				{at: 90 * time.Second, want: tok("1"), requests: 2},
				{at: 91 * time.Second, want: tok("2"), requests: 2},
			},
		},
		{
			name: "WithEarly(5m)", expiresIn: 7200, opts: []client.Option{client.WithEarly(5 * time.Minute)},
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: 6900*time.Second - 1, want: tok("1"), requests: 1},
				{at: 6900 * time.Second, want: tok("1"), requests: 2},
			},
		},
		{
			name: "WithEarly capped at half the life", expiresIn: 7200, opts: []client.Option{client.WithEarly(3 * time.Hour)},
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: 3600*time.Second - 1, want: tok("1"), requests: 1},
				{at: 3600 * time.Second, want: tok("1"), requests: 2},
			},
		},
		{
			name: "WithEarly(0): refetch at expiry", expiresIn: 60, opts: []client.Option{client.WithEarly(0)},
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: 60*time.Second - 1, rotate: true, want: tok("1"), requests: 1},
				{at: 60 * time.Second, want: tok("2"), requests: 2},
			},
		},
		{
			name: "failing server: the cached token until it expires, then an error", expiresIn: 7200,
			steps: []step{
				{at: 0, want: tok("1"), requests: 1},
				{at: 7170 * time.Second, fail: true, want: tok("1"), requests: 2},
				{at: 7170*time.Second + time.Second - 1, want: tok("1"), requests: 2}, // held back after the failure
				{at: 7171 * time.Second, want: tok("1"), requests: 3},
				{at: 7200*time.Second - 1, want: tok("1"), requests: 4},
				{at: 7200 * time.Second, want: "", requests: 5},
				{at: 7200 * time.Second, want: "", requests: 6}, // no back-off once nothing is servable
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startServer(t)
			f.set(func(f *fakeServer) { f.expiresIn = tt.expiresIn })
			clock := newFakeClock()
			start := clock.Now()
			c := newClient(t, f, append([]client.Option{client.WithClock(clock.Now)}, tt.opts...)...)
			for i, s := range tt.steps {
				clock.Set(start.Add(s.at))
				if s.rotate {
					f.rotate(testAppID, wxtoken.KindAccessToken)
				}
				if s.fail {
					f.set(func(f *fakeServer) {
						f.fail = func(w http.ResponseWriter) {
							writeError(w, http.StatusServiceUnavailable, wxtoken.EUnavailable, "upstream down", 0)
						}
					})
				}
				got, err := c.AccessToken(context.Background(), testAppID)
				c.Settle(testAppID, wxtoken.KindAccessToken)
				switch {
				case s.want == "" && err == nil:
					t.Fatalf("step %d (at %v): got %q, want an error", i, s.at, got)
				case s.want != "" && (err != nil || got != s.want):
					t.Fatalf("step %d (at %v): got %q, %v; want %q", i, s.at, got, err, s.want)
				}
				if n := f.count("get access_token"); n != s.requests {
					t.Fatalf("step %d (at %v): server saw %d requests, want %d", i, s.at, n, s.requests)
				}
			}
		})
	}
}

// TestExpiryIsLocal checks that the cache trusts expires_in counted on its
// own clock, not the server's expires_at, which another host's clock set.
func TestExpiryIsLocal(t *testing.T) {
	f := startServer(t)
	f.set(func(f *fakeServer) { f.expiresIn, f.expiresAt = 60, "2099-01-01T00:00:00Z" })
	clock := newFakeClock()
	start := clock.Now()
	c := newClient(t, f, client.WithClock(clock.Now), client.WithEarly(0))
	ctx := context.Background()
	if _, err := c.AccessToken(ctx, testAppID); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(60 * time.Second))
	if _, err := c.AccessToken(ctx, testAppID); err != nil {
		t.Fatal(err)
	}
	if n := f.count("get access_token"); n != 2 {
		t.Errorf("%d requests, want 2: the token expired by expires_in", n)
	}
}

func TestTicketCache(t *testing.T) {
	f := startServer(t)
	clock := newFakeClock()
	start := clock.Now()
	c := newClient(t, f, client.WithClock(clock.Now))
	ctx := context.Background()
	for range 3 {
		for _, kind := range wxtoken.FamilyApp.Tickets() {
			got, err := c.Ticket(ctx, testAppID, kind)
			if err != nil || got != testAppID+"-"+string(kind)+"-1" {
				t.Fatalf("Ticket(%s) = %q, %v", kind, got, err)
			}
		}
	}
	if f.count("get jsapi") != 1 || f.count("get wx_card") != 1 || f.count("get access_token") != 0 {
		t.Errorf("requests: jsapi %d, wx_card %d, access_token %d; want 1, 1, 0",
			f.count("get jsapi"), f.count("get wx_card"), f.count("get access_token"))
	}
	f.rotate(testAppID, wxtoken.KindJSAPITicket)
	clock.Set(start.Add(7200 * time.Second))
	got, err := c.Ticket(ctx, testAppID, wxtoken.KindJSAPITicket)
	if err != nil || got != testAppID+"-jsapi-2" {
		t.Errorf("Ticket after expiry = %q, %v; want the new ticket", got, err)
	}
	fresh, err := c.InvalidateTicket(ctx, testAppID, wxtoken.KindJSAPITicket, got)
	if err != nil || fresh != testAppID+"-jsapi-3" {
		t.Errorf("InvalidateTicket = %q, %v; want the next ticket", fresh, err)
	}
	if got, _ := c.Ticket(ctx, testAppID, wxtoken.KindJSAPITicket); got != fresh {
		t.Errorf("Ticket after InvalidateTicket = %q, want %q", got, fresh)
	}
}

// waitJoined waits until n callers wait for a shared call, as reported by
// joined.
func waitJoined(t *testing.T, n int, joined func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for joined() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers joined", joined(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentAccessTokenCoalesced(t *testing.T) {
	const callers = 50
	f := startServer(t)
	hold := make(chan struct{})
	f.set(func(f *fakeServer) { f.hold = hold })
	c := newClient(t, f)

	var wg sync.WaitGroup
	got := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.AccessToken(context.Background(), testAppID)
		}()
	}
	// A caller that gives up does not fail the others.
	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() {
		_, err := c.AccessToken(ctx, testAppID)
		quitter <- err
	}()
	waitJoined(t, callers+1, func() int { return c.Joined(testAppID, wxtoken.KindAccessToken) })
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) || wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("cancelled caller: %v, want unavailable wrapping context.Canceled", err)
	}
	close(hold)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil || got[i] != testAppID+"-access_token-1" {
			t.Fatalf("caller %d: %q, %v", i, got[i], errs[i])
		}
	}
	if n := f.count("get access_token"); n != 1 {
		t.Errorf("%d concurrent callers made %d requests, want 1", callers, n)
	}
}

func TestInvalidate(t *testing.T) {
	f := startServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	tok := func(n string) string { return testAppID + "-access_token-" + n }

	old, err := c.AccessToken(ctx, testAppID)
	if err != nil || old != tok("1") {
		t.Fatalf("AccessToken = %q, %v", old, err)
	}
	fresh, err := c.Invalidate(ctx, testAppID, old)
	if err != nil || fresh != tok("2") {
		t.Fatalf("Invalidate = %q, %v; want %q", fresh, err, tok("2"))
	}
	if got, _ := c.AccessToken(ctx, testAppID); got != fresh {
		t.Errorf("AccessToken after Invalidate = %q, want %q", got, fresh)
	}
	if n := f.count("get access_token"); n != 1 {
		t.Errorf("%d GETs, want 1: Invalidate's answer is cached", n)
	}

	// A late report of the same token is answered from the cache.
	if again, err := c.Invalidate(ctx, testAppID, old); err != nil || again != fresh {
		t.Errorf("second Invalidate of the same token = %q, %v; want %q", again, err, fresh)
	}
	if n := f.count("refresh access_token"); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}

	// A token the client does not know goes to the server, which decides.
	if got, err := c.Invalidate(ctx, testAppID, "unknown"); err != nil || got != fresh {
		t.Errorf("Invalidate of an unknown token = %q, %v; want the current %q", got, err, fresh)
	}
	if n := f.count("refresh access_token"); n != 2 {
		t.Errorf("%d refresh requests, want 2", n)
	}

	// When the report fails, the rejected token is dropped, so that the
	// next call asks the server instead of handing it out again.
	f.set(func(f *fakeServer) {
		f.fail = func(w http.ResponseWriter) {
			writeError(w, http.StatusTooManyRequests, wxtoken.ERateLimited, "refresh asked too often", 0)
		}
	})
	if _, err := c.Invalidate(ctx, testAppID, fresh); wxtoken.ErrorCode(err) != wxtoken.ERateLimited {
		t.Errorf("Invalidate against a refusing server: %v, want rate_limited", err)
	}
	f.set(func(f *fakeServer) { f.fail = nil })
	if _, err := c.AccessToken(ctx, testAppID); err != nil {
		t.Fatal(err)
	}
	if n := f.count("get access_token"); n != 2 {
		t.Errorf("%d GETs, want 2: the rejected token is no longer cached", n)
	}
}

func TestConcurrentInvalidateCoalesced(t *testing.T) {
	const callers = 20
	f := startServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	old, err := c.AccessToken(ctx, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	// The answer is held until every caller has joined.
	hold := make(chan struct{})
	f.set(func(f *fakeServer) {
		f.fail = func(w http.ResponseWriter) {
			<-hold
			writeJSON(w, http.StatusOK, map[string]any{"appid": testAppID, "access_token": "replacement", "expires_in": 7200})
		}
	})
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := c.Invalidate(ctx, testAppID, old); err != nil || got != "replacement" {
				t.Errorf("Invalidate = %q, %v", got, err)
			}
		}()
	}
	waitJoined(t, callers, func() int { return c.JoinedRefresh(testAppID, wxtoken.KindAccessToken, old) })
	close(hold)
	wg.Wait()
	if n := f.count("refresh access_token"); n != 1 {
		t.Errorf("%d concurrent reports made %d requests, want 1", callers, n)
	}
}

func TestErrorDecoding(t *testing.T) {
	spec := func(status int, code wxtoken.Code, msg string, errcode int) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) { writeError(w, status, code, msg, errcode) }
	}
	plain := func(status int, contentType, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		answer  func(http.ResponseWriter)
		code    wxtoken.Code
		message string
		errcode int
	}{
		{"400", spec(400, wxtoken.EInvalid, "url must be an absolute http or https URL", 0), wxtoken.EInvalid, "url must be an absolute http or https URL", 0},
		{"401", spec(401, wxtoken.EUnauthorized, "missing or unknown client key", 0), wxtoken.EUnauthorized, "missing or unknown client key", 0},
		{"403", spec(403, wxtoken.EForbidden, "key not granted this app", 0), wxtoken.EForbidden, "key not granted this app", 0},
		{"404", spec(404, wxtoken.ENotFound, "unknown app", 0), wxtoken.ENotFound, "unknown app", 0},
		{"429", spec(429, wxtoken.ERateLimited, "refresh asked too often", 0), wxtoken.ERateLimited, "refresh asked too often", 0},
		{"503 with errcode", spec(503, wxtoken.EUnavailable, "daily quota used up", 45009), wxtoken.EUnavailable, "daily quota used up", 45009},
		{"500", spec(500, wxtoken.EInternal, "internal error", 0), wxtoken.EInternal, "internal error", 0},
		{"unknown code in body", spec(503, "on_fire", "it burns", 0), wxtoken.EUnavailable, "it burns", 0},
		{"proxy 502 page", plain(502, "text/html", "<html>Bad Gateway</html>"), wxtoken.EUnavailable, "the wxtoken server answered HTTP 502 Bad Gateway", 0},
		{"504 empty", plain(504, "text/plain", ""), wxtoken.EUnavailable, "the wxtoken server answered HTTP 504 Gateway Timeout", 0},
		{"500 text", plain(500, "text/plain", "panic"), wxtoken.EInternal, "the wxtoken server answered HTTP 500 Internal Server Error", 0},
		{"401 without body", plain(401, "text/plain", ""), wxtoken.EUnauthorized, "the wxtoken server answered HTTP 401 Unauthorized", 0},
		{"405", plain(405, "text/plain", "method not allowed"), wxtoken.EInvalid, "the wxtoken server answered HTTP 405 Method Not Allowed", 0},
		{"other JSON shape", plain(429, "application/json", `{"message":"slow down"}`), wxtoken.ERateLimited, "the wxtoken server answered HTTP 429 Too Many Requests", 0},
		{"200 HTML", plain(200, "text/html", "<html>login</html>"), wxtoken.EInternal, "malformed answer from the wxtoken server", 0},
		{"200 without token", plain(200, "application/json", `{"appid":"`+testAppID+`","expires_in":7200}`), wxtoken.EInternal, "malformed answer from the wxtoken server", 0},
		{"200 with zero expires_in", plain(200, "application/json", `{"access_token":"t","expires_in":0}`), wxtoken.EInternal, "malformed answer from the wxtoken server", 0},
		{"200 for another app", plain(200, "application/json", `{"appid":"wxother","access_token":"t","expires_in":7200}`), wxtoken.EInternal, "malformed answer from the wxtoken server", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startServer(t)
			f.set(func(f *fakeServer) { f.fail = tt.answer })
			c := newClient(t, f)
			for _, call := range []func() error{
				func() error { _, err := c.AccessToken(context.Background(), testAppID); return err },
				func() error {
					_, err := c.Credential(context.Background(), testAppID, wxtoken.KindAccessToken)
					return err
				},
			} {
				err := call()
				var e *wxtoken.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not a *wxtoken.Error", err, err)
				}
				if e.Code != tt.code || e.Message != tt.message || e.WeChatErrCode != tt.errcode {
					t.Errorf("got {%s %q %d}, want {%s %q %d}", e.Code, e.Message, e.WeChatErrCode, tt.code, tt.message, tt.errcode)
				}
			}
			// Nothing was cached from a failed answer.
			f.set(func(f *fakeServer) { f.fail = nil })
			if got, err := c.AccessToken(context.Background(), testAppID); err != nil || got != testAppID+"-access_token-1" {
				t.Errorf("after recovery: %q, %v", got, err)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := client.New(url, testKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AccessToken(context.Background(), testAppID)
	if wxtoken.ErrorCode(err) != wxtoken.EUnavailable || !strings.Contains(err.Error(), "cannot reach the wxtoken server") {
		t.Errorf("AccessToken against a closed server: %v", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error %q quotes the key", err)
	}
	if r := c.NotReady(context.Background()); len(r) != 1 || !strings.Contains(r[0], "cannot be reached") {
		t.Errorf("NotReady = %q", r)
	}
}

func TestWrongKey(t *testing.T) {
	f := startServer(t)
	c, err := client.New(f.URL, "wxt_wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AccessToken(context.Background(), testAppID)
	if wxtoken.ErrorCode(err) != wxtoken.EUnauthorized {
		t.Errorf("wrong key: %v, want unauthorized", err)
	}
}

func TestTimeout(t *testing.T) {
	f := startServer(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	f.set(func(f *fakeServer) { f.hold = hold })
	c := newClient(t, f, client.WithTimeout(50*time.Millisecond))
	_, err := c.AccessToken(context.Background(), testAppID)
	if wxtoken.ErrorCode(err) != wxtoken.EUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v, want unavailable wrapping the deadline", err)
	}
}

func TestJSSDKConfig(t *testing.T) {
	f := startServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	cfg, err := c.JSSDKConfig(ctx, testAppID, "https://shop.example.com/pay?order=1&x=a%20b#top")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "https://shop.example.com/pay?order=1&x=a%20b" || cfg.AppID != testAppID || cfg.Timestamp != 1414587457 || cfg.Signature == "" {
		t.Errorf("JSSDKConfig = %+v", cfg)
	}
	_, err = c.JSSDKConfig(ctx, testAppID, "/relative")
	var e *wxtoken.Error
	if !errors.As(err, &e) || e.Code != wxtoken.EInvalid || !strings.Contains(e.Message, "absolute") {
		t.Errorf("relative URL: %v, want the server's invalid error", err)
	}
	if _, err := c.JSSDKConfig(ctx, "wxunknown", "https://a.example/"); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Errorf("unknown app: %v, want not_found", err)
	}
}

func TestStatusAndReadiness(t *testing.T) {
	f := startServer(t)
	c := newClient(t, f)
	ctx := context.Background()
	exp := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	apps := []wxtoken.AppStatus{{
		AppID: testAppID, Name: "shop", TokenAPI: wxtoken.TokenAPIStable, UpstreamCallsToday: 3,
		Credentials: []wxtoken.CredentialStatus{{
			Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &exp,
			LastError: &wxtoken.ErrorInfo{ErrCode: 40164, Class: "whitelist", Message: "invalid ip", Hint: "add 1.2.3.4 to the whitelist", At: exp},
		}},
	}}
	for _, shape := range []any{apps, map[string]any{"apps": apps}} {
		f.set(func(f *fakeServer) { f.apps = shape })
		got, err := c.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, apps) {
			t.Errorf("Apps = %+v, want %+v", got, apps)
		}
		if got := c.Status(ctx); !reflect.DeepEqual(got, apps) {
			t.Errorf("Status = %+v", got)
		}
	}

	if r := c.NotReady(ctx); r != nil {
		t.Errorf("NotReady of a ready server = %q", r)
	}
	reasons := []string{testAppID + ": access_token missing: daily quota used up"}
	f.set(func(f *fakeServer) { f.ready = reasons })
	if r := c.NotReady(ctx); !reflect.DeepEqual(r, reasons) {
		t.Errorf("NotReady = %q, want %q", r, reasons)
	}
}
