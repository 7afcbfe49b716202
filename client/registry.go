package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// The Client is a wxtoken.Registrar: with an admin key it registers,
// changes and removes the server's apps and WeCom agents while the server
// runs. An app is known by its appid, an agent by its
// wxtoken.WeComID(corpid, agentid); a Registration with CorpID and
// AgentID set is an agent's.
var _ wxtoken.Registrar = (*Client)(nil)

// Register has the server store r and start keeping its credentials: an
// app (r.AppID) or a WeCom agent (r.CorpID and r.AgentID). r.Secret is
// required; it is sent to the server in the request's body and never
// comes back. An id registered already, or one from the server's
// configuration file, is EConflict. It needs an admin key.
func (c *Client) Register(ctx context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
	path, err := registerPath(r)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	if r.Secret == "" {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EInvalid, "the secret is required to register %s", r.ID())
	}
	var got wxtoken.Registered
	if err := c.doStatus(ctx, http.MethodPost, path, nil, r, &got, http.StatusCreated); err != nil {
		return wxtoken.Registered{}, err
	}
	return checkRegistered(got, r.ID())
}

// Change replaces the registered entry id (an appid or a WeComID) by r.
// The ids in r may be left empty; set, they must be id's. An empty
// r.Secret keeps the stored secret. An entry of the server's
// configuration file is EConflict, an id not registered ENotFound. It
// needs an admin key.
func (c *Client) Change(ctx context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
	path, err := registrationPath(id)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	if (r.AppID != "" || r.CorpID != "" || r.AgentID != "") && r.ID() != id {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EInvalid, "the registration is of %s, not %s: an entry's ids cannot be changed", r.ID(), id)
	}
	var got wxtoken.Registered
	if err := c.doStatus(ctx, http.MethodPut, path, nil, r, &got, http.StatusOK); err != nil {
		return wxtoken.Registered{}, err
	}
	return checkRegistered(got, id)
}

// Unregister has the server stop serving and refreshing the registered
// entry id (an appid or a WeComID); the server keeps its record as
// removed. It needs an admin key.
func (c *Client) Unregister(ctx context.Context, id string) error {
	path, err := registrationPath(id)
	if err != nil {
		return err
	}
	return c.doStatus(ctx, http.MethodDelete, path, nil, nil, nil, http.StatusNoContent)
}

// Registrations returns the entries registered through the API, removed
// ones included, with their credentials' state: those of family
// (wxtoken.FamilyApp or wxtoken.FamilyWeCom), or of both for "". Entries
// of the configuration file are not among them (Apps lists every app).
// It needs an admin key.
func (c *Client) Registrations(ctx context.Context, family wxtoken.Family) ([]wxtoken.Registered, error) {
	var q url.Values
	switch family {
	case "":
	case wxtoken.FamilyApp, wxtoken.FamilyWeCom:
		q = url.Values{"family": {string(family)}}
	default:
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "only apps and WeCom agents are registered: family %q (want app or wecom)", family)
	}
	var a struct {
		Registrations *[]wxtoken.Registered `json:"registrations"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/registrations", q, nil, &a); err != nil {
		return nil, err
	}
	if a.Registrations == nil {
		return nil, malformed("registrations", errors.New("no registrations list in the answer"))
	}
	return *a.Registrations, nil
}

// registerPath is the route that registers r: an app's or an agent's.
func registerPath(r wxtoken.Registration) (string, error) {
	if r.CorpID != "" || r.AgentID != "" {
		if r.AppID != "" {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "a registration is of an app (appid) or of a WeCom agent (corpid and agentid), not both")
		}
		if err := checkAgent(r.CorpID, r.AgentID); err != nil {
			return "", err
		}
		return "/v1/wecom", nil
	}
	if err := checkRegisteredAppID(r.AppID); err != nil {
		return "", err
	}
	return "/v1/apps", nil
}

// registrationPath is the API path of the registered entry id: an app's
// or, for a WeComID, an agent's. An authorizer is not registered there.
func registrationPath(id string) (string, error) {
	switch f, corp, agent := wxtoken.ParseID(id); f {
	case wxtoken.FamilyWeCom:
		if err := checkAgent(corp, agent); err != nil {
			return "", err
		}
		return agentPath(corp, agent), nil
	case wxtoken.FamilyAuthorizer:
		return "", wxtoken.Errorf(wxtoken.EInvalid, "%q is an authorizer's id: authorizers are imported (ImportAuthorizer), not registered", id)
	}
	if err := checkRegisteredAppID(id); err != nil {
		return "", err
	}
	return "/v1/apps/" + url.PathEscape(id), nil
}

func checkRegisteredAppID(appID string) error {
	switch {
	case appID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "the appid is required (or, for a WeCom agent, the corpid and agentid)")
	case strings.ContainsAny(appID, ":/"):
		return wxtoken.Errorf(wxtoken.EInvalid, `an appid holds no ":" or "/"`)
	}
	return nil
}

// checkRegistered checks that the server answered the entry asked for.
func checkRegistered(got wxtoken.Registered, id string) (wxtoken.Registered, error) {
	if got.ID != id {
		return wxtoken.Registered{}, malformed("registration", fmt.Errorf("answer is for %q, not %q", got.ID, id))
	}
	return got, nil
}
