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
}

// planRefresh returns when to refresh a credential fetched at fetched that
// expires at expires; u in [0,1) is the random draw for jitter.
//
// Stable tokens are refreshed in the last overlap of their life, the only
// time WeChat issues a new one, but early enough in it to leave at least half
// of it for retries. Classic tokens and tickets are refreshed at about
// early×life, so that failures leave hours of retries before expiry; the
// jitter spreads apps and replicas. The result always lies strictly between
// fetched and expires.
func (p schedule) planRefresh(kind wxtoken.Kind, api wxtoken.TokenAPI, fetched, expires time.Time, u float64) time.Time {
	life := expires.Sub(fetched)
	if life <= 0 {
		return fetched
	}
	var at time.Time
	if kind == wxtoken.KindAccessToken && api == wxtoken.TokenAPIStable {
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

// handout returns how long c may be handed out for at now: what is left of
// its life, minus the margin, and for a classic token no longer than it
// outlives the next mint (a classic call kills the previous token overlap
// after it). mintAt is the start of the first token call made since c was
// fetched, or zero (or a time before c was fetched) when there was none
// known: then the next mint is not
// before c.RefreshAt, nor before known, the time up to which every token
// call made is known (now, when no other process shares the store).
// The result is whole seconds; zero or less means c must not be served.
func (p schedule) handout(c *wxtoken.Credential, mintAt, known, now time.Time) time.Duration {
	if c == nil || c.Value == "" {
		return 0
	}
	end := c.ExpiresAt
	if c.Kind == wxtoken.KindAccessToken && c.API == wxtoken.TokenAPIClassic {
		kill := c.RefreshAt
		if known.After(kill) {
			kill = known
		}
		// A call started before c was fetched cannot kill c: one that
		// made it was answered with c, and the engine never mints while
		// an older call could still land after c (see awaitLostMint).
		if mintAt.After(c.FetchedAt) && mintAt.Before(kill) {
			kill = mintAt
		}
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
