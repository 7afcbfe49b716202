package bolt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/internal/storetest"
)

const appID = "wx00000000000000aa"

func dbPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "wxtoken.db")
}

func mustOpen(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func mustClose(t *testing.T, s *bolt.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// wantErrNaming fails unless err is non-nil and its message contains
// every one of parts.
func wantErrNaming(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want an error", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not contain %q", what, err, p)
		}
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) wxtoken.Store { return mustOpen(t, dbPath(t)) })
}

func TestDataSurvivesReopen(t *testing.T) {
	path := dbPath(t)
	ctx := t.Context()
	fetched := time.Date(2025, 3, 1, 8, 0, 0, 5, time.UTC)
	c := wxtoken.Credential{
		AppID:     appID,
		Kind:      wxtoken.KindAccessToken,
		Value:     "persisted-token",
		FetchedAt: fetched,
		ExpiresAt: fetched.Add(2 * time.Hour),
		RefreshAt: fetched.Add(time.Hour),
		Version:   3,
		API:       wxtoken.TokenAPIStable,
	}
	m := wxtoken.Ledger{AppID: appID, QuotaDay: "2025-03-01", TokenCalls: 4, ForceRefreshes: []time.Time{fetched}}

	s := mustOpen(t, path)
	if err := s.Put(ctx, c); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.PutLedger(ctx, m); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	mustClose(t, s)

	s = mustOpen(t, path)
	defer mustClose(t, s)
	got, err := s.Get(ctx, appID, wxtoken.KindAccessToken)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.Value != c.Value || got.Version != c.Version || got.API != c.API ||
		!got.FetchedAt.Equal(c.FetchedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) || !got.RefreshAt.Equal(c.RefreshAt) {
		t.Errorf("Get after reopen = %+v, want %+v", got, c)
	}
	gotMeta, err := s.GetLedger(ctx, appID)
	if err != nil {
		t.Fatalf("GetLedger after reopen: %v", err)
	}
	if gotMeta.QuotaDay != m.QuotaDay || gotMeta.TokenCalls != m.TokenCalls ||
		len(gotMeta.ForceRefreshes) != 1 || !gotMeta.ForceRefreshes[0].Equal(fetched) {
		t.Errorf("GetLedger after reopen = %+v, want %+v", gotMeta, m)
	}
	// The version compare still applies to what was persisted.
	c.Value = "replayed"
	if err := s.Put(ctx, c); !errors.Is(err, wxtoken.ErrStale) {
		t.Errorf("Put of the persisted version after reopen: err = %v, want ErrStale", err)
	}
}

func TestFileIsPrivate(t *testing.T) {
	path := dbPath(t)
	s := mustOpen(t, path)
	defer mustClose(t, s)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := dbPath(t)
	first := mustOpen(t, path)

	// bbolt's lock is per open file, so a second handle in this process
	// stands in for a second process.
	start := time.Now()
	second, err := bolt.Open(path, bolt.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a locked file succeeded")
	}
	wantErrNaming(t, "second Open", err, path, "another process")
	// Generous bound: the point is that Open gives up rather than waits
	// for the lock indefinitely.
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open took %s with a 100ms timeout", waited)
	}

	// Once the holder is gone the file opens again.
	mustClose(t, first)
	mustClose(t, mustOpen(t, path))
}

func TestNegativeTimeoutRejected(t *testing.T) {
	path := dbPath(t)
	_, err := bolt.Open(path, bolt.Options{Timeout: -time.Second})
	wantErrNaming(t, "Open with a negative timeout", err, path, "timeout")
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("Open with a bad option created the file (stat: %v)", statErr)
	}
}

func TestCorruptFileIsRejectedAndKept(t *testing.T) {
	tests := map[string][]byte{
		"short garbage":      []byte("this is not a database\n"),
		"multi-page garbage": bytes.Repeat([]byte("garbage, not a bbolt page\n"), 2000),
		"zeroed pages":       make([]byte, 4*4096),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{})
			if err == nil {
				s.Close()
			}
			wantErrNaming(t, "Open of a corrupt file", err, path)
			after, readErr := os.ReadFile(path)
			if readErr != nil {
				t.Fatal(readErr)
			}
			if !bytes.Equal(after, content) {
				t.Errorf("Open changed the corrupt file (%d bytes before, %d after)", len(content), len(after))
			}
		})
	}
}

func TestDamagedPageIsRejected(t *testing.T) {
	// bbolt creates files with the operating system's page size.
	pageSize := os.Getpagesize()
	tests := map[string]func(page []byte) bool{
		// bbolt itself panics while loading a clobbered freelist; Open
		// must turn that into an error.
		"every data page": func([]byte) bool { return true },
		// Leaf pages are not read while opening, only the consistency
		// check at Open finds them.
		"leaf pages only": func(page []byte) bool { return bytes.Contains(page, bytes.Repeat([]byte("x"), 64)) },
	}
	for name, clobber := range tests {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			s := mustOpen(t, path)
			for v := uint64(1); v <= 20; v++ {
				c := wxtoken.Credential{AppID: appID, Kind: wxtoken.KindAccessToken, Value: strings.Repeat("x", 1500), Version: v}
				if err := s.Put(t.Context(), c); err != nil {
					t.Fatalf("Put: %v", err)
				}
			}
			mustClose(t, s)

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			clobbered := 0
			// Pages 0 and 1 are the meta pages; they stay intact so that
			// bbolt accepts the file as one of its own.
			for off := 2 * pageSize; off+pageSize <= len(data); off += pageSize {
				if page := data[off : off+pageSize]; clobber(page) {
					copy(page, bytes.Repeat([]byte{0xA5}, pageSize))
					clobbered++
				}
			}
			if clobbered == 0 {
				t.Fatal("found no page to damage")
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			s, err = bolt.Open(path, bolt.Options{})
			if err == nil {
				s.Close()
			}
			wantErrNaming(t, "Open of a file with damaged pages", err, path, "damaged")
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, data) {
				t.Errorf("Open changed the damaged file (read error: %v)", err)
			}
		})
	}
}

func TestDirectoryPathIsRejected(t *testing.T) {
	path := t.TempDir()
	_, err := bolt.Open(path, bolt.Options{})
	wantErrNaming(t, "Open of a directory", err, path)
}

func TestForeignBoltFileIsRejected(t *testing.T) {
	path := dbPath(t)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("sessions"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = bolt.Open(path, bolt.Options{})
	wantErrNaming(t, "Open of another program's bbolt file", err, path, `"sessions"`)
}

// writeRaw stores value under key in bucket, bypassing the Store, as a
// damaged or foreign writer would.
func writeRaw(t *testing.T, path, bucket, key string, value []byte) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), value)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUndecodableRecords(t *testing.T) {
	ctx := t.Context()
	path := dbPath(t)
	const badApp = "wx00000000000000bb"
	good := wxtoken.Credential{AppID: appID, Kind: wxtoken.KindAccessToken, Value: "good", Version: 1}
	s := mustOpen(t, path)
	if err := s.Put(ctx, good); err != nil {
		t.Fatalf("Put: %v", err)
	}
	mustClose(t, s)

	badKey := badApp + "/access_token"
	writeRaw(t, path, "credentials", badKey, []byte(`{"appid": "wx0000`))
	writeRaw(t, path, "meta", badApp, []byte(`not json`))
	s = mustOpen(t, path)
	defer mustClose(t, s)

	_, err := s.Get(ctx, badApp, wxtoken.KindAccessToken)
	wantErrNaming(t, "Get of an undecodable record", err, badKey)
	if errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Get of an undecodable record reports ErrNotFound, which would hide the damage: %v", err)
	}
	_, err = s.List(ctx)
	wantErrNaming(t, "List with an undecodable record", err, badKey)
	_, err = s.GetLedger(ctx, badApp)
	wantErrNaming(t, "GetLedger of an undecodable record", err, badApp)
	if errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetLedger of an undecodable record reports ErrNotFound: %v", err)
	}

	// The damaged record is not silently replaced: the version compare
	// cannot be decided.
	err = s.Put(ctx, wxtoken.Credential{AppID: badApp, Kind: wxtoken.KindAccessToken, Value: "new", Version: 1})
	wantErrNaming(t, "Put over an undecodable record", err, badKey)

	// Other records are unaffected.
	got, err := s.Get(ctx, appID, wxtoken.KindAccessToken)
	if err != nil || got.Value != good.Value {
		t.Errorf("Get of an intact record = %+v, %v; want value %q", got, err, good.Value)
	}
}

func TestRecordUnderWrongKey(t *testing.T) {
	path := dbPath(t)
	mustClose(t, mustOpen(t, path))
	// A well-formed record filed under another app's key must not be
	// served as that app's credential.
	data, err := json.Marshal(wxtoken.Credential{AppID: "wx00000000000000cc", Kind: wxtoken.KindAccessToken, Value: "other", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := appID + "/access_token"
	writeRaw(t, path, "credentials", key, data)

	s := mustOpen(t, path)
	defer mustClose(t, s)
	_, err = s.Get(t.Context(), appID, wxtoken.KindAccessToken)
	wantErrNaming(t, "Get of a misfiled record", err, key)
	_, err = s.List(t.Context())
	wantErrNaming(t, "List with a misfiled record", err, key)
}

func TestCloseIsIdempotent(t *testing.T) {
	s := mustOpen(t, dbPath(t))
	mustClose(t, s)
	mustClose(t, s)
	// Use after Close is an error, never a panic or ErrNotFound.
	_, err := s.Get(t.Context(), appID, wxtoken.KindAccessToken)
	if err == nil || errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Get after Close: err = %v, want a closed-store error", err)
	}
	err = s.Put(t.Context(), wxtoken.Credential{AppID: appID, Kind: wxtoken.KindAccessToken, Value: "v", Version: 1})
	if err == nil {
		t.Error("Put after Close succeeded")
	}
}

// grownFile writes a store file at path that spans many pages, and
// returns its contents.
func grownFile(t *testing.T, path string) []byte {
	t.Helper()
	s := mustOpen(t, path)
	for i := range 40 {
		c := wxtoken.Credential{AppID: fmt.Sprintf("wx%016d", i), Kind: wxtoken.KindAccessToken, Value: strings.Repeat("v", 1500), Version: 1}
		if err := s.Put(t.Context(), c); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	mustClose(t, s)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= 64<<10 {
		t.Fatalf("the store file is %d bytes; the test needs one larger than 64 KiB", len(data))
	}
	return data
}

// A file cut short must be refused before bbolt maps it: bbolt reads its
// pages through the mapping, and a page past the end of the file is a
// SIGBUS that kills this test process.
func TestTruncatedFileIsRejected(t *testing.T) {
	data := grownFile(t, dbPath(t))
	for _, size := range []int{8 << 10, 12 << 10, 20 << 10, 20<<10 + 100, 2<<10 + 100} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			path := dbPath(t)
			if err := os.WriteFile(path, data[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{})
			if err == nil {
				s.Close()
			}
			wantErrNaming(t, "Open of a truncated file", err, path, "cut short", "move it aside")
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, data[:size]) {
				t.Errorf("Open changed the truncated file (read error: %v)", err)
			}
		})
	}
}

func TestWholeFileOpens(t *testing.T) {
	path := dbPath(t)
	grownFile(t, path)
	s := mustOpen(t, path)
	defer mustClose(t, s)
	list, err := s.List(t.Context())
	if err != nil || len(list) != 40 {
		t.Errorf("List of the reopened file: %d records, %v; want 40", len(list), err)
	}
}

func TestEmptyFileStartsFreshWithAWarning(t *testing.T) {
	path := dbPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := bolt.Open(path, bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
	defer mustClose(t, s)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), path) {
		t.Errorf("no warning naming %s: %q", path, logs.String())
	}
	c := wxtoken.Credential{AppID: appID, Kind: wxtoken.KindAccessToken, Value: "v", Version: 1}
	if err := s.Put(t.Context(), c); err != nil {
		t.Fatalf("Put into the fresh store: %v", err)
	}

	// A new file is no cause for a warning.
	logs.Reset()
	s2, err := bolt.Open(dbPath(t), bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, s2)
	if logs.Len() != 0 {
		t.Errorf("a new file was warned about: %q", logs.String())
	}
}
