package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
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
	wecom := write("wecom.yaml", `
apps:
  - appid: wx0123456789abcdef
    secret_env: WXTOKEN_CHECK_TEST_SECRET
wecom:
  - corpid: ww0123456789abcdef
    agents:
      - {agentid: "1000002", secret_env: WXTOKEN_CHECK_TEST_SECRET, tickets: [jsapi, agent_config]}
      - {agentid: contacts, secret: wecom-contacts-secret-0001}
clients:
  - {name: a, key_sha256: "`+key+`", apps: [ww0123456789abcdef, ww0123456789abcdef/1000003]}
`)
	wecomOK := write("wecomok.yaml", `
wecom:
  - corpid: ww0123456789abcdef
    agents:
      - {agentid: "1000002", secret_env: WXTOKEN_CHECK_TEST_SECRET, tickets: [jsapi, agent_config]}
      - {agentid: contacts, secret_file: `+write("contacts.secret", "wecom-contacts-secret-0002\n")+`}
  - corpid: ww00000000000000ff
    agents:
      - {agentid: "1000002", secret_env: WXTOKEN_CHECK_TEST_SECRET}
clients:
  - {name: a, key_sha256: "`+key+`", apps: [ww0123456789abcdef, ww00000000000000ff/1000002]}
`)
	broken := write("broken.yaml", "apps: [\n")
	overAPI := write("overapi.yaml", `
apps:
  - appid: wx0123456789abcdef
    secret_env: WXTOKEN_CHECK_TEST_SECRET
clients:
  - {name: a, key_sha256: "`+key+`", apps: ["*"]}
compat: {enabled: true, base_path: /v1/wx}
`)
	withStore := func(name, store, keyHash string) string {
		return write(name, `
store: {driver: bolt, path: `+store+`}
apps:
  - appid: wx0123456789abcdef
    secret_env: WXTOKEN_CHECK_TEST_SECRET
clients:
  - {name: shop-backend, key_sha256: "`+keyHash+`", apps: ["*"]}
`)
	}
	for _, d := range []string{"ro", "rofile", "afolder/wxtoken.db"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write("rofile/wxtoken.db", "")
	makeReadOnly(t, filepath.Join(dir, "ro"))
	makeReadOnly(t, filepath.Join(dir, "rofile", "wxtoken.db"))
	roFolder := withStore("ro.yaml", "ro/wxtoken.db", "c331b9f8aff2fc4602b6eac1ca2b1f6187f3975fa613aae5f656ee4d5d379355")
	roFile := withStore("rofile.yaml", "rofile/wxtoken.db", key)
	noFolder := withStore("nofolder.yaml", "state/wxtoken.db", key)
	isFolder := withStore("isfolder.yaml", "afolder/wxtoken.db", key)
	placeholder := withStore("placeholder.yaml", "wxtoken.db", "c331b9f8aff2fc4602b6eac1ca2b1f6187f3975fa613aae5f656ee4d5d379355")

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
		{
			name:   "WeCom agents only",
			args:   []string{"check", "--config", wecomOK},
			code:   0,
			stdout: []string{"config OK: 0 apps, 3 WeCom agents (2 corps), 1 client, store bolt\n"},
		},
		{
			name:       "WeCom agents",
			args:       []string{"check", "--config", wecom},
			code:       1,
			stdoutNone: true,
			stderr:     []string{"is invalid (1 problem):", "\n  clients[0].apps[1]: \"ww0123456789abcdef/1000003\" is not a configured appid, WeCom corpid or corpid/agentid"},
		},
		{
			name: "store folder not writable", args: []string{"check", "--config", roFolder}, code: 1, stdoutNone: true,
			stderr: []string{
				"is invalid (1 problem):\n  store.path: " + filepath.Join(dir, "ro", "wxtoken.db") + " cannot be created: folder " + filepath.Join(dir, "ro") + " is not writable by this user: ",
				`warning: clients[0].key_sha256: client "shop-backend"`, // warnings still shown
			},
		},
		{
			name: "store file not writable", args: []string{"check", "--config", roFile}, code: 1, stdoutNone: true,
			stderr: []string{"\n  store.path: " + filepath.Join(dir, "rofile", "wxtoken.db") + " cannot be opened for writing by this user: "},
		},
		{
			name: "store path is a folder", args: []string{"check", "--config", isFolder}, code: 1, stdoutNone: true,
			stderr: []string{"\n  store.path: " + filepath.Join(dir, "afolder", "wxtoken.db") + " is a folder"},
		},
		{
			name: "store folder not made yet", args: []string{"check", "--config", noFolder}, code: 0,
			stdout: []string{"config OK: 1 app, 1 client, store bolt\n"},
			stderr: []string{"warning: store.path: folder " + filepath.Join(dir, "state") + " does not exist yet"},
		},
		{
			name: "placeholder key hash", args: []string{"check", "--config", placeholder}, code: 0,
			stdout: []string{"config OK: 1 app, 1 client, store bolt\n"},
			stderr: []string{`warning: clients[0].key_sha256: client "shop-backend" still has the sample config's placeholder`},
		},
		{
			name: "base path over the API", args: []string{"check", "--config", overAPI}, code: 1, stdoutNone: true,
			stderr: []string{"is invalid (1 problem):\n  compat.base_path: \"/v1/wx\" would hide the HTTP API's /v1 routes"},
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

// makeReadOnly makes path unwritable even for root, who ignores permission
// bits: by the immutable attribute, removed again when the test ends.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s read-only for root (chattr +i: %v %s)", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v %s", path, err, out)
		}
	})
}
