package httpapi

import (
	"net/http"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
)

// authenticate returns the client whose key the request carries; the
// key ring says how it is checked.
func (h *Handler) authenticate(r *http.Request) (*clientkey.Client, error) {
	return h.access.Load().keys.Authenticate(r)
}

// authorize decides whether c may read appID. A key may learn that an app
// is not configured (404) only if it could list the apps anyway (admin)
// or was granted that appid (explicitly or by "*"); every other key gets
// 403 for configured and unknown apps alike, so it cannot enumerate them.
// Only appids are apps here: a WeCom agent's id, which an escaped slash
// could bring into {appid}, is an unknown app, and so is a platform's.
// An app the Service keeps beside the configured ones (registered while
// the server runs) is served as a configured one.
func (h *Handler) authorize(c *clientkey.Client, appID string) error {
	granted := c.Allows(appID)
	if h.access.Load().apps[appID] == nil && !h.keptAs(appID, wxtoken.FamilyApp) {
		if granted || c.Admin {
			return wxtoken.Errorf(wxtoken.ENotFound, "unknown app: it is not configured on this server")
		}
		return errForbidden()
	}
	if !granted {
		return errForbidden()
	}
	return nil
}

// authorizeAgent is authorize for a WeCom agent, known by its WeComID: a
// key granted the agent, its corp or "*", or an admin key, may learn that
// it is not configured.
func (h *Handler) authorizeAgent(c *clientkey.Client, id string) error {
	granted := c.Allows(id)
	if h.access.Load().agents[id] == nil && !h.keptAs(id, wxtoken.FamilyWeCom) {
		if granted || c.Admin {
			return wxtoken.Errorf(wxtoken.ENotFound, "unknown WeCom agent: it is not configured on this server")
		}
		return errForbiddenAgent()
	}
	if !granted {
		return errForbiddenAgent()
	}
	return nil
}

func errForbidden() error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this app")
}

func errForbiddenAgent() error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this client key is not granted this WeCom agent")
}
