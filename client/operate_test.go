package client_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// retrier records the ids it is asked to retry.
type retrier struct {
	mu  sync.Mutex
	ids []string
}

func (r *retrier) RetryNow(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	return nil
}

// clearer answers clears with a count that goes down.
type clearer struct{ left int }

func (c *clearer) ClearQuota(_ context.Context, appID string) (httpapi.ClearQuotaResponse, error) {
	if c.left == 0 {
		return httpapi.ClearQuotaResponse{}, wxtoken.Errorf(wxtoken.ERateLimited, "none left")
	}
	c.left--
	return httpapi.ClearQuotaResponse{AppID: appID, ClearRemainingThisMonth: c.left, Quota: &wxtoken.QuotaStatus{DailyLimit: 2000}}, nil
}

func operateServer(t *testing.T, r *retrier, c *clearer) string {
	t.Helper()
	ids := []string{"wx0123456789abcdef", wxtoken.WeComID("ww0123456789abcdef", "1000002"), wxtoken.AuthorizerID("wxc0123456789abcde", "wxa0123456789abcde")}
	svc := &mock.Service{StatusFn: func(context.Context) []wxtoken.AppStatus {
		out := make([]wxtoken.AppStatus, len(ids))
		for i, id := range ids {
			out[i] = wxtoken.AppStatus{AppID: id}
		}
		return out
	}}
	h, err := httpapi.New(httpapi.Options{
		Service: svc,
		Retrier: r,
		Quotas:  c,
		Clients: []clientkey.Client{
			{Name: "ops", KeySHA256: hexSHA(opsKey), Admin: true},
			{Name: "shop", KeySHA256: hexSHA(shopKey), Apps: []string{"*"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestRetryNowOfEachFamily(t *testing.T) {
	r := &retrier{}
	base := operateServer(t, r, &clearer{left: 1})
	c := newOpsClient(t, base, opsKey)
	ids := []string{"wx0123456789abcdef", wxtoken.WeComID("ww0123456789abcdef", "1000002"), wxtoken.AuthorizerID("wxc0123456789abcde", "wxa0123456789abcde")}
	for _, id := range ids {
		st, err := c.RetryNow(t.Context(), id)
		if err != nil {
			t.Fatalf("RetryNow(%s): %v", id, err)
		}
		if st.AppID != id {
			t.Fatalf("RetryNow(%s) answered the status of %s", id, st.AppID)
		}
	}
	if len(r.ids) != 3 || r.ids[0] != ids[0] || r.ids[1] != ids[1] || r.ids[2] != ids[2] {
		t.Fatalf("retried %v, want %v", r.ids, ids)
	}
	if _, err := newOpsClient(t, base, shopKey).RetryNow(t.Context(), ids[0]); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Fatalf("a key that is not an admin's: err = %v, want forbidden", err)
	}
	if len(r.ids) != 3 {
		t.Fatalf("a refused retry reached the engine")
	}
}

func TestClearQuotaCountsDown(t *testing.T) {
	base := operateServer(t, &retrier{}, &clearer{left: 1})
	c := newOpsClient(t, base, opsKey)
	res, err := c.ClearQuota(t.Context(), "wx0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if (res != client.ClearQuotaResult{ClearRemainingThisMonth: 0, Quota: res.Quota}) || res.Quota == nil || res.Quota.DailyLimit != 2000 {
		t.Fatalf("ClearQuota = %+v", res)
	}
	if _, err := c.ClearQuota(t.Context(), "wx0123456789abcdef"); wxtoken.ErrorCode(err) != wxtoken.ERateLimited {
		t.Fatalf("past the month's clears: err = %v, want rate_limited", err)
	}
	if _, err := newOpsClient(t, base, shopKey).ClearQuota(t.Context(), "wx0123456789abcdef"); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Fatalf("a key that is not an admin's: err = %v, want forbidden", err)
	}
}
