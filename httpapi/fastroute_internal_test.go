package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/wxtoken/wxtoken/internal/mock"
)

// muxRoute is what the mux alone makes of r: the pattern it matches and
// the wildcards it extracts, or "" when it matches no route or redirects.
func muxRoute(h *Handler, r *http.Request) (string, params) {
	var (
		pattern string
		p       params
	)
	mux := http.NewServeMux()
	for _, pat := range []string{routeAccessToken, routeAccessTokenRefresh, routeTicket, routeTicketRefresh,
		routeJSSDKConfig, routeApps, routeHealthz, routeReadyz} {
		mux.HandleFunc(pat, func(_ http.ResponseWriter, r *http.Request) {
			pattern, p = pat, params{appID: r.PathValue("appid"), typ: r.PathValue("type")}
		})
	}
	mux.ServeHTTP(httptest.NewRecorder(), r)
	return pattern, p
}

// checkFastRoute fails when fastRoute claims a request that the mux would
// route elsewhere or with other wildcards.
func checkFastRoute(t *testing.T, h *Handler, r *http.Request) bool {
	t.Helper()
	rt, p, ok := h.fastRoute(r)
	if !ok {
		return false
	}
	pattern, mp := muxRoute(h, r)
	if pattern != rt.pattern || mp != p {
		t.Errorf("%s %q (raw %q): fastRoute gives %q %+v, the mux %q %+v", r.Method, r.URL.Path, r.URL.RawPath, rt.pattern, p, pattern, mp)
	}
	return true
}

func TestFastRouteAgreesWithMux(t *testing.T) {
	h, err := New(Options{Service: &mock.Service{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target string
		fast           bool
	}{
		{"GET", "/v1/apps/wx0123456789abcdef/access_token", true},
		{"GET", "/v1/apps/wx_a-b/tickets/jsapi", true},
		{"GET", "/v1/apps/wx1/tickets/wx_card", true},
		{"GET", "/v1/apps/wx1/tickets/other", false},   // the mux's 404 for the type
		{"HEAD", "/v1/apps/wx1/access_token", false},   // the mux serves HEAD too
		{"POST", "/v1/apps/wx1/access_token", false},   // 405
		{"GET", "/v1/apps//access_token", false},       // redirect to a clean path
		{"GET", "/v1/apps/../access_token", false},     // unclean
		{"GET", "/v1/apps/./access_token", false},      // unclean
		{"GET", "/v1/apps/wx%2F1/access_token", false}, // escaped slash
		{"GET", "/v1/apps/wx%41/access_token", false},  // escape the mux decodes
		{"GET", "/v1/apps/wx.1/access_token", false},
		{"GET", "/v1/apps/wx1/access_token/", false},
		{"GET", "/v1/apps/wx1/access_token/refresh", false},
		{"GET", "/v1/apps/wx1/tickets/jsapi/refresh", false},
		{"GET", "/v1/apps/wx1//access_token", false},
		{"GET", "/v1/apps/wx1", false},
		{"GET", "/v1/apps/", false},
		{"GET", "/v1/apps", false},
		{"GET", "/v1/apps/wx1/jssdk_config?url=x", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := checkFastRoute(t, h, r); got != tt.fast {
			t.Errorf("%s %s: fast route %v, want %v", tt.method, tt.target, got, tt.fast)
		}
	}
}

func FuzzFastRoute(f *testing.F) {
	for _, s := range []string{
		"/v1/apps/wx1/access_token", "/v1/apps/wx1/tickets/jsapi", "/v1/apps/wx1/tickets/wx_card",
		"/v1/apps/%2e%2e/access_token", "/v1/apps/wx1/tickets/%6asapi",
	} {
		f.Add(s)
	}
	h, err := New(Options{Service: &mock.Service{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, Host: "example.com", RequestURI: target}
		checkFastRoute(t, h, r)
	})
}

// TestPlainSegmentBytes holds the bit set of plainSegment to its
// definition for every byte value.
func TestPlainSegmentBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-'
		if got := plainSegment("wx" + string([]byte{b}) + "0"); got != want {
			t.Errorf("byte %#x: plainSegment %v, want %v", c, got, want)
		}
	}
}
