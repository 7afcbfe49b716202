package refresh

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is the app's bookkeeping (wxtoken.Ledger): the day's calls,
// the force_refresh budget, the token calls that may still replace the
// current token, and the token's failure, kept in the store so that a
// restart and the other replicas know them.

// rollDay resets the day's counters when the China Standard Time day
// changed.
func rollDay(m *wxtoken.Ledger, now time.Time) {
	if day := wechat.QuotaDay(now); m.QuotaDay != day {
		m.QuotaDay = day
		m.TokenCalls = 0
		m.ForceRefreshes = nil
	}
}

// updateLedger changes a's bookkeeping with fn and persists it.
func (e *Engine) updateLedger(ctx context.Context, a *app, fn func(*wxtoken.Ledger)) {
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	fn(&a.ledger)
	a.ledger.AppID = a.cfg.AppID
	a.mirror()
	m := a.ledger
	m.ForceRefreshes = append([]time.Time(nil), a.ledger.ForceRefreshes...)
	a.mu.Unlock()
	e.wakeChecks()
	switch err := e.persistLedger(ctx, a, m); {
	case errors.Is(err, errNoLease):
		// Worked on without the lease while the shared store was away:
		// the store keeps the lease holder's bookkeeping.
	case err != nil:
		e.log.Error("saving app bookkeeping failed", "appid", a.cfg.AppID, "err", err)
	}
}

// forceAllowed checks the stable force_refresh budget.
func (e *Engine) forceAllowed(a *app, now time.Time) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.ledger
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

// forgetBackoff returns m, read from the store at Start, without the wait
// of a transient (or token_rejected) token failure it records, and notes
// that failure so that setLedger forgets it again when a shared store tells
// of it. The error stays for status. A backoff only spaces out retries
// while WeChat is unreachable; carried over a restart it would keep
// callers refused after WeChat recovered. The error policy's other waits
// (quota, whitelist, risk confirmation) are kept.
func (e *Engine) forgetBackoff(a *app, m wxtoken.Ledger) wxtoken.Ledger {
	f := m.TokenFailure
	if f == nil || !backedOff(f) {
		return m
	}
	a.mu.Lock()
	forgot := *f
	a.forgot = &forgot
	a.mu.Unlock()
	kept := *f
	kept.Count, kept.RetryAt = 0, time.Time{}
	m.TokenFailure = &kept
	return m
}

// backedOff reports whether f is a failure whose wait is a backoff.
func backedOff(f *wxtoken.Failure) bool {
	c := f.Error.Class
	return !f.Blocked && (c == wechat.ClassTransient.String() || c == wechat.ClassTokenRejected.String())
}

// sameFailure reports whether f and g record the same failure, read from
// a shared store at two times: their times may differ by the change in
// this replica's measured offset to the store's clock in between.
func sameFailure(f, g *wxtoken.Failure) bool {
	near := func(a, b time.Time) bool { return a.Sub(b).Abs() < time.Second }
	return f.Count == g.Count && f.Error.ErrCode == g.Error.ErrCode && near(f.RetryAt, g.RetryAt) && near(f.Error.At, g.Error.At)
}

// setLedger installs bookkeeping read from a store, with the token's
// failure state it carries. The failure forgetBackoff dropped at Start,
// read again (at the start of a watch, or before a claim), stays
// forgotten; a failure written since, by this replica or another, is kept.
func (e *Engine) setLedger(a *app, m wxtoken.Ledger) {
	a.mu.Lock()
	if f := m.TokenFailure; f != nil && a.forgot != nil && backedOff(f) && sameFailure(f, a.forgot) {
		kept := *f
		kept.Count, kept.RetryAt = 0, time.Time{}
		m.TokenFailure = &kept
	}
	a.ledger = m
	a.mirror()
	a.blockedUntil = time.Time{}
	if f := m.TokenFailure; f != nil && f.Blocked {
		a.blockedUntil = f.RetryAt
	}
	a.mu.Unlock()
	s := a.token
	s.mu.Lock()
	s.failures, s.retryAt, s.lastErr = 0, time.Time{}, nil
	if f := m.TokenFailure; f != nil {
		le := f.Error
		s.failures, s.retryAt, s.lastErr = f.Count, f.RetryAt, &le
	}
	s.mu.Unlock()
	e.wakeChecks()
}

// mirror copies the bookkeeping's times that the read path needs into
// atomics; the caller holds a.mu.
func (a *app) mirror() {
	store := func(v *atomic.Int64, t time.Time) {
		if t.IsZero() {
			v.Store(0)
		} else {
			v.Store(t.UnixNano())
		}
	}
	store(&a.mint, a.ledger.MintAttemptAt)
	store(&a.abandoned, a.ledger.AbandonedMintAt)
	a.killed.Store(a.ledger.KilledVersion)
}

// mintAt returns the first token call made since the current token was
// fetched that could have replaced it, or zero.
func (a *app) mintAt() time.Time {
	n := a.mint.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
