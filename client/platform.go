package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// An open platform third-party platform (第三方平台) is known by its
// component_appid; an account that authorized it is known to the server,
// and to the methods of the Service interface (Credential, Refresh) and of
// the cache (AccessToken, Ticket, Invalidate, InvalidateTicket,
// Transport), by its wxtoken.AuthorizerID(component_appid,
// authorizer_appid). The Authorizer methods below take the two apart and
// are otherwise those methods: the same cache, the same coalescing, the
// same compare-and-refresh.

// ComponentAccessToken returns the platform's component_access_token, for
// the platform's own calls to WeChat's component API. It always asks the
// server.
func (c *Client) ComponentAccessToken(ctx context.Context, componentAppID string) (wxtoken.Grant, error) {
	if err := checkComponent(componentAppID); err != nil {
		return wxtoken.Grant{}, err
	}
	var a struct {
		ComponentAppID       string `json:"component_appid"`
		ComponentAccessToken string `json:"component_access_token"`
		ExpiresIn            *int64 `json:"expires_in"`
		ExpiresAt            string `json:"expires_at"`
	}
	if err := c.do(ctx, http.MethodGet, componentPath(componentAppID)+"/component_access_token", nil, nil, &a); err != nil {
		return wxtoken.Grant{}, err
	}
	if a.ComponentAppID != "" && a.ComponentAppID != componentAppID {
		return wxtoken.Grant{}, malformed("component_access_token", fmt.Errorf("answer is for platform %q", a.ComponentAppID))
	}
	// The checks and lifetime of any other token's answer.
	return grantAnswer{AccessToken: a.ComponentAccessToken, ExpiresIn: a.ExpiresIn, ExpiresAt: a.ExpiresAt}.
		grant(componentAppID, wxtoken.KindAccessToken, c.now())
}

// PreAuthURL returns the URL of WeChat's authorization page for the
// platform, with a fresh pre_auth_code: send an account's admin there,
// and WeChat sends them back to redirectURI (an absolute http or https
// URL on the platform's authorized domain) with an auth_code, for
// Authorize. authType is WeChat's auth_type ("1" Official Accounts only,
// "2" Mini Programs only, "3" both...), or "" for WeChat's default. The
// URL is valid while its pre_auth_code is (ten minutes): ask for one per
// visit.
func (c *Client) PreAuthURL(ctx context.Context, componentAppID, redirectURI, authType string) (string, error) {
	if err := checkComponent(componentAppID); err != nil {
		return "", err
	}
	if redirectURI == "" {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the redirect URI is required")
	}
	q := url.Values{"redirect_uri": {redirectURI}}
	if authType != "" {
		q.Set("auth_type", authType)
	}
	var a struct {
		URL string `json:"url"`
	}
	if err := c.do(ctx, http.MethodGet, componentPath(componentAppID)+"/preauth_url", q, nil, &a); err != nil {
		return "", err
	}
	if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", malformed("preauth_url", errors.New("url missing or not absolute"))
	}
	return a.URL, nil
}

// Authorize exchanges authCode, the auth_code WeChat appended to the
// redirect URI, for the new authorizer's credentials: the server stores
// the authorizer and keeps its credentials from then on. The Grant is the
// authorizer's access_token; its AppID is the authorizer's
// wxtoken.AuthorizerID, which tells which account authorized.
func (c *Client) Authorize(ctx context.Context, componentAppID, authCode string) (wxtoken.Grant, error) {
	if err := checkComponent(componentAppID); err != nil {
		return wxtoken.Grant{}, err
	}
	if authCode == "" {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EInvalid, "the auth_code is required")
	}
	body := struct {
		AuthCode string `json:"auth_code"`
	}{authCode}
	var a grantAnswer
	if err := c.do(ctx, http.MethodPost, componentPath(componentAppID)+"/authorizations", nil, body, &a); err != nil {
		return wxtoken.Grant{}, err
	}
	if a.ComponentAppID != componentAppID || checkAuthorizer(componentAppID, a.AuthorizerAppID) != nil {
		return wxtoken.Grant{}, malformed("authorizations", fmt.Errorf("answer is for authorizer %q of platform %q", a.AuthorizerAppID, a.ComponentAppID))
	}
	return a.grant(wxtoken.AuthorizerID(componentAppID, a.AuthorizerAppID), wxtoken.KindAccessToken, c.now())
}

// ImportAuthorizer hands the server an authorizer that another system
// knows, by its authorizer_refresh_token; the server stores it and keeps
// its credentials from then on. It needs an admin key. The status
// returned never holds the refresh token.
func (c *Client) ImportAuthorizer(ctx context.Context, componentAppID, authorizerAppID, refreshToken string) (wxtoken.AuthorizerStatus, error) {
	if err := checkAuthorizer(componentAppID, authorizerAppID); err != nil {
		return wxtoken.AuthorizerStatus{}, err
	}
	if refreshToken == "" {
		return wxtoken.AuthorizerStatus{}, wxtoken.Errorf(wxtoken.EInvalid, "the refresh token is required")
	}
	body := struct {
		AuthorizerAppID string `json:"authorizer_appid"`
		RefreshToken    string `json:"refresh_token"`
	}{authorizerAppID, refreshToken}
	var st wxtoken.AuthorizerStatus
	if err := c.do(ctx, http.MethodPost, componentPath(componentAppID)+"/authorizers", nil, body, &st); err != nil {
		return wxtoken.AuthorizerStatus{}, err
	}
	if st.AuthorizerAppID != authorizerAppID {
		return wxtoken.AuthorizerStatus{}, malformed("authorizers", fmt.Errorf("answer is for authorizer %q", st.AuthorizerAppID))
	}
	return st, nil
}

// Authorizers returns every authorizer of the platform, removed ones
// included, with the state of their credentials. It needs an admin key.
func (c *Client) Authorizers(ctx context.Context, componentAppID string) ([]wxtoken.AuthorizerStatus, error) {
	if err := checkComponent(componentAppID); err != nil {
		return nil, err
	}
	var a struct {
		Authorizers *[]wxtoken.AuthorizerStatus `json:"authorizers"`
	}
	if err := c.do(ctx, http.MethodGet, componentPath(componentAppID)+"/authorizers", nil, nil, &a); err != nil {
		return nil, err
	}
	if a.Authorizers == nil {
		return nil, malformed("authorizers", errors.New("no authorizers list in the answer"))
	}
	return *a.Authorizers, nil
}

// AuthorizerAccessToken returns the authorizer_access_token of the account
// authorizerAppID as authorized to the platform componentAppID, cached as
// AccessToken caches an app's. Use it for the calls the platform makes on
// the account's behalf.
func (c *Client) AuthorizerAccessToken(ctx context.Context, componentAppID, authorizerAppID string) (string, error) {
	if err := checkAuthorizer(componentAppID, authorizerAppID); err != nil {
		return "", err
	}
	return c.cached(ctx, slotKey{wxtoken.AuthorizerID(componentAppID, authorizerAppID), wxtoken.KindAccessToken})
}

// AuthorizerRefresh reports stale, an authorizer_access_token that WeChat
// rejected, and returns the token to use instead, as Invalidate does for
// an app: the server refreshes only if stale is still its current token.
func (c *Client) AuthorizerRefresh(ctx context.Context, componentAppID, authorizerAppID, stale string) (string, error) {
	if err := checkAuthorizer(componentAppID, authorizerAppID); err != nil {
		return "", err
	}
	return c.invalidate(ctx, slotKey{wxtoken.AuthorizerID(componentAppID, authorizerAppID), wxtoken.KindAccessToken}, stale)
}

// AuthorizerTicket returns an authorizer's ticket of kind
// (wxtoken.KindJSAPITicket or wxtoken.KindWxCard), cached like
// AuthorizerAccessToken.
func (c *Client) AuthorizerTicket(ctx context.Context, componentAppID, authorizerAppID string, kind wxtoken.Kind) (string, error) {
	if err := checkAuthorizer(componentAppID, authorizerAppID); err != nil {
		return "", err
	}
	if !wxtoken.FamilyAuthorizer.HasTicket(kind) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "unknown authorizer ticket type %q (want jsapi or wx_card)", kind)
	}
	return c.cached(ctx, slotKey{wxtoken.AuthorizerID(componentAppID, authorizerAppID), kind})
}

// AuthorizerTransport is Transport for calls to WeChat on behalf of an
// authorizer: each request carries its current access_token, and one that
// WeChat answers with 40001, 42001 or 40014 is sent once more with the
// token that replaces it.
func (c *Client) AuthorizerTransport(componentAppID, authorizerAppID string, base http.RoundTripper) http.RoundTripper {
	return c.Transport(wxtoken.AuthorizerID(componentAppID, authorizerAppID), base)
}

// AuthorizerJSSDKConfig returns a signed wx.config object for a page of
// the authorizer's at pageURL (its location.href; the fragment is dropped
// by the server); its appId is the authorizer's appid. It always asks the
// server, since every config has its own nonce and timestamp.
func (c *Client) AuthorizerJSSDKConfig(ctx context.Context, componentAppID, authorizerAppID, pageURL string) (jssdk.Config, error) {
	if err := checkAuthorizer(componentAppID, authorizerAppID); err != nil {
		return jssdk.Config{}, err
	}
	if pageURL == "" {
		return jssdk.Config{}, wxtoken.Errorf(wxtoken.EInvalid, "the page url is required")
	}
	var cfg jssdk.Config
	q := url.Values{"url": {pageURL}}
	if err := c.do(ctx, http.MethodGet, authorizerPath(componentAppID, authorizerAppID)+"/jssdk_config", q, nil, &cfg); err != nil {
		return jssdk.Config{}, err
	}
	if cfg.Signature == "" || cfg.NonceStr == "" || cfg.Timestamp == 0 {
		return jssdk.Config{}, malformed("jssdk_config", errors.New("signature, nonceStr or timestamp missing"))
	}
	return cfg, nil
}

// componentPath is the API path of a platform.
func componentPath(componentAppID string) string {
	return "/v1/platforms/" + url.PathEscape(componentAppID)
}

// authorizerPath is the API path of an authorizer of a platform.
func authorizerPath(componentAppID, authorizerAppID string) string {
	return componentPath(componentAppID) + "/authorizers/" + url.PathEscape(authorizerAppID)
}

// checkComponent checks a component_appid: needed, and without the ":"
// and "/" that join the parts of compound ids.
func checkComponent(componentAppID string) error {
	switch {
	case componentAppID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "the component_appid is required")
	case strings.ContainsAny(componentAppID, ":/"):
		return wxtoken.Errorf(wxtoken.EInvalid, `a component_appid holds no ":" or "/"`)
	}
	return nil
}

// checkAuthorizer checks a component_appid and an authorizer_appid.
func checkAuthorizer(componentAppID, authorizerAppID string) error {
	if err := checkComponent(componentAppID); err != nil {
		return err
	}
	switch {
	case authorizerAppID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "the authorizer_appid is required")
	case strings.ContainsAny(authorizerAppID, ":/"):
		return wxtoken.Errorf(wxtoken.EInvalid, `an authorizer_appid holds no ":" or "/"`)
	}
	return nil
}
