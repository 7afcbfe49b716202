package simulator

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	compA      = "wxc0ffee0000000a"
	compSecret = "CompSecret-a1b2c3"
	compToken  = "MsgCheckToken"
	compKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // 43 characters
	compB      = "wxc0ffee0000000b"
)

// event is a push as the receiver decrypted it.
type event struct {
	AppID             string `xml:"AppId"`
	CreateTime        int64  `xml:"CreateTime"`
	InfoType          string `xml:"InfoType"`
	VerifyTicket      string `xml:"ComponentVerifyTicket"`
	AuthorizerAppID   string `xml:"AuthorizerAppid"`
	AuthorizationCode string `xml:"AuthorizationCode"`
	CodeExpiredTime   int64  `xml:"AuthorizationCodeExpiredTime"`
	PreAuthCode       string `xml:"PreAuthCode"`
}

// receiver is a platform's event URL: it checks every push as a platform
// must (envelope, signature, decryption, appid) and hands the events over.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	events chan event
	mu     sync.Mutex
	answer string // what it answers; "success" unless set
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	crypt, err := msgcrypt.New(compToken, compKey, compA)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, events: make(chan event, 64), answer: "success"}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodPost || q.Get("encrypt_type") != "aes" || q.Get("timestamp") == "" || q.Get("nonce") == "" {
			t.Errorf("push %s %s lacks what WeChat sends", r.Method, r.URL)
		}
		body, _ := io.ReadAll(r.Body)
		appID, enc, err := msgcrypt.ParseEnvelope(body)
		if err != nil || appID != compA {
			t.Errorf("envelope %s: appid %q, %v", body, appID, err)
			return
		}
		if want := crypt.Signature(q.Get("timestamp"), q.Get("nonce"), enc); q.Get("msg_signature") != want {
			t.Errorf("msg_signature %q, want %q", q.Get("msg_signature"), want)
		}
		msg, err := crypt.Decrypt(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), enc)
		if err != nil {
			t.Errorf("decrypt: %v", err)
			return
		}
		var ev event
		if err := xml.Unmarshal(msg, &ev); err != nil {
			t.Errorf("message %s: %v", msg, err)
		}
		if fmt.Sprint(ev.CreateTime) != q.Get("timestamp") {
			t.Errorf("CreateTime %d, timestamp %s", ev.CreateTime, q.Get("timestamp"))
		}
		rc.events <- ev
		rc.mu.Lock()
		a := rc.answer
		rc.mu.Unlock()
		io.WriteString(w, a)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) next() event {
	rc.t.Helper()
	select {
	case ev := <-rc.events:
		return ev
	case <-time.After(5 * time.Second):
		rc.t.Fatal("no push arrived")
		return event{}
	}
}

// newPlatformFixture serves apps wxA and wxB and the platforms compA (with
// events to rc when not nil) and compB, with a 1 h push interval, so that
// only the pushes a test asks for happen.
func newPlatformFixture(t *testing.T, rc *receiver, mode string) *fixture {
	t.Helper()
	pa := Platform{ComponentAppID: compA, Secret: compSecret, Token: compToken, EncodingAESKey: compKey, PushInterval: time.Hour, RefreshToken: mode}
	if rc != nil {
		pa.EventURL = rc.srv.URL + "/v1/platforms/" + compA + "/events?x=1"
	}
	pb := Platform{ComponentAppID: compB, Secret: "secretB", Token: "tokenB", EncodingAESKey: compKey}
	f := newFixture(t, Options{Platforms: []Platform{pa, pb}, TTL: 7200 * time.Second})
	t.Cleanup(func() { _ = f.sim.Close() })
	return f
}

// pctl calls the control API and decodes its answer into v.
func (f *fixture) pctl(method, path, body string, v any) int {
	f.t.Helper()
	a := f.do(method, path, body)
	if v != nil {
		if err := json.Unmarshal([]byte(a.Raw), v); err != nil {
			f.t.Fatalf("%s: %v", a.Raw, err)
		}
	}
	return a.Status
}

type pushTicketAnswer struct {
	VerifyTicket string     `json:"verify_ticket"`
	Push         PushResult `json:"push"`
}

func (f *fixture) pushTicket(comp string) pushTicketAnswer {
	f.t.Helper()
	var out pushTicketAnswer
	if st := f.pctl("POST", "/_sim/platforms/push_ticket", `{"component_appid":"`+comp+`"}`, &out); st != 200 || out.VerifyTicket == "" {
		f.t.Fatalf("push_ticket: %d %+v", st, out)
	}
	return out
}

func jsonBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type compAnswer struct {
	answer
	ComponentAccessToken string `json:"component_access_token"`
	PreAuthCode          string `json:"pre_auth_code"`
	AuthorizerToken      string `json:"authorizer_access_token"`
	RefreshToken         string `json:"authorizer_refresh_token"`
	Info                 struct {
		AppID        string      `json:"authorizer_appid"`
		AccessToken  string      `json:"authorizer_access_token"`
		ExpiresIn    int         `json:"expires_in"`
		RefreshToken string      `json:"authorizer_refresh_token"`
		FuncInfo     []funcScope `json:"func_info"`
	} `json:"authorization_info"`
}

func (f *fixture) comp(path, token string, kv ...string) compAnswer {
	f.t.Helper()
	if token != "" {
		path += "?component_access_token=" + url.QueryEscape(token)
	}
	a := f.do("POST", path, jsonBody(kv...))
	var c compAnswer
	_ = json.Unmarshal([]byte(a.Raw), &c)
	c.answer = a
	return c
}

func (f *fixture) componentToken(ticket string) compAnswer {
	f.t.Helper()
	return f.comp(wechat.PathComponentToken, "", "component_appid", compA, "component_appsecret", compSecret, "component_verify_ticket", ticket)
}

// goodComponentToken pushes a ticket and fetches a component token with it.
func (f *fixture) goodComponentToken() string {
	f.t.Helper()
	c := f.componentToken(f.pushTicket(compA).VerifyTicket)
	if c.ErrCode != 0 || c.ComponentAccessToken == "" || c.ExpiresIn != 7200 {
		f.t.Fatalf("api_component_token: %s", c.Raw)
	}
	return c.ComponentAccessToken
}

// authorize authorizes an account through the control API.
func (f *fixture) authorize(verb, body string) Authorized {
	f.t.Helper()
	var out Authorized
	if st := f.pctl("POST", "/_sim/platforms/"+verb, body, &out); st != 200 || out.AuthCode == "" {
		f.t.Fatalf("%s: %d %+v", verb, st, out)
	}
	return out
}

// TestPlatformPushes: a verify ticket pushed through the control API, and
// one asked for with api_start_push_ticket, reach the event URL
// encrypted and signed as WeChat does (the receiver checks both with
// msgcrypt), and are counted; a pushed ticket gets a component token.
func TestPlatformPushes(t *testing.T) {
	rc := newReceiver(t)
	f := newPlatformFixture(t, rc, "")
	out := f.pushTicket(compA)
	if !out.Push.Sent || !out.Push.Success || out.Push.Status != 200 {
		t.Fatalf("push = %+v", out.Push)
	}
	ev := rc.next()
	if ev.InfoType != "component_verify_ticket" || ev.VerifyTicket != out.VerifyTicket || ev.AppID != compA {
		t.Fatalf("event %+v, ticket %q", ev, out.VerifyTicket)
	}
	if c := f.componentToken(ev.VerifyTicket); c.ErrCode != 0 || c.ComponentAccessToken == "" {
		t.Fatalf("the pushed ticket: %s", c.Raw)
	}

	// api_start_push_ticket pushes a new one at once (from the push loop).
	if c := f.comp(wechat.PathStartPushTicket, "", "component_appid", compA, "component_secret", compSecret); c.ErrCode != 0 || !strings.Contains(c.Raw, `"errmsg":"ok"`) {
		t.Fatalf("api_start_push_ticket: %s", c.Raw)
	}
	ev2 := rc.next()
	if ev2.InfoType != "component_verify_ticket" || ev2.VerifyTicket == "" || ev2.VerifyTicket == ev.VerifyTicket {
		t.Fatalf("pushed on request: %+v", ev2)
	}
	wantErr(t, f.comp(wechat.PathStartPushTicket, "", "component_appid", compA, "component_secret", "wrong").answer, wechat.ErrInvalidSecret)

	// An answer other than exactly "success" counts as failed.
	rc.mu.Lock()
	rc.answer = "success\n"
	rc.mu.Unlock()
	if out := f.pushTicket(compA); out.Push.Success || !out.Push.Sent || out.Push.Answer != "success\n" {
		t.Fatalf("a push answered %q = %+v", "success\n", out.Push)
	}
	rc.next()
	rc.mu.Lock()
	rc.answer = "success"
	rc.mu.Unlock()
	var st struct {
		PlatformStats
		Check CredentialState `json:"check"`
	}
	if code := f.pctl("GET", "/_sim/platforms/stats?component_appid="+compA+"&value="+url.QueryEscape(f.goodComponentToken()), "", &st); code != 200 {
		t.Fatalf("stats: %d", code)
	}
	rc.next()
	p := st.Pushes
	if p.Sent != 4 || p.Success != 3 || p.Failed != 1 || p.ByInfoType["component_verify_ticket"] != 4 || !strings.Contains(p.LastFailure, "not \"success\"") {
		t.Fatalf("pushes = %+v", p)
	}
	if st.Calls[EndpointComponentToken] != 2 || st.Calls[EndpointStartPushTicket] != 2 || st.Calls[EndpointQueryAuth] != 0 {
		t.Fatalf("calls = %v", st.Calls)
	}
	if !st.Check.Valid || st.Check.Kind != KindComponentToken || st.Check.ComponentAppID != compA {
		t.Fatalf("check = %+v", st.Check)
	}
}

// TestPlatformPushLoop: pushes come every PushInterval by themselves, and
// Close stops them (twice is fine); a push cut off by Close is not
// counted as failed.
func TestPlatformPushLoop(t *testing.T) {
	rc := newReceiver(t)
	sim, err := New(Options{Platforms: []Platform{{
		ComponentAppID: compA, Secret: compSecret, Token: compToken, EncodingAESKey: compKey,
		EventURL: rc.srv.URL, PushInterval: 10 * time.Millisecond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := rc.next(), rc.next()
	if a.VerifyTicket == "" || b.VerifyTicket == a.VerifyTicket {
		t.Fatalf("pushes %+v, %+v", a, b)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := sim.Stats(compA)
	if err != nil || st.Pushes.Sent < 1 || st.Pushes.Failed != 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

// TestVerifyTicketRules: api_component_token takes only a ticket issued to
// the platform within its life (61006 invalid, 61005 expired); each call
// mints a new token and the previous one lives on for the overlap.
func TestVerifyTicketRules(t *testing.T) {
	f := newPlatformFixture(t, nil, "")
	if v := f.sim.Options().VerifyTicketTTL; v != 12*time.Hour {
		t.Fatalf("default VerifyTicketTTL = %v, want 12h (6 TTL)", v)
	}
	out := f.pushTicket(compA)
	if out.Push.Sent || out.Push.Error == "" {
		t.Fatalf("a push without an event URL = %+v", out.Push)
	}
	wantErr(t, f.componentToken("ticket@@@never-issued").answer, wechat.ErrVerifyTicketInvalid)
	other := f.pushTicket(compB).VerifyTicket
	wantErr(t, f.componentToken(other).answer, wechat.ErrVerifyTicketInvalid)
	wantErr(t, f.comp(wechat.PathComponentToken, "", "component_appid", compA, "component_appsecret", "wrong", "component_verify_ticket", out.VerifyTicket).answer, wechat.ErrInvalidSecret)
	wantErr(t, f.comp(wechat.PathComponentToken, "", "component_appid", "wxnope", "component_appsecret", compSecret, "component_verify_ticket", out.VerifyTicket).answer, wechat.ErrInvalidComponent)
	wantErr(t, f.comp(wechat.PathComponentToken, "", "component_appsecret", compSecret).answer, wechat.ErrMissingAppID)
	if a := f.do("GET", wechat.PathComponentToken, ""); a.ErrCode != errRequirePOST {
		t.Fatalf("GET: %s", a.Raw)
	}

	t1 := f.componentToken(out.VerifyTicket).ComponentAccessToken
	f.clock.Advance(12*time.Hour - time.Second)
	t2 := f.componentToken(out.VerifyTicket).ComponentAccessToken
	if t1 == "" || t2 == "" || t1 == t2 {
		t.Fatalf("tokens %q, %q", t1, t2)
	}
	f.clock.Advance(time.Second)
	wantErr(t, f.componentToken(out.VerifyTicket).answer, wechat.ErrVerifyTicketExpired)
	// A newer ticket works; older ones keep their own life.
	fresh := f.pushTicket(compA).VerifyTicket
	t3 := f.componentToken(fresh).ComponentAccessToken
	if t3 == "" {
		t.Fatal("a fresh ticket was refused")
	}

	// The previous component token works for the overlap, then 40001.
	pre := func(tok string) compAnswer {
		return f.comp(wechat.PathPreAuthCode, tok, "component_appid", compA)
	}
	if c := pre(t2); c.ErrCode != 0 || !strings.HasPrefix(c.PreAuthCode, "preauthcode@@@") || c.ExpiresIn != 1800 {
		t.Fatalf("pre_auth_code in the overlap: %s", c.Raw)
	}
	f.clock.Advance(f.sim.Options().Overlap)
	wantErr(t, pre(t2).answer, wechat.ErrInvalidCredential)
	if st := f.sim.Check(t2); st.Valid || st.Reason != ReasonReplaced {
		t.Fatalf("replaced token: %+v", st)
	}
	f.clock.Advance(2 * time.Hour)
	wantErr(t, pre(t3).answer, wechat.ErrTokenExpired)
	wantErr(t, pre("").answer, errMissingToken)
	wantErr(t, pre("a b").answer, wechat.ErrInvalidToken)
	// An app's token is no component token.
	app := f.token(f.classic("wxA"))
	wantErr(t, pre(app).answer, errMustUseComponentToken)
	// Nor is a component token an app's.
	ct := f.goodComponentToken()
	wantErr(t, f.probe(ct), wechat.ErrInvalidCredential)
	wantErr(t, f.comp(wechat.PathPreAuthCode, ct, "component_appid", compB).answer, wechat.ErrInvalidComponent)
}

// TestAuthorizationFlow: an authorization code made through the control
// API (and pushed) is good once for 10 minutes at api_query_auth, which
// answers the authorizer's first access token and refresh token; that
// token works with getticket, the ordinary calls and the liveness check,
// as an app's does.
func TestAuthorizationFlow(t *testing.T) {
	rc := newReceiver(t)
	f := newPlatformFixture(t, rc, "")
	ct := f.goodComponentToken()
	rc.next()
	pre := f.comp(wechat.PathPreAuthCode, ct, "component_appid", compA).PreAuthCode
	auth := f.authorize("authorize", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0001","pre_auth_code":"`+pre+`","func_info":[1,17]}`)
	if auth.AuthorizerAppID != "wxacc0001" || auth.ExpiresIn != 600 || auth.PreAuthCode != pre || !auth.Push.Success {
		t.Fatalf("authorize = %+v", auth)
	}
	ev := rc.next()
	if ev.InfoType != "authorized" || ev.AuthorizerAppID != "wxacc0001" || ev.AuthorizationCode != auth.AuthCode ||
		ev.PreAuthCode != pre || ev.CodeExpiredTime != f.clock.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("authorized push %+v", ev)
	}
	// The pre_auth_code is used up.
	if st := f.do("POST", "/_sim/platforms/authorize", `{"component_appid":"`+compA+`","pre_auth_code":"`+pre+`"}`); st.Status != 400 {
		t.Fatalf("a used pre_auth_code: %d %s", st.Status, st.Raw)
	}

	query := func(code string) compAnswer {
		return f.comp(wechat.PathQueryAuth, ct, "component_appid", compA, "authorization_code", code)
	}
	q := query(auth.AuthCode)
	info := q.Info
	if q.ErrCode != 0 || info.AppID != "wxacc0001" || info.AccessToken == "" || info.ExpiresIn != 7200 ||
		!strings.HasPrefix(info.RefreshToken, "refreshtoken@@@") || len(info.FuncInfo) != 2 || info.FuncInfo[1].Category.ID != 17 {
		t.Fatalf("api_query_auth: %s", q.Raw)
	}
	wantErr(t, query(auth.AuthCode).answer, wechat.ErrAuthCodeInvalid) // single use
	wantErr(t, query("queryauthcode@@@nope").answer, wechat.ErrAuthCodeInvalid)
	late := f.authorize("authorize", `{"component_appid":"`+compA+`"}`)
	rc.next()
	if !strings.HasPrefix(late.AuthorizerAppID, "wx") || len(late.AuthorizerAppID) != 18 {
		t.Fatalf("a made-up authorizer appid %q", late.AuthorizerAppID)
	}
	f.clock.Advance(10 * time.Minute)
	wantErr(t, query(late.AuthCode).answer, wechat.ErrAuthCodeExpired)
	ct = f.goodComponentToken()
	rc.next()

	// The authorizer's token is an account's token.
	tok := info.AccessToken
	f.wantLive(tok)
	js, card := f.ticket(tok, "jsapi"), f.ticket(tok, "wx_card")
	if js.ErrCode != 0 || js.Ticket == "" || card.ErrCode != 0 || card.Ticket == "" {
		t.Fatalf("tickets: %s %s", js.Raw, card.Raw)
	}
	if a := f.do("GET", "/cgi-bin/getcallbackip?access_token="+tok, ""); a.ErrCode != 0 || len(a.IPList) == 0 {
		t.Fatalf("an ordinary call: %s", a.Raw)
	}
	st := f.sim.Check(tok)
	if st.Kind != KindAuthorizerToken || st.AppID != compA+":wxacc0001" || st.ComponentAppID != compA || st.AuthorizerAppID != "wxacc0001" {
		t.Fatalf("check %+v", st)
	}
	if st := f.sim.Check(js.Ticket); !st.Valid || st.Kind != KindJSAPI || st.AuthorizerAppID != "wxacc0001" {
		t.Fatalf("check ticket %+v", st)
	}
	if n := f.sim.Calls(EndpointTicket, compA+":wxacc0001"); n != 2 {
		t.Fatalf("getticket calls of the authorizer = %d", n)
	}
	if n := f.sim.Calls(EndpointTicket, compA); n != 2 {
		t.Fatalf("getticket calls under the bare component_appid = %d", n)
	}

	// Rotate and Invalidate reach an authorizer's credentials.
	if _, err := f.sim.Invalidate(compA+":wxacc0001", KindAuthorizerToken); err != nil {
		t.Fatal(err)
	}
	f.wantDead(tok, wechat.ErrInvalidCredential)
	if _, err := f.sim.Rotate(compA, KindComponentToken); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.comp(wechat.PathPreAuthCode, ct, "component_appid", compA).answer, wechat.ErrInvalidCredential)
	if _, err := f.sim.Rotate(compA, KindJSAPI); err == nil {
		t.Fatal("a platform has no jsapi ticket")
	}
}

// TestAuthorizerToken: api_authorizer_token with the refresh token gives a
// new access token (the old one lives on for the overlap) and, in the
// default mode, the same refresh token; rotate mode answers a new one and
// the old one is dead; an invalidated refresh token gets 61023; after
// unauthorized (pushed) everything of the account is dead.
func TestAuthorizerToken(t *testing.T) {
	for _, mode := range []string{RefreshTokenSame, RefreshTokenRotate} {
		t.Run(mode, func(t *testing.T) {
			rc := newReceiver(t)
			f := newPlatformFixture(t, rc, mode)
			ct := f.goodComponentToken()
			rc.next()
			auth := f.authorize("authorize", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0002"}`)
			rc.next()
			q := f.comp(wechat.PathQueryAuth, ct, "component_appid", compA, "authorization_code", auth.AuthCode)
			first, refresh := q.Info.AccessToken, q.Info.RefreshToken
			call := func(rt string) compAnswer {
				return f.comp(wechat.PathAuthorizerToken, ct, "component_appid", compA, "authorizer_appid", "wxacc0002", "authorizer_refresh_token", rt)
			}
			a := call(refresh)
			if a.ErrCode != 0 || a.AuthorizerToken == "" || a.AuthorizerToken == first || a.ExpiresIn != 7200 {
				t.Fatalf("api_authorizer_token: %s", a.Raw)
			}
			f.wantLive(first) // the overlap
			switch mode {
			case RefreshTokenSame:
				if a.RefreshToken != refresh {
					t.Fatalf("refresh token %q, want the same %q", a.RefreshToken, refresh)
				}
				b := call(refresh)
				if b.ErrCode != 0 || b.RefreshToken != refresh {
					t.Fatalf("the same refresh token again: %s", b.Raw)
				}
				a = b
			case RefreshTokenRotate:
				if a.RefreshToken == refresh || !strings.HasPrefix(a.RefreshToken, "refreshtoken@@@") {
					t.Fatalf("refresh token %q, want a new one", a.RefreshToken)
				}
				wantErr(t, call(refresh).answer, wechat.ErrRefreshTokenInvalid)
				refresh = a.RefreshToken
			}
			f.clock.Advance(f.sim.Options().Overlap)
			f.wantDead(first, wechat.ErrInvalidCredential)
			if n := f.sim.Calls(EndpointAuthorizerToken, compA+":wxacc0002"); n < 2 {
				t.Fatalf("calls counted under the AuthorizerID: %d", n)
			}

			// Invalidated: 61023, while the access token keeps working.
			var ok map[string]bool
			if st := f.pctl("POST", "/_sim/platforms/invalidate_refresh_token", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0002"}`, &ok); st != 200 || !ok["invalidated"] {
				t.Fatalf("invalidate: %d", st)
			}
			wantErr(t, call(refresh).answer, wechat.ErrRefreshTokenInvalid)
			live := f.sim.Check(a.AuthorizerToken)
			if !live.Valid {
				t.Fatalf("the access token died with its refresh token: %+v", live)
			}

			// A new authorization brings a new refresh token.
			up := f.authorize("updateauthorized", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0002"}`)
			if ev := rc.next(); ev.InfoType != "updateauthorized" || ev.AuthorizationCode != up.AuthCode {
				t.Fatalf("updateauthorized push %+v", ev)
			}
			q2 := f.comp(wechat.PathQueryAuth, ct, "component_appid", compA, "authorization_code", up.AuthCode)
			if q2.ErrCode != 0 || q2.Info.RefreshToken == refresh {
				t.Fatalf("re-authorization: %s", q2.Raw)
			}
			if b := call(q2.Info.RefreshToken); b.ErrCode != 0 {
				t.Fatalf("the new refresh token: %s", b.Raw)
			}

			// Unauthorized: pushed, and every credential of the account dead.
			var un map[string]PushResult
			if st := f.pctl("POST", "/_sim/platforms/unauthorize", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0002"}`, &un); st != 200 || !un["push"].Success {
				t.Fatalf("unauthorize: %d %+v", st, un)
			}
			if ev := rc.next(); ev.InfoType != "unauthorized" || ev.AuthorizerAppID != "wxacc0002" || ev.AuthorizationCode != "" {
				t.Fatalf("unauthorized push %+v", ev)
			}
			wantErr(t, call(q2.Info.RefreshToken).answer, wechat.ErrComponentNotAuthorized)
			f.wantDead(q2.Info.AccessToken, wechat.ErrInvalidCredential)
			if st := f.do("POST", "/_sim/platforms/updateauthorized", `{"component_appid":"`+compA+`","authorizer_appid":"wxacc0002"}`); st.Status != 400 {
				t.Fatalf("updateauthorized after unauthorize: %d", st.Status)
			}
		})
	}
}

// TestPlatformFaults: the fault injection applies to the component
// endpoints by name, and to an authorizer's calls by its AuthorizerID or
// its platform's component_appid.
func TestPlatformFaults(t *testing.T) {
	f := newPlatformFixture(t, nil, "")
	ticket := f.pushTicket(compA).VerifyTicket
	if err := f.sim.Inject(Fault{Endpoint: EndpointComponentToken, Kind: FaultErrCode, ErrCode: wechat.ErrWhitelist, Count: 1}); err != nil {
		t.Fatal(err)
	}
	a := f.componentToken(ticket).answer
	wantErr(t, a, wechat.ErrWhitelist)
	if !strings.Contains(a.ErrMsg, "requestIP: 127.0.0.1") {
		t.Fatalf("61004 errmsg %q", a.ErrMsg)
	}
	ct := f.goodComponentToken()
	if err := f.sim.Inject(Fault{Endpoint: EndpointQueryAuth, Kind: FaultEmpty, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if c := f.comp(wechat.PathQueryAuth, ct, "component_appid", compA, "authorization_code", "x"); c.ErrCode != 0 || c.Info.AccessToken != "" || c.Info.ExpiresIn == 0 {
		t.Fatalf("empty fault: %s", c.Raw)
	}
	// By the component_appid, an authorizer's api_authorizer_token.
	if err := f.sim.Inject(Fault{Endpoint: EndpointAuthorizerToken, AppID: compA, Kind: FaultErrCode, ErrCode: wechat.ErrRefreshTokenInvalid, Count: 1}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.comp(wechat.PathAuthorizerToken, ct, "component_appid", compA, "authorizer_appid", "wxany", "authorizer_refresh_token", "r").answer, wechat.ErrRefreshTokenInvalid)
	for _, e := range platformEndpoints() {
		if err := f.sim.Inject(Fault{Endpoint: e, Kind: FaultMalformed, Count: 1}); err != nil {
			t.Fatal(err)
		}
		a := f.do("POST", "/cgi-bin/component/"+e, "{}")
		if json.Valid([]byte(a.Raw)) || !strings.HasSuffix(a.Raw, ",}") {
			t.Fatalf("malformed fault on %s: %s", e, a.Raw)
		}
	}
	var faults map[string][]Fault
	if st := f.pctl("POST", "/_sim/faults", `{"endpoint":"api_start_push_ticket","kind":"http500","count":1}`, nil); st != 200 {
		t.Fatalf("a fault by name over the control API: %d", st)
	}
	f.pctl("GET", "/_sim/faults", "", &faults)
	if len(faults["faults"]) != 1 || faults["faults"][0].Endpoint != EndpointStartPushTicket {
		t.Fatalf("faults %+v", faults)
	}
	if a := f.do("POST", wechat.PathStartPushTicket, "{}"); a.Status != 500 {
		t.Fatalf("http500 fault: %d", a.Status)
	}
	var calls map[string]map[string]map[string]int
	f.pctl("GET", "/_sim/calls", "", &calls)
	if calls["calls"][EndpointAuthorizerToken][compA+":wxany"] != 1 {
		t.Fatalf("calls %v", calls["calls"][EndpointAuthorizerToken])
	}
}

// TestPlatformOptions: invalid platforms are refused, naming the problem
// and never the secret or the key.
func TestPlatformOptions(t *testing.T) {
	good := Platform{ComponentAppID: compA, Secret: compSecret, Token: compToken, EncodingAESKey: compKey}
	tests := []struct {
		name string
		edit func(p *Platform, o *Options)
		want string
	}{
		{"no appid", func(p *Platform, _ *Options) { p.ComponentAppID = "" }, "empty component_appid"},
		{"colon", func(p *Platform, _ *Options) { p.ComponentAppID = "a:b" }, "colon"},
		{"no secret", func(p *Platform, _ *Options) { p.Secret = "" }, "empty secret"},
		{"short key", func(p *Platform, _ *Options) { p.EncodingAESKey = "abc" }, "EncodingAESKey"},
		{"no token", func(p *Platform, _ *Options) { p.Token = "" }, "Token"},
		{"bad url", func(p *Platform, _ *Options) { p.EventURL = "ftp://x" }, "event URL"},
		{"mode", func(p *Platform, _ *Options) { p.RefreshToken = "sometimes" }, "RefreshToken"},
		{"push interval", func(p *Platform, _ *Options) { p.PushInterval = -time.Second }, "PushInterval"},
		{"app clash", func(p *Platform, o *Options) { o.Apps = map[string]string{compA: "x"} }, "both an app and a platform"},
		{"twice", func(p *Platform, o *Options) { o.Platforms = append(o.Platforms, *p) }, "twice"},
		{"ticket ttl", func(_ *Platform, o *Options) { o.VerifyTicketTTL = -1 }, "VerifyTicketTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			o := Options{}
			tt.edit(&p, &o)
			o.Platforms = append([]Platform{p}, o.Platforms...)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), compSecret) || strings.Contains(err.Error(), compKey) {
				t.Fatalf("error carries a secret: %v", err)
			}
		})
	}
	sim, err := New(Options{Platforms: []Platform{good}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if ids := sim.ComponentAppIDs(); len(ids) != 1 || ids[0] != compA || sim.Options().Platforms != nil {
		t.Fatalf("ids %v, options keep platforms: %v", ids, sim.Options().Platforms != nil)
	}
	if _, err := sim.Stats("wxnope"); err == nil {
		t.Fatal("stats of an unknown platform")
	}
}

// TestPlatformControlErrors: the platform control calls say what is wrong.
func TestPlatformControlErrors(t *testing.T) {
	f := newPlatformFixture(t, nil, "")
	tests := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/_sim/platforms/stats?component_appid=wxnope", "", 404, "unknown platform"},
		{"POST", "/_sim/platforms/stats", "", 405, "not allowed"},
		{"GET", "/_sim/platforms/authorize", "", 405, "not allowed"},
		{"POST", "/_sim/platforms/authorize", `{"component_appid":"` + compA + `","scope":"x"}`, 400, "unknown field"},
		{"POST", "/_sim/platforms/authorize", `{"component_appid":"wxnope"}`, 400, "unknown platform"},
		{"POST", "/_sim/platforms/authorize", `{"component_appid":"` + compA + `","authorizer_appid":"a b"}`, 400, "authorizer_appid"},
		{"POST", "/_sim/platforms/unauthorize", `{"component_appid":"` + compA + `","authorizer_appid":"wxnever"}`, 400, "does not authorize"},
		{"POST", "/_sim/platforms/invalidate_refresh_token", `{"component_appid":"` + compA + `","authorizer_appid":"wxnever"}`, 400, "never authorized"},
		{"POST", "/_sim/platforms/push_ticket", `{"component_appid":"wxnope"}`, 400, "unknown platform"},
		{"POST", "/_sim/rotate", `{"appid":"` + compA + `","what":"jsapi"}`, 400, "component_token"},
		{"POST", "/_sim/rotate", `{"appid":"` + compA + `:wxnever","what":"authorizer_token"}`, 400, "unknown platform or authorizer"},
	}
	for _, tt := range tests {
		a := f.do(tt.method, tt.path, tt.body)
		if a.Status != tt.status || !strings.Contains(a.Raw, tt.want) || a.ContentType != ctlContentType {
			t.Errorf("%s %s %s: %d %s, want %d with %q", tt.method, tt.path, tt.body, a.Status, a.Raw, tt.status, tt.want)
		}
	}
}
