package httpapi

import (
	"net/http"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// WeComTokenResponse is the answer of a WeCom agent's access_token routes.
type WeComTokenResponse struct {
	CorpID      string `json:"corpid"`
	AgentID     string `json:"agentid"`
	AccessToken string `json:"access_token"`
	// ExpiresIn is whole seconds the token may be used for.
	ExpiresIn int64 `json:"expires_in"`
	// ExpiresAt is RFC 3339, in UTC.
	ExpiresAt string `json:"expires_at"`
}

// WeComTicketResponse is the answer of a WeCom agent's ticket routes: the
// corp's jsapi ticket as fetched with the agent's token, or the agent's
// agent_config ticket.
type WeComTicketResponse struct {
	CorpID    string       `json:"corpid"`
	AgentID   string       `json:"agentid"`
	Type      wxtoken.Kind `json:"type"`
	Ticket    string       `json:"ticket"`
	ExpiresIn int64        `json:"expires_in"`
	ExpiresAt string       `json:"expires_at"`
}

// WeComJSSDKResponse is the answer of a WeCom agent's jssdk_config route.
type WeComJSSDKResponse = jssdk.WeComConfig

func (h *Handler) getWeComAccessToken(ex *exchange, r *http.Request, _ params) error {
	return h.weComCredential(ex, r, wxtoken.KindAccessToken, false)
}

func (h *Handler) refreshWeComAccessToken(ex *exchange, r *http.Request, _ params) error {
	return h.weComCredential(ex, r, wxtoken.KindAccessToken, true)
}

func (h *Handler) getWeComTicket(ex *exchange, r *http.Request, p params) error {
	return h.weComTicket(ex, r, p, false)
}

func (h *Handler) refreshWeComTicket(ex *exchange, r *http.Request, p params) error {
	return h.weComTicket(ex, r, p, true)
}

func (h *Handler) weComTicket(ex *exchange, r *http.Request, p params, refresh bool) error {
	// Authorization comes first, so that an unauthorized caller learns
	// nothing, not even which ticket types exist.
	a, err := h.agentRequest(ex, r)
	if err != nil {
		return err
	}
	kind, err := wxtoken.FamilyWeCom.ParseTicket(p.typ)
	if err != nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "unknown ticket type: want jsapi or agent_config")
	}
	return h.serveWeComGrant(ex, r, a, kind, refresh)
}

func (h *Handler) weComCredential(ex *exchange, r *http.Request, kind wxtoken.Kind, refresh bool) error {
	a, err := h.agentRequest(ex, r)
	if err != nil {
		return err
	}
	return h.serveWeComGrant(ex, r, a, kind, refresh)
}

// agent is the WeCom agent of a request: its {corpid} and {agentid}, and
// its WeComID.
type agent struct {
	corpID, agentID, id string
}

// agentRequest authenticates the request and authorizes its {corpid} and
// {agentid}.
func (h *Handler) agentRequest(ex *exchange, r *http.Request) (agent, error) {
	c, err := h.authenticate(r)
	if err != nil {
		return agent{}, err
	}
	ex.client = c.Name
	a := agent{corpID: r.PathValue("corpid"), agentID: r.PathValue("agentid")}
	a.id = wxtoken.WeComID(a.corpID, a.agentID)
	if err := h.authorizeAgent(c, a.id); err != nil {
		return agent{}, err
	}
	return a, nil
}

// serveWeComGrant answers a WeCom agent's credential, as serveGrant does
// an app's.
func (h *Handler) serveWeComGrant(ex *exchange, r *http.Request, a agent, kind wxtoken.Kind, refresh bool) error {
	g, expiresIn, err := h.grant(ex, r, a.id, kind, refresh)
	if err != nil {
		return err
	}
	answers := h.access.Load().agents[a.id]
	if answers == nil {
		answers = h.keptAnswers(a.id)
	}
	body := answers.body(a.corpID, a.agentID, kind, g.Value, expiresIn, g.ExpiresAt)
	ex.Header()["Content-Type"] = h.jsonType
	ex.WriteHeader(http.StatusOK)
	_, _ = ex.Write(body)
	return nil
}

// weComJSSDKConfig signs the page URL in ?url= for wx.config with the
// corp's jsapi ticket and, when the agent keeps its agent_config ticket,
// for wx.agentConfig with that one.
func (h *Handler) weComJSSDKConfig(ex *exchange, r *http.Request, _ params) error {
	a, err := h.agentRequest(ex, r)
	if err != nil {
		return err
	}
	id := a.id
	pageURL, err := pageURLParam(r)
	if err != nil {
		return err
	}
	if _, err := jssdk.NormalizeURL(pageURL); err != nil {
		return err
	}
	corp, err := h.svc.Credential(r.Context(), id, wxtoken.KindJSAPITicket)
	if err != nil {
		return err
	}
	if _, err := h.checkGrant(r, id, wxtoken.KindJSAPITicket, corp); err != nil {
		return err
	}
	// An agent that keeps no agent_config ticket is answered ENotFound:
	// its page gets wx.config alone.
	var agentTicket string
	ag, err := h.svc.Credential(r.Context(), id, wxtoken.KindAgentConfig)
	switch {
	case wxtoken.ErrorCode(err) == wxtoken.ENotFound:
	case err != nil:
		return err
	default:
		if _, err := h.checkGrant(r, id, wxtoken.KindAgentConfig, ag); err != nil {
			return err
		}
		agentTicket = ag.Value
	}
	cfg, err := jssdk.NewWeComConfig(a.corpID, a.agentID, corp.Value, agentTicket, pageURL, h.now())
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, cfg)
	return nil
}
