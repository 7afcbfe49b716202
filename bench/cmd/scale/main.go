// Command scale measures wxtoken with many apps, as bench/scale.sh runs it.
//
// For each N it writes a config of N apps (a stable access_token and a
// jsapi_ticket each, a bolt store, refresh.max_rate 1000, every AppSecret
// in a file of its own, as an operator with many apps would keep them),
// starts the WeChat simulator in this process with the same N apps, and
// runs the wxtoken binary against it:
//
//   - `wxtoken check --config FILE`: its time, and its CPU time (user and
//     system), which other work on the machine does not stretch;
//   - `wxtoken serve` on an empty store: the time until every credential
//     was fetched (the simulator has answered N stable_token and N
//     getticket calls and /readyz answers 200), the peak RSS (VmHWM) and
//     the RSS once the start is done (VmRSS, 10 s after it);
//   - its CPU time (utime + stime of /proc/PID/stat) over those 10 s of
//     idleness, and the upstream calls made in them;
//   - /metrics: bytes (uncompressed), series and scrape time (the median
//     of three scrapes);
//   - a restart on the same store: the time from the start of the process
//     to the first /readyz 200 and the process's CPU time by then, its peak
//     RSS, and the upstream calls made within 5 s of it.
//
// It prints one table row per N. With -profile DIR it runs "scale serve"
// (this program, serving as `wxtoken serve` does) in place of the binary,
// with a CPU profile of each run and a heap profile at the end of each
// phase, written to DIR.
//
// "scale serve -config FILE [-cpuprofile F] [-heapprofile PREFIX]" is that
// server: server.New and Serve, as `wxtoken serve` runs them; SIGUSR1
// writes a heap profile PREFIX-K.pprof (K counting from 1).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serve(os.Args[2:])
	} else {
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// result holds the figures of one N.
type result struct {
	n             int
	check         time.Duration
	checkCPU      time.Duration
	coldFetched   time.Duration
	coldHWM       int64 // kB
	coldRSS       int64 // kB, 10 s after the start was done
	idleCPU       time.Duration
	idleCalls     int
	metricsBytes  int
	metricsSeries int
	metricsScrape time.Duration
	restartReady  time.Duration
	restartCPU    time.Duration
	restartHWM    int64
	restartCalls  int
	restartRSS    int64
}

func run(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	bin := fs.String("wxtoken", "", "the wxtoken binary (required unless -profile)")
	work := fs.String("work", "", "folder for configs, secrets and stores (default: a temporary one, removed at the end)")
	profile := fs.String("profile", "", "run this program's server with CPU and heap profiles written to `dir`, instead of the binary")
	idle := fs.Duration("idle", 10*time.Second, "how long the idle CPU is measured after the start")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest wait for a start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns := []int{1000, 10000}
	if fs.NArg() > 0 {
		ns = ns[:0]
		for _, a := range fs.Args() {
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 || n > 1_000_000 {
				return fmt.Errorf("%q: want a number of apps from 1 to 1000000", a)
			}
			ns = append(ns, n)
		}
	}
	if *bin == "" && *profile == "" {
		return errors.New("-wxtoken BIN or -profile DIR is required")
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "wxtoken-scale")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if *profile != "" {
		if err := os.MkdirAll(*profile, 0o755); err != nil {
			return err
		}
	}
	fmt.Printf("machine: %d CPUs, %s, GOMAXPROCS of wxtoken: default\n", runtime.NumCPU(), runtime.Version())
	var results []result
	for _, n := range ns {
		r, err := measure(n, filepath.Join(dir, strconv.Itoa(n)), *bin, *profile, *idle, *timeout)
		if err != nil {
			return fmt.Errorf("%d apps: %w", n, err)
		}
		results = append(results, r)
		printTable(os.Stdout, results)
	}
	return nil
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| apps | check (CPU) | cold start: all fetched | peak RSS (cold) | RSS after | /metrics bytes | series | scrape | restart to /readyz 200 (CPU) | peak RSS (restart) | calls after restart | idle CPU (10 s) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %s (%s) | %s | %s | %s | %s | %d | %s | %s (%s) | %s | %d | %s (%d calls) |\n",
			r.n, secs(r.check), secs(r.checkCPU), secs(r.coldFetched), mb(r.coldHWM), mb(r.coldRSS),
			size(r.metricsBytes), r.metricsSeries, secs(r.metricsScrape),
			secs(r.restartReady), secs(r.restartCPU), mb(r.restartHWM), r.restartCalls,
			secs(r.idleCPU), r.idleCalls)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func mb(kb int64) string          { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }
func size(b int) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.0f kB", float64(b)/1024)
}

func appID(i int) string { return fmt.Sprintf("wx%016x", 0x5ca1e0000000+i) }

// setup writes the secrets and the config, and returns the config's path
// and the admin key.
func setup(dir string, n int, simAddr, listen string, apps map[string]string) (cfgPath, key string, err error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	sdir := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return "", "", err
	}
	kb := make([]byte, 32)
	if _, err := rand.Read(kb); err != nil {
		return "", "", err
	}
	key = hex.EncodeToString(kb)
	sum := sha256.Sum256([]byte(key))
	var b bytes.Buffer
	fmt.Fprintf(&b, "listen: %s\nstore: {driver: bolt, path: wxtoken.db}\n", listen)
	fmt.Fprintf(&b, "upstream: {base_url: \"http://%s\", fallback_base_urls: []}\n", simAddr)
	b.WriteString("refresh: {max_rate: 1000}\nlog: {level: warn}\n")
	fmt.Fprintf(&b, "clients:\n  - {name: scale, key_sha256: %s, apps: [\"*\"], admin: true}\n", hex.EncodeToString(sum[:]))
	b.WriteString("apps:\n")
	for i := range n {
		id := appID(i)
		sb := make([]byte, 16)
		if _, err := rand.Read(sb); err != nil {
			return "", "", err
		}
		secret := hex.EncodeToString(sb)
		apps[id] = secret
		if err := os.WriteFile(filepath.Join(sdir, id), []byte(secret+"\n"), 0o600); err != nil {
			return "", "", err
		}
		fmt.Fprintf(&b, "  - {appid: %s, secret_file: secrets/%s, token_api: stable, tickets: [jsapi]}\n", id, id)
	}
	cfgPath = filepath.Join(dir, "wxtoken.yaml")
	return cfgPath, key, os.WriteFile(cfgPath, b.Bytes(), 0o600)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func measure(n int, dir, bin, profile string, idle, timeout time.Duration) (result, error) {
	r := result{n: n}
	apps := make(map[string]string, n)
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	listen, err := freeAddr()
	if err != nil {
		return r, err
	}
	cfgPath, key, err := setup(dir, n, simLn.Addr().String(), listen, apps)
	if err != nil {
		return r, err
	}
	sim, err := simulator.New(simulator.Options{Apps: apps})
	if err != nil {
		return r, err
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()
	calls := func() int { return sim.Calls("", "") }

	// check
	if bin != "" {
		t0 := time.Now()
		cmd := exec.Command(bin, "check", "--config", cfgPath)
		out, err := cmd.CombinedOutput()
		r.check = time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("check: %w: %s", err, out)
		}
		r.checkCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}

	base := "http://" + listen
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	start := func(phase string) (*exec.Cmd, error) {
		var cmd *exec.Cmd
		if profile != "" {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			p := filepath.Join(profile, fmt.Sprintf("%d-%s", n, phase))
			cmd = exec.Command(self, "serve", "-config", cfgPath, "-cpuprofile", p+"-cpu.pprof", "-heapprofile", p+"-heap", "-memevery", "500ms")
		} else {
			cmd = exec.Command(bin, "serve", "--config", cfgPath)
		}
		logf, err := os.Create(filepath.Join(dir, phase+".log"))
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd, cmd.Start()
	}
	stop := func(cmd *exec.Cmd) error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return errors.New("did not stop within 60 s of SIGTERM")
		}
	}

	// Cold start.
	t0 := time.Now()
	cmd, err := start("cold")
	if err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	deadline := t0.Add(timeout)
	for {
		if sim.Calls(simulator.EndpointStableToken, "") >= n && sim.Calls(simulator.EndpointTicket, "") >= n && ready(hc, base) {
			break
		}
		if time.Now().After(deadline) {
			_ = stop(cmd)
			return r, fmt.Errorf("cold start: not done after %s (%d stable_token, %d getticket calls)", timeout,
				sim.Calls(simulator.EndpointStableToken, ""), sim.Calls(simulator.EndpointTicket, ""))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.coldFetched = time.Since(t0)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	c0 := calls()
	time.Sleep(idle)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return r, err
	}
	r.idleCPU = cpu1 - cpu0
	r.idleCalls = calls() - c0
	if r.coldHWM, r.coldRSS, err = memory(pid); err != nil {
		return r, err
	}
	if profile != "" {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
	}

	// /metrics
	var took []time.Duration
	for range 3 {
		t := time.Now()
		body, err := get(hc, base+"/metrics", key)
		if err != nil {
			_ = stop(cmd)
			return r, fmt.Errorf("metrics: %w", err)
		}
		took = append(took, time.Since(t))
		r.metricsBytes = len(body)
		r.metricsSeries = series(body)
	}
	slices.Sort(took)
	r.metricsScrape = took[1]
	if err := stop(cmd); err != nil {
		return r, fmt.Errorf("stop after the cold start: %w", err)
	}

	// Restart on the same store.
	c0 = calls()
	t0 = time.Now()
	cmd, err = start("restart")
	if err != nil {
		return r, err
	}
	pid = cmd.Process.Pid
	deadline = t0.Add(timeout)
	for !ready(hc, base) {
		if time.Now().After(deadline) {
			_ = stop(cmd)
			return r, fmt.Errorf("restart: no /readyz 200 after %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.restartReady = time.Since(t0)
	if r.restartCPU, err = cpuTime(pid); err != nil {
		return r, err
	}
	time.Sleep(5 * time.Second)
	r.restartCalls = calls() - c0
	if r.restartHWM, r.restartRSS, err = memory(pid); err != nil {
		return r, err
	}
	if profile != "" {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
	}
	if err := stop(cmd); err != nil {
		return r, fmt.Errorf("stop after the restart: %w", err)
	}
	return r, nil
}

func ready(hc *http.Client, base string) bool {
	resp, err := hc.Get(base + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func get(hc *http.Client, url, key string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return body, nil
}

// series counts the sample lines of a text exposition.
func series(body []byte) int {
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

// cpuTime is the process's user and system CPU time, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14 and stime 15.
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	// Clock ticks are 100 per second on Linux.
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// memory returns VmHWM and VmRSS in kB.
func memory(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return hwm, rss, nil
}

// serve runs wxtoken as `wxtoken serve` does, with profiles.
func serve(args []string) error {
	fs := flag.NewFlagSet("scale serve", flag.ContinueOnError)
	path := fs.String("config", "", "the config file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `file` until the process stops")
	heapprofile := fs.String("heapprofile", "", "on SIGUSR1, write a heap profile to `prefix`-K.pprof")
	memEvery := fs.Duration("memevery", 0, "log the goroutines and the heap and stack sizes this often")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *memEvery > 0 {
		go func() {
			var ms runtime.MemStats
			for range time.Tick(*memEvery) {
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(os.Stderr, "mem: goroutines %d heap inuse %d MB, sys %d MB, released %d MB, stacks %d MB, gc %d\n",
					runtime.NumGoroutine(), ms.HeapInuse>>20, ms.HeapSys>>20, ms.HeapReleased>>20, ms.StackInuse>>20, ms.NumGC)
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *heapprofile != "" {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for k := 1; ; k++ {
				<-usr1
				f, err := os.Create(fmt.Sprintf("%s-%d.pprof", *heapprofile, k))
				if err != nil {
					continue
				}
				// A collection first, so that the profile shows what is
				// live now rather than at the last cycle.
				runtime.GC()
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	cfg, err := config.Load(*path, os.LookupEnv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
