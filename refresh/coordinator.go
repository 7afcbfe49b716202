package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken"
)

// coordinator is how the engine works with its store, which is its own
// (solo) or shared with other replicas (cluster). The engine does the same
// whichever it has: it takes a credential's lease before it talks to
// WeChat about it, writes under that lease, and follows what is written.
// Solo grants every lease, writes plainly and has nothing to follow.
type coordinator interface {
	wxtoken.Leaser
	// follow passes what the other replicas write to the engine until ctx
	// ends, then returns ctx's error.
	follow(ctx context.Context) error
	// putFenced is wxtoken.FencedWriter.PutFenced of *nc, which solo may
	// number higher than asked (see solo.putFenced).
	putFenced(ctx context.Context, nc *wxtoken.Credential, l wxtoken.Lease) error
	putMetaFenced(ctx context.Context, m wxtoken.AppMeta, l wxtoken.Lease) error
	// written and writtenMeta read what the other replicas wrote to the
	// store: an error wrapping wxtoken.ErrNotFound when there is nothing
	// to read (always, solo).
	written(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error)
	writtenMeta(ctx context.Context, appID string) (wxtoken.AppMeta, error)
	// known returns the time up to which the engine knows of every token
	// call that any replica started ("known" wherever the engine's
	// comments say it): now, solo; for a cluster, when the store last
	// confirmed every change written before it (heard), never after now.
	known(now time.Time) time.Time
	// heard returns when the store last confirmed every change written
	// before it; confirmed records such a confirmation. Solo: zero, and
	// nothing to record.
	heard() time.Time
	confirmed(at time.Time)
	// down returns since when the store cannot be reached and the last
	// failure, or a nil error while it answers (always, solo).
	down() (time.Time, error)
	// startWithout decides what a Start that could not read the store
	// does: solo fails with err; a cluster starts without the stored
	// credentials and loads them in the background (nil).
	startWithout(ctx context.Context, err error) error
	// shared reports whether other replicas write to the store. Then a
	// credential counts only once written there, where they can see it:
	// one the store refuses or cannot take is handled as theirs, not
	// served from memory.
	shared() bool
}

// solo is the coordinator of a store of the engine's own: the engine is
// its only writer, so every lease is granted, a fenced write is a plain
// one, and no one else writes anything to follow.
type solo struct{ store wxtoken.Store }

var _ coordinator = solo{}

func (solo) Owner() string { return "" }

func (solo) AcquireLease(_ context.Context, name string, _ time.Duration) (wxtoken.Lease, error) {
	return wxtoken.Lease{Name: name}, nil
}

func (solo) RenewLease(context.Context, wxtoken.Lease, time.Duration) error { return nil }
func (solo) ReleaseLease(context.Context, wxtoken.Lease) error              { return nil }

func (solo) LeaseHolders(context.Context, []string) (map[string]string, error) { return nil, nil }

// follow tells nothing: no one else writes. It returns when ctx ends.
func (solo) follow(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// putFenced writes nc as a compare-and-set on Version, retried once above
// what is stored: a store that holds a higher Version than this engine
// (written by an earlier process whose record was not loaded) must not
// keep it from saving what it serves.
func (o solo) putFenced(ctx context.Context, nc *wxtoken.Credential, _ wxtoken.Lease) error {
	err := o.store.Put(ctx, *nc)
	if errors.Is(err, wxtoken.ErrStale) {
		if got, gerr := o.store.Get(ctx, nc.AppID, nc.Kind); gerr == nil {
			nc.Version = got.Version + 1
			err = o.store.Put(ctx, *nc)
		}
	}
	return err
}

func (o solo) putMetaFenced(ctx context.Context, m wxtoken.AppMeta, _ wxtoken.Lease) error {
	return o.store.PutMeta(ctx, m)
}

func (solo) written(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Credential, error) {
	return wxtoken.Credential{}, wxtoken.ErrNotFound
}

func (solo) writtenMeta(context.Context, string) (wxtoken.AppMeta, error) {
	return wxtoken.AppMeta{}, wxtoken.ErrNotFound
}

func (solo) known(now time.Time) time.Time                   { return now }
func (solo) heard() time.Time                                { return time.Time{} }
func (solo) confirmed(time.Time)                             {}
func (solo) down() (time.Time, error)                        { return time.Time{}, nil }
func (solo) startWithout(_ context.Context, err error) error { return err }
func (solo) shared() bool                                    { return false }
