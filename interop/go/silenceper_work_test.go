package interop

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/util"
	"github.com/silenceper/wechat/v2/work"
	workConfig "github.com/silenceper/wechat/v2/work/config"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// workStack is the simulator serving two agents of one WeCom corp and a
// wxtoken with its front door in front of it.
type workStack struct {
	sim     *simulator.Simulator
	srv     *server.Server
	base    string
	corp    string
	agents  []string          // agentids
	secrets map[string]string // agentid -> secret
	logs    *syncBuffer
}

// startWorkStack runs the simulator and wxtoken for two agents of one
// corp, and points the silenceper SDK's WeCom host at wxtoken.
func startWorkStack(t *testing.T) *workStack {
	t.Helper()
	ws := &workStack{corp: "ww" + randomHex(8), agents: []string{"1000002", "1000003"},
		secrets: map[string]string{}, logs: &syncBuffer{}}
	var simAgents []simulator.WeComAgent
	env := map[string]string{}
	for i, a := range ws.agents {
		ws.secrets[a] = randomHex(16)
		simAgents = append(simAgents, simulator.WeComAgent{CorpID: ws.corp, AgentID: a, Secret: ws.secrets[a]})
		env[fmt.Sprintf("AGENT_SECRET_%d", i)] = ws.secrets[a]
	}
	sim, err := simulator.New(simulator.Options{WeCom: simAgents, TTL: 7200 * time.Second, Overlap: 300 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	ws.sim = sim

	dir := t.TempDir()
	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nstore: {driver: bolt, path: %q}\n", filepath.Join(dir, "wxtoken.db"))
	fmt.Fprintf(&y, "upstream: {base_url: %q, wecom_base_url: %q, fallback_base_urls: [], timeout: 5s}\n", simSrv.URL, simSrv.URL)
	y.WriteString("refresh: {margin: 500ms, passive_interval: 200ms}\ncompat: {enabled: true}\napps: []\n")
	fmt.Fprintf(&y, "wecom:\n  - corpid: %s\n    agents:\n", ws.corp)
	for i, a := range ws.agents {
		fmt.Fprintf(&y, "      - {agentid: %q, secret_env: AGENT_SECRET_%d, tickets: [jsapi, agent_config]}\n", a, i)
	}
	fmt.Fprintf(&y, "clients:\n  - {name: interop, key_sha256: %q, apps: [\"*\"], admin: true}\n", keyHash("wxt_"+randomHex(24)))
	cfg, err := config.Parse([]byte(y.String()), dir, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(ws.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for a, s := range ws.secrets {
			if strings.Contains(ws.logs.String(), s) {
				t.Errorf("the wxtoken log holds the secret of agent %s", a)
			}
		}
	})
	ws.srv, ws.base = srv, srv.URL()

	// The SDK's documented hook, as for the Official Account tests: every
	// URL it builds for WeCom's host goes to wxtoken instead.
	util.SetURIModifier(func(uri string) string {
		return strings.Replace(uri, "https://qyapi.weixin.qq.com", ws.base, 1)
	})
	t.Cleanup(func() { util.SetURIModifier(nil) })
	return ws
}

// work returns a silenceper WeCom client for agent, with a cache of its
// own, as each business server would have.
func (ws *workStack) work(agent string) *work.Work {
	return work.NewWork(&workConfig.Config{CorpID: ws.corp, CorpSecret: ws.secrets[agent], AgentID: agent, Cache: cache.NewMemory()})
}

// current is what wxtoken holds for the agent now.
func (ws *workStack) current(t *testing.T, agent string, kind wxtoken.Kind) string {
	t.Helper()
	g, err := ws.srv.Engine().Credential(context.Background(), wxtoken.WeComID(ws.corp, agent), kind)
	if err != nil {
		t.Fatal(err)
	}
	return g.Value
}

func (ws *workStack) wecomCalls(endpoints ...string) int {
	n := 0
	for _, e := range endpoints {
		n += ws.sim.Calls(e, "")
	}
	return n
}

// TestSilenceperWorkThroughTheFrontDoor: the unchanged WeCom module of
// silenceper/wechat, configured with each agent's corpid and secret and
// pointed at wxtoken, gets each agent's own token, the corp and agent
// tickets behind JS-SDK signatures that verify, and makes an ordinary
// call; none of it costs a call at WeCom beyond wxtoken's own.
func TestSilenceperWorkThroughTheFrontDoor(t *testing.T) {
	ws := startWorkStack(t)
	tokens := map[string]string{}
	for _, a := range ws.agents {
		tokens[a] = ws.current(t, a, wxtoken.KindAccessToken)
		ws.current(t, a, wxtoken.KindJSAPITicket)
		ws.current(t, a, wxtoken.KindAgentConfig)
	}
	if tokens[ws.agents[0]] == tokens[ws.agents[1]] {
		t.Fatal("two agents of one corp hold the same token")
	}
	before := ws.wecomCalls(simulator.EndpointWeComToken, simulator.EndpointWeComJSAPITicket, simulator.EndpointWeComTicket)
	const page = "https://oa.example.com/approve?id=7&from=wecom"
	for _, a := range ws.agents {
		wk := ws.work(a)
		tok, err := wk.GetContext().GetAccessToken()
		if err != nil || tok != tokens[a] {
			t.Fatalf("agent %s: SDK token: %v; wxtoken's own: %v", a, err, tok == tokens[a])
		}
		for _, c := range []struct {
			kind wxtoken.Kind
			get  func(string) (string, int64, string, error)
		}{
			{wxtoken.KindJSAPITicket, func(u string) (string, int64, string, error) {
				c, err := wk.JsSdk().GetConfig(u)
				if err != nil {
					return "", 0, "", err
				}
				return c.NonceStr, c.Timestamp, c.Signature, nil
			}},
			{wxtoken.KindAgentConfig, func(u string) (string, int64, string, error) {
				c, err := wk.JsSdk().GetAgentConfig(u)
				if err != nil {
					return "", 0, "", err
				}
				return c.NonceStr, c.Timestamp, c.Signature, nil
			}},
		} {
			nonce, ts, sig, err := c.get(page)
			if err != nil {
				t.Fatalf("agent %s: %s config: %v", a, c.kind, err)
			}
			ticket := ws.current(t, a, c.kind)
			sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", ticket, nonce, ts, page)))
			if sig != hex.EncodeToString(sum[:]) {
				t.Fatalf("agent %s: the SDK's %s signature does not verify with wxtoken's ticket", a, c.kind)
			}
			if st := ws.sim.Check(ticket); !st.Valid {
				t.Fatalf("agent %s: the %s ticket is not valid at WeCom: %+v", a, c.kind, st)
			}
		}
		if _, err := wk.GetAddressList().UserGet("zhangsan"); err != nil {
			t.Fatalf("agent %s: an ordinary call through the relay: %v", a, err)
		}
	}
	if got := ws.wecomCalls(simulator.EndpointWeComToken, simulator.EndpointWeComJSAPITicket, simulator.EndpointWeComTicket); got != before {
		t.Errorf("the SDKs caused %d token or ticket calls at WeCom, want none", got-before)
	}
	if got := ws.sim.Calls(simulator.EndpointWeComAPI, ""); got != len(ws.agents) {
		t.Errorf("%d ordinary calls reached WeCom, want %d", got, len(ws.agents))
	}
}

// TestSilenceperWorkHealedByTheFrontDoor: WeCom ends an agent's token
// early, as it says it may; the SDK still holds it, and its next call is
// answered 40014 at WeCom, which wxtoken heals (report, one gettoken
// call, one retry) so the SDK sees success. The other agent's token is
// untouched.
func TestSilenceperWorkHealedByTheFrontDoor(t *testing.T) {
	ws := startWorkStack(t)
	a, other := ws.agents[0], ws.agents[1]
	wk := ws.work(a)
	old, err := wk.GetContext().GetAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	otherToken := ws.current(t, other, wxtoken.KindAccessToken)
	if _, err := ws.sim.Invalidate(wxtoken.WeComID(ws.corp, a), simulator.KindWeComToken); err != nil {
		t.Fatal(err)
	}
	tokenCalls := ws.wecomCalls(simulator.EndpointWeComToken)
	apiCalls := ws.sim.Calls(simulator.EndpointWeComAPI, "")
	if _, err := wk.GetAddressList().UserGet("zhangsan"); err != nil {
		t.Fatalf("a call with a token WeCom ended early: %v", err)
	}
	if got := ws.sim.Calls(simulator.EndpointWeComAPI, "") - apiCalls; got != 2 {
		t.Errorf("%d calls reached WeCom for one SDK call, want 2 (the one answered 40014, then the retry)", got)
	}
	if got := ws.wecomCalls(simulator.EndpointWeComToken) - tokenCalls; got != 1 {
		t.Errorf("%d gettoken calls to heal one agent, want 1", got)
	}
	cur := ws.current(t, a, wxtoken.KindAccessToken)
	if cur == old || !ws.sim.Check(cur).Valid {
		t.Fatal("wxtoken did not replace the ended token with a valid one")
	}
	if got := ws.current(t, other, wxtoken.KindAccessToken); got != otherToken {
		t.Error("healing one agent replaced the other agent's token")
	}
}
