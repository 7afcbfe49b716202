package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// entryRecord is an entry as stored: its times on Redis's clock, as a
// credential's are.
type entryRecord struct {
	ID        string             `json:"id"`
	Family    wxtoken.Family     `json:"family"`
	Name      string             `json:"name,omitempty"`
	Secret    string             `json:"secret"`
	TokenAPI  wxtoken.TokenAPI   `json:"token_api,omitempty"`
	Tickets   []wxtoken.Kind     `json:"tickets,omitempty"`
	Tags      []string           `json:"tags,omitempty"`
	State     wxtoken.EntryState `json:"state"`
	Note      string             `json:"note,omitempty"`
	CreatedAt int64              `json:"created_at,omitempty"`
	UpdatedAt int64              `json:"updated_at,omitempty"`
	Version   uint64             `json:"version"`
	// Writer is the replica that wrote the record, for operators.
	Writer string `json:"writer,omitempty"`
}

func (s *Store) encodeEntry(e wxtoken.Entry) ([]byte, error) {
	return json.Marshal(entryRecord{
		ID: e.ID, Family: e.Family, Name: e.Name, Secret: e.Secret, TokenAPI: e.TokenAPI,
		Tickets: e.Tickets, Tags: e.Tags, State: e.State, Note: e.Note,
		CreatedAt: s.shared(e.CreatedAt), UpdatedAt: s.shared(e.UpdatedAt), Version: e.Version,
		Writer: s.owner,
	})
}

func (s *Store) decodeEntry(key, id string, b []byte) (wxtoken.Entry, error) {
	var r entryRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return wxtoken.Entry{}, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	e := wxtoken.Entry{
		ID: r.ID, Family: r.Family, Name: r.Name, Secret: r.Secret, TokenAPI: r.TokenAPI,
		Tickets: r.Tickets, Tags: r.Tags, State: r.State, Note: r.Note,
		CreatedAt: s.local(r.CreatedAt), UpdatedAt: s.local(r.UpdatedAt), Version: r.Version,
	}
	if e.ID != id {
		return wxtoken.Entry{}, fmt.Errorf("record %s is corrupt: it is for %q", key, e.ID)
	}
	if err := e.Validate(); err != nil {
		return wxtoken.Entry{}, fmt.Errorf("record %s is corrupt: %w", key, err)
	}
	return e, nil
}

// checkText refuses an entry whose text JSON cannot carry as it is: the
// encoder would replace invalid UTF-8, and a sealed secret changed by one
// byte no longer opens.
func checkText(e wxtoken.Entry) error {
	fields := []struct{ name, value string }{{"id", e.ID}, {"name", e.Name}, {"secret", e.Secret}, {"note", e.Note}}
	for _, t := range e.Tags {
		fields = append(fields, struct{ name, value string }{"tag", t})
	}
	for _, f := range fields {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("invalid entry %q: its %s is not valid UTF-8", e.ID, f.name)
		}
	}
	return nil
}

// GetEntry implements wxtoken.Registry.
func (s *Store) GetEntry(ctx context.Context, id string) (wxtoken.Entry, error) {
	if err := s.ensureOffset(ctx); err != nil {
		return wxtoken.Entry{}, fmt.Errorf("redis store: get entry %s: %w", id, err)
	}
	key := s.k.entry(id)
	b, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return wxtoken.Entry{}, fmt.Errorf("redis store: get entry %s: %w", id, wxtoken.ErrNotFound)
	}
	if err != nil {
		return wxtoken.Entry{}, fmt.Errorf("redis store: get entry %s: %w", id, err)
	}
	e, err := s.decodeEntry(key, id, b)
	if err != nil {
		return wxtoken.Entry{}, fmt.Errorf("redis store: get entry %s: %w", id, err)
	}
	return e, nil
}

// ListEntries implements wxtoken.Registry: every entry listed in the
// entries hash, ordered by ID.
func (s *Store) ListEntries(ctx context.Context) ([]wxtoken.Entry, error) {
	if err := s.ensureOffset(ctx); err != nil {
		return nil, fmt.Errorf("redis store: list entries: %w", err)
	}
	ids, err := s.c.HKeys(ctx, s.k.entries()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: list entries: %w", err)
	}
	list := make([]wxtoken.Entry, 0, len(ids))
	// MGET in batches: one reply for 100,000 entries would hold the
	// server and the connection for long.
	const batch = 1000
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		ks := make([]string, len(part))
		for i, id := range part {
			ks[i] = s.k.entry(id)
		}
		vals, err := s.c.MGet(ctx, ks...).Result()
		if err != nil {
			return nil, fmt.Errorf("redis store: list entries: %w", err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // listed in the hash but deleted by hand since
			}
			e, err := s.decodeEntry(ks[i], part[i], []byte(str))
			if err != nil {
				return nil, fmt.Errorf("redis store: list entries: %w", err)
			}
			list = append(list, e)
		}
	}
	slices.SortFunc(list, func(a, b wxtoken.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return list, nil
}

// putEntryScript stores an entry if its version is higher than the stored
// one, in one step; it raises the epoch and publishes the change.
//
// KEYS: entry, entries, epoch. ARGV: id, version, record, channel.
// Returns {1, 0} when stored, {-2, stored version} when the stored
// version is not lower.
var putEntryScript = goredis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if cur >= tonumber(ARGV[2]) then
  return {-2, cur}
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[2] .. ' ' .. ARGV[1])
return {1, 0}
`)

// PutEntry implements wxtoken.Registry: a compare-and-set on Version,
// done by one script. The write is as durable as the server's persistence
// makes it (see Durability): with appendonly and appendfsync always, it
// is on disk when PutEntry returns; otherwise a crash of Redis may lose
// the last second (everysec) or the writes since the last snapshot (RDB).
func (s *Store) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("redis store: put entry: %w", err)
	}
	if err := checkText(e); err != nil {
		return fmt.Errorf("redis store: put entry: %w", err)
	}
	if err := s.ensureOffset(ctx); err != nil {
		return fmt.Errorf("redis store: put entry %s: %w", e.ID, err)
	}
	b, err := s.encodeEntry(e)
	if err != nil {
		return fmt.Errorf("redis store: put entry %s: %w", e.ID, err)
	}
	res, err := putEntryScript.Run(ctx, s.c,
		[]string{s.k.entry(e.ID), s.k.entries(), s.k.epoch()},
		e.ID, strconv.FormatUint(e.Version, 10), b, s.k.entryChannel()).Int64Slice()
	if err != nil {
		return fmt.Errorf("redis store: put entry %s: %w", e.ID, err)
	}
	if len(res) != 2 {
		return fmt.Errorf("redis store: put entry %s: unexpected script answer %v", e.ID, res)
	}
	switch res[0] {
	case 1:
		return nil
	case -2:
		return fmt.Errorf("redis store: put entry %s version %d: version %d is stored: %w",
			e.ID, e.Version, res[1], wxtoken.ErrStale)
	}
	return fmt.Errorf("redis store: put entry %s: unexpected script answer %v", e.ID, res)
}
