package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDemoServesTokens runs `wxtoken demo` as a user would and follows its
// printed instructions: the key and server it prints give a token, and
// the third-party platform's lines give the component token and each
// authorizer's token and jsapi ticket, the accounts having authorized the
// platform through the simulator's pushes before the lines were printed.
func TestDemoServesTokens(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	var server, key string
	var curls []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "export WXTOKEN_SERVER="); ok {
			server = v
		}
		if v, ok := strings.CutPrefix(line, "export WXTOKEN_KEY="); ok {
			key = v
		}
		if strings.HasPrefix(line, "curl ") {
			curls = append(curls, line)
		}
		if strings.HasPrefix(line, "Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if server == "" || key == "" {
		t.Fatalf("demo printed no server or key")
	}
	// The platform's accounts authorize it before the lines are printed:
	// that must not slow the start down.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the demo took %v to print its instructions, want a couple of seconds at most", took)
	}
	get := func(path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	status, body := get("/v1/apps/" + demoAppID + "/access_token")
	var got struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &got); err != nil || status != http.StatusOK {
		t.Fatalf("status %d, %v", status, err)
	}
	if got.AccessToken == "" || got.ExpiresIn <= 0 || got.ExpiresIn > 7200 {
		t.Fatalf("answer %+v", got)
	}

	// Every platform line the demo printed, fetched as its curl would.
	want := map[string]bool{"/v1/platforms/" + demoComponentAppID + "/component_access_token": false}
	for _, a := range demoAuthorizers {
		prefix := "/v1/platforms/" + demoComponentAppID + "/authorizers/" + a
		want[prefix+"/access_token"], want[prefix+"/tickets/jsapi"] = false, false
	}
	want["/v1/platforms/"+demoComponentAppID+"/authorizers"] = false
	for _, line := range curls {
		path, ok := demoCurlPath(line)
		if !ok || !strings.HasPrefix(path, "/v1/platforms/") {
			continue
		}
		if _, known := want[path]; !known {
			t.Errorf("the demo printed %q, which this test does not expect", line)
			continue
		}
		want[path] = true
		status, body := get(path)
		if status != http.StatusOK {
			t.Errorf("%s: status %d: %s", line, status, body)
			continue
		}
		if problem := demoAnswerProblem(line, body); problem != "" {
			t.Errorf("%s\nanswered %s\n%s", line, body, problem)
		}
	}
	for path, seen := range want {
		if !seen {
			t.Errorf("the demo printed no curl line for %s", path)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited %d after Ctrl-C", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop")
	}
}

// demoCurlPath returns the path of a demo curl line that GETs
// $WXTOKEN_SERVER/PATH with nothing piped after it.
func demoCurlPath(line string) (string, bool) {
	if strings.Contains(line, " -d ") || strings.Contains(line, "|") {
		return "", false
	}
	for _, w := range strings.Fields(line) {
		w = strings.Trim(w, `"`)
		if path, ok := strings.CutPrefix(w, "$WXTOKEN_SERVER"); ok {
			return path, true
		}
	}
	return "", false
}

// TestDemoEventURL: the simulator pushes to the server's own address, or
// to the loopback one when the server listens on every interface.
func TestDemoEventURL(t *testing.T) {
	events := "/v1/platforms/" + demoComponentAppID + "/events"
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080" + events},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}, "http://10.1.2.3:8080" + events},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://127.0.0.1:8080" + events},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, "http://127.0.0.1:9000" + events},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9000}, "http://[::1]:9000" + events},
	} {
		if got := demoEventURL(tt.addr); got != tt.want {
			t.Errorf("demoEventURL(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
