package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/storetest"
	"github.com/wxtoken/wxtoken/memory"
)

// breakEnv selects, in a child test process, which defect brokenStore
// injects. The suite is run in a child because a failing subtest cannot be
// observed from inside the same test without failing it.
const breakEnv = "STORETEST_BREAK"

// TestSuiteCatchesDefects runs the suite against stores with one planted
// defect each and checks that the suite fails in the subtest meant to
// catch it, and passes against the store without a defect.
func TestSuiteCatchesDefects(t *testing.T) {
	tests := []struct {
		defect string
		// failing is the subtest that must fail; "" means the run must
		// pass.
		failing string
		// attempts is how many runs may be needed: a race is caught
		// only when the scheduler interleaves the goroutines badly, which
		// happens in most runs but not all.
		attempts int
	}{
		{"none", "", 1},
		{"swallow-stale", "StaleVersionRejected", 1},
		{"plain-not-found", "Empty", 1},
		{"second-precision", "RoundTrip", 1},
		{"drop-api", "RoundTrip", 1},
		{"short-value", "LargeValue", 1},
		{"shared-meta", "MetaIsCopied", 1},
		{"list-drops", "List", 1},
		{"list-meta", "List", 1},
		{"fix-invalid", "InvalidPutRejected", 1},
		{"unkeyed-version", "KeyedByAppAndKind", 1},
		{"hang-on-cancel", "CancelledContext", 1},
		{"lost-update", "ConcurrentPuts", 8},
		{"verify-ticket-unknown", "CompoundIDs", 1},
		{"entry-swallow-stale", "EntryStaleVersionRejected", 1},
		{"entry-unkeyed-version", "EntryStaleVersionRejected", 1},
		{"entry-fix-invalid", "InvalidEntryRejected", 1},
		{"entry-list-skips-removed", "RemovedEntryKept", 1},
		{"entry-secret-replaced", "EntrySecretExact", 1},
		{"entry-listed-as-credential", "EntriesApartFromCredentials", 1},
		{"ledgers-sorted", "LedgerBatch", 1},
		{"ledgers-skip-missing", "LedgerBatch", 1},
		{"ledgers-not-found", "LedgerBatch", 1},
		{"ledgers-shared", "LedgerBatch", 1},
		{"ledgers-first-chunk", "LedgerBatch", 1},
	}
	for _, tc := range tests {
		t.Run(tc.defect, func(t *testing.T) {
			if tc.defect == "hang-on-cancel" && testing.Short() {
				t.Skip("waits for the suite's hang limit")
			}
			t.Parallel()
			if tc.failing == "" {
				if out, failed := runChild(t, tc.defect, ""); failed {
					t.Errorf("the suite failed against a correct store:\n%s", out)
				}
				return
			}
			var out []byte
			for range tc.attempts {
				var failed bool
				out, failed = runChild(t, tc.defect, tc.failing)
				if !failed {
					continue
				}
				if !strings.Contains(string(out), "--- FAIL: TestBrokenStore/"+tc.failing+" ") {
					t.Fatalf("defect %q was not caught by subtest %s:\n%s", tc.defect, tc.failing, out)
				}
				return
			}
			t.Errorf("the suite passed against a store with defect %q in %d runs; last output:\n%s", tc.defect, tc.attempts, out)
		})
	}
}

// runChild runs TestBrokenStore (only subtest sub, if given) in a child
// process with defect planted, and reports its output and whether it
// failed.
func runChild(t *testing.T, defect, sub string) (out []byte, failed bool) {
	t.Helper()
	run := "^TestBrokenStore$"
	if sub != "" {
		run += "/^" + sub + "$"
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), breakEnv+"="+defect)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running the child test: %v", err)
	}
	return out, err != nil
}

// TestBrokenStore is the child half of TestSuiteCatchesDefects.
func TestBrokenStore(t *testing.T) {
	defect := os.Getenv(breakEnv)
	if defect == "" {
		t.Skip("run as a child process by TestSuiteCatchesDefects")
	}
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return &brokenStore{
			Store:  memory.New(),
			defect: defect,
			meta:   make(map[string]wxtoken.Ledger),
			creds:  make(map[string]wxtoken.Credential),
		}
	})
}

// brokenStore is a correct store with one defect planted, each one a
// plausible implementation mistake.
type brokenStore struct {
	wxtoken.Store
	defect string

	mu    sync.Mutex
	meta  map[string]wxtoken.Ledger     // used by "shared-meta"
	creds map[string]wxtoken.Credential // used by "lost-update"
}

func (s *brokenStore) Get(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	if s.defect == "hang-on-cancel" && ctx.Err() != nil {
		select {} // never returns
	}
	if s.defect == "lost-update" {
		s.mu.Lock()
		defer s.mu.Unlock()
		c, ok := s.creds[appID+"/"+string(kind)]
		if !ok {
			return c, wxtoken.ErrNotFound
		}
		return c, nil
	}
	c, err := s.Store.Get(ctx, appID, kind)
	switch {
	case s.defect == "plain-not-found" && errors.Is(err, wxtoken.ErrNotFound):
		// Loses the sentinel, so callers cannot tell "absent" apart.
		return c, errors.New("no such record")
	case s.defect == "drop-api":
		c.API = ""
	case s.defect == "short-value" && len(c.Value) > 1024:
		c.Value = c.Value[:1024]
	}
	return c, err
}

func (s *brokenStore) List(ctx context.Context) ([]wxtoken.Credential, error) {
	list, err := s.Store.List(ctx)
	if s.defect == "entry-listed-as-credential" && err == nil {
		entries, _ := s.Store.ListEntries(ctx)
		for _, e := range entries {
			list = append(list, wxtoken.Credential{AppID: e.ID, Kind: "entry", Value: e.Secret, Version: e.Version})
		}
	}
	switch {
	case s.defect == "list-drops" && len(list) > 1:
		return list[1:], err
	case s.defect == "list-meta":
		// Lists bookkeeping as if it were a credential.
		if _, metaErr := s.Store.GetLedger(ctx, "wx00000000000000aa"); metaErr == nil {
			list = append(list, wxtoken.Credential{AppID: "wx00000000000000aa", Kind: "meta", Version: 1})
		}
	}
	return list, err
}

func (s *brokenStore) Put(ctx context.Context, c wxtoken.Credential) error {
	if s.defect == "verify-ticket-unknown" && c.Kind == wxtoken.KindVerifyTicket {
		// A store written before the kind existed.
		return errors.New("unknown kind verify_ticket")
	}
	switch s.defect {
	case "lost-update":
		return s.racyPut(ctx, c)
	case "second-precision":
		c.FetchedAt = c.FetchedAt.Truncate(time.Second)
		c.ExpiresAt = c.ExpiresAt.Truncate(time.Second)
		c.RefreshAt = c.RefreshAt.Truncate(time.Second)
	case "fix-invalid":
		// "Repairs" a record instead of rejecting it.
		if c.Version == 0 {
			c.Version = 1
		}
	case "unkeyed-version":
		// Compares against the highest version of any key.
		list, err := s.Store.List(ctx)
		if err != nil {
			return err
		}
		for _, old := range list {
			if old.Version >= c.Version {
				return wxtoken.ErrStale
			}
		}
	}
	err := s.Store.Put(ctx, c)
	if s.defect == "swallow-stale" && errors.Is(err, wxtoken.ErrStale) {
		return nil
	}
	return err
}

// racyPut compares and writes in two critical sections, so a Put of a
// lower version can land after a higher one.
func (s *brokenStore) racyPut(ctx context.Context, c wxtoken.Credential) error {
	key := c.AppID + "/" + string(c.Kind)
	s.mu.Lock()
	old, ok := s.creds[key]
	s.mu.Unlock()
	if ok && old.Version >= c.Version {
		return wxtoken.ErrStale
	}
	runtime.Gosched()
	s.mu.Lock()
	s.creds[key] = c
	s.mu.Unlock()
	return nil
}

func (s *brokenStore) GetLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	if s.defect != "shared-meta" {
		return s.Store.GetLedger(ctx, appID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[appID]
	if !ok {
		return wxtoken.Ledger{}, wxtoken.ErrNotFound
	}
	return m, nil
}

// GetLedgers reads through the memory store's batch read, with the
// defects of a batch read planted.
func (s *brokenStore) GetLedgers(ctx context.Context, appIDs []string) ([]wxtoken.Ledger, error) {
	switch s.defect {
	case "ledgers-skip-missing", "ledgers-not-found":
		// Built from GetLedger, mishandling an app with nothing stored.
		var list []wxtoken.Ledger
		for _, id := range appIDs {
			m, err := s.Store.GetLedger(ctx, id)
			switch {
			case errors.Is(err, wxtoken.ErrNotFound) && s.defect == "ledgers-skip-missing":
				continue
			case err != nil:
				return nil, err
			}
			list = append(list, m)
		}
		return list, nil
	case "ledgers-first-chunk":
		// Asks for the first chunk only and leaves the rest zero.
		list := make([]wxtoken.Ledger, len(appIDs))
		first, err := s.Store.(wxtoken.LedgerBatchReader).GetLedgers(ctx, appIDs[:min(len(appIDs), 1000)])
		copy(list, first)
		return list, err
	}
	list, err := s.Store.(wxtoken.LedgerBatchReader).GetLedgers(ctx, appIDs)
	switch {
	case err != nil:
	case s.defect == "ledgers-sorted":
		// Answers in key order, as a cursor walk would.
		slices.SortStableFunc(list, func(a, b wxtoken.Ledger) int { return strings.Compare(a.AppID, b.AppID) })
	case s.defect == "ledgers-shared":
		// Answers of the same app share one slice.
		seen := map[string][]time.Time{}
		for i, m := range list {
			if prev, ok := seen[m.AppID]; ok {
				list[i].ForceRefreshes = prev
			} else {
				seen[m.AppID] = m.ForceRefreshes
			}
		}
	}
	return list, err
}

func (s *brokenStore) PutLedger(ctx context.Context, m wxtoken.Ledger) error {
	if s.defect != "shared-meta" {
		return s.Store.PutLedger(ctx, m)
	}
	if m.AppID == "" {
		return errors.New("empty appid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[m.AppID] = m // keeps the caller's slice: the defect
	return nil
}

func (s *brokenStore) ListEntries(ctx context.Context) ([]wxtoken.Entry, error) {
	list, err := s.Store.ListEntries(ctx)
	if s.defect == "entry-list-skips-removed" {
		list = slices.DeleteFunc(list, func(e wxtoken.Entry) bool { return e.State == wxtoken.EntryRemoved })
	}
	return list, err
}

func (s *brokenStore) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	switch s.defect {
	case "entry-fix-invalid":
		if e.Version == 0 {
			e.Version = 1
		}
	case "entry-secret-replaced":
		// What encoding/json does to bytes that are not UTF-8.
		e.Secret = strings.ToValidUTF8(e.Secret, "\uFFFD")
	case "entry-unkeyed-version":
		// Compares against the highest version of any entry.
		list, err := s.Store.ListEntries(ctx)
		if err != nil {
			return err
		}
		for _, old := range list {
			if old.Version >= e.Version {
				return wxtoken.ErrStale
			}
		}
	}
	err := s.Store.PutEntry(ctx, e)
	if s.defect == "entry-swallow-stale" && errors.Is(err, wxtoken.ErrStale) {
		return nil
	}
	return err
}
