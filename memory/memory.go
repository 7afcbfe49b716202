// Package memory is a wxtoken.Store that keeps everything in process
// memory. Nothing survives a restart, so it suits tests, the demo and
// deployments that accept one upstream fetch per app at every start.
//
// It behaves like the persistent stores in every way callers can observe:
// times come back in UTC without a monotonic clock reading, and values are
// copied in and out, so a caller can never change stored state through a
// slice it passed or received.
//
// Shared is the same store shared by several replicas in one process, each
// with a Replica handle that is also a wxtoken.Coordinator: the cluster
// mode's stand-in for Redis in tests.
package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Store is an in-memory wxtoken.Store, safe for concurrent use. The zero
// value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	creds   map[key]wxtoken.Credential
	meta    map[string]wxtoken.Ledger
	entries map[string]wxtoken.Entry
	closed  bool
}

type key struct {
	appID string
	kind  wxtoken.Kind
}

var (
	_ wxtoken.Store             = (*Store)(nil)
	_ wxtoken.LedgerBatchReader = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		creds:   make(map[key]wxtoken.Credential),
		meta:    make(map[string]wxtoken.Ledger),
		entries: make(map[string]wxtoken.Entry),
	}
}

// errClosed is built per call rather than kept in a package variable; use
// after Close is a programming error, not something callers test for.
func errClosed() error { return errors.New("store is closed") }

// Get returns the record for (appID, kind), or an error wrapping
// wxtoken.ErrNotFound.
func (s *Store) Get(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	if err := ctx.Err(); err != nil {
		return wxtoken.Credential{}, fmt.Errorf("memory store: get %s/%s: %w", appID, kind, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return wxtoken.Credential{}, fmt.Errorf("memory store: get %s/%s: %w", appID, kind, errClosed())
	}
	c, ok := s.creds[key{appID, kind}]
	if !ok {
		return wxtoken.Credential{}, fmt.Errorf("memory store: get %s/%s: %w", appID, kind, wxtoken.ErrNotFound)
	}
	return c, nil
}

// List returns every credential record, ordered by AppID and Kind.
func (s *Store) List(ctx context.Context) ([]wxtoken.Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory store: list: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("memory store: list: %w", errClosed())
	}
	list := make([]wxtoken.Credential, 0, len(s.creds))
	for _, c := range s.creds {
		list = append(list, c)
	}
	// Map order is random; a stable order keeps status output and logs
	// comparable between calls.
	slices.SortFunc(list, func(a, b wxtoken.Credential) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Kind, b.Kind))
	})
	return list, nil
}

// Put stores c unless a record with an equal or higher Version is stored
// for (c.AppID, c.Kind), in which case it returns an error wrapping
// wxtoken.ErrStale.
func (s *Store) Put(ctx context.Context, c wxtoken.Credential) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("memory store: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory store: put %s/%s: %w", c.AppID, c.Kind, err)
	}
	c.FetchedAt = normalize(c.FetchedAt)
	c.ExpiresAt = normalize(c.ExpiresAt)
	c.RefreshAt = normalize(c.RefreshAt)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memory store: put %s/%s: %w", c.AppID, c.Kind, errClosed())
	}
	k := key{c.AppID, c.Kind}
	if old, ok := s.creds[k]; ok && old.Version >= c.Version {
		return fmt.Errorf("memory store: put %s/%s version %d: version %d is stored: %w",
			c.AppID, c.Kind, c.Version, old.Version, wxtoken.ErrStale)
	}
	s.creds[k] = c
	return nil
}

// GetLedger returns the bookkeeping of appID, or an error wrapping
// wxtoken.ErrNotFound.
func (s *Store) GetLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	if err := ctx.Err(); err != nil {
		return wxtoken.Ledger{}, fmt.Errorf("memory store: get meta %s: %w", appID, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return wxtoken.Ledger{}, fmt.Errorf("memory store: get meta %s: %w", appID, errClosed())
	}
	m, ok := s.meta[appID]
	if !ok {
		return wxtoken.Ledger{}, fmt.Errorf("memory store: get meta %s: %w", appID, wxtoken.ErrNotFound)
	}
	// The stored slice must never reach a caller, who could change it.
	m.ForceRefreshes = slices.Clone(m.ForceRefreshes)
	return m, nil
}

// GetLedgers implements wxtoken.LedgerBatchReader: the bookkeeping of
// every app of appIDs, in order, the zero Ledger for an app with nothing
// stored.
func (s *Store) GetLedgers(ctx context.Context, appIDs []string) ([]wxtoken.Ledger, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory store: get meta of %d apps: %w", len(appIDs), err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("memory store: get meta of %d apps: %w", len(appIDs), errClosed())
	}
	list := make([]wxtoken.Ledger, len(appIDs))
	for i, appID := range appIDs {
		if m, ok := s.meta[appID]; ok {
			m.ForceRefreshes = slices.Clone(m.ForceRefreshes)
			list[i] = m
		}
	}
	return list, nil
}

// PutLedger stores m, replacing what was stored for m.AppID.
func (s *Store) PutLedger(ctx context.Context, m wxtoken.Ledger) error {
	if m.AppID == "" {
		return errors.New("memory store: put meta: empty appid")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory store: put meta %s: %w", m.AppID, err)
	}
	// Copy before taking the lock: the caller keeps its slice and may
	// change it afterwards.
	if len(m.ForceRefreshes) == 0 {
		m.ForceRefreshes = nil
	} else {
		times := make([]time.Time, len(m.ForceRefreshes))
		for i, t := range m.ForceRefreshes {
			times[i] = normalize(t)
		}
		m.ForceRefreshes = times
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memory store: put meta %s: %w", m.AppID, errClosed())
	}
	s.meta[m.AppID] = m
	return nil
}

// GetEntry returns the entry id, or an error wrapping wxtoken.ErrNotFound.
func (s *Store) GetEntry(ctx context.Context, id string) (wxtoken.Entry, error) {
	if err := ctx.Err(); err != nil {
		return wxtoken.Entry{}, fmt.Errorf("memory store: get entry %s: %w", id, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return wxtoken.Entry{}, fmt.Errorf("memory store: get entry %s: %w", id, errClosed())
	}
	e, ok := s.entries[id]
	if !ok {
		return wxtoken.Entry{}, fmt.Errorf("memory store: get entry %s: %w", id, wxtoken.ErrNotFound)
	}
	return copyEntry(e), nil
}

// ListEntries returns every entry, removed ones included, ordered by ID.
func (s *Store) ListEntries(ctx context.Context) ([]wxtoken.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory store: list entries: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("memory store: list entries: %w", errClosed())
	}
	list := make([]wxtoken.Entry, 0, len(s.entries))
	for _, e := range s.entries {
		list = append(list, copyEntry(e))
	}
	slices.SortFunc(list, func(a, b wxtoken.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return list, nil
}

// PutEntry stores e unless a record with an equal or higher Version is
// stored for e.ID, in which case it returns an error wrapping
// wxtoken.ErrStale. Nothing here outlives the process: this store promises
// no durability.
func (s *Store) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	if err := e.Validate(); err != nil {
		return fmt.Errorf("memory store: put entry: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory store: put entry %s: %w", e.ID, err)
	}
	// Copy before taking the lock: the caller keeps its slices.
	e = copyEntry(e)
	e.CreatedAt, e.UpdatedAt = normalize(e.CreatedAt), normalize(e.UpdatedAt)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memory store: put entry %s: %w", e.ID, errClosed())
	}
	if old, ok := s.entries[e.ID]; ok && old.Version >= e.Version {
		return fmt.Errorf("memory store: put entry %s version %d: version %d is stored: %w",
			e.ID, e.Version, old.Version, wxtoken.ErrStale)
	}
	s.entries[e.ID] = e
	return nil
}

// copyEntry returns e with slices of its own, so that neither the caller
// nor the store can change the other's through them. An empty slice
// becomes nil, as it would after a round trip through JSON.
func copyEntry(e wxtoken.Entry) wxtoken.Entry {
	if len(e.Tickets) == 0 {
		e.Tickets = nil
	} else {
		e.Tickets = slices.Clone(e.Tickets)
	}
	if len(e.Tags) == 0 {
		e.Tags = nil
	} else {
		e.Tags = slices.Clone(e.Tags)
	}
	return e
}

// Close discards the stored state. Later calls fail; Close itself may be
// called more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	// Dropping the maps frees the memory even if the Store value lives on.
	s.creds = nil
	s.meta = nil
	s.entries = nil
	return nil
}

// normalize gives t the form a persistent store would return: UTC, which
// also drops the monotonic clock reading, so that tests run against this
// store see what production sees.
func normalize(t time.Time) time.Time { return t.UTC() }
