package compat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// stubService answers Credential with fn; the front door's behaviour with
// a real engine is tested end to end in e2e.
func stubService(fn func() (wxtoken.Grant, error)) *mock.Service {
	return &mock.Service{CredentialFn: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
		return fn()
	}}
}

func newStub(t *testing.T, fn func() (wxtoken.Grant, error)) *Handler {
	t.Helper()
	h, err := New(Options{
		Service:  stubService(fn),
		AppOf:    func(string) (string, bool) { return "", false },
		Apps:     []App{{AppID: "wxA", Secret: "secretA"}},
		Upstream: "http://127.0.0.1:1",
		Next: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, target string) (*httptest.ResponseRecorder, errorBody) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	var b errorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	return rec, b
}

const tokenTarget = "/cgi-bin/token?grant_type=client_credential&appid=wxA&secret=secretA"

func TestServiceOutcomes(t *testing.T) {
	for _, c := range []struct {
		name    string
		fn      func() (wxtoken.Grant, error)
		errcode int
		msg     string
	}{
		{"panic", func() (wxtoken.Grant, error) { panic("boom") }, -1, "wxtoken: internal error"},
		{"wechat's errcode", func() (wxtoken.Grant, error) {
			return wxtoken.Grant{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "daily quota used up", WeChatErrCode: 45009}
		}, 45009, "wxtoken: daily quota used up"},
		{"unavailable", func() (wxtoken.Grant, error) {
			return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EUnavailable, "no valid credential")
		}, -1, "wxtoken: no valid credential"},
		{"plain error", func() (wxtoken.Grant, error) {
			return wxtoken.Grant{}, context.DeadlineExceeded
		}, -1, "wxtoken: system busy: gave up waiting for the credential"},
		{"less than a second left", func() (wxtoken.Grant, error) {
			return wxtoken.Grant{Value: "T", ExpiresIn: 900 * time.Millisecond}, nil
		}, -1, "wxtoken: system busy: no valid credential can be served now"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, b := get(newStub(t, c.fn), tokenTarget)
			if rec.Code != 200 || b.ErrCode != c.errcode || b.ErrMsg != c.msg {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != contentTypeWX {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestOtherPathsGoToNext(t *testing.T) {
	h := newStub(t, func() (wxtoken.Grant, error) { return wxtoken.Grant{Value: "T", ExpiresIn: time.Hour}, nil })
	for _, p := range []string{"/v1/apps/wxA/access_token", "/healthz", "/metrics", "/favicon.ico"} {
		if rec, _ := get(h, p); rec.Code != http.StatusTeapot {
			t.Errorf("%s: %d, want the next handler's", p, rec.Code)
		}
	}
	rec, _ := get(h, tokenTarget)
	if !strings.Contains(rec.Body.String(), `"access_token":"T","expires_in":3600`) {
		t.Errorf("token: %s", rec.Body)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	ok := Options{Service: &mock.Service{}, AppOf: func(string) (string, bool) { return "", false }, Upstream: "https://api.weixin.qq.com"}
	for name, mod := range map[string]func(*Options){
		"no service":          func(o *Options) { o.Service = nil },
		"no AppOf":            func(o *Options) { o.AppOf = nil },
		"relative upstream":   func(o *Options) { o.Upstream = "api.weixin.qq.com" },
		"upstream with query": func(o *Options) { o.Upstream = "https://api.weixin.qq.com/?x=1" },
		"unclean base path":   func(o *Options) { o.BasePath = "/a/../b" },
		"app without secret":  func(o *Options) { o.Apps = []App{{AppID: "wxA"}} },
	} {
		o := ok
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
