package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// testLedgerBatch checks wxtoken.LedgerBatchReader on a store that
// implements it: GetLedgers answers, for each id asked and in the order
// asked, what GetLedger answers one by one, with the zero Ledger where
// nothing is stored, and its answers are copies.
func testLedgerBatch(t *testing.T, s wxtoken.Store) {
	r, ok := s.(wxtoken.LedgerBatchReader)
	if !ok {
		t.Skip("the store does not implement wxtoken.LedgerBatchReader")
	}
	ctx := t.Context()

	for _, ids := range [][]string{nil, {}} {
		got, err := r.GetLedgers(ctx, ids)
		if err != nil || len(got) != 0 {
			t.Errorf("GetLedgers(%#v) on an empty store = %+v, %v; want no ledgers and no error", ids, got, err)
		}
	}
	got, err := r.GetLedgers(ctx, []string{appA, appB})
	if err != nil || len(got) != 2 || got[0].AppID != "" || got[1].AppID != "" {
		t.Errorf("GetLedgers of two apps on an empty store = %+v, %v; want two zero Ledgers", got, err)
	}

	now := time.Now() // monotonic reading and local zone, as in real use
	stored := []wxtoken.Ledger{
		{
			AppID: appA, QuotaDay: "2025-03-01", TokenCalls: 17,
			ForceRefreshes:  []time.Time{now.Add(-time.Hour), now.In(time.FixedZone("CST", 8*60*60))},
			MintAttemptAt:   now.Add(-time.Minute),
			LastMintAt:      now.Add(-time.Second),
			LastMintBy:      "replica-1",
			AbandonedMintAt: now.Add(-2 * time.Second),
			KilledVersion:   4,
			TokenFailure: &wxtoken.Failure{Count: 3, RetryAt: now.Add(5 * time.Minute), Blocked: true,
				Error: wxtoken.ErrorInfo{ErrCode: 40164, Class: "ip_whitelist", Message: "invalid ip", Hint: "add the IP", At: now}},
		},
		{AppID: appB, QuotaDay: "2025-03-01", TokenCalls: 2},
		{AppID: wecomID, QuotaDay: "2025-03-02", TokenCalls: 3, ForceRefreshes: []time.Time{now}},
		{AppID: authorizerID, QuotaDay: "2025-03-02", TokenCalls: 4},
	}
	for _, m := range stored {
		if err := s.PutLedger(ctx, m); err != nil {
			t.Fatalf("PutLedger(%s): %v", m.AppID, err)
		}
	}
	// Ids with bookkeeping and without, one asked twice, in an order that
	// is neither the order of writing nor a sorted one.
	const missing = "wx00000000000000dd"
	ids := []string{authorizerID, missing, appB, appA, componentID, wecomID, appA, "ww00000000000000cc"}
	want := map[string]wxtoken.Ledger{}
	for _, m := range stored {
		want[m.AppID] = m
	}
	check := func(ids []string) []wxtoken.Ledger {
		t.Helper()
		got, err := r.GetLedgers(ctx, ids)
		if err != nil {
			t.Fatalf("GetLedgers: %v", err)
		}
		if len(got) != len(ids) {
			t.Fatalf("GetLedgers of %d ids returned %d ledgers", len(ids), len(got))
		}
		for i, id := range ids {
			one, err := s.GetLedger(ctx, id)
			w, ok := want[id]
			switch {
			case !ok && !errors.Is(err, wxtoken.ErrNotFound):
				t.Fatalf("GetLedger(%s), never written: %+v, %v; want ErrNotFound", id, one, err)
			case ok && err != nil:
				t.Fatalf("GetLedger(%s): %v", id, err)
			}
			if d := diffMeta(got[i], w); d != "" {
				t.Errorf("GetLedgers: ledger %d, for %s: %s", i, id, d)
			}
			// What GetLedger answers, field for field (a zero Ledger
			// for ErrNotFound).
			if d := diffMeta(got[i], one); d != "" {
				t.Errorf("GetLedgers: ledger %d, for %s, differs from GetLedger's: %s", i, id, d)
			}
		}
		return got
	}
	got = check(ids)

	// A returned slice is the caller's: changing it changes nothing
	// stored, nor another ledger of the same answer.
	got[3].ForceRefreshes[0] = now.Add(time.Hour)
	if d := diffMeta(got[6], want[appA]); d != "" {
		t.Errorf("changing one returned ledger changed another of the same answer: %s", d)
	}
	check(ids)

	// A large batch, so that stores which split or spread the work do so:
	// every ledger lands where it was asked for, across chunk borders.
	large := make([]string, 2500)
	for i := range large {
		large[i] = fmt.Sprintf("wx%016x", 0x1000+i)
	}
	for _, i := range []int{0, 1, 511, 999, 1000, 1001, 1023, 1024, 1025, 2047, 2048, 2499} {
		m := wxtoken.Ledger{AppID: large[i], QuotaDay: "2025-03-01", TokenCalls: i + 1}
		if err := s.PutLedger(ctx, m); err != nil {
			t.Fatalf("PutLedger(%s): %v", m.AppID, err)
		}
		want[m.AppID] = m
	}
	large = append(large, appA)
	got, err = r.GetLedgers(ctx, large)
	if err != nil {
		t.Fatalf("GetLedgers of %d ids: %v", len(large), err)
	}
	if len(got) != len(large) {
		t.Fatalf("GetLedgers of %d ids returned %d ledgers", len(large), len(got))
	}
	for i, id := range large {
		if d := diffMeta(got[i], want[id]); d != "" {
			t.Errorf("GetLedgers of %d ids: ledger %d, for %s: %s", len(large), i, id, d)
		}
	}

	// A cancelled context: no hang, and an error only for the
	// cancellation.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = callWithin(t, "GetLedgers", func() error {
		got, err := r.GetLedgers(cancelled, ids)
		if err == nil && len(got) != len(ids) {
			return fmt.Errorf("%d ledgers for %d ids", len(got), len(ids))
		}
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("GetLedgers with a cancelled context: err = %v, want nil or context.Canceled", err)
	}
}
