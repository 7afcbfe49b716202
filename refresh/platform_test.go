package refresh

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/fakeclock"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	compID     = "wxcomponent00000001"
	compSecret = "secret-of-the-platform"
	compToken  = "msg-check-token"
	compAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// ownerLog is a SecretOwner that keeps the secret in memory and tells the
// test what the engine said.
type ownerLog struct {
	initial string
	mu      sync.Mutex
	secret  string
	rotated chan string
	refused chan wxtoken.ErrorInfo
}

func newOwnerLog(secret string) *ownerLog {
	return &ownerLog{initial: secret, secret: secret, rotated: make(chan string, 16), refused: make(chan wxtoken.ErrorInfo, 16)}
}

func (o *ownerLog) Secret() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.secret
}

func (o *ownerLog) Rotated(_ context.Context, secret string) error {
	o.mu.Lock()
	o.secret = secret
	o.mu.Unlock()
	o.rotated <- secret
	return nil
}

func (o *ownerLog) Refused(_ context.Context, info wxtoken.ErrorInfo) { o.refused <- info }

// platformHarness is an engine that keeps one third-party platform, against
// a simulator that issues its verify tickets without pushing them.
type platformHarness struct {
	*harness
	up *wechat.Client
}

func newPlatformHarness(t *testing.T, refreshMode string) *platformHarness {
	t.Helper()
	h := &harness{t: t, clk: fakeclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)), ev: make(chan event, 1024)}
	sim, err := simulator.New(simulator.Options{
		TTL: time.Hour, Overlap: 5 * time.Minute, Now: h.clk.Now,
		Platforms: []simulator.Platform{{ComponentAppID: compID, Secret: compSecret, Token: compToken,
			EncodingAESKey: compAESKey, RefreshToken: refreshMode}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	h.sim = sim
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.store = memory.New()
	h.opts = Options{
		Apps:    []AppConfig{{AppID: compID, Family: wxtoken.FamilyComponent, Secret: func() string { return compSecret }}},
		Clock:   fakeClock{h.clk},
		Overlap: 5 * time.Minute, Margin: 30 * time.Second,
		MaxRate: -1, Observer: recorder{h.ev},
		Rand: func() float64 { return 0.5 },
	}
	h.start()
	up, err := wechat.New(wechat.Options{BaseURL: h.url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &platformHarness{harness: h, up: up}
}

// deliverTicket has the simulator issue a verify ticket and stores it, as
// the events endpoint does with a push, then asks the engine to try now.
func (p *platformHarness) deliverTicket() {
	p.t.Helper()
	ctx := context.Background()
	ticket, _, err := p.sim.PushVerifyTicket(ctx, compID)
	if err != nil {
		p.t.Fatal(err)
	}
	now := p.clk.Now()
	var version uint64 = 1
	if cur, err := p.store.Get(ctx, compID, wxtoken.KindVerifyTicket); err == nil {
		version = cur.Version + 1
	}
	if err := p.store.Put(ctx, wxtoken.Credential{AppID: compID, Kind: wxtoken.KindVerifyTicket, Value: ticket,
		FetchedAt: now, ExpiresAt: now.Add(12 * time.Hour), Version: version}); err != nil {
		p.t.Fatal(err)
	}
	if err := p.eng.RetryNow(ctx, compID); err != nil {
		p.t.Fatal(err)
	}
}

// authorize has an account authorize the platform and exchanges the code,
// as the events endpoint does, returning the authorizer's id and refresh
// token.
func (p *platformHarness) authorize(appID string) (string, string) {
	p.t.Helper()
	ctx := context.Background()
	got, err := p.sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: compID, AuthorizerAppID: appID})
	if err != nil {
		p.t.Fatal(err)
	}
	g, err := p.eng.Credential(ctx, compID, wxtoken.KindAccessToken)
	if err != nil {
		p.t.Fatal(err)
	}
	auth, err := p.up.QueryAuth(ctx, g.Value, compID, got.AuthCode)
	if err != nil {
		p.t.Fatal(err)
	}
	return wxtoken.AuthorizerID(compID, auth.AuthorizerAppID), auth.RefreshToken
}

// ready waits out the first fetch (no verify ticket yet), delivers one,
// and waits for the component token.
func (p *platformHarness) ready() {
	p.t.Helper()
	p.wait(wxtoken.KindAccessToken)
	p.deliverTicket()
	p.wait(wxtoken.KindAccessToken)
}

// addAuthorizer has the account appID authorize the platform and the
// engine keep it with tickets, and waits for its first token.
func (p *platformHarness) addAuthorizer(appID string, tickets ...wxtoken.Kind) (string, *ownerLog) {
	p.t.Helper()
	id, rt := p.authorize(appID)
	owner := newOwnerLog(rt)
	if err := p.eng.Add(context.Background(), AppConfig{AppID: id, Family: wxtoken.FamilyAuthorizer, Secret: owner.Secret,
		Tickets: tickets, Owner: owner}); err != nil {
		p.t.Fatal(err)
	}
	p.waitFor(id, wxtoken.KindAccessToken)
	return id, owner
}

func (p *platformHarness) componentCalls(endpoint string) int {
	p.t.Helper()
	st, err := p.sim.Stats(compID)
	if err != nil {
		p.t.Fatal(err)
	}
	return st.Calls[endpoint]
}

func TestComponentTokenWaitsForTheVerifyTicket(t *testing.T) {
	p := newPlatformHarness(t, simulator.RefreshTokenSame)
	ctx := context.Background()
	if ev := p.wait(wxtoken.KindAccessToken); ev.result != "error" {
		t.Fatalf("first fetch without a verify ticket: %+v", ev)
	}
	if n := p.componentCalls(simulator.EndpointStartPushTicket); n != 1 {
		t.Fatalf("%d api_start_push_ticket calls, want 1", n)
	}
	if n := p.componentCalls(simulator.EndpointComponentToken); n != 0 {
		t.Fatalf("%d api_component_token calls without a ticket, want 0", n)
	}
	p.deliverTicket()
	if ev := p.wait(wxtoken.KindAccessToken); ev.result != "ok" {
		t.Fatalf("fetch once the ticket arrived: %+v", ev)
	}
	g, err := p.eng.Credential(ctx, compID, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	p.assertAlive(g)
	// Handed out only until the next planned refresh, as a classic token.
	if c, _ := p.store.Get(ctx, compID, wxtoken.KindAccessToken); g.ExpiresAt.After(c.RefreshAt.Add(5 * time.Minute)) {
		t.Fatalf("component token promised until %v, past its refresh at %v plus the overlap", g.ExpiresAt, c.RefreshAt)
	}
}

func TestAuthorizerTokenAndTickets(t *testing.T) {
	p := newPlatformHarness(t, simulator.RefreshTokenSame)
	ctx := context.Background()
	p.ready()
	id, owner := p.addAuthorizer("wxauthorizer0000001", wxtoken.KindJSAPITicket)
	statuses := map[string]wxtoken.AppStatus{}
	for _, st := range p.eng.Status(ctx) {
		statuses[st.AppID] = st
	}
	if st := statuses[id]; st.Family != wxtoken.FamilyAuthorizer || st.ComponentAppID != compID ||
		st.AuthorizerAppID != "wxauthorizer0000001" || st.CorpID != "" {
		t.Fatalf("authorizer status %+v", st)
	}
	if st := statuses[compID]; st.Family != wxtoken.FamilyComponent || st.TokenAPI != wxtoken.TokenAPIComponent {
		t.Fatalf("platform status %+v", st)
	}
	for _, k := range []wxtoken.Kind{wxtoken.KindAccessToken, wxtoken.KindJSAPITicket} {
		g, err := p.eng.Credential(ctx, id, k)
		if err != nil {
			t.Fatalf("authorizer %s: %v", k, err)
		}
		p.assertAlive(g)
	}
	// A whole lifetime on: refreshed with the component token and the
	// same refresh token, and nothing told to the owner.
	p.clk.Advance(time.Hour)
	if ev := p.waitFor(id, wxtoken.KindAccessToken); ev.result != "ok" {
		t.Fatalf("planned refresh of the authorizer: %+v", ev)
	}
	g, err := p.eng.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	p.assertAlive(g)
	select {
	case s := <-owner.rotated:
		t.Fatalf("owner told of a new refresh token %q where WeChat answered the same", s)
	default:
	}
}

func TestAuthorizerRefreshTokenRotatedIsHandedToItsOwner(t *testing.T) {
	p := newPlatformHarness(t, simulator.RefreshTokenRotate)
	p.ready()
	id, owner := p.addAuthorizer("wxauthorizer0000002")
	first := <-owner.rotated
	if first == owner.initial {
		t.Fatal("the owner was told the refresh token it had")
	}
	// In rotate mode the old refresh token dies with every call: the
	// next refresh works only with the one the owner was given.
	p.clk.Advance(time.Hour)
	if ev := p.waitFor(id, wxtoken.KindAccessToken); ev.result != "ok" {
		t.Fatalf("refresh with the rotated refresh token: %+v", ev)
	}
	if second := <-owner.rotated; second == first {
		t.Fatal("the second refresh answered no new refresh token")
	}
}

func TestAuthorizerRefusedRefreshTokenIsReported(t *testing.T) {
	p := newPlatformHarness(t, simulator.RefreshTokenSame)
	ctx := context.Background()
	p.ready()
	id, owner := p.addAuthorizer("wxauthorizer0000003")
	g, err := p.eng.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _, auth := wxtoken.ParseID(id)
	if err := p.sim.InvalidateRefreshToken(compID, auth); err != nil {
		t.Fatal(err)
	}
	c, err := p.store.Get(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	p.clk.Advance(c.RefreshAt.Sub(p.clk.Now()))
	if ev := p.waitFor(id, wxtoken.KindAccessToken); ev.result != "error" {
		t.Fatalf("refresh with an invalidated refresh token: %+v", ev)
	}
	info := <-owner.refused
	if info.ErrCode != 61023 || info.Class != wechat.ClassReauthorize.String() {
		t.Fatalf("owner told %+v, want 61023 reauthorize", info)
	}
	// The token it has is still served while it lives.
	g2, err := p.eng.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil || g2.Value != g.Value {
		t.Fatalf("after the refusal: %q, %v; want the current token", g2.Value, err)
	}
	p.assertAlive(g2)
}
