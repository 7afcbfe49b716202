package refresh

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
)

// This file keeps credential owners that come and go while the engine
// runs: open-platform authorizers, and apps registered through the API or
// added by a configuration reload.

// Add starts keeping the credentials of c. Once the engine has started,
// what the store holds of them is served at once (no upstream call for a
// credential still valid) and what is missing is fetched in the
// background, as at Start. It fails for an id already kept and for a
// configuration that cannot work. A WeCom agent that keeps the jsapi
// ticket shares its corp's with the agents of the corp kept already, as
// the agents given to New do.
func (e *Engine) Add(ctx context.Context, c AppConfig) error {
	if c.AppID == "" || c.Secret == nil {
		return errors.New("refresh: an app needs an id and a secret")
	}
	if err := c.check(); err != nil {
		return err
	}
	e.regMu.Lock()
	if e.app(c.AppID) != nil {
		e.regMu.Unlock()
		return wxtoken.Errorf(wxtoken.EConflict, "%s is already kept", c.AppID)
	}
	a := e.newAppSlots(c)
	e.register(a)
	e.regMu.Unlock()
	if e.started.Load() {
		// Before Start, Start loads it with the others.
		e.loadApp(ctx, a)
	}
	return nil
}

// loadApp reads what the store holds of a's credentials and bookkeeping,
// installs what is newer than what a holds, and queues every credential
// of a. A read that fails is logged: the credential is then fetched, and
// on a shared store adopted from it first if another replica wrote one.
func (e *Engine) loadApp(ctx context.Context, a *app) {
	loaded := e.opts.Clock.Now()
	for _, s := range a.ownSlots() {
		c, err := e.opts.Store.Get(ctx, a.cfg.AppID, s.kind)
		switch {
		case err == nil:
			if c.Kind == wxtoken.KindAccessToken && c.API != a.cfg.TokenAPI {
				c.RefreshAt = c.FetchedAt // as in load
			}
			if s.installNewer(&c) {
				s.heard.Store(loaded.UnixNano())
				e.remember(a, &c)
				e.noteLate(a, &c)
			}
		case errors.Is(err, wxtoken.ErrNotFound):
		default:
			e.log.Warn("reading a credential from the store failed; fetching it", "appid", a.cfg.AppID, "kind", s.kind, "err", err)
		}
	}
	switch m, err := e.opts.Store.GetLedger(ctx, a.cfg.AppID); {
	case err == nil:
		if a.token.lease.Load() == nil {
			e.setLedger(a, e.forgetBackoff(a, m))
		}
	case errors.Is(err, wxtoken.ErrNotFound):
	default:
		e.log.Warn("reading bookkeeping from the store failed", "appid", a.cfg.AppID, "err", err)
	}
	now := e.opts.Clock.Now()
	for _, s := range a.ownSlots() {
		if a.removed.Load() {
			return
		}
		due := e.nextDue(s, now)
		if s.load() == nil && a.cfg.FirstFetchAfter > 0 {
			due = now.Add(a.cfg.FirstFetchAfter)
		}
		e.queue.set(s, due)
		s.notify()
	}
}

// Remove stops keeping the credentials of id: from now on they are not
// served, refreshed or known to AppOf, and a refresh in flight ends
// without queueing another. What the store holds of them stays. It fails
// with ENotFound for an id not kept, and with EConflict for a WeCom agent
// that holds its corp's jsapi ticket for other agents kept (their ticket
// is fetched with its token): remove those first.
func (e *Engine) Remove(id string) error {
	e.regMu.Lock()
	a := e.app(id)
	if a == nil {
		e.regMu.Unlock()
		return wxtoken.Errorf(wxtoken.ENotFound, "%s is not kept", id)
	}
	held := a.ticket(wxtoken.KindJSAPITicket)
	if held != nil && held.app == a {
		for _, o := range e.all() {
			if o != a && o.ticket(wxtoken.KindJSAPITicket) == held {
				e.regMu.Unlock()
				return wxtoken.Errorf(wxtoken.EConflict,
					"%s holds its corp's jsapi ticket for %s, which is kept: remove the corp's other agents first", id, o.cfg.AppID)
			}
		}
		delete(e.corpTickets, corpTicketKey(a.cfg, wxtoken.KindJSAPITicket))
	}
	old := e.all()
	order := make([]*app, 0, len(old))
	for _, o := range old {
		if o != a {
			order = append(order, o)
		}
	}
	e.apps.Delete(id)
	e.order.Store(&order)
	a.removed.Store(true)
	e.regMu.Unlock()
	for _, s := range a.ownSlots() {
		e.queue.remove(s)
		s.notify()
	}
	a.mu.Lock()
	for _, k := range a.known {
		e.tokens.CompareAndDelete(k.Value, a)
	}
	a.known = nil
	a.mu.Unlock()
	return nil
}

// remove takes s off the heap, if it is on it.
func (q *scheduler) remove(s *slot) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s.index >= 0 {
		heap.Remove(&q.h, s.index)
	}
}

// RetryNow lifts the error policy's hold on the credentials of id and
// tries those that need it once, now: for after a human fixed the cause
// (put the server's IP on the whitelist, confirmed the risk message,
// corrected a secret), and for a platform whose verify ticket has just
// arrived. The hold lives in the bookkeeping, so on a shared store it is
// lifted for every replica. The last error stays in status until the
// try's outcome replaces it.
func (e *Engine) RetryNow(ctx context.Context, id string) error {
	a := e.app(id)
	if a == nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "%s is not kept", id)
	}
	a.mu.Lock()
	held := a.ledger.TokenFailure != nil
	a.mu.Unlock()
	release := func() {}
	if held {
		// On a shared store the bookkeeping is written under the token's
		// lease: without it the write would not be made, and the hold
		// would come back from the store.
		var err error
		if release, err = e.ledgerLease(ctx, a); err != nil {
			return err
		}
		e.updateLedger(ctx, a, func(m *wxtoken.Ledger) { m.TokenFailure = nil })
	}
	a.mu.Lock()
	a.blockedUntil = time.Time{}
	a.mu.Unlock()
	slots := a.ownSlots()
	for _, s := range slots {
		s.mu.Lock()
		s.failures, s.retryAt = 0, time.Time{}
		s.mu.Unlock()
	}
	// The lease goes only once the hold is lifted here too: a refresh
	// that waited for it (one begun before the retry) would otherwise
	// take it in between, still see the hold, and fail the caller who
	// asked for the retry.
	release()
	now := e.opts.Clock.Now()
	for _, s := range slots {
		e.queue.set(s, e.nextDue(s, now))
		s.notify()
	}
	return nil
}

// ledgerLease takes the lease of a's token, on a shared store where this
// replica does not hold it, so that a change of a's bookkeeping is
// written; it returns what lets it go. While another replica holds the
// lease (it is working on the token) it waits until ctx ends.
func (e *Engine) ledgerLease(ctx context.Context, a *app) (func(), error) {
	s := a.token
	if !e.coord.shared() || s.lease.Load() != nil {
		return func() {}, nil
	}
	for {
		l, err := e.coord.AcquireLease(ctx, s.key, e.opts.LeaseTTL)
		switch {
		case err == nil:
			// Read what the previous holder wrote before changing it.
			if serr := e.syncSlot(ctx, s); serr != nil {
				e.log.Warn("reading the app's bookkeeping before a retry failed", "appid", a.cfg.AppID, "err", serr)
			}
			return e.holdLease(s, l), nil
		case !errors.Is(err, wxtoken.ErrLeaseHeld):
			return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err,
				Message: fmt.Sprintf("the shared store is unreachable: the hold on %s cannot be lifted for every replica", a.cfg.AppID)}
		}
		t := e.opts.Clock.NewTimer(e.opts.LeaseTTL / 10)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Err: ctx.Err(),
				Message: fmt.Sprintf("another replica is working on %s: try again", a.cfg.AppID)}
		case <-t.C():
		}
	}
}
