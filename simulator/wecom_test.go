package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	corpA = "ww0123456789abcdef"
	corpB = "ww1111111111111111"
)

var (
	agentA1 = wxtoken.WeComID(corpA, "1000002")
	agentA2 = wxtoken.WeComID(corpA, "1000003")
	agentB1 = wxtoken.WeComID(corpB, "1000002")
)

// wecomAgents are two agents of corpA, its contacts app, and an agent of
// corpB with the same agentid as corpA's first.
func wecomAgents() []WeComAgent {
	return []WeComAgent{
		{CorpID: corpA, AgentID: "1000002", Secret: "secretA1"},
		{CorpID: corpA, AgentID: "1000003", Secret: "secretA2"},
		{CorpID: corpA, AgentID: "contacts", Secret: "secretAC"},
		{CorpID: corpB, AgentID: "1000002", Secret: "secretB1"},
	}
}

func newWeComFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.WeCom == nil {
		opts.WeCom = wecomAgents()
	}
	return newFixture(t, opts)
}

func gettokenPath(corpID, secret string) string {
	return "/cgi-bin/gettoken?" + url.Values{"corpid": {corpID}, "corpsecret": {secret}}.Encode()
}

// gettoken calls gettoken with the secret of the agent wid.
func (f *fixture) gettoken(wid string) answer {
	f.t.Helper()
	corp, agent, _ := strings.Cut(wid, "/")
	for _, a := range wecomAgents() {
		if a.CorpID == corp && a.AgentID == agent {
			return f.do("GET", gettokenPath(corp, a.Secret), "")
		}
	}
	f.t.Fatalf("no agent %s", wid)
	return answer{}
}

// wecomToken asserts a successful WeCom token answer and returns it.
func (f *fixture) wecomToken(a answer) string {
	f.t.Helper()
	if a.Status != 200 || a.ErrCode != 0 || a.ErrMsg != "ok" || a.AccessToken == "" || a.ContentType != wxContentType {
		f.t.Fatalf("want a WeCom token, got %d %s", a.Status, a.Raw)
	}
	return a.AccessToken
}

func (f *fixture) corpTicket(token string) answer {
	f.t.Helper()
	return f.do("GET", "/cgi-bin/get_jsapi_ticket?access_token="+url.QueryEscape(token), "")
}

func (f *fixture) agentTicket(token string) answer {
	f.t.Helper()
	return f.do("GET", "/cgi-bin/ticket/get?"+url.Values{"access_token": {token}, "type": {"agent_config"}}.Encode(), "")
}

func (f *fixture) agentGet(token, agentID string) answer {
	f.t.Helper()
	return f.do("GET", "/cgi-bin/agent/get?"+url.Values{"access_token": {token}, "agentid": {agentID}}.Encode(), "")
}

// wecomTicket asserts a successful ticket answer and returns the ticket.
func (f *fixture) wecomTicket(a answer) string {
	f.t.Helper()
	if a.Status != 200 || a.ErrCode != 0 || a.ErrMsg != "ok" || a.Ticket == "" {
		f.t.Fatalf("want a ticket, got %d %s", a.Status, a.Raw)
	}
	return a.Ticket
}

// wantWeComErr asserts a WeCom failure answer with errcode code, its
// errmsg ending the way WeCom's do.
func wantWeComErr(t *testing.T, a answer, code int) {
	t.Helper()
	if a.Status != 200 || a.ErrCode != code {
		t.Fatalf("want errcode %d, got status %d body %s", code, a.Status, a.Raw)
	}
	tail := regexp.MustCompile(`, hint: \[\d+_\d+_[0-9a-f]{32}\], from ip: 127\.0\.0\.1, more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=` + regexp.QuoteMeta(strconv.Itoa(code)) + `$`)
	if !tail.MatchString(a.ErrMsg) {
		t.Errorf("errmsg %q does not end with WeCom's hint", a.ErrMsg)
	}
	if a.ContentType != wxContentType {
		t.Errorf("content type %q", a.ContentType)
	}
}

// wantWeComDead asserts that a WeCom token is refused with code by every
// token-checked WeCom endpoint.
func (f *fixture) wantWeComDead(token string, code int) {
	f.t.Helper()
	wantWeComErr(f.t, f.agentGet(token, "1000002"), code)
	wantWeComErr(f.t, f.corpTicket(token), code)
	wantWeComErr(f.t, f.agentTicket(token), code)
	wantWeComErr(f.t, f.do("POST", "/cgi-bin/message/send?access_token="+token, `{"touser":"u1"}`), code)
}

// TestWeComToken: gettoken answers the same token, with the whole seconds
// it has left, until it expires; then a new one.
func TestWeComToken(t *testing.T) {
	f := newWeComFixture(t, Options{TTL: time.Hour, Overlap: time.Minute})
	t1 := f.wecomToken(f.gettoken(agentA1))
	if len(t1) != 214 || !wellFormed(t1) {
		t.Errorf("token %q: want 214 characters of [A-Za-z0-9_-]", t1)
	}
	if a := f.gettoken(agentA1); a.AccessToken != t1 || a.ExpiresIn != 3600 {
		t.Fatalf("second call: %s", a.Raw)
	}
	f.clock.Advance(1000*time.Second + 500*time.Millisecond)
	if a := f.gettoken(agentA1); a.AccessToken != t1 || a.ExpiresIn != 2599 {
		t.Fatalf("within validity: %s, want the same token with 2599s", a.Raw)
	}
	// Unlike stable_token, there is no new token in a last window: the
	// same one until the very end.
	f.clock.Advance(2599 * time.Second)
	if a := f.gettoken(agentA1); a.AccessToken != t1 || a.ExpiresIn != 0 {
		t.Fatalf("half a second before expiry: %s", a.Raw)
	}
	if a := f.agentGet(t1, "1000002"); a.ErrCode != 0 {
		t.Fatalf("token in its last second: %s", a.Raw)
	}
	f.clock.Advance(500 * time.Millisecond)
	f.wantWeComDead(t1, wechat.ErrTokenExpired)
	t2 := f.wecomToken(f.gettoken(agentA1))
	if t2 == t1 {
		t.Fatal("no new token after expiry")
	}
	if a := f.gettoken(agentA1); a.AccessToken != t2 || a.ExpiresIn != 3600 {
		t.Fatalf("after renewal: %s", a.Raw)
	}
	if st := f.sim.Check(t1); st != (CredentialState{Known: true, AppID: agentA1, Kind: KindWeComToken, Reason: ReasonExpired, CorpID: corpA, AgentID: "1000002"}) {
		t.Errorf("Check(expired) = %+v", st)
	}
	if st := f.sim.Check(t2); st != (CredentialState{Known: true, Valid: true, AppID: agentA1, Kind: KindWeComToken, ExpiresIn: 3600, Reason: ReasonValid, CorpID: corpA, AgentID: "1000002"}) {
		t.Errorf("Check(live) = %+v", st)
	}
	if got := f.sim.Calls(EndpointWeComToken, agentA1); got != 6 {
		t.Errorf("Calls(gettoken, %s) = %d, want 6", agentA1, got)
	}
}

func TestWeComTokenErrors(t *testing.T) {
	f := newWeComFixture(t, Options{})
	for _, c := range []struct {
		query string
		code  int
	}{
		{"corpsecret=secretA1", wechat.ErrMissingAppID},                           // 41002
		{"corpid=" + corpA, wechat.ErrMissingSecret},                              // 41004
		{"corpid=" + corpA + "&corpsecret=", wechat.ErrMissingSecret},             // 41004
		{"corpid=wwnope&corpsecret=secretA1", wechat.ErrInvalidAppID},             // 40013
		{"corpid=" + corpA + "&corpsecret=nope", wechat.ErrInvalidCredential},     // 40001
		{"corpid=" + corpA + "&corpsecret=secretB1", wechat.ErrInvalidCredential}, // another corp's secret
		{"corpid=" + corpB + "&corpsecret=secretA1", wechat.ErrInvalidCredential}, // and the other way round
		{"corpid=wxA&corpsecret=secretA", wechat.ErrInvalidAppID},                 // an OA app is no corp
	} {
		wantWeComErr(t, f.do("GET", "/cgi-bin/gettoken?"+c.query, ""), c.code)
	}
	wantWeComErr(t, f.do("POST", gettokenPath(corpA, "secretA1"), ""), 43001)
	if a := f.do("GET", "/cgi-bin/gettoken?"+url.Values{"corpid": {corpA}, "corpsecret": {"nope"}}.Encode(), ""); !strings.HasPrefix(a.ErrMsg, "invalid credential, hint: [") {
		t.Errorf("40001 errmsg %q", a.ErrMsg)
	}
	if n := f.minted(); n != 0 {
		t.Errorf("refused calls minted %d tokens", n)
	}
	// Refused calls count under the agent the secret names, else the corp.
	if got := f.sim.Calls(EndpointWeComToken, corpA); got != 6 {
		t.Errorf("Calls(gettoken, %s) = %d, want 6", corpA, got)
	}
	if got := f.sim.Calls(EndpointWeComToken, agentA1); got != 1 {
		t.Errorf("Calls(gettoken, %s) = %d, want 1 (the POST)", agentA1, got)
	}
	if got := f.sim.Calls(EndpointWeComToken, "wwnope"); got != 1 {
		t.Errorf("Calls(gettoken, wwnope) = %d, want 1", got)
	}
}

// TestWeComAgentsApart: every agent has its own token, and WeCom refuses
// one agent's token for another agent of the corp.
func TestWeComAgentsApart(t *testing.T) {
	f := newWeComFixture(t, Options{})
	a1 := f.wecomToken(f.gettoken(agentA1))
	a2 := f.wecomToken(f.gettoken(agentA2))
	ac := f.wecomToken(f.gettoken(wxtoken.WeComID(corpA, "contacts")))
	b1 := f.wecomToken(f.gettoken(agentB1))
	if a1 == a2 || a1 == ac || a2 == ac || a1 == b1 {
		t.Fatal("two agents share a token")
	}
	if st := f.sim.Check(a2); st.AppID != agentA2 || st.AgentID != "1000003" {
		t.Errorf("Check(a2) = %+v", st)
	}

	if a := f.agentGet(a1, "1000002"); a.Raw != `{"errcode":0,"errmsg":"ok","agentid":1000002,"name":"agent 1000002"}` {
		t.Errorf("agent/get own agent: %s", a.Raw)
	}
	if a := f.agentGet(ac, "contacts"); a.Raw != `{"errcode":0,"errmsg":"ok","agentid":"contacts","name":"agent contacts"}` {
		t.Errorf("agent/get contacts: %s", a.Raw)
	}
	a := f.agentGet(a1, "1000003")
	wantWeComErr(t, a, 301002)
	if !strings.HasPrefix(a.ErrMsg, "not allow operate another agent with this accesstoken., hint: [") {
		t.Errorf("301002 errmsg %q", a.ErrMsg)
	}
	wantWeComErr(t, f.agentGet(a2, "1000002"), 301002)
	wantWeComErr(t, f.agentGet(ac, "1000002"), 301002)
	// corpB's 1000002 is no agent of corpA; corpA's is none of corpB.
	wantWeComErr(t, f.agentGet(b1, "1000003"), 40056)
	wantWeComErr(t, f.agentGet(a1, "1000009"), 40056)
	wantWeComErr(t, f.do("GET", "/cgi-bin/agent/get?access_token="+a1, ""), 40056)
	if a := f.agentGet(b1, "1000002"); a.ErrCode != 0 {
		t.Errorf("corpB's own agent: %s", a.Raw)
	}

	// Any other call: the agentid of the query or of a JSON body counts.
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/cgi-bin/message/send?access_token=" + a1, `{"touser":"u1","msgtype":"text","agentid":1000002}`, 0},
		{"POST", "/cgi-bin/message/send?access_token=" + a1, `{"touser":"u1","msgtype":"text","agentid":1000003}`, 301002},
		{"POST", "/cgi-bin/message/send?access_token=" + a1, `{"touser":"u1","agentid":"1000003"}`, 301002},
		{"POST", "/cgi-bin/message/send?access_token=" + a2, `{"touser":"u1","agentid":1000003}`, 0},
		{"GET", "/cgi-bin/user/get?userid=u1&access_token=" + a1, "", 0},
		{"GET", "/cgi-bin/agent/set_scope?agentid=1000003&access_token=" + a1, "", 301002},
		{"POST", "/cgi-bin/media/upload?type=file&access_token=" + a2, "not json", 0},
		{"GET", "/cgi-bin/agent/get?agentid=1000002&access_token=" + a1[:100], "", 40014},
	} {
		a := f.do(c.method, c.path, c.body)
		if c.code != 0 {
			wantWeComErr(t, a, c.code)
		} else if a.Raw != `{"errcode":0,"errmsg":"ok"}` {
			t.Errorf("%s %s %s: %s", c.method, c.path, c.body, a.Raw)
		}
	}
	if a := f.do("GET", "/cgi-bin/get_api_domain_ip?access_token="+a1, ""); a.ErrCode != 0 || len(a.IPList) == 0 {
		t.Errorf("get_api_domain_ip with a WeCom token: %s", a.Raw)
	}

	// The families do not mix: an OA token is no WeCom token and the other
	// way round.
	oa := f.token(f.classic("wxA"))
	wantWeComErr(t, f.agentGet(oa, "1000002"), wechat.ErrInvalidToken)
	wantWeComErr(t, f.corpTicket(oa), wechat.ErrInvalidToken)
	wantErr(t, f.ticket(a1, "jsapi"), wechat.ErrInvalidCredential)
	if a := f.do("GET", "/cgi-bin/user/info?openid=o1&access_token="+oa, ""); a.Raw != `{"errcode":0,"errmsg":"ok"}` {
		t.Errorf("OA call with an OA token: %s", a.Raw)
	}
	wantWeComErr(t, f.do("GET", "/cgi-bin/agent/get?agentid=1000002", ""), 41001)

	if got := f.sim.Calls(EndpointWeComAPI, agentA1); got != 10 {
		t.Errorf("Calls(wecom_api, %s) = %d, want 10", agentA1, got)
	}
	if got := f.sim.Calls(EndpointWeComAPI, corpA); got != 15 {
		t.Errorf("Calls(wecom_api, %s) = %d, want 15", corpA, got)
	}
	if got := f.sim.Calls(EndpointWeComAPI, ""); got != 20 {
		t.Errorf("Calls(wecom_api) = %d, want 20", got)
	}
	if got := f.sim.Calls("", agentA2); got != 4 {
		t.Errorf("Calls(all, %s) = %d, want 4", agentA2, got)
	}
}

// TestWeComTickets: the corp ticket and the agent ticket need a live
// token of an agent; the corp ticket is the corp's, the agent ticket the
// agent's.
func TestWeComTickets(t *testing.T) {
	for _, old := range []string{OldTicketEndsAfterOverlap, OldTicketLivesOn} {
		t.Run(old, func(t *testing.T) {
			f := newWeComFixture(t, Options{TTL: time.Hour, TicketTTL: 2 * time.Hour, Overlap: time.Minute, OldTicket: old})
			a1 := f.wecomToken(f.gettoken(agentA1))
			a2 := f.wecomToken(f.gettoken(agentA2))
			j1 := f.wecomTicket(f.corpTicket(a1))
			c1 := f.wecomTicket(f.agentTicket(a1))
			c2 := f.wecomTicket(f.agentTicket(a2))
			if c1 == c2 || j1 == c1 {
				t.Fatal("agents share an agent ticket")
			}
			if a := f.agentTicket(a1); a.ExpiresIn != 7200 {
				t.Errorf("ticket life: %s", a.Raw)
			}
			if st := f.sim.Check(j1); st.Kind != KindWeComJSAPI || st.AppID != corpA || st.CorpID != corpA || st.AgentID != "" {
				t.Errorf("Check(corp ticket) = %+v", st)
			}
			if st := f.sim.Check(c2); st != (CredentialState{Known: true, Valid: true, AppID: agentA2, Kind: KindAgentConfig, ExpiresIn: 7200, Reason: ReasonValid, CorpID: corpA, AgentID: "1000003"}) {
				t.Errorf("Check(agent ticket) = %+v", st)
			}

			f.clock.Advance(10 * time.Second)
			j2 := f.wecomTicket(f.corpTicket(a2)) // the same corp, another agent
			switch old {
			case OldTicketLivesOn:
				if j2 != j1 || f.sim.Check(j1).ExpiresIn != 7190 {
					t.Errorf("lives_on: the corp's ticket should come back to every agent")
				}
			case OldTicketEndsAfterOverlap:
				if j2 == j1 || f.sim.Check(j1).ExpiresIn != 60 {
					t.Errorf("ends_after_overlap: a new corp ticket, the old one ending an overlap later: %+v", f.sim.Check(j1))
				}
			}
			b := f.wecomTicket(f.corpTicket(f.wecomToken(f.gettoken(agentB1))))
			if b == j2 {
				t.Error("two corps share a ticket")
			}

			// Tickets outlive the token they were fetched with.
			f.clock.Advance(time.Hour)
			wantWeComErr(t, f.corpTicket(a1), wechat.ErrTokenExpired)
			wantWeComErr(t, f.agentTicket(a1), wechat.ErrTokenExpired)
			if !f.sim.Check(c2).Valid {
				t.Error("the agent ticket died with its token")
			}
		})
	}

	f := newWeComFixture(t, Options{})
	tok := f.wecomToken(f.gettoken(agentA1))
	wantWeComErr(t, f.do("GET", "/cgi-bin/get_jsapi_ticket", ""), 41001)
	wantWeComErr(t, f.do("GET", "/cgi-bin/ticket/get?type=agent_config", ""), 41001)
	wantWeComErr(t, f.corpTicket("nope"), wechat.ErrInvalidToken)
	wantWeComErr(t, f.corpTicket(""), wechat.ErrInvalidToken)
	wantWeComErr(t, f.do("GET", "/cgi-bin/ticket/get?access_token="+tok, ""), 40058)
	wantWeComErr(t, f.do("GET", "/cgi-bin/ticket/get?type=jsapi&access_token="+tok, ""), 40058)
	wantWeComErr(t, f.do("POST", "/cgi-bin/get_jsapi_ticket?access_token="+tok, ""), 43001)
	if n := f.minted(); n != 1 {
		t.Errorf("refused ticket calls minted: %d credentials", n)
	}
	if got, want := f.sim.Calls(EndpointWeComJSAPITicket, ""), 4; got != want {
		t.Errorf("Calls(get_jsapi_ticket) = %d, want %d", got, want)
	}
	if got, want := f.sim.Calls(EndpointWeComTicket, agentA1), 2; got != want {
		t.Errorf("Calls(ticket_get, %s) = %d, want %d", agentA1, got, want)
	}
}

// TestWeComTicketLimits: 100 tickets of a type an agent per hour and 400
// a corp by default, then 45009 until the hour is over.
func TestWeComTicketLimits(t *testing.T) {
	f := newWeComFixture(t, Options{})
	a1 := f.wecomToken(f.gettoken(agentA1))
	a2 := f.wecomToken(f.gettoken(agentA2))
	for i := range 100 {
		if a := f.corpTicket(a1); a.ErrCode != 0 {
			t.Fatalf("corp ticket %d: %s", i+1, a.Raw)
		}
	}
	a := f.corpTicket(a1)
	wantWeComErr(t, a, wechat.ErrDailyQuota)
	if !strings.HasPrefix(a.ErrMsg, "api freq out of limit, hint: [") {
		t.Errorf("45009 errmsg %q", a.ErrMsg)
	}
	// The other type and the other agent have their own counts.
	f.wecomTicket(f.agentTicket(a1))
	f.wecomTicket(f.corpTicket(a2))
	f.clock.Advance(59 * time.Minute)
	wantWeComErr(t, f.corpTicket(a1), wechat.ErrDailyQuota)
	f.clock.Advance(time.Minute)
	f.wecomTicket(f.corpTicket(a1))

	// The corp's limit counts all its agents together.
	agents := []WeComAgent{
		{CorpID: corpA, AgentID: "1", Secret: "s1"},
		{CorpID: corpA, AgentID: "2", Secret: "s2"},
		{CorpID: corpA, AgentID: "3", Secret: "s3"},
		{CorpID: corpB, AgentID: "1", Secret: "s4"},
	}
	f = newWeComFixture(t, Options{WeCom: agents, WeComCorpTicketLimit: 3, WeComAgentTicketLimit: 2, WeComTicketPeriod: time.Minute})
	var toks []string
	for _, ag := range agents {
		toks = append(toks, f.wecomToken(f.do("GET", gettokenPath(ag.CorpID, ag.Secret), "")))
	}
	f.wecomTicket(f.agentTicket(toks[0]))
	f.wecomTicket(f.agentTicket(toks[0]))
	wantWeComErr(t, f.agentTicket(toks[0]), wechat.ErrDailyQuota) // the agent's 2
	f.wecomTicket(f.agentTicket(toks[1]))
	wantWeComErr(t, f.agentTicket(toks[1]), wechat.ErrDailyQuota) // the corp's 3
	wantWeComErr(t, f.agentTicket(toks[2]), wechat.ErrDailyQuota)
	f.wecomTicket(f.agentTicket(toks[3])) // another corp
	f.wecomTicket(f.corpTicket(toks[2]))  // another type
	f.clock.Advance(time.Minute)
	f.wecomTicket(f.agentTicket(toks[2]))
	if got := f.sim.Calls(EndpointWeComTicket, corpA); got != 7 {
		t.Errorf("Calls(ticket_get, %s) = %d, want 7 (refused calls count)", corpA, got)
	}
}

// TestWeComInvalidate: WeCom may end a token early; the old one answers
// 40014 at once and the next gettoken issues a new one.
func TestWeComInvalidate(t *testing.T) {
	f := newWeComFixture(t, Options{TTL: time.Hour, Overlap: time.Minute})
	t1 := f.wecomToken(f.gettoken(agentA1))
	other := f.wecomToken(f.gettoken(agentA2))
	f.clock.Advance(10 * time.Minute)
	ended, err := f.sim.Invalidate(agentA1, KindWeComToken)
	if err != nil || ended != t1 {
		t.Fatalf("Invalidate = %q, %v; want the live token", ended, err)
	}
	f.wantWeComDead(t1, wechat.ErrInvalidToken)
	if st := f.sim.Check(t1); st.Valid || st.Reason != ReasonReplaced {
		t.Errorf("Check(ended) = %+v", st)
	}
	if a := f.agentGet(other, "1000003"); a.ErrCode != 0 {
		t.Errorf("the other agent's token: %s", a.Raw)
	}
	if ended, err := f.sim.Invalidate(agentA1, KindWeComToken); err != nil || ended != "" {
		t.Errorf("second Invalidate = %q, %v; want nothing to end", ended, err)
	}
	t2 := f.wecomToken(f.gettoken(agentA1))
	if t2 == t1 {
		t.Fatal("gettoken after the early end returned the ended token")
	}
	if a := f.gettoken(agentA1); a.AccessToken != t2 || a.ExpiresIn != 3600 {
		t.Errorf("new token: %s", a.Raw)
	}
	// The ended token stays ended when it would have expired.
	f.clock.Advance(time.Hour)
	if st := f.sim.Check(t1); st.Reason != ReasonReplaced {
		t.Errorf("Check(ended, later) = %+v", st)
	}

	// Rotate ends it and issues the next one at once.
	t3 := f.wecomToken(f.gettoken(agentA1))
	t4, err := f.sim.Rotate(agentA1, KindWeComToken)
	if err != nil || t4 == t3 {
		t.Fatalf("Rotate = %q, %v", t4, err)
	}
	f.wantWeComDead(t3, wechat.ErrInvalidToken)
	if a := f.gettoken(agentA1); a.AccessToken != t4 {
		t.Errorf("gettoken after Rotate: %s", a.Raw)
	}

	// Tickets: the corp's by corpid or any of its agents, the agent's by
	// the agent.
	j := f.wecomTicket(f.corpTicket(t4))
	c := f.wecomTicket(f.agentTicket(t4))
	if ended, err := f.sim.Invalidate(agentA2, KindWeComJSAPI); err != nil || ended != j {
		t.Errorf("Invalidate corp ticket through another agent = %q, %v", ended, err)
	}
	j2, err := f.sim.Rotate(corpA, KindWeComJSAPI)
	if err != nil || f.sim.Check(j2).AppID != corpA {
		t.Errorf("Rotate corp ticket = %q, %v", j2, err)
	}
	if ended, err := f.sim.Invalidate(agentA1, KindAgentConfig); err != nil || ended != c || f.sim.Check(c).Valid {
		t.Errorf("Invalidate agent ticket = %q, %v", ended, err)
	}
	if a := f.agentTicket(t4); a.Ticket == c || a.ExpiresIn != 3600 {
		t.Errorf("agent ticket after Invalidate: %s", a.Raw)
	}

	// Invalidate works for an OA token too: 40001, then a new one.
	s1 := f.token(f.stable("wxA", false))
	if ended, err := f.sim.Invalidate("wxA", KindStable); err != nil || ended != s1 {
		t.Fatalf("Invalidate stable = %q, %v", ended, err)
	}
	f.wantDead(s1, wechat.ErrInvalidCredential)
	if s2 := f.token(f.stable("wxA", false)); s2 == s1 {
		t.Error("stable_token after Invalidate returned the ended token")
	}

	for _, c := range []struct{ id, what, want string }{
		{agentA1, KindClassic, "cannot invalidate"},
		{corpA, KindWeComToken, "unknown WeCom agent"},
		{"ww-nope/1", KindAgentConfig, "unknown WeCom agent"},
		{"ww-nope", KindWeComJSAPI, "neither a WeCom corpid"},
		{"wxA", KindWeComToken, "unknown WeCom agent"},
		{"wxZ", KindClassic, "unknown appid"},
	} {
		if _, err := f.sim.Invalidate(c.id, c.what); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Invalidate(%q, %q) = %v, want %q", c.id, c.what, err, c.want)
		}
	}
	if n := f.sim.Calls("", ""); n != 22 {
		t.Errorf("Invalidate and Rotate should not count as calls: %d", n)
	}
}

// TestWeComFaults: faults reach WeCom's endpoints, with WeCom's errmsg,
// and change nothing.
func TestWeComFaults(t *testing.T) {
	f := newWeComFixture(t, Options{})
	f.inject(Fault{Endpoint: EndpointWeComToken, AppID: agentA1, Kind: FaultErrCode, ErrCode: wechat.ErrDailyQuota, Count: 1})
	wantWeComErr(t, f.gettoken(agentA1), wechat.ErrDailyQuota)
	if n := f.minted(); n != 0 {
		t.Fatalf("a faulted gettoken minted %d", n)
	}
	a1 := f.wecomToken(f.gettoken(agentA1))

	// 60020 quotes the caller's IP.
	f.inject(Fault{Endpoint: EndpointWeComToken, AppID: corpA, Kind: FaultErrCode, ErrCode: 60020, Count: 2})
	a := f.gettoken(agentA2)
	wantWeComErr(t, a, 60020)
	if !strings.HasPrefix(a.ErrMsg, "not allow to access from your ip, hint: [") || !strings.Contains(a.ErrMsg, "from ip: 127.0.0.1,") {
		t.Errorf("60020 errmsg %q", a.ErrMsg)
	}
	wantWeComErr(t, f.gettoken(agentA1), 60020) // the corp matches all its agents
	f.inject(Fault{Endpoint: EndpointWeComToken, AppID: corpA, Kind: FaultErrCode, ErrCode: 60020, Count: 1})
	f.wecomToken(f.gettoken(agentB1)) // but not another corp's
	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrSystemBusy, ErrMsg: "busy, hint: [x], from ip: 10.0.0.1", Count: 1})
	if a := f.gettoken(agentA2); a.ErrCode != 60020 {
		t.Errorf("the oldest fault should answer: %s", a.Raw)
	}
	if a := f.agentGet(a1, "1000002"); a.ErrCode != -1 || a.ErrMsg != "busy, hint: [x], from ip: 10.0.0.1" {
		t.Errorf("custom errmsg with a hint: %s", a.Raw)
	}
	f.inject(Fault{Endpoint: EndpointWeComJSAPITicket, Kind: FaultErrCode, ErrCode: wechat.ErrSystemBusy, Count: 1})
	if a := f.corpTicket(a1); a.ErrCode != -1 || !strings.HasPrefix(a.ErrMsg, "system busy, hint: [") {
		t.Errorf("-1 on get_jsapi_ticket: %s", a.Raw)
	}
	f.inject(Fault{Endpoint: EndpointWeComAPI, Kind: FaultErrCode, ErrCode: 48002, Count: 1})
	wantWeComErr(t, f.agentGet(a1, "1000002"), 48002)

	// Every kind of broken answer on every WeCom endpoint changes nothing.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	calls := map[string]string{
		EndpointWeComToken:       gettokenPath(corpA, "secretA1"),
		EndpointWeComJSAPITicket: "/cgi-bin/get_jsapi_ticket?access_token=" + a1,
		EndpointWeComTicket:      "/cgi-bin/ticket/get?type=agent_config&access_token=" + a1,
		EndpointWeComAPI:         "/cgi-bin/agent/get?agentid=1000002&access_token=" + a1,
	}
	for endpoint, path := range calls {
		minted := f.minted()
		for _, kind := range []string{FaultHTTP500, FaultHTML, FaultMalformed, FaultEmpty, FaultTruncated, FaultDrop} {
			f.inject(Fault{Endpoint: endpoint, Kind: kind, Count: 1})
			a, err := f.try(client, "GET", path, "")
			bad := false
			switch kind {
			case FaultHTTP500:
				bad = err != nil || a.Status != 500
			case FaultHTML:
				bad = err != nil || !strings.HasPrefix(a.ContentType, "text/html")
			case FaultMalformed:
				bad = err != nil || json.Valid([]byte(a.Raw))
			case FaultEmpty:
				bad = err != nil || !json.Valid([]byte(a.Raw)) || a.ErrCode != 0 || a.AccessToken != "" || a.Ticket != ""
			case FaultTruncated, FaultDrop:
				bad = err == nil
			}
			if bad {
				t.Errorf("%s %s: %v %d %q", endpoint, kind, err, a.Status, a.Raw)
			}
		}
		if f.minted() != minted {
			t.Errorf("%s: faulted calls minted", endpoint)
		}
		// A slow answer is the normal one, late.
		f.inject(Fault{Endpoint: endpoint, Kind: FaultSlow, Delay: 10 * time.Millisecond, Count: 1})
		if a, err := f.try(client, "GET", path, ""); err != nil || a.ErrCode != 0 {
			t.Errorf("%s slow: %v %s", endpoint, err, a.Raw)
		}
	}
	if a := f.gettoken(agentA1); a.AccessToken != a1 {
		t.Errorf("the token changed under faults: %s", a.Raw)
	}
	if got := f.sim.Calls(EndpointWeComAPI, agentA1); got != 9 {
		t.Errorf("Calls(wecom_api, %s) = %d, want 9", agentA1, got)
	}
}

func TestWeComControl(t *testing.T) {
	f := newWeComFixture(t, Options{TTL: time.Hour, Overlap: time.Minute})
	t1 := f.wecomToken(f.gettoken(agentA1))
	f.gettoken(agentA2)
	f.agentGet(t1, "1000002")
	f.corpTicket(t1)
	f.classic("wxA")

	want := `{"calls":{"api":{},"get_api_domain_ip":{},"get_jsapi_ticket":{"` + agentA1 + `":1},"getticket":{},"gettoken":{"` + agentA1 + `":1,"` + agentA2 + `":1},"sns":{},"stable_token":{},"ticket_get":{},"token":{"wxA":1},"wecom_api":{"` + agentA1 + `":1}}}`
	if got := f.ctl("GET", "/_sim/calls", "", 200); got != want {
		t.Errorf("calls: %s\nwant %s", got, want)
	}
	for q, want := range map[string]string{
		"endpoint=gettoken&appid=" + url.QueryEscape(agentA1): `{"count":1}`,
		"endpoint=gettoken&appid=" + corpA:                    `{"count":2}`,
		"appid=" + url.QueryEscape(agentA1):                   `{"count":3}`,
		"endpoint=wecom_api":                                  `{"count":1}`,
	} {
		if got := f.ctl("GET", "/_sim/calls?"+q, "", 200); got != want {
			t.Errorf("calls?%s: %s, want %s", q, got, want)
		}
	}

	f.clock.Advance(10 * time.Second)
	want = `{"known":true,"valid":true,"appid":"` + agentA1 + `","kind":"wecom_token","expires_in":3590,"reason":"valid","corpid":"` + corpA + `","agentid":"1000002"}`
	if got := f.ctl("GET", "/_sim/check?value="+t1, "", 200); got != want {
		t.Errorf("check: %s", got)
	}

	got := f.ctl("POST", "/_sim/invalidate", `{"corpid":"`+corpA+`","agentid":"1000002","what":"wecom_token"}`, 200)
	if got != `{"ended":"`+t1+`"}` {
		t.Errorf("invalidate: %s", got)
	}
	wantWeComErr(t, f.agentGet(t1, "1000002"), wechat.ErrInvalidToken)
	if got := f.ctl("POST", "/_sim/invalidate", `{"appid":"`+agentA1+`","what":"wecom_token"}`, 200); got != `{"ended":""}` {
		t.Errorf("invalidate again: %s", got)
	}
	t2 := f.wecomToken(f.gettoken(agentA1))

	got = f.ctl("POST", "/_sim/rotate", `{"appid":"`+agentA1+`","what":"wecom_token"}`, 200)
	var r struct{ Value string }
	if err := json.Unmarshal([]byte(got), &r); err != nil || r.Value == "" || r.Value == t2 {
		t.Fatalf("rotate: %s", got)
	}
	if a := f.gettoken(agentA1); a.AccessToken != r.Value {
		t.Errorf("gettoken after rotate: %s", a.Raw)
	}
	f.ctl("POST", "/_sim/rotate", `{"corpid":"`+corpA+`","what":"wecom_jsapi"}`, 200)

	got = f.ctl("POST", "/_sim/faults", `{"endpoint":"gettoken","appid":"`+agentA2+`","kind":"errcode","errcode":60020,"count":1}`, 200)
	if got != `{"fault":{"endpoint":"gettoken","appid":"`+agentA2+`","kind":"errcode","errcode":60020,"count":1}}` {
		t.Errorf("inject: %s", got)
	}
	wantWeComErr(t, f.gettoken(agentA2), 60020)

	for _, c := range []struct{ path, body, want string }{
		{"/_sim/invalidate", `{"appid":"` + agentA1 + `","corpid":"` + corpA + `","what":"wecom_token"}`, "not both"},
		{"/_sim/invalidate", `{"agentid":"1000002","what":"wecom_token"}`, "needs its corpid"},
		{"/_sim/invalidate", `{"corpid":"` + corpA + `","agentid":"9","what":"wecom_token"}`, "unknown WeCom agent"},
		{"/_sim/rotate", `{"appid":"` + agentA1 + `","what":"classic"}`, "cannot rotate"},
		{"/_sim/invalidate", `{"appid":"` + agentA1 + `","what":"wecom_token","x":1}`, "unknown field"},
		{"/_sim/faults", `{"endpoint":"gettokens","kind":"drop"}`, "unknown endpoint"},
	} {
		got := f.ctl("POST", c.path, c.body, 400)
		var e ctlError
		if err := json.Unmarshal([]byte(got), &e); err != nil || !strings.Contains(e.Error, c.want) {
			t.Errorf("POST %s %s: %s, want %q", c.path, c.body, got, c.want)
		}
	}
	f.ctl("GET", "/_sim/invalidate", "", 405)
}

func TestNewValidatesWeCom(t *testing.T) {
	for _, c := range []struct {
		name  string
		wecom []WeComAgent
		want  string
	}{
		{"empty corpid", []WeComAgent{{AgentID: "1", Secret: "s"}}, "empty corpid"},
		{"slash in corpid", []WeComAgent{{CorpID: "a/b", AgentID: "1", Secret: "s"}}, "slash"},
		{"empty agentid", []WeComAgent{{CorpID: "c", Secret: "s"}}, "empty agentid"},
		{"empty secret", []WeComAgent{{CorpID: "c", AgentID: "1"}}, "agent c/1 has an empty secret"},
		{"twice", []WeComAgent{{CorpID: "c", AgentID: "1", Secret: "s"}, {CorpID: "c", AgentID: "1", Secret: "t"}}, "c/1 appears twice"},
		{"same secret", []WeComAgent{{CorpID: "c", AgentID: "1", Secret: "s"}, {CorpID: "c", AgentID: "2", Secret: "s"}}, "same secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Options{WeCom: c.wecom})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := New(Options{WeComAgentTicketLimit: -1, WeCom: wecomAgents()}); err == nil || !strings.Contains(err.Error(), "WeComAgentTicketLimit -1 is negative") {
		t.Errorf("negative limit: %v", err)
	}
	// The same secret in two corps is two agents.
	s, err := New(Options{WeCom: []WeComAgent{{CorpID: "d", AgentID: "1", Secret: "s"}, {CorpID: "c", AgentID: "1", Secret: "s"}, {CorpID: "c", AgentID: "contacts", Secret: "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.WeComIDs(), " "); got != "c/1 c/contacts d/1" || len(s.AppIDs()) != 0 {
		t.Errorf("WeComIDs %q, AppIDs %q", got, s.AppIDs())
	}
	o := s.Options()
	if o.WeCom != nil || o.WeComCorpTicketLimit != 400 || o.WeComAgentTicketLimit != 100 || o.WeComTicketPeriod != time.Hour {
		t.Errorf("options: %+v", o)
	}
}

// TestWeComOnly: a simulator of WeCom agents alone answers every call with
// an access_token as WeCom does, even with a token it never issued, which
// a simulator of both families answers as WeChat (it cannot tell).
func TestWeComOnly(t *testing.T) {
	f := newWeComFixture(t, Options{Apps: map[string]string{}})
	wantWeComErr(t, f.do("GET", "/cgi-bin/user/get?access_token=nope", ""), wechat.ErrInvalidToken)
	tok := f.wecomToken(f.gettoken(agentA1))
	if a := f.do("GET", "/cgi-bin/user/get?userid=u1&access_token="+tok, ""); a.Raw != `{"errcode":0,"errmsg":"ok"}` {
		t.Errorf("user/get: %s", a.Raw)
	}
	wantErr(t, f.classic("wxA"), wechat.ErrInvalidAppID)
	if got := f.sim.Calls(EndpointWeComAPI, ""); got != 2 {
		t.Errorf("Calls(wecom_api) = %d, want 2", got)
	}
}
