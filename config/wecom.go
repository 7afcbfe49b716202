package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
)

// WeCom is one WeCom (企业微信) corp and the agents of it whose credentials
// wxtoken keeps. Each agent, and each built-in app with a secret of its
// own (such as contacts), has its own access_token: WeCom issues one per
// corpid and secret.
type WeCom struct {
	CorpID string `yaml:"corpid"`
	// Name is an optional label for logs and status.
	Name   string  `yaml:"name"`
	Agents []Agent `yaml:"agents"`
}

// Agent is one agent of a WeCom corp. Everywhere below the HTTP routes it
// is known by wxtoken.WeComID(corpid, agentid).
type Agent struct {
	// AgentID is the agent's id, digits such as "1000002", or a name such
	// as "contacts" for a built-in app with a secret of its own. It is a
	// string in the file; an unquoted number is read as its digits.
	AgentID string `yaml:"agentid"`
	// SecretEnv names the environment variable holding the agent's
	// secret.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile is a file holding the secret, resolved against the
	// config file's folder.
	SecretFile string `yaml:"secret_file"`
	// Secret is the resolved secret, whichever of secret_env, secret_file
	// or the inline `secret` key it came from.
	Secret Secret `yaml:"secret"`
	// Tickets are the ticket kinds kept for the agent besides its
	// access_token: jsapi (the corp's ticket for wx.config, fetched with
	// this agent's token) and agent_config (the agent's ticket for
	// wx.agentConfig).
	Tickets []wxtoken.Kind `yaml:"tickets"`
}

// AgentCount returns the number of WeCom agents configured, over all corps.
func (c *Config) AgentCount() int {
	n := 0
	for _, w := range c.WeCom {
		n += len(w.Agents)
	}
	return n
}

// Shapes of WeCom values. They are compiled once and never reassigned.
var (
	// corpIDRe is what wxtoken accepts as a corpid, as appIDRe for appids.
	corpIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// wecomCorpIDRe is the shape of a real corpid; anything else draws a
	// warning.
	wecomCorpIDRe = regexp.MustCompile(`^w[wx][0-9a-f]{16}$`)
	// agentIDRe is an agentid: WeCom's are digits, and built-in apps are
	// named here by a word such as contacts.
	agentIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func (ch *checker) wecom(c *Config) {
	corps := map[string]int{}
	appIDs := map[string]int{}
	for i, a := range c.Apps {
		appIDs[a.AppID] = i
	}
	for i := range c.WeCom {
		w := &c.WeCom[i]
		key := fmt.Sprintf("wecom[%d]", i)
		switch {
		case w.CorpID == "":
			ch.errorf(key+".corpid", "required")
		case !corpIDRe.MatchString(w.CorpID):
			ch.errorf(key+".corpid", `%s is not a valid corpid (want 1 to 64 letters, digits, "_" or "-"; WeCom's are "ww" or "wx" and 16 hex digits)`, show(w.CorpID))
		default:
			if j, dup := corps[w.CorpID]; dup {
				ch.errorf(key+".corpid", "%s is already configured as wecom[%d]: list all agents of a corp under one entry", show(w.CorpID), j)
			} else {
				corps[w.CorpID] = i
			}
			if j, clash := appIDs[w.CorpID]; clash {
				ch.errorf(key+".corpid", "%s is also configured as apps[%d].appid: a client grant of it could not tell the two apart", show(w.CorpID), j)
			}
			if !wecomCorpIDRe.MatchString(w.CorpID) {
				ch.warnf(key+".corpid", `%s does not look like a WeCom corpid ("ww" or "wx" and 16 lower-case hex digits); fine for the simulator`, show(w.CorpID))
			}
		}
		if utf8.RuneCountInString(w.Name) > 64 {
			ch.errorf(key+".name", "longer than 64 characters")
		}
		if len(w.Agents) == 0 {
			ch.errorf(key+".agents", "at least one agent is required (agentid and its secret)")
		}
		agents := map[string]int{}
		secrets := map[Secret]int{}
		for j := range w.Agents {
			a := &w.Agents[j]
			akey := fmt.Sprintf("%s.agents[%d]", key, j)
			switch {
			case a.AgentID == "":
				ch.errorf(akey+".agentid", "required")
			case !agentIDRe.MatchString(a.AgentID):
				ch.errorf(akey+".agentid", `%s is not a valid agentid (want 1 to 64 letters, digits, "_" or "-", such as "1000002" or "contacts")`, show(a.AgentID))
			default:
				if k, dup := agents[a.AgentID]; dup {
					ch.errorf(akey+".agentid", "%s is already configured as %s.agents[%d]", show(a.AgentID), key, k)
				} else {
					agents[a.AgentID] = j
				}
			}
			ch.secret(akey, a.SecretEnv, &a.SecretFile, &a.Secret)
			if a.Secret != "" {
				if k, dup := secrets[a.Secret]; dup {
					ch.errorf(akey, "the same secret as %s.agents[%d]: WeCom issues one token per secret, so the two are one agent", key, k)
				} else {
					secrets[a.Secret] = j
				}
			}
			kinds := map[wxtoken.Kind]bool{}
			for k, t := range a.Tickets {
				tkey := fmt.Sprintf("%s.tickets[%d]", akey, k)
				if _, err := wxtoken.FamilyWeCom.ParseTicket(string(t)); err != nil {
					ch.errorf(tkey, "unknown ticket type %s (want jsapi or agent_config)", show(string(t)))
					continue
				}
				if kinds[t] {
					ch.errorf(tkey, "%s is listed twice", t)
				}
				kinds[t] = true
			}
		}
	}
}

// wecomGrant reports whether grant, from clients[].apps, names a
// configured corp or agent: "corpid" or "corpid/agentid".
func (ch *checker) wecomGrant(c *Config, grant string) bool {
	corp, agent, isAgent := strings.Cut(grant, "/")
	for _, w := range c.WeCom {
		if w.CorpID != corp {
			continue
		}
		if !isAgent {
			return true
		}
		for _, a := range w.Agents {
			if a.AgentID == agent {
				return true
			}
		}
	}
	return false
}
