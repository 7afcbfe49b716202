package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Shared is a store that several replicas share inside one process, as they
// would share a Redis: each Replica is one replica's handle on it, a
// wxtoken.Store and a wxtoken.Coordinator with the replica's own clock.
// Leases run out on the Shared clock, and Fail and Wipe play an outage and
// a restart that loses the data, so that what a replica does in a cluster
// can be tested without a server and on a fake clock.
type Shared struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	every time.Duration

	mu sync.Mutex
	// store holds the records, their times in the Shared clock.
	store  *Store
	leases map[string]lease
	fence  uint64
	// metaWrites counts the bookkeeping writes of each app: the version a
	// Watch tells for them.
	metaWrites map[string]uint64
	// epoch counts Wipes; wake is closed at every write and replaced.
	epoch uint64
	wake  chan struct{}
	fail  error
}

type lease struct {
	owner   string
	token   uint64
	expires time.Time
}

// SharedOptions configure a Shared. Zero values take the defaults.
type SharedOptions struct {
	// Now is the clock that all replicas share, by which leases run out;
	// default time.Now.
	Now func() time.Time
	// After returns a channel that receives once, d from now on that
	// clock; default time.After.
	After func(d time.Duration) <-chan time.Time
	// SyncEvery is how often a Watch confirms that it has told every
	// change, as a Redis store's check does; default 100ms.
	SyncEvery time.Duration
}

// NewShared returns an empty shared store.
func NewShared(o SharedOptions) *Shared {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = 100 * time.Millisecond
	}
	return &Shared{now: o.Now, after: o.After, every: o.SyncEvery, store: New(),
		leases: map[string]lease{}, metaWrites: map[string]uint64{}, wake: make(chan struct{})}
}

// Fail makes every call of every replica fail with an error wrapping err,
// and every Watch report it, until Fail(nil): the store is unreachable.
func (h *Shared) Fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = err
	h.changed()
}

// Wipe loses every record and lease, as a restart of a store without
// persistence does; the Watches then say Reset.
func (h *Shared) Wipe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.store = New()
	clear(h.leases)
	clear(h.metaWrites)
	h.epoch++
	h.changed()
}

// changed wakes every Watch; the caller holds h.mu.
func (h *Shared) changed() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// Replica opens a replica's handle named owner, whose clock is now
// (default the Shared clock). The replica's clock may disagree with the
// Shared one: times are translated by the offset between the two measured
// here, as a Redis store measures its offset to the server.
func (h *Shared) Replica(owner string, now func() time.Time) *Replica {
	r := &Replica{h: h, owner: owner, now: h.now}
	if now != nil {
		r.now = now
		r.offset = now().Sub(h.now())
	}
	return r
}

// Replica is one replica's handle on a Shared store. It is safe for
// concurrent use.
type Replica struct {
	h     *Shared
	owner string
	now   func() time.Time
	// offset is the replica's clock minus the Shared clock.
	offset time.Duration

	mu     sync.Mutex
	closed bool
}

var (
	_ wxtoken.Store             = (*Replica)(nil)
	_ wxtoken.Coordinator       = (*Replica)(nil)
	_ wxtoken.LedgerBatchReader = (*Replica)(nil)
)

// begin locks the Shared store for an operation op of r, or returns why
// it cannot be done; on success the caller unlocks h.mu.
func (r *Replica) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory shared store: %s: %w", op, err)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return fmt.Errorf("memory shared store: %s: %w", op, errClosed())
	}
	r.h.mu.Lock()
	if err := r.h.fail; err != nil {
		r.h.mu.Unlock()
		return fmt.Errorf("memory shared store: %s: %w", op, err)
	}
	return nil
}

// in and out translate a time from the replica's clock to the Shared one
// and back; the zero time stays zero.
func (r *Replica) in(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(-r.offset)
}

func (r *Replica) out(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(r.offset).UTC()
}

func (r *Replica) credIn(c wxtoken.Credential) wxtoken.Credential {
	c.FetchedAt, c.ExpiresAt, c.RefreshAt, c.CallAttemptAt = r.in(c.FetchedAt), r.in(c.ExpiresAt), r.in(c.RefreshAt), r.in(c.CallAttemptAt)
	return c
}

func (r *Replica) credOut(c wxtoken.Credential) wxtoken.Credential {
	c.FetchedAt, c.ExpiresAt, c.RefreshAt, c.CallAttemptAt = r.out(c.FetchedAt), r.out(c.ExpiresAt), r.out(c.RefreshAt), r.out(c.CallAttemptAt)
	return c
}

func (r *Replica) metaMap(m wxtoken.Ledger, f func(time.Time) time.Time) wxtoken.Ledger {
	m.MintAttemptAt, m.LastMintAt, m.AbandonedMintAt = f(m.MintAttemptAt), f(m.LastMintAt), f(m.AbandonedMintAt)
	times := make([]time.Time, len(m.ForceRefreshes))
	for i, t := range m.ForceRefreshes {
		times[i] = f(t)
	}
	m.ForceRefreshes = times
	if m.TokenFailure != nil {
		tf := *m.TokenFailure
		tf.RetryAt, tf.Error.At = f(tf.RetryAt), f(tf.Error.At)
		m.TokenFailure = &tf
	}
	return m
}

// Get implements wxtoken.Store.
func (r *Replica) Get(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	if err := r.begin(ctx, "get"); err != nil {
		return wxtoken.Credential{}, err
	}
	defer r.h.mu.Unlock()
	c, err := r.h.store.Get(ctx, appID, kind)
	if err != nil {
		return wxtoken.Credential{}, err
	}
	return r.credOut(c), nil
}

// List implements wxtoken.Store.
func (r *Replica) List(ctx context.Context) ([]wxtoken.Credential, error) {
	if err := r.begin(ctx, "list"); err != nil {
		return nil, err
	}
	defer r.h.mu.Unlock()
	list, err := r.h.store.List(ctx)
	for i := range list {
		list[i] = r.credOut(list[i])
	}
	return list, err
}

// Put implements wxtoken.Store.
func (r *Replica) Put(ctx context.Context, c wxtoken.Credential) error {
	if err := r.begin(ctx, "put"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	return r.put(ctx, c)
}

// put writes c; the caller holds h.mu.
func (r *Replica) put(ctx context.Context, c wxtoken.Credential) error {
	if err := r.h.store.Put(ctx, r.credIn(c)); err != nil {
		return err
	}
	r.h.changed()
	return nil
}

// GetLedger implements wxtoken.Store.
func (r *Replica) GetLedger(ctx context.Context, appID string) (wxtoken.Ledger, error) {
	if err := r.begin(ctx, "get meta"); err != nil {
		return wxtoken.Ledger{}, err
	}
	defer r.h.mu.Unlock()
	m, err := r.h.store.GetLedger(ctx, appID)
	if err != nil {
		return wxtoken.Ledger{}, err
	}
	m = r.metaMap(m, r.out)
	if len(m.ForceRefreshes) == 0 {
		m.ForceRefreshes = nil
	}
	return m, nil
}

// GetLedgers implements wxtoken.LedgerBatchReader.
func (r *Replica) GetLedgers(ctx context.Context, appIDs []string) ([]wxtoken.Ledger, error) {
	if err := r.begin(ctx, "get meta of apps"); err != nil {
		return nil, err
	}
	defer r.h.mu.Unlock()
	list, err := r.h.store.GetLedgers(ctx, appIDs)
	if err != nil {
		return nil, err
	}
	for i, m := range list {
		if m.AppID == "" {
			continue // nothing stored: the zero Ledger stays zero
		}
		m = r.metaMap(m, r.out)
		if len(m.ForceRefreshes) == 0 {
			m.ForceRefreshes = nil
		}
		list[i] = m
	}
	return list, nil
}

// PutLedger implements wxtoken.Store.
func (r *Replica) PutLedger(ctx context.Context, m wxtoken.Ledger) error {
	if err := r.begin(ctx, "put meta"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	return r.putMeta(ctx, m)
}

// putMeta writes m; the caller holds h.mu.
func (r *Replica) putMeta(ctx context.Context, m wxtoken.Ledger) error {
	if err := r.h.store.PutLedger(ctx, r.metaMap(m, r.in)); err != nil {
		return err
	}
	r.h.metaWrites[m.AppID]++
	r.h.changed()
	return nil
}

func (r *Replica) entryMap(e wxtoken.Entry, f func(time.Time) time.Time) wxtoken.Entry {
	e.CreatedAt, e.UpdatedAt = f(e.CreatedAt), f(e.UpdatedAt)
	return e
}

// GetEntry implements wxtoken.Registry.
func (r *Replica) GetEntry(ctx context.Context, id string) (wxtoken.Entry, error) {
	if err := r.begin(ctx, "get entry"); err != nil {
		return wxtoken.Entry{}, err
	}
	defer r.h.mu.Unlock()
	e, err := r.h.store.GetEntry(ctx, id)
	if err != nil {
		return wxtoken.Entry{}, err
	}
	return r.entryMap(e, r.out), nil
}

// ListEntries implements wxtoken.Registry.
func (r *Replica) ListEntries(ctx context.Context) ([]wxtoken.Entry, error) {
	if err := r.begin(ctx, "list entries"); err != nil {
		return nil, err
	}
	defer r.h.mu.Unlock()
	list, err := r.h.store.ListEntries(ctx)
	for i := range list {
		list[i] = r.entryMap(list[i], r.out)
	}
	return list, err
}

// PutEntry implements wxtoken.Registry.
func (r *Replica) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	if err := r.begin(ctx, "put entry"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	if err := r.h.store.PutEntry(ctx, r.entryMap(e, r.in)); err != nil {
		return err
	}
	r.h.changed()
	return nil
}

// Close closes this replica's handle; the Shared store and the other
// handles stay open.
func (r *Replica) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Owner implements wxtoken.Coordinator.
func (r *Replica) Owner() string { return r.owner }

// held reports whether l is the live lease on its name; the caller holds
// h.mu.
func (r *Replica) held(l wxtoken.Lease) bool {
	cur, ok := r.h.leases[l.Name]
	return ok && cur.owner == l.Owner && cur.token == l.Token && r.h.now().Before(cur.expires)
}

// AcquireLease implements wxtoken.Coordinator.
func (r *Replica) AcquireLease(ctx context.Context, name string, ttl time.Duration) (wxtoken.Lease, error) {
	if err := r.begin(ctx, "acquire lease"); err != nil {
		return wxtoken.Lease{}, err
	}
	defer r.h.mu.Unlock()
	now := r.h.now()
	if cur, ok := r.h.leases[name]; ok && now.Before(cur.expires) {
		return wxtoken.Lease{}, fmt.Errorf("memory shared store: lease %s held by %s: %w", name, cur.owner, wxtoken.ErrLeaseHeld)
	}
	r.h.fence++
	r.h.leases[name] = lease{owner: r.owner, token: r.h.fence, expires: now.Add(ttl)}
	return wxtoken.Lease{Name: name, Owner: r.owner, Token: r.h.fence}, nil
}

// RenewLease implements wxtoken.Coordinator.
func (r *Replica) RenewLease(ctx context.Context, l wxtoken.Lease, ttl time.Duration) error {
	if err := r.begin(ctx, "renew lease"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	if !r.held(l) {
		return fmt.Errorf("memory shared store: renew lease %s: %w", l.Name, wxtoken.ErrLeaseLost)
	}
	cur := r.h.leases[l.Name]
	cur.expires = r.h.now().Add(ttl)
	r.h.leases[l.Name] = cur
	return nil
}

// ReleaseLease implements wxtoken.Coordinator.
func (r *Replica) ReleaseLease(ctx context.Context, l wxtoken.Lease) error {
	if err := r.begin(ctx, "release lease"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	if r.held(l) {
		delete(r.h.leases, l.Name)
	}
	return nil
}

// LeaseHolders implements wxtoken.Coordinator.
func (r *Replica) LeaseHolders(ctx context.Context, names []string) (map[string]string, error) {
	if err := r.begin(ctx, "lease holders"); err != nil {
		return nil, err
	}
	defer r.h.mu.Unlock()
	now := r.h.now()
	out := map[string]string{}
	for _, n := range names {
		if cur, ok := r.h.leases[n]; ok && now.Before(cur.expires) {
			out[n] = cur.owner
		}
	}
	return out, nil
}

// PutFenced implements wxtoken.Coordinator.
func (r *Replica) PutFenced(ctx context.Context, c wxtoken.Credential, l wxtoken.Lease) error {
	if err := r.begin(ctx, "put fenced"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	if !r.held(l) {
		return fmt.Errorf("memory shared store: put %s/%s under lease %d: %w", c.AppID, c.Kind, l.Token, wxtoken.ErrLeaseLost)
	}
	return r.put(ctx, c)
}

// PutLedgerFenced implements wxtoken.Coordinator.
func (r *Replica) PutLedgerFenced(ctx context.Context, m wxtoken.Ledger, l wxtoken.Lease) error {
	if err := r.begin(ctx, "put meta fenced"); err != nil {
		return err
	}
	defer r.h.mu.Unlock()
	if !r.held(l) {
		return fmt.Errorf("memory shared store: put meta %s under lease %d: %w", m.AppID, l.Token, wxtoken.ErrLeaseLost)
	}
	return r.putMeta(ctx, m)
}

// Watch implements wxtoken.Coordinator. It tells every entry and record
// when it starts, then what changed at every write, and confirms with
// Synced after each round and every SyncEvery. In each round entries are
// told before credentials, so that a watcher learns of an owner before
// its credentials.
func (r *Replica) Watch(ctx context.Context, w wxtoken.Watcher) error {
	h := r.h
	type change struct {
		appID   string
		kind    wxtoken.Kind
		version uint64
	}
	seen := map[string]uint64{}
	seenEntries := map[string]uint64{}
	h.mu.Lock()
	epoch := h.epoch
	h.mu.Unlock()
	for {
		h.mu.Lock()
		wake, err := h.wake, h.fail
		at := r.now()
		reset := false
		var changes, entries []change
		if err == nil {
			if h.epoch != epoch {
				epoch, reset = h.epoch, true
				clear(seen)
				clear(seenEntries)
			}
			for id, e := range h.store.entries {
				if e.Version > seenEntries[id] {
					seenEntries[id] = e.Version
					entries = append(entries, change{appID: id, version: e.Version})
				}
			}
			tell := func(appID string, kind wxtoken.Kind, v uint64) {
				if k := appID + "/" + string(kind); v > seen[k] {
					seen[k] = v
					changes = append(changes, change{appID, kind, v})
				}
			}
			for _, c := range h.store.creds {
				tell(c.AppID, c.Kind, c.Version)
			}
			for appID, n := range h.metaWrites {
				tell(appID, "", n)
			}
		}
		h.mu.Unlock()
		// Map order is random; the order of a Redis store's hash is
		// not promised either, but a stable one keeps logs comparable.
		byKey := func(a, b change) int {
			return cmp.Or(cmp.Compare(a.appID, b.appID), cmp.Compare(a.kind, b.kind))
		}
		slices.SortFunc(entries, byKey)
		slices.SortFunc(changes, byKey)
		if reset {
			w.Reset()
		}
		for _, e := range entries {
			w.EntryChanged(e.appID, e.version)
		}
		for _, c := range changes {
			w.Changed(c.appID, c.kind, c.version)
		}
		if err != nil {
			err = fmt.Errorf("memory shared store: watch: %w", err)
		}
		w.Synced(at, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-h.after(h.every):
		}
	}
}
