package e2e_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestClusterTicketsNeverDead: three replicas on one Redis, one of them
// with a clock a minute ahead, asked for both tickets through two
// lifetimes where WeChat ends a replaced ticket an overlap after the next
// ticket call. Whichever replica holds a ticket's lease, none hands a
// ticket out for longer than it lives: the others learn of every ticket
// call from the store before it is made.
func TestClusterTicketsNeverDead(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	// A ticket is refreshed at about two thirds of its life: with these, a
	// replaced one ends more than a second before its own expiry. The
	// overlap leaves a ticket due for refresh two seconds of handout
	// (overlap - margin), so that a replica that has not yet heard of its
	// refresh through Redis still serves it on two loaded cores.
	const (
		ttl     = 12 * time.Second
		overlap = 2500 * time.Millisecond
	)
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			const appID = "wxcltickets"
			e := newClusterEnv(t, setup{
				apps: []appSpec{{id: appID, api: api, tickets: []string{"jsapi", "wx_card"}}},
				ttl:  ttl, overlap: overlap, oldTicket: simulator.OldTicketEndsAfterOverlap,
			}, redisAddr)
			replicas := []*instance{e.replica("r1", nil), e.replica("r2", skewedClock{time.Minute}), e.replica("r3", nil)}
			started := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*ttl)
			defer cancel()
			rec := &handedOut{creds: map[string]*promise{}}
			var (
				fails failures
				wg    sync.WaitGroup
			)
			for i, in := range replicas {
				for _, typ := range []string{"jsapi", "wx_card"} {
					for c := range 3 {
						wg.Go(func() {
							tick := time.NewTicker(time.Duration(40+10*c+i) * time.Millisecond)
							defer tick.Stop()
							for {
								a, err := e.requestAt(in.base, http.MethodGet, "/v1/apps/"+appID+"/tickets/"+typ, e.key, "")
								if err != nil {
									if ctx.Err() == nil {
										fails.add("r%d: %v", i+1, err)
									}
								} else if g, err := parseGrantSkewed(a, appID, typ, in.skew); err != nil {
									fails.add("r%d: %s: %v", i+1, typ, err)
								} else {
									rec.add(typ, g)
								}
								select {
								case <-ctx.Done():
									return
								case <-tick.C:
								}
							}
						})
					}
				}
			}
			var checks int
			wg.Go(func() { checks = e.watchdog(ctx, rec, fails.add) })
			wg.Wait()
			fails.report(t)
			t.Logf("%s: %d checks, %d jsapi and %d wx_card tickets from 3 replicas in %v; %d getticket calls",
				api, checks, rec.distinct("jsapi"), rec.distinct("wx_card"), time.Since(started).Round(time.Millisecond),
				e.sim.Calls(simulator.EndpointTicket, appID))
			for _, typ := range []string{"jsapi", "wx_card"} {
				if n := rec.distinct(typ); n < 2 {
					t.Errorf("%d %s tickets handed out in two lifetimes, want at least 2", n, typ)
				}
			}
		})
	}
}
