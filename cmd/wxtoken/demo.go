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

	sim, err := simulator.New(simulator.Options{
		Apps:  map[string]string{demoAppID: demoSecret},
		WeCom: []simulator.WeComAgent{{CorpID: demoCorpID, AgentID: demoAgentID, Secret: demoAgentSecret}},
		TTL:   *ttl, Overlap: *overlap,
	})
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

	key := newClientKey()
	margin := min(time.Minute, *overlap/5)
	yaml := fmt.Sprintf(`listen: %q
store: {driver: memory}
upstream: {base_url: "http://%[2]s", wecom_base_url: "http://%[2]s", fallback_base_urls: [], timeout: 5s, overlap: %[3]s}
refresh: {margin: %[4]s}
apps:
  - {appid: %[5]s, name: demo, secret_env: WXTOKEN_DEMO_SECRET, token_api: stable, tickets: [jsapi, wx_card]}
wecom:
  - corpid: %[7]s
    name: demo-corp
    agents:
      - {agentid: "%[8]s", secret_env: WXTOKEN_DEMO_AGENT_SECRET, tickets: [jsapi, agent_config]}
clients:
  - {name: demo, key_sha256: %[6]q, apps: ["*"], admin: true}
`, *listen, simLn.Addr(), overlap.String(), margin.String(), demoAppID, keyHash(key), demoCorpID, demoAgentID)
	env := func(name string) (string, bool) {
		switch name {
		case "WXTOKEN_DEMO_SECRET":
			return demoSecret, true
		case "WXTOKEN_DEMO_AGENT_SECRET":
			return demoAgentSecret, true
		}
		return "", false
	}
	cfg, err := config.Parse([]byte(yaml), "", env)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	// Info shows what the demo is for, one line per refresh (appid, kind,
	// reason, result, expiry), and little else; -v adds every request.
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: demoTimes}))
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	base := srv.URL()
	fmt.Fprintf(stdout, `wxtoken demo: a WeChat simulator at http://%s and wxtoken at %s
app %s (stable token, jsapi and wx_card tickets) and WeCom agent %[7]s/%[8]s
(jsapi and agent_config tickets); tokens live %[4]s in this demo.

Try, in another terminal:

  export WXTOKEN_SERVER=%s
  export WXTOKEN_KEY=%s

  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps/%[3]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps/%[3]s/tickets/jsapi
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" "$WXTOKEN_SERVER/v1/apps/%[3]s/jssdk_config?url=https://example.com/page?id=1"
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" -H "Content-Type: application/json" -d '{"stale":"<a token WeChat rejected>"}' $WXTOKEN_SERVER/v1/apps/%[3]s/access_token/refresh
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/wecom/%[7]s/%[8]s/access_token
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" "$WXTOKEN_SERVER/v1/wecom/%[7]s/%[8]s/jssdk_config?url=https://example.com/page?id=1"
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/v1/apps
  curl -s -H "Authorization: Bearer $WXTOKEN_KEY" $WXTOKEN_SERVER/metrics | grep ^wxtoken_

or with the CLI: wxtoken token %[3]s; wxtoken token --wecom %[7]s/%[8]s; wxtoken status

Each refresh is logged below as it happens (-v logs every request too).
Ctrl-C stops the demo.
`, simLn.Addr(), base, demoAppID, ttl.String(), base, key, demoCorpID, demoAgentID)
	err = srv.Serve(ctx)
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
