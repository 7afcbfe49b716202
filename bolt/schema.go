package bolt

import (
	"fmt"
	"log/slog"
	"strconv"

	"go.etcd.io/bbolt"

	"github.com/wxtoken/wxtoken"
)

// SchemaVersion is the version of the file format this code writes. It is
// recorded in the file, under schemaKey in schemaBucket, so that a later
// release can tell which format a file is in and convert it, and an
// earlier one refuses a file it would misread.
//
// Versions:
//
//	0  the buckets "credentials", "meta" and (from wxtoken 0.1 on)
//	   "entries", and no recorded version: every file written before
//	   versions were recorded.
//	1  the same records, and the version recorded.
//	2  credential records in a compact binary form (record.go) instead
//	   of JSON; the other buckets as before.
const SchemaVersion = 2

// The schema's bucket and key; part of the file format.
const (
	schemaBucket = "schema"
	schemaKey    = "version"
)

// migration converts a file of version i to version i+1 inside one
// read-write transaction; migrations[i] is that step.
type migration func(tx *bbolt.Tx) error

// migrations holds one step per version after 0: len(migrations) must be
// SchemaVersion (a test checks it).
var migrations = [SchemaVersion]migration{
	// 0 → 1: the records are unchanged; only the version is recorded.
	func(*bbolt.Tx) error { return nil },
	// 1 → 2: every credential record rewritten in the binary form.
	compactCredentials,
}

// compactCredentials rewrites the JSON credential records of tx in the
// binary form. A record that cannot be decoded is left as it is, for
// List and Get to report with its key: an upgrade loses nothing.
func compactCredentials(tx *bbolt.Tx) error {
	b := tx.Bucket([]byte(credentialsBucket))
	if b == nil {
		return nil // a new file: Open creates the bucket
	}
	type rewrite struct {
		key  []byte
		data []byte
	}
	var out []rewrite
	err := b.ForEach(func(k, v []byte) error {
		if len(v) == 0 || v[0] != '{' {
			return nil
		}
		c, err := decodeJSONCredential(string(k), v)
		if err != nil {
			return nil
		}
		out = append(out, rewrite{key: append([]byte(nil), k...), data: encodeCredential(c)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range out {
		if err := b.Put(r.key, r.data); err != nil {
			return fmt.Errorf("rewrite credential %q: %w", r.key, err)
		}
	}
	return nil
}

// storedSchema returns the schema version recorded in tx's file: 0 when
// none is (a file of the first format, or a new one).
func storedSchema(tx *bbolt.Tx) (int, error) {
	b := tx.Bucket([]byte(schemaBucket))
	if b == nil {
		return 0, nil
	}
	raw := b.Get([]byte(schemaKey))
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("the recorded schema version %q is not a version", raw)
	}
	return v, nil
}

// newerSchemaError is the refusal of a file written by a newer release.
func newerSchemaError(path string, v int) error {
	return fmt.Errorf("bolt store %s: the file is of schema version %d, written by a newer wxtoken; this one (%s) reads versions up to %d and left the file untouched: run the newer release again, or restore a backup made before the upgrade",
		path, v, wxtoken.Version, SchemaVersion)
}

// upgrade brings the file of tx to SchemaVersion: it runs every step from
// the recorded version on and records the new version, all in tx, so that
// a crash leaves the file as it was or wholly upgraded. It returns the
// version the file had.
func upgrade(tx *bbolt.Tx) (int, error) {
	from, err := storedSchema(tx)
	if err != nil {
		return 0, err
	}
	if from == SchemaVersion {
		return from, nil
	}
	if from > SchemaVersion {
		// prepare refuses such a file before it writes; this is only a
		// guard against a change between the two transactions.
		return from, fmt.Errorf("schema version %d is newer than %d", from, SchemaVersion)
	}
	for v := from; v < SchemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return from, fmt.Errorf("upgrade from schema version %d to %d: %w", v, v+1, err)
		}
	}
	b, err := tx.CreateBucketIfNotExists([]byte(schemaBucket))
	if err != nil {
		return from, fmt.Errorf("create bucket %q: %w", schemaBucket, err)
	}
	if err := b.Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return from, fmt.Errorf("record schema version: %w", err)
	}
	return from, nil
}

// logUpgrade says that a file was converted, once, at the open that did it.
func logUpgrade(log *slog.Logger, path string, from int, created bool) {
	if log == nil || created || from == SchemaVersion {
		return
	}
	log.Info("the bolt store was upgraded to the current schema; an earlier wxtoken no longer opens it (restore a backup to go back)",
		"path", path, "from", from, "to", SchemaVersion)
}
