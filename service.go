package wxtoken

import (
	"context"
	"time"
)

// Grant is a credential as handed out to a caller: the value and how long
// the caller may use it. ExpiresIn is whole seconds and already accounts for
// the safety margin and, in classic mode, the next planned refresh, so the
// credential works at WeChat for all of it.
type Grant struct {
	AppID     string
	Kind      Kind
	Value     string
	ExpiresIn time.Duration
	ExpiresAt time.Time
}

// Service is what the HTTP API serves and what the Go client implements
// over HTTP: credentials by app and kind, compare-and-refresh, and status.
//
// Errors are *Error values: ENotFound for an unknown app or a kind the app
// is not configured for, EInvalid for bad arguments, ERateLimited for a
// refresh asked too often, EUnavailable when no valid credential can be
// served (with WeChatErrCode where WeChat's answer is the cause).
type Service interface {
	// Credential returns a valid credential of kind for appID, fetching it
	// first only when none is cached.
	Credential(ctx context.Context, appID string, kind Kind) (Grant, error)
	// Refresh is compare-and-refresh: stale is a value WeChat rejected.
	// When the current credential differs from stale it is returned at
	// once; when it equals it, one coalesced upstream refresh runs.
	Refresh(ctx context.Context, appID string, kind Kind, stale string) (Grant, error)
	// Status reports every configured app.
	Status(ctx context.Context) []AppStatus
	// NotReady returns why the service is not ready to serve (see
	// Health); empty when it is. An app that cannot be served does not
	// make the service unready on its own.
	NotReady(ctx context.Context) []string
}

// Credential states as reported in status.
const (
	StateFresh   = "fresh"   // valid, next refresh not yet due
	StateStale   = "stale"   // valid, refresh due or running
	StateExpired = "expired" // present but no longer servable
	StateMissing = "missing" // never fetched
)

// AppStatus is one app's state, for operators.
type AppStatus struct {
	// AppID is the app's appid, a WeCom agent's WeComID, a platform's
	// component_appid or an authorizer's AuthorizerID.
	AppID string `json:"appid"`
	// Family is the app's family; CorpID and AgentID are set for a WeCom
	// agent, ComponentAppID and AuthorizerAppID for an authorizer.
	Family          Family   `json:"family"`
	CorpID          string   `json:"corpid,omitempty"`
	AgentID         string   `json:"agentid,omitempty"`
	ComponentAppID  string   `json:"component_appid,omitempty"`
	AuthorizerAppID string   `json:"authorizer_appid,omitempty"`
	Name            string   `json:"name,omitempty"`
	TokenAPI        TokenAPI `json:"token_api"`
	// UpstreamCallsToday counts token calls in the current China Standard
	// Time day.
	UpstreamCallsToday int `json:"upstream_calls_today"`
	// ForceRefreshesToday counts stable force_refresh calls today.
	ForceRefreshesToday int `json:"force_refreshes_today"`
	// BlockedUntil is set while the error policy holds back token calls.
	BlockedUntil *time.Time         `json:"blocked_until,omitempty"`
	Credentials  []CredentialStatus `json:"credentials"`
	// Quota is WeChat's own count of the app's token endpoint calls
	// today, as last asked of /cgi-bin/openapi/quota/get; absent until
	// it has been asked, and for families without one.
	Quota *QuotaStatus `json:"quota,omitempty"`
}

// QuotaStatus is an app's daily quota of its token endpoint as WeChat
// reported it at CheckedAt.
type QuotaStatus struct {
	// CGIPath is the endpoint counted: /cgi-bin/stable_token or
	// /cgi-bin/token, per the app's token_api.
	CGIPath    string    `json:"cgi_path"`
	DailyLimit int       `json:"daily_limit"`
	Used       int       `json:"used"`
	Remain     int       `json:"remain"`
	CheckedAt  time.Time `json:"checked_at"`
	// ClearRemainingThisMonth is how many of the month's 10 quota
	// clears are left, as far as this server knows: it counts the
	// clears it made itself this China Standard Time month, and takes
	// WeChat's "none left" when it answers so. Nil when unknown.
	ClearRemainingThisMonth *int `json:"clear_remaining_this_month,omitempty"`
}

// CredentialStatus is the state of one credential of an app.
type CredentialStatus struct {
	Kind          Kind       `json:"kind"`
	State         string     `json:"state"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	FetchedAt     *time.Time `json:"fetched_at,omitempty"`
	NextRefreshAt *time.Time `json:"next_refresh_at,omitempty"`
	Version       uint64     `json:"version,omitempty"`
	LastError     *ErrorInfo `json:"last_error,omitempty"`
	// LeaseHolder names the replica that holds the credential's lease
	// (works on it now), on a shared store; empty when none does.
	LeaseHolder string `json:"lease_holder,omitempty"`
	// HeardAt is when this replica last had the credential confirmed by
	// the shared store; absent without one.
	HeardAt *time.Time `json:"heard_at,omitempty"`
}

// ErrorInfo describes the last upstream failure of a credential, with what
// an operator should do about it.
type ErrorInfo struct {
	ErrCode int       `json:"errcode,omitempty"`
	Class   string    `json:"class"`
	Message string    `json:"message"`
	Hint    string    `json:"hint"`
	At      time.Time `json:"at"`
}

// StatusOf returns the status of the one app (or WeCom agent, platform or
// authorizer) id that svc keeps: through svc's own StatusOf when it has
// one, which does not build every app's status, else from Status. It
// reports false when svc does not keep id.
func StatusOf(ctx context.Context, svc Service, id string) (AppStatus, bool) {
	if one, ok := svc.(interface {
		StatusOf(ctx context.Context, id string) (AppStatus, bool)
	}); ok {
		return one.StatusOf(ctx, id)
	}
	for _, st := range svc.Status(ctx) {
		if st.AppID == id {
			return st, true
		}
	}
	return AppStatus{}, false
}
