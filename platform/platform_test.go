package platform

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	comp   = "wx00000000000c0c0c"
	secret = "component-secret"
	token  = "push-token"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// fixture is a Manager over a real engine, a memory store and the
// simulator, which issues verify tickets without pushing them.
type fixture struct {
	t     *testing.T
	sim   *simulator.Simulator
	store *memory.Store
	eng   *refresh.Engine
	m     *Manager
	crypt *msgcrypt.Crypter
	seal  *seal.Sealer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim, err := simulator.New(simulator.Options{TTL: time.Hour, Overlap: 5 * time.Minute,
		Platforms: []simulator.Platform{{ComponentAppID: comp, Secret: secret, Token: token, EncodingAESKey: aesKey}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	up, err := wechat.New(wechat.Options{BaseURL: ts.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, sim: sim, store: memory.New()}
	f.eng, err = refresh.New(refresh.Options{Store: f.store, Upstream: up, MaxRate: -1,
		Apps: []refresh.AppConfig{{AppID: comp, Family: wxtoken.FamilyComponent, Secret: func() string { return secret }}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.seal = seal.New(k)
	if f.crypt, err = msgcrypt.New(token, aesKey, comp); err != nil {
		t.Fatal(err)
	}
	f.m, err = New(Options{Store: f.store, Engine: f.eng, Upstream: up, Sealer: f.seal,
		Platforms: []Config{{ComponentAppID: comp, Secret: func() string { return secret }, Crypter: f.crypt,
			Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.eng.Close() })
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// push seals msg as WeChat would and hands it to the Manager.
func (f *fixture) push(msg string) error {
	f.t.Helper()
	enc, sig, err := f.crypt.Seal([]byte(msg), "1700000000", "n0nce")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.m.Event(context.Background(), comp, wxtoken.Push{Timestamp: "1700000000", Nonce: "n0nce",
		EncryptType: "aes", MsgSignature: sig, Body: msgcrypt.Envelope(comp, enc)})
}

// calls counts the platform's calls of a component endpoint.
func (f *fixture) calls(endpoint string) int {
	f.t.Helper()
	st, err := f.sim.Stats(comp)
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Calls[endpoint]
}

func ticketMsg(ticket string) string {
	return "<xml><AppId>" + comp + "</AppId><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>" + ticket + "</ComponentVerifyTicket></xml>"
}

// ready delivers a real verify ticket and reads the component token.
func (f *fixture) ready() {
	f.t.Helper()
	ticket, _, err := f.sim.PushVerifyTicket(context.Background(), comp)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.push(ticketMsg(ticket)); err != nil {
		f.t.Fatal(err)
	}
	// The push lifted the hold of the first fetch's failure (no ticket
	// then): a read now fetches, or joins the fetch under way.
	if _, err := f.eng.Credential(context.Background(), comp, wxtoken.KindAccessToken); err != nil {
		f.t.Fatalf("no component token once a verify ticket arrived: %v", err)
	}
}

func TestVerifyTicketStoredOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 2 {
		if err := f.push(ticketMsg("ticket-1")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := f.store.Get(ctx, comp, wxtoken.KindVerifyTicket)
	if err != nil || c.Value != "ticket-1" || c.Version != 1 {
		t.Fatalf("stored %q v%d (%v): the same push twice must store one ticket", c.Value, c.Version, err)
	}
	if err := f.push(ticketMsg("ticket-2")); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.store.Get(ctx, comp, wxtoken.KindVerifyTicket); c.Value != "ticket-2" || c.Version != 2 {
		t.Fatalf("a newer ticket: stored %q v%d", c.Value, c.Version)
	}
}

func TestEventsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	enc, sig, err := f.crypt.Seal([]byte(ticketMsg("t")), "1", "n")
	if err != nil {
		t.Fatal(err)
	}
	other, err := msgcrypt.New(token, aesKey, "wx0000000000000bad")
	if err != nil {
		t.Fatal(err)
	}
	oenc, osig, err := other.Seal([]byte(ticketMsg("t")), "1", "n")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		comp string
		p    wxtoken.Push
		code wxtoken.Code
	}{
		"unknown platform":   {"wx0000000000000bad", wxtoken.Push{Timestamp: "1", Nonce: "n", MsgSignature: sig, Body: msgcrypt.Envelope(comp, enc)}, wxtoken.ENotFound},
		"plain push":         {comp, wxtoken.Push{EncryptType: "raw", Body: []byte("<xml/>")}, wxtoken.EInvalid},
		"not an envelope":    {comp, wxtoken.Push{Timestamp: "1", Nonce: "n", MsgSignature: sig, Body: []byte("hello")}, wxtoken.EInvalid},
		"another platform's": {comp, wxtoken.Push{Timestamp: "1", Nonce: "n", MsgSignature: sig, Body: msgcrypt.Envelope("wx0000000000000bad", enc)}, wxtoken.EInvalid},
		"wrong signature":    {comp, wxtoken.Push{Timestamp: "1", Nonce: "n", MsgSignature: strings.Repeat("a", 40), Body: msgcrypt.Envelope(comp, enc)}, wxtoken.EInvalid},
		"foreign appid tail": {comp, wxtoken.Push{Timestamp: "1", Nonce: "n", MsgSignature: osig, Body: msgcrypt.Envelope(comp, oenc)}, wxtoken.EInvalid},
	} {
		err := f.m.Event(ctx, c.comp, c.p)
		if wxtoken.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	if _, err := f.store.Get(ctx, comp, wxtoken.KindVerifyTicket); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Fatalf("a refused push stored a ticket: %v", err)
	}
	// A well-made push of a kind not acted on is taken.
	if err := f.push("<xml><AppId>" + comp + "</AppId><InfoType>notify_third_fasteregister</InfoType></xml>"); err != nil {
		t.Fatalf("an unknown InfoType: %v", err)
	}
}

func TestAuthorizedPushStoresASealedAuthorizer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ready()
	got, err := f.sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: comp})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.push("<xml><AppId>" + comp + "</AppId><InfoType>authorized</InfoType><AuthorizerAppid>" + got.AuthorizerAppID +
		"</AuthorizerAppid><AuthorizationCode>" + got.AuthCode + "</AuthorizationCode></xml>"); err != nil {
		t.Fatal(err)
	}
	id := wxtoken.AuthorizerID(comp, got.AuthorizerAppID)
	e, err := f.store.GetEntry(ctx, id)
	if err != nil || e.State != wxtoken.EntryActive || e.Family != wxtoken.FamilyAuthorizer {
		t.Fatalf("stored entry %+v, %v", e, err)
	}
	rt, err := f.sim.RefreshToken(comp, got.AuthorizerAppID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Secret, rt) {
		t.Fatal("the refresh token is stored in plaintext")
	}
	if opened, err := f.seal.Open(e.Secret, id); err != nil || string(opened) != rt {
		t.Fatalf("the sealed refresh token opens to %q (%v)", opened, err)
	}
	// Served at once with the token that came with the code.
	g, err := f.eng.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.sim.Check(g.Value); !st.Valid {
		t.Fatalf("authorizer token dead at WeChat: %s", st.Reason)
	}
	if n := f.calls(simulator.EndpointAuthorizerToken); n != 0 {
		t.Fatalf("%d api_authorizer_token calls for a token that came with the code", n)
	}
	list, err := f.m.Authorizers(ctx, comp)
	if err != nil || len(list) != 1 || list[0].AuthorizerAppID != got.AuthorizerAppID || len(list[0].Credentials) == 0 {
		t.Fatalf("Authorizers = %+v, %v", list, err)
	}
	// Cancelled: no longer served, its record kept as removed.
	if err := f.push("<xml><AppId>" + comp + "</AppId><InfoType>unauthorized</InfoType><AuthorizerAppid>" + got.AuthorizerAppID + "</AuthorizerAppid></xml>"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Credential(ctx, id, wxtoken.KindAccessToken); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Fatalf("a cancelled authorizer: %v, want not found", err)
	}
	if e, err := f.store.GetEntry(ctx, id); err != nil || e.State != wxtoken.EntryRemoved || e.Secret == "" {
		t.Fatalf("the cancelled authorizer's record: %+v, %v", e, err)
	}
}

func TestImportAndRefusedRefreshToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ready()
	got, err := f.sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: comp})
	if err != nil {
		t.Fatal(err)
	}
	// Another system exchanged the code and now hands the account over.
	g, err := f.eng.Credential(ctx, comp, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := f.m.opts.Upstream.QueryAuth(ctx, g.Value, comp, got.AuthCode)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.m.ImportAuthorizer(ctx, comp, auth.AuthorizerAppID, auth.RefreshToken)
	if err != nil || st.State != wxtoken.EntryActive {
		t.Fatalf("ImportAuthorizer = %+v, %v", st, err)
	}
	id := wxtoken.AuthorizerID(comp, auth.AuthorizerAppID)
	if n := f.calls(simulator.EndpointAuthorizerToken); n != 1 {
		t.Fatalf("%d api_authorizer_token calls for an import, want 1 (it proves the refresh token)", n)
	}
	// WeChat refuses the refresh token: the record is marked, not lost.
	if err := f.sim.InvalidateRefreshToken(comp, auth.AuthorizerAppID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ImportAuthorizer(ctx, comp, auth.AuthorizerAppID, auth.RefreshToken); err != nil {
		t.Fatal(err)
	}
	cur, err := f.eng.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Its token ends early, and a caller reports it.
	if _, err := f.sim.Invalidate(id, simulator.KindAuthorizerToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Refresh(ctx, id, wxtoken.KindAccessToken, cur.Value); err == nil {
		t.Fatal("a refresh with a refused refresh token succeeded")
	}
	e, err := f.store.GetEntry(ctx, id)
	if err != nil || e.State != wxtoken.EntryReauthorize || !strings.Contains(e.Note, "61023") || e.Secret == "" {
		t.Fatalf("after 61023 the record is %+v (%v), want it kept and marked reauthorize", e, err)
	}
	if _, err := f.m.ImportAuthorizer(ctx, "wx0000000000000bad", "wxa", "rt"); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Fatalf("import to an unknown platform: %v", err)
	}
	if _, err := f.m.ImportAuthorizer(ctx, comp, "", "rt"); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Fatalf("import without an appid: %v", err)
	}
}
