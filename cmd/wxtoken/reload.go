package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/server"
)

// reloadOnHangup reloads srv's config file on each signal from hup until
// ctx ends. Reloads run one at a time: this loop and the HTTP route share
// the Server's lock. Reload logs what it did and every problem it found.
func reloadOnHangup(ctx context.Context, srv *server.Server, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading the configuration file")
			_, _ = srv.Reload(ctx)
		}
	}
}

// runReload has the server read its config file again. It exits 1 when
// the server refused the file, saying every problem; the server then runs
// on as it was.
func runReload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reload", stderr)
	cf := addClientFlags(fs, "print the server's answer as JSON")
	c, err := cf.clientWithoutArgs(fs, args)
	if err != nil {
		return err
	}
	res, err := c.Reload(ctx)
	if err != nil {
		return clientFailure(err)
	}
	if cf.json {
		return printJSON(stdout, res)
	}
	return printReload(stdout, res)
}

// printReload writes what a reload changed, one line per kind of change.
func printReload(w io.Writer, res client.ReloadResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration reloaded: sha256 %s, loaded %s\n", res.Config.Digest, res.Config.LoadedAt.Local().Format(time.DateTime))
	for _, l := range []struct {
		what string
		ids  []string
	}{
		{"apps added", res.Added}, {"apps removed", res.Removed}, {"apps changed", res.Changed},
		{"clients added", res.ClientsAdded}, {"clients removed", res.ClientsRemoved}, {"clients changed", res.ClientsChanged},
	} {
		if len(l.ids) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", l.what, strings.Join(l.ids, ", "))
		}
	}
	if len(res.NeedRestart) > 0 {
		fmt.Fprintf(&b, "not applied, a restart is needed for: %s\n", strings.Join(res.NeedRestart, ", "))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
