package wxtoken

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an application error; the HTTP layer maps each code to
// one status and the client maps it back.
type Code string

// The error codes.
const (
	EInvalid      Code = "invalid"      // bad input from the caller
	EUnauthorized Code = "unauthorized" // no or unknown client key
	EForbidden    Code = "forbidden"    // key not granted this app
	ENotFound     Code = "not_found"    // unknown app or credential type
	EConflict     Code = "conflict"     // the change clashes with what is kept
	ERateLimited  Code = "rate_limited" // refresh asked too often
	EUnavailable  Code = "unavailable"  // no valid credential can be served now
	EInternal     Code = "internal"     // a bug or a store failure
)

// Error is the application error that crosses package boundaries: what
// went wrong, in words safe to show a caller (no secrets), and where WeChat
// caused it, WeChat's errcode.
type Error struct {
	Code    Code
	Message string
	// WeChatErrCode is WeChat's errcode when WeChat's answer is the cause;
	// zero otherwise.
	WeChatErrCode int
	// Err is the underlying cause, for logs and errors.Is; never shown to
	// callers.
	Err error
	// Retry, when positive, is how long the caller should wait before
	// asking again (HTTP Retry-After).
	Retry time.Duration
}

// RetryAfter returns how long the caller should wait before asking again:
// Retry, or else what a wrapped error says; zero when unknown.
func (e *Error) RetryAfter() time.Duration {
	if e.Retry > 0 {
		return e.Retry
	}
	var ra interface{ RetryAfter() time.Duration }
	if e.Err != nil && errors.As(e.Err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of the first *Error in err's chain, or
// EInternal when there is none (and "" for a nil err).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: the Message of the
// first *Error in its chain, or a generic text for anything else, whose
// details stay in the logs.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
