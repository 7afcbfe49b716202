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
	out := make([]wxtoken.AppStatus, 0, len(e.order))
	holders := e.leaseHolders(ctx)
	for _, a := range e.order {
		a.mu.Lock()
		m := a.meta
		blocked := a.blockedUntil
		a.mu.Unlock()
		st := wxtoken.AppStatus{AppID: a.cfg.AppID, Name: a.cfg.Name, TokenAPI: a.cfg.TokenAPI}
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
			if e.coord != nil {
				cs.LeaseHolder = holders[s.key]
				heard := time.Unix(0, max(s.heard.Load(), e.cl.heard.Load())).UTC()
				cs.HeardAt = &heard
			}
			st.Credentials = append(st.Credentials, cs)
		}
		out = append(out, st)
	}
	return out
}

// leaseHolders returns the holder of every held lease of the shared
// store, by slot key; nil without one or when it cannot be asked.
func (e *Engine) leaseHolders(ctx context.Context) map[string]string {
	if e.coord == nil {
		return nil
	}
	var names []string
	for _, a := range e.order {
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
func (e *Engine) Replica() string {
	if e.coord == nil {
		return ""
	}
	return e.coord.Owner()
}

// NotReady implements wxtoken.Service: an app is ready when its
// access_token can be served now, and, on a shared store, the store
// answers.
func (e *Engine) NotReady(context.Context) []string {
	now := e.opts.Clock.Now()
	var reasons []string
	if since, err := e.storeDown(); err != nil {
		reasons = append(reasons, fmt.Sprintf(
			"the shared store is unreachable since %s (%v): serving credentials from memory while they last; none is refreshed but stable access_tokens",
			since.UTC().Format(time.RFC3339), err))
	}
	for _, a := range e.order {
		c := a.token.load()
		if e.handout(a.token, c, now) > 0 {
			continue
		}
		r := fmt.Sprintf("app %s: access_token is %s", a.cfg.AppID, e.state(a.token, c, now))
		if le := a.token.lastError(); le != nil {
			r += fmt.Sprintf(" (last error %s", le.Class)
			if le.ErrCode != 0 {
				r += fmt.Sprintf(" %d", le.ErrCode)
			}
			r += ": " + le.Hint + ")"
		}
		reasons = append(reasons, r)
	}
	return reasons
}

var _ wxtoken.Service = (*Engine)(nil)
