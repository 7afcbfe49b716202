package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// WeCom (企业微信), host qyapi.weixin.qq.com: an access_token per
// (corpid, agent secret) from /cgi-bin/gettoken, the same one within its
// validity; the corp's jsapi ticket and the agent's agent_config ticket,
// each fetched with an agent's token and limited per hour; and an
// ordinary call, /cgi-bin/agent/get, that refuses a token of another
// agent of the corp.

// WeComAgent is a WeCom agent the simulator knows: an app of a corp, or
// a built-in app with a secret of its own such as contacts.
type WeComAgent struct {
	// CorpID is the corp's id ("ww" and 16 hex digits at WeCom).
	CorpID string
	// AgentID is the agent's id: digits, such as "1000002", or a name for
	// a built-in app, such as "contacts".
	AgentID string
	// Secret is the agent's secret, the corpsecret of gettoken.
	Secret string
}

// Errcodes of WeCom besides the ones shared with WeChat.
const (
	errWeComInvalidAgentID = 40056  // agent/get: agentid missing or not an agent of the corp
	errWeComInvalidParam   = 40058  // ticket/get with a type other than agent_config
	errWeComAPIForbidden   = 48002  // the agent may not call this API
	errWeComIPNotTrusted   = 60020  // the caller's IP is not among the agent's trusted IPs
	errWeComOtherAgent     = 301002 // a token of another agent of the corp was used
)

// wecomTicketType is the one type /cgi-bin/ticket/get answers.
const wecomTicketType = "agent_config"

// corp is the state WeCom keeps per corp.
type corp struct {
	id     string
	agents map[string]*agent // by agentid
	jsapi  *cred             // the corp's current jsapi_ticket

	period                  int64 // ticket period the counters below belong to
	jsapiCalls, configCalls int   // tickets issued in the period, all agents together
}

// agent is the state WeCom keeps per agent.
type agent struct {
	corp            *corp
	id, wid, secret string // agentid, WeComID, secret
	token           *cred  // current access_token
	config          *cred  // current agent_config ticket

	period                  int64
	jsapiCalls, configCalls int // tickets issued in the period with this agent's tokens
}

// newWeCom builds the corps and agents of opts.WeCom, or says which entry
// is invalid.
func newWeCom(list []WeComAgent) (map[string]*corp, map[string]*agent, error) {
	corps, agents := map[string]*corp{}, map[string]*agent{}
	for i, a := range list {
		switch {
		case a.CorpID == "" || strings.ContainsAny(a.CorpID, "/ "):
			return nil, nil, fmt.Errorf("simulator: WeCom agent %d has an empty corpid or one with a slash or space", i+1)
		case a.AgentID == "" || strings.ContainsAny(a.AgentID, "/ "):
			return nil, nil, fmt.Errorf("simulator: WeCom agent %d of corp %s has an empty agentid or one with a slash or space", i+1, a.CorpID)
		case a.Secret == "":
			return nil, nil, fmt.Errorf("simulator: WeCom agent %s has an empty secret", wxtoken.WeComID(a.CorpID, a.AgentID))
		}
		c := corps[a.CorpID]
		if c == nil {
			c = &corp{id: a.CorpID, agents: map[string]*agent{}}
			corps[a.CorpID] = c
		}
		wid := wxtoken.WeComID(a.CorpID, a.AgentID)
		if c.agents[a.AgentID] != nil {
			return nil, nil, fmt.Errorf("simulator: WeCom agent %s appears twice", wid)
		}
		for _, o := range c.agents {
			if o.secret == a.Secret {
				// gettoken tells agents apart by their secret alone.
				return nil, nil, fmt.Errorf("simulator: WeCom agents %s and %s have the same secret", o.wid, wid)
			}
		}
		ag := &agent{corp: c, id: a.AgentID, wid: wid, secret: a.Secret}
		c.agents[a.AgentID] = ag
		agents[wid] = ag
	}
	return corps, agents, nil
}

// WeComIDs returns the WeComID ("corpid/agentid") of every configured
// WeCom agent, sorted.
func (s *Simulator) WeComIDs() []string {
	ids := make([]string, 0, len(s.agents))
	for id := range s.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// wecomSlot is where the simulator keeps the current WeCom credential of
// kind what for appID, with the owner a new one would have; the caller
// holds s.mu.
func (s *Simulator) wecomSlot(appID, what, verb string) (**cred, string, error) {
	ag := s.agents[appID]
	if what == KindWeComJSAPI {
		c := s.corps[appID]
		if ag != nil {
			c = ag.corp
		}
		if c == nil {
			return nil, "", fmt.Errorf("simulator: cannot %s %s: %q is neither a WeCom corpid nor corpid/agentid", verb, what, appID)
		}
		return &c.jsapi, c.id, nil
	}
	if ag == nil {
		return nil, "", fmt.Errorf("simulator: cannot %s %s: unknown WeCom agent %q (want corpid/agentid)", verb, what, appID)
	}
	if what == KindWeComToken {
		return &ag.token, ag.wid, nil
	}
	return &ag.config, ag.wid, nil
}

type wecomTokenBody struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

type wecomAgentBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	AgentID any    `json:"agentid"` // a number, as WeCom sends it, or a built-in app's name
	Name    string `json:"name"`
}

type wecomIPListBody struct {
	ErrCode int      `json:"errcode"`
	ErrMsg  string   `json:"errmsg"`
	IPList  []string `json:"ip_list"`
}

// wecomCaller is the key a gettoken call counts under: the WeComID of the
// agent whose secret it sent, or else the corpid it sent.
func (s *Simulator) wecomCaller(corpID, secret string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.corps[corpID]; c != nil && secret != "" {
		for _, ag := range c.agents {
			if ag.secret == secret {
				return ag.wid
			}
		}
	}
	return corpID
}

// serveWeComToken answers GET /cgi-bin/gettoken?corpid=&corpsecret=: the
// agent's current token while it works, with the whole seconds it has
// left, and a new one once it expired or was ended.
func (s *Simulator) serveWeComToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	corpID, secret := q.Get("corpid"), q.Get("corpsecret")
	if !s.begin(w, r, EndpointWeComToken, s.wecomCaller(corpID, secret)) {
		return
	}
	if r.Method != http.MethodGet {
		writeWX(w, s.wecomErrBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ag *agent
	code := 0
	switch c := s.corps[corpID]; {
	case corpID == "":
		code = wechat.ErrMissingAppID
	case secret == "":
		code = wechat.ErrMissingSecret
	case c == nil:
		code = wechat.ErrInvalidAppID
	default:
		for _, a := range c.agents {
			if a.secret == secret {
				ag = a
			}
		}
		if ag == nil {
			code = wechat.ErrInvalidCredential
		}
	}
	if code != 0 {
		writeWX(w, s.wecomErrBody(r, code, ""))
		return
	}
	now := s.now()
	if ag.token == nil || !now.Before(ag.token.deadline) {
		ag.token = s.mint(ag.wid, KindWeComToken, now)
	}
	writeWX(w, wecomTokenBody{0, "ok", ag.token.value, seconds(ag.token.left(now))})
}

// wecomOwner is the WeComID of the agent that the access_token belongs
// to, "" if none.
func (s *Simulator) wecomOwner(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[token]; c != nil && c.kind == KindWeComToken {
		return c.appID
	}
	return ""
}

// isWeComCall reports whether a call with access_token v, to a path the
// simulator does not model, is WeCom's: v is a WeCom token, or the
// simulator knows WeCom agents and no apps.
func (s *Simulator) isWeComCall(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[v]; c != nil {
		return c.kind == KindWeComToken
	}
	return len(s.apps) == 0 && len(s.agents) > 0
}

// liveWeComToken finds the access_token of a WeCom call and checks that
// it works now; the caller holds s.mu. It returns the token's agent or
// the errcode WeCom gives.
func (s *Simulator) liveWeComToken(q url.Values, now time.Time) (*agent, int) {
	v, present := q["access_token"]
	if !present {
		return nil, errMissingToken
	}
	c := s.creds[v[0]]
	switch {
	case c == nil || c.kind != KindWeComToken:
		return nil, wechat.ErrInvalidToken
	case now.Before(c.deadline):
		return s.agents[c.appID], 0
	case c.deadline.Before(c.expiry):
		return nil, wechat.ErrInvalidToken // ended early
	default:
		return nil, wechat.ErrTokenExpired
	}
}

// serveWeComTicket answers GET /cgi-bin/get_jsapi_ticket (the corp
// ticket, endpoint EndpointWeComJSAPITicket) and GET
// /cgi-bin/ticket/get?type=agent_config (the agent ticket,
// EndpointWeComTicket). Each type has a limit per corp and per agent in
// every ticket period; the ticket it replaces fares as Options.OldTicket
// says.
func (s *Simulator) serveWeComTicket(w http.ResponseWriter, r *http.Request, endpoint string) {
	q := r.URL.Query()
	if !s.begin(w, r, endpoint, s.wecomOwner(q.Get("access_token"))) {
		return
	}
	if r.Method != http.MethodGet {
		writeWX(w, s.wecomErrBody(r, errRequireGET, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ag, code := s.liveWeComToken(q, now)
	if code == 0 && endpoint == EndpointWeComTicket && q.Get("type") != wecomTicketType {
		code = errWeComInvalidParam
	}
	if code != 0 {
		writeWX(w, s.wecomErrBody(r, code, ""))
		return
	}
	c := ag.corp
	s.rollTicketPeriod(ag, now)
	slot, kind, corpCalls, agentCalls := &c.jsapi, KindWeComJSAPI, &c.jsapiCalls, &ag.jsapiCalls
	owner := c.id
	if endpoint == EndpointWeComTicket {
		slot, kind, corpCalls, agentCalls = &ag.config, KindAgentConfig, &c.configCalls, &ag.configCalls
		owner = ag.wid
	}
	if *corpCalls >= s.opts.WeComCorpTicketLimit || *agentCalls >= s.opts.WeComAgentTicketLimit {
		writeWX(w, s.wecomErrBody(r, wechat.ErrDailyQuota, ""))
		return
	}
	*corpCalls++
	*agentCalls++
	switch {
	case s.opts.OldTicket == OldTicketEndsAfterOverlap:
		if old := *slot; old != nil {
			old.kill(now.Add(s.opts.Overlap))
		}
		*slot = s.mint(owner, kind, now)
	case *slot == nil || (*slot).left(now) <= s.opts.Overlap:
		*slot = s.mint(owner, kind, now)
	}
	writeWX(w, ticketBody{0, "ok", (*slot).value, seconds((*slot).left(now))})
}

// rollTicketPeriod resets the ticket counters of ag and its corp when a
// new ticket period has begun; the caller holds s.mu.
func (s *Simulator) rollTicketPeriod(ag *agent, now time.Time) {
	p := int64(now.Sub(s.start) / s.opts.WeComTicketPeriod)
	if c := ag.corp; c.period != p {
		c.period, c.jsapiCalls, c.configCalls = p, 0, 0
	}
	if ag.period != p {
		ag.period, ag.jsapiCalls, ag.configCalls = p, 0, 0
	}
}

// serveWeComAPI answers /cgi-bin/agent/get?agentid= and every other call
// with a WeCom token: the token is checked; an agentid in the query or in
// a JSON body that names another agent of the token's corp gets 301002,
// as WeCom refuses one agent's token for another; agent/get also needs
// the agentid of an agent of the corp (40056).
func (s *Simulator) serveWeComAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	q := r.URL.Query()
	if !s.begin(w, r, EndpointWeComAPI, s.wecomOwner(q.Get("access_token"))) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ag, code := s.liveWeComToken(q, s.now())
	if code != 0 {
		writeWX(w, s.wecomErrBody(r, code, ""))
		return
	}
	id, named := q.Get("agentid"), q.Has("agentid")
	if !named {
		id, named = bodyAgentID(body)
	}
	other := ag.corp.agents[id]
	if named && other != nil && other != ag {
		writeWX(w, s.wecomErrBody(r, errWeComOtherAgent, ""))
		return
	}
	switch r.URL.Path {
	case "/cgi-bin/agent/get":
		if other == nil {
			writeWX(w, s.wecomErrBody(r, errWeComInvalidAgentID, ""))
			return
		}
		var v any = ag.id
		if n, err := json.Number(ag.id).Int64(); err == nil {
			v = n
		}
		writeWX(w, wecomAgentBody{0, "ok", v, "agent " + ag.id})
	case "/cgi-bin/get_api_domain_ip", "/cgi-bin/getcallbackip":
		writeWX(w, wecomIPListBody{0, "ok", probeIPs()})
	default:
		writeWX(w, errorBody{0, "ok"})
	}
}

// bodyAgentID is the agentid field of a JSON object body, a number or a
// string, if there is one.
func bodyAgentID(body []byte) (string, bool) {
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return "", false
	}
	var b struct {
		AgentID json.RawMessage `json:"agentid"`
	}
	if json.Unmarshal(body, &b) != nil || len(b.AgentID) == 0 {
		return "", false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b.AgentID))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case json.Number:
		return v.String(), true
	case string:
		return v, true
	}
	return "", false
}

// wecomErrBody is WeCom's failure answer; msg "" takes the usual text for
// code. WeCom ends every errmsg with a hint, the caller's IP and a link
// explaining the code, where WeChat puts a rid; it is appended unless msg
// has one.
func (s *Simulator) wecomErrBody(r *http.Request, code int, msg string) errorBody {
	ip := clientIP(r)
	if msg == "" {
		msg = wecomErrMsg(code, ip)
	}
	if !strings.Contains(msg, "hint:") {
		msg += fmt.Sprintf(", hint: [%d_%d_%016x%016x], from ip: %s, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
			s.now().Unix(), rand.IntN(100), rand.Uint64(), rand.Uint64(), ip, code)
	}
	return errorBody{ErrCode: code, ErrMsg: msg}
}

// wecomErrMsg is WeCom's usual errmsg for code, without the hint.
func wecomErrMsg(code int, ip string) string {
	switch code {
	case wechat.ErrSystemBusy:
		return "system busy"
	case wechat.ErrInvalidCredential:
		return "invalid credential"
	case wechat.ErrInvalidAppID:
		return "invalid corpid"
	case wechat.ErrInvalidToken:
		return "invalid access_token"
	case wechat.ErrMissingAppID:
		return "corpid missing"
	case wechat.ErrMissingSecret:
		return "corpsecret missing"
	case wechat.ErrTokenExpired:
		return "access_token expired"
	case wechat.ErrDailyQuota:
		return "api freq out of limit"
	case errMissingToken:
		return "access_token missing"
	case errRequireGET:
		return "require GET method"
	case errWeComInvalidAgentID:
		return "invalid agentid"
	case errWeComInvalidParam:
		return "invalid parameter"
	case errWeComAPIForbidden:
		return "api forbidden"
	case errWeComIPNotTrusted:
		// The hint appended to it quotes the caller's IP.
		return "not allow to access from your ip"
	case errWeComOtherAgent:
		return "not allow operate another agent with this accesstoken."
	}
	return defaultErrMsg(code, ip)
}
