// Package server wires a configuration into a running wxtoken: the store,
// the upstream client, the refresh engine, the metrics and the HTTP API on
// a listener. serve, demo and the end-to-end tests all start wxtoken
// through it.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/compat"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/connguard"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/metrics"
	"github.com/wxtoken/wxtoken/platform"
	"github.com/wxtoken/wxtoken/quota"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/registry"
	"github.com/wxtoken/wxtoken/ui"
	"github.com/wxtoken/wxtoken/wechat"
)

// Options adjust a Server beyond its configuration, for embedding and
// tests.
type Options struct {
	Logger *slog.Logger
	// Listener, when set, is served instead of listening on cfg.Listen.
	Listener net.Listener
	// Store, when set, is used instead of the configured one (and is not
	// closed by the Server).
	Store wxtoken.Store
	// Engine, when set, adjusts the refresh engine's options once they
	// are filled from the configuration, before the store is opened and
	// the engine made. It is for tests, which compress time with it: a
	// clock of their own (which a Redis store then reads too), the error
	// policy's PolicyScale, BackoffBase and BackoffMax. The options' Store,
	// Coordinator and Upstream are the Server's, set after it.
	Engine func(*refresh.Options)
	// HTTP, when set, adjusts the HTTP server before the handlers are
	// made. It is for tests: its ReadTimeout, which bounds reading a
	// request of the HTTP API, is also the longest pause the front door
	// allows in a relayed call's body (which may take as long as it needs
	// while it keeps coming).
	HTTP func(*http.Server)
	// ConfigPath is the file the configuration was loaded from, and Env
	// the environment lookup it was loaded with (nil is os.LookupEnv):
	// Reload reads the file again with them, and GET /v1/apps shows when
	// it was loaded and its digest. Empty, the server cannot reload.
	ConfigPath string
	Env        func(string) (string, bool)
}

// readTimeout is the HTTP server's ReadTimeout.
const readTimeout = 15 * time.Second

// Server is a running wxtoken.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	store     wxtoken.Store
	ownsStore bool
	engine    *refresh.Engine
	metrics   *metrics.Metrics
	http      *http.Server
	guard     *connguard.Guard
	// platforms is set when third-party platforms are configured.
	platforms *platform.Manager
	ln        net.Listener

	// What a reload (reload.go) reads and replaces. secrets are the apps'
	// AppSecrets by appid, which the engine reads before every fetch;
	// state the configuration in force; ids the ids the engine keeps
	// from it.
	configPath string
	env        func(string) (string, bool)
	reloadMu   sync.Mutex // serializes reloads
	secrets    atomic.Pointer[map[string]string]
	state      atomic.Pointer[configState]
	ids        atomic.Pointer[[]string]
	api        *httpapi.Handler
	front      *compat.Handler // nil without compat.enabled
	// registry keeps the apps and WeCom agents registered at run time.
	registry *registry.Manager
	// quota keeps WeChat's quota figures of the apps (quota.go).
	quota *quota.Poller
	// ui is the status page, served under ui.Path.
	ui *ui.Handler
	// bg ends the server's background work when the server closes;
	// bgDone counts that work.
	bg     context.Context
	stopBG context.CancelFunc
	bgDone sync.WaitGroup
}

// New listens, opens the store, loads the persisted credentials and
// starts the engine. It returns once the server can accept connections;
// call Serve to serve them.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: opts.Store, configPath: opts.ConfigPath, env: opts.Env}
	s.bg, s.stopBG = context.WithCancel(context.WithoutCancel(ctx))
	if s.env == nil {
		s.env = os.LookupEnv
	}
	secrets := secretsOf(cfg)
	s.secrets.Store(&secrets)
	st := &configState{cfg: cfg, loadedAt: time.Now()}
	if s.configPath != "" {
		// The file as it is now: what it was when cfg was read, unless
		// it changed in between, which a reload then picks up.
		if st.digest, err = digestFile(s.configPath); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	s.state.Store(st)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// The address first: a port taken, or a TLS key that cannot be read,
	// must fail the start before the store is opened or WeChat is called.
	s.ln = opts.Listener
	if s.ln == nil {
		if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	if cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.ln = tls.NewListener(s.ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.metrics = metrics.New(metrics.WithPerApp(cfg.Metrics.PerApp))
	apps := engineApps(cfg)
	appIDs := make([]string, len(apps))
	for i, a := range apps {
		appIDs[i] = a.AppID
		if a.Family == wxtoken.FamilyApp || a.Family == wxtoken.FamilyWeCom {
			// Read through s.secrets, which a reload replaces.
			apps[i].Secret = s.appSecret(a.AppID)
		}
	}
	s.ids.Store(&appIDs)
	eopts := refresh.Options{
		Apps:            apps,
		Logger:          log,
		Observer:        s.metrics,
		Overlap:         cfg.Upstream.Overlap.Std(),
		Margin:          cfg.Refresh.Margin.Std(),
		Early:           cfg.Refresh.Early,
		Jitter:          jitterOption(cfg.Refresh.Jitter),
		MaxRate:         cfg.Refresh.MaxRate,
		PassiveInterval: cfg.Refresh.PassiveInterval.Std(),
		UpstreamTimeout: cfg.Upstream.Timeout.Std() * time.Duration(1+len(cfg.Upstream.FallbackBaseURLs)),
		LeaseTTL:        cfg.Store.Redis.LeaseTTL.Std(),
	}
	if opts.Engine != nil {
		opts.Engine(&eopts)
	}
	if s.store == nil {
		if s.store, err = openStore(ctx, cfg, eopts.Clock, log); err != nil {
			return nil, err
		}
		s.ownsStore = true
	}
	coord, _ := s.store.(wxtoken.Coordinator)
	if cfg.Store.Driver != config.DriverRedis {
		// A store shared through another driver is not a cluster.
		coord = nil
	}
	up, err := wechat.New(wechat.Options{
		BaseURL:          cfg.Upstream.BaseURL,
		FallbackBaseURLs: cfg.Upstream.FallbackBaseURLs,
		WeComBaseURL:     cfg.Upstream.WeComBaseURL,
		Timeout:          cfg.Upstream.Timeout.Std(),
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	eopts.Store, eopts.Coordinator, eopts.Upstream = s.store, coord, up
	// Another replica's authorizers and registered apps and agents reach
	// this one's engine through the platforms and the registry, which
	// are made once the engine is.
	eopts.Entries = s.followEntry
	s.engine, err = refresh.New(eopts)
	if err != nil {
		return nil, err
	}
	// Made before the engine starts, which may tell of another
	// replica's authorizers at once.
	if s.platforms, err = s.newPlatforms(ctx, up, eopts.Clock); err != nil {
		return nil, err
	}
	if s.registry, err = s.newRegistry(appIDs, eopts.Clock); err != nil {
		return nil, err
	}
	if err := s.engine.Start(ctx); err != nil {
		return nil, err
	}
	if s.platforms != nil {
		if err := s.startEntries(ctx, coord != nil, "authorizers", s.platforms.Start); err != nil {
			return nil, err
		}
	}
	if err := s.startEntries(ctx, coord != nil, "registered apps", s.registry.Start); err != nil {
		return nil, err
	}
	if s.quota, err = s.newQuota(up, eopts.Clock); err != nil {
		return nil, err
	}
	s.startQuota()
	svc := quotaService{Engine: s.engine, q: s.quota}
	s.metrics.WatchStatus(svc.Status)
	s.metrics.WatchHealth(s.engine.Health)
	hopts := httpapi.Options{
		Service: svc,
		Retrier: s.engine,
		Quotas:  quotaClearer{s},
		Clients: config.Keys(cfg.Clients),
		Apps:    appIDs,
		Metrics: s.metrics,
		Logger:  log,
		Replica: s.engine.Replica(),
		Config:  st.info(),
	}
	if s.configPath != "" {
		hopts.Reloader = s
	}
	// Apps and agents registered while the server runs are served beside
	// the configured ones, and granted by their tags.
	hopts.Kept, hopts.Registrar, hopts.Tags = s.engine.Family, s.registry, s.registry.Tags
	if s.platforms != nil {
		hopts.Platforms = s.platforms
		for _, p := range cfg.Platforms {
			hopts.Components = append(hopts.Components, p.ComponentAppID)
		}
	}
	if hopts.Admin, err = s.newAdmin(); err != nil {
		return nil, err
	}
	h, err := httpapi.New(hopts)
	if err != nil {
		return nil, err
	}
	s.api = h
	if s.ui, err = s.newUI(svc); err != nil {
		return nil, err
	}
	hs := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		// The front door's relayed calls set deadlines of their own, per
		// request, that follow a body as it streams.
		ReadTimeout: readTimeout,
		// A refresh waits up to the upstream timeout on every host.
		WriteTimeout:   cfg.Upstream.Timeout.Std()*time.Duration(1+len(cfg.Upstream.FallbackBaseURLs)) + 15*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: readHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if opts.HTTP != nil {
		opts.HTTP(hs)
	}
	// The timeouts are kept without a deadline per request, which costs a
	// clock read and a timer operation each on the path that serves a
	// cached token: the guard closes a connection busy with one request
	// for longer than WriteTimeout or idle for longer than IdleTimeout,
	// and only a request that has a body gets ReadTimeout's deadline.
	bodyRead := hs.ReadTimeout
	s.guard = connguard.New(hs.WriteTimeout, hs.IdleTimeout, time.Second)
	hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout = 0, 0, 0
	hs.ConnContext, hs.ConnState = s.guard.ConnContext, s.guard.ConnState
	handler, front, err := compatHandler(cfg, withUI(h, s.ui), s.engine, s.registry.Tags, s.metrics, log, bodyRead)
	if err != nil {
		return nil, err
	}
	s.front = front
	hs.Handler = limitHeaders(readDeadline(handler, bodyRead), maxHeaderBytes)
	// Set once it can serve: until then, Close closes the listener.
	s.http = hs
	log.Info("wxtoken listening", "addr", s.ln.Addr().String(), "apps", len(cfg.Apps), "wecom_agents", cfg.AgentCount(), "platforms", len(cfg.Platforms),
		"store", string(cfg.Store.Driver), "version", wxtoken.Version, "commit", wxtoken.Commit)
	return s, nil
}

// engineApps returns what the engine keeps: every app, and every WeCom
// agent as an app of the WeCom family whose id is its wxtoken.WeComID and
// whose name is its corp's.
func engineApps(cfg *config.Config) []refresh.AppConfig {
	apps := make([]refresh.AppConfig, 0, len(cfg.Apps)+cfg.AgentCount())
	for _, a := range cfg.Apps {
		apps = append(apps, refresh.AppConfig{
			AppID: a.AppID, Name: a.Name, Family: wxtoken.FamilyApp, TokenAPI: a.TokenAPI, Tickets: a.Tickets,
			Secret: a.Secret.Reveal,
		})
	}
	for _, w := range cfg.WeCom {
		for _, a := range w.Agents {
			apps = append(apps, refresh.AppConfig{
				AppID: wxtoken.WeComID(w.CorpID, a.AgentID), Name: w.Name, Family: wxtoken.FamilyWeCom,
				TokenAPI: wxtoken.TokenAPIWeCom, Tickets: a.Tickets, Secret: a.Secret.Reveal,
			})
		}
	}
	for _, p := range cfg.Platforms {
		apps = append(apps, refresh.AppConfig{
			AppID: p.ComponentAppID, Name: p.Name, Family: wxtoken.FamilyComponent,
			TokenAPI: wxtoken.TokenAPIComponent, Secret: p.Secret.Reveal,
		})
	}
	return apps
}

// jitterOption maps the config's jitter (0 means none) to the engine's
// (0 means the default, negative none).
func jitterOption(j float64) float64 {
	if j == 0 {
		return -1
	}
	return j
}

func openStore(ctx context.Context, cfg *config.Config, clock refresh.Clock, log *slog.Logger) (wxtoken.Store, error) {
	switch cfg.Store.Driver {
	case config.DriverRedis:
		r := cfg.Store.Redis
		addrs := r.Addrs
		if r.Addr != "" {
			addrs = []string{r.Addr}
		}
		owner := r.Replica
		if owner == "" {
			owner = defaultReplicaName()
		}
		var now func() time.Time
		if clock != nil {
			now = clock.Now
		}
		st, err := redis.Open(ctx, redis.Options{
			Addrs: addrs, MasterName: r.MasterName, Password: r.Password.Reveal(), DB: r.DB,
			Prefix: r.Prefix, Owner: owner, Now: now, SyncInterval: r.SyncInterval.Std(), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		attrs := []any{"driver", "redis", "replica", owner, "prefix", r.Prefix}
		if st.Measured() {
			attrs = append(attrs, "clock_offset", st.Offset())
		}
		log.Info("shared store", attrs...)
		return st, nil
	case config.DriverMemory:
		return memory.New(), nil
	case config.DriverBolt, "":
		st, err := bolt.Open(cfg.Store.Path, bolt.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store: unknown driver %q", cfg.Store.Driver)
	}
}

// defaultReplicaName is the host name, the process id and a random
// suffix: unique among replicas, and readable in status and metrics.
func defaultReplicaName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "wxtoken"
	}
	host = strings.Map(func(r rune) rune {
		if r == '|' || unicode.IsSpace(r) {
			return '-'
		}
		return r
	}, host)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's base URL.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + s.Addr()
}

// Engine returns the server's refresh engine.
func (s *Server) Engine() *refresh.Engine { return s.engine }

// Serve serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 10 s), stops the engine
// and closes the store.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	gctx, stopGuard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGuard()
	go s.guard.Run(gctx)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	// Requests still in flight, /readyz among them, hear that this
	// replica is going away.
	s.engine.Drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(sctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close stops everything at once. It is safe to call more than once and
// after Serve.
func (s *Server) Close() error {
	if s.stopBG != nil {
		s.stopBG()
		s.bgDone.Wait()
	}
	var errs []error
	if s.http != nil {
		if err := s.http.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
	}
	if s.store != nil && s.ownsStore {
		errs = append(errs, s.store.Close())
		s.store = nil
	}
	return errors.Join(errs...)
}
