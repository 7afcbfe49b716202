package simulator

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

func TestNewValidates(t *testing.T) {
	apps := map[string]string{"wxA": "s"}
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"no apps", Options{}, "no apps"},
		{"empty appid", Options{Apps: map[string]string{"": "s"}}, "empty appid"},
		{"empty secret", Options{Apps: map[string]string{"wxA": ""}}, "empty secret"},
		{"negative ttl", Options{Apps: apps, TTL: -time.Second}, "TTL -1s is negative"},
		{"negative quota", Options{Apps: apps, DailyQuota: -1}, "DailyQuota -1 is negative"},
		{"short ttl", Options{Apps: apps, TTL: time.Millisecond}, "shorter than 1s"},
		{"overlap too long", Options{Apps: apps, TTL: 10 * time.Second, Overlap: 10 * time.Second}, "Overlap 10s must be shorter than TTL 10s"},
		{"ticket ttl too short", Options{Apps: apps, TTL: 10 * time.Second, Overlap: 2 * time.Second, TicketTTL: 2 * time.Second}, "shorter than TicketTTL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	s, err := New(Options{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	o := s.Options()
	if o.TTL != 7200*time.Second || o.Overlap != 300*time.Second || o.TicketTTL != o.TTL ||
		o.DailyQuota != 2000 || o.StableQuota != 500000 || o.QuotaPeriod != 24*time.Hour ||
		o.ForceLimit != 20 || o.ForceInterval != 30*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	// A compressed lifetime gets a proportionally compressed overlap.
	s, err = New(Options{Apps: apps, TTL: 48 * time.Second})
	if err != nil || s.Options().Overlap != 2*time.Second {
		t.Errorf("overlap for 48s ttl: %v %v", s.Options().Overlap, err)
	}
}

func TestTokenValidationOrder(t *testing.T) {
	f := newFixture(t, Options{})
	for _, c := range []struct {
		query string
		code  int
	}{
		{"appid=wxA&secret=secretA", wechat.ErrInvalidGrantType},
		{"grant_type=password&appid=wxA&secret=secretA", wechat.ErrInvalidGrantType},
		{"grant_type=client_credential&secret=secretA", wechat.ErrMissingAppID},
		{"grant_type=client_credential&appid=wxA", wechat.ErrMissingSecret},
		{"grant_type=client_credential&appid=wxZ&secret=secretA", wechat.ErrInvalidAppID},
		{"grant_type=client_credential&appid=wxA&secret=wrong", wechat.ErrInvalidSecret},
	} {
		wantErr(t, f.do("GET", "/cgi-bin/token?"+c.query, ""), c.code)
		body := strings.NewReplacer("&", `","`, "=", `":"`).Replace(c.query)
		wantErr(t, f.do("POST", "/cgi-bin/stable_token", `{"`+body+`"}`), c.code)
	}
	wantErr(t, f.do("POST", classicPath("wxA", "secretA"), ""), errRequireGET)
	wantErr(t, f.do("GET", "/cgi-bin/stable_token", ""), errRequirePOST)
	wantErr(t, f.do("POST", "/cgi-bin/stable_token", `{"appid":"wxA",`), errDataFormat)
	wantErr(t, f.do("POST", "/cgi-bin/stable_token", ``), errDataFormat)
	// Rejected calls mint nothing and spend no quota.
	if n := len(f.sim.creds); n != 0 {
		t.Errorf("%d credentials minted by rejected calls", n)
	}
}

func TestTokenShape(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.classic("wxA")
	if a.ContentType != wxContentType || a.ExpiresIn != 7200 || strings.Contains(a.Raw, "errcode") {
		t.Fatalf("classic answer: %s %s", a.ContentType, a.Raw)
	}
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{136}$`)
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tok := f.token(f.classic("wxA"))
			mu.Lock()
			defer mu.Unlock()
			if !re.MatchString(tok) || seen[tok] {
				t.Errorf("bad or repeated token %q", tok)
			}
			seen[tok] = true
		})
	}
	wg.Wait()
	tk := f.ticket(f.token(f.classic("wxB")), "jsapi")
	if len(tk.Ticket) != 86 || tk.ErrMsg != "ok" || !strings.HasPrefix(tk.Raw, `{"errcode":0,"errmsg":"ok","ticket":`) {
		t.Errorf("ticket answer %s", tk.Raw)
	}
}

func TestClassicOverlap(t *testing.T) {
	f := newFixture(t, Options{})
	t1 := f.token(f.classic("wxA"))
	f.clock.Advance(100 * time.Second)
	t2 := f.token(f.classic("wxA"))
	if st := f.sim.Check(t1); !st.Valid || st.ExpiresIn != 300 || st.Kind != KindClassic || st.AppID != "wxA" {
		t.Fatalf("old token right after replacement: %+v", st)
	}
	f.clock.Advance(299 * time.Second)
	f.wantLive(t1)
	f.clock.Advance(time.Second)
	f.wantDead(t1, wechat.ErrInvalidCredential)
	if st := f.sim.Check(t1); st.Valid || st.Reason != ReasonReplaced || st.ExpiresIn != 0 {
		t.Errorf("Check(old) = %+v", st)
	}
	f.wantLive(t2)

	// Only the latest token gets the overlap; an older one keeps the
	// deadline it already had.
	t3 := f.token(f.classic("wxA")) // t2 now dies in 300s
	f.clock.Advance(100 * time.Second)
	f.token(f.classic("wxA")) // t3 now dies in 300s; t2 still in 200s
	if st := f.sim.Check(t2); st.ExpiresIn != 200 {
		t.Errorf("t2 has %ds left, want 200", st.ExpiresIn)
	}
	if st := f.sim.Check(t3); st.ExpiresIn != 300 {
		t.Errorf("t3 has %ds left, want 300", st.ExpiresIn)
	}
}

func TestClassicOverlapNeverExtendsLife(t *testing.T) {
	f := newFixture(t, Options{})
	t1 := f.token(f.classic("wxA"))
	f.clock.Advance(7100 * time.Second)
	f.token(f.classic("wxA"))
	if st := f.sim.Check(t1); st.ExpiresIn != 100 {
		t.Fatalf("old token has %ds, want its own 100s", st.ExpiresIn)
	}
	f.clock.Advance(100 * time.Second)
	f.wantDead(t1, wechat.ErrTokenExpired) // it died of age, not replacement
}

func TestNaturalExpiry(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(f.classic("wxA"))
	f.clock.Advance(7199 * time.Second)
	f.wantLive(tok)
	if st := f.sim.Check(tok); st.ExpiresIn != 1 {
		t.Errorf("ExpiresIn %d, want 1", st.ExpiresIn)
	}
	f.clock.Advance(time.Second)
	f.wantDead(tok, wechat.ErrTokenExpired)
	if st := f.sim.Check(tok); st.Valid || st.Reason != ReasonExpired || !st.Known {
		t.Errorf("Check = %+v", st)
	}
}

func TestStableNormalMode(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.stable("wxA", false)
	s1 := f.token(a)
	if a.ExpiresIn != 7200 {
		t.Fatalf("expires_in %d", a.ExpiresIn)
	}
	f.clock.Advance(100*time.Second + 500*time.Millisecond)
	if a := f.stable("wxA", false); a.AccessToken != s1 || a.ExpiresIn != 7099 {
		t.Fatalf("idempotent call: %s", a.Raw)
	}
	f.clock.Advance(6799*time.Second - 500*time.Millisecond) // 301s left
	if a := f.stable("wxA", false); a.AccessToken != s1 || a.ExpiresIn != 301 {
		t.Fatalf("before the last overlap: %s", a.Raw)
	}
	f.clock.Advance(time.Second) // 300s left: the last overlap
	a = f.stable("wxA", false)
	s2 := f.token(a)
	if s2 == s1 || a.ExpiresIn != 7200 {
		t.Fatalf("in the last overlap: %s", a.Raw)
	}
	if st := f.sim.Check(s1); !st.Valid || st.ExpiresIn != 300 || st.Kind != KindStable {
		t.Fatalf("old stable token: %+v", st)
	}
	if a := f.stable("wxA", false); a.AccessToken != s2 {
		t.Fatal("the new token should now be returned")
	}
	f.clock.Advance(299 * time.Second)
	f.wantLive(s1)
	f.clock.Advance(time.Second)
	f.wantDead(s1, wechat.ErrTokenExpired)
	f.wantLive(s2)
}

func TestStableForceMode(t *testing.T) {
	f := newFixture(t, Options{ForceLimit: 3, QuotaPeriod: time.Hour})
	s1 := f.token(f.stable("wxA", false))
	s2 := f.token(f.stable("wxA", true))
	if s2 == s1 {
		t.Fatal("force refresh returned the same token")
	}
	f.wantDead(s1, wechat.ErrInvalidCredential)
	if st := f.sim.Check(s1); st.Reason != ReasonReplaced {
		t.Errorf("Check(old) = %+v", st)
	}

	// Inside the interval a force call is a normal call.
	f.clock.Advance(29 * time.Second)
	if a := f.stable("wxA", true); a.AccessToken != s2 || a.ExpiresIn != 7171 {
		t.Fatalf("force inside the interval: %s", a.Raw)
	}
	f.wantLive(s2)
	f.clock.Advance(time.Second)
	s3 := f.token(f.stable("wxA", true))
	if s3 == s2 {
		t.Fatal("force after the interval should refresh")
	}
	f.clock.Advance(30 * time.Second)
	s4 := f.token(f.stable("wxA", true)) // third effective force: the limit
	f.clock.Advance(30 * time.Second)
	wantErr(t, f.stable("wxA", true), wechat.ErrDailyQuota)
	f.wantLive(s4) // the refused force call changed nothing
	if a := f.stable("wxA", false); a.AccessToken != s4 {
		t.Fatal("normal mode still works past the force limit")
	}
	if a := f.stable("wxB", true); a.ErrCode != 0 {
		t.Fatalf("the limit is per app: %s", a.Raw)
	}

	f.clock.Advance(time.Hour) // a new quota period
	if s5 := f.token(f.stable("wxA", true)); s5 == s4 {
		t.Fatal("force budget should be back after the period")
	}
}

func TestClassicStableIsolation(t *testing.T) {
	f := newFixture(t, Options{})
	c1 := f.token(f.classic("wxA"))
	s1 := f.token(f.stable("wxA", false))
	for range 3 {
		f.clock.Advance(400 * time.Second)
		f.token(f.classic("wxA"))
	}
	f.wantDead(c1, wechat.ErrInvalidCredential)
	f.wantLive(s1)
	if a := f.stable("wxA", false); a.AccessToken != s1 {
		t.Fatal("classic calls changed the stable token")
	}
	c := f.token(f.classic("wxA"))
	f.clock.Advance(31 * time.Second)
	f.token(f.stable("wxA", true))
	f.wantLive(c)
	if st := f.sim.Check(c); st.ExpiresIn != 7169 {
		t.Errorf("a force refresh touched the classic token: %+v", st)
	}
}

func TestTickets(t *testing.T) {
	f := newFixture(t, Options{TicketTTL: 3600 * time.Second, OldTicket: OldTicketLivesOn})
	tok := f.token(f.classic("wxA"))

	wantErr(t, f.do("GET", "/cgi-bin/ticket/getticket?type=jsapi", ""), errMissingToken)
	wantErr(t, f.ticket("", "jsapi"), wechat.ErrInvalidToken)
	wantErr(t, f.ticket("not a token!", "jsapi"), wechat.ErrInvalidToken)
	wantErr(t, f.ticket("95_neverissued", "jsapi"), wechat.ErrInvalidCredential)
	wantErr(t, f.ticket(tok, "bogus"), errInvalidArgs)
	wantErr(t, f.ticket(tok, ""), errInvalidArgs)

	j1 := f.ticket(tok, "jsapi")
	if j1.ErrCode != 0 || j1.Ticket == "" || j1.ExpiresIn != 3600 {
		t.Fatalf("ticket: %s", j1.Raw)
	}
	// Same ticket within its life, with either parameter order and with
	// another (stable) token of the same app.
	f.clock.Advance(1000 * time.Second)
	j2 := f.do("GET", "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok, "")
	if j2.Ticket != j1.Ticket || j2.ExpiresIn != 2600 {
		t.Fatalf("second ticket call: %s", j2.Raw)
	}
	if a := f.ticket(f.token(f.stable("wxA", false)), "jsapi"); a.Ticket != j1.Ticket {
		t.Fatal("a stable token of the same app should get the same ticket")
	}
	card := f.ticket(tok, "wx_card")
	if card.Ticket == "" || card.Ticket == j1.Ticket {
		t.Fatalf("wx_card ticket: %s", card.Raw)
	}
	if a := f.ticket(f.token(f.classic("wxB")), "jsapi"); a.Ticket == j1.Ticket {
		t.Fatal("tickets are per app")
	}
	if st := f.sim.Check(j1.Ticket); !st.Valid || st.Kind != KindJSAPI || st.AppID != "wxA" || st.ExpiresIn != 2600 {
		t.Fatalf("Check(ticket) = %+v", st)
	}

	// In its last overlap a new ticket comes; the old one lives on.
	tok = f.token(f.classic("wxA"))
	f.clock.Advance(2300 * time.Second) // 300s left
	j3 := f.ticket(tok, "jsapi")
	if j3.Ticket == j1.Ticket || j3.ExpiresIn != 3600 {
		t.Fatalf("ticket in its last overlap: %s", j3.Raw)
	}
	if st := f.sim.Check(j1.Ticket); !st.Valid || st.ExpiresIn != 300 {
		t.Fatalf("old ticket: %+v", st)
	}
	f.clock.Advance(300 * time.Second)
	if st := f.sim.Check(j1.Ticket); st.Valid || st.Reason != ReasonExpired {
		t.Fatalf("old ticket after its expiry: %+v", st)
	}
	// A ticket is not an access_token.
	wantErr(t, f.probe(j3.Ticket), wechat.ErrInvalidCredential)
}

// TestTicketsEndAfterOverlap: by default every getticket call issues a
// new ticket, and the one it replaces keeps working for the overlap only,
// as a replaced classic token does.
func TestTicketsEndAfterOverlap(t *testing.T) {
	f := newFixture(t, Options{TicketTTL: 3600 * time.Second})
	if got := f.sim.Options().OldTicket; got != OldTicketEndsAfterOverlap {
		t.Fatalf("default OldTicket = %q", got)
	}
	tok := f.token(f.classic("wxA"))
	j1 := f.ticket(tok, "jsapi")
	if j1.ErrCode != 0 || j1.Ticket == "" || j1.ExpiresIn != 3600 {
		t.Fatalf("ticket: %s", j1.Raw)
	}
	f.clock.Advance(1000 * time.Second)
	j2 := f.ticket(tok, "jsapi")
	if j2.Ticket == j1.Ticket || j2.ExpiresIn != 3600 {
		t.Fatalf("second ticket call: %s", j2.Raw)
	}
	// The replaced one works for the overlap (300s, TTL/24), no longer.
	if st := f.sim.Check(j1.Ticket); !st.Valid || st.ExpiresIn != 300 {
		t.Fatalf("replaced ticket: %+v", st)
	}
	// A third call within that overlap does not lengthen or shorten it,
	// and replaces the second ticket the same way.
	f.clock.Advance(100 * time.Second)
	j3 := f.ticket(tok, "jsapi")
	if st := f.sim.Check(j1.Ticket); !st.Valid || st.ExpiresIn != 200 {
		t.Fatalf("first ticket after a third call: %+v", st)
	}
	if st := f.sim.Check(j2.Ticket); !st.Valid || st.ExpiresIn != 300 {
		t.Fatalf("second ticket after a third call: %+v", st)
	}
	// The other type is a ticket of its own.
	card := f.ticket(tok, "wx_card")
	if st := f.sim.Check(j3.Ticket); card.Ticket == j3.Ticket || !st.Valid || st.ExpiresIn != 3600 {
		t.Fatalf("a wx_card call touched the jsapi ticket: %+v", st)
	}
	f.clock.Advance(200 * time.Second)
	if st := f.sim.Check(j1.Ticket); st.Valid || st.Reason != ReasonReplaced {
		t.Fatalf("first ticket after its overlap: %+v", st)
	}
	if st := f.sim.Check(j2.Ticket); !st.Valid {
		t.Fatalf("second ticket inside its overlap: %+v", st)
	}

	if _, err := New(Options{Apps: map[string]string{"wxA": "s"}, OldTicket: "sometimes"}); err == nil || !strings.Contains(err.Error(), "OldTicket") {
		t.Fatalf("unknown OldTicket: %v", err)
	}
}

func TestQuotas(t *testing.T) {
	f := newFixture(t, Options{DailyQuota: 3, StableQuota: 2, QuotaPeriod: time.Hour})
	var last string
	for range 3 {
		last = f.token(f.classic("wxA"))
	}
	wantErr(t, f.classic("wxA"), wechat.ErrDailyQuota)
	f.wantLive(last) // the refused call replaced nothing
	if a := f.classic("wxB"); a.ErrCode != 0 {
		t.Fatalf("quota is per app: %s", a.Raw)
	}
	f.token(f.stable("wxA", false))
	f.token(f.stable("wxA", false))
	wantErr(t, f.stable("wxA", false), wechat.ErrDailyQuota)
	if got := f.sim.Calls(EndpointToken, "wxA"); got != 4 {
		t.Errorf("Calls = %d, want 4 (rejected calls count)", got)
	}

	f.clock.Advance(59 * time.Minute)
	wantErr(t, f.classic("wxA"), wechat.ErrDailyQuota)
	f.clock.Advance(time.Minute)
	f.token(f.classic("wxA"))
	f.token(f.stable("wxA", false))
}

func TestUnknownPath(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.do("GET", "/cgi-bin/message/custom/send", "")
	if a.Status != 404 || a.ErrCode != errInvalidURL || !ridRE.MatchString(a.ErrMsg) {
		t.Fatalf("unknown path: %d %s", a.Status, a.Raw)
	}
}

func TestProbe(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(f.classic("wxA"))
	for _, m := range []string{"GET", "POST"} {
		a := f.do(m, "/cgi-bin/get_api_domain_ip?access_token="+tok, "")
		if a.Raw != `{"ip_list":["101.89.47.18","101.91.34.103"]}` {
			t.Errorf("%s: %s", m, a.Raw)
		}
	}
	wantErr(t, f.probe(""), wechat.ErrInvalidToken)
	wantErr(t, f.do("GET", "/cgi-bin/get_api_domain_ip", ""), errMissingToken)
}

func TestCalls(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(f.classic("wxA"))
	f.do("GET", classicPath("wxA", "wrong"), "")
	f.do("GET", classicPath("wxZ", "x"), "")
	f.stable("wxB", false)
	f.ticket(tok, "jsapi")
	f.ticket("95_unknown", "jsapi")
	f.probe(tok)
	if err := f.sim.Inject(Fault{Kind: FaultHTTP500, Count: 1}); err != nil {
		t.Fatal(err)
	}
	f.probe(tok)
	for _, c := range []struct {
		endpoint, app string
		want          int
	}{
		{EndpointToken, "wxA", 2},
		{EndpointToken, "wxZ", 1},
		{EndpointToken, "", 3},
		{EndpointStableToken, "wxB", 1},
		{EndpointStableToken, "wxA", 0},
		{EndpointTicket, "wxA", 1},
		{EndpointTicket, "", 2},
		{EndpointProbe, "wxA", 2},
		{"", "wxA", 5},
		{"", "", 8},
	} {
		if got := f.sim.Calls(c.endpoint, c.app); got != c.want {
			t.Errorf("Calls(%q, %q) = %d, want %d", c.endpoint, c.app, got, c.want)
		}
	}
}

func TestCheckUnknown(t *testing.T) {
	f := newFixture(t, Options{})
	if st := f.sim.Check("nope"); st != (CredentialState{Reason: ReasonUnknown}) {
		t.Fatalf("Check(unknown) = %+v", st)
	}
}

func TestRotate(t *testing.T) {
	// The ticket asked for after a rotation is the rotated one where
	// getticket reissues only in a ticket's last overlap.
	f := newFixture(t, Options{OldTicket: OldTicketLivesOn})
	c1 := f.token(f.classic("wxA"))
	c2, err := f.sim.Rotate("wxA", KindClassic)
	if err != nil || c2 == c1 {
		t.Fatalf("Rotate classic: %q %v", c2, err)
	}
	f.wantDead(c1, wechat.ErrInvalidCredential) // at once, no overlap
	f.wantLive(c2)
	// The next /cgi-bin/token call replaces the rotated token as usual.
	f.token(f.classic("wxA"))
	if st := f.sim.Check(c2); st.ExpiresIn != 300 {
		t.Errorf("rotated token after a normal call: %+v", st)
	}

	s1 := f.token(f.stable("wxA", false))
	s2, err := f.sim.Rotate("wxA", KindStable)
	if err != nil {
		t.Fatal(err)
	}
	f.wantDead(s1, wechat.ErrInvalidCredential)
	if a := f.stable("wxA", false); a.AccessToken != s2 {
		t.Fatalf("stable after rotation: %s", a.Raw)
	}

	j1 := f.ticket(s2, "jsapi").Ticket
	j2, err := f.sim.Rotate("wxA", KindJSAPI)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.sim.Check(j1); st.Reason != ReasonReplaced {
		t.Errorf("old ticket: %+v", st)
	}
	if a := f.ticket(s2, "jsapi"); a.Ticket != j2 {
		t.Errorf("ticket after rotation: %s", a.Raw)
	}
	// Rotating what was never fetched just issues one.
	if w, err := f.sim.Rotate("wxB", KindWxCard); err != nil || !f.sim.Check(w).Valid {
		t.Errorf("Rotate wx_card: %v", err)
	}

	if _, err := f.sim.Rotate("wxZ", KindClassic); err == nil || !strings.Contains(err.Error(), "unknown appid") {
		t.Errorf("unknown app: %v", err)
	}
	if _, err := f.sim.Rotate("wxA", "access_token"); err == nil || !strings.Contains(err.Error(), "cannot rotate") {
		t.Errorf("unknown kind: %v", err)
	}
	if n := f.sim.Calls("", ""); n != 11 {
		t.Errorf("rotation should not count as calls: %d", n)
	}
}
