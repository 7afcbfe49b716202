package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/simulator"
)

// platformSpec is one third-party platform known to both the simulator
// and wxtoken.
type platformSpec struct {
	id string
	// tickets are the platform's authorizer_tickets.
	tickets []string
	// pushInterval is how often the simulator pushes a verify ticket;
	// the simulator's default when zero.
	pushInterval time.Duration
	// refreshToken is the simulator's Platform.RefreshToken; "" for its
	// default.
	refreshToken string
}

// platformKeys are a platform's secrets, as set on the open platform.
type platformKeys struct {
	secret, token, aesKey string
}

// platformEnv is the platforms' side of an env: their secrets, the
// store key that seals the refresh tokens, and the relay that the
// simulator pushes to, which forwards each push to the server the test
// names (servers listen on ports of their own choosing, and a restarted
// one on another).
type platformEnv struct {
	specs    []platformSpec
	keys     map[string]platformKeys
	storeKey string
	relay    *httptest.Server
	target   atomic.Pointer[string]
	// ready is closed once a target is set: pushes made before (the
	// simulator's first, as a server starts) wait for it.
	ready     chan struct{}
	readyOnce sync.Once
}

// newPlatformEnv makes the secrets of specs and the push relay, and
// returns the simulator's platforms; nil when specs is empty.
func (e *env) newPlatformEnv(t *testing.T, specs []platformSpec) []simulator.Platform {
	t.Helper()
	if len(specs) == 0 {
		return nil
	}
	key, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pe := &platformEnv{specs: specs, keys: map[string]platformKeys{}, storeKey: key, ready: make(chan struct{})}
	e.secrets[key] = "the store encryption key"
	fwd := &http.Client{Timeout: 10 * time.Second}
	pe.relay = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-pe.ready:
		case <-r.Context().Done():
			return
		case <-time.After(4 * time.Second): // within the simulator's 5 s
			http.Error(w, "no server to push to yet", http.StatusServiceUnavailable)
			return
		}
		target := pe.target.Load()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, *target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := fwd.Do(req)
		if err != nil {
			http.Error(w, "relaying the push: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(pe.relay.Close)
	t.Cleanup(fwd.CloseIdleConnections)
	var out []simulator.Platform
	for _, s := range specs {
		k := platformKeys{secret: randomHex(16), token: randomHex(8), aesKey: aesKey()}
		pe.keys[s.id] = k
		e.secrets[k.secret] = "the component secret of " + s.id
		e.secrets[k.token] = "the message check token of " + s.id
		e.secrets[k.aesKey] = "the EncodingAESKey of " + s.id
		out = append(out, simulator.Platform{ComponentAppID: s.id, Secret: k.secret, Token: k.token, EncodingAESKey: k.aesKey,
			EventURL: pe.relay.URL + "/v1/platforms/" + s.id + "/events", PushInterval: s.pushInterval, RefreshToken: s.refreshToken})
	}
	e.plat = pe
	return out
}

// aesKey returns a random 43-character EncodingAESKey.
func aesKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 43)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// storeKeyYAML is what the store line of the config adds for the
// platforms, setting the variable it names in envVars: "" without
// platforms.
func (e *env) storeKeyYAML(envVars map[string]string) string {
	if e.plat == nil {
		return ""
	}
	envVars["E2E_STORE_KEY"] = e.plat.storeKey
	return ", encryption_key_env: E2E_STORE_KEY"
}

// platformsYAML writes the config's platforms, setting the variables it
// names in envVars.
func (e *env) platformsYAML(y *strings.Builder, envVars map[string]string) {
	if e.plat == nil {
		return
	}
	y.WriteString("platforms:\n")
	for i, s := range e.plat.specs {
		k := e.plat.keys[s.id]
		names := [3]string{fmt.Sprintf("E2E_COMP_SECRET_%d", i), fmt.Sprintf("E2E_COMP_TOKEN_%d", i), fmt.Sprintf("E2E_COMP_AES_%d", i)}
		envVars[names[0]], envVars[names[1]], envVars[names[2]] = k.secret, k.token, k.aesKey
		fmt.Fprintf(y, "  - {component_appid: %s, secret_env: %s, token_env: %s, encoding_aes_key_env: %s, authorizer_tickets: [%s]}\n",
			s.id, names[0], names[1], names[2], strings.Join(s.tickets, ", "))
	}
}

// pushTo sends the simulator's pushes to the server at base from now on.
func (e *env) pushTo(base string) {
	e.plat.target.Store(&base)
	e.plat.readyOnce.Do(func() { close(e.plat.ready) })
}

// authorizerPath is the path of an authorizer's route below its prefix:
// "access_token" or "tickets/jsapi".
func authorizerPath(comp, appID, route string) string {
	return "/v1/platforms/" + comp + "/authorizers/" + appID + "/" + route
}

// authorizerGrantJSON is the answer of an authorizer's token and ticket
// routes.
type authorizerGrantJSON struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	AccessToken     string `json:"access_token"`
	Type            string `json:"type"`
	Ticket          string `json:"ticket"`
	ExpiresIn       int64  `json:"expires_in"`
	ExpiresAt       string `json:"expires_at"`
}

// authorizerGrant asks the server at base (through hc, e.hc when nil) for
// an authorizer's access_token (typ "") or ticket of type typ, and
// checks the answer's shape: the error says what is off, so that it can
// be used from any goroutine.
func (e *env) authorizerGrant(hc *http.Client, base, comp, appID, typ string) (grant, error) {
	if hc == nil {
		hc = e.hc
	}
	route := "access_token"
	if typ != "" {
		route = "tickets/" + typ
	}
	a, err := e.requestWith(hc, base, http.MethodGet, authorizerPath(comp, appID, route), e.key, "")
	if err != nil {
		return grant{}, err
	}
	if a.status != http.StatusOK {
		return grant{}, fmt.Errorf("%s of %s: want HTTP 200, got %s", route, appID, a)
	}
	var b authorizerGrantJSON
	if err := strictJSON(a.body, &b); err != nil {
		return grant{}, fmt.Errorf("%s of %s: %v", route, appID, err)
	}
	value := b.AccessToken
	if typ != "" {
		value = b.Ticket
	}
	if b.ComponentAppID != comp || b.AuthorizerAppID != appID || b.Type != typ || value == "" || b.ExpiresIn < 1 {
		return grant{}, fmt.Errorf("%s of %s: bad grant: %s", route, appID, a)
	}
	expAt, err := time.Parse(time.RFC3339, b.ExpiresAt)
	if err != nil {
		return grant{}, fmt.Errorf("%s of %s: expires_at %q is not RFC 3339: %v", route, appID, b.ExpiresAt, err)
	}
	g := grant{value: value, expiresIn: time.Duration(b.ExpiresIn) * time.Second}
	g.deadline = a.sent.Add(g.expiresIn)
	if expAt.After(g.deadline) {
		g.deadline = expAt
	}
	if lo, hi := a.sent.Add(g.expiresIn).Add(-time.Second), a.received.Add(g.expiresIn); expAt.Before(lo) || expAt.After(hi) {
		return grant{}, fmt.Errorf("%s of %s: expires_at %s does not match expires_in %d", route, appID, b.ExpiresAt, b.ExpiresIn)
	}
	return g, nil
}

// componentToken asks the server at base for the platform's
// component_access_token; ok is false for any answer but a good grant.
func (e *env) componentToken(base, comp string) (string, bool) {
	a, err := e.requestAt(base, http.MethodGet, "/v1/platforms/"+comp+"/component_access_token", e.key, "")
	if err != nil || a.status != http.StatusOK {
		return "", false
	}
	var b struct {
		ComponentAppID string `json:"component_appid"`
		Token          string `json:"component_access_token"`
		ExpiresIn      int64  `json:"expires_in"`
		ExpiresAt      string `json:"expires_at"`
	}
	if err := strictJSON(a.body, &b); err != nil || b.ComponentAppID != comp || b.Token == "" || b.ExpiresIn < 1 {
		return "", false
	}
	return b.Token, true
}

// authorizerList is GET /v1/platforms/{c}/authorizers at base, by
// authorizer_appid.
func (e *env) authorizerList(t *testing.T, hc *http.Client, base, comp string) map[string]wxtoken.AuthorizerStatus {
	t.Helper()
	if hc == nil {
		hc = e.hc
	}
	a, err := e.requestWith(hc, base, http.MethodGet, "/v1/platforms/"+comp+"/authorizers", e.key, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusOK {
		t.Fatalf("GET the authorizers: %s", a)
	}
	var b struct {
		Authorizers []wxtoken.AuthorizerStatus `json:"authorizers"`
	}
	if err := json.Unmarshal(a.body, &b); err != nil {
		t.Fatalf("GET the authorizers: %v", err)
	}
	out := map[string]wxtoken.AuthorizerStatus{}
	for _, st := range b.Authorizers {
		out[st.AuthorizerAppID] = st
	}
	return out
}

// authorization is one account authorized through a push: when the
// Authorize call started, and what became of it.
type authorization struct {
	started time.Time
	simulator.Authorized
}

// authorizeMany has n accounts authorize the platform, parallel at a
// time, and returns them in the order they were made; a failed control
// call ends the test, a push not answered success is reported, and ten
// of those stop the authorizations (each may have waited WeChat's 5 s).
func (e *env) authorizeMany(t *testing.T, comp string, n, parallel int) []authorization {
	t.Helper()
	out := make([]authorization, n)
	errs := make([]error, n)
	next := make(chan int)
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for range parallel {
		wg.Go(func() {
			for i := range next {
				out[i].started = time.Now()
				out[i].Authorized, errs[i] = e.sim.Authorize(context.Background(), simulator.AuthorizeRequest{ComponentAppID: comp})
				if errs[i] != nil || !out[i].Push.Success {
					failed.Add(1)
				}
			}
		})
	}
	made := 0
	for ; made < n && failed.Load() < 10; made++ {
		next <- made
	}
	close(next)
	wg.Wait()
	out, errs = out[:made], errs[:made]
	bad := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("authorization %d: %v", i, err)
		}
		if !out[i].Push.Success {
			if bad++; bad <= 10 {
				t.Errorf("authorization %d (%s): the push was not answered success: %+v", i, out[i].AuthorizerAppID, out[i].Push)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d authorized pushes not answered success (%d made)", bad, n, made)
	}
	return out
}

// refreshTokens returns the current refresh token of every account in
// appIDs, as WeChat handed it out.
func (e *env) refreshTokens(t *testing.T, comp string, appIDs []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range appIDs {
		rt, err := e.sim.RefreshToken(comp, id)
		if err != nil {
			t.Fatal(err)
		}
		out[rt] = id
	}
	return out
}

// searchPlain reports every refresh token (value -> authorizer) found in
// b, which is what where names.
func searchPlain(t *testing.T, where string, b []byte, tokens map[string]string) {
	t.Helper()
	found := 0
	for rt, id := range tokens {
		if bytes.Contains(b, []byte(rt)) {
			if found++; found <= 5 {
				t.Errorf("%s holds the refresh token of %s in plaintext", where, id)
			}
		}
	}
	if found > 5 {
		t.Errorf("%s holds %d refresh tokens in plaintext in all", where, found)
	}
}

// redisBytes reads every key under prefix at the Redis at addr, whatever
// its type, and returns the names and values together.
func redisBytes(t *testing.T, addr, prefix string) ([]byte, int) {
	t.Helper()
	rc := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		buf  bytes.Buffer
		keys int
	)
	iter := rc.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		buf.WriteString(k + "\n")
		typ, err := rc.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var vals []string
		switch typ {
		case "string":
			v, err := rc.Get(ctx, k).Result()
			if err != nil && err != goredis.Nil {
				t.Fatalf("GET %s: %v", k, err)
			}
			vals = []string{v}
		case "hash":
			m, err := rc.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("HGETALL %s: %v", k, err)
			}
			for f, v := range m {
				vals = append(vals, f, v)
			}
		case "set":
			vals, err = rc.SMembers(ctx, k).Result()
		case "zset":
			vals, err = rc.ZRange(ctx, k, 0, -1).Result()
		case "list":
			vals, err = rc.LRange(ctx, k, 0, -1).Result()
		case "stream":
			var msgs []goredis.XMessage
			msgs, err = rc.XRange(ctx, k, "-", "+").Result()
			for _, m := range msgs {
				for f, v := range m.Values {
					vals = append(vals, f, fmt.Sprint(v))
				}
			}
		case "none":
			// Gone since the scan (a lease that lapsed).
		default:
			t.Fatalf("key %s has type %s, which the test cannot read", k, typ)
		}
		if err != nil {
			t.Fatalf("reading %s (%s): %v", k, typ, err)
		}
		for _, v := range vals {
			buf.WriteString(v + "\n")
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return buf.Bytes(), keys
}

// watchDeadlines checks, until ctx ends, every credential in rec shortly
// before the end of the longest promise made for it, and returns how
// many checks it made. A credential dead at WeChat stays dead, so one
// alive then was alive for the whole promise: with thousands of
// credentials this costs the simulator one check each, where sweeping
// them all again and again (watchdog) would hold it up. A credential
// checked and then promised for longer is checked again.
func (e *env) watchDeadlines(ctx context.Context, rec *handedOut, fail func(format string, args ...any)) int {
	const ahead = 60 * time.Millisecond
	checks := 0
	checkedFor := map[string]time.Time{} // value -> the deadline it was checked for
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		for v, p := range rec.live(now) {
			if p.deadline.Sub(now) > ahead || checkedFor[v].Equal(p.deadline) {
				continue
			}
			checkedFor[v] = p.deadline
			st := e.sim.Check(v)
			checked := time.Now()
			checks++
			if !st.Valid && checked.Before(p.deadline) {
				fail("%s handed out %d times with a promise until %s is dead at the simulator (%s) %v before the end of the promise",
					p.kind, p.count, p.deadline.Format("15:04:05.000"), st.Reason, p.deadline.Sub(checked).Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return checks
		case <-tick.C:
		}
	}
}
