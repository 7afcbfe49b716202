// Package wxtoken holds the domain of the wxtoken credential server: the
// credential kinds it keeps, the stored credential record, the Store that
// persists records, and the application Error with its small set of codes.
//
// Every other package implements or uses these types: wechat talks to the
// upstream, simulator stands in for it, refresh keeps credentials fresh,
// bolt and memory persist them, httpapi serves them and client consumes them.
package wxtoken

import "fmt"

// Version is the release of wxtoken; the build may override it with
// -ldflags "-X github.com/wxtoken/wxtoken.Version=...".
var Version = "0.1.0-dev"

// Kind names one kind of credential that wxtoken keeps for an app.
type Kind string

// The credential kinds.
const (
	KindAccessToken Kind = "access_token"
	KindJSAPITicket Kind = "jsapi"
	KindWxCard      Kind = "wx_card"
)

// TicketKinds lists the ticket kinds, in a stable order.
var TicketKinds = [...]Kind{KindJSAPITicket, KindWxCard}

// IsTicket reports whether k is a ticket kind (fetched with an access_token).
func (k Kind) IsTicket() bool { return k == KindJSAPITicket || k == KindWxCard }

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindAccessToken || k.IsTicket() }

// CredentialKey names one credential of an app as "appid/kind": the key
// of its record in a store, and the name of the lease that guards it.
// Kinds never contain a slash, so the name is unambiguous even for an
// appid that does; with an empty kind it names the app's bookkeeping.
func CredentialKey(appID string, kind Kind) string { return appID + "/" + string(kind) }

// ParseTicketKind turns a ticket type as it appears in URLs and config
// ("jsapi", "wx_card") into a Kind.
func ParseTicketKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.IsTicket() {
		return "", fmt.Errorf("unknown ticket type %q (want jsapi or wx_card)", s)
	}
	return k, nil
}

// TokenAPI selects which upstream endpoint mints an app's access_token.
type TokenAPI string

// The token APIs.
const (
	// TokenAPIStable is POST /cgi-bin/stable_token: idempotent within a
	// token's life, isolated from the classic API.
	TokenAPIStable TokenAPI = "stable"
	// TokenAPIClassic is GET /cgi-bin/token: every call replaces the token.
	TokenAPIClassic TokenAPI = "classic"
)
