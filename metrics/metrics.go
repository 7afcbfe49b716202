// Package metrics exposes what wxtoken does as Prometheus metrics: calls
// to WeChat and refreshes (as a wxtoken.Observer the refresh engine
// reports to), HTTP requests served (reported by the HTTP layer), and, at
// scrape time, the credentials' state: by default as aggregates whose
// number of series does not grow with the number of apps, and with
// WithPerApp also each app's and credential's remaining lifetime, state,
// calls today and last error.
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
	// perApp adds the appid label to the upstream call and refresh
	// counters, and the per-app and per-credential status gauges.
	perApp bool

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

// WithPerApp, when on, reports series per app and per credential (the
// config's metrics.per_app): the appid label on the upstream call and
// refresh counters, and each app's and credential's status gauges. Their
// number grows with the number of apps (over 170,000 series, 14 MB a
// scrape, at 10,000 apps before they were cut down), so the default
// reports aggregates only.
func WithPerApp(on bool) Option {
	return func(m *Metrics) { m.perApp = on }
}

// New returns Metrics on a fresh registry that also holds the Go runtime
// and process collectors.
func New(opts ...Option) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		now: time.Now,
	}
	for _, o := range opts {
		o(m)
	}
	// The appid label only per app: one counter per app, endpoint and
	// result would be the largest part of a scrape with many apps.
	var byApp []string
	if m.perApp {
		byApp = []string{"appid"}
	}
	m.upstreamCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "upstream_calls_total",
		Help:      "Calls to the WeChat API, by endpoint path, WeChat errcode (0 on success) and error class (ok on success), and by app with metrics.per_app.",
	}, append(byApp, "endpoint", "errcode", "class"))
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "refreshes_total",
		Help:      "Finished credential refreshes, by credential kind, reason (startup, proactive, passive, ticket, late_mint) and result (ok, unchanged, error), and by app with metrics.per_app.",
	}, append(byApp, "kind", "reason", "result"))
	m.upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "upstream_call_duration_seconds",
		Help:      "Duration of calls to the WeChat API, by endpoint path.",
		Buckets:   upstreamBuckets(),
	}, []string{"endpoint"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "http_requests_total",
		Help:      "HTTP API requests served, by route pattern and status code.",
	}, []string{"route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "http_request_duration_seconds",
		Help:      "Duration of HTTP API requests, by route pattern.",
		Buckets:   httpBuckets(),
	}, []string{"route"})
	m.compatRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "compat_retries_total",
		Help:      "Relayed front-door calls made a second time after WeChat rejected the token, by reason (token_replaced: with the new token; token_alive: with the same token, which WeChat's check still accepted).",
	}, []string{"reason"})
	m.status = newStatusCollector(m.now, m.perApp)
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
	var c prometheus.Counter
	var err error
	if m.perApp {
		c, err = m.upstreamCalls.GetMetricWithLabelValues(appID, endpoint, strconv.Itoa(errcode), class)
	} else {
		c, err = m.upstreamCalls.GetMetricWithLabelValues(endpoint, strconv.Itoa(errcode), class)
	}
	if err == nil {
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
	var c prometheus.Counter
	var err error
	if m.perApp {
		c, err = m.refreshes.GetMetricWithLabelValues(appID, string(kind), reason, result)
	} else {
		c, err = m.refreshes.GetMetricWithLabelValues(string(kind), reason, result)
	}
	if err == nil {
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
// status returns: the aggregates, and with WithPerApp each credential's
// remaining lifetime, state and last error and each app's upstream calls
// today and block. A later call replaces the function; nil stops
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
