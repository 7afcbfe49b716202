package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"go.yaml.in/yaml/v3"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/metrics"
)

// The ids of the OpenAPI test's server, beside appShop and appOther.
const (
	oaCorp     = "ww0123456789abcdef"
	oaAgent    = "1000002"
	oaComp     = "wxc0123456789abcde" // the configured platform
	oaCompNone = "wxc00000000000000f" // not a platform
	oaAuth     = "wxa0123456789abcde" // an authorizer of oaComp
	// Ids the mocks answer with an error: not found, registered already
	// (or from the configuration), refused as invalid.
	oaNobody = "wxnobody0000000000"
	oaTaken  = "wxtaken00000000000"
	oaBad    = "wxbad0000000000000"
)

// oaEnv is one server of the OpenAPI test.
type oaEnv struct {
	h   *httpapi.Handler
	srv *httptest.Server
}

// oaEnvs starts the servers that the cases run against:
//
//   - "full": every part present and working; an id among oaNobody,
//     oaTaken and oaBad, a stale value "hammer", a push with nonce "bad"
//     or an auth_code "expired" get the error they name (a quota clear
//     for oaTaken: none left this month);
//   - "bare": only a Service, without metrics, platforms, registry,
//     operator's routes, reload, retry or quota clears: those routes
//     answer 404;
//   - "down": every part present and failing as unavailable (503), and not
//     ready;
//   - "refused": a rekey in conflict and a reload whose file is refused.
func oaEnvs(t *testing.T) map[string]*oaEnv {
	t.Helper()
	full := oaOptions()
	bare := httpapi.Options{Service: full.Service, Clients: full.Clients, Apps: full.Apps, Now: full.Now}

	down := oaOptions()
	unavailable := &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat cannot be reached", Retry: 30 * time.Second}
	down.Service = &mock.Service{
		CredentialFn: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
			return wxtoken.Grant{}, unavailable
		},
		RefreshFn: func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) {
			return wxtoken.Grant{}, unavailable
		},
		NotReadyFn: func(context.Context) []string { return []string{"the shared store cannot be reached"} },
	}
	down.Platforms = &mock.Platforms{} // every method unavailable
	down.Registrar = &mock.Registrar{}
	down.Admin = &fakeAdmin{
		rekey: func(context.Context) (httpapi.RekeyResponse, error) { return httpapi.RekeyResponse{}, unavailable },
		backup: func(context.Context, io.Writer) (int64, error) {
			return 0, wxtoken.Errorf(wxtoken.EUnavailable, "the store is busy")
		},
	}
	down.Reloader = oaReloader(func(context.Context) (httpapi.ReloadResponse, error) {
		return httpapi.ReloadResponse{}, wxtoken.Errorf(wxtoken.EUnavailable, "the store is busy")
	})

	down.Retrier = oaRetrier(func(context.Context, string) error { return unavailable })
	down.Quotas = oaQuotas(func(context.Context, string) (httpapi.ClearQuotaResponse, error) {
		return httpapi.ClearQuotaResponse{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat refused the clear", WeChatErrCode: 40013}
	})

	refused := oaOptions()
	refused.Admin = &fakeAdmin{
		rekey: func(context.Context) (httpapi.RekeyResponse, error) {
			return httpapi.RekeyResponse{}, wxtoken.Errorf(wxtoken.EConflict, "the server has no encryption key")
		},
	}
	refused.Reloader = oaReloader(func(context.Context) (httpapi.ReloadResponse, error) {
		return httpapi.ReloadResponse{}, &httpapi.ReloadError{Problems: []string{"apps[0]: appid is required"}}
	})

	envs := make(map[string]*oaEnv)
	for name, opts := range map[string]httpapi.Options{"full": full, "bare": bare, "down": down, "refused": refused} {
		h, err := httpapi.New(opts)
		if err != nil {
			t.Fatalf("New (%s): %v", name, err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		envs[name] = &oaEnv{h: h, srv: srv}
	}
	return envs
}

// oaRetrier is a Retrier of one function.
type oaRetrier func(ctx context.Context, id string) error

func (f oaRetrier) RetryNow(ctx context.Context, id string) error { return f(ctx, id) }

// oaQuotas is a QuotaClearer of one function.
type oaQuotas func(ctx context.Context, appID string) (httpapi.ClearQuotaResponse, error)

func (f oaQuotas) ClearQuota(ctx context.Context, appID string) (httpapi.ClearQuotaResponse, error) {
	return f(ctx, appID)
}

// oaReloader is a Reloader of one function.
type oaReloader func(ctx context.Context) (httpapi.ReloadResponse, error)

func (f oaReloader) Reload(ctx context.Context) (httpapi.ReloadResponse, error) { return f(ctx) }

// oaOptions are the options of the "full" server.
func oaOptions() httpapi.Options {
	at := t0.Add(-time.Hour)
	credentials := []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &at, FetchedAt: &at, Version: 3}}
	svc := &mock.Service{
		CredentialFn: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			if strings.Contains(id, oaNobody) {
				return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "unknown authorizer")
			}
			return grant(id, kind), nil
		},
		RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
			switch {
			case stale == "hammer":
				return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.ERateLimited, Message: "refreshed a moment ago", Retry: 20 * time.Second}
			case strings.Contains(id, oaNobody):
				return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "unknown authorizer")
			}
			return grant(id, kind), nil
		},
		StatusFn: func(context.Context) []wxtoken.AppStatus {
			return []wxtoken.AppStatus{
				{AppID: appShop, Family: wxtoken.FamilyApp, Name: "shop", TokenAPI: wxtoken.TokenAPIStable, UpstreamCallsToday: 2, Credentials: credentials,
					Quota: &wxtoken.QuotaStatus{CGIPath: "/cgi-bin/stable_token", DailyLimit: 500000, Used: 17, Remain: 499983, CheckedAt: at}},
				{AppID: wxtoken.WeComID(oaCorp, oaAgent), Family: wxtoken.FamilyWeCom, CorpID: oaCorp, AgentID: oaAgent,
					TokenAPI: wxtoken.TokenAPIWeCom, BlockedUntil: &at, Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateMissing,
						LastError: &wxtoken.ErrorInfo{ErrCode: 40013, Class: "config", Message: "invalid corpid", Hint: "check corpid", At: at}}}},
				{AppID: wxtoken.AuthorizerID(oaComp, oaAuth), Family: wxtoken.FamilyAuthorizer, ComponentAppID: oaComp, AuthorizerAppID: oaAuth,
					TokenAPI: wxtoken.TokenAPIAuthorizer, Credentials: credentials},
			}
		},
	}
	registered := func(r wxtoken.Registration) wxtoken.Registered {
		fam := wxtoken.FamilyApp
		if r.CorpID != "" {
			fam = wxtoken.FamilyWeCom
		}
		return wxtoken.Registered{ID: r.ID(), Family: fam, AppID: r.AppID, CorpID: r.CorpID, AgentID: r.AgentID, Name: r.Name,
			TokenAPI: r.TokenAPI, Tickets: r.Tickets, Tags: r.Tags, State: wxtoken.EntryActive, CreatedAt: at, UpdatedAt: t0}
	}
	// byID answers the error an id names, if any.
	byID := func(id string) error {
		switch {
		case strings.Contains(id, oaNobody):
			return wxtoken.Errorf(wxtoken.ENotFound, "no such registered entry")
		case strings.Contains(id, oaTaken):
			return wxtoken.Errorf(wxtoken.EConflict, "registered already")
		case strings.Contains(id, oaBad):
			return wxtoken.Errorf(wxtoken.EInvalid, "the secret was refused by WeChat")
		}
		return nil
	}
	reg := &mock.Registrar{
		RegisterFn: func(_ context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
			if err := byID(r.ID()); err != nil {
				return wxtoken.Registered{}, err
			}
			return registered(r), nil
		},
		ChangeFn: func(_ context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
			if err := byID(id); err != nil {
				return wxtoken.Registered{}, err
			}
			return registered(r), nil
		},
		UnregisterFn: func(_ context.Context, id string) error { return byID(id) },
		RegistrationsFn: func(context.Context, wxtoken.Family) ([]wxtoken.Registered, error) {
			return []wxtoken.Registered{registered(wxtoken.Registration{AppID: "wxreg0000000000001", Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}})}, nil
		},
	}
	status := func(comp, app string) wxtoken.AuthorizerStatus {
		return wxtoken.AuthorizerStatus{ComponentAppID: comp, AuthorizerAppID: app, State: wxtoken.EntryActive, AuthorizedAt: at, UpdatedAt: t0, Credentials: credentials}
	}
	plat := &mock.Platforms{
		EventFn: func(_ context.Context, _ string, p wxtoken.Push) error {
			if p.Nonce == "bad" {
				return wxtoken.Errorf(wxtoken.EInvalid, "the push's signature does not match")
			}
			return nil
		},
		PreAuthURLFn: func(_ context.Context, comp, redirect, _ string) (string, error) {
			return "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=" + comp + "&pre_auth_code=x&redirect_uri=" + redirect, nil
		},
		AuthorizeFn: func(_ context.Context, comp, code string) (wxtoken.Grant, error) {
			if code == "expired" {
				return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.EInvalid, Message: "the auth_code has expired", WeChatErrCode: 61010}
			}
			return grant(wxtoken.AuthorizerID(comp, oaAuth), wxtoken.KindAccessToken), nil
		},
		ImportAuthorizerFn: func(_ context.Context, comp, app, token string) (wxtoken.AuthorizerStatus, error) {
			if err := byID(app); err != nil {
				return wxtoken.AuthorizerStatus{}, err
			}
			return status(comp, app), nil
		},
		AuthorizersFn: func(_ context.Context, comp string) ([]wxtoken.AuthorizerStatus, error) {
			return []wxtoken.AuthorizerStatus{status(comp, oaAuth)}, nil
		},
	}
	loaded := t0.Add(-24 * time.Hour)
	return httpapi.Options{
		Service:    svc,
		Clients:    testClients(),
		Apps:       []string{appShop, appOther, wxtoken.WeComID(oaCorp, oaAgent)},
		Metrics:    metrics.New(metrics.WithNow(func() time.Time { return t0 })),
		Now:        func() time.Time { return t0 },
		Replica:    "replica-1",
		Platforms:  plat,
		Components: []string{oaComp},
		Admin:      workingAdmin(),
		Registrar:  reg,
		Reloader: oaReloader(func(context.Context) (httpapi.ReloadResponse, error) {
			r := httpapi.ReloadResponse{Config: httpapi.ConfigInfo{LoadedAt: t0, Digest: "sha256:abc"}, Added: []string{appOther}}
			return r, nil
		}),
		Config: &httpapi.ConfigInfo{LoadedAt: loaded, Digest: "sha256:abc"},
		Retrier: oaRetrier(func(_ context.Context, id string) error {
			if strings.Contains(id, oaNobody) {
				return wxtoken.Errorf(wxtoken.ENotFound, "not kept by this server")
			}
			return nil
		}),
		Quotas: oaQuotas(func(_ context.Context, appID string) (httpapi.ClearQuotaResponse, error) {
			switch appID {
			case oaNobody:
				return httpapi.ClearQuotaResponse{}, wxtoken.Errorf(wxtoken.ENotFound, "not an app of this server")
			case oaTaken:
				return httpapi.ClearQuotaResponse{}, &wxtoken.Error{Code: wxtoken.ERateLimited, Message: "no quota clear left this month", WeChatErrCode: 48006}
			}
			left := 9
			return httpapi.ClearQuotaResponse{AppID: appID, ClearRemainingThisMonth: left, Quota: &wxtoken.QuotaStatus{
				CGIPath: "/cgi-bin/stable_token", DailyLimit: 500000, Remain: 500000, CheckedAt: t0, ClearRemainingThisMonth: &left}}, nil
		}),
	}
}

// oaCase is one request of the OpenAPI test and the status it must get.
type oaCase struct {
	env    string // the server (see oaEnvs); "" is "full"
	method string
	path   string // with the query
	key    string // "" sends no Authorization header
	body   string
	ctype  string // the body's Content-Type; application/json when empty
	status int
	// outside marks a request that breaks the description (no key where
	// one is needed, a required parameter or field missing...): the
	// description must reject it, and the server must still answer it as
	// the description says.
	outside bool
}

func (c oaCase) String() string {
	env := c.env
	if env == "" {
		env = "full"
	}
	return fmt.Sprintf("%s %s [%s, key %q] -> %d", c.method, c.path, env, keyName(c.key), c.status)
}

func keyName(key string) string {
	switch key {
	case keyShop:
		return "shop"
	case keyAll:
		return "all"
	case keyAdmin:
		return "admin"
	case keyScraper:
		return "scraper"
	case keyUnknown:
		return "unknown"
	}
	return key
}

// The refresh bodies.
const (
	staleBody  = `{"stale":"VALUE-old"}`
	hammerBody = `{"stale":"hammer"}`
)

// bigStale is a refresh body the description allows but the server
// refuses: larger than DefaultMaxBodyBytes.
var bigStale = `{"stale":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`

// credentialCases are the cases of a credential route: an access_token's
// or a ticket's GET, or its refresh's POST, at path, whose owner is
// granted to keyAll and not to grantless, unknown to keyAdmin at
// unknownPath, and failing in the "down" server. badType, when set, is the
// path of an unknown ticket type.
func credentialCases(refresh bool, path, unknownPath, grantless, badType string) []oaCase {
	method, body := http.MethodGet, ""
	if refresh {
		method, body = http.MethodPost, staleBody
	}
	cs := []oaCase{
		{method: method, path: path, key: keyAll, body: body, status: 200},
		{method: method, path: path, body: body, status: 401, outside: true},
		{method: method, path: path, key: keyUnknown, body: body, status: 401},
		{method: method, path: path, key: grantless, body: body, status: 403},
		{method: method, path: unknownPath, key: keyAdmin, body: body, status: 404},
		{env: "down", method: method, path: path, key: keyAll, body: body, status: 503},
	}
	if badType != "" {
		cs = append(cs, oaCase{method: method, path: badType, key: keyAll, body: body, status: 404})
	}
	if refresh {
		cs = append(cs,
			oaCase{method: method, path: path, key: keyAll, body: hammerBody, status: 429},
			oaCase{method: method, path: path, key: keyAll, body: bigStale, status: 400},
			oaCase{method: method, path: path, key: keyAll, body: `{}`, status: 400, outside: true},
			oaCase{method: method, path: path, key: keyAll, body: `{"stale":"v","more":1}`, status: 400, outside: true},
		)
	}
	return cs
}

// jssdkCases are the cases of a jssdk_config route at path (without the
// query), like credentialCases.
func jssdkCases(path, unknownPath, grantless string) []oaCase {
	const page = "?url=https%3A%2F%2Fshop.example.com%2Fpay%3Fid%3D1"
	return []oaCase{
		{method: http.MethodGet, path: path + page, key: keyAll, status: 200},
		{method: http.MethodGet, path: path, key: keyAll, status: 400, outside: true},
		{method: http.MethodGet, path: path + "?url=ftp%3A%2F%2Fx", key: keyAll, status: 400},
		{method: http.MethodGet, path: path + page + "&b=2", key: keyAll, status: 400},
		{method: http.MethodGet, path: path + page, status: 401, outside: true},
		{method: http.MethodGet, path: path + page, key: keyUnknown, status: 401},
		{method: http.MethodGet, path: path + page, key: grantless, status: 403},
		{method: http.MethodGet, path: unknownPath + page, key: keyAdmin, status: 404},
		{env: "down", method: http.MethodGet, path: path + page, key: keyAll, status: 503},
	}
}

// adminCases are the cases every admin route has: no key, an unknown
// key, a key that is not an admin's, and a server without the route's
// part (when bare is set).
func adminCases(method, path, body string, bare bool) []oaCase {
	cs := []oaCase{
		{method: method, path: path, body: body, status: 401, outside: true},
		{method: method, path: path, key: keyUnknown, body: body, status: 401},
		{method: method, path: path, key: keyAll, body: body, status: 403},
		{env: "down", method: method, path: path, key: keyAdmin, body: body, status: 503},
	}
	if bare {
		cs = append(cs, oaCase{env: "bare", method: method, path: path, key: keyAdmin, body: body, status: 404})
	}
	return cs
}

// oaCases drives every route and method with its answers.
func oaCases() []oaCase {
	var cs []oaCase
	add := func(more ...oaCase) { cs = append(cs, more...) }

	// An app's credentials.
	app, none := "/v1/apps/"+appShop, "/v1/apps/"+appNone
	add(credentialCases(false, app+"/access_token", none+"/access_token", keyScraper, "")...)
	add(credentialCases(true, app+"/access_token/refresh", none+"/access_token/refresh", keyScraper, "")...)
	add(credentialCases(false, app+"/tickets/jsapi", none+"/tickets/jsapi", keyScraper, app+"/tickets/nope")...)
	add(oaCase{method: http.MethodGet, path: app + "/tickets/wx_card", key: keyShop, status: 200})
	add(credentialCases(true, app+"/tickets/jsapi/refresh", none+"/tickets/jsapi/refresh", keyScraper, app+"/tickets/nope/refresh")...)
	add(jssdkCases(app+"/jssdk_config", none+"/jssdk_config", keyScraper)...)

	// A WeCom agent's.
	ag, agNone := "/v1/wecom/"+oaCorp+"/"+oaAgent, "/v1/wecom/"+oaCorp+"/9999999"
	add(credentialCases(false, ag+"/access_token", agNone+"/access_token", keyShop, "")...)
	add(credentialCases(true, ag+"/access_token/refresh", agNone+"/access_token/refresh", keyShop, "")...)
	add(credentialCases(false, ag+"/tickets/agent_config", agNone+"/tickets/agent_config", keyShop, ag+"/tickets/wx_card")...)
	add(credentialCases(true, ag+"/tickets/jsapi/refresh", agNone+"/tickets/jsapi/refresh", keyShop, ag+"/tickets/wx_card/refresh")...)
	add(jssdkCases(ag+"/jssdk_config", agNone+"/jssdk_config", keyShop)...)

	// A platform's authorizer's.
	au := "/v1/platforms/" + oaComp + "/authorizers/" + oaAuth
	auNone := "/v1/platforms/" + oaCompNone + "/authorizers/" + oaAuth
	add(credentialCases(false, au+"/access_token", auNone+"/access_token", keyShop, "")...)
	add(oaCase{method: http.MethodGet, path: "/v1/platforms/" + oaComp + "/authorizers/" + oaNobody + "/access_token", key: keyAll, status: 404})
	add(oaCase{env: "bare", method: http.MethodGet, path: au + "/access_token", key: keyAll, status: 404})
	add(credentialCases(true, au+"/access_token/refresh", auNone+"/access_token/refresh", keyShop, "")...)
	add(credentialCases(false, au+"/tickets/wx_card", auNone+"/tickets/wx_card", keyShop, au+"/tickets/agent_config")...)
	add(credentialCases(true, au+"/tickets/jsapi/refresh", auNone+"/tickets/jsapi/refresh", keyShop, au+"/tickets/nope/refresh")...)
	add(jssdkCases(au+"/jssdk_config", auNone+"/jssdk_config", keyShop)...)

	// A platform's own routes.
	pl, plNone := "/v1/platforms/"+oaComp, "/v1/platforms/"+oaCompNone
	add(credentialCases(false, pl+"/component_access_token", plNone+"/component_access_token", keyShop, "")...)
	add(oaCase{env: "bare", method: http.MethodGet, path: pl + "/component_access_token", key: keyAll, status: 404})
	const redirect = "?redirect_uri=https%3A%2F%2Fshop.example.com%2Fauthorized&auth_type=3"
	add(oaCase{method: http.MethodGet, path: pl + "/preauth_url" + redirect, key: keyAll, status: 200},
		oaCase{method: http.MethodGet, path: pl + "/preauth_url", key: keyAll, status: 400, outside: true},
		oaCase{method: http.MethodGet, path: pl + "/preauth_url?redirect_uri=%2Frelative", key: keyAll, status: 400},
		oaCase{method: http.MethodGet, path: pl + "/preauth_url" + redirect, status: 401, outside: true},
		oaCase{method: http.MethodGet, path: pl + "/preauth_url" + redirect, key: keyUnknown, status: 401},
		oaCase{method: http.MethodGet, path: pl + "/preauth_url" + redirect, key: keyShop, status: 403},
		oaCase{method: http.MethodGet, path: plNone + "/preauth_url" + redirect, key: keyAdmin, status: 404},
		oaCase{env: "down", method: http.MethodGet, path: pl + "/preauth_url" + redirect, key: keyAll, status: 503})
	const code = `{"auth_code":"queryauthcode@@@x"}`
	add(oaCase{method: http.MethodPost, path: pl + "/authorizations", key: keyAll, body: code, status: 200},
		oaCase{method: http.MethodPost, path: pl + "/authorizations", key: keyAll, body: `{"auth_code":"expired"}`, status: 400},
		oaCase{method: http.MethodPost, path: pl + "/authorizations", key: keyAll, body: `{}`, status: 400, outside: true},
		oaCase{method: http.MethodPost, path: pl + "/authorizations", body: code, status: 401, outside: true},
		oaCase{method: http.MethodPost, path: pl + "/authorizations", key: keyUnknown, body: code, status: 401},
		oaCase{method: http.MethodPost, path: pl + "/authorizations", key: keyShop, body: code, status: 403},
		oaCase{method: http.MethodPost, path: plNone + "/authorizations", key: keyAdmin, body: code, status: 404},
		oaCase{env: "down", method: http.MethodPost, path: pl + "/authorizations", key: keyAll, body: code, status: 503})
	add(oaCase{method: http.MethodGet, path: pl + "/authorizers", key: keyAdmin, status: 200},
		oaCase{method: http.MethodGet, path: plNone + "/authorizers", key: keyAdmin, status: 404},
		oaCase{env: "bare", method: http.MethodGet, path: pl + "/authorizers", key: keyAdmin, status: 404})
	add(adminCases(http.MethodGet, pl+"/authorizers", "", false)...)
	imp := func(app string) string {
		return `{"authorizer_appid":"` + app + `","refresh_token":"refreshtoken@@@x"}`
	}
	add(oaCase{method: http.MethodPost, path: pl + "/authorizers", key: keyAdmin, body: imp(oaAuth), status: 200},
		oaCase{method: http.MethodPost, path: pl + "/authorizers", key: keyAdmin, body: imp(oaBad), status: 400},
		oaCase{method: http.MethodPost, path: pl + "/authorizers", key: keyAdmin, body: imp("wx:a"), status: 400, outside: true},
		oaCase{method: http.MethodPost, path: pl + "/authorizers", key: keyAdmin, body: imp(oaTaken), status: 409},
		oaCase{method: http.MethodPost, path: plNone + "/authorizers", key: keyAdmin, body: imp(oaAuth), status: 404})
	add(adminCases(http.MethodPost, pl+"/authorizers", imp(oaAuth), false)...)
	ev := pl + "/events?timestamp=1700000000&nonce=n1&encrypt_type=aes&msg_signature=abc"
	const push = "<xml><AppId>x</AppId><Encrypt>y</Encrypt></xml>"
	add(oaCase{method: http.MethodPost, path: ev, body: push, ctype: "text/xml", status: 200},
		oaCase{method: http.MethodPost, path: strings.Replace(ev, "nonce=n1", "nonce=bad", 1), body: push, ctype: "text/xml", status: 400},
		oaCase{method: http.MethodPost, path: plNone + "/events", body: push, ctype: "text/xml", status: 404},
		oaCase{env: "bare", method: http.MethodPost, path: ev, body: push, ctype: "text/xml", status: 404},
		oaCase{method: http.MethodPost, path: ev, body: strings.Repeat("x", httpapi.MaxEventBytes+1), ctype: "text/xml", status: 413},
		oaCase{env: "down", method: http.MethodPost, path: ev, body: push, ctype: "text/xml", status: 503})

	// Status, registry and the operator's routes.
	add(oaCase{method: http.MethodGet, path: "/v1/apps", key: keyAdmin, status: 200},
		oaCase{method: http.MethodGet, path: "/v1/apps", status: 401, outside: true},
		oaCase{method: http.MethodGet, path: "/v1/apps", key: keyUnknown, status: 401},
		oaCase{method: http.MethodGet, path: "/v1/apps", key: keyAll, status: 403})
	appReg := func(id string) string {
		return `{"appid":"` + id + `","secret":"s3cret","name":"shop","token_api":"stable","tickets":["jsapi"],"tags":["retail"]}`
	}
	add(oaCase{method: http.MethodPost, path: "/v1/apps", key: keyAdmin, body: appReg("wxnew0000000000001"), status: 201},
		oaCase{method: http.MethodPost, path: "/v1/apps", key: keyAdmin, body: appReg(oaBad), status: 400},
		oaCase{method: http.MethodPost, path: "/v1/apps", key: keyAdmin, body: `{"appid":"wxnew0000000000001"}`, status: 400, outside: true},
		oaCase{method: http.MethodPost, path: "/v1/apps", key: keyAdmin, body: appReg(oaTaken), status: 409})
	add(adminCases(http.MethodPost, "/v1/apps", appReg("wxnew0000000000001"), true)...)
	const change = `{"name":"shop 2","tickets":["jsapi","wx_card"]}`
	add(oaCase{method: http.MethodPut, path: "/v1/apps/wxreg0000000000001", key: keyAdmin, body: change, status: 200},
		oaCase{method: http.MethodPut, path: "/v1/apps/wxreg0000000000001", key: keyAdmin, body: `{"appid":"wxother000000000001"}`, status: 400},
		oaCase{method: http.MethodPut, path: "/v1/apps/wxreg0000000000001", key: keyAdmin, body: `{"corpid":"ww1"}`, status: 400, outside: true},
		oaCase{method: http.MethodPut, path: "/v1/apps/" + oaNobody, key: keyAdmin, body: change, status: 404},
		oaCase{method: http.MethodPut, path: "/v1/apps/" + oaTaken, key: keyAdmin, body: change, status: 409})
	add(adminCases(http.MethodPut, "/v1/apps/wxreg0000000000001", change, true)...)
	add(oaCase{method: http.MethodDelete, path: "/v1/apps/wxreg0000000000001", key: keyAdmin, status: 204},
		oaCase{method: http.MethodDelete, path: "/v1/apps/" + oaNobody, key: keyAdmin, status: 404},
		oaCase{method: http.MethodDelete, path: "/v1/apps/" + oaTaken, key: keyAdmin, status: 409})
	add(adminCases(http.MethodDelete, "/v1/apps/wxreg0000000000001", "", true)...)
	agReg := func(agent string) string {
		return `{"corpid":"` + oaCorp + `","agentid":"` + agent + `","secret":"s3cret","tickets":["jsapi","agent_config"],"tags":["hr"]}`
	}
	add(oaCase{method: http.MethodPost, path: "/v1/wecom", key: keyAdmin, body: agReg("1000005"), status: 201},
		oaCase{method: http.MethodPost, path: "/v1/wecom", key: keyAdmin, body: agReg(oaBad), status: 400},
		oaCase{method: http.MethodPost, path: "/v1/wecom", key: keyAdmin, body: `{"corpid":"` + oaCorp + `"}`, status: 400, outside: true},
		oaCase{method: http.MethodPost, path: "/v1/wecom", key: keyAdmin, body: agReg(oaTaken), status: 409})
	add(adminCases(http.MethodPost, "/v1/wecom", agReg("1000005"), true)...)
	const agChange = `{"name":"hr","tickets":["jsapi"]}`
	wc := "/v1/wecom/" + oaCorp + "/1000005"
	add(oaCase{method: http.MethodPut, path: wc, key: keyAdmin, body: agChange, status: 200},
		oaCase{method: http.MethodPut, path: wc, key: keyAdmin, body: `{"agentid":"1000006"}`, status: 400},
		oaCase{method: http.MethodPut, path: wc, key: keyAdmin, body: `{"appid":"wx1"}`, status: 400, outside: true},
		oaCase{method: http.MethodPut, path: "/v1/wecom/" + oaCorp + "/" + oaNobody, key: keyAdmin, body: agChange, status: 404},
		oaCase{method: http.MethodPut, path: "/v1/wecom/" + oaCorp + "/" + oaTaken, key: keyAdmin, body: agChange, status: 409})
	add(adminCases(http.MethodPut, wc, agChange, true)...)
	add(oaCase{method: http.MethodDelete, path: wc, key: keyAdmin, status: 204},
		oaCase{method: http.MethodDelete, path: "/v1/wecom/" + oaCorp + "/" + oaNobody, key: keyAdmin, status: 404},
		oaCase{method: http.MethodDelete, path: "/v1/wecom/" + oaCorp + "/" + oaTaken, key: keyAdmin, status: 409})
	add(adminCases(http.MethodDelete, wc, "", true)...)
	add(oaCase{method: http.MethodGet, path: "/v1/registrations", key: keyAdmin, status: 200},
		oaCase{method: http.MethodGet, path: "/v1/registrations?family=wecom", key: keyAdmin, status: 200},
		oaCase{method: http.MethodGet, path: "/v1/registrations?family=all", key: keyAdmin, status: 400, outside: true},
		oaCase{method: http.MethodGet, path: "/v1/registrations?kind=app", key: keyAdmin, status: 400})
	add(adminCases(http.MethodGet, "/v1/registrations", "", true)...)
	add(oaCase{method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin, status: 200},
		oaCase{env: "refused", method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin, status: 409})
	add(adminCases(http.MethodPost, "/v1/admin/rekey", "", true)...)
	add(oaCase{method: http.MethodGet, path: "/v1/admin/backup", key: keyAdmin, status: 200})
	add(adminCases(http.MethodGet, "/v1/admin/backup", "", true)...)
	add(oaCase{method: http.MethodPost, path: "/v1/admin/reload", key: keyAdmin, status: 200},
		oaCase{env: "refused", method: http.MethodPost, path: "/v1/admin/reload", key: keyAdmin, status: 400})
	add(adminCases(http.MethodPost, "/v1/admin/reload", "", true)...)

	// The operator's actions on one entry.
	for _, p := range []struct{ path, nobody string }{
		{"/v1/apps/" + appShop + "/retry", "/v1/apps/" + oaNobody + "/retry"},
		{ag + "/retry", "/v1/wecom/" + oaCorp + "/" + oaNobody + "/retry"},
		{au + "/retry", "/v1/platforms/" + oaComp + "/authorizers/" + oaNobody + "/retry"},
	} {
		add(oaCase{method: http.MethodPost, path: p.path, key: keyAdmin, status: 200},
			oaCase{method: http.MethodPost, path: p.nobody, key: keyAdmin, status: 404})
		add(adminCases(http.MethodPost, p.path, "", true)...)
	}
	cq := "/v1/apps/" + appShop + "/clear_quota"
	add(oaCase{method: http.MethodPost, path: cq, key: keyAdmin, status: 200},
		oaCase{method: http.MethodPost, path: "/v1/apps/" + oaNobody + "/clear_quota", key: keyAdmin, status: 404},
		oaCase{method: http.MethodPost, path: "/v1/apps/" + oaTaken + "/clear_quota", key: keyAdmin, status: 429})
	add(adminCases(http.MethodPost, cq, "", true)...)

	// Operations.
	add(oaCase{method: http.MethodGet, path: "/healthz", status: 200},
		oaCase{method: http.MethodGet, path: "/readyz", status: 200},
		oaCase{method: http.MethodGet, path: "/readyz", key: keyAdmin, status: 200},
		oaCase{method: http.MethodGet, path: "/readyz", key: keyShop, status: 200},
		oaCase{method: http.MethodGet, path: "/readyz", key: keyUnknown, status: 401},
		oaCase{env: "down", method: http.MethodGet, path: "/readyz", status: 503},
		oaCase{env: "down", method: http.MethodGet, path: "/readyz", key: keyAdmin, status: 503},
		oaCase{method: http.MethodGet, path: "/metrics", key: keyScraper, status: 200},
		oaCase{method: http.MethodGet, path: "/metrics", status: 401, outside: true},
		oaCase{method: http.MethodGet, path: "/metrics", key: keyUnknown, status: 401},
		oaCase{env: "bare", method: http.MethodGet, path: "/metrics", key: keyScraper, status: 404},
		oaCase{method: http.MethodGet, path: "/openapi.json", status: 200})
	return cs
}

// bearer is the description's check of the clientKey scheme: a request
// meets it by carrying "Authorization: Bearer <something>". Whether the
// key is known is the server's business (401).
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "clientKey" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	scheme, key, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return errors.New("no bearer key")
	}
	return nil
}

// loadDescription loads the description that GET /openapi.json serves,
// checks it and returns it with a router over its paths.
func loadDescription(t *testing.T, srv *httptest.Server) (*openapi3.T, routers.Router) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("loading the served description: %v", err)
	}
	if doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("the description is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the description is not valid OpenAPI: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return doc, router
}

// TestOpenAPI drives every route of the API, with every method it
// serves, to its success and error answers, and checks each request and
// each answer against the OpenAPI description: a request the description
// allows must be allowed and one it does not must not, and every answer's
// status, headers and body must be one the description gives the route.
// It then checks that every status the description gives a route
// (but 500, a bug or a store failure) was seen.
func TestOpenAPI(t *testing.T) {
	envs := oaEnvs(t)
	_, router := loadDescription(t, envs["full"].srv)
	seen := make(map[string]map[int]bool) // "METHOD /path/{template}" -> statuses
	for _, c := range oaCases() {
		env := envs[c.env]
		if c.env == "" {
			env = envs["full"]
		}
		route, status := checkCase(t, env, router, c)
		if route == "" {
			continue
		}
		if seen[route] == nil {
			seen[route] = make(map[int]bool)
		}
		seen[route][status] = true
	}

	// Every operation of the description, every status it declares.
	doc, _ := loadDescription(t, envs["full"].srv)
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			route := method + " " + path
			for code := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status", route, code)
					continue
				}
				if status != http.StatusInternalServerError && !seen[route][status] {
					t.Errorf("%s: no case gets its %d", route, status)
				}
			}
		}
	}
}

// checkCase sends c to env, checks the request and the answer against the
// description, and returns the description's route ("METHOD /template")
// and the status seen; "" when the case failed.
func checkCase(t *testing.T, env *oaEnv, router routers.Router, c oaCase) (string, int) {
	t.Helper()
	newRequest := func(base string) *http.Request {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		r, err := http.NewRequest(c.method, base+c.path, body)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if c.key != "" {
			r.Header.Set("Authorization", "Bearer "+c.key)
		}
		if c.body != "" {
			ct := c.ctype
			if ct == "" {
				ct = "application/json"
			}
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	resp, err := env.srv.Client().Do(newRequest(env.srv.URL))
	if err != nil {
		t.Errorf("%v: %v", c, err)
		return "", 0
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Errorf("%v: reading the answer: %v", c, err)
		return "", 0
	}
	if resp.StatusCode != c.status {
		t.Errorf("%v: got %d: %s", c, resp.StatusCode, truncate(body))
		return "", 0
	}

	vreq := newRequest("http://wxtoken.test")
	route, pathParams, err := router.FindRoute(vreq)
	if err != nil {
		t.Errorf("%v: the description has no such route: %v", c, err)
		return "", 0
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: bearer,
			// No body decoder reads WeChat's XML pushes: their body is
			// checked by the server alone.
			ExcludeRequestBody: c.ctype == "text/xml",
			MultiError:         true,
		},
	}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.outside && err == nil:
		t.Errorf("%v: the description allows a request meant to break it", c)
	case !c.outside && err != nil:
		t.Errorf("%v: the description refuses the request: %v", c, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%v: the answer is not as described: %v\nbody: %s", c, err, truncate(body))
	}
	return route.Method + " " + route.Path, resp.StatusCode
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestOpenAPIRoutes: the routes the Handler registers are the operations
// of the description, both ways, and RoutePaths its paths; a route added
// without its description, or described but not served, fails here.
func TestOpenAPIRoutes(t *testing.T) {
	envs := oaEnvs(t)
	doc, _ := loadDescription(t, envs["full"].srv)
	var described, paths []string
	for path, item := range doc.Paths.Map() {
		paths = append(paths, path)
		for method := range item.Operations() {
			described = append(described, method+" "+path)
		}
	}
	registered := envs["full"].h.Patterns()
	slices.Sort(described)
	slices.Sort(registered)
	for _, p := range registered {
		if !slices.Contains(described, p) {
			t.Errorf("route %s is served but not described in openapi.yaml", p)
		}
	}
	for _, p := range described {
		if !slices.Contains(registered, p) {
			t.Errorf("%s is described in openapi.yaml but not served", p)
		}
	}
	routePaths := httpapi.RoutePaths()
	slices.Sort(routePaths)
	slices.Sort(paths)
	if !slices.Equal(routePaths, paths) {
		t.Errorf("RoutePaths() = %v\nthe description's paths = %v", routePaths, paths)
	}
	// Every route is driven by TestOpenAPI's cases.
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	driven := make(map[string]bool)
	for _, c := range oaCases() {
		r, err := http.NewRequest(c.method, "http://wxtoken.test"+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if route, _, err := router.FindRoute(r); err == nil {
			driven[route.Method+" "+route.Path] = true
		}
	}
	for _, p := range described {
		if !driven[p] {
			t.Errorf("no case of TestOpenAPI drives %s", p)
		}
	}
}

// TestOpenAPIServed: GET /openapi.json is the YAML description as JSON,
// needs no key and is not cached; docs/openapi.yaml is the same file.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	got := e.get(t, "/openapi.json", "")
	if got.status != http.StatusOK {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	wantJSON(t, got)
	if cc := got.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var served any
	if err := json.Unmarshal([]byte(got.body), &served); err != nil {
		t.Fatal(err)
	}
	var written any
	if err := yaml.Unmarshal(httpapi.OpenAPIYAML(), &written); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so that both hold the same Go types.
	b, err := json.Marshal(written)
	if err != nil {
		t.Fatalf("the YAML has a key that is not a string (quote statuses): %v", err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(served, want) {
		t.Error("GET /openapi.json differs from openapi.yaml")
	}
	if !strings.HasPrefix(got.body, `{"openapi":"3.1.0","info":`) {
		t.Errorf("the JSON does not keep the YAML's order: %.60s", got.body)
	}

	docs, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, httpapi.OpenAPIYAML()) {
		t.Error("docs/openapi.yaml differs from httpapi/openapi.yaml, the source: cp httpapi/openapi.yaml docs/openapi.yaml")
	}
}

// TestOpenAPIValidationBites: the checks TestOpenAPI relies on refuse an
// answer that strays from the description, so that its passing means
// something: an unknown field, a missing one, an undeclared status, an
// error code that is not its status's, a required header missing.
func TestOpenAPIValidationBites(t *testing.T) {
	envs := oaEnvs(t)
	_, router := loadDescription(t, envs["full"].srv)
	r, err := http.NewRequest(http.MethodGet, "http://wxtoken.test/v1/apps/"+appShop+"/access_token", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+keyShop)
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearer}}
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, c := range []struct {
		name   string
		status int
		body   string
		valid  bool
	}{
		{"the real shape", 200, `{"appid":"wx1","access_token":"T","expires_in":7000,"expires_at":"2025-03-01T13:56:40Z"}`, true},
		{"an unknown field", 200, `{"appid":"wx1","access_token":"T","expires_in":7000,"expires_at":"2025-03-01T13:56:40Z","x":1}`, false},
		{"a missing field", 200, `{"appid":"wx1","access_token":"T","expires_in":7000}`, false},
		{"a lifetime under a second", 200, `{"appid":"wx1","access_token":"T","expires_in":0,"expires_at":"2025-03-01T13:56:40Z"}`, false},
		{"an undeclared status", 409, `{"error":{"code":"conflict","message":"m"}}`, false},
		{"an unknown error code", 404, `{"error":{"code":"gone","message":"m"}}`, false},
		{"the code of another status", 404, `{"error":{"code":"forbidden","message":"m"}}`, false},
		{"an error of its status", 404, `{"error":{"code":"not_found","message":"m"}}`, true},
		{"a 401 without WWW-Authenticate", 401, `{"error":{"code":"unauthorized","message":"m"}}`, false},
	} {
		err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: c.status, Header: hdr, Body: io.NopCloser(strings.NewReader(c.body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		})
		if (err == nil) != c.valid {
			t.Errorf("%s: valid = %v, want %v (%v)", c.name, err == nil, c.valid, err)
		}
	}
}
