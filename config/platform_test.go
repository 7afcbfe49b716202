package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/seal"
)

// The platform of the tests and its values.
const (
	testCompAppID = "wx00000000000000c1"
	// testAESKey is 43 letters and digits, as WeChat generates them.
	testAESKey      = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testMsgToken    = "msgtoken123"
	testCompSecret  = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	testStoreKey    = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // "0123456789abcdef" twice
	testStoreKeyOld = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=" // "fedcba9876543210" twice
)

// platformEnv is defaultEnv with a platform's secrets and store keys.
func platformEnv() func(string) (string, bool) {
	base := defaultEnv()
	extra := map[string]string{
		"COMP_SECRET": testCompSecret, "MSG_TOKEN": testMsgToken, "AES_KEY": testAESKey,
		"AES_KEY_44":      testAESKey + "=",
		"AES_KEY_42":      testAESKey[:42],
		"AES_KEY_BADCHAR": testAESKey[:20] + "-" + testAESKey[21:],
		"STORE_KEY":       testStoreKey, "STORE_KEY_OLD": testStoreKeyOld,
		"STORE_KEY_SHORT": testStoreKey[:43],
		"STORE_KEY_HEX":   strings.Repeat("ab", 32),
		"STORE_KEY_NL":    testStoreKey + "\n",
	}
	return func(k string) (string, bool) {
		if v, ok := extra[k]; ok {
			return v, true
		}
		return base(k)
	}
}

// platformSection is a platforms section of one platform with the given
// flow-style keys besides its component_appid.
func platformSection(keys string) string {
	return "platforms: [{component_appid: " + testCompAppID + ", " + keys + "}]"
}

// goodPlatform is the keys of a platform whose values all come from the
// environment.
const goodPlatform = "name: saas, secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY"

// keyStore is a store section with an encryption key from the environment.
const keyStore = "store: {encryption_key_env: STORE_KEY}"

// platformDir returns a folder with key files of several modes and a
// platform's values in files.
func platformDir(t *testing.T) string {
	t.Helper()
	dir := testDir(t)
	for _, f := range []struct {
		name, body string
		mode       os.FileMode
	}{
		{"store.key", testStoreKey + "\n", 0o600},
		{"store-group.key", testStoreKey, 0o640},
		{"store-world.key", testStoreKey + "\n", 0o644},
		{"store-group-write.key", testStoreKey, 0o660},
		{"old.key", testStoreKeyOld + "\n", 0o600},
		{"empty.key", "", 0o600},
		{"comp.secret", testCompSecret + "\n", 0o600},
		{"msg.token", testMsgToken + "\n", 0o600},
		{"aes.key", testAESKey + "\n", 0o600},
		{"aes44.key", testAESKey + "=\n", 0o600},
	} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode passes through the umask; set it exactly.
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestValidatePlatforms: every rule of the platforms section and of the
// store's encryption keys, each problem named by its key.
func TestValidatePlatforms(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		errs []string // substrings of the error; none means valid
		// nerrs, when not 0, is the number of problems expected.
		nerrs int
		warn  string
	}{
		{name: "a platform", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore}},
		{name: "a platform and nothing else", set: map[string]string{"apps": "", "platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients(testCompAppID)}},
		{name: "values from files", set: map[string]string{"platforms": platformSection("secret_file: comp.secret, token_file: msg.token, encoding_aes_key_file: aes.key"), "store": "store: {encryption_key_file: store.key}"}},
		{name: "inline secret", set: map[string]string{"platforms": platformSection("secret: " + testCompSecret + ", token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY"), "store": keyStore}, warn: "platforms[0].secret: an inline secret ends up in backups and version control; prefer secret_env or secret_file"},
		{name: "inline token", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token: " + testMsgToken + ", encoding_aes_key_env: AES_KEY"), "store": keyStore}, warn: "platforms[0].token: an inline token ends up in backups and version control; prefer token_env or token_file"},
		{name: "inline EncodingAESKey", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key: " + testAESKey), "store": keyStore}, warn: "platforms[0].encoding_aes_key: an inline EncodingAESKey ends up in backups"},
		{name: "name 64 characters", set: map[string]string{"platforms": platformSection(strings.Replace(goodPlatform, "saas", strings.Repeat("台", 64), 1)), "store": keyStore}},
		{name: "authorizer tickets", set: map[string]string{"platforms": platformSection(goodPlatform + ", authorizer_tickets: [jsapi, wx_card]"), "store": keyStore}},
		{name: "short test component_appid", set: map[string]string{"platforms": "platforms: [{component_appid: compA, " + goodPlatform + "}]", "store": keyStore}, warn: `platforms[0].component_appid: "compA" does not look like a WeChat appid`},

		{name: "no encryption key", set: map[string]string{"platforms": platformSection(goodPlatform)},
			errs: []string{"store: an encryption key is required with platforms configured", "refresh token", "encrypted", "head -c 32 /dev/urandom | base64", "store.encryption_key_env"}, nerrs: 1},
		{name: "component_appid missing", set: map[string]string{"platforms": "platforms: [{" + goodPlatform + "}]", "store": keyStore}, errs: []string{"platforms[0].component_appid: required"}},
		{name: "component_appid invalid", set: map[string]string{"platforms": "platforms: [{component_appid: 'wx c1', " + goodPlatform + "}]", "store": keyStore}, errs: []string{`platforms[0].component_appid: "wx c1" is not a valid component_appid`}},
		{name: "component_appid with a colon", set: map[string]string{"platforms": "platforms: [{component_appid: 'wx:c1', " + goodPlatform + "}]", "store": keyStore}, errs: []string{`platforms[0].component_appid: "wx:c1" is not a valid component_appid`}},
		{name: "component_appid twice", set: map[string]string{"platforms": "platforms: [{component_appid: " + testCompAppID + ", " + goodPlatform + "}, {component_appid: " + testCompAppID + ", " + goodPlatform + "}]", "store": keyStore},
			errs: []string{`platforms[1].component_appid: "wx00000000000000c1" is already configured as platforms[0]`}, nerrs: 1},
		{name: "component_appid is an app's appid", set: map[string]string{"platforms": "platforms: [{component_appid: " + testAppID + ", " + goodPlatform + "}]", "store": keyStore},
			errs: []string{`platforms[0].component_appid: "wx0123456789abcdef" is also configured as apps[0].appid`}, nerrs: 1},
		{name: "component_appid is a corpid", set: map[string]string{"platforms": "platforms: [{component_appid: " + testCorpID + ", " + goodPlatform + "}]", "store": keyStore, "wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}")},
			errs: []string{`platforms[0].component_appid: "ww0123456789abcdef" is also configured as wecom[0].corpid`}},
		{name: "name too long", set: map[string]string{"platforms": platformSection(strings.Replace(goodPlatform, "saas", strings.Repeat("台", 65), 1)), "store": keyStore}, errs: []string{"platforms[0].name: longer than 64 characters"}},
		{name: "no secret", set: map[string]string{"platforms": platformSection("token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY"), "store": keyStore},
			errs: []string{"platforms[0]: no secret: set one of secret_env, secret_file and secret"}, nerrs: 1},
		{name: "no token", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, encoding_aes_key_env: AES_KEY"), "store": keyStore},
			errs: []string{"platforms[0]: no token: set one of token_env, token_file and token"}, nerrs: 1},
		{name: "no EncodingAESKey", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN"), "store": keyStore},
			errs: []string{"platforms[0]: no EncodingAESKey: set one of encoding_aes_key_env, encoding_aes_key_file and encoding_aes_key"}, nerrs: 1},
		{name: "two token sources", set: map[string]string{"platforms": platformSection(goodPlatform + ", token_file: msg.token"), "store": keyStore},
			errs: []string{"platforms[0]: set only one of token_env, token_file and token"}, nerrs: 1},
		{name: "two EncodingAESKey sources", set: map[string]string{"platforms": platformSection(goodPlatform + ", encoding_aes_key: " + testAESKey), "store": keyStore},
			errs: []string{"platforms[0]: set only one of encoding_aes_key_env, encoding_aes_key_file and encoding_aes_key"}, nerrs: 1},
		{name: "token env unset", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: NO_TOKEN, encoding_aes_key_env: AES_KEY"), "store": keyStore},
			errs: []string{`platforms[0].token_env: environment variable "NO_TOKEN" is not set or empty`}},
		{name: "token file missing", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_file: nope.token, encoding_aes_key_env: AES_KEY"), "store": keyStore},
			errs: []string{`platforms[0].token_file: cannot use "nope.token": no such file or directory`}},
		{name: "EncodingAESKey with its padding", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY_44"), "store": keyStore},
			errs: []string{"platforms[0].encoding_aes_key_env: the EncodingAESKey must be 43 characters, got 44", `has no "=" at the end`}, nerrs: 1},
		{name: "EncodingAESKey with its padding, from a file", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_file: aes44.key"), "store": keyStore},
			errs: []string{"platforms[0].encoding_aes_key_file: the EncodingAESKey must be 43 characters, got 44"}},
		{name: "EncodingAESKey 42 characters", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY_42"), "store": keyStore},
			errs: []string{"platforms[0].encoding_aes_key_env: the EncodingAESKey must be 43 characters, got 42"}},
		{name: "EncodingAESKey not base64", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_env: AES_KEY_BADCHAR"), "store": keyStore},
			errs: []string{"platforms[0].encoding_aes_key_env: the EncodingAESKey has a character that is not base64 at position 21"}},
		{name: "EncodingAESKey inline too short", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key: abc"), "store": keyStore},
			errs: []string{"platforms[0].encoding_aes_key: the EncodingAESKey must be 43 characters, got 3"}},
		{name: "EncodingAESKey env unset", set: map[string]string{"platforms": platformSection("secret_env: COMP_SECRET, token_env: MSG_TOKEN, encoding_aes_key_env: NO_AES_KEY"), "store": keyStore},
			errs: []string{`platforms[0].encoding_aes_key_env: environment variable "NO_AES_KEY" is not set or empty`}, nerrs: 1},
		{name: "authorizer ticket unknown", set: map[string]string{"platforms": platformSection(goodPlatform + ", authorizer_tickets: [agent_config]"), "store": keyStore},
			errs: []string{`platforms[0].authorizer_tickets[0]: unknown ticket type "agent_config" (want jsapi or wx_card)`}},
		{name: "authorizer ticket twice", set: map[string]string{"platforms": platformSection(goodPlatform + ", authorizer_tickets: [wx_card, wx_card]"), "store": keyStore},
			errs: []string{"platforms[0].authorizer_tickets[1]: wx_card is listed twice"}},
		{name: "unknown key", set: map[string]string{"platforms": platformSection(goodPlatform + ", tickets: [jsapi]"), "store": keyStore},
			errs: []string{"platforms[0].tickets: unknown key"}},

		{name: "grant a platform", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients(testAppID, testCompAppID)}},
		{name: "grant an authorizer", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients(testCompAppID + ":wx00000000000000a1")}},
		{name: "grant an authorizer of an unknown platform", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients("wx00000000000000c2:wx00000000000000a1")},
			errs: []string{`clients[0].apps[0]: "wx00000000000000c2:wx00000000000000a1" is not a configured appid, component_appid or component_appid:authorizer_appid`}},
		{name: "grant an unknown platform", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients("wx00000000000000c2")},
			errs: []string{`clients[0].apps[0]: "wx00000000000000c2" is not a configured appid, component_appid`}},
		{name: "grant a malformed authorizer", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients("'" + testCompAppID + ":a b'")},
			errs: []string{`clients[0].apps[0]: "wx00000000000000c1:a b" is not`}},
		{name: "grant an empty authorizer", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients("'" + testCompAppID + ":'")},
			errs: []string{`clients[0].apps[0]: "wx00000000000000c1:" is not`}},
		{name: "grant an authorizer of an app", set: map[string]string{"clients": grantClients(testAppID + ":wx00000000000000a1")},
			errs: []string{`clients[0].apps[0]: "wx0123456789abcdef:wx00000000000000a1" is not a configured appid (or "*" for all)`}},
		{name: "platform named tag", set: map[string]string{"platforms": "platforms: [{component_appid: tag, " + goodPlatform + "}]", "store": keyStore},
			errs: []string{`platforms[0].component_appid: "tag" is reserved`}},
		{name: "grant a tag beside a platform", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "clients": grantClients("'tag:" + testCompAppID + "'")}},
		{name: "grant names every family", set: map[string]string{"platforms": platformSection(goodPlatform), "store": keyStore, "wecom": wecomSection("{agentid: '1', secret_env: WECOM_SECRET}"), "clients": grantClients("nope")},
			errs: []string{`"nope" is not a configured appid, WeCom corpid or corpid/agentid, component_appid or component_appid:authorizer_appid (or "*" for all)`}},

		{name: "store key from env", set: map[string]string{"store": keyStore}},
		{name: "store key from env with a newline", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY_NL}"}},
		{name: "store key file 600", set: map[string]string{"store": "store: {encryption_key_file: store.key}"}},
		{name: "store key file 640", set: map[string]string{"store": "store: {encryption_key_file: store-group.key}"}},
		{name: "store key env and file", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY, encryption_key_file: store.key}"},
			errs: []string{"store: set only one of encryption_key_env and encryption_key_file"}, nerrs: 1},
		{name: "previous key env and file", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY, previous_encryption_key_env: STORE_KEY_OLD, previous_encryption_key_file: old.key}"},
			errs: []string{"store: set only one of previous_encryption_key_env and previous_encryption_key_file"}, nerrs: 1},
		{name: "store key env unset", set: map[string]string{"store": "store: {encryption_key_env: NO_STORE_KEY}"},
			errs: []string{"store.encryption_key_env: environment variable NO_STORE_KEY is not set or empty; make one with `head -c 32 /dev/urandom | base64`"}, nerrs: 1},
		{name: "store key 43 characters", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY_SHORT}"},
			errs: []string{"store.encryption_key_env: environment variable STORE_KEY_SHORT: the key must be 44 characters of base64 (32 bytes), got 43 characters", `"=" padding missing`}},
		{name: "store key in hex", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY_HEX}"},
			errs: []string{"store.encryption_key_env:", "it looks like hex"}},
		{name: "store key pasted as its variable's name", set: map[string]string{"store": "store: {encryption_key_env: '" + testStoreKey + "'}"},
			errs: []string{"store.encryption_key_env: holds a key, not the name of the environment variable that holds it"}},
		{name: "store key pasted as its file's name", set: map[string]string{"store": "store: {encryption_key_file: '" + testStoreKey + "'}"},
			errs: []string{"store.encryption_key_file: holds a key, not the name of the file that holds it"}},
		{name: "store key env not a name", set: map[string]string{"store": "store: {encryption_key_env: 'STORE-KEY'}"},
			errs: []string{"store.encryption_key_env: is not an environment variable name"}},
		{name: "store key file readable by all", set: map[string]string{"store": "store: {encryption_key_file: store-world.key}"},
			errs: []string{`store.encryption_key_file: cannot use "store-world.key": mode 0644 lets other users read or change the key; allow at most the owner to write and the group to read (chmod 600, or 640)`}},
		{name: "store key file writable by the group", set: map[string]string{"store": "store: {encryption_key_file: store-group-write.key}"},
			errs: []string{"store.encryption_key_file:", "mode 0660"}},
		{name: "store key file missing", set: map[string]string{"store": "store: {encryption_key_file: nope.key}"},
			errs: []string{`store.encryption_key_file: cannot use "nope.key": no such file or directory`}},
		{name: "store key file empty", set: map[string]string{"store": "store: {encryption_key_file: empty.key}"},
			errs: []string{`store.encryption_key_file: cannot use "empty.key": empty`}},
		{name: "store key file a folder", set: map[string]string{"store": "store: {encryption_key_file: sub}"},
			errs: []string{`store.encryption_key_file: cannot use "sub": not a regular file`}},
		{name: "previous key", set: map[string]string{"store": "store: {encryption_key_file: store.key, previous_encryption_key_env: STORE_KEY_OLD}"}},
		{name: "previous key without a current one", set: map[string]string{"store": "store: {previous_encryption_key_file: old.key}"},
			errs: []string{"store: previous_encryption_key_env or _file is set without encryption_key_env or _file"}, nerrs: 1},
		{name: "previous key env unset", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY, previous_encryption_key_env: NO_OLD_KEY}"},
			errs: []string{"store.previous_encryption_key_env: environment variable NO_OLD_KEY is not set or empty"}, nerrs: 1},
		{name: "previous key the same as the current one", set: map[string]string{"store": "store: {encryption_key_env: STORE_KEY, previous_encryption_key_file: store.key}"},
			warn: "store.previous_encryption_key_file: the same key as encryption_key_env or _file (id "},
		{name: "a platform with a broken key is one problem", set: map[string]string{"platforms": platformSection(goodPlatform), "store": "store: {encryption_key_file: store-world.key}"},
			errs: []string{"store.encryption_key_file:"}, nerrs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := build(tt.set)
			cfg, err := Parse([]byte(yml), platformDir(t), platformEnv())
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v\nconfig:\n%s", err, yml)
				}
				if tt.warn != "" && !strings.Contains(strings.Join(cfg.Warnings, "\n"), tt.warn) {
					t.Errorf("warnings %q lack %q", cfg.Warnings, tt.warn)
				}
				if tt.warn == "" && len(cfg.Warnings) > 0 {
					t.Errorf("unexpected warnings %q", cfg.Warnings)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want an error with %q\nconfig:\n%s", tt.errs, yml)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%v\nlacks %q", err, want)
				}
			}
			var multi interface{ Unwrap() []error }
			if !errors.As(err, &multi) {
				t.Fatalf("error %T does not join its problems", err)
			}
			if tt.nerrs > 0 && len(multi.Unwrap()) != tt.nerrs {
				t.Errorf("%d problems, want %d:\n%v", len(multi.Unwrap()), tt.nerrs, err)
			}
			for _, s := range []string{testStoreKey, testStoreKey[:43], testAESKey, testAESKey[:42], testCompSecret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error holds a secret value:\n%v", err)
				}
			}
		})
	}
}

// TestPlatformParsed: a platform comes out with every value resolved, from
// the environment and from files, and its Crypter checks and opens what
// WeChat would push to it.
func TestPlatformParsed(t *testing.T) {
	dir := platformDir(t)
	yml := build(map[string]string{
		"store": "store: {encryption_key_file: store.key}",
		"platforms": `platforms:
  - component_appid: ` + testCompAppID + `
    name: saas
    secret_env: COMP_SECRET
    token_file: msg.token
    encoding_aes_key_env: AES_KEY
    authorizer_tickets: [jsapi]
  - component_appid: wx00000000000000c2
    secret_file: comp.secret
    token: other-token
    encoding_aes_key_file: aes.key
`,
		"clients": "clients: [{name: saas, key_sha256: " + testKeyHex + ", apps: [" + testCompAppID + "]}, " +
			"{name: one, key_sha256: " + strings.Repeat("1", 64) + ", apps: ['wx00000000000000c2:wx00000000000000a1']}]",
	})
	c := mustParse(t, yml, dir, platformEnv())
	want := []Platform{
		{ComponentAppID: testCompAppID, Name: "saas", SecretEnv: "COMP_SECRET", Secret: testCompSecret,
			TokenFile: filepath.Join(dir, "msg.token"), Token: testMsgToken, EncodingAESKeyEnv: "AES_KEY", EncodingAESKey: testAESKey,
			AuthorizerTickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}},
		{ComponentAppID: "wx00000000000000c2", SecretFile: filepath.Join(dir, "comp.secret"), Secret: testCompSecret,
			Token: "other-token", EncodingAESKeyFile: filepath.Join(dir, "aes.key"), EncodingAESKey: testAESKey},
	}
	if !reflect.DeepEqual(c.Platforms, want) {
		t.Errorf("platforms =\n%#v\nwant\n%#v", c.Platforms, want)
	}
	if p := c.Platform("wx00000000000000c2"); p != &c.Platforms[1] {
		t.Errorf("Platform(c2) = %p, want the second entry", p)
	}
	if p := c.Platform(testAppID); p != nil {
		t.Errorf("Platform of an app's appid = %+v, want nil", p)
	}

	// What WeChat pushes to the platform opens with its Crypter; a
	// push for the other platform does not.
	p := c.Platform(testCompAppID)
	crypter, err := p.Crypter()
	if err != nil {
		t.Fatal(err)
	}
	enc, sig, err := crypter.Seal([]byte("<xml>ticket</xml>"), "1700000000", "nonce")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := crypter.Decrypt(sig, "1700000000", "nonce", enc); err != nil || string(plain) != "<xml>ticket</xml>" {
		t.Errorf("Decrypt = %q, %v", plain, err)
	}
	other, err := c.Platform("wx00000000000000c2").Crypter()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(sig, "1700000000", "nonce", enc); err == nil {
		t.Error("another platform's Crypter opened the push")
	}
	if _, err := (&Platform{ComponentAppID: "x", Token: "t", EncodingAESKey: "short"}).Crypter(); err == nil {
		t.Error("Crypter with a short key succeeded")
	}

	// Printing a platform shows none of its secrets.
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", c.Platforms, c.Platforms, c), fmt.Sprint(*c)} {
		for _, s := range []string{testCompSecret, testMsgToken, testAESKey, testStoreKey} {
			if strings.Contains(out, s) {
				t.Fatalf("printing the config shows a secret: %s", out)
			}
		}
	}

	saas, one := c.Clients[0], c.Clients[1]
	a1 := wxtoken.AuthorizerID(testCompAppID, "wx00000000000000a1")
	if !saas.Allows(testCompAppID) || !saas.Allows(a1) || saas.Allows(wxtoken.AuthorizerID("wx00000000000000c2", "wx00000000000000a1")) {
		t.Error("a grant of a platform does not cover exactly the platform and its authorizers")
	}
	if !one.Allows(wxtoken.AuthorizerID("wx00000000000000c2", "wx00000000000000a1")) || one.Allows("wx00000000000000c2") || one.Allows(a1) {
		t.Error("a grant of an authorizer does not cover exactly that authorizer")
	}
}

// TestStoreSealer: the sealer built from the config seals under the
// current key and still opens what the previous key sealed; without a key
// there is none, and the error says how to make one.
func TestStoreSealer(t *testing.T) {
	dir := platformDir(t)
	const ad = "authorizers/wx00000000000000c1:wx00000000000000a1/refresh_token"

	old := mustParse(t, build(map[string]string{"store": "store: {encryption_key_file: old.key}"}), dir, platformEnv())
	oldSealer, err := old.Store.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, err := oldSealer.Seal([]byte("refresh-token-1"), ad)
	if err != nil {
		t.Fatal(err)
	}

	rotated := mustParse(t, build(map[string]string{"store": "store: {encryption_key_env: STORE_KEY, previous_encryption_key_file: old.key}"}), dir, platformEnv())
	if !rotated.Store.Encrypted() {
		t.Fatal("Encrypted() = false with a key")
	}
	s, err := rotated.Store.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := s.Open(sealedOld, ad); err != nil || string(plain) != "refresh-token-1" {
		t.Errorf("Open of a value sealed under the previous key = %q, %v", plain, err)
	}
	if !s.NeedsRekey(sealedOld) {
		t.Error("a value sealed under the previous key does not need rekeying")
	}
	sealedNew, err := s.Seal([]byte("refresh-token-2"), ad)
	if err != nil {
		t.Fatal(err)
	}
	want, err := seal.ParseKey(testStoreKey)
	if err != nil {
		t.Fatal(err)
	}
	if s.NeedsRekey(sealedNew) || !strings.HasPrefix(sealedNew, "v1."+want.ID()+".") {
		t.Errorf("a new value %q is not sealed under the current key %s", sealedNew, want.ID())
	}
	if _, err := oldSealer.Open(sealedNew, ad); !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("the previous key opened a value sealed under the current one: %v", err)
	}
	if got := fmt.Sprintf("%v %+v", rotated.Store, rotated); strings.Contains(got, testStoreKey) || !strings.Contains(got, want.ID()) {
		t.Errorf("printing the store: %s", got)
	}

	none := mustParse(t, build(nil), dir, platformEnv())
	if none.Store.Encrypted() {
		t.Error("Encrypted() = true without a key")
	}
	if s, err := none.Store.Sealer(); s != nil || !errors.Is(err, ErrNoEncryptionKey) || !errors.Is(err, seal.ErrNoKey) ||
		!strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
		t.Errorf("Sealer without a key = %v, %v", s, err)
	}
}

// TestStoreKeyFileRelative: a key file is found next to the config file,
// whatever the working directory.
func TestStoreKeyFileRelative(t *testing.T) {
	dir := platformDir(t)
	c := mustParse(t, build(map[string]string{"store": "store: {encryption_key_file: store.key, previous_encryption_key_file: old.key}"}), dir, platformEnv())
	if c.Store.EncryptionKeyFile != filepath.Join(dir, "store.key") || c.Store.PreviousEncryptionKeyFile != filepath.Join(dir, "old.key") {
		t.Errorf("key files = %q, %q, want them in %s", c.Store.EncryptionKeyFile, c.Store.PreviousEncryptionKeyFile, dir)
	}
	if c.Store.PreviousEncryptionKey.ID() == "" || c.Store.PreviousEncryptionKey == c.Store.EncryptionKey {
		t.Errorf("keys: %v, previous %v", c.Store.EncryptionKey, c.Store.PreviousEncryptionKey)
	}
}
