package httpapi

import (
	"net/http"
	"net/url"

	"github.com/wxtoken/wxtoken"
)

// The routes that register, change and remove apps and WeCom agents at
// runtime, and list the registered ones, for admin keys only (SPEC §10).
// GET /v1/apps stays the status of every app; the registrations, with
// their keys and dates and the removed ones too, are listed under a path
// of their own, so that neither answer changes shape.
const (
	routeRegisterApp     = "POST /v1/apps"
	routeChangeApp       = "PUT /v1/apps/{appid}"
	routeUnregisterApp   = "DELETE /v1/apps/{appid}"
	routeRegisterAgent   = "POST /v1/wecom"
	routeChangeAgent     = "PUT /v1/wecom/{corpid}/{agentid}"
	routeUnregisterAgent = "DELETE /v1/wecom/{corpid}/{agentid}"
	routeRegistrations   = "GET /v1/registrations"
)

// registrationsFamilyName is the query parameter that narrows the listing
// to one family.
const registrationsFamilyName = "family"

// registryRoutes lists the registration routes, for RoutePaths.
func registryRoutes() []string {
	return []string{
		routeRegisterApp, routeChangeApp, routeUnregisterApp,
		routeRegisterAgent, routeChangeAgent, routeUnregisterAgent,
		routeRegistrations,
	}
}

// RegistrationsResponse is the answer of GET /v1/registrations.
type RegistrationsResponse struct {
	Registrations []wxtoken.Registered `json:"registrations"`
}

// The bodies of an app's and a WeCom agent's registration, as error
// messages show them.
const (
	appRegistrationShape   = `{"appid": "...", "secret": "...", "name": "...", "token_api": "stable", "tickets": ["jsapi"], "tags": ["..."]}`
	agentRegistrationShape = `{"corpid": "...", "agentid": "...", "secret": "...", "name": "...", "tickets": ["jsapi", "agent_config"], "tags": ["..."]}`
)

// registerRegistryRoutes registers the registration routes; New calls
// it.
func (h *Handler) registerRegistryRoutes() {
	h.route(routeRegisterApp, h.registerApp)
	h.route(routeChangeApp, h.changeApp)
	h.route(routeUnregisterApp, h.unregisterApp)
	h.route(routeRegisterAgent, h.registerAgent)
	h.route(routeChangeAgent, h.changeAgent)
	h.route(routeUnregisterAgent, h.unregisterAgent)
	h.route(routeRegistrations, h.listRegistrations)
}

// registryRequest authenticates a request on a registration route, which
// only admin keys pass. The key is checked before the server says whether
// it registers anything at all: a caller without an admin key learns
// nothing about the server.
func (h *Handler) registryRequest(ex *exchange, r *http.Request) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	ex.client = c.Name
	if !c.Admin {
		return wxtoken.Errorf(wxtoken.EForbidden, "registering, changing and listing apps and WeCom agents needs an admin client key")
	}
	if h.registrar == nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "this server does not register apps or WeCom agents at runtime: it was started without a store for them")
	}
	return nil
}

// registerApp registers an app: 201 with the entry as registered.
func (h *Handler) registerApp(ex *exchange, r *http.Request, _ params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	var reg wxtoken.Registration
	if err := h.readBody(ex, r, &reg, appRegistrationShape); err != nil {
		return err
	}
	if err := checkAppRegistration(reg, ""); err != nil {
		return err
	}
	if reg.Secret == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "secret is required: the app's AppSecret")
	}
	got, err := h.registrar.Register(r.Context(), reg)
	if err != nil {
		return err
	}
	h.writeRegistered(ex, http.StatusCreated, got)
	return nil
}

// changeApp replaces a registered app's entry by the body; an empty or
// absent secret keeps the stored one.
func (h *Handler) changeApp(ex *exchange, r *http.Request, p params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	id, err := registeredAppID(p.appID)
	if err != nil {
		return err
	}
	var reg wxtoken.Registration
	if err := h.readBody(ex, r, &reg, appRegistrationShape); err != nil {
		return err
	}
	if err := checkAppRegistration(reg, id); err != nil {
		return err
	}
	reg.AppID = id
	got, err := h.registrar.Change(r.Context(), id, reg)
	if err != nil {
		return err
	}
	h.writeRegistered(ex, http.StatusOK, got)
	return nil
}

// unregisterApp stops serving a registered app: 204.
func (h *Handler) unregisterApp(ex *exchange, r *http.Request, p params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	id, err := registeredAppID(p.appID)
	if err != nil {
		return err
	}
	return h.unregister(ex, r, id)
}

// registerAgent registers a WeCom agent: 201 with the entry as
// registered.
func (h *Handler) registerAgent(ex *exchange, r *http.Request, _ params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	var reg wxtoken.Registration
	if err := h.readBody(ex, r, &reg, agentRegistrationShape); err != nil {
		return err
	}
	if err := checkAgentRegistration(reg, "", ""); err != nil {
		return err
	}
	if reg.Secret == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "secret is required: the agent's secret")
	}
	got, err := h.registrar.Register(r.Context(), reg)
	if err != nil {
		return err
	}
	h.writeRegistered(ex, http.StatusCreated, got)
	return nil
}

// changeAgent replaces a registered WeCom agent's entry by the body, as
// changeApp does an app's.
func (h *Handler) changeAgent(ex *exchange, r *http.Request, _ params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	corp, agent, err := registeredAgentID(r)
	if err != nil {
		return err
	}
	var reg wxtoken.Registration
	if err := h.readBody(ex, r, &reg, agentRegistrationShape); err != nil {
		return err
	}
	if err := checkAgentRegistration(reg, corp, agent); err != nil {
		return err
	}
	reg.CorpID, reg.AgentID = corp, agent
	got, err := h.registrar.Change(r.Context(), reg.ID(), reg)
	if err != nil {
		return err
	}
	h.writeRegistered(ex, http.StatusOK, got)
	return nil
}

// unregisterAgent stops serving a registered WeCom agent: 204.
func (h *Handler) unregisterAgent(ex *exchange, r *http.Request, _ params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	corp, agent, err := registeredAgentID(r)
	if err != nil {
		return err
	}
	return h.unregister(ex, r, wxtoken.WeComID(corp, agent))
}

func (h *Handler) unregister(ex *exchange, r *http.Request, id string) error {
	if err := h.registrar.Unregister(r.Context(), id); err != nil {
		return err
	}
	ex.WriteHeader(http.StatusNoContent)
	return nil
}

// listRegistrations answers the registered entries, removed ones
// included: all, or those of ?family=app or ?family=wecom.
func (h *Handler) listRegistrations(ex *exchange, r *http.Request, _ params) error {
	if err := h.registryRequest(ex, r); err != nil {
		return err
	}
	family, err := familyParam(r)
	if err != nil {
		return err
	}
	list, err := h.registrar.Registrations(r.Context(), family)
	if err != nil {
		return err
	}
	if list == nil {
		list = []wxtoken.Registered{}
	}
	for i := range list {
		list[i] = withLists(list[i])
	}
	h.writeJSON(ex, http.StatusOK, RegistrationsResponse{Registrations: list})
	return nil
}

// familyParam reads the one optional query parameter of the listing.
func familyParam(r *http.Request) (wxtoken.Family, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the query string is malformed")
	}
	for k := range q {
		if k != registrationsFamilyName {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "unexpected query parameter: the only one is family (app or wecom)")
		}
	}
	switch v := q[registrationsFamilyName]; {
	case len(v) == 0:
		return "", nil
	case len(v) > 1:
		return "", wxtoken.Errorf(wxtoken.EInvalid, "family is given more than once")
	case v[0] == string(wxtoken.FamilyApp), v[0] == string(wxtoken.FamilyWeCom):
		return wxtoken.Family(v[0]), nil
	}
	return "", wxtoken.Errorf(wxtoken.EInvalid, "family must be app or wecom")
}

// writeRegistered answers an entry. Its lists are [] rather than null,
// as in every other answer; its type has no field for a secret.
func (h *Handler) writeRegistered(ex *exchange, status int, reg wxtoken.Registered) {
	h.writeJSON(ex, status, withLists(reg))
}

func withLists(reg wxtoken.Registered) wxtoken.Registered {
	if reg.Tickets == nil {
		reg.Tickets = []wxtoken.Kind{}
	}
	if reg.Tags == nil {
		reg.Tags = []string{}
	}
	if reg.Credentials == nil {
		reg.Credentials = []wxtoken.CredentialStatus{}
	}
	return reg
}

// registeredAppID checks the {appid} of a PUT or DELETE. An id outside
// the alphabet of appids (an escaped "/" or ":" would make it another
// family's) cannot be registered: 404.
func registeredAppID(appID string) (string, error) {
	if !plainSegment(appID) {
		return "", wxtoken.Errorf(wxtoken.ENotFound, "no such registered app: an appid holds only letters, digits, '_' and '-'")
	}
	return appID, nil
}

// registeredAgentID checks the {corpid} and {agentid} of a PUT or DELETE,
// as registeredAppID does an appid.
func registeredAgentID(r *http.Request) (corp, agent string, err error) {
	corp, agent = r.PathValue("corpid"), r.PathValue("agentid")
	if !plainSegment(corp) || !plainSegment(agent) {
		return "", "", wxtoken.Errorf(wxtoken.ENotFound, "no such registered WeCom agent: a corpid and an agentid hold only letters, digits, '_' and '-'")
	}
	return corp, agent, nil
}

// checkAppRegistration checks the ids in an app's body: an appid of the
// appid alphabet, the path's own when pathID is set (where it may be left
// out), and no WeCom ids. Everything else is the Registrar's to judge.
func checkAppRegistration(reg wxtoken.Registration, pathID string) error {
	switch {
	case reg.CorpID != "" || reg.AgentID != "":
		return wxtoken.Errorf(wxtoken.EInvalid, "an app has no corpid or agentid: a WeCom agent is registered with POST /v1/wecom")
	case pathID != "" && reg.AppID != "" && reg.AppID != pathID:
		return wxtoken.Errorf(wxtoken.EInvalid, "the appid of the body differs from the path's: an app's appid cannot be changed, register the new one and remove the old")
	case pathID == "" && reg.AppID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "appid is required")
	case reg.AppID != "" && !plainSegment(reg.AppID):
		return wxtoken.Errorf(wxtoken.EInvalid, "appid must hold only letters, digits, '_' and '-'")
	}
	return nil
}

// checkAgentRegistration is checkAppRegistration for a WeCom agent: a
// corpid and an agentid, the path's when they are set, and no appid.
func checkAgentRegistration(reg wxtoken.Registration, pathCorp, pathAgent string) error {
	switch {
	case reg.AppID != "":
		return wxtoken.Errorf(wxtoken.EInvalid, "a WeCom agent has no appid: it is known by its corpid and agentid (an app is registered with POST /v1/apps)")
	case pathCorp != "" && ((reg.CorpID != "" && reg.CorpID != pathCorp) || (reg.AgentID != "" && reg.AgentID != pathAgent)):
		return wxtoken.Errorf(wxtoken.EInvalid, "the corpid or agentid of the body differs from the path's: an agent's ids cannot be changed, register the new one and remove the old")
	case pathCorp == "" && (reg.CorpID == "" || reg.AgentID == ""):
		return wxtoken.Errorf(wxtoken.EInvalid, "corpid and agentid are required")
	case (reg.CorpID != "" && !plainSegment(reg.CorpID)) || (reg.AgentID != "" && !plainSegment(reg.AgentID)):
		return wxtoken.Errorf(wxtoken.EInvalid, "corpid and agentid must hold only letters, digits, '_' and '-'")
	}
	return nil
}
