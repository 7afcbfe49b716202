package httpapi

import (
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// maxKeyLength bounds the bearer keys worth hashing. wxtoken keygen's keys
// are far shorter; anything longer cannot be a configured key.
const maxKeyLength = 512

// authenticate returns the client whose key the request carries; the
// key ring says how it is checked.
func (h *Handler) authenticate(r *http.Request) (*client, error) {
	return h.keys.lookup(r)
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
	// "Bearer" as written nearly always; any other case is matched too.
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' || v[:len(scheme)] != "Bearer" && !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	key := strings.TrimLeft(v[len(scheme):], " ")
	// Two byte searches cost less than strings.ContainsAny, which builds
	// a set of the bytes on every call.
	if key == "" || len(key) > maxKeyLength || strings.IndexByte(key, ' ') >= 0 || strings.IndexByte(key, '\t') >= 0 {
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
	if h.apps[appID] == nil {
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
