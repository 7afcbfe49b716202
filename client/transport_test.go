package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// fakeWeChat is a token-checked WeChat API endpoint. It answers errcode to
// the tokens in dead, as WeChat does to a token that was replaced or
// revoked, and otherwise echoes the request body in a success answer.
type fakeWeChat struct {
	*httptest.Server

	mu       sync.Mutex
	errcode  int
	dead     map[string]bool
	allDead  bool                        // reject every token
	lone     int                         // reject this many calls, whatever the token
	answer   func(w http.ResponseWriter) // replaces the success answer
	requests []wechatRequest
}

type wechatRequest struct {
	token    string
	rawQuery string
	body     string
	at       time.Time
}

func newFakeWeChat(t *testing.T, errcode int, dead ...string) *fakeWeChat {
	t.Helper()
	f := startFakeWeChat(errcode, dead...)
	t.Cleanup(f.Close)
	return f
}

func startFakeWeChat(errcode int, dead ...string) *fakeWeChat {
	f := &fakeWeChat{errcode: errcode, dead: map[string]bool{}}
	for _, d := range dead {
		f.dead[d] = true
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeWeChat) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	token := r.URL.Query().Get("access_token")
	f.mu.Lock()
	f.requests = append(f.requests, wechatRequest{token: token, rawQuery: r.URL.RawQuery, body: string(body), at: time.Now()})
	rejected := f.allDead || f.dead[token] || f.lone > 0
	if f.lone > 0 {
		f.lone--
	}
	errcode, answer := f.errcode, f.answer
	f.mu.Unlock()
	if rejected {
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		fmt.Fprintf(w, `{"errcode":%d,"errmsg":"invalid credential, access_token is invalid or not latest rid: 67c2a1b0-1a2b3c4d-5e6f7a8b"}`, errcode)
		return
	}
	if answer != nil {
		answer(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","echo":%q}`, body)
}

func (f *fakeWeChat) seen() []wechatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wechatRequest(nil), f.requests...)
}

func (f *fakeWeChat) tokens() []string {
	var ts []string
	for _, r := range f.seen() {
		ts = append(ts, r.token)
	}
	return ts
}

func tok(n int) string { return fmt.Sprintf("%s-access_token-%d", testAppID, n) }

// setupTransport returns an http.Client using the transport under test,
// the fake wxtoken server behind it, and a WeChat endpoint that rejects
// the server's first token with errcode, as after an out-of-band reset.
func setupTransport(t *testing.T, errcode int) (*http.Client, *fakeServer, *fakeWeChat) {
	t.Helper()
	wxt := startServer(t)
	c := newClient(t, wxt)
	wc := newFakeWeChat(t, errcode, tok(1))
	return &http.Client{Transport: c.Transport(testAppID, nil)}, wxt, wc
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func TestTransportRetriesOnceOnDeadToken(t *testing.T) {
	for _, errcode := range []int{40001, 42001, 40014} {
		t.Run(fmt.Sprint(errcode), func(t *testing.T) {
			hc, wxt, wc := setupTransport(t, errcode)
			resp, err := hc.Get(wc.URL + "/cgi-bin/get_api_domain_ip?lang=zh_CN")
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); !strings.HasPrefix(body, `{"errcode":0,`) {
				t.Errorf("answer %s, want the retry's success", body)
			}
			if got := wc.tokens(); !equal(got, []string{tok(1), tok(2)}) {
				t.Errorf("WeChat saw tokens %q, want the dead one then its replacement", got)
			}
			if n := wxt.count("refresh access_token"); n != 1 {
				t.Errorf("%d reports to the server, want 1", n)
			}
			if q := wc.seen()[1].rawQuery; q != "lang=zh_CN&access_token="+tok(2) {
				t.Errorf("retry query %q", q)
			}

			// The replacement is cached: the next call goes straight through.
			resp, err = hc.Get(wc.URL + "/cgi-bin/get_api_domain_ip")
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if got := wc.tokens(); len(got) != 3 || got[2] != tok(2) {
				t.Errorf("WeChat saw tokens %q, want a third call with token 2", got)
			}
			if n := wxt.count("get access_token"); n != 1 {
				t.Errorf("%d GETs, want 1", n)
			}
		})
	}
}

// TestTransportRetriesLiveTokenOnce: WeChat rejects a token once that
// the server's check finds alive (its servers disagree for a moment after
// a refresh). The request is sent once more with the same token after
// RetryPause, and the caller gets the success.
func TestTransportRetriesLiveTokenOnce(t *testing.T) {
	for _, errcode := range []int{40001, 42001, 40014} {
		t.Run(fmt.Sprint(errcode), func(t *testing.T) {
			hc, wxt, wc := setupTransport(t, errcode)
			wxt.set(func(f *fakeServer) { f.alive = true })
			wc.mu.Lock()
			wc.dead, wc.lone = nil, 1
			wc.mu.Unlock()
			const payload = `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`
			resp, err := hc.Post(wc.URL+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); !strings.HasPrefix(body, `{"errcode":0,`) {
				t.Errorf("answer %s, want the retry's success", body)
			}
			seen := wc.seen()
			if got := wc.tokens(); !equal(got, []string{tok(1), tok(1)}) {
				t.Fatalf("WeChat saw tokens %q, want the same token twice", got)
			}
			if seen[1].body != payload {
				t.Errorf("the retry carried %q", seen[1].body)
			}
			if gap := seen[1].at.Sub(seen[0].at); gap < client.RetryPause {
				t.Errorf("retried after %v, want a pause of at least %v", gap, client.RetryPause)
			}
			if n := wxt.count("refresh access_token"); n != 1 {
				t.Errorf("%d reports to the server, want 1", n)
			}
		})
	}
}

// TestTransportLiveTokenRetryEndsWithContext: a caller whose context ends
// during the pause gets WeChat's rejection, and WeChat sees no retry.
func TestTransportLiveTokenRetryEndsWithContext(t *testing.T) {
	hc, wxt, wc := setupTransport(t, 40001)
	wxt.set(func(f *fakeServer) { f.alive = true })
	wc.mu.Lock()
	wc.dead, wc.lone = nil, 1
	wc.mu.Unlock()
	// Time for the call and the report, which take milliseconds, but it
	// ends inside the pause.
	ctx, cancel := context.WithTimeout(context.Background(), client.RetryPause/2)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wc.URL+"/cgi-bin/get_api_domain_ip", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); !strings.Contains(body, `"errcode":40001`) {
		t.Errorf("answer %s, want WeChat's rejection", body)
	}
	if n := len(wc.seen()); n != 1 {
		t.Errorf("WeChat saw %d requests, want 1", n)
	}
}

func TestTransportPassesOtherAnswersThrough(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"daily quota", 200, "application/json; encoding=utf-8", `{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 1"}`},
		{"invalid appid", 200, "application/json", `{"errcode":40013,"errmsg":"invalid appid"}`},
		{"api unauthorized", 200, "text/plain", `{"errcode":48001,"errmsg":"api unauthorized"}`},
		{"success", 200, "application/json", `{"errcode":0,"errmsg":"ok","ip_list":["1.2.3.4"]}`},
		{"not JSON", 200, "application/json", `<html>40001</html>`},
		{"HTTP 500 with dead-token errcode", 500, "application/json", `{"errcode":40001,"errmsg":"x"}`},
		{"image with dead-token errcode", 200, "image/jpeg", `{"errcode":40001,"errmsg":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, wxt, wc := setupTransport(t, 0)
			wc.mu.Lock()
			wc.dead = nil
			wc.answer = func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}
			wc.mu.Unlock()
			resp, err := hc.Post(wc.URL+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(`{"touser":"o1"}`))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := readAll(t, resp); got != tt.body {
				t.Errorf("body %q, want %q unchanged", got, tt.body)
			}
			if n := len(wc.seen()); n != 1 {
				t.Errorf("WeChat saw %d requests, want 1", n)
			}
			if n := wxt.count("refresh access_token"); n != 0 {
				t.Errorf("%d reports, want none", n)
			}
		})
	}
}

func TestTransportNeverRetriesTwice(t *testing.T) {
	hc, wxt, wc := setupTransport(t, 40001)
	wc.mu.Lock()
	wc.allDead = true
	wc.mu.Unlock()
	resp, err := hc.Get(wc.URL + "/cgi-bin/get_api_domain_ip")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); !strings.Contains(body, `"errcode":40001`) {
		t.Errorf("answer %s, want the second rejection", body)
	}
	if got := wc.tokens(); !equal(got, []string{tok(1), tok(2)}) {
		t.Errorf("WeChat saw tokens %q, want exactly two calls", got)
	}
	if n := wxt.count("refresh access_token"); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
}

// opaqueReader hides its type from http.NewRequest, which therefore sets
// no GetBody: the transport has to buffer the body itself.
type opaqueReader struct{ r io.Reader }

func (o *opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestTransportReplaysRequestBody(t *testing.T) {
	const payload = `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`
	big := strings.Repeat("x", client.MaxInspectBytes+1)
	tests := []struct {
		name    string
		body    func() io.Reader
		want    string
		retried bool
	}{
		{"GetBody", func() io.Reader { return strings.NewReader(payload) }, payload, true},
		{"buffered", func() io.Reader { return &opaqueReader{strings.NewReader(payload)} }, payload, true},
		{"buffered at the limit", func() io.Reader { return &opaqueReader{strings.NewReader(big[1:])} }, big[1:], true},
		{"too long to buffer", func() io.Reader { return &opaqueReader{strings.NewReader(big)} }, big, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, wxt, wc := setupTransport(t, 40001)
			req, err := http.NewRequest(http.MethodPost, wc.URL+"/cgi-bin/message/custom/send", tt.body())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			seen := wc.seen()
			for i, r := range seen {
				if r.body != tt.want {
					t.Errorf("request %d carried %d bytes, want the %d sent", i, len(r.body), len(tt.want))
				}
			}
			if tt.retried {
				if len(seen) != 2 || !strings.HasPrefix(body, `{"errcode":0,`) {
					t.Errorf("%d requests, answer %.80s; want a successful retry", len(seen), body)
				}
			} else if len(seen) != 1 || !strings.Contains(body, `"errcode":40001`) {
				t.Errorf("%d requests, answer %.80s; want WeChat's rejection, not retried", len(seen), body)
			}
			// Even unretried, the dead token was reported.
			if n := wxt.count("refresh access_token"); n != 1 {
				t.Errorf("%d reports, want 1", n)
			}
		})
	}
}

func TestTransportLargeAnswerPassesThrough(t *testing.T) {
	hc, _, wc := setupTransport(t, 40001)
	big := `{"errcode":0,"data":"` + strings.Repeat("y", client.MaxInspectBytes) + `"}`
	wc.mu.Lock()
	wc.dead = nil
	wc.answer = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		// No Content-Length: the transport finds out by reading.
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, big)
	}
	wc.mu.Unlock()
	resp, err := hc.Get(wc.URL + "/cgi-bin/material/get_material")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != big {
		t.Errorf("got %d bytes, want the %d sent", len(got), len(big))
	}
}

func TestTransportQuery(t *testing.T) {
	hc, _, wc := setupTransport(t, 40001)
	wc.mu.Lock()
	wc.dead = nil
	wc.mu.Unlock()
	req, err := http.NewRequest(http.MethodGet, wc.URL+"/cgi-bin/user/get?access_token=mine&next_openid=o%2B1&access%5Ftoken=escaped&lang=zh_CN", nil)
	if err != nil {
		t.Fatal(err)
	}
	orig := req.URL.String()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got, want := wc.seen()[0].rawQuery, "next_openid=o%2B1&lang=zh_CN&access_token="+tok(1); got != want {
		t.Errorf("query %q, want %q", got, want)
	}
	if req.URL.String() != orig {
		t.Errorf("the caller's request was changed to %s", req.URL)
	}
}

// TestTransportConcurrentRejections checks that many requests failing
// with the same dead token at once cause one report, not a stampede.
func TestTransportConcurrentRejections(t *testing.T) {
	const n = 20
	hc, wxt, wc := setupTransport(t, 42001)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Post(wc.URL+"/cgi-bin/message/custom/send", "application/json", bytes.NewReader([]byte(`{}`)))
			if err != nil {
				t.Error(err)
				return
			}
			if body := readAll(t, resp); !strings.HasPrefix(body, `{"errcode":0,`) {
				t.Errorf("answer %s", body)
			}
		}()
	}
	wg.Wait()
	if got := wxt.count("refresh access_token"); got != 1 {
		t.Errorf("%d reports to the server, want 1", got)
	}
}

func TestTransportServerDown(t *testing.T) {
	wxt := startServer(t)
	wxt.set(func(f *fakeServer) {
		f.fail = func(w http.ResponseWriter) {
			writeError(w, http.StatusServiceUnavailable, wxtoken.EUnavailable, "no valid access_token: IP not whitelisted", 40164)
		}
	})
	c := newClient(t, wxt)
	wc := newFakeWeChat(t, 40001)
	hc := &http.Client{Transport: c.Transport(testAppID, nil)}
	_, err := hc.Get(wc.URL + "/cgi-bin/get_api_domain_ip")
	var e *wxtoken.Error
	if !errors.As(err, &e) || e.WeChatErrCode != 40164 {
		t.Errorf("error %v, want the server's error", err)
	}
	if n := len(wc.seen()); n != 0 {
		t.Errorf("WeChat saw %d requests without a token, want none", n)
	}
}
