package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on etc/wxtoken.service:
// it may complain only that the binary is not installed on this machine.
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd): etc/wxtoken.service is not verified")
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "etc", "wxtoken.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify names the unit after its file.
	path := filepath.Join(t.TempDir(), "wxtoken.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(tool, "verify", path).CombinedOutput() // its status counts the missing binary too
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && line != "wxtoken.service: Command /usr/local/bin/wxtoken is not executable: No such file or directory" {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
