package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestCompatTokenFromCache: /cgi-bin/token and /cgi-bin/stable_token
// answer, in WeChat's exact shape, the token the HTTP API hands out, for
// either token API of the app, and never call WeChat per request.
func TestCompatTokenFromCache(t *testing.T) {
	integration.Skip(t)
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			const appID = "wxfront"
			e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: time.Minute, overlap: 5 * time.Second})
			e.start()
			secret := e.secretOf(appID)
			want := e.token(t, appID).value
			calls := e.sim.Calls("", "")

			for i := range 20 {
				var a wxAnswer
				if i%2 == 0 {
					a = e.wx(t, http.MethodGet, classicTokenPath(appID, secret), "", nil)
				} else {
					a = e.wx(t, http.MethodPost, "/cgi-bin/stable_token", stableTokenBody(appID, secret, false), map[string]string{"Content-Type": "application/json"})
				}
				if a.status != http.StatusOK || a.AccessToken != want || a.ExpiresIn < 1 || a.ExpiresIn > 60 {
					t.Fatalf("call %d: %s", i, a)
				}
				var exact struct {
					AccessToken string `json:"access_token"`
					ExpiresIn   int64  `json:"expires_in"`
				}
				if err := strictJSON([]byte(a.raw), &exact); err != nil {
					t.Fatalf("not WeChat's shape: %v", err)
				}
				if ct := a.header.Get("Content-Type"); ct != wxContentType {
					t.Errorf("Content-Type %q", ct)
				}
				if cc := a.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
			}
			if got := e.sim.Calls("", ""); got != calls {
				t.Errorf("20 front-door token calls made %d upstream calls, want none", got-calls)
			}
			if st := e.sim.Check(want); !st.Valid {
				t.Errorf("the token is not valid at the simulator: %+v", st)
			}
			e.noTokenInLogs(t, want)
		})
	}
}

// TestCompatTokenErrors: bad token requests get WeChat's own errcodes, in
// WeChat's order, without reaching WeChat.
func TestCompatTokenErrors(t *testing.T) {
	integration.Skip(t)
	const appID = "wxfront"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second})
	e.start()
	secret := e.secretOf(appID)
	e.token(t, appID)
	calls := e.sim.Calls("", "")
	wrong := strings.Repeat("0", len(secret)) // same length, so only the value differs
	json := map[string]string{"Content-Type": "application/json"}
	for _, c := range []struct {
		name, method, path, body string
		errcode                  int
	}{
		{"no grant_type", "GET", "/cgi-bin/token?appid=" + appID + "&secret=" + secret, "", 40002},
		{"wrong grant_type", "GET", "/cgi-bin/token?grant_type=password&appid=" + appID + "&secret=" + secret, "", 40002},
		{"no appid", "GET", "/cgi-bin/token?grant_type=client_credential&secret=" + secret, "", 41002},
		{"no secret", "GET", "/cgi-bin/token?grant_type=client_credential&appid=" + appID, "", 41004},
		{"unknown appid", "GET", classicTokenPath("wxnotconfigured", secret), "", 40013},
		{"wrong secret", "GET", classicTokenPath(appID, wrong), "", 40125},
		{"short secret", "GET", classicTokenPath(appID, "x"), "", 40125},
		{"secret with a suffix", "GET", classicTokenPath(appID, secret+"0"), "", 40125},
		{"POST to token", "POST", classicTokenPath(appID, secret), "", 43001},
		{"GET stable_token", "GET", "/cgi-bin/stable_token", "", 43002},
		{"stable not JSON", "POST", "/cgi-bin/stable_token", "grant_type=client_credential", 47001},
		{"stable body too large", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","x":"` + strings.Repeat("a", 5000) + `"}`, 47001},
		{"stable wrong secret", "POST", "/cgi-bin/stable_token", stableTokenBody(appID, wrong, false), 40125},
		{"stable unknown appid", "POST", "/cgi-bin/stable_token", stableTokenBody("wxnotconfigured", secret, true), 40013},
		{"stable no grant_type", "POST", "/cgi-bin/stable_token", `{"appid":"` + appID + `","secret":"` + secret + `"}`, 40002},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantWXError(t, e.wx(t, c.method, c.path, c.body, json), c.errcode)
		})
	}
	if got := e.sim.Calls("", ""); got != calls {
		t.Errorf("refused token calls reached WeChat %d times", got-calls)
	}
}

// TestCompatForceRefreshIsAReport: force_refresh never spends WeChat's
// force budget on a token that works; on one WeChat rejects it replaces
// it once, and a second report right after is held back by the rate
// limit and answered with the current token.
func TestCompatForceRefreshIsAReport(t *testing.T) {
	integration.Skip(t)
	const appID = "wxforce"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second, passiveInterval: 2 * time.Second})
	e.start()
	secret := e.secretOf(appID)
	force := func() wxAnswer {
		t.Helper()
		a := e.wx(t, http.MethodPost, "/cgi-bin/stable_token", stableTokenBody(appID, secret, true), nil)
		if a.status != http.StatusOK || a.AccessToken == "" || a.ExpiresIn < 1 {
			t.Fatalf("force_refresh: %s", a)
		}
		return a
	}
	first := e.token(t, appID).value
	if got := force().AccessToken; got != first {
		t.Fatalf("force_refresh replaced a token that works")
	}
	if st := e.sim.Check(first); !st.Valid {
		t.Fatalf("the token was killed by a force_refresh report: %+v", st)
	}

	// Out of band, the token dies. Reports inside passive_interval of
	// the first are answered with the current token; the first one after
	// it replaces the token.
	if _, err := e.sim.Rotate(appID, simulator.KindStable); err != nil {
		t.Fatal(err)
	}
	var second string
	waitFor(t, 5*time.Second, "a report to replace the rejected token", func() bool {
		second = force().AccessToken
		return second != first
	})
	if st := e.sim.Check(second); !st.Valid {
		t.Fatalf("the new token is not valid: %+v", st)
	}
	if e.token(t, appID).value != second {
		t.Fatalf("the HTTP API does not hand out the new token")
	}
	calls := e.sim.Calls(simulator.EndpointStableToken, appID)
	// Right away again: passive_interval holds it back.
	if got := force().AccessToken; got != second {
		t.Fatalf("a second report replaced the token again")
	}
	if got := e.sim.Calls(simulator.EndpointStableToken, appID); got != calls {
		t.Errorf("a rate-limited report made %d stable_token calls", got-calls)
	}
	e.noTokenInLogs(t, first, second)
}

// TestCompatConcurrentTokenReadsDuringRefresh: 50 callers asking the front
// door for a token while its refresh is due and in flight are all served
// at once, and the refresh is the one upstream call.
func TestCompatConcurrentTokenReadsDuringRefresh(t *testing.T) {
	integration.Skip(t)
	for _, api := range []string{"classic", "stable"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			const appID = "wxdue"
			e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: 12 * time.Second, overlap: 3 * time.Second, timeout: 5 * time.Second})
			e.start()
			secret := e.secretOf(appID)
			old := e.token(t, appID).value
			endpoint := tokenEndpoint(api)
			if got := e.sim.Calls(endpoint, appID); got != 1 {
				t.Fatalf("%d token calls after the first fetch", got)
			}
			// The next token call hangs, so the refresh stays in flight
			// while the readers come.
			if err := e.sim.Inject(simulator.Fault{Endpoint: endpoint, Kind: simulator.FaultSlow, Delay: time.Second, Count: 1}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 15*time.Second, "the scheduled refresh to start", func() bool { return e.sim.Calls(endpoint, appID) == 2 })

			const n = 50
			got := make([]wxAnswer, n)
			errs := make([]error, n)
			start := time.Now()
			allAtOnce(n, func(i int) {
				req := wxRequest{method: http.MethodGet, path: classicTokenPath(appID, secret)}
				if i%2 == 1 {
					req = wxRequest{method: http.MethodPost, path: "/cgi-bin/stable_token", body: stableTokenBody(appID, secret, false)}
				}
				got[i], errs[i] = e.wxDo(req)
			})
			took := time.Since(start)
			// Each reader gets the valid token of the moment: the old one
			// while the refresh is in flight, the new one if a loaded
			// machine let the refresh land first.
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("reader %d: %v", i, errs[i])
				}
				if a := got[i]; a.AccessToken == "" || a.ExpiresIn < 1 || (a.AccessToken != old && !e.sim.Check(a.AccessToken).Valid) {
					t.Fatalf("reader %d: %s", i, a)
				}
			}
			if c := e.sim.Calls(endpoint, appID); c != 2 {
				t.Errorf("%d readers during a due refresh: %d upstream token calls in all, want 2 (the first fetch and the refresh)", n, c)
			}
			t.Logf("%d readers served in %v during the refresh; upstream token calls: first fetch + %d", n, took.Round(time.Millisecond), e.sim.Calls(endpoint, appID)-1)
			waitFor(t, 10*time.Second, "the refresh to land", func() bool { return e.token(t, appID).value != old })
		})
	}
}
