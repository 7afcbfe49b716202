package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// The ids of the Registry tests, one of each family. The WeCom and
// authorizer ids hold the separators of compound ids ('/' and ':'), which
// a store must not confuse with its own.
var (
	wecomID      = wxtoken.WeComID("ww00000000000000cc", "1000002")
	componentID  = "wx00000000000000cc"
	authorizerID = wxtoken.AuthorizerID(componentID, appB)
)

// sealedSecret looks like what package seal writes, with characters that
// need escaping in JSON and elsewhere added: a store keeps the Secret as
// it is given, without looking inside.
const sealedSecret = "v1.0123456789abcdef.AbCd-_0123456789xyzXYZ" + `"\<>&+/=% ` + "\n\t\u2028é中\x00"

// entry returns a complete, valid entry of the family whose fields encode
// its id and version, so a reader can tell whether they belong together.
func entry(id string, f wxtoken.Family, version uint64) wxtoken.Entry {
	created := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.UTC)
	e := wxtoken.Entry{
		ID:        id,
		Family:    f,
		Name:      fmt.Sprintf("%s v%d", id, version),
		Secret:    fmt.Sprintf("v1.0123456789abcdef.%s-v%d", id, version),
		Tags:      []string{"team-a", "prod"},
		State:     wxtoken.EntryActive,
		CreatedAt: created,
		UpdatedAt: created.Add(time.Duration(version) * time.Minute),
		Version:   version,
	}
	switch f {
	case wxtoken.FamilyApp:
		e.TokenAPI, e.Tickets = wxtoken.TokenAPIStable, []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard}
	case wxtoken.FamilyWeCom:
		e.TokenAPI, e.Tickets = wxtoken.TokenAPIWeCom, []wxtoken.Kind{wxtoken.KindAgentConfig}
	case wxtoken.FamilyComponent:
		e.TokenAPI = wxtoken.TokenAPIComponent
	case wxtoken.FamilyAuthorizer:
		e.TokenAPI, e.Tickets = wxtoken.TokenAPIAuthorizer, []wxtoken.Kind{wxtoken.KindJSAPITicket}
	}
	return e
}

// diffEntry describes how got differs from want, or returns "". Times
// are compared as instants; a nil and an empty slice are the same.
func diffEntry(got, want wxtoken.Entry) string {
	var d []string
	field := func(name string, equal bool, g, w any) {
		if !equal {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	field("ID", got.ID == want.ID, got.ID, want.ID)
	field("Family", got.Family == want.Family, got.Family, want.Family)
	field("Name", got.Name == want.Name, got.Name, want.Name)
	field("Secret", got.Secret == want.Secret, got.Secret, want.Secret)
	field("TokenAPI", got.TokenAPI == want.TokenAPI, got.TokenAPI, want.TokenAPI)
	field("Tickets", slices.Equal(got.Tickets, want.Tickets), got.Tickets, want.Tickets)
	field("Tags", slices.Equal(got.Tags, want.Tags), got.Tags, want.Tags)
	field("State", got.State == want.State, got.State, want.State)
	field("Note", got.Note == want.Note, got.Note, want.Note)
	field("CreatedAt", got.CreatedAt.Equal(want.CreatedAt), got.CreatedAt, want.CreatedAt)
	field("UpdatedAt", got.UpdatedAt.Equal(want.UpdatedAt), got.UpdatedAt, want.UpdatedAt)
	field("Version", got.Version == want.Version, fmt.Sprint(got.Version), fmt.Sprint(want.Version))
	return strings.Join(d, "; ")
}

func mustPutEntry(t *testing.T, s wxtoken.Registry, e wxtoken.Entry) {
	t.Helper()
	if err := s.PutEntry(t.Context(), e); err != nil {
		t.Fatalf("PutEntry(%s v%d): %v", e.ID, e.Version, err)
	}
}

// wantEntry fails unless the entry stored under want.ID equals want.
func wantEntry(t *testing.T, s wxtoken.Registry, want wxtoken.Entry) {
	t.Helper()
	got, err := s.GetEntry(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("GetEntry(%s): %v", want.ID, err)
	}
	if d := diffEntry(got, want); d != "" {
		t.Errorf("GetEntry(%s): %s", want.ID, d)
	}
}

// wantEntries fails unless ListEntries returns want, in any order.
func wantEntries(t *testing.T, s wxtoken.Registry, want []wxtoken.Entry) {
	t.Helper()
	got, err := s.ListEntries(t.Context())
	if err != nil {
		t.Fatalf("ListEntries: %v", err)
	}
	byID := func(a, b wxtoken.Entry) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(got, byID)
	want = slices.Clone(want)
	slices.SortFunc(want, byID)
	if len(got) != len(want) {
		t.Fatalf("ListEntries returned %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if d := diffEntry(got[i], want[i]); d != "" {
			t.Errorf("ListEntries[%d]: %s", i, d)
		}
	}
}

func testEntryNotFound(t *testing.T, s wxtoken.Store) {
	for _, id := range []string{appA, wecomID, authorizerID} {
		if _, err := s.GetEntry(t.Context(), id); !errors.Is(err, wxtoken.ErrNotFound) {
			t.Errorf("GetEntry(%s) on an empty store: err = %v, want ErrNotFound", id, err)
		}
	}
	wantEntries(t, s, nil)
}

func testEntryRoundTrip(t *testing.T, s wxtoken.Store) {
	// time.Now carries a monotonic reading and the local zone, as in
	// real use; only the instant must come back.
	now := time.Now()
	app := entry(appA, wxtoken.FamilyApp, 1)
	app.CreatedAt, app.UpdatedAt = now, now.In(time.FixedZone("CST", 8*60*60))
	app.Note = "registered by admin"
	all := []wxtoken.Entry{
		app,
		entry(wecomID, wxtoken.FamilyWeCom, 2),
		entry(componentID, wxtoken.FamilyComponent, 3),
		entry(authorizerID, wxtoken.FamilyAuthorizer, 4),
	}
	for _, e := range all {
		mustPutEntry(t, s, e)
	}
	for _, e := range all {
		wantEntry(t, s, e)
	}
	wantEntries(t, s, all)
}

// Entries and credentials live side by side under the same ids without
// showing up in each other's lists.
func testEntriesApartFromCredentials(t *testing.T, s wxtoken.Store) {
	e := entry(appA, wxtoken.FamilyApp, 1)
	mustPutEntry(t, s, e)
	if list := mustList(t, s); len(list) != 0 {
		t.Errorf("List after PutEntry = %+v, want no credential", list)
	}
	// A credential of a higher version under the entry's id neither
	// makes the entry stale nor replaces it.
	mustPut(t, s, cred(appA, wxtoken.KindAccessToken, 9))
	if err := s.PutLedger(t.Context(), wxtoken.Ledger{AppID: appA, QuotaDay: "2025-03-01"}); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	wantEntries(t, s, []wxtoken.Entry{e})
	next := entry(appA, wxtoken.FamilyApp, 2)
	mustPutEntry(t, s, next)
	wantEntry(t, s, next)
	wantStored(t, s, cred(appA, wxtoken.KindAccessToken, 9))
}

func testEntryStale(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	stored := entry(authorizerID, wxtoken.FamilyAuthorizer, 2)
	mustPutEntry(t, s, stored)
	for _, v := range []uint64{2, 1} {
		older := entry(authorizerID, wxtoken.FamilyAuthorizer, v)
		older.Secret = "must-not-be-stored"
		older.State = wxtoken.EntryRemoved
		if err := s.PutEntry(ctx, older); !errors.Is(err, wxtoken.ErrStale) {
			t.Errorf("PutEntry v%d over stored v2: err = %v, want ErrStale", v, err)
		}
	}
	wantEntry(t, s, stored)
	wantEntries(t, s, []wxtoken.Entry{stored})

	// Versions need not be consecutive, and belong to one id only.
	newer := entry(authorizerID, wxtoken.FamilyAuthorizer, 7)
	mustPutEntry(t, s, newer)
	wantEntry(t, s, newer)
	other := entry(wecomID, wxtoken.FamilyWeCom, 1)
	mustPutEntry(t, s, other)
	wantEntries(t, s, []wxtoken.Entry{newer, other})
}

func testInvalidEntry(t *testing.T, s wxtoken.Store) {
	tests := []struct {
		name    string
		mutate  func(e *wxtoken.Entry)
		mention string
	}{
		{"EmptyID", func(e *wxtoken.Entry) { e.ID = "" }, "id"},
		{"UnknownFamily", func(e *wxtoken.Entry) { e.Family = "miniprogram" }, "family"},
		{"EmptyState", func(e *wxtoken.Entry) { e.State = "" }, "state"},
		{"VersionZero", func(e *wxtoken.Entry) { e.Version = 0 }, "version"},
		{"TicketOfAnotherFamily", func(e *wxtoken.Entry) { e.Tickets = []wxtoken.Kind{wxtoken.KindAgentConfig} }, "ticket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(appA, wxtoken.FamilyApp, 1)
			tc.mutate(&e)
			err := s.PutEntry(t.Context(), e)
			if err == nil {
				t.Fatalf("PutEntry(%+v) succeeded, want an error", e)
			}
			if errors.Is(err, wxtoken.ErrStale) || errors.Is(err, wxtoken.ErrNotFound) {
				t.Errorf("PutEntry of an invalid entry: err = %v, want a validation error", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.mention) {
				t.Errorf("PutEntry of an invalid entry: error %q does not mention %q", err, tc.mention)
			}
		})
	}
	wantEntries(t, s, nil)
}

// A removed entry is a record like any other: kept, listed, and replaced
// only by a higher version (a new authorization).
func testRemovedEntryKept(t *testing.T, s wxtoken.Store) {
	active := entry(authorizerID, wxtoken.FamilyAuthorizer, 1)
	mustPutEntry(t, s, active)
	removed := entry(authorizerID, wxtoken.FamilyAuthorizer, 2)
	removed.State, removed.Note = wxtoken.EntryRemoved, "unauthorized by the account"
	mustPutEntry(t, s, removed)
	wantEntry(t, s, removed)
	other := entry(appA, wxtoken.FamilyApp, 1)
	mustPutEntry(t, s, other)
	wantEntries(t, s, []wxtoken.Entry{removed, other})

	again := entry(authorizerID, wxtoken.FamilyAuthorizer, 3)
	mustPutEntry(t, s, again)
	wantEntry(t, s, again)
}

func testEntrySecretExact(t *testing.T, s wxtoken.Store) {
	e := entry(authorizerID, wxtoken.FamilyAuthorizer, 1)
	e.Secret = sealedSecret + strings.Repeat("A", 4096)
	mustPutEntry(t, s, e)
	got, err := s.GetEntry(t.Context(), e.ID)
	if err != nil {
		t.Fatalf("GetEntry: %v", err)
	}
	if got.Secret != e.Secret {
		t.Errorf("the Secret came back changed: %q (%d bytes), want %q (%d bytes)", got.Secret, len(got.Secret), e.Secret, len(e.Secret))
	}

	// Bytes that are not UTF-8 must come back exactly or be refused; an
	// encoding that replaces them would lose the sealed secret.
	bad := entry(appA, wxtoken.FamilyApp, 1)
	bad.Secret = "v1.0123456789abcdef.\xff\xfe\x80"
	if err := s.PutEntry(t.Context(), bad); err != nil {
		if errors.Is(err, wxtoken.ErrStale) {
			t.Errorf("PutEntry of a secret that is not UTF-8: err = %v, want a validation error", err)
		}
		if _, err := s.GetEntry(t.Context(), bad.ID); !errors.Is(err, wxtoken.ErrNotFound) {
			t.Errorf("PutEntry was refused but GetEntry: err = %v, want ErrNotFound", err)
		}
		return
	}
	wantEntry(t, s, bad)
}

func testEntryCopied(t *testing.T, s wxtoken.Store) {
	in := entry(appA, wxtoken.FamilyApp, 1)
	want := in
	want.Tags, want.Tickets = slices.Clone(in.Tags), slices.Clone(in.Tickets)
	mustPutEntry(t, s, in)
	in.Tags[0], in.Tickets[0] = "changed", wxtoken.KindWxCard
	wantEntry(t, s, want)
	got, err := s.GetEntry(t.Context(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Tags[1], got.Tickets[1] = "changed", wxtoken.KindJSAPITicket
	wantEntry(t, s, want)
	list, err := s.ListEntries(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListEntries = %+v, %v", list, err)
	}
	list[0].Tags[0] = "changed"
	wantEntry(t, s, want)
}

func testEntryCancelled(t *testing.T, s wxtoken.Store) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	e := entry(appA, wxtoken.FamilyApp, 1)
	putErr := callWithin(t, "PutEntry", func() error { return s.PutEntry(cancelled, e) })
	if putErr != nil && !errors.Is(putErr, context.Canceled) {
		t.Errorf("PutEntry with a cancelled context: err = %v, want nil or context.Canceled", putErr)
	}
	got, err := s.GetEntry(t.Context(), e.ID)
	switch {
	case putErr != nil && !errors.Is(err, wxtoken.ErrNotFound):
		t.Errorf("PutEntry failed (%v) but GetEntry found %+v, err %v", putErr, got, err)
	case putErr == nil:
		wantEntry(t, s, e)
	}
	err = callWithin(t, "GetEntry", func() error {
		_, err := s.GetEntry(cancelled, e.ID)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetEntry with a cancelled context: err = %v", err)
	}
	err = callWithin(t, "ListEntries", func() error {
		_, err := s.ListEntries(cancelled)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("ListEntries with a cancelled context: err = %v", err)
	}
}

// Credentials and bookkeeping are kept under every form of id: a WeCom
// agent's "corp/agent", an authorizer's "component:authorizer", and a
// platform's component_appid with its pushed verify ticket, none of them
// confused with another.
func testCompoundIDs(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	records := []wxtoken.Credential{
		cred(wecomID, wxtoken.KindAccessToken, 1),
		cred(wecomID, wxtoken.KindAgentConfig, 2),
		cred(componentID, wxtoken.KindVerifyTicket, 3),
		cred(componentID, wxtoken.KindAccessToken, 4),
		cred(authorizerID, wxtoken.KindAccessToken, 5),
		cred(authorizerID, wxtoken.KindJSAPITicket, 6),
		// The authorizer's account under its own appid is another id.
		cred(appB, wxtoken.KindAccessToken, 7),
	}
	for _, c := range records {
		mustPut(t, s, c)
	}
	for _, c := range records {
		wantStored(t, s, c)
	}
	if got := mustList(t, s); len(got) != len(records) {
		t.Errorf("List returned %d records, want %d: %+v", len(got), len(records), got)
	}
	for _, id := range []string{"ww00000000000000cc", "1000002", appB + "/" + string(wxtoken.KindAccessToken)} {
		if _, err := s.Get(ctx, id, wxtoken.KindAccessToken); !errors.Is(err, wxtoken.ErrNotFound) {
			t.Errorf("Get(%s/access_token), never written: err = %v, want ErrNotFound", id, err)
		}
	}
	for i, id := range []string{wecomID, authorizerID, componentID} {
		m := wxtoken.Ledger{AppID: id, QuotaDay: "2025-03-01", TokenCalls: i + 1}
		if err := s.PutLedger(ctx, m); err != nil {
			t.Fatalf("PutLedger(%s): %v", id, err)
		}
	}
	for i, id := range []string{wecomID, authorizerID, componentID} {
		m, err := s.GetLedger(ctx, id)
		if err != nil || m.AppID != id || m.TokenCalls != i+1 {
			t.Errorf("GetLedger(%s) = %+v, %v; want its own bookkeeping", id, m, err)
		}
	}
	if got := mustList(t, s); len(got) != len(records) {
		t.Errorf("List after PutLedger returned %d records, want %d", len(got), len(records))
	}
}
