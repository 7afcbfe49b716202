package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/metrics"
)

// The gauges an operator alerts on when the shared store is away: the
// replica stays ready while it serves, and the store's state shows apart.
func TestHealthGauges(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow))
	h := wxtoken.Health{Ready: true, Store: &wxtoken.StoreHealth{Reachable: false, Loaded: true}}
	m.WatchHealth(func(context.Context) wxtoken.Health { return h })
	want := `
# HELP wxtoken_ready 1 while the replica is ready to serve (what /readyz answers), else 0.
# TYPE wxtoken_ready gauge
wxtoken_ready 1
# HELP wxtoken_shared_store_up 1 while the shared store (Redis) answers, 0 while it cannot be reached; only with a shared store.
# TYPE wxtoken_shared_store_up gauge
wxtoken_shared_store_up 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_ready", "wxtoken_shared_store_up"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(m.Registry(), "wxtoken_shared_store_loaded"); n != 1 {
		t.Errorf("wxtoken_shared_store_loaded: %d series, want 1", n)
	}

	// Without a shared store only readiness is reported.
	h = wxtoken.Health{Ready: false}
	m.WatchHealth(func(context.Context) wxtoken.Health { return h })
	if n, _ := testutil.GatherAndCount(m.Registry(), "wxtoken_shared_store_up"); n != 0 {
		t.Errorf("wxtoken_shared_store_up without a shared store: %d series", n)
	}
	if !strings.Contains(scrape(t, m), "wxtoken_ready 0") {
		t.Error("wxtoken_ready is not 0 while not ready")
	}
	// A panicking health function costs its own gauges, not the scrape.
	m.WatchHealth(func(context.Context) wxtoken.Health { panic("boom") })
	if !strings.Contains(scrape(t, m), "go_goroutines") {
		t.Error("a panicking health function broke the scrape")
	}
}
