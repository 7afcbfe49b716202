package e2e_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestKeysAndSecrets: client keys reach only the routes and apps they were
// granted, and no AppSecret or client key appears in any answer of any
// route, in the metrics or in the server's debug log, including while
// upstream calls fail in every way (one of them with an errmsg that echoes
// the AppSecret, as an answer quoting the request would).
func TestKeysAndSecrets(t *testing.T) {
	integration.Skip(t)
	const (
		appA    = "wxsecreta" // stable, with a jsapi ticket; its secret in the environment
		appB    = "wxsecretb" // classic, never gets a token; its secret in a file
		unknown = "wxnotconfigured"
	)
	e := newEnv(t, setup{
		apps: []appSpec{
			{id: appA, api: "stable", tickets: []string{"jsapi"}},
			{id: appB, api: "classic", secretFile: true},
		},
		clients: []clientSpec{
			{name: "shop", apps: []string{appA}},
			{name: "ops", apps: []string{"*"}, admin: true},
			{name: "scraper"}, // no app: scrapes /metrics only
		},
		ttl: time.Minute, overlap: 5 * time.Second, timeout: time.Second,
	})
	shop, ops, scraper := e.keys["shop"], e.keys["ops"], e.keys["scraper"]
	strange := newKey() // a key no client has
	e.secrets[strange] = "a presented unknown key"
	var secretB string
	for s, what := range e.secrets {
		if what == "the AppSecret of "+appB {
			secretB = s
		}
	}

	// appB's token calls fail in every way, in this order, and then keep
	// failing with 40164, so that it is never ready.
	faults := []simulator.Fault{
		{Kind: simulator.FaultDrop, Count: 1},
		{Kind: simulator.FaultSlow, Delay: 3 * time.Second, Count: 1},
		{Kind: simulator.FaultMalformed, Count: 1},
		{Kind: simulator.FaultHTML, Count: 1},
		{Kind: simulator.FaultErrCode, ErrCode: 40125, ErrMsg: "invalid appsecret " + secretB, Count: 1},
		{Kind: simulator.FaultErrCode, ErrCode: 40164},
	}
	for _, f := range faults {
		f.Endpoint, f.AppID = simulator.EndpointToken, appB
		if err := e.sim.Inject(f); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	waitFor(t, 20*time.Second, "every fault to be met", func() bool {
		return e.sim.Calls(simulator.EndpointToken, appB) >= len(faults)
	})
	tokA := e.token(t, appA)

	pageURL := url.QueryEscape("https://shop.example.com/pay?order=1#top")
	for _, c := range []struct {
		name, method, path, key, body string
		status                        int
		code                          string // error code; "" for a success
	}{
		{"no key", "GET", "/v1/apps/" + appA + "/access_token", "", "", 401, "unauthorized"},
		{"unknown key", "GET", "/v1/apps/" + appA + "/access_token", strange, "", 401, "unauthorized"},
		{"key of another app", "GET", "/v1/apps/" + appB + "/access_token", shop, "", 403, "forbidden"},
		{"key of another app, ticket", "GET", "/v1/apps/" + appB + "/tickets/jsapi", shop, "", 403, "forbidden"},
		{"key of another app, refresh", "POST", "/v1/apps/" + appB + "/access_token/refresh", shop, `{"stale":"x"}`, 403, "forbidden"},
		{"key of another app, jssdk", "GET", "/v1/apps/" + appB + "/jssdk_config?url=" + pageURL, shop, "", 403, "forbidden"},
		{"unconfigured app, plain key", "GET", "/v1/apps/" + unknown + "/access_token", shop, "", 403, "forbidden"},
		{"unconfigured app, admin key", "GET", "/v1/apps/" + unknown + "/access_token", ops, "", 404, "not_found"},
		{"key without apps", "GET", "/v1/apps/" + appA + "/access_token", scraper, "", 403, "forbidden"},
		{"non-admin lists apps", "GET", "/v1/apps", shop, "", 403, "forbidden"},
		{"key without apps lists apps", "GET", "/v1/apps", scraper, "", 403, "forbidden"},
		{"no key lists apps", "GET", "/v1/apps", "", "", 401, "unauthorized"},
		{"unknown key lists apps", "GET", "/v1/apps", strange, "", 401, "unauthorized"},
		{"admin lists apps", "GET", "/v1/apps", ops, "", 200, ""},
		{"metrics without key", "GET", "/metrics", "", "", 401, "unauthorized"},
		{"metrics with unknown key", "GET", "/metrics", strange, "", 401, "unauthorized"},
		{"metrics with scraper key", "GET", "/metrics", scraper, "", 200, ""},
		{"metrics with app key", "GET", "/metrics", shop, "", 200, ""},
		{"token", "GET", "/v1/apps/" + appA + "/access_token", shop, "", 200, ""},
		{"ticket", "GET", "/v1/apps/" + appA + "/tickets/jsapi", shop, "", 200, ""},
		{"ticket not configured", "GET", "/v1/apps/" + appA + "/tickets/wx_card", shop, "", 404, "not_found"},
		{"unknown ticket type", "GET", "/v1/apps/" + appA + "/tickets/bogus", shop, "", 404, "not_found"},
		{"refresh without body", "POST", "/v1/apps/" + appA + "/access_token/refresh", shop, "", 400, "invalid"},
		{"refresh with empty stale", "POST", "/v1/apps/" + appA + "/access_token/refresh", shop, `{"stale":""}`, 400, "invalid"},
		{"refresh with another field", "POST", "/v1/apps/" + appA + "/access_token/refresh", shop, `{"stale":"x","secret":"y"}`, 400, "invalid"},
		{"refresh of a replaced token", "POST", "/v1/apps/" + appA + "/access_token/refresh", shop, `{"stale":"x"}`, 200, ""},
		{"ticket refresh of a replaced ticket", "POST", "/v1/apps/" + appA + "/tickets/jsapi/refresh", shop, `{"stale":"x"}`, 200, ""},
		{"jssdk config", "GET", "/v1/apps/" + appA + "/jssdk_config?url=" + pageURL, shop, "", 200, ""},
		{"jssdk config, bad url", "GET", "/v1/apps/" + appA + "/jssdk_config?url=ftp%3A%2F%2Fx", shop, "", 400, "invalid"},
		{"failing app, token", "GET", "/v1/apps/" + appB + "/access_token", ops, "", 503, "unavailable"},
		{"failing app, refresh", "POST", "/v1/apps/" + appB + "/access_token/refresh", ops, `{"stale":"x"}`, 503, "unavailable"},
		{"healthz", "GET", "/healthz", "", "", 200, ""},
		{"readyz with a failing app", "GET", "/readyz", "", "", 200, ""},
		{"no such route", "GET", "/v1/nothing", shop, "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/apps", ops, "", 405, "invalid"},
	} {
		a := e.mustDo(t, c.method, c.path, c.key, c.body)
		if a.status != c.status {
			t.Errorf("%s: %s %s: want HTTP %d, got %s", c.name, c.method, routeOf(c.path), c.status, a)
			continue
		}
		if c.code != "" {
			b := errorJSON{}
			if err := strictJSON(a.body, &b); err != nil || b.Error.Code != c.code || b.Error.Message == "" {
				t.Errorf("%s: want error code %q with a message, got %s", c.name, c.code, a)
			}
		}
		if c.status == 401 && a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if c.path != "/metrics" && a.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.name, a.header.Get("Content-Type"))
		}
		switch c.name {
		case "failing app, token":
			if b := apiError(t, a, 503, "unavailable"); b.Error.WeChatErrCode != 40164 {
				t.Errorf("%s: want wechat_errcode 40164, got %s", c.name, a)
			}
		case "readyz with a failing app":
			// One app that cannot be served leaves the replica ready, and
			// without a key /readyz names no app and no WeChat error.
			if strings.TrimSpace(string(a.body)) != `{"status":"ready"}` {
				t.Errorf("%s: want the status alone, got %s", c.name, a)
			}
		case "refresh of a replaced token":
			if g, err := parseGrant(a, appA, ""); err != nil || g.value != tokA.value {
				t.Errorf("%s: want the current token, got %s (%v)", c.name, a, err)
			}
		case "metrics with scraper key":
			// By default the series are aggregates, which name no app:
			// appB's failing calls show by endpoint and errcode.
			body := string(a.body)
			if !strings.Contains(body, `wxtoken_upstream_calls_total{class="ip_whitelist",endpoint="/cgi-bin/token",errcode="40164"}`) ||
				!strings.Contains(body, `wxtoken_credentials_failing{class="ip_whitelist",family="app",kind="access_token"} 1`) {
				t.Errorf("%s: the exposition lacks the failing upstream calls of %s:\n%s", c.name, appB, body)
			}
			if strings.Contains(body, appB) {
				t.Errorf("%s: the exposition names %s, though metrics.per_app is off", c.name, appB)
			}
		case "admin lists apps":
			if !strings.Contains(string(a.body), `"last_error"`) {
				t.Errorf("%s: no last_error in the status of the failing app: %s", c.name, a)
			}
		}
	}

	// Authorization schemes other than Bearer, and keys in other places
	// than the Authorization header, are refused.
	for _, c := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"basic scheme", func(r *http.Request) { r.SetBasicAuth("shop", shop) }},
		{"key without scheme", func(r *http.Request) { r.Header.Set("Authorization", shop) }},
		{"two keys", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+shop)
			r.Header.Add("Authorization", "Bearer "+ops)
		}},
		{"key in the query", func(r *http.Request) { r.URL.RawQuery = "key=" + shop + "&access_token=" + shop }},
	} {
		req, err := http.NewRequest(http.MethodGet, e.base+"/v1/apps/"+appA+"/access_token", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.set(req)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		a := answer{status: resp.StatusCode, header: resp.Header}
		a.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		e.checkNoSecret(c.name, a)
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s: want 401, got %s", c.name, a)
		}
	}

	// The log was written to: requests at debug level, and every failure
	// of appB at warn or error level. None of it holds a secret.
	logs := e.logs.String()
	for _, want := range []string{`msg="http request"`, "client=shop", "client=ops", "appid=" + appB,
		"class=transient", "class=configuration", "class=ip_whitelist",
		// The errmsg that echoed the AppSecret, with the secret redacted.
		"invalid appsecret [redacted]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the server log has no %q", want)
		}
	}
	for secret, what := range e.secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the server log contains %s", what)
		}
	}
}
