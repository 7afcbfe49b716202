package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// The quota endpoints, on Options.BaseURL.
const (
	PathQuotaGet   = "/cgi-bin/openapi/quota/get"
	PathClearQuota = "/cgi-bin/clear_quota/v2"
)

// ErrClearQuotaSpent is WeChat's answer to a clear_quota past the
// month's 10: "forbid to clear quota because of reaching the limit".
const ErrClearQuotaSpent = 48006

// ClearQuotaPerMonth is how many times an account may clear its quotas in
// a month, clear_quota and clear_quota/v2 together.
const ClearQuotaPerMonth = 10

// Quota is an endpoint's daily call quota as WeChat counts it.
type Quota struct {
	// DailyLimit is how many calls a day the account may make.
	DailyLimit int
	// Used is how many it made today; Remain how many are left.
	Used   int
	Remain int
}

// QuotaGet calls POST /cgi-bin/openapi/quota/get with accessToken: the
// daily quota of the endpoint cgiPath (such as PathToken or
// PathStableToken) of the token's account.
func (c *Client) QuotaGet(ctx context.Context, accessToken, cgiPath string) (Quota, error) {
	body, err := json.Marshal(struct {
		CGIPath string `json:"cgi_path"`
	}{cgiPath})
	if err != nil {
		return Quota{}, fmt.Errorf("wechat: encode quota/get request: %w", err)
	}
	q := url.Values{"access_token": {accessToken}}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathQuotaGet, q, body, accessToken)
	if err != nil {
		return Quota{}, err
	}
	var ans struct {
		apiStatus
		Quota *struct {
			DailyLimit *int `json:"daily_limit"`
			Used       *int `json:"used"`
			Remain     *int `json:"remain"`
		} `json:"quota"`
	}
	if err := decodeAnswer(PathQuotaGet, raw, &ans, &ans.apiStatus, []string{accessToken}); err != nil {
		return Quota{}, err
	}
	if ans.Quota == nil || ans.Quota.DailyLimit == nil || ans.Quota.Used == nil || ans.Quota.Remain == nil {
		return Quota{}, &TransportError{Endpoint: PathQuotaGet, Status: http.StatusOK, Reason: "answer has no quota{daily_limit, used, remain}", Err: errBadAnswer}
	}
	qt := Quota{DailyLimit: *ans.Quota.DailyLimit, Used: *ans.Quota.Used, Remain: *ans.Quota.Remain}
	if qt.DailyLimit < 0 || qt.Used < 0 || qt.Remain < 0 {
		return Quota{}, &TransportError{Endpoint: PathQuotaGet, Status: http.StatusOK, Reason: "answer has a negative quota figure", Err: errBadAnswer}
	}
	return qt, nil
}

// ClearQuota calls POST /cgi-bin/clear_quota/v2 with the app's appid and
// AppSecret, which works when the token quota itself is used up: it resets
// the account's daily call counts. WeChat allows ClearQuotaPerMonth of
// them a month and answers ErrClearQuotaSpent past that. The two fields go
// in the JSON body, as WeChat's current documentation has them, never in
// the URL.
func (c *Client) ClearQuota(ctx context.Context, appID, secret string) error {
	body, err := json.Marshal(struct {
		AppID     string `json:"appid"`
		AppSecret string `json:"appsecret"`
	}{appID, secret})
	if err != nil {
		return fmt.Errorf("wechat: encode clear_quota request: %w", err)
	}
	secrets := []string{secret}
	raw, err := c.do(ctx, c.bases, http.MethodPost, PathClearQuota, nil, body, secrets...)
	if err != nil {
		return err
	}
	var ans apiStatus
	if err := decodeAnswer(PathClearQuota, raw, &ans, &ans, secrets); err != nil {
		return err
	}
	if ans.ErrCode == nil {
		return &TransportError{Endpoint: PathClearQuota, Status: http.StatusOK, Reason: "answer has no errcode", Err: errBadAnswer}
	}
	return nil
}
