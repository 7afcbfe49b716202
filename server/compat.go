package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/compat"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/metrics"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/ui"
)

// compatHandler returns the handler of the listener: the HTTP API alone,
// or, with compat.enabled, the WeChat-compatible front door in front of it,
// which answers WeChat's paths and hands every other request to the API.
//
// bodyIdle is the longest pause a relayed call allows in its body: the
// server's read timeout, applied between reads rather than in total.
//
// The front door is returned on its own too (nil without it), for a
// reload to replace its apps and keys. tags tells the tags of registered
// entries, for the client keys' tag grants.
func compatHandler(cfg *config.Config, api http.Handler, eng *refresh.Engine, tags clientkey.TagLookup, m *metrics.Metrics, log *slog.Logger, bodyIdle time.Duration) (http.Handler, *compat.Handler, error) {
	if !cfg.Compat.Enabled {
		return api, nil, nil
	}
	keys, err := clientkey.NewTagged(config.Keys(cfg.Clients), tags)
	if err != nil {
		return nil, nil, fmt.Errorf("compat: %w", err)
	}
	apps := compatApps(cfg)
	agents := compatAgents(cfg)
	platforms := make([]compat.Platform, 0, len(cfg.Platforms))
	for _, p := range cfg.Platforms {
		platforms = append(platforms, compat.Platform{ComponentAppID: p.ComponentAppID, Secret: p.Secret.Reveal()})
	}
	h, err := compat.New(compat.Options{
		Service:       eng,
		AppOf:         eng.AppOf,
		Kept:          eng.Family,
		Apps:          apps,
		Keys:          keys,
		Upstream:      cfg.Upstream.BaseURL,
		Agents:        agents,
		Platforms:     platforms,
		WeComUpstream: cfg.Upstream.WeComBaseURL,
		Timeout:       cfg.Upstream.Timeout.Std(),
		BasePath:      cfg.Compat.BasePath,
		BodyIdle:      bodyIdle,
		Next:          api,
		Metrics:       m,
		Logger:        log,
	})
	if err != nil {
		return nil, nil, err
	}
	return h, h, nil
}

// CheckConfig reports what in cfg New refuses beyond what the config
// package validates, as a *config.FieldError: a compat.base_path that
// starts with the first segment of one of the HTTP API's routes, which
// the front door, answering every path below its base path, would share
// with the API, or with the status page (ui.Path). The routes are the
// API's own (httpapi.RoutePaths), so that no list of them is kept in two
// places.
func CheckConfig(cfg *config.Config) error {
	base := cfg.Compat.BasePath
	if base == "" {
		return nil
	}
	first := firstSegment(base)
	if first == firstSegment(ui.Path) {
		return &config.FieldError{Key: "compat.base_path", Problem: fmt.Sprintf(
			"%q would hide the status page at %s: choose another path, such as /wechat", base, ui.Path)}
	}
	for _, p := range httpapi.RoutePaths() {
		if root := firstSegment(p); root == first {
			return &config.FieldError{Key: "compat.base_path", Problem: fmt.Sprintf(
				"%q would hide the HTTP API's /%s routes: choose another path, such as /wechat", base, root)}
		}
	}
	return nil
}

// firstSegment is the first segment of path p: "v1" for /v1/apps.
func firstSegment(p string) string {
	s, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return s
}
