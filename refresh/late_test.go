package refresh

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// probeRecorder is the harness's recorder that also hands every probe to
// the test, with WeChat's errcode (0 when the token was accepted).
type probeRecorder struct {
	recorder
	probes chan int
}

func (r probeRecorder) UpstreamCall(_, endpoint string, errcode int, _ string, _ time.Duration) {
	if endpoint == wechat.PathProbe {
		r.probes <- errcode
	}
}

// landLate makes a classic token call for app A at the simulator, as a
// call that an engine gave up on would when WeChat carries it out late.
func (h *harness) landLate() {
	h.t.Helper()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}}
	resp, err := http.Get(h.url + "/cgi-bin/token?" + q.Encode())
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
}

// probed waits for the next probe and for the engine to have recorded it.
func (h *harness) probed(probes chan int) int {
	h.t.Helper()
	at := h.clk.Now()
	var code int
	select {
	case code = <-probes:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no probe at %s", at.Format("15:04:05"))
	}
	s := h.eng.app(appA).token
	guard := time.Now().Add(10 * time.Second)
	for st := s.late.Load(); st == nil || st.tried.Before(at); st = s.late.Load() {
		if time.Now().After(guard) {
			h.t.Fatalf("the probe's result was not recorded: %+v, at %v", s.late.Load(), at)
		}
		runtime.Gosched()
	}
	return code
}

// TestLateMintAfterAbandonedCallIsCaught: a solo engine whose classic
// refresh got no answer fetches again; the abandoned call then lands at
// WeChat after all and replaces the new token, which dies an overlap
// later. The engine probes the token every second from its earliest
// possible death, hands it out meanwhile only until the next probe, and
// replaces it at the first probe after its death. A token fetched with no
// call abandoned is never probed.
func TestLateMintAfterAbandonedCallIsCaught(t *testing.T) {
	probes := make(chan int, 1024)
	h := newHarness(t, wxtoken.TokenAPIClassic, nil, func(o *Options) {
		o.Observer = probeRecorder{o.Observer.(recorder), probes}
		o.BackoffBase, o.BackoffMax = time.Second, 10*time.Second
	})
	const (
		overlap = 5 * time.Minute
		every   = time.Second // min(1s, overlap/8)
	)
	first := h.get(wxtoken.KindAccessToken)
	if first.ExpiresIn < 40*time.Minute {
		t.Fatalf("with no call abandoned, the token is handed out for %v only", first.ExpiresIn)
	}

	// The planned refresh reaches WeChat, which drops the connection.
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Kind: simulator.FaultDrop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(41 * time.Minute)
	if e := h.wait(wxtoken.KindAccessToken); e.result != "error" {
		t.Fatalf("event %+v, want the dropped refresh", e)
	}
	abandoned := h.eng.app(appA).ledger.AbandonedMintAt
	if abandoned.IsZero() {
		t.Fatal("the unanswered call is not recorded as abandoned")
	}
	if m, err := h.store.GetLedger(context.Background(), appA); err != nil || !m.AbandonedMintAt.Equal(abandoned) {
		t.Fatalf("stored bookkeeping %+v, %v: the abandoned call is not persisted", m, err)
	}
	// The retry fetches the second token.
	h.clk.Advance(10 * time.Second)
	if e := h.wait(wxtoken.KindAccessToken); e.result != "ok" {
		t.Fatalf("event %+v, want the retry", e)
	}
	second := h.get(wxtoken.KindAccessToken)
	fetched := h.eng.app(appA).token.load().FetchedAt
	if second.Value == first.Value {
		t.Fatal("no new token")
	}
	// Handed out only until the first check after its earliest death.
	if max := fetched.Add(overlap + every).Sub(h.clk.Now()); second.ExpiresIn > max {
		t.Fatalf("the token fetched after an abandoned call is handed out for %v, want at most %v", second.ExpiresIn, max)
	}

	// The abandoned call lands now, 20 s after the second token was minted.
	h.clk.Advance(20 * time.Second)
	h.landLate()
	death := h.clk.Now().Add(overlap)

	// No probe is due before the token's earliest death: up to then it is
	// handed out as planned above. From then on, one probe a second.
	h.clk.Advance(fetched.Add(overlap).Sub(h.clk.Now()))
	var replaced bool
	for i := 0; !replaced; i++ {
		if i > 60 {
			t.Fatal("the dead token was never replaced")
		}
		h.clk.Advance(every)
		code := h.probed(probes)
		now := h.clk.Now()
		switch {
		case code == 0:
			if !now.Before(death) {
				t.Fatalf("the probe at %v accepted a token dead since %v", now, death)
			}
			g := h.get(wxtoken.KindAccessToken)
			if g.Value != second.Value || g.ExpiresIn != time.Second {
				t.Fatalf("between checks: %v for %v, want the checked token for 1s", g.Value == second.Value, g.ExpiresIn)
			}
		default:
			if now.Sub(death) > every {
				t.Fatalf("the death at %v was found at %v, more than %v later", death, now, every)
			}
			if e := h.wait(wxtoken.KindAccessToken); e.reason != wxtoken.ReasonLateMint || e.result != "ok" {
				t.Fatalf("event %+v, want a refresh for the late mint", e)
			}
			replaced = true
		}
	}
	third := h.get(wxtoken.KindAccessToken)
	if third.Value == second.Value {
		t.Fatal("the dead token is still handed out")
	}
	h.assertAlive(third)
	// The third token was minted after the abandoned call could land
	// (it was sent more than LateBound ago): no more checks, and a
	// handout as planned.
	if end := abandoned.Add(h.eng.opts.LateBound + overlap); h.eng.app(appA).token.load().FetchedAt.Add(overlap).Before(end) {
		t.Fatalf("test setup: the third token is still exposed to the abandoned call")
	}
	if third.ExpiresIn < 40*time.Minute {
		t.Fatalf("the third token is handed out for %v, want the planned handout", third.ExpiresIn)
	}
	h.clk.Advance(overlap + time.Minute)
	before := h.calls(simulator.EndpointProbe)
	h.get(wxtoken.KindAccessToken)
	select {
	case <-probes:
		t.Fatal("a token fetched with no call abandoned was probed")
	default:
	}
	if n := h.calls(simulator.EndpointProbe); n != before {
		t.Fatalf("%d probes of a token with no call abandoned", n-before)
	}
}

// TestLateAnswerAfterTakeover: a replica's classic refresh is answered
// after its lease was lost and another replica stored a newer token, which
// the answered call may have killed. When the checks against late calls
// cover that death (the other replica recorded the call as abandoned, and
// it came back within the late bound), the replica leaves it to them;
// when they do not (it came back later than the late bound), it replaces
// the stored token at once.
func TestLateAnswerAfterTakeover(t *testing.T) {
	for _, tt := range []struct {
		name    string
		after   time.Duration // how long the answer takes, on the engine's clock
		replace bool
	}{
		{"within the late bound: left to the checks", 10 * time.Second, false},
		{"past the late bound: replaced at once", 4 * time.Minute, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var coord *memory.Replica
			var logs logbuf.Buffer
			h := newHarness(t, wxtoken.TokenAPIClassic, nil, func(o *Options) {
				coord = newShared(o).Replica("r1", nil)
				o.Store, o.Coordinator = coord, coord
				// Short enough that the lease runs out within the two
				// seconds the other replica takes below.
				o.LeaseTTL = 2 * time.Second
				o.LateBound = 3 * time.Minute
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(logs.String())
				}
			})
			ctx := context.Background()
			first := h.get(wxtoken.KindAccessToken)
			s := h.eng.app(appA).token

			// The planned refresh reaches WeChat, which is slow to answer:
			// slower (in real time) than the test takes to do what another
			// replica does meanwhile and to move the clock on.
			if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Kind: simulator.FaultSlow, Delay: 1500 * time.Millisecond, Count: 1}); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(41 * time.Minute)
			guard := time.Now().Add(10 * time.Second)
			for h.calls(simulator.EndpointToken) < 2 {
				if time.Now().After(guard) {
					t.Fatal("the planned refresh never reached WeChat")
				}
				runtime.Gosched()
			}
			sent := h.eng.app(appA).ledger.LastMintAt

			// Meanwhile its lease runs out; another replica records the
			// call as abandoned, mints and stores a newer token.
			m, err := coord.GetLedger(ctx, appA)
			if err != nil || !m.LastMintAt.Equal(sent) {
				t.Fatalf("stored bookkeeping %+v, %v: the call is not recorded", m, err)
			}
			m.AbandonedMintAt, m.LastMintAt, m.LastMintBy, m.MintAttemptAt = m.LastMintAt, time.Time{}, "", time.Time{}
			if err := coord.PutLedger(ctx, m); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(2 * time.Second)
			other, err := wechatClient(t, h.url).Token(ctx, appA, secretA)
			if err != nil {
				t.Fatal(err)
			}
			now := h.clk.Now()
			stored := wxtoken.Credential{AppID: appA, Kind: wxtoken.KindAccessToken, API: wxtoken.TokenAPIClassic,
				Value: other.Value, FetchedAt: now, ExpiresAt: now.Add(other.ExpiresIn), RefreshAt: now.Add(40 * time.Minute),
				Version: s.load().Version + 1}
			if err := coord.Put(ctx, stored); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(tt.after - 2*time.Second)

			// The slow answer comes back; its write is refused.
			if e := h.wait(wxtoken.KindAccessToken); e.result != "error" {
				t.Fatalf("event %+v, want the refused write", e)
			}
			if got := s.load(); got.Value == first.Value || !tt.replace && got.Value != stored.Value {
				t.Fatalf("serving the first token: %t, want the stored token", got.Value == first.Value)
			}
			if doomed := s.doomed.Load() == stored.Version; doomed != tt.replace {
				t.Fatalf("stored token marked for replacement: %t, want %t", doomed, tt.replace)
			}
			if !tt.replace {
				if n := h.calls(simulator.EndpointToken); n != 3 {
					t.Fatalf("%d token calls, want 3", n)
				}
				return
			}
			if e := h.wait(wxtoken.KindAccessToken); e.reason != wxtoken.ReasonLateMint || e.result != "ok" {
				t.Fatalf("event %+v, want the stored token replaced", e)
			}
			if got := h.get(wxtoken.KindAccessToken); got.Value == stored.Value || got.Value == first.Value {
				t.Fatal("the token the late call may have killed is still served")
			}
		})
	}
}

func wechatClient(t *testing.T, base string) *wechat.Client {
	t.Helper()
	c, err := wechat.New(wechat.Options{BaseURL: base, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
