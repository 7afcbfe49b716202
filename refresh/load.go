package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
)

// loadRetryMax caps the wait between two attempts to load the stored
// credentials from a shared store that did not answer at the start: a
// replica that has nothing to serve should notice the store's return
// within seconds, and one read every few seconds costs the store nothing.
const loadRetryMax = 5 * time.Second

// load reads every stored credential and bookkeeping record, and makes
// them the engine's where they are newer than what it holds (a stable
// token fetched while the shared store was away may be). Nothing is
// installed unless every read succeeds, so a failed attempt can simply be
// made again.
func (e *Engine) load(ctx context.Context) error {
	loaded := e.opts.Clock.Now()
	stored, err := e.opts.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("refresh: load credentials: %w", err)
	}
	metas := make([]*wxtoken.AppMeta, len(e.order))
	for i, a := range e.order {
		m, err := e.opts.Store.GetMeta(ctx, a.cfg.AppID)
		switch {
		case err == nil:
			metas[i] = &m
		case errors.Is(err, wxtoken.ErrNotFound):
		default:
			return fmt.Errorf("refresh: load bookkeeping of %s: %w", a.cfg.AppID, err)
		}
	}
	e.coord.confirmed(loaded)
	for i := range stored {
		c := stored[i]
		s := e.slotOf(c.AppID, c.Kind)
		if s == nil {
			continue // an app or ticket no longer configured
		}
		if c.Kind == wxtoken.KindAccessToken && c.API != s.app.cfg.TokenAPI {
			// The token API changed: the stored token still works, but its
			// schedule belongs to the other API. Keep serving it and
			// refresh it now.
			c.RefreshAt = c.FetchedAt
		}
		if !s.installNewer(&c) {
			continue
		}
		s.heard.Store(loaded.UnixNano())
		e.remember(s.app, &c)
	}
	now := e.opts.Clock.Now()
	for i, a := range e.order {
		// With the failure it records, so that a restart does not hammer
		// WeChat where the error policy said to wait; but for a transient
		// failure's backoff (see forgetBackoff). A replica working on the
		// token under its lease holds newer bookkeeping.
		if m := metas[i]; m != nil && a.token.lease.Load() == nil {
			e.setMeta(a, e.forgetBackoff(a, *m))
		}
		for _, s := range a.slots() {
			e.queue.set(s, e.nextDue(s, now))
			s.notify()
			if c := s.load(); c != nil && e.handout(s, c, now) > 0 {
				e.log.Info("credential loaded from store", "appid", a.cfg.AppID, "kind", s.kind,
					"expires_at", c.ExpiresAt, "refresh_at", c.RefreshAt)
			}
		}
	}
	e.loaded.Store(true)
	return nil
}

// installNewer makes c the current value of s unless s holds the same
// version or a newer one, and reports whether it did.
func (s *slot) installNewer(c *wxtoken.Credential) bool {
	for {
		cur := s.cur.Load()
		if cur != nil && cur.Version >= c.Version {
			return false
		}
		if s.cur.CompareAndSwap(cur, c) {
			return true
		}
	}
}

// loadLater loads the stored credentials from a shared store that did not
// answer at the start, trying again with a capped backoff until it
// answers or the engine closes; it then follows the store as Start would
// have.
func (e *Engine) loadLater(c *cluster) {
	ctx, cancel := e.detached(0)
	defer cancel()
	began := e.opts.Clock.Now()
	warned := began
	step := e.opts.BackoffBase
	for attempt := 1; ; attempt++ {
		wait := step/2 + time.Duration(e.opts.Rand()*float64(step/2))
		step = min(2*step, min(e.opts.BackoffMax, loadRetryMax))
		t := e.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		actx, acancel := context.WithTimeout(ctx, e.opts.CallTimeout)
		err := e.load(actx)
		acancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.away(err)
			// Once a minute at warning level, so that the log shows the
			// replica still trying without a line per attempt.
			if now := e.opts.Clock.Now(); now.Sub(warned) >= time.Minute {
				warned = now
				e.log.Warn("the shared store still cannot be read; trying again",
					"for", now.Sub(began).Round(time.Second), "attempts", attempt, "err", err)
			} else {
				e.log.Debug("the shared store still cannot be read; trying again", "attempt", attempt, "err", err)
			}
			continue
		}
		c.back()
		e.log.Info("the shared store answers; stored credentials loaded",
			"after", e.opts.Clock.Now().Sub(began).Round(time.Millisecond), "attempts", attempt)
		e.watch()
		return
	}
}

// watch follows the store's changes until the engine closes.
func (e *Engine) watch() {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := e.detached(0)
		defer cancel()
		for {
			err := e.coord.follow(ctx)
			if ctx.Err() != nil {
				return // Close
			}
			// Not expected: a watch follows outages by itself. Start
			// another rather than go deaf to the other replicas.
			e.log.Error("watching the shared store stopped; starting again", "err", err)
			t := e.opts.Clock.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
	}()
}
