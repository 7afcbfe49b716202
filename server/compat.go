package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/metrics"
	"github.com/wxtoken/wxtoken/refresh"
)

// compatHandler returns the handler of the listener: the HTTP API alone,
// or, with compat.enabled, the WeChat-compatible front door in front of it.
func compatHandler(cfg *config.Config, api http.Handler, _ *refresh.Engine, _ *metrics.Metrics, _ *slog.Logger) (http.Handler, error) {
	if !cfg.Compat.Enabled {
		return api, nil
	}
	return nil, errors.New("compat: the WeChat-compatible front door is not available yet")
}
