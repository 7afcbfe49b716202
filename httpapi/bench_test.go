package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxtoken/wxtoken"

	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/metrics"
)

// BenchmarkAccessToken measures an authenticated GET of an access_token
// through the whole Handler (routing, key check, grant, JSON, metrics)
// against a Service that answers at once, so the cost is the HTTP layer's.
// Compare it with BenchmarkBaseline.
func BenchmarkAccessToken(b *testing.B) {
	h, err := httpapi.New(httpapi.Options{
		Service: fixedService(grant(appShop, wxtoken.KindAccessToken)),
		Clients: testClients(),
		Apps:    []string{appShop, appOther},
		Metrics: metrics.New(),
	})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/apps/"+appShop+"/access_token", nil)
	r.Header.Set("Authorization", "Bearer "+keyShop)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkBaseline is the least a JSON handler can cost: a constant body
// behind a plain http.HandlerFunc, measured the same way.
func BenchmarkBaseline(b *testing.B) {
	body := []byte(`{"appid":"wx0123456789abcdef","access_token":"VALUE-wx0123456789abcdef-access_token","expires_in":7000,"expires_at":"2025-03-01T13:56:40Z"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
	r := httptest.NewRequest(http.MethodGet, "/v1/apps/"+appShop+"/access_token", nil)
	r.Header.Set("Authorization", "Bearer "+keyShop)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// fixedService answers every request with g and records nothing, so that
// the benchmark measures the HTTP layer alone.
func fixedService(g wxtoken.Grant) *mock.Service {
	return &mock.Service{
		CredentialFn: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) { return g, nil },
		RefreshFn:    func(context.Context, string, wxtoken.Kind, string) (wxtoken.Grant, error) { return g, nil },
	}
}
