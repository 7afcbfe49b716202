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
	fill := strings.NewReplacer("{appid}", "wxA", "{type}", "jsapi", "{corpid}", "wwA", "{agentid}", "1000002",
		"{component_appid}", "wxC", "{authorizer_appid}", "wxB")
	for _, p := range RoutePaths() {
		// A path is served by one or more of these methods.
		var routed []string
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			if _, pattern := h.mux.Handler(httptest.NewRequest(method, fill.Replace(p), nil)); pattern == method+" "+p {
				routed = append(routed, method)
			}
		}
		if len(routed) == 0 {
			t.Errorf("%s is routed by none of GET, POST, PUT and DELETE", p)
		}
	}
}
