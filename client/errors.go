package client

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/wxtoken/wxtoken"
)

// errorBody is the server's error answer.
type errorBody struct {
	Error *struct {
		Code          wxtoken.Code `json:"code"`
		Message       string       `json:"message"`
		WeChatErrCode int          `json:"wechat_errcode"`
	} `json:"error"`
}

// decodeError turns a non-200 answer of the server into a *wxtoken.Error.
// The body's code is used when it is one the client knows; otherwise, as
// for a proxy's HTML error page, the code follows from the status.
func decodeError(status int, body []byte) *wxtoken.Error {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		e := &wxtoken.Error{Code: eb.Error.Code, Message: eb.Error.Message, WeChatErrCode: eb.Error.WeChatErrCode}
		if !knownCode(e.Code) {
			e.Code = statusCode(status)
		}
		if e.Message == "" {
			e.Message = statusMessage(status)
		}
		return e
	}
	return &wxtoken.Error{Code: statusCode(status), Message: statusMessage(status)}
}

func knownCode(c wxtoken.Code) bool {
	switch c {
	case wxtoken.EInvalid, wxtoken.EUnauthorized, wxtoken.EForbidden, wxtoken.ENotFound, wxtoken.EConflict,
		wxtoken.ERateLimited, wxtoken.EUnavailable, wxtoken.EInternal:
		return true
	}
	return false
}

// statusCode is the inverse of the server's code-to-status table, extended
// to the statuses that proxies and load balancers answer with.
func statusCode(status int) wxtoken.Code {
	switch {
	case status == http.StatusBadRequest:
		return wxtoken.EInvalid
	case status == http.StatusUnauthorized:
		return wxtoken.EUnauthorized
	case status == http.StatusForbidden:
		return wxtoken.EForbidden
	case status == http.StatusNotFound:
		return wxtoken.ENotFound
	case status == http.StatusConflict:
		return wxtoken.EConflict
	case status == http.StatusTooManyRequests:
		return wxtoken.ERateLimited
	case status == http.StatusInternalServerError:
		return wxtoken.EInternal
	case status == http.StatusRequestTimeout || status >= 500:
		// 502, 503 and 504 say that nothing can be served now, which is
		// what EUnavailable means, whoever answered.
		return wxtoken.EUnavailable
	case status >= 400:
		return wxtoken.EInvalid
	default:
		// A 1xx or 3xx that was not followed: the server is not one this
		// client understands.
		return wxtoken.EInternal
	}
}

func statusMessage(status int) string {
	if text := http.StatusText(status); text != "" {
		return fmt.Sprintf("the wxtoken server answered HTTP %d %s", status, text)
	}
	return fmt.Sprintf("the wxtoken server answered HTTP %d", status)
}
