package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

const (
	platComp   = "wx0000000000c0ffee"
	platSecret = "component-secret-0123456789abcdef"
	platToken  = "push-check-token"
	platAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	platKey    = "wxt_platform-test-key"
)

// platformFixture is a wxtoken with one third-party platform on a bolt
// file, and a simulator that pushes to its events endpoint.
type platformFixture struct {
	sim    *simulator.Simulator
	base   string
	dbPath string
	logs   *logbuf.Buffer
	cfg    *config.Config
	cancel context.CancelFunc
	done   chan error
}

// newPlatformFixture starts the fixture; with push zero, the simulator
// pushes nothing (its tickets are issued but not sent).
func newPlatformFixture(t *testing.T, push time.Duration) *platformFixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	events := ""
	if push > 0 {
		events = base + "/v1/platforms/" + platComp + "/events"
	}
	sim, err := simulator.New(simulator.Options{TTL: time.Hour, Overlap: 5 * time.Minute,
		Platforms: []simulator.Platform{{ComponentAppID: platComp, Secret: platSecret, Token: platToken,
			EncodingAESKey: platAESKey, EventURL: events, PushInterval: push}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	key, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &platformFixture{sim: sim, base: base, dbPath: filepath.Join(dir, "wxtoken.db"), logs: &logbuf.Buffer{}}
	sum := sha256.Sum256([]byte(platKey))
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q, encryption_key_env: STORE_KEY}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
platforms:
  - {component_appid: %s, secret_env: COMP_SECRET, token_env: COMP_TOKEN, encoding_aes_key_env: COMP_AES, authorizer_tickets: [jsapi]}
clients:
  - {name: saas, key_sha256: %q, apps: [%s], admin: true}
`, f.dbPath, ts.URL, platComp, hex.EncodeToString(sum[:]), platComp)
	env := map[string]string{"STORE_KEY": key, "COMP_SECRET": platSecret, "COMP_TOKEN": platToken, "COMP_AES": platAESKey}
	cfg, err := config.Parse([]byte(y), dir, func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	f.cfg = cfg
	f.start(t, cfg, ln)
	return f
}

// restart stops the server and starts another on the same address and
// store file.
func (f *platformFixture) restart(t *testing.T) {
	t.Helper()
	f.stop()
	ln, err := net.Listen("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	f.start(t, f.cfg, ln)
}

func (f *platformFixture) start(t *testing.T, cfg *config.Config, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Logger: slogTo(f.logs), Listener: ln})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- srv.Serve(ctx) }()
	t.Cleanup(f.stop)
}

func (f *platformFixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

// get asks the API with the platform's key and decodes the answer.
func (f *platformFixture) get(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+platKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

type authorizerToken struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
	AccessToken     string `json:"access_token"`
	ExpiresIn       int    `json:"expires_in"`
}

func TestPlatformServedFromPushes(t *testing.T) {
	f := newPlatformFixture(t, 500*time.Millisecond)
	ctx := context.Background()
	// A cold platform serves a component token within a push interval
	// and a second.
	deadline := time.Now().Add(1500 * time.Millisecond)
	var comp struct {
		Token string `json:"component_access_token"`
	}
	for f.get(t, "/v1/platforms/"+platComp+"/component_access_token", &comp) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("no component token within a push interval and a second")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := f.sim.Check(comp.Token); !st.Valid {
		t.Fatalf("the component token is dead at WeChat: %s", st.Reason)
	}
	// An account authorizes the platform: WeChat's push is acted on
	// before it is answered, so the account is served at once.
	got, err := f.sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: platComp})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Push.Success {
		t.Fatalf("the authorized push was not answered success: %+v", got.Push)
	}
	var tok authorizerToken
	if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers/"+got.AuthorizerAppID+"/access_token", &tok); code != http.StatusOK {
		t.Fatalf("authorizer token: HTTP %d", code)
	}
	if st := f.sim.Check(tok.AccessToken); !st.Valid || tok.AuthorizerAppID != got.AuthorizerAppID {
		t.Fatalf("authorizer token %+v dead at WeChat: %s", tok, st.Reason)
	}
	var ticket struct {
		Ticket string `json:"ticket"`
	}
	if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers/"+got.AuthorizerAppID+"/tickets/jsapi", &ticket); code != http.StatusOK {
		t.Fatalf("authorizer jsapi ticket: HTTP %d", code)
	}
	if st := f.sim.Check(ticket.Ticket); !st.Valid {
		t.Fatalf("authorizer ticket dead at WeChat: %s", st.Reason)
	}
	var list struct {
		Authorizers []wxtoken.AuthorizerStatus `json:"authorizers"`
	}
	if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers", &list); code != http.StatusOK || len(list.Authorizers) != 1 ||
		list.Authorizers[0].State != wxtoken.EntryActive {
		t.Fatalf("authorizers: HTTP %d %+v", code, list)
	}
	rt, err := f.sim.RefreshToken(platComp, got.AuthorizerAppID)
	if err != nil {
		t.Fatal(err)
	}
	// The account cancels: no longer served, its record kept.
	if res, err := f.sim.Unauthorize(ctx, platComp, got.AuthorizerAppID); err != nil || !res.Success {
		t.Fatalf("unauthorized push: %+v, %v", res, err)
	}
	if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers/"+got.AuthorizerAppID+"/access_token", nil); code != http.StatusNotFound {
		t.Fatalf("a cancelled authorizer: HTTP %d, want 404", code)
	}
	if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers", &list); code != http.StatusOK || len(list.Authorizers) != 1 ||
		list.Authorizers[0].State != wxtoken.EntryRemoved {
		t.Fatalf("authorizers after the cancellation: HTTP %d %+v", code, list)
	}
	f.stop()
	// Neither the store file nor the log holds the refresh token.
	raw, err := os.ReadFile(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(rt)) {
		t.Fatal("the refresh token is in the store file in plaintext")
	}
	if strings.Contains(f.logs.String(), rt) {
		t.Fatal("the refresh token is in the log")
	}
}

func TestPlatformPushesThatFailTheirChecks(t *testing.T) {
	f := newPlatformFixture(t, 0)
	good, err := msgcrypt.New(platToken, platAESKey, platComp)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := msgcrypt.New(platToken, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", platComp)
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := msgcrypt.New(platToken, platAESKey, "wx00000000000000bb")
	if err != nil {
		t.Fatal(err)
	}
	ticketPush := func(ticket string) []byte {
		return []byte("<xml><AppId><![CDATA[" + platComp + "]]></AppId><CreateTime>1</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[" + ticket + "]]></ComponentVerifyTicket></xml>")
	}
	msg := ticketPush("forged-ticket")
	push := func(c *msgcrypt.Crypter, mangle func(enc, sig string) (string, string)) (int, string) {
		enc, sig, err := c.Seal(msg, "1700000000", "nonce")
		if err != nil {
			t.Fatal(err)
		}
		enc, sig = mangle(enc, sig)
		q := url.Values{"timestamp": {"1700000000"}, "nonce": {"nonce"}, "encrypt_type": {"aes"}, "msg_signature": {sig}}
		resp, err := http.Post(f.base+"/v1/platforms/"+platComp+"/events?"+q.Encode(), "text/xml",
			bytes.NewReader(msgcrypt.Envelope(platComp, enc)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	same := func(enc, sig string) (string, string) { return enc, sig }
	for name, p := range map[string]func() (int, string){
		"wrong signature": func() (int, string) {
			return push(good, func(enc, _ string) (string, string) { return enc, strings.Repeat("0", 40) })
		},
		"wrong appid tail": func() (int, string) { return push(otherApp, same) },
		// Another key decrypts to garbage: its padding is broken (or,
		// rarely, its length); either way it is refused.
		"broken padding": func() (int, string) {
			enc, _, err := otherKey.Seal(msg, "1700000000", "nonce")
			if err != nil {
				t.Fatal(err)
			}
			return push(good, func(string, string) (string, string) { return enc, good.Signature("1700000000", "nonce", enc) })
		},
	} {
		code, body := p()
		if code == http.StatusOK || body == "success" {
			t.Errorf("%s: HTTP %d %q, want a refusal", name, code, body)
		}
	}
	// A push well made is taken; then the store holds its ticket as
	// the first one it ever held.
	msg = ticketPush("good-ticket")
	if code, body := push(good, same); code != http.StatusOK || body != "success" {
		t.Fatalf("a good push: HTTP %d %q", code, body)
	}
	f.stop()
	st, err := bolt.Open(f.dbPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Get(context.Background(), platComp, wxtoken.KindVerifyTicket)
	if err != nil || c.Value != "good-ticket" || c.Version != 1 {
		t.Fatalf("stored verify ticket %q version %d (%v), want the good push's as version 1", c.Value, c.Version, err)
	}
}

// slogTo is a debug-level text logger writing to b.
func slogTo(b *logbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestPlatformRestartKeepsEveryAuthorizer(t *testing.T) {
	f := newPlatformFixture(t, time.Hour)
	ctx := context.Background()
	if _, _, err := f.sim.PushVerifyTicket(ctx, platComp); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 20 {
		got, err := f.sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: platComp})
		if err != nil || !got.Push.Success {
			t.Fatalf("authorize: %+v, %v", got.Push, err)
		}
		ids = append(ids, got.AuthorizerAppID)
	}
	before, err := f.sim.Stats(platComp)
	if err != nil {
		t.Fatal(err)
	}
	f.restart(t)
	for _, id := range ids {
		var tok authorizerToken
		if code := f.get(t, "/v1/platforms/"+platComp+"/authorizers/"+id+"/access_token", &tok); code != http.StatusOK {
			t.Fatalf("authorizer %s after the restart: HTTP %d", id, code)
		}
		if st := f.sim.Check(tok.AccessToken); !st.Valid {
			t.Fatalf("authorizer %s: dead token after the restart: %s", id, st.Reason)
		}
	}
	after, err := f.sim.Stats(platComp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{simulator.EndpointAuthorizerToken, simulator.EndpointComponentToken, simulator.EndpointQueryAuth} {
		if n := after.Calls[e] - before.Calls[e]; n != 0 {
			t.Errorf("%d %s calls after the restart, want 0", n, e)
		}
	}
}
