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
// of the whole store. Any other store (Redis, memory) is copied record by
// record into a bolt file built in a temporary directory with the bolt
// store's own Put, PutLedger and PutEntry, then written to w: each record
// is as it was when read, but records read at different moments are not
// one snapshot. The temporary file is removed before Backup returns.
//
// Nothing is written to w until the copy is complete; an error after the
// first write means what w received is no backup.
func (a *Admin) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if bs, ok := a.opts.Store.(*bolt.Store); ok {
		return bs.Backup(ctx, w)
	}
	dir, err := os.MkdirTemp(a.opts.TempDir, "wxtoken-backup-")
	if err != nil {
		return 0, fmt.Errorf("backup: a temporary directory for the copy: %w", err)
	}
	defer os.RemoveAll(dir)
	dst, err := bolt.Open(filepath.Join(dir, "wxtoken.db"), bolt.Options{})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer dst.Close()
	if err := a.copyStore(ctx, dst); err != nil {
		return 0, err
	}
	return dst.Backup(ctx, w)
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
