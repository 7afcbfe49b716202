package client

import "github.com/wxtoken/wxtoken"

// Joined returns how many callers are waiting for, or waited for, the
// running fetch of appID's credential of kind; 0 when none is running.
func (c *Client) Joined(appID string, kind wxtoken.Kind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slots[slotKey{appID, kind}]
	if s == nil || s.fetch == nil {
		return 0
	}
	return s.fetch.joined
}

// JoinedRefresh is Joined for the running compare-and-refresh of stale.
func (c *Client) JoinedRefresh(appID string, kind wxtoken.Kind, stale string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slots[slotKey{appID, kind}]
	if s == nil || s.refreshing[stale] == nil {
		return 0
	}
	return s.refreshing[stale].joined
}

// Settle waits until no fetch or refresh of appID's credential of kind is
// running, so that tests see the outcome of a background refetch.
func (c *Client) Settle(appID string, kind wxtoken.Kind) {
	for {
		c.mu.Lock()
		var running []*call
		if s := c.slots[slotKey{appID, kind}]; s != nil {
			if s.fetch != nil {
				running = append(running, s.fetch)
			}
			for _, cl := range s.refreshing {
				running = append(running, cl)
			}
		}
		c.mu.Unlock()
		if len(running) == 0 {
			return
		}
		for _, cl := range running {
			<-cl.done
		}
	}
}
