package metrics

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxtoken/wxtoken"
)

// WatchHealth makes every scrape report the replica's readiness and, on a
// shared store, whether the store answers: wxtoken_ready and
// wxtoken_shared_store_up. Apps that cannot be served show in
// wxtoken_credentials (WatchStatus). A later call replaces the
// function; nil stops the reporting.
func (m *Metrics) WatchHealth(health func(ctx context.Context) wxtoken.Health) {
	if m == nil {
		return
	}
	m.healthOnce.Do(func() {
		m.health = newHealthCollector()
		m.reg.MustRegister(m.health)
	})
	m.health.set(health)
}

type healthFunc struct {
	fn func(ctx context.Context) wxtoken.Health
}

type healthCollector struct {
	fn atomic.Pointer[healthFunc]

	ready       *prometheus.Desc
	storeUp     *prometheus.Desc
	storeLoaded *prometheus.Desc
}

func newHealthCollector() *healthCollector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "", n) }
	return &healthCollector{
		ready: prometheus.NewDesc(name("ready"),
			"1 while the replica is ready to serve (what /readyz answers), else 0.",
			nil, nil),
		storeUp: prometheus.NewDesc(name("shared_store_up"),
			"1 while the shared store (Redis) answers, 0 while it cannot be reached; only with a shared store.",
			nil, nil),
		storeLoaded: prometheus.NewDesc(name("shared_store_loaded"),
			"1 once the stored credentials have been read since the start, 0 while a replica started during an outage waits for the store; only with a shared store.",
			nil, nil),
	}
}

func (c *healthCollector) set(fn func(ctx context.Context) wxtoken.Health) {
	if fn == nil {
		c.fn.Store(nil)
		return
	}
	c.fn.Store(&healthFunc{fn: fn})
}

// Describe sends the descriptors of the health metrics.
func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.storeUp
	ch <- c.storeLoaded
}

// Collect reads the health and sends its gauges.
func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	hf := c.fn.Load()
	if hf == nil {
		return
	}
	h, ok := c.read(hf.fn)
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, boolValue(h.Ready))
	if st := h.Store; st != nil {
		ch <- prometheus.MustNewConstMetric(c.storeUp, prometheus.GaugeValue, boolValue(st.Reachable))
		ch <- prometheus.MustNewConstMetric(c.storeLoaded, prometheus.GaugeValue, boolValue(st.Loaded))
	}
}

// read calls the health function, turning a panic into a failed read, as
// statusCollector.read does.
func (c *healthCollector) read(fn func(ctx context.Context) wxtoken.Health) (h wxtoken.Health, ok bool) {
	defer func() {
		if recover() != nil {
			h, ok = wxtoken.Health{}, false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	return fn(ctx), true
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
