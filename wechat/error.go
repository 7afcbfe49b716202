package wechat

import (
	"errors"
	"fmt"
	"strings"
)

// APIError is an answer in which WeChat reported a failure: HTTP 200 with
// a non-zero errcode.
type APIError struct {
	// Endpoint is the path that answered, e.g. "/cgi-bin/stable_token".
	Endpoint string
	ErrCode  int
	ErrMsg   string
	// RID is the request id WeChat appends to errmsg ("rid: ..."), which
	// /cgi-bin/openapi/rid/get can explain; empty when absent.
	RID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechat %s: errcode %d: %s", e.Endpoint, e.ErrCode, e.ErrMsg)
}

// parseRID returns the request id at the end of an errmsg such as
// "invalid ip 1.2.3.4 ... rid: 6579b4c3-1f2e3d4c-5b6a7988".
func parseRID(errmsg string) string {
	i := strings.LastIndex(errmsg, "rid:")
	if i < 0 {
		return ""
	}
	rid := strings.TrimSpace(errmsg[i+len("rid:"):])
	if j := strings.IndexAny(rid, " \t\r\n,;"); j >= 0 {
		rid = rid[:j]
	}
	return rid
}

// TransportError is a failure to get a usable answer from WeChat at all: the
// connection failed or timed out, the status was not 200, or the body was
// not a well-formed answer (an HTML page, malformed JSON, an empty or
// oversized credential, an absurd expires_in). Its text never carries a
// query string, so neither an AppSecret nor a token can leak through it.
type TransportError struct {
	Endpoint string
	// Host is the base URL's host that was tried last.
	Host string
	// Status is the HTTP status, or 0 when none was received.
	Status int
	// Reason says what was wrong, in words safe to log.
	Reason string
	Err    error
}

func (e *TransportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat %s", e.Endpoint)
	if e.Host != "" {
		fmt.Fprintf(&b, " via %s", e.Host)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *TransportError) Unwrap() error { return e.Err }

// Reasons of a TransportError for a call that was never sent.
const (
	reasonNotSent   = "cancelled before the call"
	reasonNoRequest = "cannot build request"
)

// Unanswered reports whether err says that a call may have reached WeChat
// without its answer coming back: it timed out, its connection failed, or
// it was cancelled, while in flight. WeChat may carry such a call out
// after its sender gave up on it.
func Unanswered(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Status == 0 && te.Reason != reasonNotSent && te.Reason != reasonNoRequest
}

// errBadAnswer marks a body that is not a well-formed answer.
var errBadAnswer = errors.New("bad answer")

// IsTokenRejected reports whether err is WeChat saying that the
// access_token used for a call (not a token call) is dead: invalid, not the
// latest, or expired. On the open platform's api_create_preauthcode,
// api_query_auth and api_authorizer_token the token is the
// component_access_token.
func IsTokenRejected(err error) bool {
	var api *APIError
	if !errors.As(err, &api) || isTokenEndpoint(api.Endpoint) {
		return false
	}
	switch api.ErrCode {
	case ErrInvalidCredential, ErrInvalidToken, ErrTokenExpired:
		return true
	}
	return false
}

// isTokenEndpoint reports whether p is called with a secret rather than
// an access_token, so that 40001 there means a wrong secret.
func isTokenEndpoint(p string) bool {
	switch p {
	case PathToken, PathStableToken, PathWeComToken, PathComponentToken, PathStartPushTicket:
		return true
	}
	return false
}

// IsComponentEndpoint reports whether p is one of the open platform's
// endpoints under /cgi-bin/component/, whose 61004 means the platform's
// own IP whitelist.
func IsComponentEndpoint(p string) bool {
	switch p {
	case PathComponentToken, PathStartPushTicket, PathPreAuthCode, PathQueryAuth, PathAuthorizerToken:
		return true
	}
	return false
}

// IsWeComEndpoint reports whether p is one of WeCom's credential
// endpoints, whose errcodes read differently from the Official Account's
// (45009 is a frequency limit there, not a daily quota).
func IsWeComEndpoint(p string) bool {
	return p == PathWeComToken || p == PathWeComJSAPITicket || p == PathWeComTicket
}
