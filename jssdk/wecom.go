package jssdk

import (
	"errors"
	"time"
)

// WeComConfig is what a page of a WeCom agent needs to call wx.config and,
// when the agent keeps its agent_config ticket, wx.agentConfig: the URL
// that was signed and one signed object for each call. WeCom signs both
// with the algorithm of Sign, each with its own ticket: wx.config with the
// corp's jsapi ticket, wx.agentConfig with the agent's agent_config ticket.
type WeComConfig struct {
	// URL is the page URL that was signed (fragment removed).
	URL    string     `json:"url"`
	Config CorpConfig `json:"config"`
	// AgentConfig is nil when the agent keeps no agent_config ticket.
	AgentConfig *AgentConfig `json:"agentConfig,omitempty"`
}

// CorpConfig is the object a WeCom page passes to wx.config: the corpid in
// appId, and the values signed with the corp's jsapi ticket.
type CorpConfig struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// AgentConfig is the object a WeCom page passes to wx.agentConfig: the
// corp and agent, and the values signed with the agent's agent_config
// ticket.
type AgentConfig struct {
	CorpID    string `json:"corpid"`
	AgentID   string `json:"agentid"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// NewWeComConfig signs pageURL for a WeCom agent's page: wx.config with
// the corp's jsapiTicket and, when agentTicket is not empty,
// wx.agentConfig with the agent's agent_config ticket. Both carry now's
// Unix time, each its own fresh nonce. A pageURL that NormalizeURL rejects
// yields a *wxtoken.Error with code EInvalid.
func NewWeComConfig(corpID, agentID, jsapiTicket, agentTicket, pageURL string, now time.Time) (WeComConfig, error) {
	if corpID == "" || agentID == "" || jsapiTicket == "" {
		return WeComConfig{}, errors.New("jssdk: corpid, agentid and the jsapi ticket are required")
	}
	u, err := NormalizeURL(pageURL)
	if err != nil {
		return WeComConfig{}, err
	}
	ts := now.Unix()
	nonce, err := Nonce()
	if err != nil {
		return WeComConfig{}, err
	}
	cfg := WeComConfig{
		URL:    u,
		Config: CorpConfig{AppID: corpID, Timestamp: ts, NonceStr: nonce, Signature: Sign(jsapiTicket, nonce, ts, u)},
	}
	if agentTicket != "" {
		nonce, err := Nonce()
		if err != nil {
			return WeComConfig{}, err
		}
		cfg.AgentConfig = &AgentConfig{
			CorpID: corpID, AgentID: agentID, Timestamp: ts, NonceStr: nonce,
			Signature: SignAgentConfig(agentTicket, nonce, ts, u),
		}
	}
	return cfg, nil
}

// SignAgentConfig returns the wx.agentConfig signature of a WeCom agent's
// page. WeCom makes it as Sign does, over the agent's agent_config ticket
// in place of the jsapi ticket: the lower-case hex SHA-1 of
// "jsapi_ticket=T&noncestr=N&timestamp=S&url=U". pageURL must already be
// normalized.
func SignAgentConfig(agentTicket, nonceStr string, timestamp int64, pageURL string) string {
	return Sign(agentTicket, nonceStr, timestamp, pageURL)
}
