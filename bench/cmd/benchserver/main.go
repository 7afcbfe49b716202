// Command benchserver starts, in one process, what bench/run.sh measures:
//
//   - the WeChat simulator, on 127.0.0.1 and a free port;
//   - a real wxtoken (server.New, memory store, one app with a stable
//     token, one client key generated here and granted only that app),
//     wired to the simulator;
//   - a baseline: a minimal net/http handler that writes a constant JSON
//     body, byte for byte one answer of wxtoken's access_token route, with
//     the same Content-Type, whatever the request. Its URL has the same
//     path as wxtoken's, so that a load generator can send both servers
//     the very same request.
//
// It prints the key and the URLs as "name value" lines, then "ready", and
// serves until SIGINT or SIGTERM. The key lives only in this process.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

const (
	benchAppID  = "wx0123456789abcdef"
	benchSecret = "bench-app-secret-not-a-real-one"
	secretEnv   = "WXTOKEN_BENCH_SECRET"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8081", "address of wxtoken's HTTP API")
	baselineAddr := flag.String("baseline", "127.0.0.1:8082", "address of the baseline handler")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole process to `file` until it stops")
	store := flag.String("store", "memory", "wxtoken's store: memory, bolt or redis")
	baselineStore := flag.String("baseline-store", "", "serve as the baseline a second wxtoken on this store (memory, bolt or redis) instead of the constant handler")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "the Redis of -store redis")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

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

	// (a) The simulator.
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{benchAppID: benchSecret}})
	if err != nil {
		return err
	}
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()

	// (b) wxtoken, configured as an operator would.
	key := newKey()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir, err := os.MkdirTemp("", "benchserver")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := func(listen, store string) (*server.Server, <-chan error, error) {
		cfg, err := benchConfig(listen, store, simLn.Addr().String(), key, dir, *redisAddr)
		if err != nil {
			return nil, nil, err
		}
		srv, err := server.New(ctx, cfg, server.Options{Logger: log})
		if err != nil {
			return nil, nil, err
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx) }()
		return srv, served, nil
	}
	srv, served, err := start(*listen, *store)
	if err != nil {
		return err
	}
	tokenURL := srv.URL() + "/v1/apps/" + benchAppID + "/access_token"

	// (c) The baseline answers exactly one of wxtoken's answers.
	body, contentType, err := fetch(ctx, tokenURL, key)
	if err != nil {
		return fmt.Errorf("first token answer: %w", err)
	}
	baselineURL := ""
	if *baselineStore != "" {
		// The baseline is wxtoken itself on another store: what the
		// store costs a read.
		bsrv, bserved, err := start(*baselineAddr, *baselineStore)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		defer func() { <-bserved }()
		if _, _, err := fetch(ctx, bsrv.URL()+"/v1/apps/"+benchAppID+"/access_token", key); err != nil {
			return fmt.Errorf("baseline's first token answer: %w", err)
		}
		baselineURL = bsrv.URL() + "/v1/apps/" + benchAppID + "/access_token"
	} else {
		baseLn, err := net.Listen("tcp", *baselineAddr)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		baseSrv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", contentType)
				_, _ = w.Write(body)
			}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go baseSrv.Serve(baseLn)
		defer baseSrv.Close()
		baselineURL = fmt.Sprintf("http://%s/v1/apps/%s/access_token", baseLn.Addr(), benchAppID)
	}

	fmt.Printf("simulator http://%s\n", simLn.Addr())
	fmt.Printf("wxtoken %s\n", srv.URL())
	fmt.Printf("appid %s\n", benchAppID)
	fmt.Printf("key %s\n", key)
	fmt.Printf("token_url %s\n", tokenURL)
	fmt.Printf("baseline_url %s\n", baselineURL)
	fmt.Printf("store %s\n", *store)
	fmt.Printf("baseline_store %s\n", cmp.Or(*baselineStore, "handler"))
	fmt.Printf("body_bytes %d\n", len(body))
	fmt.Printf("gomaxprocs %d\n", runtime.GOMAXPROCS(0))
	fmt.Println("ready")

	err = <-served
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// benchConfig is the config an operator would write for one app on store,
// with the client key key.
func benchConfig(listen, store, simAddr, key, dir, redisAddr string) (*config.Config, error) {
	sum := sha256.Sum256([]byte(key))
	var st string
	switch store {
	case "memory":
		st = "{driver: memory}"
	case "bolt":
		st = fmt.Sprintf("{driver: bolt, path: %q}", filepath.Join(dir, listen+".db"))
	case "redis":
		// A fixed prefix: runs reuse the same few keys instead of
		// leaving new ones behind in the operator's Redis.
		st = fmt.Sprintf("{driver: redis, redis: {addr: %q, prefix: \"wxtoken-bench:\"}}", redisAddr)
	default:
		return nil, fmt.Errorf("unknown store %q (want memory, bolt or redis)", store)
	}
	yaml := fmt.Sprintf(`listen: %q
store: %s
upstream: {base_url: "http://%s", fallback_base_urls: [], timeout: 5s}
apps:
  - {appid: %s, name: bench, secret_env: %s, token_api: stable}
clients:
  - {name: bench, key_sha256: %q, apps: [%s]}
`, listen, st, simAddr, benchAppID, secretEnv, hex.EncodeToString(sum[:]), benchAppID)
	env := func(name string) (string, bool) {
		if name == secretEnv {
			return benchSecret, true
		}
		return "", false
	}
	cfg, err := config.Parse([]byte(yaml), "", env)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// newKey returns a client key of the form wxtoken keygen makes.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "wxt_" + base64.RawURLEncoding.EncodeToString(b)
}

// fetch returns the body and Content-Type of one authenticated GET,
// retrying briefly while the server gets its first token.
func fetch(ctx context.Context, url, key string) ([]byte, string, error) {
	var last error
	for range 50 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return body, resp.Header.Get("Content-Type"), nil
			}
			last = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, "", last
}
