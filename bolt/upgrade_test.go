package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

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

// rawSchema returns what the file at path records as its schema version,
// read with bbolt itself; "" when nothing is recorded.
func rawSchema(t *testing.T, path string) string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	err = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("schema")); b != nil {
			v = string(b.Get([]byte("version")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPreviousFormatIsUpgraded(t *testing.T) {
	path := copyFixture(t)
	if v := rawSchema(t, path); v != "" {
		t.Fatalf("the fixture records schema version %q; it must be a file of the format before versions", v)
	}
	var logs bytes.Buffer
	s, err := bolt.Open(path, bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open of a store in the previous format: %v", err)
	}
	checkHolds(t, t.Context(), s)
	// The upgraded store takes writes as before, versions compared.
	creds, _, _ := previousFormatData()
	next := creds[0]
	next.Value, next.Version = "token-aa-4", next.Version+1
	if err := s.Put(t.Context(), next); err != nil {
		t.Errorf("Put into the upgraded store: %v", err)
	}
	if err := s.Put(t.Context(), creds[1]); !errors.Is(err, wxtoken.ErrStale) {
		t.Errorf("Put of a stored version into the upgraded store: %v, want ErrStale", err)
	}
	mustClose(t, s)
	if want := strconv.Itoa(bolt.SchemaVersion); rawSchema(t, path) != want {
		t.Errorf("schema version recorded after the upgrade: %q, want %q", rawSchema(t, path), want)
	}
	if !strings.Contains(logs.String(), "upgraded") || !strings.Contains(logs.String(), "from=0") || !strings.Contains(logs.String(), path) {
		t.Errorf("the upgrade was not logged with the file and the versions: %q", logs.String())
	}

	// Opened again, nothing is upgraded and nothing is lost.
	logs.Reset()
	s, err = bolt.Open(path, bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer mustClose(t, s)
	if logs.Len() != 0 {
		t.Errorf("the second open logged %q", logs.String())
	}
	if c, err := s.Get(t.Context(), next.AppID, next.Kind); err != nil || c.Value != next.Value {
		t.Errorf("Get after reopening: %+v, %v", c, err)
	}
	if ls, err := s.ListEntries(t.Context()); err != nil || len(ls) != 4 {
		t.Errorf("ListEntries after reopening: %d entries, %v; want 4", len(ls), err)
	}
}

func TestNewFileRecordsTheSchemaVersion(t *testing.T) {
	path := dbPath(t)
	var logs bytes.Buffer
	s, err := bolt.Open(path, bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	if want := strconv.Itoa(bolt.SchemaVersion); rawSchema(t, path) != want {
		t.Errorf("a new file records schema version %q, want %q", rawSchema(t, path), want)
	}
	if logs.Len() != 0 {
		t.Errorf("a new file was logged as upgraded: %q", logs.String())
	}
}

// setRawSchema records v as the file's schema version, as another release
// of wxtoken would.
func setRawSchema(t *testing.T, path, v string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("schema"))
		if err != nil {
			return err
		}
		return b.Put([]byte("version"), []byte(v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaIsRefusedAndKept(t *testing.T) {
	tests := []struct {
		name, version string
		parts         []string
	}{
		{"newer", strconv.Itoa(bolt.SchemaVersion + 1), []string{"schema version " + strconv.Itoa(bolt.SchemaVersion+1), "newer wxtoken", "up to " + strconv.Itoa(bolt.SchemaVersion), "untouched"}},
		{"unreadable", "one", []string{`schema version "one" is not a version`, "untouched"}},
		{"zero", "0", []string{`schema version "0" is not a version`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyFixture(t)
			setRawSchema(t, path, tt.version)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = bolt.Open(path, bolt.Options{})
			wantErrNaming(t, "Open of a file of schema "+tt.version, err, append([]string{path}, tt.parts...)...)
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the refused file was changed")
			}
		})
	}
}

// rawCredentials returns the stored bytes of every credential record of
// the file at path, by key.
func rawCredentials(t *testing.T, path string) map[string][]byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("credentials")).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A file of schema 1 (JSON credential records) is upgraded to the compact
// records with nothing lost, and a record that cannot be read is kept as
// it was, for Get to report, rather than dropped.
func TestSchema1RecordsAreCompacted(t *testing.T) {
	path := copyFixture(t)
	setRawSchema(t, path, "1")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const badKey = "wx00000000000000ba/access_token"
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("credentials")).Put([]byte(badKey), []byte(`{"appid": "wx00000000000000ba", "version": `))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before := rawCredentials(t, path)

	var logs bytes.Buffer
	s, err := bolt.Open(path, bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open of a schema 1 file: %v", err)
	}
	if !strings.Contains(logs.String(), "from=1") {
		t.Errorf("the upgrade from 1 was not logged: %q", logs.String())
	}
	creds, _, _ := previousFormatData()
	for _, c := range creds {
		got, err := s.Get(t.Context(), c.AppID, c.Kind)
		if err != nil || got != c {
			t.Errorf("%s after the upgrade: %+v, %v; want %+v", c.AppID, got, err, c)
		}
	}
	if _, err := s.Get(t.Context(), "wx00000000000000ba", wxtoken.KindAccessToken); err == nil || !strings.Contains(err.Error(), badKey) {
		t.Errorf("Get of the unreadable record: %v, want an error naming %s", err, badKey)
	}
	mustClose(t, s)

	after := rawCredentials(t, path)
	for _, c := range creds {
		key := wxtoken.CredentialKey(c.AppID, c.Kind)
		if raw := after[key]; len(raw) == 0 || raw[0] == '{' || 2*len(raw) > len(before[key])+len(before[key])/4 {
			t.Errorf("%s after the upgrade: %d bytes starting %q (was %d bytes of JSON)", key, len(raw), raw[:min(len(raw), 1)], len(before[key]))
		}
	}
	if !bytes.Equal(after[badKey], before[badKey]) {
		t.Errorf("the unreadable record was changed: %q", after[badKey])
	}
}
