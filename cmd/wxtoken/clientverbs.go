package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// The environment of the client verbs, so that scripts set the server and
// key once instead of on every command line, where other users of the
// machine could read the key.
const (
	envServer     = "WXTOKEN_SERVER"
	envKey        = "WXTOKEN_KEY"
	envCACert     = "WXTOKEN_CACERT"
	defaultServer = "http://127.0.0.1:8080"
)

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	server  string
	key     string
	cacert  string
	timeout time.Duration
	json    bool
}

// addClientFlags defines the common flags on fs, and --json when jsonUsage
// is not empty. The defaults from the environment are applied after
// parsing, not as flag defaults, so that -h never prints the key.
func addClientFlags(fs *flag.FlagSet, jsonUsage string) *clientFlags {
	f := &clientFlags{}
	fs.StringVar(&f.server, "server", "", "wxtoken server `URL` (default $"+envServer+", else "+defaultServer+")")
	fs.StringVar(&f.key, "key", "", "client `key` (default $"+envKey+", which is safer: a command line is visible to other users)")
	fs.StringVar(&f.cacert, "cacert", "", "PEM `FILE` of the CA certificates to trust for an https server, instead of the system's (default $"+envCACert+")")
	fs.DurationVar(&f.timeout, "timeout", client.DefaultTimeout, "how long to wait for the server")
	if jsonUsage != "" {
		fs.BoolVar(&f.json, "json", false, jsonUsage)
	}
	return f
}

// client returns a client of the chosen server, taking what the flags left
// out from the environment that lookupEnv reads.
// clientWithoutArgs parses args for a verb that takes flags only, and
// returns the client its flags describe.
func (f *clientFlags) clientWithoutArgs(fs *flag.FlagSet, args []string) (*client.Client, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	return f.client(os.LookupEnv)
}

func (f *clientFlags) client(lookupEnv func(string) (string, bool)) (*client.Client, error) {
	server := f.server
	if server == "" {
		server, _ = lookupEnv(envServer)
	}
	if server == "" {
		server = defaultServer
	}
	key := f.key
	if key == "" {
		key, _ = lookupEnv(envKey)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: no client key: set %s to the key that wxtoken keygen printed (or pass --key)", errUsage, envKey)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	opts := []client.Option{client.WithTimeout(f.timeout)}
	cacert := f.cacert
	if cacert == "" {
		cacert, _ = lookupEnv(envCACert)
	}
	if cacert != "" {
		hc, err := trustingClient(cacert)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHTTPClient(hc))
	}
	c, err := client.New(server, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, nil
}

// trustingClient returns an HTTP client that trusts the CA certificates in
// the PEM file at path, and only those, as curl's --cacert does: a server
// with a certificate of a private CA is then reached without turning
// verification off.
func trustingClient(path string) (*http.Client, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--cacert: %s holds no PEM certificate", path)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// target is what a client verb is about: an app by its appid, a WeCom
// agent (--wecom CORPID/AGENTID), or an account that authorized a
// third-party platform (--authorizer COMPONENT_APPID:AUTHORIZER_APPID).
type target struct {
	// id is the appid, the agent's wxtoken.WeComID or the authorizer's
	// wxtoken.AuthorizerID.
	id              string
	corpID, agentID string
	compID, authID  string
}

// family is the family of the target.
func (t target) family() wxtoken.Family {
	switch {
	case t.agentID != "":
		return wxtoken.FamilyWeCom
	case t.authID != "":
		return wxtoken.FamilyAuthorizer
	}
	return wxtoken.FamilyApp
}

// targetFlags are the flags that name a target in place of APPID.
type targetFlags struct {
	wecom, authorizer *string
}

// addTargetFlags defines --wecom and --authorizer on fs.
func addTargetFlags(fs *flag.FlagSet) targetFlags {
	return targetFlags{
		wecom:      fs.String("wecom", "", "a WeCom agent, as `CORPID/AGENTID`, in place of APPID"),
		authorizer: fs.String("authorizer", "", "an account that authorized a third-party platform, as `COMPONENT_APPID:AUTHORIZER_APPID`, in place of APPID"),
	}
}

// targetArg returns the target of the command line: the single APPID
// argument, or the agent that --wecom names, or the authorizer that
// --authorizer names.
func targetArg(pos []string, tf targetFlags) (target, error) {
	wecom, authz := *tf.wecom, *tf.authorizer
	switch {
	case wecom != "" && authz != "":
		return target{}, fmt.Errorf("%w: give --wecom or --authorizer, not both", errUsage)
	case authz != "":
		return authorizerArg(pos, authz)
	case wecom == "":
		switch {
		case len(pos) == 0 || pos[0] == "":
			return target{}, fmt.Errorf("%w: APPID (or --wecom CORPID/AGENTID, or --authorizer COMPONENT_APPID:AUTHORIZER_APPID) is required", errUsage)
		case len(pos) > 1:
			return target{}, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[1])
		}
		return target{id: pos[0]}, nil
	}
	if len(pos) > 0 {
		return target{}, fmt.Errorf("%w: give APPID or --wecom, not both (unexpected argument %q)", errUsage, pos[0])
	}
	corp, agent, ok := strings.Cut(wecom, "/")
	if !ok || corp == "" || agent == "" || strings.Contains(agent, "/") {
		return target{}, fmt.Errorf("%w: --wecom %q: want CORPID/AGENTID, such as ww0123456789abcdef/1000002", errUsage, wecom)
	}
	return target{id: wxtoken.WeComID(corp, agent), corpID: corp, agentID: agent}, nil
}

// authorizerArg returns the target that --authorizer names.
func authorizerArg(pos []string, authz string) (target, error) {
	if len(pos) > 0 {
		return target{}, fmt.Errorf("%w: give APPID or --authorizer, not both (unexpected argument %q)", errUsage, pos[0])
	}
	comp, auth, ok := strings.Cut(authz, ":")
	if !ok || comp == "" || auth == "" || strings.ContainsAny(auth, ":/") || strings.Contains(comp, "/") {
		return target{}, fmt.Errorf("%w: --authorizer %q: want COMPONENT_APPID:AUTHORIZER_APPID, such as wx0123456789abcdef:wxfedcba9876543210", errUsage, authz)
	}
	return target{id: wxtoken.AuthorizerID(comp, auth), compID: comp, authID: auth}, nil
}

// ticketTypes names the ticket types of a family for messages: "jsapi or
// wx_card".
func ticketTypes(f wxtoken.Family) string {
	ts := f.Tickets()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, " or ")
}

// runToken prints an app's, a WeCom agent's or an authorizer's
// access_token alone on a line, so that scripts can use
// $(wxtoken token APPID).
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	cf := addClientFlags(fs, "print the server's whole answer as JSON")
	tf := addTargetFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := targetArg(pos, tf)
	if err != nil {
		return err
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	g, err := c.Credential(ctx, tg.id, wxtoken.KindAccessToken)
	if err != nil {
		return clientFailure(err)
	}
	return printGrant(stdout, tg, g, cf.json)
}

// runTicket prints a ticket alone on a line: an app's or an authorizer's
// jsapi or wx_card ticket, or a WeCom agent's jsapi or agent_config ticket.
func runTicket(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ticket", stderr)
	cf := addClientFlags(fs, "print the server's whole answer as JSON")
	tf := addTargetFlags(fs)
	typ := fs.String("type", string(wxtoken.KindJSAPITicket), "ticket `type`: jsapi or wx_card (also for --authorizer); for --wecom, jsapi or agent_config")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := targetArg(pos, tf)
	if err != nil {
		return err
	}
	kind, err := tg.family().ParseTicket(*typ)
	if err != nil {
		return fmt.Errorf("%w: --type: %v", errUsage, err)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	g, err := c.Credential(ctx, tg.id, kind)
	if err != nil {
		return clientFailure(err)
	}
	return printGrant(stdout, tg, g, cf.json)
}

// runRefresh reports a credential that WeChat rejected and prints the one
// to use instead. It is compare-and-refresh: the server refreshes only if
// the rejected value is still its current one, so running it twice, or
// from several machines, costs one refresh.
func runRefresh(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("refresh", stderr)
	cf := addClientFlags(fs, "print the server's whole answer as JSON")
	tf := addTargetFlags(fs)
	stale := fs.String("stale", "", "the rejected `value` (required)")
	typ := fs.String("type", string(wxtoken.KindAccessToken), "credential `type`: access_token, jsapi or wx_card; for --wecom, access_token, jsapi or agent_config")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := targetArg(pos, tf)
	if err != nil {
		return err
	}
	kind := wxtoken.Kind(*typ)
	if kind != wxtoken.KindAccessToken && !tg.family().HasTicket(kind) {
		return fmt.Errorf("%w: --type: unknown credential type %q (want access_token, %s)", errUsage, *typ, ticketTypes(tg.family()))
	}
	if *stale == "" {
		return fmt.Errorf("%w: --stale is required: pass the value WeChat rejected", errUsage)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	g, err := c.Refresh(ctx, tg.id, kind, *stale)
	if err != nil {
		return clientFailure(err)
	}
	return printGrant(stdout, tg, g, cf.json)
}

// runSign prints a signed wx.config object for a page URL, ready to paste
// into the page; for a WeCom agent, the wx.config object and, when the
// server keeps the agent's agent_config ticket, the wx.agentConfig one.
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", stderr)
	cf := addClientFlags(fs, "")
	tf := addTargetFlags(fs)
	page := fs.String("url", "", "the page's full `URL` as location.href gives it (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := targetArg(pos, tf)
	if err != nil {
		return err
	}
	if *page == "" {
		return fmt.Errorf("%w: --url is required", errUsage)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	switch tg.family() {
	case wxtoken.FamilyWeCom:
		cfg, err := c.WeComJSSDKConfig(ctx, tg.corpID, tg.agentID, *page)
		if err != nil {
			return clientFailure(err)
		}
		return printJSON(stdout, cfg)
	case wxtoken.FamilyAuthorizer:
		cfg, err := c.AuthorizerJSSDKConfig(ctx, tg.compID, tg.authID, *page)
		if err != nil {
			return clientFailure(err)
		}
		return printJSON(stdout, cfg)
	}
	cfg, err := c.JSSDKConfig(ctx, tg.id, *page)
	if err != nil {
		return clientFailure(err)
	}
	return printJSON(stdout, cfg)
}

// runStatus prints the state of every app's and WeCom agent's credentials
// as a table, for operators; --json gives the whole status for tools.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	cf := addClientFlags(fs, "print the whole status as JSON")
	c, err := cf.clientWithoutArgs(fs, args)
	if err != nil {
		return err
	}
	rep, err := c.Report(ctx)
	if err != nil {
		return clientFailure(err)
	}
	apps := rep.Apps
	if apps == nil {
		apps = []wxtoken.AppStatus{}
	}
	if cf.json {
		// The list alone, as before the config was shown: tools read it.
		return printJSON(stdout, apps)
	}
	if err := printStatus(stdout, apps, time.Now()); err != nil {
		return err
	}
	return printConfig(stdout, rep.Config)
}

// printConfig writes the line under the status that says which config
// file is in force; nothing when the server does not say.
func printConfig(w io.Writer, c *client.ConfigInfo) error {
	if c == nil {
		return nil
	}
	if _, err := fmt.Fprintf(w, "config loaded %s, sha256 %s\n", c.LoadedAt.Local().Format(time.DateTime), c.Digest); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// grantJSON is a Grant in the shape of the server's answer: an app's, a
// WeCom agent's, which names the corpid and agentid instead, or an
// authorizer's, which names the component_appid and authorizer_appid.
type grantJSON struct {
	AppID           string `json:"appid,omitempty"`
	CorpID          string `json:"corpid,omitempty"`
	AgentID         string `json:"agentid,omitempty"`
	ComponentAppID  string `json:"component_appid,omitempty"`
	AuthorizerAppID string `json:"authorizer_appid,omitempty"`
	Type            string `json:"type,omitempty"`
	AccessToken     string `json:"access_token,omitempty"`
	Ticket          string `json:"ticket,omitempty"`
	ExpiresIn       int64  `json:"expires_in"`
	ExpiresAt       string `json:"expires_at"`
}

func printGrant(w io.Writer, tg target, g wxtoken.Grant, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintln(w, g.Value)
		return err
	}
	out := grantJSON{
		AppID:     g.AppID,
		ExpiresIn: int64(g.ExpiresIn / time.Second),
		ExpiresAt: g.ExpiresAt.Format(time.RFC3339),
	}
	switch tg.family() {
	case wxtoken.FamilyWeCom:
		out.AppID, out.CorpID, out.AgentID = "", tg.corpID, tg.agentID
	case wxtoken.FamilyAuthorizer:
		out.AppID, out.ComponentAppID, out.AuthorizerAppID = "", tg.compID, tg.authID
	}
	if g.Kind.IsTicket() {
		out.Type, out.Ticket = string(g.Kind), g.Value
	} else {
		out.AccessToken = g.Value
	}
	return printJSON(w, out)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// A signed page URL must stay byte for byte what was signed; HTML
	// escaping would turn its "&" into \u0026.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// printStatus writes one row per credential, times relative to now, and
// under the table the apps whose upstream calls are held back.
func printStatus(w io.Writer, apps []wxtoken.AppStatus, now time.Time) error {
	if len(apps) == 0 {
		_, err := fmt.Fprintln(w, "no apps configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tKIND\tSTATE\tEXPIRES IN\tNEXT REFRESH\tLAST ERROR")
	var blocked []string
	for _, a := range apps {
		app := a.AppID
		if a.Family == wxtoken.FamilyWeCom {
			// A WeCom agent's row says so, by its corpid/agentid.
			if a.CorpID != "" {
				app = wxtoken.WeComID(a.CorpID, a.AgentID)
			}
			app = "wecom " + app
		}
		if a.Name != "" {
			app += " (" + a.Name + ")"
		}
		if len(a.Credentials) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\n", app)
		}
		for _, cr := range a.Credentials {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", app, cr.Kind, cr.State,
				until(cr.ExpiresAt, now, "expired"), until(cr.NextRefreshAt, now, "due"), lastError(cr.LastError))
		}
		if a.BlockedUntil != nil && a.BlockedUntil.After(now) {
			blocked = append(blocked, fmt.Sprintf("%s: upstream calls held back for %s (until %s)",
				a.AppID, human(a.BlockedUntil.Sub(now)), a.BlockedUntil.Local().Format(time.DateTime)))
		}
		if q := a.Quota; q != nil {
			line := fmt.Sprintf("%s: WeChat counts %d of %d %s calls today (asked %s)",
				a.AppID, q.Used, q.DailyLimit, q.CGIPath, q.CheckedAt.Local().Format(time.DateTime))
			if q.ClearRemainingThisMonth != nil {
				line += fmt.Sprintf("; quota clears left this month: %d", *q.ClearRemainingThisMonth)
			}
			blocked = append(blocked, line)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	for _, b := range blocked {
		fmt.Fprintln(w, b)
	}
	return nil
}

// until is the time from now to t, or past once t has passed, or "-".
func until(t *time.Time, now time.Time, past string) string {
	switch {
	case t == nil || t.IsZero():
		return "-"
	case !t.After(now):
		return past
	}
	return human(t.Sub(now))
}

// human shortens a duration to what an operator reads at a glance:
// seconds are noise once it is over an hour.
func human(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Truncate(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		d = d.Truncate(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// lastError is the hint of a credential's last failure, which says what
// to do, with WeChat's errcode to look up.
func lastError(e *wxtoken.ErrorInfo) string {
	if e == nil {
		return "-"
	}
	text := e.Hint
	if text == "" {
		text = e.Message
	}
	if text == "" {
		text = e.Class
	}
	text = strings.Join(strings.Fields(text), " ") // one row per credential
	if e.ErrCode != 0 {
		return fmt.Sprintf("errcode %d: %s", e.ErrCode, text)
	}
	return text
}

// clientFailure words a failed request for the terminal: the server's
// message, WeChat's errcode when WeChat caused it, and the cause of a
// failure to reach the server at all.
func clientFailure(err error) error {
	var e *wxtoken.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Message
	if e.WeChatErrCode != 0 {
		msg += fmt.Sprintf(" (WeChat errcode %d)", e.WeChatErrCode)
	}
	if e.Err != nil {
		cause := e.Err
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err // its text repeats the whole request URL
		}
		msg += ": " + cause.Error()
	}
	if e.Code == wxtoken.EUnauthorized {
		msg += "; check --key or " + envKey
	}
	return &failure{msg: msg, err: err}
}

// failure is a client error as the terminal shows it, still unwrapping to
// the *wxtoken.Error.
type failure struct {
	msg string
	err error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }
