// Package client is the Go library that business servers use to get WeChat
// credentials from a wxtoken server instead of fetching them from WeChat
// themselves.
//
// A Client speaks the server's HTTP API. It implements wxtoken.Service, so
// code written against the service works the same in process and over the
// network, and it adds what a busy business server needs on top:
//
//   - AccessToken and Ticket keep each credential in memory for the lifetime
//     the server granted, refetch it shortly before it ends, coalesce
//     concurrent callers into one request, and never hand out an expired
//     value.
//   - Invalidate reports a token that WeChat rejected (compare-and-refresh)
//     and returns its replacement.
//   - Transport wraps an http.RoundTripper so that every WeChat API request
//     carries the current access_token, and a request that WeChat answers
//     with 40001, 42001 or 40014 is retried once with a fresh token.
//
// Errors are *wxtoken.Error values with the server's code, message and, where
// WeChat caused the failure, WeChat's errcode.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds each request to the wxtoken server. The server
	// answers from its cache, so a slow answer means trouble, not load.
	DefaultTimeout = 10 * time.Second
	// DefaultEarly is the longest a cached credential is refetched before
	// it expires when WithEarly is not given; short lifetimes use a tenth
	// of the lifetime instead.
	DefaultEarly = 30 * time.Second
)

// maxAnswerBytes caps what is read from the wxtoken server. Credential
// answers are a few hundred bytes.
const maxAnswerBytes = 8 << 20

// maxListBytes caps the answers that list every app, registration or
// authorizer a server keeps: the status of 100,000 apps is about 40 MB.
const maxListBytes = 256 << 20

// answerLimit is the cap of the answer to method on path.
func answerLimit(method, path string) int {
	if method == http.MethodGet && (path == "/v1/apps" || path == "/v1/registrations" || strings.HasSuffix(path, "/authorizers")) {
		return maxListBytes
	}
	return maxAnswerBytes
}

// Client is a client of one wxtoken server with one client key. It is safe
// for concurrent use; share one per process so that its cache is shared.
type Client struct {
	base    *url.URL
	key     string
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
	early   time.Duration
	// earlySet tells an explicit WithEarly(0) apart from the default.
	earlySet bool
	// optErr is the first invalid option, reported by New.
	optErr error

	mu    sync.Mutex
	slots map[slotKey]*slot
}

// The client is the service, over HTTP.
var _ wxtoken.Service = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc instead of
// http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc == nil {
			c.setErr(errors.New("WithHTTPClient: nil *http.Client"))
			return
		}
		c.http = hc
	}
}

// WithTimeout bounds each request to the wxtoken server; the default is
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			c.setErr(fmt.Errorf("WithTimeout: %v is not a positive duration", d))
			return
		}
		c.timeout = d
	}
}

// WithClock replaces time.Now, so that tests can move time. The clock
// decides when cached credentials expire and are refetched.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now == nil {
			c.setErr(errors.New("WithClock: nil clock"))
			return
		}
		c.now = now
	}
}

// WithEarly sets how long before a cached credential expires it is
// refetched. The default is DefaultEarly or a tenth of the lifetime,
// whichever is smaller. It is capped at half the lifetime, so that a
// credential is always reused for at least half its life.
func WithEarly(d time.Duration) Option {
	return func(c *Client) {
		if d < 0 {
			c.setErr(fmt.Errorf("WithEarly: %v is negative", d))
			return
		}
		c.early, c.earlySet = d, true
	}
}

func (c *Client) setErr(err error) {
	if c.optErr == nil {
		c.optErr = err
	}
}

// New returns a Client of the wxtoken server at baseURL (such as
// "http://127.0.0.1:8080", optionally with a path prefix when the server is
// behind a reverse proxy) that authenticates with the client key key.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want an absolute http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("client: server URL %q: must not have a query, fragment or user info", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if key == "" {
		return nil, errors.New("client: a client key is required")
	}
	if strings.ContainsAny(key, "\r\n") {
		// Checked here because the HTTP layer's own error would quote the
		// header, key and all.
		return nil, errors.New("client: the client key must be one line")
	}
	c := &Client{
		base:    u,
		key:     key,
		http:    http.DefaultClient,
		timeout: DefaultTimeout,
		now:     time.Now,
		slots:   make(map[slotKey]*slot),
	}
	for _, o := range opts {
		o(c)
	}
	if c.optErr != nil {
		return nil, fmt.Errorf("client: %w", c.optErr)
	}
	return c, nil
}

// Credential returns the server's current credential of kind for appID, an
// appid, a WeCom agent's wxtoken.WeComID or an open platform authorizer's
// wxtoken.AuthorizerID. It always asks the server;
// AccessToken and Ticket are the cached forms.
func (c *Client) Credential(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
	p, err := credentialPath(appID, kind)
	if err != nil {
		return wxtoken.Grant{}, err
	}
	var a grantAnswer
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &a); err != nil {
		return wxtoken.Grant{}, err
	}
	return a.grant(appID, kind, c.now())
}

// Refresh is compare-and-refresh: stale is a credential WeChat rejected.
// The server returns its current credential when it already differs from
// stale, and refreshes it once, however many callers ask, when it does not.
// The cache of AccessToken and Ticket is not touched; Invalidate is the
// cached form.
func (c *Client) Refresh(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
	p, err := credentialPath(appID, kind)
	if err != nil {
		return wxtoken.Grant{}, err
	}
	if stale == "" {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EInvalid, "the stale credential is required")
	}
	var a grantAnswer
	if err := c.do(ctx, http.MethodPost, p+"/refresh", nil, refreshRequest{Stale: stale}, &a); err != nil {
		return wxtoken.Grant{}, err
	}
	return a.grant(appID, kind, c.now())
}

// Apps returns the status of every app the server keeps. It needs an admin
// key. Report returns the same with the configuration the server runs
// with.
func (c *Client) Apps(ctx context.Context) ([]wxtoken.AppStatus, error) {
	r, err := c.Report(ctx)
	if err != nil {
		return nil, err
	}
	return r.Apps, nil
}

// Status reports every app the server keeps, or nothing when the server
// cannot be asked; Apps returns the reason as well.
func (c *Client) Status(ctx context.Context) []wxtoken.AppStatus {
	apps, err := c.Apps(ctx)
	if err != nil {
		return nil
	}
	return apps
}

// NotReady asks the server's /readyz whether it is ready to serve; it is
// empty when it is. The server says why it is not only to an admin key;
// to any other key it says only that it is not. A server that cannot be
// asked is not ready, and the reason says so.
func (c *Client) NotReady(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/readyz", nil), nil)
	if err != nil {
		return []string{fmt.Sprintf("wxtoken server: %v", err)}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return []string{fmt.Sprintf("wxtoken server %s cannot be reached: %v", c.base.Redacted(), unwrapURLError(err))}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if reasons := readyReasons(body); len(reasons) > 0 {
		return reasons
	}
	return []string{decodeError(resp.StatusCode, body).Message}
}

// readyReasons finds the reasons in a /readyz answer, under whichever of
// the likely names the server uses.
func readyReasons(body []byte) []string {
	var a struct {
		Reasons  []string `json:"reasons"`
		NotReady []string `json:"not_ready"`
		Errors   []string `json:"errors"`
	}
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	for _, r := range [][]string{a.Reasons, a.NotReady, a.Errors} {
		if len(r) > 0 {
			return r
		}
	}
	return nil
}

// JSSDKConfig returns a signed wx.config object for the page at pageURL
// (the page's location.href; the fragment is dropped by the server). It
// always asks the server, since every config has its own nonce and
// timestamp.
func (c *Client) JSSDKConfig(ctx context.Context, appID, pageURL string) (jssdk.Config, error) {
	if err := checkAppID(appID); err != nil {
		return jssdk.Config{}, err
	}
	if f, _, _ := wxtoken.ParseID(appID); f != wxtoken.FamilyApp {
		return jssdk.Config{}, wxtoken.Errorf(wxtoken.EInvalid, "%q is not an appid: sign a WeCom agent's page with WeComJSSDKConfig, an authorizer's with AuthorizerJSSDKConfig", appID)
	}
	if pageURL == "" {
		return jssdk.Config{}, wxtoken.Errorf(wxtoken.EInvalid, "the page url is required")
	}
	var cfg jssdk.Config
	q := url.Values{"url": {pageURL}}
	if err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(appID)+"/jssdk_config", q, nil, &cfg); err != nil {
		return jssdk.Config{}, err
	}
	if cfg.Signature == "" || cfg.NonceStr == "" || cfg.Timestamp == 0 {
		return jssdk.Config{}, malformed("jssdk_config", errors.New("signature, nonceStr or timestamp missing"))
	}
	return cfg, nil
}

// credentialPath is the API path of a credential kind of an app, of a
// WeCom agent when appID is its wxtoken.WeComID, or of an authorizer when
// it is its wxtoken.AuthorizerID.
func credentialPath(appID string, kind wxtoken.Kind) (string, error) {
	if err := checkAppID(appID); err != nil {
		return "", err
	}
	p := "/v1/apps/" + url.PathEscape(appID)
	switch f, first, second := wxtoken.ParseID(appID); f {
	case wxtoken.FamilyWeCom:
		p = agentPath(first, second)
	case wxtoken.FamilyAuthorizer:
		p = authorizerPath(first, second)
	}
	switch {
	case kind == wxtoken.KindAccessToken:
		return p + "/access_token", nil
	case kind.IsTicket():
		return p + "/tickets/" + url.PathEscape(string(kind)), nil
	default:
		return "", wxtoken.Errorf(wxtoken.EInvalid, "unknown credential kind %q (want access_token, jsapi, wx_card or agent_config)", kind)
	}
}

// checkAppID checks an appid, a WeCom agent's WeComID or an authorizer's
// AuthorizerID.
func checkAppID(appID string) error {
	if appID == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "the appid is required")
	}
	switch f, first, second := wxtoken.ParseID(appID); f {
	case wxtoken.FamilyWeCom:
		return checkAgent(first, second)
	case wxtoken.FamilyAuthorizer:
		return checkAuthorizer(first, second)
	}
	return nil
}

// refreshRequest is the body of a compare-and-refresh.
type refreshRequest struct {
	Stale string `json:"stale"`
}

// grantAnswer is the server's answer for an access_token or a ticket; the
// value is in access_token or ticket according to the kind.
type grantAnswer struct {
	AppID string `json:"appid"`
	// CorpID and AgentID name the WeCom agent of a WeCom answer.
	CorpID  string `json:"corpid"`
	AgentID string `json:"agentid"`
	// ComponentAppID and AuthorizerAppID name the authorizer of an
	// authorizer's answer.
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	Type            string `json:"type"`
	AccessToken     string `json:"access_token"`
	Ticket          string `json:"ticket"`
	ExpiresIn       *int64 `json:"expires_in"`
	ExpiresAt       string `json:"expires_at"`
}

// grant checks the answer and turns it into a Grant. An answer without a
// value or a positive lifetime is refused, so that it can never be cached.
func (a grantAnswer) grant(appID string, kind wxtoken.Kind, now time.Time) (wxtoken.Grant, error) {
	what := string(kind)
	value := a.AccessToken
	if kind.IsTicket() {
		what = string(kind) + " ticket"
		value = a.Ticket
	}
	switch {
	case value == "":
		return wxtoken.Grant{}, malformed(what, errors.New("no credential in the answer"))
	case a.ExpiresIn == nil || *a.ExpiresIn <= 0:
		return wxtoken.Grant{}, malformed(what, errors.New("expires_in missing or not positive"))
	case a.AppID != "" && a.AppID != appID:
		return wxtoken.Grant{}, malformed(what, fmt.Errorf("answer is for appid %q", a.AppID))
	case a.CorpID != "" && wxtoken.WeComID(a.CorpID, a.AgentID) != appID:
		return wxtoken.Grant{}, malformed(what, fmt.Errorf("answer is for WeCom agent %q of corp %q", a.AgentID, a.CorpID))
	case (a.ComponentAppID != "" || a.AuthorizerAppID != "") && wxtoken.AuthorizerID(a.ComponentAppID, a.AuthorizerAppID) != appID:
		return wxtoken.Grant{}, malformed(what, fmt.Errorf("answer is for authorizer %q of platform %q", a.AuthorizerAppID, a.ComponentAppID))
	}
	life := time.Duration(*a.ExpiresIn) * time.Second
	g := wxtoken.Grant{AppID: appID, Kind: kind, Value: value, ExpiresIn: life, ExpiresAt: now.Add(life)}
	if a.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, a.ExpiresAt)
		if err != nil {
			return wxtoken.Grant{}, malformed(what, fmt.Errorf("expires_at: %w", err))
		}
		g.ExpiresAt = t
	}
	return g, nil
}

// malformed is the error for an answer that is not what the API promises,
// such as a proxy's login page served with status 200.
func malformed(what string, err error) *wxtoken.Error {
	return &wxtoken.Error{
		Code:    wxtoken.EInternal,
		Message: "malformed answer from the wxtoken server",
		Err:     fmt.Errorf("%s: %w", what, err),
	}
}

// url returns the address of an API path on the server. path is already
// escaped, so that an escaped "/" in an appid cannot change the route.
func (c *Client) url(path string, q url.Values) string {
	s := c.base.String() + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// do sends one API request and decodes a 200 answer into out; any other
// answer becomes a *wxtoken.Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doStatus(ctx, method, path, q, in, out, http.StatusOK)
}

// doStatus is do for a route whose success is status: 201 for a
// creation, or 204, whose answer has no body (out is nil then).
func (c *Client) doStatus(ctx context.Context, method, path string, q url.Values, in, out any, status int) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wxtoken-client/"+wxtoken.Version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &wxtoken.Error{
			Code:    wxtoken.EUnavailable,
			Message: "cannot reach the wxtoken server at " + c.base.Redacted(),
			Err:     err,
		}
	}
	defer resp.Body.Close()
	limit := answerLimit(method, path)
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return &wxtoken.Error{
			Code:    wxtoken.EUnavailable,
			Message: "reading the answer of the wxtoken server at " + c.base.Redacted() + " failed",
			Err:     err,
		}
	}
	if len(b) > limit {
		return malformed(path, fmt.Errorf("answer longer than %d bytes", limit))
	}
	if resp.StatusCode != status {
		return decodeError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return malformed(path, err)
	}
	return nil
}

// unwrapURLError drops the *url.Error layer, whose text repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
