package wechat

// WeChat errcodes that a credential server meets. Branch on these, never on
// errmsg.
const (
	ErrSystemBusy        = -1
	ErrInvalidCredential = 40001 // token call: wrong secret; other calls: token invalid or not the latest
	ErrInvalidGrantType  = 40002
	ErrInvalidAppID      = 40013
	ErrInvalidToken      = 40014
	ErrInvalidSecret     = 40125
	ErrIPNotWhitelisted  = 40164
	ErrSecretFrozen      = 40243
	ErrMissingAppID      = 41002
	ErrMissingSecret     = 41004
	ErrTokenExpired      = 42001
	ErrDailyQuota        = 45009
	ErrMinuteLimit       = 45011
	ErrAPIBarred         = 50004
	ErrAccountFrozen     = 50007
	ErrWhitelist         = 61004
	ErrUseComponentToken = 61024
	ErrRiskPending       = 89501
	ErrRiskRejectedTwice = 89506
	ErrRiskRejectedOnce  = 89507
	ErrRiskConfirm       = 89503

	// WeCom's own.
	ErrAPIForbidden    = 48002  // WeCom: the API is not granted to the agent
	ErrNotTrustedIP    = 60020  // WeCom: the caller's IP is not among the agent's trusted IPs
	ErrOtherAgentToken = 301002 // WeCom: the token of another agent of the corp was used

	// The open platform's (third-party platforms). 61004, the platform's
	// IP whitelist, is ErrWhitelist above.
	ErrComponentNotAuthorized = 61003 // the account does not (or no longer) authorize the platform
	ErrVerifyTicketExpired    = 61005 // component_verify_ticket older than its 12 hours
	ErrVerifyTicketInvalid    = 61006 // component_verify_ticket not one WeChat pushed to this platform
	ErrAuthCodeInvalid        = 61009 // authorization code unknown or already used
	ErrAuthCodeExpired        = 61010 // authorization code older than its 10 minutes
	ErrInvalidComponent       = 61011 // component_appid unknown
	ErrRefreshTokenInvalid    = 61023 // authorizer_refresh_token invalid: the account must authorize again
)
