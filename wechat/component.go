package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The open platform's third-party platforms (第三方平台), on the base URL
// and its fallback hosts: the platform's component_access_token, fetched
// with its secret and the component_verify_ticket WeChat pushes to it;
// pre-authorization codes for the authorization page; the exchange of an
// authorization code for an account's (authorizer's) first access_token
// and its refresh token; and the authorizer_access_token fetched with that
// refresh token. An authorizer's tickets come from Ticket with its
// access_token, as an app's do.
//
// Every call is a POST with a JSON body. The secret, the verify ticket,
// the authorization code and the refresh token travel only in that body;
// none of them appears in an error this package returns, even when WeChat
// echoes one in errmsg.

// ErrNoVerifyTicket says that a platform's component_access_token cannot
// be asked for: WeChat has pushed it no component_verify_ticket yet, or
// none in the ticket's 12-hour life. Classify gives it ClassVerifyTicket.
var ErrNoVerifyTicket = errors.New("no component_verify_ticket from WeChat yet")

// Authorization is what api_query_auth answers for an authorization code:
// the account that authorized the platform and its first credentials.
type Authorization struct {
	// AuthorizerAppID is the account's appid.
	AuthorizerAppID string
	// AccessToken is its authorizer_access_token.
	AccessToken Credential
	// RefreshToken is its authorizer_refresh_token: handed out here and
	// lost forever if not stored, since it is needed for every later
	// access_token.
	RefreshToken string
	// FuncInfo lists the ids of the permission sets
	// (funcscope_category) the account granted.
	FuncInfo []int
}

// ComponentToken calls POST /cgi-bin/component/api_component_token for the
// platform componentAppID with its secret and the latest verifyTicket
// WeChat pushed. Every successful call issues a new token; the previous
// one keeps working for a short overlap, as with the classic API. A stale
// or foreign ticket gets ClassVerifyTicket (61005 expired, 61006
// invalid).
func (c *Client) ComponentToken(ctx context.Context, componentAppID, secret, verifyTicket string) (Credential, error) {
	body, err := json.Marshal(struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}{componentAppID, secret, verifyTicket})
	if err != nil {
		return Credential{}, fmt.Errorf("wechat: encode api_component_token request: %w", err)
	}
	secrets := []string{secret, verifyTicket}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathComponentToken, nil, body, secrets...)
	if err != nil {
		return Credential{}, err
	}
	var ans struct {
		apiStatus
		Token     *string         `json:"component_access_token"`
		ExpiresIn json.RawMessage `json:"expires_in"`
	}
	if err := decodeAnswer(PathComponentToken, raw, &ans, &ans.apiStatus, secrets); err != nil {
		return Credential{}, err
	}
	if err := checkValue(PathComponentToken, "component_access_token", ans.Token); err != nil {
		return Credential{}, err
	}
	ttl, err := parseExpiresIn(PathComponentToken, ans.ExpiresIn)
	if err != nil {
		return Credential{}, err
	}
	return Credential{Value: *ans.Token, ExpiresIn: ttl}, nil
}

// StartPushTicket calls POST /cgi-bin/component/api_start_push_ticket: it
// asks WeChat to push a new component_verify_ticket to the platform's
// authorization event URL at once, as is needed when the ticket is
// missing or was refused. The ticket arrives with the push, not here.
func (c *Client) StartPushTicket(ctx context.Context, componentAppID, secret string) error {
	body, err := json.Marshal(struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_secret"`
	}{componentAppID, secret})
	if err != nil {
		return fmt.Errorf("wechat: encode api_start_push_ticket request: %w", err)
	}
	secrets := []string{secret}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathStartPushTicket, nil, body, secrets...)
	if err != nil {
		return err
	}
	var ans apiStatus
	if err := decodeAnswer(PathStartPushTicket, raw, &ans, &ans, secrets); err != nil {
		return err
	}
	if ans.ErrCode == nil {
		// Success is errcode 0; an answer without one is not an answer.
		return &TransportError{Endpoint: PathStartPushTicket, Status: http.StatusOK, Reason: "answer has no errcode", Err: errBadAnswer}
	}
	return nil
}

// PreAuthCode calls POST /cgi-bin/component/api_create_preauthcode with
// the platform's componentToken: a code for one visit of the
// authorization page, valid for expiresIn (WeChat says 30 minutes).
func (c *Client) PreAuthCode(ctx context.Context, componentToken, componentAppID string) (code string, expiresIn time.Duration, err error) {
	body, err := json.Marshal(struct {
		AppID string `json:"component_appid"`
	}{componentAppID})
	if err != nil {
		return "", 0, fmt.Errorf("wechat: encode api_create_preauthcode request: %w", err)
	}
	q := url.Values{"component_access_token": {componentToken}}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathPreAuthCode, q, body)
	if err != nil {
		return "", 0, err
	}
	var ans struct {
		apiStatus
		Code      *string         `json:"pre_auth_code"`
		ExpiresIn json.RawMessage `json:"expires_in"`
	}
	if err := decodeAnswer(PathPreAuthCode, raw, &ans, &ans.apiStatus, nil); err != nil {
		return "", 0, err
	}
	if err := checkValue(PathPreAuthCode, "pre_auth_code", ans.Code); err != nil {
		return "", 0, err
	}
	ttl, err := parseExpiresIn(PathPreAuthCode, ans.ExpiresIn)
	if err != nil {
		return "", 0, err
	}
	return *ans.Code, ttl, nil
}

// QueryAuth calls POST /cgi-bin/component/api_query_auth: it exchanges
// the authorization code that WeChat gave (in the redirect after the
// authorization page, or in an authorized or updateauthorized push) for
// the account's first access_token and its refresh token. A code is good
// once, for 10 minutes.
func (c *Client) QueryAuth(ctx context.Context, componentToken, componentAppID, authCode string) (Authorization, error) {
	body, err := json.Marshal(struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}{componentAppID, authCode})
	if err != nil {
		return Authorization{}, fmt.Errorf("wechat: encode api_query_auth request: %w", err)
	}
	secrets := []string{authCode}
	q := url.Values{"component_access_token": {componentToken}}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathQueryAuth, q, body, secrets...)
	if err != nil {
		return Authorization{}, err
	}
	var ans struct {
		apiStatus
		Info *struct {
			AppID        *string         `json:"authorizer_appid"`
			AccessToken  *string         `json:"authorizer_access_token"`
			ExpiresIn    json.RawMessage `json:"expires_in"`
			RefreshToken *string         `json:"authorizer_refresh_token"`
			FuncInfo     []struct {
				Category struct {
					ID int `json:"id"`
				} `json:"funcscope_category"`
			} `json:"func_info"`
		} `json:"authorization_info"`
	}
	if err := decodeAnswer(PathQueryAuth, raw, &ans, &ans.apiStatus, secrets); err != nil {
		return Authorization{}, err
	}
	info := ans.Info
	if info == nil {
		return Authorization{}, &TransportError{Endpoint: PathQueryAuth, Status: http.StatusOK, Reason: "answer has no authorization_info", Err: errBadAnswer}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"authorizer_appid", info.AppID}, {"authorizer_access_token", info.AccessToken}, {"authorizer_refresh_token", info.RefreshToken}} {
		if err := checkValue(PathQueryAuth, f.name, f.v); err != nil {
			return Authorization{}, err
		}
	}
	ttl, err := parseExpiresIn(PathQueryAuth, info.ExpiresIn)
	if err != nil {
		return Authorization{}, err
	}
	a := Authorization{
		AuthorizerAppID: *info.AppID,
		AccessToken:     Credential{Value: *info.AccessToken, ExpiresIn: ttl},
		RefreshToken:    *info.RefreshToken,
	}
	for _, f := range info.FuncInfo {
		a.FuncInfo = append(a.FuncInfo, f.Category.ID)
	}
	return a, nil
}

// AuthorizerToken calls POST /cgi-bin/component/api_authorizer_token: a new
// access_token for the account authorizerAppID, fetched with the
// platform's componentToken and the account's refreshToken. WeChat
// documents that the refresh token comes back unchanged, but it has been
// seen to answer a new one: newRefreshToken is what the answer carries
// (store it before relying on it), or "" when it carries none, in which
// case the one sent stays in force. 61023 (ClassReauthorize) means the
// refresh token is dead and the account must authorize again.
func (c *Client) AuthorizerToken(ctx context.Context, componentToken, componentAppID, authorizerAppID, refreshToken string) (tok Credential, newRefreshToken string, err error) {
	body, err := json.Marshal(struct {
		AppID        string `json:"component_appid"`
		Authorizer   string `json:"authorizer_appid"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}{componentAppID, authorizerAppID, refreshToken})
	if err != nil {
		return Credential{}, "", fmt.Errorf("wechat: encode api_authorizer_token request: %w", err)
	}
	secrets := []string{refreshToken}
	q := url.Values{"component_access_token": {componentToken}}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathAuthorizerToken, q, body, secrets...)
	if err != nil {
		return Credential{}, "", err
	}
	var ans struct {
		apiStatus
		Token        *string         `json:"authorizer_access_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		RefreshToken *string         `json:"authorizer_refresh_token"`
	}
	if err := decodeAnswer(PathAuthorizerToken, raw, &ans, &ans.apiStatus, secrets); err != nil {
		return Credential{}, "", err
	}
	if err := checkValue(PathAuthorizerToken, "authorizer_access_token", ans.Token); err != nil {
		return Credential{}, "", err
	}
	ttl, err := parseExpiresIn(PathAuthorizerToken, ans.ExpiresIn)
	if err != nil {
		return Credential{}, "", err
	}
	if ans.RefreshToken != nil && *ans.RefreshToken != "" {
		if err := checkValue(PathAuthorizerToken, "authorizer_refresh_token", ans.RefreshToken); err != nil {
			return Credential{}, "", err
		}
		newRefreshToken = *ans.RefreshToken
	}
	return Credential{Value: *ans.Token, ExpiresIn: ttl}, newRefreshToken, nil
}

// apiStatus is the errcode and errmsg every answer may carry.
type apiStatus struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// decodeAnswer decodes body, an answer from endpoint, into v, whose status
// part is st: a malformed body is a *TransportError, a non-zero errcode an
// *APIError whose errmsg has every one of secrets redacted, in case
// WeChat echoed part of the request.
func decodeAnswer(endpoint string, body []byte, v any, st *apiStatus, secrets []string) error {
	if err := decodeStrict(body, v); err != nil {
		return &TransportError{Endpoint: endpoint, Status: http.StatusOK, Reason: describeBadBody(body), Err: err}
	}
	if st.ErrCode != nil && *st.ErrCode != 0 {
		msg := redact(st.ErrMsg, secrets)
		return &APIError{Endpoint: endpoint, ErrCode: *st.ErrCode, ErrMsg: msg, RID: parseRID(msg)}
	}
	return nil
}
