package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wxtoken/wxtoken/config"
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
	if err != nil {
		return checkFailure(*path, err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "config OK: %s, %s, store %s\n",
		checkCount(len(c.Apps), "app"), checkCount(len(c.Clients), "client"), c.Store.Driver)
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

func checkCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
