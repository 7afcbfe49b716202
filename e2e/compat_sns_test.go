package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// snsReply is a login call's answer.
type snsReply struct {
	ErrCode      int    `json:"errcode"`
	ErrMsg       string `json:"errmsg"`
	OpenID       string `json:"openid"`
	SessionKey   string `json:"session_key"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Nickname     string `json:"nickname"`
}

func decodeSNS(t *testing.T, a wxAnswer) snsReply {
	t.Helper()
	var r snsReply
	if a.status != http.StatusOK || json.Unmarshal([]byte(a.raw), &r) != nil {
		t.Fatalf("not a WeChat answer: %s", a)
	}
	return r
}

// mintCode is a login code of the simulator for a user of appID.
func (e *env) mintCode(t *testing.T, appID, openID string) string {
	t.Helper()
	c, err := e.sim.MintCode(simulator.CodeRequest{AppID: appID, OpenID: openID})
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}

// TestCompatSNSLoginThroughTheFrontDoor: a business server whose SDK points
// at wxtoken logs users in through it, holding a client key instead of the
// AppSecret: the mini program's jscode2session (also through a platform)
// and web OAuth's code exchange, userinfo, auth and refresh. Each call
// reaches the simulator with the user's credentials as sent (a user's
// token is never swapped for the app's, even when a client key and the
// appid header come with it), the AppSecret is put in where the key stood,
// and none of it touches the app's token.
func TestCompatSNSLoginThroughTheFrontDoor(t *testing.T) {
	integration.Skip(t)
	e := newCompatEnv(t, setup{
		apps: []appSpec{{id: "wxmini", api: "stable"}, {id: "wxweb", api: "classic"}, {id: "wxplat", api: "stable"}},
		clients: []clientSpec{
			{name: "admin", apps: []string{"*"}, admin: true},
			{name: "shop", apps: []string{"wxmini", "wxweb"}},
			{name: "platform", apps: []string{"wxplat"}},
		},
		ttl: time.Minute, overlap: 5 * time.Second, passiveInterval: 200 * time.Millisecond,
	})
	rec := e.recordUpstream(t)
	e.start()
	shop, platform := e.keys["shop"], e.keys["platform"]
	miniSecret, webSecret := e.secretOf("wxmini"), e.secretOf("wxweb")
	appToken := map[string]string{}
	for _, id := range []string{"wxmini", "wxweb", "wxplat"} {
		appToken[id] = e.token(t, id).value
	}
	tokenCalls := e.sim.Calls(simulator.EndpointToken, "") + e.sim.Calls(simulator.EndpointStableToken, "")

	// call makes one call through the front door and returns the answer
	// and the query the simulator received for it.
	call := func(t *testing.T, path string, q url.Values, header map[string]string) (snsReply, string) {
		t.Helper()
		n := rec.count()
		raw := q.Encode()
		a := e.wx(t, http.MethodGet, path+"?"+raw, "", header)
		got := rec.since(n)
		if len(got) != 1 || got[0].path != path {
			t.Fatalf("%s: %d upstream calls (%+v), want 1 to the same path", path, len(got), got)
		}
		if got[0].header.Get("Authorization") != "" || got[0].header.Get("X-Wxtoken-Appid") != "" {
			t.Errorf("%s: the client key or the appid header reached WeChat", path)
		}
		return decodeSNS(t, a), got[0].query
	}

	t.Run("jscode2session with the AppSecret", func(t *testing.T) {
		q := url.Values{"appid": {"wxmini"}, "secret": {miniSecret}, "js_code": {e.mintCode(t, "wxmini", "oMiniA")}, "grant_type": {"authorization_code"}}
		r, sent := call(t, "/sns/jscode2session", q, nil)
		if r.ErrCode != 0 || r.OpenID != "oMiniA" || r.SessionKey == "" || sent != q.Encode() {
			t.Fatalf("answer %+v; WeChat got the query as sent: %v", r, sent == q.Encode())
		}
	})
	t.Run("jscode2session with a client key as the secret", func(t *testing.T) {
		q := url.Values{"appid": {"wxmini"}, "secret": {shop}, "js_code": {e.mintCode(t, "wxmini", "oMiniB")}, "grant_type": {"authorization_code"}}
		r, sent := call(t, "/sns/jscode2session", q, nil)
		q.Set("secret", miniSecret)
		if r.ErrCode != 0 || r.OpenID != "oMiniB" || sent != q.Encode() {
			t.Fatalf("answer %+v; WeChat got the AppSecret in place of the key: %v", r, sent == q.Encode())
		}
	})
	t.Run("a key not granted the app", func(t *testing.T) {
		code := e.mintCode(t, "wxmini", "oMiniC")
		n := rec.count()
		q := url.Values{"appid": {"wxmini"}, "secret": {platform}, "js_code": {code}, "grant_type": {"authorization_code"}}
		wantWXError(t, e.wx(t, http.MethodGet, "/sns/jscode2session?"+q.Encode(), "", nil), 40125)
		if got := rec.since(n); len(got) != 0 {
			t.Fatalf("a refused login reached WeChat: %+v", got)
		}
		// The code was not spent.
		q.Set("secret", shop)
		if r, _ := call(t, "/sns/jscode2session", q, nil); r.OpenID != "oMiniC" {
			t.Fatalf("the code after a refusal: %+v", r)
		}
	})
	t.Run("component jscode2session", func(t *testing.T) {
		// The simulator takes a working token of the component_appid as
		// its component_access_token; it reaches WeChat as sent, though
		// wxtoken handed it out.
		q := url.Values{"appid": {"wxmini"}, "js_code": {e.mintCode(t, "wxmini", "oMiniD")}, "grant_type": {"authorization_code"},
			"component_appid": {"wxplat"}, "component_access_token": {appToken["wxplat"]}}
		r, sent := call(t, "/sns/component/jscode2session", q, nil)
		if r.ErrCode != 0 || r.OpenID != "oMiniD" || sent != q.Encode() {
			t.Fatalf("answer %+v; WeChat got the query as sent: %v", r, sent == q.Encode())
		}
	})

	var user, refreshToken string
	t.Run("web OAuth code exchange with a client key", func(t *testing.T) {
		q := url.Values{"appid": {"wxweb"}, "secret": {shop}, "code": {e.mintCode(t, "wxweb", "oWebA")}, "grant_type": {"authorization_code"}}
		r, sent := call(t, "/sns/oauth2/access_token", q, nil)
		if r.ErrCode != 0 || r.OpenID != "oWebA" || r.AccessToken == "" || r.RefreshToken == "" {
			t.Fatalf("code exchange: %+v", r)
		}
		if strings.Contains(sent, shop) || !strings.Contains(sent, "secret="+webSecret) {
			t.Fatalf("WeChat did not get the AppSecret in place of the key")
		}
		user, refreshToken = r.AccessToken, r.RefreshToken
	})
	if user == "" {
		t.FailNow()
	}
	keyed := map[string]string{"Authorization": "Bearer " + shop, "X-Wxtoken-Appid": "wxweb"}
	for _, c := range []struct {
		name, path string
		header     map[string]string
	}{
		{"userinfo", "/sns/userinfo", nil},
		{"userinfo with a client key and the appid header", "/sns/userinfo", keyed},
		{"auth", "/sns/auth", nil},
		{"auth with a client key and the appid header", "/sns/auth", keyed},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"access_token": {user}, "openid": {"oWebA"}, "lang": {"zh_CN"}}
			r, sent := call(t, c.path, q, c.header)
			if r.ErrCode != 0 || sent != q.Encode() {
				t.Fatalf("answer %+v; WeChat got the user's token as sent: %v", r, sent == q.Encode())
			}
			if c.path == "/sns/userinfo" && (r.OpenID != "oWebA" || r.Nickname == "") {
				t.Fatalf("userinfo: %+v", r)
			}
		})
	}
	t.Run("refresh_token", func(t *testing.T) {
		q := url.Values{"appid": {"wxweb"}, "grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
		r, sent := call(t, "/sns/oauth2/refresh_token", q, nil)
		if r.ErrCode != 0 || r.AccessToken == "" || r.AccessToken == user || r.RefreshToken != refreshToken || sent != q.Encode() {
			t.Fatalf("refresh: %+v; WeChat got the refresh token as sent: %v", r, sent == q.Encode())
		}
		if r2, _ := call(t, "/sns/auth", url.Values{"access_token": {r.AccessToken}, "openid": {"oWebA"}}, nil); r2.ErrCode != 0 {
			t.Fatalf("auth with the refreshed token: %+v", r2)
		}
	})
	t.Run("a user's token WeChat rejects is not the app's", func(t *testing.T) {
		// WeChat's 40001 for a user's token is relayed as WeChat gave it;
		// wxtoken reports nothing and retries nothing.
		q := url.Values{"access_token": {"80_a-user-token-wechat-does-not-know"}, "openid": {"oWebA"}}
		r, _ := call(t, "/sns/userinfo", q, keyed)
		if r.ErrCode != 40001 || strings.HasPrefix(r.ErrMsg, "wxtoken:") {
			t.Fatalf("want WeChat's own 40001, got %+v", r)
		}
	})

	if got := e.sim.Calls(simulator.EndpointToken, "") + e.sim.Calls(simulator.EndpointStableToken, ""); got != tokenCalls {
		t.Errorf("the login calls caused %d token calls at WeChat, want none", got-tokenCalls)
	}
	for id, tok := range appToken {
		if cur := e.token(t, id).value; cur != tok {
			t.Errorf("the login calls replaced the token of %s", id)
		}
	}
	e.noTokenInLogs(t, user, refreshToken, appToken["wxplat"])
}

// TestCompatClientKeyAsSecret: an SDK configured with a client key as its
// AppSecret gets the app's token from /cgi-bin/token and stable_token, and
// its tickets with it; a key granted another app is refused as a wrong
// secret is; and once the key is removed from the config, the restarted
// server refuses it the same way, without an upstream call.
func TestCompatClientKeyAsSecret(t *testing.T) {
	integration.Skip(t)
	const appID = "wxkeyed"
	e := newCompatEnv(t, setup{
		apps: []appSpec{{id: appID, api: "stable", tickets: []string{"jsapi"}}, {id: "wxelse", api: "stable"}},
		clients: []clientSpec{
			{name: "admin", apps: []string{"*"}, admin: true},
			{name: "shop", apps: []string{appID}},
			{name: "else", apps: []string{"wxelse"}},
		},
		ttl: time.Minute, overlap: 5 * time.Second,
	})
	first := e.start()
	shop, other := e.keys["shop"], e.keys["else"]
	want := e.token(t, appID).value
	jsapi := e.ticket(t, appID, "jsapi").value
	calls := e.sim.Calls("", "")

	a := e.wx(t, http.MethodGet, classicTokenPath(appID, shop), "", nil)
	if a.AccessToken != want || a.ExpiresIn < 1 {
		t.Fatalf("/cgi-bin/token with the key: %s", a)
	}
	if a := e.wx(t, http.MethodPost, "/cgi-bin/stable_token", stableTokenBody(appID, shop, false), nil); a.AccessToken != want {
		t.Fatalf("stable_token with the key: %s", a)
	}
	if a := e.wx(t, http.MethodGet, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+want, "", nil); a.Ticket != jsapi {
		t.Fatalf("getticket with the token the key got: %s", a)
	}
	wantWXError(t, e.wx(t, http.MethodGet, classicTokenPath(appID, other), "", nil), 40125)
	wantWXError(t, e.wx(t, http.MethodPost, "/cgi-bin/stable_token", stableTokenBody(appID, other, false), nil), 40125)
	if got := e.sim.Calls("", ""); got != calls {
		t.Errorf("%d upstream calls, want none", got-calls)
	}
	if !strings.Contains(e.logs.String(), "client=shop") {
		t.Errorf("the log does not name the key's client")
	}

	// Revoke: the key leaves the config, and the server restarts.
	first.stop(t)
	cfg := *e.cfg
	cfg.Clients = nil
	for _, c := range e.cfg.Clients {
		if c.Name != "shop" {
			cfg.Clients = append(cfg.Clients, c)
		}
	}
	e.startWith(&cfg, nil, e.log)
	calls = e.sim.Calls("", "")
	wantWXError(t, e.wx(t, http.MethodGet, classicTokenPath(appID, shop), "", nil), 40125)
	wantWXError(t, e.wx(t, http.MethodPost, "/cgi-bin/stable_token", stableTokenBody(appID, shop, false), nil), 40125)
	q := url.Values{"appid": {appID}, "secret": {shop}, "js_code": {e.mintCode(t, appID, "")}, "grant_type": {"authorization_code"}}
	wantWXError(t, e.wx(t, http.MethodGet, "/sns/jscode2session?"+q.Encode(), "", nil), 40125)
	if got := e.sim.Calls("", ""); got != calls {
		t.Errorf("the revoked key caused %d upstream calls, want none", got-calls)
	}
	// The AppSecret still works.
	if a := e.wx(t, http.MethodGet, classicTokenPath(appID, e.secretOf(appID)), "", nil); a.AccessToken != want {
		t.Fatalf("the AppSecret after the restart: %s", a)
	}
}
