package compat

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/internal/connguard"
)

// relayDeadlines holds the connection deadlines of one relayed call. The
// server's fixed read, write and idle limits suit the HTTP API, whose requests
// are small, but would cut a media upload that is streaming steadily: a
// relayed call is instead bounded by how long the caller pauses (between
// two reads of its body, or two writes of the answer) and, as a whole, by
// end. All methods do nothing on a nil *relayDeadlines.
type relayDeadlines struct {
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (h *Handler) newDeadlines(ex *exchange, r *http.Request) *relayDeadlines {
	d := &relayDeadlines{rc: http.NewResponseController(ex.w), idle: h.bodyIdle, end: ex.start.Add(h.maxRelay)}
	// The server's connection guard leaves this call's connection to the
	// deadlines below.
	connguard.Exempt(r.Context())
	// Nothing is written until the upstream has answered, so the write
	// deadline only has to cover the whole call; each write then moves it
	// to one pause from now.
	_ = d.rc.SetWriteDeadline(d.end)
	return d
}

// upstreamEnd is when the upstream call is given up: a moment after end,
// so that a body still coming from the caller at end fails on the
// caller's side first, and the caller is told so; a call still waiting
// for WeChat then is WeChat's failure.
func (d *relayDeadlines) upstreamEnd() time.Time { return d.end.Add(time.Second) }

// nextRead is one pause from now, or end if that comes first.
func (d *relayDeadlines) nextRead() time.Time {
	t := time.Now().Add(d.idle)
	if t.After(d.end) {
		return d.end
	}
	return t
}

// extendRead gives the caller one pause for the next bytes of its body.
// Errors mean a writer without deadlines (a test recorder); there is
// nothing to move then.
func (d *relayDeadlines) extendRead() {
	if d != nil {
		_ = d.rc.SetReadDeadline(d.nextRead())
	}
}

// bodyDone lifts the read deadline once the caller's body is read. The
// server then reads the connection in the background only to notice a
// caller that goes away, and a deadline expiring there would cancel the
// call while WeChat is still answering; the wait for WeChat is bounded by
// the upstream call's own deadline instead.
func (d *relayDeadlines) bodyDone() {
	if d != nil {
		_ = d.rc.SetReadDeadline(time.Time{})
	}
}

// extendWrite gives the caller one pause to take the next bytes of the
// answer. It is not held to end: an answer saying the call took too long
// is written after it, and a relayed answer ends there anyway, since the
// upstream call's context does.
func (d *relayDeadlines) extendWrite() {
	if d != nil {
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	}
}

// callerBody is the request body of a relayed call as it is read from the
// caller. Each read moves the read deadline on by one pause, and a failed
// read is kept, so that a call that fails can be blamed on the side that
// failed it: the caller's upload, or WeChat.
type callerBody struct {
	rc io.ReadCloser
	d  *relayDeadlines

	// The upstream transport reads the body on a goroutine of its own,
	// which may still be in Read when the call has failed for another
	// reason.
	mu   sync.Mutex
	n    int64
	err  error
	done bool
}

func (b *callerBody) Read(p []byte) (int, error) {
	b.d.extendRead()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.done = true
	case err != nil && b.err == nil:
		b.err = err
	}
	b.mu.Unlock()
	if err == io.EOF {
		b.d.bodyDone()
	}
	return n, err
}

// Close leaves the caller's body open: the upstream transport closes the
// body it sent when the call ends, but the caller's connection is the
// server's to close, after what is left of the body has been dealt with.
func (b *callerBody) Close() error { return nil }

// failed returns the error that reading the caller's body met, if any,
// and how many bytes had come by then.
func (b *callerBody) failed() (int64, error) {
	if b == nil {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n, b.err
}

// callerFailed answers a relayed call whose caller did not send its body
// whole. The call did not reach WeChat whole and so was not made; the
// answer and the log say that the caller's side failed, not WeChat.
//
// A body that stalled is answered HTTP 408, as a web server answers a
// client that stops sending mid-request, with errcode 47001 (WeChat's
// "data format error": what arrived is not a whole request). Neither is
// -1, which SDKs retry as "system busy": the same slow upload would fail
// the same way.
func (h *Handler) callerFailed(ex *exchange, r *http.Request, caller *callerBody) {
	got, err := caller.failed()
	status, msg := http.StatusBadRequest, "the request body broke off"
	capped := false
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(ex.deadlines.end):
		capped = true
		status, msg = http.StatusRequestTimeout, "the request body took longer than "+h.maxRelay.String()+", the most a relayed call may take"
	case errors.Is(err, os.ErrDeadlineExceeded):
		status, msg = http.StatusRequestTimeout, "the request body stalled: nothing came for "+h.bodyIdle.String()
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "a relayed call was not made: the caller did not send its request body whole",
		slog.String("route", ex.route.pattern), slog.String("appid", ex.app), slog.String("side", "caller"),
		slog.String("reason", msg), slog.Int64("body_bytes", got), slog.Duration("took", time.Since(ex.start)))
	// The unread rest of the body makes the connection useless.
	ex.Header().Set("Connection", "close")
	h.failStatus(ex, status, errDataFormat, msg+"; the call was not made at WeChat")
	if capped && caller != nil {
		// The caller is still sending. Closing a connection with data
		// unread resets it, and the answer may be lost with it: send the
		// answer now and take a little more of the body while the caller
		// reads it.
		_ = ex.deadlines.rc.Flush()
		_ = ex.deadlines.rc.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(caller.rc, lingerBytes))
	}
}

// lingerTime and lingerBytes bound what is read of a body after it has
// been answered.
const (
	lingerTime  = time.Second
	lingerBytes = 4 << 20
)
