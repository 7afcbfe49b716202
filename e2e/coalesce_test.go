package e2e_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestConcurrentFirstReadsMakeOneUpstreamCall: 200 callers asking for a
// token the server does not have yet are served by one upstream call.
// The simulator holds that first call for a while, so that the readers
// arrive while it is in flight rather than after it.
func TestConcurrentFirstReadsMakeOneUpstreamCall(t *testing.T) {
	integration.Skip(t)
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			const appID = "wxcold"
			e := newEnv(t, setup{
				apps: []appSpec{{id: appID, api: api}},
				ttl:  time.Minute, overlap: 5 * time.Second, timeout: 5 * time.Second,
			})
			endpoint := tokenEndpoint(api)
			if err := e.sim.Inject(simulator.Fault{Endpoint: endpoint, Kind: simulator.FaultSlow, Delay: time.Second, Count: 1}); err != nil {
				t.Fatal(err)
			}
			e.start()

			const n = 200
			values := e.tokensAtOnce(t, appID, n, func(int) (string, string, string, string) {
				return e.base, http.MethodGet, "/v1/apps/" + appID + "/access_token", ""
			})
			for i := range values {
				if values[i] != values[0] {
					t.Fatalf("reader %d got another token than reader 0", i)
				}
			}
			if st := e.sim.Check(values[0]); !st.Valid {
				t.Errorf("the token handed out is not valid at the simulator: %+v", st)
			}
			if got := e.sim.Calls(endpoint, appID); got != 1 {
				t.Errorf("%d readers caused %d upstream %s calls, want exactly 1", n, got, endpoint)
			}
			// Nothing else is pending: once the server has planned its next
			// refresh, well ahead, there is still one call.
			e.quiet(t, 5*time.Second)
			if got := e.sim.Calls("", ""); got != 1 {
				t.Errorf("%d upstream calls in all after the readers were served, want 1", got)
			}
		})
	}
}

// TestConcurrentStaleReportsMakeOneUpstreamCall: 100 callers reporting the
// same dead token at once cause one upstream token call and all get the
// same new token; reports of a token that was already replaced cost no
// upstream call at all.
func TestConcurrentStaleReportsMakeOneUpstreamCall(t *testing.T) {
	integration.Skip(t)
	for _, api := range []string{"classic", "stable"} {
		t.Run(api, func(t *testing.T) {
			const appID = "wxreport"
			e := newEnv(t, setup{
				apps: []appSpec{{id: appID, api: api}},
				ttl:  time.Minute, overlap: 5 * time.Second,
			})
			e.start()
			endpoint := tokenEndpoint(api)
			old := e.token(t, appID).value
			// Out of band, the token dies at once (a leak response, an
			// admin reset): every holder now gets 40001 from WeChat.
			rotated, err := e.sim.Rotate(appID, api)
			if err != nil {
				t.Fatal(err)
			}
			if st := e.sim.Check(old); st.Valid {
				t.Fatalf("the rotated token is still valid: %+v", st)
			}
			tokenCalls := e.sim.Calls(endpoint, appID)

			report := func(n int) []string {
				t.Helper()
				body := fmt.Sprintf(`{"stale":%q}`, old)
				return e.tokensAtOnce(t, appID, n, func(int) (string, string, string, string) {
					return e.base, http.MethodPost, "/v1/apps/" + appID + "/access_token/refresh", body
				})
			}

			const n = 100
			first := report(n)
			fresh := first[0]
			for i, v := range first {
				if v != fresh {
					t.Fatalf("report %d got another token than report 0", i)
				}
			}
			if fresh == old {
				t.Fatalf("the reports were answered with the dead token")
			}
			if st := e.sim.Check(fresh); !st.Valid {
				t.Fatalf("the token answered to the reports is not valid at the simulator: %+v", st)
			}
			if api == "stable" && fresh != rotated {
				t.Errorf("stable: want the token WeChat now issues (the rotated one), got another")
			}
			if got := e.sim.Calls(endpoint, appID) - tokenCalls; got != 1 {
				t.Errorf("%d concurrent reports of one dead token caused %d upstream %s calls, want exactly 1", n, got, endpoint)
			}

			// The dead token was replaced: reporting it again is answered
			// from the cache.
			all := e.sim.Calls("", "")
			for i, v := range report(n) {
				if v != fresh {
					t.Fatalf("late report %d: got another token than the current one", i)
				}
			}
			if got := e.sim.Calls("", "") - all; got != 0 {
				t.Errorf("%d reports of an already replaced token caused %d upstream calls, want 0", n, got)
			}
			if g := e.token(t, appID); g.value != fresh {
				t.Errorf("GET access_token after the reports: got another token than the reports")
			}
		})
	}
}
