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
	"github.com/wxtoken/wxtoken/internal/redistest"
)

// TestClusterRefreshesOnce: three replicas on one Redis, each asked by
// 100 clients through three token lifetimes, make the upstream calls of
// one server, never hand out a dead token, and all serve a new token
// within a second of its refresh. Two of the replicas' clocks are off by a
// minute, one ahead and one behind.
func TestClusterRefreshesOnce(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	const (
		ttl     = 6 * time.Second
		overlap = 2 * time.Second
		early   = 0.66
		jitter  = 0.1
		clients = 100 // per replica
	)
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			const appID = "wxcluster"
			// The 300 clients and the race detector load the machine:
			// a lease of leaseTTL (1 s) then runs out under a holder
			// whose renewal waits that long for a CPU, which is fenced
			// as it should be but is not what this test is about. A
			// lease of 3 s, still half a token's life, outlasts such
			// waits.
			e := newClusterEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: ttl, overlap: overlap, lease: 3 * time.Second}, redisAddr)
			names := []string{"r1", "r2", "r3"}
			replicas := map[string]*instance{
				"r1": e.replica("r1", nil),
				"r2": e.replica("r2", skewedClock{time.Minute}),
				"r3": e.replica("r3", skewedClock{-time.Minute}),
			}
			started := time.Now()
			run := 3 * ttl
			ctx, cancel := context.WithTimeout(context.Background(), run)
			defer cancel()
			rec := &handedOut{creds: map[string]*promise{}}
			seen := newSightings()
			var (
				fails failures
				wg    sync.WaitGroup
				mu    sync.Mutex
				polls int
			)
			for _, name := range names {
				for c := range clients {
					wg.Go(func() {
						n := e.poll(ctx, replicas[name], name, appID, time.Duration(250+c)*time.Millisecond, rec, nil, fails.add)
						mu.Lock()
						polls += n
						mu.Unlock()
					})
				}
				// One fast client per replica times the arrival of new
				// tokens.
				wg.Go(func() { e.poll(ctx, replicas[name], name, appID, 25*time.Millisecond, rec, seen, fails.add) })
			}
			var checks int
			wg.Go(func() { checks = e.watchdog(ctx, rec, fails.add) })
			wg.Wait()
			elapsed := time.Since(started)
			fails.report(t)
			t.Logf("%s: %d answers from 3 replicas, %d checks, %d tokens in %v",
				api, polls, checks, rec.distinct("access_token"), elapsed.Round(time.Millisecond))

			// One server's schedule: the first fetch, then one call per
			// token life, which WeChat ends for a stable token with a new
			// one in the last overlap, and wxtoken for a classic one at
			// about two thirds.
			calls := e.sim.Calls(tokenEndpoint(api), appID)
			period := ttl - overlap
			if api == "classic" {
				period = time.Duration((early - jitter/2) * float64(ttl))
			}
			bound := 1 + int(math.Floor(float64(elapsed)/float64(period)))
			if calls > bound {
				t.Errorf("%d upstream token calls from 3 replicas in %v, want at most %d: those of one server", calls, elapsed.Round(time.Millisecond), bound)
			} else {
				t.Logf("%d upstream token calls from 3 replicas in %v (one server's schedule: at most %d)", calls, elapsed.Round(time.Millisecond), bound)
			}
			if n := rec.distinct("access_token"); n < 3 {
				t.Errorf("%d tokens handed out in three lifetimes, want at least 3", n)
			}
			seen.check(t, names, time.Second, started.Add(run-1500*time.Millisecond))

			// Status names the replica, and when it last heard of the
			// credential.
			for _, name := range names {
				st := e.status(t, replicas[name].base)
				if st.Replica != name || len(st.Apps) != 1 || len(st.Apps[0].Credentials) != 1 {
					t.Fatalf("GET /v1/apps of %s: %+v", name, st)
				}
				if h := st.Apps[0].Credentials[0].HeardAt; h == nil || time.Since(*h) > 5*time.Second+time.Minute {
					t.Errorf("%s: heard_at = %v, want a recent time", name, h)
				}
			}
		})
	}
}

// TestClusterReportsCoalesce: 100 reports of a dead token spread over
// three replicas cause one upstream call, and all get the same new token.
func TestClusterReportsCoalesce(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	for _, api := range []string{"classic", "stable"} {
		t.Run(api, func(t *testing.T) {
			const appID = "wxclreport"
			e := newClusterEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: time.Minute, overlap: 5 * time.Second}, redisAddr)
			bases := []string{e.replica("r1", nil).base, e.replica("r2", nil).base, e.replica("r3", nil).base}
			old := e.token(t, appID).value
			waitFor(t, 5*time.Second, "every replica to hold the token", func() bool {
				for _, b := range bases {
					a, err := e.requestAt(b, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
					if g, perr := parseGrant(a, appID, ""); err != nil || perr != nil || g.value != old {
						return false
					}
				}
				return true
			})
			if _, err := e.sim.Rotate(appID, api); err != nil {
				t.Fatal(err)
			}
			endpoint := tokenEndpoint(api)
			before := e.sim.Calls(endpoint, appID)
			const n = 100
			body := fmt.Sprintf(`{"stale":%q}`, old)
			// Report i goes to replica i%3.
			values := e.tokensAtOnce(t, appID, n, func(i int) (string, string, string, string) {
				return bases[i%3], http.MethodPost, "/v1/apps/" + appID + "/access_token/refresh", body
			})
			for i := range values {
				if values[i] != values[0] || values[i] == old {
					t.Fatalf("report %d got another token than report 0, or the dead one", i)
				}
			}
			if st := e.sim.Check(values[0]); !st.Valid {
				t.Fatalf("the token answered to the reports is not valid: %+v", st)
			}
			if got := e.sim.Calls(endpoint, appID) - before; got != 1 {
				t.Errorf("%d reports over 3 replicas caused %d upstream %s calls, want 1", n, got, endpoint)
			}
		})
	}
}

// TestClusterRedisOutage: Redis goes away for 10 s and comes back empty.
// Every replica keeps serving its token and stays ready (a replica that
// serves must not be pulled out of service), while the admin detail of
// /readyz says the store is away; afterwards the replicas write their
// credentials back, and no replica calls WeChat for any of it.
func TestClusterRedisOutage(t *testing.T) {
	integration.Skip(t)
	rs := redistest.StartServer(t)
	const appID = "wxoutage"
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			e := newClusterEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: time.Minute, overlap: 10 * time.Second}, rs.Addr)
			replicas := []*instance{e.replica("r1", nil), e.replica("r2", nil), e.replica("r3", nil)}
			tok := e.token(t, appID).value
			endpoint := tokenEndpoint(api)
			calls := e.sim.Calls(endpoint, appID)

			ctx, cancel := context.WithCancel(context.Background())
			rec := &handedOut{creds: map[string]*promise{}}
			var (
				fails failures
				wg    sync.WaitGroup
			)
			for i, in := range replicas {
				wg.Go(func() { e.poll(ctx, in, fmt.Sprintf("r%d", i+1), appID, 50*time.Millisecond, rec, nil, fails.add) })
			}
			wg.Go(func() { e.watchdog(ctx, rec, fails.add) })

			rs.Stop()
			down := time.Now()
			for _, in := range replicas {
				waitFor(t, 5*time.Second, "the readiness detail to report the outage", func() bool {
					_, d := e.readyz(t, in.base)
					return d.Store != nil && !d.Store.Reachable && d.Store.Error != ""
				})
			}
			for time.Since(down) < 10*time.Second {
				// The outage lasts 10 s; the pollers and the watchdog work
				// meanwhile, and every replica stays ready.
				for i, in := range replicas {
					if status, d := e.readyz(t, in.base); status != http.StatusOK {
						t.Fatalf("r%d: /readyz HTTP %d while it serves the token: %+v", i+1, status, d)
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			rs.Start()
			for _, in := range replicas {
				waitFor(t, 10*time.Second, "the readiness detail to report the store back", func() bool {
					status, d := e.readyz(t, in.base)
					return status == http.StatusOK && d.Store != nil && d.Store.Reachable
				})
			}
			cancel()
			wg.Wait()
			fails.report(t)
			if got := e.sim.Calls(endpoint, appID) - calls; got != 0 {
				t.Errorf("%d upstream token calls during and after the outage, want 0", got)
			}
			if n := rec.distinct("access_token"); n != 1 {
				t.Errorf("%d tokens handed out, want the one from before the outage", n)
			}
			// The token is back in Redis: a new replica starts without
			// calling WeChat.
			r4 := e.replica("r4", nil)
			a, err := e.requestAt(r4.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
			if g, perr := parseGrant(a, appID, ""); err != nil || perr != nil || g.value != tok {
				t.Fatalf("a replica started after the outage: %v %v %s", err, perr, a)
			}
			if got := e.sim.Calls(endpoint, appID) - calls; got != 0 {
				t.Errorf("the replica started after the outage called WeChat %d times", got)
			}
		})
	}
}
