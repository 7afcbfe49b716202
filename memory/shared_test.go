package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/storetest"
	"github.com/wxtoken/wxtoken/memory"
)

// A replica of a Shared store is a Store like any other.
func TestSharedStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return memory.NewShared(memory.SharedOptions{}).Replica("replica-a", nil)
	})
}

// And its replicas coordinate as those of a Redis store do.
func TestSharedCoordinatorContract(t *testing.T) {
	shared := map[string]*memory.Shared{}
	owners := 0
	storetest.RunCoordinator(t, func(t *testing.T, ns string, now func() time.Time) storetest.Shared {
		h, ok := shared[ns]
		if !ok {
			h = memory.NewShared(memory.SharedOptions{})
			shared[ns] = h
		}
		owners++
		return h.Replica(fmt.Sprintf("replica-%d", owners), now)
	})
}

// watchLog is a Watcher that hands what it is told to the test.
type watchLog struct {
	changed chan string
	synced  chan error
	reset   chan struct{}
}

func newWatchLog() *watchLog {
	return &watchLog{changed: make(chan string, 100), synced: make(chan error, 100), reset: make(chan struct{}, 10)}
}

func (w *watchLog) Changed(appID string, kind wxtoken.Kind, v uint64) {
	w.changed <- fmt.Sprintf("%s/%s@%d", appID, kind, v)
}
func (w *watchLog) EntryChanged(id string, v uint64) { w.changed <- fmt.Sprintf("entry %s@%d", id, v) }
func (w *watchLog) Synced(_ time.Time, err error)    { w.synced <- err }
func (w *watchLog) Reset()                           { w.reset <- struct{}{} }

// Fail makes every call fail and every watch report the failure until it
// is lifted; Wipe loses the data and leases and makes the watches reset.
func TestSharedFailAndWipe(t *testing.T) {
	h := memory.NewShared(memory.SharedOptions{SyncEvery: time.Hour})
	a := h.Replica("a", nil)
	ctx := t.Context()
	c := wxtoken.Credential{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "v", Version: 1,
		FetchedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), RefreshAt: time.Now().Add(time.Minute)}
	if err := a.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	w := newWatchLog()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = a.Watch(wctx, w) }()
	if got := <-w.changed; got != "wx00000000000000aa/access_token@1" {
		t.Fatalf("first change %q", got)
	}
	if err := <-w.synced; err != nil {
		t.Fatal(err)
	}

	down := errors.New("connection refused")
	h.Fail(down)
	if _, err := a.Get(ctx, c.AppID, c.Kind); !errors.Is(err, down) {
		t.Fatalf("Get while failing: %v", err)
	}
	if _, err := a.AcquireLease(ctx, "x", time.Minute); !errors.Is(err, down) {
		t.Fatalf("AcquireLease while failing: %v", err)
	}
	if err := <-w.synced; !errors.Is(err, down) {
		t.Fatalf("the watch reported %v while failing", err)
	}
	h.Fail(nil)
	if err := <-w.synced; err != nil {
		t.Fatalf("the watch reported %v after the failure was lifted", err)
	}

	if _, err := a.AcquireLease(ctx, "x", time.Minute); err != nil {
		t.Fatal(err)
	}
	h.Wipe()
	<-w.reset
	if _, err := a.Get(ctx, c.AppID, c.Kind); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Fatalf("Get after a wipe: %v", err)
	}
	if _, err := a.AcquireLease(ctx, "x", time.Minute); err != nil {
		t.Fatalf("the lease survived the wipe: %v", err)
	}
}
