package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// The apps of the reload tests, each known to the simulator with its
// secret.
const (
	appA    = "wx000000000000000a"
	appB    = "wx000000000000000b"
	appC    = "wx000000000000000c"
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	secretC = "cccccccccccccccccccccccccccccccc"
	// The client keys of the reload tests.
	keyOps  = "ops-key-0123456789abcdef0123456789"
	keyShop = "shop-key-0123456789abcdef012345678"
	keyLate = "late-key-0123456789abcdef012345678"
)

// keySum is the key_sha256 of key.
func keySum(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// reloadFixture is a running server started from a config file, in front
// of a simulator that knows apps A, B and C.
type reloadFixture struct {
	t    *testing.T
	sim  *simulator.Simulator
	srv  *server.Server
	path string
	// head is the part of the file that no test changes.
	head string
	env  map[string]string
	logs *logbuf.Buffer
	hc   *http.Client
}

// newReloadFixture writes a config with head's settings and body (apps
// and clients), starts a server from it and serves it until the test
// ends.
func newReloadFixture(t *testing.T, body string) *reloadFixture {
	t.Helper()
	return newReloadFixtureWith(t, body, nil)
}

// newReloadFixtureWith is newReloadFixture with WeCom agents known to the
// simulator.
func newReloadFixtureWith(t *testing.T, body string, agents []simulator.WeComAgent) *reloadFixture {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Apps:  map[string]string{appA: secretA, appB: secretB, appC: secretC},
		WeCom: agents,
		TTL:   time.Hour, Overlap: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	f := &reloadFixture{
		t: t, sim: sim, path: filepath.Join(dir, "wxtoken.yaml"), logs: &logbuf.Buffer{},
		env: map[string]string{"SECRET_A": secretA, "SECRET_B": secretB, "SECRET_C": secretC,
			"AGENT_WRONG": "wecom-agent-secret-wrong-0001", "AGENT_RIGHT": "wecom-agent-secret-right-0001"},
		hc: &http.Client{Timeout: 10 * time.Second},
	}
	f.head = fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q}
upstream: {base_url: %q, wecom_base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
refresh: {passive_interval: 1ms}
compat: {enabled: true}
`, filepath.Join(dir, "wxtoken.db"), ts.URL, ts.URL)
	f.write(body)
	env := func(name string) (string, bool) { v, ok := f.env[name]; return v, ok }
	cfg, err := config.Load(f.path, env)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	f.srv, err = server.New(ctx, cfg, server.Options{Logger: log, ConfigPath: f.path, Env: env})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		f.hc.CloseIdleConnections()
	})
	return f
}

// write replaces the config file's apps and clients with body.
func (f *reloadFixture) write(body string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(f.head+body), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// reload writes body and reloads, which must succeed.
func (f *reloadFixture) reload(body string) httpapi.ReloadResponse {
	f.t.Helper()
	f.write(body)
	res, err := f.srv.Reload(f.t.Context())
	if err != nil {
		f.t.Fatalf("reload: %v\n%s", err, f.logs)
	}
	return res
}

// do sends a request with key and returns the status and body.
func (f *reloadFixture) do(method, path, key, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// token gets app's access_token with key, which must succeed.
func (f *reloadFixture) token(app, key string) string {
	f.t.Helper()
	status, body := f.do(http.MethodGet, "/v1/apps/"+app+"/access_token", key, "")
	if status != http.StatusOK {
		f.t.Fatalf("access_token of %s: %d %s", app, status, body)
	}
	var a struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.AccessToken == "" {
		f.t.Fatalf("access_token of %s: %s", app, body)
	}
	return a.AccessToken
}

// tokenCalls counts the token calls the simulator answered for app.
func (f *reloadFixture) tokenCalls(app string) int {
	return f.sim.Calls(simulator.EndpointStableToken, app) + f.sim.Calls(simulator.EndpointToken, app)
}

// apps returns GET /v1/apps as the admin key sees it.
func (f *reloadFixture) apps() httpapi.AppsResponse {
	f.t.Helper()
	status, body := f.do(http.MethodGet, "/v1/apps", keyOps, "")
	if status != http.StatusOK {
		f.t.Fatalf("/v1/apps: %d %s", status, body)
	}
	var a httpapi.AppsResponse
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		f.t.Fatalf("/v1/apps: %v: %s", err, body)
	}
	return a
}

// fileDigest is the hex SHA-256 of the config file.
func (f *reloadFixture) fileDigest() string {
	f.t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// clients is the clients section: ops (admin) and shop (granted every
// app), and extra lines.
func clients(extra ...string) string {
	s := "clients:\n" +
		fmt.Sprintf("  - {name: ops, key_sha256: %q, apps: [\"*\"], admin: true}\n", keySum(keyOps)) +
		fmt.Sprintf("  - {name: shop, key_sha256: %q, apps: [\"*\"]}\n", keySum(keyShop))
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// TestReloadAppliesAppsAndClients: an app added is fetched and served,
// one removed is 404, a client added can read at once, and the apps left
// as they were cost no upstream call; the summary says what changed, and
// /v1/apps shows the new file's digest.
func TestReloadAppliesAppsAndClients(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n  - {appid: "+appB+", secret_env: SECRET_B}\n"+clients())
	tokA := f.token(appA, keyShop)
	f.token(appB, keyShop)
	if got, want := f.apps().Config, f.fileDigest(); got == nil || got.Digest != want {
		t.Fatalf("/v1/apps config at start: %+v, want digest %s", got, want)
	}
	startedAt := f.apps().Config.LoadedAt
	callsA := f.tokenCalls(appA)
	late := fmt.Sprintf("  - {name: late, key_sha256: %q, apps: [%s]}", keySum(keyLate), appC)
	if status, _ := f.do(http.MethodGet, "/v1/apps/"+appC+"/access_token", keyLate, ""); status != http.StatusUnauthorized {
		t.Fatalf("the late key before the reload: %d, want 401", status)
	}

	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appC + ", secret_env: SECRET_C}\n" + clients(late))
	if fmt.Sprint(res.Added, res.Removed, res.Changed, res.ClientsAdded, res.ClientsRemoved, res.NeedRestart) !=
		fmt.Sprint([]string{appC}, []string{appB}, []string{}, []string{"late"}, []string{}, []string{}) {
		t.Errorf("summary: %+v", res)
	}
	if got := f.token(appC, keyLate); got == "" {
		t.Error("no token for the added app")
	}
	if n := f.tokenCalls(appC); n != 1 {
		t.Errorf("%d token calls for the added app, want 1", n)
	}
	if status, body := f.do(http.MethodGet, "/v1/apps/"+appB+"/access_token", keyShop, ""); status != http.StatusNotFound {
		t.Errorf("the removed app: %d %s, want 404", status, body)
	}
	if got := f.token(appA, keyShop); got != tokA {
		t.Errorf("the unchanged app's token changed: %s, was %s", got, tokA)
	}
	if n := f.tokenCalls(appA); n != callsA {
		t.Errorf("the unchanged app made %d token calls during the reload", n-callsA)
	}
	c := f.apps().Config
	if c == nil || c.Digest != f.fileDigest() || !c.LoadedAt.After(startedAt) {
		t.Errorf("/v1/apps config after the reload: %+v, want digest %s loaded after %v", c, f.fileDigest(), startedAt)
	}
	if !res.Config.LoadedAt.Equal(c.LoadedAt) || res.Config.Digest != c.Digest {
		t.Errorf("the reload answered config %+v, /v1/apps shows %+v", res.Config, c)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `msg="configuration reloaded"`) || !strings.Contains(logs, "apps_added=1 apps_removed=1 apps_changed=0 clients_added=1") {
		t.Errorf("no summary line:\n%s", logs)
	}
	for _, s := range []string{secretA, secretC} {
		if strings.Contains(logs, s) {
			t.Error("a secret is in the log")
		}
	}
}

// TestReloadClientRemovedOrRegranted: a client removed from the file is
// refused at once (401); one whose grants changed reads what it is
// granted now.
func TestReloadClientRemovedOrRegranted(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n  - {appid: "+appB+", secret_env: SECRET_B}\n"+
		clients(fmt.Sprintf("  - {name: late, key_sha256: %q, apps: [%s]}", keySum(keyLate), appA)))
	f.token(appA, keyLate)
	if status, _ := f.do(http.MethodGet, "/v1/apps/"+appB+"/access_token", keyLate, ""); status != http.StatusForbidden {
		t.Fatalf("late reads B before the reload: %d, want 403", status)
	}
	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appB + ", secret_env: SECRET_B}\n" +
		clients(fmt.Sprintf("  - {name: late, key_sha256: %q, apps: [%s]}", keySum(keyLate), appB)))
	if fmt.Sprint(res.ClientsChanged) != "[late]" {
		t.Errorf("clients changed: %v, want [late]", res.ClientsChanged)
	}
	f.token(appB, keyLate)
	if status, _ := f.do(http.MethodGet, "/v1/apps/"+appA+"/access_token", keyLate, ""); status != http.StatusForbidden {
		t.Errorf("late reads A after its grant moved to B: %d, want 403", status)
	}
	res = f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appB + ", secret_env: SECRET_B}\n" + clients())
	if fmt.Sprint(res.ClientsRemoved) != "[late]" {
		t.Errorf("clients removed: %v, want [late]", res.ClientsRemoved)
	}
	if status, body := f.do(http.MethodGet, "/v1/apps/"+appB+"/access_token", keyLate, ""); status != http.StatusUnauthorized {
		t.Errorf("the removed client: %d %s, want 401", status, body)
	}
	// The front door takes a client key in place of an AppSecret: the
	// removed key no longer works there either.
	status, body := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+appB+"&secret="+keyLate, "", "")
	if status != http.StatusOK || !strings.Contains(body, `"errcode":40125`) {
		t.Errorf("the front door with the removed key: %d %s, want errcode 40125", status, body)
	}
	status, body = f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+appB+"&secret="+keyShop, "", "")
	if status != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Errorf("the front door with a kept key: %d %s", status, body)
	}
}

// TestReloadChangedSecretUsedFromNextFetch: an app's new secret is what
// its next fetch sends. A wrong one is refused by WeChat (40125), and the
// right one put back is used at once, the error policy's hold lifted.
func TestReloadChangedSecretUsedFromNextFetch(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n"+clients())
	tok := f.token(appA, keyShop)
	f.env["SECRET_WRONG"] = strings.Repeat("9", 32)
	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_WRONG}\n" + clients())
	if fmt.Sprint(res.Changed) != "["+appA+"]" {
		t.Fatalf("changed: %v", res.Changed)
	}
	if got := f.token(appA, keyShop); got != tok {
		t.Errorf("a new secret dropped the valid token")
	}
	calls := f.tokenCalls(appA)
	status, body := f.do(http.MethodPost, "/v1/apps/"+appA+"/access_token/refresh", keyShop, `{"stale":"`+tok+`"}`)
	if status == http.StatusOK && !strings.Contains(body, tok) {
		t.Fatalf("a refresh with the wrong secret got a new token: %s", body)
	}
	if f.tokenCalls(appA) == calls {
		t.Fatalf("the refresh made no token call (%d %s)", status, body)
	}
	if !strings.Contains(f.logs.String(), "40125") {
		t.Errorf("the wrong secret was not what WeChat refused:\n%s", f.logs)
	}

	f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n" + clients())
	calls = f.tokenCalls(appA)
	status, body = f.do(http.MethodPost, "/v1/apps/"+appA+"/access_token/refresh", keyShop, `{"stale":"`+tok+`"}`)
	if status != http.StatusOK {
		t.Fatalf("a refresh with the secret put back: %d %s", status, body)
	}
	if f.tokenCalls(appA) == calls {
		t.Fatal("the refresh with the secret put back made no token call")
	}
	for _, a := range f.apps().Apps {
		if a.AppID != appA {
			continue
		}
		if a.BlockedUntil != nil {
			t.Errorf("still held back after a fetch with the right secret: %v", a.BlockedUntil)
		}
		for _, c := range a.Credentials {
			if c.LastError != nil {
				t.Errorf("%s: last error after a fetch with the right secret: %+v", c.Kind, c.LastError)
			}
		}
	}
}

// TestReloadChangedTicketsFetchesOnlyTheTicket: a ticket added to an app
// is fetched with the stored token, and served; the token is not fetched
// again.
func TestReloadChangedTicketsFetchesOnlyTheTicket(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n"+clients())
	tok := f.token(appA, keyShop)
	if status, _ := f.do(http.MethodGet, "/v1/apps/"+appA+"/tickets/jsapi", keyShop, ""); status == http.StatusOK {
		t.Fatal("a jsapi ticket before it was configured")
	}
	calls := f.tokenCalls(appA)
	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A, tickets: [jsapi]}\n" + clients())
	if fmt.Sprint(res.Changed) != "["+appA+"]" {
		t.Fatalf("changed: %v", res.Changed)
	}
	status, body := f.do(http.MethodGet, "/v1/apps/"+appA+"/tickets/jsapi", keyShop, "")
	if status != http.StatusOK || !strings.Contains(body, `"ticket"`) {
		t.Fatalf("the added ticket: %d %s", status, body)
	}
	if got := f.token(appA, keyShop); got != tok {
		t.Errorf("the token changed: %s, was %s", got, tok)
	}
	if n := f.tokenCalls(appA); n != calls {
		t.Errorf("%d token calls for a ticket added", n-calls)
	}
	if n := f.sim.Calls(simulator.EndpointTicket, appA); n != 1 {
		t.Errorf("%d ticket calls, want 1", n)
	}
}

// TestReloadBrokenFileChangesNothing: a file with problems is refused
// whole: every problem is logged and answered, and apps, clients and the
// config shown stay as they were. Over HTTP the answer is a 400 that
// lists them.
func TestReloadBrokenFileChangesNothing(t *testing.T) {
	good := "apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n" + clients()
	f := newReloadFixture(t, good)
	tok := f.token(appA, keyShop)
	before := *f.apps().Config
	// An app added, and three problems: an unknown token_api, a secret
	// variable that is not set, a client without a key.
	f.write("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A, token_api: fancy}\n  - {appid: " + appC + ", secret_env: NOT_SET}\n" +
		clients(fmt.Sprintf("  - {name: late, apps: [%s]}", appC)))
	_, err := f.srv.Reload(t.Context())
	var re *httpapi.ReloadError
	if !errors.As(err, &re) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	wantKeys := []string{"apps[0].token_api", "apps[1].secret_env", "clients[2].key_sha256"}
	logs := f.logs.String()
	for _, k := range wantKeys {
		if !strings.Contains(strings.Join(re.Problems, "\n"), k) {
			t.Errorf("the problems do not name %s: %q", k, re.Problems)
		}
		if !strings.Contains(logs, "config reload: "+k) {
			t.Errorf("the log does not name %s:\n%s", k, logs)
		}
	}
	if !strings.Contains(logs, "the running configuration is kept") {
		t.Errorf("the log does not say the running config is kept:\n%s", logs)
	}
	if status, _ := f.do(http.MethodGet, "/v1/apps/"+appC+"/access_token", keyOps, ""); status != http.StatusNotFound {
		t.Errorf("the app of the broken file is served: %d", status)
	}
	if n := f.tokenCalls(appC); n != 0 {
		t.Errorf("%d token calls for the app of the broken file", n)
	}
	if got := f.token(appA, keyShop); got != tok {
		t.Error("the kept app's token changed")
	}
	if after := *f.apps().Config; after != before {
		t.Errorf("the config shown changed: %+v, was %+v", after, before)
	}

	// Over HTTP: 400 with the list; an admin key only.
	if status, _ := f.do(http.MethodPost, "/v1/admin/reload", keyShop, ""); status != http.StatusForbidden {
		t.Errorf("reload with a key that is not an admin's: %d, want 403", status)
	}
	status, body := f.do(http.MethodPost, "/v1/admin/reload", keyOps, "")
	var a httpapi.ReloadErrorResponse
	if err := json.Unmarshal([]byte(body), &a); status != http.StatusBadRequest || err != nil || len(a.Problems) != len(re.Problems) ||
		a.Error.Code != "invalid" || !strings.Contains(a.Error.Message, wantKeys[2]) {
		t.Errorf("POST /v1/admin/reload of a broken file: %d %s", status, body)
	}
	// Put right, the same route applies it.
	f.write("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appC + ", secret_env: SECRET_C}\n" + clients())
	status, body = f.do(http.MethodPost, "/v1/admin/reload", keyOps, "")
	var ok httpapi.ReloadResponse
	if err := json.Unmarshal([]byte(body), &ok); status != http.StatusOK || err != nil || fmt.Sprint(ok.Added) != "["+appC+"]" || ok.Config.Digest != f.fileDigest() {
		t.Errorf("POST /v1/admin/reload: %d %s", status, body)
	}
	f.token(appC, keyShop)
}

// TestReloadReportsWhatNeedsARestart: a changed listen address and
// upstream are logged as needing a restart and left as they are; the
// apps in the same file are applied.
func TestReloadReportsWhatNeedsARestart(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n"+clients())
	f.token(appA, keyShop)
	addr := f.srv.Addr()
	f.head = strings.Replace(f.head, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)
	f.head = strings.Replace(f.head, "timeout: 2s", "timeout: 3s", 1)
	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appB + ", secret_env: SECRET_B}\n" + clients() + "metrics: {per_app: true}\n")
	if fmt.Sprint(res.NeedRestart) != "[listen upstream metrics]" || fmt.Sprint(res.Added) != "["+appB+"]" {
		t.Errorf("summary: %+v", res)
	}
	logs := f.logs.String()
	for _, k := range []string{"listen", "upstream", "metrics"} {
		if !strings.Contains(logs, "config reload: "+k+" changed; the change takes a restart") {
			t.Errorf("the log does not say %s needs a restart:\n%s", k, logs)
		}
	}
	if f.srv.Addr() != addr {
		t.Errorf("the address changed")
	}
	f.token(appB, keyShop)
}

// TestReloadsAreSerialized: reloads at once all succeed, and leave the
// file's apps kept once each.
func TestReloadsAreSerialized(t *testing.T) {
	f := newReloadFixture(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n"+clients())
	f.write("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appB + ", secret_env: SECRET_B, tickets: [jsapi]}\n" + clients())
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := f.srv.Reload(t.Context())
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	f.token(appB, keyShop)
	n := 0
	for _, a := range f.apps().Apps {
		if a.AppID == appB {
			n++
		}
	}
	if n != 1 {
		t.Errorf("B listed %d times", n)
	}
}

// TestReloadWeComAgentSecret: a WeCom agent's new secret is used from its
// next fetch, the hold its wrong secret caused lifted; an agent added or
// removed takes a restart, which the reload says, applying the rest.
func TestReloadWeComAgentSecret(t *testing.T) {
	const (
		corp  = "ww00000000000000c1"
		agent = "1000002"
		right = "wecom-agent-secret-right-0001"
	)
	wecom := func(env string) string {
		return "wecom:\n  - corpid: " + corp + "\n    agents:\n      - {agentid: \"" + agent + "\", secret_env: " + env + "}\n"
	}
	f := newReloadFixtureWith(t, "apps:\n  - {appid: "+appA+", secret_env: SECRET_A}\n"+wecom("AGENT_WRONG")+clients(),
		[]simulator.WeComAgent{{CorpID: corp, AgentID: agent, Secret: right}})
	path := "/v1/wecom/" + corp + "/" + agent + "/access_token"
	if status, body := f.do(http.MethodGet, path, keyShop, ""); status == http.StatusOK {
		t.Fatalf("a token with the wrong secret: %s", body)
	}
	res := f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n" + wecom("AGENT_RIGHT") + clients())
	if id := corp + "/" + agent; fmt.Sprint(res.Changed) != "["+id+"]" || len(res.NeedRestart) != 0 {
		t.Fatalf("summary: %+v", res)
	}
	status, body := f.do(http.MethodGet, path, keyShop, "")
	if status != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Fatalf("the agent with its right secret: %d %s", status, body)
	}
	if n := f.sim.Calls(simulator.EndpointWeComToken, corp+"/"+agent); n != 1 {
		t.Errorf("%d gettoken calls with the agent's secret, want 1", n)
	}

	// Another agent: a restart, said so; the app added beside it is
	// applied.
	more := "wecom:\n  - corpid: " + corp + "\n    agents:\n      - {agentid: \"" + agent + "\", secret_env: AGENT_RIGHT}\n      - {agentid: contacts, secret_env: AGENT_WRONG}\n"
	res = f.reload("apps:\n  - {appid: " + appA + ", secret_env: SECRET_A}\n  - {appid: " + appB + ", secret_env: SECRET_B}\n" + more + clients())
	if fmt.Sprint(res.NeedRestart) != "[wecom]" || fmt.Sprint(res.Added) != "["+appB+"]" {
		t.Errorf("summary: %+v", res)
	}
	if status, _ := f.do(http.MethodGet, "/v1/wecom/"+corp+"/contacts/access_token", keyShop, ""); status != http.StatusNotFound {
		t.Errorf("the agent that takes a restart is served: %d", status)
	}
	f.token(appB, keyShop)
}
