package httpapi

import (
	"sync"
	"sync/atomic"

	"github.com/wxtoken/wxtoken"
)

// maxRuntimeAnswers bounds the answer caches of ids served beside the
// configured ones: more than one process keeps credentials for. An id
// beyond it is served all the same, its answers built for each request.
const maxRuntimeAnswers = 1 << 18

// runtimeAnswers holds the grant answers of the apps and WeCom agents
// served beside the configured ones (Options.Kept), made on first use.
// An entry is made only for an id the Service has just served, so the
// set is bounded by what the engine keeps; one whose id is no longer
// kept is dropped by the next request that finds it gone.
type runtimeAnswers struct {
	m sync.Map // id -> *grantAnswers
	n atomic.Int64
}

// get returns the answers of id, made if need be; nil once the bound is
// reached, which keeps nothing.
func (ra *runtimeAnswers) get(id string) *grantAnswers {
	if v, ok := ra.m.Load(id); ok {
		return v.(*grantAnswers)
	}
	if ra.n.Load() >= maxRuntimeAnswers {
		return nil
	}
	v, loaded := ra.m.LoadOrStore(id, new(grantAnswers))
	if !loaded {
		ra.n.Add(1)
	}
	return v.(*grantAnswers)
}

// forget drops the answers of id, which is no longer kept.
func (ra *runtimeAnswers) forget(id string) {
	if _, loaded := ra.m.LoadAndDelete(id); loaded {
		ra.n.Add(-1)
	}
}

// keptAs reports whether id, which is not configured, is kept by the
// Service as one of family; the answers of an id no longer kept are
// dropped.
func (h *Handler) keptAs(id string, family wxtoken.Family) bool {
	if h.kept == nil {
		return false
	}
	if f, ok := h.kept(id); ok {
		return f == family
	}
	h.runtime.forget(id)
	return false
}

// keptAnswers returns the answer cache of id, which is not configured:
// one made for an id served beside the configured ones, or nil.
func (h *Handler) keptAnswers(id string) *grantAnswers {
	if h.kept == nil {
		return nil
	}
	return h.runtime.get(id)
}
