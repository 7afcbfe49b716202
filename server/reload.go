package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/compat"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/refresh"
)

// This file re-reads the configuration file while the server runs
// (SIGHUP, wxtoken reload, POST /v1/admin/reload).
//
// What a reload can change at once: the apps (added, removed, changed),
// the WeCom agents' secrets, the clients, and with them what the front
// door accepts. A new secret is used from the next fetch: the engine
// reads every app's and agent's secret through s.secrets, which a reload
// replaces. A changed token_api, tickets list or name is the app removed
// and added again, which keeps its stored credentials, so that no valid
// credential is dropped and no upstream call is made for what is still
// valid. The rest of the file (listen, tls, store, upstream, refresh,
// log, compat, platforms, and the WeCom corps and agents but for their
// secrets) is read only at start: a change there is logged as needing a
// restart, and left unapplied.

// configState is the configuration file in force.
type configState struct {
	cfg      *config.Config
	loadedAt time.Time
	digest   string
}

// info is st as GET /v1/apps shows it; nil when the server was not
// started from a file.
func (st *configState) info() *httpapi.ConfigInfo {
	if st.digest == "" {
		return nil
	}
	return &httpapi.ConfigInfo{LoadedAt: st.loadedAt, Digest: st.digest}
}

// secretsOf returns the secrets of cfg's apps by appid and of its WeCom
// agents by WeComID.
func secretsOf(cfg *config.Config) map[string]string {
	m := make(map[string]string, len(cfg.Apps)+cfg.AgentCount())
	for _, a := range cfg.Apps {
		m[a.AppID] = a.Secret.Reveal()
	}
	for _, w := range cfg.WeCom {
		for _, a := range w.Agents {
			m[wxtoken.WeComID(w.CorpID, a.AgentID)] = a.Secret.Reveal()
		}
	}
	return m
}

// appSecret returns what reads the current secret of the app or WeCom
// agent id: the engine calls it before every fetch, so a reload's new
// secret is used from the next one.
func (s *Server) appSecret(id string) func() string {
	return func() string { return (*s.secrets.Load())[id] }
}

// appConfig is the engine's configuration of the app a.
func (s *Server) appConfig(a config.App) refresh.AppConfig {
	return refresh.AppConfig{
		AppID: a.AppID, Name: a.Name, Family: wxtoken.FamilyApp, TokenAPI: a.TokenAPI,
		Tickets: slices.Clone(a.Tickets), Secret: s.appSecret(a.AppID),
	}
}

// digestFile returns the hex SHA-256 of the file at path.
func digestFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Reload reads the configuration file again (Options.ConfigPath, with
// Options.Env) and applies what changed: apps added, removed or changed,
// clients added, removed or changed. A file that cannot be read, parsed
// or validated changes nothing: every problem is logged, and the error
// is a *httpapi.ReloadError that lists them. Changes that take a restart
// are logged as such and listed in the answer's NeedRestart; the rest is
// applied. Reloads are serialized; it is safe to call while the server
// serves.
func (s *Server) Reload(ctx context.Context) (httpapi.ReloadResponse, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.configPath == "" {
		return httpapi.ReloadResponse{}, wxtoken.Errorf(wxtoken.EConflict, "this server was not started from a config file: there is nothing to reload")
	}
	next, digest, problems := s.readConfig()
	old := s.state.Load()
	if next != nil {
		problems = append(problems, s.conflicts(old.cfg, next)...)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			s.log.Error("config reload: "+p, "file", s.configPath)
		}
		s.log.Error("the configuration file was not reloaded: the running configuration is kept", "file", s.configPath, "problems", len(problems))
		return httpapi.ReloadResponse{}, &httpapi.ReloadError{Problems: problems}
	}
	for _, w := range next.Warnings {
		s.log.Warn("config: " + w)
	}
	res := httpapi.ReloadResponse{NeedRestart: needRestart(old.cfg, next)}
	// What needs a restart stays as it runs; the rest is the new file's.
	eff := *old.cfg
	eff.Apps, eff.Clients, eff.Warnings = next.Apps, next.Clients, next.Warnings
	if sameAgents(old.cfg.WeCom, next.WeCom) {
		// The same corps and agents: their new secrets apply.
		eff.WeCom = next.WeCom
	}
	for _, k := range res.NeedRestart {
		s.log.Warn("config reload: "+k+" changed; the change takes a restart and is not applied", "file", s.configPath)
	}
	keys, err := clientkey.NewTagged(config.Keys(eff.Clients), s.registry.Tags)
	if err != nil {
		// config.Parse checks the keys: not reached.
		return httpapi.ReloadResponse{}, &httpapi.ReloadError{Problems: []string{err.Error()}}
	}
	s.applyApps(ctx, old.cfg, &eff, &res)
	res.ClientsAdded, res.ClientsRemoved, res.ClientsChanged = diffClients(old.cfg.Clients, eff.Clients)
	ids := engineIDs(&eff)
	if err := s.api.SetAccess(config.Keys(eff.Clients), ids); err != nil {
		// The same keys made the ring above: not reached.
		s.log.Error("config reload: the HTTP API kept its client keys", "err", err)
	}
	s.ui.SetKeys(keys)
	if s.front != nil {
		if err := s.front.SetApps(compatApps(&eff), compatAgents(&eff), keys); err != nil {
			s.log.Error("config reload: the front door kept its apps and keys", "err", err)
		}
	}
	s.ids.Store(&ids)
	s.registry.SetConfigured(ids)
	st := &configState{cfg: &eff, loadedAt: time.Now(), digest: digest}
	s.state.Store(st)
	s.api.SetConfig(st.info())
	res.Config = *st.info()
	res.Fill()
	s.log.Info("configuration reloaded", "file", s.configPath, "digest", digest,
		"apps_added", len(res.Added), "apps_removed", len(res.Removed), "apps_changed", len(res.Changed),
		"clients_added", len(res.ClientsAdded), "clients_removed", len(res.ClientsRemoved), "clients_changed", len(res.ClientsChanged),
		"need_restart", len(res.NeedRestart))
	return res, nil
}

// readConfig reads, parses and checks the configuration file; on failure
// the config is nil and problems says every reason, one per entry.
func (s *Server) readConfig() (_ *config.Config, digest string, problems []string) {
	data, err := os.ReadFile(s.configPath)
	if err != nil {
		return nil, "", []string{fmt.Sprintf("read config: %v", err)}
	}
	abs, err := filepath.Abs(s.configPath)
	if err != nil {
		return nil, "", []string{fmt.Sprintf("read config: %v", err)}
	}
	cfg, err := config.Parse(data, filepath.Dir(abs), s.env)
	if err != nil {
		return nil, "", splitErrors(err)
	}
	if err := CheckConfig(cfg); err != nil {
		return nil, "", splitErrors(err)
	}
	sum := sha256.Sum256(data)
	return cfg, hex.EncodeToString(sum[:]), nil
}

// splitErrors lists the problems err joins, one per entry.
func splitErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, err.Error())
	}
	walk(err)
	return out
}

// conflicts lists what in next cannot be applied over the running old:
// an app whose appid is that of a running WeCom corp or platform, which a
// file that also changed those keys (needing a restart) could bring.
func (s *Server) conflicts(old, next *config.Config) []string {
	taken := map[string]string{}
	for _, w := range old.WeCom {
		taken[w.CorpID] = "a WeCom corp"
	}
	for _, p := range old.Platforms {
		taken[p.ComponentAppID] = "a third-party platform"
	}
	var out []string
	for i, a := range next.Apps {
		if what, ok := taken[a.AppID]; ok {
			out = append(out, fmt.Sprintf("apps[%d].appid: %s is %s of the running configuration (WeCom corps and platforms change only with a restart)", i, a.AppID, what))
		}
	}
	return out
}

// needRestart names the top-level keys whose change takes a restart.
func needRestart(old, next *config.Config) []string {
	var out []string
	for _, k := range []struct {
		key      string
		old, new any
	}{
		{"listen", old.Listen, next.Listen},
		{"tls", old.TLS, next.TLS},
		{"store", old.Store, next.Store},
		{"upstream", old.Upstream, next.Upstream},
		{"refresh", old.Refresh, next.Refresh},
		{"platforms", old.Platforms, next.Platforms},
		{"compat", old.Compat, next.Compat},
		{"quota", old.Quota, next.Quota},
		{"log", old.Log, next.Log},
		{"metrics", old.Metrics, next.Metrics},
	} {
		if !reflect.DeepEqual(k.old, k.new) {
			out = append(out, k.key)
		}
	}
	if !sameAgents(old.WeCom, next.WeCom) {
		out = append(out, "wecom")
		slices.Sort(out)
	}
	return out
}

// sameAgents reports whether a and b list the same WeCom corps and agents
// with the same names and tickets, in the same order: whether they differ
// in secrets (and in where those are read from) at most. Anything more
// takes a restart: the agents of a corp share its jsapi ticket, which
// one of them holds for the others.
func sameAgents(a, b []config.WeCom) bool {
	return slices.EqualFunc(a, b, func(x, y config.WeCom) bool {
		return x.CorpID == y.CorpID && x.Name == y.Name && slices.EqualFunc(x.Agents, y.Agents, func(p, q config.Agent) bool {
			return p.AgentID == q.AgentID && slices.Equal(p.Tickets, q.Tickets)
		})
	})
}

// applyApps brings the engine's apps from old's to next's, and sets the
// secrets the engine reads.
func (s *Server) applyApps(ctx context.Context, old, next *config.Config, res *httpapi.ReloadResponse) {
	before := make(map[string]config.App, len(old.Apps))
	for _, a := range old.Apps {
		before[a.AppID] = a
	}
	after := make(map[string]config.App, len(next.Apps))
	for _, a := range next.Apps {
		after[a.AppID] = a
	}
	for _, a := range old.Apps {
		if _, kept := after[a.AppID]; kept {
			continue
		}
		if err := s.engine.Remove(a.AppID); err != nil && !errors.Is(err, wxtoken.ErrNotFound) {
			s.log.Error("config reload: removing an app failed", "appid", a.AppID, "err", err)
			continue
		}
		res.Removed = append(res.Removed, a.AppID)
	}
	// From here the engine reads the new secrets: a changed one is used
	// from the app's next fetch.
	secrets := secretsOf(next)
	s.secrets.Store(&secrets)
	for _, a := range next.Apps {
		prev, existed := before[a.AppID]
		switch {
		case !existed:
			if err := s.engine.Add(ctx, s.appConfig(a)); err != nil {
				s.log.Error("config reload: adding an app failed", "appid", a.AppID, "err", err)
				continue
			}
			res.Added = append(res.Added, a.AppID)
		case prev.TokenAPI != a.TokenAPI || !slices.Equal(prev.Tickets, a.Tickets) || prev.Name != a.Name:
			// Kept again from the store: what is still valid stays
			// served, and only what is missing (a new ticket) is fetched.
			if err := s.engine.Remove(a.AppID); err != nil && !errors.Is(err, wxtoken.ErrNotFound) {
				s.log.Error("config reload: changing an app failed", "appid", a.AppID, "err", err)
				continue
			}
			if err := s.engine.Add(ctx, s.appConfig(a)); err != nil {
				s.log.Error("config reload: changing an app failed; it is no longer kept", "appid", a.AppID, "err", err)
				continue
			}
			res.Changed = append(res.Changed, a.AppID)
		case prev.Secret != a.Secret:
			// A hold of the error policy may be the old secret's doing
			// (40001, 40125): lifted, so that the new one is tried. A
			// credential still valid is not fetched for it.
			if err := s.engine.RetryNow(ctx, a.AppID); err != nil {
				s.log.Warn("config reload: retrying an app with its new secret failed", "appid", a.AppID, "err", err)
			}
			res.Changed = append(res.Changed, a.AppID)
		}
	}
	// WeCom agents change here only in their secrets (see sameAgents).
	for i, w := range next.WeCom {
		for j, a := range w.Agents {
			if old.WeCom[i].Agents[j].Secret == a.Secret {
				continue
			}
			id := wxtoken.WeComID(w.CorpID, a.AgentID)
			if err := s.engine.RetryNow(ctx, id); err != nil {
				s.log.Warn("config reload: retrying a WeCom agent with its new secret failed", "agent", id, "err", err)
			}
			res.Changed = append(res.Changed, id)
		}
	}
	for _, l := range [][]string{res.Added, res.Removed, res.Changed} {
		sort.Strings(l)
	}
}

// diffClients names the clients added, removed and changed (key, grants
// or admin) from old to next, by name, which the config requires and
// keeps unique.
func diffClients(old, next []config.Client) (added, removed, changed []string) {
	before := make(map[string]config.Client, len(old))
	for _, c := range old {
		before[c.Name] = c
	}
	after := make(map[string]bool, len(next))
	for _, c := range next {
		after[c.Name] = true
		prev, ok := before[c.Name]
		switch {
		case !ok:
			added = append(added, c.Name)
		case !reflect.DeepEqual(prev, c):
			changed = append(changed, c.Name)
		}
	}
	for _, c := range old {
		if !after[c.Name] {
			removed = append(removed, c.Name)
		}
	}
	return added, removed, changed
}

// engineIDs are the ids of everything cfg has the engine keep: apps,
// WeCom agents, platforms.
func engineIDs(cfg *config.Config) []string {
	apps := engineApps(cfg)
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.AppID
	}
	return ids
}

// compatAgents are cfg's WeCom agents as the front door takes them.
func compatAgents(cfg *config.Config) []compat.Agent {
	var agents []compat.Agent
	for _, c := range cfg.WeCom {
		for _, a := range c.Agents {
			agents = append(agents, compat.Agent{CorpID: c.CorpID, AgentID: a.AgentID, Secret: a.Secret.Reveal()})
		}
	}
	return agents
}

// compatApps are cfg's apps as the front door takes them.
func compatApps(cfg *config.Config) []compat.App {
	apps := make([]compat.App, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		apps = append(apps, compat.App{AppID: a.AppID, Secret: a.Secret.Reveal()})
	}
	return apps
}
