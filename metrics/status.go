package metrics

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxtoken/wxtoken"
)

// This file reports the credentials' state at scrape time. By default it
// reports aggregates only, whose number of series does not grow with the
// number of apps: credentials per family, kind and state, the least
// remaining lifetime, failing credentials per error class, blocked apps,
// the busiest app's calls today. With WithPerApp it also reports one
// series per app or credential (remaining lifetime, state, calls today,
// block, last error, lease holder, heard age), which at 10,000 apps is
// megabytes a scrape.

// statusFunc boxes the watched function so it can sit in an atomic
// pointer: a scrape and a WatchStatus call may run at once.
type statusFunc struct {
	fn func(ctx context.Context) []wxtoken.AppStatus
}

type statusCollector struct {
	now    func() time.Time
	perApp bool
	fn     atomic.Pointer[statusFunc]

	// Aggregates, always reported.
	credentials  *prometheus.Desc
	remainingMin *prometheus.Desc
	failing      *prometheus.Desc
	appsBlocked  *prometheus.Desc
	callsMax     *prometheus.Desc
	forceMax     *prometheus.Desc
	heardAgeMax  *prometheus.Desc
	leases       *prometheus.Desc

	// Per app and credential, with perApp only.
	remaining   *prometheus.Desc
	state       *prometheus.Desc
	callsToday  *prometheus.Desc
	forceToday  *prometheus.Desc
	blocked     *prometheus.Desc
	lastError   *prometheus.Desc
	leaseHolder *prometheus.Desc
	heardAge    *prometheus.Desc
	quotaUsed   *prometheus.Desc
	quotaLimit  *prometheus.Desc

	collectFailure *prometheus.Desc
}

// statusTimeout bounds how long a scrape waits for the status; a store
// that hangs must not hang Prometheus with it.
const statusTimeout = 5 * time.Second

func newStatusCollector(now func() time.Time, perApp bool) *statusCollector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "", n) }
	return &statusCollector{
		now:    now,
		perApp: perApp,
		credentials: prometheus.NewDesc(name("credentials"),
			"Credentials kept, by family, kind and state (fresh, stale, expired, missing); every known state is reported, 0 when no credential is in it.",
			[]string{"family", "kind", "state"}, nil),
		remainingMin: prometheus.NewDesc(name("credential_remaining_seconds_min"),
			"The least remaining lifetime, in seconds, among the cached credentials of the family and kind; negative once one has expired.",
			[]string{"family", "kind"}, nil),
		failing: prometheus.NewDesc(name("credentials_failing"),
			"Credentials whose last upstream refresh failed (and none succeeded since), by family, kind and error class.",
			[]string{"family", "kind", "class"}, nil),
		appsBlocked: prometheus.NewDesc(name("apps_blocked"),
			"Apps whose token calls the error policy holds back now, by family.",
			[]string{"family"}, nil),
		callsMax: prometheus.NewDesc(name("upstream_calls_today_max"),
			"The most upstream token calls one app of the family made in the current China Standard Time day, against WeChat's daily quota per app.",
			[]string{"family"}, nil),
		forceMax: prometheus.NewDesc(name("force_refreshes_today_max"),
			"The most stable-mode force_refresh calls one app of the family made in the current China Standard Time day.",
			[]string{"family"}, nil),
		heardAgeMax: prometheus.NewDesc(name("credential_heard_age_seconds_max"),
			"The longest time, in seconds, since this replica last had a credential of the family and kind confirmed by the shared store; only with a shared store.",
			[]string{"family", "kind"}, nil),
		leases: prometheus.NewDesc(name("credential_leases"),
			"Credentials whose lease on the shared store a replica holds (works on them now), by replica; only with a shared store.",
			[]string{"holder"}, nil),
		remaining: prometheus.NewDesc(name("credential_remaining_seconds"),
			"Seconds until the cached credential expires; negative once it has expired. Only with metrics.per_app.",
			[]string{"appid", "kind"}, nil),
		state: prometheus.NewDesc(name("credential_state"),
			"1, labelled with the credential's current state (fresh, stale, expired, missing). Only with metrics.per_app.",
			[]string{"appid", "kind", "state"}, nil),
		callsToday: prometheus.NewDesc(name("upstream_calls_today"),
			"Upstream token calls made for the app in the current China Standard Time day, against WeChat's daily quota. Only with metrics.per_app.",
			[]string{"appid"}, nil),
		forceToday: prometheus.NewDesc(name("force_refreshes_today"),
			"Stable-mode force_refresh calls made for the app in the current China Standard Time day. Only with metrics.per_app.",
			[]string{"appid"}, nil),
		blocked: prometheus.NewDesc(name("app_blocked"),
			"1 while the error policy holds back the app's token calls, else 0. Only with metrics.per_app.",
			[]string{"appid"}, nil),
		lastError: prometheus.NewDesc(name("last_error_info"),
			"Unix time of the credential's last upstream error, labelled with its class and WeChat errcode. Only with metrics.per_app.",
			[]string{"appid", "kind", "class", "errcode"}, nil),
		leaseHolder: prometheus.NewDesc(name("lease_holder_info"),
			"1 for the replica that holds the credential's lease on the shared store (the one working on it now); absent while none does. Only with metrics.per_app.",
			[]string{"appid", "kind", "holder"}, nil),
		heardAge: prometheus.NewDesc(name("credential_heard_age_seconds"),
			"Seconds since this replica last had the credential confirmed by the shared store; only with a shared store and metrics.per_app.",
			[]string{"appid", "kind"}, nil),
		quotaUsed: prometheus.NewDesc(name("quota_used"),
			"Calls of the app's token endpoint today as WeChat counts them (quota/get), as last asked; absent until asked. Only with metrics.per_app.",
			[]string{"appid"}, nil),
		quotaLimit: prometheus.NewDesc(name("quota_limit"),
			"The app's daily quota of its token endpoint as WeChat reports it (quota/get); absent until asked. Only with metrics.per_app.",
			[]string{"appid"}, nil),
		collectFailure: prometheus.NewDesc(name("status_collect_failed"),
			"1 when the last scrape could not read the credential status, else 0.",
			nil, nil),
	}
}

func (c *statusCollector) set(fn func(ctx context.Context) []wxtoken.AppStatus) {
	if fn == nil {
		c.fn.Store(nil)
		return
	}
	c.fn.Store(&statusFunc{fn: fn})
}

// Describe sends the descriptors of the status metrics.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.credentials
	ch <- c.remainingMin
	ch <- c.failing
	ch <- c.appsBlocked
	ch <- c.callsMax
	ch <- c.forceMax
	ch <- c.heardAgeMax
	ch <- c.leases
	ch <- c.collectFailure
	if c.perApp {
		ch <- c.remaining
		ch <- c.state
		ch <- c.callsToday
		ch <- c.forceToday
		ch <- c.blocked
		ch <- c.lastError
		ch <- c.leaseHolder
		ch <- c.heardAge
		ch <- c.quotaUsed
		ch <- c.quotaLimit
	}
}

// knownStates are always reported in wxtoken_credentials, 0 or more, so
// that a series does not vanish when the last credential leaves a state.
func knownStates() [4]string {
	return [4]string{wxtoken.StateFresh, wxtoken.StateStale, wxtoken.StateExpired, wxtoken.StateMissing}
}

// familyKind keys the aggregates of one family and credential kind.
type familyKind struct {
	family wxtoken.Family
	kind   wxtoken.Kind
}

// kindAgg is what the aggregates keep of one family and kind.
type kindAgg struct {
	states       map[string]int
	failing      map[string]int // by error class
	remainingMin float64
	hasRemaining bool
	heardMax     float64
	hasHeard     bool
}

// familyAgg is what the aggregates keep of one family.
type familyAgg struct {
	blocked             int
	callsMax, forceMax  int
	hasCalls, hasForces bool
}

// aggregates sums the status up by family and kind.
type aggregates struct {
	kinds    map[familyKind]*kindAgg
	families map[wxtoken.Family]*familyAgg
	leases   map[string]int
}

func (g *aggregates) app(a *wxtoken.AppStatus, blocked bool) {
	f := g.families[a.Family]
	if f == nil {
		f = &familyAgg{}
		g.families[a.Family] = f
	}
	if blocked {
		f.blocked++
	}
	if !f.hasCalls || a.UpstreamCallsToday > f.callsMax {
		f.callsMax, f.hasCalls = a.UpstreamCallsToday, true
	}
	if !f.hasForces || a.ForceRefreshesToday > f.forceMax {
		f.forceMax, f.hasForces = a.ForceRefreshesToday, true
	}
}

func (g *aggregates) credential(family wxtoken.Family, cr *wxtoken.CredentialStatus, now time.Time) {
	key := familyKind{family, cr.Kind}
	k := g.kinds[key]
	if k == nil {
		k = &kindAgg{states: map[string]int{}, failing: map[string]int{}}
		g.kinds[key] = k
	}
	if cr.State != "" {
		k.states[cr.State]++
	}
	if cr.ExpiresAt != nil {
		r := cr.ExpiresAt.Sub(now).Seconds()
		if !k.hasRemaining || r < k.remainingMin {
			k.remainingMin, k.hasRemaining = r, true
		}
	}
	if e := cr.LastError; e != nil {
		k.failing[e.Class]++
	}
	if cr.HeardAt != nil {
		age := now.Sub(*cr.HeardAt).Seconds()
		if !k.hasHeard || age > k.heardMax {
			k.heardMax, k.hasHeard = age, true
		}
	}
	if cr.LeaseHolder != "" {
		g.leases[cr.LeaseHolder]++
	}
}

// Collect reads the status and sends the aggregates and, with perApp, one
// set of gauges per app and credential.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	sf := c.fn.Load()
	if sf == nil {
		return
	}
	apps, ok := c.read(sf.fn)
	failed := 0.0
	if !ok {
		failed = 1
	}
	c.gauge(ch, c.collectFailure, failed)
	now := c.now()
	agg := aggregates{kinds: map[familyKind]*kindAgg{}, families: map[wxtoken.Family]*familyAgg{}, leases: map[string]int{}}
	seenApp := make(map[string]struct{}, len(apps))
	var seenKind []wxtoken.Kind
	for i := range apps {
		a := &apps[i]
		// A registry refuses a scrape holding the same series twice; a
		// duplicate app from a buggy status must cost its own series, not
		// the whole scrape. The aggregates count it once too.
		if _, dup := seenApp[a.AppID]; dup {
			continue
		}
		seenApp[a.AppID] = struct{}{}
		blocked := a.BlockedUntil != nil && a.BlockedUntil.After(now)
		agg.app(a, blocked)
		if c.perApp {
			c.gauge(ch, c.callsToday, float64(a.UpstreamCallsToday), a.AppID)
			c.gauge(ch, c.forceToday, float64(a.ForceRefreshesToday), a.AppID)
			c.gauge(ch, c.blocked, boolGauge(blocked), a.AppID)
			if q := a.Quota; q != nil {
				c.gauge(ch, c.quotaUsed, float64(q.Used), a.AppID)
				c.gauge(ch, c.quotaLimit, float64(q.DailyLimit), a.AppID)
			}
		}
		seenKind = seenKind[:0]
		for j := range a.Credentials {
			cr := &a.Credentials[j]
			if slices.Contains(seenKind, cr.Kind) {
				continue
			}
			seenKind = append(seenKind, cr.Kind)
			agg.credential(a.Family, cr, now)
			if c.perApp {
				c.credential(ch, a.AppID, cr, now)
			}
		}
	}
	c.aggregates(ch, &agg)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *statusCollector) aggregates(ch chan<- prometheus.Metric, g *aggregates) {
	for key, k := range g.kinds {
		family, kind := string(key.family), string(key.kind)
		for _, s := range knownStates() {
			c.gauge(ch, c.credentials, float64(k.states[s]), family, kind, s)
		}
		known := knownStates()
		for s, n := range k.states {
			if !slices.Contains(known[:], s) {
				c.gauge(ch, c.credentials, float64(n), family, kind, s)
			}
		}
		if k.hasRemaining {
			c.gauge(ch, c.remainingMin, k.remainingMin, family, kind)
		}
		for class, n := range k.failing {
			c.gauge(ch, c.failing, float64(n), family, kind, class)
		}
		if k.hasHeard {
			c.gauge(ch, c.heardAgeMax, k.heardMax, family, kind)
		}
	}
	for family, f := range g.families {
		c.gauge(ch, c.appsBlocked, float64(f.blocked), string(family))
		c.gauge(ch, c.callsMax, float64(f.callsMax), string(family))
		c.gauge(ch, c.forceMax, float64(f.forceMax), string(family))
	}
	for holder, n := range g.leases {
		c.gauge(ch, c.leases, float64(n), holder)
	}
}

// credential sends the per-credential gauges of cr.
func (c *statusCollector) credential(ch chan<- prometheus.Metric, appID string, cr *wxtoken.CredentialStatus, now time.Time) {
	kind := string(cr.Kind)
	if cr.ExpiresAt != nil {
		c.gauge(ch, c.remaining, cr.ExpiresAt.Sub(now).Seconds(), appID, kind)
	}
	if cr.State != "" {
		// One series per credential, its state a label: a series per
		// possible state would be four times as many, three of them 0.
		c.gauge(ch, c.state, 1, appID, kind, cr.State)
	}
	if e := cr.LastError; e != nil {
		// Only the class and errcode become labels: the message and hint
		// are free text (unbounded series) and may quote an IP address.
		c.gauge(ch, c.lastError, float64(e.At.Unix()), appID, kind, e.Class, strconv.Itoa(e.ErrCode))
	}
	if cr.LeaseHolder != "" {
		c.gauge(ch, c.leaseHolder, 1, appID, kind, cr.LeaseHolder)
	}
	if cr.HeardAt != nil {
		c.gauge(ch, c.heardAge, now.Sub(*cr.HeardAt).Seconds(), appID, kind)
	}
}

// gauge sends one gauge, dropping it if its label values are unusable
// (such as invalid UTF-8) rather than panicking inside a scrape.
func (c *statusCollector) gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err == nil {
		ch <- m
	}
}

// read calls the status function, turning a panic into a failed read: the
// registry runs collectors on goroutines of its own, where a panic would
// end the process rather than one scrape.
func (c *statusCollector) read(fn func(ctx context.Context) []wxtoken.AppStatus) (apps []wxtoken.AppStatus, ok bool) {
	defer func() {
		if recover() != nil {
			apps, ok = nil, false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	return fn(ctx), true
}
