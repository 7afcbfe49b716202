package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDemoServesTokens runs `wxtoken demo` as a user would and follows its
// printed instructions: the key and server it prints give a token.
func TestDemoServesTokens(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	var server, key string
	sc := bufio.NewScanner(pr)
	for sc.Scan() && (server == "" || key == "") {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "export WXTOKEN_SERVER="); ok {
			server = v
		}
		if v, ok := strings.CutPrefix(line, "export WXTOKEN_KEY="); ok {
			key = v
		}
	}
	go io.Copy(io.Discard, pr)
	if server == "" || key == "" {
		t.Fatalf("demo printed no server or key")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/v1/apps/"+demoAppID+"/access_token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if got.AccessToken == "" || got.ExpiresIn <= 0 || got.ExpiresIn > 7200 {
		t.Fatalf("answer %+v", got)
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
