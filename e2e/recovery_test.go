package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// The backoff these tests run with: the engine's own cap, two minutes,
// so that what keeps retries close together while callers are refused is
// the cap for that case (15 s), not a compressed one.
const outageBackoffMax = 2 * time.Minute

// refused reports whether the server answers path with 503 now.
func (e *env) refused(t *testing.T, path string) bool {
	t.Helper()
	a, err := e.request(http.MethodGet, path, e.key, "")
	return err == nil && a.status == http.StatusServiceUnavailable
}

// awaitServed polls the token and ticket routes every 100 ms until both
// answer a grant WeChat accepts, and returns how long that took; it fails
// the test after limit.
func (e *env) awaitServed(t *testing.T, appID string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	routes := map[string]string{"": "/v1/apps/" + appID + "/access_token", "jsapi": "/v1/apps/" + appID + "/tickets/jsapi"}
	for typ, path := range routes {
		for {
			a, err := e.request(http.MethodGet, path, e.key, "")
			if err != nil {
				t.Fatal(err)
			}
			if a.status == http.StatusOK {
				g, err := parseGrant(a, appID, typ)
				if err != nil {
					t.Fatal(err)
				}
				if st := e.sim.Check(g.value); !st.Valid {
					t.Fatalf("%s served after the outage is dead at the simulator: %+v", routeOf(path), st)
				}
				break
			}
			if a.status != http.StatusServiceUnavailable {
				t.Fatalf("GET %s during recovery: %s", routeOf(path), a)
			}
			if time.Since(start) > limit {
				t.Fatalf("GET %s still refused %v after WeChat recovered: %s", routeOf(path), limit, a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// TestServedSoonAfterOutage: WeChat answers -1 to everything until the
// access_token and ticket have expired and callers are refused; once it
// recovers, both are served again within 20 s, though the refreshes have
// failed many times in a row.
func TestServedSoonAfterOutage(t *testing.T) {
	integration.Skip(t)
	const appID = "wxrecover"
	// A classic token refreshed at about two thirds of 16 s fails every
	// half second or so until it expires: its backoff count is high by
	// then, and without a cap of its own would wait a minute or two.
	e := newEnv(t, setup{
		apps: []appSpec{{id: appID, api: "classic", tickets: []string{"jsapi"}}},
		ttl:  16 * time.Second, overlap: 2 * time.Second,
		backoffMax: outageBackoffMax,
	})
	e.start()
	e.token(t, appID)
	e.ticket(t, appID, "jsapi")
	if err := e.sim.Inject(simulator.Fault{Kind: simulator.FaultErrCode, ErrCode: -1}); err != nil {
		t.Fatal(err)
	}
	tokenPath := "/v1/apps/" + appID + "/access_token"
	waitFor(t, 20*time.Second, "the access_token to expire during the outage", func() bool { return e.refused(t, tokenPath) })
	// WeChat recovers right after a refresh failed while callers were
	// refused: the wait that failure set is what callers now wait.
	calls := e.sim.Calls(simulator.EndpointToken, appID)
	waitFor(t, 20*time.Second, "a refresh to fail while callers are refused", func() bool {
		return e.sim.Calls(simulator.EndpointToken, appID) > calls
	})
	e.sim.ClearFaults()
	took := e.awaitServed(t, appID, 20*time.Second)
	t.Logf("access_token and jsapi ticket served again %v after WeChat recovered", took.Round(time.Millisecond))
}

// TestServedSoonAfterOutageAndRestart: connections to WeChat are dropped
// until the access_token has expired; the server is restarted during the
// outage. The restarted server does not wait out the backoff its
// predecessor stored, but calls WeChat at once, and serves the token and
// ticket within 20 s of WeChat's recovery.
func TestServedSoonAfterOutageAndRestart(t *testing.T) {
	integration.Skip(t)
	const appID = "wxrecover"
	e := newEnv(t, setup{
		apps: []appSpec{{id: appID, api: "stable", tickets: []string{"jsapi"}}},
		ttl:  6 * time.Second, overlap: 2 * time.Second,
		backoffBase: time.Second, backoffMax: outageBackoffMax,
	})
	first := e.start()
	e.token(t, appID)
	e.ticket(t, appID, "jsapi")
	if err := e.sim.Inject(simulator.Fault{Kind: simulator.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	tokenPath := "/v1/apps/" + appID + "/access_token"
	waitFor(t, 15*time.Second, "the access_token to expire during the outage", func() bool { return e.refused(t, tokenPath) })
	// Until the server has stored a failure whose retry is seconds away.
	waitFor(t, 20*time.Second, "a failed refresh with a retry 3 s away or more", func() bool {
		st := e.status(t, e.base)
		for _, c := range st.Apps[0].Credentials {
			if c.Kind == "access_token" && c.NextRefreshAt != nil {
				return time.Until(*c.NextRefreshAt) > 3*time.Second
			}
		}
		return false
	})
	first.stop(t)
	calls := e.sim.Calls(simulator.EndpointStableToken, appID)
	restarted := time.Now()
	e.start()
	waitFor(t, 1500*time.Millisecond, "the restarted server to call WeChat", func() bool {
		return e.sim.Calls(simulator.EndpointStableToken, appID) > calls
	})
	t.Logf("the restarted server called WeChat %v after it started", time.Since(restarted).Round(time.Millisecond))
	if a := e.mustDo(t, http.MethodGet, tokenPath, e.key, ""); a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "no valid access_token") {
		t.Fatalf("during the outage after the restart: %s", a)
	}
	e.sim.ClearFaults()
	took := e.awaitServed(t, appID, 20*time.Second)
	t.Logf("access_token and jsapi ticket served again %v after WeChat recovered", took.Round(time.Millisecond))
}
