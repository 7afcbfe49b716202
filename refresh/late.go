package refresh

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is the engine's watch for classic token calls that take effect
// at WeChat late. A call can reach WeChat, or be carried out there, after
// its sender gave up on it (a timeout, a lost connection, a replica paused
// or killed with the call in flight). It then replaces whatever token is
// current at that moment, which dies an overlap later, and no timeout can
// rule that out. The engine cannot see the landing, only the death: so
// while such a call may still land (see schedule.checkUntil) it probes the
// current token every checkEvery, hands it out only until the next probe
// would catch its death (schedule.lateHandout), and replaces it as soon as
// WeChat rejects it.

// lateCheck gathers what lateHandout and nextCheck need about credential c
// of s, from atomics only: it is on the read path.
func (e *Engine) lateCheck(s *slot, c *wxtoken.Credential) lateCheck {
	if c == nil || s.kind != wxtoken.KindAccessToken || !lateChecked(c.API) {
		return lateCheck{}
	}
	var lc lateCheck
	if n := s.app.abandoned.Load(); n != 0 {
		lc.abandoned = time.Unix(0, n)
	}
	if st := s.late.Load(); st != nil && st.version == c.Version {
		lc.tried, lc.alive, lc.dead = st.tried, st.alive, st.dead
	}
	return lc
}

// isDoomed reports whether c, the access_token of s, is known to have been
// replaced at WeChat by a call of this replica's that landed late: it dies
// an overlap after that landing, so it is due for refresh now.
func (e *Engine) isDoomed(s *slot, c *wxtoken.Credential) bool {
	return c != nil && s.kind == wxtoken.KindAccessToken && c.Version <= s.doomed.Load()
}

// wakeChecks tells checkLoop that a token or the bookkeeping changed.
func (e *Engine) wakeChecks() {
	select {
	case e.lateWake <- struct{}{}:
	default:
	}
}

// noteLate marks a as one whose access_token may need probes, once c, a
// token of an API whose calls can land late, is installed for it, and
// wakes checkLoop to take it in. Apps configured for such an API are
// always taken in; this catches a token of another API than the
// configured one (stored before the config changed, or by a replica that
// runs another config).
func (e *Engine) noteLate(a *app, c *wxtoken.Credential) {
	if c == nil || c.Kind != wxtoken.KindAccessToken || !lateChecked(c.API) || a.lateSeen.Load() {
		return
	}
	a.lateSeen.Store(true)
	e.lateDirty.Store(true)
	e.wakeChecks()
}

// lateCandidates returns the apps of order whose access_token may need
// probes: see noteLate.
func lateCandidates(order []*app, into []*app) []*app {
	into = into[:0]
	for _, a := range order {
		if lateChecked(a.cfg.TokenAPI) || a.lateSeen.Load() {
			into = append(into, a)
		}
	}
	return into
}

// checkLoop runs until ctx ends, probing each classic access_token when its
// next check against late calls is due.
//
// It wakes at every token installed and bookkeeping saved, which a start
// with many apps does thousands of times a second. So it looks only at
// the apps that may need probes, listed again only when the apps change
// or noteLate adds one: a look at every app at each wake would cost the
// square of their number.
func (e *Engine) checkLoop(ctx context.Context) {
	var (
		listed *[]*app
		cands  []*app
	)
	for {
		now := e.opts.Clock.Now()
		var next time.Time
		// The flag is cleared before the apps are read: an app marked
		// after this is listed at the next wake, which noteLate causes.
		dirty := e.lateDirty.Swap(false)
		if order := e.order.Load(); order != listed || dirty {
			listed = order
			cands = lateCandidates(*order, cands)
		}
		for _, a := range cands {
			s := a.token
			cur := s.load()
			at := e.sch.nextCheck(cur, e.lateCheck(s, cur))
			switch {
			case at.IsZero():
			case !at.After(now):
				if a.checking.CompareAndSwap(false, true) {
					e.wg.Add(1)
					go func() {
						defer e.wg.Done()
						e.check(ctx, s)
						a.checking.Store(false)
						e.wakeChecks()
					}()
				}
			case next.IsZero() || at.Before(next):
				next = at
			}
		}
		var fire <-chan time.Time
		var t Timer
		if !next.IsZero() {
			t = e.opts.Clock.TimerAt(next)
			fire = t.C()
		}
		select {
		case <-ctx.Done():
		case <-fire:
		case <-e.lateWake:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// check probes the access_token of s once, and has it replaced at once if
// WeChat rejects it.
func (e *Engine) check(ctx context.Context, s *slot) {
	a := s.app
	cur := s.load()
	start := e.opts.Clock.Now()
	// checkLoop planned this from what it read before this check was
	// marked running; the check that ran meanwhile may have done it.
	if at := e.sch.nextCheck(cur, e.lateCheck(s, cur)); at.IsZero() || at.After(start) {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.opts.UpstreamTimeout)
	err := e.probe(pctx, a, cur.Value)
	cancel()
	st := &lateState{version: cur.Version, tried: start}
	if prev := s.late.Load(); prev != nil && prev.version == cur.Version {
		st.alive = prev.alive
	}
	switch {
	case err == nil:
		st.alive = start
	case wechat.IsTokenRejected(err):
		st.dead = true
	default:
		// Not an answer about the token: the next check asks again, and
		// the token is handed out for a second at a time meanwhile.
		e.log.Warn("checking the access_token against late classic calls failed", "appid", a.cfg.AppID, "err", err)
	}
	s.late.Store(st)
	if !st.dead {
		return
	}
	e.log.Warn("WeChat rejects the access_token: a classic token call took effect late and replaced it; refreshing",
		"appid", a.cfg.AppID, "version", cur.Version, "fetched_at", cur.FetchedAt)
	s.notify() // callers waiting on this replica's claim look again
	if _, err := e.fetch(ctx, s, wxtoken.ReasonLateMint); err != nil {
		e.log.Warn("replacing the access_token killed by a late call failed", "appid", a.cfg.AppID, "err", err)
	}
}
