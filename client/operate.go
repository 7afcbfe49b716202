package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/wxtoken/wxtoken"
)

// RetryNow has the server lift the error policy's hold on id and try once
// now: for after an operator fixed the cause of an upstream error (put
// the server's IP on the whitelist, confirmed the risk message, corrected
// a secret), which the policy would otherwise wait out for up to 5
// minutes, 24 hours or until midnight. id is an appid, a WeCom agent's
// wxtoken.WeComID or an authorizer's wxtoken.AuthorizerID. On a shared
// store the hold is lifted for every replica. It returns id's status
// after the try and needs an admin key.
func (c *Client) RetryNow(ctx context.Context, id string) (wxtoken.AppStatus, error) {
	var path string
	switch fam, first, second := wxtoken.ParseID(id); fam {
	case wxtoken.FamilyWeCom:
		path = agentPath(first, second)
	case wxtoken.FamilyAuthorizer:
		path = authorizerPath(first, second)
	default:
		if id == "" {
			return wxtoken.AppStatus{}, wxtoken.Errorf(wxtoken.EInvalid, "an id is required")
		}
		path = "/v1/apps/" + url.PathEscape(id)
	}
	var st wxtoken.AppStatus
	if err := c.do(ctx, http.MethodPost, path+"/retry", nil, nil, &st); err != nil {
		return wxtoken.AppStatus{}, err
	}
	if st.AppID != id {
		return wxtoken.AppStatus{}, malformed("retry", errors.New("the status is of another id"))
	}
	return st, nil
}

// ClearQuotaResult is what clearing an app's quota did.
type ClearQuotaResult struct {
	// ClearRemainingThisMonth is how many of the month's 10 clears are
	// left, as far as the server knows.
	ClearRemainingThisMonth int
	// Quota is the app's quota as WeChat reports it after the clear; nil
	// when the server could not ask.
	Quota *wxtoken.QuotaStatus
}

// ClearQuota has the server reset the app's daily quotas at WeChat
// (clear_quota/v2, with the app's AppSecret, which works even when the
// token quota is used up), and lift the hold a used-up quota put on the
// app. WeChat allows 10 clears an account a month: each call spends one,
// and past them the answer is ERateLimited. It needs an admin key.
func (c *Client) ClearQuota(ctx context.Context, appID string) (ClearQuotaResult, error) {
	if appID == "" {
		return ClearQuotaResult{}, wxtoken.Errorf(wxtoken.EInvalid, "an appid is required")
	}
	var a struct {
		AppID string               `json:"appid"`
		Left  *int                 `json:"clear_remaining_this_month"`
		Quota *wxtoken.QuotaStatus `json:"quota"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(appID)+"/clear_quota", nil, nil, &a); err != nil {
		return ClearQuotaResult{}, err
	}
	if a.AppID != appID || a.Left == nil {
		return ClearQuotaResult{}, malformed("clear_quota", errors.New("appid or clear_remaining_this_month missing"))
	}
	return ClearQuotaResult{ClearRemainingThisMonth: *a.Left, Quota: a.Quota}, nil
}
