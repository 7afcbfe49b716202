package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/wxtoken/wxtoken"
)

// buildInfo is what the binary says about its own build.
type buildInfo struct {
	version, commit, date string
	modified              bool
}

// currentBuild returns the version, commit and date stamped with -ldflags,
// and, where no commit was stamped, the revision that `go build` records
// from the checkout it ran in (a binary built by `go install ...@v` or in
// a copy without .git has none).
func currentBuild() buildInfo {
	b := buildInfo{version: wxtoken.Version, commit: wxtoken.Commit, date: wxtoken.BuildDate}
	if b.commit != "" {
		return b
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.commit = s.Value
			case "vcs.time":
				if b.date == "" {
					b.date = s.Value
				}
			case "vcs.modified":
				b.modified = s.Value == "true"
			}
		}
	}
	return b
}

// String is the version line: "0.2.0 (commit 1a2b3c4d5e6f, built 2026-12-03T14:00:00Z)".
func (b buildInfo) String() string {
	s := b.version
	commit := b.commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown"
	}
	if b.modified {
		commit += "+changes"
	}
	s += " (commit " + commit
	if b.date != "" {
		s += ", built " + b.date
	}
	return s + ")"
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wxtoken %s %s/%s %s\n", currentBuild(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}
