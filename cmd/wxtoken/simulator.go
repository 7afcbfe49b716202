package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/simulator"
)

// The app the simulator serves when --apps is not given, so that it is
// usable with no arguments at all. Its secret is public by design.
const (
	simDemoAppID  = "wx0000000000000001"
	simDemoSecret = "demo-secret"
)

func runSimulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulator", stderr)
	listen := fs.String("listen", "127.0.0.1:9100", "address to listen on (port 0 picks a free port)")
	apps := fs.String("apps", "", "apps as appid:secret,... (default, without --wecom: the demo app "+simDemoAppID+":"+simDemoSecret+")")
	wecom := fs.String("wecom", "", "WeCom agents as corpid:agentid:secret,... (corpid:secret takes agentid "+strconv.Itoa(simFirstAgentID)+", then the next free one, in order, per corp)")
	platforms := fs.String("platform", "", "open platform third-party platforms as component_appid:secret:token:aeskey,... (token: the message check Token; aeskey: the 43-character EncodingAESKey)")
	events := fs.String("platform-events", "", "the authorization event URL the platforms' pushes go to; {component_appid} in it is replaced by each platform's (default none: verify tickets are issued but not pushed)")
	pushInterval := fs.Duration("push-interval", 0, "how often a component_verify_ticket is pushed (default ttl/12: 10m0s for the default ttl)")
	refreshToken := fs.String("refresh-token", simulator.RefreshTokenSame, "what api_authorizer_token does with the refresh token: "+simulator.RefreshTokenSame+
		" (answers the same one, as WeChat documents) or "+simulator.RefreshTokenRotate+" (answers a new one; the old one stops working)")
	var o simulator.Options
	fs.DurationVar(&o.TTL, "ttl", 7200*time.Second, "access_token lifetime")
	fs.DurationVar(&o.Overlap, "overlap", 0, "how long a replaced token keeps working, and the final window in which stable_token and tickets are reissued (default ttl/24: 5m0s for the default ttl)")
	fs.DurationVar(&o.TicketTTL, "ticket-ttl", 0, "ticket lifetime (default the ttl)")
	fs.IntVar(&o.DailyQuota, "daily-quota", 2000, "/cgi-bin/token calls per app per quota period")
	fs.IntVar(&o.StableQuota, "stable-quota", 500000, "/cgi-bin/stable_token calls per app per quota period")
	fs.DurationVar(&o.QuotaPeriod, "quota-period", 24*time.Hour, "how often quotas reset, counted from start")
	fs.IntVar(&o.ForceLimit, "force-limit", 20, "effective stable_token force refreshes per app per quota period")
	fs.DurationVar(&o.ForceInterval, "force-interval", 30*time.Second, "shortest gap between effective force refreshes")
	fs.StringVar(&o.OldTicket, "old-ticket", simulator.OldTicketEndsAfterOverlap,
		"what a getticket call does to the ticket it replaces: "+simulator.OldTicketEndsAfterOverlap+
			" (every call issues a new ticket; the old one works for the overlap, then stops) or "+
			simulator.OldTicketLivesOn+" (a new ticket only in the last overlap; the old one works until its own expiry)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	demo := *apps == "" && *wecom == "" && *platforms == ""
	if demo {
		*apps = simDemoAppID + ":" + simDemoSecret
	}
	if *apps != "" {
		if o.Apps, err = parseSimApps(*apps); err != nil {
			return fmt.Errorf("%w: --apps: %v", errUsage, err)
		}
	}
	if *wecom != "" {
		if o.WeCom, err = parseSimWeCom(*wecom); err != nil {
			return fmt.Errorf("%w: --wecom: %v", errUsage, err)
		}
	}
	if *platforms != "" {
		if o.Platforms, err = parseSimPlatforms(*platforms, *events, *pushInterval, *refreshToken); err != nil {
			return fmt.Errorf("%w: --platform: %v", errUsage, err)
		}
	} else if *events != "" {
		return fmt.Errorf("%w: --platform-events needs --platform", errUsage)
	}
	// Explicit zeros would silently become defaults inside the simulator.
	for _, f := range []struct {
		name string
		zero bool
	}{
		{"--ttl", o.TTL == 0}, {"--daily-quota", o.DailyQuota == 0}, {"--stable-quota", o.StableQuota == 0},
		{"--quota-period", o.QuotaPeriod == 0}, {"--force-limit", o.ForceLimit == 0}, {"--force-interval", o.ForceInterval == 0},
	} {
		if f.zero {
			return fmt.Errorf("%w: %s must not be zero", errUsage, f.name)
		}
	}
	sim, err := simulator.New(o)
	if err != nil {
		// Speak in flag names rather than Options field names.
		flags := strings.NewReplacer("TicketTTL", "--ticket-ttl", "TTL", "--ttl", "Overlap", "--overlap",
			"DailyQuota", "--daily-quota", "StableQuota", "--stable-quota", "QuotaPeriod", "--quota-period",
			"ForceLimit", "--force-limit", "ForceInterval", "--force-interval", "OldTicket", "--old-ticket",
			"PushInterval", "--push-interval", "RefreshToken", "--refresh-token")
		return fmt.Errorf("%w: %s", errUsage, flags.Replace(strings.TrimPrefix(err.Error(), "simulator: ")))
	}

	defer sim.Close() // stops the pushes
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	eff := sim.Options()
	fmt.Fprintf(stdout, "wxtoken simulator listening on http://%s for %s (ttl %v, overlap %v, old ticket %s)\n",
		ln.Addr(), served(sim.AppIDs(), sim.WeComIDs(), sim.ComponentAppIDs()), eff.TTL, eff.Overlap, eff.OldTicket)
	if demo {
		fmt.Fprintf(stdout, "no --apps given: serving the demo app %s with secret %s\n", simDemoAppID, simDemoSecret)
	}

	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests inherit ctx, so a "slow" fault stops waiting at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// served says what the simulator serves: "apps A, B", "WeCom agents
// corp/1, corp/2", "platforms C", or several of them joined by "and".
func served(apps, agents, platforms []string) string {
	var parts []string
	if len(apps) > 0 {
		parts = append(parts, "apps "+strings.Join(apps, ", "))
	}
	if len(agents) > 0 {
		parts = append(parts, "WeCom agents "+strings.Join(agents, ", "))
	}
	if len(platforms) > 0 {
		parts = append(parts, "platforms "+strings.Join(platforms, ", "))
	}
	return strings.Join(parts, " and ")
}

// parseSimPlatforms reads "component_appid:secret:token:aeskey,...". The
// secret is everything between the first colon and the last two, so it
// may hold colons; the Token and the EncodingAESKey cannot. events is the
// event URL of them all, with {component_appid} replaced by each one's.
func parseSimPlatforms(s, events string, pushInterval time.Duration, refreshToken string) ([]simulator.Platform, error) {
	var out []simulator.Platform
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		// Not quoted in errors: the entry holds a secret and a key.
		parts := strings.Split(item, ":")
		if len(parts) < 4 {
			return nil, fmt.Errorf("entry %d is not component_appid:secret:token:aeskey", i+1)
		}
		n := len(parts)
		p := simulator.Platform{
			ComponentAppID: parts[0],
			Secret:         strings.Join(parts[1:n-2], ":"),
			Token:          parts[n-2],
			EncodingAESKey: parts[n-1],
			PushInterval:   pushInterval,
			RefreshToken:   refreshToken,
		}
		if p.ComponentAppID == "" || p.Secret == "" || p.Token == "" || p.EncodingAESKey == "" {
			return nil, fmt.Errorf("entry %d is not component_appid:secret:token:aeskey", i+1)
		}
		if events != "" {
			p.EventURL = strings.ReplaceAll(events, "{component_appid}", p.ComponentAppID)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no platforms given")
	}
	return out, nil
}

// simFirstAgentID is the agentid WeCom gives a corp's first own app; a
// --wecom entry without an agentid takes it, or the next one free.
const simFirstAgentID = 1000002

// parseSimWeCom reads "corpid:agentid:secret,corpid:secret". An entry
// without an agentid takes the corp's lowest free agentid from
// simFirstAgentID up, in the order given.
func parseSimWeCom(s string) ([]simulator.WeComAgent, error) {
	type entry struct {
		corp, agent, secret string
	}
	var entries []entry
	taken := map[string]bool{} // corpid/agentid given explicitly
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		// Not quoted in errors: the entry holds a secret.
		parts := strings.SplitN(item, ":", 3)
		for _, p := range parts {
			if p == "" || strings.ContainsAny(p, "/ ") {
				return nil, fmt.Errorf("entry %d is not corpid:agentid:secret or corpid:secret", i+1)
			}
		}
		switch len(parts) {
		case 3:
			if !validSimAgentID(parts[1]) {
				return nil, fmt.Errorf("entry %d: agentid %q is not 1-64 letters, digits, _ or -", i+1, parts[1])
			}
			entries = append(entries, entry{parts[0], parts[1], parts[2]})
			taken[parts[0]+"/"+parts[1]] = true
		case 2:
			entries = append(entries, entry{parts[0], "", parts[1]})
		default:
			return nil, fmt.Errorf("entry %d is not corpid:agentid:secret or corpid:secret", i+1)
		}
	}
	if len(entries) == 0 {
		return nil, errors.New("no agents given")
	}
	next := map[string]int{} // the next agentid to try, per corp
	seen := map[string]bool{}
	agents := make([]simulator.WeComAgent, 0, len(entries))
	for _, e := range entries {
		if e.agent == "" {
			n := max(next[e.corp], simFirstAgentID)
			for taken[e.corp+"/"+strconv.Itoa(n)] {
				n++
			}
			e.agent, next[e.corp] = strconv.Itoa(n), n+1
		}
		id := e.corp + "/" + e.agent
		if seen[id] {
			return nil, fmt.Errorf("agent %s appears twice", id)
		}
		seen[id] = true
		agents = append(agents, simulator.WeComAgent{CorpID: e.corp, AgentID: e.agent, Secret: e.secret})
	}
	return agents, nil
}

// validSimAgentID reports whether id is an agentid: 1-64 letters, digits,
// _ or -.
func validSimAgentID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return id != ""
}

// parseSimApps reads "appid:secret,appid:secret".
func parseSimApps(s string) (map[string]string, error) {
	apps := map[string]string{}
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		id, secret, ok := strings.Cut(pair, ":")
		if !ok || id == "" || secret == "" {
			// Not quoted: the entry may hold a secret.
			return nil, fmt.Errorf("entry %d is not appid:secret", i+1)
		}
		if _, dup := apps[id]; dup {
			return nil, fmt.Errorf("appid %s appears twice", id)
		}
		apps[id] = secret
	}
	if len(apps) == 0 {
		return nil, errors.New("no apps given")
	}
	return apps, nil
}
