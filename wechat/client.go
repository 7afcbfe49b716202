package wechat

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
	"time"

	"github.com/wxtoken/wxtoken"
)

// The endpoints this client calls.
const (
	PathToken       = "/cgi-bin/token"
	PathStableToken = "/cgi-bin/stable_token"
	PathTicket      = "/cgi-bin/ticket/getticket"
	PathProbe       = "/cgi-bin/get_api_domain_ip"

	// WeCom (企业微信), on Options.WeComBaseURL.
	PathWeComToken       = "/cgi-bin/gettoken"
	PathWeComJSAPITicket = "/cgi-bin/get_jsapi_ticket"
	PathWeComTicket      = "/cgi-bin/ticket/get"

	// The open platform's third-party platforms (component.go), on
	// Options.BaseURL.
	PathComponentToken  = "/cgi-bin/component/api_component_token"
	PathStartPushTicket = "/cgi-bin/component/api_start_push_ticket"
	PathPreAuthCode     = "/cgi-bin/component/api_create_preauthcode"
	PathQueryAuth       = "/cgi-bin/component/api_query_auth"
	PathAuthorizerToken = "/cgi-bin/component/api_authorizer_token"
)

// Limits on what is accepted as an answer.
const (
	// MaxBodyBytes caps a credential answer; real ones are a few hundred
	// bytes.
	MaxBodyBytes = 64 << 10
	// MaxCredentialLen rejects absurdly long credentials (real tokens are
	// about 136 characters, tickets about 86).
	MaxCredentialLen = 2048
	// MaxExpiresIn rejects lifetimes over a day: WeChat documents "within
	// 7200" and anything much larger is a broken answer.
	MaxExpiresIn = 24 * time.Hour
)

// DefaultBaseURL is WeChat's nearest access point.
const DefaultBaseURL = "https://api.weixin.qq.com"

// DefaultWeComBaseURL is WeCom's API host.
const DefaultWeComBaseURL = "https://qyapi.weixin.qq.com"

// Options configure a Client.
type Options struct {
	// BaseURL is tried first; FallbackBaseURLs in order when a host cannot
	// be reached or fails with HTTP 5xx.
	BaseURL          string
	FallbackBaseURLs []string
	// WeComBaseURL is WeCom's host (no fallbacks); default
	// DefaultWeComBaseURL.
	WeComBaseURL string
	// Timeout bounds each HTTP attempt; default 10 s.
	Timeout time.Duration
	// HTTPClient is used when non-nil; its Timeout should be zero.
	HTTPClient *http.Client
	// UserAgent defaults to "wxtoken/<version>".
	UserAgent string
}

// Client calls WeChat's credential endpoints. It is safe for concurrent use
// and holds no credential state.
type Client struct {
	bases   []*url.URL
	wecom   []*url.URL
	timeout time.Duration
	http    *http.Client
	ua      string
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	if opts.WeComBaseURL == "" {
		opts.WeComBaseURL = DefaultWeComBaseURL
	}
	c := &Client{timeout: opts.Timeout, http: opts.HTTPClient, ua: opts.UserAgent}
	for i, raw := range append([]string{opts.BaseURL}, opts.FallbackBaseURLs...) {
		u, err := parseBase(raw)
		if err != nil {
			return nil, fmt.Errorf("wechat: base URL %d: %w", i, err)
		}
		c.bases = append(c.bases, u)
	}
	u, err := parseBase(opts.WeComBaseURL)
	if err != nil {
		return nil, fmt.Errorf("wechat: WeCom base URL: %w", err)
	}
	c.wecom = []*url.URL{u}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.http == nil {
		c.http = &http.Client{
			// WeChat does not redirect; following one could carry a secret
			// in a query to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.ua == "" {
		c.ua = "wxtoken/" + wxtoken.Version
	}
	return c, nil
}

// parseBase checks and normalizes a base URL.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%q: want an absolute http(s) URL without a query", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// Credential is a token or ticket as WeChat answered it.
type Credential struct {
	Value     string
	ExpiresIn time.Duration
}

// Token calls GET /cgi-bin/token (classic): every successful call replaces
// the app's previous token, which dies five minutes later.
func (c *Client) Token(ctx context.Context, appID, secret string) (Credential, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
	return c.credential(ctx, c.bases, http.MethodGet, PathToken, q, nil, "access_token", secret)
}

// StableToken calls POST /cgi-bin/stable_token. In normal mode (force false)
// it returns the current stable token; force replaces it at once and is
// limited to 20 calls a day, 30 s apart.
func (c *Client) StableToken(ctx context.Context, appID, secret string, force bool) (Credential, error) {
	body, err := json.Marshal(struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", appID, secret, force})
	if err != nil {
		return Credential{}, fmt.Errorf("wechat: encode stable_token request: %w", err)
	}
	return c.credential(ctx, c.bases, http.MethodPost, PathStableToken, nil, body, "access_token", secret)
}

// Ticket calls GET /cgi-bin/ticket/getticket for a jsapi or wx_card ticket,
// with accessToken.
func (c *Client) Ticket(ctx context.Context, accessToken string, kind wxtoken.Kind) (Credential, error) {
	if !kind.IsTicket() {
		return Credential{}, fmt.Errorf("wechat: %q is not a ticket type", kind)
	}
	q := url.Values{"access_token": {accessToken}, "type": {string(kind)}}
	return c.credential(ctx, c.bases, http.MethodGet, PathTicket, q, nil, "ticket", "")
}

// WeComToken calls WeCom's GET /cgi-bin/gettoken for the agent whose
// secret is secret: within a token's validity every call returns that same
// token (expires_in then says what is left of it), a new one only after it
// expired, unless WeCom ended it early.
func (c *Client) WeComToken(ctx context.Context, corpID, secret string) (Credential, error) {
	q := url.Values{"corpid": {corpID}, "corpsecret": {secret}}
	return c.credential(ctx, c.wecom, http.MethodGet, PathWeComToken, q, nil, "access_token", secret)
}

// WeComTicket fetches a WeCom ticket with an agent's accessToken: for
// KindJSAPITicket the corp's jsapi ticket (GET /cgi-bin/get_jsapi_ticket),
// for KindAgentConfig the agent's ticket for wx.agentConfig (GET
// /cgi-bin/ticket/get?type=agent_config).
func (c *Client) WeComTicket(ctx context.Context, accessToken string, kind wxtoken.Kind) (Credential, error) {
	q := url.Values{"access_token": {accessToken}}
	path := PathWeComJSAPITicket
	switch kind {
	case wxtoken.KindJSAPITicket:
	case wxtoken.KindAgentConfig:
		path = PathWeComTicket
		q.Set("type", string(kind))
	default:
		return Credential{}, fmt.Errorf("wechat: %q is not a WeCom ticket type", kind)
	}
	return c.credential(ctx, c.wecom, http.MethodGet, path, q, nil, "ticket", "")
}

// Probe makes the cheapest call that WeChat checks an access_token on
// (/cgi-bin/get_api_domain_ip). It returns nil when WeChat accepts the
// token; IsTokenRejected(err) tells when WeChat says it is dead.
func (c *Client) Probe(ctx context.Context, accessToken string) error {
	q := url.Values{"access_token": {accessToken}}
	body, err := c.do(ctx, c.bases, http.MethodGet, PathProbe, q, nil, "")
	if err != nil {
		return err
	}
	var ans struct {
		ErrCode *int     `json:"errcode"`
		ErrMsg  string   `json:"errmsg"`
		IPList  []string `json:"ip_list"`
	}
	if err := decodeStrict(body, &ans); err != nil {
		return &TransportError{Endpoint: PathProbe, Reason: describeBadBody(body), Err: err}
	}
	if ans.ErrCode != nil && *ans.ErrCode != 0 {
		return &APIError{Endpoint: PathProbe, ErrCode: *ans.ErrCode, ErrMsg: ans.ErrMsg, RID: parseRID(ans.ErrMsg)}
	}
	return nil
}

// credential makes one credential call and parses its answer.
func (c *Client) credential(ctx context.Context, bases []*url.URL, method, path string, q url.Values, body []byte, field, secret string) (Credential, error) {
	raw, err := c.do(ctx, bases, method, path, q, body, secret)
	if err != nil {
		return Credential{}, err
	}
	cred, err := ParseCredential(path, raw, field)
	var api *APIError
	if secret != "" && errors.As(err, &api) && strings.Contains(api.ErrMsg, secret) {
		// An errmsg echoing the request must not carry the secret into logs.
		api.ErrMsg = strings.ReplaceAll(api.ErrMsg, secret, "[redacted]")
	}
	return cred, err
}

// do sends the request to each of bases in turn until one answers with
// HTTP 200, and returns the (size-capped) body.
func (c *Client) do(ctx context.Context, bases []*url.URL, method, path string, q url.Values, body []byte, secrets ...string) ([]byte, error) {
	var last error
	for _, base := range bases {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return nil, last
			}
			return nil, &TransportError{Endpoint: path, Reason: reasonNotSent, Err: err}
		}
		raw, retry, err := c.attempt(ctx, base, method, path, q, body, secrets)
		if err == nil {
			return raw, nil
		}
		last = err
		if !retry {
			break
		}
	}
	return nil, last
}

// attempt makes one HTTP call. retry says whether another host may do
// better (the host was unreachable or failed with 5xx).
func (c *Client) attempt(ctx context.Context, base *url.URL, method, path string, q url.Values, body []byte, secrets []string) (raw []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, false, &TransportError{Endpoint: path, Host: base.Host, Reason: reasonNoRequest, Err: scrub(err, secrets...)}
	}
	// Go's transport silently resends a GET whose reused connection closed
	// before answering; a classic token call must not be sent twice (each
	// one replaces the token and spends quota), so it gets a fresh
	// connection. Token calls are hours apart: nothing is lost.
	req.Close = path == PathToken
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true, &TransportError{Endpoint: path, Host: base.Host, Reason: "request failed", Err: scrub(err, secrets...)}
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, true, &TransportError{Endpoint: path, Host: base.Host, Status: resp.StatusCode, Reason: "reading the answer failed", Err: scrub(err, secrets...)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode >= 500, &TransportError{Endpoint: path, Host: base.Host, Status: resp.StatusCode, Reason: "unexpected HTTP status"}
	}
	if len(raw) > MaxBodyBytes {
		return nil, false, &TransportError{Endpoint: path, Host: base.Host, Status: resp.StatusCode, Reason: fmt.Sprintf("answer larger than %d bytes", MaxBodyBytes)}
	}
	return raw, false, nil
}

// scrub removes the URL (and with it any query carrying a secret or token)
// from a net/http error, and as a second guard any occurrence of the
// secrets.
func scrub(err error, secrets ...string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	if msg := redact(err.Error(), secrets); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// redact replaces every occurrence of each non-empty secret in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// ParseCredential parses the body of a token, stable_token or getticket
// answer from endpoint, reading the credential from field ("access_token"
// or "ticket"). Only a well-formed success answer yields a Credential: a
// non-zero errcode is an *APIError, and anything malformed — HTML, broken
// or truncated JSON, trailing data, a missing, empty, oversized or
// non-printable credential, a missing or absurd expires_in — is a
// *TransportError, so that it can never replace a good credential.
func ParseCredential(endpoint string, body []byte, field string) (Credential, error) {
	var ans struct {
		ErrCode     *int            `json:"errcode"`
		ErrMsg      string          `json:"errmsg"`
		AccessToken *string         `json:"access_token"`
		Ticket      *string         `json:"ticket"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	bad := func(reason string, err error) (Credential, error) {
		return Credential{}, &TransportError{Endpoint: endpoint, Status: http.StatusOK, Reason: reason, Err: err}
	}
	if err := decodeStrict(body, &ans); err != nil {
		return bad(describeBadBody(body), err)
	}
	if ans.ErrCode != nil && *ans.ErrCode != 0 {
		return Credential{}, &APIError{Endpoint: endpoint, ErrCode: *ans.ErrCode, ErrMsg: ans.ErrMsg, RID: parseRID(ans.ErrMsg)}
	}
	var value *string
	switch field {
	case "access_token":
		value = ans.AccessToken
	case "ticket":
		value = ans.Ticket
	default:
		return Credential{}, fmt.Errorf("wechat: unknown credential field %q", field)
	}
	if err := checkValue(endpoint, field, value); err != nil {
		return Credential{}, err
	}
	ttl, err := parseExpiresIn(endpoint, ans.ExpiresIn)
	if err != nil {
		return Credential{}, err
	}
	return Credential{Value: *value, ExpiresIn: ttl}, nil
}

// checkValue says what is wrong with a credential (or code) named field in
// an answer from endpoint: missing, empty, oversized or with characters no
// credential has; nil when nothing is.
func checkValue(endpoint, field string, value *string) error {
	reason := ""
	switch {
	case value == nil:
		reason = "answer has no " + field
	case *value == "":
		reason = "answer has an empty " + field
	case len(*value) > MaxCredentialLen:
		reason = fmt.Sprintf("%s longer than %d bytes", field, MaxCredentialLen)
	case !printable(*value):
		reason = field + " has characters no credential has"
	default:
		return nil
	}
	return &TransportError{Endpoint: endpoint, Status: http.StatusOK, Reason: reason, Err: errBadAnswer}
}

// parseExpiresIn reads the expires_in of an answer from endpoint: a whole
// number of seconds from 1 to MaxExpiresIn.
func parseExpiresIn(endpoint string, raw json.RawMessage) (time.Duration, error) {
	bad := func(reason string) (time.Duration, error) {
		return 0, &TransportError{Endpoint: endpoint, Status: http.StatusOK, Reason: reason, Err: errBadAnswer}
	}
	var secs int64
	if len(raw) == 0 {
		return bad("answer has no expires_in")
	}
	if err := json.Unmarshal(raw, &secs); err != nil {
		return bad("expires_in is not an integer")
	}
	if secs <= 0 || secs > int64(MaxExpiresIn/time.Second) {
		return bad(fmt.Sprintf("expires_in %d is out of range (1 to %d)", secs, int64(MaxExpiresIn/time.Second)))
	}
	return time.Duration(secs) * time.Second, nil
}

// decodeStrict decodes exactly one JSON object from body.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", errBadAnswer, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON object", errBadAnswer)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", errBadAnswer)
	}
	return nil
}

// describeBadBody names what kind of non-answer a body is, without quoting
// it (it could be anything).
func describeBadBody(body []byte) string {
	t := bytes.TrimSpace(body)
	switch {
	case len(t) == 0:
		return "empty answer"
	case t[0] == '<':
		return "answer is an HTML page, not JSON"
	case t[0] != '{':
		return "answer is not a JSON object"
	default:
		return "answer is malformed or truncated JSON"
	}
}

// printable reports whether s has only visible ASCII, as every WeChat
// token and ticket does; anything else would break the URLs it goes into.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
