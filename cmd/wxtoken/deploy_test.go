package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wxtoken/wxtoken/config"
)

// The deployment files (Dockerfile, etc/compose, etc/k8s) are read here:
// each must parse, and say what the README promises of it.

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs decodes every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(repoFile(t, rel)))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no document", rel)
	}
	return docs
}

// dig follows a path of map keys and list indexes ("0") through v.
func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, p := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				t.Fatalf("no %q at %s", p, strings.Join(path[:i], "."))
			}
		case []any:
			n := 0
			for _, c := range p {
				n = n*10 + int(c-'0')
			}
			if n >= len(x) {
				t.Fatalf("no item %s at %s", p, strings.Join(path[:i], "."))
			}
			v = x[n]
		default:
			t.Fatalf("%s is not a map or list", strings.Join(path[:i], "."))
		}
	}
	return v
}

// parseDeployConfig checks that a config shipped for containers is valid,
// listens on the container's port on every interface, and names only the
// secrets that env provides.
func parseDeployConfig(t *testing.T, what string, y string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y), t.TempDir(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s does not load: %v", what, err)
	}
	if cfg.Listen != "0.0.0.0:8080" {
		t.Errorf("%s listens on %s, want 0.0.0.0:8080 (the image's port, on every interface)", what, cfg.Listen)
	}
	if cfg.Store.Driver != config.DriverRedis {
		t.Errorf("%s: store driver %s, want redis (several replicas)", what, cfg.Store.Driver)
	}
	return cfg
}

// envKeys returns the NAME of every NAME=value line.
func envKeys(b []byte) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			m[strings.TrimSpace(k)] = ""
		}
	}
	return m
}

const testStoreKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes

func TestDockerfile(t *testing.T) {
	d := string(repoFile(t, "Dockerfile"))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM \$\{GO_IMAGE\} AS build$`),
		regexp.MustCompile(`CGO_ENABLED=0 go build -trimpath`),
		regexp.MustCompile(`-X github.com/wxtoken/wxtoken.Version=\$\{VERSION\}`),
		regexp.MustCompile(`-X github.com/wxtoken/wxtoken.Commit=\$\{COMMIT\}`),
		regexp.MustCompile(`-X github.com/wxtoken/wxtoken.BuildDate=\$\{BUILD_DATE\}`),
		regexp.MustCompile(`(?m)^FROM scratch$`),
		regexp.MustCompile(`(?m)^USER 65532:65532$`),
		regexp.MustCompile(`(?m)^VOLUME /data$`),
		regexp.MustCompile(`(?m)^EXPOSE 8080$`),
		regexp.MustCompile(`CMD \["/usr/local/bin/wxtoken", "healthcheck", "--config", "/etc/wxtoken/wxtoken.yaml"\]`),
	} {
		if !want.MatchString(d) {
			t.Errorf("the Dockerfile has no line matching %s", want)
		}
	}
	// The health check's verb is one the binary has.
	if !slices.ContainsFunc(verbs(), func(v verb) bool { return v.name == "healthcheck" }) {
		t.Error("the Dockerfile's HEALTHCHECK runs wxtoken healthcheck, which is no verb")
	}
}

func TestComposeFile(t *testing.T) {
	doc := yamlDocs(t, "etc/compose/compose.yaml")[0]
	services := dig(t, doc, "services").(map[string]any)

	redisCmd := strings.Join(anyStrings(dig(t, services, "redis", "command")), " ")
	if !strings.Contains(redisCmd, "--appendonly yes") {
		t.Errorf("Redis runs without its append-only file: %q", redisCmd)
	}
	if !strings.Contains(redisCmd, "$$REDIS_PASSWORD") {
		t.Errorf("Redis does not take its password from the secrets file: %q", redisCmd)
	}
	var replicas []string
	for name := range services {
		if strings.HasPrefix(name, "wxtoken-") {
			replicas = append(replicas, name)
		}
	}
	if len(replicas) != 3 {
		t.Fatalf("replicas %v, want three", replicas)
	}
	for _, name := range replicas {
		s := services[name].(map[string]any)
		if s["read_only"] != true {
			t.Errorf("%s: read_only is %v, want true", name, s["read_only"])
		}
		if u, _ := s["user"].(string); u == "" || strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
			t.Errorf("%s runs as user %q", name, u)
		}
		test := strings.Join(anyStrings(dig(t, s, "healthcheck", "test")), " ")
		if !strings.Contains(test, "wxtoken healthcheck --config /etc/wxtoken/wxtoken.yaml") {
			t.Errorf("%s's health check is %q, want wxtoken healthcheck", name, test)
		}
		if !slices.Contains(anyStrings(s["volumes"]), "./wxtoken.yaml:/etc/wxtoken/wxtoken.yaml:ro") {
			t.Errorf("%s does not mount the shared config: %v", name, s["volumes"])
		}
		if !slices.Contains(anyStrings(s["env_file"]), "secrets.env") {
			t.Errorf("%s does not read secrets.env", name)
		}
	}

	// The config the replicas share is valid with the secrets the example
	// file lists, and with no other.
	env := envKeys(repoFile(t, "etc/compose/secrets.env.example"))
	for k := range env {
		env[k] = "x"
	}
	env["WXTOKEN_STORE_KEY"] = testStoreKey
	cfg := parseDeployConfig(t, "etc/compose/wxtoken.yaml", string(repoFile(t, "etc/compose/wxtoken.yaml")), env)
	if cfg.Store.Redis.Addr != "redis:6379" {
		t.Errorf("the replicas' Redis is %q, want the compose service redis:6379", cfg.Store.Redis.Addr)
	}
}

func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]map[string]any{}
	for _, f := range []string{"configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml", "secret.example.yaml", "kustomization.yaml"} {
		for _, d := range yamlDocs(t, "etc/k8s/"+f) {
			kinds[d["kind"].(string)] = d
		}
	}
	dep := kinds["Deployment"]
	if n := dig(t, dep, "spec", "replicas"); n != 3 {
		t.Errorf("replicas %v, want 3", n)
	}
	labels := dig(t, dep, "spec", "template", "metadata", "labels").(map[string]any)
	pod := dig(t, dep, "spec", "template", "spec")
	if dig(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the pod may run as root: securityContext.runAsNonRoot is not true")
	}
	if uid := dig(t, pod, "securityContext", "runAsUser"); uid != 65532 {
		t.Errorf("runAsUser %v, want the image's 65532", uid)
	}
	c := dig(t, pod, "containers", "0")
	for _, p := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		if got := dig(t, c, p.probe, "httpGet", "path"); got != p.path {
			t.Errorf("%s path %v, want %s", p.probe, got, p.path)
		}
	}
	if dig(t, c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("the container's root filesystem is writable")
	}
	if dig(t, c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the container allows privilege escalation")
	}
	if port := dig(t, c, "ports", "0", "containerPort"); port != 8080 {
		t.Errorf("containerPort %v, want 8080", port)
	}

	// The Service and the PodDisruptionBudget select the Deployment's pods.
	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		var sel any
		if kind == "Service" {
			sel = dig(t, kinds[kind], "spec", "selector")
		} else {
			sel = dig(t, kinds[kind], "spec", "selector", "matchLabels")
		}
		for k, v := range sel.(map[string]any) {
			if labels[k] != v {
				t.Errorf("the %s selects %s=%v, which the pods do not carry", kind, k, v)
			}
		}
	}
	if mu := dig(t, kinds["PodDisruptionBudget"], "spec", "maxUnavailable"); mu != 1 {
		t.Errorf("the PodDisruptionBudget lets %v replicas go at once, want 1", mu)
	}

	// Every secret the Deployment reads is in the example Secret, and the
	// config is valid with them.
	secret := dig(t, kinds["Secret"], "stringData").(map[string]any)
	env := map[string]string{}
	for _, e := range dig(t, c, "env").([]any) {
		key := dig(t, e, "valueFrom", "secretKeyRef", "key").(string)
		if _, ok := secret[key]; !ok {
			t.Errorf("the Deployment reads %s, which the example Secret lacks", key)
		}
		env[dig(t, e, "name").(string)] = "x"
	}
	if _, ok := secret["store.key"]; !ok {
		t.Error("the example Secret has no store.key")
	}
	y := dig(t, kinds["ConfigMap"], "data", "wxtoken.yaml").(string)
	const keyPath = "/etc/wxtoken/secrets/store.key"
	if !strings.Contains(y, "encryption_key_file: "+keyPath) {
		t.Fatalf("the config does not read the store key from %s, where the Secret is mounted", keyPath)
	}
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte(testStoreKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parseDeployConfig(t, "the ConfigMap's wxtoken.yaml", strings.Replace(y, keyPath, keyFile, 1), env)

	// kustomization.yaml applies every manifest but the example Secret.
	res := anyStrings(dig(t, kinds["Kustomization"], "resources"))
	for _, f := range []string{"configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml"} {
		if !slices.Contains(res, f) {
			t.Errorf("kustomization.yaml leaves out %s", f)
		}
	}
	if slices.Contains(res, "secret.example.yaml") {
		t.Error("kustomization.yaml would apply the placeholder Secret")
	}
}

// anyStrings returns the strings of a YAML list (or a lone string).
func anyStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
