package compat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/wxtoken/wxtoken"
)

// contentTypeWX is the content type WeChat labels its JSON answers with;
// some SDKs parse an answer only when it says JSON.
const contentTypeWX = "application/json; encoding=utf-8"

// The errcodes the front door answers with itself, each WeChat's own for
// the same situation, so that SDKs handle them as they handle WeChat's.
const (
	errSystem            = -1    // system busy: the SDK may try again
	errInvalidCredential = 40001 // an access_token wxtoken did not hand out, or a bad client key
	errInvalidGrantType  = 40002
	errInvalidAppID      = 40013
	errInvalidToken      = 40014
	errInvalidURL        = 40066
	errInvalidArgs       = 40097
	errInvalidSecret     = 40125
	errMissingToken      = 41001
	errMissingAppID      = 41002
	errMissingSecret     = 41004
	errTokenExpired      = 42001
	errRequireGET        = 43001
	errRequirePOST       = 43002
	errDataFormat        = 47001
	errUnauthorized      = 48001 // api unauthorized: the client key is not granted the app
)

// errorBody is WeChat's failure answer.
type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// tokenBody is WeChat's access_token answer.
type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// ticketBody is WeChat's getticket answer.
type ticketBody struct {
	ErrCode   int    `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
}

// fail answers errcode with msg, which must hold nothing secret. The
// "wxtoken:" prefix tells an operator reading an SDK's error that the
// answer came from wxtoken, not from WeChat.
func (h *Handler) fail(ex *exchange, errcode int, msg string) {
	h.failStatus(ex, http.StatusOK, errcode, msg)
}

// failStatus is fail with another HTTP status than WeChat's 200, for the
// one failure WeChat would answer so too (a request body that stalled).
func (h *Handler) failStatus(ex *exchange, status, errcode int, msg string) {
	ex.errcode = errcode
	h.writeJSONStatus(ex, status, errorBody{ErrCode: errcode, ErrMsg: "wxtoken: " + msg})
}

// writeJSON answers v with HTTP 200, as WeChat answers success and failure
// alike. Answers can hold credentials: no cache may keep them.
func (h *Handler) writeJSON(ex *exchange, v any) {
	h.writeJSONStatus(ex, http.StatusOK, v)
}

func (h *Handler) writeJSONStatus(ex *exchange, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only this package's plain structs come here.
		b = []byte(`{"errcode":-1,"errmsg":"wxtoken: internal error"}`)
	}
	hdr := ex.Header()
	hdr["Content-Type"] = h.jsonType
	hdr["Cache-Control"] = h.noStore
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	ex.WriteHeader(status)
	_, _ = ex.Write(b)
}

// serviceFailed answers an error of the Service in WeChat's terms: the
// errcode WeChat gave wxtoken when WeChat is the cause, else -1 (system
// busy), which SDKs retry. Only an *wxtoken.Error's message, which is safe
// to show, reaches the caller.
func (h *Handler) serviceFailed(ex *exchange, r *http.Request, err error) {
	var e *wxtoken.Error
	switch {
	case errors.As(err, &e):
		code := errSystem
		if e.WeChatErrCode != 0 {
			code = e.WeChatErrCode
		}
		if e.Code == wxtoken.EInternal {
			h.log.LogAttrs(r.Context(), slog.LevelError, "front door request failed",
				slog.String("route", ex.route.pattern), slog.String("error", err.Error()))
		}
		h.fail(ex, code, e.Message)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		h.fail(ex, errSystem, "system busy: gave up waiting for the credential")
	default:
		h.log.LogAttrs(r.Context(), slog.LevelError, "front door request failed",
			slog.String("route", ex.route.pattern), slog.String("error", err.Error()))
		h.fail(ex, errSystem, "internal error")
	}
}

// seconds is a grant's lifetime as WeChat's whole-second expires_in, or
// 0 when less than a second is left, which no caller can use.
func seconds(g wxtoken.Grant) int64 {
	if g.Value == "" {
		return 0
	}
	return int64(g.ExpiresIn.Seconds())
}
