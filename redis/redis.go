// Package redis is the store of cluster mode: a wxtoken.Store and
// wxtoken.Coordinator on Redis (a single node, Sentinel or Cluster,
// through go-redis's UniversalClient), shared by several wxtoken replicas.
//
// Every key of one prefix carries the same hash tag, so that all of them
// live in one hash slot and the Lua scripts below may touch several keys at
// once on Redis Cluster too. wxtoken's data is a few hundred bytes per
// credential; one slot holds it easily.
//
// Keys, with P the hash-tagged prefix (by default "{wxtoken:}"):
//
//	P cred:<appid>:<kind>   a credential record (JSON)
//	P meta:<appid>          an app's bookkeeping (JSON)
//	P versions              hash: "<appid>/<kind>" -> record version,
//	                        "<appid>/" -> count of bookkeeping writes
//	P epoch                 counter, raised by every write
//	P lease:<appid>/<kind>  "<owner>|<fencing token>", with a TTL
//	P fence:<appid>/<kind>  counter of the fencing tokens handed out
//	P changes               the pub/sub channel of writes: "<field> <version>"
//	P entry:<id>            an entry of the Registry (JSON)
//	P entries               hash: "<id>" -> entry version
//	P entry-changes         the pub/sub channel of entry writes:
//	                        "<version> <id>"
//	P schema                the version of this layout (SchemaVersion)
//
// An id is an appid, a WeComID ("corp/agent") or an AuthorizerID
// ("component:authorizer"). Kinds hold neither '/' nor ':', so a field
// splits at its last slash and a credential's key at its last colon,
// whichever id it names. Entry writes raise the same epoch as the others,
// so that one check catches every kind of change pub/sub missed.
//
// Writes are fenced: a script stores a record only if the lease given is
// still held, with the same fencing token, and the record's version is
// higher than the stored one, so a replica that was paused while its lease
// ran out can never write over what the next holder wrote.
//
// Times are stored on Redis's clock (TIME), not the writer's: each Store
// measures how far its own clock is from Redis's and translates every time
// it writes and reads, so replicas whose clocks disagree still agree on
// when a credential expires.
package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "wxtoken:"

// Options configure Open.
type Options struct {
	// Addrs are the Redis addresses: one for a single node, several for
	// Cluster, the Sentinels' with MasterName.
	Addrs      []string
	MasterName string
	Password   string
	DB         int
	// Prefix starts every key; default DefaultPrefix. Replicas that share
	// credentials use the same prefix.
	Prefix string
	// Owner names this replica in leases and records; required, and
	// unique among the replicas.
	Owner string
	// Now is the replica's clock, the one the engine uses; default
	// time.Now.
	Now func() time.Time
	// SyncInterval is how often Watch asks Redis for changes that
	// pub/sub may have missed; default 1s.
	SyncInterval time.Duration
	// Timeout bounds one Redis command; default 1s, so that an outage is
	// noticed quickly.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Store is a wxtoken.Store and wxtoken.Coordinator on Redis. It is safe for
// concurrent use.
type Store struct {
	c        goredis.UniversalClient
	k        keys
	owner    string
	now      func() time.Time
	interval time.Duration
	log      *slog.Logger

	// offset is Redis's clock minus this replica's, in nanoseconds, as
	// last measured; see measureOffset.
	offset atomic.Int64
	// offsetMu serializes measurements; measured is set by the first.
	offsetMu sync.Mutex
	measured atomic.Bool
	// schemaOK is set once the store's schema version was found or made
	// SchemaVersion; see checkSchema.
	schemaOK atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

var (
	_ wxtoken.Store             = (*Store)(nil)
	_ wxtoken.Coordinator       = (*Store)(nil)
	_ wxtoken.LedgerBatchReader = (*Store)(nil)
)

// Open connects to Redis and measures the clock offset. A Redis that does
// not answer yet is no error: a replica must start during an outage and
// serve what it can. The Store's commands fail until Redis answers, and
// the first that reaches it measures the offset before any time is read
// or written.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis store: no address")
	}
	if opts.Owner == "" {
		return nil, errors.New("redis store: an owner name is required")
	}
	if strings.ContainsAny(opts.Owner, "| \t\n") {
		return nil, fmt.Errorf("redis store: owner %q must not contain '|' or spaces", opts.Owner)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:        opts.Addrs,
		MasterName:   opts.MasterName,
		Password:     opts.Password,
		DB:           opts.DB,
		DialTimeout:  opts.Timeout,
		ReadTimeout:  opts.Timeout,
		WriteTimeout: opts.Timeout,
		// One retry: a command that fails twice is an outage, which the
		// engine handles; retrying longer only delays that.
		MaxRetries: 1,
	})
	s := &Store{
		c:        c,
		k:        newKeys(opts.Prefix),
		owner:    opts.Owner,
		now:      opts.Now,
		interval: opts.SyncInterval,
		log:      opts.Logger,
	}
	if err := s.ensureOffset(ctx); err != nil {
		if errors.Is(err, ErrNewerSchema) {
			_ = s.c.Close()
			return nil, fmt.Errorf("redis store: %w", err)
		}
		opts.Logger.Debug("Redis does not answer yet", "addrs", strings.Join(opts.Addrs, ","), "err", err)
	}
	return s, nil
}

// Measured reports whether the clock offset has been measured, which
// takes Redis answering once.
func (s *Store) Measured() bool { return s.measured.Load() }

// ensureOffset measures the clock offset if no measurement was made yet:
// until then, no time may be translated to or from Redis's clock. It also
// checks the store's schema version (and records or upgrades it) at the
// first contact: no record is read or written in a layout this code does
// not know.
func (s *Store) ensureOffset(ctx context.Context) error {
	if s.measured.Load() && s.schemaOK.Load() {
		return nil
	}
	if !s.measured.Load() {
		if err := s.measureOffset(ctx); err != nil {
			return err
		}
	}
	return s.checkSchema(ctx)
}

// Owner implements wxtoken.Coordinator.
func (s *Store) Owner() string { return s.owner }

// Close closes the connections. It may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.c.Close(); err != nil {
			s.closeErr = fmt.Errorf("redis store: close: %w", err)
		}
	})
	return s.closeErr
}

// keys builds the key names of one prefix.
type keys struct {
	tag string
}

func newKeys(prefix string) keys {
	if !strings.Contains(prefix, "{") {
		prefix = "{" + prefix + "}"
	}
	return keys{tag: prefix}
}

func (k keys) cred(appID string, kind wxtoken.Kind) string {
	return k.tag + "cred:" + appID + ":" + string(kind)
}
func (k keys) meta(appID string) string { return k.tag + "meta:" + appID }
func (k keys) versions() string         { return k.tag + "versions" }
func (k keys) epoch() string            { return k.tag + "epoch" }
func (k keys) lease(name string) string { return k.tag + "lease:" + name }
func (k keys) fence(name string) string { return k.tag + "fence:" + name }
func (k keys) channel() string          { return k.tag + "changes" }
func (k keys) entry(id string) string   { return k.tag + "entry:" + id }
func (k keys) entries() string          { return k.tag + "entries" }
func (k keys) entryChannel() string     { return k.tag + "entry-changes" }
func (k keys) schema() string           { return k.tag + "schema" }

func parseField(f string) (string, wxtoken.Kind, bool) {
	i := strings.LastIndexByte(f, '/')
	if i <= 0 {
		return "", "", false
	}
	return f[:i], wxtoken.Kind(f[i+1:]), true
}

// measureOffset asks Redis for its time and sets offset from it. The
// estimate assumes Redis read its clock halfway through the round trip, so
// it is off by at most half of it; a new estimate replaces the old only
// when the two differ by more than that uncertainty and 50 ms, so that
// times written and read back by one replica come back exactly as they
// went in.
func (s *Store) measureOffset(ctx context.Context) error {
	s.offsetMu.Lock()
	defer s.offsetMu.Unlock()
	t0 := s.now()
	rt, err := s.c.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("TIME: %w", err)
	}
	rtt := s.now().Sub(t0)
	est := rt.UnixNano() - t0.Add(rtt/2).UnixNano()
	slack := max(50*time.Millisecond, rtt)
	measured := s.measured.Load()
	if d := time.Duration(est - s.offset.Load()); !measured || d > slack || d < -slack {
		if measured {
			s.log.Warn("clock offset to Redis changed", "offset", time.Duration(est), "was", time.Duration(s.offset.Load()))
		}
		s.offset.Store(est)
		s.measured.Store(true)
	}
	return nil
}

// Offset returns Redis's clock minus this replica's, as measured.
func (s *Store) Offset() time.Duration { return time.Duration(s.offset.Load()) }

// shared turns a time of this replica's clock into nanoseconds of Redis's;
// the zero time stays 0.
func (s *Store) shared(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano() + s.offset.Load()
}

// local turns nanoseconds of Redis's clock into a time of this replica's.
func (s *Store) local(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n-s.offset.Load()).UTC()
}

// record is a credential as stored.
type record struct {
	AppID         string           `json:"appid"`
	Kind          wxtoken.Kind     `json:"kind"`
	Value         string           `json:"value"`
	FetchedAt     int64            `json:"fetched_at"`
	ExpiresAt     int64            `json:"expires_at"`
	RefreshAt     int64            `json:"refresh_at"`
	Version       uint64           `json:"version"`
	TokenVersion  uint64           `json:"token_version,omitempty"`
	API           wxtoken.TokenAPI `json:"api,omitempty"`
	CallAttemptAt int64            `json:"call_attempt_at,omitempty"`
	// Writer is the replica that wrote the record, for operators.
	Writer string `json:"writer,omitempty"`
}

// metaRecord is an app's bookkeeping as stored.
type metaRecord struct {
	AppID          string         `json:"appid"`
	QuotaDay       string         `json:"quota_day"`
	TokenCalls     int            `json:"token_calls"`
	ForceRefreshes []int64        `json:"force_refreshes,omitempty"`
	MintAttemptAt  int64          `json:"mint_attempt_at,omitempty"`
	LastMintAt     int64          `json:"last_mint_at,omitempty"`
	LastMintBy     string         `json:"last_mint_by,omitempty"`
	AbandonedAt    int64          `json:"abandoned_mint_at,omitempty"`
	KilledVersion  uint64         `json:"killed_version,omitempty"`
	TokenFailure   *failureRecord `json:"token_failure,omitempty"`
	Writer         string         `json:"writer,omitempty"`
}

// failureRecord is a wxtoken.Failure as stored.
type failureRecord struct {
	Count   int    `json:"count"`
	RetryAt int64  `json:"retry_at"`
	Blocked bool   `json:"blocked,omitempty"`
	ErrCode int    `json:"errcode,omitempty"`
	Class   string `json:"class"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
	At      int64  `json:"at"`
}

func (s *Store) encode(c wxtoken.Credential) ([]byte, error) {
	return json.Marshal(record{
		AppID: c.AppID, Kind: c.Kind, Value: c.Value,
		FetchedAt: s.shared(c.FetchedAt), ExpiresAt: s.shared(c.ExpiresAt), RefreshAt: s.shared(c.RefreshAt),
		Version: c.Version, TokenVersion: c.TokenVersion, API: c.API, CallAttemptAt: s.shared(c.CallAttemptAt),
		Writer: s.owner,
	})
}

func (s *Store) decode(key string, b []byte) (wxtoken.Credential, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return wxtoken.Credential{}, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	c := wxtoken.Credential{
		AppID: r.AppID, Kind: r.Kind, Value: r.Value,
		FetchedAt: s.local(r.FetchedAt), ExpiresAt: s.local(r.ExpiresAt), RefreshAt: s.local(r.RefreshAt),
		Version: r.Version, TokenVersion: r.TokenVersion, API: r.API, CallAttemptAt: s.local(r.CallAttemptAt),
	}
	if err := c.Validate(); err != nil {
		return wxtoken.Credential{}, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	return c, nil
}

// Get implements wxtoken.Store.
func (s *Store) Get(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	if err := s.ensureOffset(ctx); err != nil {
		return wxtoken.Credential{}, fmt.Errorf("redis store: get %s/%s: %w", appID, kind, err)
	}
	key := s.k.cred(appID, kind)
	b, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return wxtoken.Credential{}, fmt.Errorf("redis store: get %s/%s: %w", appID, kind, wxtoken.ErrNotFound)
	}
	if err != nil {
		return wxtoken.Credential{}, fmt.Errorf("redis store: get %s/%s: %w", appID, kind, err)
	}
	c, err := s.decode(key, b)
	if err != nil {
		return wxtoken.Credential{}, fmt.Errorf("redis store: get %s/%s: %w", appID, kind, err)
	}
	return c, nil
}

// List implements wxtoken.Store: every credential listed in the versions
// hash, ordered by AppID and Kind.
func (s *Store) List(ctx context.Context) ([]wxtoken.Credential, error) {
	if err := s.ensureOffset(ctx); err != nil {
		return nil, fmt.Errorf("redis store: list: %w", err)
	}
	fields, err := s.c.HKeys(ctx, s.k.versions()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list: %w", err)
	}
	var ks []string
	for _, f := range fields {
		if appID, kind, ok := parseField(f); ok && kind != "" {
			ks = append(ks, s.k.cred(appID, kind))
		}
	}
	if len(ks) == 0 {
		return []wxtoken.Credential{}, nil
	}
	vals, err := s.c.MGet(ctx, ks...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list: %w", err)
	}
	list := make([]wxtoken.Credential, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // listed in versions but deleted by hand since
		}
		c, err := s.decode(ks[i], []byte(str))
		if err != nil {
			return nil, fmt.Errorf("redis store: list: %w", err)
		}
		list = append(list, c)
	}
	slices.SortFunc(list, func(a, b wxtoken.Credential) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Kind, b.Kind))
	})
	return list, nil
}

// putScript stores a credential record if the lease (when one is given)
// is held with the same value and the version is higher than the stored
// one; it raises the epoch and publishes the change.
//
// KEYS: record, versions, epoch, lease. ARGV: field, version, record,
// lease value ("" for an unfenced Put), channel. Returns {1, 0} when
// stored, {-1, 0} when the lease is not held, {-2, stored version} when
// the stored version is not lower.
var putScript = goredis.NewScript(`
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[4] then
  return {-1, 0}
end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if cur >= tonumber(ARGV[2]) then
  return {-2, cur}
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[5], ARGV[1] .. ' ' .. ARGV[2])
return {1, 0}
`)

// Put implements wxtoken.Store: a compare-and-set on Version, unfenced.
func (s *Store) Put(ctx context.Context, c wxtoken.Credential) error {
	return s.put(ctx, c, nil)
}

// PutFenced implements wxtoken.Coordinator.
func (s *Store) PutFenced(ctx context.Context, c wxtoken.Credential, l wxtoken.Lease) error {
	return s.put(ctx, c, &l)
}

func (s *Store) put(ctx context.Context, c wxtoken.Credential, l *wxtoken.Lease) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("redis store: put: %w", err)
	}
	if err := s.ensureOffset(ctx); err != nil {
		return fmt.Errorf("redis store: put %s/%s: %w", c.AppID, c.Kind, err)
	}
	b, err := s.encode(c)
	if err != nil {
		return fmt.Errorf("redis store: put %s/%s: %w", c.AppID, c.Kind, err)
	}
	name, value := wxtoken.CredentialKey(c.AppID, c.Kind), ""
	if l != nil {
		name, value = l.Name, leaseValue(*l)
	}
	res, err := putScript.Run(ctx, s.c,
		[]string{s.k.cred(c.AppID, c.Kind), s.k.versions(), s.k.epoch(), s.k.lease(name)},
		wxtoken.CredentialKey(c.AppID, c.Kind), strconv.FormatUint(c.Version, 10), b, value, s.k.channel()).Int64Slice()
	if err != nil {
		return fmt.Errorf("redis store: put %s/%s: %w", c.AppID, c.Kind, err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redis store: put %s/%s: unexpected script answer %v", c.AppID, c.Kind, res)
	}
	switch res[0] {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("redis store: put %s/%s version %d: %w", c.AppID, c.Kind, c.Version, wxtoken.ErrLeaseLost)
	case -2:
		return fmt.Errorf("redis store: put %s/%s version %d: version %d is stored: %w",
			c.AppID, c.Kind, c.Version, res[1], wxtoken.ErrStale)
	}
	return fmt.Errorf("redis store: put %s/%s: unexpected script answer %v", c.AppID, c.Kind, res)
}

// GetLedger implements wxtoken.Store.
func (s *Store) GetLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	if err := s.ensureOffset(ctx); err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("redis store: get meta %s: %w", appID, err)
	}
	key := s.k.meta(appID)
	b, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return wxtoken.Ledger{}, fmt.Errorf("redis store: get meta %s: %w", appID, wxtoken.ErrNotFound)
	}
	if err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("redis store: get meta %s: %w", appID, err)
	}
	m, err := s.decodeLedger(appID, key, b)
	if err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("redis store: get meta %s: %w", appID, err)
	}
	return m, nil
}

// ledgerChunk is how many keys GetLedgers asks for in one MGET: a round
// trip of a few hundred kilobytes, well within Options.Timeout, that
// keeps Redis from serving nothing else for long.
const ledgerChunk = 1000

// GetLedgers implements wxtoken.LedgerBatchReader: the bookkeeping of
// every app of appIDs, in order, read with one MGET per ledgerChunk apps
// instead of one round trip per app. An app with nothing stored gets the
// zero Ledger. One undecodable record fails the whole call, naming its
// key, as GetLedger would.
func (s *Store) GetLedgers(ctx context.Context, appIDs []string) ([]wxtoken.Ledger, error) {
	list := make([]wxtoken.Ledger, len(appIDs))
	if len(appIDs) == 0 {
		return list, nil
	}
	if err := s.ensureOffset(ctx); err != nil {
		return nil, fmt.Errorf("redis store: get meta of %d apps: %w", len(appIDs), err)
	}
	ks := make([]string, 0, min(len(appIDs), ledgerChunk))
	for from := 0; from < len(appIDs); from += ledgerChunk {
		ids := appIDs[from:min(from+ledgerChunk, len(appIDs))]
		ks = ks[:0]
		for _, appID := range ids {
			ks = append(ks, s.k.meta(appID))
		}
		vals, err := s.c.MGet(ctx, ks...).Result()
		if err != nil {
			return nil, fmt.Errorf("redis store: get meta of %d apps: %w", len(appIDs), err)
		}
		if len(vals) != len(ks) {
			return nil, fmt.Errorf("redis store: get meta of %d apps: MGET of %d keys answered %d values", len(appIDs), len(ks), len(vals))
		}
		for i, v := range vals {
			if v == nil {
				continue // nothing stored: the zero Ledger
			}
			str, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("redis store: get meta %s: unexpected MGET value %T", ids[i], v)
			}
			m, err := s.decodeLedger(ids[i], ks[i], []byte(str))
			if err != nil {
				return nil, fmt.Errorf("redis store: get meta %s: %w", ids[i], err)
			}
			list[from+i] = m
		}
	}
	return list, nil
}

// decodeLedger decodes the bookkeeping of appID stored under key, turning
// its times into this replica's clock.
func (s *Store) decodeLedger(appID, key string, b []byte) (wxtoken.Ledger, error) {
	var r metaRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	m := wxtoken.Ledger{
		AppID: appID, QuotaDay: r.QuotaDay, TokenCalls: r.TokenCalls,
		MintAttemptAt: s.local(r.MintAttemptAt), KilledVersion: r.KilledVersion,
		LastMintAt: s.local(r.LastMintAt), LastMintBy: r.LastMintBy, AbandonedMintAt: s.local(r.AbandonedAt),
	}
	for _, t := range r.ForceRefreshes {
		m.ForceRefreshes = append(m.ForceRefreshes, s.local(t))
	}
	if f := r.TokenFailure; f != nil {
		m.TokenFailure = &wxtoken.Failure{Count: f.Count, RetryAt: s.local(f.RetryAt), Blocked: f.Blocked,
			Error: wxtoken.ErrorInfo{ErrCode: f.ErrCode, Class: f.Class, Message: f.Message, Hint: f.Hint, At: s.local(f.At)}}
	}
	return m, nil
}

// metaScript stores an app's bookkeeping if the lease (when one is given)
// is held, counts the write in the versions hash, raises the epoch and
// publishes the change.
//
// KEYS: meta, versions, epoch, lease. ARGV: field, record, lease value,
// channel. Returns the new count, or -1 when the lease is not held.
var metaScript = goredis.NewScript(`
if ARGV[3] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[3] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
local v = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[1] .. ' ' .. v)
return v
`)

// PutLedger implements wxtoken.Store.
func (s *Store) PutLedger(ctx context.Context, m wxtoken.Ledger) error {
	return s.putMeta(ctx, m, nil)
}

// PutLedgerFenced implements wxtoken.Coordinator.
func (s *Store) PutLedgerFenced(ctx context.Context, m wxtoken.Ledger, l wxtoken.Lease) error {
	return s.putMeta(ctx, m, &l)
}

func (s *Store) putMeta(ctx context.Context, m wxtoken.Ledger, l *wxtoken.Lease) error {
	if m.AppID == "" {
		return errors.New("redis store: put meta: empty appid")
	}
	if err := s.ensureOffset(ctx); err != nil {
		return fmt.Errorf("redis store: put meta %s: %w", m.AppID, err)
	}
	r := metaRecord{
		AppID: m.AppID, QuotaDay: m.QuotaDay, TokenCalls: m.TokenCalls,
		MintAttemptAt: s.shared(m.MintAttemptAt), KilledVersion: m.KilledVersion, Writer: s.owner,
		LastMintAt: s.shared(m.LastMintAt), LastMintBy: m.LastMintBy, AbandonedAt: s.shared(m.AbandonedMintAt),
	}
	for _, t := range m.ForceRefreshes {
		r.ForceRefreshes = append(r.ForceRefreshes, s.shared(t))
	}
	if f := m.TokenFailure; f != nil {
		r.TokenFailure = &failureRecord{Count: f.Count, RetryAt: s.shared(f.RetryAt), Blocked: f.Blocked,
			ErrCode: f.Error.ErrCode, Class: f.Error.Class, Message: f.Error.Message, Hint: f.Error.Hint, At: s.shared(f.Error.At)}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis store: put meta %s: %w", m.AppID, err)
	}
	name, value := wxtoken.CredentialKey(m.AppID, wxtoken.KindAccessToken), ""
	if l != nil {
		name, value = l.Name, leaseValue(*l)
	}
	n, err := metaScript.Run(ctx, s.c,
		[]string{s.k.meta(m.AppID), s.k.versions(), s.k.epoch(), s.k.lease(name)},
		wxtoken.CredentialKey(m.AppID, ""), b, value, s.k.channel()).Int64()
	if err != nil {
		return fmt.Errorf("redis store: put meta %s: %w", m.AppID, err)
	}
	if n < 0 {
		return fmt.Errorf("redis store: put meta %s: %w", m.AppID, wxtoken.ErrLeaseLost)
	}
	return nil
}

// RouteClientLog sends what the Redis client library logs on its own
// (every failed dial while Redis is away, for instance) to l at debug
// level: the engine already reports an outage once, with what it means.
// The library keeps one logger per process, so this is for a program's
// main, not for a library.
func RouteClientLog(l *slog.Logger) {
	goredis.SetLogger(clientLog{l})
}

type clientLog struct{ l *slog.Logger }

func (c clientLog) Printf(ctx context.Context, format string, v ...any) {
	c.l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
