package simulator

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// snsAnswer is a login call's answer, decoded loosely.
type snsAnswer struct {
	answer
	OpenID       string `json:"openid"`
	SessionKey   string `json:"session_key"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Nickname     string `json:"nickname"`
}

func (f *fixture) sns(path string, q url.Values) snsAnswer {
	f.t.Helper()
	a := f.do("GET", path+"?"+q.Encode(), "")
	s := snsAnswer{answer: a}
	_ = json.Unmarshal([]byte(a.Raw), &s)
	return s
}

func (f *fixture) code(appID, openID, scope string) Code {
	f.t.Helper()
	c, err := f.sim.MintCode(CodeRequest{AppID: appID, OpenID: openID, Scope: scope})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func wantSNSErr(t *testing.T, a snsAnswer, code int) {
	t.Helper()
	wantErr(t, a.answer, code)
}

// TestJSCodeToSession: a minted code logs its user in once, for its app;
// everything else is refused with WeChat's errcode.
func TestJSCodeToSession(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.code("wxA", "", "")
	if len(c.OpenID) != 28 || c.Scope != ScopeUserInfo || c.ExpiresIn != 300 {
		t.Fatalf("code: %+v", c)
	}
	q := func(appid, secret, code string) url.Values {
		return url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	}
	// Refusals spend no code.
	wantSNSErr(t, f.sns("/sns/jscode2session", q("", "secretA", c.Code)), 41002)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "", c.Code)), 41004)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxZ", "secretA", c.Code)), 40013)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "secretB", c.Code)), 40125)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "secretA", "")), 41008)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxB", "secretB", c.Code)), 40029) // another app's code
	bad := q("wxA", "secretA", c.Code)
	bad.Set("grant_type", "client_credential")
	wantSNSErr(t, f.sns("/sns/jscode2session", bad), 40002)

	a := f.sns("/sns/jscode2session", q("wxA", "secretA", c.Code))
	if a.ErrCode != 0 || a.OpenID != c.OpenID || len(a.SessionKey) != 24 {
		t.Fatalf("login: %s", a.Raw)
	}
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "secretA", c.Code)), 40163)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "secretA", "never-minted")), 40029)

	// A code lives five minutes.
	late := f.code("wxA", "oLate", "")
	f.clock.Advance(5 * time.Minute)
	wantSNSErr(t, f.sns("/sns/jscode2session", q("wxA", "secretA", late.Code)), 40029)
	if n := f.sim.Calls(EndpointSNS, "wxA"); n != 8 {
		t.Errorf("%d login calls counted for wxA, want 8 (those that name it)", n)
	}
	wantErr(t, f.do("POST", "/sns/jscode2session?"+q("wxA", "secretA", c.Code).Encode(), ""), 43001)
}

// TestWebOAuth: the web OAuth flow end to end: the code exchange, userinfo
// and auth with the user's token, a refresh; the app's token is no user's
// token, and a snsapi_base token gets no userinfo.
func TestWebOAuth(t *testing.T) {
	f := newFixture(t, Options{TTL: time.Hour})
	c := f.code("wxA", "oAlice_1", ScopeUserInfo)
	ex := f.sns("/sns/oauth2/access_token", url.Values{"appid": {"wxA"}, "secret": {"secretA"}, "code": {c.Code}, "grant_type": {"authorization_code"}})
	if ex.ErrCode != 0 || ex.AccessToken == "" || ex.RefreshToken == "" || ex.OpenID != "oAlice_1" || ex.Scope != ScopeUserInfo || ex.ExpiresIn != 3600 {
		t.Fatalf("code exchange: %s", ex.Raw)
	}
	user := url.Values{"access_token": {ex.AccessToken}, "openid": {"oAlice_1"}, "lang": {"zh_CN"}}
	if a := f.sns("/sns/userinfo", user); a.ErrCode != 0 || a.OpenID != "oAlice_1" || a.Nickname == "" || !strings.Contains(a.Raw, `"privilege":[]`) {
		t.Fatalf("userinfo: %s", a.Raw)
	}
	if a := f.sns("/sns/auth", user); a.ErrCode != 0 || a.ErrMsg != "ok" {
		t.Fatalf("auth: %s", a.Raw)
	}
	if n := f.sim.Calls(EndpointSNS, "wxA"); n != 3 {
		t.Errorf("%d login calls counted for wxA, want 3 (userinfo and auth count for the token's app)", n)
	}
	wrong := url.Values{"access_token": {ex.AccessToken}, "openid": {"oBob"}}
	wantSNSErr(t, f.sns("/sns/userinfo", wrong), 40003)
	wantSNSErr(t, f.sns("/sns/auth", url.Values{"access_token": {ex.AccessToken}}), 41009)
	wantSNSErr(t, f.sns("/sns/userinfo", url.Values{"openid": {"oAlice_1"}}), 41001)
	wantSNSErr(t, f.sns("/sns/userinfo", url.Values{"access_token": {"not a token"}, "openid": {"oAlice_1"}}), 40014)
	appTok := f.token(f.classic("wxA"))
	wantSNSErr(t, f.sns("/sns/userinfo", url.Values{"access_token": {appTok}, "openid": {"oAlice_1"}}), 40001)
	// ... and a user's token is not the app's.
	wantErr(t, f.probe(ex.AccessToken), 40001)

	// The user's token expires; the refresh token gets a new one.
	f.clock.Advance(time.Hour)
	wantSNSErr(t, f.sns("/sns/userinfo", user), 42001)
	rq := url.Values{"appid": {"wxA"}, "grant_type": {"refresh_token"}, "refresh_token": {ex.RefreshToken}}
	re := f.sns("/sns/oauth2/refresh_token", rq)
	if re.ErrCode != 0 || re.AccessToken == "" || re.AccessToken == ex.AccessToken || re.RefreshToken != ex.RefreshToken || re.OpenID != "oAlice_1" {
		t.Fatalf("refresh: %s", re.Raw)
	}
	user.Set("access_token", re.AccessToken)
	if a := f.sns("/sns/userinfo", user); a.ErrCode != 0 {
		t.Fatalf("userinfo with the refreshed token: %s", a.Raw)
	}
	for _, c := range []struct {
		q    url.Values
		code int
	}{
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ex.RefreshToken}}, 41002},
		{url.Values{"appid": {"wxZ"}, "refresh_token": {ex.RefreshToken}}, 40013},
		{url.Values{"appid": {"wxA"}, "grant_type": {"refresh_token"}}, 41003},
		{url.Values{"appid": {"wxB"}, "refresh_token": {ex.RefreshToken}}, 40030},
		{url.Values{"appid": {"wxA"}, "grant_type": {"authorization_code"}, "refresh_token": {ex.RefreshToken}}, 40002},
	} {
		wantSNSErr(t, f.sns("/sns/oauth2/refresh_token", c.q), c.code)
	}
	f.clock.Advance(refreshTTL)
	wantSNSErr(t, f.sns("/sns/oauth2/refresh_token", rq), 42002)

	// snsapi_base: the openid, and no userinfo.
	b := f.code("wxB", "", ScopeBase)
	ex = f.sns("/sns/oauth2/access_token", url.Values{"appid": {"wxB"}, "secret": {"secretB"}, "code": {b.Code}})
	if ex.ErrCode != 0 || ex.Scope != ScopeBase {
		t.Fatalf("base code exchange: %s", ex.Raw)
	}
	base := url.Values{"access_token": {ex.AccessToken}, "openid": {b.OpenID}}
	wantSNSErr(t, f.sns("/sns/userinfo", base), 48001)
	if a := f.sns("/sns/auth", base); a.ErrCode != 0 {
		t.Fatalf("auth with a base token: %s", a.Raw)
	}
}

// TestComponentJSCodeToSession: through a platform, the component_appid is
// an app of the simulator and its working access_token stands for the
// component_access_token.
func TestComponentJSCodeToSession(t *testing.T) {
	f := newFixture(t, Options{})
	platformTok := f.token(f.classic("wxB"))
	c := f.code("wxA", "oMini", "")
	q := func(cat string) url.Values {
		return url.Values{"appid": {"wxA"}, "js_code": {c.Code}, "grant_type": {"authorization_code"}, "component_appid": {"wxB"}, "component_access_token": {cat}}
	}
	wantSNSErr(t, f.sns("/sns/component/jscode2session", q(f.token(f.classic("wxA")))), 40001) // wxA's token is not wxB's
	noTok := q("")
	noTok.Del("component_access_token")
	wantSNSErr(t, f.sns("/sns/component/jscode2session", noTok), 41001)
	a := f.sns("/sns/component/jscode2session", q(platformTok))
	if a.ErrCode != 0 || a.OpenID != "oMini" || a.SessionKey == "" {
		t.Fatalf("component login: %s", a.Raw)
	}
	wantSNSErr(t, f.sns("/sns/component/jscode2session", q(platformTok)), 40163)
}

// TestCodesControl: POST /_sim/codes mints a code; bad input is a 400 that
// says what is wrong.
func TestCodesControl(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.do("POST", "/_sim/codes", `{"appid":"wxA","openid":"oCtl","scope":"snsapi_base"}`)
	var c Code
	if err := json.Unmarshal([]byte(a.Raw), &c); err != nil || a.Status != 200 || c.Code == "" || c.OpenID != "oCtl" || c.Scope != ScopeBase || c.ExpiresIn != 300 {
		t.Fatalf("POST /_sim/codes: %d %s", a.Status, a.Raw)
	}
	for body, want := range map[string]string{
		`{"appid":"wxZ"}`:                `unknown appid`,
		`{"appid":"wxA","scope":"all"}`:  `unknown scope`,
		`{"appid":"wxA","openid":"o b"}`: `openid`,
		`{"appid":"wxA","open_id":"o1"}`: `unknown field`,
		``:                               `empty`,
	} {
		if a := f.do("POST", "/_sim/codes", body); a.Status != 400 || !strings.Contains(a.Raw, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, a.Status, a.Raw, want)
		}
	}
	if a := f.do("GET", "/_sim/codes", ""); a.Status != 405 {
		t.Errorf("GET /_sim/codes: %d", a.Status)
	}
}
