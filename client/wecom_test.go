package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
	"github.com/wxtoken/wxtoken/jssdk"
)

// The WeCom agents of the API server, and the client's key, granted the
// corp of the first two.
const (
	wecomCorp     = "ww0123456789abcdef"
	wecomAgent    = "1000002"
	wecomContacts = "contacts"
	wecomOther    = "ww00000000000000ff"
	wecomKey      = "wxt_wecom-client-key"
)

// apiServer is the server's real HTTP API over a mock Service that keeps
// one value per credential, rotates it when a refresh reports the current
// one, and records every call.
type apiServer struct {
	*httptest.Server
	mu    sync.Mutex
	seq   map[string]int
	calls []string
	// hold, when set, holds every Credential call until it is closed.
	hold chan struct{}
}

func startAPIServer(t *testing.T, ids ...string) *apiServer {
	t.Helper()
	s := &apiServer{seq: map[string]int{}}
	sum := sha256.Sum256([]byte(wecomKey))
	h, err := httpapi.New(httpapi.Options{
		Service: &mock.Service{
			CredentialFn: func(ctx context.Context, id string, kind wxtoken.Kind) (wxtoken.Grant, error) {
				s.mu.Lock()
				hold := s.hold
				s.mu.Unlock()
				if hold != nil {
					select {
					case <-hold:
					case <-ctx.Done():
						return wxtoken.Grant{}, ctx.Err()
					}
				}
				return s.answer("credential", id, kind, "")
			},
			RefreshFn: func(_ context.Context, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
				return s.answer("refresh", id, kind, stale)
			},
		},
		Clients: []clientkey.Client{{Name: "wecom", KeySHA256: hex.EncodeToString(sum[:]), Apps: []string{wecomCorp}}},
		Apps:    ids,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) answer(call, id string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call+" "+id+" "+string(kind))
	if kind == wxtoken.KindWxCard {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.ENotFound, "a WeCom agent keeps no wx_card ticket")
	}
	k := id + " " + string(kind)
	if s.seq[k] == 0 {
		s.seq[k] = 1
	}
	if call == "refresh" && stale == s.valueLocked(k) {
		s.seq[k]++
	}
	return wxtoken.Grant{AppID: id, Kind: kind, Value: s.valueLocked(k), ExpiresIn: time.Hour, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (s *apiServer) valueLocked(k string) string { return fmt.Sprintf("%s-%d", k, s.seq[k]) }

// count returns how many calls of a kind ("credential ww.../1000002
// access_token") the service answered.
func (s *apiServer) count(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == call {
			n++
		}
	}
	return n
}

func newWeComClient(t *testing.T, s *apiServer) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, wecomKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The agents' ids, as wxtoken.WeComID makes them.
const (
	wecomID         = wecomCorp + "/" + wecomAgent
	wecomIDOther    = wecomOther + "/" + wecomAgent
	wecomContactsID = wecomCorp + "/" + wecomContacts
)

func TestWeComAccessTokenCached(t *testing.T) {
	if got := wxtoken.WeComID(wecomCorp, wecomAgent); got != wecomID {
		t.Fatalf("WeComID = %q, want %q", got, wecomID)
	}
	s := startAPIServer(t, wecomID, wecomContactsID, wecomIDOther)
	c := newWeComClient(t, s)
	ctx := context.Background()
	for range 3 {
		tok, err := c.WeComAccessToken(ctx, wecomCorp, wecomAgent)
		if err != nil || tok != wecomID+" access_token-1" {
			t.Fatalf("WeComAccessToken = %q, %v", tok, err)
		}
	}
	if n := s.count("credential " + wecomID + " access_token"); n != 1 {
		t.Errorf("%d requests for three reads, want 1", n)
	}
	// Each agent has its own token.
	tok, err := c.WeComAccessToken(ctx, wecomCorp, wecomContacts)
	if err != nil || tok != wecomContactsID+" access_token-1" {
		t.Errorf("the contacts agent: %q, %v", tok, err)
	}
	// The cache is the one AccessToken reads with the agent's WeComID.
	if tok, err := c.AccessToken(ctx, wecomID); err != nil || tok != wecomID+" access_token-1" || s.count("credential "+wecomID+" access_token") != 1 {
		t.Errorf("AccessToken(WeComID) = %q, %v", tok, err)
	}
	// A corp the key was not granted, and an agent that does not exist.
	if _, err := c.WeComAccessToken(ctx, wecomOther, wecomAgent); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("another corp: %v, want forbidden", err)
	}
	if _, err := c.WeComAccessToken(ctx, wecomCorp, "1000009"); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Errorf("an unknown agent of the corp: %v, want not found", err)
	}
}

func TestWeComConcurrentReadsCoalesced(t *testing.T) {
	const callers = 20
	s := startAPIServer(t, wecomID)
	hold := make(chan struct{})
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
	c := newWeComClient(t, s)
	var wg sync.WaitGroup
	got := make([]string, callers)
	for i := range callers {
		wg.Go(func() {
			v, err := c.WeComTicket(context.Background(), wecomCorp, wecomAgent, wxtoken.KindAgentConfig)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	waitJoined(t, callers, func() int { return c.Joined(wecomID, wxtoken.KindAgentConfig) })
	close(hold)
	wg.Wait()
	for i, v := range got {
		if v != wecomID+" agent_config-1" {
			t.Fatalf("caller %d: %q", i, v)
		}
	}
	if n := s.count("credential " + wecomID + " agent_config"); n != 1 {
		t.Errorf("%d requests for %d concurrent callers, want 1", n, callers)
	}
}

func TestWeComTicketsAndInvalidate(t *testing.T) {
	s := startAPIServer(t, wecomID)
	c := newWeComClient(t, s)
	ctx := context.Background()
	for _, kind := range wxtoken.FamilyWeCom.Tickets() {
		v, err := c.WeComTicket(ctx, wecomCorp, wecomAgent, kind)
		if err != nil || v != wecomID+" "+string(kind)+"-1" {
			t.Fatalf("%s: %q, %v", kind, v, err)
		}
		fresh, err := c.WeComInvalidateTicket(ctx, wecomCorp, wecomAgent, kind, v)
		if err != nil || fresh != wecomID+" "+string(kind)+"-2" {
			t.Fatalf("%s: invalidate: %q, %v", kind, fresh, err)
		}
		if v, err := c.WeComTicket(ctx, wecomCorp, wecomAgent, kind); err != nil || v != fresh {
			t.Errorf("%s after invalidate: %q, %v, want %q from the cache", kind, v, err, fresh)
		}
		if n := s.count("credential " + wecomID + " " + string(kind)); n != 1 {
			t.Errorf("%s: %d reads reached the server, want 1", kind, n)
		}
	}
	tok, err := c.WeComAccessToken(ctx, wecomCorp, wecomAgent)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := c.WeComInvalidate(ctx, wecomCorp, wecomAgent, tok)
	if err != nil || fresh == tok || fresh != wecomID+" access_token-2" {
		t.Fatalf("WeComInvalidate = %q, %v", fresh, err)
	}
	// A second report of the same token is answered from the cache.
	if again, err := c.WeComInvalidate(ctx, wecomCorp, wecomAgent, tok); err != nil || again != fresh {
		t.Errorf("second report: %q, %v", again, err)
	}
	if n := s.count("refresh " + wecomID + " access_token"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	// The uncached forms take the agent's WeComID.
	g, err := c.Refresh(ctx, wecomID, wxtoken.KindAccessToken, fresh)
	if err != nil || g.Value != wecomID+" access_token-3" || g.AppID != wecomID || g.Kind != wxtoken.KindAccessToken || g.ExpiresIn != time.Hour {
		t.Errorf("Refresh(WeComID) = %+v, %v", g, err)
	}
	if g, err := c.Credential(ctx, wecomID, wxtoken.KindJSAPITicket); err != nil || g.Value != wecomID+" jsapi-2" {
		t.Errorf("Credential(WeComID) = %+v, %v", g, err)
	}
	if _, err := c.Credential(ctx, wecomID, wxtoken.KindWxCard); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Errorf("wx_card of an agent: %v, want not found", err)
	}
}

func TestWeComJSSDKConfig(t *testing.T) {
	s := startAPIServer(t, wecomID)
	c := newWeComClient(t, s)
	page := "https://oa.example.com/approve?id=7&from=card"
	cfg, err := c.WeComJSSDKConfig(context.Background(), wecomCorp, wecomAgent, page+"#x")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != page || cfg.Config.AppID != wecomCorp || cfg.AgentConfig == nil || cfg.AgentConfig.AgentID != wecomAgent {
		t.Fatalf("config = %+v", cfg)
	}
	if want := jssdk.Sign(wecomID+" jsapi-1", cfg.Config.NonceStr, cfg.Config.Timestamp, page); cfg.Config.Signature != want {
		t.Errorf("config signature %s, want %s", cfg.Config.Signature, want)
	}
	ac := cfg.AgentConfig
	if want := jssdk.SignAgentConfig(wecomID+" agent_config-1", ac.NonceStr, ac.Timestamp, page); ac.Signature != want {
		t.Errorf("agentConfig signature %s, want %s", ac.Signature, want)
	}
}

func TestWeComLocalArgumentChecks(t *testing.T) {
	s := startAPIServer(t, wecomID)
	c := newWeComClient(t, s)
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["token without corpid"] = c.WeComAccessToken(ctx, "", wecomAgent)
	_, checks["token without agentid"] = c.WeComAccessToken(ctx, wecomCorp, "")
	_, checks["token with a slash"] = c.WeComAccessToken(ctx, wecomCorp, "a/b")
	_, checks["ticket wx_card"] = c.WeComTicket(ctx, wecomCorp, wecomAgent, wxtoken.KindWxCard)
	_, checks["invalidate without stale"] = c.WeComInvalidate(ctx, wecomCorp, wecomAgent, "")
	_, checks["invalidate ticket of access_token"] = c.WeComInvalidateTicket(ctx, wecomCorp, wecomAgent, wxtoken.KindAccessToken, "x")
	_, checks["jssdk without url"] = c.WeComJSSDKConfig(ctx, wecomCorp, wecomAgent, "")
	_, checks["jssdk without agentid"] = c.WeComJSSDKConfig(ctx, wecomCorp, "", "https://example.com/")
	_, checks["app jssdk of an agent"] = c.JSSDKConfig(ctx, wecomID, "https://example.com/")
	_, checks["credential of a half id"] = c.Credential(ctx, wecomCorp+"/", wxtoken.KindAccessToken)
	for name, err := range checks {
		if got := wxtoken.ErrorCode(err); got != wxtoken.EInvalid {
			t.Errorf("%s: code %q (%v), want invalid", name, got, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) != 0 {
		t.Errorf("requests wrong on their face reached the server: %q", s.calls)
	}
}

// TestWeComTransport: a WeCom API call carries the agent's token, and one
// that WeCom answers 42001 is made again with the token that replaces it.
func TestWeComTransport(t *testing.T) {
	s := startAPIServer(t, wecomID)
	c := newWeComClient(t, s)
	var (
		mu   sync.Mutex
		seen []string
	)
	wecomAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("access_token")
		mu.Lock()
		seen = append(seen, tok)
		mu.Unlock()
		if tok != wecomID+" access_token-2" {
			_, _ = io.WriteString(w, `{"errcode":42001,"errmsg":"access_token expired"}`)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","agentid":1000002}`)
	}))
	defer wecomAPI.Close()
	hc := &http.Client{Transport: c.WeComTransport(wecomCorp, wecomAgent, nil)}
	resp, err := hc.Get(wecomAPI.URL + "/cgi-bin/agent/get?agentid=1000002")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"errcode":0,"errmsg":"ok","agentid":1000002}` {
		t.Errorf("answer %s", body)
	}
	want := []string{wecomID + " access_token-1", wecomID + " access_token-2"}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("tokens sent %q, want %q", seen, want)
	}
}
