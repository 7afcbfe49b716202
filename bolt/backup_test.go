package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// A backup taken while another goroutine keeps writing is a store file
// that opens, with every record and entry written before it began.
func TestBackupWhileInUse(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, dbPath(t))
	defer mustClose(t, s)
	fetched := time.Date(2025, 3, 1, 8, 0, 0, 5, time.UTC)
	const n = 50
	for i := range n {
		c := wxtoken.Credential{AppID: fmt.Sprintf("wx%016d", i), Kind: wxtoken.KindAccessToken,
			Value: fmt.Sprintf("token-%d", i), FetchedAt: fetched, ExpiresAt: fetched.Add(2 * time.Hour), Version: 1}
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.PutEntry(ctx, testEntry(wxtoken.AuthorizerID("wx00000000000000cc", c.AppID), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutLedger(ctx, wxtoken.Ledger{AppID: appID, QuotaDay: "2025-03-01", TokenCalls: 3}); err != nil {
		t.Fatal(err)
	}

	// A writer keeps the store busy during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for v := uint64(2); ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			c := wxtoken.Credential{AppID: appID, Kind: wxtoken.KindJSAPITicket, Value: "busy", Version: v}
			if err := s.Put(ctx, c); err != nil {
				t.Errorf("Put during the backup: %v", err)
				return
			}
		}
	})
	var buf bytes.Buffer
	written, err := s.Backup(ctx, &buf)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if written != int64(buf.Len()) || written == 0 {
		t.Fatalf("Backup reported %d bytes and wrote %d", written, buf.Len())
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := mustOpen(t, path)
	defer mustClose(t, cp)
	list, err := cp.List(ctx)
	if err != nil {
		t.Fatalf("List of the copy: %v", err)
	}
	if len(list) != n && len(list) != n+1 { // the busy ticket, if the copy began after its first write
		t.Errorf("the copy holds %d credentials, want %d or %d", len(list), n, n+1)
	}
	got, err := cp.Get(ctx, fmt.Sprintf("wx%016d", 7), wxtoken.KindAccessToken)
	if err != nil || got.Value != "token-7" || !got.ExpiresAt.Equal(fetched.Add(2*time.Hour)) {
		t.Errorf("a credential of the copy = %+v, %v", got, err)
	}
	entries, err := cp.ListEntries(ctx)
	if err != nil || len(entries) != n {
		t.Fatalf("ListEntries of the copy: %d entries, %v; want %d", len(entries), err, n)
	}
	want := testEntry(wxtoken.AuthorizerID("wx00000000000000cc", fmt.Sprintf("wx%016d", 7)), 1)
	e, err := cp.GetEntry(ctx, want.ID)
	if err != nil || e.Secret != want.Secret || e.State != want.State || !e.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("an entry of the copy = %+v, %v; want %+v", e, err, want)
	}
	if m, err := cp.GetLedger(ctx, appID); err != nil || m.TokenCalls != 3 {
		t.Errorf("the bookkeeping of the copy = %+v, %v", m, err)
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

// A backup that cannot be written, or whose context ends, fails and says
// why; the store stays usable.
func TestBackupFails(t *testing.T) {
	s := mustOpen(t, dbPath(t))
	defer mustClose(t, s)
	if _, err := s.Backup(t.Context(), &failingWriter{after: 1}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Backup to a failing writer: err = %v, want the writer's error", err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Backup(cancelled, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with a cancelled context: err = %v, want context.Canceled", err)
	}
	if err := s.PutEntry(t.Context(), testEntry("wx00000000000000cc:wx00000000000000dd", 1)); err != nil {
		t.Errorf("PutEntry after failed backups: %v", err)
	}
}
