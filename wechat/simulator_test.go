package wechat_test

// End-to-end tests of the client against the WeChat simulator, over real
// HTTP and in compressed time: every error class of the policy as the client
// sees it, the fallback hosts, the credential semantics the refresher relies
// on, and the secrecy of the AppSecret.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	simApp    = "wx5e1a0c0ffee00001"
	simSecret = "SimAppSecret-5c9e7d21f04b8a36"
)

// simClassifyAt is the fixed time failures are classified at: 10:00 UTC is
// 18:00 in China, six hours before the daily quota resets.
var simClassifyAt = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// simRID is the shape of the request id the simulator appends to errmsg.
var simRID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// simClock is a clock that moves only when told to.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startSim serves a simulator with a fake clock over real HTTP, wrapped by
// wrap when it is not nil. Apps default to simApp:simSecret.
func startSim(t *testing.T, opts simulator.Options, wrap func(http.Handler) http.Handler) (*simulator.Simulator, *httptest.Server, *simClock) {
	t.Helper()
	clock := &simClock{t: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)}
	if opts.Apps == nil {
		opts.Apps = map[string]string{simApp: simSecret}
	}
	opts.Now = clock.Now
	sim, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sim, srv, clock
}

// newSimClient returns a client for base and fallbacks. With fresh, every
// request goes over a new connection, so that net/http never silently
// replays a GET whose kept-alive connection was dropped and every client
// call is exactly one call at the simulator.
func newSimClient(t *testing.T, timeout time.Duration, fresh bool, base string, fallbacks ...string) *wechat.Client {
	t.Helper()
	opts := wechat.Options{BaseURL: base, FallbackBaseURLs: fallbacks, Timeout: timeout}
	if fresh {
		tr := &http.Transport{DisableKeepAlives: true}
		t.Cleanup(tr.CloseIdleConnections)
		opts.HTTPClient = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c, err := wechat.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// simClosedURL returns the URL of a port on which nothing listens.
func simClosedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// simOp is one endpoint as the client calls it; live is a working
// access_token for the calls that need one.
type simOp struct {
	path string
	call func(ctx context.Context, c *wechat.Client, live string) (wechat.Credential, error)
}

var simOps = map[string]simOp{
	simulator.EndpointToken: {wechat.PathToken, func(ctx context.Context, c *wechat.Client, _ string) (wechat.Credential, error) {
		return c.Token(ctx, simApp, simSecret)
	}},
	simulator.EndpointStableToken: {wechat.PathStableToken, func(ctx context.Context, c *wechat.Client, _ string) (wechat.Credential, error) {
		return c.StableToken(ctx, simApp, simSecret, false)
	}},
	simulator.EndpointTicket: {wechat.PathTicket, func(ctx context.Context, c *wechat.Client, live string) (wechat.Credential, error) {
		return c.Ticket(ctx, live, wxtoken.KindJSAPITicket)
	}},
	simulator.EndpointProbe: {wechat.PathProbe, func(ctx context.Context, c *wechat.Client, live string) (wechat.Credential, error) {
		return wechat.Credential{}, c.Probe(ctx, live)
	}},
}

// assertNoLeak fails when any rendering of err, or the hint its
// classification gives, contains one of the secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), wechat.Classify(err, simClassifyAt).Hint}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%#v", e))
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) || strings.Contains(text, url.QueryEscape(s)) {
				t.Errorf("error leaks a secret: %s", text)
			}
		}
	}
}

// whitelistIPOf returns the address a 40164 errmsg quotes ("invalid ip X ...").
func whitelistIPOf(errmsg string) string {
	_, rest, ok := strings.Cut(errmsg, "invalid ip ")
	if !ok {
		return ""
	}
	ip, _, _ := strings.Cut(rest, " ")
	return ip
}

// simFaultCalls is how many calls each fault answers before the simulator
// recovers.
const simFaultCalls = 2

func TestSimulatorFaultsThroughClient(t *testing.T) {
	const (
		token  = simulator.EndpointToken
		stable = simulator.EndpointStableToken
		ticket = simulator.EndpointTicket
		probe  = simulator.EndpointProbe
	)
	var (
		every       = []string{token, stable, ticket, probe}
		tokenCalls  = []string{token, stable}
		credentials = []string{token, stable, ticket} // the probe returns no credential to be empty
		withToken   = []string{ticket, probe}
	)
	errcode := func(code int) simulator.Fault { return simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: code} }
	const customRID = "6579b4c3-1f2e3d4c-5b6a7988"
	tests := []struct {
		name  string
		fault simulator.Fault // Endpoint, AppID and Count are set per run
		on    []string
		class wechat.Class
		wait  time.Duration // Classify's NotBefore - simClassifyAt
		// status is the HTTP status a *TransportError carries; -1 when not
		// checked. Ignored for errcode faults.
		status   int
		hint     string // a fragment the hint must contain
		quoteIP  bool   // the hint must quote the IP of a 40164 errmsg
		rid      string // the rid expected; by default any of the simulator's shape
		deadline bool   // the error must be a deadline
	}{
		{name: "errcode -1", fault: errcode(-1), on: every, class: wechat.ClassTransient, hint: "busy"},
		{name: "errcode 45011", fault: errcode(45011), on: every, class: wechat.ClassMinuteLimit, wait: time.Minute, hint: "minute"},
		{name: "errcode 45009", fault: errcode(45009), on: every, class: wechat.ClassDailyQuota, wait: 6 * time.Hour, hint: "00:00 China Standard Time"},
		{name: "errcode 40164", fault: errcode(40164), on: tokenCalls, class: wechat.ClassWhitelist, wait: 5 * time.Minute, hint: "whitelist", quoteIP: true},
		{
			name: "errcode 40164 quoting another IP",
			fault: simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: 40164,
				ErrMsg: "invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist rid: " + customRID},
			on: tokenCalls, class: wechat.ClassWhitelist, wait: 5 * time.Minute, hint: "203.0.113.9", quoteIP: true, rid: customRID,
		},
		{name: "errcode 61004", fault: errcode(61004), on: tokenCalls, class: wechat.ClassWhitelist, wait: 5 * time.Minute, hint: "whitelist"},
		{name: "errcode 89503", fault: errcode(89503), on: tokenCalls, class: wechat.ClassRiskConfirm, wait: 5 * time.Minute, hint: "admin"},
		{name: "errcode 89501", fault: errcode(89501), on: tokenCalls, class: wechat.ClassRiskConfirm, wait: 5 * time.Minute, hint: "admin"},
		{name: "errcode 89507", fault: errcode(89507), on: tokenCalls, class: wechat.ClassAdminRejected, wait: time.Hour, hint: "1 hour"},
		{name: "errcode 89506", fault: errcode(89506), on: tokenCalls, class: wechat.ClassAdminRejected, wait: 24 * time.Hour, hint: "24 hours"},
		{name: "errcode 40125", fault: errcode(40125), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute, hint: "secret"},
		{name: "errcode 40013", fault: errcode(40013), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute, hint: "appid"},
		{name: "errcode 40001 on the token call", fault: errcode(40001), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute, hint: "secret"},
		{name: "errcode 40243", fault: errcode(40243), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute, hint: "frozen"},
		{name: "errcode 50004", fault: errcode(50004), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute},
		{name: "errcode 50007", fault: errcode(50007), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute},
		{name: "errcode 61024", fault: errcode(61024), on: tokenCalls, class: wechat.ClassConfig, wait: 10 * time.Minute, hint: "third-party"},
		{name: "errcode 40001 with a token", fault: errcode(40001), on: withToken, class: wechat.ClassTokenRejected},
		{name: "errcode 40014 with a token", fault: errcode(40014), on: withToken, class: wechat.ClassTokenRejected},
		{name: "errcode 42001 with a token", fault: errcode(42001), on: withToken, class: wechat.ClassTokenRejected},
		{name: "http500", fault: simulator.Fault{Kind: simulator.FaultHTTP500}, on: every, class: wechat.ClassTransient, status: 500},
		{name: "html page", fault: simulator.Fault{Kind: simulator.FaultHTML}, on: every, class: wechat.ClassTransient, status: -1},
		{name: "malformed json", fault: simulator.Fault{Kind: simulator.FaultMalformed}, on: every, class: wechat.ClassTransient, status: -1},
		{name: "truncated body", fault: simulator.Fault{Kind: simulator.FaultTruncated}, on: every, class: wechat.ClassTransient, status: 200},
		{name: "empty credential", fault: simulator.Fault{Kind: simulator.FaultEmpty}, on: credentials, class: wechat.ClassTransient, status: 200},
		{name: "slow answer", fault: simulator.Fault{Kind: simulator.FaultSlow, Delay: 5 * time.Second}, on: every, class: wechat.ClassTransient, deadline: true, hint: "in time"},
		{name: "dropped connection", fault: simulator.Fault{Kind: simulator.FaultDrop}, on: every, class: wechat.ClassTransient},
	}
	for _, tt := range tests {
		for _, ep := range tt.on {
			t.Run(tt.name+"/"+ep, func(t *testing.T) {
				t.Parallel()
				op := simOps[ep]
				sim, srv, _ := startSim(t, simulator.Options{TTL: time.Hour}, nil)
				ctx := context.Background()
				patient := newSimClient(t, 5*time.Second, true, srv.URL)
				timeout := 5 * time.Second
				if tt.deadline {
					timeout = 200 * time.Millisecond
				}
				c := newSimClient(t, timeout, true, srv.URL)

				live, err := patient.StableToken(ctx, simApp, simSecret, false)
				if err != nil {
					t.Fatal(err)
				}
				f := tt.fault
				f.Endpoint, f.AppID, f.Count = ep, simApp, simFaultCalls
				if err := sim.Inject(f); err != nil {
					t.Fatal(err)
				}
				before := sim.Calls(ep, simApp)

				for i := range simFaultCalls {
					got, err := op.call(ctx, c, live.Value)
					if err == nil {
						t.Fatalf("call %d: no error, got %+v", i, got)
					}
					if got != (wechat.Credential{}) {
						t.Errorf("call %d: a credential %+v came with the error", i, got)
					}
					assertNoLeak(t, err, simSecret, live.Value)

					cl := wechat.Classify(err, simClassifyAt)
					if cl.Class != tt.class {
						t.Errorf("class %v, want %v (err %v)", cl.Class, tt.class, err)
					}
					if d := cl.NotBefore.Sub(simClassifyAt); d != tt.wait {
						t.Errorf("NotBefore is now+%v, want now+%v", d, tt.wait)
					}
					if cl.Hint == "" || !strings.Contains(cl.Hint, tt.hint) {
						t.Errorf("hint %q lacks %q", cl.Hint, tt.hint)
					}
					if got, want := wechat.IsTokenRejected(err), tt.class == wechat.ClassTokenRejected; got != want {
						t.Errorf("IsTokenRejected = %v, want %v", got, want)
					}

					var api *wechat.APIError
					var te *wechat.TransportError
					if f.Kind == simulator.FaultErrCode {
						if !errors.As(err, &api) || errors.As(err, &te) {
							t.Fatalf("err %T %v, want only an *APIError", err, err)
						}
						if api.Endpoint != op.path || api.ErrCode != f.ErrCode || cl.ErrCode != f.ErrCode {
							t.Errorf("APIError %s %d, classified %d; want %s %d", api.Endpoint, api.ErrCode, cl.ErrCode, op.path, f.ErrCode)
						}
						if !simRID.MatchString(api.RID) || !strings.HasSuffix(api.ErrMsg, "rid: "+api.RID) {
							t.Errorf("RID %q not parsed from errmsg %q", api.RID, api.ErrMsg)
						}
						if tt.rid != "" && api.RID != tt.rid {
							t.Errorf("RID %q, want %q", api.RID, tt.rid)
						}
						if tt.quoteIP {
							ip := whitelistIPOf(api.ErrMsg)
							if net.ParseIP(ip) == nil || !strings.Contains(cl.Hint, ip) {
								t.Errorf("hint %q does not quote the IP %q of errmsg %q", cl.Hint, ip, api.ErrMsg)
							}
							if tt.rid == "" && ip != "127.0.0.1" {
								t.Errorf("errmsg quotes %q, want the caller's 127.0.0.1", ip)
							}
						}
					} else {
						if !errors.As(err, &te) || errors.As(err, &api) {
							t.Fatalf("err %T %v, want only a *TransportError", err, err)
						}
						if te.Endpoint != op.path || cl.ErrCode != 0 {
							t.Errorf("TransportError endpoint %q, classified errcode %d; want %s, 0", te.Endpoint, cl.ErrCode, op.path)
						}
						if tt.status >= 0 && te.Status != tt.status {
							t.Errorf("TransportError status %d, want %d", te.Status, tt.status)
						}
						if tt.deadline && !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("err %v is not a deadline", err)
						}
					}
				}
				if n := sim.Calls(ep, simApp) - before; n != simFaultCalls {
					t.Errorf("the simulator saw %d calls, want %d: one per client call", n, simFaultCalls)
				}

				// The fault is used up: the service recovers, and the
				// faults changed nothing.
				got, err := op.call(ctx, patient, live.Value)
				if err != nil {
					t.Fatalf("after the faults: %v", err)
				}
				if ep != probe {
					if got.Value == "" || got.ExpiresIn <= 0 {
						t.Fatalf("after the faults: got %+v", got)
					}
					if st := sim.Check(got.Value); !st.Valid {
						t.Errorf("the credential after the faults is not valid: %+v", st)
					}
				}
				if ep == stable && got.Value != live.Value {
					t.Error("the stable token changed across faulted calls")
				}
				if st := sim.Check(live.Value); !st.Valid {
					t.Errorf("the stable token died across faulted calls: %+v", st)
				}
			})
		}
	}
}

func TestSimulatorFallbackBaseURLs(t *testing.T) {
	tests := []struct {
		name    string
		closed  bool            // the primary is a closed port
		fault   simulator.Fault // otherwise, what the primary answers every call with
		apiCode int             // WeChat's errcode when the answer must not go to the fallback; 0 for success there
	}{
		{name: "closed port", closed: true},
		{name: "http500", fault: simulator.Fault{Kind: simulator.FaultHTTP500}},
		{name: "dropped connection", fault: simulator.Fault{Kind: simulator.FaultDrop}},
		{name: "truncated body", fault: simulator.Fault{Kind: simulator.FaultTruncated}},
		{name: "timeout", fault: simulator.Fault{Kind: simulator.FaultSlow, Delay: 5 * time.Second}},
		{name: "errcode -1", fault: simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: -1}, apiCode: -1},
		{name: "errcode 45009", fault: simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: 45009}, apiCode: 45009},
	}
	for _, tt := range tests {
		for _, ep := range []string{simulator.EndpointToken, simulator.EndpointStableToken, simulator.EndpointTicket, simulator.EndpointProbe} {
			t.Run(tt.name+"/"+ep, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				op := simOps[ep]
				fallback, fbSrv, _ := startSim(t, simulator.Options{}, nil)
				live, err := newSimClient(t, 5*time.Second, true, fbSrv.URL).StableToken(ctx, simApp, simSecret, false)
				if err != nil {
					t.Fatal(err)
				}

				var primary *simulator.Simulator
				base := simClosedURL(t)
				if !tt.closed {
					var srv *httptest.Server
					primary, srv, _ = startSim(t, simulator.Options{}, nil)
					if err := primary.Inject(tt.fault); err != nil {
						t.Fatal(err)
					}
					base = srv.URL
				}
				timeout := 5 * time.Second
				if tt.fault.Kind == simulator.FaultSlow {
					timeout = 200 * time.Millisecond
				}
				c := newSimClient(t, timeout, true, base, fbSrv.URL)
				before := fallback.Calls(ep, "")

				got, err := op.call(ctx, c, live.Value)
				assertNoLeak(t, err, simSecret, live.Value)
				if primary != nil {
					if n := primary.Calls(ep, ""); n != 1 {
						t.Errorf("the primary saw %d calls, want 1", n)
					}
				}
				fbCalls := fallback.Calls(ep, "") - before
				if tt.apiCode != 0 {
					var api *wechat.APIError
					if !errors.As(err, &api) || api.ErrCode != tt.apiCode {
						t.Fatalf("got %+v, %v; want errcode %d", got, err, tt.apiCode)
					}
					if fbCalls != 0 {
						t.Errorf("WeChat's answer %d was retried on the fallback (%d calls)", tt.apiCode, fbCalls)
					}
					return
				}
				if err != nil {
					t.Fatalf("the fallback did not serve the call: %v", err)
				}
				if fbCalls != 1 {
					t.Errorf("the fallback saw %d calls, want 1", fbCalls)
				}
				if ep != simulator.EndpointProbe {
					if st := fallback.Check(got.Value); !st.Valid {
						t.Errorf("got %+v, which the fallback did not issue: %+v", got, st)
					}
				}
			})
		}
	}
}

func TestSimulatorFallbackChain(t *testing.T) {
	ctx := context.Background()
	broken, brokenSrv, _ := startSim(t, simulator.Options{}, nil)
	if err := broken.Inject(simulator.Fault{Kind: simulator.FaultHTTP500}); err != nil {
		t.Fatal(err)
	}
	dropping, droppingSrv, _ := startSim(t, simulator.Options{}, nil)
	if err := dropping.Inject(simulator.Fault{Kind: simulator.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	healthy, healthySrv, _ := startSim(t, simulator.Options{}, nil)

	// Hosts are tried in order until one answers.
	c := newSimClient(t, 5*time.Second, true, simClosedURL(t), brokenSrv.URL, droppingSrv.URL, healthySrv.URL)
	got, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := healthy.Check(got.Value); !st.Valid {
		t.Fatalf("got %+v, not from the healthy host: %+v", got, st)
	}
	if b, d := broken.Calls("", ""), dropping.Calls("", ""); b != 1 || d != 1 {
		t.Errorf("calls to the failing hosts: %d, %d; want 1, 1", b, d)
	}

	// When every host fails, the error is transient and names the last.
	c = newSimClient(t, 5*time.Second, true, simClosedURL(t), brokenSrv.URL, droppingSrv.URL)
	got, err = c.Token(ctx, simApp, simSecret)
	assertNoLeak(t, err, simSecret)
	var te *wechat.TransportError
	if !errors.As(err, &te) || got != (wechat.Credential{}) {
		t.Fatalf("got %+v, %v; want a TransportError", got, err)
	}
	if u, _ := url.Parse(droppingSrv.URL); te.Host != u.Host {
		t.Errorf("error names host %q, want the last tried, %q", te.Host, u.Host)
	}
	if cl := wechat.Classify(err, simClassifyAt); cl.Class != wechat.ClassTransient || !cl.NotBefore.Equal(simClassifyAt) {
		t.Errorf("classified %+v, want transient now", cl)
	}
}

// wantRejected fails unless err is WeChat rejecting a dead token with code.
func wantRejected(t *testing.T, err error, code int) {
	t.Helper()
	assertNoLeak(t, err, simSecret)
	var api *wechat.APIError
	if !errors.As(err, &api) || api.ErrCode != code || !wechat.IsTokenRejected(err) {
		t.Fatalf("err %v, want the token rejected with %d", err, code)
	}
	if cl := wechat.Classify(err, simClassifyAt); cl.Class != wechat.ClassTokenRejected || cl.ErrCode != code {
		t.Fatalf("classified %+v, want token_rejected %d", cl, code)
	}
}

func TestSimulatorClassicTokenOverlap(t *testing.T) {
	const ttl, overlap = time.Minute, 5 * time.Second
	sim, srv, clock := startSim(t, simulator.Options{TTL: ttl, Overlap: overlap}, nil)
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	ctx := context.Background()

	old, err := c.Token(ctx, simApp, simSecret)
	if err != nil {
		t.Fatal(err)
	}
	if old.ExpiresIn != ttl || len(old.Value) < 100 {
		t.Fatalf("got %+v", old)
	}
	clock.Advance(20 * time.Second)
	cur, err := c.Token(ctx, simApp, simSecret)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Value == old.Value || cur.ExpiresIn != ttl {
		t.Fatalf("the second call gave %+v, want a new token for %v", cur, ttl)
	}

	// Within the overlap both work.
	for _, at := range []time.Duration{0, overlap - time.Millisecond} {
		clock.Advance(at)
		if err := c.Probe(ctx, old.Value); err != nil {
			t.Fatalf("old token rejected within the overlap: %v", err)
		}
		if _, err := c.Ticket(ctx, old.Value, wxtoken.KindJSAPITicket); err != nil {
			t.Fatalf("ticket with the old token within the overlap: %v", err)
		}
	}

	// After it, the old one is dead ("not latest"); the new one works.
	clock.Advance(time.Millisecond)
	wantRejected(t, c.Probe(ctx, old.Value), wechat.ErrInvalidCredential)
	_, err = c.Ticket(ctx, old.Value, wxtoken.KindJSAPITicket)
	wantRejected(t, err, wechat.ErrInvalidCredential)
	if err := c.Probe(ctx, cur.Value); err != nil {
		t.Fatalf("current token rejected: %v", err)
	}

	// At the end of its own life the current one expires (42001).
	clock.Advance(ttl - overlap)
	wantRejected(t, c.Probe(ctx, cur.Value), wechat.ErrTokenExpired)
	if n := sim.Calls(simulator.EndpointToken, simApp); n != 2 {
		t.Errorf("%d token calls, want 2", n)
	}
}

func TestSimulatorStableToken(t *testing.T) {
	const ttl, overlap, interval = time.Minute, 5 * time.Second, 2 * time.Second
	sim, srv, clock := startSim(t, simulator.Options{TTL: ttl, Overlap: overlap, ForceInterval: interval}, nil)
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	ctx := context.Background()
	stable := func(force bool) wechat.Credential {
		t.Helper()
		cr, err := c.StableToken(ctx, simApp, simSecret, force)
		if err != nil {
			t.Fatal(err)
		}
		return cr
	}

	// Normal mode returns the same token, with the time it has left.
	first := stable(false)
	if first.ExpiresIn != ttl {
		t.Fatalf("got %+v", first)
	}
	clock.Advance(10 * time.Second)
	if again := stable(false); again.Value != first.Value || again.ExpiresIn != ttl-10*time.Second {
		t.Fatalf("normal mode gave %+v, want the same token with %v left", again, ttl-10*time.Second)
	}

	// A classic call does not touch the stable token.
	if _, err := c.Token(ctx, simApp, simSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(ctx, simApp, simSecret); err != nil {
		t.Fatal(err)
	}
	clock.Advance(overlap + time.Second)
	if err := c.Probe(ctx, first.Value); err != nil {
		t.Fatalf("classic calls killed the stable token: %v", err)
	}

	// Force mode replaces it at once: the old one is rejected.
	forced := stable(true)
	if forced.Value == first.Value || forced.ExpiresIn != ttl {
		t.Fatalf("force gave %+v, want a new token for %v", forced, ttl)
	}
	wantRejected(t, c.Probe(ctx, first.Value), wechat.ErrInvalidCredential)
	_, err := c.Ticket(ctx, first.Value, wxtoken.KindJSAPITicket)
	wantRejected(t, err, wechat.ErrInvalidCredential)
	if err := c.Probe(ctx, forced.Value); err != nil {
		t.Fatalf("the forced token is rejected: %v", err)
	}

	// A force call within the interval is a normal-mode call.
	clock.Advance(interval / 2)
	if again := stable(true); again.Value != forced.Value {
		t.Fatal("a force call within the interval replaced the token")
	}
	clock.Advance(interval)
	reforced := stable(true)
	if reforced.Value == forced.Value {
		t.Fatal("a force call after the interval kept the token")
	}
	wantRejected(t, c.Probe(ctx, forced.Value), wechat.ErrInvalidCredential)

	// In its last overlap, normal mode issues the next token; the old one
	// works until its own expiry, then expires.
	clock.Advance(ttl - overlap + time.Second)
	next := stable(false)
	if next.Value == reforced.Value || next.ExpiresIn != ttl {
		t.Fatalf("normal mode in the last overlap gave %+v, want a new token for %v", next, ttl)
	}
	if err := c.Probe(ctx, reforced.Value); err != nil {
		t.Fatalf("the previous token died before its expiry: %v", err)
	}
	clock.Advance(overlap)
	wantRejected(t, c.Probe(ctx, reforced.Value), wechat.ErrTokenExpired)
	if err := c.Probe(ctx, next.Value); err != nil {
		t.Fatalf("the current token is rejected: %v", err)
	}
	if n := sim.Calls(simulator.EndpointStableToken, simApp); n != 6 {
		t.Errorf("%d stable_token calls, want 6", n)
	}
}

func TestSimulatorTicket(t *testing.T) {
	const ttl, ticketTTL = time.Minute, 90 * time.Second
	// The simulator that answers the same ticket within its life.
	sim, srv, clock := startSim(t, simulator.Options{TTL: ttl, TicketTTL: ticketTTL, Overlap: 5 * time.Second,
		OldTicket: simulator.OldTicketLivesOn}, nil)
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	ctx := context.Background()

	tok, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	jsapi, err := c.Ticket(ctx, tok.Value, wxtoken.KindJSAPITicket)
	if err != nil {
		t.Fatal(err)
	}
	if jsapi.ExpiresIn != ticketTTL || sim.Check(jsapi.Value).Kind != simulator.KindJSAPI {
		t.Fatalf("jsapi ticket %+v, %+v", jsapi, sim.Check(jsapi.Value))
	}
	card, err := c.Ticket(ctx, tok.Value, wxtoken.KindWxCard)
	if err != nil {
		t.Fatal(err)
	}
	if card.Value == jsapi.Value || sim.Check(card.Value).Kind != simulator.KindWxCard {
		t.Fatalf("wx_card ticket %+v, %+v", card, sim.Check(card.Value))
	}
	clock.Advance(time.Second)
	if again, err := c.Ticket(ctx, tok.Value, wxtoken.KindJSAPITicket); err != nil || again.Value != jsapi.Value {
		t.Fatalf("second jsapi call: %+v, %v; want the same ticket", again, err)
	}

	// A token replaced out of band is dead for getticket; its replacement
	// gets the same ticket.
	fresh, err := sim.Rotate(simApp, simulator.KindStable)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ticket(ctx, tok.Value, wxtoken.KindJSAPITicket)
	wantRejected(t, err, wechat.ErrInvalidCredential)
	if again, err := c.Ticket(ctx, fresh, wxtoken.KindJSAPITicket); err != nil || again.Value != jsapi.Value {
		t.Fatalf("jsapi with the new token: %+v, %v; want the same ticket", again, err)
	}

	// A token never issued, a malformed one, an expired one.
	_, err = c.Ticket(ctx, "95_"+strings.Repeat("x", 133), wxtoken.KindJSAPITicket)
	wantRejected(t, err, wechat.ErrInvalidCredential)
	_, err = c.Ticket(ctx, "not a token", wxtoken.KindJSAPITicket)
	wantRejected(t, err, wechat.ErrInvalidToken)
	clock.Advance(ttl)
	_, err = c.Ticket(ctx, fresh, wxtoken.KindWxCard)
	wantRejected(t, err, wechat.ErrTokenExpired)

	// A kind that is no ticket is refused without a call.
	before := sim.Calls("", "")
	if _, err := c.Ticket(ctx, fresh, wxtoken.KindAccessToken); err == nil {
		t.Fatal("Ticket accepted kind access_token")
	}
	if n := sim.Calls("", "") - before; n != 0 {
		t.Errorf("a refused kind made %d calls", n)
	}
}

// simRequest is a request as it reached the simulator.
type simRequest struct {
	path, rawQuery string
	header         http.Header
	body           []byte
}

// simRecorder records every request before the simulator answers it.
type simRecorder struct {
	mu   sync.Mutex
	reqs []simRequest
	next http.Handler
}

func (rc *simRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, simRequest{r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	rc.mu.Unlock()
	rc.next.ServeHTTP(w, r)
}

func (rc *simRecorder) requests() []simRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]simRequest(nil), rc.reqs...)
}

func TestSimulatorClientKeepsSecret(t *testing.T) {
	const wrongSecret = "WrongAppSecret-0b1d2e3f4a5c"
	rec := &simRecorder{}
	sim, srv, clock := startSim(t, simulator.Options{TTL: time.Minute, Overlap: 5 * time.Second, ForceInterval: time.Second},
		func(h http.Handler) http.Handler { rec.next = h; return rec })
	c := newSimClient(t, 5*time.Second, true, srv.URL)
	quick := newSimClient(t, 200*time.Millisecond, true, srv.URL)
	ctx := context.Background()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	classic, err := c.Token(ctx, simApp, simSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if _, err := c.StableToken(ctx, simApp, simSecret, true); err != nil {
		t.Fatal(err)
	}
	tok, err = c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range wxtoken.FamilyApp.Tickets() {
		if _, err := c.Ticket(ctx, tok.Value, kind); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Probe(ctx, tok.Value); err != nil {
		t.Fatal(err)
	}

	// Failures of every kind, on every endpoint.
	_, err = c.Token(ctx, simApp, wrongSecret)
	keep(err)
	_, err = c.StableToken(ctx, simApp, wrongSecret, false)
	keep(err)
	_, err = c.Ticket(ctx, classic.Value+"-dead", wxtoken.KindJSAPITicket)
	keep(err)
	keep(c.Probe(ctx, "not a token"))
	for _, f := range []simulator.Fault{
		{Kind: simulator.FaultErrCode, ErrCode: -1},
		{Kind: simulator.FaultErrCode, ErrCode: 40164},
		{Kind: simulator.FaultHTTP500},
		{Kind: simulator.FaultHTML},
		{Kind: simulator.FaultMalformed},
		{Kind: simulator.FaultTruncated},
		{Kind: simulator.FaultEmpty},
		{Kind: simulator.FaultDrop},
		{Kind: simulator.FaultSlow, Delay: 5 * time.Second},
	} {
		f.Count = 4
		if err := sim.Inject(f); err != nil {
			t.Fatal(err)
		}
		_, err := quick.Token(ctx, simApp, simSecret)
		keep(err)
		_, err = quick.StableToken(ctx, simApp, simSecret, true)
		keep(err)
		_, err = quick.Ticket(ctx, tok.Value, wxtoken.KindJSAPITicket)
		keep(err)
		keep(quick.Probe(ctx, tok.Value))
		sim.ClearFaults()
	}
	// Every faulted call fails but the probe given an empty ip_list.
	if len(errs) < 4+9*4-1 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	for _, err := range errs {
		assertNoLeak(t, err, simSecret, wrongSecret)
	}

	// The secret goes only to the token endpoints, only where WeChat
	// wants it: the classic query, the stable_token body.
	var tokenCalls, stableCalls, other int
	for _, r := range rec.requests() {
		q, err := url.ParseQuery(r.rawQuery)
		if err != nil {
			t.Fatalf("%s: bad query: %v", r.path, err)
		}
		for name, vs := range r.header {
			for _, v := range vs {
				if strings.Contains(v, simSecret) || strings.Contains(v, wrongSecret) {
					t.Errorf("%s sent a secret in header %s", r.path, name)
				}
			}
		}
		inQuery := strings.Contains(r.rawQuery, simSecret) || strings.Contains(r.rawQuery, wrongSecret)
		inBody := bytes.Contains(r.body, []byte(simSecret)) || bytes.Contains(r.body, []byte(wrongSecret))
		switch r.path {
		case wechat.PathToken:
			tokenCalls++
			if s := q.Get("secret"); s != simSecret && s != wrongSecret {
				t.Errorf("token call without the secret in its query")
			}
			if inBody {
				t.Errorf("token call sent the secret in a body")
			}
		case wechat.PathStableToken:
			stableCalls++
			if inQuery {
				t.Errorf("stable_token sent the secret in its query")
			}
			if !inBody {
				t.Errorf("stable_token without the secret in its body")
			}
		case wechat.PathTicket, wechat.PathProbe:
			other++
			if inQuery || inBody || q.Has("secret") || q.Has("appid") {
				t.Errorf("%s sent the secret or the appid: %q %q", r.path, r.rawQuery, r.body)
			}
		default:
			t.Errorf("unexpected call to %s", r.path)
		}
	}
	if tokenCalls == 0 || stableCalls == 0 || other == 0 {
		t.Fatalf("recorded %d token, %d stable_token, %d other calls", tokenCalls, stableCalls, other)
	}
}

// TestUnanswered: a classic token call whose answer never came back may
// still be carried out by WeChat; one that was answered, however badly,
// or never sent, will not be.
func TestUnanswered(t *testing.T) {
	tests := []struct {
		name  string
		fault simulator.Fault
		want  bool
	}{
		{"timeout", simulator.Fault{Kind: simulator.FaultSlow, Delay: 5 * time.Second}, true},
		{"dropped connection", simulator.Fault{Kind: simulator.FaultDrop}, true},
		{"truncated answer", simulator.Fault{Kind: simulator.FaultTruncated}, false},
		{"http500", simulator.Fault{Kind: simulator.FaultHTTP500}, false},
		{"html page", simulator.Fault{Kind: simulator.FaultHTML}, false},
		{"errcode -1", simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv, _ := startSim(t, simulator.Options{}, nil)
			if err := sim.Inject(tt.fault); err != nil {
				t.Fatal(err)
			}
			_, err := newSimClient(t, 200*time.Millisecond, true, srv.URL).Token(context.Background(), simApp, simSecret)
			if err == nil {
				t.Fatal("want an error")
			}
			if got := wechat.Unanswered(err); got != tt.want {
				t.Errorf("Unanswered(%v) = %t, want %t", err, got, tt.want)
			}
		})
	}
	_, srv, _ := startSim(t, simulator.Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newSimClient(t, time.Second, true, srv.URL).Token(ctx, simApp, simSecret)
	if err == nil || wechat.Unanswered(err) {
		t.Errorf("a call cancelled before it was sent: Unanswered(%v) = true", err)
	}
	if wechat.Unanswered(nil) {
		t.Error("Unanswered(nil) = true")
	}
}
