package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// The secrets the apps verbs are given: no output may ever show them.
const (
	appsSecretApp   = "app-secret-0f1e2d3c4b5a69788796a5b4"
	appsSecretAgent = "agent-secret-a1b2c3d4e5f60718293a4b5c"
	appsSecretNew   = "new-secret-99887766554433221100aabb"
	appsAdminKey    = "wxt_apps-admin-key"
	appsShopKey     = "wxt_apps-shop-key"
	// appsConfigured is an app of the server's configuration file.
	appsConfigured = "wxconf000000000001"
)

// registryStore is a Registrar over a map, as a store would keep the
// entries: a secret kept when a change sends none, removed entries kept
// as removed.
type registryStore struct {
	mu      sync.Mutex
	entries map[string]*storedEntry
}

type storedEntry struct {
	reg     wxtoken.Registration
	removed bool
}

func (s *registryStore) secret(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return e.reg.Secret
	}
	return ""
}

func (s *registryStore) entry(id string) (wxtoken.Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil {
		return e.reg, !e.removed
	}
	return wxtoken.Registration{}, false
}

func answerOf(e *storedEntry) wxtoken.Registered {
	r := e.reg
	out := wxtoken.Registered{ID: r.ID(), Family: wxtoken.FamilyApp, AppID: r.AppID, CorpID: r.CorpID, AgentID: r.AgentID, Name: r.Name,
		TokenAPI: r.TokenAPI, Tickets: r.Tickets, Tags: r.Tags, State: wxtoken.EntryActive,
		CreatedAt: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	if r.CorpID != "" {
		out.Family = wxtoken.FamilyWeCom
	}
	if e.removed {
		out.State = wxtoken.EntryRemoved
		return out
	}
	out.Credentials = []wxtoken.CredentialStatus{{Kind: wxtoken.KindAccessToken, State: wxtoken.StateMissing}}
	for _, k := range r.Tickets {
		out.Credentials = append(out.Credentials, wxtoken.CredentialStatus{Kind: k, State: wxtoken.StateMissing})
	}
	return out
}

func (s *registryStore) registrar() *mock.Registrar {
	return &mock.Registrar{
		RegisterFn: func(_ context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			id := r.ID()
			switch e := s.entries[id]; {
			case id == appsConfigured:
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EConflict, "%s comes from the configuration file: change it there", id)
			case e != nil && !e.removed:
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EConflict, "%s is registered already", id)
			case r.Secret == "":
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EInvalid, "a secret is required")
			}
			e := &storedEntry{reg: r}
			s.entries[id] = e
			return answerOf(e), nil
		},
		ChangeFn: func(_ context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			e := s.entries[id]
			if e == nil || e.removed {
				return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.ENotFound, "%s is not registered", id)
			}
			if r.Secret == "" {
				r.Secret = e.reg.Secret
			}
			e.reg = r
			return answerOf(e), nil
		},
		UnregisterFn: func(_ context.Context, id string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			e := s.entries[id]
			if e == nil || e.removed {
				return wxtoken.Errorf(wxtoken.ENotFound, "%s is not registered", id)
			}
			e.removed = true
			return nil
		},
		RegistrationsFn: func(_ context.Context, f wxtoken.Family) ([]wxtoken.Registered, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			var out []wxtoken.Registered
			for _, e := range s.entries {
				if a := answerOf(e); f == "" || a.Family == f {
					out = append(out, a)
				}
			}
			sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
			return out, nil
		},
	}
}

// startAppsVerbServer is the real HTTP API over the registryStore.
func startAppsVerbServer(t *testing.T) *registryStore {
	t.Helper()
	s := &registryStore{entries: map[string]*storedEntry{}}
	sha := func(k string) string { sum := sha256.Sum256([]byte(k)); return hex.EncodeToString(sum[:]) }
	h, err := httpapi.New(httpapi.Options{
		Service:   &mock.Service{},
		Registrar: s.registrar(),
		Clients: []clientkey.Client{
			{Name: "ops", KeySHA256: sha(appsAdminKey), Admin: true},
			{Name: "shop", KeySHA256: sha(appsShopKey), Apps: []string{"*"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv(envServer, srv.URL)
	t.Setenv(envKey, appsAdminKey)
	return s
}

func writeSecretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAppsVerbs(t *testing.T) {
	s := startAppsVerbServer(t)
	appFile := writeSecretFile(t, appsSecretApp+"\n")
	newFile := writeSecretFile(t, "  "+appsSecretNew+"\r\n")
	t.Setenv("AGENT_SECRET", appsSecretAgent)
	t.Setenv("EMPTY_SECRET", "")
	const app, agent = "wxnew0000000000001", "ww0000000000000001/1000005"

	runVerbCases(t, []verbCase{
		{name: "add an app", args: []string{"apps", "add", "--appid", app, "--secret-file", appFile, "--name", "shop", "--token-api", "classic",
			"--ticket", "jsapi", "--ticket", "wx_card", "--tag", "retail", "--tag", "cn"},
			stdout: app + " registered: active; access_token missing, jsapi missing, wx_card missing\n"},
		{name: "add an agent", args: []string{"apps", "add", "--wecom", agent, "--secret-env", "AGENT_SECRET", "--ticket", "agent_config", "--json"},
			has: []string{`"id": "ww0000000000000001/1000005"`, `"family": "wecom"`, `"corpid": "ww0000000000000001"`, `"agentid": "1000005"`}},
		{name: "add again", args: []string{"apps", "add", "--appid", app, "--secret-file", appFile}, code: 1, stderr: []string{"registered already"}},
		{name: "add a configured app", args: []string{"apps", "add", "--appid", appsConfigured, "--secret-file", appFile}, code: 1, stderr: []string{"configuration file"}},
		{name: "change the name", args: []string{"apps", "set", app, "--name", "renamed"}, stdout: app + " changed: active; access_token missing, jsapi missing, wx_card missing\n"},
		{name: "change the secret", args: []string{"apps", "set", app, "--secret-file", newFile}, has: []string{"changed, with the new secret from the next fetch"}},
		{name: "change an agent", args: []string{"apps", "set", "--wecom", agent, "--tag", "hr"}, has: []string{"wecom " + agent + " changed"}},
		{name: "list", args: []string{"apps", "ls"}, has: []string{
			"ENTRY", "STATE", "TOKEN API", "TICKETS", "TAGS", "CREDENTIALS",
			app, "renamed", "classic", "jsapi,wx_card", "retail,cn",
			"wecom " + agent, "agent_config", "hr",
		}},
		{name: "list the agents", args: []string{"apps", "ls", "--family", "wecom"}, has: []string{"wecom " + agent}},
		{name: "remove", args: []string{"apps", "rm", app}, stdout: app + " removed: no longer served or refreshed\n"},
		{name: "remove an agent", args: []string{"apps", "rm", "--wecom", agent}, stdout: "wecom " + agent + " removed: no longer served or refreshed\n"},
		{name: "list the removed", args: []string{"apps", "ls", "--family", "app"}, has: []string{app, "removed"}},
		{name: "remove again", args: []string{"apps", "rm", app}, code: 1, stderr: []string{"not registered"}},
		{name: "change a removed app", args: []string{"apps", "set", app, "--name", "x"}, code: 1, stderr: []string{"is not registered", "apps ls"}},

		{name: "a --secret flag", args: []string{"apps", "add", "--appid", "wxB", "--secret", appsSecretApp}, code: 2, stderr: []string{"no --secret flag", "ps", "--secret-file"}},
		{name: "a --secret= flag", args: []string{"apps", "set", "wxB", "--secret=" + appsSecretApp}, code: 2, stderr: []string{"no --secret flag"}},
		{name: "no secret", args: []string{"apps", "add", "--appid", "wxB"}, code: 2, stderr: []string{"the secret is required"}},
		{name: "two secrets", args: []string{"apps", "add", "--appid", "wxB", "--secret-file", appFile, "--secret-env", "AGENT_SECRET"}, code: 2, stderr: []string{"not both"}},
		{name: "an empty variable", args: []string{"apps", "add", "--appid", "wxB", "--secret-env", "EMPTY_SECRET"}, code: 1, stderr: []string{"EMPTY_SECRET is not set or is empty"}},
		{name: "a missing file", args: []string{"apps", "add", "--appid", "wxB", "--secret-file", filepath.Join(t.TempDir(), "none")}, code: 1, stderr: []string{"--secret-file"}},
		{name: "no appid", args: []string{"apps", "add", "--secret-file", appFile}, code: 2, stderr: []string{"--appid APPID (or --wecom CORPID/AGENTID) is required"}},
		{name: "appid and wecom", args: []string{"apps", "add", "--appid", "wxB", "--wecom", agent, "--secret-file", appFile}, code: 2, stderr: []string{"not both"}},
		{name: "add takes no APPID argument", args: []string{"apps", "add", "wxB", "--secret-file", appFile}, code: 2, stderr: []string{"--appid"}},
		{name: "a bad token API", args: []string{"apps", "add", "--appid", "wxB", "--secret-file", appFile, "--token-api", "fast"}, code: 2, stderr: []string{"stable or classic"}},
		{name: "an agent's token API", args: []string{"apps", "add", "--wecom", agent, "--secret-file", appFile, "--token-api", "stable"}, code: 2, stderr: []string{"--token-api is for apps"}},
		{name: "an app's agent_config", args: []string{"apps", "add", "--appid", "wxB", "--secret-file", appFile, "--ticket", "agent_config"}, code: 2, stderr: []string{"jsapi or wx_card"}},
		{name: "an agent's wx_card", args: []string{"apps", "set", "--wecom", agent, "--ticket", "wx_card"}, code: 2, stderr: []string{"jsapi or agent_config"}},
		{name: "a bad agent", args: []string{"apps", "rm", "--wecom", "ww1"}, code: 2, stderr: []string{"want CORPID/AGENTID"}},
		{name: "an agent's id as APPID", args: []string{"apps", "rm", "ww1/2"}, code: 2, stderr: []string{"--wecom"}},
		{name: "nothing to change", args: []string{"apps", "set", app}, code: 2, stderr: []string{"nothing to change"}},
		{name: "a bad family", args: []string{"apps", "ls", "--family", "authorizer"}, code: 2, stderr: []string{"want app or wecom"}},
		{name: "not an admin", args: []string{"apps", "ls", "--key", appsShopKey}, code: 1, stderr: []string{"admin client key"}},
		{name: "no subcommand", args: []string{"apps"}, code: 2, stderr: []string{"add, set, rm or ls"}},
		{name: "unknown subcommand", args: []string{"apps", "list"}, code: 2, stderr: []string{`unknown subcommand "list"`}},
		{name: "help", args: []string{"apps", "-h"}, stderr: []string{"ps", "--secret-file", "history"}},
		{name: "a subcommand's help", args: []string{"apps", "add", "-h"}, stderr: []string{"-secret-file FILE", "-secret-env NAME", "shell's history"}},
	}, appsSecretApp, appsSecretAgent, appsSecretNew)

	// The secrets reached the server, each from where it was read.
	if got := s.secret(agent); got != appsSecretAgent {
		t.Errorf("the agent's secret on the server is %q, want the environment variable's", got)
	}
	if got := s.secret(app); got != appsSecretNew {
		t.Errorf("the app's secret on the server is %q, want the new file's, trimmed", got)
	}
	// apps set kept what its command line did not mention.
	reg, _ := s.entry(app)
	if reg.Name != "renamed" || reg.TokenAPI != wxtoken.TokenAPIClassic || !slices.Equal(reg.Tags, []string{"retail", "cn"}) ||
		!slices.Equal(reg.Tickets, []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard}) {
		t.Errorf("after apps set the app is %+v", reg)
	}
	if reg, _ := s.entry(agent); !slices.Equal(reg.Tickets, []wxtoken.Kind{wxtoken.KindAgentConfig}) || !slices.Equal(reg.Tags, []string{"hr"}) {
		t.Errorf("after apps set the agent is %+v", reg)
	}
}

// An empty value clears a list, and the secret stays when none is given.
func TestAppsSetClearsAList(t *testing.T) {
	s := startAppsVerbServer(t)
	file := writeSecretFile(t, appsSecretApp)
	runVerbCases(t, []verbCase{
		{name: "add", args: []string{"apps", "add", "--appid", "wxA", "--secret-file", file, "--tag", "a", "--ticket", "jsapi"}, has: []string{"registered"}},
		{name: "clear", args: []string{"apps", "set", "wxA", "--tag", "", "--ticket="}, has: []string{"changed"}},
	}, appsSecretApp)
	reg, active := s.entry("wxA")
	if !active || len(reg.Tags) != 0 || len(reg.Tickets) != 0 || reg.Secret != appsSecretApp {
		t.Errorf("after clearing: %+v (active %v)", reg, active)
	}
}

func TestAppsListJSON(t *testing.T) {
	startAppsVerbServer(t)
	code, stdout, stderr := runVerb("apps", "ls", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("empty list: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	file := writeSecretFile(t, appsSecretApp)
	if code, _, stderr := runVerb("apps", "add", "--appid", "wxA", "--secret-file", file); code != 0 {
		t.Fatalf("add: exit %d: %s", code, stderr)
	}
	code, stdout, _ = runVerb("apps", "ls", "--json")
	var list []wxtoken.Registered
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list) != 1 || list[0].ID != "wxA" {
		t.Errorf("exit %d, %v, %+v", code, err, list)
	}
	if code, stdout, _ := runVerb("apps", "ls"); code != 0 || !strings.Contains(stdout, "wxA") {
		t.Errorf("table: exit %d, %s", code, stdout)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name  string
		flags entryFlags
		stdin string
		want  string
		err   string
	}{
		{name: "none", want: ""},
		{name: "a file with a newline", flags: entryFlags{secretFile: write("a", "S1\n")}, want: "S1"},
		{name: "standard input", flags: entryFlags{secretFile: "-"}, stdin: "S2\n", want: "S2"},
		{name: "an empty file", flags: entryFlags{secretFile: write("b", "\n")}, err: "is empty"},
		{name: "two lines", flags: entryFlags{secretFile: write("c", "S3\nS4\n")}, err: "more than one line"},
		{name: "a large file", flags: entryFlags{secretFile: write("d", strings.Repeat("x", maxSecretBytes+1))}, err: "larger than"},
		{name: "empty standard input", flags: entryFlags{secretFile: "-"}, err: "standard input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.flags.readSecret(strings.NewReader(tt.stdin))
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				if err != nil && strings.Contains(err.Error(), "S3") {
					t.Errorf("the error quotes the file: %v", err)
				}
			case err != nil || got != tt.want:
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// The apps verb is listed in the usage.
func TestAppsInUsage(t *testing.T) {
	_, _, stderr := runVerb("help")
	if !strings.Contains(stderr, "apps") || !strings.Contains(stderr, fmt.Sprintf("%-10s", "apps")) {
		t.Errorf("usage lacks apps:\n%s", stderr)
	}
}
