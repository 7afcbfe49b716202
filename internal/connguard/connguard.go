// Package connguard closes HTTP connections that stay too long in one
// state: a request being handled and answered for longer than Busy, or a
// keep-alive connection idle between requests for longer than Idle.
//
// It stands in for http.Server's WriteTimeout and IdleTimeout (and the
// ReadTimeout of a request without a body), which set a deadline on every
// request: a clock read and a runtime timer operation each, on the path
// that serves a cached token. The guard reads no clock per request; it
// counts sweeps, one every Tick, and marks each connection with the sweep
// in which it changed state. A connection is closed in the first sweep
// more than its limit after that: between the limit and the limit plus one
// Tick after the change.
//
// Wire a Guard into an http.Server through its ConnContext and ConnState
// fields, and run Run for as long as the server serves. The sweeper sleeps
// while no connection is open.
package connguard

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Guard watches the connections of one http.Server.
type Guard struct {
	busy, idle int64 // limits in sweeps
	tick       time.Duration

	conns sync.Map // net.Conn -> *conn
	open  atomic.Int64
	wake  chan struct{}
	sweep atomic.Int64 // sweeps done
}

// conn is what the guard knows of one connection.
type conn struct {
	c net.Conn
	// state is one of the states below; since the sweep in which it was
	// entered.
	state atomic.Int32
	since atomic.Int64
	// exempt says that the current request manages its connection's
	// deadlines itself (see Exempt).
	exempt atomic.Bool
}

const (
	stateNew int32 = iota
	stateBusy
	stateIdle
)

// New returns a Guard that closes a connection busy with one request for
// longer than busy, or idle for longer than idle, checking every tick. A
// limit of zero or less is none.
func New(busy, idle, tick time.Duration) *Guard {
	sweeps := func(d time.Duration) int64 {
		if d <= 0 {
			return 0
		}
		return int64((d + tick - 1) / tick)
	}
	return &Guard{busy: sweeps(busy), idle: sweeps(idle), tick: tick, wake: make(chan struct{}, 1)}
}

type ctxKey struct{}

// ConnContext is for http.Server.ConnContext: it starts watching c and
// makes its requests' contexts carry what Exempt needs.
func (g *Guard) ConnContext(ctx context.Context, c net.Conn) context.Context {
	k := &conn{c: c}
	k.since.Store(g.sweep.Load())
	g.conns.Store(c, k)
	if g.open.Add(1) == 1 {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	return context.WithValue(ctx, ctxKey{}, k)
}

// ConnState is for http.Server.ConnState.
func (g *Guard) ConnState(c net.Conn, s http.ConnState) {
	v, ok := g.conns.Load(c)
	if !ok {
		return
	}
	k := v.(*conn)
	switch s {
	case http.StateActive:
		k.mark(stateBusy, g.sweep.Load())
	case http.StateIdle:
		k.exempt.Store(false)
		k.mark(stateIdle, g.sweep.Load())
	case http.StateHijacked, http.StateClosed:
		if _, loaded := g.conns.LoadAndDelete(c); loaded {
			g.open.Add(-1)
		}
	}
}

func (k *conn) mark(state int32, sweep int64) {
	k.since.Store(sweep)
	k.state.Store(state)
}

// Exempt says that the request of ctx sets its connection's deadlines
// itself (a relayed upload that may take as long as it keeps coming): the
// guard leaves its connection alone until the request has been answered.
// It does nothing for a context that did not come through a Guard.
func Exempt(ctx context.Context) {
	if k, ok := ctx.Value(ctxKey{}).(*conn); ok {
		k.exempt.Store(true)
	}
}

// Run sweeps every tick until ctx ends, sleeping while no connection is
// open.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.tick)
	defer t.Stop()
	for {
		if g.open.Load() == 0 {
			t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-g.wake:
			}
			t.Reset(g.tick)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Sweep()
		}
	}
}

// Sweep counts one tick and closes the connections past their limit. Run
// calls it; tests call it to step time.
func (g *Guard) Sweep() {
	now := g.sweep.Add(1)
	g.conns.Range(func(_, v any) bool {
		k := v.(*conn)
		limit := g.idle
		switch k.state.Load() {
		case stateBusy:
			if k.exempt.Load() {
				return true
			}
			limit = g.busy
		case stateNew:
			// Until its first request arrives, the server's
			// ReadHeaderTimeout watches a new connection; the idle limit
			// backs it up.
		}
		if limit > 0 && now-k.since.Load() > limit {
			_ = k.c.Close()
		}
		return true
	})
}

// Open reports how many connections the guard watches.
func (g *Guard) Open() int { return int(g.open.Load()) }
