// Package fakeclock is a manually advanced clock for tests of timing logic:
// time stands still until the test calls Advance, and timers fire when the
// clock passes their deadline.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake clock. The zero value is not usable; call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*Timer
	// waiters are told whenever a timer is created, so tests can wait for
	// a goroutine to block on the clock instead of sleeping.
	waiters []chan struct{}
}

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer is a fake timer.
type Timer struct {
	c     *Clock
	ch    chan time.Time
	at    time.Time
	fired bool
}

// C returns the channel the timer fires on.
func (t *Timer) C() <-chan time.Time { return t.ch }

// Stop stops the timer; it reports whether the timer was still pending.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return !t.fired
		}
	}
	return false
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (c *Clock) NewTimer(d time.Duration) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timerAt(c.now.Add(d))
}

// TimerAt returns a timer that fires when the clock reaches at: at once if
// it already has.
func (c *Clock) TimerAt(at time.Time) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timerAt(at)
}

func (c *Clock) timerAt(at time.Time) *Timer {
	t := &Timer{c: c, ch: make(chan time.Time, 1), at: at}
	if !at.After(c.now) {
		t.fired = true
		t.ch <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	for _, w := range c.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return t
}

// Advance moves the clock forward by d and fires the timers due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.fired = true
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// Pending returns how many timers have not fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// TimerCreated returns a channel that receives (without blocking the
// clock) each time a timer is created.
func (c *Clock) TimerCreated() <-chan struct{} {
	ch := make(chan struct{}, 64)
	c.mu.Lock()
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	return ch
}
