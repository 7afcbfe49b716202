package refresh

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"

	"github.com/wxtoken/wxtoken"
)

// TestPlanRefreshAlwaysBeforeExpiry is the schedule's property: for any
// lifetime, overlap, early fraction, jitter and random draw, the planned
// refresh lies after the fetch and before expiry, and a classic grant
// handed out at any moment before the refresh outlives neither the token
// nor the token's replacement plus the overlap.
func TestPlanRefreshAlwaysBeforeExpiry(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prop := func(lifeS uint32, overlapS uint16, earlyP, jitterP, u, at uint8, classic, ticket bool) bool {
		life := time.Duration(lifeS%86400+2) * time.Second
		p := schedule{
			overlap: time.Duration(overlapS%600+2) * time.Second,
			early:   0.31 + float64(earlyP%64)/100, // 0.31 .. 0.94
			jitter:  float64(jitterP%31) / 100,     // 0 .. 0.30
		}
		p.margin = p.overlap / 2
		if p.early+p.jitter >= 1 {
			p.jitter = 0.99 - p.early
		}
		kind, api := wxtoken.KindAccessToken, wxtoken.TokenAPIStable
		if classic {
			api = wxtoken.TokenAPIClassic
		}
		if ticket {
			kind, api = wxtoken.KindJSAPITicket, ""
		}
		exp := base.Add(life)
		r := p.planRefresh(kind, api, base, exp, float64(u)/256)
		if !r.After(base) || !r.Before(exp) {
			t.Logf("life %v overlap %v: refresh at %v", life, p.overlap, r.Sub(base))
			return false
		}
		c := &wxtoken.Credential{Kind: kind, API: api, Value: "v", FetchedAt: base, ExpiresAt: exp, RefreshAt: r}
		now := base.Add(time.Duration(float64(life) * float64(at) / 256))
		d := p.handout(c, tokenView{}, now, now)
		if d <= 0 {
			return true
		}
		end := now.Add(d)
		if end.After(exp.Add(-p.margin)) {
			return false
		}
		if ticket || classic {
			// The next call that may replace c (a classic mint, a ticket
			// call) is not before max(r, now); it kills c overlap later.
			mint := r
			if now.After(mint) {
				mint = now
			}
			if end.After(mint.Add(p.overlap - p.margin)) {
				return false
			}
		}
		return d%time.Second == 0
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 5000, Rand: nil}); err != nil {
		t.Fatal(err)
	}
}

func TestHandoutAfterMintAttempt(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := schedule{overlap: 5 * time.Minute, margin: time.Minute}
	c := &wxtoken.Credential{Kind: wxtoken.KindAccessToken, API: wxtoken.TokenAPIClassic, Value: "v",
		FetchedAt: base, ExpiresAt: base.Add(2 * time.Hour), RefreshAt: base.Add(80 * time.Minute)}
	tests := []struct {
		name   string
		mintAt time.Time
		now    time.Time
		want   time.Duration
	}{
		// The known time is now throughout: a store of the engine's own.
		{"fresh", time.Time{}, base, 84 * time.Minute},
		{"past the refresh point", time.Time{}, base.Add(90 * time.Minute), 4 * time.Minute},
		{"a mint attempt failed a minute ago", base.Add(89 * time.Minute), base.Add(90 * time.Minute), 3 * time.Minute},
		{"the attempt's overlap is nearly over", base.Add(81 * time.Minute), base.Add(85*time.Minute - time.Second), time.Second},
		{"the attempt's overlap minus margin is over", base.Add(81 * time.Minute), base.Add(85 * time.Minute), 0},
		{"the call that fetched it", base, base, 84 * time.Minute},
		{"an attempt older than the token", base.Add(-time.Minute), base.Add(90 * time.Minute), 4 * time.Minute},
		{"near expiry", time.Time{}, base.Add(2*time.Hour - 90*time.Second), 30 * time.Second},
		{"inside the margin", time.Time{}, base.Add(2*time.Hour - 60*time.Second), 0},
	}
	for _, tt := range tests {
		c := *c
		if tt.name == "near expiry" || tt.name == "inside the margin" {
			c.API = wxtoken.TokenAPIStable
		}
		if got := p.handout(&c, tokenView{mintAt: tt.mintAt}, tt.now, tt.now); got != tt.want {
			t.Errorf("%s: handout = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestTicketHandout: a ticket is handed out no longer than it outlives,
// by the overlap minus the margin, the next ticket call that may replace
// it: its own planned refresh, a call already started, or the refresh
// that follows a replacement of the token it was fetched with.
func TestTicketHandout(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := schedule{overlap: 5 * time.Minute, margin: time.Minute}
	at := func(m float64) time.Time { return base.Add(time.Duration(m * float64(time.Minute))) }
	ticket := wxtoken.Credential{Kind: wxtoken.KindJSAPITicket, Value: "t", TokenVersion: 1,
		FetchedAt: base, ExpiresAt: at(120), RefreshAt: at(80)}
	token := func(api wxtoken.TokenAPI, version uint64, fetched, refresh float64) *wxtoken.Credential {
		return &wxtoken.Credential{Kind: wxtoken.KindAccessToken, API: api, Value: "a", Version: version,
			FetchedAt: at(fetched), ExpiresAt: at(fetched + 120), RefreshAt: at(refresh)}
	}
	stable1 := token(wxtoken.TokenAPIStable, 1, 0, 116)
	tests := []struct {
		name   string
		callAt time.Time // the ticket's CallAttemptAt
		tv     tokenView
		known  time.Time // zero for now
		now    time.Time
		want   time.Duration
	}{
		{name: "fresh: until its refresh plus the overlap", tv: tokenView{cur: stable1}, now: base, want: 84 * time.Minute},
		{name: "no token known", now: base, want: 84 * time.Minute},
		{name: "past its refresh point", tv: tokenView{cur: stable1}, now: at(90), want: 4 * time.Minute},
		{name: "a ticket call started a minute ago", callAt: at(89), tv: tokenView{cur: stable1}, now: at(90), want: 3 * time.Minute},
		{name: "a ticket call started before the refresh point", callAt: at(30), tv: tokenView{cur: stable1}, now: at(31), want: 3 * time.Minute},
		{name: "the call's overlap minus margin is over", callAt: at(30), tv: tokenView{cur: stable1}, now: at(34), want: 0},
		{name: "a call older than the ticket", callAt: at(-1), tv: tokenView{cur: stable1}, now: base, want: 84 * time.Minute},
		{name: "classic token refreshed before the ticket", tv: tokenView{cur: token(wxtoken.TokenAPIClassic, 1, 0, 70)}, now: base, want: 74 * time.Minute},
		{name: "classic token refreshed after the ticket", tv: tokenView{cur: token(wxtoken.TokenAPIClassic, 1, 0, 90)}, now: base, want: 84 * time.Minute},
		{name: "classic token call in flight", tv: tokenView{cur: token(wxtoken.TokenAPIClassic, 1, 0, 90), mintAt: at(10)}, now: at(11), want: 4 * time.Minute},
		{name: "orphaned by a classic mint", tv: tokenView{cur: token(wxtoken.TokenAPIClassic, 2, 30, 110)}, now: at(31), want: 4 * time.Minute},
		{name: "a stable rollover orphans nothing", tv: tokenView{cur: token(wxtoken.TokenAPIStable, 2, 30, 146)}, now: at(31), want: 53 * time.Minute},
		{name: "orphaned by a stable force refresh", tv: tokenView{cur: token(wxtoken.TokenAPIStable, 2, 30, 146), killed: 1}, now: at(31), want: 4 * time.Minute},
		{name: "shared store: every call is known up to two minutes ago", tv: tokenView{cur: stable1}, known: at(88), now: at(90), want: 2 * time.Minute},
		{name: "shared store: a known call comes first", callAt: at(87), tv: tokenView{cur: stable1}, known: at(88), now: at(90), want: time.Minute},
		{name: "near expiry its own life ends first", tv: tokenView{cur: stable1}, now: at(118), want: time.Minute},
	}
	for _, tt := range tests {
		for _, kind := range []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard} {
			c := ticket
			c.Kind, c.CallAttemptAt = kind, tt.callAt
			known := tt.known
			if known.IsZero() {
				known = tt.now
			}
			if got := p.handout(&c, tt.tv, known, tt.now); got != tt.want {
				t.Errorf("%s, %s: handout = %v, want %v", tt.name, kind, got, tt.want)
			}
		}
	}
}

// TestHandoutKnownTime: on a shared store, a classic token past its
// refresh point is handed out only until an overlap after the time up to
// which every other replica's mint is known, not an overlap after now.
func TestHandoutKnownTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := schedule{overlap: 5 * time.Minute, margin: time.Minute}
	c := &wxtoken.Credential{Kind: wxtoken.KindAccessToken, API: wxtoken.TokenAPIClassic, Value: "v",
		FetchedAt: base, ExpiresAt: base.Add(2 * time.Hour), RefreshAt: base.Add(80 * time.Minute)}
	now := base.Add(90 * time.Minute)
	tests := []struct {
		name  string
		known time.Time
		want  time.Duration
	}{
		{"the store answers", now.Add(-time.Second), 3*time.Minute + 59*time.Second},
		{"the store has been away for two minutes", now.Add(-2 * time.Minute), 2 * time.Minute},
		{"away for longer than the overlap minus margin", now.Add(-4 * time.Minute), 0},
		{"away since before the refresh point", base.Add(70 * time.Minute), 0},
	}
	for _, tt := range tests {
		if got := p.handout(c, tokenView{}, tt.known, now); got != tt.want {
			t.Errorf("%s: handout = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 40; n++ {
		for i := 0; i < 50; i++ {
			d := backoff(n, time.Second, time.Minute, r.Float64())
			ceil := time.Second << min(n-1, 10)
			if ceil > time.Minute {
				ceil = time.Minute
			}
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, ceil/2, ceil)
			}
		}
	}
}

// TestLateHandout: while a classic call that may still land late could
// kill the token unnoticed, the token is promised only until the next
// check would catch its death: never beyond its earliest possible death
// (an overlap after it was fetched, or the last check that found it alive)
// plus the check cadence, and for at least the one second that expires_in
// can say.
func TestLateHandout(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const (
		overlap   = 5 * time.Minute
		lateBound = 3 * time.Minute
		every     = time.Second
	)
	c := &wxtoken.Credential{Kind: wxtoken.KindAccessToken, API: wxtoken.TokenAPIClassic, Value: "v",
		FetchedAt: base, ExpiresAt: base.Add(2 * time.Hour), RefreshAt: base.Add(80 * time.Minute)}
	abandoned := base.Add(-10 * time.Second)
	horizon := abandoned.Add(lateBound + overlap) // the latest death the checks look for
	first := base.Add(overlap)                    // the earliest death by a late call
	tests := []struct {
		name   string
		shared bool
		stable bool
		lc     lateCheck
		now    time.Time
		want   time.Duration // the planned handout when capped by nothing
	}{
		{"solo, no call abandoned", false, false, lateCheck{}, base, 84 * time.Minute},
		{"abandoned after the token was fetched: the mint attempt caps it", false, false,
			lateCheck{abandoned: base.Add(time.Second)}, base, 84 * time.Minute},
		{"abandoned so long ago it cannot land after the token's mint", false, false,
			lateCheck{abandoned: base.Add(-lateBound - time.Nanosecond)}, base, 84 * time.Minute},
		{"abandoned just late enough to land after the token's mint", false, false,
			lateCheck{abandoned: base.Add(-lateBound + time.Nanosecond)}, base, overlap + every},
		{"fresh token, abandoned call", false, false, lateCheck{abandoned: abandoned}, base, overlap + every},
		{"half a minute before the earliest death", false, false, lateCheck{abandoned: abandoned},
			first.Add(-30 * time.Second), 31 * time.Second},
		{"one second and a nanosecond before the earliest death", false, false, lateCheck{abandoned: abandoned},
			first.Add(-time.Second - time.Nanosecond), 2 * time.Second},
		{"at the earliest death, unchecked", false, false, lateCheck{abandoned: abandoned}, first, time.Second},
		{"a check overdue: still the least expires_in", false, false, lateCheck{abandoned: abandoned, tried: first},
			first.Add(10 * time.Second), time.Second},
		{"checked alive 400 ms ago", false, false,
			lateCheck{abandoned: abandoned, tried: first.Add(time.Minute), alive: first.Add(time.Minute)},
			first.Add(time.Minute + 400*time.Millisecond), time.Second},
		{"found dead", false, false, lateCheck{abandoned: abandoned, tried: first.Add(time.Minute), dead: true},
			first.Add(time.Minute), 0},
		{"checked alive 1 ns before the horizon: checks go on", false, false,
			lateCheck{abandoned: abandoned, alive: horizon.Add(-time.Nanosecond)}, horizon, time.Second},
		{"checked alive at the horizon: as planned", false, false,
			lateCheck{abandoned: abandoned, alive: horizon}, horizon, 80*time.Minute + overlap - time.Minute - horizon.Sub(base)},
		{"shared store, fresh token", true, false, lateCheck{}, base, overlap + every},
		{"shared store, at the earliest death", true, false, lateCheck{}, first, time.Second},
		{"shared store, checked once after its overlap: as planned", true, false,
			lateCheck{alive: first.Add(every)}, first.Add(every), 80*time.Minute - every - time.Minute},
		{"a stable token is never capped", true, true, lateCheck{abandoned: abandoned, dead: true}, base, 84 * time.Minute},
	}
	for _, tt := range tests {
		p := schedule{overlap: overlap, margin: time.Minute, shared: tt.shared, lateBound: lateBound, checkEvery: every}
		c := *c
		if tt.stable {
			c.API = wxtoken.TokenAPIStable
			c.RefreshAt = c.ExpiresAt.Add(-overlap) // so that the planned handout is the same
			c.ExpiresAt = base.Add(85 * time.Minute)
		}
		got := p.lateHandout(p.handout(&c, tokenView{}, tt.now, tt.now), &c, tt.lc, tt.now)
		if got != tt.want {
			t.Errorf("%s: handout = %v, want %v", tt.name, got, tt.want)
		}
	}
	p := schedule{overlap: overlap, margin: time.Minute, shared: true, lateBound: lateBound, checkEvery: every}
	if got := p.lateHandout(0, c, lateCheck{abandoned: abandoned}, base); got != 0 {
		t.Errorf("a credential that cannot be served became servable: %v", got)
	}
}

// TestNextCheck: probes run every checkEvery from a token's earliest death
// by a late call until one at or past the horizon finds it alive.
func TestNextCheck(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const (
		overlap   = 5 * time.Minute
		lateBound = 3 * time.Minute
		every     = time.Second
	)
	c := &wxtoken.Credential{Kind: wxtoken.KindAccessToken, API: wxtoken.TokenAPIClassic, Value: "v",
		FetchedAt: base, ExpiresAt: base.Add(2 * time.Hour), RefreshAt: base.Add(80 * time.Minute)}
	abandoned := base.Add(-10 * time.Second)
	horizon := abandoned.Add(lateBound + overlap)
	first := base.Add(overlap)
	tests := []struct {
		name   string
		shared bool
		lc     lateCheck
		want   time.Time // zero for no check
	}{
		{"solo, no call abandoned", false, lateCheck{}, time.Time{}},
		{"abandoned after the token was fetched", false, lateCheck{abandoned: base.Add(time.Second)}, time.Time{}},
		{"abandoned: the first check", false, lateCheck{abandoned: abandoned}, first.Add(every)},
		{"after a check", false, lateCheck{abandoned: abandoned, tried: first.Add(time.Minute), alive: first.Add(time.Minute)},
			first.Add(time.Minute + every)},
		{"after a check that failed", false, lateCheck{abandoned: abandoned, tried: first.Add(time.Minute)},
			first.Add(time.Minute + every)},
		{"alive 1 ns before the horizon", false, lateCheck{abandoned: abandoned, tried: horizon.Add(-time.Nanosecond),
			alive: horizon.Add(-time.Nanosecond)}, horizon.Add(every - time.Nanosecond)},
		{"alive at the horizon", false, lateCheck{abandoned: abandoned, tried: horizon, alive: horizon}, time.Time{}},
		{"found dead", false, lateCheck{abandoned: abandoned, tried: first.Add(every), dead: true}, time.Time{}},
		{"shared store: one check after the overlap", true, lateCheck{}, first.Add(every)},
		{"shared store: done after it", true, lateCheck{tried: first.Add(every), alive: first.Add(every)}, time.Time{}},
	}
	for _, tt := range tests {
		p := schedule{overlap: overlap, shared: tt.shared, lateBound: lateBound, checkEvery: every}
		if got := p.nextCheck(c, tt.lc); !got.Equal(tt.want) {
			t.Errorf("%s: next check %v, want %v", tt.name, got, tt.want)
		}
	}
	// An expired token needs no check.
	short := *c
	short.ExpiresAt = base.Add(overlap + every)
	p := schedule{overlap: overlap, shared: true, lateBound: lateBound, checkEvery: every}
	if got := p.nextCheck(&short, lateCheck{abandoned: abandoned}); !got.IsZero() {
		t.Errorf("a token expiring at its check is checked at %v", got)
	}
}

// TestPlanSame: the tries for a value answered again close in on its
// expiry, a few before it and one right at it, then step past it.
func TestPlanSame(t *testing.T) {
	p := schedule{overlap: 5 * time.Minute, minGap: time.Second, stepMax: 15 * time.Second}
	exp := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	if at := p.planSame(exp.Add(-30*time.Minute), exp, 0.5); !at.Equal(exp.Add(-5*time.Minute + 75*time.Second)) {
		t.Fatalf("far from the expiry: %v, want in the last overlap", at)
	}
	now, tries := exp.Add(-225*time.Second), 0
	for now.Before(exp) {
		next := p.planSame(now, exp, 0.5)
		if !next.After(now) || next.After(exp) {
			t.Fatalf("try after %v planned at %v", now, next)
		}
		if next.Before(exp) && exp.Sub(next) < time.Second {
			t.Fatalf("a try %v before the expiry leaves less than a second", exp.Sub(next))
		}
		now, tries = next, tries+1
	}
	if tries < 2 || tries > 6 {
		t.Fatalf("%d tries before the expiry, want a few", tries)
	}
	for _, tc := range []struct{ past, step time.Duration }{{0, time.Second}, {4 * time.Second, 2 * time.Second}, {time.Hour, 15 * time.Second}} {
		if got := p.planSame(exp.Add(tc.past), exp, 0.5).Sub(exp.Add(tc.past)); got != tc.step {
			t.Errorf("%v past the expiry: next in %v, want %v", tc.past, got, tc.step)
		}
	}
}
