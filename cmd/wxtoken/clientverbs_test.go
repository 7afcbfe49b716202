package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

const (
	verbKey   = "wxt_verb-test-key"
	verbAppID = "wx0123456789abcdef"
	verbCorp  = "ww0123456789abcdef"
	verbAgent = verbCorp + "/1000002"
)

// verbServer is a wxtoken server for the client verbs: one app with fixed
// credentials, one app whose credentials WeChat refuses, and the error
// answers of the API.
type verbServer struct {
	*httptest.Server
	mu      sync.Mutex
	lastURL string
	stale   []string
}

func startVerbServer(t *testing.T) *verbServer {
	t.Helper()
	return newVerbServer(t, httptest.NewServer)
}

// newVerbServer is startVerbServer with the server that start makes, such
// as httptest.NewTLSServer.
func newVerbServer(t *testing.T, start func(http.Handler) *httptest.Server) *verbServer {
	t.Helper()
	s := &verbServer{}
	mux := http.NewServeMux()
	grant := func(w http.ResponseWriter, r *http.Request, value string) {
		kind := r.PathValue("type")
		owner := map[string]any{"appid": r.PathValue("appid")}
		types := []string{"jsapi", "wx_card"}
		if corp := r.PathValue("corpid"); corp != "" {
			owner = map[string]any{"corpid": corp, "agentid": r.PathValue("agentid")}
			types = []string{"jsapi", "agent_config"}
		}
		answer := func(fields map[string]any) {
			for k, v := range owner {
				fields[k] = v
			}
			writeVerbJSON(w, 200, fields)
		}
		if kind == "" {
			answer(map[string]any{"access_token": value, "expires_in": 7200, "expires_at": "2025-03-01T10:00:00Z"})
			return
		}
		if kind != types[0] && kind != types[1] {
			writeVerbError(w, 404, "not_found", "unknown ticket type", 0)
			return
		}
		answer(map[string]any{"type": kind, "ticket": value, "expires_in": 7000, "expires_at": "2025-03-01T09:56:40Z"})
	}
	get := func(w http.ResponseWriter, r *http.Request) {
		grant(w, r, "current-"+kindName(r))
	}
	refresh := func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Stale string `json:"stale"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.stale = append(s.stale, body.Stale)
		s.mu.Unlock()
		if body.Stale == "" {
			writeVerbError(w, 400, "invalid", "stale is required", 0)
			return
		}
		grant(w, r, "fresh-"+kindName(r))
	}
	mux.HandleFunc("GET /v1/apps/{appid}/access_token", s.auth(get))
	mux.HandleFunc("GET /v1/apps/{appid}/tickets/{type}", s.auth(get))
	mux.HandleFunc("POST /v1/apps/{appid}/access_token/refresh", s.auth(refresh))
	mux.HandleFunc("POST /v1/apps/{appid}/tickets/{type}/refresh", s.auth(refresh))
	mux.HandleFunc("GET /v1/wecom/{corpid}/{agentid}/access_token", s.auth(get))
	mux.HandleFunc("GET /v1/wecom/{corpid}/{agentid}/tickets/{type}", s.auth(get))
	mux.HandleFunc("POST /v1/wecom/{corpid}/{agentid}/access_token/refresh", s.auth(refresh))
	mux.HandleFunc("POST /v1/wecom/{corpid}/{agentid}/tickets/{type}/refresh", s.auth(refresh))
	mux.HandleFunc("GET /v1/wecom/{corpid}/{agentid}/jssdk_config", s.auth(func(w http.ResponseWriter, r *http.Request) {
		page, _, _ := strings.Cut(r.URL.Query().Get("url"), "#")
		writeVerbJSON(w, 200, map[string]any{"url": page,
			"config":      map[string]any{"appId": r.PathValue("corpid"), "timestamp": 1414587457, "nonceStr": "Wm3WZYTPz0wzccnW", "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed"},
			"agentConfig": map[string]any{"corpid": r.PathValue("corpid"), "agentid": r.PathValue("agentid"), "timestamp": 1414587457, "nonceStr": "N0nce0000000000A", "signature": "5e1c6ab1fc5d0e8e7e1b6e1a0d3c9a2b4f6e8d0c"},
		})
	}))
	mux.HandleFunc("GET /v1/apps/{appid}/jssdk_config", s.auth(func(w http.ResponseWriter, r *http.Request) {
		u := r.URL.Query().Get("url")
		if !strings.HasPrefix(u, "https://") {
			writeVerbError(w, 400, "invalid", "url must be an absolute http or https URL", 0)
			return
		}
		page, _, _ := strings.Cut(u, "#")
		writeVerbJSON(w, 200, map[string]any{"appId": r.PathValue("appid"), "timestamp": 1414587457, "nonceStr": "Wm3WZYTPz0wzccnW", "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed", "url": page})
	}))
	mux.HandleFunc("GET /v1/apps", s.auth(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		exp, next, blocked := now.Add(90*time.Minute+30*time.Second), now.Add(45*time.Second+900*time.Millisecond), now.Add(4*time.Minute+30*time.Second)
		past := now.Add(-time.Minute)
		writeVerbJSON(w, 200, map[string]any{"apps": []wxtoken.AppStatus{
			{AppID: verbAppID, Name: "shop", TokenAPI: wxtoken.TokenAPIStable, Credentials: []wxtoken.CredentialStatus{
				{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &exp, NextRefreshAt: &next},
				{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateExpired, ExpiresAt: &past, NextRefreshAt: &past,
					LastError: &wxtoken.ErrorInfo{ErrCode: 40164, Class: "whitelist", Message: "invalid ip 1.2.3.4", Hint: "add 1.2.3.4 to the\nIP whitelist", At: past}},
			}},
			{AppID: "wxempty", TokenAPI: wxtoken.TokenAPIClassic, BlockedUntil: &blocked},
			{AppID: verbAgent, Family: wxtoken.FamilyWeCom, CorpID: verbCorp, AgentID: "1000002", Name: "acme", TokenAPI: wxtoken.TokenAPIWeCom,
				Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAgentConfig, State: wxtoken.StateFresh, ExpiresAt: &exp, NextRefreshAt: &next}}},
		}})
	}))
	s.Server = start(mux)
	t.Cleanup(s.Close)
	return s
}

func kindName(r *http.Request) string {
	if t := r.PathValue("type"); t != "" {
		return t
	}
	return "token"
}

func (s *verbServer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.lastURL = r.URL.String()
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+verbKey {
			writeVerbError(w, 401, "unauthorized", "unknown client key", 0)
			return
		}
		switch r.PathValue("appid") {
		case "", verbAppID:
			h(w, r)
		case "wxquota":
			writeVerbError(w, 503, "unavailable", "no valid access_token: the daily quota is used up until 00:00 China Standard Time", 45009)
		case "wxsecret":
			writeVerbError(w, 403, "forbidden", "this key is not granted wxsecret", 0)
		default:
			writeVerbError(w, 404, "not_found", "unknown app: it is not configured on this server", 0)
		}
	}
}

func writeVerbJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeVerbError(w http.ResponseWriter, status int, code, msg string, errcode int) {
	e := map[string]any{"code": code, "message": msg}
	if errcode != 0 {
		e["wechat_errcode"] = errcode
	}
	writeVerbJSON(w, status, map[string]any{"error": e})
}

// runVerb runs a command line as main would.
func runVerb(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestClientVerbs(t *testing.T) {
	s := startVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbKey)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string   // exact, when set
		has    []string // in stdout
		stderr []string // in stderr
	}{
		{name: "token", args: []string{"token", verbAppID}, stdout: "current-token\n"},
		{name: "token flags after the appid", args: []string{"token", verbAppID, "--timeout", "5s"}, stdout: "current-token\n"},
		{name: "token --json", args: []string{"token", "--json", verbAppID}, stdout: `{
  "appid": "wx0123456789abcdef",
  "access_token": "current-token",
  "expires_in": 7200,
  "expires_at": "2025-03-01T10:00:00Z"
}
`},
		{name: "ticket defaults to jsapi", args: []string{"ticket", verbAppID}, stdout: "current-jsapi\n"},
		{name: "ticket wx_card --json", args: []string{"ticket", verbAppID, "--type", "wx_card", "--json"}, stdout: `{
  "appid": "wx0123456789abcdef",
  "type": "wx_card",
  "ticket": "current-wx_card",
  "expires_in": 7000,
  "expires_at": "2025-03-01T09:56:40Z"
}
`},
		{name: "refresh", args: []string{"refresh", verbAppID, "--stale", "old"}, stdout: "fresh-token\n"},
		{name: "refresh a ticket", args: []string{"refresh", verbAppID, "--stale", "old", "--type", "jsapi"}, stdout: "fresh-jsapi\n"},
		{name: "sign", args: []string{"sign", verbAppID, "--url", "https://shop.example.com/pay?a=1&b=2#x"}, stdout: `{
  "appId": "wx0123456789abcdef",
  "timestamp": 1414587457,
  "nonceStr": "Wm3WZYTPz0wzccnW",
  "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed",
  "url": "https://shop.example.com/pay?a=1&b=2"
}
`},
		{name: "status", args: []string{"status"}, has: []string{
			"APP", "KIND", "STATE", "EXPIRES IN", "NEXT REFRESH", "LAST ERROR",
			"wx0123456789abcdef (shop)", "access_token", "fresh", "1h30m", "45s",
			"jsapi", "expired", "due", "errcode 40164: add 1.2.3.4 to the IP whitelist",
			"wxempty", "wxempty: upstream calls held back for 4m",
		}},
		{name: "status --json", args: []string{"status", "--json"}, has: []string{`"appid": "wx0123456789abcdef"`, `"hint": "add 1.2.3.4 to the\nIP whitelist"`, `"blocked_until": `}},

		{name: "wecom token", args: []string{"token", "--wecom", verbAgent}, stdout: "current-token\n"},
		{name: "wecom token --json", args: []string{"token", "--wecom", verbAgent, "--json"}, stdout: `{
  "corpid": "ww0123456789abcdef",
  "agentid": "1000002",
  "access_token": "current-token",
  "expires_in": 7200,
  "expires_at": "2025-03-01T10:00:00Z"
}
`},
		{name: "wecom ticket defaults to jsapi", args: []string{"ticket", "--wecom", verbAgent}, stdout: "current-jsapi\n"},
		{name: "wecom ticket agent_config --json", args: []string{"ticket", "--wecom", verbAgent, "--type", "agent_config", "--json"}, stdout: `{
  "corpid": "ww0123456789abcdef",
  "agentid": "1000002",
  "type": "agent_config",
  "ticket": "current-agent_config",
  "expires_in": 7000,
  "expires_at": "2025-03-01T09:56:40Z"
}
`},
		{name: "wecom refresh", args: []string{"refresh", "--wecom", verbAgent, "--stale", "old"}, stdout: "fresh-token\n"},
		{name: "wecom refresh a ticket", args: []string{"refresh", "--stale", "old", "--type", "agent_config", "--wecom", verbAgent}, stdout: "fresh-agent_config\n"},
		{name: "wecom sign", args: []string{"sign", "--wecom", verbAgent, "--url", "https://oa.example.com/a?b=1&c=2#x"}, stdout: `{
  "url": "https://oa.example.com/a?b=1&c=2",
  "config": {
    "appId": "ww0123456789abcdef",
    "timestamp": 1414587457,
    "nonceStr": "Wm3WZYTPz0wzccnW",
    "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
  },
  "agentConfig": {
    "corpid": "ww0123456789abcdef",
    "agentid": "1000002",
    "timestamp": 1414587457,
    "nonceStr": "N0nce0000000000A",
    "signature": "5e1c6ab1fc5d0e8e7e1b6e1a0d3c9a2b4f6e8d0c"
  }
}
`},
		{name: "status shows agents", args: []string{"status"}, has: []string{"wecom ww0123456789abcdef/1000002 (acme)", "agent_config"}},
		{name: "wecom and an appid", args: []string{"token", verbAppID, "--wecom", verbAgent}, code: 2, stderr: []string{"give APPID or --wecom, not both"}},
		{name: "wecom without agent", args: []string{"token", "--wecom", verbCorp}, code: 2, stderr: []string{"want CORPID/AGENTID"}},
		{name: "wecom with an empty corp", args: []string{"token", "--wecom", "/1000002"}, code: 2, stderr: []string{"want CORPID/AGENTID"}},
		{name: "wecom with two slashes", args: []string{"token", "--wecom", verbAgent + "/x"}, code: 2, stderr: []string{"want CORPID/AGENTID"}},
		{name: "wecom ticket wx_card", args: []string{"ticket", "--wecom", verbAgent, "--type", "wx_card"}, code: 2, stderr: []string{"--type", "jsapi or agent_config"}},
		{name: "app ticket agent_config", args: []string{"ticket", verbAppID, "--type", "agent_config"}, code: 2, stderr: []string{"--type", "jsapi or wx_card"}},
		{name: "wecom refresh wx_card", args: []string{"refresh", "--wecom", verbAgent, "--stale", "x", "--type", "wx_card"}, code: 2, stderr: []string{"want access_token, jsapi or agent_config"}},
		{name: "wecom sign without --url", args: []string{"sign", "--wecom", verbAgent}, code: 2, stderr: []string{"--url is required"}},
		{name: "token without appid", args: []string{"token"}, code: 2, stderr: []string{"APPID (or --wecom CORPID/AGENTID, or --authorizer COMPONENT_APPID:AUTHORIZER_APPID) is required", "usage: wxtoken token APPID"}},
		{name: "token with two appids", args: []string{"token", "a", "b"}, code: 2, stderr: []string{`unexpected argument "b"`}},
		{name: "ticket of an unknown type", args: []string{"ticket", verbAppID, "--type", "card"}, code: 2, stderr: []string{"--type", "jsapi or wx_card"}},
		{name: "refresh without --stale", args: []string{"refresh", verbAppID}, code: 2, stderr: []string{"--stale is required"}},
		{name: "refresh of an unknown type", args: []string{"refresh", verbAppID, "--stale", "x", "--type", "token"}, code: 2, stderr: []string{"unknown credential type"}},
		{name: "sign without --url", args: []string{"sign", verbAppID}, code: 2, stderr: []string{"--url is required"}},
		{name: "status with an argument", args: []string{"status", "x"}, code: 2, stderr: []string{`unexpected argument "x"`}},
		{name: "bad --server", args: []string{"token", verbAppID, "--server", "localhost:8080"}, code: 2, stderr: []string{"absolute http or https URL"}},
		{name: "help", args: []string{"token", "-h"}, code: 0, stderr: []string{"-server URL", "WXTOKEN_KEY"}},

		{name: "wrong key", args: []string{"token", verbAppID, "--key", "wxt_wrong"}, code: 1, stderr: []string{"wxtoken token: unknown client key; check --key or WXTOKEN_KEY"}},
		{name: "unknown app", args: []string{"token", "wxnope"}, code: 1, stderr: []string{"wxtoken token: unknown app: it is not configured on this server\n"}},
		{name: "app not granted", args: []string{"ticket", "wxsecret"}, code: 1, stderr: []string{"this key is not granted wxsecret"}},
		{name: "WeChat refuses", args: []string{"token", "wxquota"}, code: 1, stderr: []string{"daily quota is used up until 00:00 China Standard Time (WeChat errcode 45009)"}},
		{name: "server refuses the url", args: []string{"sign", verbAppID, "--url", "/pay"}, code: 1, stderr: []string{"url must be an absolute http or https URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runVerb(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.stdout)
			}
			for _, h := range tt.has {
				if !strings.Contains(stdout, h) {
					t.Errorf("stdout lacks %q:\n%s", h, stdout)
				}
			}
			for _, h := range tt.stderr {
				if !strings.Contains(stderr, h) {
					t.Errorf("stderr lacks %q:\n%s", h, stderr)
				}
			}
			if tt.code != 0 && stdout != "" {
				t.Errorf("a failed command printed to stdout: %q", stdout)
			}
			if strings.Contains(stderr, verbKey) {
				t.Errorf("stderr shows the key: %s", stderr)
			}
		})
	}
}

func TestClientVerbsEnvironment(t *testing.T) {
	s := startVerbServer(t)

	t.Run("no key", func(t *testing.T) {
		t.Setenv(envServer, s.URL)
		t.Setenv(envKey, "")
		code, stdout, stderr := runVerb("token", verbAppID)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "set WXTOKEN_KEY") {
			t.Errorf("exit %d, stdout %q, stderr %q; want a usage error naming WXTOKEN_KEY", code, stdout, stderr)
		}
	})
	t.Run("--key and --server override the environment", func(t *testing.T) {
		t.Setenv(envServer, "http://127.0.0.1:1")
		t.Setenv(envKey, "wxt_wrong")
		code, stdout, stderr := runVerb("token", verbAppID, "--server", s.URL, "--key", verbKey)
		if code != 0 || stdout != "current-token\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("the key never shows in help", func(t *testing.T) {
		t.Setenv(envKey, verbKey)
		_, _, stderr := runVerb("status", "-h")
		if strings.Contains(stderr, verbKey) {
			t.Errorf("help shows the key:\n%s", stderr)
		}
	})
	t.Run("server unreachable", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		t.Setenv(envServer, closed.URL)
		t.Setenv(envKey, verbKey)
		code, _, stderr := runVerb("token", verbAppID)
		if code != 1 || !strings.Contains(stderr, "cannot reach the wxtoken server at "+closed.URL+": ") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if strings.Contains(stderr, "/v1/apps") {
			t.Errorf("stderr repeats the request URL: %q", stderr)
		}
	})
	t.Run("default server", func(t *testing.T) {
		t.Setenv(envServer, "")
		t.Setenv(envKey, verbKey)
		f := &clientFlags{timeout: time.Second}
		var seen []string
		c, err := f.client(func(k string) (string, bool) {
			seen = append(seen, k)
			return "", false
		})
		if err == nil || c != nil || !strings.Contains(fmt.Sprint(seen), envKey) {
			t.Errorf("client() = %v, %v after reading %v; want the missing-key error", c, err, seen)
		}
		f.key = verbKey
		if _, err := f.client(func(string) (string, bool) { return "", false }); err != nil {
			t.Errorf("client() with the default server: %v", err)
		}
	})
	t.Run("the WeCom routes", func(t *testing.T) {
		t.Setenv(envServer, s.URL)
		t.Setenv(envKey, verbKey)
		for args, want := range map[string]string{
			"token":                               "/v1/wecom/ww0123456789abcdef/1000002/access_token",
			"ticket --type agent_config":          "/v1/wecom/ww0123456789abcdef/1000002/tickets/agent_config",
			"refresh --stale x --type jsapi":      "/v1/wecom/ww0123456789abcdef/1000002/tickets/jsapi/refresh",
			"sign --url https://oa.example.com/p": "/v1/wecom/ww0123456789abcdef/1000002/jssdk_config?url=https%3A%2F%2Foa.example.com%2Fp",
		} {
			if code, _, stderr := runVerb(append(strings.Fields(args), "--wecom", verbAgent)...); code != 0 {
				t.Fatalf("%s: exit %d: %s", args, code, stderr)
			}
			s.mu.Lock()
			got := s.lastURL
			s.mu.Unlock()
			if got != want {
				t.Errorf("%s: asked %s, want %s", args, got, want)
			}
		}
	})
	t.Run("the refresh body", func(t *testing.T) {
		t.Setenv(envServer, s.URL)
		t.Setenv(envKey, verbKey)
		if code, _, stderr := runVerb("refresh", verbAppID, "--stale", "dead token"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if last := s.stale[len(s.stale)-1]; last != "dead token" {
			t.Errorf("server got stale %q", last)
		}
	})
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	apps := []wxtoken.AppStatus{{
		AppID: "wxa", Credentials: []wxtoken.CredentialStatus{
			{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: at(2*time.Hour - time.Second), NextRefreshAt: at(80*time.Minute + 59*time.Second)},
			{Kind: wxtoken.KindJSAPITicket, State: wxtoken.StateStale, ExpiresAt: at(59*time.Second + 999*time.Millisecond), NextRefreshAt: at(0)},
			{Kind: wxtoken.KindWxCard, State: wxtoken.StateMissing, LastError: &wxtoken.ErrorInfo{Class: "transient", Message: "timeout"}},
		},
	}}
	apps = append(apps, wxtoken.AppStatus{
		AppID: "wwa/1000002", Family: wxtoken.FamilyWeCom, CorpID: "wwa", AgentID: "1000002", Name: "acme",
		Credentials: []wxtoken.CredentialStatus{{Kind: wxtoken.KindAgentConfig, State: wxtoken.StateFresh, ExpiresAt: at(time.Hour)}},
	})
	var b bytes.Buffer
	if err := printStatus(&b, apps, now); err != nil {
		t.Fatal(err)
	}
	want := `APP                       KIND          STATE    EXPIRES IN  NEXT REFRESH  LAST ERROR
wxa                       access_token  fresh    1h59m       1h20m         -
wxa                       jsapi         stale    59s         due           -
wxa                       wx_card       missing  -           -             timeout
wecom wwa/1000002 (acme)  agent_config  fresh    1h00m       -             -
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := printStatus(&b, nil, now); err != nil || b.String() != "no apps configured\n" {
		t.Errorf("no apps: %q, %v", b.String(), err)
	}
}

// TestClientVerbsPrivateCA: an https server whose certificate comes from a
// CA of its own is refused until the CLI is told to trust that CA, by
// --cacert or WXTOKEN_CACERT.
func TestClientVerbsPrivateCA(t *testing.T) {
	s := newVerbServer(t, httptest.NewTLSServer)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbKey)

	tests := []struct {
		name   string
		env    string // WXTOKEN_CACERT
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "system CAs only", args: []string{"token", verbAppID}, code: 1, stderr: "certificate signed by unknown authority"},
		{name: "--cacert", args: []string{"token", verbAppID, "--cacert", caFile}, stdout: "current-token\n"},
		{name: "WXTOKEN_CACERT", env: caFile, args: []string{"ticket", verbAppID}, stdout: "current-jsapi\n"},
		{name: "--cacert over WXTOKEN_CACERT", env: notPEM, args: []string{"status", "--cacert", caFile, "--json"}, stdout: `"appid": "wx0123456789abcdef"`},
		{name: "not PEM", args: []string{"token", verbAppID, "--cacert", notPEM}, code: 1, stderr: "--cacert: " + notPEM + " holds no PEM certificate"},
		{name: "missing file", args: []string{"token", verbAppID, "--cacert", filepath.Join(dir, "nope.pem")}, code: 1, stderr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envCACert, tt.env)
			code, stdout, stderr := runVerb(tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}
