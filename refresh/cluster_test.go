package refresh

import (
	"time"

	"github.com/wxtoken/wxtoken/memory"
)

// newShared returns a store shared by replicas in this process, on the
// fake clock of o: its leases run out, and its watches confirm, as the
// test moves that clock.
func newShared(o *Options) *memory.Shared {
	clk := o.Clock
	return memory.NewShared(memory.SharedOptions{
		Now:   clk.Now,
		After: func(d time.Duration) <-chan time.Time { return clk.NewTimer(d).C() },
	})
}
