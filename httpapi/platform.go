package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// MaxEventBytes bounds the body of a push to a platform's events route.
// WeChat's encrypted pushes are a few kilobytes; anything larger is not
// one of them and is refused unread (413).
const MaxEventBytes = 64 << 10

// The routes of the open platform's third-party platforms and of the
// accounts that authorized them.
const (
	routePlatformEvents       = "POST /v1/platforms/{component_appid}/events"
	routeComponentAccessToken = "GET /v1/platforms/{component_appid}/component_access_token"
	routePreAuthURL           = "GET /v1/platforms/{component_appid}/preauth_url"
	routeAuthorizations       = "POST /v1/platforms/{component_appid}/authorizations"
	routeAuthorizers          = "GET /v1/platforms/{component_appid}/authorizers"
	routeImportAuthorizer     = "POST /v1/platforms/{component_appid}/authorizers"

	routeAuthorizerAccessToken        = "GET /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/access_token"
	routeAuthorizerAccessTokenRefresh = "POST /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/access_token/refresh"
	routeAuthorizerTicket             = "GET /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/tickets/{type}"
	routeAuthorizerTicketRefresh      = "POST /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/tickets/{type}/refresh"
	routeAuthorizerJSSDKConfig        = "GET /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/jssdk_config"
)

// platformRoutes lists the platform routes, for RoutePaths.
func platformRoutes() []string {
	return []string{
		routePlatformEvents, routeComponentAccessToken, routePreAuthURL, routeAuthorizations,
		routeAuthorizers, routeImportAuthorizer,
		routeAuthorizerAccessToken, routeAuthorizerAccessTokenRefresh, routeAuthorizerTicket,
		routeAuthorizerTicketRefresh, routeAuthorizerJSSDKConfig,
	}
}

// ComponentTokenResponse is the answer of a platform's
// component_access_token route.
type ComponentTokenResponse struct {
	ComponentAppID       string `json:"component_appid"`
	ComponentAccessToken string `json:"component_access_token"`
	// ExpiresIn is whole seconds the token may be used for.
	ExpiresIn int64 `json:"expires_in"`
	// ExpiresAt is RFC 3339, in UTC.
	ExpiresAt string `json:"expires_at"`
}

// PreAuthURLResponse is the answer of a platform's preauth_url route: the
// URL of WeChat's authorization page, with a fresh pre_auth_code.
type PreAuthURLResponse struct {
	URL string `json:"url"`
}

// AuthorizationRequest is the body of a platform's authorizations route.
type AuthorizationRequest struct {
	// AuthCode is the auth_code WeChat appended to the redirect URI.
	AuthCode string `json:"auth_code"`
}

// ImportAuthorizerRequest is the body of POST
// /v1/platforms/{component_appid}/authorizers.
type ImportAuthorizerRequest struct {
	AuthorizerAppID string `json:"authorizer_appid"`
	RefreshToken    string `json:"refresh_token"`
}

// AuthorizersResponse is the answer of GET
// /v1/platforms/{component_appid}/authorizers.
type AuthorizersResponse struct {
	Authorizers []wxtoken.AuthorizerStatus `json:"authorizers"`
}

// AuthorizerTokenResponse is the answer of an authorizer's access_token
// routes, and of the authorizations route.
type AuthorizerTokenResponse struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	AccessToken     string `json:"access_token"`
	ExpiresIn       int64  `json:"expires_in"`
	ExpiresAt       string `json:"expires_at"`
}

// AuthorizerTicketResponse is the answer of an authorizer's ticket routes.
type AuthorizerTicketResponse struct {
	ComponentAppID  string       `json:"component_appid"`
	AuthorizerAppID string       `json:"authorizer_appid"`
	Type            wxtoken.Kind `json:"type"`
	Ticket          string       `json:"ticket"`
	ExpiresIn       int64        `json:"expires_in"`
	ExpiresAt       string       `json:"expires_at"`
}

// registerPlatformRoutes registers the platform routes; New calls it.
func (h *Handler) registerPlatformRoutes() {
	h.route(routePlatformEvents, h.platformEvent)
	h.route(routeComponentAccessToken, h.componentAccessToken)
	h.route(routePreAuthURL, h.preAuthURL)
	h.route(routeAuthorizations, h.exchangeAuthCode)
	h.route(routeAuthorizers, h.listAuthorizers)
	h.route(routeImportAuthorizer, h.importAuthorizer)
	h.route(routeAuthorizerAccessToken, func(ex *exchange, r *http.Request, p params) error {
		return h.authorizerCredential(ex, r, p, false, false)
	})
	h.route(routeAuthorizerAccessTokenRefresh, func(ex *exchange, r *http.Request, p params) error {
		return h.authorizerCredential(ex, r, p, false, true)
	})
	h.route(routeAuthorizerTicket, func(ex *exchange, r *http.Request, p params) error {
		return h.authorizerCredential(ex, r, p, true, false)
	})
	h.route(routeAuthorizerTicketRefresh, func(ex *exchange, r *http.Request, p params) error {
		return h.authorizerCredential(ex, r, p, true, true)
	})
	h.route(routeAuthorizerJSSDKConfig, h.authorizerJSSDKConfig)
}

// errNoPlatforms answers every platform route of a server that serves no
// third-party platform.
func errNoPlatforms() error {
	return wxtoken.Errorf(wxtoken.ENotFound, "this server serves no third-party platform: none is configured")
}

// platformKnown reports whether the server serves the platform
// componentAppID. Ids outside the plain alphabet of appids are never
// served: an escaped ":" or "/" in a path segment must not make one id
// look like another.
func (h *Handler) platformKnown(componentAppID string) bool {
	return plainSegment(componentAppID) && h.components[componentAppID]
}

// componentRequest authenticates a request on a platform's own routes and
// authorizes its {component_appid}: with admin true only admin keys pass,
// otherwise keys granted the component_appid. As for apps, a key learns
// that a platform is not served (404) only if it was granted that id or
// is an admin key; every other key gets 403.
func (h *Handler) componentRequest(ex *exchange, r *http.Request, admin bool) (string, error) {
	if h.platforms == nil {
		return "", errNoPlatforms()
	}
	c, err := h.authenticate(r)
	if err != nil {
		return "", err
	}
	ex.client = c.Name
	comp := r.PathValue("component_appid")
	granted := c.Allows(comp)
	if admin {
		granted = c.Admin
	}
	if !h.platformKnown(comp) {
		if granted || c.Admin {
			return "", errUnknownPlatform()
		}
		return "", errForbiddenPlatform(admin)
	}
	if !granted {
		return "", errForbiddenPlatform(admin)
	}
	return comp, nil
}

// authorizer is the authorizer of a request: its {component_appid} and
// {authorizer_appid}, and its AuthorizerID.
type authorizer struct {
	componentAppID, authorizerAppID, id string
}

// authorizerRequest authenticates a request on an authorizer's routes and
// authorizes it by the authorizer's AuthorizerID.
func (h *Handler) authorizerRequest(ex *exchange, r *http.Request) (authorizer, error) {
	if h.platforms == nil {
		return authorizer{}, errNoPlatforms()
	}
	c, err := h.authenticate(r)
	if err != nil {
		return authorizer{}, err
	}
	ex.client = c.Name
	a := authorizer{componentAppID: r.PathValue("component_appid"), authorizerAppID: r.PathValue("authorizer_appid")}
	a.id = wxtoken.AuthorizerID(a.componentAppID, a.authorizerAppID)
	granted := c.Allows(a.id)
	switch {
	case !h.platformKnown(a.componentAppID):
		if granted || c.Admin {
			return authorizer{}, errUnknownPlatform()
		}
		return authorizer{}, errForbiddenAuthorizer()
	case !granted:
		return authorizer{}, errForbiddenAuthorizer()
	case !plainSegment(a.authorizerAppID):
		// Not an appid: no such authorizer can exist.
		return authorizer{}, wxtoken.Errorf(wxtoken.ENotFound, "unknown authorizer: the platform has no such authorizer")
	}
	return a, nil
}

func errUnknownPlatform() error {
	return wxtoken.Errorf(wxtoken.ENotFound, "unknown third-party platform: it is not configured on this server")
}

func errForbiddenPlatform(admin bool) error {
	if admin {
		return wxtoken.Errorf(wxtoken.EForbidden, "the authorizers of a platform are listed and imported with an admin client key only")
	}
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this third-party platform")
}

func errForbiddenAuthorizer() error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this authorizer")
}

// platformEvent takes WeChat's pushes to a platform. WeChat sends no key:
// the push proves itself by its msg_signature, which Platforms.Event
// checks. WeChat reads only whether the answer is "success", so every
// answer is plain text; anything else makes WeChat push again.
func (h *Handler) platformEvent(ex *exchange, r *http.Request, _ params) error {
	comp := r.PathValue("component_appid")
	if h.platforms == nil {
		h.eventFailed(ex, r, comp, errNoPlatforms())
		return nil
	}
	if !h.platformKnown(comp) {
		h.eventFailed(ex, r, comp, errUnknownPlatform())
		return nil
	}
	// The underlying writer, so that net/http closes the connection
	// after an oversized body instead of reading it all.
	body, err := io.ReadAll(http.MaxBytesReader(ex.w, r.Body, MaxEventBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "platform push refused: body too large",
				slog.String("component_appid", comp), slog.Int64("limit", MaxEventBytes))
			writeText(ex, http.StatusRequestEntityTooLarge, "push body larger than 64 KiB")
			return nil
		}
		h.eventFailed(ex, r, comp, wxtoken.Errorf(wxtoken.EInvalid, "reading the push failed"))
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.eventFailed(ex, r, comp, wxtoken.Errorf(wxtoken.EInvalid, "malformed query string"))
		return nil
	}
	push := wxtoken.Push{
		Timestamp:    q.Get("timestamp"),
		Nonce:        q.Get("nonce"),
		EncryptType:  q.Get("encrypt_type"),
		MsgSignature: q.Get("msg_signature"),
		Body:         body,
	}
	if err := h.platforms.Event(r.Context(), comp, push); err != nil {
		h.eventFailed(ex, r, comp, err)
		return nil
	}
	writeText(ex, http.StatusOK, "success")
	return nil
}

// eventFailed answers a push that was not acted on: a short reason in
// plain text, with the error table's status, and a warning in the log,
// which never holds the body.
func (h *Handler) eventFailed(ex *exchange, r *http.Request, comp string, err error) {
	d := describe(err)
	ex.errCode = d.Code
	attrs := []slog.Attr{slog.String("component_appid", comp), slog.String("code", string(d.Code)), slog.String("error", err.Error())}
	if !plainSegment(comp) {
		// An id no platform has may be anything a caller sent.
		attrs[0] = slog.String("component_appid", "(not an appid)")
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "platform push not acted on", attrs...)
	writeText(ex, StatusOf(d.Code), d.Message)
}

// writeText answers text/plain: the events route's answers, for WeChat.
func writeText(ex *exchange, status int, text string) {
	ex.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ex.WriteHeader(status)
	_, _ = io.WriteString(ex, text)
}

// componentAccessToken answers a platform's component_access_token,
// which the Service keeps under the component_appid.
func (h *Handler) componentAccessToken(ex *exchange, r *http.Request, _ params) error {
	comp, err := h.componentRequest(ex, r, false)
	if err != nil {
		return err
	}
	g, expiresIn, err := h.grant(ex, r, comp, wxtoken.KindAccessToken, false)
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, ComponentTokenResponse{
		ComponentAppID:       comp,
		ComponentAccessToken: g.Value,
		ExpiresIn:            expiresIn,
		ExpiresAt:            g.ExpiresAt.UTC().Format(time.RFC3339),
	})
	return nil
}

// preAuthURL answers the URL of WeChat's authorization page for the
// platform, which sends the account's admin back to ?redirect_uri=.
func (h *Handler) preAuthURL(ex *exchange, r *http.Request, _ params) error {
	comp, err := h.componentRequest(ex, r, false)
	if err != nil {
		return err
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return wxtoken.Errorf(wxtoken.EInvalid, "the query string is malformed: pass redirect_uri percent-encoded")
	}
	for k, v := range q {
		switch {
		case k != "redirect_uri" && k != "auth_type":
			return wxtoken.Errorf(wxtoken.EInvalid, "unexpected query parameter: the only ones are redirect_uri and auth_type, and redirect_uri must be percent-encoded (encodeURIComponent), or its own query is cut at the first &")
		case len(v) > 1:
			return wxtoken.Errorf(wxtoken.EInvalid, "%s is given more than once", k)
		}
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "redirect_uri is required: the page WeChat sends the account's admin back to, percent-encoded")
	}
	if u, err := url.Parse(redirect); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "redirect_uri must be an absolute http or https URL")
	}
	authType := q.Get("auth_type")
	if _, given := q["auth_type"]; given && !digits(authType) {
		return wxtoken.Errorf(wxtoken.EInvalid, "auth_type must be one of WeChat's auth_type numbers, such as 1 (Official Accounts), 2 (Mini Programs) or 3 (both)")
	}
	u, err := h.platforms.PreAuthURL(r.Context(), comp, redirect, authType)
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, PreAuthURLResponse{URL: u})
	return nil
}

// digits reports whether s is one to three decimal digits.
func digits(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// exchangeAuthCode exchanges the auth_code of an authorization and answers the
// new authorizer's access_token.
func (h *Handler) exchangeAuthCode(ex *exchange, r *http.Request, _ params) error {
	comp, err := h.componentRequest(ex, r, false)
	if err != nil {
		return err
	}
	var req AuthorizationRequest
	if err := h.readBody(ex, r, &req, `{"auth_code": "..."}`); err != nil {
		return err
	}
	if req.AuthCode == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, `auth_code is required: send the code WeChat appended to the redirect URI, as {"auth_code": "..."}`)
	}
	g, err := h.platforms.Authorize(r.Context(), comp, req.AuthCode)
	if err != nil {
		return err
	}
	f, gotComp, authAppID := wxtoken.ParseID(g.AppID)
	if f != wxtoken.FamilyAuthorizer || gotComp != comp || authAppID == "" {
		h.log.LogAttrs(r.Context(), slog.LevelError, "the platform returned a grant of another owner",
			slog.String("component_appid", comp), slog.String("grant_id", g.AppID))
		return wxtoken.Errorf(wxtoken.EInternal, "internal error")
	}
	expiresIn, err := h.checkGrant(r, g.AppID, wxtoken.KindAccessToken, g)
	if err != nil {
		return err
	}
	h.writeAuthorizerGrant(ex, authorizer{componentAppID: comp, authorizerAppID: authAppID, id: g.AppID}, wxtoken.KindAccessToken, g, expiresIn)
	return nil
}

// listAuthorizers answers every authorizer of the platform, to admin keys.
func (h *Handler) listAuthorizers(ex *exchange, r *http.Request, _ params) error {
	comp, err := h.componentRequest(ex, r, true)
	if err != nil {
		return err
	}
	list, err := h.platforms.Authorizers(r.Context(), comp)
	if err != nil {
		return err
	}
	if list == nil {
		list = []wxtoken.AuthorizerStatus{}
	}
	h.writeJSON(ex, http.StatusOK, AuthorizersResponse{Authorizers: list})
	return nil
}

// importAuthorizer stores an authorizer known to another system by its
// refresh token, for admin keys. The answer is the authorizer's status,
// which never holds the refresh token.
func (h *Handler) importAuthorizer(ex *exchange, r *http.Request, _ params) error {
	comp, err := h.componentRequest(ex, r, true)
	if err != nil {
		return err
	}
	var req ImportAuthorizerRequest
	if err := h.readBody(ex, r, &req, `{"authorizer_appid": "...", "refresh_token": "..."}`); err != nil {
		return err
	}
	switch {
	case req.AuthorizerAppID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "authorizer_appid is required")
	case !plainSegment(req.AuthorizerAppID):
		return wxtoken.Errorf(wxtoken.EInvalid, "authorizer_appid must be an appid: letters, digits, '_' and '-'")
	case req.RefreshToken == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "refresh_token is required: the authorizer_refresh_token the other system holds")
	}
	st, err := h.platforms.ImportAuthorizer(r.Context(), comp, req.AuthorizerAppID, req.RefreshToken)
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, st)
	return nil
}

// authorizerCredential answers an authorizer's access_token or ticket, or
// the result of a compare-and-refresh, as the app routes do.
func (h *Handler) authorizerCredential(ex *exchange, r *http.Request, p params, ticket, refresh bool) error {
	// Authorization comes first, so that an unauthorized caller learns
	// nothing, not even which ticket types exist.
	a, err := h.authorizerRequest(ex, r)
	if err != nil {
		return err
	}
	kind := wxtoken.KindAccessToken
	if ticket {
		if kind, err = wxtoken.FamilyAuthorizer.ParseTicket(p.typ); err != nil {
			return wxtoken.Errorf(wxtoken.ENotFound, "unknown ticket type: want jsapi or wx_card")
		}
	}
	g, expiresIn, err := h.grant(ex, r, a.id, kind, refresh)
	if err != nil {
		return err
	}
	h.writeAuthorizerGrant(ex, a, kind, g, expiresIn)
	return nil
}

// writeAuthorizerGrant answers an authorizer's credential as an
// AuthorizerTokenResponse or AuthorizerTicketResponse.
func (h *Handler) writeAuthorizerGrant(ex *exchange, a authorizer, kind wxtoken.Kind, g wxtoken.Grant, expiresIn int64) {
	b := make([]byte, 0, 128+len(a.componentAppID)+len(a.authorizerAppID)+len(g.Value))
	b = append(b, `{"component_appid":`...)
	b = appendJSONString(b, a.componentAppID)
	b = append(b, `,"authorizer_appid":`...)
	b = appendJSONString(b, a.authorizerAppID)
	b = appendGrantTail(b, kind, g.Value, expiresIn, g.ExpiresAt)
	ex.Header()["Content-Type"] = h.jsonType
	ex.WriteHeader(http.StatusOK)
	_, _ = ex.Write(b)
}

// authorizerJSSDKConfig signs the page URL in ?url= with the authorizer's
// jsapi ticket; the config's appId is the authorizer's appid.
func (h *Handler) authorizerJSSDKConfig(ex *exchange, r *http.Request, _ params) error {
	a, err := h.authorizerRequest(ex, r)
	if err != nil {
		return err
	}
	pageURL, err := pageURLParam(r)
	if err != nil {
		return err
	}
	if _, err := jssdk.NormalizeURL(pageURL); err != nil {
		return err
	}
	g, _, err := h.grant(ex, r, a.id, wxtoken.KindJSAPITicket, false)
	if err != nil {
		return err
	}
	cfg, err := jssdk.NewConfig(a.authorizerAppID, g.Value, pageURL, h.now())
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, cfg)
	return nil
}

// readBody reads a request's JSON object into v, which must be a pointer
// to a struct: the rules of a refresh's body (application/json, at most
// MaxBodyBytes, one object, no unknown fields). shape is the object as the
// messages show it. No message quotes the body, which holds secrets (an
// auth_code, a refresh token).
func (h *Handler) readBody(ex *exchange, r *http.Request, v any, shape string) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return wxtoken.Errorf(wxtoken.EInvalid, "Content-Type must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(ex.w, r.Body, h.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Exactly one value: trailing data is a malformed request, or a
		// body over the limit whose first part happened to parse.
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = errors.New("trailing data")
		}
	}
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return wxtoken.Errorf(wxtoken.EInvalid, "request body is larger than %d bytes", h.maxBody)
	case errors.Is(err, io.EOF):
		return wxtoken.Errorf(wxtoken.EInvalid, "request body is empty: send %s", shape)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return wxtoken.Errorf(wxtoken.EInvalid, "request body is not valid JSON")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// Field names the struct field, also for an element of a list:
		// the message says what was found where, which fits both.
		return wxtoken.Errorf(wxtoken.EInvalid, "%s holds %s where %s belongs", typeErr.Field, jsonValueName(typeErr.Value), jsonTypeName(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// As in bodyError: the field name, which could be anything, is
		// not echoed.
		return wxtoken.Errorf(wxtoken.EInvalid, "request body has an unknown field: send %s", shape)
	}
	return wxtoken.Errorf(wxtoken.EInvalid, "request body must be one JSON object: %s", shape)
}

// jsonValueName words the JSON value that encoding/json reports in an
// UnmarshalTypeError ("number", "array"...) with its article.
func jsonValueName(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "true or false"
	case "":
		return "a value"
	}
	return "a " + v
}

// jsonTypeName words the JSON value that a Go type takes.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another value"
}
