package simulator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// ctl calls the control API and checks status and content type.
func (f *fixture) ctl(method, path, body string, status int) string {
	f.t.Helper()
	a := f.do(method, path, body)
	if a.Status != status {
		f.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, a.Status, status, a.Raw)
	}
	if a.ContentType != ctlContentType {
		f.t.Errorf("%s %s: content type %q", method, path, a.ContentType)
	}
	return a.Raw
}

func TestControlFaults(t *testing.T) {
	f := newFixture(t, Options{})
	got := f.ctl("POST", "/_sim/faults", `{"endpoint":"token","kind":"errcode","errcode":45009,"count":3}`, 200)
	if want := `{"fault":{"endpoint":"token","kind":"errcode","errcode":45009,"count":3}}`; got != want {
		t.Errorf("inject: %s", got)
	}
	f.ctl("POST", "/_sim/faults", `{"kind":"slow","delay":"2s","for":"10s"}`, 200)
	wantErr(t, f.classic("wxA"), wechat.ErrDailyQuota)
	f.clock.Advance(4 * time.Second)
	got = f.ctl("GET", "/_sim/faults", "", 200)
	if want := `{"faults":[{"endpoint":"token","kind":"errcode","errcode":45009,"count":2},{"kind":"slow","for":"6s","delay":"2s"}]}`; got != want {
		t.Errorf("list: %s", got)
	}
	if got := f.ctl("DELETE", "/_sim/faults", "", 200); got != `{"cleared":2}` {
		t.Errorf("clear: %s", got)
	}
	if got := f.ctl("GET", "/_sim/faults", "", 200); got != `{"faults":[]}` {
		t.Errorf("list after clear: %s", got)
	}
	f.token(f.classic("wxA"))
	if got := f.ctl("POST", "/_sim/faults", `{"endpoint":"token","kind":"late","delay":"10ms","count":1}`, 200); got != `{"fault":{"endpoint":"token","kind":"late","count":1,"delay":"10ms"}}` {
		t.Errorf("inject late: %s", got)
	}
	f.token(f.classic("wxA"))

	for _, c := range []struct{ body, want string }{
		{``, "request body is empty"},
		{`{"kind":`, "invalid JSON body"},
		{`[1]`, "invalid JSON body"},
		{`{"kind":"drop"} {"kind":"drop"}`, "more than one JSON value"},
		{`{"kind":"drop","delay_ms":5}`, `unknown field "delay_ms"`},
		{`{"kind":"slow","delay":2}`, `Go duration string`},
		{`{"kind":"explode"}`, `invalid fault: unknown fault kind "explode"`},
		{`{"kind":"errcode"}`, `non-zero errcode`},
		{`{"kind":"late"}`, `fault kind late needs a positive delay`},
	} {
		got := f.ctl("POST", "/_sim/faults", c.body, 400)
		var e ctlError
		if err := json.Unmarshal([]byte(got), &e); err != nil || !strings.Contains(e.Error, c.want) {
			t.Errorf("POST %s: %s, want %q", c.body, got, c.want)
		}
	}
	if got := f.ctl("GET", "/_sim/faults", "", 200); got != `{"faults":[]}` {
		t.Errorf("bad input injected something: %s", got)
	}
	f.ctl("PUT", "/_sim/faults", "", 405)
}

func TestControlCallsCheckRotate(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(f.classic("wxA"))
	f.classic("wxA")
	f.stable("wxB", false)
	f.probe(tok)

	if got := f.ctl("GET", "/_sim/calls", "", 200); got != `{"calls":{"api":{},"get_api_domain_ip":{"wxA":1},"getticket":{},"sns":{},"stable_token":{"wxB":1},"token":{"wxA":2}}}` {
		t.Errorf("calls: %s", got)
	}
	for q, want := range map[string]string{
		"endpoint=token&appid=wxA": `{"count":2}`,
		"endpoint=token":           `{"count":2}`,
		"appid=wxA":                `{"count":3}`,
		"endpoint=token&appid=wxB": `{"count":0}`,
	} {
		if got := f.ctl("GET", "/_sim/calls?"+q, "", 200); got != want {
			t.Errorf("calls?%s: %s, want %s", q, got, want)
		}
	}
	f.ctl("GET", "/_sim/calls?endpoint=nope", "", 400)

	f.clock.Advance(10 * time.Second)
	got := f.ctl("GET", "/_sim/check?value="+tok, "", 200)
	if want := `{"known":true,"valid":true,"appid":"wxA","kind":"classic","expires_in":290,"reason":"valid"}`; got != want {
		t.Errorf("check: %s", got)
	}
	if got := f.ctl("GET", "/_sim/check?value=nope", "", 200); got != `{"known":false,"valid":false,"appid":"","kind":"","expires_in":0,"reason":"unknown"}` {
		t.Errorf("check unknown: %s", got)
	}
	f.ctl("GET", "/_sim/check", "", 400)

	got = f.ctl("POST", "/_sim/rotate", `{"appid":"wxB","what":"stable"}`, 200)
	var r struct{ Value string }
	if err := json.Unmarshal([]byte(got), &r); err != nil || r.Value == "" {
		t.Fatalf("rotate: %s", got)
	}
	if a := f.stable("wxB", false); a.AccessToken != r.Value {
		t.Errorf("stable after rotate: %s", a.Raw)
	}
	for _, body := range []string{`{"appid":"wxZ","what":"stable"}`, `{"appid":"wxA","what":"token"}`, `{"appid":"wxA"}`, `{"app":"wxA","what":"stable"}`, `nope`} {
		f.ctl("POST", "/_sim/rotate", body, 400)
	}
	f.ctl("GET", "/_sim/rotate", "", 405)
	f.ctl("GET", "/_sim/nothing", "", 404)
	f.ctl("GET", "/_sim", "", 404)
}
