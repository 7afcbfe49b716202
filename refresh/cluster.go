package refresh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is what the engine does when its store is shared by several
// replicas (Options.Coordinator): it claims a credential's lease before it
// talks to WeChat about it, writes under that lease, follows what the other
// replicas write, and keeps serving from memory while the store is away.

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

func (c *cluster) putMetaFenced(ctx context.Context, m wxtoken.AppMeta, l wxtoken.Lease) error {
	return c.PutMetaFenced(ctx, m, l)
}

func (c *cluster) written(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	return c.store.Get(ctx, appID, kind)
}

func (c *cluster) writtenMeta(ctx context.Context, appID string) (wxtoken.AppMeta, error) {
	return c.store.GetMeta(ctx, appID)
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
	if a.cfg.TokenAPI != wxtoken.TokenAPIClassic {
		return nil
	}
	a.mu.Lock()
	last, by := a.meta.LastMintAt, a.meta.LastMintBy
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

// changes returns a channel that is closed at the next change of s.
func (s *slot) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// notify wakes everyone waiting on changes.
func (s *slot) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// adopt makes c, read from the store, the current value of s if it is
// newer than what s holds.
func (e *Engine) adopt(s *slot, c *wxtoken.Credential) {
	for {
		cur := s.cur.Load()
		if cur != nil && cur.Version >= c.Version {
			return
		}
		if s.cur.CompareAndSwap(cur, c) {
			break
		}
	}
	now := e.opts.Clock.Now()
	e.remember(s.app, c)
	e.queue.set(s, e.nextDue(s, now))
	if s.kind == wxtoken.KindAccessToken {
		// A replaced token may orphan the tickets fetched with it.
		for _, t := range s.app.tickets {
			e.queue.set(t, e.nextDue(t, now))
		}
		e.wakeChecks()
	}
	s.notify()
	e.log.Debug("credential learnt from the shared store", "appid", c.AppID, "kind", c.Kind, "version", c.Version)
}

// syncSlot reads the record of s from the store and adopts it if it is
// newer; for an access_token it reads the app's bookkeeping too.
func (e *Engine) syncSlot(ctx context.Context, s *slot) error {
	_, err := e.readSlot(ctx, s)
	return err
}

// readSlot is syncSlot, returning the record read: nil when the store
// holds none.
func (e *Engine) readSlot(ctx context.Context, s *slot) (*wxtoken.Credential, error) {
	c, err := e.coord.written(ctx, s.app.cfg.AppID, s.kind)
	var stored *wxtoken.Credential
	switch {
	case err == nil:
		stored = &c
		e.adopt(s, stored)
		s.heard.Store(e.opts.Clock.Now().UnixNano())
	case errors.Is(err, wxtoken.ErrNotFound):
	default:
		return nil, err
	}
	if s.kind == wxtoken.KindAccessToken {
		if err := e.syncMeta(ctx, s.app); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// syncMeta reads the bookkeeping of a from the store. While this replica
// holds the token lease its own bookkeeping is the newest, and is kept.
func (e *Engine) syncMeta(ctx context.Context, a *app) error {
	if a.token.lease.Load() != nil {
		return nil
	}
	return e.loadMeta(ctx, a)
}

// loadMeta reads the bookkeeping of a from the store and installs it.
func (e *Engine) loadMeta(ctx context.Context, a *app) error {
	m, err := e.coord.writtenMeta(ctx, a.cfg.AppID)
	if errors.Is(err, wxtoken.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.setMeta(a, m)
	now := e.opts.Clock.Now()
	e.queue.set(a.token, e.nextDue(a.token, now))
	a.token.notify()
	return nil
}

// forgetBackoff returns m, read from the store at Start, without the wait
// of a transient (or token_rejected) token failure it records, and notes
// that failure so that setMeta forgets it again when a shared store tells
// of it. The error stays for status. A backoff only spaces out retries
// while WeChat is unreachable; carried over a restart it would keep
// callers refused after WeChat recovered. The error policy's other waits
// (quota, whitelist, risk confirmation) are kept.
func (e *Engine) forgetBackoff(a *app, m wxtoken.AppMeta) wxtoken.AppMeta {
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

// setMeta installs bookkeeping read from a store, with the token's
// failure state it carries. The failure forgetBackoff dropped at Start,
// read again (at the start of a watch, or before a claim), stays
// forgotten; a failure written since, by this replica or another, is kept.
func (e *Engine) setMeta(a *app, m wxtoken.AppMeta) {
	a.mu.Lock()
	if f := m.TokenFailure; f != nil && a.forgot != nil && backedOff(f) && sameFailure(f, a.forgot) {
		kept := *f
		kept.Count, kept.RetryAt = 0, time.Time{}
		m.TokenFailure = &kept
	}
	a.meta = m
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

// claim makes this replica the one that works on s, when the store is
// shared: it takes the lease of s, waiting while another replica holds it
// and adopting what that one writes. need says whether work is still
// needed at a time; when another replica's write made it unneeded, claim
// returns a nil release and a nil error. Otherwise it returns, with a nil
// error, the function that gives the lease up.
//
// When the store cannot be reached, a stable access_token is worked on
// without the lease (a normal-mode stable_token call changes nothing at
// WeChat); every other credential waits for the store.
func (e *Engine) claim(ctx context.Context, s *slot, need func(now time.Time) bool) (func(), error) {
	poll := e.opts.LeaseTTL / 10
	for {
		changed := s.changes()
		serr := e.syncSlot(ctx, s)
		now := e.opts.Clock.Now()
		if !need(now) {
			return nil, nil
		}
		if err := e.gate(s, now); err != nil {
			return nil, err
		}
		if serr != nil && ctx.Err() != nil {
			return nil, e.waitError(s, ctx.Err())
		}
		l, err := e.coord.AcquireLease(ctx, s.key, e.opts.LeaseTTL)
		switch {
		case err == nil:
			// The previous holder may have written just before it let go,
			// the bookkeeping included: read before holdLease marks the
			// lease held, which stops syncMeta.
			serr := e.syncSlot(ctx, s)
			release := e.holdLease(s, l)
			if serr == nil && !need(e.opts.Clock.Now()) {
				release()
				return nil, nil
			}
			if err := e.gate(s, e.opts.Clock.Now()); err != nil {
				release()
				return nil, err
			}
			return release, nil
		case errors.Is(err, wxtoken.ErrLeaseHeld):
			t := e.opts.Clock.NewTimer(poll)
			select {
			case <-changed:
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return nil, e.waitError(s, ctx.Err())
			}
			t.Stop()
		case ctx.Err() != nil:
			return nil, e.waitError(s, ctx.Err())
		case s.kind == wxtoken.KindAccessToken && s.app.cfg.TokenAPI == wxtoken.TokenAPIStable:
			e.log.Warn("the shared store is unreachable; refreshing the stable access_token without the lease",
				"appid", s.app.cfg.AppID, "err", err)
			return func() {}, nil
		default:
			e.log.Warn("the shared store is unreachable; not refreshing without the lease",
				"appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
			return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err, Message: fmt.Sprintf(
				"the shared store is unreachable, and the %s of app %s is refreshed only by the replica holding its lease",
				s.kind, s.app.cfg.AppID)}
		}
	}
}

func (e *Engine) waitError(s *slot, err error) error {
	return &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err,
		Message: fmt.Sprintf("gave up waiting for %s of app %s: %v", s.kind, s.app.cfg.AppID, err)}
}

// holdLease records l as held by s and renews it until the returned
// function is called, which releases it.
func (e *Engine) holdLease(s *slot, l wxtoken.Lease) func() {
	s.lease.Store(&l)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := e.opts.LeaseTTL / 3
		for {
			t := e.opts.Clock.NewTimer(every)
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C():
			}
			ctx, cancel := context.WithTimeout(e.life, every)
			err := e.coord.RenewLease(ctx, l, e.opts.LeaseTTL)
			cancel()
			switch {
			case errors.Is(err, wxtoken.ErrLeaseLost):
				// The write at the end will be refused; whoever holds the
				// lease now does the work.
				e.log.Warn("lease lost while working", "appid", s.app.cfg.AppID, "kind", s.kind, "token", l.Token)
				s.lease.CompareAndSwap(&l, nil)
				return
			case err != nil:
				e.log.Warn("renewing a lease failed", "appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			s.lease.CompareAndSwap(&l, nil)
			// A release the store misses costs the next holder a wait
			// of at most the lease's TTL; so it is made even while the
			// engine closes.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(e.life), e.opts.LeaseTTL)
			defer cancel()
			if err := e.coord.ReleaseLease(ctx, l); err != nil {
				e.log.Warn("releasing a lease failed", "appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
			}
		})
	}
}

// errNoLease says a write was not even tried: the store is shared, and
// the work was done without its lease because the store was unreachable.
var errNoLease = errors.New("not written to the shared store: the work was done without its lease while the store was unreachable")

// persist writes nc under the lease of s.
func (e *Engine) persist(ctx context.Context, s *slot, nc *wxtoken.Credential) error {
	l := s.lease.Load()
	if l == nil {
		return errNoLease
	}
	return e.coord.putFenced(ctx, nc, *l)
}

// persistMeta writes the bookkeeping m of a under the token lease, and
// not at all without it: the holder's bookkeeping is the one that counts.
func (e *Engine) persistMeta(ctx context.Context, a *app, m wxtoken.AppMeta) error {
	l := a.token.lease.Load()
	if l == nil {
		return errNoLease
	}
	return e.coord.putMetaFenced(ctx, m, *l)
}

// follow passes the shared store's news to the engine until ctx ends.
func (c *cluster) follow(ctx context.Context) error { return c.Watch(ctx, c) }

// Changed implements wxtoken.Watcher.
func (c *cluster) Changed(appID string, kind wxtoken.Kind, version uint64) {
	e := c.e
	a := e.apps[appID]
	if a == nil {
		return // an app this replica is not configured for
	}
	ctx, cancel := e.detached(e.opts.LeaseTTL)
	defer cancel()
	var err error
	if kind == "" {
		a.mu.Lock()
		newer := version > a.metaSeen
		if newer {
			a.metaSeen = version
		}
		a.mu.Unlock()
		if newer {
			err = e.syncMeta(ctx, a)
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
	for _, a := range c.e.order {
		a.mu.Lock()
		a.metaSeen = 0
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
	for _, a := range e.order {
		for _, s := range a.slots() {
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
		if _, err := c.store.GetMeta(ctx, a.cfg.AppID); errors.Is(err, wxtoken.ErrNotFound) {
			a.mu.Lock()
			m := a.meta
			a.mu.Unlock()
			m.AppID = a.cfg.AppID
			if err := c.PutMetaFenced(ctx, m, l); err != nil {
				return err
			}
		}
	}
	e.log.Info("credential written back to the shared store", "appid", a.cfg.AppID, "kind", s.kind, "version", cur.Version)
	return nil
}
