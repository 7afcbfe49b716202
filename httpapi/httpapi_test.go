package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/jssdk"
)

func TestAccessToken(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var got httpapi.TokenResponse
	decode(t, a, &got)
	want := httpapi.TokenResponse{
		AppID:       appShop,
		AccessToken: value(appShop, wxtoken.KindAccessToken),
		ExpiresIn:   7000,
		ExpiresAt:   "2025-03-01T13:56:40Z",
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if calls := e.svc.Calls(); len(calls) != 1 || calls[0] != "credential "+appShop+" access_token" {
		t.Errorf("service calls = %q", calls)
	}
}

func TestExpiresInIsWholeSecondsAndAtIsRFC3339(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		at := time.Date(2025, 3, 1, 20, 0, 0, 999_000_000, time.FixedZone("CST", 8*3600))
		return wxtoken.Grant{AppID: appID, Kind: kind, Value: "v", ExpiresIn: 1999*time.Millisecond + 7199*time.Second, ExpiresAt: at}, nil
	}}
	e := newEnv(t, svc, nil)
	var got httpapi.TokenResponse
	decode(t, e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop), &got)
	if got.ExpiresIn != 7200 {
		t.Errorf("expires_in = %d, want 7200 (whole seconds, rounded down)", got.ExpiresIn)
	}
	if got.ExpiresAt != "2025-03-01T12:00:00Z" {
		t.Errorf("expires_at = %q, want 2025-03-01T12:00:00Z", got.ExpiresAt)
	}
}

func TestRefreshAccessToken(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	a := e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/access_token/refresh", key: keyShop, body: `{"stale":"OLD"}`})
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var got httpapi.TokenResponse
	decode(t, a, &got)
	if got.AccessToken != "NEW-"+value(appShop, wxtoken.KindAccessToken) || got.ExpiresIn != 7000 || got.AppID != appShop {
		t.Errorf("got %+v", got)
	}
	if calls := e.svc.Calls(); len(calls) != 1 || calls[0] != "refresh "+appShop+" access_token OLD" {
		t.Errorf("service calls = %q", calls)
	}
}

func TestRefreshBadBodies(t *testing.T) {
	path := "/v1/apps/" + appShop + "/access_token/refresh"
	tests := []struct {
		name   string
		body   string
		header map[string]string
		want   string // part of the message
	}{
		{"missing stale", `{}`, nil, "stale is required"},
		{"empty stale", `{"stale":""}`, nil, "stale is required"},
		{"null body", `null`, nil, "stale is required"},
		{"empty body", ``, nil, "empty"},
		{"bad JSON", `{"stale":`, nil, "not valid JSON"},
		{"not JSON", `stale=abc`, nil, "not valid JSON"},
		{"array", `["abc"]`, nil, "JSON object"},
		{"stale not a string", `{"stale":42}`, nil, "stale must be a string"},
		{"unknown field", `{"stale":"a","force":true}`, nil, "unknown field"},
		{"trailing data", `{"stale":"a"} {"stale":"b"}`, nil, "one JSON object"},
		{"oversize", `{"stale":"` + strings.Repeat("x", 5000) + `"}`, nil, "larger than 4096 bytes"},
		{"oversize after a valid object", `{"stale":"a"}` + strings.Repeat(" ", 5000) + `x`, nil, "larger than 4096 bytes"},
		{"form content type", `{"stale":"a"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"},
		{"bad content type", `{"stale":"a"}`, map[string]string{"Content-Type": ";;"}, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, &stub{}, nil)
			a := e.do(t, req{method: http.MethodPost, path: path, key: keyShop, body: tt.body, header: tt.header})
			if tt.body == "" {
				// do sends no body and no Content-Type for "".
				a = e.do(t, req{method: http.MethodPost, path: path, key: keyShop})
			}
			eb := wantError(t, a, http.StatusBadRequest, wxtoken.EInvalid)
			if !strings.Contains(eb.Message, tt.want) {
				t.Errorf("message %q does not say %q", eb.Message, tt.want)
			}
			if strings.Contains(a.body, "xxxx") {
				t.Error("the body was echoed")
			}
			if calls := e.svc.Calls(); len(calls) != 0 {
				t.Errorf("a bad request reached the service: %q", calls)
			}
		})
	}
}

func TestRefreshAcceptsJSONContentTypes(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json"} {
		a := e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/access_token/refresh", key: keyShop,
			body: `{"stale":"OLD"}`, header: map[string]string{"Content-Type": ct}})
		if a.status != http.StatusOK {
			t.Errorf("Content-Type %q: status %d: %s", ct, a.status, a.body)
		}
	}
}

func TestMaxBodyBytesOption(t *testing.T) {
	e := newEnv(t, &stub{}, func(o *httpapi.Options) { o.MaxBodyBytes = 20 })
	a := e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/access_token/refresh", key: keyShop, body: `{"stale":"0123456789abcdef"}`})
	eb := wantError(t, a, http.StatusBadRequest, wxtoken.EInvalid)
	if !strings.Contains(eb.Message, "20 bytes") {
		t.Errorf("message %q does not give the limit", eb.Message)
	}
}

func TestTickets(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	for _, kind := range wxtoken.FamilyApp.Tickets() {
		a := e.get(t, "/v1/apps/"+appShop+"/tickets/"+string(kind), keyShop)
		if a.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", kind, a.status, a.body)
		}
		wantJSON(t, a)
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		var got httpapi.TicketResponse
		decode(t, a, &got)
		want := httpapi.TicketResponse{AppID: appShop, Type: kind, Ticket: value(appShop, kind), ExpiresIn: 7000, ExpiresAt: "2025-03-01T13:56:40Z"}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}

		a = e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/tickets/" + string(kind) + "/refresh", key: keyShop, body: `{"stale":"T"}`})
		if a.status != http.StatusOK {
			t.Fatalf("%s refresh: status %d: %s", kind, a.status, a.body)
		}
		decode(t, a, &got)
		if got.Ticket != "NEW-"+value(appShop, kind) || got.Type != kind {
			t.Errorf("refresh: got %+v", got)
		}
	}
	want := []string{
		"credential " + appShop + " jsapi", "refresh " + appShop + " jsapi T",
		"credential " + appShop + " wx_card", "refresh " + appShop + " wx_card T",
	}
	if calls := e.svc.Calls(); fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("service calls = %q, want %q", calls, want)
	}
}

func TestTicketErrors(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		if kind == wxtoken.KindWxCard {
			return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "app %s keeps no wx_card ticket", appID)
		}
		return grant(appID, kind), nil
	}}
	e := newEnv(t, svc, nil)
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/tickets/wx_card", keyShop), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/tickets/access_token", keyShop), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/tickets/bogus", keyShop), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/tickets/bogus/refresh", key: keyShop, body: `{"stale":"x"}`}),
		http.StatusNotFound, wxtoken.ENotFound)
	// Unknown types are decided after the key: no key learns nothing.
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/tickets/bogus", ""), http.StatusUnauthorized, wxtoken.EUnauthorized)
}

func TestJSSDKConfig(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	page := "https://shop.example.com/pay?order=42&from=menu"
	a := e.get(t, "/v1/apps/"+appShop+"/jssdk_config?url="+url.QueryEscape(page+"#section"), keyShop)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var cfg jssdk.Config
	decode(t, a, &cfg)
	if cfg.AppID != appShop || cfg.URL != page || cfg.Timestamp != t0.Unix() || len(cfg.NonceStr) != jssdk.NonceLength {
		t.Errorf("config = %+v", cfg)
	}
	if want := jssdk.Sign(value(appShop, wxtoken.KindJSAPITicket), cfg.NonceStr, cfg.Timestamp, page); cfg.Signature != want {
		t.Errorf("signature = %s, want %s", cfg.Signature, want)
	}
	if !strings.Contains(a.body, `"timestamp":1740830400`) {
		t.Errorf("timestamp is not an integer: %s", a.body)
	}
	if calls := e.svc.Calls(); len(calls) != 1 || calls[0] != "credential "+appShop+" jsapi" {
		t.Errorf("service calls = %q", calls)
	}
}

func TestJSSDKConfigBadURL(t *testing.T) {
	base := "/v1/apps/" + appShop + "/jssdk_config"
	tests := []struct{ name, query string }{
		{"missing", ""},
		{"empty", "?url="},
		{"relative", "?url=" + url.QueryEscape("/pay?order=42")},
		{"not http", "?url=" + url.QueryEscape("ftp://example.com/")},
		{"no host", "?url=" + url.QueryEscape("https:///pay")},
		{"spaces", "?url=" + url.QueryEscape("https://example.com/a b")},
		{"not percent-encoded", "?url=https://example.com/pay?order=42&from=menu"},
		{"twice", "?url=" + url.QueryEscape("https://a.example.com/") + "&url=" + url.QueryEscape("https://b.example.com/")},
		{"malformed query", "?url=%zz"},
		{"too long", "?url=" + url.QueryEscape("https://example.com/"+strings.Repeat("a", jssdk.MaxURLLength))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, &stub{}, nil)
			wantError(t, e.get(t, base+tt.query, keyShop), http.StatusBadRequest, wxtoken.EInvalid)
			if calls := e.svc.Calls(); len(calls) != 0 {
				t.Errorf("a bad url reached the service: %q", calls)
			}
		})
	}
}

func TestJSSDKConfigNeedsTheJSAPITicket(t *testing.T) {
	svc := &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "this app keeps no jsapi ticket")
	}}
	e := newEnv(t, svc, nil)
	wantError(t, e.get(t, "/v1/apps/"+appShop+"/jssdk_config?url="+url.QueryEscape("https://example.com/"), keyShop),
		http.StatusNotFound, wxtoken.ENotFound)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	path := "/v1/apps/" + appShop + "/access_token"
	tests := []struct {
		name   string
		values []string // Authorization header values
	}{
		{"none", nil},
		{"unknown key", []string{"Bearer " + keyUnknown}},
		{"the hash instead of the key", []string{"Bearer " + sha(keyShop)}},
		{"basic scheme", []string{"Basic " + keyShop}},
		{"no key", []string{"Bearer"}},
		{"empty key", []string{"Bearer    "}},
		{"no space", []string{"Bearer" + keyShop}},
		{"two words", []string{"Bearer " + keyShop + " extra"}},
		{"bare key", []string{keyShop}},
		{"two headers", []string{"Bearer " + keyShop, "Bearer " + keyShop}},
		{"too long", []string{"Bearer " + strings.Repeat("k", 1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
			for _, v := range tt.values {
				r.Header.Add("Authorization", v)
			}
			resp, err := e.srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			a := answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
			wantError(t, a, http.StatusUnauthorized, wxtoken.EUnauthorized)
			if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
			}
		})
	}
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("unauthenticated requests reached the service: %q", calls)
	}

	// The scheme is case-insensitive, and extra spaces before the key
	// are tolerated.
	for _, v := range []string{"bearer " + keyShop, "BEARER  " + keyShop} {
		a := e.do(t, req{path: path, header: map[string]string{"Authorization": v}})
		if a.status != http.StatusOK {
			t.Errorf("Authorization %q: status %d", strings.Replace(v, keyShop, "<key>", 1), a.status)
		}
	}
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	tests := []struct {
		name   string
		key    string
		app    string
		status int
	}{
		{"granted", keyShop, appShop, http.StatusOK},
		{"configured, not granted", keyShop, appOther, http.StatusForbidden},
		// A key granted neither cannot tell an unknown app from one it
		// was not granted.
		{"unknown app, narrow key", keyShop, appNone, http.StatusForbidden},
		{"unknown app, scraper key", keyScraper, appNone, http.StatusForbidden},
		{"configured, scraper key", keyScraper, appShop, http.StatusForbidden},
		// Keys that may see every app are told it does not exist.
		{"wildcard, configured", keyAll, appOther, http.StatusOK},
		{"wildcard, unknown app", keyAll, appNone, http.StatusNotFound},
		{"admin, unknown app", keyAdmin, appNone, http.StatusNotFound},
		// Admin lists status but reads no token it was not granted.
		{"admin, configured, not granted", keyAdmin, appShop, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{
				"/v1/apps/" + tt.app + "/access_token",
				"/v1/apps/" + tt.app + "/tickets/jsapi",
				"/v1/apps/" + tt.app + "/jssdk_config?url=" + url.QueryEscape("https://example.com/"),
			} {
				a := e.get(t, path, tt.key)
				switch tt.status {
				case http.StatusOK:
					if a.status != http.StatusOK {
						t.Errorf("%s: status %d: %s", path, a.status, a.body)
					}
				case http.StatusForbidden:
					wantError(t, a, http.StatusForbidden, wxtoken.EForbidden)
				case http.StatusNotFound:
					wantError(t, a, http.StatusNotFound, wxtoken.ENotFound)
				}
			}
			a := e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + tt.app + "/access_token/refresh", key: tt.key, body: `{"stale":"x"}`})
			if a.status != tt.status {
				t.Errorf("refresh: status %d, want %d: %s", a.status, tt.status, a.body)
			}
		})
	}
}

func TestAuthorizationAnExplicitGrantMaySeeNotFound(t *testing.T) {
	// A key granted an appid by name is told when that app is not (or no
	// longer) configured: it names the app, so it learns nothing new.
	e := newEnv(t, &stub{}, func(o *httpapi.Options) {
		o.Clients = append(o.Clients, clientkey.Client{Name: "stale-grant", KeySHA256: sha(keyUnknown), Apps: []string{appNone}})
	})
	wantError(t, e.get(t, "/v1/apps/"+appNone+"/access_token", keyUnknown), http.StatusNotFound, wxtoken.ENotFound)
}

func TestListApps(t *testing.T) {
	exp := t0.Add(time.Hour)
	status := []wxtoken.AppStatus{{
		AppID: appShop, Name: "shop", TokenAPI: wxtoken.TokenAPIStable, UpstreamCallsToday: 3,
		Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &exp,
			LastError: &wxtoken.ErrorInfo{ErrCode: 40164, Class: "whitelist", Message: "invalid ip", Hint: "add the IP", At: t0}}},
	}}
	e := newEnv(t, &stub{status: status}, nil)

	a := e.get(t, "/v1/apps", keyAdmin)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	wantJSON(t, a)
	var got httpapi.AppsResponse
	decode(t, a, &got)
	if len(got.Apps) != 1 || got.Apps[0].AppID != appShop || got.Apps[0].Credentials[0].LastError.ErrCode != 40164 ||
		!got.Apps[0].Credentials[0].ExpiresAt.Equal(exp) {
		t.Errorf("apps = %+v", got.Apps)
	}

	wantError(t, e.get(t, "/v1/apps", keyAll), http.StatusForbidden, wxtoken.EForbidden)
	wantError(t, e.get(t, "/v1/apps", keyShop), http.StatusForbidden, wxtoken.EForbidden)
	wantError(t, e.get(t, "/v1/apps", ""), http.StatusUnauthorized, wxtoken.EUnauthorized)

	empty := newEnv(t, &stub{}, nil)
	if a := empty.get(t, "/v1/apps", keyAdmin); a.body != `{"apps":[]}`+"\n" {
		t.Errorf("no apps: body %q, want an empty list", a.body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	svc := &stub{}
	e := newEnv(t, svc, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		a := e.get(t, path, "")
		if a.status != http.StatusOK {
			t.Errorf("%s: status %d", path, a.status)
		}
		wantJSON(t, a)
	}
	if a := e.get(t, "/healthz", ""); a.body != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz body %q", a.body)
	}
	if a := e.get(t, "/readyz", ""); a.body != `{"status":"ready"}`+"\n" {
		t.Errorf("readyz body %q", a.body)
	}

	svc.notReady = []string{"the shared store has not answered since the start"}
	// Without a key, and with a key that is not an admin's, only the
	// status: the reasons are for operators.
	for _, key := range []string{"", keyShop} {
		a := e.get(t, "/readyz", key)
		if a.status != http.StatusServiceUnavailable {
			t.Fatalf("not ready, key %q: status %d", key, a.status)
		}
		wantJSON(t, a)
		if a.body != `{"status":"not_ready"}`+"\n" {
			t.Errorf("not ready, key %q: body %q, want the status alone", key, a.body)
		}
	}
	a := e.get(t, "/readyz", keyAdmin)
	var got httpapi.ReadinessResponse
	decode(t, a, &got)
	if a.status != http.StatusServiceUnavailable || got.Status != "not_ready" || len(got.Reasons) != 1 || got.Reasons[0] != svc.notReady[0] {
		t.Errorf("not ready, admin key: %d %+v", a.status, got)
	}
	if a := e.get(t, "/readyz", keyUnknown); a.status != http.StatusUnauthorized {
		t.Errorf("readyz with an unknown key: status %d, want 401", a.status)
	}
	// The health routes need no key and take none amiss.
	if a := e.get(t, "/healthz", keyUnknown); a.status != http.StatusOK {
		t.Errorf("healthz with an unknown key: status %d", a.status)
	}
}

// healthStub is a Service that also reports its Health.
type healthStub struct {
	*mock.Service
	health wxtoken.Health
}

func (s healthStub) Health(context.Context) wxtoken.Health { return s.health }

// The detail of /readyz, apps that cannot be served and WeChat's error
// text with the server's IP, goes to an admin key only; one app that
// cannot be served leaves the replica ready.
func TestReadinessDetail(t *testing.T) {
	until := t0.Add(5 * time.Minute)
	down := t0.Add(-time.Minute)
	st := &stub{}
	hs := healthStub{Service: st.service(), health: wxtoken.Health{
		Ready: true,
		Store: &wxtoken.StoreHealth{Reachable: false, Loaded: true, DownSince: &down, Error: "dial tcp 10.0.0.5:6379: connection refused"},
		Apps: []wxtoken.AppHealth{{AppID: appOther, Unservable: []wxtoken.Kind{wxtoken.KindAccessToken}, BlockedUntil: &until,
			LastError: &wxtoken.ErrorInfo{ErrCode: 40164, Class: "ip_whitelist", Message: "invalid ip 203.0.113.7", Hint: "add 203.0.113.7 to the whitelist", At: t0}}},
	}}
	e := newEnv(t, st, func(o *httpapi.Options) { o.Service = hs; o.Replica = "api-2" })
	for _, key := range []string{"", keyShop} {
		a := e.get(t, "/readyz", key)
		if a.status != http.StatusOK || a.body != `{"status":"ready"}`+"\n" {
			t.Errorf("key %q: %d %q, want 200 and the status alone", key, a.status, a.body)
		}
	}
	a := e.get(t, "/readyz", keyAdmin)
	if a.status != http.StatusOK {
		t.Fatalf("admin key: status %d", a.status)
	}
	var got httpapi.ReadinessResponse
	decode(t, a, &got)
	want := httpapi.ReadinessResponse{Status: "ready", Replica: "api-2", Store: hs.health.Store, Apps: hs.health.Apps}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("admin key: %+v\nwant %+v", got, want)
	}
	if !strings.Contains(a.body, "203.0.113.7") {
		t.Errorf("the detail lacks the hint: %s", a.body)
	}
	// Not ready: the same rules.
	hs.health.Ready, hs.health.Reasons = false, []string{"shutting down"}
	e = newEnv(t, st, func(o *httpapi.Options) { o.Service = hs })
	if a := e.get(t, "/readyz", ""); a.status != http.StatusServiceUnavailable || a.body != `{"status":"not_ready"}`+"\n" {
		t.Errorf("not ready, no key: %d %q", a.status, a.body)
	}
	if a := e.get(t, "/readyz", keyAdmin); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"reasons":["shutting down"]`) {
		t.Errorf("not ready, admin key: %d %q", a.status, a.body)
	}
}

func TestMetricsRoute(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop)
	e.get(t, "/v1/apps/"+appShop+"/nonsense", keyShop)

	wantError(t, e.get(t, "/metrics", ""), http.StatusUnauthorized, wxtoken.EUnauthorized)
	wantError(t, e.get(t, "/metrics", keyUnknown), http.StatusUnauthorized, wxtoken.EUnauthorized)

	a := e.get(t, "/metrics", keyScraper)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the text exposition format", ct)
	}
	for _, s := range []string{
		`wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="200"} 1`,
		`wxtoken_http_requests_total{route="unmatched",status="404"} 1`,
		`wxtoken_http_requests_total{route="GET /metrics",status="401"} 2`,
		`wxtoken_http_request_duration_seconds_count{route="GET /v1/apps/{appid}/access_token"} 1`,
	} {
		if !strings.Contains(a.body, s) {
			t.Errorf("exposition lacks %s", s)
		}
	}
	// Routes are patterns, never paths.
	if strings.Contains(a.body, "nonsense") || strings.Contains(a.body, `route="/v1`) {
		t.Error("a raw path reached a metric label")
	}
}

func TestNoMetrics(t *testing.T) {
	e := newEnv(t, &stub{}, func(o *httpapi.Options) { o.Metrics = nil })
	wantError(t, e.get(t, "/metrics", keyScraper), http.StatusNotFound, wxtoken.ENotFound)
	if a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop); a.status != http.StatusOK {
		t.Errorf("without metrics: status %d", a.status)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	for _, path := range []string{"/", "/v1", "/v1/apps/" + appShop + "/access_token/", "/v2/apps", "/v1/apps/" + appShop + "/tickets", "/v1//apps"} {
		a := e.get(t, path, keyAll)
		wantError(t, a, http.StatusNotFound, wxtoken.ENotFound)
		if a.header.Get("Location") != "" {
			t.Errorf("%s: a redirect leaked into a 404", path)
		}
	}
	tests := []struct{ method, path, allow string }{
		{http.MethodDelete, "/v1/apps/" + appShop + "/access_token", "GET, HEAD"},
		{http.MethodPost, "/v1/apps/" + appShop + "/access_token", "GET, HEAD"},
		{http.MethodGet, "/v1/apps/" + appShop + "/access_token/refresh", "POST"},
		{http.MethodGet, "/v1/apps/" + appShop + "/tickets/jsapi/refresh", "POST"},
		{http.MethodPut, "/healthz", "GET, HEAD"},
		{http.MethodPatch, "/v1/apps", "GET, HEAD, POST"},
		// An app's own path serves only the registration routes.
		{http.MethodGet, "/v1/apps/" + appShop, "DELETE, PUT"},
	}
	for _, tt := range tests {
		a := e.do(t, req{method: tt.method, path: tt.path, key: keyAll})
		wantError(t, a, http.StatusMethodNotAllowed, wxtoken.EInvalid)
		if got := a.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("unrouted requests reached the service: %q", calls)
	}
}

// retryAfterError is what the engine wraps in a rate-limit error to have
// Retry-After sent.
type retryAfterError struct{ d time.Duration }

func (e retryAfterError) Error() string             { return "retry later" }
func (e retryAfterError) RetryAfter() time.Duration { return e.d }

func TestServiceErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		code       wxtoken.Code
		errcode    int
		retryAfter string
		message    string
	}{
		{"rate limited", &wxtoken.Error{Code: wxtoken.ERateLimited, Message: "refresh asked too often", Err: retryAfterError{1500 * time.Millisecond}},
			http.StatusTooManyRequests, wxtoken.ERateLimited, 0, "2", "refresh asked too often"},
		{"rate limited, no hint", wxtoken.Errorf(wxtoken.ERateLimited, "force_refresh budget spent"),
			http.StatusTooManyRequests, wxtoken.ERateLimited, 0, "", "force_refresh budget spent"},
		{"risk confirmation", &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "an admin must confirm", WeChatErrCode: 89503},
			http.StatusServiceUnavailable, wxtoken.EUnavailable, 89503, "", "an admin must confirm"},
		{"blocked with a hint", fmt.Errorf("engine: %w", &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "daily quota spent", WeChatErrCode: 45009, Err: retryAfterError{time.Hour}}),
			http.StatusServiceUnavailable, wxtoken.EUnavailable, 45009, "3600", "daily quota spent"},
		{"invalid", wxtoken.Errorf(wxtoken.EInvalid, "bad"), http.StatusBadRequest, wxtoken.EInvalid, 0, "", "bad"},
		{"not found", wxtoken.Errorf(wxtoken.ENotFound, "nope"), http.StatusNotFound, wxtoken.ENotFound, 0, "", "nope"},
		{"internal", &wxtoken.Error{Code: wxtoken.EInternal, Message: "store unavailable", Err: errors.New("bolt: disk I/O")},
			http.StatusInternalServerError, wxtoken.EInternal, 0, "", "store unavailable"},
		{"plain error", errors.New("bolt: open /var/lib/wxtoken.db: permission denied"),
			http.StatusInternalServerError, wxtoken.EInternal, 0, "", "internal error"},
		{"unknown code", &wxtoken.Error{Code: "weird", Message: "what"}, http.StatusInternalServerError, wxtoken.EInternal, 0, "", "internal error"},
		{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, wxtoken.EUnavailable, 0, "", "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &stub{
				credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return wxtoken.Grant{}, tt.err },
				refresh: func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) {
					return wxtoken.Grant{}, tt.err
				},
			}
			e := newEnv(t, svc, nil)
			for _, a := range []answer{
				e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop),
				e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/tickets/jsapi/refresh", key: keyShop, body: `{"stale":"x"}`}),
				e.get(t, "/v1/apps/"+appShop+"/jssdk_config?url="+url.QueryEscape("https://example.com/"), keyShop),
			} {
				eb := wantError(t, a, tt.status, tt.code)
				if eb.WeChatErrCode != tt.errcode {
					t.Errorf("wechat_errcode = %d, want %d", eb.WeChatErrCode, tt.errcode)
				}
				if !strings.Contains(eb.Message, tt.message) {
					t.Errorf("message %q, want %q", eb.Message, tt.message)
				}
				if got := a.header.Get("Retry-After"); got != tt.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
				}
				if strings.Contains(a.body, "bolt") || strings.Contains(a.body, "retry later") {
					t.Errorf("an internal cause reached the caller: %s", a.body)
				}
			}
		})
	}
}

func TestUnusableGrantIsNotHandedOut(t *testing.T) {
	for name, g := range map[string]wxtoken.Grant{
		"empty value":      {Value: "", ExpiresIn: time.Hour, ExpiresAt: t0.Add(time.Hour)},
		"no lifetime":      {Value: "v", ExpiresIn: 0, ExpiresAt: t0},
		"under one second": {Value: "v", ExpiresIn: 999 * time.Millisecond, ExpiresAt: t0.Add(time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			svc := &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return g, nil }}
			e := newEnv(t, svc, nil)
			wantError(t, e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop), http.StatusServiceUnavailable, wxtoken.EUnavailable)
			wantError(t, e.get(t, "/v1/apps/"+appShop+"/jssdk_config?url="+url.QueryEscape("https://example.com/"), keyShop),
				http.StatusServiceUnavailable, wxtoken.EUnavailable)
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		if kind == wxtoken.KindAccessToken {
			panic("engine bug")
		}
		return grant(appID, kind), nil
	}}
	e := newEnv(t, svc, nil)
	a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop)
	eb := wantError(t, a, http.StatusInternalServerError, wxtoken.EInternal)
	if strings.Contains(a.body, "engine bug") {
		t.Error("the panic value reached the caller")
	}
	if eb.Message != "internal error" {
		t.Errorf("message = %q", eb.Message)
	}
	// The server lives on.
	if a := e.get(t, "/v1/apps/"+appShop+"/tickets/jsapi", keyShop); a.status != http.StatusOK {
		t.Errorf("after a panic: status %d", a.status)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "panic serving request") || !strings.Contains(logs, "engine bug") {
		t.Errorf("the panic was not logged:\n%s", logs)
	}
	m := e.get(t, "/metrics", keyScraper)
	if !strings.Contains(m.body, `wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="500"} 1`) {
		t.Error("the panicked request was not counted")
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop)
	e.get(t, "/v1/apps/"+appOther+"/access_token", keyShop)
	logs := e.logs.String()
	for _, s := range []string{
		`route="GET /v1/apps/{appid}/access_token" status=200`,
		`client=shop`,
		`status=403`,
		`code=forbidden`,
		`took=`,
	} {
		if !strings.Contains(logs, s) {
			t.Errorf("log lacks %s:\n%s", s, logs)
		}
	}
	if strings.Contains(logs, keyShop) || strings.Contains(logs, "VALUE-") {
		t.Errorf("a key or credential reached the log:\n%s", logs)
	}
}

// TestSecretsStaySecret drives every route with a client key and a
// Service whose errors carry an AppSecret in their cause, and checks that
// neither reaches any answer, the metrics or (for the key) the log.
func TestSecretsStaySecret(t *testing.T) {
	const appSecret = "0123456789abcdef0123456789abcdef"
	cause := fmt.Errorf("GET https://api.weixin.qq.com/cgi-bin/token?appid=%s&secret=%s: %w", appShop, appSecret, errors.New("dial tcp: i/o timeout"))
	errs := []error{
		&wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat is not answering", WeChatErrCode: -1, Err: cause},
		&wxtoken.Error{Code: wxtoken.ERateLimited, Message: "refresh asked too often", Err: cause},
		&wxtoken.Error{Code: wxtoken.EInternal, Message: "store failed", Err: cause},
		cause,
	}
	for i, serr := range errs {
		svc := &stub{
			credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return wxtoken.Grant{}, serr },
			refresh: func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) {
				return wxtoken.Grant{}, serr
			},
			notReady: []string{appShop + ": access_token missing"},
			status:   []wxtoken.AppStatus{{AppID: appShop}},
		}
		e := newEnv(t, svc, nil)
		e.metrics.WatchStatus(svc.service().Status)
		var answers []answer
		for _, key := range []string{keyShop, keyAdmin, keyScraper, keyUnknown, ""} {
			for _, q := range []req{
				{path: "/v1/apps/" + appShop + "/access_token"},
				{path: "/v1/apps/" + appOther + "/access_token"},
				{path: "/v1/apps/" + appNone + "/access_token"},
				{method: http.MethodPost, path: "/v1/apps/" + appShop + "/access_token/refresh", body: `{"stale":"x"}`},
				{path: "/v1/apps/" + appShop + "/tickets/jsapi"},
				{method: http.MethodPost, path: "/v1/apps/" + appShop + "/tickets/wx_card/refresh", body: `{"stale":"x"}`},
				{path: "/v1/apps/" + appShop + "/jssdk_config?url=" + url.QueryEscape("https://example.com/")},
				{path: "/v1/apps"},
				{path: "/healthz"},
				{path: "/readyz"},
				{path: "/nowhere"},
				{method: http.MethodDelete, path: "/v1/apps"},
				{path: "/metrics"},
			} {
				q.key = key
				answers = append(answers, e.do(t, q))
			}
		}
		answers = append(answers, e.get(t, "/metrics", keyScraper))
		for _, a := range answers {
			for _, secret := range []string{appSecret, keyShop, keyAdmin, keyScraper, keyUnknown, sha(keyShop)} {
				if strings.Contains(a.body, secret) || strings.Contains(fmt.Sprint(a.header), secret) {
					t.Fatalf("error %d: an answer (status %d) holds a secret: %s", i, a.status, a.body)
				}
			}
		}
		logs := e.logs.String()
		for _, key := range []string{keyShop, keyAdmin, keyScraper, keyUnknown} {
			if strings.Contains(logs, key) {
				t.Fatalf("error %d: a client key reached the log", i)
			}
		}
	}
}

func TestContentTypes(t *testing.T) {
	e := newEnv(t, &stub{notReady: []string{"x"}}, nil)
	for _, q := range []req{
		{path: "/v1/apps/" + appShop + "/access_token", key: keyShop},
		{method: http.MethodPost, path: "/v1/apps/" + appShop + "/access_token/refresh", key: keyShop, body: `{"stale":"x"}`},
		{path: "/v1/apps/" + appShop + "/tickets/jsapi", key: keyShop},
		{method: http.MethodPost, path: "/v1/apps/" + appShop + "/tickets/jsapi/refresh", key: keyShop, body: `{"stale":"x"}`},
		{path: "/v1/apps/" + appShop + "/jssdk_config?url=" + url.QueryEscape("https://example.com/"), key: keyShop},
		{path: "/v1/apps", key: keyAdmin},
		{path: "/v1/apps", key: keyShop},
		{path: "/v1/apps"},
		{path: "/healthz"},
		{path: "/readyz"},
		{path: "/nowhere"},
		{method: http.MethodPatch, path: "/healthz"},
		{path: "/metrics"},
	} {
		a := e.do(t, q)
		wantJSON(t, a)
		if a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: no Cache-Control: no-store", q.method, q.path)
		}
		if a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no X-Content-Type-Options: nosniff", q.method, q.path)
		}
	}
}

func TestStatusTable(t *testing.T) {
	table := map[wxtoken.Code]int{
		wxtoken.EInvalid:      400,
		wxtoken.EUnauthorized: 401,
		wxtoken.EForbidden:    403,
		wxtoken.ENotFound:     404,
		wxtoken.ERateLimited:  429,
		wxtoken.EUnavailable:  503,
		wxtoken.EInternal:     500,
	}
	for code, status := range table {
		if got := httpapi.StatusOf(code); got != status {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, status)
		}
		if got := httpapi.CodeOf(status); got != code {
			t.Errorf("CodeOf(%d) = %s, want %s", status, got, code)
		}
	}
	for code, status := range map[wxtoken.Code]int{"": 500, "weird": 500} {
		if got := httpapi.StatusOf(code); got != status {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, status)
		}
	}
	for status, code := range map[int]wxtoken.Code{
		405: wxtoken.EInvalid, 413: wxtoken.EInvalid, 408: wxtoken.EUnavailable, 502: wxtoken.EUnavailable, 504: wxtoken.EUnavailable,
		200: wxtoken.EInternal, 302: wxtoken.EInternal, 0: wxtoken.EInternal,
	} {
		if got := httpapi.CodeOf(status); got != code {
			t.Errorf("CodeOf(%d) = %s, want %s", status, got, code)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := testClients()
	tests := []struct {
		name string
		opts httpapi.Options
	}{
		{"no service", httpapi.Options{Clients: good}},
		{"key instead of hash", httpapi.Options{Service: &mock.Service{}, Clients: []clientkey.Client{{Name: "a", KeySHA256: keyShop}}}},
		{"short hash", httpapi.Options{Service: &mock.Service{}, Clients: []clientkey.Client{{Name: "a", KeySHA256: sha(keyShop)[:62]}}}},
		{"duplicate", httpapi.Options{Service: &mock.Service{}, Clients: []clientkey.Client{
			{Name: "a", KeySHA256: sha(keyShop)}, {Name: "b", KeySHA256: strings.ToUpper(sha(keyShop))},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.New(tt.opts)
			if err == nil {
				t.Fatal("New accepted bad options")
			}
			if strings.Contains(err.Error(), keyShop) || strings.Contains(err.Error(), sha(keyShop)[:62]) {
				t.Errorf("the error quotes the key or hash: %v", err)
			}
		})
	}
	// Upper-case hex is a valid hash.
	if _, err := httpapi.New(httpapi.Options{Service: &mock.Service{}, Clients: []clientkey.Client{{Name: "a", KeySHA256: strings.ToUpper(sha(keyShop))}}}); err != nil {
		t.Errorf("upper-case hash: %v", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	done := make(chan struct{})
	for i := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			key := []string{keyShop, keyAll, keyUnknown}[i%3]
			for range 20 {
				r, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/apps/"+appShop+"/access_token", nil)
				r.Header.Set("Authorization", "Bearer "+key)
				resp, err := e.srv.Client().Do(r)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range 16 {
		<-done
	}
	m := e.get(t, "/metrics", keyScraper)
	for _, s := range []string{
		`wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="200"} 220`,
		`wxtoken_http_requests_total{route="GET /v1/apps/{appid}/access_token",status="401"} 100`,
	} {
		if !strings.Contains(m.body, s) {
			t.Errorf("exposition lacks %s", s)
		}
	}
}

func TestAbortHandlerDropsTheConnection(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		if kind == wxtoken.KindAccessToken {
			panic(http.ErrAbortHandler)
		}
		return grant(appID, kind), nil
	}}
	e := newEnv(t, svc, nil)
	r, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/apps/"+appShop+"/access_token", nil)
	r.Header.Set("Authorization", "Bearer "+keyShop)
	if resp, err := e.srv.Client().Do(r); err == nil {
		resp.Body.Close()
		t.Fatalf("an aborted answer arrived: status %d", resp.StatusCode)
	}
	if a := e.get(t, "/v1/apps/"+appShop+"/tickets/jsapi", keyShop); a.status != http.StatusOK {
		t.Errorf("after an abort: status %d", a.status)
	}
}
