package quota_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/fakeclock"
	"github.com/wxtoken/wxtoken/quota"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/wechat"
)

// fakeClock adapts fakeclock.Clock to refresh.Clock.
type fakeClock struct{ *fakeclock.Clock }

func (c fakeClock) NewTimer(d time.Duration) refresh.Timer { return c.Clock.NewTimer(d) }
func (c fakeClock) TimerAt(at time.Time) refresh.Timer     { return c.Clock.TimerAt(at) }

// upstream answers quota/get with the number of times the app was asked,
// and records when each ask came.
type upstream struct {
	clk *fakeclock.Clock

	mu     sync.Mutex
	asks   map[string][]time.Time
	clears int
	spent  bool
}

func (u *upstream) QuotaGet(_ context.Context, token, cgiPath string) (wechat.Quota, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	app := strings.TrimPrefix(token, "tok-")
	u.asks[app] = append(u.asks[app], u.clk.Now())
	n := len(u.asks[app])
	return wechat.Quota{DailyLimit: 2000, Used: n, Remain: 2000 - n}, nil
}

func (u *upstream) ClearQuota(_ context.Context, appID, secret string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.spent {
		return &wechat.APIError{Endpoint: wechat.PathClearQuota, ErrCode: wechat.ErrClearQuotaSpent, ErrMsg: "forbid to clear quota because of reaching the limit"}
	}
	u.clears++
	return nil
}

func newPoller(t *testing.T, n int) (*quota.Poller, *fakeclock.Clock, *upstream, []quota.App) {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC))
	up := &upstream{clk: clk, asks: map[string][]time.Time{}}
	apps := make([]quota.App, n)
	for i := range apps {
		apps[i] = quota.App{AppID: fmt.Sprintf("wx%016d", i), TokenAPI: wxtoken.TokenAPIStable}
	}
	p, err := quota.New(quota.Options{
		Upstream: up,
		Apps:     func() []quota.App { return apps },
		Token:    func(_ context.Context, id string) (string, error) { return "tok-" + id, nil },
		Secret:   func(string) string { return "secret" },
		Interval: time.Hour,
		Clock:    fakeClock{clk},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, clk, up, apps
}

// Every app is asked once soon after the start, the asks spread over the
// first minutes rather than all at once, and then once an hour.
func TestPollerAsksEachAppOnceAnIntervalSpread(t *testing.T) {
	p, clk, up, apps := newPoller(t, 200)
	created := clk.TimerCreated()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	start := clk.Now()
	perStep := map[time.Time]int{}
	<-created // Run waits on its first timer
	// until moves the clock in steps of 10 s to end, letting Run do its
	// work at every timer that fires: Run is idle whenever its one timer
	// is pending.
	until := func(end time.Time) {
		for clk.Now().Before(end) {
			for len(created) > 0 {
				<-created
			}
			clk.Advance(10 * time.Second)
			if clk.Pending() == 0 {
				<-created
			}
		}
	}
	until(start.Add(6 * time.Minute))
	up.mu.Lock()
	for _, a := range apps {
		if got := len(up.asks[a.AppID]); got != 1 {
			t.Fatalf("%s asked %d times in the first minutes, want 1", a.AppID, got)
		}
		perStep[up.asks[a.AppID][0]]++
	}
	up.mu.Unlock()
	most := 0
	for _, n := range perStep {
		most = max(most, n)
	}
	if len(perStep) < 15 || most > 30 {
		t.Fatalf("the first asks fell in %d steps, at most %d in one: not spread", len(perStep), most)
	}
	until(start.Add(59 * time.Minute))
	up.mu.Lock()
	for _, a := range apps {
		if got := len(up.asks[a.AppID]); got != 1 {
			t.Fatalf("%s asked %d times within the hour, want 1", a.AppID, got)
		}
	}
	up.mu.Unlock()
	until(start.Add(66 * time.Minute))
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, a := range apps {
		asks := up.asks[a.AppID]
		if len(asks) != 2 || asks[1].Sub(asks[0]) < time.Hour-10*time.Second || asks[1].Sub(asks[0]) > time.Hour+10*time.Second {
			t.Fatalf("%s asked at %v, want twice an hour apart", a.AppID, asks)
		}
	}
	st := []wxtoken.AppStatus{{AppID: apps[0].AppID}, {AppID: "wxunknown"}}
	p.Fill(st)
	if st[0].Quota == nil || st[0].Quota.Used != 2 || st[0].Quota.CGIPath != wechat.PathStableToken || st[1].Quota != nil {
		t.Fatalf("Fill: %+v %+v", st[0].Quota, st[1].Quota)
	}
}

// WeChat's "no clears left" is believed: the count goes to none, and the
// next clear is refused without asking.
func TestClearBelievesWeChatsNoneLeft(t *testing.T) {
	p, _, up, apps := newPoller(t, 1)
	ctx := context.Background()
	left, err := p.Clear(ctx, apps[0])
	if err != nil || left != 9 || up.clears != 1 {
		t.Fatalf("Clear = %d, %v after %d clears", left, err, up.clears)
	}
	up.spent = true
	_, err = p.Clear(ctx, apps[0])
	var we *wxtoken.Error
	if !errors.As(err, &we) || we.Code != wxtoken.ERateLimited || we.WeChatErrCode != wechat.ErrClearQuotaSpent {
		t.Fatalf("Clear with none left at WeChat: %v", err)
	}
	if got := p.ClearsLeft(apps[0].AppID); got != 0 {
		t.Fatalf("ClearsLeft = %d after WeChat's 48006, want 0", got)
	}
	up.spent = false
	if _, err := p.Clear(ctx, apps[0]); wxtoken.ErrorCode(err) != wxtoken.ERateLimited || up.clears != 1 {
		t.Fatalf("Clear past the month's clears: %v, %d clears sent", err, up.clears)
	}
}
