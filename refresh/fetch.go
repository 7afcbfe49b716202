package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// runDue is the scheduler's callback: it refreshes s in the background and
// makes sure s is queued again whatever the outcome.
func (e *Engine) runDue(s *slot) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		reason := wxtoken.ReasonProactive
		switch cur := s.load(); {
		case cur == nil:
			reason = wxtoken.ReasonStartup
		case e.ticketOrphaned(s, cur):
			reason = wxtoken.ReasonTicket
		case e.isDoomed(s, cur):
			reason = wxtoken.ReasonLateMint
		}
		ctx, cancel := e.detached(0)
		defer cancel()
		_, _ = e.fetch(ctx, s, reason) // failures are logged and scheduled by fail
		if _, queued := e.queue.dueAt(s); !queued {
			e.queue.set(s, e.nextDue(s, e.opts.Clock.Now()))
		}
	}()
}

// nextDue is when s should next be looked at, from its state alone.
func (e *Engine) nextDue(s *slot, now time.Time) time.Time {
	due := now
	if cur := s.load(); cur != nil && !e.ticketOrphaned(s, cur) && !e.isDoomed(s, cur) {
		due = cur.RefreshAt
	}
	if r := s.retryAtTime(); r.After(due) {
		due = r
	}
	if s.kind == wxtoken.KindAccessToken {
		if b := s.app.blocked(); b.After(due) {
			due = b
		}
	}
	return due
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
	classic := a.cfg.TokenAPI == wxtoken.TokenAPIClassic
	start := e.opts.Clock.Now()
	e.updateMeta(ctx, a, func(m *wxtoken.AppMeta) {
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
	var (
		w        wechat.Credential
		err      error
		endpoint = wechat.PathStableToken
	)
	if classic {
		endpoint = wechat.PathToken
		w, err = e.opts.Upstream.Token(ctx, a.cfg.AppID, a.cfg.Secret())
	} else {
		w, err = e.opts.Upstream.StableToken(ctx, a.cfg.AppID, a.cfg.Secret(), force)
	}
	e.observeCall(a.cfg.AppID, endpoint, err, start)
	var api *wechat.APIError
	switch {
	case !classic || err == nil:
	case errors.As(err, &api):
		// WeChat answered with an errcode: it minted nothing, so the
		// current token is not going to die an overlap from now.
		e.updateMeta(ctx, a, func(m *wxtoken.AppMeta) {
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
		e.updateMeta(mctx, a, func(m *wxtoken.AppMeta) {
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
		e.updateMeta(ctx, a, func(m *wxtoken.AppMeta) {
			if m.LastMintAt.Equal(start) {
				m.LastMintAt, m.LastMintBy = time.Time{}, ""
			}
		})
	}
	return w, start, err
}

// rollDay resets the day's counters when the China Standard Time day
// changed.
func rollDay(m *wxtoken.AppMeta, now time.Time) {
	if day := wechat.QuotaDay(now); m.QuotaDay != day {
		m.QuotaDay = day
		m.TokenCalls = 0
		m.ForceRefreshes = nil
	}
}

// updateMeta changes a's bookkeeping with fn and persists it.
func (e *Engine) updateMeta(ctx context.Context, a *app, fn func(*wxtoken.AppMeta)) {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	fn(&a.meta)
	a.meta.AppID = a.cfg.AppID
	a.mirror()
	m := a.meta
	m.ForceRefreshes = append([]time.Time(nil), a.meta.ForceRefreshes...)
	a.mu.Unlock()
	e.wakeChecks()
	switch err := e.persistMeta(ctx, a, m); {
	case errors.Is(err, errNoLease):
		// Worked on without the lease while the shared store was away:
		// the store keeps the lease holder's bookkeeping.
	case err != nil:
		e.log.Error("saving app bookkeeping failed", "appid", a.cfg.AppID, "err", err)
	}
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
		w, err := e.opts.Upstream.Ticket(ctx, tok.Value, s.kind)
		e.observeCall(a.cfg.AppID, wechat.PathTicket, err, start)
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
	if a.cfg.TokenAPI == wxtoken.TokenAPIClassic {
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

// forceAllowed checks the stable force_refresh budget.
func (e *Engine) forceAllowed(a *app, now time.Time) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.meta
	if m.QuotaDay != wechat.QuotaDay(now) {
		return true, ""
	}
	if len(m.ForceRefreshes) >= e.opts.ForceLimit {
		return false, fmt.Sprintf("the force_refresh budget of %d a day is spent (it resets at 00:00 China Standard Time)", e.opts.ForceLimit)
	}
	if n := len(m.ForceRefreshes); n > 0 && now.Sub(m.ForceRefreshes[n-1]) < e.opts.ForceInterval {
		return false, fmt.Sprintf("the last force_refresh was less than %v ago", e.opts.ForceInterval)
	}
	return true, ""
}

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
	planKind, planAPI := s.kind, nc.API
	if same {
		// WeChat handed back what we have: it issues the next one only in
		// the last window of this one's life, so plan for that window.
		planKind, planAPI = wxtoken.KindAccessToken, wxtoken.TokenAPIStable
	}
	nc.RefreshAt = e.sch.planRefresh(planKind, planAPI, fetched, nc.ExpiresAt, e.opts.Rand())
	if floor := now.Add(e.sch.minGap); nc.RefreshAt.Before(floor) {
		nc.RefreshAt = floor
	}
	if err := e.persist(ctx, s, nc); err != nil {
		switch {
		// A classic token is only ever worked on under the lease, so one
		// that finds no lease to write under lost it while working.
		case e.coord.shared() && (errors.Is(err, wxtoken.ErrLeaseLost) || errors.Is(err, wxtoken.ErrStale) ||
			errors.Is(err, errNoLease) && nc.API == wxtoken.TokenAPIClassic):
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
			if stored := s.load(); nc.API == wxtoken.TokenAPIClassic && stored != nil && stored.Value != nc.Value &&
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
		case e.coord.shared() && nc.API == wxtoken.TokenAPIClassic:
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
	s.mu.Lock()
	s.failures, s.retryAt, s.lastErr = 0, time.Time{}, nil
	s.mu.Unlock()
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
		e.updateMeta(ctx, a, func(m *wxtoken.AppMeta) {
			m.MintAttemptAt = time.Time{}
			m.LastMintAt, m.LastMintBy = time.Time{}, ""
			m.TokenFailure = nil
			if killed && cur != nil {
				m.KilledVersion = cur.Version
			}
		})
		if !same && cur != nil && (nc.API == wxtoken.TokenAPIClassic || killed) {
			for _, t := range a.tickets {
				e.queue.set(t, now)
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

// wakeRefused makes ticket t due now if its callers are refused and it is
// only backing off from failures that a token now fetched may end: its
// token could not be fetched, or WeChat failed transiently. Its callers
// are then served with the token, not after the rest of their backoff.
func (e *Engine) wakeRefused(t *slot, now time.Time) {
	if e.handout(t, t.load(), now) > 0 {
		return
	}
	t.mu.Lock()
	le := t.lastErr
	wake := t.retryAt.After(now) && (le == nil ||
		le.Class == wechat.ClassTransient.String() || le.Class == wechat.ClassTokenRejected.String())
	if wake {
		t.retryAt = time.Time{}
	}
	t.mu.Unlock()
	if wake {
		e.queue.set(t, now)
	}
}

// backoffCeil returns the cap of the backoff of s at now, and how long its
// credential may still be handed out (zero or less when callers are
// refused): BackoffMax while a credential is served, which retries spread
// over, and RefusedBackoffMax while callers are refused, who are served
// again by the first retry after WeChat recovers.
func (e *Engine) backoffCeil(s *slot, now time.Time) (time.Duration, time.Duration) {
	left := e.handout(s, s.load(), now)
	if left <= 0 {
		return min(e.opts.BackoffMax, e.opts.RefusedBackoffMax), left
	}
	return e.opts.BackoffMax, left
}

// fail applies the error policy to a failed refresh of s: it records the
// error, holds back further calls as long as the class says, schedules the
// retry, and returns the error for the callers.
func (e *Engine) fail(s *slot, reason string, err error) error {
	a := s.app
	if e.life.Err() != nil && errors.Is(err, context.Canceled) {
		// The engine's own shutdown cut the call short: that says
		// nothing about WeChat, so it is neither recorded nor reported
		// as an upstream failure.
		e.log.Debug("refresh cut short by shutdown", "appid", a.cfg.AppID, "kind", s.kind, "reason", reason)
		return e.waitError(s, err)
	}
	now := e.opts.Clock.Now()
	c := wechat.Classify(err, now)
	wait := time.Duration(float64(c.NotBefore.Sub(now)) * e.opts.PolicyScale)
	ceil, left := e.backoffCeil(s, now)
	s.mu.Lock()
	s.failures++
	if c.Class == wechat.ClassTransient || c.Class == wechat.ClassTokenRejected {
		if b := backoff(s.failures, e.opts.BackoffBase, ceil, e.opts.Rand()); b > wait {
			wait = b
		}
		// While the cached credential lasts, retry well before it ends.
		if left > 0 && wait > left/2 {
			wait = left / 2
		}
	}
	if wait < e.sch.minGap {
		wait = e.sch.minGap
	}
	s.retryAt = now.Add(wait)
	retry := s.retryAt
	s.lastErr = &wxtoken.ErrorInfo{ErrCode: c.ErrCode, Class: c.Class.String(), Message: err.Error(), Hint: c.Hint, At: now}
	failure := wxtoken.Failure{Count: s.failures, RetryAt: retry, Error: *s.lastErr}
	s.mu.Unlock()
	if s.kind == wxtoken.KindAccessToken {
		if c.Class.NeedsHuman() || c.Class == wechat.ClassMinuteLimit {
			failure.Blocked = true
			a.mu.Lock()
			if retry.After(a.blockedUntil) {
				a.blockedUntil = retry
			}
			a.mu.Unlock()
		}
		// Kept with the bookkeeping, so that a restart, and every
		// replica on a shared store, hold back as long as this one.
		// Except a configuration error: a restart with a corrected
		// config must try again at once, as it would on a reload.
		// Nor a call cut short by the engine's own shutdown: it says
		// nothing about WeChat.
		shared := &failure
		if c.Class == wechat.ClassConfig {
			shared = nil
		}
		if e.life.Err() == nil {
			ctx, cancel := e.detached(e.opts.LeaseTTL)
			e.updateMeta(ctx, a, func(m *wxtoken.AppMeta) { m.TokenFailure = shared })
			cancel()
		}
	}
	e.queue.set(s, retry)
	e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, "error")
	level := "warn"
	if c.Class.NeedsHuman() {
		level = "error"
	}
	attrs := []any{"appid", a.cfg.AppID, "kind", s.kind, "reason", reason, "class", c.Class.String(),
		"errcode", c.ErrCode, "hint", c.Hint, "retry_at", retry, "err", err}
	if level == "error" {
		e.log.Error("upstream refresh failed; an operator must act", attrs...)
	} else {
		e.log.Warn("upstream refresh failed", attrs...)
	}
	ue := e.unavailable(s, &retry).(*wxtoken.Error)
	ue.Err = err
	return ue
}
