// Package bolt is the default wxtoken.Store: one embedded bbolt file on
// local disk, so that a restarted server serves its persisted, still-valid
// credentials without calling WeChat.
//
// Records are kept in three buckets: "credentials", keyed
// "<appid>/<kind>", in a compact binary form (record.go), and, as JSON,
// "meta", keyed by AppID, and "entries" (the Registry),
// keyed by the entry's ID; a fourth, "schema", records the version of the
// file format (see SchemaVersion), and Open upgrades a file of an earlier
// version in place. An id may be a WeComID ("corp/agent") or an
// AuthorizerID ("component:authorizer"): kinds never hold a slash, so a
// credential's key stays unambiguous, and the other buckets are keyed by
// the id alone. Put reads the stored
// version and writes the new record in one read-write transaction, so the
// compare-and-set holds against every goroutine of the process; bbolt's
// exclusive file lock keeps any other process out of the file altogether.
//
// The store never repairs what it cannot read: a damaged file, a foreign
// bbolt file or an undecodable record is reported as an error that names
// the file or the key, and the data is left as it was for an operator to
// inspect.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/wxtoken/wxtoken"
)

// Bucket names. They are part of the file format; renaming one orphans
// existing data.
const (
	credentialsBucket = "credentials"
	metaBucket        = "meta"
	entriesBucket     = "entries"
)

// bucketNames lists every bucket of the file format.
func bucketNames() []string {
	return []string{credentialsBucket, metaBucket, entriesBucket, schemaBucket}
}

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero: long enough to ride out a previous instance
// that is still shutting down, short enough that a second instance started
// by mistake fails at once instead of appearing to hang.
const DefaultTimeout = time.Second

// fileMode keeps the file private to the server's user: it holds live
// access tokens.
const fileMode = 0o600

// Options configures Open.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock held by another
	// process or handle. Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives the warning about an empty store file. Nil logs
	// nothing.
	Logger *slog.Logger
}

// Store is a wxtoken.Store backed by a bbolt file. It is safe for
// concurrent use.
type Store struct {
	path string
	db   *bbolt.DB

	closeOnce sync.Once
	closeErr  error
}

var (
	_ wxtoken.Store             = (*Store)(nil)
	_ wxtoken.LedgerBatchReader = (*Store)(nil)
)

// Open opens the store file at path, creating it with mode 0600 if it does
// not exist. It fails, naming path, if another process holds the file
// (after waiting opts.Timeout), if the file is not an intact bbolt
// database, or if it is a bbolt database of some other program.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("bolt store %s: negative lock timeout %s", path, timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}

	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	empty, err := check(path)
	if err != nil {
		return nil, err
	}
	if empty && opts.Logger != nil {
		// bbolt takes an empty file for a new one. That is what it is
		// after a crash before the first write, but also after a copy or
		// a disk that failed: say so, since every credential is then
		// fetched from WeChat again.
		opts.Logger.Warn("the bolt store file is empty; starting with an empty store, and every credential is fetched again", "path", path)
	}
	db, err := openDB(path, timeout)
	if err != nil {
		return nil, err
	}
	from, err := prepare(db, path)
	if err != nil {
		// The close error adds nothing to the reason the file was
		// rejected.
		_ = db.Close()
		return nil, err
	}
	if created {
		// bbolt fsyncs the file at every commit but not the directory
		// that names it: until the directory is synced, a crash may
		// lose a new file with everything committed to it.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("bolt store %s: %w", path, err)
		}
	}
	logUpgrade(opts.Logger, path, from, created || empty)
	return &Store{path: path, db: db}, nil
}

// syncDir fsyncs the directory dir, so that the files it names survive a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// openDB wraps bbolt.Open so that each way it can fail yields a message an
// operator can act on.
func openDB(path string, timeout time.Duration) (db *bbolt.DB, err error) {
	// bbolt reads the meta and freelist pages while opening and panics on
	// some kinds of damage. A damaged file must be a startup error that
	// names it, not a crash with a bbolt stack trace. The file handle of
	// such a failed open leaks; the process is about to exit anyway.
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bolt store %s: the file is damaged and cannot be opened (%v); it was left untouched: %s", path, r, recoverHint)
		}
	}()
	// NoSync stays off, as it is by default: every Update (and Batch)
	// then returns only after bbolt has fsynced the file, which is what
	// makes a returned PutEntry (an authorizer's refresh token) durable.
	db, err = bbolt.Open(path, fileMode, &bbolt.Options{Timeout: timeout, NoSync: false})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("bolt store %s: another process holds the file lock (waited %s); stop the other wxtoken instance or give this one its own store path: %w", path, timeout, err)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, fmt.Errorf("bolt store %s: not a valid bbolt database (damaged, or some other kind of file); it was left untouched: %w; if it is the store, %s", path, err, recoverHint)
	default:
		return nil, fmt.Errorf("bolt store %s: open: %w", path, err)
	}
}

// prepare checks that db is an intact wxtoken database of a schema version
// this code reads, creates the buckets of a new one, and upgrades one of
// an earlier version. It returns the version the file had.
func prepare(db *bbolt.DB, path string) (int, error) {
	// The file is small (a few records per app), so a full consistency
	// check at start costs little, and it turns damage that would
	// otherwise surface as a panic in the middle of serving into a clear
	// startup error.
	err := db.View(func(tx *bbolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("bolt store %s: the file is damaged; it was left untouched: %s; %s", path, strings.Join(problems, "; "), recoverHint)
		}
		// Writing our buckets into another program's database would
		// mix data and hide a configuration mistake.
		err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if n := string(name); !slices.Contains(bucketNames(), n) {
				return fmt.Errorf("bolt store %s: the file is not a wxtoken store (it has a bucket %q); point store.path at a new file", path, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// A newer release's file is refused before anything is written
		// to it: this code would misread what it does not know.
		v, err := storedSchema(tx)
		if err != nil {
			return fmt.Errorf("bolt store %s: %w; it was left untouched", path, err)
		}
		if v > SchemaVersion {
			return newerSchemaError(path, v)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var from int
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range bucketNames() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		var err error
		from, err = upgrade(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bolt store %s: %w", path, err)
	}
	return from, nil
}

// bucket returns the named bucket of tx. Open creates both buckets, so a
// missing one means the file was changed behind the store's back.
func bucket(tx *bbolt.Tx, name string) (*bbolt.Bucket, error) {
	b := tx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("bucket %q is missing", name)
	}
	return b, nil
}

func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("bolt store %s: "+format, append([]any{s.path}, args...)...)
}

// Get returns the record for (appID, kind), or an error wrapping
// wxtoken.ErrNotFound.
func (s *Store) Get(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	key := wxtoken.CredentialKey(appID, kind)
	if err := ctx.Err(); err != nil {
		return wxtoken.Credential{}, s.errorf("get %q: %w", key, err)
	}
	var c wxtoken.Credential
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, credentialsBucket)
		if err != nil {
			return err
		}
		data := b.Get([]byte(key))
		if data == nil {
			return wxtoken.ErrNotFound
		}
		c, err = decodeCredential(key, data)
		return err
	})
	if err != nil {
		return wxtoken.Credential{}, s.errorf("get %q: %w", key, err)
	}
	return c, nil
}

// List returns every credential record in key order. One undecodable
// record fails the whole call, naming its key: a partial list would look
// like missing credentials and trigger fetches.
func (s *Store) List(ctx context.Context) ([]wxtoken.Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("list: %w", err)
	}
	var list []wxtoken.Credential
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, credentialsBucket)
		if err != nil {
			return err
		}
		var keys, values [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			keys, values = append(keys, k), append(values, v)
			return nil
		}); err != nil {
			return err
		}
		list, err = decodeAll(keys, values)
		return err
	})
	if err != nil {
		return nil, s.errorf("list: %w", err)
	}
	return list, nil
}

// decodeParallelMin is the number of records from which List and
// GetLedgers decode them on several goroutines.
const decodeParallelMin = 1024

// decodeAll decodes the records of keys and values, which the caller's
// transaction keeps valid, in order: on as many goroutines as there are
// CPUs when they are many (decoding 200,000 records is most of a restart
// with 100,000 apps). It fails with the error of the first undecodable
// record in key order, as decoding them one by one would.
func decodeAll(keys, values [][]byte) ([]wxtoken.Credential, error) {
	list := make([]wxtoken.Credential, len(keys))
	err := decodeEach(len(keys), func(i int) error {
		var err error
		list[i], err = decodeCredential(string(keys[i]), values[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// decodeEach calls decode for 0, 1, ... n-1, on as many goroutines as
// there are CPUs when n is at least decodeParallelMin, and returns the
// error of the lowest i for which decode failed, as calling it in order
// and stopping at the first failure would. decode must only write to the
// i-th element of what it fills.
func decodeEach(n int, decode func(i int) error) error {
	// Each worker takes every step-th index from its own first one and
	// stops at its first failure, which is then its lowest.
	run := func(from, step int) (int, error) {
		for i := from; i < n; i += step {
			if err := decode(i); err != nil {
				return i, err
			}
		}
		return n, nil
	}
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || n < decodeParallelMin {
		_, err := run(0, 1)
		return err
	}
	failedAt := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { failedAt[w], errs[w] = run(w, workers) })
	}
	wg.Wait()
	first, err := n, error(nil)
	for w := range workers {
		if errs[w] != nil && failedAt[w] < first {
			first, err = failedAt[w], errs[w]
		}
	}
	return err
}

// Put stores c unless a record with an equal or higher Version is stored
// for (c.AppID, c.Kind), in which case it returns an error wrapping
// wxtoken.ErrStale.
func (s *Store) Put(ctx context.Context, c wxtoken.Credential) error {
	if err := c.Validate(); err != nil {
		return s.errorf("put: %w", err)
	}
	key := wxtoken.CredentialKey(c.AppID, c.Kind)
	if err := ctx.Err(); err != nil {
		return s.errorf("put %q: %w", key, err)
	}
	// Encode before the transaction to hold the write lock briefly.
	data := encodeCredential(c)
	// Batch, not Update: writes that arrive together (a start fetching
	// thousands of credentials) share one transaction and one fsync
	// instead of queuing for one each, which at a thousand writes a
	// second outlasts the callers' deadlines. The function may run more
	// than once (alone, when another of the batch fails), so it only reads
	// and writes the transaction.
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		// Waiting for the write lock may have outlasted the caller.
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := bucket(tx, credentialsBucket)
		if err != nil {
			return err
		}
		if old := b.Get([]byte(key)); old != nil {
			// Refuse to overwrite a record whose version cannot be
			// read: the compare-and-set cannot be decided, and the
			// record is evidence an operator needs.
			stored, err := recordVersion(old)
			if err != nil {
				return fmt.Errorf("decode stored credential %q: %w", key, err)
			}
			if stored >= c.Version {
				return fmt.Errorf("version %d is stored: %w", stored, wxtoken.ErrStale)
			}
		}
		return b.Put([]byte(key), data)
	})
	if err != nil {
		return s.errorf("put %q version %d: %w", key, c.Version, err)
	}
	return nil
}

// GetLedger returns the bookkeeping of appID, or an error wrapping
// wxtoken.ErrNotFound.
func (s *Store) GetLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	if err := ctx.Err(); err != nil {
		return wxtoken.Ledger{}, s.errorf("get meta %q: %w", appID, err)
	}
	var m wxtoken.Ledger
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, metaBucket)
		if err != nil {
			return err
		}
		data := b.Get([]byte(appID))
		if data == nil {
			return wxtoken.ErrNotFound
		}
		m, err = decodeLedger(appID, data)
		return err
	})
	if err != nil {
		return wxtoken.Ledger{}, s.errorf("get meta %q: %w", appID, err)
	}
	return m, nil
}

// GetLedgers implements wxtoken.LedgerBatchReader: the bookkeeping of
// every app of appIDs, in order, read in one transaction, so that a start
// with many apps does not pay for one transaction per app. An app with
// nothing stored gets the zero Ledger. One undecodable record fails the
// whole call, naming its key, as GetLedger would.
func (s *Store) GetLedgers(ctx context.Context, appIDs []string) ([]wxtoken.Ledger, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("get meta of %d apps: %w", len(appIDs), err)
	}
	list := make([]wxtoken.Ledger, len(appIDs))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, metaBucket)
		if err != nil {
			return err
		}
		values := make([][]byte, len(appIDs))
		for i, appID := range appIDs {
			values[i] = b.Get([]byte(appID))
		}
		// The values stay valid until the transaction ends, and
		// decoding copies out of them.
		return decodeEach(len(appIDs), func(i int) error {
			if values[i] == nil {
				return nil
			}
			var err error
			list[i], err = decodeLedger(appIDs[i], values[i])
			return err
		})
	})
	if err != nil {
		return nil, s.errorf("get meta of %d apps: %w", len(appIDs), err)
	}
	return list, nil
}

// decodeLedger decodes the bookkeeping stored under appID and checks that
// it belongs there. Decoding copies out of data, which bbolt reclaims when
// the transaction ends.
func decodeLedger(appID string, data []byte) (wxtoken.Ledger, error) {
	var m wxtoken.Ledger
	if err := json.Unmarshal(data, &m); err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("decode meta %q: %w", appID, err)
	}
	if m.AppID != appID {
		return wxtoken.Ledger{}, fmt.Errorf("decode meta %q: the record is for %q", appID, m.AppID)
	}
	return m, nil
}

// PutLedger stores m, replacing what was stored for m.AppID.
func (s *Store) PutLedger(ctx context.Context, m wxtoken.Ledger) error {
	if m.AppID == "" {
		return s.errorf("put meta: empty appid")
	}
	if err := ctx.Err(); err != nil {
		return s.errorf("put meta %q: %w", m.AppID, err)
	}
	if len(m.ForceRefreshes) > 0 {
		// A new slice, so the caller's stays as it was.
		times := make([]time.Time, len(m.ForceRefreshes))
		for i, t := range m.ForceRefreshes {
			times[i] = t.UTC()
		}
		m.ForceRefreshes = times
	}
	data, err := json.Marshal(m)
	if err != nil {
		return s.errorf("put meta %q: encode: %w", m.AppID, err)
	}
	// Batched as Put is.
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := bucket(tx, metaBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(m.AppID), data)
	})
	if err != nil {
		return s.errorf("put meta %q: %w", m.AppID, err)
	}
	return nil
}

// Close releases the file and its lock. It waits for running transactions
// and may be called more than once; later calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = s.errorf("close: %w", err)
		}
	})
	return s.closeErr
}
