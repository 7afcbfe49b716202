package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/metrics"
	"github.com/wxtoken/wxtoken/wechat"
)

// maxPeek bounds how much of a relayed answer is read to look for an
// errcode that says the token is dead. Such answers are a few dozen
// bytes; a larger answer is a real one (a media file, a long list) and is
// streamed to the caller as it comes.
const maxPeek = 64 << 10

// proxy relays a call to the upstream with the current token, and makes
// it once more when WeChat rejects the token it carried: with the new
// token, or, when the check finds the token alive, with the same one after
// a short pause. A call made for a WeCom agent goes to the WeCom upstream,
// whatever its path: the family is the token's (or the appid header's),
// so an agent's token is only ever swapped for the same agent's and sent
// to WeCom.
func (h *Handler) proxy(ex *exchange, r *http.Request, wx string) {
	c, ok := h.identify(ex, r, true)
	if !ok {
		return
	}
	if h.knownPlatform(c.appID) {
		// WeChat's ordinary calls take no component_access_token, and
		// would reject it: healing that rejection would mint a new one
		// for every such call.
		h.fail(ex, errInvalidToken, msgComponentAsAccessToken)
		return
	}
	base := h.upstream
	if isWeCom(c.appID) {
		base = h.wecom
	}
	h.forward(ex, r, wx, c, base, tokenParam)
}

// forward relays a call made for c to base, with c's current
// access_token in the query parameter param (access_token, or a
// platform's component_access_token), and heals it as proxy says.
func (h *Handler) forward(ex *exchange, r *http.Request, wx string, c caller, base, param string) {
	wecom := isWeCom(c.appID)
	ex.deadlines = h.newDeadlines(ex, r)
	var caller *callerBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		caller = &callerBody{rc: r.Body, d: ex.deadlines}
		r.Body = caller
	} else {
		ex.deadlines.bodyDone()
	}
	body, err := h.readBody(r)
	if err != nil {
		h.callerFailed(ex, r, caller)
		return
	}
	token := ""
	if c.by != bySecret {
		g, err := h.svc.Credential(r.Context(), c.appID, wxtoken.KindAccessToken)
		if err != nil {
			if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
				// Only an appid header can name what wxtoken does not
				// keep: an authorizer it was never given.
				h.fail(ex, errInvalidAppID, "invalid appid: wxtoken keeps no credentials for "+c.appID)
				return
			}
			h.serviceFailed(ex, r, err)
			return
		}
		token = g.Value
	}
	// The upstream call, answer included, ends with the relayed call.
	ctx, cancel := context.WithDeadline(r.Context(), ex.deadlines.upstreamEnd())
	defer cancel()
	resp, err := h.send(ctx, base, r, wx, param, token, body)
	if err != nil {
		h.sendFailed(ex, r, caller, err)
		return
	}
	whole := peek(resp)
	if token != "" && body.replayable() && whole != nil && tokenRejected(whole) {
		// The token died early: rotated out of band, or replaced by a
		// caller outside wxtoken. Report it, as every other caller of
		// wxtoken would, and try once more with whatever wxtoken holds
		// after that. A token the check finds alive was rejected by a
		// WeChat server that had not yet heard of it (they disagree for
		// a moment after a refresh): try it once more after a pause. A
		// report held back by the rate limit fails, and the rejection is
		// passed on.
		if g, rerr := h.svc.Refresh(ctx, c.appID, wxtoken.KindAccessToken, token); rerr == nil {
			reason := metrics.RetryTokenReplaced
			if g.Value == token {
				reason = metrics.RetryTokenAlive
			}
			if reason == metrics.RetryTokenReplaced || pause(ctx, h.alivePause) {
				resp.Body.Close()
				ex.retried = true
				h.metrics.CompatRetry(reason)
				if resp, err = h.send(ctx, base, r, wx, param, g.Value, body); err != nil {
					h.sendFailed(ex, r, caller, err)
					return
				}
				whole = peek(resp)
			}
		}
	}
	defer resp.Body.Close()
	if wecom {
		h.logOtherAgent(ex, r, whole)
	}
	h.relay(ex, resp, whole)
}

// pause waits d, and reports false if ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sendFailed answers a relayed call that got no answer, blaming the side
// that failed it: the caller, when its body did not come whole, else the
// upstream.
func (h *Handler) sendFailed(ex *exchange, r *http.Request, caller *callerBody, err error) {
	if _, cerr := caller.failed(); cerr != nil {
		h.callerFailed(ex, r, caller)
		return
	}
	h.upstreamFailed(ex, r, err)
}

// requestBody is the body of a relayed call: held in memory when it is no
// larger than the retry limit, so that it can be sent twice, and streamed
// otherwise.
type requestBody struct {
	held   []byte
	stream io.Reader // nil when held is the whole body
	length int64     // -1 when unknown
}

func (b *requestBody) replayable() bool { return b.stream == nil }

// readBody reads a request body up to the retry limit.
func (h *Handler) readBody(r *http.Request) (*requestBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &requestBody{}, nil
	}
	if r.ContentLength > h.maxRetry {
		return &requestBody{stream: r.Body, length: r.ContentLength}, nil
	}
	held, err := io.ReadAll(io.LimitReader(r.Body, h.maxRetry+1))
	if err != nil {
		return nil, err
	}
	if int64(len(held)) > h.maxRetry {
		return &requestBody{stream: io.MultiReader(bytes.NewReader(held), r.Body), length: r.ContentLength}, nil
	}
	return &requestBody{held: held, length: int64(len(held))}, nil
}

// send makes the call to base, one of the configured upstreams: the
// caller's method, path, query (with token in place of any parameter
// named param, unless token is empty), body and end-to-end headers.
// Nothing in the request chooses the host.
func (h *Handler) send(ctx context.Context, base string, r *http.Request, wx, param, token string, body *requestBody) (*http.Response, error) {
	target := base + h.escapedPath(r, wx)
	if q := r.URL.RawQuery; token != "" {
		target += "?" + withParam(q, param, token)
	} else if q != "" {
		target += "?" + q
	}
	var rd io.Reader
	switch {
	case body.stream != nil:
		rd = body.stream
	case len(body.held) > 0:
		rd = bytes.NewReader(body.held)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		return nil, err
	}
	if body.stream == nil && len(body.held) > 0 {
		held := body.held
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(held)), nil }
	}
	out.ContentLength = body.length
	if rd == nil {
		out.ContentLength = 0
	}
	out.Header = forwardHeaders(r.Header)
	return h.rt.RoundTrip(out)
}

// escapedPath is the caller's path below the base path, escaped as the
// caller sent it.
func (h *Handler) escapedPath(r *http.Request, wx string) string {
	p := r.URL.EscapedPath()
	if h.base != "" {
		if rest, ok := strings.CutPrefix(p, h.base); ok && strings.HasPrefix(rest, "/") {
			return rest
		}
		// The base path has only characters that are never escaped, so
		// this is unreachable; the decoded path is the safe answer.
		return (&url.URL{Path: wx}).EscapedPath()
	}
	return p
}

// forwardHeaders returns the headers of a request to relay: the caller's,
// less the hop-by-hop ones, the client key (which is wxtoken's, never
// WeChat's business), the appid header and Accept-Encoding. The transport
// asks for gzip on its own and unpacks the answer, so that wxtoken can
// read an errcode in it; the caller gets it unpacked.
func forwardHeaders(in http.Header) http.Header {
	out := make(http.Header, len(in))
	drop := connectionTokens(in)
	for k, v := range in {
		if isHopByHop(k) || drop[k] {
			continue
		}
		switch k {
		case "Authorization", HeaderAppID, "Accept-Encoding":
			continue
		}
		out[k] = v
	}
	return out
}

// isHopByHop reports whether the canonical header name k belongs to one
// connection only (RFC 9110, section 7.6.1), so a proxy must not pass it on.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionTokens returns the header names a Connection header lists,
// which are hop-by-hop too.
func connectionTokens(h http.Header) map[string]bool {
	var m map[string]bool
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[textproto.CanonicalMIMEHeaderKey(f)] = true
			}
		}
	}
	return m
}

// peek reads a relayed answer that may be an errcode, and returns it whole
// (leaving resp.Body to read it again), or nil when it is too large or not
// text, in which case resp.Body still yields all of it.
func peek(resp *http.Response) []byte {
	if resp.ContentLength > maxPeek || !textual(resp.Header.Get("Content-Type")) {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxPeek+1))
	if err == nil && len(buf) <= maxPeek {
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(buf))
		return buf
	}
	// Too long, or broken off: hand on what came and the rest as it
	// comes, so that the caller sees the same failure.
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
	return nil
}

// textual reports whether a Content-Type can carry a JSON errcode. WeChat
// labels JSON variously (application/json, text/plain), and a missing one
// is read too.
func textual(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "text/")
}

// tokenRejected reports whether a relayed answer is WeChat saying that the
// access_token it carried is dead.
func tokenRejected(body []byte) bool {
	var a struct {
		ErrCode *int `json:"errcode"`
	}
	if json.Unmarshal(body, &a) != nil || a.ErrCode == nil {
		return false
	}
	switch *a.ErrCode {
	case wechat.ErrInvalidCredential, wechat.ErrTokenExpired, wechat.ErrInvalidToken:
		return true
	}
	return false
}

// relay answers with the upstream's answer: its status, end-to-end
// headers and body. An answer that was read whole and is JSON is labelled
// so, as some SDKs parse only then (WeChat labels some of its JSON
// text/plain).
func (h *Handler) relay(ex *exchange, resp *http.Response, whole []byte) {
	hdr := ex.Header()
	drop := connectionTokens(resp.Header)
	for k, v := range resp.Header {
		if isHopByHop(k) || drop[k] || k == "Content-Length" {
			continue
		}
		hdr[k] = v
	}
	if whole != nil {
		if looksJSON(whole) && !isJSONType(hdr.Get("Content-Type")) {
			hdr["Content-Type"] = h.jsonType
		}
		hdr["Content-Length"] = []string{strconv.Itoa(len(whole))}
	} else if resp.ContentLength >= 0 {
		hdr["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	ex.WriteHeader(resp.StatusCode)
	if whole != nil {
		_, _ = ex.Write(whole)
		return
	}
	if _, err := io.Copy(ex, resp.Body); err != nil {
		// Part of the answer has gone out: abort the connection so the
		// caller cannot mistake it for a whole one.
		panic(http.ErrAbortHandler)
	}
}

func looksJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// upstreamFailed answers a relayed call that got no answer: -1, system
// busy, which SDKs retry. The log says why without the URL, whose query
// holds the token.
func (h *Handler) upstreamFailed(ex *exchange, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The caller went away; nobody reads the answer.
		h.fail(ex, errSystem, "system busy: request canceled")
		return
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "relaying a call to the upstream failed",
		slog.String("route", ex.route.pattern), slog.String("appid", ex.app), slog.String("side", "upstream"),
		slog.String("error", err.Error()), slog.Duration("took", time.Since(ex.start)))
	h.fail(ex, errSystem, "system busy: the upstream did not answer")
}
