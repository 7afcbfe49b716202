package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is the error policy as the engine applies it: what a failed
// refresh records, how long it holds further calls back, and what the
// callers who cannot be served are told.

// unavailable is the error of a caller that cannot be served now: it says
// why, with the last upstream failure's hint and errcode.
func (e *Engine) unavailable(s *slot, until *time.Time) error {
	le := s.lastError()
	if le == nil && s.kind.IsTicket() {
		le = s.app.token.lastError()
	}
	msg := fmt.Sprintf("no valid %s for app %s", s.kind, s.app.cfg.AppID)
	err := &wxtoken.Error{Code: wxtoken.EUnavailable}
	if le != nil {
		msg += ": " + le.Hint
		err.WeChatErrCode = le.ErrCode
	}
	if until != nil {
		msg += fmt.Sprintf(" (next attempt at %s)", until.UTC().Format(time.RFC3339))
		err.Retry = until.Sub(e.opts.Clock.Now())
	}
	err.Message = msg
	return err
}

func (e *Engine) waitError(s *slot, err error) error {
	return &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err,
		Message: fmt.Sprintf("gave up waiting for %s of app %s: %v", s.kind, s.app.cfg.AppID, err)}
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
	if c.Class == wechat.ClassFrequencyLimit {
		// WeCom's limits count per minute and per hour: wait longer the
		// longer it lasts, up to the hour.
		limit := time.Duration(float64(time.Hour) * e.opts.PolicyScale)
		for i := 1; i < s.failures && wait < limit; i++ {
			wait *= 2
		}
		wait = min(wait, limit)
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
		if c.Class.NeedsHuman() || c.Class == wechat.ClassMinuteLimit || c.Class == wechat.ClassFrequencyLimit {
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
			e.updateLedger(ctx, a, func(m *wxtoken.Ledger) { m.TokenFailure = shared })
			cancel()
		}
	}
	e.queue.set(s, retry)
	s.notify() // readers waiting for a successor look again
	e.opts.Observer.Refreshed(a.cfg.AppID, s.kind, reason, "error")
	level := "warn"
	if c.Class.NeedsHuman() {
		level = "error"
	}
	attrs := []any{"appid", a.cfg.AppID, "kind", s.kind, "reason", reason, "class", c.Class.String(),
		"errcode", c.ErrCode, "hint", c.Hint, "retry_at", retry, "err", err}
	if c.Class == wechat.ClassReauthorize && a.cfg.Owner != nil && s.kind == wxtoken.KindAccessToken {
		ctx, cancel := e.detached(e.opts.LeaseTTL)
		a.cfg.Owner.Refused(ctx, *s.lastError())
		cancel()
	}
	switch {
	case c.Class == wechat.ClassOtherAgentToken:
		e.log.Error("BUG: the access_token of another WeCom agent was used; not retrying blindly", attrs...)
	case level == "error":
		e.log.Error("upstream refresh failed; an operator must act", attrs...)
	default:
		e.log.Warn("upstream refresh failed", attrs...)
	}
	ue := e.unavailable(s, &retry).(*wxtoken.Error)
	ue.Err = err
	return ue
}
