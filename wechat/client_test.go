package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

const testSecret = "s3cr3t-AppSecret-value"

// closedURL returns the URL of a port on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func newTestClient(t *testing.T, base string, fallbacks ...string) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: base, FallbackBaseURLs: fallbacks, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientFallsBackOnTransportFailure(t *testing.T) {
	var calls atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != PathToken || r.URL.Query().Get("secret") != testSecret {
			t.Errorf("unexpected request %s", r.URL.Path)
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "wxtoken/") {
			t.Errorf("User-Agent = %q", ua)
		}
		io.WriteString(w, `{"access_token":"TOKEN","expires_in":7200}`)
	}))
	defer good.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer failing.Close()

	c := newTestClient(t, closedURL(t), failing.URL, good.URL)
	got, err := c.Token(context.Background(), "wxA", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got.Value != "TOKEN" || got.ExpiresIn != 7200*time.Second || calls.Load() != 1 {
		t.Fatalf("got %+v after %d calls", got, calls.Load())
	}
}

func TestClientDoesNotFallBackOnWeChatAnswer(t *testing.T) {
	var second atomic.Int32
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"errcode":45009,"errmsg":"reach max api daily quota limit rid: a-b-c"}`)
	}))
	defer first.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { second.Add(1) }))
	defer other.Close()
	c := newTestClient(t, first.URL, other.URL)
	_, err := c.Token(context.Background(), "wxA", testSecret)
	var api *APIError
	if !errors.As(err, &api) || api.ErrCode != 45009 || api.RID != "a-b-c" {
		t.Fatalf("err = %v", err)
	}
	if second.Load() != 0 {
		t.Fatal("a WeChat answer must not be retried on another host")
	}
}

func TestClientErrorsNeverCarrySecret(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer slow.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.invalid/?secret="+testSecret, http.StatusFound)
	}))
	defer redirect.Close()

	for name, base := range map[string]string{"refused": closedURL(t), "redirect": redirect.URL, "timeout": slow.URL} {
		t.Run(name, func(t *testing.T) {
			c, err := New(Options{BaseURL: base, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []func() error{
				func() error { _, err := c.Token(context.Background(), "wxA", testSecret); return err },
				func() error { _, err := c.StableToken(context.Background(), "wxA", testSecret, true); return err },
			} {
				err := call()
				if err == nil {
					t.Fatal("want an error")
				}
				var te *TransportError
				if !errors.As(err, &te) {
					t.Fatalf("err %T %v, want TransportError", err, err)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "secret=") {
					t.Fatalf("error leaks the secret: %v", err)
				}
			}
		})
	}
}

func TestClientCapsBody(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"`+strings.Repeat("a", MaxBodyBytes)+`","expires_in":7200}`)
	}))
	defer big.Close()
	_, err := newTestClient(t, big.URL).Token(context.Background(), "wxA", testSecret)
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(te.Reason, "larger") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathStableToken:
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPost {
				t.Errorf("stable_token: %v %s", err, r.Method)
			}
			if body["grant_type"] != "client_credential" || body["appid"] != "wxA" || body["secret"] != testSecret || body["force_refresh"] != true {
				t.Errorf("stable_token body %v", body)
			}
			io.WriteString(w, `{"access_token":"STABLE","expires_in":7000}`)
		case PathTicket:
			q := r.URL.Query()
			if q.Get("access_token") != "TOK" || q.Get("type") != "wx_card" {
				t.Errorf("getticket query %v", q)
			}
			io.WriteString(w, `{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}`)
		case PathProbe:
			if r.URL.Query().Get("access_token") == "TOK" {
				io.WriteString(w, `{"ip_list":["101.89.47.18"]}`)
				return
			}
			io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential rid: q"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/")
	ctx := context.Background()
	if got, err := c.StableToken(ctx, "wxA", testSecret, true); err != nil || got.Value != "STABLE" || got.ExpiresIn != 7000*time.Second {
		t.Fatalf("StableToken = %+v, %v", got, err)
	}
	if got, err := c.Ticket(ctx, "TOK", wxtoken.KindWxCard); err != nil || got.Value != "TICKET" {
		t.Fatalf("Ticket = %+v, %v", got, err)
	}
	if _, err := c.Ticket(ctx, "TOK", wxtoken.KindAccessToken); err == nil {
		t.Fatal("Ticket accepted a non-ticket kind")
	}
	if err := c.Probe(ctx, "TOK"); err != nil {
		t.Fatalf("Probe(live) = %v", err)
	}
	if err := c.Probe(ctx, "DEAD"); !IsTokenRejected(err) {
		t.Fatalf("Probe(dead) = %v, want token rejected", err)
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"api.weixin.qq.com", "ftp://x", "https://x/?a=b", "://"} {
		if _, err := New(Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := New(Options{BaseURL: "https://api.weixin.qq.com", FallbackBaseURLs: []string{"nope"}}); err == nil {
		t.Error("bad fallback accepted")
	}
}
