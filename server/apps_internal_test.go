package server

import (
	"reflect"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/refresh"
)

// TestEngineApps: every app and every WeCom agent reaches the engine,
// each agent as an app of the WeCom family known by its WeComID, with its
// own secret and tickets.
func TestEngineApps(t *testing.T) {
	yml := `
apps:
  - {appid: wx0123456789abcdef, name: shop, secret: app-secret-value-1, token_api: classic, tickets: [jsapi]}
wecom:
  - corpid: ww0123456789abcdef
    name: acme
    agents:
      - {agentid: "1000002", secret: agent-secret-value-1, tickets: [jsapi, agent_config]}
      - {agentid: contacts, secret: agent-secret-value-2}
  - corpid: ww00000000000000ff
    agents:
      - {agentid: "1000002", secret: agent-secret-value-3}
upstream: {wecom_base_url: "http://127.0.0.1:9/"}
clients:
  - {name: ops, key_sha256: "` + "4f1c3a0b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b" + `", apps: ["*"]}
`
	cfg, err := config.Parse([]byte(yml), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := engineApps(cfg)
	type app struct {
		refresh.AppConfig
		secret string
	}
	var gotApps []app
	for _, a := range got {
		s := a.Secret()
		a.Secret = nil
		gotApps = append(gotApps, app{a, s})
	}
	want := []app{
		{refresh.AppConfig{AppID: "wx0123456789abcdef", Name: "shop", Family: wxtoken.FamilyApp, TokenAPI: wxtoken.TokenAPIClassic, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}}, "app-secret-value-1"},
		{refresh.AppConfig{AppID: "ww0123456789abcdef/1000002", Name: "acme", Family: wxtoken.FamilyWeCom, TokenAPI: wxtoken.TokenAPIWeCom,
			Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindAgentConfig}}, "agent-secret-value-1"},
		{refresh.AppConfig{AppID: "ww0123456789abcdef/contacts", Name: "acme", Family: wxtoken.FamilyWeCom, TokenAPI: wxtoken.TokenAPIWeCom}, "agent-secret-value-2"},
		{refresh.AppConfig{AppID: "ww00000000000000ff/1000002", Family: wxtoken.FamilyWeCom, TokenAPI: wxtoken.TokenAPIWeCom}, "agent-secret-value-3"},
	}
	if !reflect.DeepEqual(gotApps, want) {
		t.Errorf("engine apps:\n%+v\nwant\n%+v", gotApps, want)
	}
}
