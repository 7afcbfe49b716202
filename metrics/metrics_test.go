package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/metrics"
)

// t0 is the fixed "now" of these tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

func ptr(t time.Time) *time.Time { return &t }

// scrape fetches the exposition through the handler, as Prometheus would.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

func TestUpstreamCall(t *testing.T) {
	for _, perApp := range []bool{false, true} {
		m := metrics.New(metrics.WithPerApp(perApp))
		m.UpstreamCall("wxa", "/cgi-bin/stable_token", 0, "", 120*time.Millisecond)
		m.UpstreamCall("wxb", "/cgi-bin/stable_token", 0, "", 80*time.Millisecond)
		m.UpstreamCall("wxa", "/cgi-bin/stable_token", 40164, "whitelist", 30*time.Millisecond)
		// A full URL must lose its query: it could carry a secret or token.
		m.UpstreamCall("wxa", "/cgi-bin/token?grant_type=client_credential&appid=wxa&secret=SEKRET", 0, "", time.Millisecond)

		want := `
# HELP wxtoken_upstream_calls_total Calls to the WeChat API, by endpoint path, WeChat errcode (0 on success) and error class (ok on success), and by app with metrics.per_app.
# TYPE wxtoken_upstream_calls_total counter
wxtoken_upstream_calls_total{class="ok",endpoint="/cgi-bin/stable_token",errcode="0"} 2
wxtoken_upstream_calls_total{class="ok",endpoint="/cgi-bin/token",errcode="0"} 1
wxtoken_upstream_calls_total{class="whitelist",endpoint="/cgi-bin/stable_token",errcode="40164"} 1
`
		if perApp {
			want = `
# HELP wxtoken_upstream_calls_total Calls to the WeChat API, by endpoint path, WeChat errcode (0 on success) and error class (ok on success), and by app with metrics.per_app.
# TYPE wxtoken_upstream_calls_total counter
wxtoken_upstream_calls_total{appid="wxa",class="ok",endpoint="/cgi-bin/stable_token",errcode="0"} 1
wxtoken_upstream_calls_total{appid="wxb",class="ok",endpoint="/cgi-bin/stable_token",errcode="0"} 1
wxtoken_upstream_calls_total{appid="wxa",class="ok",endpoint="/cgi-bin/token",errcode="0"} 1
wxtoken_upstream_calls_total{appid="wxa",class="whitelist",endpoint="/cgi-bin/stable_token",errcode="40164"} 1
`
		}
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_upstream_calls_total"); err != nil {
			t.Errorf("per app %v: %v", perApp, err)
		}
		if n, err := testutil.GatherAndCount(m.Registry(), "wxtoken_upstream_call_duration_seconds"); err != nil || n != 2 {
			t.Errorf("duration series = %d, %v; want 2 (one per endpoint)", n, err)
		}
		if body := scrape(t, m); strings.Contains(body, "SEKRET") {
			t.Error("a secret from an endpoint's query reached the exposition")
		}
	}
}

func TestRefreshed(t *testing.T) {
	for _, perApp := range []bool{false, true} {
		m := metrics.New(metrics.WithPerApp(perApp))
		m.Refreshed("wxa", wxtoken.KindAccessToken, wxtoken.ReasonProactive, "ok")
		m.Refreshed("wxb", wxtoken.KindAccessToken, wxtoken.ReasonProactive, "ok")
		m.Refreshed("wxa", wxtoken.KindJSAPITicket, wxtoken.ReasonTicket, "error")
		want := `
# HELP wxtoken_refreshes_total Finished credential refreshes, by credential kind, reason (startup, proactive, passive, ticket, late_mint) and result (ok, unchanged, error), and by app with metrics.per_app.
# TYPE wxtoken_refreshes_total counter
wxtoken_refreshes_total{kind="access_token",reason="proactive",result="ok"} 2
wxtoken_refreshes_total{kind="jsapi",reason="ticket",result="error"} 1
`
		if perApp {
			want = `
# HELP wxtoken_refreshes_total Finished credential refreshes, by credential kind, reason (startup, proactive, passive, ticket, late_mint) and result (ok, unchanged, error), and by app with metrics.per_app.
# TYPE wxtoken_refreshes_total counter
wxtoken_refreshes_total{appid="wxa",kind="access_token",reason="proactive",result="ok"} 1
wxtoken_refreshes_total{appid="wxb",kind="access_token",reason="proactive",result="ok"} 1
wxtoken_refreshes_total{appid="wxa",kind="jsapi",reason="ticket",result="error"} 1
`
		}
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_refreshes_total"); err != nil {
			t.Errorf("per app %v: %v", perApp, err)
		}
	}
}

func TestCompatRetry(t *testing.T) {
	m := metrics.New()
	m.CompatRetry(metrics.RetryTokenAlive)
	m.CompatRetry(metrics.RetryTokenAlive)
	// Reasons outside the fixed set are dropped: the label stays bounded.
	m.CompatRetry("40001 from 10.0.0.1")
	want := `
# HELP wxtoken_compat_retries_total Relayed front-door calls made a second time after WeChat rejected the token, by reason (token_replaced: with the new token; token_alive: with the same token, which WeChat's check still accepted).
# TYPE wxtoken_compat_retries_total counter
wxtoken_compat_retries_total{reason="token_alive"} 2
wxtoken_compat_retries_total{reason="token_replaced"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_compat_retries_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveHTTP(t *testing.T) {
	m := metrics.New()
	const route = "GET /v1/apps/{appid}/access_token"
	m.ObserveHTTP(route, 200, 300*time.Microsecond)
	m.ObserveHTTP(route, 200, 2*time.Millisecond)
	m.ObserveHTTP(route, 503, 20*time.Millisecond)
	m.ObserveHTTP("GET /healthz", 200, time.Microsecond)
	// Invalid UTF-8 cannot be a label value; it is dropped, not a panic.
	m.ObserveHTTP("\xff", 200, time.Microsecond)

	want := `
# HELP wxtoken_http_requests_total HTTP API requests served, by route pattern and status code.
# TYPE wxtoken_http_requests_total counter
wxtoken_http_requests_total{route="GET /healthz",status="200"} 1
wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="200"} 2
wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="503"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_http_requests_total"); err != nil {
		t.Error(err)
	}
	body := scrape(t, m)
	for _, s := range []string{
		`wxtoken_http_request_duration_seconds_count{route="GET /v1/apps/{appid}/access_token"} 3`,
		`wxtoken_http_request_duration_seconds_bucket{route="GET /v1/apps/{appid}/access_token",le="0.0005"} 1`,
		`wxtoken_http_request_duration_seconds_bucket{route="GET /v1/apps/{appid}/access_token",le="0.0025"} 2`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("exposition lacks %s", s)
		}
	}
}

func TestRouteMetrics(t *testing.T) {
	m := metrics.New()
	const route = "GET /v1/apps/{appid}/tickets/{type}"
	rm := m.Route(route)
	var wg sync.WaitGroup
	for _, status := range []int{200, 200, 404, 503, 404} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rm.Observe(status, time.Millisecond)
		}()
	}
	wg.Wait()
	// A second handle of the same route adds to the same series.
	m.Route(route).Observe(503, time.Millisecond)
	m.ObserveHTTP(route, 200, time.Millisecond)
	want := `
# HELP wxtoken_http_requests_total HTTP API requests served, by route pattern and status code.
# TYPE wxtoken_http_requests_total counter
wxtoken_http_requests_total{route="GET /v1/apps/{appid}/tickets/{type}",status="200"} 3
wxtoken_http_requests_total{route="GET /v1/apps/{appid}/tickets/{type}",status="404"} 2
wxtoken_http_requests_total{route="GET /v1/apps/{appid}/tickets/{type}",status="503"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_http_requests_total"); err != nil {
		t.Error(err)
	}
	if body := scrape(t, m); !strings.Contains(body, `wxtoken_http_request_duration_seconds_count{route="GET /v1/apps/{appid}/tickets/{type}"} 7`) {
		t.Errorf("durations not recorded for every observation:\n%s", body)
	}
	// A route that cannot be a label value observes nothing, and does not
	// panic.
	m.Route("\xff").Observe(200, time.Millisecond)
	m.Route("\xff").Observe(500, time.Millisecond)
	if n, _ := testutil.GatherAndCount(m.Registry(), "wxtoken_http_requests_total"); n != 3 {
		t.Errorf("%d series after observing an invalid route, want 3", n)
	}
}

func TestNilMetricsObserveNothing(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveHTTP("GET /healthz", 200, time.Millisecond)
	m.Route("GET /healthz").Observe(200, time.Millisecond)
	m.UpstreamCall("wxa", "/cgi-bin/token", 0, "", time.Millisecond)
	m.Refreshed("wxa", wxtoken.KindAccessToken, wxtoken.ReasonStartup, "ok")
	m.CompatRetry(metrics.RetryTokenAlive)
	m.WatchStatus(nil)
}

func TestRuntimeCollectors(t *testing.T) {
	body := scrape(t, metrics.New())
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		// The process collector is not available on every OS; the Go
		// collector always is.
		if name == "process_start_time_seconds" && !strings.Contains(body, "process_") {
			continue
		}
		if !strings.Contains(body, name) {
			t.Errorf("exposition lacks %s", name)
		}
	}
}

// statusFixture is a status of two apps and a duplicate, for the status
// tests.
func statusFixture() []wxtoken.AppStatus {
	return []wxtoken.AppStatus{
		{
			AppID:               "wxa",
			Family:              wxtoken.FamilyApp,
			UpstreamCallsToday:  7,
			ForceRefreshesToday: 1,
			BlockedUntil:        ptr(t0.Add(time.Minute)),
			Credentials: []wxtoken.CredentialStatus{
				{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: ptr(t0.Add(90 * time.Minute))},
				{
					Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateExpired, ExpiresAt: ptr(t0.Add(-30 * time.Second)),
					LastError: &wxtoken.ErrorInfo{ErrCode: 40164, Class: "whitelist", Message: "invalid ip 1.2.3.4", At: t0.Add(-time.Hour)},
				},
			},
		},
		{
			AppID:               "wxb",
			Family:              wxtoken.FamilyApp,
			UpstreamCallsToday:  3,
			ForceRefreshesToday: 2,
			BlockedUntil:        ptr(t0.Add(-time.Second)), // over: not blocked
			Credentials: []wxtoken.CredentialStatus{
				{Kind: wxtoken.KindAccessToken, State: wxtoken.StateMissing}, // no expiry: no remaining
			},
		},
		{
			AppID:  "ww0123456789abcdef/1000002",
			Family: wxtoken.FamilyWeCom,
			Credentials: []wxtoken.CredentialStatus{
				{Kind: wxtoken.KindAccessToken, State: wxtoken.StateStale, ExpiresAt: ptr(t0.Add(10 * time.Minute))},
			},
		},
		// A duplicate must not break the scrape, nor count twice.
		{AppID: "wxb", Family: wxtoken.FamilyApp, UpstreamCallsToday: 99},
	}
}

// aggregateNames are the status metrics reported whatever metrics.per_app
// says.
func aggregateNames() []string {
	return []string{
		"wxtoken_credentials", "wxtoken_credential_remaining_seconds_min", "wxtoken_credentials_failing",
		"wxtoken_apps_blocked", "wxtoken_upstream_calls_today_max", "wxtoken_force_refreshes_today_max",
		"wxtoken_status_collect_failed",
	}
}

const wantAggregates = `
# HELP wxtoken_apps_blocked Apps whose token calls the error policy holds back now, by family.
# TYPE wxtoken_apps_blocked gauge
wxtoken_apps_blocked{family="app"} 1
wxtoken_apps_blocked{family="wecom"} 0
# HELP wxtoken_credential_remaining_seconds_min The least remaining lifetime, in seconds, among the cached credentials of the family and kind; negative once one has expired.
# TYPE wxtoken_credential_remaining_seconds_min gauge
wxtoken_credential_remaining_seconds_min{family="app",kind="access_token"} 5400
wxtoken_credential_remaining_seconds_min{family="app",kind="jsapi"} -30
wxtoken_credential_remaining_seconds_min{family="wecom",kind="access_token"} 600
# HELP wxtoken_credentials Credentials kept, by family, kind and state (fresh, stale, expired, missing); every known state is reported, 0 when no credential is in it.
# TYPE wxtoken_credentials gauge
wxtoken_credentials{family="app",kind="access_token",state="expired"} 0
wxtoken_credentials{family="app",kind="access_token",state="fresh"} 1
wxtoken_credentials{family="app",kind="access_token",state="missing"} 1
wxtoken_credentials{family="app",kind="access_token",state="stale"} 0
wxtoken_credentials{family="app",kind="jsapi",state="expired"} 1
wxtoken_credentials{family="app",kind="jsapi",state="fresh"} 0
wxtoken_credentials{family="app",kind="jsapi",state="missing"} 0
wxtoken_credentials{family="app",kind="jsapi",state="stale"} 0
wxtoken_credentials{family="wecom",kind="access_token",state="expired"} 0
wxtoken_credentials{family="wecom",kind="access_token",state="fresh"} 0
wxtoken_credentials{family="wecom",kind="access_token",state="missing"} 0
wxtoken_credentials{family="wecom",kind="access_token",state="stale"} 1
# HELP wxtoken_credentials_failing Credentials whose last upstream refresh failed (and none succeeded since), by family, kind and error class.
# TYPE wxtoken_credentials_failing gauge
wxtoken_credentials_failing{class="whitelist",family="app",kind="jsapi"} 1
# HELP wxtoken_force_refreshes_today_max The most stable-mode force_refresh calls one app of the family made in the current China Standard Time day.
# TYPE wxtoken_force_refreshes_today_max gauge
wxtoken_force_refreshes_today_max{family="app"} 2
wxtoken_force_refreshes_today_max{family="wecom"} 0
# HELP wxtoken_status_collect_failed 1 when the last scrape could not read the credential status, else 0.
# TYPE wxtoken_status_collect_failed gauge
wxtoken_status_collect_failed 0
# HELP wxtoken_upstream_calls_today_max The most upstream token calls one app of the family made in the current China Standard Time day, against WeChat's daily quota per app.
# TYPE wxtoken_upstream_calls_today_max gauge
wxtoken_upstream_calls_today_max{family="app"} 7
wxtoken_upstream_calls_today_max{family="wecom"} 0
`

func TestStatusAggregates(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow))
	m.WatchStatus(func(context.Context) []wxtoken.AppStatus { return statusFixture() })
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(wantAggregates), aggregateNames()...); err != nil {
		t.Error(err)
	}
	body := scrape(t, m)
	if strings.Contains(body, "appid=") {
		t.Errorf("a series per app without metrics.per_app:\n%s", body)
	}
	if strings.Contains(body, "1.2.3.4") {
		t.Error("an error message reached the exposition")
	}
}

// The default /metrics does not grow with the number of apps.
func TestStatusSizeDoesNotGrowWithApps(t *testing.T) {
	status := func(n int) func(context.Context) []wxtoken.AppStatus {
		apps := make([]wxtoken.AppStatus, n)
		for i := range apps {
			apps[i] = wxtoken.AppStatus{
				AppID: fmt.Sprintf("wx%016x", i), Family: wxtoken.FamilyApp, UpstreamCallsToday: i % 50,
				Credentials: []wxtoken.CredentialStatus{
					{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: ptr(t0.Add(time.Duration(i) * time.Second))},
					{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateFresh, ExpiresAt: ptr(t0.Add(time.Hour))},
				},
			}
		}
		return func(context.Context) []wxtoken.AppStatus { return apps }
	}
	series := func(n int, perApp bool) int {
		m := metrics.New(metrics.WithNow(fixedNow), metrics.WithPerApp(perApp))
		m.WatchStatus(status(n))
		for i := range n {
			id := fmt.Sprintf("wx%016x", i)
			m.UpstreamCall(id, "/cgi-bin/stable_token", 0, "", time.Millisecond)
			m.Refreshed(id, wxtoken.KindAccessToken, wxtoken.ReasonStartup, "ok")
		}
		count := 0
		for line := range strings.Lines(scrape(t, m)) {
			if !strings.HasPrefix(line, "#") {
				count++
			}
		}
		return count
	}
	few, many := series(10, false), series(10000, false)
	if few != many {
		t.Errorf("default /metrics: %d series at 10 apps, %d at 10,000; want the same", few, many)
	}
	if perApp := series(100, true); perApp < 100*8 {
		t.Errorf("metrics.per_app: %d series at 100 apps; want the per-app series", perApp)
	}
}

func TestStatusGaugesPerApp(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow), metrics.WithPerApp(true))
	var calls int
	var mu sync.Mutex
	m.WatchStatus(func(ctx context.Context) []wxtoken.AppStatus {
		mu.Lock()
		calls++
		mu.Unlock()
		if ctx == nil {
			t.Error("status called without a context")
		}
		return statusFixture()
	})

	want := `
# HELP wxtoken_credential_remaining_seconds Seconds until the cached credential expires; negative once it has expired. Only with metrics.per_app.
# TYPE wxtoken_credential_remaining_seconds gauge
wxtoken_credential_remaining_seconds{appid="ww0123456789abcdef/1000002",kind="access_token"} 600
wxtoken_credential_remaining_seconds{appid="wxa",kind="access_token"} 5400
wxtoken_credential_remaining_seconds{appid="wxa",kind="jsapi"} -30
# HELP wxtoken_credential_state 1, labelled with the credential's current state (fresh, stale, expired, missing). Only with metrics.per_app.
# TYPE wxtoken_credential_state gauge
wxtoken_credential_state{appid="ww0123456789abcdef/1000002",kind="access_token",state="stale"} 1
wxtoken_credential_state{appid="wxa",kind="access_token",state="fresh"} 1
wxtoken_credential_state{appid="wxa",kind="jsapi",state="expired"} 1
wxtoken_credential_state{appid="wxb",kind="access_token",state="missing"} 1
# HELP wxtoken_upstream_calls_today Upstream token calls made for the app in the current China Standard Time day, against WeChat's daily quota. Only with metrics.per_app.
# TYPE wxtoken_upstream_calls_today gauge
wxtoken_upstream_calls_today{appid="ww0123456789abcdef/1000002"} 0
wxtoken_upstream_calls_today{appid="wxa"} 7
wxtoken_upstream_calls_today{appid="wxb"} 3
# HELP wxtoken_force_refreshes_today Stable-mode force_refresh calls made for the app in the current China Standard Time day. Only with metrics.per_app.
# TYPE wxtoken_force_refreshes_today gauge
wxtoken_force_refreshes_today{appid="ww0123456789abcdef/1000002"} 0
wxtoken_force_refreshes_today{appid="wxa"} 1
wxtoken_force_refreshes_today{appid="wxb"} 2
# HELP wxtoken_app_blocked 1 while the error policy holds back the app's token calls, else 0. Only with metrics.per_app.
# TYPE wxtoken_app_blocked gauge
wxtoken_app_blocked{appid="ww0123456789abcdef/1000002"} 0
wxtoken_app_blocked{appid="wxa"} 1
wxtoken_app_blocked{appid="wxb"} 0
# HELP wxtoken_last_error_info Unix time of the credential's last upstream error, labelled with its class and WeChat errcode. Only with metrics.per_app.
# TYPE wxtoken_last_error_info gauge
wxtoken_last_error_info{appid="wxa",class="whitelist",errcode="40164",kind="jsapi"} 1.7408268e+09
`
	names := []string{
		"wxtoken_credential_remaining_seconds", "wxtoken_credential_state", "wxtoken_upstream_calls_today",
		"wxtoken_force_refreshes_today", "wxtoken_app_blocked", "wxtoken_last_error_info",
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The aggregates are there as well, the same as without per_app.
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(wantAggregates), aggregateNames()...); err != nil {
		t.Error(err)
	}
	if body := scrape(t, m); strings.Contains(body, "1.2.3.4") {
		t.Error("an error message reached the exposition")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Errorf("status read %d times for 3 scrapes; want once per scrape", calls)
	}
}

func TestStatusUnknownState(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow), metrics.WithPerApp(true))
	m.WatchStatus(func(context.Context) []wxtoken.AppStatus {
		return []wxtoken.AppStatus{{AppID: "wxa", Family: wxtoken.FamilyApp, Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: "refreshing"}}}}
	})
	body := scrape(t, m)
	for _, want := range []string{
		`wxtoken_credential_state{appid="wxa",kind="access_token",state="refreshing"} 1`,
		`wxtoken_credentials{family="app",kind="access_token",state="refreshing"} 1`,
		`wxtoken_credentials{family="app",kind="access_token",state="fresh"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("an unknown state is not reported: no %s in\n%s", want, body)
		}
	}
}

func TestStatusPanicFailsOnlyTheGauges(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow))
	m.ObserveHTTP("GET /healthz", 200, time.Millisecond)
	m.WatchStatus(func(context.Context) []wxtoken.AppStatus { panic("status broke") })
	body := scrape(t, m)
	if !strings.Contains(body, "wxtoken_status_collect_failed 1") {
		t.Error("a failed status read is not reported")
	}
	if !strings.Contains(body, `wxtoken_http_requests_total{route="GET /healthz",status="200"} 1`) {
		t.Error("the other metrics are missing after a failed status read")
	}
}

func TestWatchStatusReplacesAndStops(t *testing.T) {
	m := metrics.New(metrics.WithNow(fixedNow), metrics.WithPerApp(true))
	one := func(id string) func(context.Context) []wxtoken.AppStatus {
		return func(context.Context) []wxtoken.AppStatus { return []wxtoken.AppStatus{{AppID: id}} }
	}
	m.WatchStatus(one("wxa"))
	m.WatchStatus(one("wxb"))
	body := scrape(t, m)
	if strings.Contains(body, `appid="wxa"`) || !strings.Contains(body, `wxtoken_app_blocked{appid="wxb"} 0`) {
		t.Errorf("a second WatchStatus did not replace the first:\n%s", body)
	}
	m.WatchStatus(nil)
	if body := scrape(t, m); strings.Contains(body, "wxtoken_app_blocked") || strings.Contains(body, "wxtoken_apps_blocked") {
		t.Error("WatchStatus(nil) did not stop the status gauges")
	}
}

func TestSeparateRegistries(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.ObserveHTTP("GET /healthz", 200, time.Millisecond)
	if n, _ := testutil.GatherAndCount(b.Registry(), "wxtoken_http_requests_total"); n != 0 {
		t.Errorf("metrics leaked between two Metrics: %d series", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := metrics.New()
	m.WatchStatus(func(context.Context) []wxtoken.AppStatus { return []wxtoken.AppStatus{{AppID: "wxa"}} })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				m.ObserveHTTP("GET /healthz", 200, time.Millisecond)
				m.UpstreamCall("wxa", "/cgi-bin/token", 0, "", time.Millisecond)
				m.Refreshed("wxa", wxtoken.KindAccessToken, wxtoken.ReasonProactive, "ok")
				if i == 0 {
					m.WatchStatus(func(context.Context) []wxtoken.AppStatus { return nil })
				}
			}
		}()
	}
	_ = scrape(t, m)
	wg.Wait()
	want := `
# HELP wxtoken_http_requests_total HTTP API requests served, by route pattern and status code.
# TYPE wxtoken_http_requests_total counter
wxtoken_http_requests_total{route="GET /healthz",status="200"} 1600
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "wxtoken_http_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestClusterGauges(t *testing.T) {
	for _, perApp := range []bool{false, true} {
		m := metrics.New(metrics.WithNow(fixedNow), metrics.WithPerApp(perApp))
		m.WatchStatus(func(context.Context) []wxtoken.AppStatus {
			return []wxtoken.AppStatus{{
				AppID:  "wxa",
				Family: wxtoken.FamilyApp,
				Credentials: []wxtoken.CredentialStatus{
					{Kind: wxtoken.KindAccessToken, State: wxtoken.StateStale, LeaseHolder: "api-1", HeardAt: ptr(t0.Add(-1500 * time.Millisecond))},
					{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateFresh, HeardAt: ptr(t0.Add(-20 * time.Second))},
				},
			}, {
				AppID:  "wxc",
				Family: wxtoken.FamilyApp,
				Credentials: []wxtoken.CredentialStatus{
					{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, LeaseHolder: "api-1", HeardAt: ptr(t0.Add(-3 * time.Second))},
				},
			}, {
				// Without a shared store: no gauge.
				AppID:       "wxb",
				Family:      wxtoken.FamilyApp,
				Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh}},
			}}
		})
		want := `
# HELP wxtoken_credential_leases Credentials whose lease on the shared store a replica holds (works on them now), by replica; only with a shared store.
# TYPE wxtoken_credential_leases gauge
wxtoken_credential_leases{holder="api-1"} 2
# HELP wxtoken_credential_heard_age_seconds_max The longest time, in seconds, since this replica last had a credential of the family and kind confirmed by the shared store; only with a shared store.
# TYPE wxtoken_credential_heard_age_seconds_max gauge
wxtoken_credential_heard_age_seconds_max{family="app",kind="access_token"} 3
wxtoken_credential_heard_age_seconds_max{family="app",kind="jsapi"} 20
`
		names := []string{"wxtoken_credential_leases", "wxtoken_credential_heard_age_seconds_max", "wxtoken_lease_holder_info", "wxtoken_credential_heard_age_seconds"}
		if perApp {
			want += `
# HELP wxtoken_lease_holder_info 1 for the replica that holds the credential's lease on the shared store (the one working on it now); absent while none does. Only with metrics.per_app.
# TYPE wxtoken_lease_holder_info gauge
wxtoken_lease_holder_info{appid="wxa",holder="api-1",kind="access_token"} 1
wxtoken_lease_holder_info{appid="wxc",holder="api-1",kind="access_token"} 1
# HELP wxtoken_credential_heard_age_seconds Seconds since this replica last had the credential confirmed by the shared store; only with a shared store and metrics.per_app.
# TYPE wxtoken_credential_heard_age_seconds gauge
wxtoken_credential_heard_age_seconds{appid="wxa",kind="access_token"} 1.5
wxtoken_credential_heard_age_seconds{appid="wxa",kind="jsapi"} 20
wxtoken_credential_heard_age_seconds{appid="wxc",kind="access_token"} 3
`
		}
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
			t.Errorf("per app %v: %v", perApp, err)
		}
	}
}
