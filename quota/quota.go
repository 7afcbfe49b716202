// Package quota keeps what WeChat says of each app's daily quota of its
// token endpoint: it asks /cgi-bin/openapi/quota/get for every app at most
// once an interval (spread over time, so that thousands of apps do not ask
// at once), keeps the answers in memory for status, the status page and
// the metrics, and clears an app's quota on an operator's request
// (/cgi-bin/clear_quota/v2, ten a month).
//
// The count of the month's clears is kept in memory: it is what this
// process did this China Standard Time month, and WeChat's 48006 answer
// ("none left") sets it to none. A restart, or another replica, starts it
// again from ten; WeChat stays the judge.
package quota

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/wechat"
)

// DefaultInterval is how often each app's quota is asked when
// Options.Interval is not set.
const DefaultInterval = time.Hour

// firstSpread bounds how far after the start an app's first ask may fall:
// soon after the start, yet spread.
const firstSpread = 5 * time.Minute

// Upstream is the part of WeChat the poller calls; *wechat.Client is one.
type Upstream interface {
	QuotaGet(ctx context.Context, accessToken, cgiPath string) (wechat.Quota, error)
	ClearQuota(ctx context.Context, appID, secret string) error
}

// App is an app whose quota is kept.
type App struct {
	AppID    string
	TokenAPI wxtoken.TokenAPI
}

// Options configure a Poller.
type Options struct {
	// Upstream is asked for quotas and clears. Required.
	Upstream Upstream
	// Apps lists the apps to keep the quota of, as they are now (a reload
	// or a registration changes them). Required.
	Apps func() []App
	// Token returns the app's current access_token. Required.
	Token func(ctx context.Context, appID string) (string, error)
	// Secret returns the app's AppSecret, for clears; "" when unknown.
	Secret func(appID string) string
	// Interval is how often each app is asked; 0 is DefaultInterval.
	Interval time.Duration
	// Clock is the source of time; nil is the system clock.
	Clock refresh.Clock
	// Logger receives a line per failed ask and per clear; nil logs
	// nothing.
	Logger *slog.Logger
}

// Poller keeps the apps' quotas. It is safe for concurrent use.
type Poller struct {
	opts Options

	mu      sync.Mutex
	figures map[string]wxtoken.QuotaStatus
	clears  map[string]monthCount
	due     map[string]time.Time
	start   time.Time
}

// monthCount is how many clears an app made in a month.
type monthCount struct {
	month string
	n     int
}

// New returns a Poller over opts.
func New(opts Options) (*Poller, error) {
	if opts.Upstream == nil || opts.Apps == nil || opts.Token == nil {
		return nil, errors.New("quota: Upstream, Apps and Token are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Clock == nil {
		opts.Clock = refresh.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Secret == nil {
		opts.Secret = func(string) string { return "" }
	}
	return &Poller{
		opts:    opts,
		figures: map[string]wxtoken.QuotaStatus{},
		clears:  map[string]monthCount{},
		due:     map[string]time.Time{},
		start:   opts.Clock.Now(),
	}, nil
}

// CGIPath is the token endpoint an app calls, per its token_api.
func CGIPath(api wxtoken.TokenAPI) string {
	if api == wxtoken.TokenAPIClassic {
		return wechat.PathToken
	}
	return wechat.PathStableToken
}

// offset places id within d, the same for an id every time, so that the
// apps' asks are spread evenly over the interval.
func offset(id string, d time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(d))
}

// wakesPerInterval bounds how often Run wakes: the apps due within one
// such step are asked together, so that the cost of a wake (a walk over
// every app) stays small with thousands of apps.
const wakesPerInterval = 360

// Run asks every app's quota when it is due until ctx ends: first within
// a few minutes of the start, then once an interval.
func (p *Poller) Run(ctx context.Context) {
	step := p.opts.Interval / wakesPerInterval
	for {
		now := p.opts.Clock.Now()
		next := now.Add(p.opts.Interval)
		for _, a := range p.dueApps(now) {
			if ctx.Err() != nil {
				return
			}
			p.ask(ctx, a)
		}
		if at, ok := p.nextDue(); ok && at.Before(next) {
			next = at
		}
		if earliest := p.opts.Clock.Now().Add(step); next.Before(earliest) {
			next = earliest
		}
		t := p.opts.Clock.TimerAt(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// dueApps returns the apps whose ask is due at now, and plans the first
// ask of apps not seen before; apps no longer listed are forgotten.
func (p *Poller) dueApps(now time.Time) []App {
	apps := p.opts.Apps()
	p.mu.Lock()
	defer p.mu.Unlock()
	listed := make(map[string]bool, len(apps))
	var due []App
	spread := min(p.opts.Interval, firstSpread)
	for _, a := range apps {
		listed[a.AppID] = true
		at, ok := p.due[a.AppID]
		if !ok {
			at = now.Add(offset(a.AppID, spread))
			if now.Sub(p.start) < spread {
				at = p.start.Add(offset(a.AppID, spread))
			}
			p.due[a.AppID] = at
		}
		if !at.After(now) {
			due = append(due, a)
			p.due[a.AppID] = at.Add(p.opts.Interval)
			if !p.due[a.AppID].After(now) {
				// Asks fell behind (a suspended machine): go on from now.
				p.due[a.AppID] = now.Add(p.opts.Interval)
			}
		}
	}
	for id := range p.due {
		if !listed[id] {
			delete(p.due, id)
			delete(p.figures, id)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].AppID < due[j].AppID })
	return due
}

// nextDue returns the earliest planned ask.
func (p *Poller) nextDue() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, at := range p.due {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// ask asks one app's quota; a failure is logged and the figures kept.
func (p *Poller) ask(ctx context.Context, a App) {
	if _, err := p.Check(ctx, a); err != nil {
		p.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "asking WeChat for an app's quota failed; the last figures are kept",
			slog.String("appid", a.AppID), slog.String("error", err.Error()))
	}
}

// Check asks WeChat for the app's quota now, keeps the answer and
// returns it.
func (p *Poller) Check(ctx context.Context, a App) (wxtoken.QuotaStatus, error) {
	tok, err := p.opts.Token(ctx, a.AppID)
	if err != nil {
		return wxtoken.QuotaStatus{}, err
	}
	path := CGIPath(a.TokenAPI)
	q, err := p.opts.Upstream.QuotaGet(ctx, tok, path)
	if err != nil {
		return wxtoken.QuotaStatus{}, err
	}
	st := wxtoken.QuotaStatus{CGIPath: path, DailyLimit: q.DailyLimit, Used: q.Used, Remain: q.Remain, CheckedAt: p.opts.Clock.Now()}
	p.mu.Lock()
	p.figures[a.AppID] = st
	p.mu.Unlock()
	return st, nil
}

// Fill sets the Quota of the apps that have one known; the others are
// left as they are.
func (p *Poller) Fill(apps []wxtoken.AppStatus) {
	month := monthOf(p.opts.Clock.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range apps {
		st, ok := p.figures[apps[i].AppID]
		if !ok {
			continue
		}
		left := wechat.ClearQuotaPerMonth - p.clearsIn(apps[i].AppID, month)
		st.ClearRemainingThisMonth = &left
		apps[i].Quota = &st
	}
}

// clearsIn returns the clears of id in month; the caller holds p.mu.
func (p *Poller) clearsIn(id, month string) int {
	c := p.clears[id]
	if c.month != month {
		return 0
	}
	return c.n
}

// ClearsLeft returns how many clears of the app are left this month, as
// far as this process knows.
func (p *Poller) ClearsLeft(appID string) int {
	month := monthOf(p.opts.Clock.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	return wechat.ClearQuotaPerMonth - p.clearsIn(appID, month)
}

// Clear resets the app's daily quotas at WeChat with its AppSecret,
// spending one of the month's ten clears, then asks the quota again so
// that status shows the reset. It returns the clears left this month.
// None left is an ERateLimited error, and WeChat is not asked.
func (p *Poller) Clear(ctx context.Context, a App) (int, error) {
	month := monthOf(p.opts.Clock.Now())
	p.mu.Lock()
	spent := p.clearsIn(a.AppID, month)
	p.mu.Unlock()
	if spent >= wechat.ClearQuotaPerMonth {
		return 0, &wxtoken.Error{Code: wxtoken.ERateLimited, WeChatErrCode: wechat.ErrClearQuotaSpent,
			Message: "the app's 10 quota clears of this month are used up"}
	}
	secret := p.opts.Secret(a.AppID)
	if secret == "" {
		return 0, wxtoken.Errorf(wxtoken.ENotFound, "%s has no AppSecret this server knows: its quota cannot be cleared", a.AppID)
	}
	err := p.opts.Upstream.ClearQuota(ctx, a.AppID, secret)
	var api *wechat.APIError
	switch {
	case errors.As(err, &api) && api.ErrCode == wechat.ErrClearQuotaSpent:
		p.setClears(a.AppID, month, wechat.ClearQuotaPerMonth)
		return 0, &wxtoken.Error{Code: wxtoken.ERateLimited, WeChatErrCode: api.ErrCode, Err: err,
			Message: "WeChat says the app's 10 quota clears of this month are used up"}
	case errors.As(err, &api):
		return p.ClearsLeft(a.AppID), &wxtoken.Error{Code: wxtoken.EUnavailable, WeChatErrCode: api.ErrCode, Err: err,
			Message: "WeChat refused to clear the quota"}
	case err != nil:
		return p.ClearsLeft(a.AppID), &wxtoken.Error{Code: wxtoken.EUnavailable, Err: err, Message: "WeChat could not be asked to clear the quota"}
	}
	p.mu.Lock()
	n := p.clearsIn(a.AppID, month) + 1
	p.clears[a.AppID] = monthCount{month: month, n: n}
	p.mu.Unlock()
	if _, err := p.Check(ctx, a); err != nil {
		p.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "asking WeChat for an app's quota after a clear failed",
			slog.String("appid", a.AppID), slog.String("error", err.Error()))
	}
	return wechat.ClearQuotaPerMonth - n, nil
}

// setClears records n clears of id in month.
func (p *Poller) setClears(id, month string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clears[id] = monthCount{month: month, n: n}
}

// monthOf names the China Standard Time month of t, which WeChat's
// monthly clears run by.
func monthOf(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*60*60)).Format("2006-01")
}

// Figures returns the app's quota as last asked, with the month's clears
// left; false when it has not been asked.
func (p *Poller) Figures(appID string) (wxtoken.QuotaStatus, bool) {
	st := []wxtoken.AppStatus{{AppID: appID}}
	p.Fill(st)
	if st[0].Quota == nil {
		return wxtoken.QuotaStatus{}, false
	}
	return *st[0].Quota, true
}
