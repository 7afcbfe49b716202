package refresh

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxtoken/wxtoken"
)

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
	apps := e.all()
	ledgers, err := e.loadLedgers(ctx, apps)
	if err != nil {
		return err
	}
	e.coord.confirmed(loaded)
	for i := range stored {
		// The slots point into stored rather than at copies: at 100,000
		// apps a copy of every record is 35 MB more at the start. The
		// array lives until the last record loaded is replaced.
		c := &stored[i]
		s := e.slotOf(c.AppID, c.Kind)
		if s == nil {
			continue // an app or ticket no longer configured
		}
		// The app's own strings in place of the decoded copies, which
		// then die with the decoding.
		if c.AppID == s.app.cfg.AppID {
			c.AppID = s.app.cfg.AppID
		}
		c.Kind = s.kind
		if c.Kind == wxtoken.KindAccessToken && c.API != s.app.cfg.TokenAPI {
			// The token API changed: the stored token still works, but its
			// schedule belongs to the other API. Keep serving it and
			// refresh it now.
			c.RefreshAt = c.FetchedAt
		} else if c.Kind == wxtoken.KindAccessToken {
			c.API = s.app.cfg.TokenAPI
		}
		if !s.installNewer(c) {
			continue
		}
		s.heard.Store(loaded.UnixNano())
		e.remember(s.app, c)
		e.noteLate(s.app, c)
	}
	now := e.opts.Clock.Now()
	for i, a := range apps {
		// With the failure it records, so that a restart does not hammer
		// WeChat where the error policy said to wait; but for a transient
		// failure's backoff (see forgetBackoff). A replica working on the
		// token under its lease holds newer bookkeeping.
		if m := ledgers[i]; m != nil && a.token.lease.Load() == nil {
			e.setLedger(a, e.forgetBackoff(a, *m))
		}
		for _, s := range a.ownSlots() {
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

// loadLedgers reads the bookkeeping of apps, nil for an app with none
// stored: at once where the store can (one transaction, or a few round
// trips, rather than one per app), else app by app.
func (e *Engine) loadLedgers(ctx context.Context, apps []*app) ([]*wxtoken.Ledger, error) {
	out := make([]*wxtoken.Ledger, len(apps))
	if br, ok := e.opts.Store.(wxtoken.LedgerBatchReader); ok {
		ids := make([]string, len(apps))
		for i, a := range apps {
			ids[i] = a.cfg.AppID
		}
		all, err := br.GetLedgers(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("refresh: load bookkeeping: %w", err)
		}
		for i := range all {
			if all[i].AppID != "" {
				out[i] = &all[i]
			}
		}
		return out, nil
	}
	for i, a := range apps {
		m, err := e.opts.Store.GetLedger(ctx, a.cfg.AppID)
		switch {
		case err == nil:
			out[i] = &m
		case errors.Is(err, wxtoken.ErrNotFound):
		default:
			return nil, fmt.Errorf("refresh: load bookkeeping of %s: %w", a.cfg.AppID, err)
		}
	}
	return out, nil
}
