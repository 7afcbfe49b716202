// Command wxtoken is the WeChat credential server and its tools: the server
// itself (serve), a self-contained demo, the WeChat simulator, key and
// config helpers, and client verbs against a running server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// verb is one subcommand. run gets the arguments after the verb's name.
type verb struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func verbs() []verb {
	return []verb{
		{"serve", "--config FILE", "run the credential server", runServe},
		{"demo", "", "run the WeChat simulator and a server wired to it; no credentials needed", runDemo},
		{"simulator", "--listen ADDR --apps appid:secret,... --wecom corpid:agentid:secret,...", "run the WeChat simulator alone", runSimulator},
		{"keygen", "", "print a new client key and its key_sha256 config line", runKeygen},
		{"check", "--config FILE", "validate a config file", runCheck},
		{"token", "APPID | --wecom CORPID/AGENTID | --authorizer COMPONENT_APPID:AUTHORIZER_APPID", "print an app's, WeCom agent's or authorizer's access_token from a running server", runToken},
		{"ticket", "APPID [--type jsapi|wx_card] | --wecom CORPID/AGENTID [--type jsapi|agent_config] | --authorizer COMPONENT_APPID:AUTHORIZER_APPID [--type jsapi|wx_card]", "print an app's, WeCom agent's or authorizer's ticket", runTicket},
		{"refresh", "APPID | --wecom CORPID/AGENTID | --authorizer COMPONENT_APPID:AUTHORIZER_APPID --stale TOKEN", "report a rejected access_token (compare-and-refresh)", runRefresh},
		{"sign", "APPID | --wecom CORPID/AGENTID | --authorizer COMPONENT_APPID:AUTHORIZER_APPID --url URL", "print a JS-SDK wx.config (and a WeCom wx.agentConfig) for a page URL", runSign},
		{"status", "", "print every app's and WeCom agent's credential status (admin key)", runStatus},
		{"retry", "APPID | --wecom CORPID/AGENTID | --authorizer COMPONENT_APPID:AUTHORIZER_APPID", "lift the error policy's hold once the cause is fixed, and try now (admin key)", runRetry},
		{"clear-quota", "APPID --yes", "clear an app's daily quotas at WeChat, spending one of its 10 clears a month (admin key)", runClearQuota},
		{"apps", appsUsage, "register, change, remove and list apps and WeCom agents while the server runs (admin key)", runApps},
		{"platform", platformUsage, "list a third-party platform's authorizers, or import them from a file (admin key)", runPlatform},
		{"reload", "", "have the server read its config file again and apply what changed (admin key)", runReload},
		{"rekey", "", "seal every secret in the server's store again under its primary encryption key (admin key)", runRekey},
		{"backup", "--out FILE [--force]", "write a copy of the server's store, secrets still sealed, to FILE (admin key)", runBackup},
		{"healthcheck", healthcheckUsage, "ask a running server's /healthz (or /readyz with --ready); exit 0 when it answers 200, else 1", runHealthcheck},
		{"version", "", "print the version", runVersion},
	}
}

// errUsage marks an error caused by how the command was called; main prints
// usage help for it.
var errUsage = errors.New("usage")

// exitCode lets a verb choose its exit status.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, v := range verbs() {
		if v.name != args[0] {
			continue
		}
		err := v.run(ctx, args[1:], stdout, stderr)
		var code exitCode
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &code):
			return int(code)
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "wxtoken %s: %v\nusage: wxtoken %s %s\n", v.name, err, v.name, v.args)
			return 2
		default:
			fmt.Fprintf(stderr, "wxtoken %s: %v\n", v.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "wxtoken: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "wxtoken — the central credential server for WeChat access_tokens and tickets")
	fmt.Fprintln(w, "\nusage: wxtoken <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, v := range verbs() {
		fmt.Fprintf(w, "  %-10s %s\n", v.name, v.summary)
	}
	fmt.Fprintln(w, "\nRun 'wxtoken <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wxtoken "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args into fs, turning flag errors into usage errors.
// Flags may follow positional arguments; the positional ones are returned.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
