package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/quota"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const opsKey = "wxt_server-quota-admin-key"

// opsServer runs a server in front of sim whose one client, "ops", is an
// admin; prepare runs on the simulator before the server starts.
func opsServer(t *testing.T, prepare func(*simulator.Simulator)) (*server.Server, *simulator.Simulator, *simulatorServer, *logbuf.Buffer) {
	t.Helper()
	return opsServerQuota(t, 300, prepare, nil)
}

// opsServerQuota is opsServer with a stable_token quota of limit; before
// runs on the simulator's address before the server starts.
func opsServerQuota(t *testing.T, limit int, prepare func(*simulator.Simulator), before func(url string)) (*server.Server, *simulator.Simulator, *simulatorServer, *logbuf.Buffer) {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{appID: secret}, TTL: time.Hour, Overlap: 5 * time.Minute, StableQuota: limit})
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(sim)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	if before != nil {
		before(ts.URL)
	}
	sum := sha256.Sum256([]byte(opsKey))
	dir := t.TempDir()
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
quota: {poll: true, interval: 1h}
metrics: {per_app: true}
apps:
  - {appid: %s, secret: %s}
clients:
  - {name: ops, key_sha256: %q, apps: ["*"], admin: true}
`, filepath.Join(dir, "wxtoken.db"), ts.URL, appID, secret, hex.EncodeToString(sum[:]))
	cfg, err := config.Parse([]byte(y), dir, nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, sim, &simulatorServer{ts.URL}, logs
}

// simulatorServer is the simulator's address, for calls made at WeChat
// by others than wxtoken.
type simulatorServer struct{ url string }

// opsCall makes a request with the admin key and returns its status and
// body.
func opsCall(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+opsKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// An app held back by the whitelist error (5 minutes) is served at once
// when an operator, having fixed the cause, asks to retry now.
func TestRetryNowServesAtOnceAfterTheWhitelistIsFixed(t *testing.T) {
	srv, sim, _, logs := opsServer(t, func(sim *simulator.Simulator) {
		if err := sim.Inject(simulator.Fault{Endpoint: simulator.EndpointStableToken, AppID: appID, Kind: simulator.FaultErrCode, ErrCode: wechat.ErrIPNotWhitelisted}); err != nil {
			t.Fatal(err)
		}
	})
	tokenURL := srv.URL() + "/v1/apps/" + appID + "/access_token"
	if code, body := opsCall(t, http.MethodGet, tokenURL); code == http.StatusOK {
		t.Fatalf("token served through the whitelist fault: %s", body)
	}
	calls := sim.Calls(simulator.EndpointStableToken, appID)
	sim.ClearFaults()
	// The cause is fixed, but the error policy still holds the app back.
	if code, body := opsCall(t, http.MethodGet, tokenURL); code == http.StatusOK {
		t.Fatalf("token served while held back: %s", body)
	}
	if got := sim.Calls(simulator.EndpointStableToken, appID); got != calls {
		t.Fatalf("the held app called WeChat: %d calls, then %d", calls, got)
	}
	code, body := opsCall(t, http.MethodPost, srv.URL()+"/v1/apps/"+appID+"/retry")
	if code != http.StatusOK {
		t.Fatalf("retry: %d %s", code, body)
	}
	var st wxtoken.AppStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.AppID != appID || st.BlockedUntil != nil || len(st.Credentials) == 0 || st.Credentials[0].State != wxtoken.StateFresh {
		t.Fatalf("status after the retry: %s", body)
	}
	if code, body := opsCall(t, http.MethodGet, tokenURL); code != http.StatusOK {
		t.Fatalf("token after the retry: %d %s", code, body)
	}
	if !strings.Contains(logs.String(), `msg="retry now" client=ops id=`+appID) {
		t.Fatalf("the retry is not logged with the client's name:\n%s", logs.String())
	}
	if code, body := opsCall(t, http.MethodPost, srv.URL()+"/v1/apps/wx00000000000000zz/retry"); code != http.StatusNotFound {
		t.Fatalf("retry of an unknown app: %d %s", code, body)
	}
}

// The "done when": the quota figures in status equal the
// simulator's counters; a clear resets them, counts down the month's
// clears, and the 11th of a month is refused.
func TestQuotaInStatusEqualsTheSimulatorsCounters(t *testing.T) {
	srv, sim, up, _ := opsServer(t, nil)
	if code, body := opsCall(t, http.MethodGet, srv.URL()+"/v1/apps/"+appID+"/access_token"); code != http.StatusOK {
		t.Fatalf("token: %d %s", code, body)
	}
	// Others call the same app's token endpoint at WeChat too; WeChat's
	// figure counts them all.
	for range 7 {
		callStable(t, up.url)
	}
	ctx := context.Background()
	app := quota.App{AppID: appID, TokenAPI: wxtoken.TokenAPIStable}
	if _, err := srv.Quota().Check(ctx, app); err != nil {
		t.Fatal(err)
	}
	limit, used, _ := sim.Quota(appID, wechat.PathStableToken)
	if used < 8 {
		t.Fatalf("simulator counted %d stable_token calls, want at least 8", used)
	}
	q := statusQuota(t, srv.URL())
	if q.DailyLimit != limit || q.Used != used || q.Remain != limit-used || q.CGIPath != wechat.PathStableToken {
		t.Fatalf("status quota %+v, simulator %d/%d", q, used, limit)
	}
	if q.ClearRemainingThisMonth == nil || *q.ClearRemainingThisMonth != 10 {
		t.Fatalf("clears left = %v, want 10", q.ClearRemainingThisMonth)
	}
	code, metrics := opsCall(t, http.MethodGet, srv.URL()+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`wxtoken_quota_used{appid=%q} %d`, appID, used),
		fmt.Sprintf(`wxtoken_quota_limit{appid=%q} %d`, appID, limit),
	} {
		if code != http.StatusOK || !strings.Contains(string(metrics), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}

	for i := range 10 {
		code, body := opsCall(t, http.MethodPost, srv.URL()+"/v1/apps/"+appID+"/clear_quota")
		if code != http.StatusOK {
			t.Fatalf("clear %d: %d %s", i+1, code, body)
		}
		var res struct {
			Left  int                  `json:"clear_remaining_this_month"`
			Quota *wxtoken.QuotaStatus `json:"quota"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if res.Left != 9-i || res.Quota == nil || res.Quota.Used != 0 {
			t.Fatalf("clear %d answered %s", i+1, body)
		}
	}
	if _, used, _ := sim.Quota(appID, wechat.PathStableToken); used != 0 {
		t.Fatalf("simulator still counts %d calls after the clears", used)
	}
	if q := statusQuota(t, srv.URL()); q.Used != 0 || *q.ClearRemainingThisMonth != 0 {
		t.Fatalf("status after the clears: %+v", q)
	}
	before := sim.Calls(simulator.EndpointClearQuota, appID)
	if code, body := opsCall(t, http.MethodPost, srv.URL()+"/v1/apps/"+appID+"/clear_quota"); code != http.StatusTooManyRequests {
		t.Fatalf("11th clear: %d %s", code, body)
	}
	if got := sim.Calls(simulator.EndpointClearQuota, appID); got != before {
		t.Fatalf("the 11th clear was sent to WeChat")
	}
}

// statusQuota reads the app's quota from GET /v1/apps.
func statusQuota(t *testing.T, base string) wxtoken.QuotaStatus {
	t.Helper()
	code, body := opsCall(t, http.MethodGet, base+"/v1/apps")
	if code != http.StatusOK {
		t.Fatalf("apps: %d %s", code, body)
	}
	var apps struct {
		Apps []wxtoken.AppStatus `json:"apps"`
	}
	if err := json.Unmarshal(body, &apps); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps.Apps {
		if a.AppID == appID && a.Quota != nil {
			return *a.Quota
		}
	}
	t.Fatalf("no quota in status: %s", body)
	return wxtoken.QuotaStatus{}
}

// callStable makes one stable_token call at WeChat for the app, as
// another system sharing the account would.
func callStable(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Post(base+wechat.PathStableToken, "application/json",
		strings.NewReader(fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q}`, appID, secret)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// An app whose daily quota is used up (45009) is held back until
// midnight; clearing its quota lifts the hold, and the token is served at
// once.
func TestClearQuotaLiftsTheDailyQuotaHold(t *testing.T) {
	srv, _, _, _ := opsServerQuota(t, 1, nil, func(url string) { callStable(t, url) })
	tokenURL := srv.URL() + "/v1/apps/" + appID + "/access_token"
	code, body := opsCall(t, http.MethodGet, tokenURL)
	if code == http.StatusOK || !strings.Contains(string(body), "45009") {
		t.Fatalf("token with the quota used up: %d %s", code, body)
	}
	if code, body := opsCall(t, http.MethodPost, srv.URL()+"/v1/apps/"+appID+"/clear_quota"); code != http.StatusOK {
		t.Fatalf("clear: %d %s", code, body)
	}
	if code, body := opsCall(t, http.MethodGet, tokenURL); code != http.StatusOK {
		t.Fatalf("token after the clear: %d %s", code, body)
	}
}
