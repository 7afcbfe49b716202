package refresh

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/simulator"
)

// A refresh that the engine's own shutdown cuts short says nothing about
// WeChat: it is neither logged as an upstream failure nor recorded as the
// credential's last error.
func TestShutdownIsNoUpstreamFailure(t *testing.T) {
	logs := &logbuf.Buffer{}
	h := newHarness(t, wxtoken.TokenAPIClassic, nil, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	h.get(wxtoken.KindAccessToken)
	if err := h.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Kind: simulator.FaultSlow, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	calls := h.calls(simulator.EndpointToken)
	h.clk.Advance(50 * time.Minute) // past the planned refresh
	deadline := time.Now().Add(10 * time.Second)
	for h.calls(simulator.EndpointToken) == calls {
		if time.Now().After(deadline) {
			t.Fatal("the planned refresh never reached the simulator")
		}
		time.Sleep(5 * time.Millisecond) // the call starts on the engine's goroutine
	}
	if err := h.eng.Close(); err != nil {
		t.Fatal(err)
	}
	// Close does not wait for the refresh itself, which runs apart from
	// its callers; it holds the credential's flight lock to its end.
	tok := h.eng.app(appA).token
	tok.flight.Lock()
	//lint:ignore SA2001 an empty critical section: waiting for the holder is the point
	tok.flight.Unlock()
	if l := logs.String(); strings.Contains(l, "refresh failed") {
		t.Errorf("a refresh cut short by shutdown was logged as an upstream failure:\n%s", l)
	}
	if le := h.eng.Status(t.Context())[0].Credentials[0].LastError; le != nil {
		t.Errorf("a refresh cut short by shutdown was recorded as the last error: %+v", le)
	}
}
