package server

import (
	"context"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/platform"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/wechat"
)

// newPlatforms makes the third-party platforms' manager; nil when none
// is configured.
func (s *Server) newPlatforms(ctx context.Context, up *wechat.Client, clock refresh.Clock) (*platform.Manager, error) {
	cfg := s.cfg
	if len(cfg.Platforms) == 0 {
		return nil, nil
	}
	sealer, err := cfg.Store.Sealer()
	if err != nil {
		return nil, fmt.Errorf("platforms: %w", err)
	}
	ps := make([]platform.Config, 0, len(cfg.Platforms))
	for _, p := range cfg.Platforms {
		crypter, err := p.Crypter()
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", p.ComponentAppID, err)
		}
		ps = append(ps, platform.Config{ComponentAppID: p.ComponentAppID, Name: p.Name, Secret: p.Secret.Reveal,
			Crypter: crypter, Tickets: p.AuthorizerTickets})
	}
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	m, err := platform.New(platform.Options{Platforms: ps, Store: s.store, Engine: s.engine, Upstream: up,
		Sealer: sealer, Now: now, Logger: s.log})
	if err != nil {
		return nil, err
	}
	if rs, ok := s.store.(*redis.Store); ok {
		// A refresh token is handed out once: Redis must keep what it is
		// given across its own restarts.
		switch durable, detail, err := rs.Durability(ctx); {
		case err != nil:
			s.log.Warn("cannot tell whether Redis persists the authorizers' refresh tokens", "err", err)
		case !durable:
			s.log.Warn("Redis does not persist its data: a Redis restart would lose every authorizer's refresh token, and each account would have to authorize the platform again; turn on appendonly", "detail", detail)
		}
	}
	return m, nil
}
