package server

import (
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/ui"
)

// newUI makes the status page over the engine, for the configured admin
// keys.
func (s *Server) newUI() (*ui.Handler, error) {
	keys, err := clientkey.New(config.Keys(s.cfg.Clients))
	if err != nil {
		return nil, err
	}
	return ui.New(ui.Options{Service: s.engine, Keys: keys, Replica: s.engine.Replica(), Logger: s.log})
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
