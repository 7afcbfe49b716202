package config

import (
	"strings"
	"testing"
)

func TestMetricsPerApp(t *testing.T) {
	dir := t.TempDir()
	if c := mustParse(t, build(nil), dir, defaultEnv()); c.Metrics.PerApp {
		t.Error("metrics.per_app is on by default; want off, so that /metrics does not grow with the apps")
	}
	if c := mustParse(t, build(map[string]string{"metrics": "metrics: {per_app: true}"}), dir, defaultEnv()); !c.Metrics.PerApp {
		t.Error("metrics.per_app: true was not kept")
	}
	if c := mustParse(t, build(map[string]string{"metrics": "metrics:"}), dir, defaultEnv()); c.Metrics.PerApp {
		t.Error("an empty metrics section turned per_app on")
	}
	for yml, want := range map[string]string{
		"metrics: {per_app: sometimes}": "metrics.per_app",
		"metrics: {per_apps: true}":     "metrics.per_apps",
	} {
		_, err := Parse([]byte(build(map[string]string{"metrics": yml})), dir, defaultEnv())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one naming %q", yml, err, want)
		}
	}
}
