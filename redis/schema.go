package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// SchemaVersion is the version of the key layout this code reads and
// writes. It is recorded under P schema, so that a later release can tell
// which layout a Redis holds and convert it, and refuse one it would
// misread.
//
// Versions:
//
//	0  the keys of the package comment, and no recorded version: every
//	   store written before versions were recorded.
//	1  the same keys, and P schema holding "1".
const SchemaVersion = 1

// ErrNewerSchema marks a store whose recorded schema version is newer than
// SchemaVersion: a newer release wrote it, and this one would misread it.
var ErrNewerSchema = errors.New("the store was written by a newer wxtoken")

// schemaScript reads the recorded schema version, and records ARGV[1] in
// a store that has neither a version nor data (a new one). It returns the
// version recorded before (0 for none, -1 for a value that is not a
// version) and whether the prefix holds data.
//
// KEYS: schema, versions, entries, epoch. ARGV: the version to record.
var schemaScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local n = tonumber(v)
  if n == nil or n < 1 or n % 1 ~= 0 then
    return {-1, 1}
  end
  return {n, 1}
end
local data = redis.call('EXISTS', KEYS[2], KEYS[3], KEYS[4])
if data == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return {tonumber(ARGV[1]), 0}
end
return {0, 1}
`)

// recordSchemaScript records version ARGV[2] once a store of version
// ARGV[1] is upgraded, unless another replica recorded a version since.
// It returns the version recorded now.
//
// KEYS: schema. ARGV: the version upgraded from, the version to record.
var recordSchemaScript = goredis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v == tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return tonumber(ARGV[2])
end
return v
`)

// migrations holds one step per version after 0: migrations[i] converts a
// store of version i to i+1. A step must be safe to run by several
// replicas at once, and again after a crash halfway: the version is
// recorded only after the last step.
var migrations = [SchemaVersion]func(ctx context.Context, s *Store) error{
	// 0 → 1: the keys are unchanged; only the version is recorded.
	func(context.Context, *Store) error { return nil },
}

// checkSchema makes sure the store is of SchemaVersion: it records the
// version in a new store, upgrades one of an earlier version (one of the
// first layout, or one that lost its version key with the rest in a
// restart without persistence, and was written back since), and refuses,
// with an error wrapping ErrNewerSchema, a store of a newer version.
func (s *Store) checkSchema(ctx context.Context) error {
	res, err := schemaScript.Run(ctx, s.c,
		[]string{s.k.schema(), s.k.versions(), s.k.entries(), s.k.epoch()},
		SchemaVersion).Int64Slice()
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("schema version: unexpected script answer %v", res)
	}
	from := res[0]
	switch {
	case from < 0:
		return fmt.Errorf("the schema version recorded under %s is not a version; it was left as it is", s.k.schema())
	case from > SchemaVersion:
		return fmt.Errorf("%w: %s records schema version %d, and this one (%s) reads versions up to %d; nothing was written: run the newer release on every replica",
			ErrNewerSchema, s.k.schema(), from, wxtoken.Version, SchemaVersion)
	case from == SchemaVersion:
		s.schemaOK.Store(true)
		return nil
	}
	for v := from; v < SchemaVersion; v++ {
		if err := migrations[v](ctx, s); err != nil {
			return fmt.Errorf("upgrade from schema version %d to %d: %w", v, v+1, err)
		}
	}
	now, err := recordSchemaScript.Run(ctx, s.c, []string{s.k.schema()}, from, SchemaVersion).Int64()
	if err != nil {
		return fmt.Errorf("record schema version %d: %w", SchemaVersion, err)
	}
	if now != SchemaVersion {
		// Another replica recorded a version meanwhile: judge that one.
		return s.checkSchema(ctx)
	}
	s.log.Info("the Redis store was upgraded to the current schema", "prefix", s.k.tag, "from", from, "to", SchemaVersion)
	s.schemaOK.Store(true)
	return nil
}

// Schema returns the schema version recorded in the store, 0 when none is.
func (s *Store) Schema(ctx context.Context) (int, error) {
	v, err := s.c.Get(ctx, s.k.schema()).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis store: schema version: %w", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("redis store: schema version %q: %w", v, err)
	}
	return n, nil
}
