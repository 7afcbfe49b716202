package bolt_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
)

// An undecodable or misfiled record fails GetLedgers as it fails
// GetLedger, naming its key, in a batch small enough to be decoded in
// order and in one decoded on several goroutines; of two bad records the
// one asked for first is named.
func TestGetLedgersReportsBadRecords(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	good := wxtoken.Ledger{AppID: appID, QuotaDay: "2025-03-01", TokenCalls: 3}
	if err := s.PutLedger(t.Context(), good); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	mustClose(t, s)

	id := func(i int) string { return fmt.Sprintf("wx%016x", i) }
	misfiled, err := json.Marshal(wxtoken.Ledger{AppID: "wx00000000000000cc", QuotaDay: "2025-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, "meta", id(1201), []byte(`{"appid": "wx`))
	writeRaw(t, path, "meta", id(2900), misfiled)
	s = mustOpen(t, path)
	defer mustClose(t, s)

	ascending := make([]string, 3000)
	for i := range ascending {
		ascending[i] = id(i)
	}
	descending := slices.Clone(ascending)
	slices.Reverse(descending)
	for _, tc := range []struct {
		name          string
		ids           []string
		named, hidden string
	}{
		{"undecodable", []string{appID, id(1201)}, id(1201), ""},
		{"misfiled", []string{id(2900), appID}, id(2900), ""},
		{"many ascending", ascending, id(1201), id(2900)},
		// The later key is asked for first.
		{"many descending", descending, id(2900), id(1201)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetLedgers(t.Context(), tc.ids)
			wantErrNaming(t, "GetLedgers with a bad record", err, path, tc.named)
			if got != nil {
				t.Errorf("GetLedgers with a bad record returned %d ledgers along with its error", len(got))
			}
			if errors.Is(err, wxtoken.ErrNotFound) {
				t.Errorf("GetLedgers with a bad record reports ErrNotFound, which would hide the damage: %v", err)
			}
			if tc.hidden != "" && err != nil && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("GetLedgers named the bad record asked for later: %v", err)
			}
		})
	}
	// The same ids one by one fail with the same names.
	for _, bad := range []string{id(1201), id(2900)} {
		_, err := s.GetLedger(t.Context(), bad)
		wantErrNaming(t, "GetLedger of a bad record", err, bad)
	}

	// Without the bad records, the intact one is read.
	got, err := s.GetLedgers(t.Context(), []string{id(7), appID})
	if err != nil || len(got) != 2 || got[0].AppID != "" || got[1].AppID != appID || got[1].TokenCalls != good.TokenCalls {
		t.Errorf("GetLedgers of intact ids = %+v, %v; want a zero Ledger and %+v", got, err, good)
	}
}

func TestGetLedgersAfterClose(t *testing.T) {
	s := mustOpen(t, dbPath(t))
	mustClose(t, s)
	if got, err := s.GetLedgers(t.Context(), []string{appID}); err == nil {
		t.Errorf("GetLedgers after Close = %+v, want an error", got)
	}
}

// BenchmarkLedgers compares reading the bookkeeping of 10,000 apps with
// one GetLedger each against one GetLedgers call, as a start does:
//
//	go test -run '^$' -bench Ledgers -cpu 1,2 ./bolt
func BenchmarkLedgers(b *testing.B) {
	const apps = 10_000
	s, err := bolt.Open(filepath.Join(b.TempDir(), "wxtoken.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, apps)
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("wx%016x", i)
		m := wxtoken.Ledger{
			AppID: ids[i], QuotaDay: "2025-03-01", TokenCalls: i % 50,
			ForceRefreshes: []time.Time{at.Add(time.Duration(i) * time.Second)},
			MintAttemptAt:  at, LastMintAt: at, LastMintBy: "replica-a",
		}
		// At once, so that the writes share transactions.
		wg.Go(func() {
			if err := s.PutLedger(b.Context(), m); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}

	b.Run("GetLedger", func(b *testing.B) {
		for b.Loop() {
			for _, id := range ids {
				if _, err := s.GetLedger(b.Context(), id); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("GetLedgers", func(b *testing.B) {
		for b.Loop() {
			list, err := s.GetLedgers(b.Context(), ids)
			if err != nil || len(list) != apps || list[apps-1].AppID != ids[apps-1] {
				b.Fatalf("GetLedgers: %d ledgers, %v", len(list), err)
			}
		}
	})
}
