package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	path := fs.String("config", "", "the YAML config file")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *path == "" || len(pos) > 0 {
		return fmt.Errorf("%w: --config FILE is required", errUsage)
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	redis.RouteClientLog(log)
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w)
	}
	// Caught from before the start, so that a SIGHUP sent as soon as the
	// process runs does not end it: it is handled once the server is up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, ConfigPath: *path, Env: os.LookupEnv})
	if err != nil {
		return err
	}
	rctx, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	go reloadOnHangup(rctx, srv, hup, log)
	return srv.Serve(ctx)
}

// newLogger returns the process logger the config asks for.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
