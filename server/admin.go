package server

import (
	"context"
	"io"

	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/storeadmin"
)

// newAdmin makes what serves the operator's routes on the store: a rekey
// under the configured keys, and backups, which copy the bookkeeping of
// the configured apps', agents' and platforms' ids (those of the
// configuration in force) even before they have a credential.
func (s *Server) newAdmin() (httpapi.Admin, error) {
	var sealer *seal.Sealer
	if s.cfg.Store.Encrypted() {
		var err error
		if sealer, err = s.cfg.Store.Sealer(); err != nil {
			return nil, err
		}
	}
	a, err := storeadmin.New(storeadmin.Options{
		Store:  s.store,
		Sealer: sealer,
		// An authorizer or registered entry this replica keeps takes
		// its re-sealed record at once, as it takes one another replica
		// wrote.
		Changed: s.followEntry,
		IDs:     func() []string { return *s.ids.Load() },
		Logger:  s.log,
	})
	if err != nil {
		return nil, err
	}
	return &adminRoutes{a: a, s: s}, nil
}

// adminRoutes is a storeadmin.Admin in the shape of httpapi.Admin.
type adminRoutes struct {
	a *storeadmin.Admin
	s *Server
}

// Rekey implements httpapi.Admin.
func (r *adminRoutes) Rekey(ctx context.Context) (httpapi.RekeyResponse, error) {
	rep, err := r.a.Rekey(ctx)
	if err != nil {
		return httpapi.RekeyResponse{}, err
	}
	res := httpapi.RekeyResponse{Resealed: rep.Resealed, Current: rep.Current, Failed: make([]string, len(rep.Failed))}
	for i, f := range rep.Failed {
		res.Failed[i] = f.ID
	}
	r.s.log.Info("the store's secrets were sealed again under the primary key",
		"resealed", res.Resealed, "current", res.Current, "failed", len(res.Failed))
	return res, nil
}

// Backup implements httpapi.Admin.
func (r *adminRoutes) Backup(ctx context.Context, w io.Writer) (int64, error) {
	n, err := r.a.Backup(ctx, w)
	if err == nil {
		r.s.log.Info("a backup of the store was written", "bytes", n)
	}
	return n, err
}
