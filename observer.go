package wxtoken

import "time"

// Observer is told what the engine does, for metrics. Implementations must
// be safe for concurrent use and must not block.
type Observer interface {
	// UpstreamCall reports one call to WeChat: endpoint is the path (e.g.
	// "/cgi-bin/token"), errcode WeChat's errcode (0 on success), class the
	// error policy class ("" on success).
	UpstreamCall(appID, endpoint string, errcode int, class string, took time.Duration)
	// Refreshed reports the end of a refresh of one credential. reason is
	// one of the Reason constants, result "ok", "unchanged" or "error".
	Refreshed(appID string, kind Kind, reason, result string)
}

// Refresh reasons.
const (
	ReasonStartup   = "startup"   // first fetch of a credential the store did not have
	ReasonProactive = "proactive" // planned refresh before expiry
	ReasonPassive   = "passive"   // a caller reported the credential rejected
	ReasonTicket    = "ticket"    // the access_token a ticket was fetched with was replaced
	// ReasonLateMint: a classic token call took effect at WeChat after
	// its sender gave up on it, and replaced the access_token.
	ReasonLateMint = "late_mint"
)

// NopObserver observes nothing.
type NopObserver struct{}

// UpstreamCall does nothing.
func (NopObserver) UpstreamCall(string, string, int, string, time.Duration) {}

// Refreshed does nothing.
func (NopObserver) Refreshed(string, Kind, string, string) {}
