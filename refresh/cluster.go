package refresh

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
)

// This file is what only a store shared with other replicas asks of the
// engine (Options.Coordinator): following the store's news, keeping
// serving from memory while the store is away and bringing the two
// together when it is back, starting without it, and waiting out the
// calls of replicas that crashed with a classic token call in flight.

// loadRetryMax caps the wait between two attempts to load the stored
// credentials from a shared store that did not answer at the start: a
// replica that has nothing to serve should notice the store's return
// within seconds, and one read every few seconds costs the store nothing.
const loadRetryMax = 5 * time.Second

// cluster is the coordinator of a store shared through a
// wxtoken.Coordinator, with what the engine learns of the store: it is
// also the Watcher that the store's change feed tells.
type cluster struct {
	wxtoken.Coordinator
	store wxtoken.Store
	e     *Engine

	// heardAt is when the store last confirmed every change written before
	// it (unix nanoseconds): a mint another replica started before then is
	// known here.
	heardAt atomic.Int64

	mu sync.Mutex
	// syncErr is the last failure to reach the store, nil while it
	// answers; downSince is when the failures began.
	syncErr   error
	downSince time.Time
	// reconcile is set when what memory holds must be checked against
	// the store: after an outage or a reset of the store.
	reconcile bool
}

var _ coordinator = (*cluster)(nil)

func (c *cluster) putFenced(ctx context.Context, nc *wxtoken.Credential, l wxtoken.Lease) error {
	return c.PutFenced(ctx, *nc, l)
}

func (c *cluster) putMetaFenced(ctx context.Context, m wxtoken.Ledger, l wxtoken.Lease) error {
	return c.PutLedgerFenced(ctx, m, l)
}

func (c *cluster) written(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	return c.store.Get(ctx, appID, kind)
}

func (c *cluster) writtenLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	return c.store.GetLedger(ctx, appID)
}

func (c *cluster) known(now time.Time) time.Time {
	h := time.Unix(0, c.heardAt.Load())
	if h.After(now) {
		return now
	}
	return h
}

func (c *cluster) heard() time.Time       { return time.Unix(0, c.heardAt.Load()) }
func (c *cluster) confirmed(at time.Time) { c.heardAt.Store(at.UnixNano()) }
func (c *cluster) shared() bool           { return true }

func (c *cluster) down() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downSince, c.syncErr
}

// startWithout lets a replica start while the shared store does not
// answer: it serves what it can (see claim for what it may fetch without
// the store) and loads the stored credentials in the background as soon
// as the store answers.
func (c *cluster) startWithout(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	e := c.e
	c.away(err)
	e.log.Error("reading the shared store failed; starting without the stored credentials, and trying again until they are loaded", "err", err)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.loadLater(c)
	}()
	return nil
}

// away records that the shared store cannot be reached, from now if it
// was reachable, and that memory must be checked against it when it
// answers again.
func (c *cluster) away(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.syncErr == nil {
		c.downSince = c.e.opts.Clock.Now()
	}
	c.syncErr, c.reconcile = err, true
}

// back records that the shared store answers again; the watch's first
// check writes back what was fetched meanwhile (reconcile stays set).
func (c *cluster) back() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncErr, c.downSince = nil, time.Time{}
}

// awaitLostMint waits, before a classic token call, while a call that
// another replica started and never saw answered could still reach
// WeChat: that replica may have crashed with the call in flight, and a
// mint landing after this one would kill the token about to be fetched.
// A replica's own lost calls ended when it gave up on them.
func (e *Engine) awaitLostMint(ctx context.Context, a *app) error {
	if !a.cfg.TokenAPI.MintsOnEveryCall() {
		return nil
	}
	a.mu.Lock()
	last, by := a.ledger.LastMintAt, a.ledger.LastMintBy
	a.mu.Unlock()
	if last.IsZero() || by == e.coord.Owner() {
		return nil
	}
	wait := last.Add(e.opts.UpstreamTimeout).Sub(e.opts.Clock.Now())
	if wait <= 0 {
		return nil
	}
	e.log.Warn("a classic token call of another replica was never answered; waiting until it can no longer reach WeChat",
		"appid", a.cfg.AppID, "replica", by, "wait", wait.Round(time.Millisecond))
	t := e.opts.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return e.waitError(a.token, ctx.Err())
	}
}

// follow passes the shared store's news to the engine until ctx ends.
func (c *cluster) follow(ctx context.Context) error { return c.Watch(ctx, c) }

// Changed implements wxtoken.Watcher.
func (c *cluster) Changed(appID string, kind wxtoken.Kind, version uint64) {
	e := c.e
	a := e.app(appID)
	if a == nil {
		return // an app this replica is not configured for
	}
	ctx, cancel := e.detached(e.opts.LeaseTTL)
	defer cancel()
	var err error
	if kind == "" {
		a.mu.Lock()
		newer := version > a.ledgerSeen
		if newer {
			a.ledgerSeen = version
		}
		a.mu.Unlock()
		if newer {
			err = e.syncLedger(ctx, a)
		}
	} else if s := e.slotOf(appID, kind); s != nil {
		if cur := s.load(); cur != nil && cur.Version >= version {
			s.heard.Store(e.opts.Clock.Now().UnixNano())
			return
		}
		err = e.syncSlot(ctx, s)
	}
	if err != nil {
		e.log.Warn("reading a change from the shared store failed", "appid", appID, "kind", kind, "err", err)
	}
}

// EntryChanged implements wxtoken.Watcher.
func (c *cluster) EntryChanged(id string, _ uint64) {
	if f := c.e.opts.Entries; f != nil {
		ctx, cancel := c.e.detached(c.e.opts.CallTimeout)
		defer cancel()
		f(ctx, id)
	}
}

// Synced implements wxtoken.Watcher.
func (c *cluster) Synced(at time.Time, err error) {
	e := c.e
	c.mu.Lock()
	if err != nil {
		if c.syncErr == nil {
			c.downSince = at
			e.log.Error("the shared store is unreachable; serving credentials from memory while they last", "err", err)
		}
		c.syncErr, c.reconcile = err, true
		c.mu.Unlock()
		return
	}
	if c.syncErr != nil {
		e.log.Info("the shared store is reachable again", "down_for", at.Sub(c.downSince).Round(time.Millisecond))
	}
	c.syncErr, c.downSince = nil, time.Time{}
	reconcile := c.reconcile
	c.reconcile = false
	c.mu.Unlock()
	c.confirmed(at)
	if reconcile {
		c.reconcileAll()
	}
}

// Reset implements wxtoken.Watcher.
func (c *cluster) Reset() {
	c.mu.Lock()
	c.reconcile = true
	c.mu.Unlock()
	// The store counts bookkeeping writes from scratch again.
	for _, a := range c.e.all() {
		a.mu.Lock()
		a.ledgerSeen = 0
		a.mu.Unlock()
	}
	c.e.log.Warn("the shared store lost its data; writing back what this replica holds")
}

// reconcileAll brings memory and the shared store together after an
// outage or a reset of the store, without calling WeChat: a newer stored
// record is adopted, and a record the store lacks or holds older (fetched
// while it was away, or lost with it) is written back under its lease.
func (c *cluster) reconcileAll() {
	e := c.e
	ctx, cancel := e.detached(e.opts.CallTimeout)
	defer cancel()
	for _, a := range e.all() {
		for _, s := range a.ownSlots() {
			if err := c.reconcileSlot(ctx, s); err != nil {
				e.log.Warn("reconciling with the shared store failed; trying again at the next sync",
					"appid", a.cfg.AppID, "kind", s.kind, "err", err)
				c.mu.Lock()
				c.reconcile = true
				c.mu.Unlock()
				return
			}
		}
	}
}

func (c *cluster) reconcileSlot(ctx context.Context, s *slot) error {
	e := c.e
	stored, err := e.readSlot(ctx, s)
	if err != nil {
		return err
	}
	cur := s.load()
	if cur == nil || !cur.ValidAt(e.opts.Clock.Now()) || stored != nil && stored.Version >= cur.Version {
		return nil
	}
	a := s.app
	l, err := c.AcquireLease(ctx, s.key, e.opts.LeaseTTL)
	if errors.Is(err, wxtoken.ErrLeaseHeld) {
		return nil // its holder writes what counts
	}
	if err != nil {
		return err
	}
	release := e.holdLease(s, l)
	defer release()
	if err := c.PutFenced(ctx, *cur, l); err != nil && !errors.Is(err, wxtoken.ErrStale) {
		return err
	}
	if s.kind == wxtoken.KindAccessToken {
		if _, err := c.store.GetLedger(ctx, a.cfg.AppID); errors.Is(err, wxtoken.ErrNotFound) {
			a.mu.Lock()
			m := a.ledger
			a.mu.Unlock()
			m.AppID = a.cfg.AppID
			if err := c.PutLedgerFenced(ctx, m, l); err != nil {
				return err
			}
		}
	}
	e.log.Info("credential written back to the shared store", "appid", a.cfg.AppID, "kind", s.kind, "version", cur.Version)
	return nil
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
