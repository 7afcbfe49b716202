package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// Watch implements wxtoken.Coordinator. Changes arrive by pub/sub as they
// are written; every SyncInterval a check reads the epoch, and when it
// moved, the versions and entries hashes, to catch what pub/sub missed
// (messages are lost while a connection is down). The first check tells
// every entry and record; each check tells entries before credentials, so
// that a watcher learns of an owner before its credentials.
func (s *Store) Watch(ctx context.Context, w wxtoken.Watcher) error {
	ps := s.c.Subscribe(ctx, s.k.channel(), s.k.entryChannel())
	defer ps.Close()
	msgs := ps.Channel(goredis.WithChannelHealthCheckInterval(s.interval))

	ws := &watchState{s: s, w: w, seen: map[string]uint64{}, seenEntries: map[string]uint64{}, epoch: -1}
	ws.check(ctx)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				return fmt.Errorf("redis store: watch: subscription closed")
			}
			if m.Channel == s.k.entryChannel() {
				ws.entryMessage(m.Payload)
			} else {
				ws.message(m.Payload)
			}
		case <-tick.C:
			ws.check(ctx)
		}
	}
}

// watchState is what one Watch knows: the versions of records and of
// entries told so far, and the epoch of the last full read.
type watchState struct {
	s           *Store
	w           wxtoken.Watcher
	seen        map[string]uint64
	seenEntries map[string]uint64
	epoch       int64
}

// entryMessage handles one pub/sub message of an entry write,
// "<version> <id>": the version first, so that the id may be anything.
func (ws *watchState) entryMessage(payload string) {
	v, id, ok := strings.Cut(payload, " ")
	if !ok || id == "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return
	}
	ws.tellEntry(id, n)
}

// tellEntry passes an entry's version on to the watcher if it is newer
// than the one told last for the entry.
func (ws *watchState) tellEntry(id string, version uint64) {
	if version <= ws.seenEntries[id] {
		return
	}
	ws.seenEntries[id] = version
	ws.w.EntryChanged(id, version)
}

// message handles one pub/sub message, "<field> <version>".
func (ws *watchState) message(payload string) {
	f, v, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return
	}
	ws.tell(f, n)
}

// tell passes a version on to the watcher if it is newer than the one
// told last for the field.
func (ws *watchState) tell(f string, version uint64) {
	appID, kind, ok := parseField(f)
	if !ok || version <= ws.seen[f] {
		return
	}
	ws.seen[f] = version
	ws.w.Changed(appID, kind, version)
}

// check asks Redis for the epoch (and its clock); when the epoch moved
// since the last full read, it reads every version and tells those that
// changed. It then reports the sync.
func (ws *watchState) check(ctx context.Context) {
	at := ws.s.now()
	cctx, cancel := context.WithTimeout(ctx, 5*ws.s.interval)
	defer cancel()
	err := ws.sync(cctx)
	if ctx.Err() != nil {
		return
	}
	ws.w.Synced(at, err)
}

func (ws *watchState) sync(ctx context.Context) error {
	if err := ws.s.measureOffset(ctx); err != nil {
		return fmt.Errorf("redis store: sync: %w", err)
	}
	epoch, err := ws.s.c.Get(ctx, ws.s.k.epoch()).Int64()
	if errors.Is(err, goredis.Nil) {
		// A new store, or one that lost every key in a restart without
		// persistence: record the schema version before the records
		// are written back, so that a later release knows their layout.
		if err := ws.s.checkSchema(ctx); err != nil {
			return fmt.Errorf("redis store: sync: %w", err)
		}
		epoch, err = 0, nil
	}
	if err != nil {
		return fmt.Errorf("redis store: sync: %w", err)
	}
	if epoch == ws.epoch {
		return nil
	}
	// The epoch is read before the versions, so a write between the two
	// reads shows in the versions now and moves the epoch for next time.
	entries, err := ws.s.c.HGetAll(ctx, ws.s.k.entries()).Result()
	if err != nil {
		return fmt.Errorf("redis store: sync: %w", err)
	}
	all, err := ws.s.c.HGetAll(ctx, ws.s.k.versions()).Result()
	if err != nil {
		return fmt.Errorf("redis store: sync: %w", err)
	}
	if epoch < ws.epoch {
		// The store was emptied and refilled (a Redis restart without
		// persistence): versions told before mean nothing now.
		clear(ws.seen)
		clear(ws.seenEntries)
		ws.w.Reset()
	}
	for id, v := range entries {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			ws.tellEntry(id, n)
		}
	}
	for f, v := range all {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			ws.tell(f, n)
		}
	}
	ws.epoch = epoch
	return nil
}
