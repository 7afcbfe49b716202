package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// TokenResponse is the answer of the access_token routes.
type TokenResponse struct {
	AppID       string `json:"appid"`
	AccessToken string `json:"access_token"`
	// ExpiresIn is whole seconds the token may be used for.
	ExpiresIn int64 `json:"expires_in"`
	// ExpiresAt is RFC 3339, in UTC.
	ExpiresAt string `json:"expires_at"`
}

// TicketResponse is the answer of the ticket routes.
type TicketResponse struct {
	AppID     string       `json:"appid"`
	Type      wxtoken.Kind `json:"type"`
	Ticket    string       `json:"ticket"`
	ExpiresIn int64        `json:"expires_in"`
	ExpiresAt string       `json:"expires_at"`
}

// RefreshRequest is the body of the refresh routes.
type RefreshRequest struct {
	// Stale is the credential value WeChat rejected.
	Stale string `json:"stale"`
}

// AppsResponse is the answer of GET /v1/apps.
type AppsResponse struct {
	// Replica names the replica that answered, on a shared store.
	Replica string `json:"replica,omitempty"`
	// Config describes the configuration file in force: when it was
	// loaded and its digest. Absent when the server was not started from
	// a file.
	Config *ConfigInfo         `json:"config,omitempty"`
	Apps   []wxtoken.AppStatus `json:"apps"`
}

// HealthResponse is the answer of /healthz, and of /readyz to anyone but
// an admin key: "ok", "ready" or "not_ready", and nothing else.
type HealthResponse struct {
	Status string `json:"status"`
}

// ReadinessResponse is the answer of /readyz to an admin key: the status,
// why the replica is not ready (Reasons), and what needs a human even
// while it is ready (the shared store away, apps that cannot be served or
// are held back by the error policy).
type ReadinessResponse struct {
	Status string `json:"status"`
	// Replica names the replica that answered, on a shared store.
	Replica string               `json:"replica,omitempty"`
	Reasons []string             `json:"reasons,omitempty"`
	Store   *wxtoken.StoreHealth `json:"store,omitempty"`
	Apps    []wxtoken.AppHealth  `json:"apps"`
}

func (h *Handler) getAccessToken(ex *exchange, r *http.Request, p params) error {
	return h.credential(ex, r, p, wxtoken.KindAccessToken, false)
}

func (h *Handler) refreshAccessToken(ex *exchange, r *http.Request, p params) error {
	return h.credential(ex, r, p, wxtoken.KindAccessToken, true)
}

func (h *Handler) getTicket(ex *exchange, r *http.Request, p params) error {
	return h.ticket(ex, r, p, false)
}

func (h *Handler) refreshTicket(ex *exchange, r *http.Request, p params) error {
	return h.ticket(ex, r, p, true)
}

func (h *Handler) ticket(ex *exchange, r *http.Request, p params, refresh bool) error {
	// Authorization comes first, so that an unauthorized caller learns
	// nothing, not even which ticket types exist.
	appID, err := h.appRequest(ex, r, p)
	if err != nil {
		return err
	}
	kind, err := wxtoken.ParseTicketKind(p.typ)
	if err != nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "unknown ticket type: want jsapi or wx_card")
	}
	return h.serveGrant(ex, r, appID, kind, refresh)
}

func (h *Handler) credential(ex *exchange, r *http.Request, p params, kind wxtoken.Kind, refresh bool) error {
	appID, err := h.appRequest(ex, r, p)
	if err != nil {
		return err
	}
	return h.serveGrant(ex, r, appID, kind, refresh)
}

// appRequest authenticates the request and authorizes its {appid}.
func (h *Handler) appRequest(ex *exchange, r *http.Request, p params) (string, error) {
	c, err := h.authenticate(r)
	if err != nil {
		return "", err
	}
	ex.client = c.Name
	appID := p.appID
	if err := h.authorize(c, appID); err != nil {
		return "", err
	}
	return appID, nil
}

// serveGrant answers the current credential, or the result of a
// compare-and-refresh with the request's stale value.
func (h *Handler) serveGrant(ex *exchange, r *http.Request, appID string, kind wxtoken.Kind, refresh bool) error {
	// The steps of grant, written out: this is the path nearly every
	// request takes.
	var (
		g   wxtoken.Grant
		err error
	)
	if refresh {
		stale, rerr := h.readStale(ex, r)
		if rerr != nil {
			return rerr
		}
		g, err = h.svc.Refresh(r.Context(), appID, kind, stale)
	} else {
		g, err = h.svc.Credential(r.Context(), appID, kind)
	}
	if err != nil {
		return err
	}
	expiresIn, err := h.checkGrant(r, appID, kind, g)
	if err != nil {
		return err
	}
	routeApp := appID
	if g.AppID != "" {
		appID = g.AppID
	}
	// The answers of one app's credentials are kept under the appid the
	// request was authorized for, which is configured or kept (or was, if
	// a reload has just removed it: nothing is kept then).
	answers := h.access.Load().apps[routeApp]
	if answers == nil {
		answers = h.keptAnswers(routeApp)
	}
	body := answers.body(appID, "", kind, g.Value, expiresIn, g.ExpiresAt)
	ex.Header()["Content-Type"] = h.jsonType
	ex.WriteHeader(http.StatusOK)
	_, _ = ex.Write(body)
	return nil
}

// grant asks the Service for the current credential of kind, or for the
// result of a compare-and-refresh with the request's stale value, and
// checks that it can be handed out.
func (h *Handler) grant(ex *exchange, r *http.Request, id string, kind wxtoken.Kind, refresh bool) (wxtoken.Grant, int64, error) {
	var (
		g   wxtoken.Grant
		err error
	)
	if refresh {
		stale, rerr := h.readStale(ex, r)
		if rerr != nil {
			return wxtoken.Grant{}, 0, rerr
		}
		g, err = h.svc.Refresh(r.Context(), id, kind, stale)
	} else {
		g, err = h.svc.Credential(r.Context(), id, kind)
	}
	if err != nil {
		return wxtoken.Grant{}, 0, err
	}
	expiresIn, err := h.checkGrant(r, id, kind, g)
	if err != nil {
		return wxtoken.Grant{}, 0, err
	}
	return g, expiresIn, nil
}

// grantAnswers holds an app's or WeCom agent's last grant answer of each
// credential kind.
// Every request for a credential in the same second gets the same answer
// byte for byte (the same value, expires_in and expires_at), so the first
// to build it leaves it here and the others write it as it is, instead of
// each encoding its own. An answer is reused only when every input of
// appendGrant is the same, so reusing one never changes what is sent. The
// answers are replaced whole, never changed in place; they hold nothing
// that the engine's cache does not hold already.
type grantAnswers [4]atomic.Pointer[grantAnswer]

// grantAnswer is the body appendGrant made of its other fields.
type grantAnswer struct {
	appID     string
	agentID   string
	kind      wxtoken.Kind
	value     string
	expiresIn int64
	// expiresAt is in Unix seconds: the answer holds it to the second.
	expiresAt int64
	body      []byte
}

// body returns the answer for these inputs: the one kept, when it was
// made of the same, or a new one, which is then kept. An app's answer has
// an empty agentID; a WeCom agent's has its corpid in appID. A nil
// receiver (an app that is not configured) keeps nothing.
func (as *grantAnswers) body(appID, agentID string, kind wxtoken.Kind, value string, expiresIn int64, expiresAt time.Time) []byte {
	var slot *atomic.Pointer[grantAnswer]
	if as != nil {
		switch kind {
		case wxtoken.KindAccessToken:
			slot = &as[0]
		case wxtoken.KindJSAPITicket:
			slot = &as[1]
		case wxtoken.KindWxCard:
			slot = &as[2]
		case wxtoken.KindAgentConfig:
			slot = &as[3]
		}
	}
	at := expiresAt.Unix()
	if slot != nil {
		if a := slot.Load(); a != nil && a.expiresIn == expiresIn && a.expiresAt == at &&
			a.kind == kind && a.value == value && a.appID == appID && a.agentID == agentID {
			return a.body
		}
	}
	var body []byte
	if agentID == "" {
		body = appendGrant(make([]byte, 0, 96+len(appID)+len(value)), appID, kind, value, expiresIn, expiresAt)
	} else {
		body = appendWeComGrant(make([]byte, 0, 112+len(appID)+len(agentID)+len(value)), appID, agentID, kind, value, expiresIn, expiresAt)
	}
	if slot != nil {
		slot.Store(&grantAnswer{appID: appID, agentID: agentID, kind: kind, value: value, expiresIn: expiresIn, expiresAt: at, body: body})
	}
	return body
}

// appendGrant appends the JSON of a TokenResponse, or of a TicketResponse
// for a ticket kind, and a newline. This is the answer nearly every
// request gets, so it is built by hand rather than by reflection; a test
// holds it byte-for-byte to what writeJSON makes of those types.
func appendGrant(b []byte, appID string, kind wxtoken.Kind, value string, expiresIn int64, expiresAt time.Time) []byte {
	b = append(b, `{"appid":`...)
	b = appendJSONString(b, appID)
	return appendGrantTail(b, kind, value, expiresIn, expiresAt)
}

// appendWeComGrant is appendGrant for a WeCom agent: the JSON of a
// WeComTokenResponse or WeComTicketResponse, and a newline.
func appendWeComGrant(b []byte, corpID, agentID string, kind wxtoken.Kind, value string, expiresIn int64, expiresAt time.Time) []byte {
	b = append(b, `{"corpid":`...)
	b = appendJSONString(b, corpID)
	b = append(b, `,"agentid":`...)
	b = appendJSONString(b, agentID)
	return appendGrantTail(b, kind, value, expiresIn, expiresAt)
}

// appendGrantTail appends what follows the owner in a grant answer: the
// credential, its type for a ticket, and its lifetime.
func appendGrantTail(b []byte, kind wxtoken.Kind, value string, expiresIn int64, expiresAt time.Time) []byte {
	if kind == wxtoken.KindAccessToken {
		b = append(b, `,"access_token":`...)
	} else {
		b = append(b, `,"type":`...)
		b = appendJSONString(b, string(kind))
		b = append(b, `,"ticket":`...)
	}
	b = appendJSONString(b, value)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	b = append(b, `,"expires_at":"`...)
	b = expiresAt.UTC().AppendFormat(b, time.RFC3339)
	return append(b, "\"}\n"...)
}

// appendJSONString appends s as a JSON string, as writeJSON's encoder
// would. Credentials and appids are printable ASCII without quotes or
// backslashes, which need no escaping; anything else goes through
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	if !plainJSON(s) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s) // a string always encodes
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainJSON reports whether every byte of s is printable ASCII (0x20 to
// 0x7e) other than '"' and '\\', so that s stands in a JSON string as it
// is. Every answer checks a credential of a hundred bytes or more, so the
// check takes eight bytes at a time: a byte at or over 0x80 has its top
// bit set; when every byte is under 0x80, some byte of x - n*ones has its
// top bit set exactly when some byte of x is under n (a borrow starts only
// at such a byte), and the bytes equal to c are the zero bytes of x^c,
// found the same way with n = 1.
func plainJSON(s string) bool {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	zero := func(v uint64) uint64 { return (v - ones) &^ v }
	for ; len(s) >= 8; s = s[8:] {
		x := load64(s)
		// When x has a byte at or over 0x80 the first term decides, and
		// the others, computed on such a byte, do not matter.
		if (x|(x-0x20*ones)|zero(x^0x7f*ones)|zero(x^'"'*ones)|zero(x^'\\'*ones))&tops != 0 {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// load64 returns the first eight bytes of s (at least eight long) as a
// little-endian word; the compiler makes it one bounds check and one load.
func load64(s string) uint64 {
	w := s[:8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// checkGrant refuses to hand out a grant that cannot be used: the one
// promise of this API is that a credential works for all of its
// expires_in, so an empty value or a lifetime under a second from the
// Service is answered as unavailable rather than passed on.
func (h *Handler) checkGrant(r *http.Request, appID string, kind wxtoken.Kind, g wxtoken.Grant) (int64, error) {
	expiresIn := int64(g.ExpiresIn / time.Second)
	if g.Value != "" && expiresIn >= 1 {
		return expiresIn, nil
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "the service returned an unusable credential",
		slog.String("appid", appID), slog.String("kind", string(kind)),
		slog.Bool("empty", g.Value == ""), slog.Duration("expires_in", g.ExpiresIn))
	return 0, wxtoken.Errorf(wxtoken.EUnavailable, "no valid credential can be served now")
}

// readStale reads and checks a refresh body, {"stale": "..."}. Messages
// never quote the body: it holds a credential.
func (h *Handler) readStale(ex *exchange, r *http.Request) (string, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "Content-Type must be application/json")
		}
	}
	// The underlying writer, not the exchange, so that net/http closes
	// the connection after an oversized body instead of reading it all.
	body := http.MaxBytesReader(ex.w, r.Body, h.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req RefreshRequest
	if err := dec.Decode(&req); err != nil {
		return "", h.bodyError(err)
	}
	// Exactly one value: trailing data is a malformed request, or a body
	// over the limit whose first part happened to parse.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", h.bodyError(err)
		}
		return "", wxtoken.Errorf(wxtoken.EInvalid, `request body must be one JSON object: {"stale": "..."}`)
	}
	if req.Stale == "" {
		return "", wxtoken.Errorf(wxtoken.EInvalid, `stale is required: send the value WeChat rejected, as {"stale": "..."}`)
	}
	return req.Stale, nil
}

func (h *Handler) bodyError(err error) error {
	var (
		tooBig  *http.MaxBytesError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return wxtoken.Errorf(wxtoken.EInvalid, "request body is larger than %d bytes", h.maxBody)
	case errors.Is(err, io.EOF):
		return wxtoken.Errorf(wxtoken.EInvalid, `request body is empty: send {"stale": "<the value WeChat rejected>"}`)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return wxtoken.Errorf(wxtoken.EInvalid, "request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "stale" {
			return wxtoken.Errorf(wxtoken.EInvalid, "stale must be a string")
		}
		return wxtoken.Errorf(wxtoken.EInvalid, `request body must be a JSON object: {"stale": "..."}`)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// encoding/json has no error type for this; the message is
		// matched so the caller hears which rule was broken, and the
		// field name, which could be anything, is not echoed.
		return wxtoken.Errorf(wxtoken.EInvalid, `request body has an unknown field: the only field is "stale"`)
	}
	return wxtoken.Errorf(wxtoken.EInvalid, `request body must be a JSON object: {"stale": "..."}`)
}

// jssdkConfig signs the page URL in ?url= with the app's jsapi ticket.
func (h *Handler) jssdkConfig(ex *exchange, r *http.Request, p params) error {
	appID, err := h.appRequest(ex, r, p)
	if err != nil {
		return err
	}
	pageURL, err := pageURLParam(r)
	if err != nil {
		return err
	}
	// Checked before the ticket is fetched, so that a bad request costs
	// no credential lookup.
	if _, err := jssdk.NormalizeURL(pageURL); err != nil {
		return err
	}
	g, err := h.svc.Credential(r.Context(), appID, wxtoken.KindJSAPITicket)
	if err != nil {
		return err
	}
	if _, err := h.checkGrant(r, appID, wxtoken.KindJSAPITicket, g); err != nil {
		return err
	}
	cfg, err := jssdk.NewConfig(appID, g.Value, pageURL, h.now())
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, cfg)
	return nil
}

// pageURLParam returns the one url query parameter. Any other parameter is
// refused: it is almost always the page URL's own query, cut at its first
// "&" because the caller did not percent-encode the URL, and signing the
// truncated URL would fail in the browser with "invalid signature".
func pageURLParam(r *http.Request) (string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the query string is malformed: pass the page URL percent-encoded, as ?url=<encodeURIComponent(location.href)>")
	}
	for k := range q {
		if k != "url" {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "unexpected query parameter: the only one is url, and the page URL must be percent-encoded (encodeURIComponent), or its own query is cut at the first &")
		}
	}
	switch v := q["url"]; len(v) {
	case 0:
		return "", wxtoken.Errorf(wxtoken.EInvalid, "url is required: pass the page URL percent-encoded, as ?url=<encodeURIComponent(location.href)>")
	case 1:
		return v[0], nil
	}
	return "", wxtoken.Errorf(wxtoken.EInvalid, "url is given more than once")
}

// listApps answers every app's status, to admin keys only.
func (h *Handler) listApps(ex *exchange, r *http.Request, _ params) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	ex.client = c.Name
	if !c.Admin {
		return wxtoken.Errorf(wxtoken.EForbidden, "listing apps needs an admin client key")
	}
	apps := h.svc.Status(r.Context())
	if apps == nil {
		apps = []wxtoken.AppStatus{}
	}
	h.writeJSON(ex, http.StatusOK, AppsResponse{Replica: h.replica, Config: h.config.Load(), Apps: apps})
	return nil
}

// healthz says the process serves; it needs no key and reveals nothing.
func (h *Handler) healthz(ex *exchange, _ *http.Request, _ params) error {
	h.writeJSON(ex, http.StatusOK, HealthResponse{Status: "ok"})
	return nil
}

// readyz says whether this replica is ready to serve (see
// wxtoken.Health). It needs no key and then says nothing but that: the
// detail names apps and quotes WeChat's errors, which hold the server's
// outbound IP, so it goes only to an admin key. A key that is sent must
// be valid; one that is not an admin's gets the plain answer.
func (h *Handler) readyz(ex *exchange, r *http.Request, _ params) error {
	admin := false
	if _, sent := r.Header["Authorization"]; sent {
		c, err := h.authenticate(r)
		if err != nil {
			return err
		}
		ex.client = c.Name
		admin = c.Admin
	}
	hl := h.health(r)
	status, word := http.StatusOK, "ready"
	if !hl.Ready {
		status, word = http.StatusServiceUnavailable, "not_ready"
	}
	if !admin {
		h.writeJSON(ex, status, HealthResponse{Status: word})
		return nil
	}
	apps := hl.Apps
	if apps == nil {
		apps = []wxtoken.AppHealth{}
	}
	h.writeJSON(ex, status, ReadinessResponse{Status: word, Replica: h.replica, Reasons: hl.Reasons, Store: hl.Store, Apps: apps})
	return nil
}

// health asks the Service for its health; one that only says why it is
// not ready gets a Health from that.
func (h *Handler) health(r *http.Request) wxtoken.Health {
	if hr, ok := h.svc.(wxtoken.HealthReporter); ok {
		return hr.Health(r.Context())
	}
	reasons := h.svc.NotReady(r.Context())
	return wxtoken.Health{Ready: len(reasons) == 0, Reasons: reasons}
}

// serveMetrics hands the exposition to any valid client key: Prometheus
// scrapes with one, and a key granted no app suits a scraper.
func (h *Handler) serveMetrics(ex *exchange, r *http.Request, _ params) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	ex.client = c.Name
	h.metrics.Handler().ServeHTTP(ex, r)
	return nil
}
