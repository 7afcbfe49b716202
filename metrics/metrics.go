// Package metrics exposes what wxtoken does as Prometheus metrics: calls
// to WeChat and refreshes (as a wxtoken.Observer the refresh engine
// reports to), HTTP requests served (reported by the HTTP layer), and, at
// scrape time, each credential's remaining lifetime, state and last error.
//
// Every metric lives on a registry of its own, never the global one, so
// that tests and several servers in one process do not collide. No metric
// carries a secret, client key, token or ticket: the only labels are appid,
// kind, endpoint, errcode, class, reason, result, route, state and status,
// and none of them is ever filled from a credential value.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxtoken/wxtoken"
)

// namespace prefixes every wxtoken metric name.
const namespace = "wxtoken"

// Histogram buckets, in seconds. HTTP answers come from memory in well
// under a millisecond unless a caller waits for a cold fetch, which the
// upstream timeout (10 s by default) bounds; upstream calls take tens of
// milliseconds when healthy and up to that timeout when not.
func httpBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

func upstreamBuckets() []float64 {
	return []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// Metrics holds wxtoken's metrics and the registry they are on. It
// implements wxtoken.Observer. All methods are safe for concurrent use,
// and the observing methods do nothing on a nil *Metrics, so callers may
// hold an optional one without checking.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler
	now     func() time.Time

	upstreamCalls    *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	refreshes        *prometheus.CounterVec
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	compatRetries    *prometheus.CounterVec

	status *statusCollector
	// health is registered by the first WatchHealth.
	health     *healthCollector
	healthOnce sync.Once
}

var _ wxtoken.Observer = (*Metrics)(nil)

// Option configures New.
type Option func(*Metrics)

// WithNow sets the clock that credential lifetimes and blocks are measured
// against at scrape time; the default is time.Now. Tests pass a fixed
// clock so that the gauges they check do not depend on the wall clock.
func WithNow(now func() time.Time) Option {
	return func(m *Metrics) {
		if now != nil {
			m.now = now
		}
	}
}

// New returns Metrics on a fresh registry that also holds the Go runtime
// and process collectors.
func New(opts ...Option) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		now: time.Now,
		upstreamCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "upstream_calls_total",
			Help:      "Calls to the WeChat API, by app, endpoint path, WeChat errcode (0 on success) and error class (ok on success).",
		}, []string{"appid", "endpoint", "errcode", "class"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "upstream_call_duration_seconds",
			Help:      "Duration of calls to the WeChat API, by endpoint path.",
			Buckets:   upstreamBuckets(),
		}, []string{"endpoint"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "refreshes_total",
			Help:      "Finished credential refreshes, by app, credential kind, reason (startup, proactive, passive, ticket) and result (ok, unchanged, error).",
		}, []string{"appid", "kind", "reason", "result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "http_requests_total",
			Help:      "HTTP API requests served, by route pattern and status code.",
		}, []string{"route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "http_request_duration_seconds",
			Help:      "Duration of HTTP API requests, by route pattern.",
			Buckets:   httpBuckets(),
		}, []string{"route"}),
		compatRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "compat_retries_total",
			Help:      "Relayed front-door calls made a second time after WeChat rejected the token, by reason (token_replaced: with the new token; token_alive: with the same token, which WeChat's check still accepted).",
		}, []string{"reason"}),
	}
	for _, o := range opts {
		o(m)
	}
	m.status = newStatusCollector(m.now)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.upstreamCalls,
		m.upstreamDuration,
		m.refreshes,
		m.httpRequests,
		m.httpDuration,
		m.compatRetries,
		m.status,
	)
	for _, r := range retryReasons() {
		// Present from the start at 0, so that a rate over them is
		// defined before the first retry.
		m.compatRetries.WithLabelValues(r)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// One failing collector must not blank the whole scrape: the
		// lifetimes are most needed exactly when something is wrong.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
	return m
}

// Registry returns the registry the metrics are on, for tests and for
// adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the Prometheus exposition handler of the registry. It
// does no authentication: the HTTP API puts it behind a client key.
func (m *Metrics) Handler() http.Handler { return m.handler }

// UpstreamCall counts one call to WeChat and records its duration.
func (m *Metrics) UpstreamCall(appID, endpoint string, errcode int, class string, took time.Duration) {
	if m == nil {
		return
	}
	endpoint = cleanEndpoint(endpoint)
	if class == "" {
		class = "ok"
	}
	if c, err := m.upstreamCalls.GetMetricWithLabelValues(appID, endpoint, strconv.Itoa(errcode), class); err == nil {
		c.Inc()
	}
	if h, err := m.upstreamDuration.GetMetricWithLabelValues(endpoint); err == nil {
		h.Observe(took.Seconds())
	}
}

// Refreshed counts one finished refresh.
func (m *Metrics) Refreshed(appID string, kind wxtoken.Kind, reason, result string) {
	if m == nil {
		return
	}
	if c, err := m.refreshes.GetMetricWithLabelValues(appID, string(kind), reason, result); err == nil {
		c.Inc()
	}
}

// The reasons of CompatRetry.
const (
	// RetryTokenReplaced: WeChat rejected the token, the report replaced
	// it, and the call was made again with the new one.
	RetryTokenReplaced = "token_replaced"
	// RetryTokenAlive: WeChat rejected the token, yet its check right
	// after found it alive (WeChat's servers disagree for a moment after
	// a refresh), and the call was made again with the same token.
	RetryTokenAlive = "token_alive"
)

func retryReasons() []string { return []string{RetryTokenReplaced, RetryTokenAlive} }

// CompatRetry counts one relayed call of the front door made a second
// time. reason is one of the Retry* constants; any other value is
// dropped, which keeps the label's values to that fixed set.
func (m *Metrics) CompatRetry(reason string) {
	if m == nil {
		return
	}
	switch reason {
	case RetryTokenReplaced, RetryTokenAlive:
		m.compatRetries.WithLabelValues(reason).Inc()
	}
}

// ObserveHTTP counts one HTTP request and records its duration. route must
// be the route pattern that matched (such as
// "GET /v1/apps/{appid}/access_token"), never the request path: paths hold
// arbitrary caller input, which would make the series unbounded.
func (m *Metrics) ObserveHTTP(route string, status int, took time.Duration) {
	// A route served often should hold its RouteMetrics instead, which
	// looks the series up once.
	m.Route(route).Observe(status, took)
}

// Route returns the HTTP metrics of one route pattern, with the label
// lookups done once: observing through it costs no hashing of label
// values, which ObserveHTTP pays on every request. route follows the rule
// of ObserveHTTP. A nil *Metrics returns a nil *RouteMetrics, which
// observes nothing.
func (m *Metrics) Route(route string) *RouteMetrics {
	if m == nil {
		return nil
	}
	rm := &RouteMetrics{m: m, route: route}
	if h, err := m.httpDuration.GetMetricWithLabelValues(route); err == nil {
		rm.duration = h
	}
	if c, err := m.httpRequests.GetMetricWithLabelValues(route, "200"); err == nil {
		rm.ok = c
	}
	return rm
}

// RouteMetrics observes the requests of one route. It is safe for
// concurrent use.
type RouteMetrics struct {
	m        *Metrics
	route    string
	duration prometheus.Observer
	// ok is the counter of status 200, nearly every answer; the others
	// are looked up once each and kept in byStatus.
	ok       prometheus.Counter
	byStatus sync.Map // int -> prometheus.Counter
}

// Observe counts one request of the route answered with status and
// records its duration.
func (rm *RouteMetrics) Observe(status int, took time.Duration) {
	if rm == nil {
		return
	}
	if rm.duration != nil {
		rm.duration.Observe(took.Seconds())
	}
	if status == http.StatusOK && rm.ok != nil {
		rm.ok.Inc()
		return
	}
	if c, ok := rm.byStatus.Load(status); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c, err := rm.m.httpRequests.GetMetricWithLabelValues(rm.route, strconv.Itoa(status))
	if err != nil {
		return
	}
	c.Inc()
	// Statuses are a handful of codes the server writes, so the map stays
	// small.
	rm.byStatus.Store(status, c)
}

// WatchStatus makes every scrape report the state of the credentials that
// status returns: remaining lifetimes, states, today's upstream calls,
// blocks and last errors. A later call replaces the function; nil stops
// the reporting.
func (m *Metrics) WatchStatus(status func(ctx context.Context) []wxtoken.AppStatus) {
	if m == nil {
		return
	}
	m.status.set(status)
}

// cleanEndpoint keeps only the path of an endpoint. Callers pass paths,
// but a full URL's query could hold an access_token or an AppSecret, which
// must never become a label.
func cleanEndpoint(endpoint string) string {
	if i := strings.IndexAny(endpoint, "?#"); i >= 0 {
		endpoint = endpoint[:i]
	}
	return endpoint
}

// statusFunc boxes the watched function so it can sit in an atomic
// pointer: a scrape and a WatchStatus call may run at once.
type statusFunc struct {
	fn func(ctx context.Context) []wxtoken.AppStatus
}

type statusCollector struct {
	now func() time.Time
	fn  atomic.Pointer[statusFunc]

	remaining      *prometheus.Desc
	state          *prometheus.Desc
	callsToday     *prometheus.Desc
	forceToday     *prometheus.Desc
	blocked        *prometheus.Desc
	lastError      *prometheus.Desc
	leaseHolder    *prometheus.Desc
	heardAge       *prometheus.Desc
	quotaUsed      *prometheus.Desc
	quotaLimit     *prometheus.Desc
	collectFailure *prometheus.Desc
}

// statusTimeout bounds how long a scrape waits for the status; a store
// that hangs must not hang Prometheus with it.
const statusTimeout = 5 * time.Second

func newStatusCollector(now func() time.Time) *statusCollector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "", n) }
	return &statusCollector{
		now: now,
		remaining: prometheus.NewDesc(name("credential_remaining_seconds"),
			"Seconds until the cached credential expires; negative once it has expired.",
			[]string{"appid", "kind"}, nil),
		state: prometheus.NewDesc(name("credential_state"),
			"1 for the credential's current state (fresh, stale, expired, missing), 0 for the others.",
			[]string{"appid", "kind", "state"}, nil),
		callsToday: prometheus.NewDesc(name("upstream_calls_today"),
			"Upstream token calls made for the app in the current China Standard Time day, against WeChat's daily quota.",
			[]string{"appid"}, nil),
		forceToday: prometheus.NewDesc(name("force_refreshes_today"),
			"Stable-mode force_refresh calls made for the app in the current China Standard Time day.",
			[]string{"appid"}, nil),
		blocked: prometheus.NewDesc(name("app_blocked"),
			"1 while the error policy holds back the app's token calls, else 0.",
			[]string{"appid"}, nil),
		lastError: prometheus.NewDesc(name("last_error_info"),
			"Unix time of the credential's last upstream error, labelled with its class and WeChat errcode.",
			[]string{"appid", "kind", "class", "errcode"}, nil),
		leaseHolder: prometheus.NewDesc(name("lease_holder_info"),
			"1 for the replica that holds the credential's lease on the shared store (the one working on it now); absent while none does.",
			[]string{"appid", "kind", "holder"}, nil),
		heardAge: prometheus.NewDesc(name("credential_heard_age_seconds"),
			"Seconds since this replica last had the credential confirmed by the shared store; only with a shared store.",
			[]string{"appid", "kind"}, nil),
		quotaUsed: prometheus.NewDesc(name("quota_used"),
			"Calls of the app's token endpoint today as WeChat counts them (quota/get), as last asked; absent until asked.",
			[]string{"appid"}, nil),
		quotaLimit: prometheus.NewDesc(name("quota_limit"),
			"The app's daily quota of its token endpoint as WeChat reports it (quota/get); absent until asked.",
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
	ch <- c.collectFailure
}

// knownStates are always reported, 0 or 1, so that a series does not
// vanish when a credential leaves a state and alerts on it resolve.
func knownStates() [4]string {
	return [4]string{wxtoken.StateFresh, wxtoken.StateStale, wxtoken.StateExpired, wxtoken.StateMissing}
}

// Collect reads the status and sends one set of gauges per app and
// credential.
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
	seenApp := make(map[string]bool, len(apps))
	for _, a := range apps {
		// A registry refuses a scrape holding the same series twice; a
		// duplicate app from a buggy status must cost its own series, not
		// the whole scrape.
		if seenApp[a.AppID] {
			continue
		}
		seenApp[a.AppID] = true
		c.gauge(ch, c.callsToday, float64(a.UpstreamCallsToday), a.AppID)
		c.gauge(ch, c.forceToday, float64(a.ForceRefreshesToday), a.AppID)
		blocked := 0.0
		if a.BlockedUntil != nil && a.BlockedUntil.After(now) {
			blocked = 1
		}
		c.gauge(ch, c.blocked, blocked, a.AppID)
		if q := a.Quota; q != nil {
			c.gauge(ch, c.quotaUsed, float64(q.Used), a.AppID)
			c.gauge(ch, c.quotaLimit, float64(q.DailyLimit), a.AppID)
		}
		seenKind := make(map[wxtoken.Kind]bool, len(a.Credentials))
		for _, cr := range a.Credentials {
			if seenKind[cr.Kind] {
				continue
			}
			seenKind[cr.Kind] = true
			c.credential(ch, a.AppID, cr, now)
		}
	}
}

func (c *statusCollector) credential(ch chan<- prometheus.Metric, appID string, cr wxtoken.CredentialStatus, now time.Time) {
	kind := string(cr.Kind)
	if cr.ExpiresAt != nil {
		c.gauge(ch, c.remaining, cr.ExpiresAt.Sub(now).Seconds(), appID, kind)
	}
	known := false
	for _, s := range knownStates() {
		v := 0.0
		if s == cr.State {
			v, known = 1, true
		}
		c.gauge(ch, c.state, v, appID, kind, s)
	}
	if !known && cr.State != "" {
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
