// Package e2e holds the end-to-end tests of wxtoken: each test starts the
// real server (package server) on 127.0.0.1:0 against the WeChat simulator
// (package simulator) over HTTP, in compressed time on the real clock, and
// checks the invariants of the product contract from the outside: no dead
// credential is handed out, one upstream call per real need, bad answers
// never replace a good credential, errors are classified, restarts cost
// nothing, and secrets stay secret.
//
// The package holds no code besides these tests.
package e2e
