package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestQuickStart follows the README's Quick start as a newcomer would, on
// a copy of the repository: it runs every command of its fenced blocks as
// written, the demo's printed curl lines and CLI hints among them, then
// starts the service the way the systemd unit would. Paths under / are
// kept inside a temporary root, and the sample config is pointed at the
// simulator instead of WeChat, as the README says to edit it. A command the
// test does not know fails it: the README and the demo cannot drift from
// what works without this test noticing.
func TestQuickStart(t *testing.T) {
	// It builds the binary twice and runs the demo for about 15 s.
	integration.Skip(t)
	src, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	q := &quickStart{t: t, work: filepath.Join(t.TempDir(), "wxtoken"), root: t.TempDir(), secrets: map[string]string{}}
	copyClone(t, src, q.work)
	// The folders every system has; /etc/wxtoken is the README's to make.
	for _, d := range []string{"etc/systemd/system", "usr/local/bin", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(q.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lines := quickStartLines(t, filepath.Join(q.work, "README.md"))
	if len(lines) == 0 {
		t.Fatal("README.md: no command in the Quick start's fenced blocks")
	}
	for _, line := range lines {
		for _, argv := range splitAnd(t, line) {
			q.command(line, argv)
		}
	}
	if !q.demoSeen {
		t.Fatal("the Quick start never runs the demo")
	}
	if !q.enabled {
		t.Fatal("the Quick start never starts the service (systemctl enable --now)")
	}
	q.service()
}

// quickStart is the state a reader builds up while following the Quick
// start: what was built, installed and generated.
type quickStart struct {
	t        *testing.T
	work     string // the clone; commands run here
	root     string // stands for / in absolute paths
	keygen   []string
	keys     []keygenOutput
	secrets  map[string]string // the AppSecrets set on the check line
	config   string            // the installed config, as a path under root
	unit     string            // the installed unit, as a path under root
	enabled  bool
	sim      *simulator.Simulator
	demoSeen bool
}

type keygenOutput struct{ key, line string }

// command runs one command of the Quick start.
func (q *quickStart) command(line string, argv []string) {
	t := q.t
	t.Helper()
	env, argv := cutAssignments(argv)
	if len(argv) > 0 && argv[0] == "sudo" {
		argv = argv[1:]
	}
	for name, v := range env {
		if v == "..." { // a secret the reader fills in
			env[name] = "quickstart-" + strings.ToLower(name) + "-value"
		}
	}
	switch {
	case len(argv) >= 3 && argv[0] == "go" && argv[1] == "run" && argv[2] == "./cmd/wxtoken":
		q.demo(argv[3:])
	case len(argv) >= 2 && argv[0] == "go" && argv[1] == "build":
		q.run(env, "", argv...)
	case len(argv) == 2 && argv[0] == "./wxtoken" && argv[1] == "keygen":
		q.keygen = argv
		q.keys = append(q.keys, q.runKeygen())
	case len(argv) >= 2 && argv[0] == "./wxtoken" && argv[1] == "check":
		q.check(env, argv)
	case len(argv) >= 1 && argv[0] == "install":
		q.install(argv)
	case slices.Equal(argv, []string{"systemctl", "daemon-reload"}):
	case len(argv) == 4 && argv[0] == "systemctl" && argv[1] == "enable" && argv[2] == "--now":
		if q.unit == "" || filepath.Base(q.unit) != argv[3]+".service" {
			t.Fatalf("%q enables %s, but the unit installed is %q", line, argv[3], q.unit)
		}
		q.enabled = true
	default:
		t.Fatalf("Quick start line %q: this test does not know how to follow %q; teach it, or fix the README", line, argv)
	}
}

// run runs argv in the clone with env added, checks that its stdout holds
// want, and returns its stdout and stderr.
func (q *quickStart) run(env map[string]string, want string, argv ...string) (string, string) {
	q.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = q.work
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		q.t.Fatalf("%q: %v\nstdout: %s\nstderr: %s", argv, err, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), want) {
		q.t.Fatalf("%q printed %q, want %q", argv, &stdout, want)
	}
	return stdout.String(), stderr.String()
}

var (
	keygenKeyRe   = regexp.MustCompile(`(?m)^key:\s+(wxt_\S+)$`)
	keygenLineRe  = regexp.MustCompile(`(?m)^key_sha256: "[0-9a-f]{64}"$`)
	keyHashLineRe = regexp.MustCompile(`key_sha256: "[0-9a-f]{64}"`)
	listeningRe   = regexp.MustCompile(`msg="wxtoken listening" addr=(\S+)`)
	refreshKindRe = regexp.MustCompile(`kind=(\S+) reason=(\S+)`)
)

func (q *quickStart) runKeygen() keygenOutput {
	q.t.Helper()
	out, _ := q.run(nil, "", q.keygen...)
	key, line := keygenKeyRe.FindStringSubmatch(out), keygenLineRe.FindString(out)
	if key == nil || line == "" {
		q.t.Fatalf("keygen printed no key or no key_sha256 line:\n%s", out)
	}
	return keygenOutput{key: key[1], line: line}
}

// rooted moves an absolute path into the temporary root.
func (q *quickStart) rooted(p string) string {
	if !filepath.IsAbs(p) || p == os.DevNull {
		return p
	}
	return filepath.Join(q.root, p)
}

func (q *quickStart) install(argv []string) {
	q.t.Helper()
	args := slices.Clone(argv)
	for i, a := range args[1:] {
		args[i+1] = q.rooted(a)
	}
	q.run(nil, "", args...)
	dst := args[len(args)-1]
	switch {
	case strings.HasSuffix(dst, ".service"):
		q.unit = dst
	case strings.HasSuffix(dst, ".yaml"):
		q.config = dst
	}
}

// check edits the installed config as the README says (the clients' keys
// from keygen, and, for the test, the simulator as WeChat, a free port and
// the temporary root), then runs the check line.
func (q *quickStart) check(env map[string]string, argv []string) {
	t := q.t
	t.Helper()
	args := slices.Clone(argv)
	for i := range args {
		args[i] = q.rooted(args[i])
	}
	args[0] = filepath.Join(q.work, "wxtoken")
	if q.config == "" || !slices.Contains(args, q.config) {
		t.Fatalf("%q does not check the config installed, %q", argv, q.config)
	}
	maps.Copy(q.secrets, env)
	q.editConfig()
	// The state directory is made when the service starts, so that the
	// one warning is about it.
	_, stderr := q.run(env, "config OK: 2 apps, 2 clients, store bolt\n", args...)
	want := "warning: store.path: folder " + filepath.Join(q.root, "var", "lib", "wxtoken") + " does not exist yet"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "warning") != 1 {
		t.Errorf("%q warned %q, want only %q...", argv, stderr, want)
	}
}

func (q *quickStart) editConfig() {
	t := q.t
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := q.secrets[k]; return v, ok }
	sample, err := config.Load(q.config, lookup)
	if err != nil {
		t.Fatalf("the installed sample with the Quick start's secrets: %v", err)
	}
	apps := map[string]string{}
	for _, a := range sample.Apps {
		apps[a.AppID] = a.Secret.Reveal()
	}
	q.sim, err = simulator.New(simulator.Options{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(q.sim)
	t.Cleanup(simSrv.Close)

	data, err := os.ReadFile(q.config)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	replace := func(old, new string) {
		t.Helper()
		if strings.Count(text, old) != 1 {
			t.Fatalf("the sample config has %q %d times, want once; update this test", old, strings.Count(text, old))
		}
		text = strings.Replace(text, old, new, 1)
	}
	replace("listen: 127.0.0.1:8080", "listen: 127.0.0.1:0")
	replace("base_url: https://api.weixin.qq.com ", "base_url: "+simSrv.URL+" ")
	replace("fallback_base_urls: [https://api2.weixin.qq.com]", "fallback_base_urls: []")
	text = strings.ReplaceAll(text, " /var/lib/", " "+q.root+"/var/lib/")
	placeholders := keyHashLineRe.FindAllString(text, -1)
	if len(placeholders) != len(sample.Clients) {
		t.Fatalf("the sample config has %d key_sha256 lines for %d clients", len(placeholders), len(sample.Clients))
	}
	for i := range placeholders {
		for len(q.keys) <= i { // one key per client
			q.keys = append(q.keys, q.runKeygen())
		}
		text = strings.Replace(text, placeholders[i], q.keys[i].line, 1)
	}
	if err := os.WriteFile(q.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// service does what systemd does with the installed unit: makes its state
// directory, reads its environment file (which the README has the reader
// fill with the secrets), runs ExecStartPre and ExecStart, and then asks
// the running server for each app's token with the CLI.
func (q *quickStart) service() {
	t := q.t
	t.Helper()
	unit := parseUnit(t, q.unit)
	for _, k := range []string{"ExecStartPre", "ExecStart", "EnvironmentFile", "StateDirectory", "WorkingDirectory"} {
		if len(unit[k]) != 1 {
			t.Fatalf("%s: %s set %d times, want once", q.unit, k, len(unit[k]))
		}
	}
	state := filepath.Join(q.root, "var", "lib", unit["StateDirectory"][0])
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if wd := q.rooted(unit["WorkingDirectory"][0]); wd != state {
		t.Errorf("WorkingDirectory %s is not the state directory %s", wd, state)
	}
	envFile := q.rooted(unit["EnvironmentFile"][0])
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(q.secrets)) {
		lines = append(lines, k+"="+q.secrets[k])
	}
	f, err := os.OpenFile(envFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("the environment file of the unit was not installed: %v", err)
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	env = append(env, lines...)
	unitCmd := func(key string) *exec.Cmd {
		argv := strings.Fields(unit[key][0])
		for i := range argv {
			argv[i] = q.rooted(argv[i])
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = state, env
		return cmd
	}

	pre := unitCmd("ExecStartPre")
	out, err := pre.CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("ExecStartPre: %v\n%s", err, out)
	}

	serve := unitCmd("ExecStart")
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	addr := make(chan string, 1)
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := listeningRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		done <- serve.Wait()
	}()
	t.Cleanup(func() { _ = serve.Process.Kill() })
	var server string
	select {
	case a := <-addr:
		server = "http://" + a
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, &logs)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30 s")
	}

	bin := q.rooted("/usr/local/bin/wxtoken")
	for i, appID := range []string{"wx0123456789abcdef", "wxfedcba9876543210"} {
		key := q.keys[len(q.keys)-1].key // the second client, ops, has every app
		if i == 0 {
			key = q.keys[0].key
		}
		cmd := exec.Command(bin, "token", appID)
		cmd.Env = append(os.Environ(), envServer+"="+server, envKey+"="+key)
		out, err := cmd.Output()
		token := strings.TrimSpace(string(out))
		if err != nil || !q.sim.Check(token).Valid {
			t.Errorf("wxtoken token %s: %q, %v; want a token the simulator accepts", appID, token, err)
		}
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, &logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(state, "wxtoken.db")); err != nil {
		t.Errorf("the store is not in the state directory: %v", err)
	}
}

// demo runs the demo line with a free port and a lifetime of 10 s, follows
// the lines it prints, and watches its log for refreshes.
func (q *quickStart) demo(args []string) {
	t := q.t
	t.Helper()
	if len(args) == 0 || args[0] != "demo" {
		t.Fatalf("go run ./cmd/wxtoken %q: only the demo is run this way", args)
	}
	q.demoSeen = true
	bin := filepath.Join(t.TempDir(), "wxtoken")
	q.run(nil, "", "go", "build", "-o", bin, "./cmd/wxtoken")
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing; CI needs it (.ci/run installs it)")
		}
		t.Log("curl is missing: the demo's curl lines are not run")
	}
	cmd := exec.Command(bin, append(slices.Clone(args), "--listen", "127.0.0.1:0", "--ttl", "10s")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	refreshes := make(chan string, 100)
	authorized := make(chan string, len(demoAuthorizers)+1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			switch {
			case strings.Contains(sc.Text(), `msg="credential refreshed"`):
				refreshes <- sc.Text()
			case strings.Contains(sc.Text(), `msg="an account authorized the platform"`):
				select {
				case authorized <- sc.Text():
				default: // more than the demo's accounts: counted below
				}
			}
		}
		close(refreshes)
	}()

	var printed []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		printed = append(printed, strings.TrimSpace(sc.Text()))
		if strings.HasPrefix(sc.Text(), "Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	q.followDemo(bin, printed)

	// The accounts authorized the platform before the lines were printed,
	// each logged once.
	for range demoAuthorizers {
		select {
		case line := <-authorized:
			if !demoAuthorizerLine(line) {
				t.Errorf("authorization line %q names none of the demo's authorizers", line)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the demo logged fewer than %d accounts authorizing its platform", len(demoAuthorizers))
		}
	}

	// The startup fetch of each credential, the platform's component
	// token among them, then at least one planned refresh: what --ttl
	// promises to show.
	seen := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for !(seen["startup access_token"] && seen["startup jsapi"] && seen["startup wx_card"] &&
		seen["startup agent_config"] && seen["component startup access_token"] && seen["authorizer startup jsapi"] &&
		seen["proactive"]) {
		select {
		case line, ok := <-refreshes:
			if !ok {
				t.Fatalf("the demo's log ended; refreshes seen: %v", seen)
			}
			platform := strings.Contains(line, "appid="+demoComponentAppID+" ")
			authorizer := demoAuthorizerLine(line)
			if !platform && !authorizer && !strings.Contains(line, "appid="+demoAppID) && !strings.Contains(line, "appid="+demoCorpID+"/"+demoAgentID) {
				t.Fatalf("refresh line %q names none of the demo's app, WeCom agent, platform and authorizers", line)
			}
			for _, attr := range []string{"kind=", "reason=", "result=", "expires_at="} {
				if !strings.Contains(line, attr) {
					t.Fatalf("refresh line %q lacks %s", line, attr)
				}
			}
			kind := refreshKindRe.FindStringSubmatch(line)
			if kind == nil {
				t.Fatalf("refresh line %q: no kind and reason", line)
			}
			switch {
			case kind[2] != "startup":
				seen[kind[2]] = true
			case platform:
				seen["component startup "+kind[1]] = true
			case authorizer:
				seen["authorizer startup "+kind[1]] = true
			default:
				seen["startup "+kind[1]] = true
			}
		case <-timeout:
			t.Fatalf("no refresh line within 30 s of a 10 s lifetime; seen: %v", seen)
		}
	}
	select {
	case line := <-authorized:
		t.Errorf("an authorization beyond the demo's accounts: %q", line)
	default:
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the demo after Ctrl-C: %v", err)
	}
}

// demoAuthorizerLine reports whether a log line names one of the demo's
// authorizers by its id, COMPONENT_APPID:AUTHORIZER_APPID.
func demoAuthorizerLine(line string) bool {
	for _, a := range demoAuthorizers {
		if strings.Contains(line, "="+demoComponentAppID+":"+a+" ") {
			return true
		}
	}
	return false
}

// followDemo runs what the demo printed: its export lines set the
// environment of its curl lines, which run in sh as pasted, and its CLI
// hints run with the binary.
func (q *quickStart) followDemo(bin string, printed []string) {
	t := q.t
	t.Helper()
	var exports []string
	env := map[string]string{}
	checks := 0
	// The platform's lines: its component token, each authorizer's token
	// and jsapi ticket, and the list of authorizers.
	platformLines := map[string]bool{}
	for _, line := range printed {
		if strings.HasPrefix(line, "curl ") {
			if path, ok := demoCurlPath(line); ok && strings.HasPrefix(path, "/v1/platforms/") {
				platformLines[path] = true
			}
		}
	}
	wantPlatform := []string{"/v1/platforms/" + demoComponentAppID + "/component_access_token", "/v1/platforms/" + demoComponentAppID + "/authorizers"}
	for _, a := range demoAuthorizers {
		prefix := "/v1/platforms/" + demoComponentAppID + "/authorizers/" + a
		wantPlatform = append(wantPlatform, prefix+"/access_token", prefix+"/tickets/jsapi")
	}
	for _, path := range wantPlatform {
		if !platformLines[path] {
			t.Errorf("the demo printed no curl line for %s", path)
		}
	}
	for _, line := range printed {
		switch {
		case strings.HasPrefix(line, "export "):
			exports = append(exports, line)
			name, value, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			env[name] = value
		case strings.HasPrefix(line, "curl "):
			checks++
			if _, err := exec.LookPath("curl"); err != nil {
				continue
			}
			script := strings.Join(append(slices.Clone(exports), line), "\n")
			out, err := exec.Command("sh", "-c", script).Output()
			if err != nil {
				t.Errorf("%s\n%v: %s", line, err, out)
				continue
			}
			if problem := demoAnswerProblem(line, out); problem != "" {
				t.Errorf("%s\nanswered %s\n%s", line, out, problem)
			}
		case strings.HasPrefix(line, "or with the CLI: "):
			for _, hint := range strings.Split(strings.TrimPrefix(line, "or with the CLI: "), "; ") {
				checks++
				argv := strings.Fields(hint)
				if len(argv) < 2 || argv[0] != "wxtoken" {
					t.Fatalf("CLI hint %q", hint)
				}
				cmd := exec.Command(bin, argv[1:]...)
				cmd.Env = os.Environ()
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				out, err := cmd.CombinedOutput()
				if err != nil || len(strings.TrimSpace(string(out))) == 0 {
					t.Errorf("%s: %v\n%s", hint, err, out)
				}
			}
		}
	}
	if len(exports) != 2 || checks < 16 {
		t.Fatalf("the demo printed %d export lines and %d commands, want 2 and at least 16:\n%s", len(exports), checks, strings.Join(printed, "\n"))
	}
}

// demoAnswerProblem checks the answer to one of the demo's curl lines,
// chosen by the route it calls; it returns what is wrong, or "".
func demoAnswerProblem(line string, out []byte) string {
	var v map[string]any
	decode := func() string {
		if err := json.Unmarshal(out, &v); err != nil {
			return fmt.Sprintf("not JSON: %v", err)
		}
		if v["error"] != nil {
			return "an error"
		}
		return ""
	}
	has := func(keys ...string) string {
		if p := decode(); p != "" {
			return p
		}
		for _, k := range keys {
			if s, _ := v[k].(string); s == "" {
				return "no " + k
			}
		}
		return ""
	}
	switch {
	case strings.Contains(line, "/metrics"):
		if !strings.Contains(string(out), "wxtoken_refreshes_total{") {
			return "no wxtoken_refreshes_total"
		}
		return ""
	case strings.Contains(line, "/v1/platforms/"):
		return demoPlatformProblem(line, out)
	case strings.Contains(line, "/access_token/refresh"):
		return has("access_token", "expires_at")
	case strings.Contains(line, "/access_token"):
		return has("access_token", "expires_at")
	case strings.Contains(line, "/tickets/"):
		return has("ticket", "type")
	case strings.Contains(line, "/v1/wecom/") && strings.Contains(line, "/jssdk_config"):
		if p := decode(); p != "" {
			return p
		}
		cfg, _ := v["config"].(map[string]any)
		agent, _ := v["agentConfig"].(map[string]any)
		if cfg == nil || agent == nil || cfg["signature"] == nil || agent["signature"] == nil {
			return "no config and agentConfig signatures"
		}
		if v["url"] != "https://example.com/page?id=1" {
			return fmt.Sprintf("signed url %v", v["url"])
		}
		return ""
	case strings.Contains(line, "/jssdk_config"):
		if p := has("signature", "nonceStr", "url"); p != "" {
			return p
		}
		if v["url"] != "https://example.com/page?id=1" {
			return fmt.Sprintf("signed url %v", v["url"])
		}
		return ""
	case strings.Contains(line, "/v1/apps"):
		if p := decode(); p != "" {
			return p
		}
		apps, _ := v["apps"].([]any)
		listed := map[string]bool{}
		for _, a := range apps {
			if m, ok := a.(map[string]any); ok {
				listed[fmt.Sprint(m["appid"])] = true
			}
		}
		want := []string{demoAppID, demoCorpID + "/" + demoAgentID, demoComponentAppID}
		for _, a := range demoAuthorizers {
			want = append(want, demoComponentAppID+":"+a)
		}
		if len(apps) != len(want) {
			return fmt.Sprintf("%d entries, want %d: the app, the WeCom agent, the platform and its two authorizers", len(apps), len(want))
		}
		for _, id := range want {
			if !listed[id] {
				return "no " + id
			}
		}
		return ""
	}
	return "a line this test does not know how to check; teach it"
}

// demoPlatformProblem checks the answer to one of the demo's lines about
// its third-party platform: the component token, an authorizer's token
// or ticket, or the list of authorizers, which must hold both accounts as
// active.
func demoPlatformProblem(line string, out []byte) string {
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		return fmt.Sprintf("not JSON: %v", err)
	}
	if v["error"] != nil {
		return "an error"
	}
	has := func(keys ...string) string {
		for _, k := range keys {
			if s, _ := v[k].(string); s == "" {
				return "no " + k
			}
		}
		if v["component_appid"] != demoComponentAppID {
			return fmt.Sprintf("component_appid %v", v["component_appid"])
		}
		return ""
	}
	authorizer := func() string {
		if a, _ := v["authorizer_appid"].(string); a == "" || !strings.Contains(line, "/authorizers/"+a+"/") {
			return fmt.Sprintf("authorizer_appid %v is not the one asked for", v["authorizer_appid"])
		}
		return ""
	}
	switch {
	case strings.Contains(line, "/component_access_token"):
		return has("component_access_token", "expires_at")
	case strings.Contains(line, "/authorizers/") && strings.Contains(line, "/access_token"):
		if p := has("authorizer_appid", "access_token", "expires_at"); p != "" {
			return p
		}
		return authorizer()
	case strings.Contains(line, "/authorizers/") && strings.Contains(line, "/tickets/"):
		if p := has("authorizer_appid", "ticket", "type", "expires_at"); p != "" {
			return p
		}
		return authorizer()
	case strings.HasSuffix(line, "/authorizers"):
		list, _ := v["authorizers"].([]any)
		states := map[string]any{}
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				states[fmt.Sprint(m["authorizer_appid"])] = m["state"]
			}
		}
		if len(list) != len(demoAuthorizers) {
			return fmt.Sprintf("%d authorizers, want %d", len(list), len(demoAuthorizers))
		}
		for _, a := range demoAuthorizers {
			if states[a] != "active" {
				return fmt.Sprintf("authorizer %s is %v, want active", a, states[a])
			}
		}
		return ""
	}
	return "a platform line this test does not know how to check; teach it"
}
