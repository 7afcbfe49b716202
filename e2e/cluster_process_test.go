package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/integration"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/logbuf"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

// buildWxtoken builds the wxtoken binary for tests that run replicas as
// processes of their own.
func buildWxtoken(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wxtoken")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wxtoken/wxtoken/cmd/wxtoken")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one replica running as `wxtoken serve` in a process of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	base string
	logs *logbuf.Buffer
}

var listeningRe = regexp.MustCompile(`msg="wxtoken listening" addr=(\S+)`)

// startProcs starts a `wxtoken serve` process for each name, and returns
// them by name with a client whose short timeout keeps a paused replica
// from holding up its pollers.
func (e *env) startProcs(t *testing.T, bin string, names ...string) (map[string]*proc, *http.Client) {
	t.Helper()
	procs := map[string]*proc{}
	for _, n := range names {
		procs[n] = e.startProc(t, bin, n)
	}
	hc := &http.Client{Timeout: time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return procs, hc
}

// startProc runs a replica of e's cluster as a process, with e's config
// (store on Redis) and secrets in its environment, and waits until it
// listens.
func (e *env) startProc(t *testing.T, bin, name string) *proc {
	t.Helper()
	r := e.cfg.Store.Redis
	key := ""
	if k := e.cfg.Store.EncryptionKeyEnv; k != "" {
		key = ", encryption_key_env: " + k
	}
	store := fmt.Sprintf("store: {driver: redis, redis: {addr: %q, prefix: %q, lease_ttl: %s, sync_interval: %s, replica: %s}%s}",
		r.Addr, r.Prefix, r.LeaseTTL, r.SyncInterval, name, key)
	var lines []string
	for _, l := range strings.Split(e.yaml, "\n") {
		// A bolt store stays as the config says: the file is shared by
		// the processes run one after another.
		if strings.HasPrefix(l, "store:") && e.cfg.Store.Driver == config.DriverRedis {
			l = store
		}
		lines = append(lines, l)
	}
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, logs: &logbuf.Buffer{}}
	p.cmd = exec.Command(bin, "serve", "--config", path)
	p.cmd.Env = os.Environ()
	for k, v := range e.envVars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr, p.cmd.Stdout = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		logs := p.logs.String()
		for secret, what := range e.secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("the log of %s contains %s", name, what)
			}
		}
		if t.Failed() {
			t.Logf("last lines of the log of %s:\n%s", name, lastLines(logs, 60))
		}
	})
	waitFor(t, 20*time.Second, name+" to listen", func() bool {
		m := listeningRe.FindStringSubmatch(p.logs.String())
		if m != nil {
			p.base = "http://" + m[1]
		}
		return m != nil
	})
	return p
}

// TestClusterLeaseHolderDies: the replica holding the lease stops in the
// middle of a classic refresh, killed or paused. Another replica takes the
// refresh over before the token expires; no replica hands out a dead
// token; and a paused holder that wakes up with a token in hand cannot
// write it over the newer one.
func TestClusterLeaseHolderDies(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	bin := buildWxtoken(t)
	for _, mode := range []string{"kill", "pause"} {
		t.Run(mode, func(t *testing.T) {
			const (
				appID   = "wxholder"
				ttl     = 12 * time.Second
				overlap = 4 * time.Second
			)
			e := newClusterEnv(t, setup{apps: []appSpec{{id: appID, api: "classic"}}, ttl: ttl, overlap: overlap, early: 0.5}, redisAddr)
			procs, hc := e.startProcs(t, bin, "p1", "p2", "p3")
			get := func(p *proc) (grant, error) {
				a, err := e.requestWith(hc, p.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
				if err != nil {
					return grant{}, err
				}
				return parseGrant(a, appID, "")
			}
			first, err := get(procs["p1"])
			if err != nil {
				t.Fatal(err)
			}
			t1Left := time.Duration(e.sim.Check(first.value).ExpiresIn) * time.Second
			t1Expiry := time.Now().Add(t1Left)

			// Every version of the token written to Redis, in order.
			rc := goredis.NewClient(&goredis.Options{Addr: redisAddr})
			t.Cleanup(func() { rc.Close() })
			sub := rc.Subscribe(context.Background(), "{"+e.cfg.Store.Redis.Prefix+"}changes")
			t.Cleanup(func() { sub.Close() })
			if _, err := sub.Receive(context.Background()); err != nil {
				t.Fatal(err)
			}
			var (
				verMu    sync.Mutex
				versions []uint64
			)
			go func() {
				for m := range sub.Channel() {
					f, v, _ := strings.Cut(m.Payload, " ")
					if f == appID+"/access_token" {
						n, _ := strconv.ParseUint(v, 10, 64)
						verMu.Lock()
						versions = append(versions, n)
						verMu.Unlock()
					}
				}
			}()

			// The refresh call that the holder will not live through.
			delay := 3 * time.Second // longer than the lease, cut short by the kill
			if mode == "pause" {
				delay = 1200 * time.Millisecond // answered, with a new token, while the holder sleeps
			}
			if err := e.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, AppID: appID,
				Kind: simulator.FaultSlow, Delay: delay, Count: 1}); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &handedOut{creds: map[string]*promise{}}
			var (
				fails   failures
				wg      sync.WaitGroup
				victimN string
				victMu  sync.Mutex
			)
			for name, p := range procs {
				wg.Go(func() {
					tick := time.NewTicker(50 * time.Millisecond)
					defer tick.Stop()
					for {
						// A request to the replica that was stopped, or
						// is being stopped, while it ran may fail.
						victMu.Lock()
						isVictim := victimN == name
						victMu.Unlock()
						g, err := get(p)
						victMu.Lock()
						isVictim = isVictim || victimN == name
						victMu.Unlock()
						switch {
						case err == nil:
							rec.add("access_token", g)
						case !isVictim:
							fails.add("%s: %v", name, err)
						}
						select {
						case <-ctx.Done():
							return
						case <-tick.C:
						}
					}
				})
			}
			wg.Go(func() { e.watchdog(ctx, rec, fails.add) })

			waitFor(t, ttl, "the planned refresh to reach WeChat", func() bool {
				return e.sim.Calls(simulator.EndpointToken, appID) >= 2
			})
			leaseKey := "{" + e.cfg.Store.Redis.Prefix + "}lease:" + appID + "/access_token"
			holder, err := rc.Get(context.Background(), leaseKey).Result()
			if err != nil {
				t.Fatalf("reading the lease: %v", err)
			}
			name, _, _ := strings.Cut(holder, "|")
			victim := procs[name]
			if victim == nil {
				t.Fatalf("the lease is held by %q, not one of the replicas", holder)
			}
			victMu.Lock()
			victimN = name
			victMu.Unlock()
			if mode == "kill" {
				_ = victim.cmd.Process.Kill()
			} else {
				_ = victim.cmd.Process.Signal(syscall.SIGSTOP)
			}
			stopped := time.Now()
			var survivors []*proc
			for n, p := range procs {
				if n != name {
					survivors = append(survivors, p)
				}
			}
			var second grant
			waitFor(t, ttl, "another replica to take the refresh over", func() bool {
				for _, p := range survivors {
					if g, err := get(p); err == nil && g.value != first.value {
						second = g
						return true
					}
				}
				return false
			})
			took := time.Since(stopped)
			if !time.Now().Before(t1Expiry) {
				t.Errorf("the new token came %v after the holder stopped, after the old one expired", took)
			}
			t.Logf("%s: %s held the lease; a new token was served %v later, %v before the old one expired",
				mode, name, took.Round(time.Millisecond), time.Until(t1Expiry).Round(time.Millisecond))

			if mode == "pause" {
				// Let the sleeper's answer (a newer mint than the old
				// token, older than the new one) wait, then wake it: once
				// the simulator has answered all three token calls, the
				// first fetch, the sleeper's and the takeover's.
				waitFor(t, 10*time.Second, "the simulator to answer the sleeper's call", func() bool {
					return e.answers("/cgi-bin/token") >= 3
				})
				_ = victim.cmd.Process.Signal(syscall.SIGCONT)
				victMu.Lock()
				victimN = ""
				victMu.Unlock()
				waitFor(t, 10*time.Second, "the woken replica to serve the current token", func() bool {
					g, err := get(victim)
					return err == nil && g.value == second.value
				})
				// On waking, the replica either reads the answer it slept
				// through and has its write refused, or its call's
				// timeout, which ran out meanwhile, fires first: which
				// comes first is up to the runtime. The refusal itself is
				// in the store's contract suite.
				if strings.Contains(victim.logs.String(), "the shared store refused the refreshed credential") {
					t.Logf("the woken replica's write was refused")
				} else {
					t.Logf("the woken replica's call timed out before its answer was read")
				}
			}
			cancel()
			wg.Wait()
			fails.report(t)
			// The survivor that served it first told the others through
			// the store: each follows within a sync interval.
			for _, p := range survivors {
				waitFor(t, time.Second, p.name+" to serve the token that replaced the old one", func() bool {
					g, err := get(p)
					return err == nil && g.value == second.value
				})
			}
			if st := e.sim.Check(second.value); !st.Valid {
				t.Errorf("the token that replaced the old one is dead: %+v", st)
			}
			verMu.Lock()
			defer verMu.Unlock()
			for i := 1; i < len(versions); i++ {
				if versions[i] <= versions[i-1] {
					t.Errorf("versions written to Redis: %v: an older token was written after a newer one", versions)
				}
			}
			if calls := e.sim.Calls(simulator.EndpointToken, appID); calls != 3 {
				t.Errorf("%d token calls, want 3: the first fetch, the refresh the holder did not finish, the takeover", calls)
			}
		})
	}
}
