package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxtoken/wxtoken"
)

func mustParse(t *testing.T, yml, dir string, env func(string) (string, bool)) *Config {
	t.Helper()
	c, err := Parse([]byte(yml), dir, env)
	if err != nil {
		t.Fatalf("Parse: %v\nconfig:\n%s", err, yml)
	}
	return c
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c := mustParse(t, build(nil), dir, defaultEnv())
	want := Default()
	want.Store.Path = filepath.Join(dir, "wxtoken.db")
	want.Apps = []App{{
		AppID:     testAppID,
		SecretEnv: "WX_SECRET",
		Secret:    Secret(testSecret),
		TokenAPI:  wxtoken.TokenAPIStable,
	}}
	want.Clients = []Client{{Name: "shop", KeySHA256: testKeyHex, Apps: []string{testAppID}}}
	want.Warnings = []string{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse =\n%#v\nwant\n%#v", c, want)
	}
	// The documented defaults, spelled out so that changing one is a
	// deliberate act that also touches docs/config.md.
	checks := []struct {
		key       string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"tls", c.TLS.Enabled(), false},
		{"store.driver", c.Store.Driver, DriverBolt},
		{"store.redis.prefix", c.Store.Redis.Prefix, "wxtoken:"},
		{"store.redis.lease_ttl", c.Store.Redis.LeaseTTL.Std(), 5 * time.Second},
		{"store.redis.db", c.Store.Redis.DB, 0},
		{"upstream.base_url", c.Upstream.BaseURL, "https://api.weixin.qq.com"},
		{"upstream.fallback_base_urls", c.Upstream.FallbackBaseURLs, []string{"https://api2.weixin.qq.com"}},
		{"upstream.timeout", c.Upstream.Timeout.Std(), 10 * time.Second},
		{"upstream.overlap", c.Upstream.Overlap.Std(), 5 * time.Minute},
		{"upstream.wecom_base_url", c.Upstream.WeComBaseURL, "https://qyapi.weixin.qq.com"},
		{"refresh.margin", c.Refresh.Margin.Std(), 60 * time.Second},
		{"refresh.max_rate", c.Refresh.MaxRate, 20.0},
		{"refresh.passive_interval", c.Refresh.PassiveInterval.Std(), 10 * time.Second},
		{"refresh.early", c.Refresh.Early, 0.66},
		{"refresh.jitter", c.Refresh.Jitter, 0.1},
		{"apps[0].token_api", c.Apps[0].TokenAPI, wxtoken.TokenAPIStable},
		{"apps[0].tickets", len(c.Apps[0].Tickets), 0},
		{"compat.enabled", c.Compat.Enabled, false},
		{"quota.poll", c.Quota.Poll, false},
		{"quota.interval", c.Quota.Interval.Std(), time.Hour},
		{"clients[0].admin", c.Clients[0].Admin, false},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("default %s = %v, want %v", ch.key, ch.got, ch.want)
		}
	}
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	yml := build(map[string]string{
		"upstream": "upstream: {base_url: 'http://127.0.0.1:9000/', fallback_base_urls: [], timeout: 1500ms, overlap: 3s}",
		"refresh":  "refresh: {margin: 1s, jitter: 0, max_rate: 0.5}",
		"store":    "store: {driver: redis, redis: {addrs: ['a:1', 'b:2'], master_name: m, password_env: REDIS_PASSWORD, db: 3, prefix: 'x:', lease_ttl: 2s}}",
	})
	c := mustParse(t, yml, t.TempDir(), defaultEnv())
	if c.Upstream.BaseURL != "http://127.0.0.1:9000" {
		t.Errorf("base_url = %q, want the trailing slash trimmed", c.Upstream.BaseURL)
	}
	if c.Upstream.FallbackBaseURLs == nil || len(c.Upstream.FallbackBaseURLs) != 0 {
		t.Errorf("fallback_base_urls = %#v, want an explicit empty list to mean none", c.Upstream.FallbackBaseURLs)
	}
	if c.Upstream.Timeout.Std() != 1500*time.Millisecond || c.Upstream.Overlap.Std() != 3*time.Second {
		t.Errorf("timeout, overlap = %v, %v", c.Upstream.Timeout, c.Upstream.Overlap)
	}
	if c.Refresh.Jitter != 0 || c.Refresh.Margin.Std() != time.Second || c.Refresh.MaxRate != 0.5 {
		t.Errorf("refresh = %+v, want jitter 0 kept (not replaced by the default)", c.Refresh)
	}
	if c.Refresh.Early != 0.66 {
		t.Errorf("early = %v, want the default beside explicit siblings", c.Refresh.Early)
	}
	r := c.Store.Redis
	if r.Password.Reveal() != "redis-pass-123" || r.DB != 3 || r.Prefix != "x:" || r.LeaseTTL.Std() != 2*time.Second || r.MasterName != "m" {
		t.Errorf("redis = %+v, password resolved: %v", r, r.Password.Reveal() == "redis-pass-123")
	}
}

func TestEmptySectionsKeepDefaults(t *testing.T) {
	yml := build(map[string]string{"refresh": "refresh:", "store": "store: {}"})
	c := mustParse(t, yml, t.TempDir(), defaultEnv())
	if c.Refresh != Default().Refresh || c.Store.Driver != DriverBolt {
		t.Errorf("an empty section lost its defaults: refresh %+v, store %+v", c.Refresh, c.Store)
	}
}

func TestSecretSources(t *testing.T) {
	dir := testDir(t)
	abs := filepath.Join(dir, "secret.txt")
	tests := []struct {
		name     string
		app      string
		env      map[string]string
		want     string
		wantFile string
		warn     string
		err      string
	}{
		{name: "env", app: "secret_env: S", env: map[string]string{"S": "env-secret"}, want: "env-secret"},
		{name: "env trimmed", app: "secret_env: S", env: map[string]string{"S": " env-secret\n"}, want: "env-secret"},
		{name: "env unset", app: "secret_env: S", err: `apps[0].secret_env: environment variable "S" is not set or empty`},
		{name: "env empty", app: "secret_env: S", env: map[string]string{"S": ""}, err: `apps[0].secret_env: environment variable "S" is not set or empty`},
		{name: "env blank", app: "secret_env: S", env: map[string]string{"S": " \t"}, err: "is not set or empty"},
		{name: "env bad name", app: "secret_env: 'my secret'", err: `apps[0].secret_env: "my secret" is not an environment variable name`},
		{name: "file relative", app: "secret_file: secret.txt", want: "file-secret-value", wantFile: abs},
		{name: "file absolute", app: "secret_file: " + abs, want: "file-secret-value", wantFile: abs},
		{name: "file relative in sub-folder", app: "secret_file: sub/../secret.txt", want: "file-secret-value", wantFile: abs},
		{name: "file missing", app: "secret_file: nope.txt", err: `apps[0].secret_file: cannot use "nope.txt": no such file or directory`},
		{name: "file empty", app: "secret_file: empty.txt", err: `apps[0].secret_file: "empty.txt" is empty`},
		{name: "file is a folder", app: "secret_file: sub", err: `apps[0].secret_file: cannot use "sub": is a directory`},
		{name: "file long", app: "secret_file: long.txt", want: strings.Repeat("L", 3000), wantFile: filepath.Join(dir, "long.txt")},
		{name: "file too large", app: "secret_file: large.txt", err: `apps[0].secret_file: cannot use "large.txt": file is larger than 64 KiB`},
		{name: "inline", app: "secret: inline-secret", want: "inline-secret", warn: "apps[0].secret: an inline secret ends up in backups"},
		{name: "env and inline", app: "{secret_env: S, secret: x}", env: map[string]string{"S": "v"}, err: "apps[0]: set only one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := tt.app
			if strings.HasPrefix(app, "{") {
				app = strings.TrimPrefix(strings.TrimSuffix(app, "}"), "{")
				app = strings.ReplaceAll(app, ", ", "\n    ")
			}
			yml := build(map[string]string{"apps": "apps:\n  - appid: " + testAppID + "\n    " + app + "\n"})
			c, err := Parse([]byte(yml), dir, mapEnv(tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			a := c.Apps[0]
			if a.Secret.Reveal() != tt.want {
				t.Errorf("secret = %q, want %q", a.Secret.Reveal(), tt.want)
			}
			if tt.wantFile != "" && a.SecretFile != tt.wantFile {
				t.Errorf("secret_file = %q, want %q", a.SecretFile, tt.wantFile)
			}
			if got := strings.Join(c.Warnings, "\n"); !strings.Contains(got, tt.warn) || (tt.warn == "" && got != "") {
				t.Errorf("warnings = %q, want %q", c.Warnings, tt.warn)
			}
		})
	}
}

func TestSecretFileErrorUnwraps(t *testing.T) {
	yml := build(map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_file: nope}]"})
	_, err := Parse([]byte(yml), t.TempDir(), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := testDir(t)
	yml := build(map[string]string{
		"store": "store: {path: data/x.db}",
		"tls":   "tls: {cert_file: cert.pem, key_file: " + filepath.Join(dir, "key.pem") + "}",
	})
	c := mustParse(t, yml, dir, defaultEnv())
	if want := filepath.Join(dir, "data", "x.db"); c.Store.Path != want {
		t.Errorf("store.path = %q, want %q", c.Store.Path, want)
	}
	if want := filepath.Join(dir, "cert.pem"); c.TLS.CertFile != want {
		t.Errorf("tls.cert_file = %q, want %q", c.TLS.CertFile, want)
	}
	if want := filepath.Join(dir, "key.pem"); c.TLS.KeyFile != want {
		t.Errorf("tls.key_file = %q, want %q", c.TLS.KeyFile, want)
	}
	if !c.TLS.Enabled() {
		t.Error("TLS.Enabled() = false with both files set")
	}
	abs := filepath.Join(t.TempDir(), "abs.db")
	c = mustParse(t, build(map[string]string{"store": "store: {path: " + abs + "}"}), dir, defaultEnv())
	if c.Store.Path != abs {
		t.Errorf("absolute store.path = %q, want it kept as %q", c.Store.Path, abs)
	}
}

func TestLoad(t *testing.T) {
	dir := testDir(t)
	yml := build(map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_file: secret.txt}]"})
	path := filepath.Join(dir, "wxtoken.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.Apps[0].Secret.Reveal(); got != "file-secret-value" {
		t.Errorf("secret from a file beside the config = %q", got)
	}
	if want := filepath.Join(dir, "wxtoken.db"); c.Store.Path != want {
		t.Errorf("store.path = %q, want %q beside the config", c.Store.Path, want)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}

	if err := os.WriteFile(path, []byte("listen: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, nil)
	var fe *FieldError
	if err == nil || !strings.Contains(err.Error(), path) || !errors.As(err, &fe) {
		t.Errorf("Load of an invalid file: %v, want the path and *FieldErrors", err)
	}
}

// TestSampleConfig keeps etc/wxtoken.yaml valid and free of warnings but
// one per client, naming it, for the key_sha256 placeholders that must be
// replaced.
func TestSampleConfig(t *testing.T) {
	env := mapEnv(map[string]string{"WX_SHOP_SECRET": testSecret, "WX_MINI_SECRET": "another-secret-value"})
	c, err := Load(filepath.Join("..", "etc", "wxtoken.yaml"), env)
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	want := []string{
		`clients[0].key_sha256: client "shop-backend" still has the sample config's placeholder`,
		`clients[1].key_sha256: client "ops" still has the sample config's placeholder`,
	}
	if len(c.Warnings) != len(want) {
		t.Errorf("sample config warnings: %q, want %d about placeholders", c.Warnings, len(want))
	}
	for i, w := range want {
		if i >= len(c.Warnings) || !strings.HasPrefix(c.Warnings[i], w) {
			t.Errorf("sample config warnings: %q, want one starting %q", c.Warnings, w)
		}
	}
	if c.Store.Driver != DriverBolt || c.Store.Path != "/var/lib/wxtoken/wxtoken.db" {
		t.Errorf("sample store = %s %s, want bolt in the systemd unit's state directory, /var/lib/wxtoken", c.Store.Driver, c.Store.Path)
	}
	if len(c.Apps) != 2 || len(c.Clients) != 2 {
		t.Errorf("sample config has %d apps and %d clients, want 2 and 2", len(c.Apps), len(c.Clients))
	}
}

// TestSampleConfigWeComExample keeps the commented WeCom example of
// etc/wxtoken.yaml valid once uncommented.
func TestSampleConfigWeComExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "etc", "wxtoken.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "# wecom:" {
			block = append(block, "wecom:")
			continue
		}
		if len(block) == 0 {
			continue
		}
		if !strings.HasPrefix(line, "#  ") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	if len(block) < 5 {
		t.Fatalf("no commented wecom example in the sample: %q", block)
	}
	env := mapEnv(map[string]string{"WX_SECRET": testSecret, "ACME_OA_SECRET": "acme-oa-secret-value", "ACME_CONTACTS_SECRET": "acme-contacts-secret"})
	c := mustParse(t, build(map[string]string{"wecom": strings.Join(block, "\n")}), t.TempDir(), env)
	if len(c.WeCom) != 1 || c.AgentCount() != 2 || c.WeCom[0].Agents[0].AgentID != "1000002" ||
		len(c.WeCom[0].Agents[0].Tickets) != 2 || c.WeCom[0].Agents[1].Secret.Reveal() != "acme-contacts-secret" {
		t.Errorf("the example parses to %+v", c.WeCom)
	}
}

// TestSampleConfigPlatformExample keeps the commented platform example of
// etc/wxtoken.yaml valid once uncommented with the commented store key
// line beside it, and its rotation line too.
func TestSampleConfigPlatformExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "etc", "wxtoken.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	var keyEnv, prevFile string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "  # encryption_key_env: "); ok {
			keyEnv, _, _ = strings.Cut(v, " ")
		}
		if v, ok := strings.CutPrefix(line, "  # previous_encryption_key_file: "); ok {
			prevFile, _, _ = strings.Cut(v, " ")
		}
		if line == "# platforms:" {
			block = append(block, "platforms:")
			continue
		}
		if len(block) == 0 {
			continue
		}
		if !strings.HasPrefix(line, "#  ") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	if len(block) < 5 || keyEnv == "" || prevFile == "" {
		t.Fatalf("no commented platform example, encryption_key_env or previous_encryption_key_file line in the sample: %q, %q, %q", block, keyEnv, prevFile)
	}
	// The previous key's file, named as in the sample, in a folder of
	// the test's own.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(prevFile)), []byte(testStoreKeyOld+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := mapEnv(map[string]string{"WX_SECRET": testSecret, keyEnv: testStoreKey,
		"SAAS_COMPONENT_SECRET": testCompSecret, "SAAS_MSG_TOKEN": testMsgToken, "SAAS_AES_KEY": testAESKey})
	c := mustParse(t, build(map[string]string{
		"platforms": strings.Join(block, "\n"),
		"store":     "store: {encryption_key_env: " + keyEnv + ", previous_encryption_key_file: " + filepath.Base(prevFile) + "}",
	}), dir, env)
	if len(c.Platforms) != 1 || c.Platforms[0].EncodingAESKey.Reveal() != testAESKey || len(c.Platforms[0].AuthorizerTickets) != 1 {
		t.Errorf("the example parses to %+v", c.Platforms)
	}
	if !c.Store.Encrypted() || c.Store.PreviousEncryptionKey.ID() == "" {
		t.Errorf("the store keys of the sample did not load: %v", c.Store)
	}
	if _, err := c.Platforms[0].Crypter(); err != nil {
		t.Error(err)
	}
}

// TestSecretsNeverInMessages puts secrets where careless configs put them
// and checks that no error or warning repeats one.
func TestSecretsNeverInMessages(t *testing.T) {
	const (
		inline   = "inline-secret-0123456789"
		fromEnv  = "env-secret-abcdefghij"
		misplace = "fedcba9876543210fedcba9876543210" // AppSecret-shaped
	)
	env := mapEnv(map[string]string{"S": fromEnv, "STORE_KEY": testStoreKey})
	tests := []struct{ name, yml string }{
		{"inline secret, error elsewhere", build(map[string]string{
			"apps": "apps: [{appid: " + testAppID + ", secret: " + inline + "}]",
			"log":  "log: {level: loud}",
		})},
		{"inline secret repeated in a client grant", build(map[string]string{
			"apps":    "apps: [{appid: " + testAppID + ", secret: " + inline + "}]",
			"clients": "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: [" + inline + "]}]",
		})},
		{"env secret repeated as an appid", build(map[string]string{
			"apps": "apps: [{appid: " + testAppID + ", secret_env: S}, {appid: " + fromEnv + ", secret_env: S}]",
			"log":  "log: {format: xml}",
		})},
		{"inline secret beside a second source", build(map[string]string{
			"apps":    "apps: [{appid: " + testAppID + ", secret_env: S, secret: " + inline + "}]",
			"clients": "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: [" + inline + "]}]",
		})},
		{"secret pasted as env name", build(map[string]string{
			"apps": "apps: [{appid: " + testAppID + ", secret_env: " + misplace + "}]",
		})},
		{"secret pasted as file name", build(map[string]string{
			"apps": "apps: [{appid: " + testAppID + ", secret_file: " + misplace + "}]",
		})},
		{"secret pasted as appid", build(map[string]string{
			"apps":    "apps: [{appid: " + misplace + ", secret_env: S}]",
			"clients": "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: [" + misplace + "]}]",
		})},
		{"client key pasted as its hash", build(map[string]string{
			"clients": "clients: [{name: a, key_sha256: wxt_" + inline + "}]",
		})},
		{"EncodingAESKey pasted as its variable's name", build(map[string]string{
			"store":     "store: {encryption_key_env: STORE_KEY}",
			"platforms": platformSection("secret_env: S, token_env: S, encoding_aes_key_env: " + testAESKey),
		})},
		{"EncodingAESKey pasted as its file's name", build(map[string]string{
			"store":     "store: {encryption_key_env: STORE_KEY}",
			"platforms": platformSection("secret_env: S, token_env: S, encoding_aes_key_file: " + testAESKey),
		})},
		{"store key pasted as a file name", build(map[string]string{
			"store": "store: {encryption_key_file: '" + testStoreKey + "'}",
		})},
		{"store key pasted as an app's secret variable", build(map[string]string{
			"apps": "apps: [{appid: " + testAppID + ", secret_env: '" + testStoreKey + "'}]",
		})},
		{"inline EncodingAESKey with an error elsewhere", build(map[string]string{
			"store":     "store: {encryption_key_env: STORE_KEY}",
			"platforms": platformSection("secret_env: S, token: " + inline + ", encoding_aes_key: " + testAESKey[:42] + ", name: " + testAESKey),
			"clients":   grantClients(testAESKey[:42]),
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yml), t.TempDir(), env)
			var msgs []string
			if err != nil {
				msgs = append(msgs, err.Error())
			}
			if c != nil {
				msgs = append(msgs, c.Warnings...)
			}
			if len(msgs) == 0 {
				t.Fatal("no error or warning at all; the test is not testing anything")
			}
			all := strings.Join(msgs, "\n")
			for _, s := range []string{inline, fromEnv, misplace, testAESKey[:42], testStoreKey[:43]} {
				if strings.Contains(all, s) {
					t.Errorf("a message holds the secret %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := mustParse(t, build(nil), t.TempDir(), defaultEnv())
	s := c.Apps[0].Secret
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c), fmt.Sprintf(verb, c.Apps))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(c))
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j), string(y))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s, "app", c.Apps[0])
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "app", c.Apps[0])
	outs = append(outs, logs.String())
	for _, o := range outs {
		if strings.Contains(o, testSecret) {
			t.Fatalf("output holds the secret: %s", o)
		}
	}
	if !strings.Contains(string(j), redacted) || !strings.Contains(fmt.Sprintf("%+v", c), redacted) {
		t.Errorf("the redaction mark is missing:\n%s", j)
	}
	if s.Reveal() != testSecret {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func TestDurationYAMLRoundTrip(t *testing.T) {
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ D Duration }
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if back.D.Std() != 90*time.Second {
		t.Errorf("round trip of %s = %v", out, back.D)
	}
}

func TestHelpers(t *testing.T) {
	yml := build(map[string]string{
		"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, tickets: [wx_card]}, {appid: wxfedcba9876543210, secret_env: WX_SECRET}]",
		"clients": "clients: [{name: one, key_sha256: " + testKeyHex + ", apps: [" + testAppID + "]}, " +
			"{name: all, key_sha256: " + strings.Repeat("1", 64) + ", apps: ['*']}, " +
			"{name: none, key_sha256: " + strings.Repeat("2", 64) + "}]",
	})
	c := mustParse(t, yml, t.TempDir(), defaultEnv())
	one, all, none := c.Clients[0], c.Clients[1], c.Clients[2]
	if !one.Allows(testAppID) || one.Allows("wxfedcba9876543210") {
		t.Error("a client with one app is granted the wrong apps")
	}
	if !all.Allows(testAppID) || !all.Allows("wxfedcba9876543210") {
		t.Error(`a "*" client is not granted every app`)
	}
	if none.Allows(testAppID) {
		t.Error("a client without apps is granted one")
	}
	for level, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%s) = %v, want %v", level, got, want)
		}
	}
}

// TestWeComParsed: a WeCom corp's agents come out resolved, with their
// agentid as written (an unquoted number as its digits), their secret
// from its source and their tickets; grants by corp and by agent reach
// exactly what they name.
func TestWeComParsed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "contacts.secret"), []byte("contacts-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := build(map[string]string{
		"upstream": "upstream: {wecom_base_url: 'http://127.0.0.1:9000/'}",
		"wecom": `wecom:
  - corpid: ` + testCorpID + `
    name: acme
    agents:
      - agentid: 1000002
        secret_env: WECOM_SECRET
        tickets: [jsapi, agent_config]
      - agentid: contacts
        secret_file: contacts.secret
`,
		"clients": "clients: [{name: corp, key_sha256: " + testKeyHex + ", apps: [" + testCorpID + "]}, " +
			"{name: agent, key_sha256: " + strings.Repeat("1", 64) + ", apps: [" + testCorpID + "/contacts]}]",
	})
	c := mustParse(t, yml, dir, defaultEnv())
	if c.Upstream.WeComBaseURL != "http://127.0.0.1:9000" {
		t.Errorf("wecom_base_url = %q, want it without the trailing slash", c.Upstream.WeComBaseURL)
	}
	want := []WeCom{{CorpID: testCorpID, Name: "acme", Agents: []Agent{
		{AgentID: "1000002", SecretEnv: "WECOM_SECRET", Secret: Secret(testWeComSecret), Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig}},
		{AgentID: "contacts", SecretFile: filepath.Join(dir, "contacts.secret"), Secret: "contacts-secret-value"},
	}}}
	if !reflect.DeepEqual(c.WeCom, want) {
		t.Errorf("wecom =\n%#v\nwant\n%#v", c.WeCom, want)
	}
	if n := c.AgentCount(); n != 2 {
		t.Errorf("AgentCount = %d, want 2", n)
	}
	corp, agent := c.Clients[0], c.Clients[1]
	oa, contacts := wxtoken.WeComID(testCorpID, "1000002"), wxtoken.WeComID(testCorpID, "contacts")
	if !corp.Allows(oa) || !corp.Allows(contacts) || corp.Allows(testAppID) {
		t.Error("a grant of the corp does not cover exactly its agents")
	}
	if agent.Allows(oa) || !agent.Allows(contacts) || agent.Allows(testCorpID) {
		t.Error("a grant of an agent does not cover exactly that agent")
	}
	if keys := Keys(c.Clients); len(keys) != 2 || keys[1].Name != "agent" || !keys[1].Allows(contacts) || keys[0].KeySHA256 != testKeyHex {
		t.Errorf("Keys = %+v", keys)
	}
}

// FuzzParse feeds arbitrary files to Parse: it may reject them, but it
// must not panic, and what it accepts must satisfy the basic rules.
func FuzzParse(f *testing.F) {
	f.Add([]byte(build(nil)))
	f.Add([]byte("apps: &a [*a]"))
	f.Add([]byte("a: &x {b: *x}\n<<: *x"))
	f.Add([]byte("store: {redis: {addrs: [[1], {a: b}]}}\nrefresh: {margin: [1]}"))
	f.Add([]byte(build(map[string]string{"store": "store: {encryption_key_env: STORE_KEY}",
		"platforms": platformSection("secret_env: WX_SECRET, token: t, encoding_aes_key: " + testAESKey + ", authorizer_tickets: [jsapi]")})))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, t.TempDir(), defaultEnv())
		if err != nil {
			return
		}
		if len(c.Apps)+c.AgentCount()+len(c.Platforms) == 0 || len(c.Clients) == 0 {
			t.Fatalf("accepted a config without apps, agents or platforms, or without clients:\n%s", data)
		}
		for _, a := range c.Apps {
			if a.Secret.Reveal() == "" {
				t.Fatalf("accepted app %q without a secret", a.AppID)
			}
		}
		for i := range c.Platforms {
			p := &c.Platforms[i]
			if _, err := p.Crypter(); err != nil || p.Secret.Reveal() == "" || !c.Store.Encrypted() {
				t.Fatalf("accepted platform %q: secret set %v, Crypter error %v, store encrypted %v", p.ComponentAppID, p.Secret != "", err, c.Store.Encrypted())
			}
		}
	})
}
