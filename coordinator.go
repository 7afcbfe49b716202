package wxtoken

import (
	"context"
	"errors"
	"time"
)

// Lease errors.
var (
	// ErrLeaseHeld is returned by Coordinator.AcquireLease when another
	// owner holds the lease.
	ErrLeaseHeld = errors.New("lease held by another owner")
	// ErrLeaseLost is returned by the fenced writes and RenewLease when
	// the lease is no longer held by its owner: it expired, or another
	// owner took it since.
	ErrLeaseLost = errors.New("lease lost")
)

// Lease is one owner's exclusive, expiring claim on a name. Token is the
// fencing token: it grows with every acquisition of the name, so a write
// fenced by an older lease can be told from one by the current lease.
type Lease struct {
	Name  string
	Owner string
	Token uint64
}

// Coordinator is what a Store shared by several wxtoken replicas adds, so
// that exactly one replica talks to WeChat for a credential at a time and
// every replica learns of the others' writes. It is three parts, each a
// caller may need alone: leases, writes fenced by them, and a change feed.
//
// The times in records a Coordinator's Store hands back are in the
// caller's clock, whatever the clocks of the replicas that wrote them:
// an implementation translates through a clock that all replicas share.
type Coordinator interface {
	Leaser
	FencedWriter
	ChangeFeed
}

// Leaser hands out exclusive, expiring, fenced leases on names.
type Leaser interface {
	// Owner names this replica in the leases it takes.
	Owner() string
	// AcquireLease takes the lease on name for ttl if no one holds it;
	// it returns an error wrapping ErrLeaseHeld if someone does.
	AcquireLease(ctx context.Context, name string, ttl time.Duration) (Lease, error)
	// RenewLease extends a held lease to ttl from now; ErrLeaseLost if it
	// is no longer held.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) error
	// ReleaseLease gives the lease up if it is still held by l; releasing
	// a lease that was lost is not an error.
	ReleaseLease(ctx context.Context, l Lease) error
	// LeaseHolders returns, for each name whose lease is held, its owner.
	LeaseHolders(ctx context.Context, names []string) (map[string]string, error)
}

// FencedWriter writes to a shared Store only while a lease is held.
type FencedWriter interface {
	// PutFenced is Store.Put done only while l is held: otherwise it
	// stores nothing and returns an error wrapping ErrLeaseLost.
	PutFenced(ctx context.Context, c Credential, l Lease) error
	// PutLedgerFenced is Store.PutLedger done only while l is held.
	PutLedgerFenced(ctx context.Context, m Ledger, l Lease) error
}

// ChangeFeed tells of the writes every replica makes to a shared Store.
type ChangeFeed interface {
	// Watch reports changes that any replica writes to w until ctx ends,
	// then returns ctx's error. Calls to w come from one goroutine, one at
	// a time.
	Watch(ctx context.Context, w Watcher) error
}

// Watcher is told of changes to a shared store.
type Watcher interface {
	// Changed says that the record of (appID, kind) now has version, or,
	// for an empty kind, that the bookkeeping of appID changed (version
	// then counts those changes). It may repeat a change already told,
	// and it tells every record when the watch starts.
	Changed(appID string, kind Kind, version uint64)
	// EntryChanged says that the entry id (see Registry) now has version.
	// It may repeat a change already told, and it tells every entry when
	// the watch starts.
	EntryChanged(id string, version uint64)
	// Synced says that the store was asked at time at (the caller's
	// clock) and every change written before then has been told, or, with
	// a non-nil err, that the store could not be asked.
	Synced(at time.Time, err error)
	// Reset says that the store lost what it held (a restart without
	// persistence): what the replicas hold should be written back.
	Reset()
}
