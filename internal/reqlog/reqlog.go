// Package reqlog is what the HTTP API and the WeChat-compatible front door
// do alike once a request has been answered: count and time it in its
// route's metrics, write it to the debug log, and turn a handler's panic
// into a logged error instead of a crash.
package reqlog

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/wxtoken/wxtoken/metrics"
)

// Request is what one answered request leaves behind.
type Request struct {
	// Route is the matched route's pattern, and Metrics its metrics.
	Route   string
	Metrics *metrics.RouteMetrics
	// Status is the status written; 0 stands for net/http's implicit 200.
	Status int
	// Start is when serving began.
	Start time.Time
	// Client names the authenticated client, "" for none.
	Client string
}

// Observe records r in its route's metrics and, at debug level, in log
// as msg with r's fields followed by extra, which is asked for only when
// the line is written.
func Observe(ctx context.Context, log *slog.Logger, msg string, r Request, extra func([]slog.Attr) []slog.Attr) {
	took := time.Since(r.Start)
	status := r.Status
	if status == 0 {
		// Nothing written: net/http answers 200 with an empty body.
		status = http.StatusOK
	}
	r.Metrics.Observe(status, took)
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("route", r.Route), slog.Int("status", status), slog.Duration("took", took))
	if r.Client != "" {
		attrs = append(attrs, slog.String("client", r.Client))
	}
	if extra != nil {
		attrs = extra(attrs)
	}
	log.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// Panicked logs p, a value a handler panicked with while serving route,
// with the stack, and reports whether the handler must re-panic it:
// http.ErrAbortHandler is a deliberate abort, which net/http turns into a
// dropped connection without a log line, and it is not logged here either.
func Panicked(ctx context.Context, log *slog.Logger, msg, route string, p any) (repanic bool) {
	if p == http.ErrAbortHandler {
		return true
	}
	log.LogAttrs(ctx, slog.LevelError, msg,
		slog.String("route", route), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	return false
}
