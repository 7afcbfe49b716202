package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	testAppID  = "wx0123456789abcdef"
	testKeyHex = "4f1c3a0b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
	// testSecret has the shape of a real AppSecret, so it is both scrubbed
	// and never echoed.
	testSecret = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// baseSections is a valid config split by top-level key, so that a test
// row can replace one section without writing a whole file.
func baseSections() map[string]string {
	return map[string]string{
		"apps": `apps:
  - appid: wx0123456789abcdef
    secret_env: WX_SECRET
`,
		"clients": `clients:
  - name: shop
    key_sha256: "` + testKeyHex + `"
    apps: [wx0123456789abcdef]
`,
	}
}

// build assembles a config from the base sections and the row's
// replacements; an empty replacement drops the section.
func build(set map[string]string) string {
	s := baseSections()
	for k, v := range set {
		s[k] = v
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(s[k])
		if !strings.HasSuffix(s[k], "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func defaultEnv() func(string) (string, bool) {
	return mapEnv(map[string]string{"WX_SECRET": testSecret, "REDIS_PASSWORD": "redis-pass-123",
		"WECOM_SECRET": testWeComSecret, "WECOM_SECRET2": "another-agent-secret-value", "STORE_KEY": testStoreKey})
}

// The WeCom corp of the tests, and the secret of its agent.
const (
	testCorpID      = "ww0123456789abcdef"
	testWeComSecret = "wecom-agent-secret-0123456789abcdefghij"
)

// wecomSection is a wecom section with one corp whose agents are given in
// flow style.
func wecomSection(agents ...string) string {
	return "wecom:\n  - corpid: " + testCorpID + "\n    name: acme\n    agents: [" + strings.Join(agents, ", ") + "]\n"
}

// grantClients is a clients section whose one client is granted grants.
func grantClients(grants ...string) string {
	return "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: [" + strings.Join(grants, ", ") + "]}]"
}

// testDir returns a folder holding a certificate and key pair (contents do
// not matter to config), a secret file and a sub-folder.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"cert.pem":   "cert",
		"key.pem":    "key",
		"secret.txt": "file-secret-value\n",
		"empty.txt":  " \n",
		// A value longer than the first read's buffer, and a file over
		// the size a secret file may have.
		"long.txt":  strings.Repeat("L", 3000) + "\n",
		"large.txt": strings.Repeat("x", maxSecretFileSize+1),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidate(t *testing.T) {
	long64 := "wx" + strings.Repeat("a", 62)
	tests := []struct {
		name string
		set  map[string]string
		// errs are substrings that must all appear in the error; none
		// means the config must parse.
		errs []string
		// warn is a substring that must appear in a warning.
		warn string
	}{
		{name: "base config"},

		{name: "listen empty", set: map[string]string{"listen": `listen: ""`}, errs: []string{"listen: required"}},
		{name: "listen without port", set: map[string]string{"listen": "listen: localhost"}, errs: []string{`listen: "localhost" is not a host:port address`}},
		{name: "listen port 0 picks a free one", set: map[string]string{"listen": `listen: ":0"`}},
		{name: "listen port 65535", set: map[string]string{"listen": "listen: 127.0.0.1:65535"}},
		{name: "listen port 65536", set: map[string]string{"listen": "listen: 127.0.0.1:65536"}, errs: []string{"listen:", "not a number from 0 to 65535"}},
		{name: "listen port name", set: map[string]string{"listen": "listen: 127.0.0.1:http"}, errs: []string{"listen:"}},
		{name: "listen ipv6", set: map[string]string{"listen": `listen: "[::1]:8080"`}},

		{name: "tls both files", set: map[string]string{"tls": "tls: {cert_file: cert.pem, key_file: key.pem}"}},
		{name: "tls cert only", set: map[string]string{"tls": "tls: {cert_file: cert.pem}"}, errs: []string{"tls.key_file: required when tls.cert_file is set"}},
		{name: "tls key only", set: map[string]string{"tls": "tls: {key_file: key.pem}"}, errs: []string{"tls.cert_file: required when tls.key_file is set"}},
		{name: "tls missing file", set: map[string]string{"tls": "tls: {cert_file: nope.pem, key_file: key.pem}"}, errs: []string{`tls.cert_file: cannot use "nope.pem": no such file or directory`}},
		{name: "tls directory", set: map[string]string{"tls": "tls: {cert_file: cert.pem, key_file: sub}"}, errs: []string{`tls.key_file: "sub" is not a regular file`}},

		{name: "store unknown driver", set: map[string]string{"store": "store: {driver: sqlite}"}, errs: []string{`store.driver: "sqlite" is unknown (want bolt, memory or redis)`}},
		{name: "store bolt empty path", set: map[string]string{"store": `store: {path: ""}`}, errs: []string{"store.path: required for the bolt driver"}},
		{name: "store memory warns", set: map[string]string{"store": "store: {driver: memory}"}, warn: "store.driver: memory keeps nothing across restarts"},
		{name: "store redis ignored by bolt", set: map[string]string{"store": "store: {redis: {addr: 127.0.0.1:6379}}"}, warn: "store.redis: ignored unless store.driver is redis"},
		{name: "redis addr", set: map[string]string{"store": "store: {driver: redis, redis: {addr: 127.0.0.1:6379}}"}},
		{name: "redis no address", set: map[string]string{"store": "store: {driver: redis}"}, errs: []string{"store.redis: set addr, or addrs for Sentinel or Cluster"}},
		{name: "redis addr and addrs", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, addrs: [b:2]}}"}, errs: []string{"store.redis: set addr or addrs, not both"}},
		{name: "redis bad addr", set: map[string]string{"store": "store: {driver: redis, redis: {addr: redis}}"}, errs: []string{`store.redis.addr: "redis" is not a host:port address`}},
		{name: "redis bad addrs item", set: map[string]string{"store": "store: {driver: redis, redis: {addrs: [a:1, b]}}"}, errs: []string{`store.redis.addrs[1]: "b" is not a host:port address`}},
		{name: "redis sentinel", set: map[string]string{"store": "store: {driver: redis, redis: {addrs: [a:26379, b:26379], master_name: mymaster}}"}},
		{name: "redis master without addrs", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, master_name: m}}"}, errs: []string{"store.redis.master_name: needs addrs"}},
		{name: "redis password env unset", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, password_env: NOPE}}"}, errs: []string{`store.redis.password_env: environment variable "NOPE" is not set or empty`}},
		{name: "redis password env set", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, password_env: REDIS_PASSWORD}}"}},
		{name: "redis db -1", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, db: -1}}"}, errs: []string{"store.redis.db: must not be negative"}},
		{name: "redis db 0", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, db: 0}}"}},
		{name: "redis empty prefix", set: map[string]string{"store": `store: {driver: redis, redis: {addr: a:1, prefix: ""}}`}, errs: []string{"store.redis.prefix: must not be empty"}},
		{name: "redis lease_ttl 0", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, lease_ttl: 0s}}"}, errs: []string{"store.redis.lease_ttl: must be a positive duration"}},
		{name: "redis lease_ttl 1ns", set: map[string]string{"store": "store: {driver: redis, redis: {addr: a:1, lease_ttl: 1ns}}"}},
		{name: "redis settings unchecked for bolt", set: map[string]string{"store": "store: {redis: {db: -1}}"}},

		{name: "base_url empty", set: map[string]string{"upstream": `upstream: {base_url: ""}`}, errs: []string{"upstream.base_url: required"}},
		{name: "base_url ftp", set: map[string]string{"upstream": "upstream: {base_url: ftp://api.weixin.qq.com}"}, errs: []string{`upstream.base_url: "ftp://api.weixin.qq.com" is not an absolute http or https URL`}},
		{name: "base_url relative", set: map[string]string{"upstream": "upstream: {base_url: api.weixin.qq.com}"}, errs: []string{"upstream.base_url:", "not an absolute http or https URL"}},
		{name: "base_url no host", set: map[string]string{"upstream": "upstream: {base_url: 'https:///cgi-bin'}"}, errs: []string{"upstream.base_url:", "has no host"}},
		{name: "base_url query", set: map[string]string{"upstream": "upstream: {base_url: 'https://api.weixin.qq.com?x=1'}"}, errs: []string{"upstream.base_url:", "must not have a query or fragment"}},
		{name: "base_url empty query", set: map[string]string{"upstream": "upstream: {base_url: 'https://api.weixin.qq.com/?'}"}, errs: []string{"must not have a query or fragment"}},
		{name: "base_url fragment", set: map[string]string{"upstream": "upstream: {base_url: 'https://api.weixin.qq.com#x'}"}, errs: []string{"must not have a query or fragment"}},
		{name: "base_url user info", set: map[string]string{"upstream": "upstream: {base_url: 'https://u:p@api.weixin.qq.com'}"}, errs: []string{"upstream.base_url: must not hold user information"}},
		{name: "base_url http simulator", set: map[string]string{"upstream": "upstream: {base_url: 'http://127.0.0.1:9000/'}"}},
		{name: "fallback bad item", set: map[string]string{"upstream": "upstream: {fallback_base_urls: [https://a.example, 'b.example']}"}, errs: []string{"upstream.fallback_base_urls[1]:"}},
		{name: "timeout 0", set: map[string]string{"upstream": "upstream: {timeout: 0s}"}, errs: []string{"upstream.timeout: must be a positive duration, got 0s"}},
		{name: "timeout negative", set: map[string]string{"upstream": "upstream: {timeout: -1s}"}, errs: []string{"upstream.timeout: must be a positive duration, got -1s"}},
		{name: "timeout 1ns", set: map[string]string{"upstream": "upstream: {timeout: 1ns}"}},
		{name: "timeout bare number", set: map[string]string{"upstream": "upstream: {timeout: 10}"}, errs: []string{`upstream.timeout: "10" is not a duration`, "(line "}},
		{name: "timeout not a scalar", set: map[string]string{"upstream": "upstream: {timeout: [1s]}"}, errs: []string{"upstream.timeout: want a duration"}},
		{name: "timeout bare number block style", set: map[string]string{"upstream": "upstream:\n  overlap: 5m\n  timeout: 10\n"}, errs: []string{`upstream.timeout: "10" is not a duration`, "(line 10)"}},
		{name: "duration beside another on one line", set: map[string]string{"upstream": "upstream: {overlap: 5m, timeout: 10}"}, errs: []string{`upstream.timeout: "10" is not a duration`}},
		{name: "wrong type in flow style", set: map[string]string{"store": "store: {redis: {db: abc, addr: a:1}}"}, errs: []string{"store.redis.db: cannot unmarshal"}},
		{name: "wrong type of long value", set: map[string]string{"store": "store: {redis: {addr: a:1, db: abcdefghijkl}}"}, errs: []string{"store.redis.db: cannot unmarshal"}},
		{name: "list where a string goes", set: map[string]string{"store": "store:\n  redis:\n    addrs:\n      - a:1\n      - [b]\n"}, errs: []string{"store.redis.addrs[1]: cannot unmarshal !!seq into string (line 12)"}},
		{name: "overlap 0", set: map[string]string{"upstream": "upstream: {overlap: 0s}"}, errs: []string{"upstream.overlap: must be a positive duration"}},

		{name: "margin 0", set: map[string]string{"refresh": "refresh: {margin: 0s}"}, errs: []string{"refresh.margin: must be a positive duration"}},
		{name: "margin equals overlap", set: map[string]string{"refresh": "refresh: {margin: 5m}"}, errs: []string{"refresh.margin: must be shorter than upstream.overlap (5m0s), got 5m0s"}},
		{name: "margin just under overlap", set: map[string]string{"refresh": "refresh: {margin: 4m59.999999999s}"}},
		{name: "max_rate 0", set: map[string]string{"refresh": "refresh: {max_rate: 0}"}, errs: []string{"refresh.max_rate: must be a positive number"}},
		{name: "max_rate negative", set: map[string]string{"refresh": "refresh: {max_rate: -1}"}, errs: []string{"refresh.max_rate:"}},
		{name: "max_rate infinite", set: map[string]string{"refresh": "refresh: {max_rate: .inf}"}, errs: []string{"refresh.max_rate:"}},
		{name: "max_rate NaN", set: map[string]string{"refresh": "refresh: {max_rate: .nan}"}, errs: []string{"refresh.max_rate:"}},
		{name: "max_rate fraction", set: map[string]string{"refresh": "refresh: {max_rate: 0.01}"}},
		{name: "passive_interval 0", set: map[string]string{"refresh": "refresh: {passive_interval: 0s}"}, errs: []string{"refresh.passive_interval: must be a positive duration"}},
		{name: "early 0.3", set: map[string]string{"refresh": "refresh: {early: 0.3}"}, errs: []string{"refresh.early: must be above 0.3 and below 0.95, got 0.3"}},
		{name: "early just above 0.3", set: map[string]string{"refresh": "refresh: {early: 0.3000001}"}},
		{name: "early 0.95", set: map[string]string{"refresh": "refresh: {early: 0.95, jitter: 0}"}, errs: []string{"refresh.early:"}},
		{name: "early just below 0.95", set: map[string]string{"refresh": "refresh: {early: 0.9499, jitter: 0}"}},
		{name: "early NaN", set: map[string]string{"refresh": "refresh: {early: .nan}"}, errs: []string{"refresh.early:"}},
		{name: "jitter negative", set: map[string]string{"refresh": "refresh: {jitter: -0.0001}"}, errs: []string{"refresh.jitter: must be from 0 to 0.3"}},
		{name: "jitter 0", set: map[string]string{"refresh": "refresh: {jitter: 0}"}},
		{name: "jitter 0.3", set: map[string]string{"refresh": "refresh: {jitter: 0.3}"}},
		{name: "jitter above 0.3", set: map[string]string{"refresh": "refresh: {jitter: 0.3001}"}, errs: []string{"refresh.jitter: must be from 0 to 0.3"}},
		{name: "early plus jitter 1", set: map[string]string{"refresh": "refresh: {early: 0.75, jitter: 0.25}"}, errs: []string{"refresh.jitter: early + jitter must stay below 1"}},
		{name: "early plus jitter under 1", set: map[string]string{"refresh": "refresh: {early: 0.75, jitter: 0.2}"}},

		{name: "no apps", set: map[string]string{"apps": "", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + "}]"}, errs: []string{"apps: at least one app is required"}},
		{name: "no apps, a store key but no admin", set: map[string]string{"apps": "", "store": "store: {encryption_key_env: STORE_KEY}", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + "}]"}, errs: []string{"needs store.encryption_key_env or store.encryption_key_file and a client with admin: true"}},
		{name: "no apps, an admin but no store key", set: map[string]string{"apps": "", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", admin: true}]"}, errs: []string{"apps: at least one app is required"}},
		{name: "only registered entries", set: map[string]string{"apps": "", "store": "store: {encryption_key_env: STORE_KEY}", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", admin: true}]"}, warn: "the server keeps only the entries registered through the admin API"},
		{name: "appid empty", set: map[string]string{"apps": "apps: [{secret_env: WX_SECRET}]"}, errs: []string{"apps[0].appid: required"}},
		{name: "appid with space", set: map[string]string{"apps": "apps: [{appid: 'wx bad', secret_env: WX_SECRET}]"}, errs: []string{`apps[0].appid: "wx bad" is not a valid appid`}},
		{name: "appid 64 chars", set: map[string]string{"apps": "apps: [{appid: " + long64 + ", secret_env: WX_SECRET}]", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", apps: ['*']}]"}, warn: "does not look like a WeChat appid"},
		{name: "appid 65 chars", set: map[string]string{"apps": "apps: [{appid: " + long64 + "b, secret_env: WX_SECRET}]", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", apps: ['*']}]"}, errs: []string{"apps[0].appid:", "is not a valid appid"}},
		{name: "appid short test id", set: map[string]string{"apps": "apps: [{appid: wxA, secret_env: WX_SECRET}]", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", apps: [wxA]}]"}, warn: `apps[0].appid: "wxA" does not look like a WeChat appid`},
		{name: "appid upper-case hex", set: map[string]string{"apps": "apps: [{appid: wx0123456789ABCDEF, secret_env: WX_SECRET}]", "clients": "clients: [{name: m, key_sha256: " + testKeyHex + ", apps: ['*']}]"}, warn: "does not look like a WeChat appid"},
		{name: "appid duplicate", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET}, {appid: " + testAppID + ", secret_env: WX_SECRET}]"}, errs: []string{`apps[1].appid: "wx0123456789abcdef" is already configured as apps[0]`}},
		{name: "name 64 runes", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", name: " + strings.Repeat("店", 64) + ", secret_env: WX_SECRET}]"}},
		{name: "name 65 runes", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", name: " + strings.Repeat("店", 65) + ", secret_env: WX_SECRET}]"}, errs: []string{"apps[0].name: longer than 64 characters"}},
		{name: "no secret", set: map[string]string{"apps": "apps: [{appid: " + testAppID + "}]"}, errs: []string{"apps[0]: no secret: set one of secret_env, secret_file and secret"}},
		{name: "blank inline secret", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret: '  '}]"}, errs: []string{"apps[0]: no secret"}},
		{name: "two secrets", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, secret_file: secret.txt}]"}, errs: []string{"apps[0]: set only one of secret_env, secret_file and secret"}},
		{name: "token_api classic", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, token_api: classic}]"}},
		{name: "token_api unknown", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, token_api: fast}]"}, errs: []string{`apps[0].token_api: "fast" is unknown (want stable or classic)`}},
		{name: "tickets both", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, tickets: [jsapi, wx_card]}]"}},
		{name: "tickets duplicate", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, tickets: [jsapi, jsapi]}]"}, errs: []string{"apps[0].tickets[1]: jsapi is listed twice"}},
		{name: "tickets unknown", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, tickets: [access_token]}]"}, errs: []string{`apps[0].tickets[0]: unknown ticket type "access_token" (want jsapi or wx_card)`}},

		{name: "wecom one agent", set: map[string]string{"wecom": wecomSection("{agentid: '1000002', secret_env: WECOM_SECRET, tickets: [jsapi, agent_config]}")}},
		{name: "wecom agentid unquoted number", set: map[string]string{"wecom": wecomSection("{agentid: 1000002, secret_env: WECOM_SECRET}"), "clients": grantClients(testCorpID + "/1000002")}},
		{name: "wecom agentid a name", set: map[string]string{"wecom": wecomSection("{agentid: contacts, secret_env: WECOM_SECRET}")}},
		{name: "wecom only, no apps", set: map[string]string{"apps": "", "wecom": wecomSection("{agentid: '1000002', secret_env: WECOM_SECRET}"), "clients": grantClients(testCorpID)}},
		{name: "wecom corpid empty", set: map[string]string{"wecom": "wecom: [{agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, errs: []string{"wecom[0].corpid: required"}},
		{name: "wecom corpid bad", set: map[string]string{"wecom": "wecom: [{corpid: 'ww 1', agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, errs: []string{`wecom[0].corpid: "ww 1" is not a valid corpid`}},
		{name: "wecom corpid with slash", set: map[string]string{"wecom": "wecom: [{corpid: 'ww/1', agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, errs: []string{`wecom[0].corpid: "ww/1" is not a valid corpid`}},
		{name: "wecom corpid test id warns", set: map[string]string{"wecom": "wecom: [{corpid: wwA, agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, warn: `wecom[0].corpid: "wwA" does not look like a WeCom corpid`},
		{name: "wecom corp twice", set: map[string]string{"wecom": "wecom: [{corpid: " + testCorpID + ", agents: [{agentid: '1', secret_env: WECOM_SECRET}]}, {corpid: " + testCorpID + ", agents: [{agentid: '2', secret_env: WECOM_SECRET2}]}]"}, errs: []string{`wecom[1].corpid: "ww0123456789abcdef" is already configured as wecom[0]`}},
		{name: "wecom corpid is an appid", set: map[string]string{"wecom": "wecom: [{corpid: " + testAppID + ", agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, errs: []string{`wecom[0].corpid: "wx0123456789abcdef" is also configured as apps[0].appid`}},
		{name: "wecom name 65 runes", set: map[string]string{"wecom": "wecom: [{corpid: " + testCorpID + ", name: " + strings.Repeat("企", 65) + ", agents: [{agentid: '1', secret_env: WECOM_SECRET}]}]"}, errs: []string{"wecom[0].name: longer than 64 characters"}},
		{name: "wecom no agents", set: map[string]string{"wecom": "wecom: [{corpid: " + testCorpID + "}]"}, errs: []string{"wecom[0].agents: at least one agent is required"}},
		{name: "wecom agentid empty", set: map[string]string{"wecom": wecomSection("{secret_env: WECOM_SECRET}")}, errs: []string{"wecom[0].agents[0].agentid: required"}},
		{name: "wecom agentid bad", set: map[string]string{"wecom": wecomSection("{agentid: '10/2', secret_env: WECOM_SECRET}")}, errs: []string{`wecom[0].agents[0].agentid: "10/2" is not a valid agentid`}},
		{name: "wecom agentid 65 chars", set: map[string]string{"wecom": wecomSection("{agentid: " + strings.Repeat("1", 65) + ", secret_env: WECOM_SECRET}")}, errs: []string{"wecom[0].agents[0].agentid:", "is not a valid agentid"}},
		{name: "wecom agent twice", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}", "{agentid: '1', secret_env: WECOM_SECRET2}")}, errs: []string{`wecom[0].agents[1].agentid: "1" is already configured as wecom[0].agents[0]`}},
		{name: "wecom agents share a secret", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}", "{agentid: '2', secret_env: WECOM_SECRET}")}, errs: []string{"wecom[0].agents[1]: the same secret as wecom[0].agents[0]"}},
		{name: "wecom agent no secret", set: map[string]string{"wecom": wecomSection("{agentid: '1'}")}, errs: []string{"wecom[0].agents[0]: no secret: set one of secret_env, secret_file and secret"}},
		{name: "wecom agent two secrets", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET, secret_file: secret.txt}")}, errs: []string{"wecom[0].agents[0]: set only one of secret_env, secret_file and secret"}},
		{name: "wecom agent secret env unset", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: NOPE}")}, errs: []string{`wecom[0].agents[0].secret_env: environment variable "NOPE" is not set or empty`}},
		{name: "wecom agent secret file", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_file: secret.txt}")}},
		{name: "wecom agent secret file empty", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_file: empty.txt}")}, errs: []string{`wecom[0].agents[0].secret_file: "empty.txt" is empty`}},
		{name: "wecom agent inline secret warns", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret: inline-agent-secret}")}, warn: "wecom[0].agents[0].secret: an inline secret"},
		{name: "wecom ticket unknown", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET, tickets: [jsapi, wx_card]}")}, errs: []string{`wecom[0].agents[0].tickets[1]: unknown ticket type "wx_card" (want jsapi or agent_config)`}},
		{name: "wecom ticket twice", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET, tickets: [agent_config, agent_config]}")}, errs: []string{"wecom[0].agents[0].tickets[1]: agent_config is listed twice"}},
		{name: "wecom unknown agent key", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET, name: x}")}, errs: []string{"wecom[0].agents[0].name: unknown key"}},
		{name: "app ticket agent_config", set: map[string]string{"apps": "apps: [{appid: " + testAppID + ", secret_env: WX_SECRET, tickets: [agent_config]}]"}, errs: []string{`apps[0].tickets[0]: unknown ticket type "agent_config" (want jsapi or wx_card)`}},
		{name: "grant a corp", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}"), "clients": grantClients(testAppID, testCorpID)}},
		{name: "grant an agent", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}"), "clients": grantClients(testCorpID + "/1")}},
		{name: "grant an unknown agent", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}"), "clients": grantClients(testCorpID + "/2")}, errs: []string{`clients[0].apps[0]: "ww0123456789abcdef/2" is not a configured appid, WeCom corpid or corpid/agentid`}},
		{name: "grant an unknown corp", set: map[string]string{"wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}"), "clients": grantClients("ww00000000000000ff")}, errs: []string{`clients[0].apps[0]: "ww00000000000000ff" is not a configured appid, WeCom corpid or corpid/agentid`}},
		{name: "grant an agent of an app", set: map[string]string{"clients": grantClients(testAppID + "/1")}, errs: []string{`clients[0].apps[0]: "wx0123456789abcdef/1" is not a configured appid (or "*" for all)`}},
		{name: "wecom_base_url default", set: map[string]string{"upstream": "upstream: {wecom_base_url: 'http://127.0.0.1:9000/'}"}},
		{name: "wecom_base_url empty", set: map[string]string{"upstream": `upstream: {wecom_base_url: ""}`}, errs: []string{"upstream.wecom_base_url: required"}},
		{name: "wecom_base_url bad", set: map[string]string{"upstream": "upstream: {wecom_base_url: qyapi.weixin.qq.com}"}, errs: []string{"upstream.wecom_base_url:", "not an absolute http or https URL"}},

		{name: "no clients", set: map[string]string{"clients": ""}, errs: []string{"clients: at least one client is required"}},
		{name: "client name empty", set: map[string]string{"clients": "clients: [{key_sha256: " + testKeyHex + "}]"}, errs: []string{"clients[0].name: required"}},
		{name: "client name with space", set: map[string]string{"clients": "clients: [{name: 'my shop', key_sha256: " + testKeyHex + "}]"}, errs: []string{`clients[0].name: "my shop" is not a valid name`}},
		{name: "client name duplicate", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex + "}, {name: a, key_sha256: " + strings.Repeat("0", 64) + "}]"}, errs: []string{`clients[1].name: "a" is already used by clients[0]`}},
		{name: "key empty", set: map[string]string{"clients": "clients: [{name: a}]"}, errs: []string{"clients[0].key_sha256: required"}},
		{name: "key 63 hex", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex[:63] + "}]"}, errs: []string{"clients[0].key_sha256: must be 64 hex digits"}},
		{name: "key 65 hex", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex + "0}]"}, errs: []string{"clients[0].key_sha256: must be 64 hex digits"}},
		{name: "key not hex", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + strings.Repeat("g", 64) + "}]"}, errs: []string{"clients[0].key_sha256: must be 64 hex digits"}},
		{name: "key upper-case hex", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + strings.ToUpper(testKeyHex) + "}]"}},
		{name: "key duplicate across case", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex + "}, {name: b, key_sha256: " + strings.ToUpper(testKeyHex) + "}]"}, errs: []string{"clients[1].key_sha256: same key as clients[0]"}},
		{name: "client unknown app", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: [" + testAppID + ", wxother]}]"}, errs: []string{`clients[0].apps[1]: "wxother" is not a configured appid`}},
		{name: "grant a tag", set: map[string]string{"clients": grantClients(testAppID, "'tag:shops'", "'tag:eu-west.2_b'")}},
		{name: "grant an empty tag", set: map[string]string{"clients": grantClients("'tag:'")}, errs: []string{`clients[0].apps[0]: "tag:" is not a valid tag grant`}},
		{name: "grant a tag with a space", set: map[string]string{"clients": grantClients("'tag:my shops'")}, errs: []string{`clients[0].apps[0]: "tag:my shops" is not a valid tag grant`}},
		{name: "grant a tag too long", set: map[string]string{"clients": grantClients("'tag:" + strings.Repeat("t", 65) + "'")}, errs: []string{"is not a valid tag grant"}},
		{name: "client all apps", set: map[string]string{"clients": "clients: [{name: a, key_sha256: " + testKeyHex + ", apps: ['*'], admin: true}]"}},
		{name: "client no apps", set: map[string]string{"clients": "clients: [{name: metrics, key_sha256: " + testKeyHex + ", apps: []}]"}},

		{name: "log level unknown", set: map[string]string{"log": "log: {level: verbose}"}, errs: []string{`log.level: "verbose" is unknown`}},
		{name: "log format unknown", set: map[string]string{"log": "log: {format: xml}"}, errs: []string{`log.format: "xml" is unknown`}},
		{name: "log debug json", set: map[string]string{"log": "log: {level: debug, format: json}"}},

		{name: "compat enabled", set: map[string]string{"compat": "compat: {enabled: true}"}},

		{name: "quota poll off", set: map[string]string{"quota": "quota: {poll: false}"}},
		{name: "quota interval 1m", set: map[string]string{"quota": "quota: {poll: true, interval: 1m}"}},
		{name: "quota interval 24h", set: map[string]string{"quota": "quota: {interval: 24h}"}},
		{name: "quota interval too short", set: map[string]string{"quota": "quota: {interval: 30s}"}, errs: []string{"quota.interval: must be from 1m to 24h, got 30s"}},
		{name: "quota interval too long", set: map[string]string{"quota": "quota: {interval: 25h}"}, errs: []string{"quota.interval: must be from 1m to 24h"}},

		{name: "unknown top-level key", set: map[string]string{"zzz": "listne: 127.0.0.1:1"}, errs: []string{"listne: unknown key (line "}},
		{name: "unknown nested key", set: map[string]string{"store": "store:\n  redis:\n    adress: a:1\n"}, errs: []string{"store.redis.adress: unknown key (line 10)"}},
		{name: "unknown key in list item", set: map[string]string{"apps": "apps:\n  - appid: " + testAppID + "\n    secret_env: WX_SECRET\n    secrets: x\n"}, errs: []string{"apps[0].secrets: unknown key (line 4)"}},
		{name: "password cannot be inline", set: map[string]string{"store": "store: {redis: {password: x}}"}, errs: []string{"store.redis.password: unknown key"}},
		{name: "wrong type names key", set: map[string]string{"store": "store:\n  redis:\n    db: abc\n"}, errs: []string{"store.redis.db: cannot unmarshal !!str `abc` into int (line 10)"}},
		{name: "duplicate key", set: map[string]string{"log": "log:\n  level: info\n  level: debug\n"}, errs: []string{"already"}},
		{name: "second document", set: map[string]string{"zzz": "---\nlisten: a:1"}, errs: []string{"the file must hold a single YAML document"}},
		{name: "merge keys", set: map[string]string{"apps": "apps:\n  - &app {appid: " + testAppID + ", secret_env: WX_SECRET}\n  - <<: *app\n    appid: wx0123456789abcdee\n"}},
		{name: "unknown key beside merge", set: map[string]string{"apps": "apps:\n  - &app {appid: " + testAppID + ", secret_env: WX_SECRET}\n  - <<: *app\n    appid: wx0123456789abcdee\n    bogus: 1\n"}, errs: []string{"apps[1].bogus: unknown key (line 5)"}},
		{name: "unknown key inside merged map", set: map[string]string{"apps": "apps:\n  - &app {appid: " + testAppID + ", secret_env: WX_SECRET, bogus: 1}\n  - <<: *app\n    appid: wx0123456789abcdee\n"}, errs: []string{"apps[0].bogus: unknown key (line 2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testDir(t)
			cfg, err := Parse([]byte(build(tt.set)), dir, defaultEnv())
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v\nconfig:\n%s", err, build(tt.set))
				}
			} else {
				if err == nil {
					t.Fatalf("Parse succeeded, want an error with %q\nconfig:\n%s", tt.errs, build(tt.set))
				}
				for _, want := range tt.errs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error\n%v\nlacks %q", err, want)
					}
				}
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %v holds no *FieldError", err)
				}
				return
			}
			if tt.warn != "" && !strings.Contains(strings.Join(cfg.Warnings, "\n"), tt.warn) {
				t.Errorf("warnings %q lack %q", cfg.Warnings, tt.warn)
			}
			if tt.warn == "" && len(cfg.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", cfg.Warnings)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	yml := build(map[string]string{
		"listen":  "listen: nowhere",
		"log":     "log: {level: loud}",
		"refresh": "refresh: {early: 2}",
		"store":   "store: {drivr: bolt}",
	})
	_, err := Parse([]byte(yml), t.TempDir(), defaultEnv())
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	var multi interface{ Unwrap() []error }
	if !errors.As(err, &multi) {
		t.Fatalf("error %T does not join its problems", err)
	}
	keys := map[string]bool{}
	for _, e := range multi.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %v is not a *FieldError", e)
		}
		keys[fe.Key] = true
	}
	for _, k := range []string{"listen", "log.level", "refresh.early", "store.drivr"} {
		if !keys[k] {
			t.Errorf("no problem reported for %s in\n%v", k, err)
		}
	}
	if n := len(multi.Unwrap()); n != 4 {
		t.Errorf("got %d problems, want 4:\n%v", n, err)
	}
}

func TestBadYAMLNamesLine(t *testing.T) {
	yml := "listen: 127.0.0.1:8080\nstore:\n  driver: [bolt\n"
	_, err := Parse([]byte(yml), t.TempDir(), defaultEnv())
	if err == nil || !strings.Contains(err.Error(), "line ") {
		t.Fatalf("Parse error = %v, want one naming a line", err)
	}
}

func TestEmptyFile(t *testing.T) {
	_, err := Parse(nil, t.TempDir(), defaultEnv())
	if err == nil {
		t.Fatal("Parse of an empty file succeeded")
	}
	for _, want := range []string{"apps: at least one app is required", "clients: at least one client is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
