package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/redistest"
)

// Durability reads what the server is configured to keep, on a
// redis-server of the test's own whose configuration the test changes.
func TestDurability(t *testing.T) {
	srv := redistest.StartServer(t)
	// The server is the test's own: no other test's keys to keep apart.
	s := open(t, srv.Addr, "durability:", "replica-a", nil)
	defer s.Close()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	set := func(name, value string) {
		t.Helper()
		if err := admin.ConfigSet(ctx, name, value).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %q: %v", name, value, err)
		}
	}
	check := func(wantDurable bool, wantDetail ...string) {
		t.Helper()
		durable, detail, err := s.Durability(ctx)
		if err != nil {
			t.Fatalf("Durability: %v", err)
		}
		if durable != wantDurable {
			t.Errorf("Durability = %v (%s), want %v", durable, detail, wantDurable)
		}
		for _, w := range wantDetail {
			if !strings.Contains(detail, w) {
				t.Errorf("Durability's detail %q does not say %q", detail, w)
			}
		}
	}

	// The test server starts with neither AOF nor RDB.
	check(false, "appendonly no", "loses every entry")
	set("save", "900 1 300 10")
	check(true, "RDB", `"900 1 300 10"`, "minutes")
	set("save", "")
	set("appendonly", "yes")
	check(true, "append-only file on", "everysec", "last second")
	set("appendfsync", "no")
	check(true, "append-only file on", "operating system")
	set("appendfsync", "always")
	check(true, "every write")
	set("save", "3600 1")
	check(true, "append-only file on", "RDB snapshots")

	// A managed Redis that refuses CONFIG: an error that says so.
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "-config").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	durable, detail, err := s.Durability(ctx)
	if err == nil {
		t.Fatalf("Durability with CONFIG refused = %v, %q; want an error", durable, detail)
	}
	for _, w := range []string{"CONFIG GET", "refused", "provider"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Durability's error %q does not say %q", err, w)
		}
	}
	if durable {
		t.Error("Durability reported durable along with an error")
	}
	t.Logf("with CONFIG refused: %v", err)

	// A Redis that does not answer is not mistaken for one that refuses.
	srv.Stop()
	if _, _, err := s.Durability(ctx); err == nil || strings.Contains(err.Error(), "refused, as managed") {
		t.Errorf("Durability with Redis stopped: err = %v, want an error that does not blame the provider", err)
	}
}
