package compat

import (
	"net/http"
)

// WeChat's /sns/ calls carry the caller's own credentials rather than the
// app's access_token: an AppSecret and a one-time code, a user's OAuth
// token or refresh token, a platform's component_access_token. The front
// door relays the ones it knows as they are, to the upstream only, and
// never reads a token in them as one of its own: a user's token is not the
// app's, must not be swapped for it, and its rejection says nothing about
// the app's token.

// snsKind says what vouches for one of the /sns/ calls the front door
// knows.
type snsKind int

const (
	snsNone snsKind = iota
	// snsAppSecret: the app's appid and AppSecret, or a client key granted
	// the app in place of the secret, which wxtoken replaces with the
	// AppSecret before relaying (jscode2session, oauth2/access_token).
	snsAppSecret
	// snsAppID: an appid wxtoken serves and a credential of the caller's,
	// which WeChat checks: a user's refresh token (oauth2/refresh_token),
	// or a platform's component_access_token (component/jscode2session).
	snsAppID
	// snsUserToken: a user's OAuth access_token and openid, and no app
	// credential at all (userinfo, auth).
	snsUserToken
)

// snsKindOf returns the kind of a claimed WeChat path, snsNone for every
// path but these exact ones.
func snsKindOf(wx string) snsKind {
	switch wx {
	case "/sns/jscode2session", "/sns/oauth2/access_token":
		return snsAppSecret
	case "/sns/oauth2/refresh_token", "/sns/component/jscode2session":
		return snsAppID
	case "/sns/userinfo", "/sns/auth":
		return snsUserToken
	}
	return snsNone
}

// The errcodes WeChat answers for a missing or malformed part of an /sns/
// call, used here for the same situations.
const (
	errMissingRefreshToken = 41003
	errMissingOpenID       = 41009
)

// serveSNS checks and relays one of the /sns/ calls of snsKindOf. What the
// call must carry, by kind:
//
//   - snsAppSecret: one appid, of an app wxtoken serves, and one secret
//     that is its AppSecret or a client key granted it.
//   - snsAppID: one appid, of an app wxtoken serves, and the caller's
//     credential for WeChat (refresh_token, or component_access_token).
//   - snsUserToken: one access_token and one openid, both non-empty.
//
// Every one is a GET at WeChat, and only GET is relayed, with the path as
// WeChat spells it, so that these calls, some of which carry no app
// credential, cannot carry anything to WeChat but what they are for.
func (h *Handler) serveSNS(ex *exchange, r *http.Request, wx string, kind snsKind) {
	if r.Method != http.MethodGet {
		h.fail(ex, errRequireGET, "require GET method")
		return
	}
	if h.escapedPath(r, wx) != wx {
		// An escaped spelling such as /sns%2Fuserinfo decodes to one of
		// these paths but may mean another to the upstream.
		h.fail(ex, errInvalidURL, "invalid url: spell "+wx+" without escapes")
		return
	}
	raw := r.URL.RawQuery
	switch kind {
	case snsAppSecret:
		// Checked in WeChat's order, as /cgi-bin/token is.
		appID, ok := h.soleParam(ex, raw, "appid", errInvalidAppID, errMissingAppID)
		if !ok {
			return
		}
		secret, ok := h.soleParam(ex, raw, "secret", errInvalidSecret, errMissingSecret)
		if !ok || !h.servedApp(ex, appID) {
			return
		}
		switch {
		case h.secretMatches(appID, secret):
		case h.keyGrants(ex, appID, secret):
			// A client key: WeChat gets the AppSecret, and the caller
			// never sees it.
			raw = withParam(raw, "secret", h.apps.Load().plain[appID])
		default:
			h.fail(ex, errInvalidSecret, msgWrongSecret)
			return
		}
	case snsAppID:
		appID, ok := h.soleParam(ex, raw, "appid", errInvalidAppID, errMissingAppID)
		if !ok || !h.servedApp(ex, appID) {
			return
		}
		cred, missing := "refresh_token", errMissingRefreshToken
		if wx == "/sns/component/jscode2session" {
			cred, missing = "component_access_token", errMissingToken
		}
		if _, ok := h.soleParam(ex, raw, cred, errInvalidArgs, missing); !ok {
			return
		}
	case snsUserToken:
		if _, ok := h.soleParam(ex, raw, tokenParam, errInvalidToken, errMissingToken); !ok {
			return
		}
		if _, ok := h.soleParam(ex, raw, "openid", errInvalidArgs, errMissingOpenID); !ok {
			return
		}
	}
	body, err := h.readBody(r)
	if err != nil {
		h.fail(ex, errSystem, "system busy: the request body could not be read")
		return
	}
	out := r
	if raw != r.URL.RawQuery {
		out = r.WithContext(r.Context())
		u := *r.URL
		u.RawQuery = raw
		out.URL = &u
	}
	// No token is put in: the one the call carries is the caller's own.
	resp, err := h.send(out.Context(), h.upstream, out, wx, "", "", body)
	if err != nil {
		h.upstreamFailed(ex, r, err)
		return
	}
	defer resp.Body.Close()
	h.relay(ex, resp, peek(resp))
}

// soleParam returns the value of the query parameter name, and answers the
// call itself when it is missing or empty (missing) or given twice with
// different values (conflict), which could make wxtoken check one value
// and the upstream use the other. Values are never quoted: some are
// secrets.
func (h *Handler) soleParam(ex *exchange, raw, name string, conflict, missing int) (string, bool) {
	v, found, twice := findParam(raw, name)
	switch {
	case twice:
		h.fail(ex, conflict, "invalid "+name+": the call carries different "+name+" parameters")
		return "", false
	case !found || v == "":
		h.fail(ex, missing, name+" missing")
		return "", false
	}
	return v, true
}

// servedApp reports whether wxtoken serves appID, and answers the call
// itself when it does not.
func (h *Handler) servedApp(ex *exchange, appID string) bool {
	if !h.knownApp(appID) {
		h.fail(ex, errInvalidAppID, "invalid appid: it is not configured on this wxtoken")
		return false
	}
	ex.app = appID
	return true
}
