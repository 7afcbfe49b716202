package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/jssdk"
)

// The WeCom corps and agents of the test server, and the keys granted
// them.
const (
	corpA         = "ww0123456789abcdef"
	corpB         = "ww00000000000000ff"
	agentOA       = "1000002"
	agentContacts = "contacts"

	keyCorp  = "wxk_corp_5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a09"   // granted corpA
	keyAgent = "wxk_agent_7a6f5e4d3c2b1a0998877665544332211" // granted corpA/1000002
)

// The agents' ids, as wxtoken.WeComID makes them (TestWeComIDs holds
// them to it).
const (
	idOA       = corpA + "/" + agentOA
	idContacts = corpA + "/" + agentContacts
	idB        = corpB + "/" + agentOA
)

func TestWeComIDs(t *testing.T) {
	for id, parts := range map[string][2]string{idOA: {corpA, agentOA}, idContacts: {corpA, agentContacts}, idB: {corpB, agentOA}} {
		if got := wxtoken.WeComID(parts[0], parts[1]); got != id {
			t.Errorf("WeComID(%q, %q) = %q, want %q", parts[0], parts[1], got, id)
		}
	}
}

// newWeComEnv is newEnv with the WeCom agents configured and keys granted
// them.
func newWeComEnv(t *testing.T, svc *stub) *env {
	t.Helper()
	return newEnv(t, svc, func(o *httpapi.Options) {
		o.Apps = append(o.Apps, idOA, idContacts, idB)
		o.Clients = append(o.Clients,
			clientkey.Client{Name: "corp", KeySHA256: sha(keyCorp), Apps: []string{corpA}},
			clientkey.Client{Name: "agent", KeySHA256: sha(keyAgent), Apps: []string{idOA}},
		)
	})
}

func weComPath(corp, agent, rest string) string {
	return "/v1/wecom/" + corp + "/" + agent + "/" + rest
}

func TestWeComAccessToken(t *testing.T) {
	e := newWeComEnv(t, &stub{})
	a := e.get(t, weComPath(corpA, agentOA, "access_token"), keyCorp)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var got httpapi.WeComTokenResponse
	decode(t, a, &got)
	want := httpapi.WeComTokenResponse{CorpID: corpA, AgentID: agentOA, AccessToken: value(idOA, wxtoken.KindAccessToken), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	a = e.do(t, req{method: http.MethodPost, path: weComPath(corpA, agentContacts, "access_token/refresh"), key: keyCorp, body: `{"stale":"OLD"}`})
	if a.status != http.StatusOK {
		t.Fatalf("refresh: status %d: %s", a.status, a.body)
	}
	decode(t, a, &got)
	want = httpapi.WeComTokenResponse{CorpID: corpA, AgentID: agentContacts, AccessToken: "NEW-" + value(idContacts, wxtoken.KindAccessToken), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
	if got != want {
		t.Errorf("refresh: got %+v, want %+v", got, want)
	}
	wantCalls := []string{"credential " + idOA + " access_token", "refresh " + idContacts + " access_token OLD"}
	if calls := e.svc.Calls(); fmt.Sprint(calls) != fmt.Sprint(wantCalls) {
		t.Errorf("service calls = %q, want %q", calls, wantCalls)
	}
	// A refresh without stale is refused before the service hears of it.
	wantError(t, e.do(t, req{method: http.MethodPost, path: weComPath(corpA, agentOA, "access_token/refresh"), key: keyCorp, body: `{}`}),
		http.StatusBadRequest, wxtoken.EInvalid)
	if n := len(e.svc.Calls()); n != 2 {
		t.Errorf("a bad refresh reached the service: %q", e.svc.Calls())
	}
}

func TestWeComTickets(t *testing.T) {
	e := newWeComEnv(t, &stub{})
	var want []string
	for _, kind := range wxtoken.FamilyWeCom.Tickets() {
		a := e.get(t, weComPath(corpA, agentOA, "tickets/"+string(kind)), keyAgent)
		if a.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", kind, a.status, a.body)
		}
		var got httpapi.WeComTicketResponse
		decode(t, a, &got)
		w := httpapi.WeComTicketResponse{CorpID: corpA, AgentID: agentOA, Type: kind, Ticket: value(idOA, kind), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", kind, got, w)
		}
		a = e.do(t, req{method: http.MethodPost, path: weComPath(corpA, agentOA, "tickets/"+string(kind)+"/refresh"), key: keyAgent, body: `{"stale":"T"}`})
		decode(t, a, &got)
		if a.status != http.StatusOK || got.Ticket != "NEW-"+value(idOA, kind) || got.Type != kind || got.AgentID != agentOA {
			t.Errorf("%s refresh: %d %+v", kind, a.status, got)
		}
		want = append(want, "credential "+idOA+" "+string(kind), "refresh "+idOA+" "+string(kind)+" T")
	}
	if calls := e.svc.Calls(); fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("service calls = %q, want %q", calls, want)
	}
	// Each family has its own ticket types.
	wantError(t, e.get(t, weComPath(corpA, agentOA, "tickets/wx_card"), keyAgent), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/tickets/agent_config", keyShop), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.do(t, req{method: http.MethodPost, path: weComPath(corpA, agentOA, "tickets/bogus/refresh"), key: keyAgent, body: `{"stale":"x"}`}),
		http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, weComPath(corpA, agentOA, "tickets/bogus"), ""), http.StatusUnauthorized, wxtoken.EUnauthorized)
	if n := len(e.svc.Calls()); n != len(want) {
		t.Errorf("unknown types reached the service: %q", e.svc.Calls()[len(want):])
	}
}

func TestWeComAuthorization(t *testing.T) {
	e := newWeComEnv(t, &stub{})
	tests := []struct {
		name        string
		key         string
		corp, agent string
		status      int
	}{
		{"corp key, its agent", keyCorp, corpA, agentOA, http.StatusOK},
		{"corp key, its other agent", keyCorp, corpA, agentContacts, http.StatusOK},
		{"corp key, another corp", keyCorp, corpB, agentOA, http.StatusForbidden},
		{"corp key, unknown agent of its corp", keyCorp, corpA, "1000009", http.StatusNotFound},
		{"agent key, its agent", keyAgent, corpA, agentOA, http.StatusOK},
		{"agent key, a sibling", keyAgent, corpA, agentContacts, http.StatusForbidden},
		{"agent key, unknown agent", keyAgent, corpA, "1000009", http.StatusForbidden},
		{"agent key, same agentid elsewhere", keyAgent, corpB, agentOA, http.StatusForbidden},
		{"app key", keyShop, corpA, agentOA, http.StatusForbidden},
		{"wildcard", keyAll, corpB, agentOA, http.StatusOK},
		{"wildcard, unknown agent", keyAll, corpB, "9", http.StatusNotFound},
		{"admin, configured", keyAdmin, corpA, agentOA, http.StatusForbidden},
		{"admin, unknown", keyAdmin, "wwnothere", agentOA, http.StatusNotFound},
		{"scraper", keyScraper, corpA, agentOA, http.StatusForbidden},
		{"no key", "", corpA, agentOA, http.StatusUnauthorized},
		{"unknown key", keyUnknown, corpA, agentOA, http.StatusUnauthorized},
	}
	codes := map[int]wxtoken.Code{http.StatusForbidden: wxtoken.EForbidden, http.StatusNotFound: wxtoken.ENotFound, http.StatusUnauthorized: wxtoken.EUnauthorized}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, q := range []req{
				{path: weComPath(tt.corp, tt.agent, "access_token")},
				{path: weComPath(tt.corp, tt.agent, "tickets/jsapi")},
				{path: weComPath(tt.corp, tt.agent, "jssdk_config?url="+url.QueryEscape("https://example.com/"))},
				{method: http.MethodPost, path: weComPath(tt.corp, tt.agent, "access_token/refresh"), body: `{"stale":"x"}`},
				{method: http.MethodPost, path: weComPath(tt.corp, tt.agent, "tickets/agent_config/refresh"), body: `{"stale":"x"}`},
			} {
				q.key = tt.key
				a := e.do(t, q)
				if tt.status == http.StatusOK {
					if a.status != http.StatusOK {
						t.Errorf("%s %s: status %d: %s", q.method, q.path, a.status, a.body)
					}
					continue
				}
				wantError(t, a, tt.status, codes[tt.status])
			}
		})
	}
}

// TestAppRoutesServeNoAgent: an agent's id reaches the app routes only
// with an escaped slash, and is an unknown app there.
func TestAppRoutesServeNoAgent(t *testing.T) {
	e := newWeComEnv(t, &stub{})
	for _, p := range []string{"access_token", "tickets/jsapi", "jssdk_config?url=" + url.QueryEscape("https://example.com/")} {
		wantError(t, e.get(t, "/v1/apps/"+corpA+"%2F"+agentOA+"/"+p, keyAll), http.StatusNotFound, wxtoken.ENotFound)
	}
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("service calls = %q", calls)
	}
}

func TestWeComJSSDKConfig(t *testing.T) {
	page := "https://oa.example.com/approve?id=7&from=card"
	path := weComPath(corpA, agentOA, "jssdk_config?url="+url.QueryEscape(page+"#top"))

	e := newWeComEnv(t, &stub{})
	a := e.get(t, path, keyAgent)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var cfg httpapi.WeComJSSDKResponse
	decode(t, a, &cfg)
	if cfg.URL != page || cfg.Config.AppID != corpA || cfg.Config.Timestamp != t0.Unix() || len(cfg.Config.NonceStr) != jssdk.NonceLength {
		t.Errorf("config = %+v", cfg)
	}
	if want := jssdk.Sign(value(idOA, wxtoken.KindJSAPITicket), cfg.Config.NonceStr, cfg.Config.Timestamp, page); cfg.Config.Signature != want {
		t.Errorf("config signature %s, want %s (the corp ticket's)", cfg.Config.Signature, want)
	}
	ac := cfg.AgentConfig
	if ac == nil {
		t.Fatalf("no agentConfig: %s", a.body)
	}
	if ac.CorpID != corpA || ac.AgentID != agentOA || ac.Timestamp != t0.Unix() || len(ac.NonceStr) != jssdk.NonceLength {
		t.Errorf("agentConfig = %+v", ac)
	}
	if want := jssdk.Sign(value(idOA, wxtoken.KindAgentConfig), ac.NonceStr, ac.Timestamp, page); ac.Signature != want {
		t.Errorf("agentConfig signature %s, want %s (the agent ticket's)", ac.Signature, want)
	}
	wantCalls := []string{"credential " + idOA + " jsapi", "credential " + idOA + " agent_config"}
	if calls := e.svc.Calls(); fmt.Sprint(calls) != fmt.Sprint(wantCalls) {
		t.Errorf("service calls = %q, want %q", calls, wantCalls)
	}

	// An agent without the agent_config ticket gets wx.config alone.
	noAgent := &stub{credential: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		if kind == wxtoken.KindAgentConfig {
			return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "agent %s keeps no agent_config ticket", id)
		}
		return grant(id, kind), nil
	}}
	e = newWeComEnv(t, noAgent)
	a = e.get(t, path, keyAgent)
	if a.status != http.StatusOK || strings.Contains(a.body, "agentConfig") {
		t.Errorf("without the agent ticket: %d %s", a.status, a.body)
	}

	// Without the corp ticket there is no wx.config to sign; an agent
	// ticket that cannot be had now fails the answer, which would
	// otherwise lack what the page asked for.
	for name, tc := range map[string]struct {
		kind   wxtoken.Kind
		err    error
		status int
		code   wxtoken.Code
	}{
		"no jsapi":          {wxtoken.KindJSAPITicket, wxtoken.Errorf(wxtoken.ENotFound, "no jsapi ticket"), http.StatusNotFound, wxtoken.ENotFound},
		"agent unavailable": {wxtoken.KindAgentConfig, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "frequency limit", WeChatErrCode: 45009}, http.StatusServiceUnavailable, wxtoken.EUnavailable},
	} {
		svc := &stub{credential: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			if kind == tc.kind {
				return wxtoken.Grant{}, tc.err
			}
			return grant(id, kind), nil
		}}
		e := newWeComEnv(t, svc)
		if eb := wantError(t, e.get(t, path, keyAgent), tc.status, tc.code); eb.WeChatErrCode != tc.err.(*wxtoken.Error).WeChatErrCode {
			t.Errorf("%s: wechat_errcode %d", name, eb.WeChatErrCode)
		}
	}

	// A bad page URL costs no credential lookup.
	e = newWeComEnv(t, &stub{})
	for _, q := range []string{"", "?url=", "?url=" + url.QueryEscape("/relative"), "?url=https://a.example/p?x=1&y=2"} {
		wantError(t, e.get(t, weComPath(corpA, agentOA, "jssdk_config"+q), keyAgent), http.StatusBadRequest, wxtoken.EInvalid)
	}
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("bad urls reached the service: %q", calls)
	}
}

func TestWeComServiceErrors(t *testing.T) {
	svc := &stub{
		credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
			return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "IP not trusted", WeChatErrCode: 60020, Err: retryAfterError{5 * time.Minute}}
		},
		refresh: func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) {
			return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.ERateLimited, Message: "refresh asked too often", Err: retryAfterError{1500 * time.Millisecond}}
		},
	}
	e := newWeComEnv(t, svc)
	for _, path := range []string{weComPath(corpA, agentOA, "access_token"), weComPath(corpA, agentOA, "tickets/agent_config")} {
		a := e.get(t, path, keyCorp)
		if eb := wantError(t, a, http.StatusServiceUnavailable, wxtoken.EUnavailable); eb.WeChatErrCode != 60020 || a.header.Get("Retry-After") != "300" {
			t.Errorf("%s: %+v, Retry-After %q", path, eb, a.header.Get("Retry-After"))
		}
	}
	a := e.do(t, req{method: http.MethodPost, path: weComPath(corpA, agentOA, "access_token/refresh"), key: keyCorp, body: `{"stale":"x"}`})
	if wantError(t, a, http.StatusTooManyRequests, wxtoken.ERateLimited); a.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q, want 2", a.header.Get("Retry-After"))
	}
	// An unusable grant is never handed out.
	e = newWeComEnv(t, &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
		return wxtoken.Grant{Value: "v", ExpiresIn: 500 * time.Millisecond, ExpiresAt: t0}, nil
	}})
	wantError(t, e.get(t, weComPath(corpA, agentOA, "access_token"), keyCorp), http.StatusServiceUnavailable, wxtoken.EUnavailable)
}

// TestWeComAnswersStayApart reads every credential of agents that share
// an agentid or a corp, and an app, with one value for all: each answer
// must still name its own owner and type.
func TestWeComAnswersStayApart(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		g := grant(id, kind)
		g.Value = "SAME-VALUE"
		return g, nil
	}}
	e := newWeComEnv(t, svc)
	for range 3 {
		for _, ag := range [][2]string{{corpA, agentOA}, {corpA, agentContacts}, {corpB, agentOA}} {
			for _, k := range []wxtoken.Kind{wxtoken.KindAccessToken, wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig} {
				p := "access_token"
				if k.IsTicket() {
					p = "tickets/" + string(k)
				}
				a := e.get(t, weComPath(ag[0], ag[1], p), keyAll)
				var got struct {
					CorpID      string `json:"corpid"`
					AgentID     string `json:"agentid"`
					Type        string `json:"type"`
					AccessToken string `json:"access_token"`
					Ticket      string `json:"ticket"`
					ExpiresIn   int64  `json:"expires_in"`
					ExpiresAt   string `json:"expires_at"`
				}
				decode(t, a, &got)
				wantType := string(k)
				if k == wxtoken.KindAccessToken {
					wantType = ""
				}
				if got.CorpID != ag[0] || got.AgentID != ag[1] || got.Type != wantType || got.AccessToken+got.Ticket != "SAME-VALUE" {
					t.Errorf("%s/%s %s: %s", ag[0], ag[1], k, a.body)
				}
			}
		}
		a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyAll)
		if !strings.HasPrefix(a.body, `{"appid":"`+appShop+`","access_token":"SAME-VALUE"`) {
			t.Errorf("the app's answer: %s", a.body)
		}
	}
}

func TestListAppsWithAgents(t *testing.T) {
	status := []wxtoken.AppStatus{
		{AppID: appShop, Family: wxtoken.FamilyApp, TokenAPI: wxtoken.TokenAPIStable},
		{AppID: idOA, Family: wxtoken.FamilyWeCom, CorpID: corpA, AgentID: agentOA, Name: "acme", TokenAPI: wxtoken.TokenAPIWeCom,
			Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAgentConfig, State: wxtoken.StateFresh}}},
	}
	e := newWeComEnv(t, &stub{status: status})
	a := e.get(t, "/v1/apps", keyAdmin)
	var got httpapi.AppsResponse
	decode(t, a, &got)
	if len(got.Apps) != 2 || got.Apps[1].Family != wxtoken.FamilyWeCom || got.Apps[1].CorpID != corpA || got.Apps[1].AgentID != agentOA ||
		got.Apps[1].Credentials[0].Kind != wxtoken.KindAgentConfig {
		t.Errorf("apps = %+v", got.Apps)
	}
	if !strings.Contains(a.body, `"family":"wecom","corpid":"`+corpA+`","agentid":"`+agentOA+`"`) {
		t.Errorf("body %s lacks the agent's family, corpid and agentid", a.body)
	}
	wantError(t, e.get(t, "/v1/apps", keyCorp), http.StatusForbidden, wxtoken.EForbidden)
}

func TestWeComMetricsNameTheRoute(t *testing.T) {
	e := newWeComEnv(t, &stub{})
	e.get(t, weComPath(corpA, agentOA, "access_token"), keyCorp)
	e.get(t, weComPath(corpB, agentOA, "tickets/jsapi"), keyCorp)
	m := e.get(t, "/metrics", keyScraper)
	for _, s := range []string{
		`wxtoken_http_requests_total{route="GET /v1/wecom/{corpid}/{agentid}/access_token",status="200"} 1`,
		`wxtoken_http_requests_total{route="GET /v1/wecom/{corpid}/{agentid}/tickets/{type}",status="403"} 1`,
	} {
		if !strings.Contains(m.body, s) {
			t.Errorf("exposition lacks %s", s)
		}
	}
	if strings.Contains(m.body, corpA) {
		t.Error("a corpid reached a metric label")
	}
}
