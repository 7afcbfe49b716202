package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// The open platform under test: platforms A and B on the simulator, A
// with the authorizer authA, and the Official Account wxOA; a real engine
// keeps their credentials on a memory store.
const (
	compA, compB    = "wxcomponentA0000001", "wxcomponentB0000001"
	compSecretA     = "component-secret-of-A"
	compSecretB     = "component-secret-of-B"
	authA           = "wxauthorizerA000001"
	oaID, oaSecret  = "wxofficialaccount01", "oa-secret-0123456789"
	keyPlatformA    = "wxt_platform-a-0123456789"
	keyPlatformB    = "wxt_platform-b-0123456789"
	keyOnlyOA       = "wxt_only-the-oa-0123456789"
	sdkRefreshToken = "refresh-token-the-sdk-holds"
	pushCheckToken  = "push-check-token"
	pushEncodingKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	tokenQuery      = "?component_access_token="
)

// platformFront is the front door in front of a real engine, which
// fetches from the simulator that the front door relays to.
type platformFront struct {
	sim   *simulator.Simulator
	eng   *refresh.Engine
	up    *wechat.Client
	front string
	// refresh is the authorizer's refresh token as WeChat handed it to
	// wxtoken.
	refresh string
}

func newPlatformFront(t *testing.T) *platformFront {
	t.Helper()
	ctx := context.Background()
	var plats []simulator.Platform
	for _, p := range []Platform{{compA, compSecretA}, {compB, compSecretB}} {
		plats = append(plats, simulator.Platform{ComponentAppID: p.ComponentAppID, Secret: p.Secret, Token: pushCheckToken, EncodingAESKey: pushEncodingKey})
	}
	sim, err := simulator.New(simulator.Options{TTL: time.Hour, Overlap: 5 * time.Minute,
		Apps: map[string]string{oaID: oaSecret}, Platforms: plats})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	up, err := wechat.New(wechat.Options{BaseURL: simSrv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The verify tickets, stored as the events endpoint stores a push
	// (the simulator has no event URL to push them to).
	store := memory.New()
	for _, comp := range []string{compA, compB} {
		ticket, _, err := sim.PushVerifyTicket(ctx, comp)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := store.Put(ctx, wxtoken.Credential{AppID: comp, Kind: wxtoken.KindVerifyTicket, Value: ticket,
			FetchedAt: now, ExpiresAt: now.Add(12 * time.Hour), Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	secretOf := func(s string) func() string { return func() string { return s } }
	eng, err := refresh.New(refresh.Options{
		Apps: []refresh.AppConfig{
			{AppID: oaID, Secret: secretOf(oaSecret)},
			{AppID: compA, Family: wxtoken.FamilyComponent, Secret: secretOf(compSecretA)},
			{AppID: compB, Family: wxtoken.FamilyComponent, Secret: secretOf(compSecretB)},
		},
		Store: store, Upstream: up, MaxRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	f := &platformFront{sim: sim, eng: eng, up: up}

	// authA authorizes platform A; wxtoken exchanges the code, as its
	// events endpoint does, and keeps the authorizer.
	got, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: compA, AuthorizerAppID: authA})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := up.QueryAuth(ctx, f.current(t, compA), compA, got.AuthCode)
	if err != nil {
		t.Fatal(err)
	}
	f.refresh = auth.RefreshToken
	if err := eng.Add(ctx, refresh.AppConfig{AppID: wxtoken.AuthorizerID(compA, authA), Family: wxtoken.FamilyAuthorizer,
		Secret: secretOf(auth.RefreshToken), Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}}); err != nil {
		t.Fatal(err)
	}
	// Fetched before any test counts the calls WeChat received.
	f.current(t, wxtoken.AuthorizerID(compA, authA))

	var clients []clientkey.Client
	for name, c := range map[string]struct {
		key  string
		apps []string
	}{"a": {keyPlatformA, []string{compA}}, "b": {keyPlatformB, []string{compB}}, "oa": {keyOnlyOA, []string{oaID}}} {
		sum := sha256.Sum256([]byte(c.key))
		clients = append(clients, clientkey.Client{Name: name, KeySHA256: hex.EncodeToString(sum[:]), Apps: c.apps})
	}
	ring, err := clientkey.New(clients)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{
		Service: eng, AppOf: eng.AppOf, Keys: ring, Upstream: simSrv.URL,
		Apps:       []App{{AppID: oaID, Secret: oaSecret}},
		Platforms:  []Platform{{compA, compSecretA}, {compB, compSecretB}},
		AlivePause: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	f.front = front.URL
	return f
}

// current is the engine's current access_token of id.
func (f *platformFront) current(t *testing.T, id string) string {
	t.Helper()
	g, err := f.eng.Credential(context.Background(), id, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return g.Value
}

// post sends body as JSON to the front door and returns the answer's
// fields.
func (f *platformFront) post(t *testing.T, target string, body any, hdr ...string) map[string]any {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(http.MethodPost, f.front+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return f.do(t, req)
}

func (f *platformFront) get(t *testing.T, target string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.front+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.do(t, req)
}

func (f *platformFront) do(t *testing.T, req *http.Request) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", req.URL.Path, resp.StatusCode, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v: %s", req.URL.Path, err, raw)
	}
	return m
}

// errcode is an answer's errcode, 0 when it has none.
func errcode(m map[string]any) int {
	n, _ := m["errcode"].(float64)
	return int(n)
}

func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// componentTokenReq is the body of an api_component_token request.
func componentTokenReq(comp, secret string) any {
	return map[string]string{"component_appid": comp, "component_appsecret": secret, "component_verify_ticket": "whatever-the-sdk-holds"}
}

// componentToken has the front door hand out platform comp's token.
func (f *platformFront) componentToken(t *testing.T, comp, secret string) string {
	t.Helper()
	m := f.post(t, pathComponentToken, componentTokenReq(comp, secret))
	tok, _ := m["component_access_token"].(string)
	if tok == "" {
		t.Fatalf("api_component_token for %s: %v", comp, m)
	}
	return tok
}

func TestComponentTokenServedFromTheCache(t *testing.T) {
	f := newPlatformFront(t)
	minted := f.sim.Calls(simulator.EndpointComponentToken, compA)
	for name, secret := range map[string]string{"component secret": compSecretA, "client key": keyPlatformA} {
		m := f.post(t, pathComponentToken, componentTokenReq(compA, secret))
		if got := keysOf(m); !slices.Equal(got, []string{"component_access_token", "expires_in"}) {
			t.Fatalf("%s: answer %v, want WeChat's two fields", name, m)
		}
		if tok := m["component_access_token"]; tok != f.current(t, compA) {
			t.Errorf("%s: handed out %v, not the cached token", name, tok)
		} else if st := f.sim.Check(tok.(string)); !st.Valid || st.Kind != simulator.KindComponentToken {
			t.Errorf("%s: the token handed out is not a live component token: %+v", name, st)
		}
		if exp := m["expires_in"].(float64); exp < 60 || exp > 7200 {
			t.Errorf("%s: expires_in %v", name, exp)
		}
	}
	// A verify ticket is not needed: WeChat pushes them to wxtoken.
	m := f.post(t, pathComponentToken, map[string]string{"component_appid": compA, "component_appsecret": keyPlatformA})
	if m["component_access_token"] != f.current(t, compA) {
		t.Errorf("without a verify ticket: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointComponentToken, compA); n != minted {
		t.Errorf("%d api_component_token calls reached WeChat, want none", n-minted)
	}
}

func TestComponentTokenRefusals(t *testing.T) {
	f := newPlatformFront(t)
	for _, c := range []struct {
		name string
		body any
		want int
	}{
		{"wrong secret", componentTokenReq(compA, compSecretB), errInvalidSecret},
		{"a key granted another platform", componentTokenReq(compA, keyPlatformB), errInvalidSecret},
		{"a key granted only an app", componentTokenReq(compA, keyOnlyOA), errInvalidSecret},
		{"an unknown key", componentTokenReq(compA, "wxt_unknown-0123456789"), errInvalidSecret},
		{"unknown platform", componentTokenReq("wxcomponentZ0000001", compSecretA), errInvalidComponent},
		{"an app is no platform", componentTokenReq(oaID, oaSecret), errInvalidComponent},
		{"no component_appid", componentTokenReq("", compSecretA), errMissingAppID},
		{"no secret", componentTokenReq(compA, ""), errMissingSecret},
		{"not JSON", "component_appid=" + compA, errDataFormat},
	} {
		m := f.post(t, pathComponentToken, c.body)
		if errcode(m) != c.want || m["component_access_token"] != nil {
			t.Errorf("%s: %v, want errcode %d", c.name, m, c.want)
		}
		if msg, _ := m["errmsg"].(string); !strings.HasPrefix(msg, "wxtoken: ") || strings.Contains(msg, compSecretB) || strings.Contains(msg, "wxt_") {
			t.Errorf("%s: errmsg %q", c.name, msg)
		}
	}
	if m := f.get(t, pathComponentToken); errcode(m) != errRequirePOST {
		t.Errorf("GET: %v", m)
	}
	// Another spelling never reaches WeChat.
	if m := f.post(t, "/cgi-bin/component/API_component_token", componentTokenReq(compA, compSecretA)); errcode(m) != errInvalidURL {
		t.Errorf("another spelling: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointComponentToken, ""); n != 2 {
		t.Errorf("%d api_component_token calls at WeChat, want the engine's 2", n)
	}
}

// authorizerTokenReq is the body of an api_authorizer_token request.
func authorizerTokenReq(comp, appID, refreshToken string) any {
	return map[string]string{"component_appid": comp, "authorizer_appid": appID, "authorizer_refresh_token": refreshToken}
}

func TestAuthorizerTokenServedFromTheCache(t *testing.T) {
	f := newPlatformFront(t)
	id := wxtoken.AuthorizerID(compA, authA)
	tok := f.componentToken(t, compA, keyPlatformA)
	minted := f.sim.Calls(simulator.EndpointAuthorizerToken, compA)
	m := f.post(t, pathAuthorizerToken+tokenQuery+url.QueryEscape(tok), authorizerTokenReq(compA, authA, sdkRefreshToken))
	if got := keysOf(m); !slices.Equal(got, []string{"authorizer_access_token", "authorizer_refresh_token", "expires_in"}) {
		t.Fatalf("answer %v, want WeChat's three fields", m)
	}
	if m["authorizer_access_token"] != f.current(t, id) {
		t.Errorf("handed out %v, not the cached token", m["authorizer_access_token"])
	}
	if st := f.sim.Check(m["authorizer_access_token"].(string)); !st.Valid || st.AppID != id {
		t.Errorf("the token handed out is not the authorizer's live token: %+v", st)
	}
	if m["authorizer_refresh_token"] != sdkRefreshToken {
		t.Errorf("refresh token %v, want the caller's echoed back (never wxtoken's)", m["authorizer_refresh_token"])
	}
	// The refresh token wxtoken holds is still the account's: nothing
	// minted with the caller's, and nothing shown.
	if n := f.sim.Calls(simulator.EndpointAuthorizerToken, compA); n != minted {
		t.Errorf("%d api_authorizer_token calls reached WeChat, want none", n-minted)
	}
	if cur, _ := f.sim.RefreshToken(compA, authA); cur != f.refresh {
		t.Errorf("the account's refresh token changed")
	}
	// A client key with the platform in the appid header does too.
	m = f.post(t, pathAuthorizerToken, authorizerTokenReq(compA, authA, sdkRefreshToken),
		"Authorization", "Bearer "+keyPlatformA, HeaderAppID, compA)
	if m["authorizer_access_token"] != f.current(t, id) {
		t.Errorf("with a client key: %v", m)
	}
}

func TestAuthorizerTokenRefusals(t *testing.T) {
	f := newPlatformFront(t)
	tokA := f.componentToken(t, compA, compSecretA)
	tokB := f.componentToken(t, compB, compSecretB)
	oaTok := f.current(t, oaID)
	authTok := f.current(t, wxtoken.AuthorizerID(compA, authA))
	for _, c := range []struct {
		name, query string
		body        any
		hdr         []string
		want        int
	}{
		{"a foreign platform's component token", tokB, authorizerTokenReq(compA, authA, sdkRefreshToken), nil, errInvalidComponent},
		{"an app's token", oaTok, authorizerTokenReq(compA, authA, sdkRefreshToken), nil, errInvalidCredential},
		{"an authorizer's token", authTok, authorizerTokenReq(compA, authA, sdkRefreshToken), nil, errInvalidCredential},
		{"a token wxtoken did not hand out", "not-one-of-wxtoken", authorizerTokenReq(compA, authA, sdkRefreshToken), nil, errInvalidCredential},
		{"an authorizer wxtoken does not keep", tokA, authorizerTokenReq(compA, "wxstranger000000001", sdkRefreshToken), nil, errNotAuthorized},
		{"another platform's authorizer", tokB, authorizerTokenReq(compB, authA, sdkRefreshToken), nil, errNotAuthorized},
		{"no refresh token", tokA, authorizerTokenReq(compA, authA, ""), nil, errMissingRefreshToken},
		{"no authorizer_appid", tokA, authorizerTokenReq(compA, "", sdkRefreshToken), nil, errMissingAppID},
		{"a colon in authorizer_appid", tokA, authorizerTokenReq(compA, "x:y", sdkRefreshToken), nil, errInvalidAppID},
		{"not JSON", tokA, "{", nil, errDataFormat},
		{"a key granted another platform", "", authorizerTokenReq(compA, authA, sdkRefreshToken),
			[]string{"Authorization", "Bearer " + keyPlatformB, HeaderAppID, compA}, errUnauthorized},
		{"a key naming an app", "", authorizerTokenReq(oaID, authA, sdkRefreshToken),
			[]string{"Authorization", "Bearer " + keyOnlyOA, HeaderAppID, oaID}, errInvalidToken},
	} {
		target := pathAuthorizerToken
		if c.query != "" {
			target += tokenQuery + url.QueryEscape(c.query)
		}
		m := f.post(t, target, c.body, c.hdr...)
		if errcode(m) != c.want || m["authorizer_access_token"] != nil {
			t.Errorf("%s: %v, want errcode %d", c.name, m, c.want)
		}
		if msg, _ := m["errmsg"].(string); strings.Contains(msg, f.refresh) || strings.Contains(msg, sdkRefreshToken) {
			t.Errorf("%s: errmsg %q quotes a refresh token", c.name, msg)
		}
	}
	if m := f.post(t, pathAuthorizerToken, authorizerTokenReq(compA, authA, sdkRefreshToken)); errcode(m) != errMissingToken {
		t.Errorf("no component token: %v", m)
	}
	// What to do is in the answer to an authorizer wxtoken does not keep.
	m := f.post(t, pathAuthorizerToken+tokenQuery+url.QueryEscape(tokA), authorizerTokenReq(compA, "wxstranger000000001", sdkRefreshToken))
	if msg, _ := m["errmsg"].(string); !strings.Contains(msg, "/v1/platforms/"+compA+"/authorizers") {
		t.Errorf("errmsg %q does not say how to add the authorizer", msg)
	}
	if n := f.sim.Calls(simulator.EndpointAuthorizerToken, ""); n != 1 {
		t.Errorf("%d api_authorizer_token calls at WeChat, want the engine's one", n)
	}
}

func TestComponentCallsRelayedWithTheCurrentToken(t *testing.T) {
	f := newPlatformFront(t)
	old := f.componentToken(t, compA, compSecretA)
	preAuth := func(tok string, hdr ...string) map[string]any {
		target := "/cgi-bin/component/api_create_preauthcode"
		if tok != "" {
			target += tokenQuery + url.QueryEscape(tok)
		}
		return f.post(t, target, map[string]string{"component_appid": compA}, hdr...)
	}
	if m := preAuth(old); m["pre_auth_code"] == nil {
		t.Fatalf("relayed api_create_preauthcode: %v", m)
	}
	// WeChat ends the token out of band: the relay reports it, the
	// engine replaces it, and the call is made once more with the new
	// one; the caller sees only the second answer.
	if _, err := f.sim.Rotate(compA, simulator.KindComponentToken); err != nil {
		t.Fatal(err)
	}
	calls := f.sim.Calls(simulator.EndpointPreAuthCode, compA)
	if m := preAuth(old); m["pre_auth_code"] == nil {
		t.Fatalf("after WeChat ended the token: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointPreAuthCode, compA) - calls; n != 2 {
		t.Errorf("%d calls at WeChat, want the rejected one and its retry", n)
	}
	cur := f.current(t, compA)
	if cur == old || !f.sim.Check(cur).Valid {
		t.Fatalf("the engine holds %q after the heal, want a new live token", cur)
	}
	// The replaced token is still one wxtoken handed out: swapped for the
	// current one, in one call.
	calls = f.sim.Calls(simulator.EndpointPreAuthCode, compA)
	if m := preAuth(old); m["pre_auth_code"] == nil {
		t.Fatalf("with the replaced token: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointPreAuthCode, compA) - calls; n != 1 {
		t.Errorf("%d calls at WeChat with the replaced token, want 1 (swapped)", n)
	}
	// A client key with the platform in the appid header: the token is
	// put in.
	if m := preAuth("", "Authorization", "Bearer "+keyPlatformA, HeaderAppID, compA); m["pre_auth_code"] == nil {
		t.Fatalf("with a client key: %v", m)
	}
	// Nothing wxtoken cannot vouch for reaches WeChat.
	calls = f.sim.Calls(simulator.EndpointPreAuthCode, "")
	for name, c := range map[string]struct {
		tok  string
		hdr  []string
		want int
	}{
		"no token":              {"", nil, errMissingToken},
		"an unknown token":      {"not-one-of-wxtoken", nil, errInvalidCredential},
		"an app's token":        {f.current(t, oaID), nil, errInvalidCredential},
		"a key for another":     {"", []string{"Authorization", "Bearer " + keyPlatformB, HeaderAppID, compA}, errUnauthorized},
		"a key naming an app":   {"", []string{"Authorization", "Bearer " + keyOnlyOA, HeaderAppID, oaID}, errInvalidToken},
		"a key without appid":   {"", []string{"Authorization", "Bearer " + keyPlatformA}, errMissingAppID},
		"an authorizer's token": {f.current(t, wxtoken.AuthorizerID(compA, authA)), nil, errInvalidCredential},
		"an unknown key":        {"", []string{"Authorization", "Bearer wxt_unknown-0123456789", HeaderAppID, compA}, errInvalidCredential},
	} {
		if m := preAuth(c.tok, c.hdr...); errcode(m) != c.want {
			t.Errorf("%s: %v, want errcode %d", name, m, c.want)
		}
	}
	if m := f.post(t, "/cgi-bin/component/api_create_preauthcode"+tokenQuery, map[string]string{"component_appid": compA}); errcode(m) != errInvalidToken {
		t.Errorf("an empty token: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointPreAuthCode, ""); n != calls {
		t.Errorf("%d refused calls reached WeChat", n-calls)
	}
}

func TestAuthorizerTokenRelayedAsAnApps(t *testing.T) {
	f := newPlatformFront(t)
	id := wxtoken.AuthorizerID(compA, authA)
	tok := f.current(t, id)
	m := f.get(t, "/cgi-bin/getcallbackip?access_token="+url.QueryEscape(tok))
	if m["ip_list"] == nil {
		t.Fatalf("relayed with an authorizer's token: %v", m)
	}
	// Its jsapi ticket comes from the cache.
	g, err := f.eng.Credential(context.Background(), id, wxtoken.KindJSAPITicket)
	if err != nil {
		t.Fatal(err)
	}
	if m := f.get(t, pathTicket+"?type=jsapi&access_token="+url.QueryEscape(tok)); m["ticket"] != g.Value {
		t.Errorf("getticket with an authorizer's token: %v", m)
	}
	// WeChat ends it: reported, replaced with the platform's help, and
	// the call made again.
	if _, err := f.sim.Rotate(id, simulator.KindAuthorizerToken); err != nil {
		t.Fatal(err)
	}
	minted := f.sim.Calls(simulator.EndpointAuthorizerToken, compA)
	if m := f.get(t, "/cgi-bin/getcallbackip?access_token="+url.QueryEscape(tok)); m["ip_list"] == nil {
		t.Fatalf("after WeChat ended the authorizer's token: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointAuthorizerToken, compA) - minted; n != 1 {
		t.Errorf("%d api_authorizer_token calls for the heal, want 1", n)
	}
	if cur := f.current(t, id); cur == tok || !f.sim.Check(cur).Valid {
		t.Errorf("the engine holds %q after the heal, want a new live token", cur)
	}
	// A client key granted the platform covers its authorizers.
	req, _ := http.NewRequest(http.MethodGet, f.front+"/cgi-bin/getcallbackip", nil)
	req.Header.Set("Authorization", "Bearer "+keyPlatformA)
	req.Header.Set(HeaderAppID, id)
	if m := f.do(t, req); m["ip_list"] == nil {
		t.Errorf("with a client key and the authorizer's id: %v", m)
	}
	req.Header.Set(HeaderAppID, wxtoken.AuthorizerID(compA, "wxstranger000000001"))
	if m := f.do(t, req); errcode(m) != errInvalidAppID {
		t.Errorf("with a client key and an authorizer wxtoken does not keep: %v", m)
	}
}

func TestComponentTokenRefusedWhereAnAccessTokenBelongs(t *testing.T) {
	f := newPlatformFront(t)
	tok := f.componentToken(t, compA, compSecretA)
	minted := f.sim.Calls(simulator.EndpointComponentToken, compA)
	for _, target := range []string{
		"/cgi-bin/getcallbackip?access_token=" + url.QueryEscape(tok),
		pathTicket + "?type=jsapi&access_token=" + url.QueryEscape(tok),
	} {
		if m := f.get(t, target); errcode(m) != errInvalidToken {
			t.Errorf("%s: %v, want 40014", strings.SplitN(target, "?", 2)[0], m)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.front+"/cgi-bin/getcallbackip", nil)
	req.Header.Set("Authorization", "Bearer "+keyPlatformA)
	req.Header.Set(HeaderAppID, compA)
	if m := f.do(t, req); errcode(m) != errInvalidToken {
		t.Errorf("a client key naming the platform on an ordinary call: %v", m)
	}
	if n := f.sim.Calls(simulator.EndpointComponentToken, compA); n != minted {
		t.Errorf("%d component tokens minted, want none", n-minted)
	}
	if n := f.sim.Calls(simulator.EndpointAPI, ""); n != 0 {
		t.Errorf("%d calls reached WeChat", n)
	}
}

func TestNewRefusesBadPlatforms(t *testing.T) {
	ok := Options{Service: &mock.Service{}, AppOf: func(string) (string, bool) { return "", false }, Upstream: "https://api.weixin.qq.com",
		Apps: []App{{AppID: oaID, Secret: oaSecret}}}
	for name, plats := range map[string][]Platform{
		"no secret":    {{ComponentAppID: compA}},
		"no appid":     {{Secret: compSecretA}},
		"a colon":      {{"wx:1", compSecretA}},
		"twice":        {{compA, compSecretA}, {compA, compSecretB}},
		"also an app":  {{oaID, compSecretA}},
		"with a slash": {{"wx/1", compSecretA}},
	} {
		o := ok
		o.Platforms = plats
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
