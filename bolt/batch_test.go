package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
)

// Writes that arrive together, as at a start that fetches thousands of
// credentials, share transactions (and their fsyncs): all of them land,
// and one refused as stale is refused alone, the others of its
// transaction kept.
func TestConcurrentWritesLand(t *testing.T) {
	const n = 2000
	path := dbPath(t)
	s := mustOpen(t, path)
	ctx := t.Context()
	fetched := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	cred := func(i int, version uint64) wxtoken.Credential {
		return wxtoken.Credential{
			AppID: fmt.Sprintf("wx%016x", i), Kind: wxtoken.KindAccessToken, Value: fmt.Sprintf("token-%d-%d", i, version),
			FetchedAt: fetched, ExpiresAt: fetched.Add(2 * time.Hour), RefreshAt: fetched.Add(time.Hour),
			Version: version, API: wxtoken.TokenAPIStable,
		}
	}
	// The stale ones: version 5 is stored first, so their version 2 loses.
	for i := 0; i < n; i += 100 {
		if err := s.Put(ctx, cred(i, 5)); err != nil {
			t.Fatal(err)
		}
	}
	// The deadline only keeps a broken store from hanging the test: how
	// long the writes take depends on the disk and the machine's load.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	before := bolt.PageWrites(s)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	start := time.Now()
	for i := range n {
		wg.Go(func() { errs[2*i] = s.Put(wctx, cred(i, 2)) })
		wg.Go(func() {
			errs[2*i+1] = s.PutLedger(wctx, wxtoken.Ledger{AppID: fmt.Sprintf("wx%016x", i), QuotaDay: "2025-03-01", TokenCalls: i})
		})
	}
	wg.Wait()
	took := time.Since(start)
	for i := range n {
		err := errs[2*i]
		if i%100 == 0 {
			if !errors.Is(err, wxtoken.ErrStale) {
				t.Errorf("Put of a stale version %d: err = %v, want ErrStale", i, err)
			}
		} else if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
		if err := errs[2*i+1]; err != nil {
			t.Errorf("PutLedger %d: %v", i, err)
		}
	}
	// Each write committed alone writes at least two pages (its leaf and
	// the meta page): 8,000 or more for these 4,000.
	writes := bolt.PageWrites(s) - before
	t.Logf("%d concurrent writes in %v, %d page writes", 2*n, took, writes)
	if writes >= 2*n {
		t.Errorf("%d page writes for %d concurrent writes: they did not share commits", writes, 2*n)
	}
	mustClose(t, s)

	s = mustOpen(t, path)
	defer mustClose(t, s)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("%d credentials stored, want %d", len(list), n)
	}
	for _, c := range list {
		var i int
		if _, err := fmt.Sscanf(c.AppID, "wx%x", &i); err != nil {
			t.Fatal(err)
		}
		want := uint64(2)
		if i%100 == 0 {
			want = 5
		}
		if c.Version != want {
			t.Errorf("%s: version %d stored, want %d", c.AppID, c.Version, want)
		}
		m, err := s.GetLedger(ctx, c.AppID)
		if err != nil || m.TokenCalls != i {
			t.Errorf("%s: ledger %+v, %v; want %d calls", c.AppID, m, err, i)
		}
	}
}

// List decodes many records on several goroutines and still fails with
// the first undecodable record in key order.
func TestListManyFailsAtFirstBadRecord(t *testing.T) {
	const n = 3000
	path := dbPath(t)
	s := mustOpen(t, path)
	ctx := t.Context()
	fetched := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range n {
		c := wxtoken.Credential{
			AppID: fmt.Sprintf("wx%016x", i), Kind: wxtoken.KindAccessToken, Value: fmt.Sprintf("token-%d", i),
			FetchedAt: fetched, ExpiresAt: fetched.Add(2 * time.Hour), RefreshAt: fetched.Add(time.Hour), Version: uint64(i + 1),
		}
		// At once, so that they share transactions.
		wg.Go(func() {
			if err := s.Put(ctx, c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, err := s.List(ctx)
	if err != nil || len(list) != n {
		t.Fatalf("List: %d records, %v; want %d", len(list), err, n)
	}
	for i, c := range list {
		if c.Version != uint64(i+1) || c.Value != fmt.Sprintf("token-%d", i) {
			t.Fatalf("record %d: %+v; want the records in key order", i, c)
		}
	}
	mustClose(t, s)
	for _, i := range []int{2900, 1201} {
		writeRaw(t, path, "credentials", fmt.Sprintf("wx%016x/access_token", i), []byte(`{"appid": "wx`))
	}
	s = mustOpen(t, path)
	defer mustClose(t, s)
	_, err = s.List(ctx)
	wantErrNaming(t, "List", err, fmt.Sprintf("wx%016x/access_token", 1201))
	if err != nil && strings.Contains(err.Error(), fmt.Sprintf("%016x", 2900)) {
		t.Errorf("List named the later bad record: %v", err)
	}
}
