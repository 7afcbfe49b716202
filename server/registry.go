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
			if err := m.Follow(ctx, id); err != nil {
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

// startEntries has start (the platforms' or the registry's Start) read
// the entries kept in the store. On a shared store that does not answer,
// the server starts all the same, as it does without the stored
// credentials: it says so, and start is tried again in the background
// until it succeeds or the server closes. Any other store's failure fails
// the start.
func (s *Server) startEntries(ctx context.Context, shared bool, what string, start func(context.Context) error) error {
	err := start(ctx)
	if err == nil || !shared {
		return err
	}
	s.log.Error("reading the "+what+" from the shared store failed; serving without them and trying again until they are read", "err", err)
	s.bgDone.Add(1)
	go func() {
		defer s.bgDone.Done()
		wait := time.Second
		for {
			select {
			case <-s.bg.Done():
				return
			case <-time.After(wait):
			}
			if err := start(s.bg); err == nil {
				s.log.Info("the " + what + " are read from the shared store")
				return
			} else if s.bg.Err() == nil {
				s.log.Debug("reading the "+what+" from the shared store failed again", "err", err)
			}
			wait = min(2*wait, 30*time.Second)
		}
	}()
	return nil
}
