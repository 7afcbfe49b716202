package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// Upstream is the part of *wechat.Client the engine uses.
type Upstream interface {
	Token(ctx context.Context, appID, secret string) (wechat.Credential, error)
	StableToken(ctx context.Context, appID, secret string, force bool) (wechat.Credential, error)
	Ticket(ctx context.Context, accessToken string, kind wxtoken.Kind) (wechat.Credential, error)
	Probe(ctx context.Context, accessToken string) error
	// WeComToken and WeComTicket are WeCom's gettoken, and its jsapi
	// (get_jsapi_ticket) and agent_config (ticket/get) tickets.
	WeComToken(ctx context.Context, corpID, secret string) (wechat.Credential, error)
	WeComTicket(ctx context.Context, accessToken string, kind wxtoken.Kind) (wechat.Credential, error)
	// ComponentToken, StartPushTicket and AuthorizerToken are the open
	// platform's.
	ComponentToken(ctx context.Context, componentAppID, secret, verifyTicket string) (wechat.Credential, error)
	StartPushTicket(ctx context.Context, componentAppID, secret string) error
	AuthorizerToken(ctx context.Context, componentToken, componentAppID, authorizerAppID, refreshToken string) (wechat.Credential, string, error)
}

// SecretOwner keeps the secret of a credential owner that lives in the
// store (an open-platform authorizer's refresh token), and is told what
// WeChat says of it.
type SecretOwner interface {
	// Rotated is called with a new secret WeChat answered with a token,
	// before that token is installed; it returns once the new secret is
	// stored durably, and from then on AppConfig.Secret returns it.
	Rotated(ctx context.Context, secret string) error
	// Refused is called when WeChat refused the secret for good (an
	// authorizer's 61023): no retry helps until a human acts.
	Refused(ctx context.Context, info wxtoken.ErrorInfo)
}

// AppConfig is one app (or WeCom agent) the engine keeps credentials for.
type AppConfig struct {
	// Family is where the credentials come from; zero means FamilyApp.
	// A WeCom agent's AppID is wxtoken.WeComID(corpid, agentid), its
	// Secret the agent's secret, and its TokenAPI TokenAPIWeCom (set by
	// New when empty).
	Family wxtoken.Family
	AppID  string
	Name   string
	// Secret returns the AppSecret; a function so that printing an
	// AppConfig never prints the secret.
	Secret   func() string
	TokenAPI wxtoken.TokenAPI
	// Tickets are among the family's tickets (wxtoken.Family.Tickets).
	Tickets []wxtoken.Kind
	// Owner, when set, is told of a new or refused secret; see
	// SecretOwner. An authorizer has one.
	Owner SecretOwner
	// FirstFetchAfter, when positive, has Add schedule a credential the
	// store does not hold that long later rather than at once (a caller
	// who asks for it still has it fetched): for an owner another replica
	// has just added, which writes its first credentials itself.
	FirstFetchAfter time.Duration
}

// check completes c with its defaults and rejects what cannot work.
func (c *AppConfig) check() error {
	if c.Family == "" {
		c.Family = wxtoken.FamilyApp
	}
	fam, corp, agent := wxtoken.ParseID(c.AppID)
	switch c.Family {
	case wxtoken.FamilyApp:
		if fam != wxtoken.FamilyApp {
			return fmt.Errorf("refresh: app %s: an appid holds no slash", c.AppID)
		}
		if c.TokenAPI == "" {
			c.TokenAPI = wxtoken.TokenAPIStable
		}
		if c.TokenAPI != wxtoken.TokenAPIStable && c.TokenAPI != wxtoken.TokenAPIClassic {
			return fmt.Errorf("refresh: app %s: token API %q is not an app's (stable or classic)", c.AppID, c.TokenAPI)
		}
	case wxtoken.FamilyWeCom:
		if fam != wxtoken.FamilyWeCom || corp == "" || agent == "" || strings.Contains(agent, "/") {
			return fmt.Errorf("refresh: WeCom agent %q: its id must be corpid/agentid", c.AppID)
		}
		if c.TokenAPI == "" {
			c.TokenAPI = wxtoken.TokenAPIWeCom
		}
		if c.TokenAPI != wxtoken.TokenAPIWeCom {
			return fmt.Errorf("refresh: WeCom agent %s: token API %q, want %q", c.AppID, c.TokenAPI, wxtoken.TokenAPIWeCom)
		}
	case wxtoken.FamilyComponent:
		if fam != wxtoken.FamilyApp {
			return fmt.Errorf("refresh: platform %s: a component_appid holds no slash or colon", c.AppID)
		}
		if c.TokenAPI == "" {
			c.TokenAPI = wxtoken.TokenAPIComponent
		}
		if c.TokenAPI != wxtoken.TokenAPIComponent {
			return fmt.Errorf("refresh: platform %s: token API %q, want %q", c.AppID, c.TokenAPI, wxtoken.TokenAPIComponent)
		}
	case wxtoken.FamilyAuthorizer:
		if fam != wxtoken.FamilyAuthorizer || corp == "" || agent == "" {
			return fmt.Errorf("refresh: authorizer %q: its id must be component_appid:authorizer_appid", c.AppID)
		}
		if c.TokenAPI == "" {
			c.TokenAPI = wxtoken.TokenAPIAuthorizer
		}
		if c.TokenAPI != wxtoken.TokenAPIAuthorizer {
			return fmt.Errorf("refresh: authorizer %s: token API %q, want %q", c.AppID, c.TokenAPI, wxtoken.TokenAPIAuthorizer)
		}
	default:
		return fmt.Errorf("refresh: app %s: unknown family %q", c.AppID, c.Family)
	}
	for _, k := range c.Tickets {
		if !c.Family.HasTicket(k) {
			return fmt.Errorf("refresh: app %s: %q is not a ticket type of the %s family", c.AppID, k, c.Family)
		}
	}
	return nil
}

// Options configure an Engine. Zero values take the documented defaults.
type Options struct {
	Apps     []AppConfig
	Store    wxtoken.Store
	Upstream Upstream
	Clock    Clock // default SystemClock
	Logger   *slog.Logger
	Observer wxtoken.Observer

	Overlap time.Duration // default 5m
	Margin  time.Duration // default 60s
	Early   float64       // default 0.66
	Jitter  float64       // default 0.1; a negative value means none
	// MaxRate is upstream call starts per second, all apps together;
	// default 20, negative for no limit.
	MaxRate float64
	// PassiveInterval is the least time between two upstream refreshes
	// of one credential caused by caller reports; default 10s.
	PassiveInterval time.Duration
	// ForceLimit and ForceInterval are WeChat's stable force_refresh
	// budget: default 20 a day, 30s apart.
	ForceLimit    int
	ForceInterval time.Duration
	// BackoffBase and BackoffMax bound the retries after transient
	// failures; default 2s and 2m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RefusedBackoffMax caps those retries instead of BackoffMax while no
	// valid credential is left to serve, so that callers refused during
	// an outage are served again soon after WeChat recovers; default 15s.
	RefusedBackoffMax time.Duration
	// CallTimeout bounds one refresh, all its upstream calls together;
	// default 30s.
	CallTimeout time.Duration
	// PolicyScale multiplies every wait the error policy imposes (a
	// minute for 45011, until midnight for 45009, ...). 1 by default; the
	// tests of compressed time make it small.
	PolicyScale float64
	// Rand returns a number in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
	// Coordinator, when set, says that Store is shared with other
	// replicas (it is usually the same value as Store): the engine then
	// works on a credential only under its lease, writes under it, and
	// follows what the other replicas write.
	Coordinator wxtoken.Coordinator
	// LeaseTTL is how long a lease outlives its holder's last renewal;
	// default 5s.
	LeaseTTL time.Duration
	// UpstreamTimeout bounds one upstream call, fallback hosts included:
	// how long a call may still reach WeChat after it was sent. Default
	// CallTimeout.
	UpstreamTimeout time.Duration
	// LateBound is how long after it was sent a classic token call that
	// got no answer may still take effect at WeChat, as far as the engine
	// looks for it: the tokens fetched meanwhile are checked until then
	// (plus the overlap). Default six times UpstreamTimeout, at least a
	// minute.
	LateBound time.Duration
	// Entries, when set, is told of an entry another replica wrote to
	// the shared store (wxtoken.Watcher.EntryChanged): an authorizer
	// added, changed or removed there.
	Entries func(ctx context.Context, id string)
}

// Engine keeps credentials fresh and serves them. It implements
// wxtoken.Service.
type Engine struct {
	opts Options
	sch  schedule
	log  *slog.Logger
	// apps maps an id to its *app. order lists them, those given to New
	// first, then those added, as a slice that is replaced, never
	// changed, when one is added or removed (under regMu).
	apps  sync.Map
	order atomic.Pointer[[]*app]
	regMu sync.Mutex
	// corpTickets are the WeCom corps' jsapi tickets by corpTicketKey,
	// each held by the first agent of its corp that keeps it. Guarded by
	// regMu.
	corpTickets map[string]*slot
	sf          singleflight.Group
	queue       *scheduler
	lim         *limiter
	// tokens maps the access_token values AppOf recognizes to their app.
	tokens sync.Map // string -> *app
	// coord is solo for a store of the engine's own, a cluster for one
	// shared through Options.Coordinator.
	coord coordinator
	// lateWake wakes checkLoop when what it plans from has changed.
	lateWake chan struct{}
	// lateDirty tells checkLoop that noteLate marked an app.
	lateDirty atomic.Bool

	// life ends when Close is called; everything the engine does apart
	// from its callers derives from it.
	life    context.Context
	end     context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	// loaded is set once the stored credentials have been read;
	// draining once Drain has been called.
	loaded   atomic.Bool
	draining atomic.Bool
}

// app is one configured app's state.
type app struct {
	cfg   AppConfig
	token *slot
	// tickets are the app's tickets in ticketRank order, a WeCom corp
	// ticket held by another agent of the corp included. A slice rather
	// than a map: an app has at most three, and at 100,000 apps a map
	// each cost 20 MB more.
	tickets []*slot

	mu     sync.Mutex
	ledger wxtoken.Ledger
	// blockedUntil holds back token calls while the error policy says so.
	blockedUntil time.Time
	// mint mirrors ledger.MintAttemptAt (unix nanoseconds, 0 for none),
	// killed ledger.KilledVersion and abandoned ledger.AbandonedMintAt for
	// the read path, which must not wait on a lock held across store I/O.
	mint      atomic.Int64
	killed    atomic.Uint64
	abandoned atomic.Int64
	// checking says that a probe of the token against late calls runs.
	checking atomic.Bool
	// lateSeen is set once a token of an API whose calls can land late
	// was installed for the app (noteLate).
	lateSeen atomic.Bool
	// removed is set when the engine stops keeping the app (Remove).
	removed atomic.Bool
	// askedTicketAt is when a platform last asked WeChat to push a verify
	// ticket. Guarded by mu.
	askedTicketAt time.Time
	// saveMu orders bookkeeping writes, so the last state is written last.
	saveMu sync.Mutex
	// known are the app's latest access_token values, oldest first; see
	// AppOf. Guarded by mu.
	known []knownToken
	// ledgerSeen is the last bookkeeping change a shared store told of.
	// Guarded by mu.
	ledgerSeen uint64
	// forgot is the transient token failure found in the store at Start,
	// whose wait this process does not keep; see forgetBackoff. Guarded
	// by mu.
	forgot *wxtoken.Failure
}

// slot is one credential of one app.
type slot struct {
	app  *app
	kind wxtoken.Kind
	key  string

	cur atomic.Pointer[wxtoken.Credential]
	// flight serializes refreshes of this credential, so that each one
	// re-checks the state the previous one left.
	flight sync.Mutex

	mu          sync.Mutex
	failures    int
	retryAt     time.Time
	lastErr     *wxtoken.ErrorInfo
	lastPassive time.Time
	// changed is closed at the next change of the credential; see
	// changes. Guarded by mu.
	changed chan struct{}
	// waiting counts the readers waiting for the successor of the
	// credential (awaitSuccessor).
	waiting atomic.Int32

	// With a shared store: the lease this replica holds on the
	// credential, if any, and when the store last confirmed the
	// credential (unix nanoseconds).
	lease atomic.Pointer[wxtoken.Lease]
	heard atomic.Int64

	// For a classic access_token: what the probes against late calls
	// found (see lateCheck), and the Version of a token known to have been
	// replaced at WeChat by a call of this replica's that landed late
	// (its answer came after another replica's token was stored).
	late   atomic.Pointer[lateState]
	doomed atomic.Uint64

	// due and index belong to the scheduler.
	due   time.Time
	index int
}

func (s *slot) load() *wxtoken.Credential { return s.cur.Load() }

// lateState is what the probes of one token Version found.
type lateState struct {
	version      uint64
	tried, alive time.Time
	dead         bool
}

// New returns an Engine for opts. Call Start before serving.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Upstream == nil {
		return nil, errors.New("refresh: a Store and an Upstream are required")
	}
	setDefaults(&opts)
	e := &Engine{
		opts: opts,
		sch: schedule{overlap: opts.Overlap, margin: opts.Margin, early: opts.Early, jitter: opts.Jitter,
			minGap: opts.BackoffBase / 2, stepMax: opts.RefusedBackoffMax, shared: opts.Coordinator != nil, lateBound: opts.LateBound,
			checkEvery: min(time.Second, opts.Overlap/8)},
		lateWake:    make(chan struct{}, 1),
		log:         opts.Logger,
		corpTickets: map[string]*slot{},
	}
	e.order.Store(&[]*app{})
	if opts.Coordinator != nil {
		e.coord = &cluster{Coordinator: opts.Coordinator, store: opts.Store, e: e}
	} else {
		e.coord = solo{store: opts.Store}
	}
	e.life, e.end = context.WithCancel(context.Background())
	if opts.Margin >= opts.Overlap {
		return nil, fmt.Errorf("refresh: margin %v must be shorter than overlap %v", opts.Margin, opts.Overlap)
	}
	e.queue = newScheduler(opts.Clock, e.runDue)
	e.queue.limit = runLimit(opts.MaxRate)
	e.lim = &limiter{clock: opts.Clock}
	if opts.MaxRate > 0 {
		e.lim.interval = time.Duration(float64(time.Second) / opts.MaxRate)
	}
	// A WeCom corp has one jsapi ticket, whichever agent's token fetches
	// it: the first agent that keeps it holds it for all of them, so that
	// no agent's ticket call replaces the ticket another handed out.
	for _, c := range opts.Apps {
		if c.AppID == "" || c.Secret == nil {
			return nil, errors.New("refresh: every app needs an appid and a secret")
		}
		if e.app(c.AppID) != nil {
			return nil, fmt.Errorf("refresh: app %s configured twice", c.AppID)
		}
		if err := c.check(); err != nil {
			return nil, err
		}
		e.register(e.newAppSlots(c))
	}
	// Each app holds its own copy; the list would only take memory (11
	// MB at 100,000 apps).
	e.opts.Apps = nil
	return e, nil
}

// runLimit is how many scheduled refreshes may be under way at once:
// twice what the rate limit lets start in a second, so that the limit, not
// this, sets the pace while the upstream answers in time, and no fewer
// than 100 nor more than 1,000, which bounds a start's goroutines (three
// or so per refresh) whatever the number of credentials due.
func runLimit(maxRate float64) int {
	if maxRate <= 0 {
		return 1000
	}
	return int(min(max(2*maxRate, 100), 1000))
}

// newAppSlots returns the state of c with a slot for each of its
// credentials, a WeCom corp's jsapi ticket shared with the agent of the
// corp that holds it already. The caller holds regMu, or is New; register
// keeps the result.
func (e *Engine) newAppSlots(c AppConfig) *app {
	a := &app{cfg: c, ledger: wxtoken.Ledger{AppID: c.AppID}}
	a.token = newSlot(a, wxtoken.KindAccessToken)
	for _, k := range c.Tickets {
		if a.ticket(k) != nil {
			continue
		}
		if held := e.corpTickets[corpTicketKey(c, k)]; held != nil {
			a.tickets = append(a.tickets, held)
			continue
		}
		a.tickets = append(a.tickets, newSlot(a, k))
	}
	slices.SortFunc(a.tickets, func(x, y *slot) int { return ticketRank(x.kind) - ticketRank(y.kind) })
	return a
}

// ticketRank orders an app's tickets: jsapi_ticket, wx_card, then the
// WeCom agent_config ticket.
func ticketRank(k wxtoken.Kind) int {
	switch k {
	case wxtoken.KindJSAPITicket:
		return 0
	case wxtoken.KindWxCard:
		return 1
	case wxtoken.KindAgentConfig:
		return 2
	}
	return 3
}

// ticket returns the app's ticket of kind k, or nil.
func (a *app) ticket(k wxtoken.Kind) *slot {
	for _, s := range a.tickets {
		if s.kind == k {
			return s
		}
	}
	return nil
}

// app returns the app kept under id, or nil.
func (e *Engine) app(id string) *app {
	if v, ok := e.apps.Load(id); ok {
		return v.(*app)
	}
	return nil
}

// all returns every app kept now. The slice is not changed afterwards.
func (e *Engine) all() []*app { return *e.order.Load() }

// register keeps a. The caller holds regMu, or is New.
//
// The order is appended to in place when its array has room: a reader's
// slice ends before the new element, so it never sees the write, and
// adding n apps one by one costs O(n), not O(n²). Remove always makes a
// new array.
func (e *Engine) register(a *app) {
	order := append(e.all(), a)
	e.apps.Store(a.cfg.AppID, a)
	e.order.Store(&order)
	for _, s := range a.tickets {
		if key := corpTicketKey(a.cfg, s.kind); key != "" && s.app == a {
			e.corpTickets[key] = s
		}
	}
}

// corpTicketKey names the ticket k of c if it belongs to c's WeCom corp
// rather than to c: the corp's jsapi ticket. It is "" for any other.
func corpTicketKey(c AppConfig, k wxtoken.Kind) string {
	if c.Family != wxtoken.FamilyWeCom || k != wxtoken.KindJSAPITicket {
		return ""
	}
	_, corp, _ := wxtoken.ParseID(c.AppID)
	return corp
}

func newSlot(a *app, k wxtoken.Kind) *slot {
	return &slot{app: a, kind: k, key: wxtoken.CredentialKey(a.cfg.AppID, k), index: -1}
}

func setDefaults(o *Options) {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = wxtoken.NopObserver{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Overlap, 5*time.Minute)
	def(&o.Margin, time.Minute)
	def(&o.PassiveInterval, 10*time.Second)
	def(&o.ForceInterval, 30*time.Second)
	def(&o.BackoffBase, 2*time.Second)
	def(&o.BackoffMax, 2*time.Minute)
	def(&o.RefusedBackoffMax, 15*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.LeaseTTL, 5*time.Second)
	def(&o.UpstreamTimeout, o.CallTimeout)
	def(&o.LateBound, max(time.Minute, 6*o.UpstreamTimeout))
	if o.Early <= 0 {
		o.Early = 0.66
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	} else if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.MaxRate == 0 {
		o.MaxRate = 20
	}
	if o.ForceLimit <= 0 {
		o.ForceLimit = 20
	}
	if o.PolicyScale <= 0 {
		o.PolicyScale = 1
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

// Start loads the persisted credentials and starts the scheduler. A
// credential that is still valid is served as it is, with no upstream call;
// the rest are fetched in the background, spread by the rate limit.
//
// A shared store that does not answer does not stop the start: the
// replica serves what it can (see claim for what it may fetch without the
// store) and loads the stored credentials in the background as soon as
// the store answers. Any other store's failure to load is an error.
func (e *Engine) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("refresh: engine already started")
	}
	loadErr := e.load(ctx)
	if loadErr != nil {
		if err := e.coord.startWithout(ctx, loadErr); err != nil {
			return err
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := e.detached(0)
		defer cancel()
		e.queue.loop(ctx)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := e.detached(0)
		defer cancel()
		e.checkLoop(ctx)
	}()
	if loadErr == nil {
		e.watch()
	}
	return nil
}

// Close stops the scheduler and waits for running refreshes to end. It is
// safe to call more than once.
func (e *Engine) Close() error {
	e.end()
	e.wg.Wait()
	return nil
}

// detached returns a context that ends when the engine closes or after
// timeout (none when zero), independent of any caller: a refresh that many
// callers wait on must not die with the first caller's request.
func (e *Engine) detached(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(e.life, timeout)
	}
	return context.WithCancel(e.life)
}

// slots are the credentials a serves, a corp ticket held by another agent
// of its corp included; see ownSlots.
func (a *app) slots() []*slot {
	out := make([]*slot, 0, 1+len(a.tickets))
	return append(append(out, a.token), a.tickets...)
}

// ownSlots are the credentials a keeps: its slots but a corp ticket that
// another agent of its corp holds, which that agent schedules, loads and
// refreshes.
func (a *app) ownSlots() []*slot {
	all := a.slots() // a new slice, filtered in place
	out := all[:0]
	for _, s := range all {
		if s.app == a {
			out = append(out, s)
		}
	}
	return out
}

// tokenView reads what the handout of a credential of s needs to know of
// the app's access_token, without a lock (a token needs only mintAt).
// Read it before the credential to be handed out: an install between the
// two reads then errs on the short side.
func (s *slot) tokenView() tokenView {
	a := s.app
	tv := tokenView{mintAt: a.mintAt()}
	if s.kind.IsTicket() {
		tv.killed, tv.cur = a.killed.Load(), a.token.load()
	}
	return tv
}

func (e *Engine) slotOf(appID string, kind wxtoken.Kind) *slot {
	a := e.app(appID)
	if a == nil {
		return nil
	}
	if kind == wxtoken.KindAccessToken {
		return a.token
	}
	return a.ticket(kind)
}

// lookup resolves appID and kind for a caller.
func (e *Engine) lookup(appID string, kind wxtoken.Kind) (*slot, error) {
	a := e.app(appID)
	if a == nil {
		return nil, wxtoken.Errorf(wxtoken.ENotFound, "app %s is not configured", appID)
	}
	if !kind.Valid() {
		return nil, wxtoken.Errorf(wxtoken.ENotFound, "unknown credential type %q", kind)
	}
	s := e.slotOf(appID, kind)
	if s == nil {
		return nil, wxtoken.Errorf(wxtoken.ENotFound, "app %s has no %s ticket configured", appID, kind)
	}
	return s, nil
}

// handout is schedule.handout for credential c of s at now, capped while a
// late call could kill it (lateHandout).
func (e *Engine) handout(s *slot, c *wxtoken.Credential, now time.Time) time.Duration {
	return e.sch.lateHandout(e.sch.handout(c, s.tokenView(), e.coord.known(now), now), c, e.lateCheck(s, c), now)
}

// grant turns c into a Grant at now, or reports that it cannot be served.
func (e *Engine) grant(s *slot, c *wxtoken.Credential, now time.Time) (wxtoken.Grant, bool) {
	d := e.handout(s, c, now)
	if d <= 0 {
		return wxtoken.Grant{}, false
	}
	return wxtoken.Grant{AppID: c.AppID, Kind: c.Kind, Value: c.Value, ExpiresIn: d, ExpiresAt: now.Add(d)}, true
}

// Credential implements wxtoken.Service.
func (e *Engine) Credential(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
	s, err := e.lookup(appID, kind)
	if err != nil {
		return wxtoken.Grant{}, err
	}
	for {
		now := e.opts.Clock.Now()
		// The token's state before the credential: an install between the
		// two reads then errs on the short side.
		tv := s.tokenView()
		cur := s.load()
		if cur != nil {
			d := e.sch.lateHandout(e.sch.handout(cur, tv, e.coord.known(now), now), cur, e.lateCheck(s, cur), now)
			if d > 0 {
				if !now.Before(cur.RefreshAt) {
					e.ensureDue(s, now)
				}
				return wxtoken.Grant{AppID: cur.AppID, Kind: cur.Kind, Value: cur.Value, ExpiresIn: d, ExpiresAt: now.Add(d)}, nil
			}
		}
		if e.bridging(s, cur, now) {
			if err := e.awaitSuccessor(ctx, s, cur); err != nil {
				return wxtoken.Grant{}, err
			}
			continue
		}
		c, err := e.fetch(ctx, s, reasonFor(s))
		if err != nil {
			// Another replica's credential may have arrived while this
			// one's refresh failed, or be in the store unannounced yet (this
			// replica was paused, or its feed is behind).
			_ = e.syncSlot(ctx, s) // on failure, the refresh's error says more
			if g, ok := e.grant(s, s.load(), e.opts.Clock.Now()); ok {
				return g, nil
			}
			return wxtoken.Grant{}, err
		}
		if g, ok := e.grant(s, c, e.opts.Clock.Now()); ok {
			return g, nil
		}
		if !e.bridging(s, s.load(), e.opts.Clock.Now()) {
			return wxtoken.Grant{}, e.unavailable(s, nil)
		}
	}
}

// bridging reports whether c, the credential of s, can no longer be
// handed out but its successor is on the way: its next try was planned
// past the end of its handout (the upstream answered the value held, and
// issues the next one only at or near its expiry: see planSame), it
// expired less than an overlap ago, and no failure a human must fix holds
// the tries back. Readers then wait for that try (awaitSuccessor) rather
// than get a dead or nearly dead credential, or an error.
func (e *Engine) bridging(s *slot, c *wxtoken.Credential, now time.Time) bool {
	if c == nil || !c.RefreshAt.After(c.ExpiresAt.Add(-e.opts.Margin)) ||
		!now.Before(c.ExpiresAt.Add(e.opts.Overlap)) || e.handout(s, c, now) > 0 {
		return false
	}
	if le := s.lastError(); le != nil && le.Class != wechat.ClassTransient.String() && le.Class != wechat.ClassTokenRejected.String() {
		return false
	}
	return s.kind != wxtoken.KindAccessToken || !s.app.blocked().After(now)
}

// awaitSuccessor waits, while s is bridging from cur, until s changes (a
// try installed a value or failed), the bridge ends, or ctx does.
func (e *Engine) awaitSuccessor(ctx context.Context, s *slot, cur *wxtoken.Credential) error {
	changed := s.changes()
	// What changed before the channel was taken is not announced on it.
	if s.load() != cur || !e.bridging(s, cur, e.opts.Clock.Now()) {
		return nil
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	t := e.opts.Clock.TimerAt(cur.ExpiresAt.Add(e.opts.Overlap))
	defer t.Stop()
	select {
	case <-changed:
		return nil
	case <-t.C():
		return nil
	case <-ctx.Done():
		return e.waitError(s, ctx.Err())
	}
}

func reasonFor(s *slot) string {
	if s.load() == nil {
		return wxtoken.ReasonStartup
	}
	return wxtoken.ReasonProactive
}

// Refresh implements wxtoken.Service: compare-and-refresh.
func (e *Engine) Refresh(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
	s, err := e.lookup(appID, kind)
	if err != nil {
		return wxtoken.Grant{}, err
	}
	if stale == "" {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EInvalid, "stale is required: the value WeChat rejected")
	}
	if c := s.load(); c == nil || c.Value != stale {
		// Already replaced (or never handed out): serve what there is.
		return e.Credential(ctx, appID, kind)
	}
	c, err := e.flight(ctx, s, "passive", func(ctx context.Context) (*wxtoken.Credential, error) {
		return e.passive(ctx, s, stale)
	})
	if err != nil {
		return wxtoken.Grant{}, err
	}
	if g, ok := e.grant(s, c, e.opts.Clock.Now()); ok {
		return g, nil
	}
	if e.bridging(s, s.load(), e.opts.Clock.Now()) {
		// The upstream still holds the reported value valid, near its
		// end: wait for its successor as any reader does.
		return e.Credential(ctx, appID, kind)
	}
	return wxtoken.Grant{}, e.unavailable(s, nil)
}

func (a *app) blocked() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.blockedUntil
}

func (s *slot) retryAtTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retryAt
}

func (s *slot) lastError() *wxtoken.ErrorInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}
