package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// healthcheckUsage is the healthcheck verb's argument summary.
const healthcheckUsage = "[--config FILE | --addr HOST:PORT | --url URL] [--ready] [--timeout 3s]"

// defaultHealthAddr is where the check looks when told nothing: the
// config's default listen address.
const defaultHealthAddr = "127.0.0.1:8080"

// runHealthcheck asks a running server's /healthz (or /readyz with
// --ready) and exits 0 on 200, 1 otherwise. It is the container image's
// HEALTHCHECK, which has no curl: the image holds this binary alone.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr)
	cfgPath := fs.String("config", "", "the server's config file: its listen address and tls are used")
	addr := fs.String("addr", "", "the server's HOST:PORT (default "+defaultHealthAddr+")")
	rawURL := fs.String("url", "", "the server's base URL, such as https://wxtoken.internal:8443")
	ready := fs.Bool("ready", false, "ask /readyz (ready to serve) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	given := 0
	for _, s := range []string{*cfgPath, *addr, *rawURL} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return fmt.Errorf("%w: give one of --config, --addr and --url", errUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	base, err := healthBase(*cfgPath, *addr, *rawURL)
	if err != nil {
		return err
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	target := base.JoinPath(path)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := getHealth(ctx, target)
	if err != nil {
		return fmt.Errorf("%s: %w", target.Redacted(), err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", target.Redacted(), status, body)
	}
	fmt.Fprintf(stdout, "%s: %d %s\n", target.Redacted(), status, body)
	return nil
}

// healthBase returns the base URL to check, from at most one of a config
// file, an address and a URL.
func healthBase(cfgPath, addr, rawURL string) (*url.URL, error) {
	switch {
	case rawURL != "":
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: --url %q is not an http(s) URL", errUsage, rawURL)
		}
		return u, nil
	case cfgPath != "":
		listen, useTLS, err := listenOf(cfgPath)
		if err != nil {
			return nil, err
		}
		return addrURL(listen, useTLS)
	case addr != "":
		return addrURL(addr, false)
	}
	return addrURL(defaultHealthAddr, false)
}

// listenOf reads the listen address and whether TLS is on from a config
// file. It reads those two keys alone: the check must work where the
// secrets the rest of the config names are not at hand, and a config the
// server runs with has been validated already.
func listenOf(path string) (listen string, useTLS bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("read config: %w", err)
	}
	var c struct {
		Listen string `yaml:"listen"`
		TLS    struct {
			CertFile string `yaml:"cert_file"`
			KeyFile  string `yaml:"key_file"`
		} `yaml:"tls"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return "", false, fmt.Errorf("config %s: %w", path, err)
	}
	if c.Listen == "" {
		c.Listen = defaultHealthAddr
	}
	return c.Listen, c.TLS.CertFile != "" && c.TLS.KeyFile != "", nil
}

// addrURL turns a listen address into the URL the check asks. A server
// listening on every interface is asked on the loopback address, the one
// that surely reaches it from its own container or host.
func addrURL(addr string, useTLS bool) (*url.URL, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return nil, fmt.Errorf("%w: address %q is not HOST:PORT", errUsage, addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, nil
}

// getHealth asks u and returns the status and the start of the body.
func getHealth(ctx context.Context, u *url.URL) (int, string, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a health check asks the server itself, never through a proxy
	if u.Scheme == "https" && isLoopback(u.Hostname()) {
		// The server's certificate names its public host, not the
		// loopback address the check uses; the check sends nothing
		// secret and reads nothing secret, so the certificate is not
		// checked for a server on this machine.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "", errors.New("no answer in time")
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
