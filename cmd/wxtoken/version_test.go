package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/internal/integration"
)

func TestBuildInfoLine(t *testing.T) {
	for _, tc := range []struct {
		b    buildInfo
		want string
	}{
		{buildInfo{version: "1.2.0", commit: "0123456789abcdef0123", date: "2026-12-03T14:00:00Z"}, "1.2.0 (commit 0123456789ab, built 2026-12-03T14:00:00Z)"},
		{buildInfo{version: "1.2.0", commit: "abc"}, "1.2.0 (commit abc)"},
		{buildInfo{version: "1.2.0", commit: "0123456789abcdef", modified: true}, "1.2.0 (commit 0123456789ab+changes)"},
		{buildInfo{version: "0.1.0-dev"}, "0.1.0-dev (commit unknown)"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.b, got, tc.want)
		}
	}
}

// TestVersionStampedAtBuild builds the binary with the flags the release
// script and the Dockerfile pass, and checks that version prints them.
func TestVersionStampedAtBuild(t *testing.T) {
	integration.Skip(t)
	bin := filepath.Join(t.TempDir(), "wxtoken")
	pkg := "github.com/wxtoken/wxtoken"
	ldflags := "-X " + pkg + ".Version=9.8.7 -X " + pkg + ".Commit=feedfacecafebeef0000 -X " + pkg + ".BuildDate=2026-12-03T14:00:00Z"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	v := exec.Command(bin, "version")
	v.Stdout = &out
	if err := v.Run(); err != nil {
		t.Fatalf("wxtoken version: %v", err)
	}
	want := "wxtoken 9.8.7 (commit feedfacecafe, built 2026-12-03T14:00:00Z) "
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("wxtoken version printed %q, want it to start with %q", out.String(), want)
	}
}
