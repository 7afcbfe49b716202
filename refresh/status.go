package refresh

import (
	"context"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// state names the state of s at now.
func (e *Engine) state(s *slot, c *wxtoken.Credential, now time.Time) string {
	switch {
	case c == nil:
		return wxtoken.StateMissing
	case e.handout(s, c, now) <= 0:
		return wxtoken.StateExpired
	case now.Before(c.RefreshAt) && !e.ticketOrphaned(s, c):
		return wxtoken.StateFresh
	default:
		return wxtoken.StateStale
	}
}

// Status implements wxtoken.Service.
func (e *Engine) Status(ctx context.Context) []wxtoken.AppStatus {
	now := e.opts.Clock.Now()
	apps := e.all()
	out := make([]wxtoken.AppStatus, 0, len(apps))
	holders := e.leaseHolders(ctx, apps)
	for _, a := range apps {
		out = append(out, e.appStatus(a, holders, now))
	}
	return out
}

// StatusOf reports the one app id as Status would, without the cost of
// all the others; false when id is not kept.
func (e *Engine) StatusOf(ctx context.Context, id string) (wxtoken.AppStatus, bool) {
	a := e.app(id)
	if a == nil {
		return wxtoken.AppStatus{}, false
	}
	return e.appStatus(a, e.leaseHolders(ctx, []*app{a}), e.opts.Clock.Now()), true
}

// Family reports whether the engine keeps id, and the family it keeps it
// as: for a front end that serves ids kept beside the configured ones
// (apps registered while the server runs) and must not serve one family's
// credentials on another's routes.
func (e *Engine) Family(id string) (wxtoken.Family, bool) {
	a := e.app(id)
	if a == nil {
		return "", false
	}
	return a.cfg.Family, true
}

// appStatus is the status of a at now, with the lease holders by slot
// key.
func (e *Engine) appStatus(a *app, holders map[string]string, now time.Time) wxtoken.AppStatus {
	a.mu.Lock()
	m := a.ledger
	blocked := a.blockedUntil
	a.mu.Unlock()
	st := wxtoken.AppStatus{AppID: a.cfg.AppID, Name: a.cfg.Name, TokenAPI: a.cfg.TokenAPI}
	st.Family = a.cfg.Family
	switch _, first, second := wxtoken.ParseID(a.cfg.AppID); a.cfg.Family {
	case wxtoken.FamilyWeCom:
		st.CorpID, st.AgentID = first, second
	case wxtoken.FamilyAuthorizer:
		st.ComponentAppID, st.AuthorizerAppID = first, second
	}
	if m.QuotaDay == wechat.QuotaDay(now) {
		st.UpstreamCallsToday = m.TokenCalls
		st.ForceRefreshesToday = len(m.ForceRefreshes)
	}
	if blocked.After(now) {
		st.BlockedUntil = &blocked
	}
	for _, s := range a.slots() {
		c := s.load()
		cs := wxtoken.CredentialStatus{Kind: s.kind, State: e.state(s, c, now), LastError: s.lastError()}
		if c != nil {
			exp, fetched := c.ExpiresAt, c.FetchedAt
			cs.ExpiresAt, cs.FetchedAt, cs.Version = &exp, &fetched, c.Version
		}
		if due, ok := e.queue.dueAt(s); ok {
			cs.NextRefreshAt = &due
		}
		if e.coord.shared() {
			cs.LeaseHolder = holders[s.key]
			heard := time.Unix(0, max(s.heard.Load(), e.coord.heard().UnixNano())).UTC()
			cs.HeardAt = &heard
		}
		st.Credentials = append(st.Credentials, cs)
	}
	return st
}

// leaseHolders returns the holder of every held lease of apps, by slot
// key; nil for a store of the engine's own or when it cannot be asked.
func (e *Engine) leaseHolders(ctx context.Context, apps []*app) map[string]string {
	var names []string
	for _, a := range apps {
		for _, s := range a.slots() {
			names = append(names, s.key)
		}
	}
	// Status must answer while the store is away: a scrape or an
	// operator waits at most a second for the holders.
	ctx, cancel := context.WithTimeout(ctx, min(e.opts.LeaseTTL, time.Second))
	defer cancel()
	h, err := e.coord.LeaseHolders(ctx, names)
	if err != nil {
		e.log.Warn("reading the lease holders failed", "err", err)
		return nil
	}
	return h
}

// Replica names this replica in leases, or is empty without a shared
// store.
func (e *Engine) Replica() string { return e.coord.Owner() }

// Drain marks the engine as shutting down: it goes on serving, but
// reports not ready, so that load balancers stop sending it requests.
func (e *Engine) Drain() { e.draining.Store(true) }

// NotReady implements wxtoken.Service: the reasons of Health.
func (e *Engine) NotReady(ctx context.Context) []string {
	return e.Health(ctx).Reasons
}

// Health implements wxtoken.HealthReporter. The replica is ready unless
// it is shutting down, or it relies on a shared store that cannot be
// reached (or has not answered since the start) and holds no app's
// access_token to serve; see wxtoken.Health for why one app that cannot
// be served does not count.
func (e *Engine) Health(context.Context) wxtoken.Health {
	now := e.opts.Clock.Now()
	h := wxtoken.Health{Ready: true, Apps: []wxtoken.AppHealth{}}
	servable := 0
	for _, a := range e.all() {
		ah := wxtoken.AppHealth{AppID: a.cfg.AppID}
		for _, s := range a.slots() {
			if e.handout(s, s.load(), now) > 0 {
				if s == a.token {
					servable++
				}
				continue
			}
			ah.Unservable = append(ah.Unservable, s.kind)
			if ah.LastError == nil {
				ah.LastError = s.lastError()
			}
		}
		if le := a.token.lastError(); le != nil {
			ah.LastError = le
		}
		if b := a.blocked(); b.After(now) {
			ah.BlockedUntil = &b
		}
		if len(ah.Unservable) > 0 || ah.BlockedUntil != nil {
			h.Apps = append(h.Apps, ah)
		}
	}
	since, storeErr := e.coord.down()
	if !e.loaded.Load() && storeErr == nil {
		// Start has not read the store yet.
		h.Ready = false
		h.Reasons = append(h.Reasons, "starting: the stored credentials are not loaded yet")
	}
	if e.coord.shared() {
		st := &wxtoken.StoreHealth{Reachable: storeErr == nil, Loaded: e.loaded.Load()}
		if storeErr != nil {
			since = since.UTC()
			st.DownSince, st.Error = &since, storeErr.Error()
			if servable == 0 {
				h.Ready = false
				what := "is unreachable since " + since.Format(time.RFC3339)
				if !st.Loaded {
					what = "has not answered since the start (" + since.Format(time.RFC3339) + "), so the stored credentials are not loaded"
				}
				h.Reasons = append(h.Reasons, fmt.Sprintf("the shared store %s, and no access_token is held in memory to serve", what))
			}
		}
		h.Store = st
	}
	if e.draining.Load() || e.life.Err() != nil {
		h.Ready = false
		h.Reasons = append(h.Reasons, "shutting down")
	}
	return h
}

var _ wxtoken.HealthReporter = (*Engine)(nil)

var _ wxtoken.Service = (*Engine)(nil)
