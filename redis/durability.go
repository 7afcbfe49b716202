package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Durability asks Redis (CONFIG GET) whether it persists what is written
// to it, which an authorizer's refresh token needs: PutEntry returns once
// Redis has the write, and a Redis that keeps nothing on disk loses it in
// a restart.
//
// durable is true with the append-only file on (appendonly yes), which
// loses at most the last second of writes with appendfsync everysec and
// none with always, or with an RDB save schedule, which loses every write
// since the last snapshot: the last minutes, by the usual schedules.
// detail says which, in words for an operator's log.
//
// A managed Redis often refuses CONFIG; err then says so, and persistence
// has to be checked with the provider. A Redis that cannot be reached is
// an error too.
func (s *Store) Durability(ctx context.Context) (durable bool, detail string, err error) {
	cfg := map[string]string{}
	for _, name := range []string{"appendonly", "appendfsync", "save"} {
		m, err := s.c.ConfigGet(ctx, name).Result()
		var refused goredis.Error
		switch {
		case errors.As(err, &refused):
			return false, "", fmt.Errorf("redis store: durability: CONFIG GET %s was refused, as managed Redis services often do; check with the provider that persistence (AOF or RDB) is on: %w", name, err)
		case err != nil:
			return false, "", fmt.Errorf("redis store: durability: CONFIG GET %s: %w", name, err)
		}
		v, ok := m[name]
		if !ok {
			return false, "", fmt.Errorf("redis store: durability: CONFIG GET %s answered nothing; check with the provider that persistence (AOF or RDB) is on", name)
		}
		cfg[name] = strings.TrimSpace(v)
	}
	aof := strings.EqualFold(cfg["appendonly"], "yes")
	save := cfg["save"]
	switch {
	case aof && cfg["appendfsync"] == "always":
		detail = "append-only file on, fsynced at every write (appendfsync always)"
	case aof && cfg["appendfsync"] == "no":
		detail = "append-only file on, fsynced when the operating system flushes (appendfsync no): a crash of the machine may lose the last 30 seconds or so"
	case aof:
		detail = fmt.Sprintf("append-only file on (appendfsync %s): a crash may lose the last second of writes", cfg["appendfsync"])
	case save != "":
		detail = fmt.Sprintf("RDB snapshots only (save %q): a crash loses every write since the last snapshot, which may be the last minutes; turn appendonly on to keep refresh tokens safe", save)
	default:
		return false, "neither the append-only file nor RDB snapshots are on (appendonly no, save \"\"): a restart of Redis loses every entry and refresh token", nil
	}
	if aof && save != "" {
		detail += fmt.Sprintf(", and RDB snapshots (save %q)", save)
	}
	return true, detail, nil
}
