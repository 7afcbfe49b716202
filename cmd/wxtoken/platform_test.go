package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// The platform of the verbs' server, its authorizer, and the keys: an
// admin's granted the platform and the authorizer by name, and a key
// granted the authorizer alone.
const (
	verbComp     = "wxc0c0c0c0c0c0c0c0"
	verbAuth     = "wxa1a1a1a1a1a1a1a1"
	verbAuthz    = verbComp + ":" + verbAuth
	verbAdminKey = "wxt_verb-admin-key"
	verbAuthKey  = "wxt_verb-authorizer-key"
)

// platformVerbServer is the real HTTP API over mocks, recording the
// imports it is asked for.
type platformVerbServer struct {
	*httptest.Server
	mu      sync.Mutex
	imports []string
}

func (s *platformVerbServer) importCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.imports...)
}

func startPlatformVerbServer(t *testing.T) *platformVerbServer {
	t.Helper()
	s := &platformVerbServer{}
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	grant := func(id string, kind wxtoken.Kind, prefix string) wxtoken.Grant {
		return wxtoken.Grant{AppID: id, Kind: kind, Value: prefix + "-" + string(kind), ExpiresIn: 7200 * time.Second, ExpiresAt: at}
	}
	sha := func(k string) string { sum := sha256.Sum256([]byte(k)); return hex.EncodeToString(sum[:]) }
	h, err := httpapi.New(httpapi.Options{
		Service: &mock.Service{
			CredentialFn: func(_ context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
				return grant(id, kind, "current"), nil
			},
			RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, _ string) (wxtoken.Grant, error) {
				return grant(id, kind, "fresh"), nil
			},
		},
		Platforms: &mock.Platforms{
			ImportAuthorizerFn: func(_ context.Context, c, a, rt string) (wxtoken.AuthorizerStatus, error) {
				s.mu.Lock()
				s.imports = append(s.imports, a+" "+rt)
				s.mu.Unlock()
				if a == "wxrefused" {
					return wxtoken.AuthorizerStatus{}, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "WeChat refused the refresh token: the account must authorize the platform again", WeChatErrCode: 61023}
				}
				return wxtoken.AuthorizerStatus{ComponentAppID: c, AuthorizerAppID: a, State: wxtoken.EntryActive}, nil
			},
			AuthorizersFn: func(_ context.Context, c string) ([]wxtoken.AuthorizerStatus, error) {
				exp := time.Now().Add(90*time.Minute + 30*time.Second)
				return []wxtoken.AuthorizerStatus{
					{ComponentAppID: c, AuthorizerAppID: verbAuth, State: wxtoken.EntryActive, Credentials: []wxtoken.CredentialStatus{
						{Kind: wxtoken.KindAccessToken, State: wxtoken.StateFresh, ExpiresAt: &exp},
					}},
					{ComponentAppID: c, AuthorizerAppID: "wxgone", State: wxtoken.EntryRemoved, Note: "the account cancelled\nits authorization"},
				}, nil
			},
		},
		Components: []string{verbComp},
		Clients: []clientkey.Client{
			{Name: "ops", KeySHA256: sha(verbAdminKey), Apps: []string{verbComp, verbAuthz}, Admin: true},
			{Name: "authz", KeySHA256: sha(verbAuthKey), Apps: []string{verbAuthz}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// verbCase is one command line and what it must print.
type verbCase struct {
	name   string
	args   []string
	code   int
	stdout string   // exact, when set
	has    []string // in stdout
	stderr []string // in stderr
}

func runVerbCases(t *testing.T, tests []verbCase, secrets ...string) {
	t.Helper()
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
			for _, s := range secrets {
				if strings.Contains(stdout+stderr, s) {
					t.Errorf("the output shows the secret %q:\n%s%s", s, stdout, stderr)
				}
			}
		})
	}
}

func TestAuthorizerVerbs(t *testing.T) {
	s := startPlatformVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbAuthKey)
	runVerbCases(t, []verbCase{
		{name: "token", args: []string{"token", "--authorizer", verbAuthz}, stdout: "current-access_token\n"},
		{name: "token --json", args: []string{"token", "--authorizer", verbAuthz, "--json"}, stdout: `{
  "component_appid": "wxc0c0c0c0c0c0c0c0",
  "authorizer_appid": "wxa1a1a1a1a1a1a1a1",
  "access_token": "current-access_token",
  "expires_in": 7200,
  "expires_at": "2025-03-01T10:00:00Z"
}
`},
		{name: "ticket defaults to jsapi", args: []string{"ticket", "--authorizer", verbAuthz}, stdout: "current-jsapi\n"},
		{name: "ticket wx_card --json", args: []string{"ticket", "--authorizer", verbAuthz, "--type", "wx_card", "--json"}, stdout: `{
  "component_appid": "wxc0c0c0c0c0c0c0c0",
  "authorizer_appid": "wxa1a1a1a1a1a1a1a1",
  "type": "wx_card",
  "ticket": "current-wx_card",
  "expires_in": 7200,
  "expires_at": "2025-03-01T10:00:00Z"
}
`},
		{name: "refresh", args: []string{"refresh", "--authorizer", verbAuthz, "--stale", "old"}, stdout: "fresh-access_token\n"},
		{name: "refresh a ticket", args: []string{"refresh", "--authorizer", verbAuthz, "--stale", "old", "--type", "wx_card"}, stdout: "fresh-wx_card\n"},
		{name: "sign", args: []string{"sign", "--authorizer", verbAuthz, "--url", "https://shop.example.com/pay?a=1&b=2#x"},
			has: []string{`"appId": "wxa1a1a1a1a1a1a1a1"`, `"url": "https://shop.example.com/pay?a=1&b=2"`, `"signature": "`}},

		{name: "another authorizer", args: []string{"token", "--authorizer", verbComp + ":wxother"}, code: 1, stderr: []string{"not granted this authorizer"}},
		{name: "ticket agent_config", args: []string{"ticket", "--authorizer", verbAuthz, "--type", "agent_config"}, code: 2, stderr: []string{"--type", "jsapi or wx_card"}},
		{name: "no colon", args: []string{"token", "--authorizer", verbComp}, code: 2, stderr: []string{"want COMPONENT_APPID:AUTHORIZER_APPID"}},
		{name: "empty authorizer", args: []string{"token", "--authorizer", verbComp + ":"}, code: 2, stderr: []string{"want COMPONENT_APPID:AUTHORIZER_APPID"}},
		{name: "two colons", args: []string{"token", "--authorizer", verbAuthz + ":x"}, code: 2, stderr: []string{"want COMPONENT_APPID:AUTHORIZER_APPID"}},
		{name: "and an appid", args: []string{"token", "wx1", "--authorizer", verbAuthz}, code: 2, stderr: []string{"give APPID or --authorizer, not both"}},
		{name: "and --wecom", args: []string{"token", "--wecom", "ww1/1", "--authorizer", verbAuthz}, code: 2, stderr: []string{"give --wecom or --authorizer, not both"}},
	})
}

func TestPlatformAuthorizersVerb(t *testing.T) {
	s := startPlatformVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbAdminKey)
	runVerbCases(t, []verbCase{
		{name: "table", args: []string{"platform", "authorizers", "--component", verbComp}, has: []string{
			"AUTHORIZER", "STATE", "KIND", "CREDENTIAL", "EXPIRES IN", "NOTE",
			verbAuth, "active", "access_token", "fresh", "1h30m",
			"wxgone", "removed", "the account cancelled its authorization",
		}},
		{name: "json", args: []string{"platform", "authorizers", "--component", verbComp, "--json"}, has: []string{`"authorizer_appid": "wxgone"`, `"state": "removed"`}},
		{name: "not an admin", args: []string{"platform", "authorizers", "--component", verbComp, "--key", verbAuthKey}, code: 1, stderr: []string{"admin client key"}},
		{name: "unknown platform", args: []string{"platform", "authorizers", "--component", "wxc000"}, code: 1, stderr: []string{"unknown third-party platform"}},
		{name: "no --component", args: []string{"platform", "authorizers"}, code: 2, stderr: []string{"--component is required"}},
		{name: "no subcommand", args: []string{"platform"}, code: 2, stderr: []string{"authorizers or import"}},
		{name: "unknown subcommand", args: []string{"platform", "list"}, code: 2, stderr: []string{`unknown subcommand "list"`}},
	})
}

func writeImportFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlatformImportVerb(t *testing.T) {
	s := startPlatformVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbAdminKey)
	jsonFile := writeImportFile(t, "a.json", `[
  {"authorizer_appid": "wxone", "refresh_token": "refreshtoken@@@SECRET1", "name": "shop one"},
  {"authorizer_appid": "wxtwo", "refresh_token": "refreshtoken@@@SECRET2"}
]
`)
	csvFile := writeImportFile(t, "a.csv", "\ufeffauthorizer_appid,refresh_token\nwxthree,refreshtoken@@@SECRET3\n\nwxrefused, refreshtoken@@@SECRET4\nwxfour,refreshtoken@@@SECRET5\n")
	runVerbCases(t, []verbCase{
		{name: "json", args: []string{"platform", "import", "--component", verbComp, jsonFile},
			stdout: "wxone\timported (active)\nwxtwo\timported (active)\n2 of 2 authorizer(s) imported, 0 failed\n"},
		{name: "missing file", args: []string{"platform", "import", jsonFile + ".missing", "--component", verbComp}, code: 1,
			stderr: []string{"reading the import file", "no such file"}},
		{name: "csv", args: []string{"platform", "import", "--component", verbComp, csvFile}, code: 1, has: []string{
			"wxthree\timported (active)\n",
			"wxrefused\tfailed: WeChat refused the refresh token: the account must authorize the platform again (WeChat errcode 61023)\n",
			"wxfour\timported (active)\n",
			"2 of 3 authorizer(s) imported, 1 failed\n",
		}},
	}, "SECRET")
	want := []string{
		"wxone refreshtoken@@@SECRET1", "wxtwo refreshtoken@@@SECRET2",
		"wxthree refreshtoken@@@SECRET3", "wxrefused refreshtoken@@@SECRET4", "wxfour refreshtoken@@@SECRET5",
	}
	if got := s.importCalls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("imports %q, want %q", got, want)
	}
}

func TestPlatformImportStopsOnARefusedKey(t *testing.T) {
	s := startPlatformVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbAuthKey)
	f := writeImportFile(t, "a.csv", "authorizer_appid,refresh_token\nwxone,R1\nwxtwo,R2\nwxthree,R3\n")
	runVerbCases(t, []verbCase{{name: "not an admin", args: []string{"platform", "import", "--component", verbComp, f}, code: 1, has: []string{
		"wxone\tfailed: ", "admin client key", "stopped: 2 authorizer(s) not tried", "0 of 3 authorizer(s) imported, 3 failed",
	}}})
	if got := s.importCalls(); len(got) != 0 {
		t.Errorf("imports reached the platform: %q", got)
	}
}

// TestPlatformImportBadFiles: a file with a mistake imports nothing, and
// the error names the line.
func TestPlatformImportBadFiles(t *testing.T) {
	s := startPlatformVerbServer(t)
	t.Setenv(envServer, s.URL)
	t.Setenv(envKey, verbAdminKey)
	tests := []struct{ name, content, want string }{
		{"empty", "", "the file is empty"},
		{"empty array", "[]", "no authorizers in the file"},
		{"json syntax", "[\n {\"authorizer_appid\": \"wxone\", \"refresh_token\": \"R1\"},\n {\"authorizer_appid\": \"wxtwo\" \"refresh_token\": \"R2\"}\n]", "line 3: not valid JSON"},
		{"json missing token", "[\n {\"authorizer_appid\": \"wxone\", \"refresh_token\": \"R1\"},\n\n {\"authorizer_appid\": \"wxtwo\"}\n]", "line 4: want an object with authorizer_appid and refresh_token"},
		{"json empty token", "[\n {\"authorizer_appid\": \"wxone\", \"refresh_token\": \"\"}\n]", "line 2: refresh_token is empty"},
		{"json number", "[\n {\"authorizer_appid\": \"wxone\",\n  \"refresh_token\": 12}\n]", "line 3: refresh_token must be a string"},
		{"json not an object", "[\n \"wxone\"\n]", "line 2: want an object"},
		{"json not closed", "[\n {\"authorizer_appid\": \"wxone\", \"refresh_token\": \"R1\"}\n", "the JSON array is not closed"},
		{"json trailing", "[{\"authorizer_appid\": \"wxone\", \"refresh_token\": \"R1\"}]\n[]", "line 2: unexpected data after the JSON array"},
		{"csv without header", "wxone,R1\nwxtwo,R2\n", "line 1: want a JSON array, or CSV whose header line names the columns authorizer_appid and refresh_token"},
		{"csv empty token", "authorizer_appid,refresh_token\nwxone,R1\nwxtwo,\n", "line 3: refresh_token is empty"},
		{"csv field count", "authorizer_appid,refresh_token\nwxone,R1\nwxtwo,R2,extra\n", "line 3: the number of fields differs"},
		{"csv bad quote", "authorizer_appid,refresh_token\nwxone,\"R1\n", "not valid CSV"},
		{"csv duplicate", "authorizer_appid,refresh_token\nwxone,R1\nwxtwo,R2\nwxone,R3\n", "line 4: authorizer wxone is already on line 2"},
		{"csv compound id", "authorizer_appid,refresh_token\nwxc:wxone,R1\n", "line 2: authorizer_appid \"wxc:wxone\" is not an appid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeImportFile(t, "f", tt.content)
			code, stdout, stderr := runVerb("platform", "import", "--component", verbComp, f)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "nothing was imported") || !strings.Contains(stderr, f) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tt.want)
			}
			if strings.Contains(stderr, "R1") || strings.Contains(stderr, "R2") {
				t.Errorf("the error quotes a refresh token: %s", stderr)
			}
		})
	}
	if got := s.importCalls(); len(got) != 0 {
		t.Errorf("a bad file imported %q", got)
	}
	runVerbCases(t, []verbCase{
		{name: "no file", args: []string{"platform", "import", "--component", verbComp}, code: 2, stderr: []string{"FILE is required"}},
		{name: "no --component", args: []string{"platform", "import", "x.csv"}, code: 2, stderr: []string{"--component is required"}},
		{name: "two files", args: []string{"platform", "import", "--component", verbComp, "a", "b"}, code: 2, stderr: []string{`unexpected argument "b"`}},
	})
}
