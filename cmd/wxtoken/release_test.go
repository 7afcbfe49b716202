package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/internal/integration"
)

// TestReleaseScript runs scripts/release.sh for one target, as a release
// would, and checks what it leaves in dist: a static binary stamped with
// the version, commit and date, and a SHA256SUMS line that matches it.
func TestReleaseScript(t *testing.T) {
	integration.Skip(t)
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum (coreutils) not found")
	}
	dist := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "release.sh"), "linux/amd64")
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=9.9.9-rc1", "COMMIT=0123456789abcdef0123456789abcdef01234567", "SOURCE_DATE_EPOCH=1764748800")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	name := "wxtoken-9.9.9-rc1-linux-amd64"
	bin := filepath.Join(dist, name)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("the binary: %v", err)
	}
	sum := sha256.Sum256(data)
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is %q, want %q", sums, want)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("the linux/amd64 binary is for %v", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: it is not static")
		}
	}
	if repo, err := filepath.Abs(filepath.Join("..", "..")); err == nil && bytes.Contains(data, []byte(repo)) {
		t.Errorf("the binary holds the checkout's path %s: -trimpath was not used", repo)
	}

	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", name, err)
		}
		want := "wxtoken 9.9.9-rc1 (commit 0123456789ab, built 2025-12-03T08:00:00Z)"
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("version printed %q, want %q", out, want)
		}
	}
}
