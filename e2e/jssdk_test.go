package e2e_test

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
)

type jssdkJSON struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

// TestJSSDKConfigSignature: the wx.config signature verifies against the
// jsapi ticket the tickets route hands out, the URL signed is the page URL
// without its fragment, and a URL that cannot be a page's location is 400.
func TestJSSDKConfigSignature(t *testing.T) {
	integration.Skip(t)
	const appID = "wxjssdk"
	e := newEnv(t, setup{
		apps: []appSpec{{id: appID, api: "stable", tickets: []string{"jsapi"}}},
		ttl:  time.Minute, overlap: 5 * time.Second,
	})
	e.start()
	ticket := e.ticket(t, appID, "jsapi").value
	if st := e.sim.Check(ticket); !st.Valid || st.Kind != "jsapi" {
		t.Fatalf("the jsapi ticket is not valid at the simulator: %+v", st)
	}
	path := "/v1/apps/" + appID + "/jssdk_config?url="

	for _, c := range []struct{ page, signed string }{
		{"https://shop.example.com/pay?order=42&from=menu#/cart", "https://shop.example.com/pay?order=42&from=menu"},
		{"http://example.com/", "http://example.com/"},
		{"https://example.com:8443/a/b.html?x=%E4%BD%A0#", "https://example.com:8443/a/b.html?x=%E4%BD%A0"},
		{"https://example.com/p#a#b", "https://example.com/p"},
	} {
		nonces := map[string]bool{}
		for range 2 {
			before := time.Now().Unix()
			a := e.mustDo(t, http.MethodGet, path+url.QueryEscape(c.page), e.key, "")
			after := time.Now().Unix()
			if a.status != http.StatusOK {
				t.Fatalf("jssdk_config for %s: %s", c.page, a)
			}
			var cfg jssdkJSON
			if err := strictJSON(a.body, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.AppID != appID || cfg.URL != c.signed || cfg.NonceStr == "" {
				t.Errorf("jssdk_config for %s = %+v, want appId %s and url %s", c.page, cfg, appID, c.signed)
			}
			if cfg.Timestamp < before || cfg.Timestamp > after {
				t.Errorf("timestamp %d is not the time of the request (%d to %d)", cfg.Timestamp, before, after)
			}
			sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + cfg.NonceStr +
				"&timestamp=" + strconv.FormatInt(cfg.Timestamp, 10) + "&url=" + c.signed))
			if want := hex.EncodeToString(sum[:]); cfg.Signature != want {
				t.Errorf("signature for %s = %s, want %s", c.page, cfg.Signature, want)
			}
			if nonces[cfg.NonceStr] {
				t.Errorf("the same nonce twice: %s", cfg.NonceStr)
			}
			nonces[cfg.NonceStr] = true
		}
	}

	for _, c := range []struct{ name, query string }{
		{"relative URL", "url=" + url.QueryEscape("/pay?order=1")},
		{"another scheme", "url=" + url.QueryEscape("ftp://example.com/file")},
		{"javascript", "url=" + url.QueryEscape("javascript:alert(1)")},
		{"no host", "url=" + url.QueryEscape("https:///path")},
		{"not a URL", "url=" + url.QueryEscape("not a url")},
		{"empty", "url="},
		{"missing", ""},
		{"page query not encoded", "url=https://example.com/pay?order=1&from=menu"},
		{"twice", "url=" + url.QueryEscape("https://a.example.com/") + "&url=" + url.QueryEscape("https://b.example.com/")},
	} {
		a := e.mustDo(t, http.MethodGet, "/v1/apps/"+appID+"/jssdk_config?"+c.query, e.key, "")
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: want 400, got %s", c.name, a)
			continue
		}
		apiError(t, a, http.StatusBadRequest, "invalid")
	}
}
