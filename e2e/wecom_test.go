package e2e_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

const wecomCorp = "ww0123456789abcdef"

// twoAgents is one corp with two agents, both keeping both tickets.
func twoAgents() []wecomSpec {
	return []wecomSpec{{corp: wecomCorp, agents: []agentSpec{
		{id: "1000002", tickets: []string{"jsapi", "agent_config"}},
		{id: "1000003", tickets: []string{"jsapi", "agent_config"}},
	}}}
}

// wecomGrant reads an answer of a /v1/wecom route: the credential and the
// end of its promise.
func wecomGrant(a answer, agent, ticketType string) (grant, error) {
	if a.status != http.StatusOK {
		return grant{}, fmt.Errorf("want HTTP 200, got %s", a)
	}
	var b struct {
		CorpID      string `json:"corpid"`
		AgentID     string `json:"agentid"`
		Type        string `json:"type"`
		AccessToken string `json:"access_token"`
		Ticket      string `json:"ticket"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(a.body, &b); err != nil {
		return grant{}, fmt.Errorf("%s: %v", a, err)
	}
	v := b.AccessToken
	if ticketType != "" {
		v = b.Ticket
	}
	if b.CorpID != wecomCorp || b.AgentID != agent || b.Type != ticketType || v == "" || b.ExpiresIn <= 0 {
		return grant{}, fmt.Errorf("unexpected answer for agent %s %q: %s", agent, ticketType, a)
	}
	in := time.Duration(b.ExpiresIn) * time.Second
	return grant{value: v, expiresIn: in, deadline: a.sent.Add(in)}, nil
}

func wecomPath(agent, what string) string { return "/v1/wecom/" + wecomCorp + "/" + agent + "/" + what }

// wecomToken reads an agent's token from the server started last.
func (e *env) wecomToken(t *testing.T, agent string) grant {
	t.Helper()
	g, err := wecomGrant(e.mustDo(t, http.MethodGet, wecomPath(agent, "access_token"), e.key, ""), agent, "")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// concurrentTokenReads makes n reads of agents' tokens at once, read i
// asking the server at the base and for the agent that pick(i) names, and
// returns the tokens handed out, by agent.
func (e *env) concurrentTokenReads(t *testing.T, n int, pick func(i int) (base, agent string)) map[string]map[string]bool {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]map[string]bool{}
	for i := range n {
		base, agent := pick(i)
		wg.Go(func() {
			a, err := e.requestAt(base, http.MethodGet, wecomPath(agent, "access_token"), e.key, "")
			if err != nil {
				t.Error(err)
				return
			}
			g, err := wecomGrant(a, agent, "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[agent] == nil {
				seen[agent] = map[string]bool{}
			}
			seen[agent][g.value] = true
		})
	}
	wg.Wait()
	return seen
}

func (e *env) gettokenCalls(agent string) int {
	return e.sim.Calls(simulator.EndpointWeComToken, wxtoken.WeComID(wecomCorp, agent))
}

// TestWeComAgentsKeptApart: two agents of one corp, 100 concurrent first
// reads each, get one gettoken call each and different tokens, each of
// which WeCom accepts only as its own agent's; the agents' JS-SDK configs
// verify against the simulator's tickets; a restart on the bolt file
// serves them with no call at all.
func TestWeComAgentsKeptApart(t *testing.T) {
	integration.Skip(t)
	e := newEnv(t, setup{wecom: twoAgents(), ttl: 7200 * time.Second, overlap: 300 * time.Second})
	in := e.start()
	agents := []string{"1000002", "1000003"}
	seen := e.concurrentTokenReads(t, 200, func(i int) (string, string) { return e.base, agents[i%2] })
	tokens := map[string]string{}
	for _, agent := range agents {
		if n := e.gettokenCalls(agent); n != 1 {
			t.Errorf("agent %s: %d gettoken calls for 100 concurrent first reads, want 1", agent, n)
		}
		if len(seen[agent]) != 1 {
			t.Fatalf("agent %s: %d different tokens handed out, want 1", agent, len(seen[agent]))
		}
		for v := range seen[agent] {
			tokens[agent] = v
		}
	}
	if tokens[agents[0]] == tokens[agents[1]] {
		t.Fatal("the two agents of one corp were handed the same token")
	}
	// Each token works at WeCom as its own agent's only.
	for i, agent := range agents {
		other := agents[1-i]
		for _, c := range []struct {
			agentid string
			want    int
		}{{agent, 0}, {other, 301002}} {
			q := url.Values{"access_token": {tokens[agent]}, "agentid": {c.agentid}}
			resp, err := http.Get(e.simURL + "/cgi-bin/agent/get?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			var ans struct {
				ErrCode int `json:"errcode"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if err != nil || ans.ErrCode != c.want {
				t.Errorf("agent %s's token used for agent %s: errcode %d (%v), want %d", agent, c.agentid, ans.ErrCode, err, c.want)
			}
		}
	}

	// Both JS-SDK configs verify with the tickets WeCom issued.
	const page = "https://oa.example.com/leave?id=9#top"
	for _, agent := range agents {
		a := e.mustDo(t, http.MethodGet, wecomPath(agent, "jssdk_config?url="+url.QueryEscape(page)), e.key, "")
		var cfg struct {
			URL    string `json:"url"`
			Config struct {
				AppID     string `json:"appId"`
				Timestamp int64  `json:"timestamp"`
				NonceStr  string `json:"nonceStr"`
				Signature string `json:"signature"`
			} `json:"config"`
			AgentConfig *struct {
				CorpID    string `json:"corpid"`
				AgentID   string `json:"agentid"`
				Timestamp int64  `json:"timestamp"`
				NonceStr  string `json:"nonceStr"`
				Signature string `json:"signature"`
			} `json:"agentConfig"`
		}
		if a.status != http.StatusOK || json.Unmarshal(a.body, &cfg) != nil || cfg.AgentConfig == nil {
			t.Fatalf("jssdk_config of %s: %s", agent, a)
		}
		signed := strings.TrimSuffix(page, "#top")
		if cfg.URL != signed || cfg.Config.AppID != wecomCorp || cfg.AgentConfig.CorpID != wecomCorp || cfg.AgentConfig.AgentID != agent {
			t.Fatalf("jssdk_config of %s: %s", agent, a)
		}
		for _, c := range []struct {
			kind            string
			nonce, sig      string
			ts              int64
			simKind, simFor string
		}{
			{"jsapi", cfg.Config.NonceStr, cfg.Config.Signature, cfg.Config.Timestamp, simulator.KindWeComJSAPI, wecomCorp},
			{"agent_config", cfg.AgentConfig.NonceStr, cfg.AgentConfig.Signature, cfg.AgentConfig.Timestamp, simulator.KindAgentConfig, wxtoken.WeComID(wecomCorp, agent)},
		} {
			tg, err := wecomGrant(e.mustDo(t, http.MethodGet, wecomPath(agent, "tickets/"+c.kind), e.key, ""), agent, c.kind)
			if err != nil {
				t.Fatal(err)
			}
			if st := e.sim.Check(tg.value); !st.Valid {
				t.Fatalf("agent %s: the %s ticket is not valid at WeCom: %+v", agent, c.kind, st)
			}
			sum := sha1.Sum(fmt.Appendf(nil, "jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", tg.value, c.nonce, c.ts, signed))
			if c.sig != hex.EncodeToString(sum[:]) {
				t.Errorf("agent %s: the %s signature does not verify with the ticket", agent, c.kind)
			}
		}
	}

	// A restart on the bolt file: served with no call to WeCom.
	calls := 0
	for _, ep := range []string{simulator.EndpointWeComToken, simulator.EndpointWeComJSAPITicket, simulator.EndpointWeComTicket} {
		calls += e.sim.Calls(ep, "")
	}
	in.stop(t)
	e.start()
	for _, agent := range agents {
		if g := e.wecomToken(t, agent); g.value != tokens[agent] {
			t.Errorf("agent %s: a new token after the restart", agent)
		}
		for _, k := range []string{"jsapi", "agent_config"} {
			if _, err := wecomGrant(e.mustDo(t, http.MethodGet, wecomPath(agent, "tickets/"+k), e.key, ""), agent, k); err != nil {
				t.Error(err)
			}
		}
	}
	after := 0
	for _, ep := range []string{simulator.EndpointWeComToken, simulator.EndpointWeComJSAPITicket, simulator.EndpointWeComTicket} {
		after += e.sim.Calls(ep, "")
	}
	if after != calls {
		t.Errorf("%d calls to WeCom after the restart, want 0", after-calls)
	}
	// Nothing an operator reads holds an agent's secret.
	for _, p := range []string{"/v1/apps", "/metrics", "/readyz"} {
		e.mustDo(t, http.MethodGet, p, e.key, "") // checked for secrets by request
	}
}

// TestWeComNoDeadCredentialIsHandedOut: clients polling both agents'
// tokens and tickets through two lifetimes never hold one that WeCom
// reports dead while its expires_in runs.
func TestWeComNoDeadCredentialIsHandedOut(t *testing.T) {
	integration.Skip(t)
	const ttl, overlap = 8 * time.Second, 2 * time.Second
	e := newEnv(t, setup{wecom: twoAgents(), ttl: ttl, overlap: overlap})
	e.start()
	agents := []string{"1000002", "1000003"}
	rec := &handedOut{creds: map[string]*promise{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*ttl+time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		polls    int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for p := range 6 {
		wg.Go(func() {
			tick := time.NewTicker(time.Duration(45+p*3) * time.Millisecond)
			defer tick.Stop()
			for {
				for _, agent := range agents {
					for _, typ := range []string{"", "jsapi", "agent_config"} {
						path, kind := wecomPath(agent, "access_token"), "access_token"
						if typ != "" {
							path, kind = wecomPath(agent, "tickets/"+typ), typ
						}
						a, err := e.request(http.MethodGet, path, e.key, "")
						if err != nil {
							fail("poller %d: %v", p, err)
							continue
						}
						if a.status == http.StatusServiceUnavailable {
							// The gap at a WeCom token's expiry, before WeCom
							// issues the next: refused, never dead.
							continue
						}
						g, err := wecomGrant(a, agent, typ)
						if err != nil {
							fail("poller %d: %v", p, err)
							continue
						}
						rec.add(kind, g)
						mu.Lock()
						polls++
						mu.Unlock()
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	var checks int
	wg.Go(func() { checks = e.watchdog(ctx, rec, fail) })
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d answers, %d checks, %d tokens, %d jsapi and %d agent_config tickets handed out",
		polls, checks, rec.distinct("access_token"), rec.distinct("jsapi"), rec.distinct("agent_config"))
	if n := rec.distinct("access_token"); n < 4 {
		t.Errorf("%d distinct tokens over two lifetimes of two agents, want at least 4", n)
	}
	for _, agent := range agents {
		if n := e.gettokenCalls(agent); n > 12 {
			t.Errorf("agent %s: %d gettoken calls in two lifetimes", agent, n)
		}
	}
}

// TestWeComEarlyEndHealedOnce: WeCom ends an agent's token early; 50
// callers report it at once; one gettoken call replaces it and every
// caller gets the new token. The other agent is untouched.
func TestWeComEarlyEndHealedOnce(t *testing.T) {
	integration.Skip(t)
	e := newEnv(t, setup{wecom: twoAgents(), ttl: 7200 * time.Second, overlap: 300 * time.Second, passiveInterval: time.Millisecond})
	e.start()
	old, other := e.wecomToken(t, "1000002"), e.wecomToken(t, "1000003")
	if _, err := e.sim.Invalidate(wxtoken.WeComID(wecomCorp, "1000002"), simulator.KindWeComToken); err != nil {
		t.Fatal(err)
	}
	before := e.gettokenCalls("1000002")
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for range 50 {
		wg.Go(func() {
			a, err := e.request(http.MethodPost, wecomPath("1000002", "access_token/refresh"), e.key, fmt.Sprintf(`{"stale":%q}`, old.value))
			if err != nil {
				t.Error(err)
				return
			}
			g, err := wecomGrant(a, "1000002", "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[g.value]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := e.gettokenCalls("1000002") - before; n != 1 {
		t.Errorf("%d gettoken calls for 50 reports of one early end, want 1", n)
	}
	if len(got) != 1 {
		t.Fatalf("the 50 reporters got %d different tokens", len(got))
	}
	for v := range got {
		if v == old.value || !e.sim.Check(v).Valid {
			t.Fatal("the reporters did not get a new, valid token")
		}
	}
	if g := e.wecomToken(t, "1000003"); g.value != other.value {
		t.Error("the other agent's token changed")
	}
}

// TestWeComClusterCallsOncePerAgent: three replicas on Redis serve both
// agents, with one gettoken call per agent between them.
func TestWeComClusterCallsOncePerAgent(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	e := newClusterEnv(t, setup{wecom: twoAgents(), ttl: 7200 * time.Second, overlap: 300 * time.Second}, redisAddr)
	var replicas []*instance
	for _, name := range []string{"r1", "r2", "r3"} {
		replicas = append(replicas, e.replica(name, nil))
	}
	seen := e.concurrentTokenReads(t, 60, func(i int) (string, string) {
		return replicas[i%3].base, []string{"1000002", "1000003"}[i%2]
	})
	for _, agent := range []string{"1000002", "1000003"} {
		if n := e.gettokenCalls(agent); n != 1 {
			t.Errorf("agent %s: %d gettoken calls across three replicas, want 1", agent, n)
		}
		if len(seen[agent]) != 1 {
			t.Errorf("agent %s: the replicas handed out %d different tokens", agent, len(seen[agent]))
		}
	}
}
