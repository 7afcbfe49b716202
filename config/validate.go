package config

import (
	"time"

	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// Shapes of values. They are compiled once and never reassigned.
var (
	// appIDRe is what wxtoken accepts as an appid: loose enough for the
	// simulator's short test ids, strict enough to be safe in URLs, logs,
	// metric labels and store keys.
	appIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// wechatAppIDRe is the shape of a real WeChat appid; anything else
	// draws a warning, since it is most likely a typo.
	wechatAppIDRe = regexp.MustCompile(`^wx[0-9a-f]{16}$`)
	// secretShapeRe is the shape of a WeChat AppSecret. A value of that
	// shape is never echoed in a message, in case it is a secret pasted
	// into the wrong key.
	secretShapeRe = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	// keyShapeRe is the shape of an EncodingAESKey (43 characters of
	// base64) and of a store encryption key (44, the last one "="); such
	// values are not echoed either.
	keyShapeRe   = regexp.MustCompile(`^[A-Za-z0-9+/]{43}=?$`)
	clientNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	keySHA256Re  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// minScrubLen is the shortest resolved secret that is scrubbed from
// messages. Shorter ones are test values ("s3cret" in a simulator run);
// replacing them everywhere would garble messages without protecting a
// real AppSecret, which has 32 characters.
const minScrubLen = 8

// checker resolves and validates a decoded config, collecting every
// problem rather than stopping at the first.
type checker struct {
	baseDir  string
	env      func(string) (string, bool)
	problems []*FieldError
	warnings []string
	// secrets are the resolved secret values, scrubbed from every message
	// as a last line of defence.
	secrets []string
	// scrubber replaces every secret at once, made for the secrets there
	// were when it was made (scrubbed).
	scrubber *strings.Replacer
	scrubbed int
	// files are the secret files read ahead (prefetch), by resolved path.
	files map[string]fileRead
}

func (ch *checker) errorf(key, format string, args ...any) {
	ch.problems = append(ch.problems, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// fileFailed reports that the file a key names (raw, as written) cannot
// be used. The operating system's message is cut to its reason, because it
// would repeat the path, and show decides whether the path may be shown.
func (ch *checker) fileFailed(key, raw string, err error) {
	reason := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err
	}
	ch.problems = append(ch.problems, &FieldError{Key: key, Problem: fmt.Sprintf("cannot use %s: %v", show(raw), reason), Err: err})
}

func (ch *checker) warnf(key, format string, args ...any) {
	ch.warnings = append(ch.warnings, key+": "+fmt.Sprintf(format, args...))
}

// scrub replaces every secret in s. One replacer finds them all in a
// single pass, so that scrubbing a message per app costs time in
// proportion to the apps, not to their square.
func (ch *checker) scrub(s string) string {
	if ch.scrubber == nil || ch.scrubbed != len(ch.secrets) {
		long := make([]string, 0, len(ch.secrets))
		for _, v := range ch.secrets {
			if len(v) >= minScrubLen {
				long = append(long, v)
			}
		}
		// Longest first: the replacer tries its old strings in order, and
		// a secret that holds another must be replaced whole.
		slices.SortFunc(long, func(a, b string) int { return len(b) - len(a) })
		pairs := make([]string, 0, 2*len(long))
		for _, v := range long {
			pairs = append(pairs, v, redacted)
		}
		ch.scrubber, ch.scrubbed = strings.NewReplacer(pairs...), len(ch.secrets)
	}
	return ch.scrubber.Replace(s)
}

func (ch *checker) scrubAll(problems []*FieldError) []error {
	out := make([]error, len(problems))
	for i, fe := range problems {
		out[i] = &FieldError{Key: fe.Key, Problem: ch.scrub(fe.Problem), Err: fe.Err}
	}
	return out
}

func (ch *checker) scrubWarnings() []string {
	out := make([]string, len(ch.warnings))
	for i, w := range ch.warnings {
		out[i] = ch.scrub(w)
	}
	return out
}

// path resolves p against the config file's folder.
func (ch *checker) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(ch.baseDir, p)
}

// show quotes a config value for a message. Overlong values are cut, and
// a value shaped like an AppSecret is not shown at all.
func show(s string) string {
	if secretShapeRe.MatchString(s) {
		return "(a value shaped like an AppSecret, not shown)"
	}
	if keyShapeRe.MatchString(s) {
		return "(a value shaped like a key, not shown)"
	}
	if len(s) > 80 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

func (ch *checker) check(c *Config) {
	ch.prefetch(c)
	ch.listen(c)
	ch.tls(c)
	ch.store(c)
	ch.upstream(c)
	ch.refresh(c)
	ch.quota(c)
	ch.apps(c)
	ch.wecom(c)
	ch.platforms(c)
	ch.compat(c)
	ch.clients(c)
	ch.log(c)
}

func (ch *checker) listen(c *Config) {
	if c.Listen == "" {
		ch.errorf("listen", "required (host:port, such as 127.0.0.1:8080)")
		return
	}
	if err := checkHostPort(c.Listen); err != nil {
		ch.errorf("listen", "%s is not a host:port address: %v", show(c.Listen), err)
	}
}

// checkHostPort accepts what net.Listen and Redis clients accept: an
// optional host and a numeric port (0 picks a free one).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %s is not a number from 0 to 65535", show(port))
	}
	return nil
}

func (ch *checker) tls(c *Config) {
	t := &c.TLS
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return
	case t.CertFile == "":
		ch.errorf("tls.cert_file", "required when tls.key_file is set")
	case t.KeyFile == "":
		ch.errorf("tls.key_file", "required when tls.cert_file is set")
	}
	t.CertFile = ch.regularFile("tls.cert_file", t.CertFile)
	t.KeyFile = ch.regularFile("tls.key_file", t.KeyFile)
}

// regularFile checks that raw names an existing regular file and returns
// its resolved path.
func (ch *checker) regularFile(key, raw string) string {
	if raw == "" {
		return ""
	}
	p := ch.path(raw)
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		ch.fileFailed(key, raw, err)
	case !fi.Mode().IsRegular():
		ch.errorf(key, "%s is not a regular file", show(raw))
	}
	return p
}

func (ch *checker) store(c *Config) {
	s := &c.Store
	switch s.Driver {
	case DriverBolt:
		if s.Path == "" {
			ch.errorf("store.path", "required for the bolt driver")
		}
		s.Path = ch.path(s.Path)
	case DriverMemory:
		ch.warnf("store.driver", "memory keeps nothing across restarts: every restart fetches new credentials from WeChat and spends quota")
	case DriverRedis:
		ch.redis(&s.Redis)
	default:
		ch.errorf("store.driver", "%s is unknown (want bolt, memory or redis)", show(string(s.Driver)))
	}
	if s.Driver != DriverRedis && (s.Redis.Addr != "" || len(s.Redis.Addrs) > 0) {
		ch.warnf("store.redis", "ignored unless store.driver is redis")
	}
	ch.storeKeys(s)
}

func (ch *checker) redis(r *Redis) {
	switch {
	case r.Addr == "" && len(r.Addrs) == 0:
		ch.errorf("store.redis", "set addr, or addrs for Sentinel or Cluster")
	case r.Addr != "" && len(r.Addrs) > 0:
		ch.errorf("store.redis", "set addr or addrs, not both")
	}
	if r.Addr != "" {
		if err := checkHostPort(r.Addr); err != nil {
			ch.errorf("store.redis.addr", "%s is not a host:port address: %v", show(r.Addr), err)
		}
	}
	for i, a := range r.Addrs {
		if err := checkHostPort(a); err != nil {
			ch.errorf(fmt.Sprintf("store.redis.addrs[%d]", i), "%s is not a host:port address: %v", show(a), err)
		}
	}
	if r.MasterName != "" && len(r.Addrs) == 0 {
		ch.errorf("store.redis.master_name", "needs addrs: the Sentinel addresses")
	}
	if r.PasswordEnv != "" {
		if v, ok := ch.fromEnv("store.redis.password_env", r.PasswordEnv); ok {
			r.Password = Secret(v)
		}
	}
	if r.DB < 0 {
		ch.errorf("store.redis.db", "must not be negative")
	}
	if r.Prefix == "" {
		ch.errorf("store.redis.prefix", "must not be empty: it keeps wxtoken's keys apart from others in the database")
	}
	ch.positive("store.redis.lease_ttl", r.LeaseTTL)
	ch.positive("store.redis.sync_interval", r.SyncInterval)
	if strings.ContainsAny(r.Replica, "| \t\r\n") {
		ch.errorf("store.redis.replica", "%s must not contain '|' or white space", show(r.Replica))
	}
}

// fromEnv resolves a secret from the environment variable name.
func (ch *checker) fromEnv(key, name string) (string, bool) {
	if secretShapeRe.MatchString(name) {
		ch.errorf(key, "holds a value shaped like an AppSecret: give the name of the environment variable that holds the secret instead")
		return "", false
	}
	if !envNameRe.MatchString(name) {
		ch.errorf(key, "%s is not an environment variable name", show(name))
		return "", false
	}
	v, ok := ch.env(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		ch.errorf(key, "environment variable %s is not set or empty", show(name))
		return "", false
	}
	ch.secrets = append(ch.secrets, v)
	return v, true
}

func (ch *checker) positive(key string, d Duration) {
	if d <= 0 {
		ch.errorf(key, "must be a positive duration, got %s", d)
	}
}

func (ch *checker) upstream(c *Config) {
	u := &c.Upstream
	if v, ok := ch.baseURL("upstream.base_url", u.BaseURL); ok {
		u.BaseURL = v
	}
	for i, f := range u.FallbackBaseURLs {
		if v, ok := ch.baseURL(fmt.Sprintf("upstream.fallback_base_urls[%d]", i), f); ok {
			u.FallbackBaseURLs[i] = v
		}
	}
	if v, ok := ch.baseURL("upstream.wecom_base_url", u.WeComBaseURL); ok {
		u.WeComBaseURL = v
	}
	ch.positive("upstream.timeout", u.Timeout)
	ch.positive("upstream.overlap", u.Overlap)
}

// baseURL checks an upstream origin and returns it without a trailing
// slash, so that callers can append "/cgi-bin/..." to it.
func (ch *checker) baseURL(key, raw string) (string, bool) {
	if raw == "" {
		ch.errorf(key, "required (such as https://api.weixin.qq.com)")
		return "", false
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		ch.errorf(key, "%s is not a URL", show(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		ch.errorf(key, "%s is not an absolute http or https URL", show(raw))
	case u.Host == "" || u.Hostname() == "":
		ch.errorf(key, "%s has no host", show(raw))
	case u.User != nil:
		ch.errorf(key, "must not hold user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		ch.errorf(key, "%s must not have a query or fragment", show(raw))
	default:
		return strings.TrimRight(raw, "/"), true
	}
	return "", false
}

func (ch *checker) refresh(c *Config) {
	r := c.Refresh
	ch.positive("refresh.margin", r.Margin)
	if r.Margin > 0 && c.Upstream.Overlap > 0 && r.Margin >= c.Upstream.Overlap {
		ch.errorf("refresh.margin", "must be shorter than upstream.overlap (%s), got %s", c.Upstream.Overlap, r.Margin)
	}
	if !(r.MaxRate > 0) || math.IsInf(r.MaxRate, 0) {
		ch.errorf("refresh.max_rate", "must be a positive number of refreshes per second, got %v", r.MaxRate)
	}
	ch.positive("refresh.passive_interval", r.PassiveInterval)
	// The negated comparisons also catch NaN, which YAML can spell .nan.
	earlyOK := r.Early > 0.3 && r.Early < 0.95
	if !earlyOK {
		ch.errorf("refresh.early", "must be above 0.3 and below 0.95, got %v", r.Early)
	}
	jitterOK := r.Jitter >= 0 && r.Jitter <= 0.3
	if !jitterOK {
		ch.errorf("refresh.jitter", "must be from 0 to 0.3, got %v", r.Jitter)
	}
	if earlyOK && jitterOK && !(r.Early+r.Jitter < 1) {
		ch.errorf("refresh.jitter", "early + jitter must stay below 1 so that a jittered refresh still comes before expiry, got %v + %v", r.Early, r.Jitter)
	}
}

func (ch *checker) quota(c *Config) {
	if d := c.Quota.Interval.Std(); d < time.Minute || d > 24*time.Hour {
		ch.errorf("quota.interval", "must be from 1m to 24h, got %s", c.Quota.Interval)
	}
}

func (ch *checker) apps(c *Config) {
	if len(c.Apps) == 0 && len(c.WeCom) == 0 && len(c.Platforms) == 0 {
		// A server may keep only what is registered through the admin
		// API: that takes a key to seal the registered secrets and a
		// client allowed to register.
		if c.Store.Encrypted() && slices.ContainsFunc(c.Clients, func(cl Client) bool { return cl.Admin }) {
			ch.warnf("apps", "no app, WeCom agent or platform in the file: the server keeps only the entries registered through the admin API (POST /v1/apps, /v1/wecom)")
		} else {
			ch.errorf("apps", "at least one app is required (or a WeCom agent under wecom, or a third-party platform under platforms); a server that keeps only entries registered through the admin API needs store.encryption_key_env or store.encryption_key_file and a client with admin: true")
		}
	}
	seen := map[string]int{}
	for i := range c.Apps {
		a := &c.Apps[i]
		key := fmt.Sprintf("apps[%d]", i)
		switch {
		case a.AppID == "":
			ch.errorf(key+".appid", "required")
		case !appIDRe.MatchString(a.AppID):
			ch.errorf(key+".appid", `%s is not a valid appid (want 1 to 64 letters, digits, "_" or "-"; WeChat's are "wx" and 16 hex digits)`, show(a.AppID))
		default:
			if j, dup := seen[a.AppID]; dup {
				ch.errorf(key+".appid", "%s is already configured as apps[%d]", show(a.AppID), j)
			} else {
				seen[a.AppID] = i
			}
			if !wechatAppIDRe.MatchString(a.AppID) {
				ch.warnf(key+".appid", `%s does not look like a WeChat appid ("wx" and 16 lower-case hex digits); fine for the simulator`, show(a.AppID))
			}
		}
		if utf8.RuneCountInString(a.Name) > 64 {
			ch.errorf(key+".name", "longer than 64 characters")
		}
		ch.secret(key, a.SecretEnv, &a.SecretFile, &a.Secret)
		switch a.TokenAPI {
		case "":
			a.TokenAPI = wxtoken.TokenAPIStable
		case wxtoken.TokenAPIStable, wxtoken.TokenAPIClassic:
		default:
			ch.errorf(key+".token_api", "%s is unknown (want stable or classic)", show(string(a.TokenAPI)))
		}
		kinds := map[wxtoken.Kind]bool{}
		for j, t := range a.Tickets {
			tkey := fmt.Sprintf("%s.tickets[%d]", key, j)
			if _, err := wxtoken.ParseTicketKind(string(t)); err != nil {
				ch.errorf(tkey, "unknown ticket type %s (want jsapi or wx_card)", show(string(t)))
				continue
			}
			if kinds[t] {
				ch.errorf(tkey, "%s is listed twice", t)
			}
			kinds[t] = true
		}
	}
}

// secret resolves the secret of an app or agent (at key) from exactly one
// of its keys secret_env (env), secret_file (file, resolved in place) and
// secret (secret, where the resolved value goes).
func (ch *checker) secret(key string, env string, file *string, secret *Secret) {
	ch.resolve(key, secretSource, env, file, secret)
}

// source names the three keys one secret value of an entry can come from
// (name_env, name_file and name itself) and what the value is called in
// messages.
type source struct {
	name string
	noun string
}

// The secret values of config entries.
var (
	secretSource = source{name: "secret", noun: "secret"}
	// tokenSource is a platform's message check Token.
	tokenSource = source{name: "token", noun: "token"}
	// aesKeySource is a platform's EncodingAESKey.
	aesKeySource = source{name: "encoding_aes_key", noun: "EncodingAESKey"}
)

// resolve sets *val from exactly one of the keys of src under key: env (the
// name_env key), *file (name_file, resolved in place) or *val itself (the
// inline key). It returns the key path the value came from, for messages
// about the value, or "" when there is none.
func (ch *checker) resolve(key string, src source, env string, file *string, val *Secret) (from string) {
	inline := strings.TrimSpace(string(*val))
	n := 0
	for _, set := range []bool{env != "", *file != "", inline != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		ch.errorf(key, "no %s: set one of %s_env, %s_file and %s", src.noun, src.name, src.name, src.name)
		return ""
	case n > 1:
		ch.errorf(key, "set only one of %s_env, %s_file and %s", src.name, src.name, src.name)
		// Remember the inline one anyway, so messages still scrub it.
		if inline != "" {
			ch.secrets = append(ch.secrets, inline)
		}
		*val = ""
		return ""
	}
	switch {
	case env != "":
		from = key + "." + src.name + "_env"
		v, ok := ch.fromEnv(from, env)
		if !ok {
			return ""
		}
		*val = Secret(v)
	case *file != "":
		from = key + "." + src.name + "_file"
		raw := *file
		*file = ch.path(raw)
		data, err := ch.readFile(*file)
		if err != nil {
			ch.fileFailed(from, raw, err)
			return ""
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			ch.errorf(from, "%s is empty", show(raw))
			return ""
		}
		ch.secrets = append(ch.secrets, v)
		*val = Secret(v)
	default:
		from = key + "." + src.name
		ch.secrets = append(ch.secrets, inline)
		*val = Secret(inline)
		ch.warnf(from, "an inline %s ends up in backups and version control; prefer %s_env or %s_file", src.noun, src.name, src.name)
	}
	return from
}

func (ch *checker) clients(c *Config) {
	if len(c.Clients) == 0 {
		ch.errorf("clients", "at least one client is required: every route but /healthz and /readyz needs a key (wxtoken keygen makes one)")
	}
	names := map[string]int{}
	keys := map[string]int{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := fmt.Sprintf("clients[%d]", i)
		switch {
		case cl.Name == "":
			ch.errorf(key+".name", "required")
		case !clientNameRe.MatchString(cl.Name):
			ch.errorf(key+".name", `%s is not a valid name (want 1 to 64 letters, digits, ".", "_" or "-")`, show(cl.Name))
		default:
			if j, dup := names[cl.Name]; dup {
				ch.errorf(key+".name", "%s is already used by clients[%d]", show(cl.Name), j)
			} else {
				names[cl.Name] = i
			}
		}
		// The value is never echoed: a key pasted here instead of its
		// hash must not end up in logs.
		cl.KeySHA256 = strings.ToLower(cl.KeySHA256)
		switch {
		case cl.KeySHA256 == "":
			ch.errorf(key+".key_sha256", "required (wxtoken keygen prints a key and its key_sha256)")
		case !keySHA256Re.MatchString(cl.KeySHA256):
			ch.errorf(key+".key_sha256", "must be 64 hex digits: the SHA-256 of the client key, not the key itself (wxtoken keygen prints it)")
		default:
			if j, dup := keys[cl.KeySHA256]; dup {
				ch.errorf(key+".key_sha256", "same key as clients[%d]", j)
			} else {
				keys[cl.KeySHA256] = i
			}
			if isSampleKeyHash(cl.KeySHA256) {
				ch.warnf(key+".key_sha256", "client %s still has the sample config's placeholder: no key matches it; put the key_sha256 line of `wxtoken keygen` here", show(cl.Name))
			}
		}
		for j, a := range cl.Apps {
			if a == AllApps || slices.ContainsFunc(c.Apps, func(x App) bool { return x.AppID == a }) {
				continue
			}
			if ch.wecomGrant(c, a) || ch.platformGrant(c, a) {
				continue
			}
			if tag, ok := strings.CutPrefix(a, clientkey.TagPrefix); ok {
				// Tags are given to entries registered while the server
				// runs: any well-formed one is accepted.
				if !ValidTag(tag) {
					ch.errorf(fmt.Sprintf("%s.apps[%d]", key, j), `%s is not a valid tag grant (want "tag:" and 1 to 64 letters, digits, ".", "_" or "-")`, show(a))
				}
				continue
			}
			what := "a configured appid"
			if len(c.WeCom) > 0 {
				what += ", WeCom corpid or corpid/agentid"
			}
			if len(c.Platforms) > 0 {
				what += ", component_appid or component_appid:authorizer_appid"
			}
			ch.errorf(fmt.Sprintf("%s.apps[%d]", key, j), `%s is not %s (or "*" for all)`, show(a), what)
		}
	}
}

func (ch *checker) log(c *Config) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ch.errorf("log.level", "%s is unknown (want debug, info, warn or error)", show(c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ch.errorf("log.format", "%s is unknown (want text or json)", show(c.Log.Format))
	}
}

// isSampleKeyHash reports whether h is one of the key_sha256 placeholders of
// etc/wxtoken.yaml. Nobody holds a key that matches them, so a config that
// still has one was copied and not finished: its client cannot log in.
func isSampleKeyHash(h string) bool {
	switch h {
	case "c331b9f8aff2fc4602b6eac1ca2b1f6187f3975fa613aae5f656ee4d5d379355",
		"0a702302e95b5ce50e82b3585dcb299aab4b3c949f1af62600986420792f0425":
		return true
	}
	return false
}
