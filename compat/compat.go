// Package compat is wxtoken's WeChat-compatible front door: WeChat's own
// API paths, answered in WeChat's wire format, so that a team adopts the
// central server by pointing its SDK's API base URL at wxtoken and changing
// nothing else.
//
//   - GET /cgi-bin/token and POST /cgi-bin/stable_token check the appid and
//     AppSecret as WeChat does (the secret in constant time) and answer the
//     cached access_token. A client key granted the app is taken in place
//     of the AppSecret, so that business servers need not hold it. They
//     never call WeChat per request, and force_refresh is a
//     compare-and-refresh report of the current token, never a blind
//     refresh.
//   - The /sns/ calls that carry the caller's own credentials (login code
//     exchanges, a user's OAuth token or refresh token) are relayed as
//     they are, for exact paths only, with the AppSecret put in where a
//     client key stands in for it; a user's token is never taken for, or
//     swapped with, the app's (sns.go).
//   - GET /cgi-bin/ticket/getticket identifies the app by an access_token
//     that wxtoken handed out and answers the cached ticket.
//   - Every other WeChat API path is relayed to the configured upstream,
//     and to nowhere else, with the caller's access_token swapped for the
//     current one. A 40001, 42001 or 40014 answer is reported
//     (compare-and-refresh) and the call is made once more with the new
//     token, or, when the check finds the token alive, with the same one
//     after a short pause. A relayed body may stream for as long as it
//     keeps coming; one that stalls is answered as the caller's failure,
//     never as WeChat's. A caller may instead send a client key and an appid header and
//     have the token put in without ever seeing it. A call that carries
//     neither a token wxtoken handed out, nor a client key, nor the app's
//     AppSecret is refused without reaching WeChat: wxtoken is no open
//     relay.
//   - WeCom's own credential paths are served too (wecom.go):
//     GET /cgi-bin/gettoken takes a corpid and an agent's secret (or a
//     client key granted the agent in its place) and answers the agent's
//     cached token in WeCom's shape; /cgi-bin/get_jsapi_ticket and
//     /cgi-bin/ticket/get?type=agent_config answer the agent's cached
//     tickets for a token wxtoken handed out for it. A call carrying a
//     WeCom agent's token is relayed to the WeCom upstream, and healed,
//     as the others are to WeChat's: the token, not the path, tells the
//     two apart.
//   - The open platform's third-party platforms are served too
//     (component.go): api_component_token answers a platform's cached
//     component_access_token for its component secret (or a client key
//     granted it), api_authorizer_token an authorizer's cached token for
//     a component token wxtoken handed out, and the platform's other
//     /cgi-bin/component/ calls are relayed and healed with the current
//     component token. An authorizer's access_token is relayed as an
//     app's is.
//
// Every answer wxtoken makes itself is HTTP 200 (but HTTP 408 for a
// relayed body that stalled) with WeChat's JSON content type, as WeChat
// answers, and its errors are WeChat's errcodes with an
// errmsg that starts with "wxtoken:". No answer, log line or metric label
// carries a secret, a key or a token; the route label of the metrics is a
// path pattern, never the path.
package compat

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/internal/reqlog"
	"github.com/wxtoken/wxtoken/metrics"
)

// HeaderAppID names the app of a call made with a client key instead of an
// access_token.
const HeaderAppID = "X-Wxtoken-Appid"

// DefaultMaxRetryBody is how much of a relayed request body is held in
// memory so that the call can be made again after WeChat rejects the
// token. Larger bodies (media uploads) are streamed and not retried.
const DefaultMaxRetryBody = 1 << 20

// DefaultAlivePause is how long a relayed call waits before it is made
// again with the same token, after WeChat rejected the token and the
// check right after found it alive: long enough for WeChat's servers to
// agree on a token that was just refreshed, short enough for a caller
// waiting on the answer.
const DefaultAlivePause = 300 * time.Millisecond

// DefaultBodyIdle is the longest pause a relayed call allows between two
// reads of the caller's body, or two writes of the answer to the caller;
// the same 15 s that bounds the whole of an HTTP API request.
const DefaultBodyIdle = 15 * time.Second

// DefaultMaxRelayTime caps a relayed call from its first byte to its
// last, however steadily its body flows: a 20 MB video at 50 KB/s takes
// under 7 minutes.
const DefaultMaxRelayTime = 10 * time.Minute

// The paths answered from wxtoken's cache, below the base path.
const (
	pathToken       = "/cgi-bin/token"
	pathStableToken = "/cgi-bin/stable_token"
	pathTicket      = "/cgi-bin/ticket/getticket"
)

// Roots returns the first path segments of WeChat's API that the front
// door claims when it is served at the root of the listener. Under a base
// path it claims every path instead.
func Roots() []string {
	return []string{
		"bizwifi", "card", "cgi-bin", "channels", "customservice", "datacube", "device",
		"intp", "marketing", "merchant", "pay", "payfeedback", "product", "scan",
		"semantic", "shakearound", "shop", "sns", "tcb", "union", "wxa", "wxaapi",
	}
}

// App is a configured app: its appid and AppSecret. New keeps the
// secret's SHA-256 to compare against, and the secret itself to put into
// the /sns/ calls that a business server makes with a client key in its
// place.
type App struct {
	AppID  string
	Secret string
}

// Options configures New.
type Options struct {
	// Service hands out the cached credentials and runs
	// compare-and-refresh. Required.
	Service wxtoken.Service
	// AppOf names the app of an access_token value that wxtoken handed
	// out, current or replaced, and says whether it is still valid; the
	// appid is "" for a value wxtoken does not know. Required.
	AppOf func(token string) (appID string, valid bool)
	// Apps are the configured apps.
	Apps []App
	// Keys authenticates calls made with a client key. Nil refuses them.
	Keys *clientkey.Ring
	// Kept tells whether the Service keeps an id beside Apps and Agents,
	// and as which family: apps and WeCom agents registered while the
	// server runs. Their secrets are not known here, so such an app gets
	// its token only with a client key granted it in place of the
	// AppSecret, and calls relayed for it carry a token wxtoken handed
	// out or a client key. Nil serves Apps and Agents alone.
	Kept func(id string) (wxtoken.Family, bool)
	// Upstream is the base URL relayed calls go to, and the only one, but
	// for calls made for a WeCom agent. Required.
	Upstream string
	// Agents are the configured WeCom agents, whose tokens
	// /cgi-bin/gettoken hands out for their corpid and secret (or a client
	// key granted them) and whose AppOf ids are wxtoken.WeComID(corpid,
	// agentid).
	Agents []Agent
	// Platforms are the configured third-party platforms of the open
	// platform, whose component_access_token api_component_token hands out
	// for their component secret (or a client key granted them). Their
	// authorizers' AppOf ids are wxtoken.AuthorizerID(component_appid,
	// authorizer_appid); calls made for either go to Upstream.
	Platforms []Platform
	// WeComUpstream is the base URL calls made for a WeCom agent are
	// relayed to, and the only one for them; empty is
	// DefaultWeComUpstream.
	WeComUpstream string
	// Transport carries relayed calls; nil is a transport of its own whose
	// wait for response headers is Timeout.
	Transport http.RoundTripper
	// Timeout bounds the wait for a relayed call's response headers; 0 is
	// 10 s. Ignored when Transport is set.
	Timeout time.Duration
	// BasePath, when set, is where the front door is served: every path
	// below it is WeChat's path with it removed. Empty serves the paths of
	// Roots at the root.
	BasePath string
	// MaxRetryBody is how much of a request body is held for a retry; 0
	// or less is DefaultMaxRetryBody.
	MaxRetryBody int64
	// Next answers every request that is not the front door's (the HTTP
	// API). Nil answers them 404.
	Next http.Handler
	// AlivePause is how long a relayed call waits before it is made again
	// with the same token when WeChat rejected the token and the check
	// found it alive; 0 or less is DefaultAlivePause.
	AlivePause time.Duration
	// BodyIdle bounds each pause of a relayed call's request body and of
	// the caller taking its answer; 0 or less is DefaultBodyIdle. A body
	// may take as long as it needs while it keeps coming, up to
	// MaxRelayTime.
	BodyIdle time.Duration
	// MaxRelayTime caps a relayed call as a whole; 0 or less is
	// DefaultMaxRelayTime.
	MaxRelayTime time.Duration
	// Metrics counts every front-door request by route pattern, and the
	// relayed calls made twice. Nil counts nothing.
	Metrics *metrics.Metrics
	// Logger receives a debug line per request and a warning per failed
	// relay. Nil logs nothing.
	Logger *slog.Logger
}

// Handler is the front door in front of Options.Next. It is an
// http.Handler, safe for concurrent use.
type Handler struct {
	svc   wxtoken.Service
	appOf func(string) (string, bool)
	// apps holds the configured apps' and WeCom agents' secrets and the
	// client keys; it is replaced whole by SetApps.
	apps atomic.Pointer[appAccess]
	// kept tells the ids the Service keeps beside the configured ones
	// (registered while the server runs).
	kept     func(string) (wxtoken.Family, bool)
	upstream string
	// wecom is the base URL of the WeCom agents' relayed calls.
	wecom string
	// platforms are the SHA-256 of the platforms' component secrets, by
	// component_appid.
	platforms map[string][sha256.Size]byte
	rt        http.RoundTripper
	base      string
	maxRetry  int64
	next      http.Handler
	log       *slog.Logger
	metrics   *metrics.Metrics
	// alivePause, bodyIdle and maxRelay are the Options of the same
	// names, defaults filled in.
	alivePause time.Duration
	bodyIdle   time.Duration
	maxRelay   time.Duration

	roots  map[string]*route
	token  *route
	stable *route
	ticket *route
	// The routes of WeCom's credential paths.
	weComToken, weComJSAPI, weComTicket *route
	// The routes of the open platform's credential paths.
	componentToken, authorizerToken *route
	anyPath                         *route // proxied paths under a base path
	badPath                         *route // paths that are not clean
	noStore                         []string
	jsonType                        []string
}

// route is one route pattern of the front door and its metrics.
type route struct {
	pattern string
	metrics *metrics.RouteMetrics
}

// New returns the front door described by opts.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil || opts.AppOf == nil {
		return nil, errors.New("compat: a Service and AppOf are required")
	}
	if err := checkUpstream(opts.Upstream); err != nil {
		return nil, fmt.Errorf("compat: upstream %w", err)
	}
	if opts.WeComUpstream == "" {
		opts.WeComUpstream = DefaultWeComUpstream
	}
	if err := checkUpstream(opts.WeComUpstream); err != nil {
		return nil, fmt.Errorf("compat: WeCom upstream %w", err)
	}
	if opts.BasePath != "" && (!strings.HasPrefix(opts.BasePath, "/") || strings.HasSuffix(opts.BasePath, "/") || path.Clean(opts.BasePath) != opts.BasePath) {
		return nil, fmt.Errorf("compat: base path %q: want a clean path that starts with / and does not end with one", opts.BasePath)
	}
	h := &Handler{
		svc:       opts.Service,
		appOf:     opts.AppOf,
		kept:      opts.Kept,
		upstream:  strings.TrimRight(opts.Upstream, "/"),
		platforms: make(map[string][sha256.Size]byte, len(opts.Platforms)),
		wecom:     strings.TrimRight(opts.WeComUpstream, "/"),
		rt:        opts.Transport,
		base:      opts.BasePath,
		maxRetry:  opts.MaxRetryBody,
		next:      opts.Next,
		log:       opts.Logger,
		metrics:   opts.Metrics,
		roots:     map[string]*route{},
		noStore:   []string{"no-store"},
		jsonType:  []string{contentTypeWX},
	}
	acc, err := newAppAccess(opts.Apps, opts.Agents, opts.Keys)
	if err != nil {
		return nil, err
	}
	h.apps.Store(acc)
	for _, p := range opts.Platforms {
		switch {
		case p.ComponentAppID == "" || p.Secret == "":
			return nil, errors.New("compat: every platform needs a component_appid and a secret")
		case strings.ContainsAny(p.ComponentAppID, "/:"):
			return nil, fmt.Errorf("compat: platform %s: a component_appid holds no slash or colon", p.ComponentAppID)
		case h.knownPlatform(p.ComponentAppID):
			return nil, fmt.Errorf("compat: platform %s is listed twice", p.ComponentAppID)
		case h.knownApp(p.ComponentAppID):
			return nil, fmt.Errorf("compat: %s is both an app and a platform", p.ComponentAppID)
		}
		h.platforms[p.ComponentAppID] = sha256.Sum256([]byte(p.Secret))
	}
	if h.maxRetry <= 0 {
		h.maxRetry = DefaultMaxRetryBody
	}
	h.alivePause = positiveOr(opts.AlivePause, DefaultAlivePause)
	h.bodyIdle = positiveOr(opts.BodyIdle, DefaultBodyIdle)
	h.maxRelay = positiveOr(opts.MaxRelayTime, DefaultMaxRelayTime)
	if h.next == nil {
		h.next = http.NotFoundHandler()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.rt == nil {
		h.rt = newTransport(opts.Timeout)
	}
	mk := func(p string) *route {
		p = h.base + p
		return &route{pattern: p, metrics: opts.Metrics.Route(p)}
	}
	h.token, h.stable, h.ticket = mk(pathToken), mk(pathStableToken), mk(pathTicket)
	h.weComToken, h.weComJSAPI, h.weComTicket = mk(pathWeComToken), mk(pathWeComJSAPITicket), mk(pathWeComTicket)
	h.componentToken, h.authorizerToken = mk(pathComponentToken), mk(pathAuthorizerToken)
	for _, r := range Roots() {
		h.roots[r] = mk("/" + r + "/{path...}")
	}
	h.anyPath = mk("/{path...}")
	h.badPath = mk(" (unclean path)")
	return h, nil
}

// checkUpstream checks a base URL that calls are relayed to.
func checkUpstream(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an absolute http(s) URL without a query", s)
	}
	return nil
}

func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// newTransport is the transport of relayed calls: the default one's
// proxy, dial and TLS settings, with a bound on the wait for WeChat's
// answer.
func newTransport(timeout time.Duration) *http.Transport {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = 32
	t.IdleConnTimeout = 30 * time.Second
	return t
}

// claim returns the WeChat path of a request path that is the front
// door's, and whether it is.
func (h *Handler) claim(p string) (string, bool) {
	if h.base != "" {
		rest, ok := strings.CutPrefix(p, h.base)
		if !ok || !strings.HasPrefix(rest, "/") {
			return "", false
		}
		return rest, true
	}
	if len(p) < 2 || p[0] != '/' {
		return "", false
	}
	root, _, _ := strings.Cut(p[1:], "/")
	if _, ok := h.roots[root]; !ok {
		return "", false
	}
	return p, true
}

// routeOf returns the route of a claimed WeChat path.
func (h *Handler) routeOf(wx string) *route {
	switch wx {
	case pathToken:
		return h.token
	case pathStableToken:
		return h.stable
	case pathTicket:
		return h.ticket
	case pathWeComToken:
		return h.weComToken
	case pathWeComJSAPITicket:
		return h.weComJSAPI
	case pathWeComTicket:
		return h.weComTicket
	case pathComponentToken:
		return h.componentToken
	case pathAuthorizerToken:
		return h.authorizerToken
	}
	root, _, _ := strings.Cut(strings.TrimPrefix(wx, "/"), "/")
	if r, ok := h.roots[root]; ok {
		return r
	}
	return h.anyPath
}

// ServeHTTP answers the front door's requests and hands every other one
// to Options.Next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wx, ok := h.claim(r.URL.Path)
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	ex := &exchange{w: w, start: time.Now()}
	defer h.finish(ex, r)
	if !cleanPath(wx) {
		// A path such as /cgi-bin/../v1/apps would be routed here but
		// mean something else to the upstream; and an unclean spelling
		// of the token paths must not slip past their local answers.
		ex.route = h.badPath
		h.fail(ex, errInvalidURL, "invalid url: the path is not clean")
		return
	}
	ex.route = h.routeOf(wx)
	switch wx {
	case pathToken:
		h.serveToken(ex, r)
	case pathStableToken:
		h.serveStableToken(ex, r)
	case pathTicket:
		h.serveTicket(ex, r)
	case pathWeComToken:
		h.serveWeComToken(ex, r)
	case pathWeComJSAPITicket:
		h.serveWeComTicket(ex, r, wxtoken.KindJSAPITicket)
	case pathWeComTicket:
		h.serveWeComTicket(ex, r, wxtoken.KindAgentConfig)
	case pathComponentToken:
		h.serveComponentToken(ex, r)
	case pathAuthorizerToken:
		h.serveAuthorizerToken(ex, r)
	default:
		if p, ok := credentialPath(wx); ok {
			// Another spelling of a credential path: answering it from
			// the upstream would mint credentials behind wxtoken's back.
			h.fail(ex, errInvalidURL, "invalid url: the credential path is spelt "+p)
			return
		}
		if k := snsKindOf(wx); k != snsNone {
			h.serveSNS(ex, r, wx, k)
			return
		}
		if strings.HasPrefix(wx, componentFolder) {
			h.serveComponentCall(ex, r, wx)
			return
		}
		h.proxy(ex, r, wx)
	}
}

// credentialPath returns the path answered from the cache, WeChat's,
// WeCom's or the open platform's, that wx spells in other letters, and
// whether it does.
func credentialPath(wx string) (string, bool) {
	for _, p := range [...]string{pathToken, pathStableToken, pathTicket, pathWeComToken, pathWeComJSAPITicket, pathWeComTicket, pathComponentToken, pathAuthorizerToken} {
		if strings.EqualFold(wx, p) {
			return p, true
		}
	}
	return "", false
}

// cleanPath reports whether p is a clean absolute path with at least one
// segment.
func cleanPath(p string) bool {
	return len(p) > 1 && path.Clean(p) == p
}

// finish recovers a panic into a WeChat-shaped answer, then counts the
// request and logs it.
func (h *Handler) finish(ex *exchange, r *http.Request) {
	if p := recover(); p != nil {
		if ex.route == nil {
			ex.route = h.badPath
		}
		// A relayed answer that broke off aborts: net/http drops the
		// connection, so the caller cannot take half an answer for a
		// whole one.
		if reqlog.Panicked(r.Context(), h.log, "panic serving the front door", ex.route.pattern, p) {
			h.observe(ex, r)
			panic(p)
		}
		if ex.status == 0 {
			h.fail(ex, errSystem, "internal error")
		}
	}
	h.observe(ex, r)
}

func (h *Handler) observe(ex *exchange, r *http.Request) {
	reqlog.Observe(r.Context(), h.log, "front door request",
		reqlog.Request{Route: ex.route.pattern, Metrics: ex.route.metrics, Status: ex.status, Start: ex.start, Client: ex.client},
		func(a []slog.Attr) []slog.Attr {
			if ex.app != "" {
				a = append(a, slog.String("appid", ex.app))
			}
			if ex.errcode != 0 {
				a = append(a, slog.Int("errcode", ex.errcode))
			}
			if ex.retried {
				a = append(a, slog.Bool("retried", true))
			}
			return a
		})
}

// exchange is one front-door request: the writer, and what the metrics
// and the log need to know of it.
type exchange struct {
	w     http.ResponseWriter
	start time.Time
	route *route
	// status is the status written, 0 until then.
	status int
	// app and client name the caller, once known, for the log.
	app, client string
	// errcode is the errcode of an answer wxtoken made itself.
	errcode int
	// retried is set when a relayed call was made again.
	retried bool
	// deadlines, set for a relayed call, moves the write deadline on with
	// every write of the answer.
	deadlines *relayDeadlines
}

func (ex *exchange) Header() http.Header { return ex.w.Header() }

func (ex *exchange) WriteHeader(status int) {
	if ex.status != 0 {
		return
	}
	ex.status = status
	ex.deadlines.extendWrite()
	ex.w.WriteHeader(status)
}

func (ex *exchange) Write(b []byte) (int, error) {
	if ex.status == 0 {
		ex.WriteHeader(http.StatusOK)
	}
	ex.deadlines.extendWrite()
	return ex.w.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.w }
