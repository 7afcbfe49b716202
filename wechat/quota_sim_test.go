package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// TestQuotaGetCountsTheAppsTokenCalls: quota/get answers the simulator's
// own daily counters of each token endpoint, and clear_quota/v2 resets
// them, ten times a month and no more.
func TestQuotaGetCountsTheAppsTokenCalls(t *testing.T) {
	ctx := context.Background()
	sim, srv, clock := startSim(t, simulator.Options{DailyQuota: 50, StableQuota: 70}, nil)
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	var tok string
	for range 3 {
		cred, err := c.Token(ctx, simApp, simSecret)
		if err != nil {
			t.Fatal(err)
		}
		tok = cred.Value
	}
	st, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.QuotaGet(ctx, tok, wechat.PathToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := (wechat.Quota{DailyLimit: 50, Used: 3, Remain: 47}); q != want {
		t.Fatalf("classic quota = %+v, want %+v", q, want)
	}
	if limit, used, _ := sim.Quota(simApp, wechat.PathToken); limit != q.DailyLimit || used != q.Used {
		t.Fatalf("simulator counts %d/%d, quota/get said %+v", used, limit, q)
	}
	q, err = c.QuotaGet(ctx, st.Value, wechat.PathStableToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := (wechat.Quota{DailyLimit: 70, Used: 1, Remain: 69}); q != want {
		t.Fatalf("stable quota = %+v, want %+v", q, want)
	}
	var api *wechat.APIError
	if _, err := c.QuotaGet(ctx, tok, "/cgi-bin/nothing"); !errors.As(err, &api) {
		t.Fatalf("unknown cgi_path: err = %v, want an APIError", err)
	}
	if _, err := c.QuotaGet(ctx, "not-a-token", wechat.PathToken); !errors.As(err, &api) || api.ErrCode != wechat.ErrInvalidCredential {
		t.Fatalf("unknown token: err = %v, want 40001", err)
	}

	if err := c.ClearQuota(ctx, simApp, "wrong"); !errors.As(err, &api) || api.ErrCode != wechat.ErrInvalidSecret {
		t.Fatalf("clear with a wrong secret: err = %v, want 40125", err)
	}
	for i := range wechat.ClearQuotaPerMonth {
		if err := c.ClearQuota(ctx, simApp, simSecret); err != nil {
			t.Fatalf("clear %d: %v", i+1, err)
		}
		if left := sim.ClearsLeft(simApp); left != wechat.ClearQuotaPerMonth-i-1 {
			t.Fatalf("after clear %d: %d left", i+1, left)
		}
	}
	q, err = c.QuotaGet(ctx, tok, wechat.PathToken)
	if err != nil {
		t.Fatal(err)
	}
	if q.Used != 0 || q.Remain != 50 {
		t.Fatalf("after a clear: %+v, want nothing used", q)
	}
	err = c.ClearQuota(ctx, simApp, simSecret)
	if !errors.As(err, &api) || api.ErrCode != wechat.ErrClearQuotaSpent {
		t.Fatalf("11th clear in a month: err = %v, want 48006", err)
	}
	if strings.Contains(err.Error(), simSecret) {
		t.Fatalf("the error quotes the secret: %v", err)
	}
	// A new month (in China Standard Time) brings ten more.
	clock.Advance(31 * 24 * time.Hour)
	if err := c.ClearQuota(ctx, simApp, simSecret); err != nil {
		t.Fatalf("clear in the next month: %v", err)
	}
	if got := sim.Calls(simulator.EndpointClearQuota, simApp); got != 13 {
		t.Fatalf("clear_quota calls counted = %d, want 13", got)
	}
}

// TestClearQuotaSendsTheSecretInTheBody: the AppSecret never goes into a
// URL, where proxies and access logs would keep it.
func TestClearQuotaSendsTheSecretInTheBody(t *testing.T) {
	_, srv, _ := startSim(t, simulator.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.String(), simSecret) {
				http.Error(w, "secret in the URL", http.StatusTeapot)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	if err := c.ClearQuota(context.Background(), simApp, simSecret); err != nil {
		t.Fatal(err)
	}
}

// TestQuotaGetRefusesAnAnswerWithoutFigures: an answer that lacks the
// quota is broken, not zero.
func TestQuotaGetRefusesAnAnswerWithoutFigures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok","quota":{"daily_limit":2000}}`))
	}))
	t.Cleanup(srv.Close)
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	var te *wechat.TransportError
	if _, err := c.QuotaGet(context.Background(), "tok", wechat.PathToken); !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TransportError", err)
	}
}
