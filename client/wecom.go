package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// A WeCom (企业微信) agent is known to the server, and to the methods of
// the Service interface (Credential, Refresh) and of the cache
// (AccessToken, Ticket, Invalidate, InvalidateTicket, Transport), by its
// wxtoken.WeComID(corpid, agentid). The methods below take the corpid and
// agentid apart and are otherwise those methods: the same cache, the same
// coalescing of concurrent callers, the same compare-and-refresh.

// WeComAccessToken returns the access_token of the WeCom agent agentID of
// corp corpID, cached as AccessToken caches an app's. Every agent, and
// every built-in app with a secret of its own, has its own token: never
// use one agent's token for another's calls.
func (c *Client) WeComAccessToken(ctx context.Context, corpID, agentID string) (string, error) {
	if err := checkAgent(corpID, agentID); err != nil {
		return "", err
	}
	return c.cached(ctx, slotKey{wxtoken.WeComID(corpID, agentID), wxtoken.KindAccessToken})
}

// WeComTicket returns a WeCom agent's ticket of kind, cached like
// WeComAccessToken: wxtoken.KindJSAPITicket, the corp's ticket for
// wx.config as fetched with this agent's token, or wxtoken.KindAgentConfig,
// the agent's ticket for wx.agentConfig.
func (c *Client) WeComTicket(ctx context.Context, corpID, agentID string, kind wxtoken.Kind) (string, error) {
	if err := checkWeComTicket(corpID, agentID, kind); err != nil {
		return "", err
	}
	return c.cached(ctx, slotKey{wxtoken.WeComID(corpID, agentID), kind})
}

// WeComInvalidate reports stale, an access_token of a WeCom agent that
// WeCom rejected (40014 or 42001: WeCom may end a token early), and
// returns the token to use instead, as Invalidate does for an app.
func (c *Client) WeComInvalidate(ctx context.Context, corpID, agentID, stale string) (string, error) {
	if err := checkAgent(corpID, agentID); err != nil {
		return "", err
	}
	return c.invalidate(ctx, slotKey{wxtoken.WeComID(corpID, agentID), wxtoken.KindAccessToken}, stale)
}

// WeComInvalidateTicket is WeComInvalidate for a ticket of kind.
func (c *Client) WeComInvalidateTicket(ctx context.Context, corpID, agentID string, kind wxtoken.Kind, stale string) (string, error) {
	if err := checkWeComTicket(corpID, agentID, kind); err != nil {
		return "", err
	}
	return c.invalidate(ctx, slotKey{wxtoken.WeComID(corpID, agentID), kind}, stale)
}

// WeComTransport is Transport for calls to the WeCom API on behalf of a
// WeCom agent: each request carries the agent's current access_token, and
// one that WeCom answers with 42001 or 40014 is sent once more with the
// token that replaces it.
func (c *Client) WeComTransport(corpID, agentID string, base http.RoundTripper) http.RoundTripper {
	return c.Transport(wxtoken.WeComID(corpID, agentID), base)
}

// WeComJSSDKConfig returns what a WeCom agent's page at pageURL (its
// location.href; the fragment is dropped by the server) needs for
// wx.config and, when the server keeps the agent's agent_config ticket,
// wx.agentConfig. It always asks the server, since every config has its
// own nonces and timestamp.
func (c *Client) WeComJSSDKConfig(ctx context.Context, corpID, agentID, pageURL string) (jssdk.WeComConfig, error) {
	if err := checkAgent(corpID, agentID); err != nil {
		return jssdk.WeComConfig{}, err
	}
	if pageURL == "" {
		return jssdk.WeComConfig{}, wxtoken.Errorf(wxtoken.EInvalid, "the page url is required")
	}
	var cfg jssdk.WeComConfig
	q := url.Values{"url": {pageURL}}
	if err := c.do(ctx, http.MethodGet, agentPath(corpID, agentID)+"/jssdk_config", q, nil, &cfg); err != nil {
		return jssdk.WeComConfig{}, err
	}
	if cc := cfg.Config; cc.Signature == "" || cc.NonceStr == "" || cc.Timestamp == 0 {
		return jssdk.WeComConfig{}, malformed("jssdk_config", errors.New("config: signature, nonceStr or timestamp missing"))
	}
	if ac := cfg.AgentConfig; ac != nil && (ac.Signature == "" || ac.NonceStr == "" || ac.Timestamp == 0) {
		return jssdk.WeComConfig{}, malformed("jssdk_config", errors.New("agentConfig: signature, nonceStr or timestamp missing"))
	}
	return cfg, nil
}

// agentPath is the API path of a WeCom agent.
func agentPath(corpID, agentID string) string {
	return "/v1/wecom/" + url.PathEscape(corpID) + "/" + url.PathEscape(agentID)
}

// checkAgent checks a corpid and agentid: both are needed, and neither
// holds the "/" that joins them in a WeComID.
func checkAgent(corpID, agentID string) error {
	switch {
	case corpID == "" || agentID == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "the corpid and the agentid are required")
	case strings.Contains(corpID, "/") || strings.Contains(agentID, "/"):
		return wxtoken.Errorf(wxtoken.EInvalid, `a corpid or agentid holds no "/"`)
	}
	return nil
}

func checkWeComTicket(corpID, agentID string, kind wxtoken.Kind) error {
	if err := checkAgent(corpID, agentID); err != nil {
		return err
	}
	if !wxtoken.FamilyWeCom.HasTicket(kind) {
		return wxtoken.Errorf(wxtoken.EInvalid, "unknown WeCom ticket type %q (want jsapi or agent_config)", kind)
	}
	return nil
}
