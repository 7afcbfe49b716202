package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken"
)

// StatusOf returns the HTTP status that answers an error of code: the one
// table the server writes by and, through CodeOf, the client reads by.
// Codes outside the table, and the empty code, are 500.
func StatusOf(code wxtoken.Code) int {
	switch code {
	case wxtoken.EInvalid:
		return http.StatusBadRequest
	case wxtoken.EUnauthorized:
		return http.StatusUnauthorized
	case wxtoken.EForbidden:
		return http.StatusForbidden
	case wxtoken.ENotFound:
		return http.StatusNotFound
	case wxtoken.EConflict:
		return http.StatusConflict
	case wxtoken.ERateLimited:
		return http.StatusTooManyRequests
	case wxtoken.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// codes lists every code StatusOf maps, so CodeOf can invert that one
// table instead of keeping a second one that could drift from it.
func codes() [8]wxtoken.Code {
	return [8]wxtoken.Code{
		wxtoken.EInvalid, wxtoken.EUnauthorized, wxtoken.EForbidden, wxtoken.ENotFound, wxtoken.EConflict,
		wxtoken.ERateLimited, wxtoken.EUnavailable, wxtoken.EInternal,
	}
}

// CodeOf returns the error code for an HTTP status, the inverse of
// StatusOf. For a status outside the table it answers what a caller
// should do about it: another 5xx (a proxy's 502 or 504 in front of the
// server) or a 408 means no credential can be had right now but asking
// again may work, EUnavailable; another 4xx (405, 413, a proxy's 414...)
// is the caller's mistake, EInvalid; anything else is EInternal.
func CodeOf(status int) wxtoken.Code {
	for _, c := range codes() {
		if StatusOf(c) == status {
			return c
		}
	}
	switch {
	case status == http.StatusRequestTimeout:
		return wxtoken.EUnavailable
	case status >= 400 && status < 500:
		return wxtoken.EInvalid
	case status >= 500 && status < 600:
		return wxtoken.EUnavailable
	}
	return wxtoken.EInternal
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes an error: its code, a message safe to show (never a
// secret, key, token or internal detail) and, where WeChat's answer is the
// cause, WeChat's errcode.
type ErrorBody struct {
	Code          wxtoken.Code `json:"code"`
	Message       string       `json:"message"`
	WeChatErrCode int          `json:"wechat_errcode,omitempty"`
}

// retryAfterer is what an error in a Service error's chain may implement
// to say when asking again can succeed; 429 and 503 answers then carry
// Retry-After. It is matched by method, so the engine need not import
// this package.
type retryAfterer interface {
	RetryAfter() time.Duration
}

// describe turns an error from the Service (or from this package) into
// what the caller is shown. Only an *wxtoken.Error's Code, Message and
// WeChatErrCode ever reach the caller; everything else becomes a generic
// message, its details kept for the log.
func describe(err error) ErrorBody {
	var e *wxtoken.Error
	if !errors.As(err, &e) {
		// A bare context error means the request's own context ended
		// while waiting: the caller went away or a server timeout hit.
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return ErrorBody{Code: wxtoken.EUnavailable, Message: "timed out waiting for the credential"}
		case errors.Is(err, context.Canceled):
			return ErrorBody{Code: wxtoken.EUnavailable, Message: "request canceled"}
		}
		return ErrorBody{Code: wxtoken.EInternal, Message: wxtoken.ErrorMessage(err)}
	}
	b := ErrorBody{Code: e.Code, Message: e.Message, WeChatErrCode: e.WeChatErrCode}
	if StatusOf(b.Code) == http.StatusInternalServerError && b.Code != wxtoken.EInternal {
		// A code outside the table would leave the client unable to map
		// the answer back; say internal, which is what it is.
		b.Code, b.Message = wxtoken.EInternal, "internal error"
	}
	if b.Message == "" {
		b.Message = http.StatusText(StatusOf(b.Code))
	}
	return b
}

// writeError answers err. Internal errors are logged with their cause,
// which never goes to the caller.
func (h *Handler) writeError(ex *exchange, r *http.Request, err error) {
	body := describe(err)
	status := StatusOf(body.Code)
	ex.errCode = body.Code
	hdr := ex.Header()
	switch status {
	case http.StatusUnauthorized:
		hdr.Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		var ra retryAfterer
		if errors.As(err, &ra) {
			if d := ra.RetryAfter(); d > 0 {
				// Whole seconds, rounded up: asking a moment early only
				// earns another 429.
				hdr.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
			}
		}
	case http.StatusInternalServerError:
		h.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("route", ex.route), slog.String("client", ex.client), slog.String("error", err.Error()))
	}
	h.writeJSON(ex, status, ErrorResponse{Error: body})
}
