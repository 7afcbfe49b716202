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
	const (
		storeKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // id 3eb1bd439947eb76
		oldKey   = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
		aesKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	)
	t.Setenv("WXTOKEN_CHECK_TEST_STORE_KEY", storeKey)
	t.Setenv("WXTOKEN_CHECK_TEST_AES_KEY", aesKey)
	write("old.key", oldKey+"\n")
	platform := `
  - component_appid: wx00000000000000c1
    name: saas
    secret_env: WXTOKEN_CHECK_TEST_SECRET
    token: check-verb-token
    encoding_aes_key_env: WXTOKEN_CHECK_TEST_AES_KEY
    authorizer_tickets: [jsapi]
`
	platformOK := write("platform.yaml", `
store: {encryption_key_env: WXTOKEN_CHECK_TEST_STORE_KEY, previous_encryption_key_file: old.key}
apps:
  - appid: wx0123456789abcdef
    secret_env: WXTOKEN_CHECK_TEST_SECRET
wecom:
  - corpid: ww0123456789abcdef
    agents:
      - {agentid: "1000002", secret_env: WXTOKEN_CHECK_TEST_SECRET}
platforms:`+platform+`  - component_appid: wx00000000000000c2
    secret_env: WXTOKEN_CHECK_TEST_SECRET
    token_env: WXTOKEN_CHECK_TEST_SECRET
    encoding_aes_key_env: WXTOKEN_CHECK_TEST_AES_KEY
clients:
  - {name: a, key_sha256: "`+key+`", apps: [wx00000000000000c1, "wx00000000000000c2:wx00000000000000a1"]}
`)
	platformOnly := write("platformonly.yaml", `
store: {encryption_key_env: WXTOKEN_CHECK_TEST_STORE_KEY}
platforms:`+platform+`clients:
  - {name: a, key_sha256: "`+key+`", apps: ["*"]}
`)
	platformNoKey := write("platformnokey.yaml", `
platforms:`+platform+`clients:
  - {name: a, key_sha256: "`+key+`", apps: ["wx00000000000000c9"]}
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
			name:   "platforms",
			args:   []string{"check", "--config", platformOK},
			code:   0,
			stdout: []string{"config OK: 1 app, 1 WeCom agent (1 corp), 2 platforms, 1 client, store bolt, encryption key 3eb1bd439947eb76 (previous key 4ba68aa8767bde72)\n"},
			stderr: []string{"warning: platforms[0].token: an inline token"},
		},
		{
			name:   "a platform alone",
			args:   []string{"check", "--config", platformOnly},
			code:   0,
			stdout: []string{"config OK: 0 apps, 1 platform, 1 client, store bolt, encryption key 3eb1bd439947eb76\n"},
		},
		{
			name:       "a platform without an encryption key",
			args:       []string{"check", "--config", platformNoKey},
			code:       1,
			stdoutNone: true,
			stderr: []string{
				"is invalid (2 problems):",
				"\n  store: an encryption key is required with platforms configured: ",
				"head -c 32 /dev/urandom | base64",
				"\n  clients[0].apps[0]: \"wx00000000000000c9\" is not a configured appid, component_appid or component_appid:authorizer_appid",
			},
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
			for _, s := range []string{secret, storeKey, oldKey, aesKey, "check-verb-token"} {
				if strings.Contains(stdout.String()+stderr.String(), s) {
					t.Errorf("the output holds a secret:\n%s%s", &stdout, &stderr)
				}
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
