package simulator

import (
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// TestOrdinaryAPI: any other path called with an access_token is checked
// like get_api_domain_ip and answered with a plain success, whatever the
// method and body; it is counted under "api" for the token's owner.
func TestOrdinaryAPI(t *testing.T) {
	f := newFixture(t, Options{TTL: time.Hour, Overlap: time.Minute})
	tok := f.token(f.classic("wxA"))
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/cgi-bin/user/info?openid=o1&access_token=" + tok, ""},
		{"POST", "/cgi-bin/message/custom/send?access_token=" + tok, `{"touser":"o1","msgtype":"text"}`},
		{"POST", "/wxa/getwxacode?access_token=" + tok, `{"path":"pages/index"}`},
		{"GET", "/datacube/getusersummary?access_token=" + tok, ""},
	} {
		a := f.do(c.method, c.path, c.body)
		if a.Status != 200 || a.Raw != `{"errcode":0,"errmsg":"ok"}` || a.ContentType != wxContentType {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, a.Status, a.ContentType, a.Raw)
		}
	}
	if a := f.do("GET", "/cgi-bin/getcallbackip?access_token="+tok, ""); a.Raw != `{"ip_list":["101.89.47.18","101.91.34.103"]}` {
		t.Errorf("getcallbackip: %s", a.Raw)
	}
	if got := f.sim.Calls(EndpointAPI, "wxA"); got != 5 {
		t.Errorf("Calls(api, wxA) = %d, want 5", got)
	}

	wantErr(t, f.do("GET", "/cgi-bin/user/info?access_token=95_neverissued", ""), wechat.ErrInvalidCredential)
	wantErr(t, f.do("GET", "/cgi-bin/user/info?access_token=", ""), wechat.ErrInvalidToken)
	if got := f.sim.Calls(EndpointAPI, ""); got != 7 {
		t.Errorf("Calls(api) = %d, want 7", got)
	}

	// Replaced: the overlap runs out, then 40001; expired: 42001.
	next := f.token(f.classic("wxA"))
	f.clock.Advance(time.Minute)
	wantErr(t, f.do("GET", "/cgi-bin/menu/get?access_token="+tok, ""), wechat.ErrInvalidCredential)
	f.clock.Advance(time.Hour)
	wantErr(t, f.do("GET", "/cgi-bin/menu/get?access_token="+next, ""), wechat.ErrTokenExpired)

	// Faults reach it like any endpoint.
	tok = f.token(f.classic("wxA"))
	if err := f.sim.Inject(Fault{Endpoint: EndpointAPI, Kind: FaultErrCode, ErrCode: wechat.ErrInvalidCredential, Count: 1}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.do("POST", "/cgi-bin/message/custom/send?access_token="+tok, "{}"), wechat.ErrInvalidCredential)
	if a := f.do("POST", "/cgi-bin/message/custom/send?access_token="+tok, "{}"); a.Raw != `{"errcode":0,"errmsg":"ok"}` {
		t.Errorf("after the fault: %s", a.Raw)
	}
}
