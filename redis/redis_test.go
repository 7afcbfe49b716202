package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/internal/storetest"
	"github.com/wxtoken/wxtoken/redis"
)

func open(t *testing.T, addr, prefix, owner string, now func() time.Time) *redis.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), redis.Options{
		Addrs: []string{addr}, Prefix: prefix, Owner: owner, Now: now, SyncInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestStoreContract(t *testing.T) {
	addr := redistest.Addr(t)
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return open(t, addr, redistest.Prefix(t, addr), "replica-a", nil)
	})
}

func TestCoordinatorContract(t *testing.T) {
	addr := redistest.Addr(t)
	prefixes := map[string]string{}
	owners := 0
	storetest.RunCoordinator(t, func(t *testing.T, ns string, now func() time.Time) storetest.Shared {
		p, ok := prefixes[ns]
		if !ok {
			p = redistest.Prefix(t, addr)
			prefixes[ns] = p
		}
		owners++
		return open(t, addr, p, "replica-"+string(rune('a'+owners%26))+"-"+ns, now)
	})
}
