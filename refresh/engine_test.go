package refresh

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/internal/fakeclock"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	appA    = "wxA"
	secretA = "secret-of-app-A"
)

// fakeClock adapts fakeclock.Clock to Clock.
type fakeClock struct{ *fakeclock.Clock }

func (c fakeClock) NewTimer(d time.Duration) Timer { return c.Clock.NewTimer(d) }
func (c fakeClock) TimerAt(at time.Time) Timer     { return c.Clock.TimerAt(at) }

type event struct {
	appID          string
	kind           wxtoken.Kind
	reason, result string
}

// recorder is an Observer that hands every refresh to the test.
type recorder struct{ refreshed chan event }

func (r recorder) UpstreamCall(string, string, int, string, time.Duration) {}
func (r recorder) Refreshed(appID string, kind wxtoken.Kind, reason, result string) {
	r.refreshed <- event{appID, kind, reason, result}
}

type harness struct {
	t     *testing.T
	clk   *fakeclock.Clock
	sim   *simulator.Simulator
	url   string
	store wxtoken.Store
	eng   *Engine
	ev    chan event
	opts  Options
}

// newHarness starts an engine for app A against the simulator, both on one
// fake clock, with a one-hour lifetime and a five-minute overlap.
func newHarness(t *testing.T, api wxtoken.TokenAPI, tickets []wxtoken.Kind, mod func(*Options)) *harness {
	t.Helper()
	h := newStoppedHarness(t, api, tickets, mod)
	h.start()
	return h
}

// newStoppedHarness is newHarness without starting the engine, for tests
// that must set the simulator up before the engine's first fetch.
func newStoppedHarness(t *testing.T, api wxtoken.TokenAPI, tickets []wxtoken.Kind, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, clk: fakeclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)), ev: make(chan event, 1024)}
	sim, err := simulator.New(simulator.Options{
		// B is for the tests that add an app while the engine runs.
		Apps: map[string]string{appA: secretA, appB: secretB}, TTL: time.Hour, Overlap: 5 * time.Minute, Now: h.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.store = memory.New()
	h.opts = Options{
		Apps:    []AppConfig{{AppID: appA, Secret: func() string { return secretA }, TokenAPI: api, Tickets: tickets}},
		Clock:   fakeClock{h.clk},
		Overlap: 5 * time.Minute, Margin: 30 * time.Second,
		MaxRate: -1, Observer: recorder{h.ev},
		Rand: func() float64 { return 0.5 },
	}
	if mod != nil {
		mod(&h.opts)
	}
	if h.opts.Store != nil {
		h.store = h.opts.Store
	}
	return h
}

func (h *harness) start() {
	h.t.Helper()
	up, err := wechat.New(wechat.Options{BaseURL: h.url, Timeout: 5 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	h.opts.Store, h.opts.Upstream = h.store, up
	h.eng, err = New(h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.eng.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { h.eng.Close() })
}

// wait returns the next refresh event of kind, failing after a real-time
// guard (the events come from goroutines, not from the fake clock).
func (h *harness) wait(kind wxtoken.Kind) event {
	h.t.Helper()
	guard := time.After(10 * time.Second)
	for {
		select {
		case e := <-h.ev:
			if e.kind == kind {
				return e
			}
		case <-guard:
			h.t.Fatalf("no refresh of %s", kind)
		}
	}
}

// get reads a credential and discards the refresh events it caused, so
// that wait sees only what happens after.
func (h *harness) get(kind wxtoken.Kind) wxtoken.Grant {
	h.t.Helper()
	g, err := h.eng.Credential(context.Background(), appA, kind)
	if err != nil {
		h.t.Fatalf("Credential(%s): %v", kind, err)
	}
	for {
		select {
		case <-h.ev:
			continue
		default:
		}
		return g
	}
}

func (h *harness) calls(endpoint string) int { return h.sim.Calls(endpoint, appA) }

// assertAlive checks invariant 1 for g at this moment: the simulator holds
// the value valid for at least g's remaining lifetime.
func (h *harness) assertAlive(g wxtoken.Grant) {
	h.t.Helper()
	st := h.sim.Check(g.Value)
	if !st.Valid {
		h.t.Fatalf("handed-out %s is dead at WeChat (%s)", g.Kind, st.Reason)
	}
	left := g.ExpiresAt.Sub(h.clk.Now())
	if time.Duration(st.ExpiresIn)*time.Second < left {
		h.t.Fatalf("%s handed out for %v more but WeChat keeps it only %ds", g.Kind, left, st.ExpiresIn)
	}
}

func TestColdStartIsCoalesced(t *testing.T) {
	for _, api := range []wxtoken.TokenAPI{wxtoken.TokenAPIStable, wxtoken.TokenAPIClassic} {
		t.Run(string(api), func(t *testing.T) {
			h := newHarness(t, api, nil, nil)
			var wg sync.WaitGroup
			got := make([]wxtoken.Grant, 200)
			errs := make([]error, 200)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = h.eng.Credential(context.Background(), appA, wxtoken.KindAccessToken)
				}()
			}
			wg.Wait()
			for i := range got {
				if errs[i] != nil || got[i].Value != got[0].Value {
					t.Fatalf("reader %d: %v %q, want %q", i, errs[i], got[i].Value, got[0].Value)
				}
			}
			if n := h.calls(simulator.EndpointToken) + h.calls(simulator.EndpointStableToken); n != 1 {
				t.Fatalf("upstream token calls = %d, want 1", n)
			}
			h.assertAlive(got[0])
		})
	}
}

func TestClassicRefreshKeepsHandoutsAlive(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIClassic, []wxtoken.Kind{wxtoken.KindJSAPITicket}, nil)
	first := h.get(wxtoken.KindAccessToken)
	ticket := h.get(wxtoken.KindJSAPITicket)
	h.assertAlive(first)
	// A classic token is refreshed at about two thirds of its hour, and
	// handed out only until the next refresh plus the overlap, minus margin.
	if first.ExpiresIn > 40*time.Minute+5*time.Minute-30*time.Second+time.Second {
		t.Fatalf("first token handed out for %v", first.ExpiresIn)
	}
	for i := 0; i < 4; i++ {
		h.clk.Advance(time.Minute)
		h.assertAlive(h.get(wxtoken.KindAccessToken))
	}
	h.clk.Advance(40 * time.Minute)
	if e := h.wait(wxtoken.KindAccessToken); e.reason != wxtoken.ReasonProactive || e.result != "ok" {
		t.Fatalf("event %+v", e)
	}
	// The ticket may also come due on its own schedule; what matters is
	// that once the token it was fetched with is replaced, it is fetched
	// again with the new one.
	a := h.eng.app(appA)
	for a.ticket(wxtoken.KindJSAPITicket).load().TokenVersion != a.token.load().Version {
		h.wait(wxtoken.KindJSAPITicket)
	}
	second := h.get(wxtoken.KindAccessToken)
	if second.Value == first.Value || h.calls(simulator.EndpointToken) != 2 {
		t.Fatalf("no new token after the planned refresh (calls %d)", h.calls(simulator.EndpointToken))
	}
	h.assertAlive(second)
	h.assertAlive(h.get(wxtoken.KindJSAPITicket))
	// The first token dies an overlap after the second was minted; no
	// grant of it outlived that.
	h.clk.Advance(5*time.Minute + time.Second)
	if h.sim.Check(first.Value).Valid {
		t.Fatal("simulator kept the replaced token past the overlap")
	}
	_ = ticket
}

func TestStableRolloverInLastWindow(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIStable, nil, nil)
	first := h.get(wxtoken.KindAccessToken)
	if first.ExpiresIn != time.Hour-30*time.Second {
		t.Fatalf("stable token handed out for %v, want its life minus the margin", first.ExpiresIn)
	}
	h.clk.Advance(50 * time.Minute)
	h.assertAlive(h.get(wxtoken.KindAccessToken))
	if n := h.calls(simulator.EndpointStableToken); n != 1 {
		t.Fatalf("stable calls before the last window = %d", n)
	}
	h.clk.Advance(7 * time.Minute) // into the last five minutes, past the planned point
	h.wait(wxtoken.KindAccessToken)
	second := h.get(wxtoken.KindAccessToken)
	if second.Value == first.Value {
		t.Fatal("no new stable token in the last window")
	}
	if !h.sim.Check(first.Value).Valid {
		t.Fatal("the old stable token must stay valid until its own expiry")
	}
}

func TestPassiveRefreshClassic(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIClassic, nil, nil)
	ctx := context.Background()
	first := h.get(wxtoken.KindAccessToken)
	// Another system kills the token; 100 callers report it at once.
	if _, err := h.sim.Rotate(appA, simulator.KindClassic); err != nil {
		t.Fatal(err)
	}
	before := h.calls(simulator.EndpointToken)
	var wg sync.WaitGroup
	got := make([]wxtoken.Grant, 100)
	errs := make([]error, 100)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, first.Value)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Value == first.Value || got[i].Value != got[0].Value {
			t.Fatalf("report %d: %v %q", i, errs[i], got[i].Value)
		}
	}
	if n := h.calls(simulator.EndpointToken) - before; n != 1 {
		t.Fatalf("token calls for 100 reports = %d, want 1", n)
	}
	h.assertAlive(got[0])
	// A report of a token already replaced costs nothing.
	if g, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, first.Value); err != nil || g.Value != got[0].Value {
		t.Fatalf("late report: %v %q", err, g.Value)
	}
	if n := h.calls(simulator.EndpointToken) - before; n != 1 {
		t.Fatalf("late report made a call")
	}
	// Reporting the new token right away is refused by the rate limit.
	_, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, got[0].Value)
	if wxtoken.ErrorCode(err) != wxtoken.ERateLimited {
		t.Fatalf("err = %v, want rate_limited", err)
	}
	var rl *wxtoken.Error
	if !errors.As(err, &rl) || rl.RetryAfter() <= 0 || rl.RetryAfter() > 10*time.Second {
		t.Fatalf("rate-limit error says retry after %v, want within the 10 s interval", rl.RetryAfter())
	}
	// After the interval, a report of a token WeChat still accepts is
	// checked with the probe and does not mint.
	h.clk.Advance(11 * time.Second)
	g, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, got[0].Value)
	if err != nil || g.Value != got[0].Value || h.calls(simulator.EndpointToken)-before != 1 {
		t.Fatalf("report of a live token: %v, %q, calls %d", err, g.Value, h.calls(simulator.EndpointToken)-before)
	}
	if _, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, ""); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Fatalf("empty stale: %v", err)
	}
}

func TestPassiveRefreshStableSpendsForceOnlyWhenProven(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIStable, nil, nil)
	ctx := context.Background()
	first := h.get(wxtoken.KindAccessToken)
	// WeChat still accepts the token: no force refresh.
	g, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, first.Value)
	if err != nil || g.Value != first.Value {
		t.Fatalf("report of a live token: %v %q", err, g.Value)
	}
	if st := h.eng.Status(ctx)[0]; st.ForceRefreshesToday != 0 {
		t.Fatalf("force refreshes = %d", st.ForceRefreshesToday)
	}
	// The probe says the token is dead (as after a leak): force once.
	h.clk.Advance(11 * time.Second)
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointProbe, Kind: simulator.FaultErrCode, ErrCode: 40001, Count: 1}); err != nil {
		t.Fatal(err)
	}
	g, err = h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, first.Value)
	if err != nil || g.Value == first.Value {
		t.Fatalf("proven-dead report: %v %q", err, g.Value)
	}
	h.assertAlive(g)
	if st := h.eng.Status(ctx)[0]; st.ForceRefreshesToday != 1 {
		t.Fatalf("force refreshes = %d, want 1", st.ForceRefreshesToday)
	}
	// The next proven-dead report within 30 s may not force again.
	h.clk.Advance(11 * time.Second)
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointProbe, Kind: simulator.FaultErrCode, ErrCode: 40001, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, g.Value)
	if wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Fatalf("second force within 30 s: %v", err)
	}
}

func TestRestartMakesNoUpstreamCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	openStore := func() *bolt.Store {
		st, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := openStore()
	h := newHarness(t, wxtoken.TokenAPIClassic, []wxtoken.Kind{wxtoken.KindJSAPITicket}, func(o *Options) { o.Store = st })
	token := h.get(wxtoken.KindAccessToken)
	ticket := h.get(wxtoken.KindJSAPITicket)
	calls := h.calls(simulator.EndpointToken) + h.calls(simulator.EndpointTicket)
	h.eng.Close()
	st.Close()

	h.clk.Advance(10 * time.Minute)
	h.store = openStore()
	t.Cleanup(func() { h.store.Close() })
	h.start()
	if g := h.get(wxtoken.KindAccessToken); g.Value != token.Value {
		t.Fatal("restart lost the token")
	} else {
		h.assertAlive(g)
	}
	if g := h.get(wxtoken.KindJSAPITicket); g.Value != ticket.Value {
		t.Fatal("restart lost the ticket")
	}
	if n := h.calls(simulator.EndpointToken) + h.calls(simulator.EndpointTicket); n != calls {
		t.Fatalf("restart made %d upstream calls", n-calls)
	}
}

func TestBadAnswersNeverReplaceTheCredential(t *testing.T) {
	for _, f := range []simulator.Fault{
		{Kind: simulator.FaultEmpty, For: time.Hour},
		{Kind: simulator.FaultHTML, For: time.Hour},
		{Kind: simulator.FaultMalformed, For: time.Hour},
		{Kind: simulator.FaultHTTP500, For: time.Hour},
		{Kind: simulator.FaultErrCode, ErrCode: -1, For: time.Hour},
	} {
		t.Run(f.Kind, func(t *testing.T) {
			h := newHarness(t, wxtoken.TokenAPIClassic, nil, func(o *Options) { o.BackoffBase, o.BackoffMax = time.Second, 10*time.Second })
			first := h.get(wxtoken.KindAccessToken)
			f.Endpoint = simulator.EndpointToken
			if err := h.sim.Inject(f); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(41 * time.Minute) // past the planned refresh
			if e := h.wait(wxtoken.KindAccessToken); e.result != "error" {
				t.Fatalf("event %+v", e)
			}
			g := h.get(wxtoken.KindAccessToken)
			if g.Value != first.Value {
				t.Fatal("a bad answer replaced the credential")
			}
			h.assertAlive(g)
			st := h.eng.Status(context.Background())[0].Credentials[0]
			if st.LastError == nil || st.LastError.Class != "transient" {
				t.Fatalf("status last error %+v", st.LastError)
			}
		})
	}
}

func TestDailyQuotaStopsCallsAndKeepsServing(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIClassic, nil, nil)
	ctx := context.Background()
	first := h.get(wxtoken.KindAccessToken)
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Kind: simulator.FaultErrCode, ErrCode: 45009, For: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(41 * time.Minute)
	h.wait(wxtoken.KindAccessToken)
	calls := h.calls(simulator.EndpointToken)
	// Readers keep getting the cached token while it lasts; nothing calls
	// WeChat again before the quota resets (00:00 CST is 16:00 UTC; the
	// clock is at 02:41 UTC).
	for i := 0; i < 10; i++ {
		h.clk.Advance(time.Minute)
		g, err := h.eng.Credential(ctx, appA, wxtoken.KindAccessToken)
		if err != nil || g.Value != first.Value {
			t.Fatalf("during the quota block: %v, changed %v", err, g.Value != first.Value)
		}
		h.assertAlive(g)
	}
	_, err := h.eng.Refresh(ctx, appA, wxtoken.KindAccessToken, first.Value)
	var we *wxtoken.Error
	if !errors.As(err, &we) || we.WeChatErrCode != 45009 {
		t.Fatalf("report during the block: %v", err)
	}
	if n := h.calls(simulator.EndpointToken); n != calls {
		t.Fatalf("calls during the block: %d more", n-calls)
	}
	st := h.eng.Status(ctx)[0]
	if st.BlockedUntil == nil || !st.BlockedUntil.Equal(time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("blocked until %v", st.BlockedUntil)
	}
	if le := st.Credentials[0].LastError; le == nil || le.ErrCode != 45009 || le.Class != "daily_quota" {
		t.Fatalf("last error %+v", le)
	}
	// WeChat minted nothing, so the cached token is served to its own
	// expiry. The block needs a human, which the health says; the engine
	// stays ready throughout: one app that cannot be served does not take
	// the replica out of service.
	if hl := h.eng.Health(ctx); !hl.Ready || len(hl.Apps) != 1 || hl.Apps[0].BlockedUntil == nil || len(hl.Apps[0].Unservable) != 0 {
		t.Fatalf("health with a valid cached token during the block: %+v", hl)
	}
	h.clk.Advance(10 * time.Minute)
	if _, err := h.eng.Credential(ctx, appA, wxtoken.KindAccessToken); !errors.As(err, &we) || we.WeChatErrCode != 45009 {
		t.Fatalf("read after expiry during the block: %v", err)
	}
	hl := h.eng.Health(ctx)
	if !hl.Ready || len(hl.Reasons) != 0 || len(h.eng.NotReady(ctx)) != 0 {
		t.Fatalf("not ready because one app cannot be served: %+v", hl)
	}
	if len(hl.Apps) != 1 || hl.Apps[0].AppID != appA || !slices.Contains(hl.Apps[0].Unservable, wxtoken.KindAccessToken) ||
		hl.Apps[0].LastError == nil || hl.Apps[0].LastError.ErrCode != 45009 {
		t.Fatalf("health after expiry during the block: %+v", hl)
	}
	// After the reset the engine recovers.
	h.sim.ClearFaults()
	h.clk.Advance(14 * time.Hour)
	h.wait(wxtoken.KindAccessToken)
	g := h.get(wxtoken.KindAccessToken)
	h.assertAlive(g)
	if hl := h.eng.Health(ctx); !hl.Ready || len(hl.Apps) != 0 {
		t.Fatalf("health after recovery: %+v", hl)
	}
	h.eng.Drain()
	if r := h.eng.NotReady(ctx); len(r) != 1 || r[0] != "shutting down" {
		t.Fatalf("not ready reasons while draining: %q", r)
	}
}

func TestUnknownAppAndKind(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIStable, nil, nil)
	ctx := context.Background()
	if _, err := h.eng.Credential(ctx, "wxNope", wxtoken.KindAccessToken); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Fatalf("unknown app: %v", err)
	}
	if _, err := h.eng.Credential(ctx, appA, wxtoken.KindWxCard); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Fatalf("unconfigured ticket: %v", err)
	}
}

// TestRestartKeepsTheErrorPolicy: a restart does not call WeChat again
// before the error policy's wait after 45009 has passed; after a
// configuration error it tries again at once, since a restart is how a
// corrected config takes effect, and so it does after a transient error,
// whose backoff only spaced out retries while WeChat was unreachable.
func TestRestartKeepsTheErrorPolicy(t *testing.T) {
	for _, tc := range []struct {
		errcode  int
		retryNow bool
	}{{45009, false}, {40125, true}, {-1, true}} {
		t.Run(fmt.Sprint(tc.errcode), func(t *testing.T) {
			// The fault is in place before the engine starts, so that its
			// first fetch, started by the scheduler, meets it.
			h := newStoppedHarness(t, wxtoken.TokenAPIStable, nil, nil)
			if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointStableToken, Kind: simulator.FaultErrCode, ErrCode: tc.errcode, Count: 1}); err != nil {
				t.Fatal(err)
			}
			h.start()
			if _, err := h.eng.Credential(context.Background(), appA, wxtoken.KindAccessToken); err == nil {
				t.Fatal("the first fetch succeeded through the fault")
			}
			h.eng.Close()
			before := h.calls(simulator.EndpointStableToken)
			h.start()
			_, err := h.eng.Credential(context.Background(), appA, wxtoken.KindAccessToken)
			after := h.calls(simulator.EndpointStableToken) - before
			switch {
			case tc.retryNow && (err != nil || after != 1):
				t.Fatalf("after a restart: %v, %d calls; want one call and a token", err, after)
			case !tc.retryNow && (err == nil || after != 0):
				t.Fatalf("after a restart: %v, %d calls; want the wait kept: no call, unavailable", err, after)
			}
		})
	}
}

// TestTicketCallIsMarkedBeforeItIsMade: a ticket call records its start in
// the ticket's stored record before it is sent, and the handout then ends
// an overlap (minus the margin) after it; an errcode answer, which issued
// nothing, takes the mark back, an answer never heard keeps it, and the
// next ticket fetched starts without one.
func TestTicketCallIsMarkedBeforeItIsMade(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIStable, []wxtoken.Kind{wxtoken.KindJSAPITicket}, nil)
	ctx := context.Background()
	first := h.get(wxtoken.KindJSAPITicket)
	stored := func() wxtoken.Credential {
		t.Helper()
		c, err := h.store.Get(ctx, appA, wxtoken.KindJSAPITicket)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := stored()
	if !c.CallAttemptAt.IsZero() {
		t.Fatalf("a fresh ticket carries a call mark: %v", c.CallAttemptAt)
	}
	// Rand 0.5: refreshed at 0.66 of its hour; handed out until then plus
	// the overlap, minus the margin.
	if want := c.RefreshAt.Add(5*time.Minute - 30*time.Second).Sub(h.clk.Now()).Truncate(time.Second); first.ExpiresIn != want {
		t.Fatalf("fresh ticket handed out for %v, want %v", first.ExpiresIn, want)
	}

	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointTicket, Kind: simulator.FaultErrCode, ErrCode: -1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(c.RefreshAt.Sub(h.clk.Now()))
	if e := h.wait(wxtoken.KindJSAPITicket); e.result != "error" {
		t.Fatalf("event %+v", e)
	}
	if got := stored(); !got.CallAttemptAt.IsZero() || got.Value != first.Value {
		t.Fatalf("after an errcode answer: mark %v, same ticket %v", got.CallAttemptAt, got.Value == first.Value)
	}

	// The retry's answer is cut short: WeChat may have issued a ticket.
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointTicket, Kind: simulator.FaultTruncated, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(2 * time.Second) // the first backoff is at most BackoffBase
	if e := h.wait(wxtoken.KindJSAPITicket); e.result != "error" {
		t.Fatalf("event %+v", e)
	}
	mark := stored().CallAttemptAt
	if mark.IsZero() || mark.After(h.clk.Now()) || h.clk.Now().Sub(mark) > 2*time.Second {
		t.Fatalf("after a call cut short: mark %v at %v", mark, h.clk.Now())
	}
	g, err := h.eng.Credential(ctx, appA, wxtoken.KindJSAPITicket)
	if err != nil || g.Value != first.Value {
		t.Fatalf("ticket after a call cut short: %v", err)
	}
	if want := mark.Add(5*time.Minute - 30*time.Second).Sub(h.clk.Now()).Truncate(time.Second); g.ExpiresIn != want {
		t.Fatalf("ticket handed out for %v after a call at %v, want %v", g.ExpiresIn, mark, want)
	}

	// The next retry fetches a new ticket, which carries no mark.
	h.clk.Advance(4 * time.Second)
	for e := h.wait(wxtoken.KindJSAPITicket); e.result != "ok"; e = h.wait(wxtoken.KindJSAPITicket) {
		h.clk.Advance(4 * time.Second)
	}
	if got := stored(); got.Value == first.Value || !got.CallAttemptAt.IsZero() {
		t.Fatalf("new ticket: same %v, mark %v", got.Value == first.Value, got.CallAttemptAt)
	}
	h.assertAlive(h.get(wxtoken.KindJSAPITicket))
}

// TestRefusedCallersRetrySoon: transient failures back off up to
// BackoffMax while the cached token is still handed out, but no more than
// RefusedBackoffMax (15 s) once callers are refused, so that the first
// retry after WeChat recovers comes within 15 s and serves them.
func TestRefusedCallersRetrySoon(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIClassic, []wxtoken.Kind{wxtoken.KindJSAPITicket}, nil)
	ctx := context.Background()
	h.get(wxtoken.KindAccessToken)
	h.get(wxtoken.KindJSAPITicket)
	if err := h.sim.Inject(simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: -1, For: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	a := h.eng.app(appA)
	// retry moves the clock to the next planned attempt of the token and
	// returns the wait it was given after that attempt failed.
	retry := func() time.Duration {
		t.Helper()
		if d := a.token.retryAtTime().Sub(h.clk.Now()); d > 0 {
			h.clk.Advance(d)
		}
		for {
			if e := h.wait(wxtoken.KindAccessToken); e.result != "error" {
				t.Fatalf("event %+v during the outage", e)
			}
			if r := a.token.retryAtTime(); r.After(h.clk.Now()) {
				return r.Sub(h.clk.Now())
			}
		}
	}
	h.clk.Advance(40*time.Minute + time.Second) // past the planned refresh at 0.66 of the hour
	if e := h.wait(wxtoken.KindAccessToken); e.result != "error" {
		t.Fatalf("event %+v", e)
	}
	// While the token is still handed out, the backoff grows past 15 s.
	longest := time.Duration(0)
	for range 6 {
		longest = max(longest, retry())
		if _, err := h.eng.Credential(ctx, appA, wxtoken.KindAccessToken); err != nil {
			t.Fatalf("the cached token was refused while it lasts: %v", err)
		}
	}
	if longest <= 15*time.Second {
		t.Fatalf("longest backoff while the token is served = %v, want BackoffMax's growth past 15s", longest)
	}
	// WeChat minted nothing, so the token is served to its own expiry,
	// minus the margin; past that, callers are refused, and retries come
	// at most 15 s apart however many failed.
	h.clk.Advance(a.token.load().ExpiresAt.Add(-30 * time.Second).Sub(h.clk.Now()))
	if _, err := h.eng.Credential(ctx, appA, wxtoken.KindAccessToken); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Fatalf("after the handout's end: %v", err)
	}
	for range 8 {
		if w := retry(); w > 15*time.Second {
			t.Fatalf("backoff %v while callers are refused, want at most 15s", w)
		}
	}
	// WeChat recovers: the next retry, within 15 s, serves the token and,
	// with it, the ticket, whose own backoff it ends.
	h.sim.ClearFaults()
	h.clk.Advance(a.token.retryAtTime().Sub(h.clk.Now()))
	if e := h.wait(wxtoken.KindAccessToken); e.result != "ok" {
		t.Fatalf("event %+v after recovery", e)
	}
	// Read without get, which drops the events so far: the ticket's
	// refresh may already have been told.
	g, err := h.eng.Credential(ctx, appA, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	h.assertAlive(g)
	for e := h.wait(wxtoken.KindJSAPITicket); e.result != "ok"; e = h.wait(wxtoken.KindJSAPITicket) {
	}
	h.assertAlive(h.get(wxtoken.KindJSAPITicket))
}

// TestRestartForgetsOnlyItsOwnBackoff: on a store shared with other
// replicas, the transient failure read at Start is not waited for, even
// when the store tells of it again; one written since, by any replica, is.
func TestRestartForgetsOnlyItsOwnBackoff(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIStable, nil, nil)
	now := h.clk.Now()
	stored := wxtoken.Ledger{AppID: appA, TokenFailure: &wxtoken.Failure{Count: 7, RetryAt: now.Add(2 * time.Minute),
		Error: wxtoken.ErrorInfo{ErrCode: -1, Class: "transient", Message: "system busy", Hint: "retrying", At: now}}}
	a := h.eng.app(appA)
	h.eng.setLedger(a, h.eng.forgetBackoff(a, stored))
	if r := a.token.retryAtTime(); !r.IsZero() {
		t.Fatalf("retry at %v after Start, want none", r)
	}
	if le := a.token.lastError(); le == nil || le.ErrCode != -1 {
		t.Fatalf("last error after Start: %+v, want the stored one for status", le)
	}
	// The same failure, as a watch's first pass tells it, its times moved
	// by a new measure of the offset to the store's clock.
	again := stored
	g := *stored.TokenFailure
	g.RetryAt, g.Error.At = g.RetryAt.Add(3*time.Millisecond), g.Error.At.Add(3*time.Millisecond)
	again.TokenFailure = &g
	h.eng.setLedger(a, again)
	if r := a.token.retryAtTime(); !r.IsZero() {
		t.Fatalf("retry at %v after the store told of the forgotten failure, want none", r)
	}
	later := stored
	f := *stored.TokenFailure
	f.Count, f.RetryAt = 8, now.Add(90*time.Second)
	later.TokenFailure = &f
	h.eng.setLedger(a, later) // another replica failed since
	if r := a.token.retryAtTime(); !r.Equal(f.RetryAt) {
		t.Fatalf("retry at %v after another replica's failure, want %v", r, f.RetryAt)
	}
	// Waits of the error policy other than a backoff are kept at Start.
	quota := wxtoken.Ledger{AppID: appA, TokenFailure: &wxtoken.Failure{Count: 1, RetryAt: now.Add(time.Hour), Blocked: true,
		Error: wxtoken.ErrorInfo{ErrCode: 45009, Class: "daily_quota", At: now}}}
	h.eng.setLedger(a, h.eng.forgetBackoff(a, quota))
	if r := a.token.retryAtTime(); !r.Equal(now.Add(time.Hour)) {
		t.Fatalf("retry at %v after Start with a quota failure, want %v", r, now.Add(time.Hour))
	}
}
