package refresh

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/fakeclock"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// newShared returns a store shared by replicas in this process, on the
// fake clock of o: its leases run out, and its watches confirm, as the
// test moves that clock.
func newShared(o *Options) *memory.Shared {
	clk := o.Clock
	return memory.NewShared(memory.SharedOptions{
		Now:   clk.Now,
		After: func(d time.Duration) <-chan time.Time { return clk.NewTimer(d).C() },
	})
}

// fleet is replicas of app A sharing one memory store, one simulator and
// one fake clock.
type fleet struct {
	t      *testing.T
	clk    *fakeclock.Clock
	sim    *simulator.Simulator
	url    string
	shared *memory.Shared
	api    wxtoken.TokenAPI
}

// replica is one engine of a fleet.
type replica struct {
	eng   *Engine
	coord *memory.Replica
	ev    chan event
	logs  *logbuf.Buffer
}

func newFleet(t *testing.T, api wxtoken.TokenAPI) *fleet {
	t.Helper()
	f := &fleet{t: t, clk: fakeclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)), api: api}
	sim, err := simulator.New(simulator.Options{
		Apps: map[string]string{appA: secretA}, TTL: time.Hour, Overlap: 5 * time.Minute, Now: f.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sim = sim
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	o := Options{Clock: fakeClock{f.clk}}
	f.shared = newShared(&o)
	return f
}

// replica starts a replica named owner; Start's error is returned, the
// engine closed when the test ends.
func (f *fleet) replica(owner string, tickets []wxtoken.Kind, mod func(*Options)) (*replica, error) {
	f.t.Helper()
	up, err := wechat.New(wechat.Options{BaseURL: f.url, Timeout: 5 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	r := &replica{coord: f.shared.Replica(owner, nil), ev: make(chan event, 1024), logs: &logbuf.Buffer{}}
	o := Options{
		Apps:    []AppConfig{{AppID: appA, Secret: func() string { return secretA }, TokenAPI: f.api, Tickets: tickets}},
		Clock:   fakeClock{f.clk},
		Overlap: 5 * time.Minute, Margin: 30 * time.Second,
		MaxRate: -1, Observer: recorder{r.ev},
		Rand:     func() float64 { return 0.5 },
		Upstream: up, Store: r.coord, Coordinator: r.coord,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	r.eng, err = New(o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		r.eng.Close()
		if f.t.Failed() {
			f.t.Logf("log of %s:\n%s", owner, r.logs.String())
		}
	})
	return r, r.eng.Start(context.Background())
}

func (f *fleet) start(owner string, mod func(*Options)) *replica {
	f.t.Helper()
	r, err := f.replica(owner, nil, mod)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fleet) calls() int {
	return f.sim.Calls(simulator.EndpointToken, appA) + f.sim.Calls(simulator.EndpointStableToken, appA)
}

// eventually waits, in real time, until cond holds: what it waits for is
// done by the engines' goroutines, not by the fake clock.
func (f *fleet) eventually(what string, cond func() bool) {
	f.t.Helper()
	guard := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(guard) {
			f.t.Fatalf("never: %s", what)
		}
		runtime.Gosched()
	}
}

// sync moves the clock by the watches' sync interval, so that they report.
func (f *fleet) sync() { f.clk.Advance(100 * time.Millisecond) }

func (r *replica) token() *wxtoken.Credential { return r.eng.app(appA).token.load() }

func grantOf(t *testing.T, r *replica) wxtoken.Grant {
	t.Helper()
	g, err := r.eng.Credential(t.Context(), appA, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatalf("Credential: %v", err)
	}
	return g
}

// One replica fetches; the others wait on its lease and adopt what it
// writes, the bookkeeping included: one upstream call for the fleet,
// whichever API.
func TestClusterOneCallForTheFleet(t *testing.T) {
	for _, api := range []wxtoken.TokenAPI{wxtoken.TokenAPIStable, wxtoken.TokenAPIClassic} {
		t.Run(string(api), func(t *testing.T) {
			f := newFleet(t, api)
			if err := f.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Kind: simulator.FaultSlow, Delay: 300 * time.Millisecond, Count: 1}); err != nil {
				t.Fatal(err)
			}
			if err := f.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointStableToken, Kind: simulator.FaultSlow, Delay: 300 * time.Millisecond, Count: 1}); err != nil {
				t.Fatal(err)
			}
			// Both start on an empty store: their first fetches meet.
			r1, r2 := f.start("r1", nil), f.start("r2", nil)
			first := make(chan wxtoken.Grant, 1)
			go func() {
				g, err := r1.eng.Credential(context.Background(), appA, wxtoken.KindAccessToken)
				if err != nil {
					t.Error(err)
				}
				first <- g
			}()
			// r2 asks while a replica (r1, or r2's own start) holds the
			// lease and waits for WeChat.
			f.eventually("a replica calls WeChat", func() bool { return f.calls() == 1 })
			if h := r2.eng.Status(t.Context())[0].Credentials[0].LeaseHolder; h != "r1" && h != "r2" {
				t.Errorf("lease holder seen by r2 = %q, want the replica calling WeChat", h)
			}
			g2 := grantOf(t, r2)
			g1 := <-first
			if g1.Value != g2.Value || f.calls() != 1 {
				t.Fatalf("same token: %t, %d upstream calls; want one token from one call", g1.Value == g2.Value, f.calls())
			}
			f.eventually("r2 adopts r1's bookkeeping", func() bool {
				return r2.eng.Status(t.Context())[0].UpstreamCallsToday == 1
			})
			if r1.eng.Replica() != "r1" {
				t.Errorf("Replica() = %q", r1.eng.Replica())
			}
			st := r2.eng.Status(t.Context())[0].Credentials[0]
			if st.HeardAt == nil || st.LeaseHolder != "" || st.Version != r1.token().Version {
				t.Errorf("status of r2: %+v, want heard, no lease held and r1's version", st)
			}
			if h := r2.eng.Health(t.Context()); !h.Ready || h.Store == nil || !h.Store.Reachable {
				t.Errorf("health of r2: %+v", h)
			}
		})
	}
}

// A token a replica fetched alone while the store was away (stable only:
// a classic one waits for the lease) is written back when the store
// answers again, and the store's outage shows in Health meanwhile.
func TestClusterOutageIsReconciled(t *testing.T) {
	f := newFleet(t, wxtoken.TokenAPIStable)
	r1 := f.start("r1", nil)
	first := grantOf(t, r1)
	down := errors.New("connection refused")
	f.shared.Fail(down)
	f.sync()
	f.eventually("r1 sees the store away", func() bool {
		h := r1.eng.Health(t.Context())
		return h.Store != nil && !h.Store.Reachable && h.Store.DownSince != nil
	})
	if h := r1.eng.Health(t.Context()); !h.Ready {
		t.Errorf("not ready while it holds a token to serve: %v", h.Reasons)
	}
	// Past the planned refresh: fetched without the lease, served from
	// memory.
	f.clk.Advance(first.ExpiresIn - 3*time.Minute)
	f.eventually("r1 refreshes alone", func() bool { return r1.token().Value != first.Value })
	alone := r1.token()
	if _, err := r1.coord.Get(t.Context(), appA, wxtoken.KindAccessToken); !errors.Is(err, down) {
		t.Fatalf("store read while away: %v", err)
	}
	f.shared.Fail(nil)
	f.sync()
	f.eventually("the token fetched alone is written back", func() bool {
		c, err := r1.coord.Get(t.Context(), appA, wxtoken.KindAccessToken)
		return err == nil && c.Value == alone.Value && c.Version == alone.Version
	})
	if h := r1.eng.Health(t.Context()); !h.Store.Reachable {
		t.Errorf("health after the outage: %+v", h.Store)
	}
	// A replica started now serves it with no call of its own.
	calls := f.calls()
	r2 := f.start("r2", nil)
	if g := grantOf(t, r2); g.Value != alone.Value || f.calls() != calls {
		t.Fatalf("r2 serves r1's token: %t, after %d calls of its own", g.Value == alone.Value, f.calls()-calls)
	}
}

// A store that loses its data is written back what the replicas hold,
// credential and bookkeeping, without calling WeChat.
func TestClusterResetIsWrittenBack(t *testing.T) {
	f := newFleet(t, wxtoken.TokenAPIClassic)
	r1, err := f.replica("r1", []wxtoken.Kind{wxtoken.KindJSAPITicket}, nil)
	if err != nil {
		t.Fatal(err)
	}
	grantOf(t, r1)
	if _, err := r1.eng.Credential(t.Context(), appA, wxtoken.KindJSAPITicket); err != nil {
		t.Fatal(err)
	}
	calls := f.calls()
	f.shared.Wipe()
	f.sync()
	f.eventually("the store gets back the token, the ticket and the bookkeeping", func() bool {
		_, terr := r1.coord.Get(t.Context(), appA, wxtoken.KindAccessToken)
		_, kerr := r1.coord.Get(t.Context(), appA, wxtoken.KindJSAPITicket)
		_, merr := r1.coord.GetLedger(t.Context(), appA)
		return terr == nil && kerr == nil && merr == nil
	})
	if f.calls() != calls {
		t.Fatalf("%d upstream calls to write back", f.calls()-calls)
	}
}

// A replica that starts while the store does not answer starts all the
// same, refuses what only a lease holder may fetch, and loads the store
// once it answers.
func TestClusterStartWithoutTheStore(t *testing.T) {
	f := newFleet(t, wxtoken.TokenAPIClassic)
	r1 := f.start("r1", nil)
	stored := grantOf(t, r1)
	f.shared.Fail(errors.New("connection refused"))
	r2 := f.start("r2", nil)
	h := r2.eng.Health(t.Context())
	if h.Ready || h.Store == nil || h.Store.Loaded || h.Store.Reachable {
		t.Fatalf("health of a replica started without its store: %+v", h)
	}
	_, err := r2.eng.Credential(t.Context(), appA, wxtoken.KindAccessToken)
	var we *wxtoken.Error
	if !errors.As(err, &we) || we.Code != wxtoken.EUnavailable || !strings.Contains(we.Message, "lease") {
		t.Fatalf("a classic token without the store: %v, want it refused for want of the lease", err)
	}
	f.shared.Fail(nil)
	// The clock moves on until the retry of the load, whose timer r2
	// makes when its goroutine gets to it.
	moved := time.Now()
	f.eventually("r2 loads the store", func() bool {
		if time.Since(moved) > 5*time.Millisecond {
			moved = time.Now()
			f.clk.Advance(100 * time.Millisecond)
		}
		return r2.eng.loaded.Load()
	})
	if g := grantOf(t, r2); g.Value != stored.Value {
		t.Fatal("r2 does not serve the stored token")
	}
}

// Before a classic call, a replica waits while another replica's call
// that was never answered could still reach WeChat.
func TestClusterWaitsOutAnotherReplicasLostCall(t *testing.T) {
	f := newFleet(t, wxtoken.TokenAPIClassic)
	other := f.shared.Replica("r9", nil)
	sent := f.clk.Now()
	if err := other.PutLedger(t.Context(), wxtoken.Ledger{AppID: appA, LastMintAt: sent, LastMintBy: "r9", MintAttemptAt: sent}); err != nil {
		t.Fatal(err)
	}
	// A lease that outlives the wait, which the clock jumps over.
	r1 := f.start("r1", func(o *Options) { o.UpstreamTimeout, o.LeaseTTL = 20*time.Second, time.Minute })
	got := make(chan error, 1)
	go func() {
		_, err := r1.eng.Credential(context.Background(), appA, wxtoken.KindAccessToken)
		got <- err
	}()
	f.eventually("r1 waits", func() bool { return strings.Contains(r1.logs.String(), "never answered") })
	if f.calls() != 0 {
		t.Fatal("r1 called WeChat while r9's call could still land")
	}
	f.clk.Advance(20 * time.Second)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if f.calls() != 1 {
		t.Fatalf("%d calls", f.calls())
	}
}
