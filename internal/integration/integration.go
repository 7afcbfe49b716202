// Package integration gates the tests that start real processes, real
// servers or talk to a real Redis: the end-to-end suite, the Redis store's
// suites, the quick start's demo run. They run only when the environment
// asks for them with WXTOKEN_INTEGRATION=1 (as .ci/run does), so that a
// plain `go test ./...` stays a fast run of the unit tests.
//
// It is an environment variable rather than a test flag because `go test
// ./...` passes its flags to every package, and a package that does not
// define the flag would refuse to run.
package integration

import (
	"os"
	"testing"
)

// Env is the environment variable that turns the integration tests on.
const Env = "WXTOKEN_INTEGRATION"

// Enabled reports whether the integration tests were asked for: Env is
// set to anything but "" or "0".
func Enabled() bool {
	v := os.Getenv(Env)
	return v != "" && v != "0"
}

// Skip skips the test unless the integration tests were asked for, with
// a message that says how to run it.
func Skip(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skip("an integration test: set " + Env + "=1 to run it (.ci/run does)")
	}
}
