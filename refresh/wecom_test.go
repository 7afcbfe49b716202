package refresh

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/fakeclock"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/wechat"
)

const corpW = "ww0123456789abcdef"

var (
	agent2 = wxtoken.WeComID(corpW, "1000002")
	agent3 = wxtoken.WeComID(corpW, "1000003")
)

var weComSecrets = map[string]string{agent2: "secret-of-agent-2", agent3: "secret-of-agent-3"}

// weComHarness is engines of WeCom agents against a fakeWeCom, on one fake
// clock, with a one-hour token life, a five-minute overlap and a 30 s
// margin.
type weComHarness struct {
	t    *testing.T
	clk  *fakeclock.Clock
	wc   *fakeWeCom
	url  string
	ev   chan event
	logs *logbuf.Buffer
}

func newWeComHarness(t *testing.T) *weComHarness {
	t.Helper()
	h := &weComHarness{t: t, clk: fakeclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)), ev: make(chan event, 4096), logs: &logbuf.Buffer{}}
	h.wc = newFakeWeCom(h.clk.Now, time.Hour, weComSecrets)
	srv := httptest.NewServer(h.wc)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", h.logs.String())
		}
	})
	return h
}

func weComAgent(id string, tickets ...wxtoken.Kind) AppConfig {
	secret := weComSecrets[id]
	return AppConfig{Family: wxtoken.FamilyWeCom, AppID: id, Secret: func() string { return secret }, Tickets: tickets}
}

// engine starts an engine for agents on store (a memory store of its own
// when nil; with coord, a replica of a shared one).
func (h *weComHarness) engine(agents []AppConfig, store wxtoken.Store, coord wxtoken.Coordinator) *Engine {
	h.t.Helper()
	up, err := wechat.New(wechat.Options{BaseURL: h.url, WeComBaseURL: h.url, Timeout: 5 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	if store == nil {
		store = memory.New()
	}
	eng, err := New(Options{
		Apps: agents, Store: store, Coordinator: coord, Upstream: up,
		Clock:   fakeClock{h.clk},
		Overlap: 5 * time.Minute, Margin: 30 * time.Second,
		MaxRate: -1, Observer: recorder{h.ev},
		Rand:   func() float64 { return 0.5 },
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { eng.Close() })
	return eng
}

// wait returns the next refresh event of id and kind.
func (h *weComHarness) wait(id string, kind wxtoken.Kind) event {
	h.t.Helper()
	guard := time.After(10 * time.Second)
	for {
		select {
		case e := <-h.ev:
			if e.appID == id && e.kind == kind {
				return e
			}
		case <-guard:
			h.t.Fatalf("no refresh of %s %s", id, kind)
		}
	}
}

// eventually waits, in real time, until cond holds: what it waits for is
// done by the engines' goroutines, not by the fake clock.
func (h *weComHarness) eventually(what string, cond func() bool) {
	h.t.Helper()
	guard := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(guard) {
			h.t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// assertAlive checks invariant 1 for g: WeCom holds its value valid for at
// least its remaining lifetime.
func (h *weComHarness) assertAlive(g wxtoken.Grant) {
	h.t.Helper()
	left := h.wc.check(g.Value)
	if left <= 0 {
		h.t.Fatalf("handed-out %s %s is dead at WeCom", g.AppID, g.Kind)
	}
	if want := g.ExpiresAt.Sub(h.clk.Now()); left < want {
		h.t.Fatalf("%s handed out for %v more but WeCom keeps it %v", g.Kind, want, left)
	}
}

func (h *weComHarness) get(eng *Engine, id string, kind wxtoken.Kind) wxtoken.Grant {
	h.t.Helper()
	g, err := eng.Credential(context.Background(), id, kind)
	if err != nil {
		h.t.Fatalf("Credential(%s, %s): %v", id, kind, err)
	}
	h.drain()
	return g
}

// drain discards the refresh events so far, so that wait sees only what
// happens after.
func (h *weComHarness) drain() {
	for {
		select {
		case <-h.ev:
		default:
			return
		}
	}
}

// TestWeComAgentsOfOneCorpGetTheirOwnTokens: 200 first reads of two agents
// of one corp cost one gettoken each, and each agent gets its own token.
func TestWeComAgentsOfOneCorpGetTheirOwnTokens(t *testing.T) {
	h := newWeComHarness(t)
	eng := h.engine([]AppConfig{weComAgent(agent2), weComAgent(agent3)}, nil, nil)
	var wg sync.WaitGroup
	got := make([]wxtoken.Grant, 200)
	errs := make([]error, 200)
	for i := range got {
		id := agent2
		if i%2 == 1 {
			id = agent3
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = eng.Credential(context.Background(), id, wxtoken.KindAccessToken)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Value != got[i%2].Value {
			t.Fatalf("reader %d: %v %q, want %q", i, errs[i], got[i].Value, got[i%2].Value)
		}
	}
	if got[0].Value == got[1].Value || got[0].AppID != agent2 || got[1].AppID != agent3 {
		t.Fatalf("agents share a token or ids are wrong: %+v %+v", got[0], got[1])
	}
	if !strings.Contains(got[0].Value, agent2) || !strings.Contains(got[1].Value, agent3) {
		t.Fatalf("a token of the other agent was handed out: %q %q", got[0].Value, got[1].Value)
	}
	for _, id := range []string{agent2, agent3} {
		if n := h.wc.callsOf(wechat.PathWeComToken, id); n != 1 {
			t.Fatalf("gettoken calls of %s = %d, want 1", id, n)
		}
	}
	h.assertAlive(got[0])
	h.assertAlive(got[1])
	if got[0].ExpiresIn != time.Hour-30*time.Second {
		t.Fatalf("handed out for %v, want the life minus the margin", got[0].ExpiresIn)
	}
	for i, st := range eng.Status(context.Background()) {
		if st.Family != wxtoken.FamilyWeCom || st.CorpID != corpW || st.TokenAPI != wxtoken.TokenAPIWeCom ||
			st.AgentID != []string{"1000002", "1000003"}[i] {
			t.Fatalf("status %d: %+v", i, st)
		}
	}
}

// TestWeComSameValueNeverExtendsExpiry: an answer carrying the token (or
// ticket) already held keeps the earlier expiry, even when the upstream
// says a full life again.
func TestWeComSameValueNeverExtendsExpiry(t *testing.T) {
	h := newWeComHarness(t)
	h.wc.fullExpiresIn = true
	eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindJSAPITicket)}, nil, nil)
	ctx := context.Background()
	first := h.get(eng, agent2, wxtoken.KindAccessToken)
	ticket := h.get(eng, agent2, wxtoken.KindJSAPITicket)
	a := eng.app(agent2)
	expires := a.token.load().ExpiresAt
	ticketExpires := a.ticket(wxtoken.KindJSAPITicket).load().ExpiresAt

	h.clk.Advance(20 * time.Minute)
	g, err := eng.Refresh(ctx, agent2, wxtoken.KindAccessToken, first.Value)
	if err != nil || g.Value != first.Value {
		t.Fatalf("report of a token WeCom still holds: %v %q", err, g.Value)
	}
	if got := a.token.load().ExpiresAt; !got.Equal(expires) {
		t.Fatalf("the same token answered again moved its expiry from %v to %v", expires, got)
	}
	if want := expires.Add(-30 * time.Second).Sub(h.clk.Now()); g.ExpiresIn != want {
		t.Fatalf("handed out for %v, want %v", g.ExpiresIn, want)
	}
	if n := h.wc.callsOf(wechat.PathWeComToken, agent2); n != 2 {
		t.Fatalf("gettoken calls = %d, want 2", n)
	}
	// The ticket's planned refresh is answered with the same ticket.
	h.clk.Advance(a.ticket(wxtoken.KindJSAPITicket).load().RefreshAt.Sub(h.clk.Now()))
	for e := h.wait(agent2, wxtoken.KindJSAPITicket); e.result != "unchanged"; e = h.wait(agent2, wxtoken.KindJSAPITicket) {
	}
	tc := a.ticket(wxtoken.KindJSAPITicket).load()
	if tc.Value != ticket.Value || !tc.ExpiresAt.Equal(ticketExpires) {
		t.Fatalf("ticket answered again: same %v, expiry %v, want %v", tc.Value == ticket.Value, tc.ExpiresAt, ticketExpires)
	}
	if !tc.RefreshAt.After(h.clk.Now()) || !tc.RefreshAt.Before(tc.ExpiresAt) {
		t.Fatalf("ticket's next try at %v, want between now %v and its expiry %v", tc.RefreshAt, h.clk.Now(), tc.ExpiresAt)
	}
	h.assertAlive(h.get(eng, agent2, wxtoken.KindJSAPITicket))
}

// TestWeComEarlyEndCompareAndRefresh: WeCom ends a token early; 50 callers
// report it at once; one gettoken serves them all with the new token, and
// both tickets are fetched again with it.
func TestWeComEarlyEndCompareAndRefresh(t *testing.T) {
	h := newWeComHarness(t)
	eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig)}, nil, nil)
	ctx := context.Background()
	first := h.get(eng, agent2, wxtoken.KindAccessToken)
	h.get(eng, agent2, wxtoken.KindJSAPITicket)
	h.get(eng, agent2, wxtoken.KindAgentConfig)
	h.clk.Advance(10 * time.Minute)
	h.wc.end(agent2)
	before := h.wc.callsOf(wechat.PathWeComToken, agent2)
	var wg sync.WaitGroup
	got := make([]wxtoken.Grant, 50)
	errs := make([]error, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = eng.Refresh(ctx, agent2, wxtoken.KindAccessToken, first.Value)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Value == first.Value || got[i].Value != got[0].Value {
			t.Fatalf("report %d: %v %q", i, errs[i], got[i].Value)
		}
	}
	if n := h.wc.callsOf(wechat.PathWeComToken, agent2) - before; n != 1 {
		t.Fatalf("gettoken calls for 50 reports = %d, want 1", n)
	}
	h.assertAlive(got[0])
	// The tickets follow: fetched again with the new token.
	a := eng.app(agent2)
	for _, k := range []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig} {
		for a.ticket(k).load().TokenVersion != a.token.load().Version {
			h.wait(agent2, k)
		}
		h.assertAlive(h.get(eng, agent2, k))
	}
	for _, p := range []string{wechat.PathWeComJSAPITicket, wechat.PathWeComTicket} {
		used := h.wc.tokensUsed(p)
		if len(used) != 2 || used[0] != first.Value || used[1] != got[0].Value {
			t.Fatalf("%s called with %q, want the first token, then the new one", p, used)
		}
	}
}

// TestWeComTicketCallWithAnEndedToken: a ticket's planned refresh meets a
// token WeCom ended early (40014): the token is refreshed by gettoken and
// the ticket fetched with the new one.
func TestWeComTicketCallWithAnEndedToken(t *testing.T) {
	h := newWeComHarness(t)
	eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindAgentConfig)}, nil, nil)
	first := h.get(eng, agent2, wxtoken.KindAccessToken)
	h.get(eng, agent2, wxtoken.KindAgentConfig)
	a := eng.app(agent2)
	h.wc.end(agent2)
	h.clk.Advance(a.ticket(wxtoken.KindAgentConfig).load().RefreshAt.Sub(h.clk.Now()))
	// The fake answers the ticket it holds (unchanged) to any live token.
	for e := h.wait(agent2, wxtoken.KindAgentConfig); e.result == "error"; e = h.wait(agent2, wxtoken.KindAgentConfig) {
	}
	tok := h.get(eng, agent2, wxtoken.KindAccessToken)
	if tok.Value == first.Value {
		t.Fatal("the ended token is still handed out")
	}
	h.assertAlive(tok)
	h.assertAlive(h.get(eng, agent2, wxtoken.KindAgentConfig))
	if used := h.wc.tokensUsed(wechat.PathWeComTicket); used[len(used)-1] != tok.Value {
		t.Fatalf("the ticket was fetched with %q, want the new token", used[len(used)-1])
	}
}

// TestWeComGapAtExpiryIsBridged: while gettoken keeps answering the token
// held, the engine tries again a few times before its expiry and at it;
// readers who come once it can no longer be handed out wait, and get the
// new token as soon as WeCom issues it. No dead or nearly dead token is
// handed out, and the readers cost no call.
func TestWeComGapAtExpiryIsBridged(t *testing.T) {
	h := newWeComHarness(t)
	eng := h.engine([]AppConfig{weComAgent(agent2)}, nil, nil)
	first := h.get(eng, agent2, wxtoken.KindAccessToken)
	s := eng.app(agent2).token
	expires := s.load().ExpiresAt
	gap := expires.Add(-30 * time.Second)
	// The tries before the gap.
	for s.load().RefreshAt.Before(gap) {
		h.clk.Advance(s.load().RefreshAt.Sub(h.clk.Now()))
		if e := h.wait(agent2, wxtoken.KindAccessToken); e.result != "unchanged" {
			t.Fatalf("event %+v before the expiry", e)
		}
		if !s.load().ExpiresAt.Equal(expires) {
			t.Fatal("the expiry moved")
		}
	}
	h.clk.Advance(gap.Sub(h.clk.Now()))
	// A reader whose patience ends gets an error, not the token.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if g, err := eng.Credential(cctx, agent2, wxtoken.KindAccessToken); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Fatalf("impatient reader in the gap: %v, %+v", err, g)
	}
	const readers = 20
	var wg sync.WaitGroup
	got := make([]wxtoken.Grant, readers)
	errs := make([]error, readers)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = eng.Credential(context.Background(), agent2, wxtoken.KindAccessToken)
		}()
	}
	h.eventually("the readers wait", func() bool { return s.waiting.Load() == readers })
	callsInGap := h.wc.callsOf(wechat.PathWeComToken, agent2)
	tries := 0
	for {
		h.eventually("the readers wait again", func() bool { return s.waiting.Load() == readers })
		h.clk.Advance(s.load().RefreshAt.Sub(h.clk.Now()))
		tries++
		if e := h.wait(agent2, wxtoken.KindAccessToken); e.result == "ok" {
			break
		} else if e.result != "unchanged" || tries > 10 {
			t.Fatalf("event %+v after %d tries in the gap", e, tries)
		}
	}
	if !h.clk.Now().Equal(expires) {
		t.Fatalf("the new token came at %v, want right at the expiry %v", h.clk.Now(), expires)
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Value == first.Value || got[i].Value != got[0].Value {
			t.Fatalf("reader %d: %v, old token %v", i, errs[i], got[i].Value == first.Value)
		}
		h.assertAlive(got[i])
	}
	if n := h.wc.callsOf(wechat.PathWeComToken, agent2) - callsInGap; n != tries {
		t.Fatalf("gettoken calls in the gap = %d, want the %d planned tries", n, tries)
	}
	if n := h.wc.callsOf(wechat.PathWeComToken, agent2); n > 6 {
		t.Fatalf("gettoken calls over one token's life = %d, want a few", n)
	}
}

// TestWeComErrorClasses: the classes of WeCom's errcodes reach the status
// with their hints, and hold calls back as the class says.
func TestWeComErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		path, class, hint string
		code              int
		msg               string
		blocked           bool
	}{
		{wechat.PathWeComToken, "ip_whitelist", "203.0.113.9", 60020, "not allow to access from your ip, hint: [x], from ip: 203.0.113.9, more info at ...", true},
		{wechat.PathWeComToken, "configuration", "agent's secret", 40001, "invalid credential", true},
		{wechat.PathWeComJSAPITicket, "other_agent_token", "another agent", 301002, "mismatch", false},
	} {
		t.Run(tc.class, func(t *testing.T) {
			h := newWeComHarness(t)
			h.wc.inject(tc.path, tc.code, tc.msg, 1)
			eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindJSAPITicket)}, nil, nil)
			kind := wxtoken.KindAccessToken
			if tc.path != wechat.PathWeComToken {
				kind = wxtoken.KindJSAPITicket
			}
			_, err := eng.Credential(context.Background(), agent2, kind)
			var we *wxtoken.Error
			if wxtoken.ErrorCode(err) != wxtoken.EUnavailable || !asError(err, &we) || we.WeChatErrCode != tc.code {
				t.Fatalf("read: %v", err)
			}
			st := eng.Status(context.Background())[0]
			var le *wxtoken.ErrorInfo
			for _, c := range st.Credentials {
				if c.Kind == kind {
					le = c.LastError
				}
			}
			if le == nil || le.Class != tc.class || le.ErrCode != tc.code || !strings.Contains(le.Hint, tc.hint) {
				t.Fatalf("last error %+v", le)
			}
			if (st.BlockedUntil != nil) != tc.blocked {
				t.Fatalf("blocked until %v", st.BlockedUntil)
			}
			if tc.code == 301002 && !strings.Contains(h.logs.String(), "level=ERROR") {
				t.Fatal("a token of another agent was not logged as an error")
			}
			// Nothing calls again before the class's wait.
			calls := h.wc.callsOf(tc.path, agent2)
			h.clk.Advance(4 * time.Minute)
			if _, err := eng.Credential(context.Background(), agent2, kind); err == nil {
				t.Fatal("served within the wait")
			}
			if n := h.wc.callsOf(tc.path, agent2); n != calls {
				t.Fatalf("%d calls within the wait", n-calls)
			}
		})
	}
}

// TestWeComClusterOneCallPerAgent: three replicas sharing a store make one
// gettoken per agent for all their first reads, and one per planned try.
func TestWeComClusterOneCallPerAgent(t *testing.T) {
	h := newWeComHarness(t)
	o := Options{Clock: fakeClock{h.clk}}
	shared := newShared(&o)
	agents := []AppConfig{weComAgent(agent2), weComAgent(agent3)}
	var engs []*Engine
	for _, name := range []string{"r1", "r2", "r3"} {
		r := shared.Replica(name, nil)
		engs = append(engs, h.engine(agents, r, r))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	values := map[string]map[string]bool{agent2: {}, agent3: {}}
	for i := range 150 {
		eng, id := engs[i%3], []string{agent2, agent3}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := eng.Credential(context.Background(), id, wxtoken.KindAccessToken)
			if err != nil {
				t.Errorf("read of %s: %v", id, err)
				return
			}
			mu.Lock()
			values[id][g.Value] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, id := range []string{agent2, agent3} {
		if n := h.wc.callsOf(wechat.PathWeComToken, id); n != 1 || len(values[id]) != 1 {
			t.Fatalf("%s: %d gettoken calls, %d values; want 1 and 1", id, n, len(values[id]))
		}
	}
	// The planned try in the last window: one call per agent for the
	// three replicas, and every replica learns the unchanged expiry.
	s := engs[0].app(agent2).token
	h.eventually("every replica holds the token", func() bool {
		for _, e := range engs {
			if e.app(agent2).token.load() == nil {
				return false
			}
		}
		return true
	})
	h.clk.Advance(s.load().RefreshAt.Sub(h.clk.Now()))
	h.eventually("every replica learns the try", func() bool {
		for _, e := range engs {
			if c := e.app(agent2).token.load(); c == nil || c.Version < 2 {
				return false
			}
		}
		return true
	})
	if n := h.wc.callsOf(wechat.PathWeComToken, agent2); n != 2 {
		t.Fatalf("gettoken calls of %s after the planned try = %d, want 2", agent2, n)
	}
}

// TestNewChecksFamilies: New rejects a WeCom agent with another token
// API, a ticket of another family, and ids of the wrong shape.
func TestNewChecksFamilies(t *testing.T) {
	base := func(c AppConfig) error {
		_, err := New(Options{Apps: []AppConfig{c}, Store: memory.New(), Upstream: &wechat.Client{}})
		return err
	}
	secret := func() string { return "s" }
	for name, c := range map[string]AppConfig{
		"wecom with stable": {Family: wxtoken.FamilyWeCom, AppID: agent2, Secret: secret, TokenAPI: wxtoken.TokenAPIStable},
		"wecom wx_card":     {Family: wxtoken.FamilyWeCom, AppID: agent2, Secret: secret, Tickets: []wxtoken.Kind{wxtoken.KindWxCard}},
		"wecom bare id":     {Family: wxtoken.FamilyWeCom, AppID: corpW, Secret: secret},
		"app agent_config":  {AppID: "wxA", Secret: secret, Tickets: []wxtoken.Kind{wxtoken.KindAgentConfig}},
		"app with wecom":    {AppID: "wxA", Secret: secret, TokenAPI: wxtoken.TokenAPIWeCom},
		"app with a slash":  {AppID: agent2, Secret: secret},
		"unknown family":    {Family: "open", AppID: "wxA", Secret: secret},
	} {
		if err := base(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := base(weComAgent(agent2, wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig)); err != nil {
		t.Fatalf("a WeCom agent with both tickets: %v", err)
	}
}

func asError(err error, target **wxtoken.Error) bool { return errors.As(err, target) }

// TestWeComFrequencyLimitBacksOffGrowing: 45009 on a WeCom ticket call is
// a frequency limit: a minute's wait, doubling while it lasts, and the
// token is not held back by it.
func TestWeComFrequencyLimitBacksOffGrowing(t *testing.T) {
	h := newWeComHarness(t)
	h.wc.inject(wechat.PathWeComJSAPITicket, 45009, "api freq out of limit", 3)
	eng := h.engine([]AppConfig{weComAgent(agent2, wxtoken.KindJSAPITicket)}, nil, nil)
	s := eng.app(agent2).ticket(wxtoken.KindJSAPITicket)
	if _, err := eng.Credential(context.Background(), agent2, wxtoken.KindJSAPITicket); err == nil {
		t.Fatal("served through the limit")
	}
	h.drain()
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		if i > 0 {
			h.clk.Advance(s.retryAtTime().Sub(h.clk.Now()))
			if e := h.wait(agent2, wxtoken.KindJSAPITicket); e.result != "error" {
				t.Fatalf("event %+v", e)
			}
		}
		if got := s.retryAtTime().Sub(h.clk.Now()); got != want {
			t.Fatalf("wait after failure %d = %v, want %v", i+1, got, want)
		}
		if le := s.lastError(); le == nil || le.Class != "frequency_limit" || le.ErrCode != 45009 {
			t.Fatalf("last error %+v", le)
		}
	}
	if st := eng.Status(context.Background())[0]; st.BlockedUntil != nil {
		t.Fatalf("a ticket's limit blocked the token until %v", st.BlockedUntil)
	}
	h.assertAlive(h.get(eng, agent2, wxtoken.KindAccessToken))
	h.clk.Advance(s.retryAtTime().Sub(h.clk.Now()))
	for e := h.wait(agent2, wxtoken.KindJSAPITicket); e.result != "ok"; e = h.wait(agent2, wxtoken.KindJSAPITicket) {
	}
	h.assertAlive(h.get(eng, agent2, wxtoken.KindJSAPITicket))
}
