package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// maxKeyLength bounds the bearer keys worth hashing. wxtoken keygen's keys
// are far shorter; anything longer cannot be a configured key.
const maxKeyLength = 512

// authenticate returns the client whose key the request carries.
//
// The key is looked up by its SHA-256 in a map and the entry found is then
// compared in constant time. The map's timing cannot help an attacker: it
// depends only on the digest of the key presented, and SHA-256 lets no one
// choose a key whose digest shares a prefix with a stored one, so probing
// the map learns nothing about the configured digests; and a digest, even
// if learnt, does not yield the key. The constant-time compare keeps the
// final yes/no independent of how many bytes match, whatever the map does
// inside. Scanning every client instead would cost time linear in the
// number of clients on every request for no gain in secrecy.
func (h *Handler) authenticate(r *http.Request) (*client, error) {
	key, ok := bearerKey(r)
	if !ok {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, `missing or malformed Authorization header: want "Authorization: Bearer <key>"`)
	}
	sum := sha256.Sum256([]byte(key))
	c, found := h.keys[sum]
	if !found || subtle.ConstantTimeCompare(c.hash[:], sum[:]) != 1 {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "unknown client key")
	}
	return c, nil
}

// bearerKey returns the key of the request's one Authorization header of
// the Bearer scheme (matched without regard to case, as RFC 9110 says).
func bearerKey(r *http.Request) (string, bool) {
	// net/http stores request headers under canonical keys, so the map
	// is read directly, without canonicalizing the name again.
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return "", false
	}
	const scheme = "bearer"
	v := vals[0]
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	key := strings.TrimLeft(v[len(scheme):], " ")
	if key == "" || len(key) > maxKeyLength || strings.ContainsAny(key, " \t") {
		return "", false
	}
	return key, true
}

// authorize decides whether c may read appID. A key may learn that an app
// is not configured (404) only if it could list the apps anyway (admin)
// or was granted that appid (explicitly or by "*"); every other key gets
// 403 for configured and unknown apps alike, so it cannot enumerate them.
func (h *Handler) authorize(c *client, appID string) error {
	granted := c.config.Allows(appID)
	if !h.apps[appID] {
		if granted || c.config.Admin {
			return wxtoken.Errorf(wxtoken.ENotFound, "unknown app: it is not configured on this server")
		}
		return errForbidden()
	}
	if !granted {
		return errForbidden()
	}
	return nil
}

func errForbidden() error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this app")
}
