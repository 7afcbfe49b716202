package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

func (f *fixture) minted() int {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	return len(f.sim.creds)
}

func (f *fixture) inject(flt Fault) {
	f.t.Helper()
	if err := f.sim.Inject(flt); err != nil {
		f.t.Fatal(err)
	}
}

func TestFaultErrCode(t *testing.T) {
	f := newFixture(t, Options{DailyQuota: 2})
	t1 := f.token(f.classic("wxA"))
	f.inject(Fault{Endpoint: EndpointToken, Kind: FaultErrCode, ErrCode: wechat.ErrDailyQuota, Count: 2})
	for range 2 {
		a := f.classic("wxA")
		wantErr(t, a, wechat.ErrDailyQuota)
		if !strings.HasPrefix(a.ErrMsg, "reach max api daily quota limit rid: ") {
			t.Errorf("errmsg %q", a.ErrMsg)
		}
	}
	// The faulted calls minted nothing, replaced nothing and used no quota.
	if st := f.sim.Check(t1); st.ExpiresIn != 7200 {
		t.Fatalf("faulted calls touched the token: %+v", st)
	}
	f.token(f.classic("wxA"))
	if got := f.sim.Calls(EndpointToken, "wxA"); got != 4 {
		t.Errorf("Calls = %d, want 4", got)
	}

	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrIPNotWhitelisted, Count: 1})
	a := f.stable("wxA", false)
	wantErr(t, a, wechat.ErrIPNotWhitelisted)
	if !strings.HasPrefix(a.ErrMsg, "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: ") {
		t.Errorf("40164 errmsg %q", a.ErrMsg)
	}
	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrRiskConfirm, ErrMsg: "please confirm", Count: 1})
	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrSystemBusy, ErrMsg: "busy rid: 00000000-11111111-22222222", Count: 1})
	if a := f.classic("wxB"); a.ErrCode != wechat.ErrRiskConfirm || !ridRE.MatchString(a.ErrMsg) || !strings.HasPrefix(a.ErrMsg, "please confirm rid: ") {
		t.Errorf("custom errmsg: %s", a.Raw)
	}
	if a := f.classic("wxB"); a.ErrCode != -1 || a.ErrMsg != "busy rid: 00000000-11111111-22222222" {
		t.Errorf("custom errmsg with rid: %s", a.Raw)
	}
}

// TestFaultKinds answers every endpoint with every kind of broken answer
// and checks that none of them changes state.
func TestFaultKinds(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(f.classic("wxA"))
	// A fresh connection per request: the transport would otherwise retry
	// a GET whose reused connection was dropped, hiding the fault.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	calls := map[string]func() (answer, error){
		EndpointToken: func() (answer, error) { return f.try(client, "GET", classicPath("wxA", "secretA"), "") },
		EndpointStableToken: func() (answer, error) {
			return f.try(client, "POST", "/cgi-bin/stable_token", stableBody("wxA", "secretA", false))
		},
		EndpointTicket: func() (answer, error) {
			return f.try(client, "GET", "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok, "")
		},
		EndpointProbe: func() (answer, error) {
			return f.try(client, "GET", "/cgi-bin/get_api_domain_ip?access_token="+tok, "")
		},
	}
	checks := map[string]func(answer, error) string{
		FaultHTTP500: func(a answer, err error) string {
			if err != nil || a.Status != 500 || !strings.HasPrefix(a.ContentType, "text/html") || !strings.Contains(a.Raw, "500") {
				return "want a 500 with an HTML body"
			}
			return ""
		},
		FaultHTML: func(a answer, err error) string {
			if err != nil || a.Status != 200 || !strings.HasPrefix(a.ContentType, "text/html") || !strings.HasPrefix(a.Raw, "<!DOCTYPE html>") {
				return "want a 200 HTML page"
			}
			return ""
		},
		FaultMalformed: func(a answer, err error) string {
			if err != nil || a.Status != 200 || a.ContentType != wxContentType || json.Valid([]byte(a.Raw)) {
				return "want a 200 JSON-labelled body that is not JSON"
			}
			return ""
		},
		FaultEmpty: func(a answer, err error) string {
			if err != nil || a.Status != 200 || !json.Valid([]byte(a.Raw)) || a.ErrCode != 0 || a.AccessToken != "" || a.Ticket != "" || len(a.IPList) != 0 {
				return "want a success shape with nothing in it"
			}
			return ""
		},
		FaultTruncated: func(a answer, err error) string {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				return "want an unexpected EOF"
			}
			return ""
		},
		FaultDrop: func(a answer, err error) string {
			if err == nil {
				return "want a transport error"
			}
			return ""
		},
	}
	for endpoint, call := range calls {
		for kind, check := range checks {
			before := f.minted()
			f.inject(Fault{Endpoint: endpoint, Kind: kind, Count: 1})
			a, err := call()
			if msg := check(a, err); msg != "" {
				t.Errorf("%s on %s: %s; got err %v status %d type %q body %q", kind, endpoint, msg, err, a.Status, a.ContentType, a.Raw)
			}
			if f.minted() != before {
				t.Errorf("%s on %s minted a credential", kind, endpoint)
			}
			if a, err := call(); err != nil || a.Status != 200 || a.ErrCode != 0 {
				t.Errorf("%s on %s: the call after a Count 1 fault: %v %s", kind, endpoint, err, a.Raw)
			}
		}
	}
	f.wantLive(tok)
}

func TestFaultTruncatedBody(t *testing.T) {
	f := newFixture(t, Options{})
	f.inject(Fault{Kind: FaultTruncated})
	// Without the transport's framing check, the body read is half a success.
	rec := httptest.NewRecorder()
	f.sim.ServeHTTP(rec, httptest.NewRequest("GET", classicPath("wxA", "secretA"), nil))
	body := rec.Body.String()
	announced, _ := strconv.Atoi(rec.Header().Get("Content-Length"))
	if !strings.HasPrefix(body, `{"access_token":"95_`) || json.Valid([]byte(body)) || len(body) != announced/2 {
		t.Fatalf("truncated body %q announced as %d bytes", body, announced)
	}
}

func TestFaultSlow(t *testing.T) {
	f := newFixture(t, Options{})
	f.inject(Fault{Kind: FaultSlow, Delay: 10 * time.Millisecond, Count: 1})
	f.token(f.classic("wxA")) // answered normally after the delay

	// A caller that gives up is let go at once, and nothing is minted.
	f.inject(Fault{Kind: FaultSlow, Delay: time.Hour})
	before := f.minted()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", classicPath("wxA", "secretA"), nil)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { f.sim.ServeHTTP(rec, req); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow answer ignored the cancelled request")
	}
	if rec.Body.Len() != 0 || f.minted() != before {
		t.Errorf("answered a caller that had gone: %q", rec.Body.String())
	}

	// Over HTTP: a client timeout ends the call.
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if _, err := f.try(client, "GET", classicPath("wxA", "secretA"), ""); err == nil {
		t.Fatal("want a timeout")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client waited for the whole delay")
	}
	f.sim.ClearFaults()
	f.token(f.classic("wxA"))
}

// TestFaultLate: a late call is carried out after the delay even though
// its caller gave up on it, and replaces the token of the moment as any
// classic call does; a caller that waits gets the answer.
func TestFaultLate(t *testing.T) {
	f := newFixture(t, Options{Overlap: 5 * time.Second})
	first := f.token(f.classic("wxA"))
	f.inject(Fault{Endpoint: EndpointToken, Kind: FaultLate, Delay: 100 * time.Millisecond, Count: 1})
	before := f.minted()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller is gone before the call is carried out
	req := httptest.NewRequestWithContext(ctx, "GET", classicPath("wxA", "secretA"), nil)
	start := time.Now()
	f.sim.ServeHTTP(httptest.NewRecorder(), req)
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("the late call was carried out after %v, before its delay", took)
	}
	if f.minted() != before+1 {
		t.Fatalf("the late call minted %d tokens, want 1", f.minted()-before)
	}
	// It replaced the first token, which now lives for the overlap only.
	f.wantLive(first)
	f.clock.Advance(5 * time.Second)
	f.wantDead(first, 40001)

	// A caller still there gets the token minted late.
	f.inject(Fault{Endpoint: EndpointToken, Kind: FaultLate, Delay: 10 * time.Millisecond, Count: 1})
	f.wantLive(f.token(f.classic("wxA")))
	if n := f.sim.Calls(EndpointToken, "wxA"); n != 3 {
		t.Errorf("%d token calls counted, want 3", n)
	}
}

func TestFaultDuration(t *testing.T) {
	f := newFixture(t, Options{})
	// A window: every matching call inside it fails, however many.
	f.inject(Fault{Kind: FaultErrCode, ErrCode: -1, For: 10 * time.Second})
	for range 5 {
		wantErr(t, f.classic("wxA"), -1)
	}
	f.clock.Advance(9 * time.Second)
	wantErr(t, f.stable("wxA", false), -1)
	f.clock.Advance(time.Second)
	f.token(f.classic("wxA"))

	// Count and window: whichever ends first.
	f.inject(Fault{Kind: FaultErrCode, ErrCode: -1, Count: 100, For: time.Second})
	wantErr(t, f.classic("wxA"), -1)
	f.clock.Advance(time.Second)
	f.token(f.classic("wxA"))

	// Neither: until cleared.
	f.inject(Fault{Kind: FaultHTTP500})
	f.clock.Advance(24 * time.Hour)
	for range 3 {
		if a := f.classic("wxA"); a.Status != 500 {
			t.Fatalf("want 500, got %s", a.Raw)
		}
	}
	f.sim.ClearFaults()
	f.token(f.classic("wxA"))
}

func TestFaultMatching(t *testing.T) {
	f := newFixture(t, Options{})
	ta := f.token(f.classic("wxA"))
	tb := f.token(f.classic("wxB"))

	f.inject(Fault{Endpoint: EndpointToken, AppID: "wxB", Kind: FaultErrCode, ErrCode: wechat.ErrRiskPending})
	f.token(f.classic("wxA"))
	wantErr(t, f.classic("wxB"), wechat.ErrRiskPending)
	f.token(f.stable("wxB", false)) // another endpoint
	f.sim.ClearFaults()

	// For getticket the app is the token's owner.
	f.inject(Fault{Endpoint: EndpointTicket, AppID: "wxA", Kind: FaultErrCode, ErrCode: -1})
	wantErr(t, f.ticket(ta, "jsapi"), -1)
	if a := f.ticket(tb, "jsapi"); a.ErrCode != 0 {
		t.Fatalf("wxB's ticket: %s", a.Raw)
	}
	f.sim.ClearFaults()

	// The oldest matching fault answers first.
	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrMinuteLimit, Count: 1})
	f.inject(Fault{Kind: FaultErrCode, ErrCode: wechat.ErrRiskRejectedOnce, Count: 1})
	wantErr(t, f.classic("wxA"), wechat.ErrMinuteLimit)
	wantErr(t, f.classic("wxA"), wechat.ErrRiskRejectedOnce)
	f.token(f.classic("wxA"))
}

func TestInjectValidates(t *testing.T) {
	s, err := New(Options{Apps: map[string]string{"wxA": "s"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    Fault
		want string
	}{
		{Fault{Kind: "teapot"}, "unknown fault kind"},
		{Fault{Kind: FaultDrop, Endpoint: "ticket"}, "unknown endpoint"},
		{Fault{Kind: FaultErrCode}, "non-zero errcode"},
		{Fault{Kind: FaultHTML, ErrCode: 45009}, "only to fault kind errcode"},
		{Fault{Kind: FaultSlow}, "positive delay"},
		{Fault{Kind: FaultLate}, "positive delay"},
		{Fault{Kind: FaultDrop, Delay: time.Second}, "only to fault kind slow"},
		{Fault{Kind: FaultDrop, Count: -1}, "negative"},
		{Fault{Kind: FaultDrop, For: -time.Second}, "negative"},
	} {
		if err := s.Inject(c.f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Inject(%+v) = %v, want %q", c.f, err, c.want)
		}
	}
	if len(s.faults) != 0 {
		t.Error("an invalid fault was kept")
	}
}

func TestFaultJSON(t *testing.T) {
	in := Fault{Endpoint: EndpointToken, Kind: FaultSlow, Count: 2, For: 10 * time.Second, Delay: 1500 * time.Millisecond}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"endpoint":"token","kind":"slow","count":2,"for":"10s","delay":"1.5s"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var out Fault
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	for _, bad := range []string{`{"kind":"slow","delay":2}`, `{"kind":"slow","delay":"2 seconds"}`, `{"kind":"drop","delay_ms":5}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestDefaultErrMsgs(t *testing.T) {
	f := newFixture(t, Options{})
	for _, code := range []int{-1, 40001, 40013, 40125, 40164, 40243, 45009, 45011, 50004, 50007, 61004, 61024, 89501, 89503, 89506, 89507} {
		f.inject(Fault{Kind: FaultErrCode, ErrCode: code, Count: 1})
		a := f.classic("wxA")
		wantErr(t, a, code)
		if strings.HasPrefix(a.ErrMsg, "simulated error") {
			t.Errorf("errcode %d has no realistic errmsg", code)
		}
	}
	if a := f.classic("wxA"); a.ErrCode != 0 {
		t.Fatal(a.Raw)
	}
	if got := strings.Join(f.sim.AppIDs(), ","); got != "wxA,wxB" {
		t.Errorf("AppIDs = %s", got)
	}
}
