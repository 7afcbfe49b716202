package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// Compressed-time knobs shared by every test. Lifetimes are seconds instead
// of two hours; the error policy's waits are scaled by each setup's
// policyScale.
const (
	// margin is refresh.margin: cut from every expires_in handed out.
	margin = 500 * time.Millisecond
	// backoffBase and backoffMax bound the retries after transient
	// failures; the engine never plans two attempts on one credential
	// closer than backoffBase/2.
	backoffBase = 100 * time.Millisecond
	backoffMax  = time.Second
	minGap      = backoffBase / 2
)

// appSpec is one app known to both the simulator and wxtoken.
type appSpec struct {
	id      string
	api     string   // "stable" or "classic"
	tickets []string // "jsapi", "wx_card"
	// secretFile puts the secret in a file (secret_file) instead of the
	// environment (secret_env).
	secretFile bool
}

// wecomSpec is one WeCom corp, with its agents, known to both the
// simulator and wxtoken.
type wecomSpec struct {
	corp   string
	agents []agentSpec
}

// agentSpec is one agent of a WeCom corp.
type agentSpec struct {
	id      string
	tickets []string // "jsapi", "agent_config"
}

// clientSpec is one client key of the config.
type clientSpec struct {
	name  string
	apps  []string
	admin bool
}

// setup describes a simulator and the wxtoken config in front of it.
type setup struct {
	apps []appSpec
	// wecom are the WeCom corps, served by the same simulator.
	wecom []wecomSpec
	// clients defaults to one admin client granted every app.
	clients []clientSpec
	// ttl and overlap configure the simulator; overlap is also
	// upstream.overlap. ticketTTL defaults to ttl.
	ttl, overlap, ticketTTL time.Duration
	// timeout is upstream.timeout; default 2s.
	timeout time.Duration
	// lease is store.redis.lease_ttl in cluster mode; 0 is leaseTTL.
	lease time.Duration
	// passiveInterval is refresh.passive_interval; default 10s.
	passiveInterval time.Duration
	// early is refresh.early; 0 keeps the default (0.66).
	early float64
	// policyScale multiplies every wait of the error policy; default 1/600
	// (a 5-minute wait becomes 0.5 s).
	policyScale float64
	// readTimeout is the HTTP server's read timeout (server.Options.HTTP);
	// 0 keeps the default.
	readTimeout time.Duration
	// oldTicket is the simulator's OldTicket: what a new ticket does to the
	// one it replaces; "" for the simulator's default.
	oldTicket string
	// backoffBase and backoffMax replace the package's compressed
	// backoffBase and backoffMax when set.
	backoffBase, backoffMax time.Duration
	// platforms are third-party platforms served by the same simulator
	// (platform_helpers_test.go); with any, the store gets an encryption
	// key.
	platforms []platformSpec
	// unconfigured are apps, and unconfiguredWeCom WeCom agents, that the
	// simulator knows and the config does not: they are registered
	// through the API while the server runs. Their secrets are in
	// env.unconfigured.
	unconfigured      []appSpec
	unconfiguredWeCom []wecomSpec
	// storeKey gives the config a store encryption key, which
	// registering at runtime needs.
	storeKey bool
	// maxRate is refresh.max_rate; 0 keeps the default.
	maxRate float64
}

// env is a running simulator, the config of a wxtoken in front of it, the
// captured server log and an HTTP client that checks every answer for
// secrets.
type env struct {
	t       *testing.T
	setup   setup
	sim     *simulator.Simulator
	simURL  string
	cfg     *config.Config
	secrets map[string]string // secret value -> what it is, for messages
	keys    map[string]string // client name -> key
	key     string            // the first client's key
	logs    *logbuf.Buffer
	log     *slog.Logger
	hc      *http.Client
	// base is the URL of the server started last.
	base string
	// yaml is the config's text, and envVars the environment it reads
	// its secrets from.
	yaml    string
	envVars map[string]string
	// unconfigured maps the id of each app and WeCom agent of
	// setup.unconfigured and setup.unconfiguredWeCom (an appid, a
	// "corpid/agentid") to its secret.
	unconfigured map[string]string
	// answered counts the calls the simulator has finished answering, by
	// path: a slow answer is counted once it is written, not when the
	// call arrives, as the simulator's own counters are.
	answeredMu sync.Mutex
	answered   map[string]int
	// plat is where the simulator's platforms push, and their secrets.
	plat *platformEnv
}

// newEnv starts a simulator and builds a wxtoken config for s; call start
// to run a server. Everything is stopped when the test ends, and the
// server log is then searched for every secret of the config.
func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	if s.timeout == 0 {
		s.timeout = 2 * time.Second
	}
	if s.passiveInterval == 0 {
		s.passiveInterval = 10 * time.Second
	}
	if s.policyScale == 0 {
		s.policyScale = 1.0 / 600
	}
	if len(s.clients) == 0 {
		s.clients = []clientSpec{{name: "e2e", apps: []string{"*"}, admin: true}}
	}
	e := &env{
		t:        t,
		setup:    s,
		secrets:  map[string]string{},
		keys:     map[string]string{},
		logs:     &logbuf.Buffer{},
		answered: map[string]int{},

		unconfigured: map[string]string{},
	}
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.hc = &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 400, MaxIdleConnsPerHost: 400, IdleConnTimeout: 10 * time.Second},
	}
	t.Cleanup(e.hc.CloseIdleConnections)

	simApps := map[string]string{}
	appSecrets := map[string]string{}
	for _, a := range s.apps {
		secret := randomHex(16) // 32 hex digits, the shape of a real AppSecret
		simApps[a.id] = secret
		appSecrets[a.id] = secret
		e.secrets[secret] = "the AppSecret of " + a.id
	}
	for _, a := range s.unconfigured {
		secret := randomHex(16)
		simApps[a.id] = secret
		e.unconfigured[a.id] = secret
		e.secrets[secret] = "the AppSecret of " + a.id
	}
	var simAgents []simulator.WeComAgent
	agentSecrets := map[string]string{}
	for _, c := range s.unconfiguredWeCom {
		for _, a := range c.agents {
			secret := randomHex(21)
			simAgents = append(simAgents, simulator.WeComAgent{CorpID: c.corp, AgentID: a.id, Secret: secret})
			e.unconfigured[c.corp+"/"+a.id] = secret
			e.secrets[secret] = "the secret of WeCom agent " + c.corp + "/" + a.id
		}
	}
	for _, c := range s.wecom {
		for _, a := range c.agents {
			secret := randomHex(21) // 43 characters would be real; any unguessable value does
			simAgents = append(simAgents, simulator.WeComAgent{CorpID: c.corp, AgentID: a.id, Secret: secret})
			agentSecrets[c.corp+"/"+a.id] = secret
			e.secrets[secret] = "the secret of WeCom agent " + c.corp + "/" + a.id
		}
	}
	simPlatforms := e.newPlatformEnv(t, s.platforms)
	sim, err := simulator.New(simulator.Options{Apps: simApps, WeCom: simAgents, Platforms: simPlatforms, TTL: s.ttl, Overlap: s.overlap,
		TicketTTL: s.ticketTTL, OldTicket: s.oldTicket})
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	t.Cleanup(func() { sim.Close() }) // stops the platforms' pushes
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sim.ServeHTTP(w, r)
		e.answeredMu.Lock()
		e.answered[r.URL.Path]++
		e.answeredMu.Unlock()
	}))
	t.Cleanup(simSrv.Close)
	e.sim, e.simURL = sim, simSrv.URL

	dir := t.TempDir()
	envVars := map[string]string{}
	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\n")
	storeKey := e.storeKeyYAML(envVars)
	if s.storeKey && storeKey == "" {
		key, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		envVars["E2E_STORE_KEY"] = key
		e.secrets[key] = "the store encryption key"
		storeKey = ", encryption_key_env: E2E_STORE_KEY"
	}
	fmt.Fprintf(&y, "store: {driver: bolt, path: %q%s}\n", filepath.Join(dir, "wxtoken.db"), storeKey)
	fmt.Fprintf(&y, "upstream: {base_url: %q, wecom_base_url: %q, fallback_base_urls: [], timeout: %s, overlap: %s}\n",
		simSrv.URL, simSrv.URL, s.timeout, s.overlap)
	fmt.Fprintf(&y, "refresh: {margin: %s, passive_interval: %s", margin, s.passiveInterval)
	if s.early != 0 {
		fmt.Fprintf(&y, ", early: %g", s.early)
	}
	if s.maxRate != 0 {
		fmt.Fprintf(&y, ", max_rate: %g", s.maxRate)
	}
	y.WriteString("}\napps:\n")
	for i, a := range s.apps {
		tickets := "[" + strings.Join(a.tickets, ", ") + "]"
		if a.secretFile {
			p := filepath.Join(dir, fmt.Sprintf("secret-%d", i))
			if err := os.WriteFile(p, []byte(appSecrets[a.id]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&y, "  - {appid: %s, secret_file: %q, token_api: %s, tickets: %s}\n", a.id, p, a.api, tickets)
			continue
		}
		name := fmt.Sprintf("E2E_SECRET_%d", i)
		envVars[name] = appSecrets[a.id]
		fmt.Fprintf(&y, "  - {appid: %s, secret_env: %s, token_api: %s, tickets: %s}\n", a.id, name, a.api, tickets)
	}
	if len(s.apps) == 0 {
		y.WriteString("  []\n")
	}
	if len(s.wecom) > 0 {
		y.WriteString("wecom:\n")
	}
	for i, c := range s.wecom {
		fmt.Fprintf(&y, "  - corpid: %s\n    agents:\n", c.corp)
		for j, a := range c.agents {
			name := fmt.Sprintf("E2E_AGENT_SECRET_%d_%d", i, j)
			envVars[name] = agentSecrets[c.corp+"/"+a.id]
			fmt.Fprintf(&y, "      - {agentid: %q, secret_env: %s, tickets: [%s]}\n", a.id, name, strings.Join(a.tickets, ", "))
		}
	}
	e.platformsYAML(&y, envVars)
	y.WriteString("clients:\n")
	for _, c := range s.clients {
		key := newKey()
		e.keys[c.name] = key
		if e.key == "" {
			e.key = key
		}
		e.secrets[key] = "the client key of " + c.name
		apps, _ := json.Marshal(c.apps)
		if c.apps == nil {
			apps = []byte("[]")
		}
		fmt.Fprintf(&y, "  - {name: %s, key_sha256: %q, apps: %s, admin: %t}\n", c.name, keyHash(key), apps, c.admin)
	}
	y.WriteString("log: {level: debug}\n")
	cfg, err := config.Parse([]byte(y.String()), dir, func(name string) (string, bool) {
		v, ok := envVars[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, y.String())
	}
	e.cfg = cfg
	e.yaml, e.envVars = y.String(), envVars

	// Registered after the simulator's Close and before any server's stop,
	// so it runs once every server has stopped and before the simulator
	// goes away.
	t.Cleanup(func() {
		logs := e.logs.String()
		for secret, what := range e.secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("the server log contains %s", what)
			}
		}
		if t.Failed() {
			t.Logf("last lines of the server log:\n%s", lastLines(logs, 40))
		}
	})
	return e
}

// instance is one running wxtoken server.
type instance struct {
	srv  *server.Server
	base string
	// skew is how far the server's clock runs ahead of the test's.
	skew   time.Duration
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a wxtoken server with e's config on 127.0.0.1:0; it is
// stopped when the test ends, if not before.
func (e *env) start() *instance {
	e.t.Helper()
	return e.startWith(e.cfg, nil, e.log)
}

// startWith is start with another config (a copy of e's), clock (nil for
// the system clock) and log.
func (e *env) startWith(cfg *config.Config, clock refresh.Clock, log *slog.Logger) *instance {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	base, ceil := backoffBase, backoffMax
	if e.setup.backoffBase != 0 {
		base = e.setup.backoffBase
	}
	if e.setup.backoffMax != 0 {
		ceil = e.setup.backoffMax
	}
	srv, err := server.New(ctx, cfg, server.Options{
		Logger: log,
		Engine: func(o *refresh.Options) {
			o.Clock, o.PolicyScale, o.BackoffBase, o.BackoffMax = clock, e.setup.policyScale, base, ceil
		},
		HTTP: func(hs *http.Server) {
			if e.setup.readTimeout != 0 {
				hs.ReadTimeout = e.setup.readTimeout
			}
		},
	})
	if err != nil {
		cancel()
		e.t.Fatalf("server.New: %v", err)
	}
	in := &instance{srv: srv, base: srv.URL(), cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- srv.Serve(ctx) }()
	e.base = in.base
	t := e.t
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop shuts the server down and waits for Serve to return, which closes
// its store.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.once.Do(func() {
		in.cancel()
		select {
		case err := <-in.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the server did not stop within 30s")
		}
	})
}

// answer is one HTTP exchange with the server.
type answer struct {
	status         int
	header         http.Header
	body           []byte
	sent, received time.Time
}

func (a answer) String() string { return fmt.Sprintf("HTTP %d %s", a.status, bytes.TrimSpace(a.body)) }

// request sends one request to the server started last, with key as the
// bearer key ("" for none) and body as a JSON body ("" for none). Every
// answer is searched for the config's secrets. It is safe to call from
// any goroutine: it reports leaks with Errorf and returns transport
// errors.
func (e *env) request(method, path, key, body string) (answer, error) {
	return e.requestAt(e.base, method, path, key, body)
}

// requestAt is request to the server at base.
func (e *env) requestAt(base, method, path, key, body string) (answer, error) {
	return e.requestWith(e.hc, base, method, path, key, body)
}

// requestWith is requestAt through hc: the process tests use a client of
// their own with a short timeout, so that a paused replica cannot hold
// their pollers up.
func (e *env) requestWith(hc *http.Client, base, method, path, key, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	a := answer{sent: time.Now()}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	a.body, err = io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	a.received = time.Now()
	a.status, a.header = resp.StatusCode, resp.Header
	e.checkNoSecret(fmt.Sprintf("the answer to %s %s", method, routeOf(path)), a)
	return a, nil
}

// routeOf strips the query of path, which may hold a page URL, for
// messages.
func routeOf(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// checkNoSecret reports any config secret in a's headers or body.
func (e *env) checkNoSecret(where string, a answer) {
	var hdr strings.Builder
	_ = a.header.Write(&hdr)
	for secret, what := range e.secrets {
		if bytes.Contains(a.body, []byte(secret)) {
			e.t.Errorf("%s (HTTP %d) contains %s in its body", where, a.status, what)
		}
		if strings.Contains(hdr.String(), secret) {
			e.t.Errorf("%s (HTTP %d) contains %s in its headers", where, a.status, what)
		}
	}
}

// mustDo is request for the test's own goroutine: a transport error ends
// the test.
func (e *env) mustDo(t *testing.T, method, path, key, body string) answer {
	t.Helper()
	a, err := e.request(method, path, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// grant is a credential as handed out by the server.
type grant struct {
	value     string
	expiresIn time.Duration
	// deadline is the end of the promise: the later of the answer's
	// expires_at and the request's start plus expires_in, both of which
	// the credential must outlive.
	deadline time.Time
}

type tokenJSON struct {
	AppID       string `json:"appid"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
}

type ticketJSON struct {
	AppID     string `json:"appid"`
	Type      string `json:"type"`
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
	ExpiresAt string `json:"expires_at"`
}

type errorJSON struct {
	Error struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		WeChatErrCode int    `json:"wechat_errcode"`
	} `json:"error"`
}

// parseGrant reads a 200 answer of a token or ticket route. It checks the
// shape and returns an error for anything off, so that it can be used from
// any goroutine.
func parseGrant(a answer, appID, ticketType string) (grant, error) {
	return parseGrantSkewed(a, appID, ticketType, 0)
}

// parseGrantSkewed is parseGrant for a server whose clock runs skew ahead
// of the test's: its expires_at is in its own clock.
func parseGrantSkewed(a answer, appID, ticketType string, skew time.Duration) (grant, error) {
	if a.status != http.StatusOK {
		return grant{}, fmt.Errorf("want HTTP 200, got %s", a)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		return grant{}, fmt.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
	var (
		value, gotApp, at string
		in                int64
	)
	if ticketType == "" {
		var b tokenJSON
		if err := strictJSON(a.body, &b); err != nil {
			return grant{}, err
		}
		value, gotApp, in, at = b.AccessToken, b.AppID, b.ExpiresIn, b.ExpiresAt
	} else {
		var b ticketJSON
		if err := strictJSON(a.body, &b); err != nil {
			return grant{}, err
		}
		if b.Type != ticketType {
			return grant{}, fmt.Errorf("type %q, want %q", b.Type, ticketType)
		}
		value, gotApp, in, at = b.Ticket, b.AppID, b.ExpiresIn, b.ExpiresAt
	}
	if gotApp != appID || value == "" || in < 1 {
		return grant{}, fmt.Errorf("bad grant for app %s: %s", appID, a)
	}
	expAt, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return grant{}, fmt.Errorf("expires_at %q is not RFC 3339: %v", at, err)
	}
	expAt = expAt.Add(-skew)
	g := grant{value: value, expiresIn: time.Duration(in) * time.Second}
	g.deadline = a.sent.Add(g.expiresIn)
	if expAt.After(g.deadline) {
		g.deadline = expAt
	}
	// expires_at is whole seconds: it may read up to 1 s before the
	// exact end of the promise, never after it.
	if lo, hi := a.sent.Add(g.expiresIn).Add(-time.Second), a.received.Add(g.expiresIn); expAt.Before(lo) || expAt.After(hi) {
		return grant{}, fmt.Errorf("expires_at %s does not match expires_in %d (answered between %s and %s)",
			at, in, a.sent.Format(time.RFC3339Nano), a.received.Format(time.RFC3339Nano))
	}
	return g, nil
}

// strictJSON decodes one JSON object into v, refusing unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %v", bytes.TrimSpace(b), err)
	}
	return nil
}

// token gets the app's access_token with the default key.
func (e *env) token(t *testing.T, appID string) grant {
	t.Helper()
	g, err := parseGrant(e.mustDo(t, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, ""), appID, "")
	if err != nil {
		t.Fatalf("GET access_token of %s: %v", appID, err)
	}
	return g
}

// ticket gets one of the app's tickets with the default key.
func (e *env) ticket(t *testing.T, appID, typ string) grant {
	t.Helper()
	g, err := parseGrant(e.mustDo(t, http.MethodGet, "/v1/apps/"+appID+"/tickets/"+typ, e.key, ""), appID, typ)
	if err != nil {
		t.Fatalf("GET %s ticket of %s: %v", typ, appID, err)
	}
	return g
}

// apiError decodes an error answer and checks its status and code.
func apiError(t *testing.T, a answer, status int, code string) errorJSON {
	t.Helper()
	if a.status != status {
		t.Fatalf("want HTTP %d, got %s", status, a)
	}
	var b errorJSON
	if err := strictJSON(a.body, &b); err != nil {
		t.Fatalf("error answer: %v", err)
	}
	if b.Error.Code != code || b.Error.Message == "" {
		t.Fatalf("want error code %q with a message, got %s", code, a)
	}
	return b
}

// waitFor polls cond every 20 ms until it holds, failing the test after
// timeout. It is for events that happen on the real clock in compressed
// time.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet waits until the server started last holds every credential fresh
// and has planned its next look at each more than ahead from now: it
// means to call WeChat for none of them before then. It stands in for
// waiting a while to see that nothing happens.
func (e *env) quiet(t *testing.T, ahead time.Duration) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("the server to plan nothing for the next %v", ahead), func() bool {
		st := e.status(t, e.base)
		for _, a := range st.Apps {
			for _, c := range a.Credentials {
				if c.State != "fresh" || c.NextRefreshAt == nil || time.Until(*c.NextRefreshAt) < ahead {
					return false
				}
			}
		}
		return len(st.Apps) > 0
	})
}

// answers returns how many calls to path (such as "/cgi-bin/token") the
// simulator has finished answering.
func (e *env) answers(path string) int {
	e.answeredMu.Lock()
	defer e.answeredMu.Unlock()
	return e.answered[path]
}

// tokenEndpoint is the simulator endpoint that mints tokens for api.
func tokenEndpoint(api string) string {
	if api == "classic" {
		return simulator.EndpointToken
	}
	return simulator.EndpointStableToken
}

// allAtOnce runs fn(i) for i in [0, n) in n goroutines released together,
// and waits for all of them.
func allAtOnce(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// tokensAtOnce sends n access_token requests released together, request i
// being what req(i) says (the server's base URL, the method, the path and
// a JSON body or ""), and returns the token of each answer. An answer that
// is not a valid grant ends the test, naming the request.
func (e *env) tokensAtOnce(t *testing.T, appID string, n int, req func(i int) (base, method, path, body string)) []string {
	t.Helper()
	values := make([]string, n)
	errs := make([]error, n)
	allAtOnce(n, func(i int) {
		base, method, path, body := req(i)
		a, err := e.requestAt(base, method, path, e.key, body)
		if err == nil {
			var g grant
			g, err = parseGrant(a, appID, "")
			values[i] = g.value
		}
		errs[i] = err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return values
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newKey returns a client key shaped like the ones wxtoken keygen prints.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "wxt_" + base64.RawURLEncoding.EncodeToString(b)
}

// keyHash is the key_sha256 of a client key.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
