package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

// readinessJSON is the answer of /readyz to an admin key.
type readinessJSON struct {
	Status  string   `json:"status"`
	Replica string   `json:"replica"`
	Reasons []string `json:"reasons"`
	Store   *struct {
		Reachable bool       `json:"reachable"`
		Loaded    bool       `json:"loaded"`
		DownSince *time.Time `json:"down_since"`
		Error     string     `json:"error"`
	} `json:"store"`
	Apps []struct {
		AppID        string     `json:"appid"`
		Unservable   []string   `json:"unservable"`
		BlockedUntil *time.Time `json:"blocked_until"`
		LastError    *struct {
			ErrCode int       `json:"errcode"`
			Class   string    `json:"class"`
			Message string    `json:"message"`
			Hint    string    `json:"hint"`
			At      time.Time `json:"at"`
		} `json:"last_error"`
	} `json:"apps"`
}

// readyz asks base's /readyz without a key and with an admin key, checks
// that the plain answer is the status alone, with the detail's status,
// and returns the status code and the detail.
func (e *env) readyz(t *testing.T, base string) (int, readinessJSON) {
	t.Helper()
	plain, err := e.requestAt(base, http.MethodGet, "/readyz", "", "")
	if err != nil {
		t.Fatal(err)
	}
	detail, err := e.requestAt(base, http.MethodGet, "/readyz", e.key, "")
	if err != nil {
		t.Fatal(err)
	}
	var d readinessJSON
	if err := strictJSON(detail.body, &d); err != nil {
		t.Fatalf("/readyz with an admin key: %v: %s", err, detail)
	}
	word := map[int]string{http.StatusOK: "ready", http.StatusServiceUnavailable: "not_ready"}[plain.status]
	if want := fmt.Sprintf(`{"status":%q}`, word); word == "" || strings.TrimSpace(string(plain.body)) != want {
		t.Fatalf("/readyz without a key: %s, want %s: the status alone", plain, want)
	}
	if detail.status != plain.status || d.Status != word {
		t.Fatalf("/readyz with an admin key: %s, without: %s", detail, plain)
	}
	return plain.status, d
}

// TestReadyWhileOneAppIsBlocked: one of two apps is refused by WeChat
// (IP not whitelisted) from the start. The other is served, and the
// replica stays ready: taking it out of service would refuse the app it
// serves, and no other replica could serve the blocked one. The admin
// detail names the blocked app, its errcode and the hint; the plain answer
// names nothing.
func TestReadyWhileOneAppIsBlocked(t *testing.T) {
	integration.Skip(t)
	const good, blocked = "wxreadygood", "wxreadyblocked"
	e := newEnv(t, setup{apps: []appSpec{{id: good, api: "stable"}, {id: blocked, api: "classic"}}, ttl: time.Minute, overlap: 5 * time.Second})
	if err := e.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, AppID: blocked, Kind: simulator.FaultErrCode, ErrCode: 40164}); err != nil {
		t.Fatal(err)
	}
	in := e.start()
	e.token(t, good)
	a := e.mustDo(t, http.MethodGet, "/v1/apps/"+blocked+"/access_token", e.key, "")
	if b := apiError(t, a, http.StatusServiceUnavailable, "unavailable"); b.Error.WeChatErrCode != 40164 {
		t.Fatalf("the blocked app: %s, want 503 with wechat_errcode 40164", a)
	}
	status, d := e.readyz(t, in.base)
	if status != http.StatusOK {
		t.Errorf("/readyz with one app blocked and the other served: HTTP %d %+v, want 200", status, d)
	}
	if len(d.Apps) != 1 || d.Apps[0].AppID != blocked {
		t.Fatalf("the detail should list %s alone: %+v", blocked, d.Apps)
	}
	ap := d.Apps[0]
	if ap.BlockedUntil == nil || ap.LastError == nil || ap.LastError.ErrCode != 40164 || ap.LastError.Class != "ip_whitelist" ||
		ap.LastError.Hint == "" || len(ap.Unservable) == 0 || ap.Unservable[0] != "access_token" {
		t.Errorf("the detail of %s: %+v", blocked, ap)
	}
	// A key that is not an admin's learns no more than no key.
	plain := e.mustDo(t, http.MethodGet, "/readyz", "", "")
	if strings.Contains(string(plain.body), blocked) || strings.Contains(string(plain.body), "40164") {
		t.Errorf("the plain /readyz names the blocked app or its error: %s", plain)
	}
	// Still served, still ready.
	e.token(t, good)
	if status, _ := e.readyz(t, in.base); status != http.StatusOK {
		t.Errorf("/readyz later: HTTP %d", status)
	}
}

// TestClusterReplicaStartsDuringOutage: Redis is down when a replica
// starts. The replica starts anyway (it listens, /healthz answers 200),
// is not ready (the admin detail says the store is away and nothing is
// loaded), logs that it keeps trying, and refuses a classic token rather
// than fetch one without the lease. When Redis is back with its data, the
// replica loads the stored token and serves it, without calling WeChat.
func TestClusterReplicaStartsDuringOutage(t *testing.T) {
	integration.Skip(t)
	rs := redistest.StartServer(t)
	for _, api := range []string{"classic", "stable"} {
		t.Run(api, func(t *testing.T) {
			appID := "wxlate" + api
			e := newClusterEnv(t, setup{apps: []appSpec{{id: appID, api: api}}, ttl: time.Minute, overlap: 10 * time.Second}, rs.Addr)
			r1 := e.replica("r1", nil)
			tok := e.token(t, appID).value
			endpoint := tokenEndpoint(api)
			calls := e.sim.Calls(endpoint, appID)

			rs.Save()
			rs.Stop()
			r2 := e.replica("r2", nil)
			if a, err := e.requestAt(r2.base, http.MethodGet, "/healthz", "", ""); err != nil || a.status != http.StatusOK {
				t.Fatalf("/healthz of a replica started during the outage: %v %s", err, a)
			}
			status, d := e.readyz(t, r2.base)
			if status != http.StatusServiceUnavailable || d.Store == nil || d.Store.Reachable || d.Store.Loaded || d.Store.DownSince == nil ||
				len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "shared store") {
				t.Errorf("/readyz of a replica started during the outage: HTTP %d %+v, want 503 saying the store is away", status, d)
			}
			if d.Replica != "r2" {
				t.Errorf("the detail names replica %q, want r2", d.Replica)
			}
			// The replica that started before the outage serves on, ready.
			if status, d := e.readyz(t, r1.base); status != http.StatusOK {
				t.Errorf("/readyz of the replica holding the token: HTTP %d %+v", status, d)
			}
			if api == "classic" {
				a, err := e.requestAt(r2.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
				if err != nil || a.status != http.StatusServiceUnavailable {
					t.Errorf("a classic token from the replica without the store: %v %s, want 503", err, a)
				}
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "replica=r2") || !strings.Contains(logs, "trying again until they are loaded") {
				t.Errorf("the replica did not say it keeps trying:\n%s", lastLines(logs, 20))
			}

			rs.Start()
			back := time.Now()
			waitFor(t, 10*time.Second, "the replica started during the outage to become ready", func() bool {
				a, err := e.requestAt(r2.base, http.MethodGet, "/readyz", "", "")
				return err == nil && a.status == http.StatusOK
			})
			t.Logf("ready %v after Redis answered again", time.Since(back).Round(time.Millisecond))
			if _, d := e.readyz(t, r2.base); d.Store == nil || !d.Store.Reachable || !d.Store.Loaded {
				t.Errorf("the detail once Redis is back: %+v", d.Store)
			}
			a, err := e.requestAt(r2.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
			if g, perr := parseGrant(a, appID, ""); err != nil || perr != nil || g.value != tok {
				t.Fatalf("the token from the replica once Redis is back: %v %v %s, want the stored one", err, perr, a)
			}
			if got := e.sim.Calls(endpoint, appID) - calls; got != 0 {
				t.Errorf("%d upstream %s calls for a stored token, want 0", got, endpoint)
			}
		})
	}
}
