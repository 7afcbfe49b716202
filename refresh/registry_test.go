package refresh

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	appB    = "wxB"
	secretB = "secret-of-app-B"
)

// newRegistryHarness is a started engine for app A, whose first token has
// been fetched; its simulator also knows app B, which the engine does not
// keep yet.
func newRegistryHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, wxtoken.TokenAPIStable, nil, nil)
	h.wait(wxtoken.KindAccessToken) // A's first fetch
	return h
}

func appBConfig() AppConfig {
	return AppConfig{AppID: appB, Secret: func() string { return secretB }, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}}
}

// waitFor returns the next refresh event of appID and kind.
func (h *harness) waitFor(appID string, kind wxtoken.Kind) event {
	h.t.Helper()
	guard := time.After(10 * time.Second)
	for {
		select {
		case e := <-h.ev:
			if e.appID == appID && e.kind == kind {
				return e
			}
		case <-guard:
			h.t.Fatalf("no refresh of %s %s", appID, kind)
		}
	}
}

func TestAddedAppIsFetchedAndServed(t *testing.T) {
	h := newRegistryHarness(t)
	ctx := context.Background()
	if _, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken); !isCode(err, wxtoken.ENotFound) {
		t.Fatalf("before Add: %v, want not found", err)
	}
	if err := h.eng.Add(ctx, appBConfig()); err != nil {
		t.Fatal(err)
	}
	// Fetched in the background at once, as at a start.
	if ev := h.waitFor(appB, wxtoken.KindAccessToken); ev.result != "ok" {
		t.Fatalf("first fetch of the added app: %+v", ev)
	}
	h.waitFor(appB, wxtoken.KindJSAPITicket)
	g, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	h.assertAlive(g)
	if id, ok := h.eng.AppOf(g.Value); !ok || id != appB {
		t.Fatalf("AppOf(B's token) = %q, %v", id, ok)
	}
	if _, err := h.store.Get(ctx, appB, wxtoken.KindAccessToken); err != nil {
		t.Fatalf("the added app's token is not stored: %v", err)
	}
	if n := h.sim.Calls(simulator.EndpointStableToken, appB); n != 1 {
		t.Fatalf("%d token calls for the added app, want 1", n)
	}
	var found bool
	for _, st := range h.eng.Status(ctx) {
		found = found || st.AppID == appB
	}
	if !found {
		t.Fatal("the added app is missing from status")
	}
	if err := h.eng.Add(ctx, appBConfig()); !isCode(err, wxtoken.EConflict) {
		t.Fatalf("adding it again: %v, want a conflict", err)
	}
}

func TestAddedAppServesItsStoredCredentialsWithoutACall(t *testing.T) {
	h := newRegistryHarness(t)
	ctx := context.Background()
	now := h.clk.Now()
	stored := wxtoken.Credential{AppID: appB, Kind: wxtoken.KindAccessToken, Value: "stored-token-of-B",
		FetchedAt: now, ExpiresAt: now.Add(time.Hour), RefreshAt: now.Add(40 * time.Minute), Version: 7, API: wxtoken.TokenAPIStable}
	if err := h.store.Put(ctx, stored); err != nil {
		t.Fatal(err)
	}
	cfg := appBConfig()
	cfg.Tickets = nil
	if err := h.eng.Add(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	g, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken)
	if err != nil || g.Value != stored.Value {
		t.Fatalf("Credential(B) = %q, %v; want the stored token", g.Value, err)
	}
	if n := h.sim.Calls(simulator.EndpointStableToken, appB); n != 0 {
		t.Fatalf("%d token calls for an app whose token was stored, want 0", n)
	}
}

func TestRemovedAppIsNeitherServedNorRefreshed(t *testing.T) {
	h := newRegistryHarness(t)
	ctx := context.Background()
	cfg := appBConfig()
	cfg.Tickets = nil
	if err := h.eng.Add(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	h.waitFor(appB, wxtoken.KindAccessToken)
	g, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.eng.Remove(appB); err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken); !isCode(err, wxtoken.ENotFound) {
		t.Fatalf("after Remove: %v, want not found", err)
	}
	if _, ok := h.eng.AppOf(g.Value); ok {
		t.Fatal("AppOf still knows the removed app's token")
	}
	for _, st := range h.eng.Status(ctx) {
		if st.AppID == appB {
			t.Fatal("the removed app is still in status")
		}
	}
	if err := h.eng.Remove(appB); !isCode(err, wxtoken.ENotFound) {
		t.Fatalf("removing it again: %v, want not found", err)
	}
	// Past both tokens' refresh times, A is refreshed and B is not.
	h.clk.Advance(time.Hour)
	h.waitFor(appA, wxtoken.KindAccessToken)
	if n := h.sim.Calls(simulator.EndpointStableToken, appB); n != 1 {
		t.Fatalf("%d token calls for B, want only the one before its removal", n)
	}
	// What the store holds of it stays.
	if _, err := h.store.Get(ctx, appB, wxtoken.KindAccessToken); err != nil {
		t.Fatalf("the removed app's stored token: %v", err)
	}
}

func TestAddRefusesWhatCannotWork(t *testing.T) {
	h := newRegistryHarness(t)
	ctx := context.Background()
	for _, c := range []AppConfig{
		{AppID: appA, Secret: func() string { return secretA }},
		{AppID: "", Secret: func() string { return "s" }},
		{AppID: "wxC"},
		{AppID: "wxC", Secret: func() string { return "s" }, Tickets: []wxtoken.Kind{wxtoken.KindAgentConfig}},
	} {
		if err := h.eng.Add(ctx, c); err == nil {
			t.Errorf("Add(%+v) succeeded", c.AppID)
		}
	}
}

func isCode(err error, code wxtoken.Code) bool {
	var e *wxtoken.Error
	return errors.As(err, &e) && e.Code == code
}

// A WeCom agent added at runtime shares its corp's jsapi ticket with the
// agent that holds it; that agent cannot be removed while another keeps
// the ticket through it.
func TestAddedWeComAgentSharesItsCorpTicket(t *testing.T) {
	h := newWeComHarness(t)
	ctx := context.Background()
	eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindJSAPITicket)}, nil, nil)
	first := h.get(eng, agent2, wxtoken.KindJSAPITicket)
	if err := eng.Add(ctx, weComAgent(agent3, wxtoken.KindJSAPITicket)); err != nil {
		t.Fatal(err)
	}
	h.wait(agent3, wxtoken.KindAccessToken)
	g := h.get(eng, agent3, wxtoken.KindJSAPITicket)
	if g.Value != first.Value {
		t.Fatalf("the added agent got corp ticket %q, want the one its corp holds, %q", g.Value, first.Value)
	}
	if n := h.wc.callsOf(wechat.PathWeComJSAPITicket, agent3); n != 0 {
		t.Fatalf("%d ticket calls with the added agent's token, want 0", n)
	}
	if err := eng.Remove(agent2); !isCode(err, wxtoken.EConflict) {
		t.Fatalf("removing the ticket's holder while another agent keeps it: %v, want a conflict", err)
	}
	if err := eng.Remove(agent3); err != nil {
		t.Fatal(err)
	}
	if err := eng.Remove(agent2); err != nil {
		t.Fatalf("removing the holder once alone: %v", err)
	}
	// With the corp gone, an agent added now holds the ticket itself.
	if err := eng.Add(ctx, weComAgent(agent3, wxtoken.KindJSAPITicket)); err != nil {
		t.Fatal(err)
	}
	if h.wait(agent3, wxtoken.KindJSAPITicket); h.wc.callsOf(wechat.PathWeComJSAPITicket, agent3) != 1 {
		t.Fatalf("the corp's only agent fetched its ticket %d times, want 1", h.wc.callsOf(wechat.PathWeComJSAPITicket, agent3))
	}
}

// An owner another replica has just added waits for the credentials that
// replica writes: nothing is fetched before FirstFetchAfter unless a
// caller asks.
func TestFirstFetchAfterWaitsForTheAddingReplica(t *testing.T) {
	h := newRegistryHarness(t)
	ctx := context.Background()
	cfg := appBConfig()
	cfg.Tickets, cfg.FirstFetchAfter = nil, time.Minute
	if err := h.eng.Add(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	due, queued := h.eng.queue.dueAt(h.eng.app(appB).token)
	if !queued || due.Before(h.clk.Now().Add(time.Minute)) {
		t.Fatalf("due %v (queued %v), want a minute from now", due, queued)
	}
	// Nothing is fetched before then (the other replica's token would
	// reach this one through the shared store's feed meanwhile).
	h.clk.Advance(30 * time.Second)
	if n := h.sim.Calls(simulator.EndpointStableToken, appB); n != 0 {
		t.Fatalf("%d token calls before FirstFetchAfter, want 0", n)
	}
	// A caller who asks has it fetched at once.
	g, err := h.eng.Credential(ctx, appB, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	h.assertAlive(g)
	if n := h.sim.Calls(simulator.EndpointStableToken, appB); n != 1 {
		t.Fatalf("%d token calls after a caller asked, want 1", n)
	}
}
