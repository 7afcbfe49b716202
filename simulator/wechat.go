package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// wxContentType is the content type WeChat labels its JSON answers with.
const wxContentType = "application/json; encoding=utf-8"

// Errcodes the simulator answers besides the ones in package wechat.
const (
	errInvalidURL   = 40066 // unknown path
	errInvalidArgs  = 40097 // getticket with a type other than jsapi or wx_card
	errMissingToken = 41001 // no access_token parameter at all
	errRequireGET   = 43001
	errRequirePOST  = 43002
	errDataFormat   = 47001 // stable_token body that is not a JSON object of the right shape
)

const grantType = "client_credential"

type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

type ticketBody struct {
	ErrCode   int    `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

type ipListBody struct {
	IPList []string `json:"ip_list"`
}

type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func probeIPs() []string { return []string{"101.89.47.18", "101.91.34.103"} }

// ServeHTTP answers WeChat's and WeCom's credential endpoints and, under
// /_sim/, the control API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/_sim" || strings.HasPrefix(p, "/_sim/"):
		s.serveControl(w, r)
	case p == "/cgi-bin/token":
		s.serveToken(w, r)
	case p == "/cgi-bin/stable_token":
		s.serveStableToken(w, r)
	case p == "/cgi-bin/ticket/getticket":
		s.serveTicket(w, r)
	case p == wechat.PathQuotaGet:
		s.serveQuotaGet(w, r)
	case p == wechat.PathClearQuota:
		s.serveClearQuota(w, r)
	case isSNSPath(p):
		s.serveSNS(w, r)
	case isPlatformPath(p):
		s.servePlatform(w, r)
	case p == "/cgi-bin/gettoken":
		s.serveWeComToken(w, r)
	case p == "/cgi-bin/get_jsapi_ticket":
		s.serveWeComTicket(w, r, EndpointWeComJSAPITicket)
	case p == "/cgi-bin/ticket/get":
		s.serveWeComTicket(w, r, EndpointWeComTicket)
	case p == "/cgi-bin/agent/get":
		s.serveWeComAPI(w, r)
	case r.URL.Query().Has("access_token") && s.isWeComCall(r.URL.Query().Get("access_token")):
		// WeCom shares many paths with WeChat; the token tells them apart.
		s.serveWeComAPI(w, r)
	case p == "/cgi-bin/get_api_domain_ip":
		s.serveProbe(w, r)
	case p == "/cgi-bin/media/upload":
		s.serveMediaUpload(w, r)
	case r.URL.Query().Has("access_token"):
		s.serveAPI(w, r)
	default:
		writeJSON(w, http.StatusNotFound, wxContentType, s.errBody(r, errInvalidURL, ""))
	}
}

// begin counts a call and applies any fault that matches it. It reports
// whether the call should go on to be answered normally.
func (s *Simulator) begin(w http.ResponseWriter, r *http.Request, endpoint, appID string) bool {
	s.mu.Lock()
	s.calls[callKey{endpoint, appID}]++
	f, hit := s.takeFault(endpoint, appID, s.now())
	s.mu.Unlock()
	if !hit {
		return true
	}
	switch f.Kind {
	case FaultLate:
		// WeChat may carry a call out long after it arrived, and after its
		// caller stopped listening: the call goes on regardless.
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		<-t.C
		return true
	case FaultSlow:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false // the caller is gone; nobody to answer
		}
	}
	s.writeFault(w, r, endpoint, f)
	return false
}

func (s *Simulator) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID := q.Get("appid")
	if !s.begin(w, r, EndpointToken, appID) {
		return
	}
	if r.Method != http.MethodGet {
		writeWX(w, s.errBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	a, code := s.auth(q.Get("grant_type"), appID, q.Get("secret"), now)
	if code == 0 && a.classicCalls >= s.opts.DailyQuota {
		code = wechat.ErrDailyQuota
	}
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	a.classicCalls++
	// The previous token lives on for the overlap; any older one already
	// has its deadline and keeps it.
	if old := a.classic; old != nil {
		old.kill(now.Add(s.opts.Overlap))
	}
	a.classic = s.mint(a.id, KindClassic, now)
	writeWX(w, tokenBody{a.classic.value, seconds(a.classic.left(now))})
}

type stableRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

func (s *Simulator) serveStableToken(w http.ResponseWriter, r *http.Request) {
	var req stableRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		// Decode even when it fails part way, so the appid that was read
		// can still be counted and matched against faults.
		err = json.Unmarshal(body, &req)
	}
	if !s.begin(w, r, EndpointStableToken, req.AppID) {
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
	a, code := s.auth(req.GrantType, req.AppID, req.Secret, now)
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	if a.stableCalls >= s.opts.StableQuota {
		writeWX(w, s.errBody(r, wechat.ErrDailyQuota, ""))
		return
	}
	// A force call too soon after the last effective one is not a refresh:
	// it is answered like a normal-mode call and spends no force budget.
	force := req.ForceRefresh && !(a.forced && now.Sub(a.lastForce) < s.opts.ForceInterval)
	if force && a.forces >= s.opts.ForceLimit {
		writeWX(w, s.errBody(r, wechat.ErrDailyQuota, ""))
		return
	}
	a.stableCalls++
	switch {
	case force:
		a.forces++
		a.forced, a.lastForce = true, now
		if a.stable != nil {
			a.stable.kill(now)
		}
		a.stable = s.mint(a.id, KindStable, now)
	case a.stable == nil || a.stable.left(now) <= s.opts.Overlap:
		// The old token, if any, keeps working until its own expiry.
		a.stable = s.mint(a.id, KindStable, now)
	}
	writeWX(w, tokenBody{a.stable.value, seconds(a.stable.left(now))})
}

// auth checks a token request the way WeChat does, in WeChat's order, and
// rolls the app's quota period; the caller holds s.mu. It returns the app,
// or a non-zero errcode.
func (s *Simulator) auth(grant, appID, secret string, now time.Time) (*app, int) {
	switch {
	case grant != grantType:
		return nil, wechat.ErrInvalidGrantType
	case appID == "":
		return nil, wechat.ErrMissingAppID
	case secret == "":
		return nil, wechat.ErrMissingSecret
	}
	a := s.apps[appID]
	if a == nil {
		return nil, wechat.ErrInvalidAppID
	}
	if secret != a.secret {
		return nil, wechat.ErrInvalidSecret
	}
	s.rollQuota(a, now)
	return a, 0
}

func (s *Simulator) serveTicket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !s.begin(w, r, EndpointTicket, s.owner(q.Get("access_token"))) {
		return
	}
	if r.Method != http.MethodGet {
		writeWX(w, s.errBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	tok, code := s.liveToken(q, now)
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	kind := q.Get("type")
	if kind != KindJSAPI && kind != KindWxCard {
		writeWX(w, s.errBody(r, errInvalidArgs, ""))
		return
	}
	// One ticket per account (app or authorizer) and type. Either every
	// call issues a new one and the old one ends an overlap later, or it
	// is reissued only in its last overlap and the old one keeps its own
	// expiry.
	slot := s.accountSlot(tok.appID, kind)
	switch {
	case s.opts.OldTicket == OldTicketEndsAfterOverlap:
		if old := *slot; old != nil {
			old.kill(now.Add(s.opts.Overlap))
		}
		*slot = s.mint(tok.appID, kind, now)
	case *slot == nil || (*slot).left(now) <= s.opts.Overlap:
		*slot = s.mint(tok.appID, kind, now)
	}
	writeWX(w, ticketBody{0, "ok", (*slot).value, seconds((*slot).left(now))})
}

func (s *Simulator) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !s.begin(w, r, EndpointProbe, s.owner(q.Get("access_token"))) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeWX(w, s.errBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, code := s.liveToken(q, s.now()); code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	writeWX(w, ipListBody{probeIPs()})
}

// serveAPI stands for every WeChat API the simulator does not model: the
// access_token is checked as for get_api_domain_ip, and a live one gets a
// plain success (the callback IP list for /cgi-bin/getcallbackip, which
// SDKs commonly call to check their setup). The body is read and dropped,
// as the real API reads it.
func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 16<<20))
	q := r.URL.Query()
	if !s.begin(w, r, EndpointAPI, s.owner(q.Get("access_token"))) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, code := s.liveToken(q, s.now()); code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	if r.URL.Path == "/cgi-bin/getcallbackip" {
		writeWX(w, ipListBody{probeIPs()})
		return
	}
	writeWX(w, errorBody{0, "ok"})
}

// owner is the app (or the AuthorizerID of the authorizer) that the
// access_token belongs to, "" if none.
func (s *Simulator) owner(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[token]; c != nil && isAccountToken(c.kind) {
		return c.appID
	}
	return ""
}

// isAccountToken reports whether credentials of kind are an account's
// access_token, which WeChat's ordinary calls accept: an app's, classic
// or stable, or an authorizer's.
func isAccountToken(kind string) bool {
	return kind == KindClassic || kind == KindStable || kind == KindAuthorizerToken
}

// liveToken finds the access_token of a call and checks that it works now;
// the caller holds s.mu. It returns the token or the errcode WeChat gives.
func (s *Simulator) liveToken(q map[string][]string, now time.Time) (*cred, int) {
	v, present := q["access_token"]
	switch {
	case !present:
		return nil, errMissingToken
	case !wellFormed(v[0]):
		return nil, wechat.ErrInvalidToken
	}
	c := s.creds[v[0]]
	switch {
	case c == nil || !isAccountToken(c.kind):
		return nil, wechat.ErrInvalidCredential
	case now.Before(c.deadline):
		return c, 0
	case c.deadline.Before(c.expiry):
		return nil, wechat.ErrInvalidCredential // replaced: "not latest"
	default:
		return nil, wechat.ErrTokenExpired
	}
}

// wellFormed reports whether v could be an access_token at all; WeChat
// answers 40014 rather than 40001 for one that could not.
func wellFormed(v string) bool {
	if v == "" || len(v) > 512 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// writeWX answers with HTTP 200 and v as JSON, as WeChat answers both
// success and failure.
func writeWX(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, wxContentType, v) }

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the simulator's own types come here; this is a bug.
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode answer"}`)
	}
	writeRaw(w, status, contentType, b)
}

func writeRaw(w http.ResponseWriter, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
