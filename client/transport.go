package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxInspectBytes bounds the request bodies Transport buffers to replay
// them and the response bodies it buffers to look for a token error.
// WeChat's error answers are tiny; larger bodies (media uploads and
// downloads) pass through untouched.
const MaxInspectBytes = 1 << 20

// RetryPause is how long Transport waits before it sends a request once
// more with the same token, when WeChat rejected the token and the
// server's check found it alive: WeChat's servers disagree for a moment
// after a refresh, and a few hundred milliseconds let them agree.
const RetryPause = 300 * time.Millisecond

// The WeChat errcodes that mean the access_token a call carried is dead.
// They are WeChat's, listed here so that business servers importing this
// package do not pull in the server's upstream client.
const (
	errInvalidCredential = 40001 // invalid or not the latest
	errInvalidToken      = 40014
	errTokenExpired      = 42001
)

// Transport returns an http.RoundTripper for calls to the WeChat API on
// behalf of appID. It sets the current access_token as the request's
// access_token query parameter (replacing any there) and sends the request
// with base, or http.DefaultTransport when base is nil.
//
// When WeChat answers HTTP 200 with a JSON errcode 40001, 42001 or 40014,
// the token is reported with Invalidate and the request is sent once more
// with the token that replaces it; the second answer is returned whatever
// it says. When the server's check finds the token alive (Invalidate
// answers the same token), the request is sent once more with it after
// RetryPause, unless the request's context ends first, when WeChat's
// rejection is returned. A request body is replayed with the request's GetBody or, when
// that is nil, from a copy of up to MaxInspectBytes; a request whose body
// cannot be replayed still gets the token reported, but its answer is
// returned as it is. Answers of up to MaxInspectBytes that may be JSON are
// read to be inspected and handed back readable from the start; others are
// passed through unread.
//
// The request URLs carry the token, so do not log them.
func (c *Client) Transport(appID string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, appID: appID, base: base}
}

type transport struct {
	c     *Client
	appID string
	base  http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	token, err := t.c.AccessToken(ctx, t.appID)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	first, replay, err := replayable(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(withToken(req, token, first))
	if err != nil {
		return nil, err
	}
	if !tokenRejected(resp) {
		return resp, nil
	}
	fresh, err := t.c.Invalidate(ctx, t.appID, token)
	if err != nil || replay == nil {
		// WeChat's own answer tells the caller more than a failed report
		// would.
		return resp, nil
	}
	if fresh == token && !pause(ctx, RetryPause) {
		return resp, nil
	}
	body, err := replay()
	if err != nil {
		return resp, nil
	}
	resp.Body.Close()
	return t.base.RoundTrip(withToken(req, fresh, body))
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

// replayable returns the body to send first and a way to get it again for
// the retry; replay is nil when the body cannot be sent twice.
func replayable(req *http.Request) (first io.ReadCloser, replay func() (io.ReadCloser, error), err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, func() (io.ReadCloser, error) { return req.Body, nil }, nil
	}
	if req.GetBody != nil {
		return req.Body, req.GetBody, nil
	}
	if req.ContentLength > MaxInspectBytes {
		return req.Body, nil, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxInspectBytes+1))
	if err != nil {
		req.Body.Close()
		return nil, nil, err
	}
	if len(buf) > MaxInspectBytes {
		// Too long to keep: send what was read followed by the rest.
		return readCloser{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}, nil, nil
	}
	req.Body.Close()
	return io.NopCloser(bytes.NewReader(buf)), func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf)), nil
	}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// closeBody closes the body of a request that will not be sent, as a
// RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// withToken returns a copy of req with token as its only access_token
// parameter and body as its body. The rest of the query is kept byte for
// byte, since some WeChat APIs are picky about their parameters.
func withToken(req *http.Request, token string, body io.ReadCloser) *http.Request {
	r := req.Clone(req.Context())
	u := *req.URL
	var kept []string
	if u.RawQuery != "" {
		for _, p := range strings.Split(u.RawQuery, "&") {
			name, _, _ := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil && n == "access_token" {
				continue
			}
			kept = append(kept, p)
		}
	}
	u.RawQuery = strings.Join(append(kept, "access_token="+url.QueryEscape(token)), "&")
	r.URL = &u
	r.Body = body
	// The retry's body must come from the same source as the first's.
	r.GetBody = nil
	return r
}

// tokenRejected reports whether resp is WeChat saying the token is dead.
// It reads the body of a small answer that may be JSON and puts it back,
// readable from the start, so the caller never notices.
func tokenRejected(resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK || resp.ContentLength > MaxInspectBytes || !maybeJSON(resp.Header.Get("Content-Type")) {
		return false
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, MaxInspectBytes+1))
	if err != nil || len(buf) > MaxInspectBytes {
		// Hand back what was read followed by the rest, and the read
		// error, if any, where the caller will meet it.
		var rest io.Reader = resp.Body
		if err != nil {
			rest = errReader{err}
		}
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), rest), resp.Body}
		return false
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(buf))
	resp.ContentLength = int64(len(buf))
	var answer struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(buf, &answer) != nil {
		return false
	}
	switch answer.ErrCode {
	case errInvalidCredential, errInvalidToken, errTokenExpired:
		return true
	}
	return false
}

// maybeJSON reports whether a body of this content type may be WeChat's
// JSON error answer. WeChat labels JSON application/json, but some APIs say
// text/plain, and a missing type is treated the same; media types are not.
func maybeJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || mt == "text/plain" || strings.HasSuffix(mt, "+json")
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
