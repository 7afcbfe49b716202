package refresh

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// This file is when each credential is next looked at: its due time,
// the heap of due times that one goroutine serves, and the rate limit of
// upstream calls.

// scheduler holds one due time per credential in a min-heap and calls run
// for each credential when its time comes. One goroutine serves every
// credential of every app, so thousands of apps cost no goroutine or timer
// each.
//
// With limit set, at most limit runs are under way at once (each ends with
// finished): the others stay in the heap, past due, until one ends. A start
// finds every credential due at once, and a run each would be tens of
// thousands of goroutines, hundreds of megabytes of stacks, nearly all of
// them waiting for the rate limit.
type scheduler struct {
	clock Clock
	run   func(*slot)
	limit int

	mu      sync.Mutex
	h       slotHeap
	running int
	wake    chan struct{}
}

func newScheduler(clock Clock, run func(*slot)) *scheduler {
	return &scheduler{clock: clock, run: run, wake: make(chan struct{}, 1)}
}

// finished tells the scheduler that a run it started has ended.
func (q *scheduler) finished() {
	q.mu.Lock()
	q.running--
	full := q.limit > 0 && q.running == q.limit-1
	q.mu.Unlock()
	if full {
		// The loop may be waiting for room.
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// set makes s due at t, replacing its previous due time.
func (q *scheduler) set(s *slot, t time.Time) {
	q.mu.Lock()
	s.due = t
	if s.index >= 0 {
		heap.Fix(&q.h, s.index)
	} else {
		heap.Push(&q.h, s)
	}
	first := q.h[0] == s
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// dueAt returns when s is due, and whether it is queued.
func (q *scheduler) dueAt(s *slot) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return s.due, s.index >= 0
}

// loop runs due credentials until ctx ends. A credential is taken off the
// heap while it runs; run must set it again.
func (q *scheduler) loop(ctx context.Context) {
	for {
		q.mu.Lock()
		now := q.clock.Now()
		var due []*slot
		full := false
		for len(q.h) > 0 && !q.h[0].due.After(now) {
			if q.limit > 0 && q.running >= q.limit {
				// finished wakes the loop when there is room again.
				full = true
				break
			}
			q.running++
			due = append(due, heap.Pop(&q.h).(*slot))
		}
		var next time.Time
		if len(q.h) > 0 && !full {
			next = q.h[0].due
		}
		q.mu.Unlock()
		for _, s := range due {
			q.run(s)
		}
		if len(due) > 0 {
			continue
		}
		var timer Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = q.clock.TimerAt(next)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-q.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

type slotHeap []*slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *slotHeap) Push(x any) {
	s := x.(*slot)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *slotHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	s.index = -1
	*h = old[:len(old)-1]
	return s
}

// limiter spaces upstream call starts at least interval apart, across all
// apps, so that a cold start of many apps is spread out.
type limiter struct {
	clock    Clock
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

// wait blocks until the caller's turn or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l.interval <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	if !at.After(now) {
		return ctx.Err()
	}
	t := l.clock.TimerAt(at)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ensureDue makes sure a stale credential is queued for refresh now, in case
// its timer was lost (a suspended machine wakes past it).
func (e *Engine) ensureDue(s *slot, now time.Time) {
	due, queued := e.queue.dueAt(s)
	if queued && due.After(now) {
		if want := e.nextDue(s, now); want.Before(due) {
			e.queue.set(s, want)
		}
	}
}

// runDue is the scheduler's callback: it refreshes s in the background and
// makes sure s is queued again whatever the outcome.
func (e *Engine) runDue(s *slot) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.queue.finished()
		reason := wxtoken.ReasonProactive
		switch cur := s.load(); {
		case cur == nil:
			reason = wxtoken.ReasonStartup
		case e.ticketOrphaned(s, cur):
			reason = wxtoken.ReasonTicket
		case e.isDoomed(s, cur):
			reason = wxtoken.ReasonLateMint
		}
		ctx, cancel := e.detached(0)
		defer cancel()
		if s.app.removed.Load() {
			return
		}
		_, _ = e.fetch(ctx, s, reason) // failures are logged and scheduled by fail
		if _, queued := e.queue.dueAt(s); !queued && !s.app.removed.Load() {
			e.queue.set(s, e.nextDue(s, e.opts.Clock.Now()))
		}
	}()
}

// nextDue is when s should next be looked at, from its state alone.
func (e *Engine) nextDue(s *slot, now time.Time) time.Time {
	due := now
	if cur := s.load(); cur != nil && !e.ticketOrphaned(s, cur) && !e.isDoomed(s, cur) {
		due = cur.RefreshAt
	}
	if r := s.retryAtTime(); r.After(due) {
		due = r
	}
	if s.kind == wxtoken.KindAccessToken {
		if b := s.app.blocked(); b.After(due) {
			due = b
		}
	}
	return due
}
