package jssdk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// TestSignAgentConfigDocumentationExample: WeCom's documentation of the
// JS-SDK signature (企业微信 JS-SDK使用权限签名算法) gives the same worked
// example for both of its tickets.
func TestSignAgentConfigDocumentationExample(t *testing.T) {
	got := SignAgentConfig(
		"sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW",
		1414587457,
		"http://mp.weixin.qq.com?params=value",
	)
	if want := "0f9de62fce790f9a083d5c99e95740ceb90c27ed"; got != want {
		t.Errorf("SignAgentConfig = %s, want %s", got, want)
	}
}

func TestNewWeComConfig(t *testing.T) {
	const (
		corp, agent = "ww0123456789abcdef", "1000002"
		corpTicket  = "corp-jsapi-ticket"
		agentTicket = "agent-config-ticket"
		page        = "https://oa.example.com/approve?id=7&from=card"
	)
	now := time.Unix(1700000000, 999_000_000)
	cfg, err := NewWeComConfig(corp, agent, corpTicket, agentTicket, page+"#top", now)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != page {
		t.Errorf("url = %q, want %q", cfg.URL, page)
	}
	c := cfg.Config
	if c.AppID != corp || c.Timestamp != 1700000000 || len(c.NonceStr) != NonceLength {
		t.Errorf("config = %+v", c)
	}
	if want := sha1Of("jsapi_ticket=" + corpTicket + "&noncestr=" + c.NonceStr + "&timestamp=1700000000&url=" + page); c.Signature != want {
		t.Errorf("config signature = %s, want %s (the corp ticket's)", c.Signature, want)
	}
	a := cfg.AgentConfig
	if a == nil {
		t.Fatal("no agentConfig although the agent ticket was given")
	}
	if a.CorpID != corp || a.AgentID != agent || a.Timestamp != 1700000000 || len(a.NonceStr) != NonceLength {
		t.Errorf("agentConfig = %+v", a)
	}
	if want := sha1Of("jsapi_ticket=" + agentTicket + "&noncestr=" + a.NonceStr + "&timestamp=1700000000&url=" + page); a.Signature != want {
		t.Errorf("agentConfig signature = %s, want %s (the agent ticket's)", a.Signature, want)
	}
	if a.Signature == c.Signature {
		t.Error("both objects carry one signature")
	}

	// The JSON is what the pages pass on as it is.
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || len(top) != 3 {
		t.Fatalf("%s: %v, want url, config and agentConfig", b, err)
	}
	shape := map[string]map[string]any{}
	for _, obj := range []string{"config", "agentConfig"} {
		var m map[string]any
		if err := json.Unmarshal(top[obj], &m); err != nil {
			t.Fatalf("%s: %s: %v", obj, b, err)
		}
		shape[obj] = m
	}
	for obj, keys := range map[string][]string{
		"config":      {"appId", "timestamp", "nonceStr", "signature"},
		"agentConfig": {"corpid", "agentid", "timestamp", "nonceStr", "signature"},
	} {
		if len(shape[obj]) != len(keys) {
			t.Errorf("%s: %v, want the keys %v", obj, shape[obj], keys)
		}
		for _, k := range keys {
			if _, ok := shape[obj][k]; !ok {
				t.Errorf("%s lacks %s: %s", obj, k, b)
			}
		}
	}

	// Without the agent ticket, only wx.config is signed.
	cfg, err = NewWeComConfig(corp, agent, corpTicket, "", page, now)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AgentConfig != nil {
		t.Errorf("agentConfig %+v without an agent ticket", cfg.AgentConfig)
	}
	if b, _ := json.Marshal(cfg); strings.Contains(string(b), "agentConfig") {
		t.Errorf("JSON %s holds agentConfig", b)
	}
}

func TestNewWeComConfigRejects(t *testing.T) {
	now := time.Unix(1700000000, 0)
	_, err := NewWeComConfig("ww1", "1", "t", "a", "/relative", now)
	if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("relative url: %v, want EInvalid", err)
	}
	for _, args := range [][3]string{{"", "1", "t"}, {"ww1", "", "t"}, {"ww1", "1", ""}} {
		if _, err := NewWeComConfig(args[0], args[1], args[2], "a", "https://example.com/", now); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
