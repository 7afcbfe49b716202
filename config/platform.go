package config

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/msgcrypt"
)

// Platform is one third-party platform (第三方平台) of the WeChat open
// platform. wxtoken keeps its component_access_token, known by its
// component_appid, and the credentials of every account that authorized
// it, known by wxtoken.AuthorizerID(component_appid, authorizer_appid).
//
// Its three secrets each come from exactly one of three keys, as an app's
// AppSecret does, and are held as Secret values, which never print: pass
// p.Secret.Reveal, p.Token.Reveal and p.EncodingAESKey.Reveal on as
// functions so that nothing holding them prints them either.
type Platform struct {
	ComponentAppID string `yaml:"component_appid"`
	// Name is an optional label for logs and status.
	Name string `yaml:"name"`
	// SecretEnv names the environment variable holding the component
	// secret (component_appsecret).
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the component secret, resolved against
	// the config file's folder.
	SecretFile string `yaml:"secret_file"`
	// Secret is the resolved component secret, whichever of secret_env,
	// secret_file or the inline `secret` key it came from.
	Secret Secret `yaml:"secret"`
	// TokenEnv, TokenFile and Token give the message check Token set on
	// the platform, which signs WeChat's pushes; Token is the resolved
	// value.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	Token     Secret `yaml:"token"`
	// EncodingAESKeyEnv, EncodingAESKeyFile and EncodingAESKey give the
	// platform's 43-character EncodingAESKey, which encrypts WeChat's
	// pushes; EncodingAESKey is the resolved value.
	EncodingAESKeyEnv  string `yaml:"encoding_aes_key_env"`
	EncodingAESKeyFile string `yaml:"encoding_aes_key_file"`
	EncodingAESKey     Secret `yaml:"encoding_aes_key"`
	// AuthorizerTickets are the ticket kinds kept for every authorizer
	// besides its access_token: jsapi and wx_card, as for apps.
	AuthorizerTickets []wxtoken.Kind `yaml:"authorizer_tickets"`
}

// Crypter returns what checks and decrypts the platform's pushes: its
// Token and EncodingAESKey, closing every message with its
// component_appid. Parse has checked them, so it fails only for a Platform
// that did not come from Parse.
func (p *Platform) Crypter() (*msgcrypt.Crypter, error) {
	c, err := msgcrypt.New(p.Token.Reveal(), p.EncodingAESKey.Reveal(), p.ComponentAppID)
	if err != nil {
		return nil, fmt.Errorf("config: platform %s: %w", p.ComponentAppID, err)
	}
	return c, nil
}

// Platform returns the configured platform whose component_appid is
// componentAppID, or nil.
func (c *Config) Platform(componentAppID string) *Platform {
	for i := range c.Platforms {
		if c.Platforms[i].ComponentAppID == componentAppID {
			return &c.Platforms[i]
		}
	}
	return nil
}

func (ch *checker) platforms(c *Config) {
	if len(c.Platforms) > 0 && !c.Store.Encrypted() && c.Store.EncryptionKeyEnv == "" && c.Store.EncryptionKeyFile == "" {
		ch.errorf("store", "an encryption key is required with platforms configured: every authorizer's refresh token is kept in the store, encrypted, because a lost or leaked one cannot be replaced without the account authorizing again; %s", MakeKeyHint)
	}
	taken := map[string]string{}
	for i, a := range c.Apps {
		taken[a.AppID] = fmt.Sprintf("apps[%d].appid", i)
	}
	for i, w := range c.WeCom {
		if _, dup := taken[w.CorpID]; !dup {
			taken[w.CorpID] = fmt.Sprintf("wecom[%d].corpid", i)
		}
	}
	seen := map[string]int{}
	for i := range c.Platforms {
		p := &c.Platforms[i]
		key := fmt.Sprintf("platforms[%d]", i)
		switch {
		case p.ComponentAppID == "":
			ch.errorf(key+".component_appid", "required")
		case !appIDRe.MatchString(p.ComponentAppID):
			ch.errorf(key+".component_appid", `%s is not a valid component_appid (want 1 to 64 letters, digits, "_" or "-"; WeChat's are "wx" and 16 hex digits)`, show(p.ComponentAppID))
		case p.ComponentAppID+":" == clientkey.TagPrefix:
			ch.errorf(key+".component_appid", `%s is reserved: a grant of one of its authorizers ("tag:...") would read as a tag grant`, show(p.ComponentAppID))
		default:
			if j, dup := seen[p.ComponentAppID]; dup {
				ch.errorf(key+".component_appid", "%s is already configured as platforms[%d]", show(p.ComponentAppID), j)
			} else {
				seen[p.ComponentAppID] = i
			}
			if other, clash := taken[p.ComponentAppID]; clash {
				ch.errorf(key+".component_appid", "%s is also configured as %s: the two would share one id in the store and in client grants", show(p.ComponentAppID), other)
			}
			if !wechatAppIDRe.MatchString(p.ComponentAppID) {
				ch.warnf(key+".component_appid", `%s does not look like a WeChat appid ("wx" and 16 lower-case hex digits); fine for the simulator`, show(p.ComponentAppID))
			}
		}
		if utf8.RuneCountInString(p.Name) > 64 {
			ch.errorf(key+".name", "longer than 64 characters")
		}
		ch.resolve(key, secretSource, p.SecretEnv, &p.SecretFile, &p.Secret)
		ch.resolve(key, tokenSource, p.TokenEnv, &p.TokenFile, &p.Token)
		if from := ch.resolve(key, aesKeySource, p.EncodingAESKeyEnv, &p.EncodingAESKeyFile, &p.EncodingAESKey); from != "" {
			ch.aesKey(from, p.EncodingAESKey.Reveal())
		}
		kinds := map[wxtoken.Kind]bool{}
		for j, t := range p.AuthorizerTickets {
			tkey := fmt.Sprintf("%s.authorizer_tickets[%d]", key, j)
			if _, err := wxtoken.FamilyAuthorizer.ParseTicket(string(t)); err != nil {
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

// aesKey checks an EncodingAESKey (from the key path from) with the
// decoder that will use it, so that what Parse accepts, msgcrypt takes:
// 43 characters of base64 that decode to 32 bytes. The key is never
// quoted.
func (ch *checker) aesKey(from, key string) {
	if _, err := msgcrypt.New("token", key, "appid"); err != nil {
		problem := strings.TrimPrefix(err.Error(), "msgcrypt: ")
		if len(key) == 44 && strings.HasSuffix(key, "=") {
			problem += ` (WeChat's EncodingAESKey has no "=" at the end: copy the 43 characters shown in the platform's settings)`
		}
		ch.errorf(from, "%s", problem)
	}
}

// platformGrant reports whether grant, from clients[].apps, names a
// configured platform ("component_appid") or one authorizer of one
// ("component_appid:authorizer_appid"). Authorizers come and go at run
// time, so any well-formed authorizer_appid is accepted.
func (ch *checker) platformGrant(c *Config, grant string) bool {
	comp, auth, isAuthorizer := strings.Cut(grant, ":")
	if c.Platform(comp) == nil {
		return false
	}
	return !isAuthorizer || appIDRe.MatchString(auth)
}
