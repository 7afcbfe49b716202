package compat

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/wxtoken/wxtoken/clientkey"
)

// appAccess is what the front door knows of the configured apps and of
// the client keys at one moment. It is never changed once stored.
type appAccess struct {
	secrets map[string][sha256.Size]byte
	plain   map[string]string // the AppSecrets, only ever sent to the upstream
	// corps are the WeCom agents by corpid.
	corps map[string][]agentSecret
	keys  *clientkey.Ring
}

// newAppAccess checks apps and agents and makes their appAccess with
// keys.
func newAppAccess(apps []App, agents []Agent, keys *clientkey.Ring) (*appAccess, error) {
	acc := &appAccess{
		secrets: make(map[string][sha256.Size]byte, len(apps)),
		plain:   make(map[string]string, len(apps)),
		corps:   map[string][]agentSecret{},
		keys:    keys,
	}
	for _, a := range apps {
		if a.AppID == "" || a.Secret == "" {
			return nil, errors.New("compat: every app needs an appid and a secret")
		}
		if _, dup := acc.secrets[a.AppID]; dup {
			return nil, fmt.Errorf("compat: app %s is listed twice", a.AppID)
		}
		acc.secrets[a.AppID] = sha256.Sum256([]byte(a.Secret))
		acc.plain[a.AppID] = a.Secret
	}
	for _, a := range agents {
		if a.CorpID == "" || a.AgentID == "" || a.Secret == "" {
			return nil, errors.New("compat: every WeCom agent needs a corpid, an agentid and a secret")
		}
		if strings.Contains(a.CorpID, "/") || strings.ContainsAny(a.AgentID, "/:") {
			return nil, fmt.Errorf("compat: WeCom agent %s/%s: a corpid holds no slash, an agentid no slash or colon", a.CorpID, a.AgentID)
		}
		for _, o := range acc.corps[a.CorpID] {
			if o.id == a.AgentID {
				return nil, fmt.Errorf("compat: WeCom agent %s/%s is listed twice", a.CorpID, a.AgentID)
			}
		}
		acc.corps[a.CorpID] = append(acc.corps[a.CorpID], agentSecret{id: a.AgentID, sum: sha256.Sum256([]byte(a.Secret))})
	}
	return acc, nil
}

// SetApps replaces the configured apps, WeCom agents and client keys (as
// Options.Apps, Options.Agents and Options.Keys), for a configuration
// reloaded while the front door serves: an app's or agent's new secret is
// what its callers must send from then on, and an AppSecret what calls
// made with a client key are relayed with. A call in flight may finish
// with what it started with. It fails, changing nothing, for an entry
// without its ids or secret, one listed twice, or an appid that is a
// platform's. It is safe for concurrent use.
func (h *Handler) SetApps(apps []App, agents []Agent, keys *clientkey.Ring) error {
	acc, err := newAppAccess(apps, agents, keys)
	if err != nil {
		return err
	}
	for id := range acc.secrets {
		if h.knownPlatform(id) {
			return fmt.Errorf("compat: %s is both an app and a platform", id)
		}
	}
	h.apps.Store(acc)
	return nil
}
