package compat

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// The open platform's third-party platforms (第三方平台) speak WeChat's wire
// format on WeChat's host, with credential calls of their own under
// /cgi-bin/component/. wxtoken keeps a platform's component_access_token
// under its component_appid, and the access_token of every account that
// authorized it under wxtoken.AuthorizerID, fetched with the verify
// tickets WeChat pushes to wxtoken and with refresh tokens that only
// wxtoken holds. An SDK that manages a platform is served as follows:
//
//   - api_component_token answers the cached component token for the
//     platform's component secret, or a client key granted the platform in
//     its place. The verify ticket the SDK sends is ignored: WeChat pushes
//     them to wxtoken, not to the SDK.
//   - api_authorizer_token answers the cached token of an authorizer
//     wxtoken keeps, for a component token it handed out for the
//     platform. Relaying it would mint a token behind wxtoken's back and
//     end the one wxtoken serves; and the refresh token the SDK sends is
//     echoed back, never the one wxtoken stores.
//   - Every other /cgi-bin/component/ call is relayed with the platform's
//     current component token in component_access_token, and healed as
//     the relay heals an access_token.
//   - An authorizer's access_token is relayed and healed on every other
//     path as an app's is, to the upstream (never WeCom's).

// The platform paths answered from the cache, and the folder of the
// platform's other calls.
const (
	pathComponentToken  = "/cgi-bin/component/api_component_token"
	pathAuthorizerToken = "/cgi-bin/component/api_authorizer_token"
	componentFolder     = "/cgi-bin/component/"
)

// componentTokenParam is the query parameter in which the platform's
// calls take the component_access_token.
const componentTokenParam = "component_access_token"

// The errcodes of the open platform that the front door answers with.
const (
	// errNotAuthorized: the account does not authorize the platform; here,
	// wxtoken keeps no such authorizer.
	errNotAuthorized = 61003
	// errInvalidComponent: an unknown component_appid, or one that is not
	// the component_access_token's.
	errInvalidComponent = 61011
)

// maxComponentBody bounds the body of the two credential calls: a few
// short fields.
const maxComponentBody = 4096

// msgWrongComponentSecret answers a component_appsecret that is neither the
// platform's secret nor a client key granted the platform, whichever it
// was, so that the answer tells a prober nothing about which keys exist.
const msgWrongComponentSecret = "invalid appsecret: neither the component secret configured on this wxtoken nor a client key granted this platform"

// msgComponentAsAccessToken answers a platform's component_access_token
// sent where WeChat takes an account's access_token.
const msgComponentAsAccessToken = "invalid access_token: it is a platform's component_access_token, which WeChat takes only as component_access_token on " + componentFolder + " calls; use an authorizer's access_token"

// Platform is a configured third-party platform: its component_appid and
// component secret. New keeps only the secret's SHA-256, to compare
// against.
type Platform struct {
	ComponentAppID string
	Secret         string
}

// componentTokenRequest is the body of api_component_token.
type componentTokenRequest struct {
	ComponentAppID string `json:"component_appid"`
	Secret         string `json:"component_appsecret"`
	VerifyTicket   string `json:"component_verify_ticket"`
}

// componentTokenBody is WeChat's api_component_token answer.
type componentTokenBody struct {
	Token     string `json:"component_access_token"`
	ExpiresIn int64  `json:"expires_in"`
}

// authorizerTokenRequest is the body of api_authorizer_token.
type authorizerTokenRequest struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	RefreshToken    string `json:"authorizer_refresh_token"`
}

// authorizerTokenBody is WeChat's api_authorizer_token answer.
type authorizerTokenBody struct {
	Token        string `json:"authorizer_access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"authorizer_refresh_token"`
}

// knownPlatform reports whether id is a configured platform's
// component_appid.
func (h *Handler) knownPlatform(id string) bool {
	_, ok := h.platforms[id]
	return ok
}

// knownAuthorizer reports whether id is an AuthorizerID of a configured
// platform; whether wxtoken keeps that authorizer is the Service's to say.
func (h *Handler) knownAuthorizer(id string) bool {
	f, comp, appID := wxtoken.ParseID(id)
	return f == wxtoken.FamilyAuthorizer && h.knownPlatform(comp) && validAuthorizerAppID(appID)
}

// validAuthorizerAppID reports whether s can be an authorizer_appid: not
// empty, and without the slash or colon that would make its AuthorizerID
// read as another id.
func validAuthorizerAppID(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/:")
}

// componentSecretMatches compares secret with the platform's component
// secret, on SHA-256 digests and in constant time, as secretMatches does.
func (h *Handler) componentSecretMatches(componentAppID, secret string) bool {
	want, ok := h.platforms[componentAppID]
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && ok
}

// readComponentBody decodes the JSON body of a platform credential call
// into v, and answers the call itself (47001) when it cannot. The body is
// never quoted: it holds a secret or a refresh token.
func (h *Handler) readComponentBody(ex *exchange, r *http.Request, v any, want string) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxComponentBody+1))
	if err == nil && len(body) <= maxComponentBody {
		err = json.Unmarshal(body, v)
	}
	if err != nil || len(body) > maxComponentBody {
		h.fail(ex, errDataFormat, "data format error: want a JSON object with "+want)
		return false
	}
	return true
}

// serveComponentToken answers POST /cgi-bin/component/api_component_token
// from the cache: the platform's component_access_token, for its
// component secret or a client key granted it. The verify ticket is not
// read: wxtoken fetches the token with the ones WeChat pushes to it.
func (h *Handler) serveComponentToken(ex *exchange, r *http.Request) {
	if r.Method != http.MethodPost {
		h.fail(ex, errRequirePOST, "require POST method")
		return
	}
	var req componentTokenRequest
	if !h.readComponentBody(ex, r, &req, "component_appid, component_appsecret and component_verify_ticket") {
		return
	}
	switch {
	case req.ComponentAppID == "":
		h.fail(ex, errMissingAppID, "component_appid missing")
		return
	case req.Secret == "":
		h.fail(ex, errMissingSecret, "component_appsecret missing")
		return
	case !h.knownPlatform(req.ComponentAppID):
		h.fail(ex, errInvalidComponent, "invalid component_appid: it is not a platform configured on this wxtoken")
		return
	}
	if !h.componentSecretMatches(req.ComponentAppID, req.Secret) && !h.keyGrants(ex, req.ComponentAppID, req.Secret) {
		h.fail(ex, errInvalidSecret, msgWrongComponentSecret)
		return
	}
	ex.app = req.ComponentAppID
	g, err := h.svc.Credential(r.Context(), req.ComponentAppID, wxtoken.KindAccessToken)
	if err != nil {
		h.serviceFailed(ex, r, err)
		return
	}
	h.writeGrant(ex, r, componentTokenBody{Token: g.Value, ExpiresIn: seconds(g)})
}

// serveAuthorizerToken answers POST
// /cgi-bin/component/api_authorizer_token from the cache: the token of an
// authorizer wxtoken keeps, for a component token wxtoken handed out for
// its platform (or a client key with the platform in the appid header).
// The refresh token the caller sent is checked for presence only and
// answered back as it came: wxtoken's own is never shown, and the
// caller's is not used.
func (h *Handler) serveAuthorizerToken(ex *exchange, r *http.Request) {
	if r.Method != http.MethodPost {
		h.fail(ex, errRequirePOST, "require POST method")
		return
	}
	c, ok := h.identifyComponent(ex, r)
	if !ok {
		return
	}
	var req authorizerTokenRequest
	if !h.readComponentBody(ex, r, &req, "component_appid, authorizer_appid and authorizer_refresh_token") {
		return
	}
	switch {
	case req.ComponentAppID == "":
		h.fail(ex, errMissingAppID, "component_appid missing")
		return
	case req.ComponentAppID != c.appID:
		h.fail(ex, errInvalidComponent, "invalid component_appid: the component_access_token is another platform's")
		return
	case req.AuthorizerAppID == "":
		h.fail(ex, errMissingAppID, "authorizer_appid missing")
		return
	case !validAuthorizerAppID(req.AuthorizerAppID):
		h.fail(ex, errInvalidAppID, "invalid authorizer_appid")
		return
	case req.RefreshToken == "":
		h.fail(ex, errMissingRefreshToken, "authorizer_refresh_token missing")
		return
	}
	id := wxtoken.AuthorizerID(req.ComponentAppID, req.AuthorizerAppID)
	ex.app = id
	g, err := h.svc.Credential(r.Context(), id, wxtoken.KindAccessToken)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
			// Relaying the call would mint a token behind wxtoken's back
			// with a refresh token wxtoken does not know.
			h.fail(ex, errNotAuthorized, "wxtoken keeps no authorizer "+req.AuthorizerAppID+" for this platform: have the account authorize the platform with wxtoken's event URL set on it (or exchange its auth_code with POST /v1/platforms/"+req.ComponentAppID+"/authorizations), or import its refresh token into wxtoken (POST /v1/platforms/"+req.ComponentAppID+"/authorizers, wxtoken platform import)")
			return
		}
		h.serviceFailed(ex, r, err)
		return
	}
	h.writeGrant(ex, r, authorizerTokenBody{Token: g.Value, ExpiresIn: seconds(g), RefreshToken: req.RefreshToken})
}

// serveComponentCall relays one of the platform's other calls
// (api_create_preauthcode, api_query_auth, api_get_authorizer_info, ...)
// to the upstream with the platform's current component token put in, and
// heals a rejection of it as proxy does for an access_token.
func (h *Handler) serveComponentCall(ex *exchange, r *http.Request, wx string) {
	c, ok := h.identifyComponent(ex, r)
	if !ok {
		return
	}
	h.forward(ex, r, wx, c, h.upstream, componentTokenParam)
}

// identifyComponent finds the platform a component call is made for: the
// one whose component_access_token, handed out by wxtoken, the call
// carries, or the one a client key's appid header names. It answers the
// call itself otherwise: no token (41001), an empty one or two different
// ones (40014), one wxtoken did not hand out for a platform (40001), one
// that has expired (42001).
func (h *Handler) identifyComponent(ex *exchange, r *http.Request) (caller, bool) {
	if _, has := r.Header["Authorization"]; has {
		c, ok := h.identifyKey(ex, r)
		if ok && !h.knownPlatform(c.appID) {
			h.fail(ex, errInvalidToken, "invalid component_access_token: "+HeaderAppID+" names no platform (component_appid)")
			return caller{}, false
		}
		return c, ok
	}
	tok, found, conflict := findParam(r.URL.RawQuery, componentTokenParam)
	switch {
	case conflict:
		h.fail(ex, errInvalidToken, "invalid component_access_token: the call carries different component_access_token parameters")
		return caller{}, false
	case !found:
		h.fail(ex, errMissingToken, "component_access_token missing: wxtoken relays only calls made with a component_access_token it handed out or with a client key and the "+HeaderAppID+" header")
		return caller{}, false
	case tok == "":
		h.fail(ex, errInvalidToken, "invalid component_access_token")
		return caller{}, false
	}
	id, valid := h.appOf(tok)
	switch {
	case id == "" || !h.knownPlatform(id):
		h.fail(ex, errInvalidCredential, "invalid credential, component_access_token is invalid or not latest: it is not one that wxtoken handed out for a platform")
		return caller{}, false
	case !valid:
		h.fail(ex, errTokenExpired, "component_access_token expired: fetch a new one")
		return caller{}, false
	}
	ex.app = id
	return caller{appID: id, by: byToken}, true
}
