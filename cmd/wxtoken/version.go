package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/wxtoken/wxtoken"
)

func versionString() string { return wxtoken.Version }

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wxtoken %s (%s, %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
