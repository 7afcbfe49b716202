package client

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken"
)

// retryDelay spaces the background refetches of a credential that is due
// for refresh but still valid, while the server fails to answer: callers
// keep getting the cached value, and the server is not asked on every call.
const retryDelay = time.Second

// slotKey names one cached credential.
type slotKey struct {
	appID string
	kind  wxtoken.Kind
}

// slot is the cached state of one credential. Every field is guarded by
// Client.mu.
type slot struct {
	value string
	// expires is the local deadline of value: the time the request that
	// got it was sent, plus expires_in. It is computed on this host's clock
	// and never taken from the server's expires_at, so that a skew between
	// the hosts cannot make an expired value look valid.
	expires time.Time
	// refresh is when value is refetched in the background.
	refresh time.Time
	// retryAt holds back the next background refetch after one failed.
	retryAt time.Time
	// gen increases whenever Invalidate replaces or drops value, so that a
	// fetch that started before cannot put an older value back.
	gen uint64
	// fetch is the running fetch of the current credential, if any.
	fetch *call
	// refreshing holds the running compare-and-refresh calls by the stale
	// value they report, so that callers that saw the same rejection share
	// one request.
	refreshing map[string]*call
	// replaced is the stale value whose replacement value is: reports of it
	// arriving later are answered from the cache.
	replaced string
}

func (s *slot) valid(now time.Time) bool {
	return s.value != "" && now.Before(s.expires)
}

// call is one request to the server that several callers wait for.
type call struct {
	done  chan struct{}
	value string
	err   error
	// joined counts the callers that waited for the call, which is how the
	// tests see that concurrent callers were coalesced.
	joined int
}

// AccessToken returns appID's access_token from the cache, fetching it from
// the server when none is cached or the cached one has expired. A cached
// token that is about to expire (see WithEarly) is still returned while one
// background request fetches its successor, so callers wait for the server
// only on the first call and after a token expired unreplaced. Concurrent
// callers share one request. The token returned has not expired.
func (c *Client) AccessToken(ctx context.Context, appID string) (string, error) {
	if err := checkAppID(appID); err != nil {
		return "", err
	}
	return c.cached(ctx, slotKey{appID, wxtoken.KindAccessToken})
}

// Ticket returns appID's ticket of kind (wxtoken.KindJSAPITicket or
// wxtoken.KindWxCard), cached like AccessToken.
func (c *Client) Ticket(ctx context.Context, appID string, kind wxtoken.Kind) (string, error) {
	if err := checkTicket(appID, kind); err != nil {
		return "", err
	}
	return c.cached(ctx, slotKey{appID, kind})
}

// Invalidate reports stale, an access_token of appID that WeChat rejected,
// and returns the token to use instead: the server refreshes the token only
// if stale is still its current one, and otherwise answers with the one it
// has. The cache then holds the answer. Concurrent reports of the same
// token share one request, and later reports of a token this client has
// already seen replaced are answered from the cache. When the report fails
// the cached token is dropped if it was stale, so that the next
// AccessToken asks the server again.
func (c *Client) Invalidate(ctx context.Context, appID, stale string) (string, error) {
	if err := checkAppID(appID); err != nil {
		return "", err
	}
	return c.invalidate(ctx, slotKey{appID, wxtoken.KindAccessToken}, stale)
}

// InvalidateTicket is Invalidate for a ticket of kind.
func (c *Client) InvalidateTicket(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (string, error) {
	if err := checkTicket(appID, kind); err != nil {
		return "", err
	}
	return c.invalidate(ctx, slotKey{appID, kind}, stale)
}

func checkTicket(appID string, kind wxtoken.Kind) error {
	if err := checkAppID(appID); err != nil {
		return err
	}
	if !kind.IsTicket() {
		return wxtoken.Errorf(wxtoken.EInvalid, "unknown ticket type %q (want jsapi or wx_card)", kind)
	}
	return nil
}

// slotFor returns the slot of k, creating it. c.mu must be held.
func (c *Client) slotFor(k slotKey) *slot {
	s := c.slots[k]
	if s == nil {
		s = &slot{}
		c.slots[k] = s
	}
	return s
}

func (c *Client) cached(ctx context.Context, k slotKey) (string, error) {
	c.mu.Lock()
	s := c.slotFor(k)
	now := c.now()
	if s.valid(now) {
		v := s.value
		if !now.Before(s.refresh) && !now.Before(s.retryAt) && s.fetch == nil {
			s.fetch = c.startFetch(ctx, k, s)
		}
		c.mu.Unlock()
		return v, nil
	}
	cl := s.fetch
	if cl == nil {
		cl = c.startFetch(ctx, k, s)
		s.fetch = cl
	}
	cl.joined++
	c.mu.Unlock()
	return wait(ctx, cl)
}

// startFetch starts fetching the credential of k. It runs on a context of
// its own, so that one caller giving up does not fail the others waiting
// for the same answer; the client's timeout bounds it. c.mu must be held.
func (c *Client) startFetch(ctx context.Context, k slotKey, s *slot) *call {
	cl := &call{done: make(chan struct{})}
	gen := s.gen
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(cl.done)
		start := c.now()
		g, err := c.Credential(ctx, k.appID, k.kind)

		c.mu.Lock()
		defer c.mu.Unlock()
		s.fetch = nil
		now := c.now()
		switch {
		case err != nil:
			s.retryAt = now.Add(retryDelay)
		case s.gen == gen:
			c.store(s, g, start)
		}
		switch {
		case s.valid(now):
			// The new value, or, when the fetch failed or was overtaken
			// by Invalidate, the one that is still good.
			cl.value = s.value
		case err != nil:
			cl.err = err
		default:
			// Invalidate dropped the cache while this fetch ran; the
			// server's answer is all there is.
			cl.value = g.Value
		}
	}()
	return cl
}

func (c *Client) invalidate(ctx context.Context, k slotKey, stale string) (string, error) {
	if stale == "" {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the stale credential is required")
	}
	c.mu.Lock()
	s := c.slotFor(k)
	if stale == s.replaced && s.valid(c.now()) {
		v := s.value
		c.mu.Unlock()
		return v, nil
	}
	cl := s.refreshing[stale]
	if cl == nil {
		cl = c.startRefresh(ctx, k, s, stale)
		if s.refreshing == nil {
			s.refreshing = make(map[string]*call)
		}
		s.refreshing[stale] = cl
	}
	cl.joined++
	c.mu.Unlock()
	return wait(ctx, cl)
}

// startRefresh starts the compare-and-refresh of stale, on a context of its
// own like startFetch. c.mu must be held.
func (c *Client) startRefresh(ctx context.Context, k slotKey, s *slot, stale string) *call {
	cl := &call{done: make(chan struct{})}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(cl.done)
		start := c.now()
		g, err := c.Refresh(ctx, k.appID, k.kind, stale)

		c.mu.Lock()
		defer c.mu.Unlock()
		delete(s.refreshing, stale)
		if err != nil {
			if s.value == stale {
				s.value = ""
				s.gen++
			}
			cl.err = err
			return
		}
		s.gen++
		c.store(s, g, start)
		if g.Value != stale {
			s.replaced = stale
		}
		cl.value = g.Value
	}()
	return cl
}

// store caches g, fetched by a request sent at start. c.mu must be held.
func (c *Client) store(s *slot, g wxtoken.Grant, start time.Time) {
	s.value = g.Value
	s.expires = start.Add(g.ExpiresIn)
	s.refresh = s.expires.Add(-c.earlyFor(g.ExpiresIn))
	s.retryAt = time.Time{}
}

// earlyFor is how long before the end of a lifetime the credential is
// refetched.
func (c *Client) earlyFor(life time.Duration) time.Duration {
	if c.earlySet {
		return min(c.early, life/2)
	}
	return min(DefaultEarly, life/10)
}

func wait(ctx context.Context, cl *call) (string, error) {
	select {
	case <-cl.done:
		return cl.value, cl.err
	case <-ctx.Done():
		return "", &wxtoken.Error{
			Code:    wxtoken.EUnavailable,
			Message: "gave up waiting for the wxtoken server",
			Err:     ctx.Err(),
		}
	}
}
