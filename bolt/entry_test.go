package bolt_test

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/wxtoken/wxtoken"
)

func testEntry(id string, version uint64) wxtoken.Entry {
	at := time.Date(2025, 3, 1, 8, 0, 0, 7, time.UTC)
	return wxtoken.Entry{
		ID: id, Family: wxtoken.FamilyAuthorizer, Name: "shop",
		Secret:   "v1.0123456789abcdef.c2VhbGVkIHJlZnJlc2ggdG9rZW4",
		TokenAPI: wxtoken.TokenAPIAuthorizer, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket},
		Tags: []string{"shops"}, State: wxtoken.EntryActive,
		CreatedAt: at, UpdatedAt: at, Version: version,
	}
}

func TestEntriesSurviveReopen(t *testing.T) {
	path := dbPath(t)
	ctx := t.Context()
	id := wxtoken.AuthorizerID("wx00000000000000cc", appID)
	active := testEntry(id, 1)
	removed := testEntry(wxtoken.AuthorizerID("wx00000000000000cc", "wx00000000000000dd"), 4)
	removed.State, removed.Note = wxtoken.EntryRemoved, "unauthorized"

	s := mustOpen(t, path)
	for _, e := range []wxtoken.Entry{active, removed} {
		if err := s.PutEntry(ctx, e); err != nil {
			t.Fatalf("PutEntry(%s): %v", e.ID, err)
		}
	}
	mustClose(t, s)

	s = mustOpen(t, path)
	defer mustClose(t, s)
	list, err := s.ListEntries(ctx)
	if err != nil {
		t.Fatalf("ListEntries after reopen: %v", err)
	}
	if len(list) != 2 || list[0].ID != active.ID || list[1].ID != removed.ID {
		t.Fatalf("ListEntries after reopen = %+v, want %s and %s", list, active.ID, removed.ID)
	}
	got, err := s.GetEntry(ctx, id)
	if err != nil {
		t.Fatalf("GetEntry after reopen: %v", err)
	}
	if got.Secret != active.Secret || got.State != active.State || got.Version != 1 ||
		!got.CreatedAt.Equal(active.CreatedAt) || len(got.Tickets) != 1 || got.Tickets[0] != wxtoken.KindJSAPITicket {
		t.Errorf("GetEntry after reopen = %+v, want %+v", got, active)
	}
	if list[1].State != wxtoken.EntryRemoved || list[1].Note != removed.Note {
		t.Errorf("the removed entry after reopen = %+v", list[1])
	}
	// The version compare still applies to what was persisted.
	if err := s.PutEntry(ctx, testEntry(id, 1)); !errors.Is(err, wxtoken.ErrStale) {
		t.Errorf("PutEntry of the persisted version after reopen: err = %v, want ErrStale", err)
	}
}

// A file written before entries were kept has no entries bucket: it opens,
// gets one, and keeps its credentials.
func TestFileWithoutEntriesBucketOpens(t *testing.T) {
	path := dbPath(t)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{"credentials", "meta"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, "credentials", appID+"/access_token",
		[]byte(`{"appid":"`+appID+`","kind":"access_token","value":"old","version":2}`))

	s := mustOpen(t, path)
	defer mustClose(t, s)
	if list, err := s.ListEntries(t.Context()); err != nil || len(list) != 0 {
		t.Fatalf("ListEntries of an older file = %+v, %v; want none", list, err)
	}
	e := testEntry(wxtoken.AuthorizerID("wx00000000000000cc", appID), 1)
	if err := s.PutEntry(t.Context(), e); err != nil {
		t.Fatalf("PutEntry into an older file: %v", err)
	}
	if _, err := s.GetEntry(t.Context(), e.ID); err != nil {
		t.Errorf("GetEntry: %v", err)
	}
	if c, err := s.Get(t.Context(), appID, wxtoken.KindAccessToken); err != nil || c.Value != "old" {
		t.Errorf("the older file's credential = %+v, %v", c, err)
	}
}

func TestUndecodableEntry(t *testing.T) {
	path := dbPath(t)
	mustClose(t, mustOpen(t, path))
	const id = "wx00000000000000cc:wx00000000000000dd"
	writeRaw(t, path, "entries", id, []byte(`{"id": "wx00`))
	writeRaw(t, path, "entries", "wx00000000000000ee", []byte(`{"id":"wx00000000000000ff","family":"app","state":"active","version":1}`))

	s := mustOpen(t, path)
	defer mustClose(t, s)
	_, err := s.GetEntry(t.Context(), id)
	wantErrNaming(t, "GetEntry of an undecodable entry", err, id)
	if errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetEntry of an undecodable entry reports ErrNotFound, which would hide the damage: %v", err)
	}
	_, err = s.GetEntry(t.Context(), "wx00000000000000ee")
	wantErrNaming(t, "GetEntry of a misfiled entry", err, "wx00000000000000ee")
	_, err = s.ListEntries(t.Context())
	wantErrNaming(t, "ListEntries with an undecodable entry", err, "entry")
	// Nor is it replaced: the version compare cannot be decided.
	err = s.PutEntry(t.Context(), testEntry(id, 9))
	wantErrNaming(t, "PutEntry over an undecodable entry", err, id)
}
