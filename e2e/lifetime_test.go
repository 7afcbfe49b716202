package e2e_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// handedOut records every credential the server handed out, with the end
// of the longest promise made for it.
type handedOut struct {
	mu    sync.Mutex
	creds map[string]*promise
}

type promise struct {
	kind     string // "access_token", "jsapi" or "wx_card"
	deadline time.Time
	count    int
}

func (h *handedOut) add(kind string, g grant) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.creds[g.value]
	if p == nil {
		p = &promise{kind: kind}
		h.creds[g.value] = p
	}
	p.count++
	if g.deadline.After(p.deadline) {
		p.deadline = g.deadline
	}
}

// live returns the values whose promise has not ended at now.
func (h *handedOut) live(now time.Time) map[string]promise {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]promise{}
	for v, p := range h.creds {
		if p.deadline.After(now) {
			out[v] = *p
		}
	}
	return out
}

// watchdog checks every 20 ms, until ctx ends, that every credential whose
// promise still runs is alive at the simulator, and returns how many
// checks it made. A credential is reported only when the simulator said
// "dead" and the promise still ran after the simulator had answered, so a
// slow check cannot blame the server.
func (e *env) watchdog(ctx context.Context, rec *handedOut, fail func(format string, args ...any)) int {
	checks := 0
	reported := map[string]bool{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for v, p := range rec.live(time.Now()) {
			st := e.sim.Check(v)
			checked := time.Now()
			checks++
			if !st.Valid && checked.Before(p.deadline) && !reported[v] {
				reported[v] = true
				fail("%s handed out %d times with a promise until %s is dead at the simulator (%s) %v before the end of the promise",
					p.kind, p.count, p.deadline.Format("15:04:05.000"), st.Reason, p.deadline.Sub(checked).Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return checks
		case <-tick.C:
		}
	}
}

func (h *handedOut) distinct(kind string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.creds {
		if p.kind == kind {
			n++
		}
	}
	return n
}

// TestNoDeadCredentialIsHandedOut: clients polling through two full token
// lifetimes never hold an access_token, jsapi or wx_card ticket that the
// simulator reports dead while its expires_in still runs, and the server
// calls WeChat only as often as its schedule says. Both token APIs, and
// both behaviours of a replaced ticket: ending an overlap after the next
// ticket call, as a classic token does, or living on to its own expiry.
func TestNoDeadCredentialIsHandedOut(t *testing.T) {
	integration.Skip(t)
	const (
		ttl     = 8 * time.Second
		overlap = 2 * time.Second
		early   = 0.66 // the default refresh.early
		jitter  = 0.1  // the default refresh.jitter
		pollers = 8
	)
	for _, c := range []struct{ api, oldTicket string }{
		{"stable", simulator.OldTicketEndsAfterOverlap}, {"classic", simulator.OldTicketEndsAfterOverlap},
		{"stable", simulator.OldTicketLivesOn}, {"classic", simulator.OldTicketLivesOn},
	} {
		api := c.api
		t.Run(api+"/old_ticket_"+c.oldTicket, func(t *testing.T) {
			t.Parallel()
			const appID = "wxlive"
			e := newEnv(t, setup{
				apps: []appSpec{{id: appID, api: api, tickets: []string{"jsapi", "wx_card"}}},
				ttl:  ttl, overlap: overlap, oldTicket: c.oldTicket,
			})
			started := time.Now()
			e.start()
			e.token(t, appID)

			rec := &handedOut{creds: map[string]*promise{}}
			ctx, cancel := context.WithTimeout(context.Background(), 2*ttl+time.Second)
			defer cancel()
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				failures []string
				polls    int
			)
			fail := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(failures) < 20 {
					failures = append(failures, fmt.Sprintf(format, args...))
				}
			}
			for p := range pollers {
				wg.Go(func() {
					tick := time.NewTicker(time.Duration(45+p*2) * time.Millisecond)
					defer tick.Stop()
					for {
						for _, r := range []struct{ path, kind, typ string }{
							{"/v1/apps/" + appID + "/access_token", "access_token", ""},
							{"/v1/apps/" + appID + "/tickets/jsapi", "jsapi", "jsapi"},
							{"/v1/apps/" + appID + "/tickets/wx_card", "wx_card", "wx_card"},
						} {
							a, err := e.request(http.MethodGet, r.path, e.key, "")
							if err != nil {
								fail("poller %d: %v", p, err)
								continue
							}
							g, err := parseGrant(a, appID, r.typ)
							if err != nil {
								fail("poller %d: %s: %v", p, r.kind, err)
								continue
							}
							rec.add(r.kind, g)
							mu.Lock()
							polls++
							mu.Unlock()
						}
						select {
						case <-ctx.Done():
							return
						case <-tick.C:
						}
					}
				})
			}
			var checks int
			wg.Go(func() { checks = e.watchdog(ctx, rec, fail) })
			wg.Wait()
			elapsed := time.Since(started)
			for _, f := range failures {
				t.Error(f)
			}
			t.Logf("%s, old ticket %s: %d answers, %d checks, %d tokens, %d jsapi and %d wx_card tickets handed out in %v",
				api, c.oldTicket, polls, checks, rec.distinct("access_token"), rec.distinct("jsapi"), rec.distinct("wx_card"),
				elapsed.Round(time.Millisecond))

			// Two lifetimes hold at least two refreshes.
			if n := rec.distinct("access_token"); n < 3 {
				t.Errorf("%d distinct access_tokens handed out in %v, want at least 3 (two refreshes)", n, elapsed)
			}
			for _, kind := range []string{"jsapi", "wx_card"} {
				if n := rec.distinct(kind); n < 2 {
					t.Errorf("%d distinct %s tickets handed out in %v, want at least 2", n, kind, elapsed)
				}
			}

			// The schedule: a stable token is replaced no sooner than in
			// the last overlap of its life, a classic one at about
			// early×life minus half the jitter. Each planned refresh may
			// take one extra call (a stable token WeChat has not replaced
			// yet), and the first fetch is one more.
			period := ttl - overlap
			if api == "classic" {
				period = time.Duration((early - jitter/2) * float64(ttl))
			}
			planned := int(math.Floor(float64(elapsed) / float64(period)))
			bound := 1 + planned + 2
			if got := e.sim.Calls(tokenEndpoint(api), appID); got > bound {
				t.Errorf("%d upstream token calls in %v, want at most %d (first fetch, %d planned refreshes every %v or more, 2 spare)",
					got, elapsed.Round(time.Millisecond), bound, planned, period)
			} else {
				t.Logf("%d upstream token calls (bound %d)", got, bound)
			}
		})
	}
}
