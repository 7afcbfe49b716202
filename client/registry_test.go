package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// registrarLog records what the server's Registrar was asked.
type registrarLog struct {
	mu    sync.Mutex
	calls []string
	regs  []wxtoken.Registration
}

func (l *registrarLog) add(call string, r *wxtoken.Registration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call)
	if r != nil {
		l.regs = append(l.regs, *r)
	}
}

func (l *registrarLog) snapshot() ([]string, []wxtoken.Registration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...), append([]wxtoken.Registration(nil), l.regs...)
}

// entryOf is the server's answer for r.
func entryOf(r wxtoken.Registration) wxtoken.Registered {
	f := wxtoken.FamilyApp
	if r.CorpID != "" {
		f = wxtoken.FamilyWeCom
	}
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	return wxtoken.Registered{ID: r.ID(), Family: f, AppID: r.AppID, CorpID: r.CorpID, AgentID: r.AgentID, Name: r.Name,
		TokenAPI: r.TokenAPI, Tickets: r.Tickets, Tags: r.Tags, State: wxtoken.EntryActive, CreatedAt: at, UpdatedAt: at}
}

// registryServer is the server's real HTTP API over a mock Registrar
// that knows the app wxconf000000000001 from its configuration file and
// nothing else.
func registryServer(t *testing.T) (string, *registrarLog) {
	t.Helper()
	h, l := registryHandler()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL, l
}

// registryHandler is registryServer's handler, and the log of its
// Registrar.
func registryHandler() (http.Handler, *registrarLog) {
	const configured = "wxconf000000000001"
	l := &registrarLog{}
	reg := &mock.Registrar{
		RegisterFn: func(_ context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
			l.add("register "+r.ID(), &r)
			if r.ID() == configured {
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EConflict, "%s comes from the configuration file", configured)
			}
			return entryOf(r), nil
		},
		ChangeFn: func(_ context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
			l.add("change "+id, &r)
			if id == "wxmissing00000000001" {
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.ENotFound, "%s is not registered", id)
			}
			return entryOf(r), nil
		},
		UnregisterFn: func(_ context.Context, id string) error {
			l.add("unregister "+id, nil)
			if id == configured {
				return wxtoken.Errorf(wxtoken.EConflict, "%s comes from the configuration file", configured)
			}
			return nil
		},
		RegistrationsFn: func(_ context.Context, f wxtoken.Family) ([]wxtoken.Registered, error) {
			l.add("registrations "+string(f), nil)
			all := []wxtoken.Registered{
				entryOf(wxtoken.Registration{AppID: "wxA"}),
				entryOf(wxtoken.Registration{CorpID: "ww1", AgentID: "2"}),
			}
			var out []wxtoken.Registered
			for _, r := range all {
				if f == "" || r.Family == f {
					out = append(out, r)
				}
			}
			return out, nil
		},
	}
	h, err := httpapi.New(httpapi.Options{
		Service:   &mock.Service{},
		Registrar: reg,
		Clients: []clientkey.Client{
			{Name: "ops", KeySHA256: hexSHA(opsKey), Admin: true},
			{Name: "shop", KeySHA256: hexSHA(shopKey), Apps: []string{"*"}},
		},
	})
	if err != nil {
		panic(err) // the options above are fixed: only a bug gets here
	}
	return h, l
}

func TestRegisterAndChange(t *testing.T) {
	base, l := registryServer(t)
	c := newOpsClient(t, base, opsKey)
	ctx := t.Context()

	app := wxtoken.Registration{AppID: "wxnew0000000000001", Name: "shop", Secret: "app-secret", TokenAPI: wxtoken.TokenAPIStable,
		Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}, Tags: []string{"retail"}}
	got, err := c.Register(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != app.AppID || got.Family != wxtoken.FamilyApp || got.Name != "shop" || !slices.Equal(got.Tags, []string{"retail"}) || got.State != wxtoken.EntryActive {
		t.Errorf("Register = %+v", got)
	}
	agent := wxtoken.Registration{CorpID: "ww0000000000000001", AgentID: "1000005", Secret: "agent-secret"}
	if got, err := c.Register(ctx, agent); err != nil || got.ID != "ww0000000000000001/1000005" || got.Family != wxtoken.FamilyWeCom {
		t.Errorf("Register(agent) = %+v, %v", got, err)
	}
	// A change names the entry by its id; the body need not repeat it,
	// and an empty secret keeps the stored one.
	if got, err := c.Change(ctx, app.AppID, wxtoken.Registration{Name: "renamed"}); err != nil || got.ID != app.AppID || got.Name != "renamed" {
		t.Errorf("Change = %+v, %v", got, err)
	}
	if got, err := c.Change(ctx, "ww0000000000000001/1000005", wxtoken.Registration{Tags: []string{"hr"}}); err != nil || got.ID != "ww0000000000000001/1000005" {
		t.Errorf("Change(agent) = %+v, %v", got, err)
	}
	calls, regs := l.snapshot()
	wantCalls := []string{"register wxnew0000000000001", "register ww0000000000000001/1000005", "change wxnew0000000000001", "change ww0000000000000001/1000005"}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls %q, want %q", calls, wantCalls)
	}
	wantRegs := []wxtoken.Registration{
		app, agent,
		{AppID: app.AppID, Name: "renamed"},
		{CorpID: "ww0000000000000001", AgentID: "1000005", Tags: []string{"hr"}},
	}
	if fmt.Sprint(regs) != fmt.Sprint(wantRegs) {
		t.Errorf("the server got %+v\nwant %+v", regs, wantRegs)
	}
}

func TestUnregisterAndRegistrations(t *testing.T) {
	base, l := registryServer(t)
	c := newOpsClient(t, base, opsKey)
	ctx := t.Context()
	if err := c.Unregister(ctx, "wxA"); err != nil {
		t.Errorf("Unregister: %v", err)
	}
	if err := c.Unregister(ctx, "ww1/2"); err != nil {
		t.Errorf("Unregister(agent): %v", err)
	}
	for _, tt := range []struct {
		family wxtoken.Family
		ids    []string
	}{{"", []string{"wxA", "ww1/2"}}, {wxtoken.FamilyApp, []string{"wxA"}}, {wxtoken.FamilyWeCom, []string{"ww1/2"}}} {
		list, err := c.Registrations(ctx, tt.family)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range list {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tt.ids) {
			t.Errorf("Registrations(%q) = %q, want %q", tt.family, ids, tt.ids)
		}
	}
	calls, _ := l.snapshot()
	want := []string{"unregister wxA", "unregister ww1/2", "registrations ", "registrations app", "registrations wecom"}
	if !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

// The server's refusals come back as *wxtoken.Error with their codes;
// what the client can tell is wrong never leaves it.
func TestRegistrationErrors(t *testing.T) {
	base, l := registryServer(t)
	admin := newOpsClient(t, base, opsKey)
	shop := newOpsClient(t, base, shopKey)
	ctx := t.Context()
	_, errConf := admin.Register(ctx, wxtoken.Registration{AppID: "wxconf000000000001", Secret: "s"})
	_, errMissing := admin.Change(ctx, "wxmissing00000000001", wxtoken.Registration{Name: "x"})
	_, errShop := shop.Register(ctx, wxtoken.Registration{AppID: "wxB", Secret: "s"})
	_, errShopList := shop.Registrations(ctx, "")
	server := []struct {
		name string
		err  error
		code wxtoken.Code
	}{
		{"a configured app", errConf, wxtoken.EConflict},
		{"remove a configured app", admin.Unregister(ctx, "wxconf000000000001"), wxtoken.EConflict},
		{"an app not registered", errMissing, wxtoken.ENotFound},
		{"not an admin key", errShop, wxtoken.EForbidden},
		{"list without an admin key", errShopList, wxtoken.EForbidden},
		{"remove without an admin key", shop.Unregister(ctx, "wxB"), wxtoken.EForbidden},
	}
	for _, tt := range server {
		if wxtoken.ErrorCode(tt.err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, tt.err, tt.code)
		}
	}
	callsBefore, _ := l.snapshot()

	_, e1 := admin.Register(ctx, wxtoken.Registration{AppID: "wxA"})
	_, e2 := admin.Register(ctx, wxtoken.Registration{Secret: "s"})
	_, e3 := admin.Register(ctx, wxtoken.Registration{AppID: "wxA", CorpID: "ww1", AgentID: "2", Secret: "s"})
	_, e4 := admin.Register(ctx, wxtoken.Registration{CorpID: "ww1", Secret: "s"})
	_, e5 := admin.Change(ctx, "wxA", wxtoken.Registration{AppID: "wxB"})
	_, e6 := admin.Change(ctx, "wxC:wxA", wxtoken.Registration{})
	_, e7 := admin.Registrations(ctx, wxtoken.FamilyAuthorizer)
	_, e8 := admin.Change(ctx, "", wxtoken.Registration{})
	local := []error{e1, e2, e3, e4, e5, e6, e7, e8, admin.Unregister(ctx, "ww1/2/3")}
	for i, err := range local {
		if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
			t.Errorf("local check %d: %v, want EInvalid", i, err)
		}
	}
	if calls, _ := l.snapshot(); len(calls) != len(callsBefore) {
		t.Errorf("requests the client refuses reached the server: %q", calls[len(callsBefore):])
	}
}

// An answer for another entry than the one asked for is malformed.
func TestRegisterAnswerForAnotherEntry(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"wxOTHER","family":"app","tickets":[],"tags":[],"state":"active","credentials":[]}`)
	}))
	t.Cleanup(ts.Close)
	_, err := newOpsClient(t, ts.URL, opsKey).Register(t.Context(), wxtoken.Registration{AppID: "wxA", Secret: "s"})
	if wxtoken.ErrorCode(err) != wxtoken.EInternal {
		t.Errorf("Register = %v, want a malformed answer", err)
	}
}

// A server that answers 200 where 201 or 204 is the success did not do
// what was asked (a proxy, an older server): that is an error.
func TestRegistrationWrongSuccessStatus(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"wxA","family":"app"}`)
	}))
	t.Cleanup(ts.Close)
	c := newOpsClient(t, ts.URL, opsKey)
	if _, err := c.Register(t.Context(), wxtoken.Registration{AppID: "wxA", Secret: "s"}); err == nil {
		t.Error("Register took a 200 for a 201")
	}
	if err := c.Unregister(t.Context(), "wxA"); err == nil {
		t.Error("Unregister took a 200 for a 204")
	}
}

var _ wxtoken.Registrar = (*client.Client)(nil)

func ExampleClient_Register() {
	h, _ := registryHandler()
	server := httptest.NewServer(h) // stands in for a running wxtoken server
	defer server.Close()

	// An admin key: registering is an operator's act.
	c, err := client.New(server.URL, opsKey)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// The secret comes from where secrets are kept (here, in a real
	// program, os.Getenv("SHOP_APPSECRET") or a secrets manager), never
	// from a command line.
	got, err := c.Register(ctx, wxtoken.Registration{
		AppID:   "wx0123456789abcdef",
		Name:    "shop",
		Secret:  "the-appsecret",
		Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket},
		Tags:    []string{"retail"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.ID, got.State)

	// A change sends the whole entry; an empty Secret keeps the stored one.
	got, err = c.Change(ctx, "wx0123456789abcdef", wxtoken.Registration{
		Name: "shop (cn)", Tickets: got.Tickets, Tags: got.Tags,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Name)
	// Output:
	// wx0123456789abcdef active
	// shop (cn)
}
