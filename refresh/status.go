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
	case e.sch.handout(c, s.app.mintAt(), now) <= 0:
		return wxtoken.StateExpired
	case now.Before(c.RefreshAt) && !e.ticketOrphaned(s, c):
		return wxtoken.StateFresh
	default:
		return wxtoken.StateStale
	}
}

// Status implements wxtoken.Service.
func (e *Engine) Status(context.Context) []wxtoken.AppStatus {
	now := e.opts.Clock.Now()
	out := make([]wxtoken.AppStatus, 0, len(e.order))
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
			st.Credentials = append(st.Credentials, cs)
		}
		out = append(out, st)
	}
	return out
}

// NotReady implements wxtoken.Service: an app is ready when its
// access_token can be served now.
func (e *Engine) NotReady(context.Context) []string {
	now := e.opts.Clock.Now()
	var reasons []string
	for _, a := range e.order {
		c := a.token.load()
		if e.sch.handout(c, a.mintAt(), now) > 0 {
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
