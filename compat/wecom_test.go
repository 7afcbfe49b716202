package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// The WeCom side of the front door under test: corp ww01 with agents
// 1000002 and 1000003, corp ww02 with agent 1000002, and the Official
// Account wxA.
const (
	corp1, corp2 = "ww01", "ww02"
	agent2       = "1000002"
	agent3       = "1000003"
	secret2      = "agent2-secret-of-ww01"
	secret3      = "agent3-secret-of-ww01"
	secretOther  = "agent2-secret-of-ww02"
	// Client keys: one agent of ww01; the whole corp ww01 (both agents);
	// every app and agent; the Official Account only.
	keyOneAgent = "wxt_one-agent-0123456789"
	keyCorp     = "wxt_whole-corp-0123456789"
	keyStar     = "wxt_star-0123456789"
	keyOA       = "wxt_oa-only-0123456789"
	// Tokens the front door handed out.
	handed2  = "wecom-handed-out-for-agent2"
	handed3  = "wecom-handed-out-for-agent3"
	expired2 = "wecom-handed-out-for-agent2-expired"
	handedOA = "oa-handed-out-for-wxA"
)

// The agents' ids, as wxtoken.WeComID makes them (TestNewRefusesBadWeComOptions checks).
const (
	id2     = corp1 + "/" + agent2
	id3     = corp1 + "/" + agent3
	idOther = corp2 + "/" + agent2
)

func allAgents() []Agent {
	return []Agent{{corp1, agent2, secret2}, {corp1, agent3, secret3}, {corp2, agent2, secretOther}}
}

// upCall is a call an upstream stand-in received.
type upCall struct {
	host, path, token string
}

// weComFront is a front door for wxA and the agents above, relaying to an
// Official Account stand-in and a WeCom stand-in that record every call.
// The Service holds a current credential per id and kind, generation 1
// until a report replaces it.
type weComFront struct {
	h *Handler

	mu    sync.Mutex
	calls []upCall
	// gen is each id's token generation; reports lists the reported
	// (id, stale) pairs; asked lists the (id, kind) of Credential calls.
	gen     map[string]int
	reports []string
	asked   []string
	// dead are tokens the WeCom stand-in rejects with 42001; otherAgent
	// makes it answer 301002.
	dead       map[string]bool
	otherAgent bool
	notFound   bool
	logs       bytes.Buffer
}

func curTok(id string, gen int) string { return fmt.Sprintf("current-%s-%d", id, gen) }

func newWeComFront(t *testing.T) *weComFront {
	t.Helper()
	f := &weComFront{gen: map[string]int{}, dead: map[string]bool{}}
	stand := func(host string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := r.URL.Query().Get("access_token")
			f.mu.Lock()
			f.calls = append(f.calls, upCall{host, r.URL.Path, tok})
			dead, other := f.dead[tok], f.otherAgent
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch {
			case dead:
				_, _ = w.Write([]byte(`{"errcode":42001,"errmsg":"access_token expired"}`))
			case other:
				_, _ = w.Write([]byte(`{"errcode":301002,"errmsg":"not allow operate another agent with this accesstoken."}`))
			default:
				_, _ = fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","host":%q}`, host)
			}
		}))
		t.Cleanup(s.Close)
		return s
	}
	oa, wecom := stand("oa"), stand("wecom")
	var clients []clientkey.Client
	for name, c := range map[string]struct {
		key  string
		apps []string
	}{
		"one": {keyOneAgent, []string{id2}}, "corp": {keyCorp, []string{corp1}},
		"star": {keyStar, []string{"*"}}, "oa": {keyOA, []string{"wxA"}},
	} {
		sum := sha256.Sum256([]byte(c.key))
		clients = append(clients, clientkey.Client{Name: name, KeySHA256: hex.EncodeToString(sum[:]), Apps: c.apps})
	}
	ring, err := clientkey.New(clients)
	if err != nil {
		t.Fatal(err)
	}
	svc := &mock.Service{
		CredentialFn: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.asked = append(f.asked, id+" "+string(kind))
			if f.notFound {
				return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "no such ticket")
			}
			v := curTok(id, f.gen[id]+1)
			if kind != wxtoken.KindAccessToken {
				v = string(kind) + "-ticket-of-" + id
			}
			return wxtoken.Grant{AppID: id, Kind: kind, Value: v, ExpiresIn: time.Hour}, nil
		},
		RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reports = append(f.reports, id+" "+stale)
			if stale == curTok(id, f.gen[id]+1) {
				f.gen[id]++
			}
			return wxtoken.Grant{AppID: id, Kind: kind, Value: curTok(id, f.gen[id]+1), ExpiresIn: time.Hour}, nil
		},
	}
	f.h, err = New(Options{
		Service: svc,
		AppOf: func(tok string) (string, bool) {
			switch tok {
			case handed2:
				return id2, true
			case handed3:
				return id3, true
			case expired2:
				return id2, false
			case handedOA:
				return "wxA", true
			}
			return "", false
		},
		Apps:          []App{{AppID: "wxA", Secret: "secretA"}},
		Agents:        allAgents(),
		Keys:          ring,
		Upstream:      oa.URL,
		WeComUpstream: wecom.URL + "/",
		AlivePause:    time.Millisecond,
		Logger:        slog.New(slog.NewJSONHandler(&lockedWriter{mu: &f.mu, w: &f.logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// do sends a call and returns the answer and the upstream calls it made.
func (f *weComFront) do(t *testing.T, method, target string, header map[string]string) (*httptest.ResponseRecorder, []upCall) {
	t.Helper()
	f.mu.Lock()
	n := len(f.calls)
	f.mu.Unlock()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	for _, s := range []string{secret2, secret3, secretOther, keyOneAgent, keyCorp, keyStar, keyOA} {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("%s %s: the answer holds a secret or key: %s", method, target, rec.Body)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return rec, append([]upCall(nil), f.calls[n:]...)
}

func gettoken(corpID, secret string) string {
	return "/cgi-bin/gettoken?corpid=" + url.QueryEscape(corpID) + "&corpsecret=" + url.QueryEscape(secret)
}

// TestWeComGetToken: gettoken answers the token of the agent the
// corpsecret names, in WeCom's shape: the agent's own secret, a key
// granted one agent of the corp, AGENTID:KEY for a key granted several;
// anything else is refused with WeCom's errcode and one message for every
// wrong secret or refused key, and never reaches an upstream.
func TestWeComGetToken(t *testing.T) {
	f := newWeComFront(t)
	for _, c := range []struct {
		name, target string
		want         string // the agent whose token is answered, or ""
		errcode      int
		msg          string
	}{
		{"agent 2's secret", gettoken(corp1, secret2), id2, 0, ""},
		{"agent 3's secret", gettoken(corp1, secret3), id3, 0, ""},
		{"the other corp's agent", gettoken(corp2, secretOther), idOther, 0, ""},
		{"a key granted one agent", gettoken(corp1, keyOneAgent), id2, 0, ""},
		{"that key naming its agent", gettoken(corp1, agent2+":"+keyOneAgent), id2, 0, ""},
		{"a corp key naming agent 3", gettoken(corp1, agent3+":"+keyCorp), id3, 0, ""},
		{"a corp key naming agent 2", gettoken(corp1, agent2+":"+keyCorp), id2, 0, ""},
		{"* on a corp of one agent", gettoken(corp2, keyStar), idOther, 0, ""},
		{"* naming an agent", gettoken(corp1, agent3+":"+keyStar), id3, 0, ""},
		{"a colon left unescaped", "/cgi-bin/gettoken?corpid=ww01&corpsecret=1000003:" + keyCorp, id3, 0, ""},

		{"a corp key without the agent", gettoken(corp1, keyCorp), "", 40001, msgSeveralAgents},
		{"* without the agent", gettoken(corp1, keyStar), "", 40001, msgSeveralAgents},
		{"a key naming an agent it is not granted", gettoken(corp1, agent3+":"+keyOneAgent), "", 40001, msgWrongCorpSecret},
		{"a key naming an unknown agent", gettoken(corp1, "1000009:"+keyCorp), "", 40001, msgWrongCorpSecret},
		{"a key granted another corp's agent", gettoken(corp2, keyOneAgent), "", 40001, msgWrongCorpSecret},
		{"a key granted only an app", gettoken(corp1, keyOA), "", 40001, msgWrongCorpSecret},
		{"an unknown key", gettoken(corp1, "wxt_revoked-0123456789"), "", 40001, msgWrongCorpSecret},
		{"an unknown key naming an agent", gettoken(corp1, agent2+":wxt_revoked"), "", 40001, msgWrongCorpSecret},
		{"another corp's secret", gettoken(corp1, secretOther), "", 40001, msgWrongCorpSecret},
		{"a secret naming an agent", gettoken(corp1, agent2+":"+secret2), "", 40001, msgWrongCorpSecret},
		{"an unknown corp", gettoken("ww99", secret2), "", 40013, "invalid corpid: it is not configured on this wxtoken"},
		{"no corpid", "/cgi-bin/gettoken?corpsecret=" + secret2, "", 41002, "corpid missing"},
		{"no corpsecret", "/cgi-bin/gettoken?corpid=ww01&corpsecret=", "", 41004, "corpsecret missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, up := f.do(t, http.MethodGet, c.target, nil)
			if len(up) != 0 {
				t.Errorf("gettoken reached an upstream: %+v", up)
			}
			if c.want != "" {
				want := fmt.Sprintf(`{"errcode":0,"errmsg":"ok","access_token":%q,"expires_in":3600}`, curTok(c.want, 1))
				if rec.Code != 200 || rec.Body.String() != want {
					t.Fatalf("got %d %s, want %s", rec.Code, rec.Body, want)
				}
				return
			}
			var b errorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &b)
			if rec.Code != 200 || b.ErrCode != c.errcode || b.ErrMsg != "wxtoken: "+c.msg {
				t.Fatalf("got %d %s, want errcode %d %q", rec.Code, rec.Body, c.errcode, c.msg)
			}
		})
	}
	if rec, _ := f.do(t, http.MethodPost, gettoken(corp1, secret2), nil); !strings.Contains(rec.Body.String(), `"errcode":43001`) {
		t.Errorf("POST: %s", rec.Body)
	}
	if rec, _ := f.do(t, http.MethodGet, "/cgi-bin/GetToken?corpid=ww01&corpsecret="+secret2, nil); !strings.Contains(rec.Body.String(), `"errcode":40066`) {
		t.Errorf("another spelling: %s", rec.Body)
	}
	// Without a key ring, a key is a wrong secret.
	acc := *f.h.apps.Load()
	acc.keys = nil
	f.h.apps.Store(&acc)
	if rec, _ := f.do(t, http.MethodGet, gettoken(corp1, keyOneAgent), nil); !strings.Contains(rec.Body.String(), msgWrongCorpSecret) {
		t.Errorf("no key ring: %s", rec.Body)
	}
}

// TestWeComTickets: the corp's jsapi ticket and the agent's agent_config
// ticket are answered from the cache for the agent whose handed-out token
// the call carries; WeCom's errcodes for anything else.
func TestWeComTickets(t *testing.T) {
	f := newWeComFront(t)
	keyed := map[string]string{"Authorization": "Bearer " + keyCorp, HeaderAppID: id3}
	for _, c := range []struct {
		name, target string
		header       map[string]string
		want         string // the credential asked for, or ""
		errcode      int
	}{
		{"jsapi for agent 2", "/cgi-bin/get_jsapi_ticket?access_token=" + handed2, nil, id2 + " jsapi", 0},
		{"jsapi for agent 3", "/cgi-bin/get_jsapi_ticket?access_token=" + handed3, nil, id3 + " jsapi", 0},
		{"agent_config", "/cgi-bin/ticket/get?access_token=" + handed2 + "&type=agent_config", nil, id2 + " agent_config", 0},
		{"agent_config, type first", "/cgi-bin/ticket/get?type=agent_config&access_token=" + handed3, nil, id3 + " agent_config", 0},
		{"a key and the agent's id", "/cgi-bin/ticket/get?type=agent_config", keyed, id3 + " agent_config", 0},

		{"another type", "/cgi-bin/ticket/get?access_token=" + handed2 + "&type=jsapi", nil, "", 40097},
		{"no type", "/cgi-bin/ticket/get?access_token=" + handed2, nil, "", 40097},
		{"no token", "/cgi-bin/get_jsapi_ticket", nil, "", 41001},
		{"an empty token", "/cgi-bin/get_jsapi_ticket?access_token=", nil, "", 41001},
		{"two tokens", "/cgi-bin/get_jsapi_ticket?access_token=" + handed2 + "&access_token=" + handed3, nil, "", 40014},
		{"an unknown token", "/cgi-bin/get_jsapi_ticket?access_token=made-up", nil, "", 40014},
		{"an app's token", "/cgi-bin/get_jsapi_ticket?access_token=" + handedOA, nil, "", 40014},
		{"an expired token", "/cgi-bin/ticket/get?type=agent_config&access_token=" + expired2, nil, "", 42001},
		{"a key and an appid", "/cgi-bin/get_jsapi_ticket", map[string]string{"Authorization": "Bearer " + keyStar, HeaderAppID: "wxA"}, "", 40014},
		{"a key not granted the agent", "/cgi-bin/get_jsapi_ticket", map[string]string{"Authorization": "Bearer " + keyOneAgent, HeaderAppID: id3}, "", 48001},
		{"an agent's token at WeChat's getticket", "/cgi-bin/ticket/getticket?type=jsapi&access_token=" + handed2, nil, "", 40014},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.mu.Lock()
			f.asked = nil
			f.mu.Unlock()
			rec, up := f.do(t, http.MethodGet, c.target, c.header)
			if len(up) != 0 {
				t.Errorf("a ticket call reached an upstream: %+v", up)
			}
			f.mu.Lock()
			asked := f.asked
			f.mu.Unlock()
			if c.want != "" {
				id, kind, _ := strings.Cut(c.want, " ")
				want := fmt.Sprintf(`{"errcode":0,"errmsg":"ok","ticket":"%s-ticket-of-%s","expires_in":3600}`, kind, id)
				if rec.Body.String() != want || len(asked) != 1 || asked[0] != c.want {
					t.Fatalf("got %s (asked %v), want %s", rec.Body, asked, want)
				}
				return
			}
			var b errorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &b)
			if b.ErrCode != c.errcode || !strings.HasPrefix(b.ErrMsg, "wxtoken: ") || len(asked) != 0 {
				t.Fatalf("got %s (asked %v), want errcode %d", rec.Body, asked, c.errcode)
			}
		})
	}
	f.notFound = true
	if rec, _ := f.do(t, http.MethodGet, "/cgi-bin/ticket/get?type=agent_config&access_token="+handed2, nil); !strings.Contains(rec.Body.String(), `"errcode":40097`) || !strings.Contains(rec.Body.String(), "agent_config") {
		t.Errorf("a ticket not kept: %s", rec.Body)
	}
}

// TestWeComRelay: a call carrying an agent's token goes to the WeCom
// upstream with that agent's current token, one carrying an app's goes to
// WeChat's, whatever the path; two agents of one corp never get each
// other's token.
func TestWeComRelay(t *testing.T) {
	f := newWeComFront(t)
	for _, c := range []struct {
		name, target string
		header       map[string]string
		want         upCall
	}{
		{"agent 2", "/cgi-bin/user/get?access_token=" + handed2 + "&userid=u1", nil, upCall{"wecom", "/cgi-bin/user/get", curTok(id2, 1)}},
		{"agent 3", "/cgi-bin/agent/get?agentid=1000003&access_token=" + handed3, nil, upCall{"wecom", "/cgi-bin/agent/get", curTok(id3, 1)}},
		{"an app", "/cgi-bin/user/get?access_token=" + handedOA + "&openid=o1", nil, upCall{"oa", "/cgi-bin/user/get", curTok("wxA", 1)}},
		{"an app on a WeCom-only path", "/cgi-bin/agent/get?access_token=" + handedOA, nil, upCall{"oa", "/cgi-bin/agent/get", curTok("wxA", 1)}},
		{"an agent by key", "/cgi-bin/message/send", map[string]string{"Authorization": "Bearer " + keyCorp, HeaderAppID: id2}, upCall{"wecom", "/cgi-bin/message/send", curTok(id2, 1)}},
		{"an app by key", "/cgi-bin/message/custom/send", map[string]string{"Authorization": "Bearer " + keyOA, HeaderAppID: "wxA"}, upCall{"oa", "/cgi-bin/message/custom/send", curTok("wxA", 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, up := f.do(t, http.MethodGet, c.target, c.header)
			want := fmt.Sprintf(`{"errcode":0,"errmsg":"ok","host":%q}`, c.want.host)
			if rec.Code != 200 || rec.Body.String() != want {
				t.Fatalf("answer %d %s, want %s", rec.Code, rec.Body, want)
			}
			if len(up) != 1 || up[0] != c.want {
				t.Fatalf("upstream calls %+v, want one %+v", up, c.want)
			}
		})
	}
	for _, c := range []struct {
		name, target string
		errcode      int
	}{
		{"an expired agent token", "/cgi-bin/user/get?access_token=" + expired2, 42001},
		{"an unknown token", "/cgi-bin/user/get?access_token=made-up", 40001},
		{"a key and an unknown agent", "/cgi-bin/user/get", 40013},
	} {
		hdr := map[string]string(nil)
		if c.errcode == 40013 {
			hdr = map[string]string{"Authorization": "Bearer " + keyStar, HeaderAppID: wxtoken.WeComID(corp1, "1000009")}
		}
		rec, up := f.do(t, http.MethodGet, c.target, hdr)
		if !strings.Contains(rec.Body.String(), fmt.Sprintf(`"errcode":%d`, c.errcode)) || len(up) != 0 {
			t.Errorf("%s: %s, upstream calls %+v", c.name, rec.Body, up)
		}
	}
}

// TestWeComRelayHeals: a WeCom answer of 42001 is reported for the agent
// (compare-and-refresh) and the call made once more with the new token;
// the caller sees only the second answer. A second rejection is passed on.
func TestWeComRelayHeals(t *testing.T) {
	f := newWeComFront(t)
	old := curTok(id3, 1)
	f.dead[old] = true
	rec, up := f.do(t, http.MethodPost, "/cgi-bin/message/send?access_token="+handed3, nil)
	if rec.Body.String() != `{"errcode":0,"errmsg":"ok","host":"wecom"}` {
		t.Fatalf("answer %s", rec.Body)
	}
	want := []upCall{{"wecom", "/cgi-bin/message/send", old}, {"wecom", "/cgi-bin/message/send", curTok(id3, 2)}}
	if len(up) != 2 || up[0] != want[0] || up[1] != want[1] {
		t.Fatalf("upstream calls %+v, want %+v", up, want)
	}
	if len(f.reports) != 1 || f.reports[0] != id3+" "+old {
		t.Fatalf("reports %v, want one of agent 3's old token", f.reports)
	}
	// Agent 2 was not touched by agent 3's healing.
	if _, up := f.do(t, http.MethodGet, "/cgi-bin/user/get?access_token="+handed2, nil); len(up) != 1 || up[0].token != curTok(id2, 1) {
		t.Fatalf("agent 2 after agent 3 healed: %+v", up)
	}

	// Both tokens rejected: one retry, and WeCom's answer passed on.
	f.dead[curTok(id3, 2)], f.dead[curTok(id3, 3)] = true, true
	rec, up = f.do(t, http.MethodGet, "/cgi-bin/user/get?access_token="+handed3, nil)
	if !strings.Contains(rec.Body.String(), `"errcode":42001`) || len(up) != 2 {
		t.Fatalf("twice rejected: %s after %d calls", rec.Body, len(up))
	}
}

// TestWeComRelay301002: WeCom's answer that a token of another agent was
// used is passed on as it is, not retried, and logged as an error.
func TestWeComRelay301002(t *testing.T) {
	f := newWeComFront(t)
	f.otherAgent = true
	rec, up := f.do(t, http.MethodGet, "/cgi-bin/agent/get?agentid=1000003&access_token="+handed2, nil)
	if !strings.Contains(rec.Body.String(), `"errcode":301002`) || len(up) != 1 || len(f.reports) != 0 {
		t.Fatalf("answer %s after %d calls, %d reports", rec.Body, len(up), len(f.reports))
	}
	f.mu.Lock()
	logs := f.logs.String()
	f.mu.Unlock()
	var line string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, "301002") {
			line = l
		}
	}
	if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, `"appid":"`+id2+`"`) {
		t.Fatalf("want an error line naming the agent, got logs:\n%s", logs)
	}
	if strings.Contains(logs, curTok(id2, 1)) || strings.Contains(logs, handed2) {
		t.Errorf("the log holds a token:\n%s", logs)
	}
	// An app's call answered 301002 is no WeCom bug: no error line.
	f.mu.Lock()
	f.logs.Reset()
	f.mu.Unlock()
	f.do(t, http.MethodGet, "/cgi-bin/user/get?access_token="+handedOA, nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(f.logs.String(), "301002") {
		t.Errorf("an app's call logged 301002:\n%s", f.logs.String())
	}
}

func TestNewRefusesBadWeComOptions(t *testing.T) {
	ok := Options{Service: &mock.Service{}, AppOf: func(string) (string, bool) { return "", false }, Upstream: "https://api.weixin.qq.com", Agents: allAgents()}
	for name, mod := range map[string]func(*Options){
		"relative WeCom upstream":  func(o *Options) { o.WeComUpstream = "qyapi.weixin.qq.com" },
		"WeCom upstream, a query":  func(o *Options) { o.WeComUpstream = "https://qyapi.weixin.qq.com/?x=1" },
		"agent without a secret":   func(o *Options) { o.Agents = []Agent{{CorpID: corp1, AgentID: agent2}} },
		"agent without an agentid": func(o *Options) { o.Agents = []Agent{{CorpID: corp1, Secret: "s"}} },
		"agent listed twice":       func(o *Options) { o.Agents = append(append([]Agent(nil), allAgents()...), allAgents()[0]) },
		"agentid with a colon":     func(o *Options) { o.Agents = []Agent{{CorpID: corp1, AgentID: "a:b", Secret: "s"}} },
	} {
		o := ok
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if wxtoken.WeComID(corp1, agent2) != id2 {
		t.Fatalf("WeComID is %q, the tests assume %q", wxtoken.WeComID(corp1, agent2), id2)
	}
	h, err := New(ok)
	if err != nil {
		t.Fatalf("valid options: %v", err)
	}
	if h.wecom != DefaultWeComUpstream {
		t.Errorf("WeCom upstream %q, want the default", h.wecom)
	}
}

// TestWeComUnderABasePath: below a base path WeCom's credential paths are
// answered from the cache and its calls relayed with the base path taken
// off.
func TestWeComUnderABasePath(t *testing.T) {
	f := newWeComFront(t)
	f.h.base = "/wechat"
	rec, up := f.do(t, http.MethodGet, "/wechat"+gettoken(corp1, secret3), nil)
	if !strings.Contains(rec.Body.String(), `"access_token":"`+curTok(id3, 1)+`"`) || len(up) != 0 {
		t.Fatalf("gettoken: %s; upstream calls %+v", rec.Body, up)
	}
	rec, up = f.do(t, http.MethodGet, "/wechat/cgi-bin/department/list?access_token="+handed3, nil)
	want := upCall{"wecom", "/cgi-bin/department/list", curTok(id3, 1)}
	if rec.Code != 200 || len(up) != 1 || up[0] != want {
		t.Fatalf("relay: %s; upstream calls %+v, want %+v", rec.Body, up, want)
	}
}
