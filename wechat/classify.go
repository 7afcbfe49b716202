package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Class is the policy class of an upstream failure (SPEC §5).
type Class int

// The classes. Each implies how soon a retry makes sense and whether a
// human must act.
const (
	// ClassTransient: -1, HTTP errors, timeouts, broken answers. Retry with
	// backoff; try the fallback hosts.
	ClassTransient Class = iota + 1
	// ClassMinuteLimit: 45011. Wait at least a minute.
	ClassMinuteLimit
	// ClassDailyQuota: 45009. Nothing helps until the quota resets at
	// 00:00 China Standard Time.
	ClassDailyQuota
	// ClassWhitelist: 40164, 61004. The server's IP must be added to the
	// account's IP whitelist.
	ClassWhitelist
	// ClassRiskConfirm: 89503, 89501. An admin must confirm the call in
	// the template message WeChat sent.
	ClassRiskConfirm
	// ClassAdminRejected: 89507 (1 h) and 89506 (24 h).
	ClassAdminRejected
	// ClassConfig: wrong appid or secret, frozen secret, barred account,
	// a third-party platform account. A human must fix the configuration.
	ClassConfig
	// ClassTokenRejected: 40001, 40014, 42001 on a call made with an
	// access_token: that token is dead.
	ClassTokenRejected
	// ClassUnknown: an errcode this table does not know.
	ClassUnknown
	// ClassFrequencyLimit: WeCom's 45009, a limit per minute or per hour.
	// Wait at least a minute, longer as it goes on.
	ClassFrequencyLimit
	// ClassOtherAgentToken: WeCom's 301002, the access_token of another
	// agent of the corp was used. A bug in whatever made the call: never
	// retried blindly.
	ClassOtherAgentToken
	// ClassVerifyTicket: the open platform's 61005 and 61006, the
	// component_verify_ticket used is expired or not one WeChat pushed.
	// Ask WeChat for a new push with api_start_push_ticket, then retry
	// with the ticket it brings.
	ClassVerifyTicket
	// ClassReauthorize: the open platform's 61023 (the authorizer's
	// refresh token is invalid) and 61003 (the account no longer
	// authorizes the platform). No retry helps: the account's admin must
	// authorize the platform again.
	ClassReauthorize
)

var classNames = [...]string{
	ClassTransient:     "transient",
	ClassMinuteLimit:   "minute_limit",
	ClassDailyQuota:    "daily_quota",
	ClassWhitelist:     "ip_whitelist",
	ClassRiskConfirm:   "risk_confirmation",
	ClassAdminRejected: "admin_rejected",
	ClassConfig:        "configuration",
	ClassTokenRejected: "token_rejected",
	ClassUnknown:       "unknown",

	ClassFrequencyLimit:  "frequency_limit",
	ClassOtherAgentToken: "other_agent_token",

	ClassVerifyTicket: "verify_ticket",
	ClassReauthorize:  "reauthorize",
}

func (c Class) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// NeedsHuman reports whether the class stops until someone acts (as
// opposed to clearing by itself with time).
func (c Class) NeedsHuman() bool {
	switch c {
	case ClassDailyQuota, ClassWhitelist, ClassRiskConfirm, ClassAdminRejected, ClassConfig, ClassOtherAgentToken, ClassReauthorize:
		return true
	}
	return false
}

// Classification is what the error policy makes of one failure.
type Classification struct {
	Class Class
	// ErrCode is WeChat's errcode, or 0 when WeChat did not answer one.
	ErrCode int
	// NotBefore is the earliest time at which a retry of the same call makes
	// sense. For transient failures it is the time of the failure: the
	// caller's backoff decides.
	NotBefore time.Time
	// Hint says, for an operator, what is wrong and what to do.
	Hint string
}

// Policy intervals of SPEC §5.
const (
	minuteLimitWait = time.Minute
	// verifyTicketWait is how long a platform waits for a verify ticket
	// it asked WeChat to push before it asks again; the ticket's arrival
	// ends the wait at once.
	verifyTicketWait  = time.Minute
	whitelistWait     = 5 * time.Minute
	riskConfirmWait   = 5 * time.Minute
	rejectedOnceWait  = time.Hour
	rejectedTwiceWait = 24 * time.Hour
	configWait        = 10 * time.Minute
	unknownWait       = time.Minute
)

// chinaTime is China Standard Time, UTC+8 without daylight saving; a fixed
// zone so that no tz database is needed in a static binary.
func chinaTime() *time.Location { return time.FixedZone("CST", 8*60*60) }

// NextQuotaReset returns the next 00:00 China Standard Time after t, when
// WeChat's daily quotas reset.
func NextQuotaReset(t time.Time) time.Time {
	c := t.In(chinaTime())
	midnight := time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, c.Location())
	return midnight.AddDate(0, 0, 1)
}

// QuotaDay names the China Standard Time day of t (2006-01-02): the day
// WeChat's daily quotas count in.
func QuotaDay(t time.Time) string { return t.In(chinaTime()).Format(time.DateOnly) }

// Classify applies the error policy to err, an error returned by this
// package's Client (or any error: what is not WeChat's answer is
// transient), at time now.
func Classify(err error, now time.Time) Classification {
	var api *APIError
	if !errors.As(err, &api) {
		c := Classification{Class: ClassTransient, NotBefore: now}
		switch {
		case errors.Is(err, ErrNoVerifyTicket):
			c.Class, c.NotBefore = ClassVerifyTicket, now.Add(verifyTicketWait)
			c.Hint = "WeChat has pushed no component_verify_ticket yet (or none in the last 12 hours); a push was asked for " +
				"(api_start_push_ticket). Check that the platform's authorization event URL reaches this server's " +
				"/v1/platforms/{component_appid}/events and that its Token and EncodingAESKey match the config"
		case errors.Is(err, context.DeadlineExceeded):
			c.Hint = "WeChat did not answer in time; retrying with backoff"
		case errors.Is(err, context.Canceled):
			c.Hint = "the call was cancelled"
		default:
			c.Hint = "WeChat could not be reached or gave no usable answer; retrying with backoff on every configured host"
		}
		return c
	}
	c := Classification{ErrCode: api.ErrCode, NotBefore: now}
	if IsWeComEndpoint(api.Endpoint) && classifyWeCom(&c, api, now) {
		return c
	}
	if classifyComponent(&c, api, now) {
		return c
	}
	switch api.ErrCode {
	case ErrSystemBusy:
		c.Class = ClassTransient
		c.Hint = "WeChat is busy (-1); retrying with backoff"
	case ErrMinuteLimit:
		c.Class = ClassMinuteLimit
		c.NotBefore = now.Add(minuteLimitWait)
		c.Hint = "WeChat's per-minute call limit was hit (45011); waiting a minute"
	case ErrDailyQuota:
		c.Class = ClassDailyQuota
		c.NotBefore = NextQuotaReset(now)
		c.Hint = "the daily quota of this call is used up (45009); no token calls until 00:00 China Standard Time. " +
			"If the app cannot wait, reset the quota with /cgi-bin/clear_quota/v2 (10 times a month) and find what is calling so often"
	case ErrIPNotWhitelisted, ErrWhitelist:
		c.Class = ClassWhitelist
		c.NotBefore = now.Add(whitelistWait)
		ip := whitelistIP(api.ErrMsg)
		if ip == "" {
			ip = "this server's public IP"
		}
		c.Hint = fmt.Sprintf("WeChat refuses calls from %s (%d): add it to the account's IP whitelist "+
			"(mp.weixin.qq.com: Settings and Development > Basic Configuration > IP whitelist); retrying every 5 minutes", ip, api.ErrCode)
	case ErrRiskConfirm, ErrRiskPending:
		c.Class = ClassRiskConfirm
		c.NotBefore = now.Add(riskConfirmWait)
		c.Hint = fmt.Sprintf("WeChat asks an admin of the account to confirm calls from this server's IP (%d): "+
			"the admin must approve the template message WeChat sent; retrying every 5 minutes", api.ErrCode)
	case ErrRiskRejectedOnce:
		c.Class = ClassAdminRejected
		c.NotBefore = now.Add(rejectedOnceWait)
		c.Hint = "an admin rejected calls from this server's IP (89507); it is blocked for 1 hour. Ask the admin to approve it next time"
	case ErrRiskRejectedTwice:
		c.Class = ClassAdminRejected
		c.NotBefore = now.Add(rejectedTwiceWait)
		c.Hint = "an admin rejected calls from this server's IP twice within 24 hours (89506); it is blocked for 24 hours"
	case ErrInvalidCredential, ErrInvalidToken, ErrTokenExpired:
		if isTokenEndpoint(api.Endpoint) {
			// On the token call itself 40001 means the AppSecret is wrong.
			c.Class = ClassConfig
			c.NotBefore = now.Add(configWait)
			c.Hint = fmt.Sprintf("WeChat rejects the AppSecret (%d): check the app's secret in the config; retrying every 10 minutes or at reload", api.ErrCode)
			break
		}
		c.Class = ClassTokenRejected
		c.Hint = fmt.Sprintf("WeChat rejects the access_token used (%d): it is dead", api.ErrCode)
	case ErrInvalidAppID, ErrMissingAppID:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = fmt.Sprintf("WeChat does not know this appid (%d): check the app's appid in the config", api.ErrCode)
	case ErrInvalidSecret, ErrMissingSecret:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = fmt.Sprintf("WeChat rejects the AppSecret (%d): check the app's secret in the config (a reset secret must be updated here)", api.ErrCode)
	case ErrSecretFrozen:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "the AppSecret is frozen (40243): unfreeze it on the WeChat platform (it takes about 10 minutes)"
	case ErrAPIBarred, ErrAccountFrozen:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = fmt.Sprintf("the account is barred or frozen (%d): see the notices on the WeChat platform", api.ErrCode)
	case ErrUseComponentToken:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "this account is managed by a third-party platform (61024): it must use the platform's authorizer token, not its own"
	default:
		c.Class = ClassUnknown
		c.NotBefore = now.Add(unknownWait)
		c.Hint = fmt.Sprintf("WeChat answered errcode %d, which wxtoken does not know; look the request id up with /cgi-bin/openapi/rid/get", api.ErrCode)
		if api.RID != "" {
			c.Hint += " (rid " + api.RID + ")"
		}
	}
	return c
}

// classifyWeCom fills c for the errcodes that WeCom's endpoints answer
// differently from the Official Account's, and reports whether it did.
func classifyWeCom(c *Classification, api *APIError, now time.Time) bool {
	switch api.ErrCode {
	case ErrDailyQuota:
		c.Class = ClassFrequencyLimit
		c.NotBefore = now.Add(minuteLimitWait)
		c.Hint = "WeCom's frequency limit was hit (45009; its limits count per minute and per hour, e.g. 400 ticket calls a corp and 100 an agent an hour); " +
			"waiting at least a minute, longer while it lasts. Find what else calls with this corp's credentials"
	case ErrNotTrustedIP:
		c.Class = ClassWhitelist
		c.NotBefore = now.Add(whitelistWait)
		ip := whitelistIP(api.ErrMsg)
		if ip == "" {
			ip = "this server's public IP"
		}
		c.Hint = fmt.Sprintf("WeCom refuses calls from %s (60020): add it to the agent's trusted IPs (企业可信IP) "+
			"in the WeCom admin console (work.weixin.qq.com: App Management > the app > Trusted IPs); retrying every 5 minutes", ip)
	case ErrInvalidCredential:
		if api.Endpoint != PathWeComToken {
			return false
		}
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeCom rejects the agent's secret (40001): check the agent's secret in the config (a reset secret must be updated here); retrying every 10 minutes or at reload"
	case ErrInvalidAppID:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeCom does not know this corpid (40013): check the corpid in the config"
	case ErrAPIForbidden:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeCom forbids this API to the agent (48002): grant the agent the permission in the WeCom admin console, or remove the ticket from the config"
	case ErrOtherAgentToken:
		c.Class = ClassOtherAgentToken
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeCom says the access_token used belongs to another agent of the corp (301002): tokens of two agents were mixed up. " +
			"This is a bug in whatever made the call; it is not retried blindly"
	default:
		return false
	}
	return true
}

// classifyComponent fills c for the open platform's errcodes, and for
// those that read differently on its endpoints, and reports whether it
// did.
func classifyComponent(c *Classification, api *APIError, now time.Time) bool {
	switch api.ErrCode {
	case ErrVerifyTicketExpired, ErrVerifyTicketInvalid:
		c.Class, c.NotBefore = ClassVerifyTicket, now.Add(verifyTicketWait)
		what := "expired (older than 12 hours)"
		if api.ErrCode == ErrVerifyTicketInvalid {
			what = "not one WeChat pushed to this platform"
		}
		c.Hint = fmt.Sprintf("WeChat refuses the component_verify_ticket (%d): it is %s. "+
			"Asking WeChat to push a new one (api_start_push_ticket); check that the platform's authorization event URL reaches this server", api.ErrCode, what)
	case ErrRefreshTokenInvalid:
		c.Class = ClassReauthorize
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeChat refuses the authorizer_refresh_token (61023): it is invalid and cannot be recovered. " +
			"The account's admin must authorize the platform again; its current access_token is served until it expires"
	case ErrComponentNotAuthorized:
		c.Class = ClassReauthorize
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeChat says the account does not authorize the platform (61003): it was unauthorized or never authorized. " +
			"The account's admin must authorize the platform again"
	case ErrInvalidComponent:
		c.Class = ClassConfig
		c.NotBefore = now.Add(configWait)
		c.Hint = "WeChat does not know this component_appid (61011): check the platform's component_appid in the config"
	case ErrAuthCodeInvalid, ErrAuthCodeExpired:
		c.Class = ClassConfig
		c.NotBefore = now
		c.Hint = fmt.Sprintf("WeChat refuses the authorization code (%d): it is unknown, used or older than its 10 minutes. "+
			"The account's admin must go through the authorization page again", api.ErrCode)
	case ErrWhitelist:
		if !IsComponentEndpoint(api.Endpoint) {
			return false
		}
		c.Class = ClassWhitelist
		c.NotBefore = now.Add(whitelistWait)
		ip := whitelistIP(api.ErrMsg)
		if ip == "" {
			ip = "this server's public IP"
		}
		c.Hint = fmt.Sprintf("WeChat refuses calls from %s (61004): add it to the third-party platform's IP whitelist (第三方平台 IP白名单) "+
			"at open.weixin.qq.com (the platform's development settings); retrying every 5 minutes", ip)
	case ErrInvalidCredential, ErrInvalidToken, ErrTokenExpired:
		switch api.Endpoint {
		case PathComponentToken, PathStartPushTicket:
			c.Class = ClassConfig
			c.NotBefore = now.Add(configWait)
			c.Hint = fmt.Sprintf("WeChat rejects the component secret (%d): check the platform's component_appsecret in the config; retrying every 10 minutes or at reload", api.ErrCode)
		case PathPreAuthCode, PathQueryAuth, PathAuthorizerToken:
			c.Class = ClassTokenRejected
			c.Hint = fmt.Sprintf("WeChat rejects the component_access_token used (%d): it is dead", api.ErrCode)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// whitelistIP returns the caller IP that a whitelist errmsg quotes ("invalid
// ip 1.2.3.4 ipv6 ..."), or "" when there is none. Only a parseable IP is
// returned, so no other text of the answer is echoed.
func whitelistIP(errmsg string) string {
	// 40164 says "invalid ip 1.2.3.4 ..."; 61004 says "... requestIP: 1.2.3.4";
	// WeCom's 60020 says "not allow to access from your ip, ... from ip: 1.2.3.4, ...".
	for _, marker := range []string{"invalid ip ", "requestIP: ", "requestIP:", "from ip: ", "from ip:"} {
		i := strings.Index(errmsg, marker)
		if i < 0 {
			continue
		}
		f := strings.FieldsFunc(errmsg[i+len(marker):], func(r rune) bool { return r == ' ' || r == ',' })
		if len(f) > 0 && net.ParseIP(f[0]) != nil {
			return f[0]
		}
	}
	return ""
}
