// Package ui is wxtoken's status page for operators: a server-rendered
// page under /ui/ that shows every credential the server keeps, of every
// family, with its state, time left, next refresh, last error and the
// error's hint, upstream calls today and lease holder, and that runs an
// operator's actions behind a confirmation: a compare-and-refresh of one
// credential, clearing an app's quota, and retrying a held-back
// credential now.
//
// It is made to work on an intranet with no internet: the templates, the
// style sheet and the one small script are embedded in the binary, and
// nothing is fetched from elsewhere. Pages carry a strict
// Content-Security-Policy (no inline script or style) and are never
// cached.
//
// Only an admin client key signs in. The key is sent once, in the body of
// the sign-in form, and is checked against the key ring in force on every
// request after that: the browser holds only a random session id in an
// HttpOnly, SameSite=Strict cookie, and the key is never written to a
// page, a URL or a log. Every form that changes something carries the
// session's CSRF token, and every POST is refused when the browser says it
// comes from another site. Sign-ins, sign-outs and actions are logged with
// the client's name from the key ring.
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// Path is where the status page is served; every path below it is the
// page's.
const Path = "/ui/"

// CookieName is the name of the session cookie.
const CookieName = "wxtoken_ui"

// ContentSecurityPolicy is the policy of every answer: scripts, styles and
// images from the page's own origin only, no inline script or style, forms
// that post only to the page's origin, and no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Defaults of Options.
const (
	DefaultSessionTTL   = 8 * time.Hour
	DefaultPageSize     = 100
	DefaultRefreshEvery = 15 * time.Second
	DefaultMaxSessions  = 1000
)

// maxFormBytes bounds a form's body: a key, a token, an id and a kind.
const maxFormBytes = 8 << 10

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures New.
type Options struct {
	// Service reports the credentials and runs compare-and-refresh.
	// Required.
	Service wxtoken.Service
	// Keys is the key ring sign-ins are checked against; only its admin
	// clients may sign in. Required; SetKeys replaces it.
	Keys *clientkey.Ring
	// Replica names this replica on the page, on a shared store.
	Replica string
	// Logger receives a line per sign-in, sign-out, refused sign-in and
	// action. Nil logs nothing.
	Logger *slog.Logger
	// Now is the clock of sessions and of the times shown; nil is
	// time.Now.
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts; 0 is DefaultSessionTTL.
	SessionTTL time.Duration
	// PageSize is the number of rows a page of the table shows; 0 is
	// DefaultPageSize.
	PageSize int
	// RefreshEvery is how often the page reloads itself; 0 is
	// DefaultRefreshEvery, negative never.
	RefreshEvery time.Duration
	// ClearQuota, when set, clears an app's daily quotas at WeChat and
	// returns how many of the month's clears are left; the page then
	// offers it on every app. Nil offers no such action.
	ClearQuota func(ctx context.Context, appID string) (clearsLeft int, err error)
	// RetryNow, when set, lifts the error policy's hold on the credentials
	// of id (an app, a WeCom agent, a platform or an authorizer, by its id
	// as the Service knows it) and has them tried once, now; the page then
	// offers it on every credential that is held back or failing.
	// *refresh.Engine's RetryNow is one. Nil offers no such action.
	RetryNow func(ctx context.Context, id string) error
	// MaxSessions bounds the sessions kept at once; 0 is
	// DefaultMaxSessions. A sign-in beyond it ends the session closest to
	// its end.
	MaxSessions int
}

// Handler serves the status page under Path. It is an http.Handler, safe
// for concurrent use.
type Handler struct {
	svc      wxtoken.Service
	keys     atomic.Pointer[clientkey.Ring]
	replica  string
	log      *slog.Logger
	now      func() time.Time
	ttl      time.Duration
	pageSize int
	every    time.Duration
	sessions *sessions
	pages    *template.Template
	static   fs.FS
	origin   *http.CrossOriginProtection
	// clearQuota clears an app's quota; nil offers no such action.
	clearQuota func(ctx context.Context, appID string) (int, error)
	// retryNow lifts a hold and tries once; nil offers no such action.
	retryNow func(ctx context.Context, id string) error
}

// New returns the status page's handler.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil {
		return nil, errors.New("ui: a Service is required")
	}
	if opts.Keys == nil {
		return nil, errors.New("ui: a key ring is required")
	}
	h := &Handler{
		svc: opts.Service, replica: opts.Replica, log: opts.Logger, now: opts.Now,
		ttl: opts.SessionTTL, pageSize: opts.PageSize, every: opts.RefreshEvery,
		origin: http.NewCrossOriginProtection(), clearQuota: opts.ClearQuota,
		retryNow: opts.RetryNow,
	}
	h.keys.Store(opts.Keys)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.ttl <= 0 {
		h.ttl = DefaultSessionTTL
	}
	if h.pageSize <= 0 {
		h.pageSize = DefaultPageSize
	}
	if h.every == 0 {
		h.every = DefaultRefreshEvery
	}
	maxSessions := opts.MaxSessions
	if maxSessions <= 0 {
		maxSessions = DefaultMaxSessions
	}
	h.sessions = newSessions(maxSessions)
	pages, err := template.New("").Funcs(template.FuncMap{
		"ptr": func(t time.Time) *time.Time { return &t },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	h.pages = pages
	if h.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	return h, nil
}

// SetKeys replaces the key ring sign-ins are checked against. A session
// whose key the new ring does not hold as an admin's ends with its next
// request. It is safe to call while the Handler serves.
func (h *Handler) SetKeys(k *clientkey.Ring) {
	if k != nil {
		h.keys.Store(k)
	}
}

// ServeHTTP answers a request for a path under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Frame-Options", "DENY")
	sub, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok {
		if r.URL.Path == strings.TrimSuffix(Path, "/") {
			http.Redirect(w, r, Path, http.StatusSeeOther)
			return
		}
		h.message(w, http.StatusNotFound, "Not found", "There is no such page.")
		return
	}
	switch {
	case sub == "":
		h.onlyMethods(w, r, h.status, http.MethodGet, http.MethodHead)
	case sub == "login":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.loginPage(w, r)
		case http.MethodPost:
			h.login(w, r)
		default:
			h.notAllowed(w, "GET, HEAD, POST")
		}
	case sub == "logout":
		h.onlyMethods(w, r, h.logout, http.MethodPost)
	case sub == "refresh":
		h.onlyMethods(w, r, h.refresh, http.MethodPost)
	case sub == "clear_quota" && h.clearQuota != nil:
		h.onlyMethods(w, r, h.clearAppQuota, http.MethodPost)
	case sub == "retry" && h.retryNow != nil:
		h.onlyMethods(w, r, h.retry, http.MethodPost)
	case strings.HasPrefix(sub, "static/"):
		h.onlyMethods(w, r, h.serveStatic, http.MethodGet, http.MethodHead)
	default:
		h.message(w, http.StatusNotFound, "Not found", "There is no such page.")
	}
}

// onlyMethods calls fn when r's method is one of methods, and answers 405
// otherwise.
func (h *Handler) onlyMethods(w http.ResponseWriter, r *http.Request, fn http.HandlerFunc, methods ...string) {
	for _, m := range methods {
		if r.Method == m {
			fn(w, r)
			return
		}
	}
	h.notAllowed(w, strings.Join(methods, ", "))
}

func (h *Handler) notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	h.message(w, http.StatusMethodNotAllowed, "Method not allowed", "Allowed: "+allow+".")
}

// serveStatic serves an embedded script or style sheet.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Path+"static/")
	var ctype string
	switch {
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	}
	b, err := fs.ReadFile(h.static, name)
	if err != nil || ctype == "" || strings.Contains(name, "/") {
		h.message(w, http.StatusNotFound, "Not found", "There is no such file.")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// render writes the page named name with data and status. A page is
// rendered whole before anything is written, so that a template error
// becomes a 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log.Error("ui: rendering a page", "page", name, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!DOCTYPE html><title>Internal error</title><p>The page could not be rendered; the server's log says why.</p>\n")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// messageData is a page that says one thing.
type messageData struct {
	Title, Text string
	// SignedIn shows the way back to the status page rather than to the
	// sign-in.
	SignedIn bool
}

func (h *Handler) message(w http.ResponseWriter, status int, title, text string) {
	h.render(w, status, "message", messageData{Title: title, Text: text})
}
