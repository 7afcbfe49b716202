package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t     *testing.T
	sim   *Simulator
	clock *fakeClock
	srv   *httptest.Server
}

// newFixture serves a simulator with a fake clock over real HTTP. Apps
// default to wxA:secretA and wxB:secretB.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)}
	if opts.Apps == nil {
		opts.Apps = map[string]string{"wxA": "secretA", "wxB": "secretB"}
	}
	opts.Now = clock.Now
	sim, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &fixture{t: t, sim: sim, clock: clock, srv: srv}
}

// answer is any WeChat answer, decoded loosely.
type answer struct {
	Status      int
	ContentType string
	Raw         string
	ErrCode     int      `json:"errcode"`
	ErrMsg      string   `json:"errmsg"`
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	Ticket      string   `json:"ticket"`
	IPList      []string `json:"ip_list"`
}

// try makes one request and returns the answer, or the transport error.
func (f *fixture) try(client *http.Client, method, path, body string) (answer, error) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Raw: string(raw)}
	_ = json.Unmarshal(raw, &a) // the raw body is there for answers that are not JSON
	return a, nil
}

func (f *fixture) do(method, path, body string) answer {
	f.t.Helper()
	a, err := f.try(f.srv.Client(), method, path, body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func classicPath(appid, secret string) string {
	return "/cgi-bin/token?" + url.Values{"grant_type": {"client_credential"}, "appid": {appid}, "secret": {secret}}.Encode()
}

func stableBody(appid, secret string, force bool) string {
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force})
	return string(b)
}

func (f *fixture) classic(appid string) answer {
	f.t.Helper()
	return f.do("GET", classicPath(appid, "secret"+appid[2:]), "")
}

func (f *fixture) stable(appid string, force bool) answer {
	f.t.Helper()
	return f.do("POST", "/cgi-bin/stable_token", stableBody(appid, "secret"+appid[2:], force))
}

func (f *fixture) ticket(token, typ string) answer {
	f.t.Helper()
	return f.do("GET", "/cgi-bin/ticket/getticket?"+url.Values{"access_token": {token}, "type": {typ}}.Encode(), "")
}

func (f *fixture) probe(token string) answer {
	f.t.Helper()
	return f.do("GET", "/cgi-bin/get_api_domain_ip?access_token="+url.QueryEscape(token), "")
}

// token asserts a successful token answer and returns the token.
func (f *fixture) token(a answer) string {
	f.t.Helper()
	if a.Status != 200 || a.ErrCode != 0 || a.AccessToken == "" {
		f.t.Fatalf("want a token, got %d %s", a.Status, a.Raw)
	}
	return a.AccessToken
}

var ridRE = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// wantErr asserts a WeChat failure answer with errcode code.
func wantErr(t *testing.T, a answer, code int) {
	t.Helper()
	if a.Status != 200 || a.ErrCode != code {
		t.Fatalf("want errcode %d, got status %d body %s", code, a.Status, a.Raw)
	}
	if !ridRE.MatchString(a.ErrMsg) {
		t.Errorf("errmsg %q does not end with a rid", a.ErrMsg)
	}
	if a.ContentType != wxContentType {
		t.Errorf("content type %q", a.ContentType)
	}
}

// wantLive asserts that token works on the token-checked APIs.
func (f *fixture) wantLive(token string) {
	f.t.Helper()
	if a := f.probe(token); a.ErrCode != 0 || len(a.IPList) == 0 {
		f.t.Fatalf("token should work: %s", a.Raw)
	}
	if st := f.sim.Check(token); !st.Valid {
		f.t.Fatalf("Check says %+v", st)
	}
}

// wantDead asserts that token is rejected with code by both getticket and
// the probe API.
func (f *fixture) wantDead(token string, code int) {
	f.t.Helper()
	wantErr(f.t, f.probe(token), code)
	wantErr(f.t, f.ticket(token, "jsapi"), code)
}
