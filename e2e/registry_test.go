package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

// configuredApp is the app of the config file beside the registered ones:
// the config must name at least one app.
var configuredApp = appSpec{id: "wxconfigured", api: "stable"}

// registration is the body of POST /v1/apps and POST /v1/wecom.
type registration struct {
	AppID    string   `json:"appid,omitempty"`
	CorpID   string   `json:"corpid,omitempty"`
	AgentID  string   `json:"agentid,omitempty"`
	Secret   string   `json:"secret"`
	TokenAPI string   `json:"token_api,omitempty"`
	Tickets  []string `json:"tickets"`
	Tags     []string `json:"tags"`
}

// registeredJSON is the part of a registration's answer the tests look at.
type registeredJSON struct {
	ID     string `json:"id"`
	Family string `json:"family"`
	State  string `json:"state"`
}

// registerApp registers the unconfigured app a at the server at base
// through POST /v1/apps, with tags, and returns the answer, checked to be
// 201 for a's id. It is safe to call from any goroutine.
func (e *env) registerApp(base string, a appSpec, tags ...string) (answer, error) {
	body, _ := json.Marshal(registration{AppID: a.id, Secret: e.unconfigured[a.id], TokenAPI: a.api,
		Tickets: orEmpty(a.tickets), Tags: orEmpty(tags)})
	ans, err := e.requestAt(base, http.MethodPost, "/v1/apps", e.key, string(body))
	if err != nil {
		return answer{}, err
	}
	return ans, checkRegistered(ans, a.id, "app")
}

// checkRegistered checks a 201 answer of a registration.
func checkRegistered(a answer, id, family string) error {
	if a.status != http.StatusCreated {
		return fmt.Errorf("registering %s: want HTTP 201, got %s", id, a)
	}
	var r registeredJSON
	if err := json.Unmarshal(a.body, &r); err != nil {
		return fmt.Errorf("registering %s: %s: %v", id, a, err)
	}
	if r.ID != id || r.Family != family || r.State != "active" {
		return fmt.Errorf("registering %s: unexpected answer %s", id, a)
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// checkAlive fails unless the simulator accepts value as a live
// credential of id.
func (e *env) checkAlive(value, id string) error {
	st := e.sim.Check(value)
	if !st.Valid {
		return fmt.Errorf("%s: the credential handed out is dead at WeChat (%s)", id, st.Reason)
	}
	if got := st.AppID; got != id {
		return fmt.Errorf("%s: the credential handed out is %s's", id, got)
	}
	return nil
}

// TestRegistryThousandApps: 1,000 apps registered through the API one
// after another while 50 clients read tokens. Each reader takes the apps
// as they are registered and reads each new one first (that read must be
// a live token: an app is served from its first fetch), and otherwise
// reads a random app served already. Every answer's token is checked
// with the simulator: none is dead. Each app costs one upstream call. A
// restart then serves every app without calling WeChat, and the bolt
// file holds none of the registered secrets in plaintext.
func TestRegistryThousandApps(t *testing.T) {
	integration.Skip(t)
	const (
		n          = 1000
		readers    = 50
		registrars = 16
		// readEvery paces each reader between reads of served apps; new
		// apps are read at once.
		readEvery = 100 * time.Millisecond
	)
	apps := make([]appSpec, n)
	for i := range apps {
		apps[i] = appSpec{id: fmt.Sprintf("wxreg%04d", i), api: []string{"stable", "classic"}[i%2]}
	}
	// Lifetimes far longer than the test: every upstream call is a first
	// fetch, and the restart finds every token still good.
	e := newEnv(t, setup{apps: []appSpec{configuredApp}, unconfigured: apps, storeKey: true, maxRate: 100000, ttl: time.Hour, overlap: time.Minute})
	// Each registration writes the bolt file a few times, one after the
	// other: on a memory file system the disk's syncs do not set the
	// pace of the test.
	if dir := memoryDir(t); dir != "" {
		e.cfg.Store.Path = filepath.Join(dir, "wxtoken.db")
	}
	in := e.start()

	var (
		fails               failures
		firstReads, answers atomic.Int64
		servedMu            sync.Mutex
		served              []string
		fresh               = make(chan string, n)
		done                = make(chan struct{})
		wg                  sync.WaitGroup
	)
	read := func(id string) error {
		a, err := e.request(http.MethodGet, "/v1/apps/"+id+"/access_token", e.key, "")
		if err != nil {
			return err
		}
		g, err := parseGrant(a, id, "")
		if err != nil {
			return err
		}
		answers.Add(1)
		return e.checkAlive(g.value, id)
	}
	first := func(id string) {
		if err := read(id); err != nil {
			fails.add("the first read of the newly registered %s: %v", id, err)
			return
		}
		firstReads.Add(1)
		servedMu.Lock()
		served = append(served, id)
		servedMu.Unlock()
	}
	started := time.Now()
	for range readers {
		wg.Go(func() {
			tick := time.NewTicker(readEvery)
			defer tick.Stop()
			for {
				select {
				case id := <-fresh:
					first(id)
					continue
				default:
				}
				select {
				case id := <-fresh:
					first(id)
				case <-done:
					for {
						select {
						case id := <-fresh:
							first(id)
						default:
							return
						}
					}
				case <-tick.C:
					servedMu.Lock()
					id := ""
					if len(served) > 0 {
						id = served[rand.IntN(len(served))]
					}
					servedMu.Unlock()
					if id != "" {
						if err := read(id); err != nil {
							fails.add("a read of %s: %v", id, err)
						}
					}
				}
			}
		})
	}
	next := make(chan appSpec)
	var regs sync.WaitGroup
	for range registrars {
		regs.Go(func() {
			for a := range next {
				if _, err := e.registerApp(in.base, a); err != nil {
					fails.add("%v", err)
					continue
				}
				fresh <- a.id
			}
		})
	}
	for _, a := range apps {
		next <- a
	}
	close(next)
	regs.Wait()
	registered := time.Since(started)
	close(done)
	wg.Wait()
	fails.report(t)
	if t.Failed() {
		t.FailNow()
	}
	if got := firstReads.Load(); got != n {
		t.Fatalf("%d apps read after their registration, want %d", got, n)
	}
	t.Logf("%d apps registered in %v while %d clients read; %d answers in %v, every one checked live with the simulator",
		n, registered.Round(time.Millisecond), readers, answers.Load(), time.Since(started).Round(time.Millisecond))

	// One upstream call per app: its first fetch.
	for _, a := range apps {
		if c := e.sim.Calls(tokenEndpoint(a.api), a.id); c != 1 {
			t.Errorf("%s: %d upstream %s calls, want 1", a.id, c, tokenEndpoint(a.api))
		}
	}

	// A restart serves every registered app from the store.
	before := time.Now()
	tokens := map[string]string{}
	for _, a := range apps {
		tokens[a.id] = e.token(t, a.id).value
	}
	in.stop(t)
	calls := e.answeredCopy()
	in = e.start()
	for _, a := range apps {
		g := e.token(t, a.id)
		if g.value != tokens[a.id] {
			t.Errorf("%s: after the restart the server hands out another token than before", a.id)
		}
		if err := e.checkAlive(g.value, a.id); err != nil {
			t.Error(err)
		}
	}
	if after := e.answeredCopy(); !sameCounts(calls, after) {
		t.Errorf("the restart called WeChat: upstream calls by path %v before, %v after", calls, after)
	} else {
		t.Logf("restart: %d apps served from the store with 0 upstream calls (%v)", n, time.Since(before).Round(time.Millisecond))
	}
	list := e.registrations(t, "app")
	if len(list) != n {
		t.Errorf("GET /v1/registrations?family=app lists %d entries after the restart, want %d", len(list), n)
	}
	in.stop(t)

	// The bolt file holds the apps, and none of their secrets in
	// plaintext.
	raw, err := os.ReadFile(e.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(apps[n-1].id)) {
		t.Fatalf("the bolt file %s (%d bytes) does not hold the registered app %s: the search below would prove nothing", e.cfg.Store.Path, len(raw), apps[n-1].id)
	}
	leaks := 0
	for id, secret := range e.unconfigured {
		if bytes.Contains(raw, []byte(secret)) {
			leaks++
			if leaks <= 5 {
				t.Errorf("the bolt file holds the AppSecret of %s in plaintext", id)
			}
		}
	}
	if leaks > 0 {
		t.Errorf("the bolt file holds %d of %d registered secrets in plaintext", leaks, n)
	} else {
		t.Logf("the bolt file (%d bytes) holds none of the %d registered secrets in plaintext", len(raw), n)
	}
}

// memoryDir returns a new folder on /dev/shm, removed when the test ends,
// or "" where there is none.
func memoryDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return ""
	}
	dir, err := os.MkdirTemp("/dev/shm", "wxtoken-e2e-")
	if err != nil {
		return ""
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// answeredCopy returns how many calls the simulator has answered, by
// path.
func (e *env) answeredCopy() map[string]int {
	e.answeredMu.Lock()
	defer e.answeredMu.Unlock()
	out := make(map[string]int, len(e.answered))
	for k, v := range e.answered {
		out[k] = v
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// registrations lists the registered entries of family at the server
// started last.
func (e *env) registrations(t *testing.T, family string) []registeredJSON {
	t.Helper()
	a := e.mustDo(t, http.MethodGet, "/v1/registrations?family="+family, e.key, "")
	if a.status != http.StatusOK {
		t.Fatalf("GET /v1/registrations: %s", a)
	}
	var b struct {
		Registrations []registeredJSON `json:"registrations"`
	}
	if err := json.Unmarshal(a.body, &b); err != nil {
		t.Fatalf("GET /v1/registrations: %v", err)
	}
	return b.Registrations
}

// TestRegistryClusterFollows: three replicas on one Redis. An app
// registered on one is served by each of the others within
// sync_interval of the registration's answer, and the three hand out one
// token, fetched by one upstream call.
func TestRegistryClusterFollows(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	app := appSpec{id: "wxregcluster", api: "stable"}
	e := newClusterEnv(t, setup{apps: []appSpec{configuredApp}, unconfigured: []appSpec{app}, storeKey: true, ttl: time.Hour, overlap: time.Minute}, redisAddr)
	names := []string{"r1", "r2", "r3"}
	replicas := map[string]*instance{}
	for _, name := range names {
		replicas[name] = e.replica(name, nil)
	}
	// Every replica is up and knows no such app.
	for _, name := range names {
		a, err := e.requestAt(replicas[name].base, http.MethodGet, "/v1/apps/"+app.id+"/access_token", e.key, "")
		if err != nil {
			t.Fatal(err)
		}
		apiError(t, a, http.StatusNotFound, "not_found")
	}

	// Each replica is asked every pollEvery from before the registration
	// on; the time it took is from the sending of the registration to the
	// receipt of its first good answer: an upper bound, which counts the
	// registration's own time too.
	const pollEvery = 5 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		fails    failures
		mu       sync.Mutex
		firstOK  = map[string]time.Time{}
		values   = map[string]string{}
		released = make(chan struct{})
	)
	for _, name := range names {
		wg.Go(func() {
			<-released
			tick := time.NewTicker(pollEvery)
			defer tick.Stop()
			for {
				a, err := e.requestAt(replicas[name].base, http.MethodGet, "/v1/apps/"+app.id+"/access_token", e.key, "")
				switch {
				case err != nil:
					fails.add("%s: %v", name, err)
				case a.status == http.StatusOK:
					g, err := parseGrant(a, app.id, "")
					if err == nil {
						err = e.checkAlive(g.value, app.id)
					}
					if err != nil {
						fails.add("%s: %v", name, err)
					}
					mu.Lock()
					firstOK[name], values[name] = a.received, g.value
					mu.Unlock()
					return
				case a.status != http.StatusNotFound:
					fails.add("%s: before it serves the app, want 404, got %s", name, a)
				}
				select {
				case <-ctx.Done():
					fails.add("%s never served the app registered on r1", name)
					return
				case <-tick.C:
				}
			}
		})
	}
	close(released)
	a, err := e.registerApp(replicas["r1"].base, app)
	if err != nil {
		cancel()
		wg.Wait()
		t.Fatal(err)
	}
	wg.Wait()
	fails.report(t)
	if t.Failed() {
		t.FailNow()
	}
	// The entry is stored before the registration is answered: the
	// registration's own time, the poll's period and one request's time
	// come on top of the replica's delay.
	bound := a.received.Sub(a.sent) + syncInterval + pollEvery + 100*time.Millisecond
	for _, name := range names {
		took := firstOK[name].Sub(a.sent)
		t.Logf("%s served the app %v after its registration was sent to r1 (which answered in %v; sync_interval %v)",
			name, took.Round(time.Millisecond), a.received.Sub(a.sent).Round(time.Millisecond), syncInterval)
		if took > bound {
			t.Errorf("%s served the app %v after its registration was sent, want within sync_interval (%v; %v with the registration's time and the polling)",
				name, took.Round(time.Millisecond), syncInterval, bound.Round(time.Millisecond))
		}
		if values[name] != values["r1"] {
			t.Errorf("%s hands out another token than r1", name)
		}
	}
	if c := e.sim.Calls(tokenEndpoint(app.api), app.id); c != 1 {
		t.Errorf("%d upstream token calls for the registered app across 3 replicas, want 1", c)
	}
}

// TestRegistryWeComAndTagGrants: a WeCom agent registered at runtime is
// served on the /v1/wecom routes; a client key granted "tag:shop" reads
// the entries registered with the tag shop, not the others, and is
// refused an app once it is unregistered, as for any app it does not
// know.
func TestRegistryWeComAndTagGrants(t *testing.T) {
	integration.Skip(t)
	const agent = "1000009"
	tagged := appSpec{id: "wxregtagged", api: "stable", tickets: []string{"jsapi"}}
	other := appSpec{id: "wxregother", api: "classic"}
	e := newEnv(t, setup{
		apps:              []appSpec{configuredApp},
		unconfigured:      []appSpec{tagged, other},
		unconfiguredWeCom: []wecomSpec{{corp: wecomCorp, agents: []agentSpec{{id: agent}}}},
		storeKey:          true,
		clients: []clientSpec{
			{name: "admin", apps: []string{"*"}, admin: true},
			{name: "shop", apps: []string{"tag:shop"}},
		},
		ttl: time.Hour, overlap: time.Minute,
	})
	e.start()
	shop := e.keys["shop"]

	// The agent, registered with its two tickets and the tag shop.
	body, _ := json.Marshal(registration{CorpID: wecomCorp, AgentID: agent, Secret: e.unconfigured[wecomCorp+"/"+agent],
		Tickets: []string{"jsapi", "agent_config"}, Tags: []string{"shop"}})
	if err := checkRegistered(e.mustDo(t, http.MethodPost, "/v1/wecom", e.key, string(body)), wecomCorp+"/"+agent, "wecom"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{e.key, shop} {
		g, err := wecomGrant(e.mustDo(t, http.MethodGet, wecomPath(agent, "access_token"), key, ""), agent, "")
		if err != nil {
			t.Fatal(err)
		}
		if st := e.sim.Check(g.value); !st.Valid || st.Kind != simulator.KindWeComToken || st.CorpID != wecomCorp || st.AgentID != agent {
			t.Fatalf("the registered agent's token: %+v, want a live WeCom token of %s/%s", st, wecomCorp, agent)
		}
		for _, typ := range []string{"jsapi", "agent_config"} {
			g, err := wecomGrant(e.mustDo(t, http.MethodGet, wecomPath(agent, "tickets/"+typ), key, ""), agent, typ)
			if err != nil {
				t.Fatal(err)
			}
			if st := e.sim.Check(g.value); !st.Valid {
				t.Fatalf("the registered agent's %s ticket is dead at WeCom: %s", typ, st.Reason)
			}
		}
	}
	if c := e.sim.Calls(simulator.EndpointWeComToken, wecomCorp+"/"+agent); c != 1 {
		t.Errorf("%d gettoken calls for the registered agent, want 1", c)
	}

	// Two apps: one tagged shop, one not.
	if _, err := e.registerApp(e.base, tagged, "shop", "retail"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.registerApp(e.base, other, "warehouse"); err != nil {
		t.Fatal(err)
	}
	readToken := func(key, id string) answer {
		t.Helper()
		return e.mustDo(t, http.MethodGet, "/v1/apps/"+id+"/access_token", key, "")
	}
	g, err := parseGrant(readToken(shop, tagged.id), tagged.id, "")
	if err != nil {
		t.Fatalf("the tag-granted key reading %s: %v", tagged.id, err)
	}
	if err := e.checkAlive(g.value, tagged.id); err != nil {
		t.Fatal(err)
	}
	tg, err := parseGrant(e.mustDo(t, http.MethodGet, "/v1/apps/"+tagged.id+"/tickets/jsapi", shop, ""), tagged.id, "jsapi")
	if err != nil {
		t.Fatalf("the tag-granted key reading the jsapi ticket of %s: %v", tagged.id, err)
	}
	if err := e.checkAlive(tg.value, tagged.id); err != nil {
		t.Fatal(err)
	}
	apiError(t, readToken(shop, other.id), http.StatusForbidden, "forbidden")
	if _, err := parseGrant(readToken(e.key, other.id), other.id, ""); err != nil {
		t.Fatalf("the admin key reading %s: %v", other.id, err)
	}

	// Unregistered, the tagged app is refused to the tag-granted key as
	// an app it does not know (403), and unknown to the admin key (404).
	a := e.mustDo(t, http.MethodDelete, "/v1/apps/"+tagged.id, e.key, "")
	if a.status != http.StatusNoContent {
		t.Fatalf("DELETE /v1/apps/%s: want 204, got %s", tagged.id, a)
	}
	apiError(t, readToken(shop, tagged.id), http.StatusForbidden, "forbidden")
	apiError(t, e.mustDo(t, http.MethodGet, "/v1/apps/"+tagged.id+"/tickets/jsapi", shop, ""), http.StatusForbidden, "forbidden")
	apiError(t, readToken(e.key, tagged.id), http.StatusNotFound, "not_found")
	apiError(t, readToken(shop, "wxneverregistered"), http.StatusForbidden, "forbidden")

	// So is the agent once it is unregistered.
	a = e.mustDo(t, http.MethodDelete, "/v1/wecom/"+wecomCorp+"/"+agent, e.key, "")
	if a.status != http.StatusNoContent {
		t.Fatalf("DELETE the registered agent: want 204, got %s", a)
	}
	apiError(t, e.mustDo(t, http.MethodGet, wecomPath(agent, "access_token"), shop, ""), http.StatusForbidden, "forbidden")
	apiError(t, e.mustDo(t, http.MethodGet, wecomPath(agent, "access_token"), e.key, ""), http.StatusNotFound, "not_found")

	// The config file's app is read-only here.
	body, _ = json.Marshal(registration{Secret: "", Tickets: []string{}, Tags: []string{"shop"}})
	apiError(t, e.mustDo(t, http.MethodPut, "/v1/apps/"+configuredApp.id, e.key, string(body)), http.StatusConflict, "conflict")
	apiError(t, e.mustDo(t, http.MethodDelete, "/v1/apps/"+configuredApp.id, e.key, ""), http.StatusConflict, "conflict")
	apiError(t, readToken(shop, configuredApp.id), http.StatusForbidden, "forbidden")

	// The listing keeps both removed entries, marked so.
	states := map[string]string{}
	for _, family := range []string{"app", "wecom"} {
		for _, r := range e.registrations(t, family) {
			states[r.ID] = r.State
		}
	}
	want := map[string]string{tagged.id: "removed", other.id: "active", wecomCorp + "/" + agent: "removed"}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if states[id] != want[id] {
			t.Errorf("GET /v1/registrations: %s is %q, want %q", id, states[id], want[id])
		}
	}
}
