package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// The credentials of the browser test's server: two apps (the second
// refused for the server's IP from the start), one WeCom agent, and one
// third-party platform that an account authorizes.
const (
	bApp        = "wx00000000000b0a01"
	bAppSecret  = "app-secret-0123456789abcdef0123456"
	bHeld       = "wx00000000000b0a02"
	bHeldSecret = "held-secret-0123456789abcdef012345"
	bCorp       = "ww00000000000b0c01"
	bAgent      = "1000002"
	bAgentSec   = "agent-secret-0123456789abcdef01234"
	bComp       = "wx00000000000b0c0c"
	bCompSecret = "component-secret-0123456789abcdef"
	bCompToken  = "push-check-token"
	bCompAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	bAdminKey   = "wxt_browser-admin-key-0123456789abcdef"
	bAdminName  = "browser-ops"
)

// chromiumPath finds the headless browser: $WXTOKEN_CHROMIUM, or Debian's
// chromium on the PATH.
func chromiumPath() (string, bool) {
	if p := os.Getenv("WXTOKEN_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// browserServer is a wxtoken started in process with the simulator behind
// it, serving two apps, a WeCom agent and a platform with one authorizer.
// The app bHeld is refused by WeChat for the server's IP (40164) from the
// start, until the test clears the simulator's faults: it is held back by
// the error policy for 5 minutes.
type browserServer struct {
	sim        *simulator.Simulator
	base       string
	logs       *logbuf.Buffer
	authorizer string
}

func startBrowserServer(t *testing.T) *browserServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sim, err := simulator.New(simulator.Options{
		Apps:  map[string]string{bApp: bAppSecret, bHeld: bHeldSecret},
		WeCom: []simulator.WeComAgent{{CorpID: bCorp, AgentID: bAgent, Secret: bAgentSec}},
		Platforms: []simulator.Platform{{ComponentAppID: bComp, Secret: bCompSecret, Token: bCompToken, EncodingAESKey: bCompAESKey,
			EventURL: base + "/v1/platforms/" + bComp + "/events", PushInterval: 300 * time.Millisecond}},
		TTL: time.Hour, Overlap: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if err := sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, AppID: bHeld,
		Kind: simulator.FaultErrCode, ErrCode: 40164}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	storeKey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q, encryption_key_env: STORE_KEY}
upstream: {base_url: %q, wecom_base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
apps:
  - {appid: %s, name: shop, token_api: classic, secret_env: APP_SECRET}
  - {appid: %s, name: held, token_api: classic, secret_env: HELD_SECRET}
wecom:
  - corpid: %s
    name: acme
    agents:
      - {agentid: %q, secret_env: AGENT_SECRET}
platforms:
  - {component_appid: %s, name: saas, secret_env: COMP_SECRET, token_env: COMP_TOKEN, encoding_aes_key_env: COMP_AES}
clients:
  - {name: %s, key_sha256: %q, apps: ["*"], admin: true}
`, filepath.Join(dir, "wxtoken.db"), ts.URL, ts.URL, bApp, bHeld, bCorp, bAgent, bComp, bAdminName, keyHash(bAdminKey))
	env := map[string]string{"STORE_KEY": storeKey, "APP_SECRET": bAppSecret, "HELD_SECRET": bHeldSecret, "AGENT_SECRET": bAgentSec,
		"COMP_SECRET": bCompSecret, "COMP_TOKEN": bCompToken, "COMP_AES": bCompAESKey}
	cfg, err := config.Parse([]byte(y), dir, func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	b := &browserServer{sim: sim, base: base, logs: &logbuf.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Listener: ln})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The platform gets its verify ticket pushed, then an account
	// authorizes it; the push of the authorization is acted on before
	// it is answered.
	waitUntil(t, 10*time.Second, "the component_access_token", func() bool {
		return b.api(t, http.MethodGet, "/v1/platforms/"+bComp+"/component_access_token", "", nil) == http.StatusOK
	})
	got, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: bComp})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Push.Success {
		t.Fatalf("the authorization push was not acted on: %+v", got.Push)
	}
	b.authorizer = wxtoken.AuthorizerID(bComp, got.AuthorizerAppID)
	return b
}

// api calls the HTTP API with the admin key and decodes a 200's body
// into v.
func (b *browserServer) api(t *testing.T, method, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bAdminKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// visits records every URL the browser asks for or is sent to, with the
// status of each answer, from the DevTools protocol's network and page
// events.
type visits struct {
	mu       sync.Mutex
	urls     []string
	statuses map[string][]int
}

func (v *visits) listen(ev any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		v.urls = append(v.urls, ev.Request.URL, ev.DocumentURL)
	case *network.EventResponseReceived:
		v.urls = append(v.urls, ev.Response.URL)
		v.statuses[ev.Response.URL] = append(v.statuses[ev.Response.URL], int(ev.Response.Status))
	case *cdppage.EventFrameNavigated:
		v.urls = append(v.urls, ev.Frame.URL)
	}
}

func (v *visits) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.urls...)
}

// TestBrowserSignsInSeesEveryFamilyAFaultAndRefreshes drives the status
// page in headless Chromium against a real server: it signs in, sees a
// credential of each family, sees a fault injected at the simulator
// appear with its hint when the page refreshes itself, runs a
// compare-and-refresh from the page behind its confirmation, sees an app
// held back for its IP with the hint, and once the cause is gone at the
// simulator retries it now from the page and sees it fresh, signs out
// and finds the page refused without a session. The key is in none of
// the URLs the browser visited, nor in any page or log line.
func TestBrowserSignsInSeesEveryFamilyAFaultRefreshesAndRetries(t *testing.T) {
	integration.Skip(t)
	chromium, ok := chromiumPath()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("no headless Chromium: CI needs one (apt-get install -y chromium), or set WXTOKEN_CHROMIUM to its path")
		}
		t.Skip("no headless Chromium here: install Debian's chromium (apt-get install -y chromium) or set WXTOKEN_CHROMIUM to run this test")
	}
	b := startBrowserServer(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1600, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	ctx, cancelAll := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelAll()

	seen := &visits{statuses: map[string][]int{}}
	dialogs := make(chan string, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		seen.listen(ev)
		if d, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			select {
			case dialogs <- d.Message:
			default:
			}
		}
	}); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	// The page's script asks before an action; the operator says yes.
	asked := make(chan string, 4)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case q := <-dialogs:
				_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
				asked <- q
			}
		}
	}()
	html := func() string {
		t.Helper()
		// A page that is being replaced (a navigation just answered, or
		// the page's own reload) has no node to read for a moment: read
		// again, a bounded number of times.
		var err error
		for range 50 {
			var out string
			if out, err = chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
				return out
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("reading the page: %v", err)
		return ""
	}

	// Sign in.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(b.base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), bAdminKey),
	); err != nil {
		t.Fatalf("the sign-in page: %v", err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/ui/") {
		t.Fatalf("after signing in: HTTP %d at %s", resp.Status, resp.URL)
	}

	// A credential of each family.
	page1 := html()
	for _, want := range []string{
		`data-id="` + bApp + `" data-family="app" data-kind="access_token"`,
		`data-id="` + wxtoken.WeComID(bCorp, bAgent) + `" data-family="wecom" data-kind="access_token"`,
		`data-id="` + bComp + `" data-family="component" data-kind="access_token"`,
		`data-id="` + b.authorizer + `" data-family="authorizer" data-kind="access_token"`,
		bAdminName,
	} {
		if !strings.Contains(page1, want) {
			t.Errorf("the status page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("the page:\n%s", page1)
	}

	// A fault at WeCom: the agent's next token call is refused for the
	// server's IP. A compare-and-refresh through the API meets it, and
	// the page, refreshing itself, shows the error and its hint.
	var cur struct {
		AccessToken string `json:"access_token"`
	}
	agentPath := "/v1/wecom/" + bCorp + "/" + bAgent + "/access_token"
	if code := b.api(t, http.MethodGet, agentPath, "", &cur); code != http.StatusOK {
		t.Fatalf("the agent's token: HTTP %d", code)
	}
	if err := b.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointWeComToken, AppID: wxtoken.WeComID(bCorp, bAgent),
		Kind: simulator.FaultErrCode, ErrCode: 60020}); err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(map[string]string{"stale": cur.AccessToken})
	if code := b.api(t, http.MethodPost, agentPath+"/refresh", string(stale), nil); code == http.StatusOK {
		t.Fatal("the refresh through the fault succeeded")
	}
	hintSel := `tr[data-id="` + wxtoken.WeComID(bCorp, bAgent) + `"][data-kind="access_token"] .hint`
	var hint string
	waitUntil(t, 45*time.Second, "the fault's hint on the page, by its own refresh", func() bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := chromedp.Run(qctx, chromedp.TextContent(chromedp.CSS(hintSel), chromedp.AtLeast(0)))
		hint = s
		return err == nil && strings.Contains(s, "60020")
	})
	if !strings.Contains(hint, "trusted IPs") {
		t.Errorf("the hint %q does not say what to do", hint)
	}
	b.sim.ClearFaults()

	// WeChat ends the app's token behind the server's back; the operator
	// runs a compare-and-refresh of it from the page, confirmed. (A token
	// still alive at WeChat would be kept: the server asks first.)
	if _, err := b.sim.Invalidate(bApp, simulator.KindClassic); err != nil {
		t.Fatal(err)
	}
	before := b.sim.Calls(simulator.EndpointToken, bApp)
	formSel := `tr[data-id="` + bApp + `"][data-kind="access_token"] form.refresh button`
	// A fresh load, so that the page's own reload does not come in the
	// middle of the click.
	if err := chromedp.Do(ctx, chromedp.Navigate(b.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS(formSel))); err != nil {
		t.Fatal(err)
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(formSel)))
	if err != nil {
		t.Fatalf("compare-and-refresh: %v", err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/ui/") {
		t.Fatalf("after compare-and-refresh: HTTP %d at %s", resp.Status, resp.URL)
	}
	select {
	case q := <-asked:
		if !strings.Contains(q, bApp) {
			t.Errorf("the confirmation asked %q", q)
		}
	default:
		t.Error("the refresh was not confirmed in a dialog")
	}
	flash, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#flash")))
	if err != nil {
		t.Fatalf("no outcome on the page: %v", err)
	}
	if !strings.Contains(flash, bApp) || !strings.Contains(flash, "a new credential") {
		t.Errorf("the outcome says %q", flash)
	}
	if after := b.sim.Calls(simulator.EndpointToken, bApp); after != before+1 {
		t.Errorf("%d token calls for the app during the refresh, want 1", after-before)
	}
	if !strings.Contains(b.logs.String(), "client="+bAdminName) || !strings.Contains(b.logs.String(), "ui: compare-and-refresh") {
		t.Errorf("the action is not logged with the client's name")
	}

	// The app refused for the server's IP since the start shows on the
	// failing filter with its hint, and a Retry now (only there: the
	// apps not held back offer none).
	heldRow := `tr[data-id="` + bHeld + `"][data-kind="access_token"]`
	failing := b.base + "/ui/?state=failing"
	var failingPage string
	waitUntil(t, 30*time.Second, "the held-back app on the failing filter", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(failing)); err != nil {
			t.Fatal(err)
		}
		failingPage = html()
		return strings.Contains(failingPage, `data-id="`+bHeld+`"`) && strings.Contains(failingPage, "40164")
	})
	hint, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(heldRow+" .hint")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hint, "40164") || !strings.Contains(hint, "IP whitelist") {
		t.Errorf("the held-back app's hint %q does not say what to do", hint)
	}
	if !strings.Contains(failingPage, "held back") {
		t.Error("the page does not show the app held back")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(b.base+"/ui/?family=app")); err != nil {
		t.Fatal(err)
	}
	if rows, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`tr form.retry`), chromedp.AtLeast(0))); err != nil || len(rows) != 1 {
		t.Errorf("%d Retry now forms among the apps (err %v), want 1: the held-back app's", len(rows), err)
	}

	// The operator puts the IP on the whitelist (the simulator's fault is
	// cleared) and retries the app now from the filtered page, confirmed.
	b.sim.ClearFaults()
	beforeRetry := b.sim.Calls(simulator.EndpointToken, bHeld)
	retrySel := heldRow + ` form.retry button`
	if err := chromedp.Do(ctx, chromedp.Navigate(failing), chromedp.WaitVisible(chromedp.CSS(retrySel))); err != nil {
		t.Fatal(err)
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(retrySel)))
	if err != nil {
		t.Fatalf("retry now: %v", err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/ui/?state=failing") {
		t.Fatalf("after retry now: HTTP %d at %s, want the failing filter again", resp.Status, resp.URL)
	}
	select {
	case q := <-asked:
		if !strings.Contains(q, bHeld) || !strings.Contains(q, "Retry") {
			t.Errorf("the retry's confirmation asked %q", q)
		}
	default:
		t.Error("the retry was not confirmed in a dialog")
	}
	flash, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#flash")))
	if err != nil {
		t.Fatalf("no outcome of the retry on the page: %v", err)
	}
	if !strings.Contains(flash, "The hold on "+bHeld+" was lifted") || !strings.Contains(flash, "served") {
		t.Errorf("the retry's outcome says %q", flash)
	}
	if !regexp.MustCompile(`ui: retry now.*client=` + bAdminName + `.*id=` + bHeld).MatchString(b.logs.String()) {
		t.Error("the retry is not logged with the client's name")
	}
	// The app is then fresh, with no error and nothing to retry.
	freshRow := `<tr data-id="` + bHeld + `" data-family="app" data-kind="access_token" data-state="fresh">`
	waitUntil(t, 30*time.Second, "the retried app fresh on the page", func() bool {
		if err := chromedp.Do(ctx, chromedp.Navigate(b.base+"/ui/?family=app")); err != nil {
			t.Fatal(err)
		}
		out := html()
		return strings.Contains(out, freshRow) && !strings.Contains(out, "40164") && !strings.Contains(out, `class="retry"`)
	})
	if after := b.sim.Calls(simulator.EndpointToken, bHeld); after != beforeRetry+1 {
		t.Errorf("%d token calls for the held-back app on the retry, want 1", after-beforeRetry)
	}

	// A screenshot of the page as it is now.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "status-page.png")
	if err := os.WriteFile(shotPath, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page: %s", shotPath)

	// Sign out; the page is then refused.
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#logout button`)))
	if err != nil {
		t.Fatalf("signing out: %v", err)
	}
	if !strings.HasSuffix(resp.URL, "/ui/login") {
		t.Errorf("after signing out the browser is at %s", resp.URL)
	}
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(b.base+"/ui/"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("the status page without a session: HTTP %d, want 401", resp.Status)
	}
	if out := html(); strings.Contains(out, "data-id=") || !strings.Contains(out, `id="login"`) {
		t.Errorf("without a session the page shows:\n%s", out)
	}

	// The key is in no URL the browser visited, no page and no log.
	urls := seen.all()
	if len(urls) < 10 {
		t.Errorf("only %d URLs recorded: the network events were not seen", len(urls))
	}
	for _, u := range urls {
		if strings.Contains(u, bAdminKey) {
			t.Errorf("the key is in a URL the browser visited: %s", u)
		}
	}
	if strings.Contains(page1, bAdminKey) || strings.Contains(b.logs.String(), bAdminKey) {
		t.Error("the key is in a page or a log line")
	}
}
