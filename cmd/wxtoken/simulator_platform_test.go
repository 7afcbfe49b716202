package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/simulator"
)

const cliAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func TestParseSimPlatforms(t *testing.T) {
	got, err := parseSimPlatforms("wxc1:s:e:c:tok:"+cliAESKey+", wxc2:s2:t2:"+cliAESKey, "http://h/v1/platforms/{component_appid}/events", time.Second, simulator.RefreshTokenRotate)
	want := []simulator.Platform{
		{ComponentAppID: "wxc1", Secret: "s:e:c", Token: "tok", EncodingAESKey: cliAESKey, EventURL: "http://h/v1/platforms/wxc1/events", PushInterval: time.Second, RefreshToken: simulator.RefreshTokenRotate},
		{ComponentAppID: "wxc2", Secret: "s2", Token: "t2", EncodingAESKey: cliAESKey, EventURL: "http://h/v1/platforms/wxc2/events", PushInterval: time.Second, RefreshToken: simulator.RefreshTokenRotate},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseSimPlatforms = %+v, %v", got, err)
	}
	for _, c := range []struct{ in, want string }{
		{"", "no platforms given"},
		{"wxc:s1:tok", "entry 1 is not component_appid:secret:token:aeskey"},
		{"wxc::tok:" + cliAESKey, "entry 1 is not"},
		{"wxc:s1:tok:" + cliAESKey + ",:s1:t:k", "entry 2 is not"},
	} {
		_, err := parseSimPlatforms(c.in, "", 0, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseSimPlatforms(%q) = %v, want %q", c.in, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "s1") || strings.Contains(err.Error(), cliAESKey)) {
			t.Errorf("the error %q quotes a secret", err)
		}
	}
}

// TestSimulatorVerbPlatform: `wxtoken simulator --platform` pushes verify
// tickets to the event URL, encrypted with the platform's key and signed
// with its Token, every --push-interval.
func TestSimulatorVerbPlatform(t *testing.T) {
	crypt, err := msgcrypt.New("tok", cliAESKey, "wxc1")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		_, enc, err := msgcrypt.ParseEnvelope(body)
		if err == nil {
			var msg []byte
			msg, err = crypt.Decrypt(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), enc)
			select {
			case got <- r.URL.Path + " " + string(msg):
			default: // the test has what it needs
			}
		}
		if err != nil {
			t.Errorf("push: %v", err)
		}
		io.WriteString(w, "success")
	}))
	// Closed after the simulator stops (cleanups run last first).
	t.Cleanup(rc.Close)
	line, _ := startSimVerb(t, "--platform", "wxc1:sec:tok:"+cliAESKey, "--platform-events", rc.URL+"/v1/platforms/{component_appid}/events", "--push-interval", "20ms")
	if !strings.Contains(line, " for platforms wxc1 (ttl") || strings.Contains(line, "sec") {
		t.Errorf("line %q", line)
	}
	select {
	case p := <-got:
		if !strings.HasPrefix(p, "/v1/platforms/wxc1/events <xml>") || !strings.Contains(p, "component_verify_ticket") {
			t.Fatalf("push %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push arrived")
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform", "wxc1:sec"}, "--platform: entry 1 is not"},
		{[]string{"--platform", "wxc1:sec:tok:short"}, "EncodingAESKey must be 43 characters"},
		{[]string{"--platform", "wxc1:sec:tok:" + cliAESKey, "--refresh-token", "never"}, "--refresh-token"},
		{[]string{"--platform-events", "http://x/"}, "--platform-events needs --platform"},
	} {
		err := runSimulator(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, c.args...), io.Discard, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
}
