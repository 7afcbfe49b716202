package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestReloadOnHangup is the reload's "done when", on the real binary: a
// SIGHUP with an app added, one removed, one changed (a ticket added) and
// a client added serves what the new file says, with no token call for
// the apps left as they were or changed without needing one; a broken
// file then changes nothing, and the log names every problem in it;
// `wxtoken reload` says the same and exits 1.
func TestReloadOnHangup(t *testing.T) {
	integration.Skip(t)
	bin := buildWxtoken(t)
	const (
		appKept    = "wx0000000000000ea1"
		appGone    = "wx0000000000000ea2"
		appChanged = "wx0000000000000ea3"
		appNew     = "wx0000000000000ea4"
	)
	secrets := map[string]string{}
	env := []string{}
	for i, id := range []string{appKept, appGone, appChanged, appNew} {
		secrets[id] = randomHex(16)
		env = append(env, fmt.Sprintf("SECRET_%d=%s", i, secrets[id]))
	}
	sim, err := simulator.New(simulator.Options{Apps: secrets, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	keys := map[string]string{"ops": "wxt_" + randomHex(16), "shop": "wxt_" + randomHex(16), "late": "wxt_" + randomHex(16)}
	sum := func(s string) string {
		b := sha256.Sum256([]byte(s))
		return hex.EncodeToString(b[:])
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "wxtoken.yaml")
	head := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: bolt, path: %q}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s}
clients:
  - {name: ops, key_sha256: %q, apps: ["*"], admin: true}
  - {name: shop, key_sha256: %q, apps: ["*"]}
`, filepath.Join(dir, "wxtoken.db"), ts.URL, sum(keys["ops"]), sum(keys["shop"]))
	write := func(body string) string {
		t.Helper()
		data := head + body
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return sum(data)
	}
	write(fmt.Sprintf(`apps:
  - {appid: %s, secret_env: SECRET_0}
  - {appid: %s, secret_env: SECRET_1}
  - {appid: %s, secret_env: SECRET_2}
`, appKept, appGone, appChanged))

	logs := &logbuf.Buffer{}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for id, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the log holds the secret of %s", id)
			}
		}
		if t.Failed() {
			t.Logf("last lines of the log:\n%s", lastLines(logs.String(), 60))
		}
	})
	var base string
	waitFor(t, 20*time.Second, "wxtoken to listen", func() bool {
		m := listeningRe.FindStringSubmatch(logs.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	get := func(path, key string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	token := func(app, key string) string {
		t.Helper()
		status, body := get("/v1/apps/"+app+"/access_token", key)
		var a struct {
			AccessToken string `json:"access_token"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &a) != nil || a.AccessToken == "" {
			t.Fatalf("access_token of %s: %d %s", app, status, body)
		}
		return a.AccessToken
	}
	digest := func() string {
		t.Helper()
		status, body := get("/v1/apps", keys["ops"])
		var a struct {
			Config *struct {
				Digest string `json:"digest"`
			} `json:"config"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &a) != nil || a.Config == nil {
			t.Fatalf("/v1/apps: %d %s", status, body)
		}
		return a.Config.Digest
	}
	tokenCalls := func(app string) int {
		return sim.Calls(simulator.EndpointStableToken, app) + sim.Calls(simulator.EndpointToken, app)
	}
	hangup := func(logLine string, n int) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, fmt.Sprintf("%d log lines %q", n, logLine), func() bool {
			return strings.Count(logs.String(), logLine) >= n
		})
	}

	kept, changed := token(appKept, keys["shop"]), token(appChanged, keys["shop"])
	token(appGone, keys["shop"])
	callsKept, callsChanged := tokenCalls(appKept), tokenCalls(appChanged)
	if status, _ := get("/v1/apps/"+appNew+"/access_token", keys["late"]); status != http.StatusUnauthorized {
		t.Fatalf("the late key before the reload: %d", status)
	}

	// The new file: appGone removed, appChanged with a jsapi ticket, appNew
	// added, and a client for it.
	// (head ends with the clients section, which the late client joins.)
	good := write(fmt.Sprintf(`  - {name: late, key_sha256: %q, apps: [%s]}
apps:
  - {appid: %s, secret_env: SECRET_0}
  - {appid: %s, secret_env: SECRET_2, tickets: [jsapi]}
  - {appid: %s, secret_env: SECRET_3}
`, sum(keys["late"]), appNew, appKept, appChanged, appNew))
	hangup(`msg="configuration reloaded"`, 1)

	if !strings.Contains(logs.String(), "apps_added=1 apps_removed=1 apps_changed=1 clients_added=1") {
		t.Errorf("the summary line does not count what changed:\n%s", lastLines(logs.String(), 5))
	}
	token(appNew, keys["late"])
	if n := tokenCalls(appNew); n != 1 {
		t.Errorf("%d token calls for the added app, want 1", n)
	}
	if status, body := get("/v1/apps/"+appGone+"/access_token", keys["shop"]); status != http.StatusNotFound {
		t.Errorf("the removed app: %d %s, want 404", status, body)
	}
	if status, body := get("/v1/apps/"+appChanged+"/tickets/jsapi", keys["shop"]); status != http.StatusOK || !strings.Contains(body, `"ticket"`) {
		t.Errorf("the ticket of the changed app: %d %s", status, body)
	}
	if token(appKept, keys["shop"]) != kept || token(appChanged, keys["shop"]) != changed {
		t.Error("a token was replaced by the reload")
	}
	if n, m := tokenCalls(appKept)-callsKept, tokenCalls(appChanged)-callsChanged; n != 0 || m != 0 {
		t.Errorf("token calls during the reload: %d for the unchanged app, %d for the one given a ticket; want none", n, m)
	}
	if d := digest(); d != good {
		t.Errorf("/v1/apps digest %s, want the new file's %s", d, good)
	}

	// A broken file: nothing changes, every problem is logged. (The late
	// client is granted an app the file no longer has.)
	write(fmt.Sprintf("  - {name: late, key_sha256: %q, apps: [%s]}\n", sum(keys["late"]), appNew) + `apps:
  - {appid: ` + appKept + `, secret_env: SECRET_0, token_api: fancy}
  - {appid: ` + appChanged + `, secret_env: NOT_SET}
`)
	hangup("the configuration file was not reloaded", 1)
	for _, k := range []string{"apps[0].token_api", "apps[1].secret_env", "clients[2].apps[0]"} {
		if !strings.Contains(logs.String(), "config reload: "+k) {
			t.Errorf("the log does not name %s:\n%s", k, lastLines(logs.String(), 8))
		}
	}
	token(appNew, keys["late"])
	if token(appKept, keys["shop"]) != kept {
		t.Error("the broken file replaced a token")
	}
	if status, _ := get("/v1/apps/"+appChanged+"/tickets/jsapi", keys["shop"]); status != http.StatusOK {
		t.Errorf("the ticket after the broken file: %d", status)
	}
	if d := digest(); d != good {
		t.Errorf("/v1/apps digest %s after the broken file, want %s", d, good)
	}

	// wxtoken reload says the same, and exits 1.
	out, err := exec.Command(bin, "reload", "--server", base, "--key", keys["ops"]).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "apps[0].token_api") || !strings.Contains(string(out), "apps[1].secret_env") {
		t.Errorf("wxtoken reload of the broken file: %v\n%s", err, out)
	}
}
