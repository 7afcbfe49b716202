package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
)

// TestRestartServesPersistedCredentials: a server started on the bolt file
// of a stopped one serves the persisted, still valid token and ticket
// without calling WeChat.
func TestRestartServesPersistedCredentials(t *testing.T) {
	integration.Skip(t)
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			const appID = "wxrestart"
			e := newEnv(t, setup{
				apps: []appSpec{{id: appID, api: api, tickets: []string{"jsapi"}}},
				ttl:  time.Minute, overlap: 5 * time.Second,
			})
			first := e.start()
			tok := e.token(t, appID)
			tick := e.ticket(t, appID, "jsapi")
			first.stop(t)
			calls := e.sim.Calls("", "")
			if calls == 0 {
				t.Fatal("the simulator counted no call before the restart")
			}

			e.start()
			if a := e.mustDo(t, http.MethodGet, "/readyz", "", ""); a.status != http.StatusOK {
				t.Errorf("/readyz right after the restart: %s", a)
			}
			tok2 := e.token(t, appID)
			tick2 := e.ticket(t, appID, "jsapi")
			if tok2.value != tok.value {
				t.Errorf("after the restart: another access_token than the persisted one")
			}
			if tick2.value != tick.value {
				t.Errorf("after the restart: another jsapi ticket than the persisted one")
			}
			if tok2.deadline.After(tok.deadline.Add(time.Second)) {
				t.Errorf("after the restart the token is promised until %s, beyond the %s promised before",
					tok2.deadline.Format(time.RFC3339Nano), tok.deadline.Format(time.RFC3339Nano))
			}
			// The new server's scheduler has made its plan, and it holds
			// no call to WeChat for now.
			e.quiet(t, 5*time.Second)
			if got := e.sim.Calls("", "") - calls; got != 0 {
				t.Errorf("the restarted server made %d upstream calls, want 0", got)
			}
			for _, v := range []string{tok2.value, tick2.value} {
				if st := e.sim.Check(v); !st.Valid {
					t.Errorf("a credential served after the restart is not valid at the simulator: %+v", st)
				}
			}
		})
	}
}
