package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/simulator"
)

func TestParseSimWeCom(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []simulator.WeComAgent
	}{
		{"ww1:1000005:s1", []simulator.WeComAgent{{CorpID: "ww1", AgentID: "1000005", Secret: "s1"}}},
		{"ww1:s1, ww1:s2,ww2:s3", []simulator.WeComAgent{
			{CorpID: "ww1", AgentID: "1000002", Secret: "s1"},
			{CorpID: "ww1", AgentID: "1000003", Secret: "s2"},
			{CorpID: "ww2", AgentID: "1000002", Secret: "s3"},
		}},
		// An agentid given anywhere is skipped by the ones assigned.
		{"ww1:s1,ww1:s2,ww1:1000003:s3,ww1:contacts:s4,", []simulator.WeComAgent{
			{CorpID: "ww1", AgentID: "1000002", Secret: "s1"},
			{CorpID: "ww1", AgentID: "1000004", Secret: "s2"},
			{CorpID: "ww1", AgentID: "1000003", Secret: "s3"},
			{CorpID: "ww1", AgentID: "contacts", Secret: "s4"},
		}},
		// The secret is what follows the second colon.
		{"ww1:1000002:a:b", []simulator.WeComAgent{{CorpID: "ww1", AgentID: "1000002", Secret: "a:b"}}},
	} {
		got, err := parseSimWeCom(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseSimWeCom(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "no agents given"},
		{" , ", "no agents given"},
		{"ww1", "entry 1 is not corpid:agentid:secret or corpid:secret"},
		{"ww1:s1,ww1:", "entry 2 is not"},
		{"ww1::s1", "entry 1 is not"},
		{":1000002:s1", "entry 1 is not"},
		{"ww/1:s1", "entry 1 is not"},
		{"ww1:100 2:s1", "entry 1 is not"},
		{"ww1:a.b:s1", `agentid "a.b"`},
		{"ww1:1000002:s1,ww1:1000002:s2", "agent ww1/1000002 appears twice"},
	} {
		_, err := parseSimWeCom(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseSimWeCom(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s1") {
			t.Errorf("parseSimWeCom(%q): the error %q quotes a secret", c.in, err)
		}
	}
}

// startSimVerb runs `wxtoken simulator` with args and returns the first
// line it prints and the address it listens on.
func startSimVerb(t *testing.T, args ...string) (line, base string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"simulator", "--listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("simulator exited with %d", code)
		}
	})
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("the simulator printed nothing")
	}
	line = sc.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	addr, ok := strings.CutPrefix(line, "wxtoken simulator listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	base, _, _ = strings.Cut(addr, " ")
	return line, base
}

func TestSimulatorVerbWeCom(t *testing.T) {
	line, base := startSimVerb(t, "--wecom", "ww1:secret1,ww1:contacts:secret2")
	if want := " for WeCom agents ww1/1000002, ww1/contacts (ttl 2h0m0s,"; !strings.Contains(line, want) {
		t.Errorf("line %q does not contain %q", line, want)
	}
	if strings.Contains(line, "secret") {
		t.Errorf("line %q shows a secret", line)
	}
	get := func(path string) (v struct {
		ErrCode     int    `json:"errcode"`
		AccessToken string `json:"access_token"`
		AgentID     any    `json:"agentid"`
	}) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tok := get("/cgi-bin/gettoken?corpid=ww1&corpsecret=secret1").AccessToken
	if tok == "" {
		t.Fatal("no token for ww1/1000002")
	}
	if a := get("/cgi-bin/agent/get?agentid=1000002&access_token=" + url.QueryEscape(tok)); a.ErrCode != 0 || a.AgentID != 1000002.0 {
		t.Errorf("agent/get: %+v", a)
	}
	if a := get("/cgi-bin/agent/get?agentid=contacts&access_token=" + url.QueryEscape(tok)); a.ErrCode != 301002 {
		t.Errorf("agent/get another agent: %+v", a)
	}
	// No demo app with --wecom alone.
	if a := get("/cgi-bin/token?grant_type=client_credential&appid=" + simDemoAppID + "&secret=" + simDemoSecret); a.ErrCode != 40013 {
		t.Errorf("the demo app is served: %+v", a)
	}

	line, _ = startSimVerb(t, "--apps", "wxA:sA,wxB:sB", "--wecom", "ww2:1000009:s")
	if want := " for apps wxA, wxB and WeCom agents ww2/1000009 (ttl"; !strings.Contains(line, want) {
		t.Errorf("line %q does not contain %q", line, want)
	}
	line, _ = startSimVerb(t, "--apps", "wxA:sA")
	if want := " for apps wxA (ttl"; !strings.Contains(line, want) {
		t.Errorf("line %q does not contain %q", line, want)
	}
}

func TestSimulatorVerbWeComUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--wecom", "ww1"}, "--wecom: entry 1 is not"},
		{[]string{"--wecom", "ww1:1:s,ww1:2:s"}, "WeCom agents ww1/1 and ww1/2 have the same secret"},
	} {
		err := runSimulator(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, c.args...), io.Discard, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
}
