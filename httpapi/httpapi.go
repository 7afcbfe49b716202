// Package httpapi is wxtoken's HTTP API: it serves a wxtoken.Service's
// credentials, compare-and-refresh, JS-SDK signatures and status to
// business servers holding a client key, and health, readiness and
// Prometheus metrics to operators. Apps are served under /v1/apps/{appid},
// WeCom agents under /v1/wecom/{corpid}/{agentid}; below the routes an
// agent is the app whose id is its wxtoken.WeComID. The open platform's
// third-party platforms are served under /v1/platforms/{component_appid}
// (platform.go): their component_access_token is the Service's credential
// of the component_appid, an authorizer's credentials those of its
// wxtoken.AuthorizerID, and the rest (WeChat's pushes, authorization,
// import, the list of authorizers) is asked of a wxtoken.Platforms. The
// operator's routes under /v1/admin (admin.go), a rekey and a backup of
// the store, are asked of an Admin.
//
// The routes, JSON shapes and error table are the product contract in
// docs/http-api.md. StatusOf and CodeOf are that error table, shared with
// the Go client so the two ends cannot disagree.
//
// Everything that can identify a caller's secret stays out of answers,
// logs and metrics: keys are only hashed or compared, error answers carry
// only a wxtoken.Error's code, message and WeChat errcode, request logs
// and metrics name the route pattern and never the path, and credential
// values appear in nothing but the body of the answer that hands them out.
//
// A Service error may say when asking again can succeed by having, in its
// chain, an error with a method RetryAfter() time.Duration; 429 and 503
// answers then carry a Retry-After header.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/reqlog"
	"github.com/wxtoken/wxtoken/metrics"
)

// DefaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is
// not set. The only body is a refresh's {"stale": "..."}, and WeChat's
// credentials are a few hundred bytes.
const DefaultMaxBodyBytes = 4096

// contentTypeJSON is the Content-Type of every answer but /metrics.
const contentTypeJSON = "application/json; charset=utf-8"

// The route patterns. They are also the route label of the HTTP metrics
// and request logs, which must never hold a raw path: paths carry
// arbitrary caller input.
const (
	routeAccessToken        = "GET /v1/apps/{appid}/access_token"
	routeAccessTokenRefresh = "POST /v1/apps/{appid}/access_token/refresh"
	routeTicket             = "GET /v1/apps/{appid}/tickets/{type}"
	routeTicketRefresh      = "POST /v1/apps/{appid}/tickets/{type}/refresh"
	routeJSSDKConfig        = "GET /v1/apps/{appid}/jssdk_config"
	routeApps               = "GET /v1/apps"
	// The routes of a WeCom agent's credentials.
	routeWeComAccessToken        = "GET /v1/wecom/{corpid}/{agentid}/access_token"
	routeWeComAccessTokenRefresh = "POST /v1/wecom/{corpid}/{agentid}/access_token/refresh"
	routeWeComTicket             = "GET /v1/wecom/{corpid}/{agentid}/tickets/{type}"
	routeWeComTicketRefresh      = "POST /v1/wecom/{corpid}/{agentid}/tickets/{type}/refresh"
	routeWeComJSSDKConfig        = "GET /v1/wecom/{corpid}/{agentid}/jssdk_config"
	routeHealthz                 = "GET /healthz"
	routeReadyz                  = "GET /readyz"
	routeMetrics                 = "GET /metrics"
	// routeUnmatched labels requests no route matched (404 and 405).
	routeUnmatched = "unmatched"
)

// Options configures New.
type Options struct {
	// Service answers every credential and status request. Required.
	Service wxtoken.Service
	// Clients are the keys the API accepts, known by their SHA-256, with
	// the apps each may read and whether it is an admin.
	Clients []clientkey.Client
	// Apps are the configured appids, and the WeCom agents by their
	// wxtoken.WeComID. A request for any other app or agent is 404 to
	// keys that may see it (admin keys and keys granted it, by name, by
	// its corp or by "*") and 403 to all others, so that a key cannot tell
	// the apps it was not granted from apps that do not exist.
	Apps []string
	// Metrics receives every request's route, status and duration, and
	// serves /metrics. Nil serves no /metrics (404) and observes nothing.
	Metrics *metrics.Metrics
	// Logger receives a debug line per request and an error line per
	// internal failure or recovered panic. Nil logs nothing.
	Logger *slog.Logger
	// Now is the clock of jssdk_config timestamps; nil is time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body; 0 or less is
	// DefaultMaxBodyBytes. A larger body is a 400.
	MaxBodyBytes int64
	// Replica names this replica in GET /v1/apps, on a shared store.
	Replica string
	// Platforms serves the third-party platforms' pushes, authorization,
	// import and lists of authorizers. Nil serves no platform: every
	// /v1/platforms route answers 404 saying so.
	Platforms wxtoken.Platforms
	// Components are the component_appids of the configured platforms.
	// The platform routes serve no other id, so that an app's appid in
	// {component_appid} can never pass an app's access_token off as a
	// component_access_token; for other ids they answer as for unknown
	// apps (404 or 403, see Apps).
	Components []string
	// Admin does the operator's work on the store for the admin routes
	// (POST /v1/admin/rekey, GET /v1/admin/backup). Nil serves no such
	// route: they answer 404 saying so.
	Admin Admin
	// Registrar, when set, registers, changes and removes apps and WeCom
	// agents at runtime (admin key); nil answers 404 on those routes.
	Registrar wxtoken.Registrar
	// Reloader re-reads the server's configuration for POST
	// /v1/admin/reload (reload.go). Nil serves no such route: it answers
	// 404 saying so.
	Reloader Reloader
	// Retrier lifts the error policy's hold for the retry routes
	// (operate.go, admin key). Nil serves no such route: they answer 404
	// saying so.
	Retrier Retrier
	// Quotas clears an app's quota for POST /v1/apps/{appid}/clear_quota
	// (operate.go, admin key). Nil answers 404 saying so.
	Quotas QuotaClearer
	// Config describes the configuration the server runs with, shown in
	// GET /v1/apps; SetConfig replaces it. Nil shows none.
	Config *ConfigInfo
	// Kept tells whether the Service keeps an id that is not among Apps,
	// and as which family: apps and WeCom agents registered while the
	// server runs. Such an id is then served on the routes of its family
	// (an app's on the app routes only, an agent's on the WeCom routes
	// only) as the configured ones are. Nil serves Apps alone.
	Kept func(id string) (wxtoken.Family, bool)
	// Tags tells the tags of the registered entries, for the client keys'
	// grants "tag:T" (see clientkey.NewTagged). Nil grants nothing by tag.
	Tags clientkey.TagLookup
}

// Handler is the HTTP API. It is an http.Handler, safe for concurrent use.
type Handler struct {
	svc wxtoken.Service
	mux *http.ServeMux
	// access holds the key ring and the configured apps and agents; it is
	// replaced whole by SetAccess, so that a request reads one consistent
	// set with one atomic load and no lock.
	access   atomic.Pointer[access]
	accessMu sync.Mutex // serializes SetAccess; requests never take it
	metrics  *metrics.Metrics
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	replica  string
	// kept tells the ids kept beside the configured ones, and runtime
	// holds their last answers (see runtimeAnswers).
	kept    func(id string) (wxtoken.Family, bool)
	runtime runtimeAnswers
	// tags is given to every key ring SetAccess makes.
	tags clientkey.TagLookup
	// platforms and components serve the platform routes (platform.go).
	platforms  wxtoken.Platforms
	components map[string]bool
	// admin serves the operator's routes (admin.go), reloader the
	// reload route (reload.go).
	admin    Admin
	reloader Reloader
	// registrar serves the registration routes (registry.go).
	registrar wxtoken.Registrar
	// retrier and quotas serve the operator's actions (operate.go).
	retrier Retrier
	quotas  QuotaClearer
	// config describes the configuration shown in GET /v1/apps; nil
	// while none is known.
	config atomic.Pointer[ConfigInfo]
	// openAPI is the answer of GET /openapi.json, the embedded
	// description converted to JSON (once per process, see openAPIJSON);
	// it is shared and never written to.
	openAPI []byte
	// patterns are the patterns of the routes New registered, in order.
	patterns []string

	// The routes that fastRoute dispatches without the mux, and the
	// metrics of requests no route matched.
	tokenRoute, ticketRoute *route
	unmatchedMetrics        *metrics.RouteMetrics
	// Header values set on every answer, built once: assigning them skips
	// the key canonicalization and allocation of Header.Set. They are
	// never changed in place (net/http copies a handler's headers before
	// it writes them, and appending to a full slice copies it).
	noStore, nosniff, jsonType []string
}

// New returns the HTTP API over opts.Service. It fails when the Service
// is missing or a client's key_sha256 is not 64 hex digits or is repeated.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil {
		return nil, errors.New("httpapi: a Service is required")
	}
	h := &Handler{
		svc:     opts.Service,
		mux:     http.NewServeMux(),
		metrics: opts.Metrics,
		log:     opts.Logger,
		now:     opts.Now,
		maxBody: opts.MaxBodyBytes,
		replica: opts.Replica,

		kept: opts.Kept,
		tags: opts.Tags,

		platforms:  opts.Platforms,
		components: make(map[string]bool, len(opts.Components)),
		admin:      opts.Admin,
		reloader:   opts.Reloader,
		registrar:  opts.Registrar,
		retrier:    opts.Retrier,
		quotas:     opts.Quotas,
	}
	h.config.Store(opts.Config)
	for _, c := range opts.Components {
		h.components[c] = true
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.noStore = []string{"no-store"}
	h.nosniff = []string{"nosniff"}
	h.jsonType = []string{contentTypeJSON}
	h.unmatchedMetrics = h.metrics.Route(routeUnmatched)
	if err := h.SetAccess(opts.Clients, opts.Apps); err != nil {
		return nil, err
	}
	spec, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	h.openAPI = spec
	h.tokenRoute = h.route(routeAccessToken, h.getAccessToken)
	h.route(routeAccessTokenRefresh, h.refreshAccessToken)
	h.ticketRoute = h.route(routeTicket, h.getTicket)
	h.route(routeTicketRefresh, h.refreshTicket)
	h.route(routeJSSDKConfig, h.jssdkConfig)
	h.route(routeApps, h.listApps)
	h.route(routeWeComAccessToken, h.getWeComAccessToken)
	h.route(routeWeComAccessTokenRefresh, h.refreshWeComAccessToken)
	h.route(routeWeComTicket, h.getWeComTicket)
	h.route(routeWeComTicketRefresh, h.refreshWeComTicket)
	h.route(routeWeComJSSDKConfig, h.weComJSSDKConfig)
	h.registerPlatformRoutes()
	h.registerAdminRoutes()
	h.registerRegistryRoutes()
	h.registerOperateRoutes()
	h.route(routeHealthz, h.healthz)
	h.route(routeReadyz, h.readyz)
	if h.metrics != nil {
		h.route(routeMetrics, h.serveMetrics)
	}
	h.route(routeOpenAPI, h.serveOpenAPI)
	return h, nil
}

// handlerFunc is a route's handler. A returned error is answered by the
// error table; a handler that returns nil has written its answer.
type handlerFunc func(ex *exchange, r *http.Request, p params) error

// params are the wildcards of an app's route: {appid} and {type}. They
// are passed by value all along the fast path, so they hold no more; the
// WeCom routes, which the mux alone serves, read their {corpid} and
// {agentid} from the request.
type params struct {
	appID, typ string
}

// route is one registered route: its pattern, handler and metrics.
type route struct {
	pattern string
	fn      handlerFunc
	metrics *metrics.RouteMetrics
}

// route registers fn for pattern. The mux's handler marks the exchange
// with the route, which is how ServeHTTP tells a route's answer from the
// mux's own plain-text 404 and 405, which it replaces with JSON.
func (h *Handler) route(pattern string, fn handlerFunc) *route {
	rt := &route{pattern: pattern, fn: fn, metrics: h.metrics.Route(pattern)}
	h.patterns = append(h.patterns, pattern)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ex, ok := w.(*exchange)
		if !ok {
			// Unreachable: the mux is only served through ServeHTTP.
			ex = &exchange{w: w}
		}
		h.serveRoute(ex, r, rt, params{appID: r.PathValue("appid"), typ: r.PathValue("type")})
	})
	return rt
}

func (h *Handler) serveRoute(ex *exchange, r *http.Request, rt *route, p params) {
	ex.route, ex.metrics = rt.pattern, rt.metrics
	if err := rt.fn(ex, r, p); err != nil {
		h.writeError(ex, r, err)
	}
}

// appsPrefix starts the path of every per-app route.
const appsPrefix = "/v1/apps/"

// fastRoute matches the routes that nearly every request takes, the GETs
// of a credential, without the mux's general pattern walk. It claims only
// paths that the mux would give the same route and wildcards: a clean
// path, no escapes, an appid of letters, digits, '_' and '-'. Anything
// else goes to the mux.
func (h *Handler) fastRoute(r *http.Request) (*route, params, bool) {
	path := r.URL.Path
	if r.Method != http.MethodGet || r.URL.RawPath != "" || !strings.HasPrefix(path, appsPrefix) {
		return nil, params{}, false
	}
	rest := path[len(appsPrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || !plainSegment(rest[:i]) {
		return nil, params{}, false
	}
	p := params{appID: rest[:i]}
	switch tail := rest[i+1:]; tail {
	case "access_token":
		return h.tokenRoute, p, true
	case "tickets/" + string(wxtoken.KindJSAPITicket), "tickets/" + string(wxtoken.KindWxCard):
		p.typ = tail[len("tickets/"):]
		return h.ticketRoute, p, true
	}
	return nil, params{}, false
}

// segmentBytes marks with 'x' the bytes of a plain segment: letters,
// digits, '_' and '-'. A lookup per byte costs less than the comparisons.
const segmentBytes = "" +
	"................" + // 0x00
	"................" + // 0x10
	".............x.." + // 0x20: '-'
	"xxxxxxxxxx......" + // 0x30: '0'-'9'
	".xxxxxxxxxxxxxxx" + // 0x40: 'A'-'O'
	"xxxxxxxxxxx....x" + // 0x50: 'P'-'Z', '_'
	".xxxxxxxxxxxxxxx" + // 0x60: 'a'-'o'
	"xxxxxxxxxxx....." + // 0x70: 'p'-'z'
	"................................................................" + // 0x80-0xbf
	"................................................................" //   0xc0-0xff

// plainSegment reports whether s is a non-empty path segment of letters,
// digits, '_' and '-', which every appid is.
func plainSegment(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if segmentBytes[s[i]] != 'x' {
			return false
		}
	}
	return true
}

// ServeHTTP answers one request: routing, recovery from panics, metrics
// and the request log.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hdr := w.Header()
	// Set before routing, so that every answer carries them: no answer of
	// this API may be cached by a proxy or browser, and none is a page
	// for content sniffing.
	hdr["Cache-Control"] = h.noStore
	hdr["X-Content-Type-Options"] = h.nosniff
	if rt, p, ok := h.fastRoute(r); ok {
		h.serveFast(w, r, rt, p, start)
		return
	}
	ex := &exchange{w: w}
	defer h.finish(ex, r, start)
	h.mux.ServeHTTP(ex, r)
	if ex.route == "" {
		h.unmatched(ex, r)
	}
}

// serveFast serves a route that fastRoute matched. It calls the route's
// handler by name rather than through rt.fn, so that the exchange, which
// then reaches only code the compiler can follow, stays on the stack
// instead of costing an allocation per request.
func (h *Handler) serveFast(w http.ResponseWriter, r *http.Request, rt *route, p params, start time.Time) {
	ex := exchange{w: w, route: rt.pattern, metrics: rt.metrics}
	defer h.finish(&ex, r, start)
	var err error
	switch rt {
	case h.tokenRoute:
		err = h.getAccessToken(&ex, r, p)
	case h.ticketRoute:
		err = h.getTicket(&ex, r, p)
	default:
		// Unreachable: fastRoute claims no other route.
		err = wxtoken.Errorf(wxtoken.EInternal, "internal error")
	}
	if err != nil {
		h.writeError(&ex, r, err)
	}
}

// unmatched answers, in JSON, a request the mux answered on its own.
func (h *Handler) unmatched(ex *exchange, r *http.Request) {
	status := ex.status
	allow := ex.fallback.Get("Allow")
	ex.route, ex.metrics, ex.status = routeUnmatched, h.unmatchedMetrics, 0
	if status == http.StatusMethodNotAllowed {
		ex.Header().Set("Allow", allow)
		ex.errCode = wxtoken.EInvalid
		h.writeJSON(ex, http.StatusMethodNotAllowed, ErrorResponse{Error: ErrorBody{
			Code:    wxtoken.EInvalid,
			Message: "method not allowed; allowed: " + allow,
		}})
		return
	}
	// Anything else the mux does on its own (404, or a redirect to a
	// cleaned path) is a path that is not one of the API's routes.
	h.writeError(ex, r, wxtoken.Errorf(wxtoken.ENotFound, "no such route; the routes are listed in docs/http-api.md"))
}

// finish recovers a panic into a 500, then records the request in the
// metrics and the log.
func (h *Handler) finish(ex *exchange, r *http.Request, start time.Time) {
	if p := recover(); p != nil {
		if ex.route == "" {
			ex.route, ex.metrics = routeUnmatched, h.unmatchedMetrics
		}
		if reqlog.Panicked(r.Context(), h.log, "panic serving request", ex.route, p) {
			h.observe(ex, r, start)
			panic(p)
		}
		if ex.status == 0 {
			h.writeError(ex, r, wxtoken.Errorf(wxtoken.EInternal, "internal error"))
		}
	}
	h.observe(ex, r, start)
}

func (h *Handler) observe(ex *exchange, r *http.Request, start time.Time) {
	var extra func([]slog.Attr) []slog.Attr
	if ex.errCode != "" {
		extra = errCodeAttr(ex.errCode).add // a copy: ex stays on the stack
	}
	reqlog.Observe(r.Context(), h.log, "http request",
		reqlog.Request{Route: ex.route, Metrics: ex.metrics, Status: ex.status, Start: start, Client: ex.client}, extra)
}

// errCodeAttr adds an error answer's code to a request's log line.
type errCodeAttr wxtoken.Code

func (c errCodeAttr) add(a []slog.Attr) []slog.Attr { return append(a, slog.String("code", string(c))) }

// writeJSON answers v as JSON with status. HTML characters are not
// escaped: the answers are JSON for programs (served with nosniff), and
// messages such as "Bearer <key>" should read as written.
func (h *Handler) writeJSON(ex *exchange, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a bug can get here (every answer is a plain struct); the
		// fixed body below cannot fail.
		h.log.Error("encoding an answer", slog.String("route", ex.route), slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		ex.errCode = wxtoken.EInternal
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	ex.Header()["Content-Type"] = h.jsonType
	ex.WriteHeader(status)
	_, _ = ex.Write(buf.Bytes())
}

// exchange is the ResponseWriter handed to the mux. It remembers the
// status and the route for metrics and logs, and until a route claims the
// request it keeps the mux's own answer (plain-text 404/405) off the wire,
// so that ServeHTTP can answer in JSON instead.
type exchange struct {
	w http.ResponseWriter
	// route is the matched pattern; "" while no route has claimed the
	// request.
	route string
	// metrics observes the request: the route's, or the unmatched ones.
	metrics *metrics.RouteMetrics
	// client is the name of the authenticated client, for the log.
	client string
	// status is the status written, 0 until then.
	status int
	// errCode is the code of an error answer, for the log.
	errCode wxtoken.Code
	// fallback holds the headers the mux sets on its own answer.
	fallback http.Header
}

func (ex *exchange) Header() http.Header {
	if ex.route == "" {
		if ex.fallback == nil {
			ex.fallback = make(http.Header)
		}
		return ex.fallback
	}
	return ex.w.Header()
}

func (ex *exchange) WriteHeader(status int) {
	if ex.status != 0 {
		return
	}
	ex.status = status
	if ex.route != "" {
		ex.w.WriteHeader(status)
	}
}

func (ex *exchange) Write(b []byte) (int, error) {
	if ex.status == 0 {
		ex.WriteHeader(http.StatusOK)
	}
	if ex.route == "" {
		return len(b), nil
	}
	return ex.w.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.w }
