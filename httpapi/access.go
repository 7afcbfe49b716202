package httpapi

import (
	"fmt"
	"slices"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// access is what the API lets through at one moment: the client keys and
// the configured apps and WeCom agents. It is never changed once stored;
// SetAccess stores a new one.
type access struct {
	// clients are the clients keys was made of, to tell whether a new
	// list changes them.
	clients []clientkey.Client
	keys    *clientkey.Ring
	apps    map[string]*grantAnswers // the configured appids, with their last answers
	agents  map[string]*grantAnswers // the configured WeCom agents by WeComID, likewise
}

// SetAccess replaces the client keys the API accepts and the apps and
// WeCom agents it serves (as Options.Clients and Options.Apps, which New
// passes here). Requests in flight finish with what they started with;
// every request that starts after SetAccess returns sees the new set. An
// app or agent kept from before keeps its cached answers, and a key ring
// whose clients are unchanged is kept as it is. It fails, changing
// nothing, when a client's key_sha256 is not 64 hex digits or is
// repeated. It is safe to call while the Handler serves.
func (h *Handler) SetAccess(clients []clientkey.Client, apps []string) error {
	h.accessMu.Lock()
	defer h.accessMu.Unlock()
	old := h.access.Load()
	next := &access{
		clients: cloneClients(clients),
		apps:    make(map[string]*grantAnswers, len(apps)),
		agents:  make(map[string]*grantAnswers),
	}
	if old != nil && sameClients(old.clients, clients) {
		next.keys = old.keys
	} else {
		keys, err := clientkey.NewTagged(clients, h.tags)
		if err != nil {
			return fmt.Errorf("httpapi: %w", err)
		}
		next.keys = keys
	}
	for _, a := range apps {
		m, prev := next.apps, (map[string]*grantAnswers)(nil)
		if f, _, _ := wxtoken.ParseID(a); f == wxtoken.FamilyWeCom {
			m = next.agents
			if old != nil {
				prev = old.agents
			}
		} else if old != nil {
			prev = old.apps
		}
		if ga := prev[a]; ga != nil {
			m[a] = ga
			continue
		}
		m[a] = new(grantAnswers)
	}
	h.access.Store(next)
	return nil
}

// cloneClients copies clients deeply enough that the caller may change
// its slice afterwards.
func cloneClients(clients []clientkey.Client) []clientkey.Client {
	out := make([]clientkey.Client, len(clients))
	for i, c := range clients {
		c.Apps = slices.Clone(c.Apps)
		out[i] = c
	}
	return out
}

// sameClients reports whether a and b list the same clients in the same
// order.
func sameClients(a, b []clientkey.Client) bool {
	return slices.EqualFunc(a, b, func(x, y clientkey.Client) bool {
		return x.Name == y.Name && x.KeySHA256 == y.KeySHA256 && x.Admin == y.Admin && slices.Equal(x.Apps, y.Apps)
	})
}

// ConfigInfo describes the configuration file a server runs with, as GET
// /v1/apps shows it.
type ConfigInfo struct {
	// LoadedAt is when the file was read, at start or by the last
	// reload that was applied.
	LoadedAt time.Time `json:"loaded_at"`
	// Digest is the lower-case hex SHA-256 of the file's bytes, to tell
	// which version of the file is in force.
	Digest string `json:"digest"`
}

// SetConfig replaces the configuration shown in GET /v1/apps; nil shows
// none. It is safe to call while the Handler serves.
func (h *Handler) SetConfig(c *ConfigInfo) {
	if c != nil {
		cp := *c
		c = &cp
	}
	h.config.Store(c)
}
