package bolt_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
)

// previousFormatFile is a store written by the release before stores
// recorded a schema version (see testdata/README.md for how it was made).
const previousFormatFile = "testdata/schema0.db"

// previousFormatData is what previousFormatFile holds: at least one record
// of every kind the file format keeps, with ids of every family.
func previousFormatData() ([]wxtoken.Credential, []wxtoken.Ledger, []wxtoken.Entry) {
	at := time.Date(2026, 11, 20, 8, 30, 0, 123456789, time.UTC)
	creds := []wxtoken.Credential{
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "token-aa-3", FetchedAt: at, ExpiresAt: at.Add(2 * time.Hour), RefreshAt: at.Add(80 * time.Minute), Version: 3, API: wxtoken.TokenAPIClassic},
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindJSAPITicket, Value: "ticket-aa-2", FetchedAt: at.Add(time.Second), ExpiresAt: at.Add(2*time.Hour + time.Second), RefreshAt: at.Add(80 * time.Minute), Version: 2, TokenVersion: 3, CallAttemptAt: at.Add(time.Minute)},
		{AppID: "wx00000000000000bb", Kind: wxtoken.KindAccessToken, Value: "token-bb-1", FetchedAt: at, ExpiresAt: at.Add(2 * time.Hour), RefreshAt: at.Add(115 * time.Minute), Version: 1, API: wxtoken.TokenAPIStable},
		{AppID: wxtoken.WeComID("ww00000000000000cc", "1000002"), Kind: wxtoken.KindAgentConfig, Value: "agent-ticket", FetchedAt: at, ExpiresAt: at.Add(2 * time.Hour), RefreshAt: at.Add(90 * time.Minute), Version: 7, TokenVersion: 4},
		{AppID: wxtoken.AuthorizerID("wx00000000000000dd", "wx00000000000000ee"), Kind: wxtoken.KindAccessToken, Value: "authorizer-token", FetchedAt: at, ExpiresAt: at.Add(2 * time.Hour), RefreshAt: at.Add(80 * time.Minute), Version: 5, API: wxtoken.TokenAPIAuthorizer},
	}
	ledgers := []wxtoken.Ledger{
		{AppID: "wx00000000000000aa", QuotaDay: "2026-11-20", TokenCalls: 12, ForceRefreshes: []time.Time{at.Add(-time.Hour), at}, MintAttemptAt: at.Add(time.Minute), AbandonedMintAt: at.Add(-30 * time.Minute), KilledVersion: 2,
			TokenFailure: &wxtoken.Failure{Count: 2, RetryAt: at.Add(5 * time.Minute), Blocked: true, Error: wxtoken.ErrorInfo{ErrCode: 40164, Class: "ip_whitelist", Message: "invalid ip 1.2.3.4", Hint: "add 1.2.3.4 to the IP whitelist", At: at}}},
		{AppID: "wx00000000000000bb", QuotaDay: "2026-11-20", TokenCalls: 1},
	}
	entries := []wxtoken.Entry{
		{ID: "wx00000000000000bb", Family: wxtoken.FamilyApp, Name: "shop", Secret: "sealed:v1:AAAA", TokenAPI: wxtoken.TokenAPIStable, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}, Tags: []string{"retail"}, State: wxtoken.EntryActive, CreatedAt: at, UpdatedAt: at, Version: 1},
		{ID: wxtoken.WeComID("ww00000000000000cc", "1000002"), Family: wxtoken.FamilyWeCom, Secret: "sealed:v1:BBBB", Tickets: []wxtoken.Kind{wxtoken.KindAgentConfig}, State: wxtoken.EntryActive, CreatedAt: at, UpdatedAt: at.Add(time.Hour), Version: 2},
		{ID: wxtoken.AuthorizerID("wx00000000000000dd", "wx00000000000000ee"), Family: wxtoken.FamilyAuthorizer, Secret: "sealed:v1:CCCC", State: wxtoken.EntryReauthorize, Note: "61023 invalid refresh_token", CreatedAt: at, UpdatedAt: at, Version: 4},
		{ID: "wx00000000000000ff", Family: wxtoken.FamilyApp, Secret: "sealed:v1:DDDD", State: wxtoken.EntryRemoved, Note: "removed by admin", CreatedAt: at, UpdatedAt: at, Version: 3},
	}
	return creds, ledgers, entries
}

// writePreviousFormat writes previousFormatData with the store's own calls.
func writePreviousFormat(t *testing.T, path string) {
	t.Helper()
	ctx := t.Context()
	s := mustOpen(t, path)
	defer mustClose(t, s)
	creds, ledgers, entries := previousFormatData()
	for _, c := range creds {
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ledgers {
		if err := s.PutLedger(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		if err := s.PutEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWritePreviousFormatFixture wrote testdata/schema0.db with the code of
// that format; it runs only when asked to.
func TestWritePreviousFormatFixture(t *testing.T) {
	if os.Getenv("WXTOKEN_WRITE_FIXTURE") == "" {
		t.Skip("writes the fixture only with WXTOKEN_WRITE_FIXTURE=1")
	}
	path := filepath.Join(t.TempDir(), "schema0.db")
	writePreviousFormat(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(previousFormatFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkHolds fails unless s holds exactly previousFormatData.
func checkHolds(t *testing.T, ctx context.Context, s *bolt.Store) {
	t.Helper()
	creds, ledgers, entries := previousFormatData()
	gotCreds, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(gotCreds) != len(creds) {
		t.Errorf("List: %d credentials, want %d", len(gotCreds), len(creds))
	}
	for _, want := range creds {
		got, err := s.Get(ctx, want.AppID, want.Kind)
		if err != nil {
			t.Errorf("Get %s/%s: %v", want.AppID, want.Kind, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get %s/%s:\n got %+v\nwant %+v", want.AppID, want.Kind, got, want)
		}
	}
	for _, want := range ledgers {
		got, err := s.GetLedger(ctx, want.AppID)
		if err != nil {
			t.Errorf("GetLedger %s: %v", want.AppID, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetLedger %s:\n got %+v\nwant %+v", want.AppID, got, want)
		}
	}
	gotEntries, err := s.ListEntries(ctx)
	if err != nil {
		t.Fatalf("ListEntries: %v", err)
	}
	if len(gotEntries) != len(entries) {
		t.Errorf("ListEntries: %d entries, want %d", len(gotEntries), len(entries))
	}
	for _, want := range entries {
		got, err := s.GetEntry(ctx, want.ID)
		if err != nil {
			t.Errorf("GetEntry %s: %v", want.ID, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetEntry %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
}

// copyFixture copies the previous format's file to a temporary path, so
// that opening it (which upgrades it) leaves the committed file as it is.
func copyFixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(previousFormatFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPreviousFormatOpensWithEveryRecord(t *testing.T) {
	path := copyFixture(t)
	s := mustOpen(t, path)
	defer mustClose(t, s)
	checkHolds(t, t.Context(), s)
}
