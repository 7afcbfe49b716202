package compat

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// WeCom (企业微信) speaks the same wire format as WeChat, on its own host,
// with its own credential paths: GET /cgi-bin/gettoken takes a corpid and
// the secret of one agent, and answers that agent's token; the corp's
// jsapi ticket and the agent's agent_config ticket are fetched with that
// token. Everywhere below the front door an agent is an app whose id is
// wxtoken.WeComID(corpid, agentid), so the cache, the relay and its
// healing are shared with the Official Accounts'; what differs is the
// shape of the answers, the errcodes, and the host calls are relayed to,
// which is chosen by the token the call carries, never by its path.

// DefaultWeComUpstream is where calls carrying a WeCom agent's token are
// relayed when Options.WeComUpstream is empty: WeCom's API host.
const DefaultWeComUpstream = "https://qyapi.weixin.qq.com"

// Agent is a configured WeCom agent (or a built-in WeCom app that has a
// secret of its own, such as contacts): its corpid, agentid and secret.
// New keeps only the secret's SHA-256, to compare against.
type Agent struct {
	CorpID  string
	AgentID string
	Secret  string
}

// WeCom's credential paths, answered from the cache.
const (
	pathWeComToken       = "/cgi-bin/gettoken"
	pathWeComJSAPITicket = "/cgi-bin/get_jsapi_ticket"
	pathWeComTicket      = "/cgi-bin/ticket/get"
)

// The errcodes WeCom answers that WeChat's token path does not: a missing
// corpsecret, and a token of another agent of the corp used on a call.
const (
	errMissingCorpSecret = 41004
	errOtherAgent        = 301002
)

// weComTicketType is the one type of /cgi-bin/ticket/get.
const weComTicketType = "agent_config"

// agentSecret is one agent of a corp and the SHA-256 of its secret.
type agentSecret struct {
	id  string
	sum [sha256.Size]byte
}

// weComTokenBody is WeCom's gettoken answer, which, unlike WeChat's,
// carries errcode and errmsg on success too.
type weComTokenBody struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// msgWrongCorpSecret answers a corpsecret that is neither the secret of
// an agent of the corp nor a client key granted one. It is the same
// whether the key is unknown, revoked or granted only other agents, so
// that the answer tells a prober nothing about which keys exist.
const msgWrongCorpSecret = "invalid credential: the corpsecret is neither the secret of an agent of this corp configured on this wxtoken nor a client key granted one of its agents"

// msgSeveralAgents answers a client key granted several agents of the
// corp, sent without the agent it is for. Only the holder of a valid key
// can get it.
const msgSeveralAgents = "invalid credential: this client key is granted several agents of this corp: send corpsecret as AGENTID:KEY to name the agent"

// isWeCom reports whether id is a WeCom agent's.
func isWeCom(id string) bool {
	f, _, _ := wxtoken.ParseID(id)
	return f == wxtoken.FamilyWeCom
}

// grants reports whether a client key's grants cover id: the id itself
// or "*", or, for a WeCom agent, its corpid, which grants all its agents.
func grants(c interface{ Allows(string) bool }, id string) bool {
	if c.Allows(id) {
		return true
	}
	f, corpID, _ := wxtoken.ParseID(id)
	return f == wxtoken.FamilyWeCom && c.Allows(corpID)
}

// knownAgent reports whether id is a configured agent's WeComID.
func (h *Handler) knownAgent(id string) bool {
	f, corpID, agentID := wxtoken.ParseID(id)
	if f != wxtoken.FamilyWeCom {
		return false
	}
	for _, a := range h.apps.Load().corps[corpID] {
		if a.id == agentID {
			return true
		}
	}
	return false
}

// serveWeComToken answers GET /cgi-bin/gettoken from the cache, checked in
// WeCom's order: corpid, corpsecret, a known corp, then the secret, which
// names the agent.
func (h *Handler) serveWeComToken(ex *exchange, r *http.Request) {
	if r.Method != http.MethodGet {
		h.fail(ex, errRequireGET, "require GET method")
		return
	}
	q := r.URL.RawQuery
	corpID, _ := queryValue(q, "corpid")
	secret, _ := queryValue(q, "corpsecret")
	switch {
	case corpID == "":
		h.fail(ex, errMissingAppID, "corpid missing")
		return
	case secret == "":
		h.fail(ex, errMissingCorpSecret, "corpsecret missing")
		return
	}
	agents, ok := h.apps.Load().corps[corpID]
	if !ok {
		h.fail(ex, errInvalidAppID, "invalid corpid: it is not configured on this wxtoken")
		return
	}
	agentID, msg := h.agentOf(ex, corpID, agents, secret)
	if agentID == "" {
		h.fail(ex, errInvalidCredential, msg)
		return
	}
	id := wxtoken.WeComID(corpID, agentID)
	ex.app = id
	g, err := h.svc.Credential(r.Context(), id, wxtoken.KindAccessToken)
	if err != nil {
		h.serviceFailed(ex, r, err)
		return
	}
	h.writeGrant(ex, r, weComTokenBody{ErrMsg: "ok", AccessToken: g.Value, ExpiresIn: seconds(g)})
}

// agentOf returns the agent of corpID that a corpsecret names, or "" and
// the message to refuse it with. The corpsecret is, in this order:
//
//   - an agent's secret: compared with every agent's, on SHA-256 digests
//     and in constant time, so neither its length nor a matching prefix,
//     nor which agent matched, shows in the time taken;
//   - a client key granted exactly one agent of the corp (by agentid, or
//     by the corpid, or "*"), which names that agent;
//   - AGENTID:KEY, for a key granted several agents of the corp, or any
//     key granted the agent named.
//
// A key is looked up as in the Authorization header; it is never quoted.
func (h *Handler) agentOf(ex *exchange, corpID string, agents []agentSecret, secret string) (agentID, msg string) {
	got := sha256.Sum256([]byte(secret))
	match := -1
	for i := range agents {
		if subtle.ConstantTimeCompare(got[:], agents[i].sum[:]) == 1 && match < 0 {
			match = i
		}
	}
	if match >= 0 {
		return agents[match].id, ""
	}
	keys := h.apps.Load().keys
	if keys == nil {
		return "", msgWrongCorpSecret
	}
	if c, ok := keys.Key(secret); ok {
		var granted []string
		for _, a := range agents {
			if grants(c, wxtoken.WeComID(corpID, a.id)) {
				granted = append(granted, a.id)
			}
		}
		switch len(granted) {
		case 0:
			return "", msgWrongCorpSecret
		case 1:
			ex.client = c.Name
			return granted[0], ""
		default:
			ex.client = c.Name
			return "", msgSeveralAgents
		}
	}
	named, key, ok := strings.Cut(secret, ":")
	if !ok || named == "" {
		return "", msgWrongCorpSecret
	}
	c, ok := keys.Key(key)
	if !ok {
		return "", msgWrongCorpSecret
	}
	id := wxtoken.WeComID(corpID, named)
	if !h.knownAgent(id) || !grants(c, id) {
		return "", msgWrongCorpSecret
	}
	ex.client = c.Name
	return named, ""
}

// serveWeComTicket answers GET /cgi-bin/get_jsapi_ticket (the corp's
// jsapi ticket) and GET /cgi-bin/ticket/get?type=agent_config (the
// agent's) from the cache, for the agent whose token (or client key and
// WeComID in the appid header) the call carries.
func (h *Handler) serveWeComTicket(ex *exchange, r *http.Request, kind wxtoken.Kind) {
	if r.Method != http.MethodGet {
		h.fail(ex, errRequireGET, "require GET method")
		return
	}
	c, ok := h.identifyWeCom(ex, r)
	if !ok {
		return
	}
	if kind == wxtoken.KindAgentConfig {
		if typ, _ := queryValue(r.URL.RawQuery, "type"); typ != weComTicketType {
			h.fail(ex, errInvalidArgs, "invalid args: type must be "+weComTicketType)
			return
		}
	}
	g, err := h.svc.Credential(r.Context(), c.appID, kind)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
			h.fail(ex, errInvalidArgs, "invalid args: wxtoken does not keep this ticket for the agent (add "+string(kind)+" to the agent's tickets in the config)")
			return
		}
		h.serviceFailed(ex, r, err)
		return
	}
	h.writeGrant(ex, r, ticketBody{ErrMsg: "ok", Ticket: g.Value, ExpiresIn: seconds(g)})
}

// identifyWeCom finds the agent a WeCom ticket call is made for, and
// answers the call itself, with WeCom's errcodes, when it carries nothing
// that names an agent: no token (41001), a token wxtoken did not hand out
// for a WeCom agent (40014, which is also WeCom's answer to a token of
// another family), one that has expired (42001).
func (h *Handler) identifyWeCom(ex *exchange, r *http.Request) (caller, bool) {
	if _, has := r.Header["Authorization"]; has {
		c, ok := h.identifyKey(ex, r)
		if ok && !isWeCom(c.appID) {
			h.fail(ex, errInvalidToken, "invalid access_token: "+HeaderAppID+" names an app, not a WeCom agent (corpid/agentid)")
			return caller{}, false
		}
		return c, ok
	}
	tok, _, conflict := findToken(r.URL.RawQuery)
	switch {
	case conflict:
		h.fail(ex, errInvalidToken, "invalid access_token: the call carries different access_token parameters")
		return caller{}, false
	case tok == "":
		h.fail(ex, errMissingToken, "access_token missing")
		return caller{}, false
	}
	id, valid := h.appOf(tok)
	switch {
	case id == "" || !isWeCom(id):
		h.fail(ex, errInvalidToken, "invalid access_token: it is not one that wxtoken handed out for a WeCom agent")
		return caller{}, false
	case !valid:
		h.fail(ex, errTokenExpired, "access_token expired: fetch a new one")
		return caller{}, false
	}
	ex.app = id
	return caller{appID: id, by: byToken}, true
}

// logOtherAgent logs a relayed WeCom call that WeCom answered 301002: the
// token of one agent used on another's data. The relay puts in only the
// token of the agent whose token the caller sent, so it points at a bug
// (the caller's, or wxtoken's) and is logged as an error; the answer is
// passed on as it is.
func (h *Handler) logOtherAgent(ex *exchange, r *http.Request, whole []byte) {
	var a struct {
		ErrCode int `json:"errcode"`
	}
	if whole == nil || json.Unmarshal(whole, &a) != nil || a.ErrCode != errOtherAgent {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", ex.route.pattern),
		slog.String("appid", ex.app),
		slog.Int("errcode", errOtherAgent),
	}
	if ex.client != "" {
		attrs = append(attrs, slog.String("client", ex.client))
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "WeCom answered a relayed call 301002: the token of another agent was used", attrs...)
}
