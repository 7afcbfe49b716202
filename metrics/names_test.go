package metrics_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/metrics"
)

// monitoringFiles are the alert rules, their unit tests and the Grafana
// dashboard shipped in etc/, relative to this package.
func monitoringFiles() []string {
	return []string{
		filepath.Join("..", "etc", "prometheus", "wxtoken-rules.yaml"),
		filepath.Join("..", "etc", "prometheus", "wxtoken-rules.test.yaml"),
		filepath.Join("..", "etc", "grafana", "wxtoken.json"),
	}
}

// metricName matches a wxtoken metric name in a rule, test or dashboard.
var metricName = regexp.MustCompile(`wxtoken_[a-z_]+`)

// exportedNames gathers every series name a default server (no
// metrics.per_app) exports once it has seen each kind of event and a status
// of every family in cluster mode, with the _bucket, _sum and _count series
// of its histograms.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New(metrics.WithNow(fixedNow))
	m.UpstreamCall("wxa", "/cgi-bin/stable_token", 0, "", 10*time.Millisecond)
	m.UpstreamCall("wxa", "/cgi-bin/stable_token", 45009, "daily_quota", 10*time.Millisecond)
	m.Refreshed("wxa", wxtoken.KindAccessToken, wxtoken.ReasonProactive, "ok")
	m.CompatRetry(metrics.RetryTokenAlive)
	m.ObserveHTTP("GET /v1/apps/{appid}/access_token", 200, time.Millisecond)
	var apps []wxtoken.AppStatus
	for _, f := range []wxtoken.Family{wxtoken.FamilyApp, wxtoken.FamilyWeCom, wxtoken.FamilyComponent, wxtoken.FamilyAuthorizer} {
		apps = append(apps, wxtoken.AppStatus{
			AppID:               "id-" + string(f),
			Family:              f,
			UpstreamCallsToday:  3,
			ForceRefreshesToday: 1,
			BlockedUntil:        ptr(t0.Add(time.Minute)),
			Credentials: []wxtoken.CredentialStatus{{
				Kind:        wxtoken.KindAccessToken,
				State:       wxtoken.StateStale,
				ExpiresAt:   ptr(t0.Add(time.Minute)),
				LeaseHolder: "api-1",
				HeardAt:     ptr(t0.Add(-time.Second)),
				LastError:   &wxtoken.ErrorInfo{ErrCode: 45009, Class: "daily_quota", At: t0},
			}},
		})
	}
	m.WatchStatus(func(context.Context) []wxtoken.AppStatus { return apps })
	m.WatchHealth(func(context.Context) wxtoken.Health {
		return wxtoken.Health{Ready: true, Store: &wxtoken.StoreHealth{Reachable: true, Loaded: true}}
	})

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := make(map[string]bool)
	for _, mf := range families {
		names[mf.GetName()] = true
		// By the type's name: client_model stays an indirect dependency.
		switch mf.GetType().String() {
		case "HISTOGRAM", "SUMMARY", "GAUGE_HISTOGRAM":
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = true
			}
		}
	}
	return names
}

// unknownNames returns the wxtoken metric names text uses that are not in
// exported, sorted and once each.
func unknownNames(text string, exported map[string]bool) []string {
	seen := make(map[string]bool)
	var unknown []string
	for _, name := range metricName.FindAllString(text, -1) {
		if !exported[name] && !seen[name] {
			seen[name] = true
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return unknown
}

// Every metric the alert rules, their tests and the dashboard use is one
// the server exports by default.
func TestMonitoringFilesUseExportedNames(t *testing.T) {
	exported := exportedNames(t)
	for _, path := range monitoringFiles() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if used := metricName.FindAllString(string(b), -1); len(used) == 0 {
			t.Errorf("%s: no wxtoken metric found; has the file moved?", path)
		}
		if unknown := unknownNames(string(b), exported); len(unknown) > 0 {
			t.Errorf("%s uses metrics the server does not export: %v", path, unknown)
		}
	}
}

// The check catches a name the server does not export, including a
// histogram suffix on a counter, and accepts a histogram's series.
func TestUnknownNamesCatchesMisspelling(t *testing.T) {
	exported := exportedNames(t)
	text := `sum(rate(wxtoken_upstream_call_total[5m])) and wxtoken_http_requests_total_bucket
		histogram_quantile(0.9, rate(wxtoken_http_request_duration_seconds_bucket[5m])) wxtoken_ready`
	got := unknownNames(text, exported)
	want := []string{"wxtoken_http_requests_total_bucket", "wxtoken_upstream_call_total"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("unknown names = %v, want %v", got, want)
	}
}
