package e2e_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestLateClassicMintSolo: a single server's classic refresh times out;
// WeChat carries the call out a second later all the same, after the
// retry's token was fetched, and kills that token an overlap later. The
// server, checking the token since its earliest possible death because a
// call was abandoned, finds it dead and replaces it within a second; no
// answer promises it beyond its death by more than the check interval plus
// the least expires_in, and every other token lives through its promises.
func TestLateClassicMintSolo(t *testing.T) {
	integration.Skip(t)
	const (
		appID   = "wxlatesolo"
		ttl     = 16 * time.Second
		overlap = 4 * time.Second
		timeout = 2 * time.Second // upstream.timeout
		lateBy  = timeout + 1250*time.Millisecond
		every   = overlap / 8
		slack   = 250 * time.Millisecond
	)
	e := newEnv(t, setup{apps: []appSpec{{id: appID, api: "classic"}}, ttl: ttl, overlap: overlap, early: 0.5, timeout: timeout})
	in := e.start()
	get := func() (served, error) {
		a, err := e.requestAt(in.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
		if err != nil {
			return served{}, err
		}
		g, err := parseGrant(a, appID, "")
		if err != nil {
			return served{}, err
		}
		return served{value: g.value, sent: a.sent, received: a.received, deadline: g.deadline, expiresIn: g.expiresIn}, nil
	}
	first, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, AppID: appID,
		Kind: simulator.FaultLate, Delay: lateBy, Count: 1}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		log   servedLog
		fails failures
		wg    sync.WaitGroup
		rec   = &handedOut{creds: map[string]*promise{}}
		death = &deathWatch{}
	)
	for range 2 {
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				s, err := get()
				if err != nil {
					fails.add("%v", err)
				} else {
					log.add(s)
					death.mu.Lock()
					victim := death.value
					death.mu.Unlock()
					if s.value != victim {
						rec.add("access_token", grant{value: s.value, expiresIn: s.expiresIn, deadline: s.deadline})
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Go(func() { e.watchdog(ctx, rec, fails.add) })
	wg.Go(func() { death.watch(ctx, e.sim) })

	// The planned refresh times out; the retry fetches a second token.
	var second served
	waitFor(t, ttl, "the retry after the timed-out refresh", func() bool {
		s, err := get()
		if err == nil && s.value != first.value {
			second = s
			return true
		}
		return false
	})
	death.mu.Lock()
	death.value = second.value
	death.mu.Unlock()
	if n := e.sim.Calls(simulator.EndpointToken, appID); n != 3 {
		t.Fatalf("%d token calls, want 3: the first fetch, the call that timed out, the retry", n)
	}
	// The timed-out call lands; the second token dies an overlap later.
	waitFor(t, lateBy+overlap+5*time.Second, "the second token to die at WeChat", func() bool {
		_, dead := death.times()
		return !dead.IsZero()
	})
	lastAlive, dead := death.times()
	var third served
	waitFor(t, 5*time.Second, "a token that replaced the second", func() bool {
		s, err := get()
		if err == nil && s.value != second.value && s.value != first.value {
			third = s
			return true
		}
		return false
	})
	// Polled on for a while, so that the watchdog checks the third token:
	// 40 answers, a second of the two pollers (whose answers name no
	// replica).
	log.waitServed(t, 40, "the pollers to serve on", "")
	cancel()
	wg.Wait()
	fails.report(t)

	var lastServed time.Time
	overshoot, n := time.Duration(0), 0
	for _, s := range log.snapshot() {
		if s.value != second.value {
			continue
		}
		n++
		if s.received.After(lastServed) {
			lastServed = s.received
		}
		overshoot = max(overshoot, s.deadline.Sub(lastAlive))
	}
	t.Logf("the second token died between %s and %s; served %d times, last %v after it was last seen alive; the longest promise ended %v after; the third token was served %v after the death",
		lastAlive.Format("15:04:05.000"), dead.Format("15:04:05.000"), n, lastServed.Sub(lastAlive).Round(time.Millisecond),
		overshoot.Round(time.Millisecond), third.received.Sub(lastAlive).Round(time.Millisecond))
	if d := lastServed.Sub(dead); d > time.Second {
		t.Errorf("the dead token was served %v after its death, want within 1s", d.Round(time.Millisecond))
	}
	if d := third.received.Sub(dead); d > time.Second {
		t.Errorf("the token replacing the dead one was served %v after the death, want within 1s", d.Round(time.Millisecond))
	}
	if limit := every + time.Second + slack; overshoot > limit {
		t.Errorf("the dead token was promised until %v after its death, want at most %v (the check interval plus the least expires_in)",
			overshoot.Round(time.Millisecond), limit)
	}
	if n := e.sim.Calls(simulator.EndpointToken, appID); n != 4 {
		t.Errorf("%d token calls, want 4: the first fetch, the call that timed out, the retry, the replacement", n)
	}
}
