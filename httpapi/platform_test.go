package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/jssdk"
)

// The third-party platforms of the test server, their authorizers, and
// the keys granted them.
const (
	compA     = "wxc0c0c0c0c0c0c0c0" // configured
	compNone  = "wxc00000000000000f" // not configured
	authA     = "wxa1a1a1a1a1a1a1a1"
	authB     = "wxb2b2b2b2b2b2b2b2"
	idAuthA   = compA + ":" + authA
	idAuthB   = compA + ":" + authB
	keyComp   = "wxk_comp_4d3c2b1a0f9e8d7c6b5a49382716aabb"    // granted compA
	keyAuthzA = "wxk_authz_1122334455667788990011223344556677" // granted compA:authA exactly
)

// platformStub holds the answers of the test's wxtoken.Platforms. By
// default every call succeeds.
type platformStub struct {
	mu          sync.Mutex
	event       func(wxtoken.Push) error
	preAuth     func(redirect, authType string) (string, error)
	authorize   func(code string) (wxtoken.Grant, error)
	importAuth  func(appID, refreshToken string) (wxtoken.AuthorizerStatus, error)
	authorizers func() ([]wxtoken.AuthorizerStatus, error)
	calls       []string
	pushes      []wxtoken.Push
}

func (s *platformStub) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *platformStub) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *platformStub) platforms() *mock.Platforms {
	return &mock.Platforms{
		EventFn: func(_ context.Context, c string, p wxtoken.Push) error {
			s.record("event " + c)
			s.mu.Lock()
			s.pushes = append(s.pushes, p)
			s.mu.Unlock()
			if s.event != nil {
				return s.event(p)
			}
			return nil
		},
		PreAuthURLFn: func(_ context.Context, c, redirect, authType string) (string, error) {
			s.record("preauth " + c + " " + redirect + " " + authType)
			if s.preAuth != nil {
				return s.preAuth(redirect, authType)
			}
			return "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=" + c + "&pre_auth_code=P&redirect_uri=" + url.QueryEscape(redirect), nil
		},
		AuthorizeFn: func(_ context.Context, c, code string) (wxtoken.Grant, error) {
			s.record("authorize " + c + " " + code)
			if s.authorize != nil {
				return s.authorize(code)
			}
			return grant(wxtoken.AuthorizerID(c, authA), wxtoken.KindAccessToken), nil
		},
		ImportAuthorizerFn: func(_ context.Context, c, a, refreshToken string) (wxtoken.AuthorizerStatus, error) {
			s.record("import " + c + " " + a + " " + refreshToken)
			if s.importAuth != nil {
				return s.importAuth(a, refreshToken)
			}
			return wxtoken.AuthorizerStatus{ComponentAppID: c, AuthorizerAppID: a, State: wxtoken.EntryActive, AuthorizedAt: t0, UpdatedAt: t0,
				Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh}}}, nil
		},
		AuthorizersFn: func(_ context.Context, c string) ([]wxtoken.AuthorizerStatus, error) {
			s.record("authorizers " + c)
			if s.authorizers != nil {
				return s.authorizers()
			}
			return []wxtoken.AuthorizerStatus{{ComponentAppID: c, AuthorizerAppID: authA, State: wxtoken.EntryActive, AuthorizedAt: t0, UpdatedAt: t0}}, nil
		},
	}
}

// platformEnv is a test server with the platform compA configured.
type platformEnv struct {
	*env
	pl *platformStub
}

func newPlatformEnv(t *testing.T, svc *stub, pl *platformStub) platformEnv {
	t.Helper()
	e := newEnv(t, svc, func(o *httpapi.Options) {
		o.Platforms = pl.platforms()
		o.Components = []string{compA}
		o.Clients = append(o.Clients,
			clientkey.Client{Name: "comp", KeySHA256: sha(keyComp), Apps: []string{compA}},
			clientkey.Client{Name: "authz", KeySHA256: sha(keyAuthzA), Apps: []string{idAuthA}},
		)
	})
	return platformEnv{env: e, pl: pl}
}

func platformPath(comp, rest string) string { return "/v1/platforms/" + comp + "/" + rest }

func authorizerPath(comp, auth, rest string) string {
	return "/v1/platforms/" + comp + "/authorizers/" + auth + "/" + rest
}

func wantCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s calls = %q, want %q", what, got, want)
	}
}

func TestPlatformEventAnswersSuccess(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	body := "<xml><AppId><![CDATA[" + compA + "]]></AppId><Encrypt><![CDATA[ENCRYPTED]]></Encrypt></xml>"
	q := "?timestamp=1740830400&nonce=N0NCE&encrypt_type=aes&msg_signature=SIG&signature=other"
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events") + q, body: body, header: map[string]string{"Content-Type": "text/xml"}})
	if a.status != http.StatusOK || a.body != "success" {
		t.Fatalf("answer %d %q, want 200 success", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	wantCalls(t, "platform", e.pl.Calls(), []string{"event " + compA})
	want := wxtoken.Push{Timestamp: "1740830400", Nonce: "N0NCE", EncryptType: "aes", MsgSignature: "SIG", Body: []byte(body)}
	if got := e.pl.pushes[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("push %+v, want %+v", got, want)
	}
	if len(e.svc.Calls()) != 0 {
		t.Errorf("the service was asked: %q", e.svc.Calls())
	}
}

func TestPlatformEventErrorsAreNotSuccess(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		text   string
	}{
		{"bad signature", wxtoken.Errorf(wxtoken.EInvalid, "msg_signature does not match"), http.StatusBadRequest, "msg_signature does not match"},
		{"unknown authorizer", wxtoken.Errorf(wxtoken.ENotFound, "no such authorizer"), http.StatusNotFound, "no such authorizer"},
		{"store away", &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "cannot store the ticket now", Err: errors.New("redis: down")}, http.StatusServiceUnavailable, "cannot store the ticket now"},
		{"plain error", errors.New("bolt: disk full"), http.StatusInternalServerError, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlatformEnv(t, &stub{}, &platformStub{event: func(wxtoken.Push) error { return tt.err }})
			a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events") + "?msg_signature=S", body: "<xml>SECRET-BODY</xml>"})
			if a.status != tt.status || a.body == "success" || !strings.Contains(a.body, tt.text) {
				t.Errorf("answer %d %q, want %d with %q", a.status, a.body, tt.status, tt.text)
			}
			if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "platform push not acted on") {
				t.Errorf("no warning logged: %s", logs)
			}
			if strings.Contains(logs, "SECRET-BODY") || strings.Contains(a.body, "bolt") || strings.Contains(a.body, "redis") {
				t.Errorf("the body reached the log or a cause the answer: log %s; answer %s", logs, a.body)
			}
		})
	}
}

func TestPlatformEventBodyLimit(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	// Exactly the limit is taken.
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events"), body: strings.Repeat("x", httpapi.MaxEventBytes)})
	if a.status != http.StatusOK || a.body != "success" {
		t.Fatalf("a body of exactly 64 KiB: %d %q", a.status, a.body)
	}
	// One byte more is refused, and nothing is called.
	a = e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events"), body: strings.Repeat("x", httpapi.MaxEventBytes+1)})
	if a.status != http.StatusRequestEntityTooLarge || a.body == "success" {
		t.Errorf("a body over 64 KiB: %d %q, want 413", a.status, a.body)
	}
	if n := len(e.pl.pushes); n != 1 || len(e.pl.pushes[0].Body) != httpapi.MaxEventBytes {
		t.Errorf("pushes %d, want only the first", n)
	}
}

func TestPlatformEventUnknownPlatform(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	for _, comp := range []string{compNone, appShop, "wxc%3Aother"} {
		a := e.do(t, req{method: http.MethodPost, path: platformPath(comp, "events"), body: "<xml/>"})
		if a.status != http.StatusNotFound || a.body == "success" {
			t.Errorf("%s: %d %q, want 404", comp, a.status, a.body)
		}
	}
	if calls := e.pl.Calls(); len(calls) != 0 {
		t.Errorf("pushes to unknown platforms were acted on: %q", calls)
	}
}

func TestComponentAccessToken(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.get(t, platformPath(compA, "component_access_token"), keyComp)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got httpapi.ComponentTokenResponse
	decode(t, a, &got)
	want := httpapi.ComponentTokenResponse{ComponentAppID: compA, ComponentAccessToken: value(compA, wxtoken.KindAccessToken), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	wantCalls(t, "service", e.svc.Calls(), []string{"credential " + compA + " access_token"})
}

// TestPlatformKeys: every key rule of the component routes.
func TestPlatformKeys(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	tests := []struct {
		name, path, key string
		status          int
	}{
		{"no key", platformPath(compA, "component_access_token"), "", http.StatusUnauthorized},
		{"unknown key", platformPath(compA, "component_access_token"), keyUnknown, http.StatusUnauthorized},
		{"key of an app", platformPath(compA, "component_access_token"), keyShop, http.StatusForbidden},
		{"key of one authorizer", platformPath(compA, "component_access_token"), keyAuthzA, http.StatusForbidden},
		{"admin not granted", platformPath(compA, "component_access_token"), keyAdmin, http.StatusForbidden},
		{"key of all", platformPath(compA, "component_access_token"), keyAll, http.StatusOK},
		{"unknown platform, granted all", platformPath(compNone, "component_access_token"), keyAll, http.StatusNotFound},
		{"unknown platform, admin", platformPath(compNone, "component_access_token"), keyAdmin, http.StatusNotFound},
		{"unknown platform, not granted", platformPath(compNone, "component_access_token"), keyShop, http.StatusForbidden},
		// An app's appid is no platform: its token is never handed out
		// as a component_access_token.
		{"an app's appid", platformPath(appShop, "component_access_token"), keyShop, http.StatusNotFound},
		{"preauth, key of an app", platformPath(compA, "preauth_url?redirect_uri=https%3A%2F%2Fa.example%2F"), keyShop, http.StatusForbidden},
		{"list, not admin", platformPath(compA, "authorizers"), keyComp, http.StatusForbidden},
		{"list, all but not admin", platformPath(compA, "authorizers"), keyAll, http.StatusForbidden},
		{"list, no key", platformPath(compA, "authorizers"), "", http.StatusUnauthorized},
		{"list, unknown platform, admin", platformPath(compNone, "authorizers"), keyAdmin, http.StatusNotFound},
		{"list, unknown platform, not admin", platformPath(compNone, "authorizers"), keyComp, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.get(t, tt.path, tt.key)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.status != http.StatusOK {
				wantError(t, a, tt.status, httpapi.CodeOf(tt.status))
			}
		})
	}
	// Only the "all" key's request reached the service.
	wantCalls(t, "service", e.svc.Calls(), []string{"credential " + compA + " access_token"})
	if calls := e.pl.Calls(); len(calls) != 0 {
		t.Errorf("refused requests reached the platforms: %q", calls)
	}
	// POST routes check keys the same way.
	for _, q := range []req{
		{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyShop, body: `{"auth_code":"C"}`},
		{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: "", body: `{"auth_code":"C"}`},
		{method: http.MethodPost, path: platformPath(compA, "authorizers"), key: keyComp, body: `{"authorizer_appid":"wxa","refresh_token":"R"}`},
		{method: http.MethodPost, path: platformPath(compA, "authorizers"), key: "", body: `{"authorizer_appid":"wxa","refresh_token":"R"}`},
	} {
		if a := e.do(t, q); a.status != http.StatusForbidden && a.status != http.StatusUnauthorized {
			t.Errorf("POST %s with key %q: %d %s", q.path, q.key, a.status, a.body)
		}
	}
	if calls := e.pl.Calls(); len(calls) != 0 {
		t.Errorf("refused requests reached the platforms: %q", calls)
	}
}

func TestPlatformsNotConfigured(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	for _, q := range []req{
		{path: platformPath(compA, "component_access_token"), key: keyAll},
		{path: platformPath(compA, "preauth_url?redirect_uri=https%3A%2F%2Fa.example%2F"), key: keyAll},
		{path: platformPath(compA, "authorizers"), key: keyAdmin},
		{path: authorizerPath(compA, authA, "access_token"), key: keyAll},
		{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyAll, body: `{"auth_code":"C"}`},
	} {
		eb := wantError(t, e.do(t, q), http.StatusNotFound, wxtoken.ENotFound)
		if !strings.Contains(eb.Message, "no third-party platform") {
			t.Errorf("%s: message %q does not say why", q.path, eb.Message)
		}
	}
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events"), body: "<xml/>"})
	if a.status != http.StatusNotFound || !strings.Contains(a.body, "no third-party platform") {
		t.Errorf("events: %d %q", a.status, a.body)
	}
	if len(e.svc.Calls()) != 0 {
		t.Errorf("the service was asked: %q", e.svc.Calls())
	}
}

func TestPreAuthURL(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	redirect := "https://saas.example.com/authorized?tenant=7&x=y"
	a := e.get(t, platformPath(compA, "preauth_url?redirect_uri="+url.QueryEscape(redirect)+"&auth_type=3"), keyComp)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var got httpapi.PreAuthURLResponse
	decode(t, a, &got)
	if !strings.HasPrefix(got.URL, "https://mp.weixin.qq.com/") || !strings.Contains(got.URL, url.QueryEscape(redirect)) {
		t.Errorf("url %q", got.URL)
	}
	// Without auth_type, WeChat's default.
	if a := e.get(t, platformPath(compA, "preauth_url?redirect_uri="+url.QueryEscape(redirect)), keyComp); a.status != http.StatusOK {
		t.Errorf("without auth_type: %d %s", a.status, a.body)
	}
	wantCalls(t, "platform", e.pl.Calls(), []string{"preauth " + compA + " " + redirect + " 3", "preauth " + compA + " " + redirect + " "})
}

func TestPreAuthURLBadQueries(t *testing.T) {
	good := url.QueryEscape("https://saas.example.com/done")
	for name, q := range map[string]string{
		"missing":                "",
		"empty":                  "?redirect_uri=",
		"relative":               "?redirect_uri=" + url.QueryEscape("/done"),
		"not http":               "?redirect_uri=" + url.QueryEscape("ftp://saas.example.com/"),
		"no host":                "?redirect_uri=" + url.QueryEscape("https:///done"),
		"not percent-encoded":    "?redirect_uri=https://saas.example.com/done?a=1&b=2",
		"twice":                  "?redirect_uri=" + good + "&redirect_uri=" + good,
		"auth_type not a number": "?redirect_uri=" + good + "&auth_type=all",
		"auth_type empty":        "?redirect_uri=" + good + "&auth_type=",
		"malformed query":        "?redirect_uri=%zz",
	} {
		t.Run(name, func(t *testing.T) {
			e := newPlatformEnv(t, &stub{}, &platformStub{})
			wantError(t, e.get(t, platformPath(compA, "preauth_url"+q), keyComp), http.StatusBadRequest, wxtoken.EInvalid)
			if calls := e.pl.Calls(); len(calls) != 0 {
				t.Errorf("a bad query reached the platforms: %q", calls)
			}
		})
	}
}

// platformErrors are the errors the Platforms may return, and their
// answers.
var platformErrors = []struct {
	name   string
	err    error
	status int
	code   wxtoken.Code
}{
	{"invalid", wxtoken.Errorf(wxtoken.EInvalid, "the code was already used"), http.StatusBadRequest, wxtoken.EInvalid},
	{"not found", wxtoken.Errorf(wxtoken.ENotFound, "no such platform"), http.StatusNotFound, wxtoken.ENotFound},
	{"unavailable", &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat refused", WeChatErrCode: 61004}, http.StatusServiceUnavailable, wxtoken.EUnavailable},
	{"plain error", errors.New("bolt: broken"), http.StatusInternalServerError, wxtoken.EInternal},
}

func TestPlatformErrors(t *testing.T) {
	for _, tt := range platformErrors {
		t.Run(tt.name, func(t *testing.T) {
			pl := &platformStub{
				preAuth:   func(string, string) (string, error) { return "", tt.err },
				authorize: func(string) (wxtoken.Grant, error) { return wxtoken.Grant{}, tt.err },
				importAuth: func(string, string) (wxtoken.AuthorizerStatus, error) {
					return wxtoken.AuthorizerStatus{}, tt.err
				},
				authorizers: func() ([]wxtoken.AuthorizerStatus, error) { return nil, tt.err },
			}
			svc := &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return wxtoken.Grant{}, tt.err }}
			e := newPlatformEnv(t, svc, pl)
			for _, q := range []req{
				{path: platformPath(compA, "component_access_token"), key: keyComp},
				{path: platformPath(compA, "preauth_url?redirect_uri="+url.QueryEscape("https://a.example/")), key: keyComp},
				{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyComp, body: `{"auth_code":"C"}`},
				{path: platformPath(compA, "authorizers"), key: keyAdmin},
				{method: http.MethodPost, path: platformPath(compA, "authorizers"), key: keyAdmin, body: `{"authorizer_appid":"` + authB + `","refresh_token":"R"}`},
			} {
				a := e.do(t, q)
				eb := wantError(t, a, tt.status, tt.code)
				if tt.code == wxtoken.EUnavailable && eb.WeChatErrCode != 61004 {
					t.Errorf("%s: wechat_errcode %d, want 61004", q.path, eb.WeChatErrCode)
				}
				if strings.Contains(a.body, "bolt") {
					t.Errorf("%s: an internal cause reached the caller: %s", q.path, a.body)
				}
			}
		})
	}
}

func TestAuthorizations(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyComp, body: `{"auth_code":"queryauthcode@@@X"}`})
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got httpapi.AuthorizerTokenResponse
	decode(t, a, &got)
	want := httpapi.AuthorizerTokenResponse{ComponentAppID: compA, AuthorizerAppID: authA, AccessToken: value(idAuthA, wxtoken.KindAccessToken), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	wantCalls(t, "platform", e.pl.Calls(), []string{"authorize " + compA + " queryauthcode@@@X"})
	if strings.Contains(e.logs.String(), "queryauthcode") {
		t.Errorf("the auth_code reached the log")
	}
}

func TestAuthorizationsBadBodies(t *testing.T) {
	for name, body := range map[string]string{
		"empty":         "",
		"no code":       `{}`,
		"empty code":    `{"auth_code":""}`,
		"not a string":  `{"auth_code":7}`,
		"unknown field": `{"auth_code":"C","code":"C"}`,
		"not JSON":      `auth_code=C`,
		"two objects":   `{"auth_code":"C"}{"auth_code":"D"}`,
		"too large":     `{"auth_code":"` + strings.Repeat("C", httpapi.DefaultMaxBodyBytes) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newPlatformEnv(t, &stub{}, &platformStub{})
			a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyComp, body: body})
			wantError(t, a, http.StatusBadRequest, wxtoken.EInvalid)
			if calls := e.pl.Calls(); len(calls) != 0 {
				t.Errorf("a bad body reached the platforms: %q", calls)
			}
		})
	}
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyComp, body: `{"auth_code":"C"}`,
		header: map[string]string{"Content-Type": "text/plain"}})
	wantError(t, a, http.StatusBadRequest, wxtoken.EInvalid)
}

// TestAuthorizationsOfAnotherOwner: a grant that is not an authorizer of
// the platform asked is never passed off as one.
func TestAuthorizationsOfAnotherOwner(t *testing.T) {
	for _, id := range []string{appShop, compA, "wxc999:" + authA, compA + ":"} {
		pl := &platformStub{authorize: func(string) (wxtoken.Grant, error) { return grant(id, wxtoken.KindAccessToken), nil }}
		e := newPlatformEnv(t, &stub{}, pl)
		a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizations"), key: keyComp, body: `{"auth_code":"C"}`})
		wantError(t, a, http.StatusInternalServerError, wxtoken.EInternal)
		if strings.Contains(a.body, "VALUE-") {
			t.Errorf("%s: the credential was handed out: %s", id, a.body)
		}
	}
}

func TestListAuthorizers(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.get(t, platformPath(compA, "authorizers"), keyAdmin)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got httpapi.AuthorizersResponse
	decode(t, a, &got)
	if len(got.Authorizers) != 1 || got.Authorizers[0].AuthorizerAppID != authA || got.Authorizers[0].State != wxtoken.EntryActive {
		t.Errorf("got %+v", got)
	}
	// None is an empty list, not null.
	e = newPlatformEnv(t, &stub{}, &platformStub{authorizers: func() ([]wxtoken.AuthorizerStatus, error) { return nil, nil }})
	if a := e.get(t, platformPath(compA, "authorizers"), keyAdmin); a.status != http.StatusOK || strings.TrimSpace(a.body) != `{"authorizers":[]}` {
		t.Errorf("no authorizers: %d %s", a.status, a.body)
	}
}

func TestImportAuthorizer(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizers"), key: keyAdmin,
		body: `{"authorizer_appid":"` + authB + `","refresh_token":"refreshtoken@@@SECRET"}`})
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got wxtoken.AuthorizerStatus
	decode(t, a, &got)
	if got.ComponentAppID != compA || got.AuthorizerAppID != authB || got.State != wxtoken.EntryActive {
		t.Errorf("got %+v", got)
	}
	if strings.Contains(a.body, "SECRET") || strings.Contains(e.logs.String(), "SECRET") {
		t.Errorf("the refresh token was echoed or logged: %s", a.body)
	}
	wantCalls(t, "platform", e.pl.Calls(), []string{"import " + compA + " " + authB + " refreshtoken@@@SECRET"})
}

func TestImportAuthorizerBadBodies(t *testing.T) {
	for name, body := range map[string]string{
		"empty":            "",
		"no appid":         `{"refresh_token":"R"}`,
		"no refresh token": `{"authorizer_appid":"` + authB + `"}`,
		"appid with colon": `{"authorizer_appid":"wxa:b","refresh_token":"R"}`,
		"appid with slash": `{"authorizer_appid":"wxa/b","refresh_token":"R"}`,
		"unknown field":    `{"authorizer_appid":"` + authB + `","refresh_token":"R","secret":"S"}`,
		"token not string": `{"authorizer_appid":"` + authB + `","refresh_token":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newPlatformEnv(t, &stub{}, &platformStub{})
			a := e.do(t, req{method: http.MethodPost, path: platformPath(compA, "authorizers"), key: keyAdmin, body: body})
			wantError(t, a, http.StatusBadRequest, wxtoken.EInvalid)
			if calls := e.pl.Calls(); len(calls) != 0 {
				t.Errorf("a bad body reached the platforms: %q", calls)
			}
		})
	}
}

func TestAuthorizerCredentials(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	a := e.get(t, authorizerPath(compA, authA, "access_token"), keyAuthzA)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var tok httpapi.AuthorizerTokenResponse
	decode(t, a, &tok)
	wantTok := httpapi.AuthorizerTokenResponse{ComponentAppID: compA, AuthorizerAppID: authA, AccessToken: value(idAuthA, wxtoken.KindAccessToken), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
	if tok != wantTok {
		t.Errorf("got %+v, want %+v", tok, wantTok)
	}
	a = e.do(t, req{method: http.MethodPost, path: authorizerPath(compA, authA, "access_token/refresh"), key: keyAuthzA, body: `{"stale":"OLD"}`})
	decode(t, a, &tok)
	if a.status != http.StatusOK || tok.AccessToken != "NEW-"+value(idAuthA, wxtoken.KindAccessToken) || tok.AuthorizerAppID != authA {
		t.Errorf("refresh: %d %+v", a.status, tok)
	}
	want := []string{"credential " + idAuthA + " access_token", "refresh " + idAuthA + " access_token OLD"}
	for _, kind := range wxtoken.FamilyAuthorizer.Tickets() {
		a := e.get(t, authorizerPath(compA, authA, "tickets/"+string(kind)), keyAuthzA)
		var got httpapi.AuthorizerTicketResponse
		decode(t, a, &got)
		w := httpapi.AuthorizerTicketResponse{ComponentAppID: compA, AuthorizerAppID: authA, Type: kind, Ticket: value(idAuthA, kind), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
		if a.status != http.StatusOK || got != w {
			t.Errorf("%s: %d %+v, want %+v", kind, a.status, got, w)
		}
		a = e.do(t, req{method: http.MethodPost, path: authorizerPath(compA, authA, "tickets/"+string(kind)+"/refresh"), key: keyAuthzA, body: `{"stale":"T"}`})
		decode(t, a, &got)
		if a.status != http.StatusOK || got.Ticket != "NEW-"+value(idAuthA, kind) || got.Type != kind {
			t.Errorf("%s refresh: %d %+v", kind, a.status, got)
		}
		want = append(want, "credential "+idAuthA+" "+string(kind), "refresh "+idAuthA+" "+string(kind)+" T")
	}
	wantCalls(t, "service", e.svc.Calls(), want)

	// Refused before the service hears of it: a refresh without stale, a
	// ticket type of another family.
	wantError(t, e.do(t, req{method: http.MethodPost, path: authorizerPath(compA, authA, "access_token/refresh"), key: keyAuthzA, body: `{}`}),
		http.StatusBadRequest, wxtoken.EInvalid)
	wantError(t, e.get(t, authorizerPath(compA, authA, "tickets/agent_config"), keyAuthzA), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, authorizerPath(compA, authA, "tickets/bogus"), ""), http.StatusUnauthorized, wxtoken.EUnauthorized)
	if n := len(e.svc.Calls()); n != len(want) {
		t.Errorf("refused requests reached the service: %q", e.svc.Calls()[len(want):])
	}
}

// TestAuthorizerKeys: an authorizer's routes check the key against its
// AuthorizerID.
func TestAuthorizerKeys(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	tests := []struct {
		name, path, key string
		status          int
	}{
		{"granted the authorizer", authorizerPath(compA, authA, "access_token"), keyAuthzA, http.StatusOK},
		{"granted all", authorizerPath(compA, authB, "tickets/jsapi"), keyAll, http.StatusOK},
		{"no key", authorizerPath(compA, authA, "access_token"), "", http.StatusUnauthorized},
		{"another authorizer", authorizerPath(compA, authB, "access_token"), keyAuthzA, http.StatusForbidden},
		{"key of an app", authorizerPath(compA, authA, "access_token"), keyShop, http.StatusForbidden},
		{"admin not granted", authorizerPath(compA, authA, "access_token"), keyAdmin, http.StatusForbidden},
		{"unknown platform, granted all", authorizerPath(compNone, authA, "access_token"), keyAll, http.StatusNotFound},
		{"unknown platform, admin", authorizerPath(compNone, authA, "access_token"), keyAdmin, http.StatusNotFound},
		{"unknown platform, not granted", authorizerPath(compNone, authA, "access_token"), keyAuthzA, http.StatusForbidden},
		// An escaped ":" or "/" cannot make one authorizer's id another's.
		{"escaped colon", authorizerPath(compA, "wxa%3Ab", "access_token"), keyAll, http.StatusNotFound},
		{"escaped slash", authorizerPath(compA, "wxa%2Fb", "access_token"), keyAll, http.StatusNotFound},
		{"jssdk, another authorizer", authorizerPath(compA, authB, "jssdk_config?url=https%3A%2F%2Fa.example%2F"), keyAuthzA, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.get(t, tt.path, tt.key)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.status != http.StatusOK {
				wantError(t, a, tt.status, httpapi.CodeOf(tt.status))
			}
		})
	}
	wantCalls(t, "service", e.svc.Calls(), []string{"credential " + idAuthA + " access_token", "credential " + idAuthB + " jsapi"})
	if a := e.do(t, req{method: http.MethodPost, path: authorizerPath(compA, authB, "access_token/refresh"), key: keyAuthzA, body: `{"stale":"x"}`}); a.status != http.StatusForbidden {
		t.Errorf("refresh of another authorizer: %d %s", a.status, a.body)
	}
}

func TestAuthorizerServiceErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   wxtoken.Code
	}{
		{"removed", wxtoken.Errorf(wxtoken.ENotFound, "the account cancelled its authorization"), http.StatusNotFound, wxtoken.ENotFound},
		{"reauthorize", &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the account must authorize the platform again", WeChatErrCode: 61023}, http.StatusServiceUnavailable, wxtoken.EUnavailable},
		{"rate limited", wxtoken.Errorf(wxtoken.ERateLimited, "refresh asked too often"), http.StatusTooManyRequests, wxtoken.ERateLimited},
		{"invalid", wxtoken.Errorf(wxtoken.EInvalid, "bad"), http.StatusBadRequest, wxtoken.EInvalid},
		{"plain error", errors.New("bolt: broken"), http.StatusInternalServerError, wxtoken.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail := func() (wxtoken.Grant, error) { return wxtoken.Grant{}, tt.err }
			svc := &stub{
				credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return fail() },
				refresh:    func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) { return fail() },
			}
			e := newPlatformEnv(t, svc, &platformStub{})
			for _, q := range []req{
				{path: authorizerPath(compA, authA, "access_token"), key: keyAuthzA},
				{method: http.MethodPost, path: authorizerPath(compA, authA, "access_token/refresh"), key: keyAuthzA, body: `{"stale":"x"}`},
				{path: authorizerPath(compA, authA, "tickets/jsapi"), key: keyAuthzA},
				{path: authorizerPath(compA, authA, "jssdk_config?url="+url.QueryEscape("https://example.com/")), key: keyAuthzA},
			} {
				a := e.do(t, q)
				wantError(t, a, tt.status, tt.code)
				if strings.Contains(a.body, "bolt") {
					t.Errorf("an internal cause reached the caller: %s", a.body)
				}
			}
		})
	}
}

func TestAuthorizerUnusableGrantIsNotHandedOut(t *testing.T) {
	svc := &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
		return wxtoken.Grant{Value: "V", ExpiresIn: 500 * time.Millisecond, ExpiresAt: t0}, nil
	}}
	e := newPlatformEnv(t, svc, &platformStub{})
	wantError(t, e.get(t, authorizerPath(compA, authA, "access_token"), keyAuthzA), http.StatusServiceUnavailable, wxtoken.EUnavailable)
	wantError(t, e.get(t, platformPath(compA, "component_access_token"), keyComp), http.StatusServiceUnavailable, wxtoken.EUnavailable)
}

func TestAuthorizerJSSDKConfig(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	page := "https://shop.example.com/pay?order=42&from=menu"
	a := e.get(t, authorizerPath(compA, authA, "jssdk_config?url="+url.QueryEscape(page+"#top")), keyAuthzA)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var cfg jssdk.Config
	decode(t, a, &cfg)
	if cfg.AppID != authA || cfg.URL != page || cfg.Timestamp != t0.Unix() {
		t.Errorf("config = %+v", cfg)
	}
	if want := jssdk.Sign(value(idAuthA, wxtoken.KindJSAPITicket), cfg.NonceStr, cfg.Timestamp, page); cfg.Signature != want {
		t.Errorf("signature = %s, want %s", cfg.Signature, want)
	}
	wantCalls(t, "service", e.svc.Calls(), []string{"credential " + idAuthA + " jsapi"})
	for _, q := range []string{"", "?url=", "?url=" + url.QueryEscape("/relative"), "?url=https://a.example/?x=1&y=2"} {
		wantError(t, e.get(t, authorizerPath(compA, authA, "jssdk_config"+q), keyAuthzA), http.StatusBadRequest, wxtoken.EInvalid)
	}
	if n := len(e.svc.Calls()); n != 1 {
		t.Errorf("bad urls reached the service: %q", e.svc.Calls())
	}
}

// TestPlatformMetricsNameTheRoute: the platform routes are counted under
// their patterns, never their paths.
func TestPlatformMetricsNameTheRoute(t *testing.T) {
	e := newPlatformEnv(t, &stub{}, &platformStub{})
	e.get(t, authorizerPath(compA, authA, "access_token"), keyAuthzA)
	e.do(t, req{method: http.MethodPost, path: platformPath(compA, "events"), body: "<xml/>"})
	m := e.get(t, "/metrics", keyScraper)
	for _, want := range []string{
		`route="GET /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/access_token"`,
		`route="POST /v1/platforms/{component_appid}/events"`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m.body, authA) || strings.Contains(m.body, compA) {
		t.Errorf("metrics name an id")
	}
}
