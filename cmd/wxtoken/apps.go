package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// appsUsage is the usage line of the apps verb.
const appsUsage = "add (--appid APPID | --wecom CORPID/AGENTID) (--secret-file FILE | --secret-env NAME) [--name N] [--token-api stable|classic] [--ticket T ...] [--tag T ...]" +
	" | set (APPID | --wecom CORPID/AGENTID) [same flags, secret optional] | rm (APPID | --wecom CORPID/AGENTID) | ls [--family app|wecom] [--json]"

// appsHelp is the help of the apps verb, a subcommand a line.
const appsHelp = `usage:
  wxtoken apps add (--appid APPID | --wecom CORPID/AGENTID) (--secret-file FILE | --secret-env NAME)
                   [--name N] [--token-api stable|classic] [--ticket T ...] [--tag T ...]
  wxtoken apps set (APPID | --wecom CORPID/AGENTID) [the flags of add; the secret only to change it]
  wxtoken apps rm  (APPID | --wecom CORPID/AGENTID)
  wxtoken apps ls  [--family app|wecom] [--json]

They need an admin key. set changes only what its flags name and keeps the rest (an empty
--ticket or --tag clears that list). Entries of the configuration file are changed there.
Run 'wxtoken apps SUBCOMMAND -h' for a subcommand's flags.
`

// appsSecretNote is why the verbs take no secret on the command line.
const appsSecretNote = "The secret is read from a file (--secret-file, \"-\" for standard input) or an environment variable (--secret-env); " +
	"there is no flag that takes it: a command line shows in ps to every user of the machine, and in the shell's history."

// maxSecretBytes bounds what --secret-file reads: an AppSecret is 32
// characters, a WeCom secret 43.
const maxSecretBytes = 4096

// runApps runs the subcommands that register, change, remove and list
// the apps and WeCom agents of a running server, which need an admin key.
// The configuration file's entries are not changed through them.
func runApps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: a subcommand is required: add, set, rm or ls", errUsage)
	}
	switch args[0] {
	case "add":
		return runAppsSave(ctx, "add", args[1:], stdout, stderr)
	case "set":
		return runAppsSave(ctx, "set", args[1:], stdout, stderr)
	case "rm":
		return runAppsRemove(ctx, args[1:], stdout, stderr)
	case "ls":
		return runAppsList(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintf(stderr, "%s\n%s\n", appsHelp, appsSecretNote)
		return flag.ErrHelp
	}
	return fmt.Errorf("%w: unknown subcommand %q: want add, set, rm or ls", errUsage, args[0])
}

// listFlag is a flag that may be given more than once; set says whether
// it was given at all, so that an empty value (--tag "") can clear a list.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	l.set = true
	if s != "" {
		l.values = append(l.values, s)
	}
	return nil
}

// entryFlags are the flags of apps add and apps set.
type entryFlags struct {
	appID, wecom          string
	secretFile, secretEnv string
	name, tokenAPI        string
	tickets, tags         listFlag
}

func addEntryFlags(fs *flag.FlagSet, add bool) *entryFlags {
	f := &entryFlags{}
	if add {
		fs.StringVar(&f.appID, "appid", "", "the `APPID` of the app to register")
		fs.StringVar(&f.wecom, "wecom", "", "a WeCom agent to register, as `CORPID/AGENTID`, in place of --appid")
	} else {
		fs.StringVar(&f.wecom, "wecom", "", "a WeCom agent, as `CORPID/AGENTID`, in place of APPID")
	}
	fs.StringVar(&f.secretFile, "secret-file", "", "read the secret from `FILE` (\"-\" for standard input); never pass a secret on the command line, where ps and the shell's history show it")
	fs.StringVar(&f.secretEnv, "secret-env", "", "read the secret from the environment variable `NAME`")
	fs.StringVar(&f.name, "name", "", "a `name` for people")
	fs.StringVar(&f.tokenAPI, "token-api", "", "an app's token `API`: stable (the server's default) or classic")
	fs.Var(&f.tickets, "ticket", "a ticket `type` to keep: jsapi or wx_card; for --wecom, jsapi or agent_config (repeat for several; --ticket '' for none)")
	fs.Var(&f.tags, "tag", "a `tag`: a client granted \"tag:T\" is granted the entry (repeat for several; --tag '' for none)")
	return f
}

// secretFlagError is the answer to a --secret flag, which does not exist.
// It never repeats the flag's value.
func secretFlagError(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "secret" || name == "app-secret" || name == "appsecret") {
			return fmt.Errorf("%w: there is no --%s flag: a secret on the command line shows in ps and in the shell's history; use --secret-file FILE or --secret-env NAME", errUsage, name)
		}
	}
	return nil
}

// readSecret returns the secret that --secret-file or --secret-env names,
// or "" when neither is given. Errors name the file or variable, never
// what it holds.
func (f *entryFlags) readSecret(stdin io.Reader) (string, error) {
	switch {
	case f.secretFile != "" && f.secretEnv != "":
		return "", fmt.Errorf("%w: give --secret-file or --secret-env, not both", errUsage)
	case f.secretEnv != "":
		v, ok := os.LookupEnv(f.secretEnv)
		if v = strings.TrimSpace(v); !ok || v == "" {
			return "", fmt.Errorf("--secret-env: the environment variable %s is not set or is empty", f.secretEnv)
		}
		return v, nil
	case f.secretFile == "":
		return "", nil
	}
	name, r := f.secretFile, stdin
	if name == "-" {
		name = "standard input"
	} else {
		file, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("--secret-file: %w", err)
		}
		defer file.Close()
		r = file
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("--secret-file: reading %s: %w", name, err)
	}
	if len(b) > maxSecretBytes {
		return "", fmt.Errorf("--secret-file: %s is larger than %d bytes: it does not hold just a secret", name, maxSecretBytes)
	}
	v := strings.TrimSpace(string(b))
	switch {
	case v == "":
		return "", fmt.Errorf("--secret-file: %s is empty", name)
	case strings.ContainsAny(v, "\r\n"):
		return "", fmt.Errorf("--secret-file: %s holds more than one line: it should hold the secret alone", name)
	}
	return v, nil
}

// target returns the entry the command line names: by --appid (add) or
// APPID (set), or by --wecom.
func (f *entryFlags) target(pos []string, add bool) (target, error) {
	if add {
		switch {
		case len(pos) > 0:
			return target{}, fmt.Errorf("%w: unexpected argument %q: name the app with --appid", errUsage, pos[0])
		case f.appID != "" && f.wecom != "":
			return target{}, fmt.Errorf("%w: give --appid or --wecom, not both", errUsage)
		case f.appID == "" && f.wecom == "":
			return target{}, fmt.Errorf("%w: --appid APPID (or --wecom CORPID/AGENTID) is required", errUsage)
		case f.appID != "":
			pos = []string{f.appID}
		}
	}
	return entryArg(pos, f.wecom)
}

// entryArg returns the app of the single APPID argument or the agent that
// --wecom names.
func entryArg(pos []string, wecom string) (target, error) {
	if wecom == "" {
		switch {
		case len(pos) == 0 || pos[0] == "":
			return target{}, fmt.Errorf("%w: APPID (or --wecom CORPID/AGENTID) is required", errUsage)
		case len(pos) > 1:
			return target{}, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[1])
		case strings.ContainsAny(pos[0], ":/"):
			return target{}, fmt.Errorf("%w: %q is not an appid (a WeCom agent is named with --wecom CORPID/AGENTID)", errUsage, pos[0])
		}
		return target{id: pos[0]}, nil
	}
	none := ""
	return targetArg(pos, targetFlags{wecom: &wecom, authorizer: &none})
}

// changes reports whether the command line changes anything but the
// secret.
func (f *entryFlags) changes(fs *flag.FlagSet) bool {
	changed := false
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "name", "token-api", "ticket", "tag":
			changed = true
		}
	})
	return changed
}

// apply sets on r what the flags say, given only the flags that were
// given: a change keeps what the command line does not mention.
func (f *entryFlags) apply(fs *flag.FlagSet, tg target, r *wxtoken.Registration) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	fam := tg.family()
	if given["name"] {
		r.Name = f.name
	}
	if given["token-api"] {
		switch api := wxtoken.TokenAPI(f.tokenAPI); {
		case fam == wxtoken.FamilyWeCom:
			return fmt.Errorf("%w: --token-api is for apps: a WeCom agent has the one token API", errUsage)
		case api == wxtoken.TokenAPIStable, api == wxtoken.TokenAPIClassic:
			r.TokenAPI = api
		default:
			return fmt.Errorf("%w: --token-api %q: want stable or classic", errUsage, f.tokenAPI)
		}
	}
	if f.tickets.set {
		r.Tickets = nil
		for _, t := range f.tickets.values {
			k, err := fam.ParseTicket(t)
			if err != nil {
				return fmt.Errorf("%w: --ticket: %v", errUsage, err)
			}
			if !slices.Contains(r.Tickets, k) {
				r.Tickets = append(r.Tickets, k)
			}
		}
	}
	if f.tags.set {
		r.Tags = nil
		for _, t := range f.tags.values {
			if !slices.Contains(r.Tags, t) {
				r.Tags = append(r.Tags, t)
			}
		}
	}
	return nil
}

// runAppsSave runs apps add (register) and apps set (change). A change
// sends the entry as the server has it with the flags' changes, since the
// server replaces an entry whole: what the command line leaves out is
// kept, the secret included.
func runAppsSave(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	if err := secretFlagError(args); err != nil {
		return err
	}
	add := sub == "add"
	fs := newFlagSet("apps "+sub, stderr)
	cf := addClientFlags(fs, "print the entry as the server answered it, as JSON")
	ef := addEntryFlags(fs, add)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := ef.target(pos, add)
	if err != nil {
		return err
	}
	var reg wxtoken.Registration
	// Checked before anything is read or sent.
	if err := ef.apply(fs, tg, &reg); err != nil {
		return err
	}
	secret, err := ef.readSecret(os.Stdin)
	if err != nil {
		return err
	}
	if add && secret == "" {
		return fmt.Errorf("%w: the secret is required: --secret-file FILE or --secret-env NAME", errUsage)
	}
	if !add && secret == "" && !ef.changes(fs) {
		return fmt.Errorf("%w: nothing to change: give --name, --token-api, --ticket, --tag, or a new secret with --secret-file or --secret-env", errUsage)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	if !add {
		cur, err := currentRegistration(ctx, c, tg)
		if err != nil {
			return err
		}
		reg = cur
		if err := ef.apply(fs, tg, &reg); err != nil {
			return err
		}
	}
	if tg.family() == wxtoken.FamilyWeCom {
		reg.AppID, reg.CorpID, reg.AgentID = "", tg.corpID, tg.agentID
	} else {
		reg.AppID = tg.id
	}
	reg.Secret = secret
	var got wxtoken.Registered
	if add {
		got, err = c.Register(ctx, reg)
	} else {
		got, err = c.Change(ctx, tg.id, reg)
	}
	if err != nil {
		return clientFailure(err)
	}
	if cf.json {
		return printJSON(stdout, got)
	}
	done := "registered"
	if !add {
		done = "changed"
		if secret != "" {
			done += ", with the new secret from the next fetch"
		}
	}
	_, err = fmt.Fprintf(stdout, "%s %s: %s; %s\n", entryLabel(got), done, got.State, credentialStates(got.Credentials))
	return err
}

// currentRegistration returns the entry tg as registered, for a change.
func currentRegistration(ctx context.Context, c *client.Client, tg target) (wxtoken.Registration, error) {
	list, err := c.Registrations(ctx, tg.family())
	if err != nil {
		return wxtoken.Registration{}, clientFailure(err)
	}
	for _, r := range list {
		if r.ID == tg.id && r.State != wxtoken.EntryRemoved {
			return wxtoken.Registration{Name: r.Name, TokenAPI: r.TokenAPI, Tickets: r.Tickets, Tags: r.Tags}, nil
		}
	}
	return wxtoken.Registration{}, fmt.Errorf("%s is not registered (wxtoken apps ls lists what is; an entry of the configuration file is changed there)", tg.id)
}

// runAppsRemove runs apps rm: the server stops serving and refreshing the
// entry and keeps its record as removed.
func runAppsRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apps rm", stderr)
	cf := addClientFlags(fs, "")
	wecom := fs.String("wecom", "", "a WeCom agent, as `CORPID/AGENTID`, in place of APPID")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tg, err := entryArg(pos, *wecom)
	if err != nil {
		return err
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	if err := c.Unregister(ctx, tg.id); err != nil {
		return clientFailure(err)
	}
	label := tg.id
	if tg.family() == wxtoken.FamilyWeCom {
		label = "wecom " + label
	}
	_, err = fmt.Fprintf(stdout, "%s removed: no longer served or refreshed\n", label)
	return err
}

// runAppsList runs apps ls: the entries registered through the API,
// removed ones included, as a table or, with --json, as the server's list.
func runAppsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apps ls", stderr)
	cf := addClientFlags(fs, "print the whole list as JSON")
	family := fs.String("family", "", "list only `app`s or wecom agents")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	f := wxtoken.Family(*family)
	if f != "" && f != wxtoken.FamilyApp && f != wxtoken.FamilyWeCom {
		return fmt.Errorf("%w: --family %q: want app or wecom", errUsage, *family)
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	list, err := c.Registrations(ctx, f)
	if err != nil {
		return clientFailure(err)
	}
	if list == nil {
		list = []wxtoken.Registered{}
	}
	if cf.json {
		return printJSON(stdout, list)
	}
	return printRegistrations(stdout, list)
}

// printRegistrations writes one row per entry.
func printRegistrations(w io.Writer, list []wxtoken.Registered) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no apps or WeCom agents registered through the API (wxtoken status lists every app, the configuration file's included)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTRY\tSTATE\tNAME\tTOKEN API\tTICKETS\tTAGS\tCREDENTIALS")
	for _, r := range list {
		tickets := make([]string, len(r.Tickets))
		for i, k := range r.Tickets {
			tickets[i] = string(k)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", entryLabel(r), r.State, orDash(oneLine(r.Name)), orDash(string(r.TokenAPI)),
			orDash(strings.Join(tickets, ",")), orDash(oneLine(strings.Join(r.Tags, ","))), credentialStates(r.Credentials))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// entryLabel names an entry as the table shows it: its appid, or "wecom
// CORPID/AGENTID".
func entryLabel(r wxtoken.Registered) string {
	if r.Family == wxtoken.FamilyWeCom {
		return "wecom " + r.ID
	}
	return r.ID
}

// credentialStates is "access_token fresh, jsapi stale", or "-".
func credentialStates(cs []wxtoken.CredentialStatus) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c.Kind) + " " + string(c.State)
	}
	return orDash(strings.Join(parts, ", "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line whatever a name holds.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
