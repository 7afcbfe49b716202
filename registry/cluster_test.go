package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/refresh"
)

// replica starts a node on its own handle of shared, following the
// entries the other replicas write; each entry it has followed is told on
// the channel returned.
func (w *world) replica(t *testing.T, shared *memory.Shared, owner string) (*node, <-chan string) {
	t.Helper()
	followed := make(chan string, 64)
	h := shared.Replica(owner, nil)
	n := w.start(t, h, w.sealer(), func(o *refresh.Options, n *node) {
		o.Coordinator = h
		o.Entries = func(ctx context.Context, id string) {
			if m := n.m; m != nil {
				if err := m.Sync(ctx, id); err != nil && ctx.Err() == nil {
					t.Errorf("%s: sync %s: %v", owner, id, err)
				}
			}
			select {
			case followed <- id:
			default:
			}
		}
	})
	return n, followed
}

// until waits for the entries followed until cond holds.
func until(t *testing.T, followed <-chan string, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-followed:
		case <-timeout:
			t.Fatalf("never: %s", what)
		}
	}
}

// One replica registers, changes and unregisters; the other follows
// through the shared store's change feed.
func TestClusterFollowsRegistrations(t *testing.T) {
	w := newWorld(t)
	shared := memory.NewShared(memory.SharedOptions{SyncEvery: 20 * time.Millisecond})
	r1, _ := w.replica(t, shared, "r1")
	r2, followed := w.replica(t, shared, "r2")
	ctx := t.Context()
	reg := registration()
	if _, err := r1.m.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	tok := r1.token(t, appReg)
	served := func(kind wxtoken.Kind) func() bool {
		return func() bool {
			g, err := r2.eng.Credential(ctx, appReg, kind)
			return err == nil && g.Value != ""
		}
	}
	until(t, followed, "r2 serves the registered app", served(wxtoken.KindAccessToken))
	if r2.token(t, appReg) != tok || w.tokenCalls(appReg) != 1 {
		t.Errorf("r2 serves another token, or fetched its own (%d calls)", w.tokenCalls(appReg))
	}
	until(t, followed, "r2 knows the tags", func() bool { return len(r2.m.Tags(appReg)) == 1 })

	reg.Secret = ""
	reg.Tickets = []wxtoken.Kind{wxtoken.KindJSAPITicket}
	if _, err := r1.m.Change(ctx, appReg, reg); err != nil {
		t.Fatal(err)
	}
	until(t, followed, "r2 keeps the new ticket", served(wxtoken.KindJSAPITicket))
	if r2.token(t, appReg) != tok {
		t.Error("the change of tickets replaced the token on r2")
	}

	if err := r1.m.Unregister(ctx, appReg); err != nil {
		t.Fatal(err)
	}
	until(t, followed, "r2 stops serving", func() bool { return !served(wxtoken.KindAccessToken)() })
	if r2.m.Tags(appReg) != nil {
		t.Error("r2 keeps the tags of an unregistered entry")
	}
	regs, err := r2.m.Registrations(ctx, "")
	if err != nil || len(regs) != 1 || regs[0].State != wxtoken.EntryRemoved {
		t.Errorf("r2's list: %+v %v", regs, err)
	}
}

// A replica that starts after the registration serves it from the store.
func TestClusterLateReplica(t *testing.T) {
	w := newWorld(t)
	shared := memory.NewShared(memory.SharedOptions{})
	r1, _ := w.replica(t, shared, "r1")
	if _, err := r1.m.Register(t.Context(), registration()); err != nil {
		t.Fatal(err)
	}
	tok := r1.token(t, appReg)
	r2, _ := w.replica(t, shared, "r2")
	if r2.token(t, appReg) != tok || w.tokenCalls(appReg) != 1 {
		t.Errorf("the late replica: another token or another call (%d calls)", w.tokenCalls(appReg))
	}
}
