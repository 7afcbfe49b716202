package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/registry"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// The simulator's apps and agents. appConf is configured; the others are
// registered by the tests.
const (
	appConf   = "wx00000000000000c0"
	appReg    = "wx00000000000000a1"
	appReg2   = "wx00000000000000a2"
	secretReg = "s3cr3t-registered-app-a1-0123456789"
	corp      = "ww0000000000000c01"
	agentA    = "1000002"
	agentB    = "1000003"
	secretA   = "wecom-agent-secret-A-0123456789abcdefghijklmn"
	secretB   = "wecom-agent-secret-B-0123456789abcdefghijklmn"
)

// world is a simulator that knows every app and agent of the tests.
type world struct {
	sim *simulator.Simulator
	url string
	key seal.Key
}

func newWorld(t *testing.T) *world {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Apps: map[string]string{appConf: "configured-secret", appReg: secretReg, appReg2: secretReg + "-2"},
		WeCom: []simulator.WeComAgent{
			{CorpID: corp, AgentID: agentA, Secret: secretA},
			{CorpID: corp, AgentID: agentB, Secret: secretB},
		},
		TTL: time.Hour, Overlap: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	raw, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &world{sim: sim, url: srv.URL, key: key}
}

// tokenCalls counts the upstream token calls of an app.
func (w *world) tokenCalls(appID string) int {
	return w.sim.Calls(simulator.EndpointToken, appID) + w.sim.Calls(simulator.EndpointStableToken, appID)
}

// node is one running engine and its registry over a store.
type node struct {
	eng  *refresh.Engine
	m    *registry.Manager
	logs *logbuf.Buffer
}

// start runs an engine with the configured app over st and a registry
// with sealer (nil: none) on it; mod adjusts the engine's options.
func (w *world) start(t *testing.T, st wxtoken.Store, sealer *seal.Sealer, mod func(*refresh.Options, *node)) *node {
	t.Helper()
	up, err := wechat.New(wechat.Options{BaseURL: w.url, WeComBaseURL: w.url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{logs: &logbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := refresh.Options{
		Apps:  []refresh.AppConfig{{AppID: appConf, Secret: func() string { return "configured-secret" }}},
		Store: st, Upstream: up, MaxRate: -1, PassiveInterval: time.Nanosecond, Logger: log,
	}
	if mod != nil {
		mod(&o, n)
	}
	n.eng, err = refresh.New(o)
	if err != nil {
		t.Fatal(err)
	}
	n.m, err = registry.New(registry.Options{Store: st, Engine: n.eng, Sealer: sealer,
		Configured: []string{appConf}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.eng.Close()
		if t.Failed() {
			t.Logf("log:\n%s", n.logs.String())
		}
	})
	if err := n.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *world) sealer() *seal.Sealer { return seal.New(w.key) }

// token reads id's access_token from the engine.
func (n *node) token(t *testing.T, id string) string {
	t.Helper()
	g, err := n.eng.Credential(t.Context(), id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatalf("access_token of %s: %v", id, err)
	}
	return g.Value
}

func wantCode(t *testing.T, what string, err error, code wxtoken.Code) {
	t.Helper()
	if wxtoken.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func registration(tickets ...wxtoken.Kind) wxtoken.Registration {
	return wxtoken.Registration{AppID: appReg, Name: "shop", Secret: secretReg, Tickets: tickets, Tags: []string{"shops"}}
}

// A registered app is served at once; its secret is in the bolt file
// only sealed; the answer and the list show its credentials and never its
// secret.
func TestRegisterServes(t *testing.T) {
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := w.start(t, st, w.sealer(), nil)
	ctx := t.Context()

	got, err := n.m.Register(ctx, registration(wxtoken.KindJSAPITicket))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != appReg || got.AppID != appReg || got.Family != wxtoken.FamilyApp || got.State != wxtoken.EntryActive ||
		got.TokenAPI != wxtoken.TokenAPIStable || len(got.Tickets) != 1 || len(got.Tags) != 1 {
		t.Errorf("answer: %+v", got)
	}
	if len(got.Credentials) != 2 || got.Credentials[0].State != wxtoken.StateFresh {
		t.Errorf("answer's credentials: %+v, want a fresh access_token and the jsapi ticket", got.Credentials)
	}
	if tok := n.token(t, appReg); !w.sim.Check(tok).Valid || w.sim.Check(tok).AppID != appReg {
		t.Errorf("served %q, which the simulator does not know as %s's", tok, appReg)
	}
	if _, err := n.eng.Credential(ctx, appReg, wxtoken.KindJSAPITicket); err != nil {
		t.Errorf("jsapi ticket: %v", err)
	}
	e, err := st.GetEntry(ctx, appReg)
	if err != nil || e.Version != 1 || e.Secret == "" || strings.Contains(e.Secret, secretReg) {
		t.Fatalf("stored entry %+v (%v): want version 1 and a sealed secret", e, err)
	}
	if b, err := seal.New(w.key).Open(e.Secret, appReg); err != nil || string(b) != secretReg {
		t.Errorf("the stored secret does not open to the registered one under the id: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secretReg)) {
		t.Error("the bolt file holds the registered secret in plaintext")
	}
	if strings.Contains(n.logs.String(), secretReg) {
		t.Error("the log holds the registered secret")
	}
}

// Registrations lists what is stored, removed entries included, joined
// with the engine's state of their credentials.
func TestRegistrationsList(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ctx := t.Context()
	if _, err := n.m.Register(ctx, registration()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Register(ctx, wxtoken.Registration{CorpID: corp, AgentID: agentA, Secret: secretA}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Register(ctx, wxtoken.Registration{AppID: appReg2, Secret: secretReg + "-2"}); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Unregister(ctx, appReg2); err != nil {
		t.Fatal(err)
	}
	all, err := n.m.Registrations(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// By id: the corp's "ww" before the apps' "wx".
	if len(all) != 3 || all[0].ID != wxtoken.WeComID(corp, agentA) || all[1].ID != appReg || all[2].ID != appReg2 {
		t.Fatalf("list: %+v", all)
	}
	if len(all[1].Credentials) != 1 || all[1].Credentials[0].State != wxtoken.StateFresh {
		t.Errorf("%s: credentials %+v", appReg, all[1].Credentials)
	}
	if all[2].State != wxtoken.EntryRemoved || len(all[2].Credentials) != 0 {
		t.Errorf("the removed one: %+v", all[2])
	}
	if a := all[0]; a.CorpID != corp || a.AgentID != agentA || a.AppID != "" || a.TokenAPI != wxtoken.TokenAPIWeCom || a.Family != wxtoken.FamilyWeCom {
		t.Errorf("the agent: %+v", a)
	}
	wecom, err := n.m.Registrations(ctx, wxtoken.FamilyWeCom)
	if err != nil || len(wecom) != 1 || wecom[0].Family != wxtoken.FamilyWeCom {
		t.Errorf("WeCom list: %+v %v", wecom, err)
	}
	_, err = n.m.Registrations(ctx, wxtoken.FamilyAuthorizer)
	wantCode(t, "listing authorizers", err, wxtoken.EInvalid)
}

// A new secret is used from the next fetch: a wrong one fails the
// refresh a rotation at WeChat calls for, and the right one, given back,
// is tried at once and fetches.
func TestChangeSecretUsedFromTheNextFetch(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ctx := t.Context()
	r := registration()
	r.TokenAPI = wxtoken.TokenAPIClassic
	if _, err := n.m.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	first := n.token(t, appReg)
	calls := w.tokenCalls(appReg)

	r.Secret = "a-wrong-secret-0123456789abcdef"
	got, err := n.m.Change(ctx, appReg, r)
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Before(got.CreatedAt) || got.TokenAPI != wxtoken.TokenAPIClassic {
		t.Errorf("answer: %+v", got)
	}
	if tok := n.token(t, appReg); tok != first || w.tokenCalls(appReg) != calls {
		t.Fatal("a new secret alone fetched a token")
	}
	if _, err := w.sim.Rotate(appReg, simulator.KindClassic); err != nil {
		t.Fatal(err)
	}
	_, err = n.eng.Refresh(ctx, appReg, wxtoken.KindAccessToken, first)
	var werr *wxtoken.Error
	if !errors.As(err, &werr) || werr.WeChatErrCode != wechat.ErrInvalidSecret {
		t.Fatalf("refresh with the wrong secret: %v, want WeChat's %d", err, wechat.ErrInvalidSecret)
	}
	if w.tokenCalls(appReg) != calls+1 {
		t.Fatalf("%d token calls, want one more", w.tokenCalls(appReg)-calls)
	}

	r.Secret = secretReg
	if _, err := n.m.Change(ctx, appReg, r); err != nil {
		t.Fatal(err)
	}
	g, err := n.eng.Refresh(ctx, appReg, wxtoken.KindAccessToken, first)
	if err != nil {
		t.Fatalf("refresh with the right secret back: %v", err)
	}
	if g.Value == first || !w.sim.Check(g.Value).Valid || w.sim.Check(g.Value).AppID != appReg {
		t.Errorf("after the right secret: %q, want a new token the simulator knows", g.Value)
	}
	e, err := n.m.Registrations(ctx, wxtoken.FamilyApp)
	if err != nil || len(e) != 1 || e[0].CreatedAt.IsZero() {
		t.Fatalf("list: %+v %v", e, err)
	}
}

// A changed tickets list is applied at once, from the stored token: no
// upstream call for it.
func TestChangeTickets(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ctx := t.Context()
	r := registration()
	if _, err := n.m.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	tok := n.token(t, appReg)
	calls := w.tokenCalls(appReg)
	_, err := n.eng.Credential(ctx, appReg, wxtoken.KindJSAPITicket)
	wantCode(t, "a ticket not registered", err, wxtoken.ENotFound)

	r.Secret = "" // kept
	r.Tickets = []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard}
	r.Tags = []string{"cards"}
	got, err := n.m.Change(ctx, appReg, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tickets) != 2 || len(got.Credentials) != 3 {
		t.Errorf("answer: %+v", got)
	}
	for _, k := range r.Tickets {
		if _, err := n.eng.Credential(ctx, appReg, k); err != nil {
			t.Errorf("%s after the change: %v", k, err)
		}
	}
	if n.token(t, appReg) != tok || w.tokenCalls(appReg) != calls {
		t.Errorf("the change fetched a token (%d calls)", w.tokenCalls(appReg)-calls)
	}
	if tags := n.m.Tags(appReg); len(tags) != 1 || tags[0] != "cards" {
		t.Errorf("tags after the change: %q", tags)
	}
	// The stored secret was kept: the entry still opens to it.
	regs, _ := n.m.Registrations(ctx, "")
	if len(regs) != 1 {
		t.Fatal(regs)
	}
	// A body that names another id is refused.
	r.AppID = appReg2
	_, err = n.m.Change(ctx, appReg, r)
	wantCode(t, "a body naming another id", err, wxtoken.EInvalid)
	_, err = n.m.Change(ctx, appReg2, wxtoken.Registration{})
	wantCode(t, "changing an id never registered", err, wxtoken.ENotFound)
}

// Unregistering stops serving; the record stays, removed, and the id may
// be registered again.
func TestUnregister(t *testing.T) {
	w := newWorld(t)
	st := memory.New()
	n := w.start(t, st, w.sealer(), nil)
	ctx := t.Context()
	if _, err := n.m.Register(ctx, registration()); err != nil {
		t.Fatal(err)
	}
	n.token(t, appReg)
	if err := n.m.Unregister(ctx, appReg); err != nil {
		t.Fatal(err)
	}
	_, err := n.eng.Credential(ctx, appReg, wxtoken.KindAccessToken)
	wantCode(t, "served after unregistering", err, wxtoken.ENotFound)
	e, err := st.GetEntry(ctx, appReg)
	if err != nil || e.State != wxtoken.EntryRemoved || e.Version != 2 || e.Secret == "" || e.Note == "" {
		t.Fatalf("the record after unregistering: %+v %v", e, err)
	}
	if n.m.Tags(appReg) != nil {
		t.Error("an unregistered entry keeps its tags")
	}
	wantCode(t, "unregistering twice", n.m.Unregister(ctx, appReg), wxtoken.ENotFound)
	_, err = n.m.Change(ctx, appReg, registration())
	wantCode(t, "changing a removed entry", err, wxtoken.ENotFound)
	if _, err := n.m.Register(ctx, registration()); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	if e, _ := st.GetEntry(ctx, appReg); e.Version != 3 || e.State != wxtoken.EntryActive {
		t.Errorf("registered again: %+v", e)
	}
	n.token(t, appReg)
}

// Entries of the configuration file are read-only; an id registered and
// active cannot be registered twice.
func TestConflicts(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ctx := t.Context()
	conf := wxtoken.Registration{AppID: appConf, Secret: "configured-secret"}
	_, err := n.m.Register(ctx, conf)
	wantCode(t, "registering a configured app", err, wxtoken.EConflict)
	if !strings.Contains(wxtoken.ErrorMessage(err), "comes from the configuration file; change it there") {
		t.Errorf("message: %q", wxtoken.ErrorMessage(err))
	}
	_, err = n.m.Change(ctx, appConf, conf)
	wantCode(t, "changing a configured app", err, wxtoken.EConflict)
	wantCode(t, "unregistering a configured app", n.m.Unregister(ctx, appConf), wxtoken.EConflict)
	if _, err := n.m.Register(ctx, registration()); err != nil {
		t.Fatal(err)
	}
	_, err = n.m.Register(ctx, registration())
	wantCode(t, "registering twice", err, wxtoken.EConflict)
	// An agent whose corpid is a registered appid could not be told
	// apart from it in a grant.
	_, err = n.m.Register(ctx, wxtoken.Registration{CorpID: appReg, AgentID: "1", Secret: "x"})
	wantCode(t, "an agent of a corp named as an app", err, wxtoken.EConflict)
	if n.token(t, appConf) == "" {
		t.Fatal("the configured app is not served")
	}
}

// Registrations are checked as the configuration file is.
func TestRegistrationChecked(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ok := registration()
	for name, r := range map[string]wxtoken.Registration{
		"no id":            {Secret: secretReg},
		"bad appid":        {AppID: "wx/1", Secret: secretReg},
		"long appid":       {AppID: strings.Repeat("a", 65), Secret: secretReg},
		"no secret":        {AppID: appReg},
		"token_api":        {AppID: appReg, Secret: secretReg, TokenAPI: "wecom"},
		"app ticket":       {AppID: appReg, Secret: secretReg, Tickets: []wxtoken.Kind{wxtoken.KindAgentConfig}},
		"ticket twice":     {AppID: appReg, Secret: secretReg, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindJSAPITicket}},
		"both families":    {AppID: appReg, CorpID: corp, AgentID: agentA, Secret: secretA},
		"corp only":        {CorpID: corp, Secret: secretA},
		"agent ticket":     {CorpID: corp, AgentID: agentA, Secret: secretA, Tickets: []wxtoken.Kind{wxtoken.KindWxCard}},
		"agent token_api":  {CorpID: corp, AgentID: agentA, Secret: secretA, TokenAPI: wxtoken.TokenAPIStable},
		"bad tag":          {AppID: appReg, Secret: secretReg, Tags: []string{"two words"}},
		"tag twice":        {AppID: appReg, Secret: secretReg, Tags: []string{"a", "a"}},
		"secret with a nl": {AppID: appReg, Secret: secretReg + "\n"},
		"long name":        {AppID: appReg, Secret: secretReg, Name: strings.Repeat("名", 65)},
	} {
		_, err := n.m.Register(t.Context(), r)
		if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
		if r.Secret != "" && strings.Contains(err.Error(), r.Secret) {
			t.Errorf("%s: the error quotes the secret", name)
		}
	}
	if regs, _ := n.m.Registrations(t.Context(), ""); len(regs) != 0 {
		t.Fatalf("a refused registration was stored: %+v", regs)
	}
	if _, err := n.m.Register(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
}

// Without a store encryption key nothing is registered, and the answer
// says what to set.
func TestRegisterWithoutKey(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), nil, nil)
	_, err := n.m.Register(t.Context(), registration())
	wantCode(t, "registering without a key", err, wxtoken.EUnavailable)
	if !strings.Contains(wxtoken.ErrorMessage(err), "store.encryption_key_env") {
		t.Errorf("message: %q", wxtoken.ErrorMessage(err))
	}
	if regs, _ := n.m.Registrations(t.Context(), ""); len(regs) != 0 {
		t.Errorf("stored: %+v", regs)
	}
}

// A restart serves the registered entries from the store with no call to
// WeChat; one whose id the configuration took meanwhile is skipped, and
// one whose secret no configured key opens is not served.
func TestRestartServesFromTheStore(t *testing.T) {
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := w.start(t, st, w.sealer(), nil)
	ctx := t.Context()
	if _, err := n.m.Register(ctx, registration(wxtoken.KindJSAPITicket)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Register(ctx, wxtoken.Registration{CorpID: corp, AgentID: agentA, Secret: secretA, Tickets: []wxtoken.Kind{wxtoken.KindAgentConfig}}); err != nil {
		t.Fatal(err)
	}
	tok := n.token(t, appReg)
	agentTok := n.token(t, wxtoken.WeComID(corp, agentA))
	n.eng.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	calls := w.tokenCalls(appReg) + w.sim.Calls(simulator.EndpointWeComToken, wxtoken.WeComID(corp, agentA))

	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n2 := w.start(t, st, w.sealer(), nil)
	if n2.token(t, appReg) != tok || n2.token(t, wxtoken.WeComID(corp, agentA)) != agentTok {
		t.Error("the restarted engine serves other tokens than the stored ones")
	}
	if _, err := n2.eng.Credential(ctx, appReg, wxtoken.KindJSAPITicket); err != nil {
		t.Errorf("jsapi after the restart: %v", err)
	}
	if after := w.tokenCalls(appReg) + w.sim.Calls(simulator.EndpointWeComToken, wxtoken.WeComID(corp, agentA)); after != calls {
		t.Errorf("%d upstream token calls after the restart, want 0", after-calls)
	}
	if tags := n2.m.Tags(appReg); len(tags) != 1 {
		t.Errorf("tags after the restart: %q", tags)
	}
	n2.eng.Close()

	// The configuration now holds appReg: the stored entry is skipped.
	up, err := wechat.New(wechat.Options{BaseURL: w.url, WeComBaseURL: w.url})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := refresh.New(refresh.Options{Store: st, Upstream: up, MaxRate: -1,
		Apps: []refresh.AppConfig{{AppID: appReg, Secret: func() string { return secretReg }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	logs := &logbuf.Buffer{}
	m, err := registry.New(registry.Options{Store: st, Engine: eng, Sealer: w.sealer(), Configured: []string{appReg},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "configuration file now holds its id") || m.Tags(appReg) != nil {
		t.Errorf("a configured id's entry: log %q, tags %q", logs.String(), m.Tags(appReg))
	}
	if _, err := eng.Credential(ctx, wxtoken.WeComID(corp, agentA), wxtoken.KindAccessToken); err != nil {
		t.Errorf("the registered agent beside the configured app: %v", err)
	}
}

// A WeCom agent that holds its corp's jsapi ticket for another agent
// cannot be removed before it: the engine's refusal is passed on, and
// nothing is written.
func TestUnregisterCorpTicketHolder(t *testing.T) {
	w := newWorld(t)
	st := memory.New()
	n := w.start(t, st, w.sealer(), nil)
	ctx := t.Context()
	js := []wxtoken.Kind{wxtoken.KindJSAPITicket}
	for _, r := range []wxtoken.Registration{
		{CorpID: corp, AgentID: agentA, Secret: secretA, Tickets: js},
		{CorpID: corp, AgentID: agentB, Secret: secretB, Tickets: js},
	} {
		if _, err := n.m.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	idA, idB := wxtoken.WeComID(corp, agentA), wxtoken.WeComID(corp, agentB)
	ta, err := n.eng.Credential(ctx, idA, wxtoken.KindJSAPITicket)
	if err != nil {
		t.Fatal(err)
	}
	if tb, err := n.eng.Credential(ctx, idB, wxtoken.KindJSAPITicket); err != nil || tb.Value != ta.Value {
		t.Fatalf("the corp's ticket is not shared: %v", err)
	}
	err = n.m.Unregister(ctx, idA)
	wantCode(t, "unregistering the ticket holder", err, wxtoken.EConflict)
	if !strings.Contains(wxtoken.ErrorMessage(err), "remove the corp's other agents first") {
		t.Errorf("message: %q", wxtoken.ErrorMessage(err))
	}
	if e, _ := st.GetEntry(ctx, idA); e.State != wxtoken.EntryActive || e.Version != 1 {
		t.Errorf("the refused removal wrote %+v", e)
	}
	// Changing the holder's tickets needs it to let go too.
	_, err = n.m.Change(ctx, idA, wxtoken.Registration{})
	wantCode(t, "dropping the holder's ticket", err, wxtoken.EConflict)
	if _, err := n.eng.Credential(ctx, idA, wxtoken.KindJSAPITicket); err != nil {
		t.Errorf("the holder after the refused change: %v", err)
	}
	if err := n.m.Unregister(ctx, idB); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Unregister(ctx, idA); err != nil {
		t.Fatalf("the holder, once alone: %v", err)
	}
}

// A key granted "tag:T" reaches the entries registered with T, while
// they have it.
func TestTagGrantsFollowRegistrations(t *testing.T) {
	w := newWorld(t)
	n := w.start(t, memory.New(), w.sealer(), nil)
	ctx := t.Context()
	const key = "wxt_registry-tag-key"
	sum := sha256.Sum256([]byte(key))
	ring, err := clientkey.NewTagged([]clientkey.Client{{Name: "shops", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{"tag:shops"}}}, n.m.Tags)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ring.Key(key)
	if c.Allows(appReg) {
		t.Fatal("granted before the registration")
	}
	r := registration()
	if _, err := n.m.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	agent := wxtoken.Registration{CorpID: corp, AgentID: agentA, Secret: secretA, Tags: []string{"shops"}}
	if _, err := n.m.Register(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if !c.Allows(appReg) || !c.Allows(wxtoken.WeComID(corp, agentA)) || c.Allows(appConf) {
		t.Fatal("the tag grant does not follow the registrations")
	}
	r.Secret, r.Tags = "", []string{"other"}
	if _, err := n.m.Change(ctx, appReg, r); err != nil {
		t.Fatal(err)
	}
	if c.Allows(appReg) {
		t.Error("granted by a tag taken off")
	}
	if err := n.m.Unregister(ctx, wxtoken.WeComID(corp, agentA)); err != nil {
		t.Fatal(err)
	}
	if c.Allows(wxtoken.WeComID(corp, agentA)) {
		t.Error("granted an unregistered agent")
	}
}
