// Package wxtoken holds the domain of the wxtoken credential server: the
// credential kinds it keeps, the stored credential record, the Store that
// persists records, and the application Error with its small set of codes.
//
// Every other package implements or uses these types: wechat talks to the
// upstream, simulator stands in for it, refresh keeps credentials fresh,
// bolt and memory persist them, httpapi serves them and client consumes them.
package wxtoken

import (
	"fmt"
	"strings"
)

// Version is the release of wxtoken; the build may override it with
// -ldflags "-X github.com/wxtoken/wxtoken.Version=...".
var Version = "0.1.0-dev"

// Commit and BuildDate say what the binary was built from and when; the
// release script and the container image set them with -ldflags -X, as
// Version. A binary built otherwise has them empty, and the version verb
// then falls back to what the Go toolchain stamped (see cmd/wxtoken).
var (
	Commit    = ""
	BuildDate = ""
)

// Kind names one kind of credential that wxtoken keeps for an app or agent.
type Kind string

// The credential kinds.
const (
	KindAccessToken Kind = "access_token"
	// KindJSAPITicket is the JS-SDK ticket for wx.config: an Official
	// Account's jsapi_ticket, or a WeCom corp's jsapi ticket.
	KindJSAPITicket Kind = "jsapi"
	// KindWxCard is an Official Account's card api_ticket.
	KindWxCard Kind = "wx_card"
	// KindAgentConfig is a WeCom agent's ticket for wx.agentConfig.
	KindAgentConfig Kind = "agent_config"
	// KindVerifyTicket is an open platform's component_verify_ticket:
	// not fetched but pushed by WeChat every ten minutes, and kept (the
	// latest one, with its arrival time as FetchedAt) to fetch the
	// component_access_token with.
	KindVerifyTicket Kind = "verify_ticket"
)

// IsTicket reports whether k is a ticket kind (fetched with an access_token).
func (k Kind) IsTicket() bool {
	return k == KindJSAPITicket || k == KindWxCard || k == KindAgentConfig
}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindAccessToken || k == KindVerifyTicket || k.IsTicket() }

// CredentialKey names one credential of an app as "appid/kind": the key
// of its record in a store, and the name of the lease that guards it.
// Kinds never contain a slash, so the name is unambiguous even for an id
// that does (a WeCom agent's, see WeComID); with an empty kind it names the
// app's bookkeeping.
func CredentialKey(appID string, kind Kind) string { return appID + "/" + string(kind) }

// ParseTicketKind turns an Official Account's ticket type as it appears in
// URLs and config ("jsapi", "wx_card") into a Kind.
func ParseTicketKind(s string) (Kind, error) { return FamilyApp.ParseTicket(s) }

// Family names a kind of credential owner: where its credentials are
// fetched and which tickets it has. The engine, the stores, the leases and
// the HTTP API treat every family alike; only the upstream calls differ.
type Family string

// The families.
const (
	// FamilyApp is an Official Account or Mini Program (api.weixin.qq.com):
	// an access_token from the stable or classic token API, and the jsapi
	// and wx_card tickets.
	FamilyApp Family = "app"
	// FamilyWeCom is a WeCom (企业微信) agent, or a built-in WeCom app with a
	// secret of its own such as contacts (qyapi.weixin.qq.com): an
	// access_token per agent secret from gettoken, the corp's jsapi ticket
	// and the agent's agent_config ticket.
	FamilyWeCom Family = "wecom"
	// FamilyComponent is an open platform's third-party platform
	// (第三方平台) itself: its component_access_token, fetched with its
	// component secret and the latest pushed verify ticket. Its id is its
	// component_appid.
	FamilyComponent Family = "component"
	// FamilyAuthorizer is an account that authorized a third-party
	// platform: its authorizer_access_token, fetched with the platform's
	// component_access_token and the account's authorizer_refresh_token,
	// and the jsapi and wx_card tickets. Its id is AuthorizerID.
	FamilyAuthorizer Family = "authorizer"
)

// Valid reports whether f is one of the known families.
func (f Family) Valid() bool {
	switch f {
	case FamilyApp, FamilyWeCom, FamilyComponent, FamilyAuthorizer:
		return true
	}
	return false
}

// Tickets lists the ticket kinds of the family.
func (f Family) Tickets() []Kind {
	switch f {
	case FamilyApp, FamilyAuthorizer:
		return []Kind{KindJSAPITicket, KindWxCard}
	case FamilyWeCom:
		return []Kind{KindJSAPITicket, KindAgentConfig}
	}
	return nil
}

// HasTicket reports whether k is a ticket kind of the family.
func (f Family) HasTicket(k Kind) bool {
	for _, t := range f.Tickets() {
		if t == k {
			return true
		}
	}
	return false
}

// ParseTicket turns a ticket type of the family, as it appears in URLs and
// config, into a Kind.
func (f Family) ParseTicket(s string) (Kind, error) {
	if k := Kind(s); f.HasTicket(k) {
		return k, nil
	}
	ts := f.Tickets()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return "", fmt.Errorf("unknown ticket type %q (want %s)", s, strings.Join(names, " or "))
}

// WeComID is the id that stands for a WeCom agent's credentials wherever an
// appid stands for an app's: in the engine, the stores, leases, metrics
// labels and Grant.AppID. It is "corpid/agentid"; an appid never holds a
// slash, so the two cannot be confused.
func WeComID(corpID, agentID string) string { return corpID + "/" + agentID }

// AuthorizerID is the id that stands for the credentials of the account
// authorizerAppID as authorized to the third-party platform
// componentAppID: "component_appid:authorizer_appid". An account may
// authorize several platforms, each of which gets credentials of its own.
func AuthorizerID(componentAppID, authorizerAppID string) string {
	return componentAppID + ":" + authorizerAppID
}

// ParseID tells the family of an id made by WeComID or AuthorizerID, or of
// an appid, and the two parts of a compound id: a WeCom agent's corpid and
// agentid, an authorizer's component_appid and authorizer_appid. A plain
// appid reports FamilyApp: a component_appid looks the same, and only the
// configuration tells a platform from an app.
func ParseID(id string) (f Family, first, second string) {
	if corp, agent, ok := strings.Cut(id, "/"); ok {
		return FamilyWeCom, corp, agent
	}
	if comp, auth, ok := strings.Cut(id, ":"); ok {
		return FamilyAuthorizer, comp, auth
	}
	return FamilyApp, "", ""
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
	// TokenAPIWeCom is WeCom's GET /cgi-bin/gettoken (FamilyWeCom): within
	// a token's validity every call returns that same token, a new one
	// comes only after it expired, and WeCom may end a token early.
	TokenAPIWeCom TokenAPI = "wecom"
	// TokenAPIComponent is the open platform's POST
	// /cgi-bin/component/api_component_token (FamilyComponent): a new token
	// with every call, like the classic API.
	TokenAPIComponent TokenAPI = "component"
	// TokenAPIAuthorizer is the open platform's POST
	// /cgi-bin/component/api_authorizer_token (FamilyAuthorizer): a new
	// token with every call, which may come with a new refresh token.
	TokenAPIAuthorizer TokenAPI = "authorizer"
)

// MintsOnEveryCall reports whether every call of the API mints a new
// token, which ends the token before it an overlap later: the classic API
// and the open platform's. The engine then hands a token out only until
// its next planned refresh (plus the overlap), and a call that may still
// land endangers the token of that moment.
func (t TokenAPI) MintsOnEveryCall() bool {
	return t == TokenAPIClassic || t == TokenAPIComponent || t == TokenAPIAuthorizer
}
