package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// regSecret is the secret of every registration these tests send: no
// answer or log line may ever hold it.
const regSecret = "S3CR3T-4b1d9e0f7a2c6b8d"

// The WeCom agent of the registration tests.
const (
	regCorp  = "ww0123456789abcdef"
	regAgent = "1000002"
)

// registry records the calls of the test's wxtoken.Registrar and answers
// as the Registrar of a store would: the entry as registered, or err.
type registry struct {
	mu    sync.Mutex
	calls []string
	// regs are the Registrations that Register and Change were given.
	regs []wxtoken.Registration
	// err, when set, is every method's answer.
	err  error
	list []wxtoken.Registered
}

func (g *registry) record(call string, r *wxtoken.Registration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, call)
	if r != nil {
		g.regs = append(g.regs, *r)
	}
}

func (g *registry) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

func (g *registry) Regs() []wxtoken.Registration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]wxtoken.Registration(nil), g.regs...)
}

// registered is what a store would answer for r: its keys, never its
// secret, and a credential starting.
func registered(r wxtoken.Registration) wxtoken.Registered {
	f := wxtoken.FamilyApp
	if r.CorpID != "" {
		f = wxtoken.FamilyWeCom
	}
	return wxtoken.Registered{
		ID: r.ID(), Family: f, AppID: r.AppID, CorpID: r.CorpID, AgentID: r.AgentID, Name: r.Name,
		TokenAPI: r.TokenAPI, Tickets: r.Tickets, Tags: r.Tags, State: wxtoken.EntryActive,
		CreatedAt: t0, UpdatedAt: t0,
		Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateMissing}},
	}
}

func (g *registry) registrar() *mock.Registrar {
	return &mock.Registrar{
		RegisterFn: func(_ context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
			g.record("register "+r.ID(), &r)
			if g.err != nil {
				return wxtoken.Registered{}, g.err
			}
			return registered(r), nil
		},
		ChangeFn: func(_ context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
			g.record("change "+id, &r)
			if g.err != nil {
				return wxtoken.Registered{}, g.err
			}
			return registered(r), nil
		},
		UnregisterFn: func(_ context.Context, id string) error {
			g.record("unregister "+id, nil)
			return g.err
		},
		RegistrationsFn: func(_ context.Context, f wxtoken.Family) ([]wxtoken.Registered, error) {
			g.record("registrations "+string(f), nil)
			return g.list, g.err
		},
	}
}

func newRegistryEnv(t *testing.T, g *registry) *env {
	t.Helper()
	return newEnv(t, &stub{}, func(o *httpapi.Options) {
		if g != nil {
			o.Registrar = g.registrar()
		}
		// A configured agent, so that its credential routes are served
		// beside the registration routes of the same corp and agent.
		o.Apps = append(o.Apps, wxtoken.WeComID(regCorp, regAgent))
	})
}

// The registration routes share their paths' first segments with the
// credential routes; Go's ServeMux panics on patterns that conflict, so
// New succeeding is the first test, and each request below reaching the
// route it was meant for the second.
func TestRegistrationRoutesBesideTheCredentialRoutes(t *testing.T) {
	for _, withRegistrar := range []bool{true, false} {
		opts := httpapi.Options{Service: &mock.Service{}}
		if withRegistrar {
			opts.Registrar = &mock.Registrar{}
		}
		if _, err := httpapi.New(opts); err != nil {
			t.Fatalf("New (registrar %v): %v", withRegistrar, err)
		}
	}
	g := &registry{}
	e := newRegistryEnv(t, g)
	agentPath := "/v1/wecom/" + regCorp + "/" + regAgent
	for _, q := range []req{
		{method: http.MethodGet, path: "/v1/apps/" + appShop + "/access_token", key: keyAll},
		{method: http.MethodGet, path: agentPath + "/access_token", key: keyAll},
		{method: http.MethodGet, path: agentPath + "/tickets/jsapi", key: keyAll},
		{method: http.MethodGet, path: "/v1/apps", key: keyAdmin},
	} {
		if a := e.do(t, q); a.status != http.StatusOK {
			t.Errorf("%s %s: status %d, body %s", q.method, q.path, a.status, a.body)
		}
	}
	if calls := g.Calls(); len(calls) != 0 {
		t.Errorf("credential routes reached the registrar: %q", calls)
	}
	for _, q := range []req{
		{method: http.MethodPut, path: "/v1/apps/" + appShop, body: `{"name":"shop"}`},
		{method: http.MethodPut, path: agentPath, body: `{"name":"acme"}`},
		{method: http.MethodDelete, path: "/v1/apps/" + appShop},
		{method: http.MethodDelete, path: agentPath},
	} {
		q.key = keyAdmin
		if a := e.do(t, q); a.status != http.StatusOK && a.status != http.StatusNoContent {
			t.Errorf("%s %s: status %d, body %s", q.method, q.path, a.status, a.body)
		}
	}
	want := []string{"change " + appShop, "change " + regCorp + "/" + regAgent, "unregister " + appShop, "unregister " + regCorp + "/" + regAgent}
	if got := g.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	// GET /v1/apps keeps its shape: the status list, not registrations.
	a := e.get(t, "/v1/apps", keyAdmin)
	var apps httpapi.AppsResponse
	decode(t, a, &apps)
}

func TestRegisterApp(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	a := e.do(t, req{method: http.MethodPost, path: "/v1/apps", key: keyAdmin, body: `{"appid":"wxnew0000000000001","name":"shop","secret":"` + regSecret +
		`","token_api":"classic","tickets":["jsapi","wx_card"],"tags":["retail","cn"]}`})
	if a.status != http.StatusCreated {
		t.Fatalf("status %d, want 201; body %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got wxtoken.Registered
	decode(t, a, &got)
	if got.ID != "wxnew0000000000001" || got.Family != wxtoken.FamilyApp || got.Name != "shop" || got.TokenAPI != wxtoken.TokenAPIClassic ||
		!slices.Equal(got.Tickets, []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard}) || !slices.Equal(got.Tags, []string{"retail", "cn"}) ||
		got.State != wxtoken.EntryActive || !got.CreatedAt.Equal(t0) || len(got.Credentials) != 1 {
		t.Errorf("answer %+v", got)
	}
	regs := g.Regs()
	want := wxtoken.Registration{AppID: "wxnew0000000000001", Name: "shop", Secret: regSecret, TokenAPI: wxtoken.TokenAPIClassic,
		Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard}, Tags: []string{"retail", "cn"}}
	if len(regs) != 1 || fmt.Sprint(regs[0]) != fmt.Sprint(want) {
		t.Errorf("the registrar was given %+v, want %+v", regs, want)
	}
	if strings.Contains(a.body, regSecret) || strings.Contains(a.body, `"secret"`) {
		t.Errorf("the answer shows the secret: %s", a.body)
	}
}

func TestRegisterAgent(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	a := e.do(t, req{method: http.MethodPost, path: "/v1/wecom", key: keyAdmin, body: `{"corpid":"ww0000000000000001","agentid":"1000005","secret":"` + regSecret +
		`","tickets":["agent_config"]}`})
	if a.status != http.StatusCreated {
		t.Fatalf("status %d, want 201; body %s", a.status, a.body)
	}
	var got wxtoken.Registered
	decode(t, a, &got)
	if got.ID != "ww0000000000000001/1000005" || got.Family != wxtoken.FamilyWeCom || got.CorpID != "ww0000000000000001" || got.AgentID != "1000005" {
		t.Errorf("answer %+v", got)
	}
	// Lists the store left out are [], as everywhere else.
	if !strings.Contains(a.body, `"tags":[]`) {
		t.Errorf("tags not an empty list: %s", a.body)
	}
	if regs := g.Regs(); len(regs) != 1 || regs[0].ID() != "ww0000000000000001/1000005" || regs[0].Secret != regSecret || regs[0].AppID != "" {
		t.Errorf("the registrar was given %+v", regs)
	}
}

// A change names its entry by the path; the body may repeat the ids, and
// an empty secret keeps the stored one (the registrar is given "").
func TestChangeRegistrations(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	tests := []struct {
		path, body string
		want       wxtoken.Registration
	}{
		{"/v1/apps/wxchanged000000001", `{"name":"renamed","tickets":["jsapi"]}`,
			wxtoken.Registration{AppID: "wxchanged000000001", Name: "renamed", Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}}},
		{"/v1/apps/wxchanged000000001", `{"appid":"wxchanged000000001","secret":"` + regSecret + `","token_api":"stable"}`,
			wxtoken.Registration{AppID: "wxchanged000000001", Secret: regSecret, TokenAPI: wxtoken.TokenAPIStable}},
		{"/v1/wecom/ww0000000000000001/1000005", `{"tags":["hr"]}`,
			wxtoken.Registration{CorpID: "ww0000000000000001", AgentID: "1000005", Tags: []string{"hr"}}},
		{"/v1/wecom/ww0000000000000001/contacts", `{"corpid":"ww0000000000000001","agentid":"contacts","secret":"` + regSecret + `"}`,
			wxtoken.Registration{CorpID: "ww0000000000000001", AgentID: "contacts", Secret: regSecret}},
	}
	for i, tt := range tests {
		a := e.do(t, req{method: http.MethodPut, path: tt.path, key: keyAdmin, body: tt.body})
		if a.status != http.StatusOK {
			t.Fatalf("PUT %s: status %d, body %s", tt.path, a.status, a.body)
		}
		var got wxtoken.Registered
		decode(t, a, &got)
		if got.ID != tt.want.ID() {
			t.Errorf("PUT %s: answered %q", tt.path, got.ID)
		}
		regs := g.Regs()
		if len(regs) != i+1 || fmt.Sprint(regs[i]) != fmt.Sprint(tt.want) {
			t.Errorf("PUT %s: the registrar was given %+v, want %+v", tt.path, regs[len(regs)-1], tt.want)
		}
	}
	want := []string{"change wxchanged000000001", "change wxchanged000000001", "change ww0000000000000001/1000005", "change ww0000000000000001/contacts"}
	if got := g.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestUnregister(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	for _, path := range []string{"/v1/apps/wxgone0000000000001", "/v1/wecom/ww0000000000000001/1000005"} {
		a := e.do(t, req{method: http.MethodDelete, path: path, key: keyAdmin})
		if a.status != http.StatusNoContent || a.body != "" {
			t.Errorf("DELETE %s: status %d, body %q; want 204 and no body", path, a.status, a.body)
		}
	}
	want := []string{"unregister wxgone0000000000001", "unregister ww0000000000000001/1000005"}
	if got := g.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestListRegistrations(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	// No registrations is an empty list, not null.
	a := e.get(t, "/v1/registrations", keyAdmin)
	if a.status != http.StatusOK || strings.TrimSpace(a.body) != `{"registrations":[]}` {
		t.Errorf("empty listing: status %d, body %s", a.status, a.body)
	}
	g.list = []wxtoken.Registered{
		registered(wxtoken.Registration{AppID: "wxA", Name: "a"}),
		{ID: "ww1/2", Family: wxtoken.FamilyWeCom, CorpID: "ww1", AgentID: "2", State: wxtoken.EntryRemoved},
	}
	for _, q := range []string{"", "?family=app", "?family=wecom"} {
		a := e.get(t, "/v1/registrations"+q, keyAdmin)
		var got httpapi.RegistrationsResponse
		decode(t, a, &got)
		if a.status != http.StatusOK || len(got.Registrations) != 2 || got.Registrations[1].State != wxtoken.EntryRemoved ||
			got.Registrations[1].Tickets == nil || got.Registrations[1].Credentials == nil {
			t.Errorf("%s: status %d, %+v", q, a.status, got)
		}
	}
	want := []string{"registrations ", "registrations ", "registrations app", "registrations wecom"}
	if got := g.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	for _, q := range []string{"?family=component", "?family=", "?family=app&family=wecom", "?appid=wxA", "?family=%zz"} {
		wantError(t, e.get(t, "/v1/registrations"+q, keyAdmin), http.StatusBadRequest, wxtoken.EInvalid)
	}
	if n := len(g.Calls()); n != len(want) {
		t.Errorf("a bad query reached the registrar: %q", g.Calls())
	}
}

// registryRoutes are a request on each registration route, with a valid
// body where one is taken.
func registryRoutes() []req {
	return []req{
		{method: http.MethodPost, path: "/v1/apps", body: `{"appid":"wxA","secret":"` + regSecret + `"}`},
		{method: http.MethodPut, path: "/v1/apps/wxA", body: `{"secret":"` + regSecret + `"}`},
		{method: http.MethodDelete, path: "/v1/apps/wxA"},
		{method: http.MethodPost, path: "/v1/wecom", body: `{"corpid":"ww1","agentid":"2","secret":"` + regSecret + `"}`},
		{method: http.MethodPut, path: "/v1/wecom/ww1/2", body: `{"secret":"` + regSecret + `"}`},
		{method: http.MethodDelete, path: "/v1/wecom/ww1/2"},
		{method: http.MethodGet, path: "/v1/registrations"},
	}
}

// Only an admin key reaches the registrar: no key or an unknown one is
// 401, any other key 403, a "*" key included.
func TestRegistrationRoutesNeedAnAdminKey(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	for _, q := range registryRoutes() {
		t.Run(q.method+" "+q.path, func(t *testing.T) {
			wantError(t, e.do(t, q), http.StatusUnauthorized, wxtoken.EUnauthorized)
			q.key = keyUnknown
			wantError(t, e.do(t, q), http.StatusUnauthorized, wxtoken.EUnauthorized)
			for _, k := range []string{keyAll, keyShop, keyScraper} {
				q.key = k
				wantError(t, e.do(t, q), http.StatusForbidden, wxtoken.EForbidden)
			}
		})
	}
	if calls := g.Calls(); len(calls) != 0 {
		t.Errorf("keys that are not an admin's reached the registrar: %q", calls)
	}
}

// A server without a Registrar answers 404 on the registration routes,
// and says why, to an admin key; other keys are refused first.
func TestRegistrationRoutesWithoutRegistrar(t *testing.T) {
	e := newRegistryEnv(t, nil)
	for _, q := range registryRoutes() {
		q.key = keyAdmin
		body := wantError(t, e.do(t, q), http.StatusNotFound, wxtoken.ENotFound)
		if !strings.Contains(body.Message, "does not register") {
			t.Errorf("%s %s: message %q does not say why", q.method, q.path, body.Message)
		}
		q.key = keyAll
		wantError(t, e.do(t, q), http.StatusForbidden, wxtoken.EForbidden)
	}
}

// Bodies that cannot be a registration are 400 and never reach the
// registrar; the message says what is wrong without quoting the body.
func TestRegistrationBodies(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	big := `{"appid":"wxA","secret":"` + regSecret + `","tags":["` + strings.Repeat("t", httpapi.DefaultMaxBodyBytes) + `"]}`
	tests := []struct {
		name, method, path, body string
		contentType              string
		want                     string // in the message
	}{
		{"empty", "POST", "/v1/apps", "", "", "request body is empty"},
		{"not JSON", "POST", "/v1/apps", `{"appid":`, "", "not valid JSON"},
		{"an array", "POST", "/v1/apps", `[]`, "", "one JSON object"},
		{"trailing data", "POST", "/v1/apps", `{"appid":"wxA","secret":"` + regSecret + `"} {}`, "", "one JSON object"},
		{"unknown field", "POST", "/v1/apps", `{"appid":"wxA","secret":"` + regSecret + `","app_secret":"x"}`, "", "unknown field"},
		{"too large", "POST", "/v1/apps", big, "", "larger than 4096 bytes"},
		{"not JSON content", "POST", "/v1/apps", `{"appid":"wxA","secret":"` + regSecret + `"}`, "text/plain", "Content-Type"},
		{"tickets not a list", "POST", "/v1/apps", `{"appid":"wxA","secret":"` + regSecret + `","tickets":"jsapi"}`, "", "tickets holds a string where an array belongs"},
		{"a ticket not a string", "POST", "/v1/apps", `{"appid":"wxA","secret":"` + regSecret + `","tickets":[1]}`, "", "tickets holds a number where a string belongs"},
		{"secret not a string", "POST", "/v1/apps", `{"appid":"wxA","secret":12}`, "", "secret holds a number"},
		{"no appid", "POST", "/v1/apps", `{"secret":"` + regSecret + `"}`, "", "appid is required"},
		{"no secret", "POST", "/v1/apps", `{"appid":"wxA"}`, "", "secret is required"},
		{"an agent under apps", "POST", "/v1/apps", `{"corpid":"ww1","agentid":"2","secret":"` + regSecret + `"}`, "", "POST /v1/wecom"},
		{"appid with a slash", "POST", "/v1/apps", `{"appid":"ww1/2","secret":"` + regSecret + `"}`, "", "letters, digits"},
		{"appid with a colon", "POST", "/v1/apps", `{"appid":"wxC:wxA","secret":"` + regSecret + `"}`, "", "letters, digits"},
		{"another appid than the path's", "PUT", "/v1/apps/wxA", `{"appid":"wxB"}`, "", "differs from the path"},
		{"an agent's ids in an app's change", "PUT", "/v1/apps/wxA", `{"corpid":"ww1"}`, "", "no corpid"},
		{"no agentid", "POST", "/v1/wecom", `{"corpid":"ww1","secret":"` + regSecret + `"}`, "", "corpid and agentid are required"},
		{"an appid under wecom", "POST", "/v1/wecom", `{"appid":"wxA","corpid":"ww1","agentid":"2","secret":"` + regSecret + `"}`, "", "no appid"},
		{"agentid with a slash", "POST", "/v1/wecom", `{"corpid":"ww1","agentid":"2/3","secret":"` + regSecret + `"}`, "", "letters, digits"},
		{"no agent secret", "POST", "/v1/wecom", `{"corpid":"ww1","agentid":"2"}`, "", "secret is required"},
		{"another agent than the path's", "PUT", "/v1/wecom/ww1/2", `{"agentid":"3"}`, "", "differs from the path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := req{method: tt.method, path: tt.path, key: keyAdmin, body: tt.body}
			if tt.contentType != "" {
				q.header = map[string]string{"Content-Type": tt.contentType}
			}
			got := wantError(t, e.do(t, q), http.StatusBadRequest, wxtoken.EInvalid)
			if !strings.Contains(got.Message, tt.want) {
				t.Errorf("message %q lacks %q", got.Message, tt.want)
			}
			if strings.Contains(got.Message, regSecret) {
				t.Errorf("the message quotes the secret: %q", got.Message)
			}
		})
	}
	if calls := g.Calls(); len(calls) != 0 {
		t.Errorf("bad bodies reached the registrar: %q", calls)
	}
}

// An id in the path that no appid, corpid or agentid can be (an escaped
// "/" or ":" would make it another family's id) is 404 and never reaches
// the registrar.
func TestRegistrationPathIDs(t *testing.T) {
	g := &registry{}
	e := newRegistryEnv(t, g)
	for _, q := range []req{
		{method: http.MethodPut, path: "/v1/apps/ww1%2F2", body: `{"name":"x"}`},
		{method: http.MethodDelete, path: "/v1/apps/wxC%3AwxA"},
		{method: http.MethodPut, path: "/v1/wecom/ww1%2F2/3", body: `{"name":"x"}`},
		{method: http.MethodDelete, path: "/v1/wecom/ww1/2%2F3"},
	} {
		q.key = keyAdmin
		wantError(t, e.do(t, q), http.StatusNotFound, wxtoken.ENotFound)
	}
	if calls := g.Calls(); len(calls) != 0 {
		t.Errorf("ids of another family reached the registrar: %q", calls)
	}
}

// The registrar's errors are answered by the one error table: a config
// entry or an id registered already is 409.
func TestRegistrarErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   wxtoken.Code
	}{
		{wxtoken.Errorf(wxtoken.EConflict, "wxA comes from the configuration file: change it there"), http.StatusConflict, wxtoken.EConflict},
		{wxtoken.Errorf(wxtoken.ENotFound, "wxA is not registered"), http.StatusNotFound, wxtoken.ENotFound},
		{wxtoken.Errorf(wxtoken.EInvalid, "unknown token_api"), http.StatusBadRequest, wxtoken.EInvalid},
		{wxtoken.Errorf(wxtoken.EUnavailable, "the store cannot be written"), http.StatusServiceUnavailable, wxtoken.EUnavailable},
		{errors.New("bolt: disk full"), http.StatusInternalServerError, wxtoken.EInternal},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			g := &registry{err: tt.err}
			e := newRegistryEnv(t, g)
			for _, q := range registryRoutes() {
				q.key = keyAdmin
				got := wantError(t, e.do(t, q), tt.status, tt.code)
				if tt.code == wxtoken.EInternal && strings.Contains(got.Message, "disk full") {
					t.Errorf("%s %s: an internal error reached the caller: %q", q.method, q.path, got.Message)
				}
			}
			if n := len(g.Calls()); n != len(registryRoutes()) {
				t.Errorf("registrar called %d times, want %d", n, len(registryRoutes()))
			}
		})
	}
}

// The secret of a registration is in no answer and no log line, on
// success or failure, with the request log at debug level.
func TestRegistrationSecretNeverShown(t *testing.T) {
	for _, fail := range []error{nil, wxtoken.Errorf(wxtoken.EConflict, "registered already"), errors.New("store failed")} {
		g := &registry{err: fail}
		e := newRegistryEnv(t, g)
		var bodies []string
		send := func(q req) {
			q.key = keyAdmin
			a := e.do(t, q)
			bodies = append(bodies, fmt.Sprint(a.header)+a.body)
		}
		for _, q := range registryRoutes() {
			send(q)
		}
		// Refused bodies holding the secret, too.
		send(req{method: http.MethodPost, path: "/v1/apps", body: `{"appid":"wxA","secret":"` + regSecret + `","nope":1}`})
		send(req{method: http.MethodPost, path: "/v1/apps", body: `{"appid":"wxA","secret":"` + regSecret})
		send(req{method: http.MethodPut, path: "/v1/apps/wxA", body: `{"appid":"wxB","secret":"` + regSecret + `"}`})
		send(req{method: http.MethodPost, path: "/v1/wecom", body: `{"corpid":"ww1","agentid":"2","secret":"` + regSecret + `","tickets":"x"}`})
		for _, b := range bodies {
			if strings.Contains(b, regSecret) {
				t.Errorf("an answer shows the secret: %s", b)
			}
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "/v1/apps") {
			t.Fatalf("the requests were not logged, so the check below proves nothing:\n%s", logs)
		}
		if strings.Contains(logs, regSecret) {
			t.Errorf("the log shows the secret:\n%s", logs)
		}
		if fail == nil && len(g.Regs()) == 0 {
			t.Error("the registrar never got the secret: the test checked nothing")
		}
	}
}

// A registration's answer reaches the caller as the registrar made it:
// its times and credential states survive the JSON.
func TestRegisteredAnswerRoundTrips(t *testing.T) {
	exp := t0.Add(2 * time.Hour)
	g := &registry{list: []wxtoken.Registered{{
		ID: "wxA", Family: wxtoken.FamilyApp, AppID: "wxA", TokenAPI: wxtoken.TokenAPIStable,
		Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}, Tags: []string{"t"}, State: wxtoken.EntryActive,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
		Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &exp}},
	}}}
	e := newRegistryEnv(t, g)
	var got httpapi.RegistrationsResponse
	decode(t, e.get(t, "/v1/registrations?family=app", keyAdmin), &got)
	if len(got.Registrations) != 1 {
		t.Fatalf("got %+v", got)
	}
	r := got.Registrations[0]
	if !r.UpdatedAt.Equal(t0.Add(time.Minute)) || len(r.Credentials) != 1 || r.Credentials[0].ExpiresAt == nil || !r.Credentials[0].ExpiresAt.Equal(exp) {
		t.Errorf("got %+v", r)
	}
}
