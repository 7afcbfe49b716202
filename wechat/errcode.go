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
)
