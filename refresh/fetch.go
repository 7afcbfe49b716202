package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is how a credential is fetched: one flight per credential
// whatever the number of callers, the gate of the error policy, the
// lease, the upstream calls, and the install of their answer.

// flight runs fn once for every concurrent caller of the same slot and
// mode, on a context of its own; the caller waits until fn ends or ctx does.
func (e *Engine) flight(ctx context.Context, s *slot, mode string, fn func(context.Context) (*wxtoken.Credential, error)) (*wxtoken.Credential, error) {
	ch := e.sf.DoChan(s.key+"|"+mode, func() (any, error) {
		s.flight.Lock()
		defer s.flight.Unlock()
		rctx, cancel := e.detached(e.opts.CallTimeout)
		defer cancel()
		return fn(rctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*wxtoken.Credential), nil
	case <-ctx.Done():
		return nil, e.waitError(s, ctx.Err())
	}
}

// fetch makes sure s holds a servable credential, fetching one when it
// does not (or when a refresh is due and reason is proactive).
func (e *Engine) fetch(ctx context.Context, s *slot, reason string) (*wxtoken.Credential, error) {
	return e.flight(ctx, s, "fetch", func(ctx context.Context) (*wxtoken.Credential, error) {
		// satisfied returns the credential when no refresh is needed: it
		// is servable and not due, or the caller only needs a servable
		// one. Someone (here or on another replica) may have refreshed
		// while this one waited.
		satisfied := func(now time.Time) (*wxtoken.Credential, bool) {
			cur := s.load()
			if cur == nil {
				return nil, false
			}
			due := !now.Before(cur.RefreshAt) || e.ticketOrphaned(s, cur) || e.isDoomed(s, cur)
			if _, ok := e.grant(s, cur, now); ok {
				if !due || reason == wxtoken.ReasonStartup {
					return cur, true
				}
			} else if !due && e.bridging(s, cur, now) {
				// Its successor is tried at RefreshAt and not before:
				// the upstream would answer the same value.
				return cur, true
			}
			return nil, false
		}
		now := e.opts.Clock.Now()
		if cur, ok := satisfied(now); ok {
			return cur, nil
		}
		if err := e.gate(s, now); err != nil {
			return nil, err
		}
		release, err := e.claim(ctx, s, func(now time.Time) bool { _, ok := satisfied(now); return !ok })
		if err != nil {
			return nil, err
		}
		if release == nil {
			if cur, ok := satisfied(e.opts.Clock.Now()); ok {
				return cur, nil
			}
			return nil, e.unavailable(s, nil)
		}
		defer release()
		if s.kind == wxtoken.KindAccessToken {
			return e.refreshToken(ctx, s, reason, false)
		}
		return e.refreshTicket(ctx, s, reason)
	})
}

// gate refuses an upstream call while the error policy holds it back.
func (e *Engine) gate(s *slot, now time.Time) error {
	until := s.retryAtTime()
	if s.kind == wxtoken.KindAccessToken {
		if b := s.app.blocked(); b.After(until) {
			until = b
		}
	}
	if now.Before(until) {
		return e.unavailable(s, &until)
	}
	return nil
}

// ticketOrphaned reports whether ticket c was fetched with an access_token
// that has since been replaced in a way that kills it: any classic mint, or
// a stable force refresh (a stable rollover keeps the old token alive).
func (e *Engine) ticketOrphaned(s *slot, c *wxtoken.Credential) bool {
	if c == nil || !s.kind.IsTicket() {
		return false
	}
	t := s.app.token.load()
	if t == nil || t.Version <= c.TokenVersion {
		return false
	}
	if t.API.MintsOnEveryCall() {
		return true
	}
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	return s.app.ledger.KilledVersion >= c.TokenVersion
}

// liveToken returns a servable access_token of a, fetching one if needed.
func (e *Engine) liveToken(ctx context.Context, a *app) (*wxtoken.Credential, error) {
	cur := a.token.load()
	if _, ok := e.grant(a.token, cur, e.opts.Clock.Now()); ok {
		return cur, nil
	}
	return e.fetch(ctx, a.token, wxtoken.ReasonStartup)
}

// refreshToken makes one token call and installs its answer. force spends a
// stable force_refresh.
func (e *Engine) refreshToken(ctx context.Context, s *slot, reason string, force bool) (*wxtoken.Credential, error) {
	if err := e.awaitLostMint(ctx, s.app); err != nil {
		return nil, err
	}
	w, fetched, err := e.callToken(ctx, s.app, force)
	if err != nil {
		return nil, e.fail(s, reason, err)
	}
	return e.install(ctx, s, reason, w, fetched, 0, force)
}

// callToken makes one upstream token call for a, counting it in the day's
// bookkeeping before it is sent.
func (e *Engine) callToken(ctx context.Context, a *app, force bool) (wechat.Credential, time.Time, error) {
	if err := e.lim.wait(ctx); err != nil {
		return wechat.Credential{}, time.Time{}, err
	}
	classic := a.cfg.TokenAPI.MintsOnEveryCall()
	start := e.opts.Clock.Now()
	e.updateLedger(ctx, a, func(m *wxtoken.Ledger) {
		rollDay(m, start)
		m.TokenCalls++
		if classic && m.MintAttemptAt.IsZero() {
			m.MintAttemptAt = start
		}
		if classic {
			// A call still recorded as unanswered was abandoned: its
			// replica stopped with it in flight, or this process did.
			if m.LastMintAt.After(m.AbandonedMintAt) {
				m.AbandonedMintAt = m.LastMintAt
			}
			m.LastMintAt, m.LastMintBy = start, e.coord.Owner()
		}
		if force {
			m.ForceRefreshes = append(m.ForceRefreshes, start)
		}
	})
	w, endpoint, err := e.tokenCall(ctx, a, force)
	e.observeCall(a.cfg.AppID, endpoint, err, start)
	var api *wechat.APIError
	switch {
	case !classic || err == nil:
	case errors.As(err, &api):
		// WeChat answered with an errcode: it minted nothing, so the
		// current token is not going to die an overlap from now.
		e.updateLedger(ctx, a, func(m *wxtoken.Ledger) {
			if m.MintAttemptAt.Equal(start) {
				m.MintAttemptAt = time.Time{}
			}
			if m.LastMintAt.Equal(start) {
				m.LastMintAt, m.LastMintBy = time.Time{}, ""
			}
		})
	case wechat.Unanswered(err):
		// WeChat may still carry the call out, after any token fetched
		// from now on: those are checked until it can no longer land.
		// Recorded even when the call was cut short by shutdown, so that
		// a restart knows.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.LeaseTTL)
		e.updateLedger(mctx, a, func(m *wxtoken.Ledger) {
			if start.After(m.AbandonedMintAt) {
				m.AbandonedMintAt = start
			}
		})
		cancel()
		e.log.Warn("a classic token call got no answer; WeChat may still carry it out, so the next tokens are checked until it can no longer land",
			"appid", a.cfg.AppID, "sent_at", start, "until", start.Add(e.opts.LateBound+e.opts.Overlap))
	default:
		// Answered, if badly: whatever it did at WeChat is done, and the
		// current token's handout already counts with it (MintAttemptAt).
		e.updateLedger(ctx, a, func(m *wxtoken.Ledger) {
			if m.LastMintAt.Equal(start) {
				m.LastMintAt, m.LastMintBy = time.Time{}, ""
			}
		})
	}
	return w, start, err
}

func (e *Engine) observeCall(appID, endpoint string, err error, start time.Time) {
	took := e.opts.Clock.Now().Sub(start)
	if err == nil {
		e.opts.Observer.UpstreamCall(appID, endpoint, 0, "", took)
		return
	}
	c := wechat.Classify(err, start)
	e.opts.Observer.UpstreamCall(appID, endpoint, c.ErrCode, c.Class.String(), took)
}

// probe asks WeChat whether token is alive.
func (e *Engine) probe(ctx context.Context, a *app, token string) error {
	start := e.opts.Clock.Now()
	err := e.opts.Upstream.Probe(ctx, token)
	e.observeCall(a.cfg.AppID, wechat.PathProbe, err, start)
	return err
}

// refreshTicket fetches ticket s with a live access_token. If WeChat says
// the token is dead, the token is refreshed as on a caller's report and the
// ticket call is made once more.
func (e *Engine) refreshTicket(ctx context.Context, s *slot, reason string) (*wxtoken.Credential, error) {
	a := s.app
	tok, err := e.liveToken(ctx, a)
	if err != nil {
		now := e.opts.Clock.Now()
		ceil, left := e.backoffCeil(s, now)
		s.mu.Lock()
		s.failures++
		wait := backoff(s.failures, e.opts.BackoffBase, ceil, e.opts.Rand())
		if left > 0 && wait > left/2 {
			wait = left / 2
		}
		s.retryAt = now.Add(max(wait, e.sch.minGap))
		retry := s.retryAt
		s.mu.Unlock()
		e.queue.set(s, retry)
		e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, "error")
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := e.lim.wait(ctx); err != nil {
			return nil, e.fail(s, reason, err)
		}
		start := e.opts.Clock.Now()
		if err := e.noteTicketCall(ctx, s, start); err != nil {
			return nil, e.fail(s, reason, err)
		}
		w, endpoint, err := e.ticketCall(ctx, a, tok.Value, s.kind)
		e.observeCall(a.cfg.AppID, endpoint, err, start)
		if err == nil {
			return e.install(ctx, s, reason, w, start, tok.Version, false)
		}
		if api := (*wechat.APIError)(nil); errors.As(err, &api) {
			// WeChat answered with an errcode: it issued no ticket.
			e.clearTicketCall(ctx, s, start)
		}
		if attempt > 0 || !wechat.IsTokenRejected(err) {
			return nil, e.fail(s, reason, err)
		}
		e.log.Warn("WeChat rejected the access_token a ticket call used; refreshing the token",
			"appid", a.cfg.AppID, "kind", s.kind, "errcode", wechat.Classify(err, start).ErrCode)
		fresh, perr := e.flight(ctx, a.token, "passive", func(ctx context.Context) (*wxtoken.Credential, error) {
			return e.passive(ctx, a.token, tok.Value)
		})
		if perr != nil || fresh == nil || fresh.Value == tok.Value {
			return nil, e.fail(s, reason, err)
		}
		tok = fresh
	}
}

// noteTicketCall records, before a call for ticket s that starts at start,
// that the call may replace the current ticket: WeChat may end the old one
// an overlap later, and handout must know before the call is made. The
// mark is the ticket's CallAttemptAt, written to the store with it so
// that the other replicas sharing the store and a restart know too. A
// ticket that already carries a mark keeps the earlier one.
//
// On a shared store, a mark that cannot be written stops the call: the
// other replicas would go on handing the ticket out for as long as if no
// call had been made.
func (e *Engine) noteTicketCall(ctx context.Context, s *slot, start time.Time) error {
	cur := s.load()
	if cur == nil || !cur.CallAttemptAt.IsZero() {
		return nil
	}
	nc := *cur
	nc.CallAttemptAt = start
	nc.Version++
	if err := e.rewrite(ctx, s, cur, &nc); err != nil {
		return fmt.Errorf("recording a %s call in the shared store before making it: %w", s.kind, err)
	}
	return nil
}

// clearTicketCall takes back the mark of noteTicketCall for the call that
// started at start, which WeChat answered with an errcode: it replaced
// nothing.
func (e *Engine) clearTicketCall(ctx context.Context, s *slot, start time.Time) {
	cur := s.load()
	if cur == nil || !cur.CallAttemptAt.Equal(start) {
		return
	}
	nc := *cur
	nc.CallAttemptAt = time.Time{}
	nc.Version++
	if err := e.rewrite(ctx, s, cur, &nc); err != nil {
		// The mark stays: handouts stay short until the next fetch.
		e.log.Warn("clearing a ticket call's mark in the shared store failed", "appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
	}
}

// rewrite replaces cur, the current record of s, with nc, the same
// credential with other bookkeeping. With a store of its own, a failed
// write is logged and nc served from memory all the same (only a restart
// loses it); on a shared store it is returned and cur kept.
func (e *Engine) rewrite(ctx context.Context, s *slot, cur, nc *wxtoken.Credential) error {
	if err := e.persist(ctx, s, nc); err != nil {
		if e.coord.shared() {
			return err
		}
		e.log.Error("persisting credential bookkeeping failed; keeping it in memory", "appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
	}
	s.cur.CompareAndSwap(cur, nc)
	return nil
}

// passive handles a caller's report that stale was rejected by WeChat.
func (e *Engine) passive(ctx context.Context, s *slot, stale string) (*wxtoken.Credential, error) {
	cur := s.load()
	if cur == nil || cur.Value != stale {
		return cur, nil // replaced while this report waited
	}
	now := e.opts.Clock.Now()
	if err := e.gate(s, now); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if !s.lastPassive.IsZero() && now.Sub(s.lastPassive) < e.opts.PassiveInterval {
		next := s.lastPassive.Add(e.opts.PassiveInterval)
		s.mu.Unlock()
		return nil, &wxtoken.Error{Code: wxtoken.ERateLimited, Retry: next.Sub(now), Message: fmt.Sprintf(
			"%s of app %s was refreshed on a report less than %v ago; report again after %s",
			s.kind, s.app.cfg.AppID, e.opts.PassiveInterval, next.UTC().Format(time.RFC3339))}
	}
	s.lastPassive = now
	s.mu.Unlock()

	// On a shared store, the replica that holds the lease handles the
	// report for all of them; the others adopt what it writes.
	release, err := e.claim(ctx, s, func(time.Time) bool {
		c := s.load()
		return c != nil && c.Value == stale
	})
	if err != nil {
		return nil, err
	}
	if release == nil {
		return s.load(), nil
	}
	defer release()
	cur = s.load()

	if s.kind.IsTicket() {
		return e.refreshTicket(ctx, s, wxtoken.ReasonPassive)
	}
	a := s.app
	if a.successorAtExpiry() {
		// WeCom: no force mode exists, and gettoken answers a new token
		// as soon as WeCom ended the old one; the same one back means
		// WeCom still holds it valid.
		w, fetched, err := e.callToken(ctx, a, false)
		if err != nil {
			return nil, e.fail(s, wxtoken.ReasonPassive, err)
		}
		nc, err := e.install(ctx, s, wxtoken.ReasonPassive, w, fetched, 0, false)
		if err == nil && nc.Value == stale {
			e.log.Info("reported access_token is still the one WeCom answers; keeping it", "appid", a.cfg.AppID)
		}
		return nc, err
	}
	if a.cfg.TokenAPI.MintsOnEveryCall() {
		// A classic call replaces the token for every holder, so mint only
		// when WeChat confirms the report (or cannot be asked).
		if err := e.probe(ctx, a, stale); err == nil {
			e.log.Info("reported access_token is alive at WeChat; not refreshing", "appid", a.cfg.AppID)
			e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, wxtoken.ReasonPassive, "unchanged")
			return cur, nil
		}
		return e.refreshToken(ctx, s, wxtoken.ReasonPassive, false)
	}
	// Stable: a normal-mode call costs nothing and returns a newer token if
	// WeChat has one; force_refresh is spent only on a token proven dead.
	w, fetched, err := e.callToken(ctx, a, false)
	if err != nil {
		return nil, e.fail(s, wxtoken.ReasonPassive, err)
	}
	nc, err := e.install(ctx, s, wxtoken.ReasonPassive, w, fetched, 0, false)
	if err != nil {
		return nil, err
	}
	if nc.Value != stale {
		return nc, nil
	}
	perr := e.probe(ctx, a, stale)
	switch {
	case perr == nil:
		e.log.Info("reported access_token is alive at WeChat; not forcing a refresh", "appid", a.cfg.AppID)
		return nc, nil
	case !wechat.IsTokenRejected(perr):
		return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: perr, Message: fmt.Sprintf(
			"could not ask WeChat whether the access_token of app %s is dead; not spending a force_refresh", a.cfg.AppID)}
	}
	if s.lease.Load() == nil {
		return nil, wxtoken.Errorf(wxtoken.EUnavailable,
			"WeChat rejects the access_token of app %s, and a force_refresh is spent only under the lease, which needs the shared store", a.cfg.AppID)
	}
	if ok, why := e.forceAllowed(a, e.opts.Clock.Now()); !ok {
		e.log.Error("the stable access_token is rejected by WeChat but force_refresh is not allowed now",
			"appid", a.cfg.AppID, "why", why)
		return nil, wxtoken.Errorf(wxtoken.EUnavailable,
			"WeChat rejects the access_token of app %s and %s", a.cfg.AppID, why)
	}
	return e.refreshToken(ctx, s, wxtoken.ReasonPassive, true)
}

// sameSlack is how much earlier than the held expiry an answer of the held
// value may put it and still be read as the same life: expires_in is
// whole seconds, and counts from the answer, later than the call's start.
const sameSlack = 2 * time.Second

// install makes w the current value of s, persists it and plans its
// refresh. killed says the previous token was killed at once (a force
// refresh).
//
// On a shared store, a write the store refuses (the lease was lost, or a
// newer record is stored) leaves what the store holds in place, and that
// is what install returns if it can be served. A classic token that
// cannot be written there is not served either: the other replicas, not
// knowing it, would never learn that it kills theirs.
func (e *Engine) install(ctx context.Context, s *slot, reason string, w wechat.Credential, fetched time.Time, tokenVersion uint64, killed bool) (*wxtoken.Credential, error) {
	a := s.app
	now := e.opts.Clock.Now()
	cur := s.load()
	nc := &wxtoken.Credential{
		AppID: a.cfg.AppID, Kind: s.kind, Value: w.Value,
		FetchedAt: fetched, ExpiresAt: fetched.Add(w.ExpiresIn),
		TokenVersion: tokenVersion, Version: 1,
	}
	if s.kind == wxtoken.KindAccessToken {
		nc.API = a.cfg.TokenAPI
	}
	if cur != nil {
		nc.Version = cur.Version + 1
	}
	same := cur != nil && cur.Value == w.Value
	if same && fetched.Before(cur.ExpiresAt) && nc.ExpiresAt.After(cur.ExpiresAt.Add(-sameSlack)) {
		// An answer carrying the value held never extends its life: the
		// upstream's expires_in for it is at best what is left of the
		// life first answered, and an answer taken later must not promise
		// more. One that ends it no more than sameSlack earlier is that
		// same life, rounded to whole seconds and counted from the call's
		// start, and keeps it too, so that the tries planned at its
		// expiry stay there; one that ends it sooner is believed. Only
		// once the held expiry has passed is the answer the sole word on
		// the value.
		nc.FetchedAt, nc.ExpiresAt = cur.FetchedAt, cur.ExpiresAt
	}
	if same {
		// The upstream handed back what we have: it issues the next one
		// late in this one's life or at its expiry; close in on that.
		nc.RefreshAt = e.sch.planSame(fetched, nc.ExpiresAt, e.opts.Rand())
	} else {
		nc.RefreshAt = e.sch.planRefresh(s.kind, nc.API, fetched, nc.ExpiresAt, e.opts.Rand())
	}
	if s.kind == wxtoken.KindAccessToken && a.successorAtExpiry() && cur != nil && !same && fetched.Before(cur.ExpiresAt) {
		// A new WeCom token before the old one's expiry: WeCom ended the
		// old one early. The tickets fetched with it follow, as after a
		// stable force refresh.
		killed = true
	}
	if floor := now.Add(e.sch.minGap); nc.RefreshAt.Before(floor) {
		nc.RefreshAt = floor
	}
	if err := e.persist(ctx, s, nc); err != nil {
		switch {
		// A classic token is only ever worked on under the lease, so one
		// that finds no lease to write under lost it while working.
		case e.coord.shared() && (errors.Is(err, wxtoken.ErrLeaseLost) || errors.Is(err, wxtoken.ErrStale) ||
			errors.Is(err, errNoLease) && nc.API.MintsOnEveryCall()):
			e.log.Warn("the shared store refused the refreshed credential; keeping what it holds",
				"appid", a.cfg.AppID, "kind", s.kind, "version", nc.Version, "err", err)
			// Told once what the store holds is in place.
			defer e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, "error")
			// The lease is gone: what the store holds, bookkeeping too,
			// is now newer than what this replica knows.
			s.lease.Store(nil)
			if serr := e.syncSlot(ctx, s); serr != nil {
				e.log.Warn("reading the shared store failed", "appid", a.cfg.AppID, "kind", s.kind, "err", serr)
			}
			if stored := s.load(); nc.API.MintsOnEveryCall() && stored != nil && stored.Value != nc.Value &&
				e.sch.checkUntil(stored, e.lateCheck(s, stored).abandoned).Before(now.Add(e.opts.Overlap)) {
				// This replica's call was carried out at WeChat, and
				// another replica's token was stored meanwhile: the call
				// may have landed after that token was minted, killing
				// it an overlap after the landing, by now + overlap. The
				// checks against late calls catch such a death up to
				// checkUntil; past that (the call landed later than the
				// late bound, or was never recorded), replace the token
				// now rather than let it die unnoticed.
				if v := stored.Version; v > s.doomed.Load() {
					s.doomed.Store(v)
				}
				e.log.Warn("this replica's classic token call was answered after another replica's token was stored, later than the checks look for; replacing that token, which the call may have killed",
					"appid", a.cfg.AppID, "version", stored.Version)
				e.queue.set(s, now)
			}
			if c := s.load(); c != nil {
				if _, ok := e.grant(s, c, e.opts.Clock.Now()); ok {
					return c, nil
				}
			}
			return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err, Message: fmt.Sprintf(
				"the %s of app %s is being refreshed by another replica", s.kind, a.cfg.AppID)}
		case e.coord.shared() && nc.API.MintsOnEveryCall():
			e.log.Error("a classic access_token could not be written to the shared store; not serving it",
				"appid", a.cfg.AppID, "err", err)
			e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, "error")
			return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err, Message: fmt.Sprintf(
				"the shared store is unreachable, so the new access_token of app %s cannot be shared with the other replicas", a.cfg.AppID)}
		default:
			// Serving a good credential beats refusing to: keep it in
			// memory and say that it will not survive a restart. A
			// shared store gets it back when it answers again (see
			// reconcile).
			e.log.Error("persisting credential failed; serving it from memory", "appid", a.cfg.AppID, "kind", s.kind, "err", err)
		}
	}
	s.cur.Store(nc)
	s.heard.Store(now.UnixNano())
	e.remember(a, nc)
	e.noteLate(a, nc)
	s.mu.Lock()
	s.failures, s.retryAt, s.lastErr = 0, time.Time{}, nil
	s.mu.Unlock()
	s.notify() // readers waiting for a successor look again
	// nextDue rather than RefreshAt: a ticket fetched with a token that was
	// replaced meanwhile is due again at once.
	e.queue.set(s, e.nextDue(s, now))

	result := "ok"
	if same {
		result = "unchanged"
	}
	if s.kind == wxtoken.KindAccessToken {
		a.mu.Lock()
		a.blockedUntil = time.Time{}
		a.mu.Unlock()
		e.wakeChecks()
		e.updateLedger(ctx, a, func(m *wxtoken.Ledger) {
			m.MintAttemptAt = time.Time{}
			m.LastMintAt, m.LastMintBy = time.Time{}, ""
			m.TokenFailure = nil
			if killed && cur != nil {
				m.KilledVersion = cur.Version
			}
		})
		if !same && cur != nil && (nc.API.MintsOnEveryCall() || killed) {
			for _, t := range a.tickets {
				if t.app == a { // a corp ticket follows its holder's token
					e.queue.set(t, now)
				}
			}
		}
		for _, t := range a.tickets {
			e.wakeRefused(t, now)
		}
	}
	e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, result)
	e.log.Info("credential refreshed", "appid", a.cfg.AppID, "kind", s.kind, "reason", reason, "result", result,
		"version", nc.Version, "expires_at", nc.ExpiresAt, "refresh_at", nc.RefreshAt)
	return nc, nil
}
