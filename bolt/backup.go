package bolt

import (
	"context"
	"io"

	"go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the store file to w while the store
// stays in use: the copy is the file as of one read transaction, which
// writers do not wait for. It returns the bytes written. The copy is a
// bbolt file like the store's own; Open reads it. Cancelling ctx stops the
// copy at the next write to w, and what was written then is no backup.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.errorf("backup: %w", err)
	}
	// Checked at every write, so that a copy to a slow or stuck
	// destination can be given up.
	dst := writerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return w.Write(p)
	})
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(dst)
		return err
	})
	if err != nil {
		return n, s.errorf("backup after %d bytes: %w", n, err)
	}
	return n, nil
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
