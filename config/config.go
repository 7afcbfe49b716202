// Package config reads and validates the wxtoken configuration file.
//
// Parse decodes the YAML, fills in defaults, resolves every AppSecret from
// the environment, a file or the config itself, resolves relative paths
// against the config file's folder, and checks every rule at once: an
// invalid config yields one error per problem, each naming the key it is
// about. Secrets are held in the Secret type, which never prints its value,
// so a config can be logged or dumped with %+v without leaking one.
package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/seal"
)

// Config is a parsed, validated and resolved wxtoken configuration.
type Config struct {
	// Listen is the host:port of the HTTP API.
	Listen string `yaml:"listen"`
	// TLS, when both files are set, makes the HTTP API serve HTTPS.
	TLS      TLS      `yaml:"tls"`
	Store    Store    `yaml:"store"`
	Upstream Upstream `yaml:"upstream"`
	Refresh  Refresh  `yaml:"refresh"`
	Apps     []App    `yaml:"apps"`
	// WeCom are the WeCom (企业微信) corps whose agents' credentials
	// wxtoken keeps.
	WeCom []WeCom `yaml:"wecom"`
	// Platforms are the open platform's third-party platforms (第三方平台)
	// whose credentials, and those of the accounts that authorized them,
	// wxtoken keeps.
	Platforms []Platform `yaml:"platforms"`
	Compat    Compat     `yaml:"compat"`
	// Quota is how WeChat's own count of the apps' token calls is asked.
	Quota   Quota    `yaml:"quota"`
	Clients []Client `yaml:"clients"`
	Log     Log      `yaml:"log"`
	Metrics Metrics  `yaml:"metrics"`

	// Warnings are things that work but that an operator should change,
	// such as an inline secret. Parse fills it; it is not read from YAML.
	Warnings []string `yaml:"-"`
}

// TLS names the certificate and key of the HTTP API. Both or neither must
// be set; relative paths are resolved against the config file's folder.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether the HTTP API serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// Driver names a credential store implementation.
type Driver string

// The store drivers.
const (
	// DriverBolt is an embedded file owned by one process (the default).
	DriverBolt Driver = "bolt"
	// DriverMemory keeps credentials in memory only: every restart fetches
	// them again from WeChat.
	DriverMemory Driver = "memory"
	// DriverRedis shares credentials between several replicas.
	DriverRedis Driver = "redis"
)

// Store selects and configures where credentials are persisted.
type Store struct {
	Driver Driver `yaml:"driver"`
	// Path is the bolt file, resolved against the config file's folder.
	Path  string `yaml:"path"`
	Redis Redis  `yaml:"redis"`

	// EncryptionKeyEnv names the environment variable, and
	// EncryptionKeyFile the file (resolved against the config file's
	// folder, readable by its owner and at most its group), that holds
	// the key sealing the secrets kept in the store: 32 random bytes in
	// standard base64 with padding, 44 characters. Set at most one; a
	// config with platforms needs one.
	EncryptionKeyEnv  string `yaml:"encryption_key_env"`
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// PreviousEncryptionKeyEnv and PreviousEncryptionKeyFile hold the key
	// used before a rotation, which still opens what it sealed until
	// `wxtoken rekey` has sealed everything again under the current key.
	PreviousEncryptionKeyEnv  string `yaml:"previous_encryption_key_env"`
	PreviousEncryptionKeyFile string `yaml:"previous_encryption_key_file"`
	// EncryptionKey and PreviousEncryptionKey are the keys loaded from
	// the keys above; the zero Key when not set. A seal.Key prints as its
	// id only. Sealer builds the store's sealer from them.
	EncryptionKey         seal.Key `yaml:"-" json:"-"`
	PreviousEncryptionKey seal.Key `yaml:"-" json:"-"`
}

// Redis configures the redis store. Exactly one of Addr (a single server)
// and Addrs (Sentinel or Cluster) is set when the driver is redis.
type Redis struct {
	Addr  string   `yaml:"addr"`
	Addrs []string `yaml:"addrs"`
	// MasterName selects Sentinel mode with Addrs as the sentinels.
	MasterName string `yaml:"master_name"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// Password is resolved from PasswordEnv; it cannot be set in YAML so
	// that the file never holds it.
	Password Secret `yaml:"-"`
	DB       int    `yaml:"db"`
	// Prefix starts every key wxtoken writes, so that one Redis database
	// can be shared with other programs or other wxtoken clusters.
	Prefix string `yaml:"prefix"`
	// LeaseTTL is how long a replica's refresh lease lasts unless renewed;
	// it bounds how long a crashed leader delays a refresh.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// SyncInterval is how often a replica asks Redis for changes that
	// pub/sub may have missed.
	SyncInterval Duration `yaml:"sync_interval"`
	// Replica names this replica in leases, status and metrics; empty
	// means the host name, the process id and a random suffix.
	Replica string `yaml:"replica"`
}

// Upstream configures the calls to WeChat.
type Upstream struct {
	// BaseURL is the WeChat API origin, without a trailing slash.
	BaseURL string `yaml:"base_url"`
	// FallbackBaseURLs are tried, in order, when BaseURL fails with a
	// transient error.
	FallbackBaseURLs []string `yaml:"fallback_base_urls"`
	// Timeout bounds one upstream HTTP call.
	Timeout Duration `yaml:"timeout"`
	// Overlap is WeChat's window in which a replaced credential still
	// works.
	Overlap Duration `yaml:"overlap"`
	// WeComBaseURL is the WeCom API origin, without a trailing slash.
	// WeCom has no fallback hosts.
	WeComBaseURL string `yaml:"wecom_base_url"`
}

// Refresh tunes the refresh schedule.
type Refresh struct {
	// Margin is subtracted from every expires_in handed out, to cover
	// clock skew and the time a caller takes to use the credential.
	Margin Duration `yaml:"margin"`
	// MaxRate caps upstream refresh starts per second across all apps, so
	// a cold start with many apps is spread out.
	MaxRate float64 `yaml:"max_rate"`
	// PassiveInterval is the least time between two upstream refreshes of
	// one app credential caused by callers reporting it stale.
	PassiveInterval Duration `yaml:"passive_interval"`
	// Early is the classic-mode refresh point as a fraction of a
	// credential's lifetime.
	Early float64 `yaml:"early"`
	// Jitter is the random spread of refresh times, as a fraction of the
	// lifetime, so that apps and replicas do not refresh in lockstep.
	Jitter float64 `yaml:"jitter"`
}

// Quota tunes the asking of /cgi-bin/openapi/quota/get, WeChat's count of
// each app's token endpoint calls today, shown in status and metrics.
type Quota struct {
	// Poll asks it for every app, once soon after the start and then once
	// an Interval; false never asks.
	Poll bool `yaml:"poll"`
	// Interval is how often each app's quota is asked: at least a minute,
	// at most a day.
	Interval Duration `yaml:"interval"`
}

// App is one Official Account or Mini Program whose credentials wxtoken
// keeps.
type App struct {
	AppID string `yaml:"appid"`
	// Name is an optional label for logs and status.
	Name string `yaml:"name"`
	// SecretEnv names the environment variable holding the AppSecret.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the AppSecret, resolved against the
	// config file's folder.
	SecretFile string `yaml:"secret_file"`
	// Secret is the resolved AppSecret, whichever of secret_env,
	// secret_file or the inline `secret` key it came from.
	Secret   Secret           `yaml:"secret"`
	TokenAPI wxtoken.TokenAPI `yaml:"token_api"`
	// Tickets are the ticket kinds kept for the app besides its
	// access_token.
	Tickets []wxtoken.Kind `yaml:"tickets"`
}

// Compat configures the WeChat-compatible front door: WeChat's own API
// paths, served on the HTTP API's listener so that unchanged SDKs can use
// wxtoken as their API host.
type Compat struct {
	Enabled bool `yaml:"enabled"`
	// BasePath, when set, puts the front door under this path (such as
	// /wechat, so that an SDK's base URL is http://host:port/wechat) and
	// hands it every path below it. Empty, the default, serves WeChat's
	// paths at the root, exactly where an SDK's API host setting expects
	// them. It starts with "/" and has no trailing "/".
	BasePath string `yaml:"base_path"`
}

// AllApps is the client grant that covers every configured app, WeCom
// agent, platform and authorizer.
const AllApps = clientkey.All

// Client is a caller of the HTTP API, known by the SHA-256 of its key.
type Client struct {
	Name string `yaml:"name"`
	// KeySHA256 is the lower-case hex SHA-256 of the client's bearer key.
	KeySHA256 string `yaml:"key_sha256"`
	// Apps are what the key may read: appids, WeCom corpids (every agent
	// of the corp), WeCom agents as "corpid/agentid", component_appids
	// (the platform and every account that authorized it), authorizers
	// as "component_appid:authorizer_appid", or AllApps. An empty list
	// grants nothing, which suits a key used only to scrape /metrics.
	Apps []string `yaml:"apps"`
	// Admin keys may list the status of every app.
	Admin bool `yaml:"admin"`
}

// Key returns the client as the key ring takes it.
func (c Client) Key() clientkey.Client {
	return clientkey.Client{Name: c.Name, KeySHA256: c.KeySHA256, Apps: c.Apps, Admin: c.Admin}
}

// Keys returns the clients as the key ring takes them.
func Keys(clients []Client) []clientkey.Client {
	out := make([]clientkey.Client, len(clients))
	for i, c := range clients {
		out[i] = c.Key()
	}
	return out
}

// Allows reports whether the client was granted id: an appid or a
// component_appid, a WeCom agent's wxtoken.WeComID (granted by name or by
// its corpid), or an authorizer's wxtoken.AuthorizerID (granted by name or
// by its component_appid).
func (c Client) Allows(id string) bool {
	k := c.Key()
	return k.Allows(id)
}

// Metrics configures what /metrics reports.
type Metrics struct {
	// PerApp adds series per app and per credential: the appid label on
	// the upstream call and refresh counters, and each credential's
	// remaining lifetime, state and last error and each app's calls today
	// and block. Their number grows with the number of apps (about 18 per
	// app with a token and a ticket), so it is off by default and
	// /metrics reports aggregates by family, kind and state instead.
	PerApp bool `yaml:"per_app"`
}

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level; unknown levels, which Parse
// rejects, count as info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Default returns a config with every default filled in and no apps or
// clients; Parse decodes the file over it.
func Default() *Config {
	return &Config{
		Listen: "127.0.0.1:8080",
		Store: Store{
			Driver: DriverBolt,
			Path:   "wxtoken.db",
			Redis: Redis{
				Prefix:       "wxtoken:",
				LeaseTTL:     Duration(5 * time.Second),
				SyncInterval: Duration(time.Second),
			},
		},
		Upstream: Upstream{
			BaseURL:          "https://api.weixin.qq.com",
			FallbackBaseURLs: []string{"https://api2.weixin.qq.com"},
			Timeout:          Duration(10 * time.Second),
			Overlap:          Duration(5 * time.Minute),
			WeComBaseURL:     DefaultWeComBaseURL,
		},
		Refresh: Refresh{
			Margin:          Duration(60 * time.Second),
			MaxRate:         20,
			PassiveInterval: Duration(10 * time.Second),
			Early:           0.66,
			Jitter:          0.1,
		},
		// Off unless asked for: it is a call per app per interval, which
		// thousands of apps make into a steady load on WeChat and on an
		// otherwise idle server.
		Quota: Quota{Poll: false, Interval: Duration(time.Hour)},
		Log:   Log{Level: "info", Format: "text"},
	}
}

// DefaultWeComBaseURL is upstream.wecom_base_url when the file does not set
// it.
const DefaultWeComBaseURL = "https://qyapi.weixin.qq.com"

// redacted is what a Secret prints instead of its value.
const redacted = "[redacted]"

// Secret is a credential read from the config. Every way of printing it
// (fmt verbs, JSON, YAML, text, slog) shows "[redacted]"; Reveal is the
// one way to get the value, so each use of it is deliberate and easy to
// find in review.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (s Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb: without it, verbs such as %d
// would print the raw string inside fmt's bad-verb notice.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns "[redacted]" as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText returns "[redacted]"; YAML and other text encoders use it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue keeps the value out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Duration is a time.Duration written in the config in Go syntax ("10s",
// "5m", "7200s"), so tests can compress WeChat's lifetimes into seconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d in Go syntax, so a dumped config parses again.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a Go duration string. A bare number is refused
// rather than guessed at: "10" could mean seconds or nanoseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError lets the decoder carry on and report every bad
	// value together instead of stopping at the first.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d, column %d: want a duration such as 10s or 5m", n.Line, n.Column)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d, column %d: %s is not a duration: want a number with a unit, such as 10s, 5m or 7200s", n.Line, n.Column, show(n.Value))}}
	}
	*d = Duration(v)
	return nil
}
