package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckVerb(t *testing.T) {
	const (
		key    = "4f1c3a0b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
		secret = "check-verb-secret-value-0001"
	)
	t.Setenv("WXTOKEN_CHECK_TEST_SECRET", secret)
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `
apps:
  - appid: wx0123456789abcdef
    secret_env: WXTOKEN_CHECK_TEST_SECRET
  - appid: wxA
    secret: `+secret+`
clients:
  - {name: a, key_sha256: "`+key+`", apps: ["*"]}
`)
	bad := write("bad.yaml", `
listen: nowhere
apps:
  - appid: wx0123456789abcdef
    secret: `+secret+`
clients:
  - {name: a, key_sha256: "`+key+`", apps: [wxmissing]}
log: {level: loud}
`)
	broken := write("broken.yaml", "apps: [\n")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		stdoutNone bool
	}{
		{
			name:   "valid",
			args:   []string{"check", "--config", good},
			code:   0,
			stdout: []string{"config OK: 2 apps, 1 client, store bolt\n"},
			stderr: []string{`warning: apps[1].appid: "wxA" does not look like a WeChat appid`, "warning: apps[1].secret: an inline secret"},
		},
		{
			name:       "invalid lists every problem",
			args:       []string{"check", "--config", bad},
			code:       1,
			stdoutNone: true,
			stderr: []string{
				"is invalid (3 problems):",
				"\n  listen: ",
				"\n  clients[0].apps[0]: \"wxmissing\" is not a configured appid",
				"\n  log.level: \"loud\" is unknown",
			},
		},
		{name: "bad YAML", args: []string{"check", "--config", broken}, code: 1, stdoutNone: true, stderr: []string{"is invalid (1 problem):", "line "}},
		{name: "missing file", args: []string{"check", "--config", filepath.Join(dir, "nope.yaml")}, code: 1, stdoutNone: true, stderr: []string{"no such file"}},
		{name: "no --config", args: []string{"check"}, code: 2, stdoutNone: true, stderr: []string{"--config is required", "usage: wxtoken check --config FILE"}},
		{name: "stray argument", args: []string{"check", "--config", good, "extra"}, code: 2, stdoutNone: true, stderr: []string{`unexpected argument "extra"`}},
		{name: "unknown flag", args: []string{"check", "--conf", good}, code: 2, stdoutNone: true, stderr: []string{"usage: wxtoken check"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout %q lacks %q", &stdout, want)
				}
			}
			if tt.stdoutNone && stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", &stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", &stderr, want)
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), secret) {
				t.Errorf("the output holds the secret:\n%s%s", &stdout, &stderr)
			}
		})
	}
}
