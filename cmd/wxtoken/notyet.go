package main

import (
	"context"
	"fmt"
	"io"
)

// notYet is the answer of a verb whose feature is not built yet: it says so
// and fails, rather than pretending to work.
func notYet(name string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(context.Context, []string, io.Writer, io.Writer) error {
		return fmt.Errorf("%s is not available yet in wxtoken %s", name, versionString())
	}
}
