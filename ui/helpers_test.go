package ui_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/ui"
)

const (
	adminKey  = "wxt_admin-key-for-the-status-page"
	readerKey = "wxt_reader-key-granted-one-app"
	adminName = "ops-desk"
)

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func ring(t *testing.T, clients ...clientkey.Client) *clientkey.Ring {
	t.Helper()
	k, err := clientkey.New(clients)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func defaultRing(t *testing.T) *clientkey.Ring {
	return ring(t,
		clientkey.Client{Name: adminName, KeySHA256: keyHash(adminKey), Apps: []string{"*"}, Admin: true},
		clientkey.Client{Name: "reader", KeySHA256: keyHash(readerKey), Apps: []string{"wxapp"}},
	)
}

// clock is a settable clock for sessions.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// page is the status page over a scripted Service, with its log.
type page struct {
	h     *ui.Handler
	svc   *mock.Service
	logs  *logbuf.Buffer
	clock *clock
	// refreshes records the compare-and-refresh calls: id, kind, stale.
	mu        sync.Mutex
	refreshes [][3]string
}

// current is the value Credential hands out, and renewed the one Refresh
// answers with.
const (
	current = "CURRENT-credential-value-never-shown"
	renewed = "RENEWED-credential-value-never-shown"
)

func newPage(t *testing.T, apps []wxtoken.AppStatus) *page {
	t.Helper()
	p := &page{logs: &logbuf.Buffer{}, clock: &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}}
	p.svc = &mock.Service{
		StatusFn: func(context.Context) []wxtoken.AppStatus { return apps },
		CredentialFn: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			return wxtoken.Grant{AppID: id, Kind: kind, Value: current, ExpiresIn: time.Hour}, nil
		},
		RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
			p.mu.Lock()
			p.refreshes = append(p.refreshes, [3]string{id, string(kind), stale})
			p.mu.Unlock()
			if id == "wxbroken" {
				return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat refused the token call", WeChatErrCode: 40164,
					Err: errors.New("cause for the log only")}
			}
			return wxtoken.Grant{AppID: id, Kind: kind, Value: renewed, ExpiresIn: 2 * time.Hour}, nil
		},
	}
	h, err := ui.New(ui.Options{
		Service: p.svc, Keys: defaultRing(t), Replica: "replica-a",
		Logger: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    p.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.h = h
	return p
}

func (p *page) calls() [][3]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][3]string(nil), p.refreshes...)
}

// do serves one request and returns the recorded answer.
func (p *page) do(method, target string, form url.Values, cookie *http.Cookie, hdr map[string]string) *http.Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		// What a browser sends with a form of the page itself.
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	for k, v := range hdr {
		if k == "tls" {
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if hdr["tls"] != "" {
		req.TLS = &tls.ConnectionState{}
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec.Result()
}

// signIn signs in with key and returns the session cookie.
func (p *page) signIn(t *testing.T, key string) *http.Cookie {
	t.Helper()
	resp := p.do(http.MethodPost, "/ui/login", url.Values{"key": {key}}, nil, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: HTTP %d, want 303\n%s", resp.StatusCode, readBody(t, resp))
	}
	for _, c := range resp.Cookies() {
		if c.Name == ui.CookieName {
			return c
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// csrfOf finds the CSRF token in a page's forms.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	const mark = `name="csrf" value="`
	i := strings.Index(body, mark)
	if i < 0 {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	rest := body[i+len(mark):]
	return rest[:strings.IndexByte(rest, '"')]
}

// checkPageSafe parses an HTML page and fails on anything the
// Content-Security-Policy would refuse or that runs script outside the
// page's own script file: an inline script or style, an event handler
// attribute, a javascript: URL, or a resource from another origin.
func checkPageSafe(t *testing.T, where, body string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(body))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	var open []string
	elements := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: the page does not parse: %v\n%s", where, err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			elements++
			name := strings.ToLower(tok.Name.Local)
			open = append(open, name)
			hasSrc := false
			for _, a := range tok.Attr {
				an := strings.ToLower(a.Name.Local)
				v := strings.TrimSpace(strings.ToLower(a.Value))
				switch {
				case strings.HasPrefix(an, "on"):
					t.Errorf("%s: <%s> has an event handler attribute %s", where, name, an)
				case an == "style":
					t.Errorf("%s: <%s> has an inline style", where, name)
				case (an == "href" || an == "src" || an == "action") && strings.HasPrefix(v, "javascript:"):
					t.Errorf("%s: <%s %s=%q>", where, name, an, a.Value)
				case (an == "href" || an == "src" || an == "action") && !strings.HasPrefix(v, "/ui/"):
					t.Errorf("%s: <%s %s=%q> points outside the page", where, name, an, a.Value)
				}
				if an == "src" {
					hasSrc = true
				}
			}
			if name == "script" && !hasSrc {
				t.Errorf("%s: an inline <script>", where)
			}
			if name == "style" {
				t.Errorf("%s: an inline <style>", where)
			}
		case xml.EndElement:
			if n := len(open); n > 0 {
				open = open[:n-1]
			}
		case xml.CharData:
			if n := len(open); n > 0 && open[n-1] == "script" && strings.TrimSpace(string(tok)) != "" {
				t.Errorf("%s: a <script> with inline code", where)
			}
		}
	}
	if elements < 5 {
		t.Errorf("%s: only %d elements parsed: not the page expected", where, elements)
	}
}
