package e2e_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/wxtoken/wxtoken/redis"
)

func TestMain(m *testing.M) {
	// The Redis client's own log lines (a failed dial each time while the
	// outage tests stop Redis) would bury the test output; the servers'
	// logs say what matters.
	redis.RouteClientLog(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
