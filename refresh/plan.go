package refresh

import (
	"time"

	"github.com/wxtoken/wxtoken"
)

// schedule holds the timing knobs of the engine.
type schedule struct {
	overlap time.Duration // how long WeChat keeps a replaced credential working
	margin  time.Duration // cut from every handed-out lifetime
	early   float64       // classic and tickets: refresh point as a fraction of the life
	jitter  float64       // random spread, as a fraction of the life
	minGap  time.Duration // least time between two planned attempts on one credential
	stepMax time.Duration // the longest step between tries for a successor past the expiry (planSame)

	// The checks of classic tokens against late calls (see checkUntil):
	// shared says that other replicas mint too; lateBound is how long
	// after it was sent an abandoned call is looked for; checkEvery is the
	// cadence of the probes.
	shared     bool
	lateBound  time.Duration
	checkEvery time.Duration
}

// planRefresh returns when to refresh a credential fetched at fetched that
// expires at expires; u in [0,1) is the random draw for jitter.
//
// Stable tokens are refreshed in the last overlap of their life, the only
// time WeChat issues a new one, but early enough in it to leave at least
// half of it for retries; WeCom tokens likewise (WeCom issues the next one
// at expiry, and planSame takes over once the same one came back). Classic
// tokens and tickets are refreshed at about early×life, so that failures
// leave hours of retries before expiry; the jitter spreads apps and
// replicas. The result always lies strictly between
// fetched and expires.
func (p schedule) planRefresh(kind wxtoken.Kind, api wxtoken.TokenAPI, fetched, expires time.Time, u float64) time.Time {
	life := expires.Sub(fetched)
	if life <= 0 {
		return fetched
	}
	var at time.Time
	if kind == wxtoken.KindAccessToken && (api == wxtoken.TokenAPIStable || api == wxtoken.TokenAPIWeCom) {
		window := p.overlap
		if window > life/2 {
			window = life / 2
		}
		at = expires.Add(-window).Add(time.Duration(u * float64(window) / 2))
	} else {
		frac := p.early + p.jitter*(u-0.5)
		if frac < 0.1 {
			frac = 0.1
		}
		if frac > 0.95 {
			frac = 0.95
		}
		at = fetched.Add(time.Duration(frac * float64(life)))
	}
	return at
}

// planSame returns when to try again for a credential that the upstream
// has just answered with the value already held, at t; expires is the
// held value's expiry. The upstream issues the next value late in this
// one's life (stable) or only once it expired (WeCom), so the tries close
// in on the expiry: in the last overlap while more than an overlap is
// left, then with a quarter of the time left each, then right at the
// expiry, and past it at growing steps (from minGap up to stepMax) until
// a new value comes. The result is after t.
func (p schedule) planSame(t, expires time.Time, u float64) time.Time {
	left := expires.Sub(t)
	step := max(p.minGap, time.Second)
	switch {
	case left > p.overlap:
		return expires.Add(-p.overlap).Add(time.Duration(u * float64(p.overlap) / 2))
	case left > 4*step:
		// A try leaves at least a step of the life, so that an answer of
		// the held value still says a whole second of it.
		return expires.Add(-left / 4)
	case left > 0:
		return expires
	}
	next := -left / 2
	if next > p.stepMax {
		next = p.stepMax
	}
	return t.Add(max(next, step))
}

// backoff returns the wait before retry number n (1-based) after transient
// failures: exponential from base, capped at max, with full jitter in its
// upper half so that replicas and apps do not retry in lockstep.
func backoff(n int, base, max time.Duration, u float64) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(u*float64(d/2))
}

// tokenView is what a handout needs to know of an app's access_token:
// the current one (nil if none), the start of the first token call made
// since it was fetched (Ledger.MintAttemptAt, zero for none), and the
// highest version a force refresh killed (Ledger.KilledVersion).
type tokenView struct {
	cur    *wxtoken.Credential
	mintAt time.Time
	killed uint64
}

// handout returns how long c may be handed out for at now: what is left of
// its life, minus the margin, and, for a classic token or a ticket, no
// longer than it outlives the next call that may replace it (WeChat ends
// a replaced classic token overlap after the call, and may do the same to
// a ticket). tv is the app's access_token.
//
// For a classic token that call is the first token call made since c was
// fetched (tv.mintAt), or, when there was none known, not before
// c.RefreshAt, nor before known, the time up to which every call made is
// known (now, when no other process shares the store). A ticket is handled
// alike with its own CallAttemptAt, its refresh planned no later than the
// next replacement of a classic token (which orphans it).
// The result is whole seconds; zero or less means c must not be served.
func (p schedule) handout(c *wxtoken.Credential, tv tokenView, known, now time.Time) time.Duration {
	if c == nil || c.Value == "" {
		return 0
	}
	end := c.ExpiresAt
	capped, kill := false, time.Time{}
	switch {
	case c.Kind == wxtoken.KindAccessToken && c.API.MintsOnEveryCall():
		capped, kill = true, replacedFrom(c, c.RefreshAt, tv.mintAt, known)
	case c.Kind.IsTicket():
		capped, kill = true, replacedFrom(c, ticketDue(c, tv), c.CallAttemptAt, known)
	}
	if capped {
		if k := kill.Add(p.overlap); k.Before(end) {
			end = k
		}
	}
	d := end.Sub(now) - p.margin
	if d < time.Second {
		return 0
	}
	return d.Truncate(time.Second)
}

// replacedFrom returns the earliest start of a call that may replace c:
// callAt, the start of the first such call made since c was fetched (zero
// for none), or else a call not yet known, which starts no earlier than
// planned nor than known.
func replacedFrom(c *wxtoken.Credential, planned, callAt, known time.Time) time.Time {
	kill := planned
	if known.After(kill) {
		kill = known
	}
	// A call started before c was fetched cannot replace c: one that
	// made it was answered with c, and the engine never mints a token
	// while an older call could still land after it (see awaitLostMint)
	// nor makes two calls for one ticket at once.
	if callAt.After(c.FetchedAt) && callAt.Before(kill) {
		kill = callAt
	}
	return kill
}

// ticketDue returns when ticket c is next refreshed at the latest as far
// as the engine plans it: at its RefreshAt, or once the access_token it
// was fetched with is replaced in a way that kills it (a classic mint, a
// stable force refresh), when it is fetched again at once.
func ticketDue(c *wxtoken.Credential, tv tokenView) time.Time {
	due := c.RefreshAt
	t := tv.cur
	if t == nil {
		return due
	}
	if t.Version > c.TokenVersion && (t.API.MintsOnEveryCall() || tv.killed >= c.TokenVersion) {
		// Orphaned: due since the new token arrived.
		if t.FetchedAt.Before(due) {
			due = t.FetchedAt
		}
		return due
	}
	if t.API.MintsOnEveryCall() {
		next := t.RefreshAt
		if !tv.mintAt.IsZero() && tv.mintAt.Before(next) {
			next = tv.mintAt
		}
		if next.Before(due) {
			due = next
		}
	}
	return due
}

// lateCheck is what one replica knows of a classic access_token's exposure
// to calls that take effect at WeChat late, after their sender stopped
// waiting for them: such a call replaces the token of the moment it lands,
// which then dies an overlap later, and nobody is told.
type lateCheck struct {
	// abandoned is the start of the latest classic call given up on
	// without an answer (Ledger.AbandonedMintAt); zero for none.
	abandoned time.Time
	// tried is the start of the last probe of the token, alive the start
	// of the last one that found it alive; zero for none.
	tried, alive time.Time
	// dead says that a probe found the token rejected.
	dead bool
}

// checkUntil returns the end of the span in which a late call could still
// kill classic token c: a probe that starts then or later and finds c
// alive ends its checks. Zero means that c needs none.
//
// A call that lands after c was minted kills c an overlap later, so no late
// call can kill c before c.FetchedAt + overlap. A call abandoned at a is
// taken to land by a + lateBound, and so to kill by a + lateBound +
// overlap; one landing later than that is not looked for. On a shared
// store every classic token is checked once after its own overlap, even
// with no abandoned call known: another replica's call may have gone out
// unrecorded.
func (p schedule) checkUntil(c *wxtoken.Credential, abandoned time.Time) time.Time {
	if c == nil || c.Kind != wxtoken.KindAccessToken || !lateChecked(c.API) {
		return time.Time{}
	}
	first := c.FetchedAt.Add(p.overlap)
	var until time.Time
	if p.shared {
		until = first
	}
	// A call abandoned after c was fetched is no new danger to c: it is a
	// mint attempt, and handout already ends c's promise an overlap after
	// its start.
	if !abandoned.IsZero() && abandoned.Before(c.FetchedAt) {
		if h := abandoned.Add(p.lateBound + p.overlap); h.After(first) && h.After(until) {
			until = h
		}
	}
	if !until.Before(c.ExpiresAt) {
		until = c.ExpiresAt // an expired token needs no check
	}
	if !until.After(first) && !p.shared {
		return time.Time{}
	}
	return until
}

// nextCheck returns when classic token c should next be probed, or zero
// when it needs no more probes: every checkEvery from its earliest
// possible death by a late call, until a probe at or after checkUntil
// finds it alive, or one finds it dead.
func (p schedule) nextCheck(c *wxtoken.Credential, lc lateCheck) time.Time {
	until := p.checkUntil(c, lc.abandoned)
	if until.IsZero() || lc.dead || !lc.alive.Before(until) {
		return time.Time{}
	}
	from := c.FetchedAt.Add(p.overlap)
	if lc.tried.After(from) {
		from = lc.tried
	}
	next := from.Add(p.checkEvery)
	if !next.Before(c.ExpiresAt) {
		return time.Time{}
	}
	return next
}

// lateHandout caps d, the handout of c at now from handout, while a late
// call could still kill c unnoticed.
//
// c cannot die of a late call before c.FetchedAt + overlap, nor before the
// last probe that found it alive; call the later of the two sure. A death
// after sure is caught by the next probe, at sure + checkEvery at the
// latest, and c is then replaced (and no longer handed out here). So c is
// promised until sure + checkEvery and no further: the promise outlives a
// death by no more than the time it takes to notice it. Once c is past
// sure, that is less than a second away: c is then handed out for one
// second, the least expires_in can say, while the checks go on. The margin
// is not cut from this cap: it would leave nothing to hand out, and the
// cap is a few seconds ahead, not hours. A token a probe found dead is not
// handed out at all.
func (p schedule) lateHandout(d time.Duration, c *wxtoken.Credential, lc lateCheck, now time.Time) time.Duration {
	if d <= 0 || c == nil {
		return d
	}
	until := p.checkUntil(c, lc.abandoned)
	if until.IsZero() {
		return d
	}
	if lc.dead {
		return 0
	}
	if !lc.alive.Before(until) {
		return d
	}
	sure := c.FetchedAt.Add(p.overlap)
	if lc.alive.After(sure) {
		sure = lc.alive
	}
	capped := sure.Add(p.checkEvery).Sub(now)
	if capped < time.Second {
		capped = time.Second
	}
	if capped < d {
		d = capped.Truncate(time.Second)
	}
	return d
}
