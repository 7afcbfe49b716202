// Package storetest is the contract test suite for wxtoken.Store. Every
// Store implementation runs the same suite from its own tests, so that the
// memory, bolt and any later driver agree on what the refresher and the HTTP
// layer may rely on: ErrNotFound and ErrStale are recognisable with
// errors.Is, Put and PutEntry are compare-and-sets on Version, records and
// entries round-trip intact under every form of id, and stored state
// cannot be changed through a caller's values.
//
// The suite tests only the interface contract, never how an implementation
// lays out its data.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Application IDs used by the suite. They look like real AppIDs so that an
// implementation validating their shape still accepts them.
const (
	appA = "wx00000000000000aa"
	appB = "wx00000000000000bb"
)

// hangLimit bounds how long a call with a cancelled context may take before
// the suite declares it hung. It is generous because the point is to catch
// a call that never returns, not to measure latency on a loaded machine.
const hangLimit = 5 * time.Second

// Run runs the contract suite, one subtest per property. open must return
// a new, empty store that no other subtest sees; the suite closes it when
// the subtest ends (and reports an error from Close), so open must not
// close it itself.
func Run(t *testing.T, open func(t *testing.T) wxtoken.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s wxtoken.Store)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"ZeroFieldsRoundTrip", testZeroFields},
		{"LargeValue", testLargeValue},
		{"StaleVersionRejected", testStale},
		{"HigherVersionReplaces", testHigherVersion},
		{"KeyedByAppAndKind", testKeys},
		{"List", testList},
		{"InvalidPutRejected", testInvalidPut},
		{"Meta", testMeta},
		{"MetaIsCopied", testMetaCopied},
		{"InvalidPutMetaRejected", testInvalidPutMeta},
		{"LedgerBatch", testLedgerBatch},
		{"ConcurrentPuts", testConcurrent},
		{"CancelledContext", testCancelled},
		{"CompoundIDs", testCompoundIDs},
		{"EntryNotFound", testEntryNotFound},
		{"EntryRoundTrip", testEntryRoundTrip},
		{"EntriesApartFromCredentials", testEntriesApartFromCredentials},
		{"EntryStaleVersionRejected", testEntryStale},
		{"InvalidEntryRejected", testInvalidEntry},
		{"RemovedEntryKept", testRemovedEntryKept},
		{"EntrySecretExact", testEntrySecretExact},
		{"EntryIsCopied", testEntryCopied},
		{"EntryCancelledContext", testEntryCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil Store")
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// cred returns a complete, valid record whose Value encodes its key and
// version, so a reader can tell whether the fields it got belong together.
func cred(appID string, kind wxtoken.Kind, version uint64) wxtoken.Credential {
	fetched := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.UTC)
	return wxtoken.Credential{
		AppID:     appID,
		Kind:      kind,
		Value:     valueFor(appID, kind, version),
		FetchedAt: fetched,
		ExpiresAt: fetched.Add(7200 * time.Second),
		RefreshAt: fetched.Add(4800 * time.Second),
		Version:   version,
	}
}

func valueFor(appID string, kind wxtoken.Kind, version uint64) string {
	return fmt.Sprintf("%s-%s-v%d", appID, kind, version)
}

// diffCredential describes how got differs from want, or returns "". Times
// are compared with Equal: a store may drop the monotonic clock reading and
// change the location, but never the instant.
func diffCredential(got, want wxtoken.Credential) string {
	var d []string
	field := func(name string, equal bool, g, w any) {
		if !equal {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("AppID", got.AppID == want.AppID, got.AppID, want.AppID)
	field("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	field("Value", got.Value == want.Value, got.Value, want.Value)
	field("FetchedAt", got.FetchedAt.Equal(want.FetchedAt), got.FetchedAt, want.FetchedAt)
	field("ExpiresAt", got.ExpiresAt.Equal(want.ExpiresAt), got.ExpiresAt, want.ExpiresAt)
	field("RefreshAt", got.RefreshAt.Equal(want.RefreshAt), got.RefreshAt, want.RefreshAt)
	field("Version", got.Version == want.Version, got.Version, want.Version)
	field("TokenVersion", got.TokenVersion == want.TokenVersion, got.TokenVersion, want.TokenVersion)
	field("API", got.API == want.API, got.API, want.API)
	field("CallAttemptAt", got.CallAttemptAt.Equal(want.CallAttemptAt), got.CallAttemptAt, want.CallAttemptAt)
	return strings.Join(d, "; ")
}

// diffMeta is diffCredential for Ledger. A nil and an empty ForceRefreshes
// are the same bookkeeping, so either may come back for the other.
func diffMeta(got, want wxtoken.Ledger) string {
	var d []string
	if got.AppID != want.AppID {
		d = append(d, fmt.Sprintf("AppID = %q, want %q", got.AppID, want.AppID))
	}
	if got.QuotaDay != want.QuotaDay {
		d = append(d, fmt.Sprintf("QuotaDay = %q, want %q", got.QuotaDay, want.QuotaDay))
	}
	if got.TokenCalls != want.TokenCalls {
		d = append(d, fmt.Sprintf("TokenCalls = %d, want %d", got.TokenCalls, want.TokenCalls))
	}
	if !slices.EqualFunc(got.ForceRefreshes, want.ForceRefreshes, time.Time.Equal) {
		d = append(d, fmt.Sprintf("ForceRefreshes = %v, want %v", got.ForceRefreshes, want.ForceRefreshes))
	}
	if !got.MintAttemptAt.Equal(want.MintAttemptAt) {
		d = append(d, fmt.Sprintf("MintAttemptAt = %v, want %v", got.MintAttemptAt, want.MintAttemptAt))
	}
	if !got.LastMintAt.Equal(want.LastMintAt) || got.LastMintBy != want.LastMintBy {
		d = append(d, fmt.Sprintf("LastMintAt, LastMintBy = %v, %q, want %v, %q", got.LastMintAt, got.LastMintBy, want.LastMintAt, want.LastMintBy))
	}
	if !got.AbandonedMintAt.Equal(want.AbandonedMintAt) {
		d = append(d, fmt.Sprintf("AbandonedMintAt = %v, want %v", got.AbandonedMintAt, want.AbandonedMintAt))
	}
	if got.KilledVersion != want.KilledVersion {
		d = append(d, fmt.Sprintf("KilledVersion = %d, want %d", got.KilledVersion, want.KilledVersion))
	}
	switch g, w := got.TokenFailure, want.TokenFailure; {
	case (g == nil) != (w == nil):
		d = append(d, fmt.Sprintf("TokenFailure = %+v, want %+v", g, w))
	case g != nil && (g.Count != w.Count || !g.RetryAt.Equal(w.RetryAt) || g.Blocked != w.Blocked ||
		g.Error.ErrCode != w.Error.ErrCode || g.Error.Class != w.Error.Class || g.Error.Message != w.Error.Message ||
		g.Error.Hint != w.Error.Hint || !g.Error.At.Equal(w.Error.At)):
		d = append(d, fmt.Sprintf("TokenFailure = %+v, want %+v", *g, *w))
	}
	return strings.Join(d, "; ")
}

func mustPut(t *testing.T, s wxtoken.Store, c wxtoken.Credential) {
	t.Helper()
	if err := s.Put(t.Context(), c); err != nil {
		t.Fatalf("Put(%s/%s v%d): %v", c.AppID, c.Kind, c.Version, err)
	}
}

func mustGet(t *testing.T, s wxtoken.Store, appID string, kind wxtoken.Kind) wxtoken.Credential {
	t.Helper()
	c, err := s.Get(t.Context(), appID, kind)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", appID, kind, err)
	}
	return c
}

// wantStored fails unless the record stored for want's key equals want.
func wantStored(t *testing.T, s wxtoken.Store, want wxtoken.Credential) {
	t.Helper()
	got := mustGet(t, s, want.AppID, want.Kind)
	if d := diffCredential(got, want); d != "" {
		t.Errorf("Get(%s/%s): %s", want.AppID, want.Kind, d)
	}
}

func mustList(t *testing.T, s wxtoken.Store) []wxtoken.Credential {
	t.Helper()
	list, err := s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	// The contract does not fix an order; sort so comparisons do not
	// depend on one.
	slices.SortFunc(list, func(a, b wxtoken.Credential) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Kind, b.Kind))
	})
	return list
}

func testEmpty(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	for _, kind := range []wxtoken.Kind{wxtoken.KindAccessToken, wxtoken.KindJSAPITicket, wxtoken.KindWxCard} {
		c, err := s.Get(ctx, appA, kind)
		if !errors.Is(err, wxtoken.ErrNotFound) {
			t.Errorf("Get(%s) on an empty store: err = %v, want ErrNotFound", kind, err)
		}
		if !c.IsZero() {
			t.Errorf("Get(%s) on an empty store returned a credential: %+v", kind, c)
		}
	}
	if _, err := s.GetLedger(ctx, appA); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetLedger on an empty store: err = %v, want ErrNotFound", err)
	}
	if list := mustList(t, s); len(list) != 0 {
		t.Errorf("List on an empty store = %+v, want none", list)
	}
}

func testRoundTrip(t *testing.T, s wxtoken.Store) {
	// time.Now carries a monotonic reading and the local zone; a store
	// that persists must drop the first and may change the second, so
	// only the instant is compared.
	now := time.Now()
	cst := time.FixedZone("CST", 8*60*60)
	token := wxtoken.Credential{
		AppID:     appA,
		Kind:      wxtoken.KindAccessToken,
		Value:     "88_abcDEF-ghi_JKL",
		FetchedAt: now,
		ExpiresAt: now.Add(7200 * time.Second).In(cst),
		RefreshAt: time.Date(2025, 3, 1, 9, 30, 15, 987654321, cst),
		Version:   7,
		API:       wxtoken.TokenAPIClassic,
	}
	ticket := wxtoken.Credential{
		AppID:        appA,
		Kind:         wxtoken.KindJSAPITicket,
		Value:        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		FetchedAt:    now.Add(time.Second),
		ExpiresAt:    now.Add(7201 * time.Second),
		RefreshAt:    now.Add(5000 * time.Second),
		Version:      3,
		TokenVersion: 7,
		// A ticket call was started and not answered yet.
		CallAttemptAt: now.Add(4000 * time.Second),
	}
	mustPut(t, s, token)
	mustPut(t, s, ticket)
	wantStored(t, s, token)
	wantStored(t, s, ticket)
}

func testZeroFields(t *testing.T, s wxtoken.Store) {
	// The optional fields must come back as their zero values, not as
	// something that merely prints like them.
	c := wxtoken.Credential{
		AppID:     appA,
		Kind:      wxtoken.KindWxCard,
		Value:     "card-ticket",
		ExpiresAt: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		Version:   1,
	}
	mustPut(t, s, c)
	got := mustGet(t, s, appA, wxtoken.KindWxCard)
	if d := diffCredential(got, c); d != "" {
		t.Errorf("Get: %s", d)
	}
	if !got.FetchedAt.IsZero() || !got.RefreshAt.IsZero() {
		t.Errorf("zero times came back non-zero: FetchedAt %v, RefreshAt %v", got.FetchedAt, got.RefreshAt)
	}
}

func testLargeValue(t *testing.T, s wxtoken.Store) {
	// WeChat documents at least 512 bytes of room for an access_token;
	// 2048 bytes leaves margin. Characters that need escaping in JSON or
	// other encodings are included on purpose.
	const size = 2048
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(`aZ09-_."\<>&+/=%`)
	}
	value := b.String()[:size]
	c := cred(appA, wxtoken.KindAccessToken, 1)
	c.Value = value
	mustPut(t, s, c)
	got := mustGet(t, s, appA, wxtoken.KindAccessToken)
	if got.Value != value {
		t.Errorf("a %d-byte value came back as %d bytes (equal: false)", size, len(got.Value))
	}
}

func testStale(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	stored := cred(appA, wxtoken.KindAccessToken, 2)
	mustPut(t, s, stored)

	for _, version := range []uint64{2, 1} {
		older := cred(appA, wxtoken.KindAccessToken, version)
		older.Value = "must-not-be-stored"
		older.ExpiresAt = older.ExpiresAt.Add(time.Hour)
		err := s.Put(ctx, older)
		if !errors.Is(err, wxtoken.ErrStale) {
			t.Errorf("Put v%d over stored v2: err = %v, want ErrStale", version, err)
		}
	}
	wantStored(t, s, stored)
	if list := mustList(t, s); len(list) != 1 {
		t.Errorf("List after rejected Puts has %d records, want 1: %+v", len(list), list)
	}
}

func testHigherVersion(t *testing.T, s wxtoken.Store) {
	mustPut(t, s, cred(appA, wxtoken.KindAccessToken, 1))
	// Versions need not be consecutive: a replica may have skipped some.
	newer := cred(appA, wxtoken.KindAccessToken, 5)
	newer.FetchedAt = newer.FetchedAt.Add(2 * time.Hour)
	newer.ExpiresAt = newer.ExpiresAt.Add(2 * time.Hour)
	newer.RefreshAt = newer.RefreshAt.Add(2 * time.Hour)
	newer.API = wxtoken.TokenAPIStable
	mustPut(t, s, newer)
	wantStored(t, s, newer)

	if err := s.Put(t.Context(), cred(appA, wxtoken.KindAccessToken, 4)); !errors.Is(err, wxtoken.ErrStale) {
		t.Errorf("Put v4 after v5: err = %v, want ErrStale", err)
	}
	wantStored(t, s, newer)
}

func testKeys(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	// A high version under one key must not make a low version under
	// another key stale.
	records := []wxtoken.Credential{
		cred(appA, wxtoken.KindAccessToken, 9),
		cred(appA, wxtoken.KindJSAPITicket, 1),
		cred(appA, wxtoken.KindWxCard, 1),
		cred(appB, wxtoken.KindAccessToken, 1),
	}
	for _, c := range records {
		mustPut(t, s, c)
	}
	for _, c := range records {
		wantStored(t, s, c)
	}
	if _, err := s.Get(ctx, appB, wxtoken.KindJSAPITicket); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Get(%s/jsapi), never written: err = %v, want ErrNotFound", appB, err)
	}

	// Replacing one record leaves the others alone.
	mustPut(t, s, cred(appB, wxtoken.KindAccessToken, 2))
	for _, c := range records[:3] {
		wantStored(t, s, c)
	}
	wantStored(t, s, cred(appB, wxtoken.KindAccessToken, 2))
}

func testList(t *testing.T, s wxtoken.Store) {
	want := []wxtoken.Credential{
		cred(appA, wxtoken.KindAccessToken, 1),
		cred(appA, wxtoken.KindJSAPITicket, 4),
		cred(appB, wxtoken.KindAccessToken, 2),
	}
	for _, c := range want {
		mustPut(t, s, c)
	}
	// Bookkeeping is not a credential and must not appear in List.
	if err := s.PutLedger(t.Context(), wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01", TokenCalls: 1}); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	checkList := func(want []wxtoken.Credential) {
		t.Helper()
		got := mustList(t, s)
		if len(got) != len(want) {
			t.Fatalf("List returned %d records, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if d := diffCredential(got[i], want[i]); d != "" {
				t.Errorf("List[%d]: %s", i, d)
			}
		}
	}
	checkList(want)

	// A replaced record is listed once, in its new version.
	want[1] = cred(appA, wxtoken.KindJSAPITicket, 5)
	mustPut(t, s, want[1])
	checkList(want)
}

func testInvalidPut(t *testing.T, s wxtoken.Store) {
	valid := cred(appA, wxtoken.KindAccessToken, 1)
	tests := []struct {
		name   string
		mutate func(c *wxtoken.Credential)
		// mention is the field the error must name, so an operator
		// reading a log line can tell what was wrong.
		mention string
	}{
		{"EmptyAppID", func(c *wxtoken.Credential) { c.AppID = "" }, "appid"},
		{"EmptyKind", func(c *wxtoken.Credential) { c.Kind = "" }, "kind"},
		{"UnknownKind", func(c *wxtoken.Credential) { c.Kind = "refresh_token" }, "kind"},
		{"VersionZero", func(c *wxtoken.Credential) { c.Version = 0 }, "version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := s.Put(t.Context(), c)
			if err == nil {
				t.Fatalf("Put(%+v) succeeded, want an error", c)
			}
			if errors.Is(err, wxtoken.ErrStale) || errors.Is(err, wxtoken.ErrNotFound) {
				t.Errorf("Put of an invalid record: err = %v, want a validation error, not ErrStale/ErrNotFound", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.mention) {
				t.Errorf("Put of an invalid record: error %q does not mention %q", err, tc.mention)
			}
		})
	}
	if list := mustList(t, s); len(list) != 0 {
		t.Errorf("invalid records were stored: %+v", list)
	}
}

func testMeta(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	if _, err := s.GetLedger(ctx, appA); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Fatalf("GetLedger before PutLedger: err = %v, want ErrNotFound", err)
	}
	now := time.Now() // monotonic reading and local zone, as in real use
	m := wxtoken.Ledger{
		AppID:           appA,
		QuotaDay:        "2025-03-01",
		TokenCalls:      17,
		ForceRefreshes:  []time.Time{now.Add(-time.Hour), now, now.In(time.FixedZone("CST", 8*60*60))},
		MintAttemptAt:   now.Add(-time.Minute),
		LastMintAt:      now.Add(-time.Second),
		LastMintBy:      "replica-1",
		AbandonedMintAt: now.Add(-2 * time.Second),
		KilledVersion:   4,
		TokenFailure: &wxtoken.Failure{Count: 3, RetryAt: now.Add(5 * time.Minute), Blocked: true,
			Error: wxtoken.ErrorInfo{ErrCode: 40164, Class: "ip_whitelist", Message: "invalid ip", Hint: "add the IP", At: now}},
	}
	if err := s.PutLedger(ctx, m); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	other := wxtoken.Ledger{AppID: appB, QuotaDay: "2025-03-01", TokenCalls: 2}
	if err := s.PutLedger(ctx, other); err != nil {
		t.Fatalf("PutLedger(%s): %v", appB, err)
	}
	check := func(want wxtoken.Ledger) {
		t.Helper()
		got, err := s.GetLedger(ctx, want.AppID)
		if err != nil {
			t.Fatalf("GetLedger(%s): %v", want.AppID, err)
		}
		if d := diffMeta(got, want); d != "" {
			t.Errorf("GetLedger(%s): %s", want.AppID, d)
		}
	}
	check(m)
	check(other)

	// PutLedger replaces: a new quota day starts with an empty budget.
	next := wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-02", TokenCalls: 1}
	if err := s.PutLedger(ctx, next); err != nil {
		t.Fatalf("PutLedger(next day): %v", err)
	}
	check(next)
	check(other)
}

func testMetaCopied(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 1, 0, 0, 0, time.UTC)
	in := wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01", TokenCalls: 2, ForceRefreshes: []time.Time{t0, t0.Add(time.Minute)}}
	want := in
	want.ForceRefreshes = slices.Clone(in.ForceRefreshes)
	if err := s.PutLedger(ctx, in); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	// Changing the caller's slice after the write must not change what
	// is stored.
	in.ForceRefreshes[0] = t0.Add(time.Hour)
	got, err := s.GetLedger(ctx, appA)
	if err != nil {
		t.Fatalf("GetLedger: %v", err)
	}
	if d := diffMeta(got, want); d != "" {
		t.Fatalf("stored meta changed through the caller's slice: %s", d)
	}
	// Neither may changing a returned slice.
	got.ForceRefreshes[1] = t0.Add(2 * time.Hour)
	again, err := s.GetLedger(ctx, appA)
	if err != nil {
		t.Fatalf("GetLedger: %v", err)
	}
	if d := diffMeta(again, want); d != "" {
		t.Errorf("stored meta changed through a returned slice: %s", d)
	}
}

func testInvalidPutMeta(t *testing.T, s wxtoken.Store) {
	err := s.PutLedger(t.Context(), wxtoken.Ledger{QuotaDay: "2025-03-01", TokenCalls: 1})
	if err == nil {
		t.Fatal("PutLedger with an empty AppID succeeded, want an error")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "appid") {
		t.Errorf("PutLedger with an empty AppID: error %q does not mention appid", err)
	}
	if _, err := s.GetLedger(t.Context(), ""); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf(`GetLedger("") after a rejected PutLedger: err = %v, want ErrNotFound`, err)
	}
}

func testConcurrent(t *testing.T, s wxtoken.Store) {
	const (
		versions = 120
		writers  = 8
		readers  = 4
	)
	ctx := t.Context()

	// settled is the highest version some Put has already answered for:
	// after Put(v) returns nil or ErrStale, version v or a higher one is
	// stored, so no Get that starts later may return less. This catches
	// a compare-and-set split in two steps far more reliably than the
	// final state alone.
	var settled atomic.Uint64
	settle := func(v uint64) {
		for {
			old := settled.Load()
			if old >= v || settled.CompareAndSwap(old, v) {
				return
			}
		}
	}
	// check reads the record and reports whether it is consistent with
	// everything settled before the read and with the caller's previous
	// read.
	check := func(last *uint64) bool {
		floor := settled.Load()
		c, err := s.Get(ctx, appA, wxtoken.KindAccessToken)
		if errors.Is(err, wxtoken.ErrNotFound) {
			if floor != 0 || *last != 0 {
				t.Errorf("Get returned ErrNotFound after version %d was stored", max(floor, *last))
				return false
			}
			return true
		}
		if err != nil {
			t.Errorf("Get during concurrent Puts: %v", err)
			return false
		}
		if c.Version < *last {
			t.Errorf("version went backwards: read %d after %d", c.Version, *last)
			return false
		}
		if c.Version < floor {
			t.Errorf("Get returned version %d after Put of version %d had returned", c.Version, floor)
			return false
		}
		if want := valueFor(appA, wxtoken.KindAccessToken, c.Version); c.Value != want {
			t.Errorf("record mixes versions: version %d with value %q", c.Version, c.Value)
			return false
		}
		*last = c.Version
		return true
	}

	done := make(chan struct{})
	var readerWG sync.WaitGroup
	for range readers {
		readerWG.Go(func() {
			var last uint64
			for {
				select {
				case <-done:
					// One more read after every write has returned.
					check(&last)
					return
				default:
				}
				if !check(&last) {
					return
				}
			}
		})
	}

	var writerWG sync.WaitGroup
	for w := range writers {
		writerWG.Go(func() {
			var last uint64
			// Writers interleave versions, so most Puts race a
			// neighbour with a nearby version.
			for v := uint64(w + 1); v <= versions; v += writers {
				err := s.Put(ctx, cred(appA, wxtoken.KindAccessToken, v))
				if err != nil && !errors.Is(err, wxtoken.ErrStale) {
					t.Errorf("Put v%d: %v", v, err)
					return
				}
				if err != nil && v == versions {
					t.Errorf("Put of the highest version %d was rejected: %v", v, err)
				}
				settle(v)
				if !check(&last) {
					return
				}
			}
		})
	}
	writerWG.Wait()
	close(done)
	readerWG.Wait()

	got := mustGet(t, s, appA, wxtoken.KindAccessToken)
	if d := diffCredential(got, cred(appA, wxtoken.KindAccessToken, versions)); d != "" {
		t.Errorf("after concurrent Puts of 1..%d: %s", versions, d)
	}
}

// callWithin runs fn and fails the test if it does not return within
// hangLimit.
func callWithin(t *testing.T, name string, fn func() error) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- fn() }()
	timer := time.NewTimer(hangLimit)
	defer timer.Stop()
	select {
	case err := <-result:
		return err
	case <-timer.C:
		t.Fatalf("%s with a cancelled context did not return within %s", name, hangLimit)
		return nil
	}
}

func testCancelled(t *testing.T, s wxtoken.Store) {
	// An implementation may notice the cancellation or finish the
	// operation anyway; it must not hang, any error must say the context
	// was cancelled, and a write must either have happened or not.
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	okOrCancelled := func(name string, err error, alsoOK ...error) {
		t.Helper()
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		for _, e := range alsoOK {
			if errors.Is(err, e) {
				return
			}
		}
		t.Errorf("%s with a cancelled context: err = %v, want nil or context.Canceled", name, err)
	}

	c := cred(appA, wxtoken.KindAccessToken, 1)
	putErr := callWithin(t, "Put", func() error { return s.Put(cancelled, c) })
	okOrCancelled("Put", putErr)
	got, err := s.Get(t.Context(), appA, wxtoken.KindAccessToken)
	switch {
	case putErr != nil && !errors.Is(err, wxtoken.ErrNotFound):
		t.Errorf("Put failed (%v) but Get found %+v, err %v", putErr, got, err)
	case putErr == nil && err != nil:
		t.Errorf("Put succeeded but Get: %v", err)
	case putErr == nil:
		if d := diffCredential(got, c); d != "" {
			t.Errorf("Put succeeded but Get: %s", d)
		}
	}

	m := wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01", TokenCalls: 1}
	putMetaErr := callWithin(t, "PutLedger", func() error { return s.PutLedger(cancelled, m) })
	okOrCancelled("PutLedger", putMetaErr)
	gotMeta, err := s.GetLedger(t.Context(), appA)
	switch {
	case putMetaErr != nil && !errors.Is(err, wxtoken.ErrNotFound):
		t.Errorf("PutLedger failed (%v) but GetLedger found %+v, err %v", putMetaErr, gotMeta, err)
	case putMetaErr == nil && err != nil:
		t.Errorf("PutLedger succeeded but GetLedger: %v", err)
	case putMetaErr == nil:
		if d := diffMeta(gotMeta, m); d != "" {
			t.Errorf("PutLedger succeeded but GetLedger: %s", d)
		}
	}

	// Reads, with and without something stored under the key.
	mustPut(t, s, cred(appB, wxtoken.KindAccessToken, 1))
	for _, appID := range []string{appA, appB} {
		err := callWithin(t, "Get", func() error {
			_, err := s.Get(cancelled, appID, wxtoken.KindAccessToken)
			return err
		})
		okOrCancelled("Get", err, wxtoken.ErrNotFound)
		err = callWithin(t, "GetLedger", func() error {
			_, err := s.GetLedger(cancelled, appID)
			return err
		})
		okOrCancelled("GetLedger", err, wxtoken.ErrNotFound)
	}
	err = callWithin(t, "List", func() error {
		_, err := s.List(cancelled)
		return err
	})
	okOrCancelled("List", err)
}
