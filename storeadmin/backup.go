package storeadmin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
)

// Backup writes a copy of the store to w as a bbolt file that package
// bolt opens (and that a bolt-backed server can start from), and returns
// the bytes written. Secrets stay sealed as they are stored: nothing is
// opened.
//
// A bolt store writes its own file as of one read transaction, a snapshot
// of the whole store, to a temporary file first: the transaction then
// lasts as long as a local copy, not as long as the caller takes to read,
// since a read transaction that stays open holds back a write that must
// grow the file's mapping, and with it every refresh. Any other store
// (Redis, memory) is copied record by record into a bolt file built in a
// temporary directory with the bolt store's own Put, PutLedger and
// PutEntry: each record is as it was when read, but records read at
// different moments are not one snapshot. The temporary files are removed
// before Backup returns.
//
// Nothing is written to w until the copy is complete; an error after the
// first write means what w received is no backup.
func (a *Admin) Backup(ctx context.Context, w io.Writer) (int64, error) {
	dir, err := os.MkdirTemp(a.opts.TempDir, "wxtoken-backup-")
	if err != nil {
		return 0, fmt.Errorf("backup: a temporary directory for the copy: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "wxtoken.db")
	if bs, ok := a.opts.Store.(*bolt.Store); ok {
		return spool(ctx, bs, path, w)
	}
	dst, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer dst.Close()
	if err := a.copyStore(ctx, dst); err != nil {
		return 0, err
	}
	// The copy is this call's own: its read transaction holds back no
	// one.
	return dst.Backup(ctx, w)
}

// spool writes the bolt store's backup to a new file at path, then that
// file to w.
func spool(ctx context.Context, bs *bolt.Store, path string, w io.Writer) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if _, err := bs.Backup(ctx, f); err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("backup: sending the copy after %d bytes: %w", n, err)
	}
	return n, nil
}

// copyStore copies every credential, entry and ledger of the store into
// dst, a new bolt store.
func (a *Admin) copyStore(ctx context.Context, dst *bolt.Store) error {
	src := a.opts.Store
	creds, err := src.List(ctx)
	if err != nil {
		return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store's credentials cannot be listed", Err: err}
	}
	entries, err := src.ListEntries(ctx)
	if err != nil {
		return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store's entries cannot be listed", Err: err}
	}
	// Ledgers are read by id: those of every id seen, and of the ids
	// the server names.
	var ids []string
	seen := map[string]bool{}
	addID := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, c := range creds {
		addID(c.AppID)
		if err := dst.Put(ctx, c); err != nil {
			return fmt.Errorf("backup: copying credential %s: %w", wxtoken.CredentialKey(c.AppID, c.Kind), err)
		}
	}
	for _, e := range entries {
		addID(e.ID)
		if err := dst.PutEntry(ctx, e); err != nil {
			return fmt.Errorf("backup: copying entry %s: %w", e.ID, err)
		}
	}
	if a.opts.IDs != nil {
		for _, id := range a.opts.IDs() {
			addID(id)
		}
	}
	for _, id := range ids {
		l, err := src.GetLedger(ctx, id)
		if errors.Is(err, wxtoken.ErrNotFound) {
			continue
		}
		if err != nil {
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the bookkeeping of " + id + " cannot be read", Err: err}
		}
		if err := dst.PutLedger(ctx, l); err != nil {
			return fmt.Errorf("backup: copying the bookkeeping of %s: %w", id, err)
		}
	}
	return nil
}
