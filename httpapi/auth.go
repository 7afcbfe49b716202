package httpapi

import (
	"net/http"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// authenticate returns the client whose key the request carries; the
// key ring says how it is checked.
func (h *Handler) authenticate(r *http.Request) (*clientkey.Client, error) {
	return h.keys.Authenticate(r)
}

// authorize decides whether c may read id, an appid or a WeCom agent's
// wxtoken.WeComID. A key may learn that one is not configured (404) only
// if it could list them anyway (admin) or was granted it (by name, by its
// corp or by "*"); every other key gets 403 for configured and unknown
// ones alike, so it cannot enumerate them.
func (h *Handler) authorize(c *clientkey.Client, id string) error {
	granted := c.Allows(id)
	if h.apps[id] == nil {
		if granted || c.Admin {
			return wxtoken.Errorf(wxtoken.ENotFound, "%s", notConfigured(id))
		}
		return errForbidden()
	}
	if !granted {
		return errForbidden()
	}
	return nil
}

// notConfigured is the message of a 404 for an unknown app or agent.
func notConfigured(id string) string {
	if f, _, _ := wxtoken.ParseID(id); f == wxtoken.FamilyWeCom {
		return "unknown WeCom agent: it is not configured on this server"
	}
	return "unknown app: it is not configured on this server"
}

func errForbidden() error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this app")
}
