package ui_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/ui"
)

func at(t time.Time) *time.Time { return &t }

// oneOfEach is an app, a WeCom agent, a platform and one of its
// authorizers, the authorizer failing.
func oneOfEach() []wxtoken.AppStatus {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return []wxtoken.AppStatus{
		{AppID: "wxapp", Family: wxtoken.FamilyApp, Name: "shop", UpstreamCallsToday: 3,
			Quota: &wxtoken.QuotaStatus{CGIPath: "/cgi-bin/stable_token", DailyLimit: 2000, Used: 3, Remain: 1997, CheckedAt: now.Add(-time.Minute)}, Credentials: []wxtoken.CredentialStatus{
				{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: at(now.Add(90 * time.Minute)), NextRefreshAt: at(now.Add(time.Hour)), Version: 4},
				{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateStale, ExpiresAt: at(now.Add(5 * time.Minute)), LeaseHolder: "replica-b"},
			}},
		{AppID: "wwcorp/1000002", Family: wxtoken.FamilyWeCom, CorpID: "wwcorp", AgentID: "1000002", Name: "corp", Credentials: []wxtoken.CredentialStatus{
			{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: at(now.Add(time.Hour))},
		}},
		{AppID: "wxcomp", Family: wxtoken.FamilyComponent, Credentials: []wxtoken.CredentialStatus{
			{Kind: wxtoken.KindVerifyTicket, State: wxtoken.StateFresh},
			{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh},
		}},
		{AppID: "wxcomp:wxauth", Family: wxtoken.FamilyAuthorizer, ComponentAppID: "wxcomp", AuthorizerAppID: "wxauth", Credentials: []wxtoken.CredentialStatus{
			{Kind: wxtoken.KindAccessToken, State: wxtoken.StateExpired, LastError: &wxtoken.ErrorInfo{
				ErrCode: 61023, Class: "authorization", Message: "invalid refresh token", Hint: "the account must authorize the platform again", At: now.Add(-time.Minute)}},
		}},
	}
}

func TestSignInWithAdminKeySetsAStrictSessionCookie(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", overTLS), func(t *testing.T) {
			p := newPage(t, oneOfEach())
			hdr := map[string]string{}
			if overTLS {
				hdr["tls"] = "1"
			}
			resp := p.do(http.MethodPost, "/ui/login", url.Values{"key": {adminKey}}, nil, hdr)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
				t.Fatalf("sign-in: HTTP %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
			}
			var c *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == ui.CookieName {
					c = ck
				}
			}
			if c == nil {
				t.Fatal("no session cookie")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure != overTLS {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /ui/, Secure=%v", c.HttpOnly, c.SameSite, c.Path, c.Secure, overTLS)
			}
			if want := p.clock.Now().Add(ui.DefaultSessionTTL); !c.Expires.Equal(want) || c.MaxAge != int(ui.DefaultSessionTTL/time.Second) {
				t.Errorf("cookie expires %v max-age %d; want %v and %d", c.Expires, c.MaxAge, want, int(ui.DefaultSessionTTL/time.Second))
			}
			if len(c.Value) != 43 || strings.Contains(c.Value, adminKey) {
				t.Errorf("cookie value %q: want 32 random bytes in base64url", c.Value)
			}
			body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
			if !strings.Contains(body, adminName) || !strings.Contains(body, `data-id="wxapp"`) {
				t.Errorf("the status page does not show the client and the app:\n%s", body)
			}
			if logs := p.logs.String(); !strings.Contains(logs, "signed in") || !strings.Contains(logs, adminName) {
				t.Errorf("the sign-in is not logged with the client's name:\n%s", logs)
			}
		})
	}
}

func TestSignInRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		form   url.Values
		hdr    map[string]string
		status int
	}{
		{"wrong key", "/ui/login", url.Values{"key": {"wxt_not-a-configured-key"}}, nil, http.StatusUnauthorized},
		{"empty key", "/ui/login", url.Values{"key": {""}}, nil, http.StatusUnauthorized},
		{"not an admin key", "/ui/login", url.Values{"key": {readerKey}}, nil, http.StatusForbidden},
		{"key in the URL is never read", "/ui/login?key=" + adminKey, url.Values{}, nil, http.StatusUnauthorized},
		{"from another site", "/ui/login", url.Values{"key": {adminKey}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"from another origin", "/ui/login", url.Values{"key": {adminKey}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPage(t, oneOfEach())
			resp := p.do(http.MethodPost, tc.target, tc.form, nil, tc.hdr)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("HTTP %d, want %d\n%s", resp.StatusCode, tc.status, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("a refused sign-in set cookies: %v", resp.Cookies())
			}
			for _, secret := range append(tc.form["key"], adminKey, readerKey) {
				if secret != "" && (strings.Contains(body, secret) || strings.Contains(p.logs.String(), secret)) {
					t.Errorf("a key is in the page or the log")
				}
			}
		})
	}
}

// statusCookie signs in and reads the status page's CSRF token.
func statusCookie(t *testing.T, p *page) (*http.Cookie, string) {
	t.Helper()
	c := p.signIn(t, adminKey)
	body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	return c, csrfOf(t, body)
}

func TestActionsRefuseFormsWithoutTheSessionsToken(t *testing.T) {
	p := newPage(t, oneOfEach())
	c, token := statusCookie(t, p)
	other := newPage(t, oneOfEach())
	_, otherToken := statusCookie(t, other)
	for _, tc := range []struct {
		name string
		path string
		form url.Values
		hdr  map[string]string
	}{
		{"refresh without a token", "/ui/refresh", url.Values{"id": {"wxapp"}, "kind": {"access_token"}, "confirm": {"yes"}}, nil},
		{"refresh with another session's token", "/ui/refresh", url.Values{"csrf": {otherToken}, "id": {"wxapp"}, "kind": {"access_token"}, "confirm": {"yes"}}, nil},
		{"refresh with the token in the URL only", "/ui/refresh?csrf=" + token, url.Values{"id": {"wxapp"}, "kind": {"access_token"}, "confirm": {"yes"}}, nil},
		{"refresh from another site", "/ui/refresh", url.Values{"csrf": {token}, "id": {"wxapp"}, "kind": {"access_token"}, "confirm": {"yes"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"sign-out without a token", "/ui/logout", url.Values{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := p.do(http.MethodPost, tc.path, tc.form, c, tc.hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("HTTP %d, want 403", resp.StatusCode)
			}
		})
	}
	if calls := p.calls(); len(calls) != 0 {
		t.Errorf("refused forms refreshed: %v", calls)
	}
	// The session survived the refused sign-out.
	if resp := p.do(http.MethodGet, "/ui/", nil, c, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after a refused sign-out the page answers %d, want 200", resp.StatusCode)
	}
}

func TestCompareAndRefreshIsConfirmedThenRunAndLogged(t *testing.T) {
	p := newPage(t, oneOfEach())
	c, token := statusCookie(t, p)
	form := url.Values{"csrf": {token}, "id": {"wwcorp/1000002"}, "kind": {"access_token"}, "return": {"family=wecom&q=corp"}}
	// Unconfirmed: a page that asks, and nothing done.
	resp := p.do(http.MethodPost, "/ui/refresh", form, c, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("unconfirmed refresh: HTTP %d, want 200 and a confirmation form\n%s", resp.StatusCode, body)
	}
	checkPageSafe(t, "confirmation", body)
	if calls := p.calls(); len(calls) != 0 {
		t.Fatalf("an unconfirmed refresh ran: %v", calls)
	}
	form.Set("confirm", "yes")
	resp = p.do(http.MethodPost, "/ui/refresh", form, c, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/?family=wecom&q=corp" {
		t.Fatalf("confirmed refresh: HTTP %d to %q, want 303 back to the filtered page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if calls := p.calls(); len(calls) != 1 || calls[0] != [3]string{"wwcorp/1000002", "access_token", current} {
		t.Fatalf("refresh calls %v; want one of the agent's access_token with the current value as stale", calls)
	}
	logs := p.logs.String()
	if !regexp.MustCompile(`compare-and-refresh.*client=` + adminName + `.*id=wwcorp/1000002`).MatchString(logs) {
		t.Errorf("the action is not logged with the client's name:\n%s", logs)
	}
	body = readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	if !strings.Contains(body, "a new credential") {
		t.Errorf("the page does not tell the outcome:\n%s", body)
	}
	for _, v := range []string{current, renewed, adminKey} {
		if strings.Contains(body, v) || strings.Contains(logs, v) {
			t.Errorf("a credential or key is in the page or the log")
		}
	}
	// The outcome is told once.
	if body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil)); strings.Contains(body, "a new credential") {
		t.Error("the outcome is shown again")
	}
	// A failure says WeChat's errcode, not the cause meant for the log.
	form.Set("id", "wxbroken")
	form.Set("return", "//evil.example/")
	resp = p.do(http.MethodPost, "/ui/refresh", form, c, nil)
	if loc := resp.Header.Get("Location"); loc != "/ui/" {
		t.Errorf("a return of //evil.example/ redirects to %q, want /ui/", loc)
	}
	body = readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	if !strings.Contains(body, "40164") || strings.Contains(body, "cause for the log only") {
		t.Errorf("the failure's flash: want the errcode and not the cause\n%s", body)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	p := newPage(t, oneOfEach())
	c, token := statusCookie(t, p)
	resp := p.do(http.MethodPost, "/ui/logout", url.Values{"csrf": {token}}, c, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("sign-out: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	deleted := false
	for _, ck := range resp.Cookies() {
		deleted = deleted || ck.Name == ui.CookieName && ck.MaxAge < 0 && ck.Path == "/ui/"
	}
	if !deleted {
		t.Errorf("the session cookie is not deleted: %v", resp.Cookies())
	}
	resp = p.do(http.MethodGet, "/ui/", nil, c, nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, `data-id=`) {
		t.Errorf("the old cookie after sign-out: HTTP %d, want 401 and no table", resp.StatusCode)
	}
	if !strings.Contains(p.logs.String(), "signed out") {
		t.Error("the sign-out is not logged")
	}
}

func TestSessionEnds(t *testing.T) {
	t.Run("at its expiry", func(t *testing.T) {
		p := newPage(t, oneOfEach())
		c := p.signIn(t, adminKey)
		p.clock.Add(ui.DefaultSessionTTL - time.Second)
		if resp := p.do(http.MethodGet, "/ui/", nil, c, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a second before expiry: HTTP %d", resp.StatusCode)
		}
		p.clock.Add(time.Second)
		if resp := p.do(http.MethodGet, "/ui/", nil, c, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("at expiry: HTTP %d, want 401", resp.StatusCode)
		}
	})
	t.Run("when its key is no longer an admin's", func(t *testing.T) {
		p := newPage(t, oneOfEach())
		c := p.signIn(t, adminKey)
		p.h.SetKeys(ring(t, clientkey.Client{Name: adminName, KeySHA256: keyHash(adminKey), Apps: []string{"*"}}))
		if resp := p.do(http.MethodGet, "/ui/", nil, c, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401", resp.StatusCode)
		}
	})
	t.Run("with a made-up cookie", func(t *testing.T) {
		p := newPage(t, oneOfEach())
		p.signIn(t, adminKey)
		fake := &http.Cookie{Name: ui.CookieName, Value: strings.Repeat("A", 43)}
		if resp := p.do(http.MethodGet, "/ui/", nil, fake, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401", resp.StatusCode)
		}
	})
}

func TestStatusShowsEveryFamilyWithErrorsAndHints(t *testing.T) {
	p := newPage(t, oneOfEach())
	c := p.signIn(t, adminKey)
	body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	for _, want := range []string{
		`data-id="wxapp" data-family="app" data-kind="access_token"`,
		`data-id="wwcorp/1000002" data-family="wecom"`,
		`data-id="wxcomp" data-family="component"`,
		`data-id="wxcomp:wxauth" data-family="authorizer"`,
		"61023", "the account must authorize the platform again",
		"replica-b", "replica-a", ">1h30m</td>", ">1h0m</td>", "quota 3/2000",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A pushed verify ticket cannot be compare-and-refreshed: 5
	// credentials of 6 have a button.
	if n := strings.Count(body, `action="/ui/refresh"`); n != 5 {
		t.Errorf("%d refresh forms, want 5", n)
	}
}

// manyApps is n apps spread over the four families, one credential each,
// every 7th failing, every 3rd stale.
func manyApps(n int) []wxtoken.AppStatus {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	fams := []wxtoken.Family{wxtoken.FamilyApp, wxtoken.FamilyWeCom, wxtoken.FamilyComponent, wxtoken.FamilyAuthorizer}
	apps := make([]wxtoken.AppStatus, n)
	for i := range apps {
		st := wxtoken.StateFresh
		if i%3 == 0 {
			st = wxtoken.StateStale
		}
		cs := wxtoken.CredentialStatus{Kind: wxtoken.KindAccessToken, State: st, ExpiresAt: at(now.Add(time.Hour))}
		if i%7 == 0 {
			cs.LastError = &wxtoken.ErrorInfo{ErrCode: 45009, Class: "quota", Message: "daily quota used", Hint: "wait for the quota day", At: now}
		}
		apps[i] = wxtoken.AppStatus{AppID: fmt.Sprintf("wx%014d", i), Family: fams[i%4], Name: fmt.Sprintf("name-%d", i), Credentials: []wxtoken.CredentialStatus{cs}}
	}
	return apps
}

var rowRE = regexp.MustCompile(`<tr data-id="`)

func TestFiltersSearchAndPagesAtTenThousandRows(t *testing.T) {
	const n = 10000
	p := newPage(t, manyApps(n))
	c := p.signIn(t, adminKey)
	count := func(n int, pred func(i int) bool) int {
		k := 0
		for i := range n {
			if pred(i) {
				k++
			}
		}
		return k
	}
	for _, tc := range []struct {
		query    string
		matched  int
		rows     int
		contains string
	}{
		{"", n, ui.DefaultPageSize, "Rows 1–100 of 10000"},
		{"?page=3", n, ui.DefaultPageSize, "Rows 201–300 of 10000"},
		{"?page=100", n, ui.DefaultPageSize, "Rows 9901–10000 of 10000"},
		{"?page=999", n, ui.DefaultPageSize, "page 100 of 100"},
		{"?page=-4", n, ui.DefaultPageSize, "Rows 1–100"},
		{"?family=wecom", n / 4, ui.DefaultPageSize, "of 2500 (10000 in all)"},
		{"?state=stale", count(n, func(i int) bool { return i%3 == 0 }), ui.DefaultPageSize, ""},
		{"?state=failing&family=app", count(n, func(i int) bool { return i%7 == 0 && i%4 == 0 }), ui.DefaultPageSize, ""},
		{"?q=NAME-9999", 1, 1, `data-id="wx00000000009999"`},
		{"?q=wx0000000000999", 10, 10, "Rows 1–10 of 10"},
		{"?q=nothing-like-it", 0, 0, "No credential matches"},
		{"?state=bogus&family=bogus", n, ui.DefaultPageSize, "Rows 1–100 of 10000"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			start := time.Now()
			resp := p.do(http.MethodGet, "/ui/"+tc.query, nil, c, nil)
			took := time.Since(start)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d", resp.StatusCode)
			}
			if got := len(rowRE.FindAllStringIndex(body, -1)); got != tc.rows {
				t.Errorf("%d rows shown, want %d", got, tc.rows)
			}
			if tc.matched > 0 && !strings.Contains(body, fmt.Sprintf("of %d", tc.matched)) {
				t.Errorf("the summary does not say %d matched", tc.matched)
			}
			if tc.contains != "" && !strings.Contains(body, tc.contains) {
				t.Errorf("the page lacks %q", tc.contains)
			}
			// A generous bound that holds under -race on a busy machine;
			// rendering every row instead takes far longer.
			if took > 2*time.Second {
				t.Errorf("the page took %v", took)
			}
		})
	}
	// The next page's link keeps the filters.
	body := readBody(t, p.do(http.MethodGet, "/ui/?family=app&q=name", nil, c, nil))
	if !strings.Contains(body, `href="/ui/?family=app&amp;page=2&amp;q=name"`) {
		t.Errorf("no next link that keeps the filters")
	}
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	p := newPage(t, oneOfEach())
	c, token := statusCookie(t, p)
	for _, tc := range []struct {
		method, target string
		form           url.Values
		cookie         *http.Cookie
	}{
		{http.MethodGet, "/ui/login", nil, nil},
		{http.MethodGet, "/ui/", nil, nil},
		{http.MethodGet, "/ui/", nil, c},
		{http.MethodGet, "/ui/static/ui.js", nil, nil},
		{http.MethodGet, "/ui/static/ui.css", nil, nil},
		{http.MethodGet, "/ui/no-such-page", nil, nil},
		{http.MethodPost, "/ui/login", url.Values{"key": {"wrong"}}, nil},
		{http.MethodPost, "/ui/refresh", url.Values{"csrf": {token}, "id": {"wxapp"}, "kind": {"jsapi"}}, c},
		{http.MethodDelete, "/ui/", nil, c},
	} {
		resp := p.do(tc.method, tc.target, tc.form, tc.cookie, nil)
		h := resp.Header
		if h.Get("Content-Security-Policy") != ui.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s (HTTP %d): headers %v", tc.method, tc.target, resp.StatusCode, h)
		}
	}
	if want := "default-src 'none'; script-src 'self'; style-src 'self'"; !strings.HasPrefix(ui.ContentSecurityPolicy, want) {
		t.Errorf("the policy %q does not start with %q", ui.ContentSecurityPolicy, want)
	}
}

func TestNoPageHasInlineScript(t *testing.T) {
	p := newPage(t, append(oneOfEach(), manyApps(300)...))
	c, token := statusCookie(t, p)
	pages := map[string]*http.Response{
		"sign-in":         p.do(http.MethodGet, "/ui/login", nil, nil, nil),
		"refused sign-in": p.do(http.MethodPost, "/ui/login", url.Values{"key": {"nope"}}, nil, nil),
		"signed out":      p.do(http.MethodGet, "/ui/", nil, nil, nil),
		"status":          p.do(http.MethodGet, "/ui/?q=wx", nil, c, nil),
		"status page 2":   p.do(http.MethodGet, "/ui/?page=2", nil, c, nil),
		"not found":       p.do(http.MethodGet, "/ui/nothing", nil, c, nil),
		"confirmation":    p.do(http.MethodPost, "/ui/refresh", url.Values{"csrf": {token}, "id": {"wxapp"}, "kind": {"jsapi"}, "return": {"q=x"}}, c, nil),
	}
	for name, resp := range pages {
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		checkPageSafe(t, name, readBody(t, resp))
	}
}

func TestStaticFilesAreServedWithTheirTypes(t *testing.T) {
	p := newPage(t, nil)
	for path, ctype := range map[string]string{"/ui/static/ui.js": "text/javascript; charset=utf-8", "/ui/static/ui.css": "text/css; charset=utf-8"} {
		resp := p.do(http.MethodGet, path, nil, nil, nil)
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || len(body) < 100 {
			t.Errorf("%s: HTTP %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, path := range []string{"/ui/static/", "/ui/static/nope.js", "/ui/static/../ui.go", "/ui/static/ui.js/x"} {
		if resp := p.do(http.MethodGet, path, nil, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestSessionsAreBounded(t *testing.T) {
	p := newPage(t, nil)
	h, err := ui.New(ui.Options{Service: p.svc, Keys: defaultRing(t), MaxSessions: 2, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	first := p.signIn(t, adminKey)
	p.clock.Add(time.Second)
	second := p.signIn(t, adminKey)
	p.clock.Add(time.Second)
	third := p.signIn(t, adminKey)
	for name, want := range map[*http.Cookie]int{first: http.StatusUnauthorized, second: http.StatusOK, third: http.StatusOK} {
		if resp := p.do(http.MethodGet, "/ui/", nil, name, nil); resp.StatusCode != want {
			t.Errorf("session: HTTP %d, want %d", resp.StatusCode, want)
		}
	}
}

func TestClearQuotaIsOfferedOnAppsConfirmedAndLogged(t *testing.T) {
	p := newPage(t, oneOfEach())
	var cleared []string
	h, err := ui.New(ui.Options{
		Service: p.svc, Keys: defaultRing(t), Now: p.clock.Now,
		Logger: slog.New(slog.NewTextHandler(p.logs, nil)),
		ClearQuota: func(_ context.Context, appID string) (int, error) {
			cleared = append(cleared, appID)
			return 7, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	c, token := statusCookie(t, p)
	body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	if n := strings.Count(body, `action="/ui/clear_quota"`); n != 1 {
		t.Errorf("%d clear-quota forms, want 1 (the app's)", n)
	}
	checkPageSafe(t, "status with clear quota", body)
	form := url.Values{"csrf": {token}, "id": {"wxapp"}}
	resp := p.do(http.MethodPost, "/ui/clear_quota", form, c, nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/ui/clear_quota"`) || len(cleared) != 0 {
		t.Fatalf("unconfirmed: HTTP %d, %d clears\n%s", resp.StatusCode, len(cleared), body)
	}
	form.Set("confirm", "yes")
	if resp := p.do(http.MethodPost, "/ui/clear_quota", url.Values{"id": {"wxapp"}, "confirm": {"yes"}}, c, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: HTTP %d, want 403", resp.StatusCode)
	}
	if resp := p.do(http.MethodPost, "/ui/clear_quota", form, c, nil); resp.StatusCode != http.StatusSeeOther || len(cleared) != 1 || cleared[0] != "wxapp" {
		t.Fatalf("confirmed: HTTP %d, clears %v", resp.StatusCode, cleared)
	}
	if logs := p.logs.String(); !regexp.MustCompile(`quota cleared.*client=` + adminName + `.*id=wxapp`).MatchString(logs) {
		t.Errorf("the clear is not logged with the client's name:\n%s", logs)
	}
	if body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil)); !strings.Contains(body, "7 clears are left") {
		t.Error("the page does not tell the outcome")
	}
	form.Set("id", "wwcorp/1000002")
	if resp := p.do(http.MethodPost, "/ui/clear_quota", form, c, nil); resp.StatusCode != http.StatusBadRequest || len(cleared) != 1 {
		t.Errorf("a WeCom agent's quota: HTTP %d, want 400", resp.StatusCode)
	}
	// Without the action the page offers none, and its path is not served.
	if body := readBody(t, newPageDo(t)); strings.Contains(body, "clear_quota") {
		t.Error("a page without the action offers it")
	}
}

// newPageDo is the status page of a handler without ClearQuota.
func newPageDo(t *testing.T) *http.Response {
	p := newPage(t, oneOfEach())
	c := p.signIn(t, adminKey)
	if resp := p.do(http.MethodPost, "/ui/clear_quota", url.Values{}, c, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("clear_quota without the action: HTTP %d, want 404", resp.StatusCode)
	}
	return p.do(http.MethodGet, "/ui/", nil, c, nil)
}

// retryPage is the status page of oneOfEach with the WeCom agent held
// back by the error policy, offering retry now: the retried ids are
// recorded, and "wxgone" is not kept.
func retryPage(t *testing.T) (*page, *[]string) {
	t.Helper()
	apps := oneOfEach()
	apps[1].BlockedUntil = at(time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC))
	p := newPage(t, apps)
	var mu sync.Mutex
	retried := []string{}
	h, err := ui.New(ui.Options{
		Service: p.svc, Keys: defaultRing(t), Now: p.clock.Now,
		Logger: slog.New(slog.NewTextHandler(p.logs, nil)),
		RetryNow: func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			if id == "wxgone" {
				return wxtoken.Errorf(wxtoken.ENotFound, "%s is not kept", id)
			}
			retried = append(retried, id)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	return p, &retried
}

func TestRetryNowIsOfferedWhereAHoldIsConfirmedAndLogged(t *testing.T) {
	p, retried := retryPage(t)
	c, token := statusCookie(t, p)
	body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	checkPageSafe(t, "status with retry now", body)
	// Offered on the held-back agent and the failing authorizer only.
	rowRe := regexp.MustCompile(`(?s)<tr data-id="([^"]+)" data-family="[^"]+" data-kind="([^"]+)".*?</tr>`)
	offered := map[string]bool{}
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[0], `action="/ui/retry"`) {
			if !strings.Contains(m[0], `name="id" value="`+m[1]+`"`) {
				t.Errorf("the retry form of %s names another id", m[1])
			}
			offered[m[1]+" "+m[2]] = true
		}
	}
	want := map[string]bool{"wwcorp/1000002 access_token": true, "wxcomp:wxauth access_token": true}
	if fmt.Sprint(offered) != fmt.Sprint(want) {
		t.Errorf("retry now offered on %v, want %v", offered, want)
	}

	form := url.Values{"csrf": {token}, "id": {"wxcomp:wxauth"}, "return": {"state=failing&family=authorizer"}}
	// Unconfirmed: a page that says what will happen, and nothing done.
	resp := p.do(http.MethodPost, "/ui/retry", form, c, nil)
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/ui/retry"`) ||
		!strings.Contains(body, `name="confirm" value="yes"`) || !strings.Contains(body, "hold on wxcomp:wxauth is lifted") {
		t.Fatalf("unconfirmed retry: HTTP %d, want 200 and a confirmation\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `href="/ui/?family=authorizer&amp;state=failing"`) {
		t.Errorf("the confirmation's cancel does not lead back to the filtered page\n%s", body)
	}
	checkPageSafe(t, "retry confirmation", body)
	if len(*retried) != 0 {
		t.Fatalf("an unconfirmed retry ran: %v", *retried)
	}
	form.Set("confirm", "yes")
	// Refused without the session's CSRF token, or from another site.
	for _, f := range []url.Values{
		{"id": {"wxcomp:wxauth"}, "confirm": {"yes"}},
		{"csrf": {"not-the-token"}, "id": {"wxcomp:wxauth"}, "confirm": {"yes"}},
	} {
		if resp := p.do(http.MethodPost, "/ui/retry", f, c, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("retry without the CSRF token: HTTP %d, want 403", resp.StatusCode)
		}
	}
	if resp := p.do(http.MethodPost, "/ui/retry", form, c, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("retry from another site: HTTP %d, want 403", resp.StatusCode)
	}
	if len(*retried) != 0 {
		t.Fatalf("a refused form retried: %v", *retried)
	}

	// Confirmed: retried, logged with the client's name, the outcome
	// told once, and back to the filtered page.
	resp = p.do(http.MethodPost, "/ui/retry", form, c, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/?family=authorizer&state=failing" {
		t.Fatalf("confirmed retry: HTTP %d to %q, want 303 back to the filtered page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if fmt.Sprint(*retried) != "[wxcomp:wxauth]" {
		t.Fatalf("retried %v, want the authorizer", *retried)
	}
	logs := p.logs.String()
	if !regexp.MustCompile(`ui: retry now.*client=` + adminName + `.*id=wxcomp:wxauth`).MatchString(logs) {
		t.Errorf("the retry is not logged with the client's name:\n%s", logs)
	}
	body = readBody(t, p.do(http.MethodGet, "/ui/?family=authorizer&state=failing", nil, c, nil))
	if !strings.Contains(body, "The hold on wxcomp:wxauth was lifted and it was tried again") || !strings.Contains(body, "valid for 1h0m") {
		t.Errorf("the page does not tell the outcome:\n%s", body)
	}
	if strings.Contains(body, current) || strings.Contains(logs, current) {
		t.Error("the credential is in the page or the log")
	}
	if body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil)); strings.Contains(body, "was lifted") {
		t.Error("the outcome is shown again")
	}

	// The try fails again: the page says the error and its hint, not
	// the cause meant for the log.
	p.svc.CredentialFn = func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "no valid access_token for app " + id,
			WeChatErrCode: 61023, Err: errors.New("cause for the log only")}
	}
	if resp := p.do(http.MethodPost, "/ui/retry", form, c, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a retry whose try fails: HTTP %d, want 303", resp.StatusCode)
	}
	body = readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	flash := regexp.MustCompile(`(?s)<p class="flash" id="flash">(.*?)</p>`).FindStringSubmatch(body)
	if flash == nil {
		t.Fatalf("no outcome on the page\n%s", body)
	}
	for _, want := range []string{"the try failed", "61023", "the account must authorize the platform again"} {
		if !strings.Contains(flash[1], want) {
			t.Errorf("the failed try's flash %q lacks %q", flash[1], want)
		}
	}
	if strings.Contains(body, "cause for the log only") {
		t.Error("the page shows the cause meant for the log")
	}
	// RetryNow itself refuses: its error is told.
	form.Set("id", "wxgone")
	if resp := p.do(http.MethodPost, "/ui/retry", form, c, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a retry of an id not kept: HTTP %d, want 303", resp.StatusCode)
	}
	body = readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	if !strings.Contains(body, "Retry now of wxgone failed: not_found") {
		t.Errorf("the refusal is not told\n%s", body)
	}
	if logs := p.logs.String(); !regexp.MustCompile(`retry now failed.*client=` + adminName + `.*id=wxgone`).MatchString(logs) {
		t.Errorf("the refusal is not logged with the client's name:\n%s", logs)
	}
	form.Set("id", "")
	if resp := p.do(http.MethodPost, "/ui/retry", form, c, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a retry naming no id: HTTP %d, want 400", resp.StatusCode)
	}
}

func TestRetryNowIsNotOfferedWithoutTheAction(t *testing.T) {
	apps := oneOfEach()
	apps[1].BlockedUntil = at(time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC))
	p := newPage(t, apps)
	c, token := statusCookie(t, p)
	body := readBody(t, p.do(http.MethodGet, "/ui/", nil, c, nil))
	if strings.Contains(body, "/ui/retry") || !strings.Contains(body, "held back") {
		t.Error("a page without the action offers it, or the hold is not shown")
	}
	form := url.Values{"csrf": {token}, "id": {"wwcorp/1000002"}, "confirm": {"yes"}}
	if resp := p.do(http.MethodPost, "/ui/retry", form, c, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("retry without the action: HTTP %d, want 404", resp.StatusCode)
	}
}
