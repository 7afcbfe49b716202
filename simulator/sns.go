package simulator

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// WeChat's login calls, under /sns/: a mini program's jscode2session (also
// through a third-party platform, component/jscode2session), and web
// OAuth's code exchange, refresh, userinfo and auth. They carry the
// caller's own credentials: the app's AppSecret, a one-time login code, a
// user's access_token and refresh_token. WeChat gives a code to the user's
// client; here the control API (or MintCode) hands one out.

// The scopes a login code can carry.
const (
	ScopeBase     = "snsapi_base"     // openid only; userinfo answers 48001
	ScopeUserInfo = "snsapi_userinfo" // userinfo allowed (the default)
	ScopeLogin    = "snsapi_login"    // a website's QR login; as snsapi_userinfo
)

// Lifetimes WeChat gives login credentials; a user's access_token lives
// Options.TTL, as the app's does.
const (
	codeTTL    = 5 * time.Minute     // a login code, usable once
	refreshTTL = 30 * 24 * time.Hour // a user's refresh_token
)

// Errcodes of the login calls.
const (
	errInvalidOpenID       = 40003
	errInvalidCode         = 40029
	errInvalidRefreshToken = 40030
	errCodeUsed            = 40163
	errMissingRefreshToken = 41003
	errMissingCode         = 41008
	errMissingOpenID       = 41009
	errRefreshExpired      = 42002
	errUnauthorized        = 48001
)

// snsMsg is WeChat's errmsg for the login calls' errcodes, "" for the
// others.
func snsMsg(code int) string {
	switch code {
	case errInvalidOpenID:
		return "invalid openid"
	case errInvalidCode:
		return "invalid code"
	case errInvalidRefreshToken:
		return "invalid refresh_token"
	case errCodeUsed:
		return "code been used"
	case errMissingRefreshToken:
		return "refresh_token missing"
	case errMissingCode:
		return "missing code"
	case errMissingOpenID:
		return "missing openid"
	case errRefreshExpired:
		return "refresh_token expired"
	case errUnauthorized:
		return "api unauthorized"
	}
	return ""
}

// CodeRequest asks for a login code, as a user's WeChat client gets one
// from wx.login or an OAuth redirect.
type CodeRequest struct {
	// AppID is the app the code is for. Required.
	AppID string `json:"appid"`
	// OpenID is the user's openid in the app; empty for a new random
	// one. At most 64 characters of [A-Za-z0-9_-].
	OpenID string `json:"openid,omitempty"`
	// Scope is ScopeBase, ScopeUserInfo or ScopeLogin; empty for
	// ScopeUserInfo.
	Scope string `json:"scope,omitempty"`
}

// Code is a login code and what it stands for.
type Code struct {
	Code      string `json:"code"`
	AppID     string `json:"appid"`
	OpenID    string `json:"openid"`
	Scope     string `json:"scope"`
	ExpiresIn int    `json:"expires_in"` // whole seconds
}

// snsState is the login calls' state; the Simulator's mu guards it.
type snsState struct {
	codes   map[string]*login // one-time codes
	tokens  map[string]*login // users' access_tokens
	refresh map[string]*login // users' refresh_tokens
}

// login is one code, user access_token or refresh_token.
type login struct {
	appID, openID, scope string
	expiry               time.Time
	used                 bool // a code, once exchanged
}

// MintCode returns a login code for a user of an app, usable once within
// five minutes at /sns/jscode2session, /sns/component/jscode2session or
// /sns/oauth2/access_token for that app.
func (s *Simulator) MintCode(req CodeRequest) (Code, error) {
	if req.Scope == "" {
		req.Scope = ScopeUserInfo
	}
	switch {
	case req.Scope != ScopeBase && req.Scope != ScopeUserInfo && req.Scope != ScopeLogin:
		return Code{}, fmt.Errorf("simulator: unknown scope %q (want %s, %s or %s)", req.Scope, ScopeBase, ScopeUserInfo, ScopeLogin)
	case req.OpenID != "" && (len(req.OpenID) > 64 || !wellFormed(req.OpenID)):
		return Code{}, errors.New("simulator: an openid is at most 64 characters of [A-Za-z0-9_-]")
	}
	if req.OpenID == "" {
		req.OpenID = "o" + randomText(27) // real openids are 28 characters
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[req.AppID] == nil {
		return Code{}, fmt.Errorf("simulator: unknown appid %q", req.AppID)
	}
	now := s.now()
	v := s.newLogin(loginCode, &login{appID: req.AppID, openID: req.OpenID, scope: req.Scope, expiry: now.Add(codeTTL)})
	return Code{Code: v, AppID: req.AppID, OpenID: req.OpenID, Scope: req.Scope, ExpiresIn: seconds(codeTTL)}, nil
}

// newLogin stores l under a new random value in the table of its kind and
// returns the value; the caller holds s.mu.
func (s *Simulator) newLogin(kind loginKind, l *login) string {
	if s.sns.codes == nil {
		s.sns = snsState{codes: map[string]*login{}, tokens: map[string]*login{}, refresh: map[string]*login{}}
	}
	m, prefix, n := s.sns.codes, "", 32
	switch kind {
	case userAccessToken:
		// Shaped like the app's tokens, with another prefix; real ones
		// are about 110 characters.
		m, prefix, n = s.sns.tokens, "80_", 107
	case userRefreshToken:
		m, prefix, n = s.sns.refresh, "80_", 107
	}
	for {
		v := prefix + randomText(n)
		if m[v] == nil {
			m[v] = l
			return v
		}
	}
}

// loginKind names the tables of snsState.
type loginKind int

const (
	loginCode loginKind = iota
	userAccessToken
	userRefreshToken
)

// isSNSPath reports whether p is one of the login calls.
func isSNSPath(p string) bool {
	switch p {
	case "/sns/jscode2session", "/sns/component/jscode2session", "/sns/oauth2/access_token",
		"/sns/oauth2/refresh_token", "/sns/userinfo", "/sns/auth":
		return true
	}
	return false
}

// sessionBody is jscode2session's answer.
type sessionBody struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
}

// oauthBody is the answer of oauth2/access_token and oauth2/refresh_token.
type oauthBody struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	OpenID       string `json:"openid"`
	Scope        string `json:"scope"`
}

// userInfoBody is userinfo's answer.
type userInfoBody struct {
	OpenID     string   `json:"openid"`
	Nickname   string   `json:"nickname"`
	Sex        int      `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	HeadImgURL string   `json:"headimgurl"`
	Privilege  []string `json:"privilege"`
}

// serveSNS answers the login calls. They count under EndpointSNS, for the
// appid sent or, for userinfo and auth, the app of the user's token.
func (s *Simulator) serveSNS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID := q.Get("appid")
	if p := r.URL.Path; p == "/sns/userinfo" || p == "/sns/auth" {
		appID = s.userOwner(q.Get("access_token"))
	}
	if !s.begin(w, r, EndpointSNS, appID) {
		return
	}
	if r.Method != http.MethodGet {
		writeWX(w, s.errBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var v any
	var code int
	switch r.URL.Path {
	case "/sns/jscode2session":
		v, code = s.codeToSession(q, now)
	case "/sns/component/jscode2session":
		v, code = s.componentCodeToSession(q, now)
	case "/sns/oauth2/access_token":
		v, code = s.oauthAccessToken(q, now)
	case "/sns/oauth2/refresh_token":
		v, code = s.oauthRefresh(q, now)
	case "/sns/userinfo":
		v, code = s.userInfo(q, now)
	case "/sns/auth":
		_, code = s.userToken(q, now)
		v = errorBody{0, "ok"}
	}
	if code != 0 {
		writeWX(w, s.errBody(r, code, snsMsg(code)))
		return
	}
	writeWX(w, v)
}

// userOwner is the app of a user's access_token, "" if none.
func (s *Simulator) userOwner(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.sns.tokens[token]; l != nil {
		return l.appID
	}
	return ""
}

// appSecret checks an appid and AppSecret as the token call does, and a
// grant_type where one is sent; the caller holds s.mu.
func (s *Simulator) appSecret(q url.Values, grant string) (*app, int) {
	switch {
	case q.Has("grant_type") && q.Get("grant_type") != grant:
		return nil, wechat.ErrInvalidGrantType
	case q.Get("appid") == "":
		return nil, wechat.ErrMissingAppID
	case q.Get("secret") == "":
		return nil, wechat.ErrMissingSecret
	}
	a := s.apps[q.Get("appid")]
	if a == nil {
		return nil, wechat.ErrInvalidAppID
	}
	if q.Get("secret") != a.secret {
		return nil, wechat.ErrInvalidSecret
	}
	return a, 0
}

// takeCode spends a login code of appID; the caller holds s.mu.
func (s *Simulator) takeCode(appID, code string, now time.Time) (*login, int) {
	if code == "" {
		return nil, errMissingCode
	}
	c := s.sns.codes[code]
	switch {
	case c == nil || c.appID != appID || !now.Before(c.expiry):
		return nil, errInvalidCode
	case c.used:
		return nil, errCodeUsed
	}
	c.used = true
	return c, 0
}

func (s *Simulator) codeToSession(q url.Values, now time.Time) (any, int) {
	a, code := s.appSecret(q, "authorization_code")
	if code != 0 {
		return nil, code
	}
	c, code := s.takeCode(a.id, q.Get("js_code"), now)
	if code != 0 {
		return nil, code
	}
	return sessionBody{OpenID: c.openID, SessionKey: sessionKey()}, 0
}

// componentCodeToSession is jscode2session through a third-party platform:
// no AppSecret, but the platform's component_access_token. The simulator
// has no platforms: the component_appid is one of its apps, and a working
// access_token of that app stands for its component_access_token.
func (s *Simulator) componentCodeToSession(q url.Values, now time.Time) (any, int) {
	switch {
	case q.Has("grant_type") && q.Get("grant_type") != "authorization_code":
		return nil, wechat.ErrInvalidGrantType
	case q.Get("appid") == "" || q.Get("component_appid") == "":
		return nil, wechat.ErrMissingAppID
	case s.apps[q.Get("appid")] == nil || s.apps[q.Get("component_appid")] == nil:
		return nil, wechat.ErrInvalidAppID
	case !q.Has("component_access_token"):
		return nil, errMissingToken
	}
	tok, code := s.liveToken(url.Values{"access_token": {q.Get("component_access_token")}}, now)
	if code != 0 {
		return nil, code
	}
	if tok.appID != q.Get("component_appid") {
		return nil, wechat.ErrInvalidCredential
	}
	c, code := s.takeCode(q.Get("appid"), q.Get("js_code"), now)
	if code != 0 {
		return nil, code
	}
	return sessionBody{OpenID: c.openID, SessionKey: sessionKey()}, 0
}

func (s *Simulator) oauthAccessToken(q url.Values, now time.Time) (any, int) {
	a, code := s.appSecret(q, "authorization_code")
	if code != 0 {
		return nil, code
	}
	c, code := s.takeCode(a.id, q.Get("code"), now)
	if code != 0 {
		return nil, code
	}
	rt := s.newLogin(userRefreshToken, &login{appID: c.appID, openID: c.openID, scope: c.scope, expiry: now.Add(refreshTTL)})
	return s.userGrant(c, rt, now), 0
}

// userGrant mints a user's access_token for the user and scope of l; the
// caller holds s.mu.
func (s *Simulator) userGrant(l *login, refreshToken string, now time.Time) oauthBody {
	tok := s.newLogin(userAccessToken, &login{appID: l.appID, openID: l.openID, scope: l.scope, expiry: now.Add(s.opts.TTL)})
	return oauthBody{AccessToken: tok, ExpiresIn: seconds(s.opts.TTL), RefreshToken: refreshToken, OpenID: l.openID, Scope: l.scope}
}

func (s *Simulator) oauthRefresh(q url.Values, now time.Time) (any, int) {
	switch {
	case q.Has("grant_type") && q.Get("grant_type") != "refresh_token":
		return nil, wechat.ErrInvalidGrantType
	case q.Get("appid") == "":
		return nil, wechat.ErrMissingAppID
	case s.apps[q.Get("appid")] == nil:
		return nil, wechat.ErrInvalidAppID
	case q.Get("refresh_token") == "":
		return nil, errMissingRefreshToken
	}
	rt := q.Get("refresh_token")
	l := s.sns.refresh[rt]
	switch {
	case l == nil || l.appID != q.Get("appid"):
		return nil, errInvalidRefreshToken
	case !now.Before(l.expiry):
		return nil, errRefreshExpired
	}
	// A new access_token; the one it follows keeps its own expiry.
	return s.userGrant(l, rt, now), 0
}

// userToken checks a user's access_token and the openid sent with it; the
// caller holds s.mu.
func (s *Simulator) userToken(q url.Values, now time.Time) (*login, int) {
	v, present := q["access_token"]
	switch {
	case !present:
		return nil, errMissingToken
	case !wellFormed(v[0]):
		return nil, wechat.ErrInvalidToken
	}
	l := s.sns.tokens[v[0]]
	switch {
	case l == nil:
		// The app's access_token is no user's: WeChat rejects it here.
		return nil, wechat.ErrInvalidCredential
	case !now.Before(l.expiry):
		return nil, wechat.ErrTokenExpired
	case q.Get("openid") == "":
		return nil, errMissingOpenID
	case q.Get("openid") != l.openID:
		return nil, errInvalidOpenID
	}
	return l, 0
}

func (s *Simulator) userInfo(q url.Values, now time.Time) (any, int) {
	l, code := s.userToken(q, now)
	if code != 0 {
		return nil, code
	}
	if l.scope == ScopeBase {
		return nil, errUnauthorized
	}
	return userInfoBody{OpenID: l.openID, Nickname: "user-" + l.openID[len(l.openID)-min(6, len(l.openID)):], Privilege: []string{}}, 0
}

// sessionKey is a new session_key: 16 random bytes in base64, as WeChat's.
func sessionKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

// serveCodes is POST /_sim/codes: a CodeRequest in, a Code out.
func (s *Simulator) serveCodes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	var req CodeRequest
	if err := decodeBody(r, &req); err != nil {
		ctlFail(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := s.MintCode(req)
	if err != nil {
		ctlFail(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "simulator: "))
		return
	}
	writeCtl(w, http.StatusOK, c)
}
