package compat

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/wxtoken/wxtoken/clientkey"
)

// appAccess is what the front door knows of the configured apps and of
// the client keys at one moment. It is never changed once stored.
type appAccess struct {
	secrets map[string][sha256.Size]byte
	plain   map[string]string // the AppSecrets, only ever sent to the upstream
	keys    *clientkey.Ring
}

// newAppAccess checks apps and makes their appAccess with keys.
func newAppAccess(apps []App, keys *clientkey.Ring) (*appAccess, error) {
	acc := &appAccess{
		secrets: make(map[string][sha256.Size]byte, len(apps)),
		plain:   make(map[string]string, len(apps)),
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
	return acc, nil
}

// SetApps replaces the configured apps and the client keys (as
// Options.Apps and Options.Keys), for a configuration reloaded while the
// front door serves: an app's new AppSecret is what its callers must send
// from then on, and what calls made with a client key are relayed with.
// A call in flight may finish with what it started with. It fails,
// changing nothing, for an app without an appid or secret, an app listed
// twice, or an appid that is a platform's. It is safe for concurrent use.
func (h *Handler) SetApps(apps []App, keys *clientkey.Ring) error {
	acc, err := newAppAccess(apps, keys)
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
