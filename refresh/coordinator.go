package refresh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// This file is how the engine works with its store, the same way whether
// the store is its own or shared: the coordinator of each mode, and the
// one path through it (claim a lease, write under it, follow the writes).

// coordinator is how the engine works with its store, which is its own
// (solo) or shared with other replicas (cluster). The engine does the same
// whichever it has: it takes a credential's lease before it talks to
// WeChat about it, writes under that lease, and follows what is written.
// Solo grants every lease, writes plainly and has nothing to follow.
type coordinator interface {
	wxtoken.Leaser
	// follow passes what the other replicas write to the engine until ctx
	// ends, then returns ctx's error.
	follow(ctx context.Context) error
	// putFenced is wxtoken.FencedWriter.PutFenced of *nc, which solo may
	// number higher than asked (see solo.putFenced).
	putFenced(ctx context.Context, nc *wxtoken.Credential, l wxtoken.Lease) error
	putMetaFenced(ctx context.Context, m wxtoken.Ledger, l wxtoken.Lease) error
	// written and writtenLedger read what the other replicas wrote to the
	// store: an error wrapping wxtoken.ErrNotFound when there is nothing
	// to read (always, solo).
	written(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error)
	writtenLedger(ctx context.Context, appID string) (wxtoken.Ledger, error)
	// known returns the time up to which the engine knows of every token
	// call that any replica started ("known" wherever the engine's
	// comments say it): now, solo; for a cluster, when the store last
	// confirmed every change written before it (heard), never after now.
	known(now time.Time) time.Time
	// heard returns when the store last confirmed every change written
	// before it; confirmed records such a confirmation. Solo: zero, and
	// nothing to record.
	heard() time.Time
	confirmed(at time.Time)
	// down returns since when the store cannot be reached and the last
	// failure, or a nil error while it answers (always, solo).
	down() (time.Time, error)
	// startWithout decides what a Start that could not read the store
	// does: solo fails with err; a cluster starts without the stored
	// credentials and loads them in the background (nil).
	startWithout(ctx context.Context, err error) error
	// shared reports whether other replicas write to the store. Then a
	// credential counts only once written there, where they can see it
	// (one the store refuses or cannot take is handled as theirs, not
	// served from memory), and Status and Health report on the store.
	shared() bool
}

// solo is the coordinator of a store of the engine's own: the engine is
// its only writer, so every lease is granted, a fenced write is a plain
// one, and no one else writes anything to follow.
type solo struct{ store wxtoken.Store }

var _ coordinator = solo{}

func (solo) Owner() string { return "" }

func (solo) AcquireLease(_ context.Context, name string, _ time.Duration) (wxtoken.Lease, error) {
	return wxtoken.Lease{Name: name}, nil
}

func (solo) RenewLease(context.Context, wxtoken.Lease, time.Duration) error { return nil }
func (solo) ReleaseLease(context.Context, wxtoken.Lease) error              { return nil }

func (solo) LeaseHolders(context.Context, []string) (map[string]string, error) { return nil, nil }

// follow tells nothing: no one else writes. It returns when ctx ends.
func (solo) follow(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// putFenced writes nc as a compare-and-set on Version, retried once above
// what is stored: the engine is the store's only writer, so a higher
// Version there (a record it did not load) must not keep it from saving
// what it serves.
func (o solo) putFenced(ctx context.Context, nc *wxtoken.Credential, _ wxtoken.Lease) error {
	err := o.store.Put(ctx, *nc)
	if errors.Is(err, wxtoken.ErrStale) {
		if got, gerr := o.store.Get(ctx, nc.AppID, nc.Kind); gerr == nil {
			nc.Version = got.Version + 1
			err = o.store.Put(ctx, *nc)
		}
	}
	return err
}

func (o solo) putMetaFenced(ctx context.Context, m wxtoken.Ledger, _ wxtoken.Lease) error {
	return o.store.PutLedger(ctx, m)
}

func (solo) written(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	return wxtoken.Credential{}, wxtoken.ErrNotFound
}

func (solo) writtenLedger(context.Context, string) (wxtoken.Ledger, error) {
	return wxtoken.Ledger{}, wxtoken.ErrNotFound
}

func (solo) known(now time.Time) time.Time                   { return now }
func (solo) heard() time.Time                                { return time.Time{} }
func (solo) confirmed(time.Time)                             {}
func (solo) down() (time.Time, error)                        { return time.Time{}, nil }
func (solo) startWithout(_ context.Context, err error) error { return err }
func (solo) shared() bool                                    { return false }

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
	e.noteLate(s.app, c)
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
		if err := e.syncLedger(ctx, s.app); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// syncLedger reads the bookkeeping of a from the store. While this replica
// holds the token lease its own bookkeeping is the newest, and is kept.
func (e *Engine) syncLedger(ctx context.Context, a *app) error {
	if a.token.lease.Load() != nil {
		return nil
	}
	return e.loadLedger(ctx, a)
}

// loadLedger reads the bookkeeping of a from the store and installs it.
func (e *Engine) loadLedger(ctx context.Context, a *app) error {
	m, err := e.coord.writtenLedger(ctx, a.cfg.AppID)
	if errors.Is(err, wxtoken.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	e.setLedger(a, m)
	now := e.opts.Clock.Now()
	e.queue.set(a.token, e.nextDue(a.token, now))
	a.token.notify()
	return nil
}

// claim makes this replica the one that works on s, when the store is
// shared: it takes the lease of s, waiting while another replica holds it
// and adopting what that one writes. need says whether work is still
// needed at a time; when another replica's write made it unneeded, claim
// returns a nil release and a nil error. Otherwise it returns, with a nil
// error, the function that gives the lease up.
//
// When the store cannot be reached, a stable or WeCom access_token is
// worked on without the lease (a normal-mode stable_token call or a WeCom
// gettoken changes nothing upstream); every other credential waits for
// the store.
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
			// lease held, which stops syncLedger.
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
		case s.kind == wxtoken.KindAccessToken && (s.app.cfg.TokenAPI == wxtoken.TokenAPIStable || s.app.successorAtExpiry()):
			// Neither a normal-mode stable_token call nor a WeCom
			// gettoken changes anything upstream.
			e.log.Warn("the shared store is unreachable; refreshing the access_token without the lease",
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

// holdLease records l as held by s and renews it until the returned
// function is called, which releases it.
func (e *Engine) holdLease(s *slot, l wxtoken.Lease) func() {
	s.lease.Store(&l)
	done := make(chan struct{})
	var wg sync.WaitGroup
	// A store of the engine's own has nothing to renew: no goroutine and
	// timer per refresh under way.
	if e.coord.shared() {
		wg.Add(1)
		go e.renewLease(s, l, done, &wg)
	}
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

// renewLease renews l, held by s, until done is closed or the lease is
// lost.
func (e *Engine) renewLease(s *slot, l wxtoken.Lease, done <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	every := e.opts.LeaseTTL / 3
	wait := every
	for {
		t := e.opts.Clock.NewTimer(wait)
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
			// The lease runs out a TTL after its last renewal: a slow or
			// failed renewal is tried again soon, not a third of a TTL
			// later, which after one slow call would leave too little.
			e.log.Warn("renewing a lease failed", "appid", s.app.cfg.AppID, "kind", s.kind, "err", err)
			wait = every / 4
		default:
			wait = every
		}
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

// persistLedger writes the bookkeeping m of a under the token lease, and
// not at all without it: the holder's bookkeeping is the one that counts.
func (e *Engine) persistLedger(ctx context.Context, a *app, m wxtoken.Ledger) error {
	l := a.token.lease.Load()
	if l == nil {
		return errNoLease
	}
	return e.coord.putMetaFenced(ctx, m, *l)
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
