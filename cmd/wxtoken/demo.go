package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// The demo's app; its secret lives only inside the demo process.
const (
	demoAppID  = "wx00000000demo0001"
	demoSecret = "demo-app-secret-not-a-real-one"
	// The demo's WeCom corp and agent, served by the same simulator.
	demoCorpID      = "ww0000000000de0001"
	demoAgentID     = "1000002"
	demoAgentSecret = "demo-agent-secret-not-a-real-one"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the wxtoken HTTP API (port 0 picks a free port)")
	ttl := fs.Duration("ttl", 7200*time.Second, "token lifetime in the simulator; shorten it to watch refreshes happen")
	overlap := fs.Duration("overlap", 0, "how long a replaced token keeps working (default ttl/24)")
	verbose := fs.Bool("v", false, "also log every HTTP request (debug level)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if *overlap == 0 {
		*overlap = *ttl / 24
	}
	if *ttl < 10*time.Second || *overlap <= 0 || *overlap >= *ttl {
		return fmt.Errorf("%w: --ttl must be at least 10s and --overlap shorter than it", errUsage)
	}

	// The server's address first: the simulator pushes to its events
	// endpoint.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	aesKey, err := demoAESKey()
	if err != nil {
		return err
	}
	// The key that seals the authorizers' refresh tokens in the store:
	// the demo's own, made for this run and handed to its config as an
	// environment value that only the demo process sees.
	storeKey, err := seal.GenerateKey()
	if err != nil {
		return err
	}
	pushEvery := demoPushInterval(*ttl)
	sim, err := simulator.New(simulator.Options{
		Apps:  map[string]string{demoAppID: demoSecret},
		WeCom: []simulator.WeComAgent{{CorpID: demoCorpID, AgentID: demoAgentID, Secret: demoAgentSecret}},
		Platforms: []simulator.Platform{{
			ComponentAppID: demoComponentAppID, Secret: demoComponentSecret, Token: demoMsgToken, EncodingAESKey: aesKey,
			EventURL:     demoEventURL(ln.Addr()),
			PushInterval: pushEvery,
		}},
		TTL: *ttl, Overlap: *overlap,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(simLn)
	defer simSrv.Close()

	key := newClientKey()
	margin := min(time.Minute, *overlap/5)
	yaml := fmt.Sprintf(`listen: %q
store: {driver: memory, encryption_key_env: WXTOKEN_DEMO_STORE_KEY}
upstream: {base_url: "http://%[2]s", wecom_base_url: "http://%[2]s", fallback_base_urls: [], timeout: 5s, overlap: %[3]s}
refresh: {margin: %[4]s}
apps:
  - {appid: %[5]s, name: demo, secret_env: WXTOKEN_DEMO_SECRET, token_api: stable, tickets: [jsapi, wx_card]}
wecom:
  - corpid: %[7]s
    name: demo-corp
    agents:
      - {agentid: "%[8]s", secret_env: WXTOKEN_DEMO_AGENT_SECRET, tickets: [jsapi, agent_config]}
platforms:
  - component_appid: %[9]s
    name: demo-platform
    secret_env: WXTOKEN_DEMO_COMPONENT_SECRET
    token_env: WXTOKEN_DEMO_MSG_TOKEN
    encoding_aes_key_env: WXTOKEN_DEMO_AES_KEY
    authorizer_tickets: [jsapi]
clients:
  - {name: demo, key_sha256: %[6]q, apps: ["*"], admin: true}
`, *listen, simLn.Addr(), overlap.String(), margin.String(), demoAppID, keyHash(key), demoCorpID, demoAgentID, demoComponentAppID)
	env := func(name string) (string, bool) {
		switch name {
		case "WXTOKEN_DEMO_SECRET":
			return demoSecret, true
		case "WXTOKEN_DEMO_AGENT_SECRET":
			return demoAgentSecret, true
		case "WXTOKEN_DEMO_COMPONENT_SECRET":
			return demoComponentSecret, true
		case "WXTOKEN_DEMO_MSG_TOKEN":
			return demoMsgToken, true
		case "WXTOKEN_DEMO_AES_KEY":
			return aesKey, true
		case "WXTOKEN_DEMO_STORE_KEY":
			return storeKey, true
		}
		return "", false
	}
	cfg, err := config.Parse([]byte(yaml), "", env)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	// Info shows what the demo is for, one line per refresh (appid, kind,
	// reason, result, expiry) and per account that authorized the
	// platform, and little else; -v adds every request, pushes included.
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: demoTimes}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Listener: ln})
	if err != nil {
		return err
	}
	// Served from now on, so that the simulator's pushes are answered
	// while the demo's accounts authorize its platform.
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	if err := demoAuthorize(ctx, sim, srv.Engine()); err != nil {
		srv.Close()
		<-served
		if ctx.Err() != nil {
			return nil // Ctrl-C while starting
		}
		return err
	}
	base := srv.URL()
	a1, a2 := demoAuthorizers[0], demoAuthorizers[1]
	fmt.Fprintf(stdout, `wxtoken demo: a WeChat simulator at http://%s and wxtoken at %s
app %s (stable token, jsapi and wx_card tickets) and WeCom agent %[7]s/%[8]s
(jsapi and agent_config tickets); tokens live %[4]s in this demo.
Third-party platform %[9]s: the simulator pushes its events endpoint a verify
ticket every %[12]s, and accounts %[10]s and %[11]s authorized it (jsapi tickets).
Their refresh tokens are sealed with a store key the demo made for this run.

Try, in another terminal:

  export WXTOKEN_SERVER=%[5]s
  export WXTOKEN_KEY=%[6]s

  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps/%[3]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps/%[3]s/tickets/jsapi
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" "$WXTOKEN_SERVER/v1/apps/%[3]s/jssdk_config?url=https://example.com/page?id=1"
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" -H "Content-Type: application/json" -d '{"stale":"<a token WeChat rejected>"}' $WXTOKEN_SERVER/v1/apps/%[3]s/access_token/refresh
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/wecom/%[7]s/%[8]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" "$WXTOKEN_SERVER/v1/wecom/%[7]s/%[8]s/jssdk_config?url=https://example.com/page?id=1"
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/component_access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/authorizers/%[10]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/authorizers/%[10]s/tickets/jsapi
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/authorizers/%[11]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/authorizers/%[11]s/tickets/jsapi
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/platforms/%[9]s/authorizers
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/metrics | grep ^wxtoken_

or with the CLI: wxtoken token %[3]s; wxtoken token --wecom %[7]s/%[8]s; wxtoken token --authorizer %[9]s:%[10]s; wxtoken platform authorizers --component %[9]s; wxtoken status

Each refresh and authorization is logged below as it happens (-v logs every
request too, the simulator's pushes among them).
Ctrl-C stops the demo.
`, simLn.Addr(), base, demoAppID, ttl.String(), base, key, demoCorpID, demoAgentID,
		demoComponentAppID, a1, a2, pushEvery.String())
	err = <-served
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// demoTimes shortens the log's times to the time of day: a demo lasts
// minutes, and expires_at and refresh_at then read at a glance.
func demoTimes(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindTime {
		return slog.String(a.Key, a.Value.Time().Local().Format("15:04:05"))
	}
	return a
}
