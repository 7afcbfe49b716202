package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/jssdk"
)

// The platform of the API server, its authorizers, and the keys: the
// platform's (granted the platform and, by name, its first authorizer) and
// an admin's.
const (
	platComp     = "wxc0c0c0c0c0c0c0c0"
	platAuth     = "wxa1a1a1a1a1a1a1a1"
	platAuthID   = platComp + ":" + platAuth
	platOther    = "wxb2b2b2b2b2b2b2b2" // an authorizer the platform key was not granted
	platKey      = "wxt_platform-client-key"
	platAdminKey = "wxt_platform-admin-key"
)

// platformServer is the server's real HTTP API over a mock Service, as
// apiServer, and a mock Platforms that records every call.
type platformServer struct {
	*apiServer
	pmu    sync.Mutex
	pcalls []string
	// importErr, when set, fails every import; guarded by pmu.
	importErr error
}

func hexSHA(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func startPlatformServer(t *testing.T) *platformServer {
	t.Helper()
	ps := &platformServer{apiServer: &apiServer{seq: map[string]int{}}}
	s := ps.apiServer
	record := func(call string) {
		ps.pmu.Lock()
		defer ps.pmu.Unlock()
		ps.pcalls = append(ps.pcalls, call)
	}
	h, err := httpapi.New(httpapi.Options{
		Service: &mock.Service{
			CredentialFn: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
				return s.answer("credential", id, kind, "")
			},
			RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
				return s.answer("refresh", id, kind, stale)
			},
		},
		Platforms: &mock.Platforms{
			PreAuthURLFn: func(_ context.Context, c, redirect, authType string) (string, error) {
				record("preauth " + c + " " + redirect + " " + authType)
				return "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=" + c + "&pre_auth_code=P&redirect_uri=" + url.QueryEscape(redirect), nil
			},
			AuthorizeFn: func(_ context.Context, c, code string) (wxtoken.Grant, error) {
				record("authorize " + c + " " + code)
				if code == "used" {
					return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EInvalid, "the auth_code was already used")
				}
				return s.answer("credential", wxtoken.AuthorizerID(c, platAuth), wxtoken.KindAccessToken, "")
			},
			ImportAuthorizerFn: func(_ context.Context, c, a, rt string) (wxtoken.AuthorizerStatus, error) {
				record("import " + c + " " + a + " " + rt)
				ps.pmu.Lock()
				importErr := ps.importErr
				ps.pmu.Unlock()
				if importErr != nil {
					return wxtoken.AuthorizerStatus{}, importErr
				}
				return wxtoken.AuthorizerStatus{ComponentAppID: c, AuthorizerAppID: a, State: wxtoken.EntryActive}, nil
			},
			AuthorizersFn: func(_ context.Context, c string) ([]wxtoken.AuthorizerStatus, error) {
				record("authorizers " + c)
				return []wxtoken.AuthorizerStatus{
					{ComponentAppID: c, AuthorizerAppID: platAuth, State: wxtoken.EntryActive},
					{ComponentAppID: c, AuthorizerAppID: platOther, State: wxtoken.EntryRemoved, Note: "unauthorized"},
				}, nil
			},
		},
		Components: []string{platComp},
		Clients: []clientkey.Client{
			{Name: "platform", KeySHA256: hexSHA(platKey), Apps: []string{platComp, platAuthID}},
			{Name: "ops", KeySHA256: hexSHA(platAdminKey), Admin: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return ps
}

func (ps *platformServer) platformCalls() []string {
	ps.pmu.Lock()
	defer ps.pmu.Unlock()
	return append([]string(nil), ps.pcalls...)
}

func newPlatformClient(t *testing.T, ps *platformServer, key string) *client.Client {
	t.Helper()
	c, err := client.New(ps.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestComponentAccessToken(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	ctx := context.Background()
	g, err := c.ComponentAccessToken(ctx, platComp)
	if err != nil {
		t.Fatal(err)
	}
	if g.Value != platComp+" access_token-1" || g.AppID != platComp || g.Kind != wxtoken.KindAccessToken || g.ExpiresIn != time.Hour {
		t.Errorf("grant %+v", g)
	}
	// An unknown platform is 403 to a key that could not see it, 404 to
	// an admin key.
	if _, err := c.ComponentAccessToken(ctx, "wxc000000000000000"); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("unknown platform: %v, want forbidden", err)
	}
	admin := newPlatformClient(t, ps, platAdminKey)
	if _, err := admin.ComponentAccessToken(ctx, "wxc000000000000000"); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Errorf("unknown platform, admin key: %v, want not found", err)
	}
	if _, err := admin.ComponentAccessToken(ctx, platComp); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("an admin key not granted the platform: %v, want forbidden", err)
	}
}

func TestPreAuthURL(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	ctx := context.Background()
	redirect := "https://saas.example.com/authorized?tenant=7&from=admin"
	u, err := c.PreAuthURL(ctx, platComp, redirect, "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "https://mp.weixin.qq.com/") || !strings.Contains(u, url.QueryEscape(redirect)) {
		t.Errorf("url %q", u)
	}
	if _, err := c.PreAuthURL(ctx, platComp, redirect, ""); err != nil {
		t.Fatal(err)
	}
	// The server's checks come back as its errors.
	if _, err := c.PreAuthURL(ctx, platComp, "/relative", ""); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("relative redirect: %v, want invalid", err)
	}
	want := []string{"preauth " + platComp + " " + redirect + " 3", "preauth " + platComp + " " + redirect + " "}
	if got := ps.platformCalls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestAuthorize(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	ctx := context.Background()
	g, err := c.Authorize(ctx, platComp, "queryauthcode@@@X")
	if err != nil {
		t.Fatal(err)
	}
	if g.AppID != platAuthID || g.Value != platAuthID+" access_token-1" || g.Kind != wxtoken.KindAccessToken || g.ExpiresIn != time.Hour {
		t.Errorf("grant %+v", g)
	}
	if _, err := c.Authorize(ctx, platComp, "used"); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("a used code: %v, want invalid", err)
	}
	if got := ps.platformCalls(); len(got) != 2 || got[0] != "authorize "+platComp+" queryauthcode@@@X" {
		t.Errorf("calls %q", got)
	}
}

func TestImportAuthorizerAndAuthorizers(t *testing.T) {
	ps := startPlatformServer(t)
	admin := newPlatformClient(t, ps, platAdminKey)
	ctx := context.Background()
	st, err := admin.ImportAuthorizer(ctx, platComp, platOther, "refreshtoken@@@R")
	if err != nil {
		t.Fatal(err)
	}
	if st.ComponentAppID != platComp || st.AuthorizerAppID != platOther || st.State != wxtoken.EntryActive {
		t.Errorf("status %+v", st)
	}
	list, err := admin.Authorizers(ctx, platComp)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].AuthorizerAppID != platAuth || list[1].State != wxtoken.EntryRemoved {
		t.Errorf("authorizers %+v", list)
	}
	want := []string{"import " + platComp + " " + platOther + " refreshtoken@@@R", "authorizers " + platComp}
	if got := ps.platformCalls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	// Both need an admin key.
	c := newPlatformClient(t, ps, platKey)
	if _, err := c.Authorizers(ctx, platComp); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("Authorizers with a platform key: %v, want forbidden", err)
	}
	if _, err := c.ImportAuthorizer(ctx, platComp, platOther, "R"); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("ImportAuthorizer with a platform key: %v, want forbidden", err)
	}
	ps.pmu.Lock()
	ps.importErr = &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat refused the refresh token", WeChatErrCode: 61023}
	ps.pmu.Unlock()
	_, err = admin.ImportAuthorizer(ctx, platComp, platOther, "R")
	var e *wxtoken.Error
	if !errors.As(err, &e) || e.Code != wxtoken.EUnavailable || e.WeChatErrCode != 61023 {
		t.Errorf("a refused import: %v", err)
	}
}

func TestAuthorizerAccessTokenCached(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	ctx := context.Background()
	for range 3 {
		tok, err := c.AuthorizerAccessToken(ctx, platComp, platAuth)
		if err != nil || tok != platAuthID+" access_token-1" {
			t.Fatalf("AuthorizerAccessToken = %q, %v", tok, err)
		}
	}
	if n := ps.count("credential " + platAuthID + " access_token"); n != 1 {
		t.Errorf("%d requests for three reads, want 1", n)
	}
	// The cache is the one AccessToken reads with the AuthorizerID.
	if tok, err := c.AccessToken(ctx, platAuthID); err != nil || tok != platAuthID+" access_token-1" || ps.count("credential "+platAuthID+" access_token") != 1 {
		t.Errorf("AccessToken(AuthorizerID) = %q, %v", tok, err)
	}
	fresh, err := c.AuthorizerRefresh(ctx, platComp, platAuth, platAuthID+" access_token-1")
	if err != nil || fresh != platAuthID+" access_token-2" {
		t.Fatalf("AuthorizerRefresh = %q, %v", fresh, err)
	}
	if tok, _ := c.AuthorizerAccessToken(ctx, platComp, platAuth); tok != fresh {
		t.Errorf("after the refresh: %q, want %q from the cache", tok, fresh)
	}
	// The uncached forms take the AuthorizerID.
	g, err := c.Refresh(ctx, platAuthID, wxtoken.KindAccessToken, fresh)
	if err != nil || g.Value != platAuthID+" access_token-3" || g.AppID != platAuthID {
		t.Errorf("Refresh(AuthorizerID) = %+v, %v", g, err)
	}
	if g, err := c.Credential(ctx, platAuthID, wxtoken.KindAccessToken); err != nil || g.Value != platAuthID+" access_token-3" {
		t.Errorf("Credential(AuthorizerID) = %+v, %v", g, err)
	}
	// The grant of the platform covers its every authorizer; an
	// authorizer of a platform the key was not granted is refused.
	if _, err := c.AuthorizerAccessToken(ctx, "wx0ther0platform00", platAuth); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("an authorizer of another platform: %v, want forbidden", err)
	}
}

func TestAuthorizerTicketsAndJSSDKConfig(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	ctx := context.Background()
	// (The mock Service keeps no wx_card ticket.)
	for _, kind := range []wxtoken.Kind{wxtoken.KindJSAPITicket} {
		for range 2 {
			v, err := c.AuthorizerTicket(ctx, platComp, platAuth, kind)
			if err != nil || v != platAuthID+" "+string(kind)+"-1" {
				t.Fatalf("%s: %q, %v", kind, v, err)
			}
		}
		if n := ps.count("credential " + platAuthID + " " + string(kind)); n != 1 {
			t.Errorf("%s: %d requests for two reads, want 1", kind, n)
		}
	}
	page := "https://shop.example.com/pay?order=42&from=menu"
	cfg, err := c.AuthorizerJSSDKConfig(ctx, platComp, platAuth, page+"#top")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppID != platAuth || cfg.URL != page {
		t.Errorf("config %+v", cfg)
	}
	if want := jssdk.Sign(platAuthID+" jsapi-1", cfg.NonceStr, cfg.Timestamp, page); cfg.Signature != want {
		t.Errorf("signature %s, want %s", cfg.Signature, want)
	}
}

func TestAuthorizerTransport(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platKey)
	var (
		mu   sync.Mutex
		seen []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		mu.Lock()
		seen = append(seen, tok)
		mu.Unlock()
		if tok != platAuthID+" access_token-2" {
			_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer api.Close()
	hc := &http.Client{Transport: c.AuthorizerTransport(platComp, platAuth, nil)}
	resp, err := hc.Get(api.URL + "/cgi-bin/get_current_selfmenu_info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"errcode":0,"errmsg":"ok"}` {
		t.Errorf("answer %s", body)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{platAuthID + " access_token-1", platAuthID + " access_token-2"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("tokens sent %q, want %q", seen, want)
	}
}

func TestPlatformLocalArgumentChecks(t *testing.T) {
	ps := startPlatformServer(t)
	c := newPlatformClient(t, ps, platAdminKey)
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["component token without id"] = c.ComponentAccessToken(ctx, "")
	_, checks["component token of an authorizer id"] = c.ComponentAccessToken(ctx, platAuthID)
	_, checks["preauth without redirect"] = c.PreAuthURL(ctx, platComp, "", "")
	_, checks["authorize without code"] = c.Authorize(ctx, platComp, "")
	_, checks["import without token"] = c.ImportAuthorizer(ctx, platComp, platAuth, "")
	_, checks["import with a colon"] = c.ImportAuthorizer(ctx, platComp, "a:b", "R")
	_, checks["authorizers without id"] = c.Authorizers(ctx, "")
	_, checks["token without authorizer"] = c.AuthorizerAccessToken(ctx, platComp, "")
	_, checks["token with a slash"] = c.AuthorizerAccessToken(ctx, platComp, "a/b")
	_, checks["refresh without stale"] = c.AuthorizerRefresh(ctx, platComp, platAuth, "")
	_, checks["ticket agent_config"] = c.AuthorizerTicket(ctx, platComp, platAuth, wxtoken.KindAgentConfig)
	_, checks["jssdk without url"] = c.AuthorizerJSSDKConfig(ctx, platComp, platAuth, "")
	_, checks["app jssdk of an authorizer"] = c.JSSDKConfig(ctx, platAuthID, "https://example.com/")
	_, checks["credential of a half id"] = c.Credential(ctx, platComp+":", wxtoken.KindAccessToken)
	for name, err := range checks {
		if got := wxtoken.ErrorCode(err); got != wxtoken.EInvalid {
			t.Errorf("%s: code %q (%v), want invalid", name, got, err)
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.calls) != 0 || len(ps.platformCalls()) != 0 {
		t.Errorf("requests wrong on their face reached the server: %q %q", ps.calls, ps.platformCalls())
	}
}

// TestAuthorizerAnswerOfAnotherAuthorizer: an answer that names another
// authorizer than the one asked is refused, never cached.
func TestAuthorizerAnswerOfAnotherAuthorizer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"component_appid":"`+platComp+`","authorizer_appid":"`+platOther+`","access_token":"T","expires_in":7000,"expires_at":"2025-03-01T13:56:40Z"}`)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, platKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthorizerAccessToken(context.Background(), platComp, platAuth); wxtoken.ErrorCode(err) != wxtoken.EInternal {
		t.Errorf("an answer for another authorizer: %v, want internal (malformed)", err)
	}
	if _, err := c.Authorize(context.Background(), "wxc999", "code"); wxtoken.ErrorCode(err) != wxtoken.EInternal {
		t.Errorf("an authorization of another platform: %v, want internal (malformed)", err)
	}
}
