package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/wechat"
)

// The open platform's third-party platforms (第三方平台), host
// api.weixin.qq.com: the five component endpoints under
// /cgi-bin/component/, the authorizers' access tokens (accepted by
// getticket and every ordinary call like an app's), and the pushes to the
// platform's authorization event URL (platform_push.go).
//
// The rules modelled:
//   - api_component_token needs a component_verify_ticket that the
//     simulator issued to the platform (pushed, or minted when the
//     platform has no event URL) within Options.VerifyTicketTTL: 61005
//     when it is older, 61006 when it was never issued to the platform.
//     Every ticket keeps working for its own life; a new push does not
//     end the previous ones.
//   - Each api_component_token call mints a new component token; the
//     previous one keeps working for the overlap, as a classic token.
//   - api_create_preauthcode answers a code good for 30 minutes.
//   - Authorization codes come from the control API (Authorize), live 10
//     minutes and are good once (61009 used or unknown, 61010 expired).
//     api_query_auth answers the account's first access token and a new
//     refresh token; the refresh token handed out before, if any, stops
//     working.
//   - api_authorizer_token checks the refresh token (61023 when it is not
//     the account's current one or was invalidated, 61003 when the
//     account no longer authorizes the platform) and mints a new access
//     token, classic-like. With Platform.RefreshToken RefreshTokenSame
//     (the default, as WeChat documents) the same refresh token comes
//     back; with RefreshTokenRotate a new one does and the one sent
//     stops working at once.

// Platform is a third-party platform the simulator knows.
type Platform struct {
	// ComponentAppID is the platform's appid. Required; no slash or colon.
	ComponentAppID string
	// Secret is its component_appsecret. Required.
	Secret string
	// Token is the message check Token set on the platform. Required.
	Token string
	// EncodingAESKey is the 43-character key the pushes are encrypted
	// with. Required.
	EncodingAESKey string
	// EventURL is the authorization event URL the pushes are POSTed to;
	// "" for none, in which case verify tickets are still issued (the
	// control API answers them) but not sent.
	EventURL string
	// PushInterval is how often a component_verify_ticket is pushed, in
	// real time; default Options.TTL/12 (WeChat's 10 minutes for the
	// default TTL).
	PushInterval time.Duration
	// RefreshToken is RefreshTokenSame (the default) or
	// RefreshTokenRotate: what api_authorizer_token does with the
	// authorizer_refresh_token.
	RefreshToken string
}

// What api_authorizer_token does with the refresh token, as
// Platform.RefreshToken says.
const (
	// RefreshTokenSame answers the refresh token sent, which stays good:
	// what WeChat documents.
	RefreshTokenSame = "same"
	// RefreshTokenRotate answers a new refresh token with every call, and
	// the one sent stops working at once: what peers report WeChat
	// sometimes does, and the harshest case for a server that must never
	// lose one.
	RefreshTokenRotate = "rotate"
)

// The open platform's endpoints, as named in Fault.Endpoint and Calls.
// The calls of api_component_token, api_start_push_ticket,
// api_create_preauthcode and api_query_auth count under the
// component_appid sent; those of api_authorizer_token under the
// authorizer's wxtoken.AuthorizerID, "component_appid:authorizer_appid"
// (a bare component_appid matches them all).
const (
	EndpointComponentToken  = "api_component_token"    // POST /cgi-bin/component/api_component_token
	EndpointStartPushTicket = "api_start_push_ticket"  // POST /cgi-bin/component/api_start_push_ticket
	EndpointPreAuthCode     = "api_create_preauthcode" // POST /cgi-bin/component/api_create_preauthcode
	EndpointQueryAuth       = "api_query_auth"         // POST /cgi-bin/component/api_query_auth
	EndpointAuthorizerToken = "api_authorizer_token"   // POST /cgi-bin/component/api_authorizer_token
)

func platformEndpoints() []string {
	return []string{EndpointComponentToken, EndpointStartPushTicket, EndpointPreAuthCode, EndpointQueryAuth, EndpointAuthorizerToken}
}

// Credential kinds of the open platform, as reported by Check. An
// authorizer's tickets are KindJSAPI and KindWxCard, owned by its
// AuthorizerID.
const (
	KindComponentToken  = "component_token"  // a platform's component_access_token
	KindAuthorizerToken = "authorizer_token" // an authorizer's access_token
)

// Lifetimes WeChat gives the authorization flow's codes.
const (
	preAuthCodeTTL = 30 * time.Minute
	authCodeTTL    = 10 * time.Minute
)

// Errcodes of the open platform besides the ones in package wechat.
const (
	errMustUseComponentToken = 61014 // a component endpoint called with another kind of token
)

// platform is the state WeChat keeps per third-party platform.
type platform struct {
	cfg   Platform
	crypt *msgcrypt.Crypter
	token *cred // latest component_access_token

	tickets     map[string]time.Time // every verify ticket issued, with when
	lastTicket  string
	preAuth     map[string]time.Time // pre_auth_codes by value, with their expiry
	codes       map[string]*authCode // authorization codes by value
	authorizers map[string]*authorizer

	kick  chan struct{} // asks the push loop for a verify ticket now
	stats PushStats
}

// authCode is one authorization code.
type authCode struct {
	authorizer string
	expiry     time.Time
	used       bool
}

// authorizer is an account as authorized to a platform.
type authorizer struct {
	appID, id   string // authorizer_appid, AuthorizerID
	authorized  bool
	refresh     string // the current refresh token; "" before the first code exchange
	invalidated bool   // the current refresh token was invalidated
	funcInfo    []int
	token       *cred // latest access_token
	jsapi       *cred
	wxCard      *cred
}

func (a *authorizer) slot(kind string) **cred {
	switch kind {
	case KindAuthorizerToken:
		return &a.token
	case KindJSAPI:
		return &a.jsapi
	case KindWxCard:
		return &a.wxCard
	}
	return nil
}

// newPlatforms checks opts.Platforms and builds their state; apps are the
// configured appids, which a component_appid may not repeat.
func newPlatforms(opts Options, apps map[string]*app) (map[string]*platform, error) {
	out := map[string]*platform{}
	for i, p := range opts.Platforms {
		switch {
		case p.ComponentAppID == "" || strings.ContainsAny(p.ComponentAppID, "/: "):
			return nil, fmt.Errorf("simulator: platform %d has an empty component_appid or one with a slash, colon or space", i+1)
		case out[p.ComponentAppID] != nil:
			return nil, fmt.Errorf("simulator: platform %s appears twice", p.ComponentAppID)
		case apps[p.ComponentAppID] != nil:
			return nil, fmt.Errorf("simulator: %s is both an app and a platform", p.ComponentAppID)
		case p.Secret == "":
			return nil, fmt.Errorf("simulator: platform %s has an empty secret", p.ComponentAppID)
		case p.PushInterval < 0:
			return nil, fmt.Errorf("simulator: platform %s: PushInterval %v is negative", p.ComponentAppID, p.PushInterval)
		}
		orDefault(&p.PushInterval, opts.TTL/12)
		orDefault(&p.RefreshToken, RefreshTokenSame)
		if p.RefreshToken != RefreshTokenSame && p.RefreshToken != RefreshTokenRotate {
			return nil, fmt.Errorf("simulator: platform %s: RefreshToken %q is neither %s nor %s", p.ComponentAppID, p.RefreshToken, RefreshTokenSame, RefreshTokenRotate)
		}
		if p.EventURL != "" {
			u, err := url.Parse(p.EventURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("simulator: platform %s: event URL %q is not an absolute http(s) URL", p.ComponentAppID, p.EventURL)
			}
		}
		c, err := msgcrypt.New(p.Token, p.EncodingAESKey, p.ComponentAppID)
		if err != nil {
			return nil, fmt.Errorf("simulator: platform %s: %w", p.ComponentAppID, err)
		}
		out[p.ComponentAppID] = &platform{
			cfg: p, crypt: c,
			tickets: map[string]time.Time{}, preAuth: map[string]time.Time{},
			codes: map[string]*authCode{}, authorizers: map[string]*authorizer{},
			kick: make(chan struct{}, 1),
		}
	}
	return out, nil
}

// ComponentAppIDs returns the configured platforms' component_appids,
// sorted.
func (s *Simulator) ComponentAppIDs() []string {
	ids := make([]string, 0, len(s.platforms))
	for id := range s.platforms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// isPlatformPath reports whether p is one of the component endpoints.
func isPlatformPath(p string) bool {
	switch p {
	case wechat.PathComponentToken, wechat.PathStartPushTicket, wechat.PathPreAuthCode, wechat.PathQueryAuth, wechat.PathAuthorizerToken:
		return true
	}
	return false
}

// componentRequest is every field the component endpoints read.
type componentRequest struct {
	AppID        string `json:"component_appid"`
	AppSecret    string `json:"component_appsecret"` // api_component_token
	Secret       string `json:"component_secret"`    // api_start_push_ticket
	VerifyTicket string `json:"component_verify_ticket"`
	AuthCode     string `json:"authorization_code"`
	Authorizer   string `json:"authorizer_appid"`
	RefreshToken string `json:"authorizer_refresh_token"`
}

type componentTokenBody struct {
	Token     string `json:"component_access_token"`
	ExpiresIn int    `json:"expires_in"`
}

type preAuthBody struct {
	Code      string `json:"pre_auth_code"`
	ExpiresIn int    `json:"expires_in"`
}

type funcScope struct {
	Category struct {
		ID int `json:"id"`
	} `json:"funcscope_category"`
}

type authorizationInfo struct {
	AppID        string      `json:"authorizer_appid"`
	AccessToken  string      `json:"authorizer_access_token"`
	ExpiresIn    int         `json:"expires_in"`
	RefreshToken string      `json:"authorizer_refresh_token"`
	FuncInfo     []funcScope `json:"func_info"`
}

type queryAuthBody struct {
	Info authorizationInfo `json:"authorization_info"`
}

type authorizerTokenBody struct {
	AccessToken  string `json:"authorizer_access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"authorizer_refresh_token"`
}

// servePlatform answers the five component endpoints.
func (s *Simulator) servePlatform(w http.ResponseWriter, r *http.Request) {
	var req componentRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		// Decode even when it fails part way, so the appid that was read
		// can still be counted and matched against faults.
		err = json.Unmarshal(body, &req)
	}
	endpoint := map[string]string{
		wechat.PathComponentToken:  EndpointComponentToken,
		wechat.PathStartPushTicket: EndpointStartPushTicket,
		wechat.PathPreAuthCode:     EndpointPreAuthCode,
		wechat.PathQueryAuth:       EndpointQueryAuth,
		wechat.PathAuthorizerToken: EndpointAuthorizerToken,
	}[r.URL.Path]
	caller := req.AppID
	if endpoint == EndpointAuthorizerToken && req.Authorizer != "" {
		caller = wxtoken.AuthorizerID(req.AppID, req.Authorizer)
	}
	if !s.begin(w, r, endpoint, caller) {
		return
	}
	if r.Method != http.MethodPost {
		writeWX(w, s.errBody(r, errRequirePOST, ""))
		return
	}
	if err != nil {
		writeWX(w, s.errBody(r, errDataFormat, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var ans any
	code := 0
	switch endpoint {
	case EndpointComponentToken:
		ans, code = s.componentToken(req, now)
	case EndpointStartPushTicket:
		ans, code = s.startPushTicket(req, now)
	case EndpointPreAuthCode:
		ans, code = s.preAuthCode(r.URL.Query(), req, now)
	case EndpointQueryAuth:
		ans, code = s.queryAuth(r.URL.Query(), req, now)
	case EndpointAuthorizerToken:
		ans, code = s.authorizerToken(r.URL.Query(), req, now)
	}
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	writeWX(w, ans)
}

// platformBySecret finds the platform a secret-checked call names; the
// caller holds s.mu.
func (s *Simulator) platformBySecret(appID, secret string) (*platform, int) {
	switch {
	case appID == "":
		return nil, wechat.ErrMissingAppID
	case s.platforms[appID] == nil:
		return nil, wechat.ErrInvalidComponent
	case secret == "":
		return nil, wechat.ErrMissingSecret
	case secret != s.platforms[appID].cfg.Secret:
		return nil, wechat.ErrInvalidSecret
	}
	return s.platforms[appID], 0
}

func (s *Simulator) componentToken(req componentRequest, now time.Time) (any, int) {
	p, code := s.platformBySecret(req.AppID, req.AppSecret)
	if code != 0 {
		return nil, code
	}
	issued, ok := p.tickets[req.VerifyTicket]
	switch {
	case !ok:
		return nil, wechat.ErrVerifyTicketInvalid
	case now.Sub(issued) >= s.opts.VerifyTicketTTL:
		return nil, wechat.ErrVerifyTicketExpired
	}
	if old := p.token; old != nil {
		old.kill(now.Add(s.opts.Overlap))
	}
	p.token = s.mint(p.cfg.ComponentAppID, KindComponentToken, now)
	return componentTokenBody{p.token.value, seconds(p.token.left(now))}, 0
}

func (s *Simulator) startPushTicket(req componentRequest, now time.Time) (any, int) {
	p, code := s.platformBySecret(req.AppID, req.Secret)
	if code != 0 {
		return nil, code
	}
	if p.cfg.EventURL == "" {
		// Nobody to push to: the ticket is issued all the same.
		s.issueTicket(p, now)
	} else {
		select {
		case p.kick <- struct{}{}:
		default: // a push is already asked for
		}
	}
	return errorBody{0, "ok"}, 0
}

// liveComponentToken checks the component_access_token of a call and that
// the body names its platform; the caller holds s.mu.
func (s *Simulator) liveComponentToken(q url.Values, req componentRequest, now time.Time) (*platform, int) {
	v, present := q["component_access_token"]
	switch {
	case !present:
		return nil, errMissingToken
	case !wellFormed(v[0]):
		return nil, wechat.ErrInvalidToken
	}
	c := s.creds[v[0]]
	switch {
	case c == nil:
		return nil, wechat.ErrInvalidCredential
	case c.kind != KindComponentToken:
		return nil, errMustUseComponentToken
	case !now.Before(c.deadline) && c.deadline.Before(c.expiry):
		return nil, wechat.ErrInvalidCredential // replaced: "not latest"
	case !now.Before(c.deadline):
		return nil, wechat.ErrTokenExpired
	case req.AppID == "":
		return nil, wechat.ErrMissingAppID
	case req.AppID != c.appID:
		return nil, wechat.ErrInvalidComponent
	}
	return s.platforms[c.appID], 0
}

func (s *Simulator) preAuthCode(q url.Values, req componentRequest, now time.Time) (any, int) {
	p, code := s.liveComponentToken(q, req, now)
	if code != 0 {
		return nil, code
	}
	v := "preauthcode@@@" + randomText(64)
	p.preAuth[v] = now.Add(preAuthCodeTTL)
	return preAuthBody{v, seconds(preAuthCodeTTL)}, 0
}

func (s *Simulator) queryAuth(q url.Values, req componentRequest, now time.Time) (any, int) {
	p, code := s.liveComponentToken(q, req, now)
	if code != 0 {
		return nil, code
	}
	ac := p.codes[req.AuthCode]
	switch {
	case req.AuthCode == "":
		return nil, errMissingCode
	case ac == nil || ac.used:
		return nil, wechat.ErrAuthCodeInvalid
	case !now.Before(ac.expiry):
		return nil, wechat.ErrAuthCodeExpired
	}
	ac.used = true
	a := p.authorizers[ac.authorizer]
	if !a.authorized {
		return nil, wechat.ErrComponentNotAuthorized
	}
	a.refresh, a.invalidated = newRefreshToken(), false
	s.newAuthorizerToken(a, now)
	info := authorizationInfo{AppID: a.appID, AccessToken: a.token.value, ExpiresIn: seconds(a.token.left(now)), RefreshToken: a.refresh, FuncInfo: []funcScope{}}
	for _, id := range a.funcInfo {
		var f funcScope
		f.Category.ID = id
		info.FuncInfo = append(info.FuncInfo, f)
	}
	return queryAuthBody{info}, 0
}

func (s *Simulator) authorizerToken(q url.Values, req componentRequest, now time.Time) (any, int) {
	p, code := s.liveComponentToken(q, req, now)
	if code != 0 {
		return nil, code
	}
	a := p.authorizers[req.Authorizer]
	switch {
	case req.Authorizer == "":
		return nil, wechat.ErrMissingAppID
	case req.RefreshToken == "":
		return nil, errMissingRefreshToken
	case a == nil || !a.authorized:
		return nil, wechat.ErrComponentNotAuthorized
	case a.invalidated || a.refresh == "" || req.RefreshToken != a.refresh:
		return nil, wechat.ErrRefreshTokenInvalid
	}
	if p.cfg.RefreshToken == RefreshTokenRotate {
		a.refresh = newRefreshToken()
	}
	s.newAuthorizerToken(a, now)
	return authorizerTokenBody{a.token.value, seconds(a.token.left(now)), a.refresh}, 0
}

// newAuthorizerToken mints a's next access token; the previous one keeps
// working for the overlap. The caller holds s.mu.
func (s *Simulator) newAuthorizerToken(a *authorizer, now time.Time) {
	if old := a.token; old != nil {
		old.kill(now.Add(s.opts.Overlap))
	}
	a.token = s.mint(a.id, KindAuthorizerToken, now)
}

func newRefreshToken() string { return "refreshtoken@@@" + randomText(43) }

// issueTicket mints a new verify ticket for p; the caller holds s.mu.
func (s *Simulator) issueTicket(p *platform, now time.Time) string {
	v := "ticket@@@" + randomText(86)
	p.tickets[v] = now
	p.lastTicket = v
	// Forget tickets long dead, so a long run does not grow without end;
	// a forgotten one answers "invalid" rather than "expired".
	for t, at := range p.tickets {
		if now.Sub(at) > 10*s.opts.VerifyTicketTTL {
			delete(p.tickets, t)
		}
	}
	return v
}

// authorizerByID finds an authorizer by its AuthorizerID; the caller
// holds s.mu.
func (s *Simulator) authorizerByID(id string) *authorizer {
	comp, appID, ok := strings.Cut(id, ":")
	if !ok || s.platforms[comp] == nil {
		return nil
	}
	return s.platforms[comp].authorizers[appID]
}

// accountSlot is where the account owner (an appid or an AuthorizerID)
// keeps its current credential of kind, nil if none; the caller holds
// s.mu.
func (s *Simulator) accountSlot(owner, kind string) **cred {
	if a := s.apps[owner]; a != nil {
		return a.slot(kind)
	}
	if a := s.authorizerByID(owner); a != nil {
		return a.slot(kind)
	}
	return nil
}

// platformSlot is Rotate's and Invalidate's slot for the open platform:
// a platform's KindComponentToken, or an authorizer's (named by its
// AuthorizerID) KindAuthorizerToken, KindJSAPI or KindWxCard. The caller
// holds s.mu.
func (s *Simulator) platformSlot(appID, what, verb string) (**cred, string, error) {
	if p := s.platforms[appID]; p != nil {
		if what != KindComponentToken {
			return nil, "", fmt.Errorf("simulator: cannot %s %q for platform %s (want %s)", verb, what, appID, KindComponentToken)
		}
		return &p.token, appID, nil
	}
	a := s.authorizerByID(appID)
	if a == nil {
		return nil, "", fmt.Errorf("simulator: unknown platform or authorizer %q (want a component_appid or component_appid:authorizer_appid)", appID)
	}
	slot := a.slot(what)
	if slot == nil {
		return nil, "", fmt.Errorf("simulator: cannot %s %q for authorizer %s (want %s, %s or %s)", verb, what, appID, KindAuthorizerToken, KindJSAPI, KindWxCard)
	}
	return slot, a.id, nil
}

// isPlatformID reports whether appID names a platform or an authorizer,
// or what is one of the platform's kinds; the caller holds s.mu.
func (s *Simulator) isPlatformID(appID, what string) bool {
	return what == KindComponentToken || what == KindAuthorizerToken || s.platforms[appID] != nil || strings.Contains(appID, ":")
}

// AuthorizeRequest asks the simulator to play an account's admin going
// through a platform's authorization page.
type AuthorizeRequest struct {
	// ComponentAppID is the platform. Required.
	ComponentAppID string `json:"component_appid"`
	// AuthorizerAppID is the account; empty for a new random appid (for
	// Authorize only: UpdateAuthorized needs an authorized account).
	AuthorizerAppID string `json:"authorizer_appid,omitempty"`
	// PreAuthCode is one answered by api_create_preauthcode, used up by
	// the authorization; empty for one made up.
	PreAuthCode string `json:"pre_auth_code,omitempty"`
	// FuncInfo lists the permission sets granted; empty for 1, 4 and 15.
	FuncInfo []int `json:"func_info,omitempty"`
}

// Authorized is the outcome of an authorization: the code that WeChat
// puts in the redirect and the push, and what became of the push.
type Authorized struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	// AuthCode is the authorization code, good once for ExpiresIn
	// seconds at api_query_auth.
	AuthCode    string     `json:"auth_code"`
	ExpiresIn   int        `json:"expires_in"`
	PreAuthCode string     `json:"pre_auth_code"`
	Push        PushResult `json:"push"`
}

// grant records an authorization or an update of one and returns the
// message to push; the caller holds s.mu.
func (s *Simulator) grant(req AuthorizeRequest, update bool, now time.Time) (*platform, Authorized, []byte, error) {
	p := s.platforms[req.ComponentAppID]
	if p == nil {
		return nil, Authorized{}, nil, fmt.Errorf("simulator: unknown platform %q", req.ComponentAppID)
	}
	if req.AuthorizerAppID != "" && (len(req.AuthorizerAppID) > 64 || !wellFormed(req.AuthorizerAppID)) {
		return nil, Authorized{}, nil, fmt.Errorf("simulator: an authorizer_appid is at most 64 characters of [A-Za-z0-9_-]")
	}
	a := p.authorizers[req.AuthorizerAppID]
	if update && (a == nil || !a.authorized) {
		return nil, Authorized{}, nil, fmt.Errorf("simulator: %q does not authorize platform %s; authorize it first", req.AuthorizerAppID, p.cfg.ComponentAppID)
	}
	if req.PreAuthCode != "" {
		exp, ok := p.preAuth[req.PreAuthCode]
		if !ok || !now.Before(exp) {
			return nil, Authorized{}, nil, fmt.Errorf("simulator: pre_auth_code is unknown, used or expired")
		}
		delete(p.preAuth, req.PreAuthCode)
	} else {
		req.PreAuthCode = "preauthcode@@@" + randomText(64)
	}
	if req.AuthorizerAppID == "" {
		req.AuthorizerAppID = "wx" + randomHex(16)
	}
	if a == nil {
		a = &authorizer{appID: req.AuthorizerAppID, id: wxtoken.AuthorizerID(p.cfg.ComponentAppID, req.AuthorizerAppID)}
		p.authorizers[a.appID] = a
	}
	a.authorized = true
	a.funcInfo = slices.Clone(req.FuncInfo)
	if len(a.funcInfo) == 0 {
		a.funcInfo = []int{1, 4, 15}
	}
	code := "queryauthcode@@@" + randomText(86)
	p.codes[code] = &authCode{authorizer: a.appID, expiry: now.Add(authCodeTTL)}
	info := "authorized"
	if update {
		info = "updateauthorized"
	}
	msg := eventXML(p.cfg.ComponentAppID, now, info,
		"AuthorizerAppid", a.appID,
		"AuthorizationCode", code,
		"AuthorizationCodeExpiredTime", fmt.Sprint(now.Add(authCodeTTL).Unix()),
		"PreAuthCode", req.PreAuthCode)
	return p, Authorized{
		ComponentAppID: p.cfg.ComponentAppID, AuthorizerAppID: a.appID,
		AuthCode: code, ExpiresIn: seconds(authCodeTTL), PreAuthCode: req.PreAuthCode,
	}, msg, nil
}

// randomHex returns n random lowercase hex digits.
func randomHex(n int) string {
	const digits = "0123456789abcdef"
	t := randomText(n)
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[int(t[i])%16]
	}
	return string(b)
}
