package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/registry"
)

// newRegistry makes the manager of the apps and WeCom agents registered
// through the admin API. Without a store encryption key it is made all
// the same: it lists what is stored and refuses to register, saying why.
func (s *Server) newRegistry(configured []string, clock refresh.Clock) (*registry.Manager, error) {
	sealer, err := s.cfg.Store.Sealer()
	switch {
	case errors.Is(err, config.ErrNoEncryptionKey):
		sealer = nil
	case err != nil:
		return nil, err
	}
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	return registry.New(registry.Options{Store: s.store, Engine: s.engine, Sealer: sealer,
		Configured: configured, Now: now, Logger: s.log})
}

// Registry returns the manager of the registered apps and WeCom agents.
func (s *Server) Registry() *registry.Manager { return s.registry }

// followEntry brings this replica in line with the stored entry id, which
// another replica (or a rekey) wrote: an authorizer's id, the only one
// that holds a ':', goes to the platforms, any other to the registry.
func (s *Server) followEntry(ctx context.Context, id string) {
	if strings.Contains(id, ":") {
		if m := s.platforms; m != nil {
			if err := m.Sync(ctx, id); err != nil {
				s.log.Warn("following an authorizer changed in the store failed", "authorizer", id, "err", err)
			}
		}
		return
	}
	if m := s.registry; m != nil {
		if err := m.Sync(ctx, id); err != nil {
			s.log.Warn("following a registered entry changed in the store failed", "id", id, "err", err)
		}
	}
}
