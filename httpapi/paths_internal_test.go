package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/metrics"
)

// TestRoutePathsAreRoutes: every path RoutePaths names is one the API's
// mux routes, with the method of its pattern.
func TestRoutePathsAreRoutes(t *testing.T) {
	h, err := New(Options{Service: &mock.Service{}, Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{appid}", "wxA", "{type}", "jsapi", "{corpid}", "wwA", "{agentid}", "1000002")
	for _, p := range RoutePaths() {
		method := http.MethodGet
		if strings.HasSuffix(p, "/refresh") {
			method = http.MethodPost
		}
		_, pattern := h.mux.Handler(httptest.NewRequest(method, fill.Replace(p), nil))
		if pattern != method+" "+p {
			t.Errorf("%s %s is routed to %q", method, p, pattern)
		}
	}
}
