package compat

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/wxtoken/wxtoken"
)

const grantType = "client_credential"

// maxStableBody bounds a stable_token body: four short fields.
const maxStableBody = 4096

// serveToken answers GET /cgi-bin/token from the cache.
func (h *Handler) serveToken(ex *exchange, r *http.Request) {
	if r.Method != http.MethodGet {
		h.fail(ex, errRequireGET, "require GET method")
		return
	}
	q := r.URL.RawQuery
	gt, _ := queryValue(q, "grant_type")
	appID, _ := queryValue(q, "appid")
	secret, _ := queryValue(q, "secret")
	h.serveGrant(ex, r, gt, appID, secret, false)
}

// stableRequest is the body of POST /cgi-bin/stable_token.
type stableRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// serveStableToken answers POST /cgi-bin/stable_token from the cache.
func (h *Handler) serveStableToken(ex *exchange, r *http.Request) {
	if r.Method != http.MethodPost {
		h.fail(ex, errRequirePOST, "require POST method")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStableBody+1))
	var req stableRequest
	if err == nil && len(body) <= maxStableBody {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || len(body) > maxStableBody {
		// The body is never quoted: it holds the AppSecret.
		h.fail(ex, errDataFormat, "data format error: want a JSON object with grant_type, appid, secret and force_refresh")
		return
	}
	h.serveGrant(ex, r, req.GrantType, req.AppID, req.Secret, req.ForceRefresh)
}

// serveGrant checks a token request in WeChat's order and answers the
// cached access_token. With force, the current token is reported instead
// of replaced: WeChat's force mode kills the token every other caller
// holds, which is what a central server exists to prevent, so it is
// replaced only when WeChat proves it rejects it.
func (h *Handler) serveGrant(ex *exchange, r *http.Request, gt, appID, secret string, force bool) {
	switch {
	case gt != grantType:
		h.fail(ex, errInvalidGrantType, "invalid grant_type: want client_credential")
		return
	case appID == "":
		h.fail(ex, errMissingAppID, "appid missing")
		return
	case secret == "":
		h.fail(ex, errMissingSecret, "appsecret missing")
		return
	}
	if !h.knownApp(appID) && !h.keptAs(appID, wxtoken.FamilyApp) {
		h.fail(ex, errInvalidAppID, "invalid appid: it is not configured on this wxtoken")
		return
	}
	if !h.secretOrKey(ex, appID, secret) {
		h.fail(ex, errInvalidSecret, msgWrongSecret)
		return
	}
	ex.app = appID
	g, err := h.svc.Credential(r.Context(), appID, wxtoken.KindAccessToken)
	if err != nil {
		h.serviceFailed(ex, r, err)
		return
	}
	if force {
		g = h.report(r, appID, g)
	}
	h.writeGrant(ex, r, tokenBody{AccessToken: g.Value, ExpiresIn: seconds(g)})
}

// report is stable_token's force_refresh: a compare-and-refresh report of
// cur, the token the caller was just handed. A refresh held back by the
// rate limit or the force budget, or one that fails, leaves cur in force,
// and cur is what the caller gets, as WeChat answers a force call inside
// its 30 s limit with the current token.
func (h *Handler) report(r *http.Request, appID string, cur wxtoken.Grant) wxtoken.Grant {
	g, err := h.svc.Refresh(r.Context(), appID, wxtoken.KindAccessToken, cur.Value)
	if err != nil {
		if wxtoken.ErrorCode(err) != wxtoken.ERateLimited {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "force_refresh report failed; the current token is served",
				slog.String("appid", appID), slog.String("error", wxtoken.ErrorMessage(err)))
		}
		return cur
	}
	return g
}

// writeGrant answers a token or ticket, unless the Service handed out one
// that cannot be used: wxtoken's one promise is that a credential works
// for all of its expires_in.
func (h *Handler) writeGrant(ex *exchange, r *http.Request, v any) {
	var ok bool
	switch b := v.(type) {
	case tokenBody:
		ok = b.AccessToken != "" && b.ExpiresIn >= 1
	case weComTokenBody:
		ok = b.AccessToken != "" && b.ExpiresIn >= 1
	case componentTokenBody:
		ok = b.Token != "" && b.ExpiresIn >= 1
	case authorizerTokenBody:
		ok = b.Token != "" && b.ExpiresIn >= 1
	case ticketBody:
		ok = b.Ticket != "" && b.ExpiresIn >= 1
	}
	if !ok {
		h.log.LogAttrs(r.Context(), slog.LevelError, "the service returned an unusable credential",
			slog.String("route", ex.route.pattern), slog.String("appid", ex.app))
		h.fail(ex, errSystem, "system busy: no valid credential can be served now")
		return
	}
	h.writeJSON(ex, v)
}

func (h *Handler) knownApp(appID string) bool {
	_, ok := h.apps.Load().secrets[appID]
	return ok
}

// keptAs reports whether the Service keeps id, which is not configured,
// as one of family (Options.Kept).
func (h *Handler) keptAs(id string, family wxtoken.Family) bool {
	if h.kept == nil {
		return false
	}
	f, ok := h.kept(id)
	return ok && f == family
}

// secretMatches compares secret with the app's configured AppSecret. Both
// are hashed first, so the comparison takes the same time whatever the
// length of what was sent and however much of it matches.
func (h *Handler) secretMatches(appID, secret string) bool {
	want, ok := h.apps.Load().secrets[appID]
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && ok
}

// msgWrongSecret answers a secret that is neither the app's AppSecret nor
// a client key granted the app. It is the same whether the key is
// unknown, revoked or granted other apps, so that the answer tells a
// prober nothing about which keys exist.
const msgWrongSecret = "invalid appsecret: neither the AppSecret configured on this wxtoken nor a client key granted this app"

// secretOrKey reports whether secret, sent where WeChat takes the app's
// AppSecret, is that AppSecret or a client key granted the app. A key
// there lets a business server get the app's credentials without holding
// its AppSecret, and each server can have its own key, revoked on its own.
func (h *Handler) secretOrKey(ex *exchange, appID, secret string) bool {
	return h.secretMatches(appID, secret) || h.keyGrants(ex, appID, secret)
}

// keyGrants reports whether key is a client key granted appID, and puts
// the key's client name into ex for the log. The key is looked up by its
// SHA-256 and compared in constant time, as in the Authorization header.
func (h *Handler) keyGrants(ex *exchange, appID, key string) bool {
	keys := h.apps.Load().keys
	if keys == nil {
		return false
	}
	c, ok := keys.Key(key)
	if !ok || !c.Allows(appID) {
		return false
	}
	ex.client = c.Name
	return true
}

// serveTicket answers GET /cgi-bin/ticket/getticket from the cache, for
// the app whose token (or client key and appid header) the call carries.
func (h *Handler) serveTicket(ex *exchange, r *http.Request) {
	if r.Method != http.MethodGet {
		h.fail(ex, errRequireGET, "require GET method")
		return
	}
	c, ok := h.identify(ex, r, false)
	if !ok {
		return
	}
	if isWeCom(c.appID) {
		h.fail(ex, errInvalidToken, "invalid access_token: a WeCom agent's; its tickets are at "+pathWeComJSAPITicket+" and "+pathWeComTicket)
		return
	}
	if h.knownPlatform(c.appID) {
		h.fail(ex, errInvalidToken, msgComponentAsAccessToken)
		return
	}
	typ, _ := queryValue(r.URL.RawQuery, "type")
	kind, err := wxtoken.ParseTicketKind(typ)
	if err != nil {
		h.fail(ex, errInvalidArgs, "invalid args: type must be jsapi or wx_card")
		return
	}
	g, err := h.svc.Credential(r.Context(), c.appID, kind)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
			h.fail(ex, errInvalidArgs, "invalid args: wxtoken does not keep this ticket type for the app (add it to the app's tickets in the config)")
			return
		}
		h.serviceFailed(ex, r, err)
		return
	}
	h.writeGrant(ex, r, ticketBody{ErrMsg: "ok", Ticket: g.Value, ExpiresIn: seconds(g)})
}

// How a caller proved who it is.
const (
	// byToken: an access_token wxtoken handed out, swapped for the
	// current one.
	byToken = iota + 1
	// byKey: a client key and an appid header; the token is put in.
	byKey
	// bySecret: the app's appid and AppSecret in the query, on a path
	// other than the /sns/ ones of sns.go; relayed as it is.
	bySecret
)

// caller is who a relayed call or a getticket is made for.
type caller struct {
	appID string
	by    int
}

// identify finds the app a call is made for, and answers the call itself
// when it carries nothing wxtoken can vouch for. withSecret accepts the
// app's appid and AppSecret in the query as well.
func (h *Handler) identify(ex *exchange, r *http.Request, withSecret bool) (caller, bool) {
	if _, has := r.Header["Authorization"]; has {
		return h.identifyKey(ex, r)
	}
	raw := r.URL.RawQuery
	tok, found, conflict := findToken(raw)
	switch {
	case conflict:
		h.fail(ex, errInvalidToken, "invalid access_token: the call carries different access_token parameters")
		return caller{}, false
	case found && tok == "":
		h.fail(ex, errInvalidToken, "invalid access_token")
		return caller{}, false
	case found:
		appID, valid := h.appOf(tok)
		switch {
		case appID == "":
			h.fail(ex, errInvalidCredential, "invalid credential, access_token is invalid or not latest: it is not one that wxtoken handed out")
			return caller{}, false
		case !valid:
			h.fail(ex, errTokenExpired, "access_token expired: fetch a new one")
			return caller{}, false
		}
		ex.app = appID
		return caller{appID: appID, by: byToken}, true
	}
	if withSecret {
		appID, _ := queryValue(raw, "appid")
		secret, hasSecret := queryValue(raw, "secret")
		if appID != "" && hasSecret {
			switch {
			case !h.knownApp(appID):
				h.fail(ex, errInvalidAppID, "invalid appid: it is not configured on this wxtoken")
				return caller{}, false
			case !h.secretMatches(appID, secret):
				h.fail(ex, errInvalidSecret, "invalid appsecret: it is not the one configured on this wxtoken")
				return caller{}, false
			}
			ex.app = appID
			return caller{appID: appID, by: bySecret}, true
		}
	}
	h.fail(ex, errMissingToken, "access_token missing: wxtoken relays only calls made with a token it handed out or with a client key and the "+HeaderAppID+" header")
	return caller{}, false
}

// identifyKey authenticates a call made with a client key and checks that
// the key was granted the app its appid header names. As in the HTTP API,
// a key learns that an app is not configured only if it could see it.
func (h *Handler) identifyKey(ex *exchange, r *http.Request) (caller, bool) {
	keys := h.apps.Load().keys
	if keys == nil {
		h.fail(ex, errInvalidCredential, "unknown client key")
		return caller{}, false
	}
	c, err := keys.Authenticate(r)
	if err != nil {
		h.fail(ex, errInvalidCredential, wxtoken.ErrorMessage(err))
		return caller{}, false
	}
	ex.client = c.Name
	appID := r.Header.Get(HeaderAppID)
	if appID == "" {
		h.fail(ex, errMissingAppID, "appid missing: a call made with a client key names its app in the "+HeaderAppID+" header")
		return caller{}, false
	}
	granted := grants(c, appID)
	if !h.knownApp(appID) && !h.knownAgent(appID) && !h.knownPlatform(appID) && !h.knownAuthorizer(appID) &&
		!h.keptAs(appID, wxtoken.FamilyApp) && !h.keptAs(appID, wxtoken.FamilyWeCom) {
		if granted || c.Admin {
			h.fail(ex, errInvalidAppID, "invalid appid: it is not configured on this wxtoken")
			return caller{}, false
		}
		granted = false
	}
	if !granted {
		h.fail(ex, errUnauthorized, "api unauthorized: this client key is not granted this app")
		return caller{}, false
	}
	ex.app = appID
	return caller{appID: appID, by: byKey}, true
}
