package compat

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// Client keys of the front door under test: shop is granted wxA, other
// wxB, all every app.
const (
	keyShop  = "wxt_shop-0123456789abcdef"
	keyOther = "wxt_other-0123456789abcdef"
	keyAll   = "wxt_all-0123456789abcdef"
	// appToken is a token the front door handed out for wxA; any other
	// access_token is not one of its own.
	appToken = "95_handed-out-by-wxtoken"
	// current is what the Service holds for every app now.
	current = "95_current-app-token"
)

// seen is one call as the upstream received it.
type seen struct {
	method, path, query string
	header              http.Header
}

// snsFront is a front door for wxA (secretA) and wxB (secretB) in front of
// an upstream that records each call and answers a plain success.
type snsFront struct {
	h     *Handler
	mu    sync.Mutex
	calls []seen
	// credentials counts the Service's Credential calls.
	credentials int
}

func newSNSFront(t *testing.T) *snsFront {
	t.Helper()
	f := &snsFront{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone()})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(`{"openid":"o1","session_key":"k"}`))
	}))
	t.Cleanup(up.Close)
	var clients []clientkey.Client
	for name, c := range map[string]struct {
		key  string
		apps []string
	}{"shop": {keyShop, []string{"wxA"}}, "other": {keyOther, []string{"wxB"}}, "all": {keyAll, []string{"*"}}} {
		sum := sha256.Sum256([]byte(c.key))
		clients = append(clients, clientkey.Client{Name: name, KeySHA256: hex.EncodeToString(sum[:]), Apps: c.apps})
	}
	ring, err := clientkey.New(clients)
	if err != nil {
		t.Fatal(err)
	}
	f.h, err = New(Options{
		Service: stubService(func() (wxtoken.Grant, error) {
			f.mu.Lock()
			f.credentials++
			f.mu.Unlock()
			return wxtoken.Grant{}, errors.New("an /sns/ call asked for the app's token")
		}),
		AppOf: func(tok string) (string, bool) {
			if tok == appToken {
				return "wxA", true
			}
			return "", false
		},
		Apps:     []App{{AppID: "wxA", Secret: "secretA"}, {AppID: "wxB", Secret: "secretB"}},
		Keys:     ring,
		Upstream: up.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends a call to the front door and returns its answer and the calls
// the upstream received for it.
func (f *snsFront) do(t *testing.T, method, target string, header map[string]string) (*httptest.ResponseRecorder, []seen) {
	t.Helper()
	f.mu.Lock()
	n := len(f.calls)
	f.mu.Unlock()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	for _, s := range []string{"secretA", "secretB", keyShop, keyOther, keyAll, current} {
		if strings.Contains(rec.Body.String(), s) || strings.Contains(rec.Header().Get("Content-Type"), s) {
			t.Errorf("%s %s: the answer holds a secret, key or token: %s", method, target, rec.Body)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return rec, append([]seen(nil), f.calls[n:]...)
}

// TestSNSRelayedUnchanged: each /sns/ call the front door knows reaches the
// upstream with its path and query as sent, whatever else the call
// carries; a user's token, even one that looks like wxtoken's own, is
// never swapped, and the app's token is never asked for.
func TestSNSRelayedUnchanged(t *testing.T) {
	f := newSNSFront(t)
	keyHeaders := map[string]string{"Authorization": "Bearer " + keyShop, HeaderAppID: "wxA"}
	for _, c := range []struct {
		name, target string
		header       map[string]string
	}{
		{"jscode2session", "/sns/jscode2session?appid=wxA&secret=secretA&js_code=c0de&grant_type=authorization_code", nil},
		{"oauth2 access_token", "/sns/oauth2/access_token?appid=wxB&secret=secretB&code=c0de&grant_type=authorization_code", nil},
		{"oauth2 refresh_token", "/sns/oauth2/refresh_token?appid=wxA&grant_type=refresh_token&refresh_token=R.1%2Bx", nil},
		{"component jscode2session", "/sns/component/jscode2session?appid=wxA&js_code=c&grant_type=authorization_code&component_appid=wxP&component_access_token=CAT", nil},
		{"userinfo", "/sns/userinfo?access_token=USER_TOKEN&openid=o1&lang=zh_CN", nil},
		{"auth", "/sns/auth?access_token=USER_TOKEN&openid=o1", nil},
		{"userinfo with a key and the appid header", "/sns/userinfo?access_token=USER_TOKEN&openid=o1", keyHeaders},
		{"auth with a key and the appid header", "/sns/auth?openid=o1&access_token=USER_TOKEN", keyHeaders},
		{"userinfo with a token wxtoken handed out", "/sns/userinfo?access_token=" + appToken + "&openid=o1", nil},
		{"refresh_token with a key and the appid header", "/sns/oauth2/refresh_token?appid=wxA&grant_type=refresh_token&refresh_token=R", keyHeaders},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, got := f.do(t, http.MethodGet, c.target, c.header)
			if rec.Code != 200 || rec.Body.String() != `{"openid":"o1","session_key":"k"}` {
				t.Fatalf("answer: %d %s", rec.Code, rec.Body)
			}
			if len(got) != 1 {
				t.Fatalf("%d upstream calls, want 1", len(got))
			}
			path, query, _ := strings.Cut(c.target, "?")
			if got[0].method != "GET" || got[0].path != path || got[0].query != query {
				t.Errorf("upstream got %s %s?%s, want the call as sent", got[0].method, got[0].path, got[0].query)
			}
			if got[0].header.Get("Authorization") != "" || got[0].header.Get(HeaderAppID) != "" {
				t.Errorf("the client key or the appid header reached the upstream")
			}
		})
	}
	if f.credentials != 0 {
		t.Errorf("the app's token was asked for %d times", f.credentials)
	}
}

// TestSNSKeyInPlaceOfSecret: a client key granted the app, sent where the
// AppSecret goes, is replaced with the AppSecret on the way to WeChat, in
// its place, with the rest of the query as sent.
func TestSNSKeyInPlaceOfSecret(t *testing.T) {
	f := newSNSFront(t)
	for _, c := range []struct{ target, want string }{
		{"/sns/jscode2session?appid=wxA&secret=" + keyShop + "&js_code=c0de&grant_type=authorization_code",
			"appid=wxA&secret=secretA&js_code=c0de&grant_type=authorization_code"},
		{"/sns/oauth2/access_token?grant_type=authorization_code&secret=" + keyAll + "&code=c&appid=wxB",
			"grant_type=authorization_code&secret=secretB&code=c&appid=wxB"},
		// The same key twice is one key.
		{"/sns/jscode2session?appid=wxA&secret=" + keyShop + "&js_code=c&secret=" + keyShop,
			"appid=wxA&secret=secretA&js_code=c"},
	} {
		rec, got := f.do(t, http.MethodGet, c.target, nil)
		if rec.Code != 200 || len(got) != 1 || got[0].query != c.want {
			t.Errorf("%s: answer %s; upstream got %+v", strings.SplitN(c.target, "?", 2)[0], rec.Body, got)
		}
	}
}

// TestSNSRefused: /sns/ calls that do not carry what their kind needs are
// answered by wxtoken with WeChat's errcode and never reach the upstream;
// paths near the known ones get no special treatment.
func TestSNSRefused(t *testing.T) {
	f := newSNSFront(t)
	for _, c := range []struct {
		name, method, target string
		header               map[string]string
		errcode              int
	}{
		{"POST", "POST", "/sns/userinfo?access_token=U&openid=o1", nil, 43001},
		{"escaped path", "GET", "/sns%2Fuserinfo?access_token=U&openid=o1", nil, 40066},
		{"escaped letter", "GET", "/sns/user%69nfo?access_token=U&openid=o1", nil, 40066},
		{"no appid", "GET", "/sns/jscode2session?secret=secretA&js_code=c", nil, 41002},
		{"no secret", "GET", "/sns/jscode2session?appid=wxA&js_code=c", nil, 41004},
		{"empty secret", "GET", "/sns/oauth2/access_token?appid=wxA&secret=&code=c", nil, 41004},
		{"unknown appid", "GET", "/sns/jscode2session?appid=wxZ&secret=secretA&js_code=c", nil, 40013},
		{"another app's secret", "GET", "/sns/jscode2session?appid=wxA&secret=secretB&js_code=c", nil, 40125},
		{"a key not granted the app", "GET", "/sns/jscode2session?appid=wxA&secret=" + keyOther + "&js_code=c", nil, 40125},
		{"an unknown key", "GET", "/sns/oauth2/access_token?appid=wxA&secret=wxt_revoked&code=c", nil, 40125},
		{"two secrets", "GET", "/sns/jscode2session?appid=wxA&secret=secretA&secret=" + keyShop + "&js_code=c", nil, 40125},
		{"two appids", "GET", "/sns/jscode2session?appid=wxA&appid=wxB&secret=secretA&js_code=c", nil, 40013},
		{"a key in the header instead of the secret", "GET", "/sns/jscode2session?appid=wxA&js_code=c", map[string]string{"Authorization": "Bearer " + keyShop, HeaderAppID: "wxA"}, 41004},
		{"refresh without appid", "GET", "/sns/oauth2/refresh_token?grant_type=refresh_token&refresh_token=R", nil, 41002},
		{"refresh for an unknown app", "GET", "/sns/oauth2/refresh_token?appid=wxZ&grant_type=refresh_token&refresh_token=R", nil, 40013},
		{"refresh without refresh_token", "GET", "/sns/oauth2/refresh_token?appid=wxA&grant_type=refresh_token", nil, 41003},
		{"component without its token", "GET", "/sns/component/jscode2session?appid=wxA&js_code=c&component_appid=wxP", nil, 41001},
		{"component for an unknown app", "GET", "/sns/component/jscode2session?appid=wxZ&js_code=c&component_appid=wxP&component_access_token=CAT", nil, 40013},
		{"userinfo without a token", "GET", "/sns/userinfo?openid=o1", nil, 41001},
		{"userinfo with an empty token", "GET", "/sns/userinfo?access_token=&openid=o1", nil, 41001},
		{"userinfo with two tokens", "GET", "/sns/userinfo?access_token=U&access_token=V&openid=o1", nil, 40014},
		{"userinfo without openid", "GET", "/sns/userinfo?access_token=U", nil, 41009},
		{"auth without openid", "GET", "/sns/auth?access_token=U&openid=", nil, 41009},
		// Not the known paths: the ordinary relay's rules, which refuse a
		// token wxtoken did not hand out, or none.
		{"below userinfo", "GET", "/sns/userinfo/more?access_token=U&openid=o1", nil, 40001},
		{"userinfo in capitals", "GET", "/sns/USERINFO?access_token=U&openid=o1", nil, 40001},
		{"another sns path", "GET", "/sns/anything?openid=o1", nil, 41001},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, got := f.do(t, c.method, c.target, c.header)
			var b errorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &b)
			if rec.Code != 200 || b.ErrCode != c.errcode || !strings.HasPrefix(b.ErrMsg, "wxtoken: ") {
				t.Errorf("answer %d %s, want errcode %d", rec.Code, rec.Body, c.errcode)
			}
			if len(got) != 0 {
				t.Errorf("a refused call reached the upstream: %+v", got)
			}
		})
	}
}

// TestKeyInPlaceOfSecretForTokens: /cgi-bin/token and stable_token take a
// client key granted the app in place of its AppSecret, and refuse any
// other key as they refuse a wrong secret, without saying which it was.
func TestKeyInPlaceOfSecretForTokens(t *testing.T) {
	h := newStub(t, func() (wxtoken.Grant, error) { return wxtoken.Grant{Value: "T", ExpiresIn: time.Hour}, nil })
	sum := sha256.Sum256([]byte(keyShop))
	other := sha256.Sum256([]byte(keyOther))
	ring, err := clientkey.New([]clientkey.Client{
		{Name: "shop", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{"wxA"}},
		{Name: "other", KeySHA256: hex.EncodeToString(other[:]), Apps: []string{"wxB"}, Admin: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := *h.apps.Load()
	acc.keys = ring
	h.apps.Store(&acc)
	stable := func(secret string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(stableRequest{GrantType: "client_credential", AppID: "wxA", Secret: secret})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cgi-bin/stable_token", strings.NewReader(string(b))))
		return rec
	}
	classic := func(secret string) *httptest.ResponseRecorder {
		rec, _ := get(h, "/cgi-bin/token?grant_type=client_credential&appid=wxA&secret="+secret)
		return rec
	}
	for _, c := range []struct {
		secret string
		ok     bool
	}{
		{"secretA", true},
		{keyShop, true},
		{keyOther, false}, // granted another app (and an admin key)
		{"wxt_revoked-or-never-configured", false},
		{keyShop + "x", false},
	} {
		for name, call := range map[string]func(string) *httptest.ResponseRecorder{"token": classic, "stable_token": stable} {
			rec := call(c.secret)
			body := rec.Body.String()
			if c.ok != strings.Contains(body, `"access_token":"T"`) {
				t.Errorf("%s with %.12s...: %s", name, c.secret, body)
			}
			if !c.ok && (!strings.Contains(body, `"errcode":40125`) || !strings.Contains(body, msgWrongSecret)) {
				t.Errorf("%s with %.12s...: %s, want 40125 and one message for every wrong secret", name, c.secret, body)
			}
			if strings.Contains(body, c.secret) {
				t.Errorf("%s: the answer repeats the secret sent", name)
			}
		}
	}
}

// TestSNSUnderABasePath: below a base path the login calls are relayed
// with the base path taken off, and their spelling is checked below it.
func TestSNSUnderABasePath(t *testing.T) {
	f := newSNSFront(t)
	f.h.base = "/wechat"
	rec, got := f.do(t, http.MethodGet, "/wechat/sns/auth?access_token=U&openid=o1", nil)
	if rec.Code != 200 || len(got) != 1 || got[0].path != "/sns/auth" || got[0].query != "access_token=U&openid=o1" {
		t.Fatalf("answer %s; upstream got %+v", rec.Body, got)
	}
	rec, got = f.do(t, http.MethodGet, "/wechat/sns%2Fauth?access_token=U&openid=o1", nil)
	if !strings.Contains(rec.Body.String(), `"errcode":40066`) || len(got) != 0 {
		t.Fatalf("an escaped spelling below the base path: %s; upstream got %+v", rec.Body, got)
	}
}
