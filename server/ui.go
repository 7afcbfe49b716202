package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/ui"
)

// newUI makes the status page over svc (the engine with the apps' quota
// figures), for the configured admin keys. It clears an app's quota as
// POST /v1/apps/{appid}/clear_quota does, and lifts the error policy's
// hold on a credential as the retry routes do.
func (s *Server) newUI(svc wxtoken.Service) (*ui.Handler, error) {
	keys, err := clientkey.New(config.Keys(s.cfg.Clients))
	if err != nil {
		return nil, err
	}
	clear := func(ctx context.Context, appID string) (int, error) {
		res, err := quotaClearer{s}.ClearQuota(ctx, appID)
		return res.ClearRemainingThisMonth, err
	}
	return ui.New(ui.Options{Service: svc, Keys: keys, Replica: s.engine.Replica(), Logger: s.log,
		ClearQuota: clear, RetryNow: s.engine.RetryNow})
}

// withUI serves the status page's paths (ui.Path and below, and the path
// without its last slash) with page, and every other path with api.
func withUI(api http.Handler, page http.Handler) http.Handler {
	bare := strings.TrimSuffix(ui.Path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, ui.Path) || p == bare {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
