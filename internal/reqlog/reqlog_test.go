package reqlog

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/metrics"
)

func TestObserve(t *testing.T) {
	m := metrics.New()
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := Request{Route: "GET /x", Metrics: m.Route("GET /x"), Start: time.Now(), Client: "shop"}
	Observe(context.Background(), log, "http request", r, func(a []slog.Attr) []slog.Attr {
		return append(a, slog.String("code", "not_found"))
	})
	line := logs.String()
	for _, want := range []string{`msg="http request"`, `route="GET /x"`, "status=200", "client=shop", "code=not_found"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `route="GET /x"`) || !strings.Contains(rec.Body.String(), `status="200"`) {
		t.Errorf("the request is not in the metrics:\n%s", rec.Body)
	}

	// Below debug level: counted, not logged, and extra is not asked for.
	var quietLogs logbuf.Buffer
	quiet := slog.New(slog.NewTextHandler(&quietLogs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	Observe(context.Background(), quiet, "http request", r, func([]slog.Attr) []slog.Attr {
		t.Error("extra asked for a line that is not written")
		return nil
	})
	if quietLogs.String() != "" {
		t.Errorf("logged below debug level: %q", quietLogs.String())
	}
}

func TestPanicked(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if !Panicked(context.Background(), log, "panic", "GET /x", http.ErrAbortHandler) || logs.String() != "" {
		t.Errorf("an abort must be re-panicked without a log line; logged %q", logs.String())
	}
	if Panicked(context.Background(), log, "panic serving request", "GET /x", errors.New("boom")) {
		t.Error("a panic was to be re-panicked")
	}
	for _, want := range []string{"level=ERROR", `msg="panic serving request"`, "panic=boom", "stack="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %s", logs.String(), want)
		}
	}
}
