package refresh

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/fakeclock"
)

func TestLimiterSpacesStarts(t *testing.T) {
	clk := fakeclock.New(time.Unix(0, 0))
	created := clk.TimerCreated()
	l := &limiter{clock: fakeClock{clk}, interval: 100 * time.Millisecond}
	ctx := context.Background()
	if err := l.wait(ctx); err != nil { // the first start goes at once
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		if err := l.wait(ctx); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	<-created // the second caller is waiting on the clock
	clk.Advance(99 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("second start came before its turn")
	default:
	}
	clk.Advance(time.Millisecond)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("second start never came")
	}
	// A cancelled caller gives up at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.wait(cctx); err == nil {
		t.Fatal("wait ignored a cancelled context")
	}
}

func TestSchedulerRunsInDueOrder(t *testing.T) {
	clk := fakeclock.New(time.Unix(0, 0))
	ran := make(chan *slot, 8)
	q := newScheduler(fakeClock{clk}, func(s *slot) { ran <- s })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.loop(ctx)
	a, b, c := &slot{key: "a", index: -1}, &slot{key: "b", index: -1}, &slot{key: "c", index: -1}
	t0 := clk.Now()
	q.set(a, t0.Add(3*time.Second))
	q.set(b, t0.Add(time.Second))
	q.set(c, t0.Add(2*time.Second))
	q.set(a, t0.Add(500*time.Millisecond)) // moved earlier
	for _, want := range []*slot{a, b, c} {
		for {
			clk.Advance(250 * time.Millisecond)
			select {
			case got := <-ran:
				if got != want {
					t.Fatalf("ran %s, want %s", got.key, want.key)
				}
			case <-time.After(20 * time.Millisecond):
				continue
			}
			break
		}
	}
	if _, queued := q.dueAt(a); queued {
		t.Fatal("a ran but is still queued")
	}
}

// driftClock is a fake clock that moves on by the durations sent on drift,
// each just after a reading of Now: time that passes while a loop plans.
type driftClock struct {
	fakeClock
	drift chan time.Duration
}

func (c driftClock) Now() time.Time {
	now := c.Clock.Now()
	select {
	case d := <-c.drift:
		c.Clock.Advance(d)
	default:
	}
	return now
}

// TestSchedulerWaitsForItsPlannedTime: time that passes between the
// loop's reading of the clock and its timer does not push the run later.
func TestSchedulerWaitsForItsPlannedTime(t *testing.T) {
	clk := driftClock{fakeClock{fakeclock.New(time.Unix(0, 0))}, make(chan time.Duration, 1)}
	created := clk.Clock.TimerCreated()
	ran := make(chan *slot, 1)
	q := newScheduler(clk, func(s *slot) { ran <- s })
	s := &slot{key: "a", index: -1}
	q.set(s, clk.Clock.Now().Add(10*time.Second))
	<-q.wake                     // the loop starts with the slot queued, with nothing to wake it again
	clk.drift <- 3 * time.Second // passes right after the loop reads the clock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.loop(ctx)
	<-created
	clk.Clock.Advance(7 * time.Second) // 10 s after the loop's reading
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the slot due at 10 s did not run at 10 s")
	}
}

// TestSchedulerLimitsRunsUnderWay: with a limit, runs past it wait in the
// heap, past due, until one under way has finished.
func TestSchedulerLimitsRunsUnderWay(t *testing.T) {
	clk := fakeclock.New(time.Unix(0, 0))
	ran := make(chan *slot, 8)
	q := newScheduler(fakeClock{clk}, func(s *slot) { ran <- s })
	q.limit = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 5 {
		q.set(&slot{key: fmt.Sprint(i), index: -1}, clk.Now())
	}
	go q.loop(ctx)
	for range 2 {
		<-ran
	}
	select {
	case s := <-ran:
		t.Fatalf("%s ran with 2 runs under way and a limit of 2", s.key)
	case <-time.After(50 * time.Millisecond):
	}
	for done := 2; done < 5; done++ {
		q.finished()
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatalf("no run after %d of them finished", done-1)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running != 2 || len(q.h) != 0 {
		t.Errorf("running %d, queued %d; want 2 and 0", q.running, len(q.h))
	}
}

func TestRunLimit(t *testing.T) {
	for rate, want := range map[float64]int{0: 1000, 1: 100, 20: 100, 100: 200, 1000: 1000, 1e6: 1000} {
		if got := runLimit(rate); got != want {
			t.Errorf("runLimit(%v) = %d, want %d", rate, got, want)
		}
	}
}
