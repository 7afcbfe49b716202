package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Shared is a Store that several replicas share, with its Coordinator.
type Shared interface {
	wxtoken.Store
	wxtoken.Coordinator
}

// OpenShared opens one replica's handle on the shared namespace ns, with
// now as that replica's clock. Handles opened with the same ns see the
// same data; the suite closes them.
type OpenShared func(t *testing.T, ns string, now func() time.Time) Shared

// RunCoordinator runs the contract suite of Coordinator: leases are
// exclusive, expire, and fence writes; changes reach the other replicas;
// and times survive replicas whose clocks disagree.
func RunCoordinator(t *testing.T, open OpenShared) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(now func() time.Time) Shared)
	}{
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpires", testLeaseExpires},
		{"FencedWriteAfterLeaseLost", testFencedAfterLoss},
		{"FencedWriteNeedsNewerVersion", testFencedStale},
		{"LeaseHolders", testLeaseHolders},
		{"WatchTellsOtherReplicas", testWatch},
		{"WatchTellsEntries", testWatchEntries},
		{"EntryTimesAcrossClocks", testEntrySkewedClocks},
		{"ClocksThatDisagree", testSkewedClocks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace()
			tc.fn(t, func(now func() time.Time) Shared {
				t.Helper()
				s := open(t, ns, now)
				if s == nil {
					t.Fatal("open returned a nil store")
				}
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
				return s
			})
		})
	}
}

func newNamespace() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func mustAcquire(t *testing.T, s Shared, name string, ttl time.Duration) wxtoken.Lease {
	t.Helper()
	l, err := s.AcquireLease(t.Context(), name, ttl)
	if err != nil {
		t.Fatalf("%s: AcquireLease(%s): %v", s.Owner(), name, err)
	}
	if l.Name != name || l.Owner != s.Owner() || l.Token == 0 {
		t.Fatalf("AcquireLease(%s) = %+v: want the name, the owner %s and a fencing token", name, l, s.Owner())
	}
	return l
}

func testLeaseExclusive(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	if a.Owner() == b.Owner() {
		t.Fatalf("two replicas share the owner name %q", a.Owner())
	}
	ctx := t.Context()
	name := wxtoken.CredentialKey(appA, wxtoken.KindAccessToken)
	la := mustAcquire(t, a, name, time.Minute)
	if _, err := b.AcquireLease(ctx, name, time.Minute); !errors.Is(err, wxtoken.ErrLeaseHeld) {
		t.Fatalf("second AcquireLease while held: err = %v, want ErrLeaseHeld", err)
	}
	if _, err := a.AcquireLease(ctx, name, time.Minute); !errors.Is(err, wxtoken.ErrLeaseHeld) {
		t.Fatalf("the holder acquiring again: err = %v, want ErrLeaseHeld", err)
	}
	// Another name is another lease.
	mustAcquire(t, b, wxtoken.CredentialKey(appA, wxtoken.KindJSAPITicket), time.Minute)
	if err := a.RenewLease(ctx, la, time.Minute); err != nil {
		t.Fatalf("RenewLease by the holder: %v", err)
	}
	// A lease value that is not the holder's does not renew or release.
	forged := la
	forged.Owner = b.Owner()
	if err := b.RenewLease(ctx, forged, time.Minute); !errors.Is(err, wxtoken.ErrLeaseLost) {
		t.Fatalf("RenewLease of another owner's lease: err = %v, want ErrLeaseLost", err)
	}
	if err := b.ReleaseLease(ctx, forged); err != nil {
		t.Fatalf("ReleaseLease of a lease not held: %v", err)
	}
	if _, err := b.AcquireLease(ctx, name, time.Minute); !errors.Is(err, wxtoken.ErrLeaseHeld) {
		t.Fatalf("a forged release freed the lease: err = %v", err)
	}
	if err := a.ReleaseLease(ctx, la); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	lb := mustAcquire(t, b, name, time.Minute)
	if lb.Token <= la.Token {
		t.Fatalf("fencing token %d after %d: want it to grow", lb.Token, la.Token)
	}
	if err := a.RenewLease(ctx, la, time.Minute); !errors.Is(err, wxtoken.ErrLeaseLost) {
		t.Fatalf("RenewLease of a released lease: err = %v, want ErrLeaseLost", err)
	}
}

func testLeaseExpires(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	name := wxtoken.CredentialKey(appA, wxtoken.KindAccessToken)
	const ttl = 300 * time.Millisecond
	start := time.Now()
	la := mustAcquire(t, a, name, ttl)
	// The holder crashed: nobody renews. Another replica gets the lease
	// once the TTL has run out, not before.
	var lb wxtoken.Lease
	for {
		l, err := b.AcquireLease(t.Context(), name, time.Minute)
		if err == nil {
			lb = l
			break
		}
		if !errors.Is(err, wxtoken.ErrLeaseHeld) {
			t.Fatalf("AcquireLease: %v", err)
		}
		if time.Since(start) > ttl+5*time.Second {
			t.Fatalf("the lease of a crashed holder did not expire within %v", ttl+5*time.Second)
		}
		time.Sleep(10 * time.Millisecond) // Redis's TTL runs on its own clock; there is nothing to wait on
	}
	if took := time.Since(start); took < ttl-20*time.Millisecond {
		t.Fatalf("the lease was taken over after %v, before its TTL of %v", took, ttl)
	}
	if lb.Token <= la.Token {
		t.Fatalf("fencing token %d after %d: want it to grow", lb.Token, la.Token)
	}
}

func testFencedAfterLoss(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	ctx := t.Context()
	name := wxtoken.CredentialKey(appA, wxtoken.KindAccessToken)
	la := mustAcquire(t, a, name, time.Minute)
	if err := a.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, 1), la); err != nil {
		t.Fatalf("PutFenced by the holder: %v", err)
	}
	// a pauses; its lease is gone (released here, as expiry would) and b
	// takes over and writes version 2.
	if err := a.ReleaseLease(ctx, la); err != nil {
		t.Fatal(err)
	}
	lb := mustAcquire(t, b, name, time.Minute)
	if err := b.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, 2), lb); err != nil {
		t.Fatalf("PutFenced by the new holder: %v", err)
	}
	// a wakes up with an answer it numbers higher still: refused.
	if err := a.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, 9), la); !errors.Is(err, wxtoken.ErrLeaseLost) {
		t.Fatalf("PutFenced under a lost lease: err = %v, want ErrLeaseLost", err)
	}
	m := wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01", TokenCalls: 99}
	if err := a.PutLedgerFenced(ctx, m, la); !errors.Is(err, wxtoken.ErrLeaseLost) {
		t.Fatalf("PutLedgerFenced under a lost lease: err = %v, want ErrLeaseLost", err)
	}
	wantStored(t, b, cred(appA, wxtoken.KindAccessToken, 2))
	if _, err := b.GetLedger(ctx, appA); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Fatalf("a fenced-out meta write was stored: err = %v", err)
	}
	m.TokenCalls = 3
	if err := b.PutLedgerFenced(ctx, m, lb); err != nil {
		t.Fatalf("PutLedgerFenced by the holder: %v", err)
	}
	got, err := a.GetLedger(ctx, appA)
	if err != nil || diffMeta(got, m) != "" {
		t.Fatalf("GetLedger on the other replica = %+v, %v; want %+v", got, err, m)
	}
}

func testFencedStale(t *testing.T, open func(func() time.Time) Shared) {
	a := open(nil)
	ctx := t.Context()
	l := mustAcquire(t, a, wxtoken.CredentialKey(appA, wxtoken.KindAccessToken), time.Minute)
	if err := a.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, 5), l); err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint64{5, 4} {
		if err := a.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, v), l); !errors.Is(err, wxtoken.ErrStale) {
			t.Fatalf("PutFenced of version %d over 5: err = %v, want ErrStale", v, err)
		}
	}
	wantStored(t, a, cred(appA, wxtoken.KindAccessToken, 5))
}

func testLeaseHolders(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	n1 := wxtoken.CredentialKey(appA, wxtoken.KindAccessToken)
	n2 := wxtoken.CredentialKey(appB, wxtoken.KindAccessToken)
	n3 := wxtoken.CredentialKey(appB, wxtoken.KindWxCard)
	mustAcquire(t, a, n1, time.Minute)
	mustAcquire(t, b, n2, time.Minute)
	got, err := a.LeaseHolders(t.Context(), []string{n1, n2, n3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[n1] != a.Owner() || got[n2] != b.Owner() {
		t.Fatalf("LeaseHolders = %v, want %s: %s and %s: %s only", got, n1, a.Owner(), n2, b.Owner())
	}
}

// changeLog is a Watcher that records what it is told.
type changeLog struct {
	mu      sync.Mutex
	changes map[string]uint64
	entries map[string]uint64
	synced  int
	notify  chan struct{}
}

func newChangeLog() *changeLog {
	return &changeLog{changes: map[string]uint64{}, entries: map[string]uint64{}, notify: make(chan struct{}, 1000)}
}

func (c *changeLog) EntryChanged(id string, version uint64) {
	c.mu.Lock()
	if version > c.entries[id] {
		c.entries[id] = version
	}
	c.mu.Unlock()
	c.notify <- struct{}{}
}

func (c *changeLog) Changed(appID string, kind wxtoken.Kind, version uint64) {
	c.mu.Lock()
	if k := appID + "/" + string(kind); version > c.changes[k] {
		c.changes[k] = version
	}
	c.mu.Unlock()
	c.notify <- struct{}{}
}

func (c *changeLog) Synced(_ time.Time, err error) {
	if err == nil {
		c.mu.Lock()
		c.synced++
		c.mu.Unlock()
		c.notify <- struct{}{}
	}
}

func (c *changeLog) Reset() {}

// waitFor waits, on the log's notifications, until cond holds.
func (c *changeLog) waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			t.Fatalf("not told within %v: %s", within, what)
		}
	}
}

func testWatch(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	ctx := t.Context()
	mustPut(t, a, cred(appA, wxtoken.KindJSAPITicket, 3))
	log := newChangeLog()
	done := make(chan error, 1)
	wctx, stop := context.WithCancel(ctx)
	go func() { done <- b.Watch(wctx, log) }()
	log.waitFor(t, 5*time.Second, "the records stored before the watch began", func() bool {
		return log.changes[appA+"/jsapi"] == 3 && log.synced > 0
	})

	l := mustAcquire(t, a, wxtoken.CredentialKey(appA, wxtoken.KindAccessToken), time.Minute)
	start := time.Now()
	if err := a.PutFenced(ctx, cred(appA, wxtoken.KindAccessToken, 7), l); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, time.Second, "a credential written by another replica", func() bool {
		return log.changes[appA+"/access_token"] == 7
	})
	if err := a.PutLedgerFenced(ctx, wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01"}, l); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, time.Second, "bookkeeping written by another replica", func() bool {
		return log.changes[appA+"/"] > 0
	})
	t.Logf("changes told within %v", time.Since(start))
	stop()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Watch returned nil after its context ended; want the context's error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func testSkewedClocks(t *testing.T, open func(func() time.Time) Shared) {
	const skew = time.Minute
	ahead := func() time.Time { return time.Now().Add(skew) }
	a, b := open(ahead), open(nil)
	ctx := t.Context()
	// A writes a credential that expires in an hour by its own clock.
	fetched := ahead()
	c := wxtoken.Credential{AppID: appA, Kind: wxtoken.KindAccessToken, Value: "v", Version: 1,
		FetchedAt: fetched, ExpiresAt: fetched.Add(time.Hour), RefreshAt: fetched.Add(50 * time.Minute)}
	mustPut(t, a, c)
	got := mustGet(t, b, appA, wxtoken.KindAccessToken)
	// B, whose clock is a minute behind A's, must see the same hour left,
	// not an hour and a minute.
	left := time.Until(got.ExpiresAt)
	if d := left - time.Hour; d > time.Second || d < -time.Second {
		t.Fatalf("a replica a minute behind sees %v left of a credential with an hour left", left)
	}
	if d := got.RefreshAt.Sub(got.ExpiresAt); d != -10*time.Minute {
		t.Fatalf("RefreshAt is %v from ExpiresAt, want -10m", d)
	}
	m := wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01", MintAttemptAt: fetched}
	if err := a.PutLedger(ctx, m); err != nil {
		t.Fatal(err)
	}
	gm, err := b.GetLedger(ctx, appA)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(gm.MintAttemptAt); d > time.Second || d < -time.Second {
		t.Fatalf("a mint started just now by a replica a minute ahead reads as %v ago", d)
	}
	// And A reads back exactly what it wrote.
	if diff := diffCredential(mustGet(t, a, appA, wxtoken.KindAccessToken), c); diff != "" {
		t.Fatalf("read back by its writer: %s", diff)
	}
}

func testWatchEntries(t *testing.T, open func(func() time.Time) Shared) {
	a, b := open(nil), open(nil)
	ctx := t.Context()
	mustPutEntry(t, a, entry(wecomID, wxtoken.FamilyWeCom, 2))
	log := newChangeLog()
	done := make(chan error, 1)
	wctx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		<-done
	}()
	go func() { done <- b.Watch(wctx, log) }()
	log.waitFor(t, 5*time.Second, "the entries stored before the watch began", func() bool {
		return log.entries[wecomID] == 2 && log.synced > 0
	})

	// An entry put by one replica is told to the other's watcher, and a
	// removal is a change like any other.
	mustPutEntry(t, a, entry(authorizerID, wxtoken.FamilyAuthorizer, 1))
	log.waitFor(t, time.Second, "an entry put by another replica", func() bool {
		return log.entries[authorizerID] == 1
	})
	removed := entry(authorizerID, wxtoken.FamilyAuthorizer, 2)
	removed.State = wxtoken.EntryRemoved
	mustPutEntry(t, a, removed)
	log.waitFor(t, time.Second, "an entry removed by another replica", func() bool {
		return log.entries[authorizerID] == 2
	})
	// The other replica reads the entry as written, its times through
	// the clock offsets the two replicas measured, each to within its
	// round trip to the store.
	got, err := b.GetEntry(ctx, removed.ID)
	if err != nil {
		t.Fatalf("GetEntry on the other replica: %v", err)
	}
	for _, d := range []time.Duration{got.CreatedAt.Sub(removed.CreatedAt), got.UpdatedAt.Sub(removed.UpdatedAt)} {
		if d > time.Second || d < -time.Second {
			t.Errorf("the other replica reads the entry's times %v off", d)
		}
	}
	got.CreatedAt, got.UpdatedAt = removed.CreatedAt, removed.UpdatedAt
	if d := diffEntry(got, removed); d != "" {
		t.Errorf("GetEntry on the other replica: %s", d)
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	for k := range log.changes {
		t.Errorf("an entry write was told as the change of a credential %q", k)
	}
	if len(log.entries) != 2 {
		t.Errorf("entries told: %v, want %s and %s only", log.entries, wecomID, authorizerID)
	}
}

func testEntrySkewedClocks(t *testing.T, open func(func() time.Time) Shared) {
	const skew = time.Minute
	ahead := func() time.Time { return time.Now().Add(skew) }
	a, b := open(ahead), open(nil)
	e := entry(authorizerID, wxtoken.FamilyAuthorizer, 1)
	e.CreatedAt, e.UpdatedAt = ahead(), ahead()
	mustPutEntry(t, a, e)
	got, err := b.GetEntry(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	// An entry updated just now by a replica a minute ahead reads as
	// updated just now, not a minute from now.
	if d := time.Since(got.UpdatedAt); d > time.Second || d < -time.Second {
		t.Fatalf("an entry updated just now by a replica a minute ahead reads as updated %v ago", d)
	}
	wantEntry(t, a, e)
}
