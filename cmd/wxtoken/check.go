package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
)

// runCheck validates a config file the way serve would load it, secrets
// included, without starting anything: for CI and for a last look before
// a restart.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	path := fs.String("config", "", "config `FILE` to validate")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required", errUsage)
	}
	c, err := config.Load(*path, os.LookupEnv)
	if err == nil {
		err = server.CheckConfig(c)
	}
	if err != nil {
		return checkFailure(*path, err)
	}
	warnings := c.Warnings
	var problem string
	if c.Store.Driver == config.DriverBolt {
		var warning string
		problem, warning = boltPathUsable(c.Store.Path)
		if warning != "" {
			warnings = append(warnings, "store.path: "+warning)
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if problem != "" {
		return fmt.Errorf("config %s is invalid (1 problem):\n  store.path: %s", *path, problem)
	}
	fmt.Fprintf(stdout, "config OK: %s, %s, %s\n", credentialCounts(c), checkCount(len(c.Clients), "client"), storeSummary(&c.Store))
	return nil
}

// checkFailure lists every problem Load found, one per line under a
// count, so that all of them can be fixed in one pass.
func checkFailure(path string, err error) error {
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		return err // the file could not be read at all
	}
	problems := []error{fe}
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		problems = multi.Unwrap()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config %s is invalid (%s):", path, checkCount(len(problems), "problem"))
	for _, p := range problems {
		fmt.Fprintf(&b, "\n  %v", p)
	}
	return &checkError{text: b.String(), err: err}
}

// checkError is the listing checkFailure makes, still unwrapping to the
// problems themselves.
type checkError struct {
	text string
	err  error
}

func (e *checkError) Error() string { return e.text }
func (e *checkError) Unwrap() error { return e.err }

// credentialCounts says what credentials the config keeps: its apps, its
// WeCom agents and their corps, and its third-party platforms, each family
// when it has any.
func credentialCounts(c *config.Config) string {
	s := checkCount(len(c.Apps), "app")
	if len(c.WeCom) > 0 {
		s += fmt.Sprintf(", %s (%s)", checkCount(c.AgentCount(), "WeCom agent"), checkCount(len(c.WeCom), "corp"))
	}
	if len(c.Platforms) > 0 {
		s += ", " + checkCount(len(c.Platforms), "platform")
	}
	return s
}

// storeSummary names the store's driver and, when secrets kept in it are
// encrypted, the id of the key that seals them and of the previous key
// still accepted, so that an operator can see which key a server will use
// (the ids are what sealed values carry; the keys are never shown).
func storeSummary(s *config.Store) string {
	out := "store " + string(s.Driver)
	if !s.Encrypted() {
		return out
	}
	out += ", encryption key " + s.EncryptionKey.ID()
	if prev := s.PreviousEncryptionKey.ID(); prev != "" && prev != s.EncryptionKey.ID() {
		out += " (previous key " + prev + ")"
	}
	return out
}

func checkCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// boltPathUsable tells whether serve, run as the same user as check, could
// open the bolt file at path: read-write, and created if it is missing.
// Config validation cannot see this, and serve would find out only at
// start (under systemd's sandbox, a folder outside the state directory is
// read-only). A folder that does not exist yet is only a warning: the
// systemd unit's StateDirectory= makes it when the service starts.
func boltPathUsable(path string) (problem, warning string) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Sprintf("%s is a folder; name the bolt file in it", path), ""
	case err == nil:
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Sprintf("%s cannot be opened for writing by this user: %v", path, pathCause(err)), ""
		}
		_ = f.Close() // opened only to test the permission
		return "", ""
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s cannot be read: %v", path, pathCause(err)), ""
	}
	dir := filepath.Dir(path)
	fi, err = os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Sprintf("folder %s does not exist yet, and serve cannot create %s until it does (under etc/wxtoken.service, systemd makes /var/lib/wxtoken, its StateDirectory, at each start)", dir, filepath.Base(path))
	case err != nil:
		return fmt.Sprintf("folder %s cannot be read: %v", dir, pathCause(err)), ""
	case !fi.IsDir():
		return fmt.Sprintf("%s is not a folder", dir), ""
	}
	// Creating a file is the one test that also sees read-only mounts and
	// access control lists.
	f, err := os.CreateTemp(dir, ".wxtoken-check-*")
	if err != nil {
		return fmt.Sprintf("%s cannot be created: folder %s is not writable by this user: %v", path, dir, pathCause(err)), ""
	}
	_ = f.Close()
	_ = os.Remove(f.Name()) // best effort: a leftover empty file harms nothing
	return "", ""
}

// pathCause drops the operation and path from a file system error, which
// the message around it already names.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
