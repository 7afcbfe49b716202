package seal_test

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/seal"
)

// A fixed key for tests of parsing: 32 bytes 0x01..0x20.
var testKeyBytes = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}()

var testKey = base64.StdEncoding.EncodeToString(testKeyBytes)

func TestGenerateKeyParses(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 44 || !strings.HasSuffix(s, "=") || strings.HasSuffix(s, "==") {
			t.Fatalf("GenerateKey = %d characters %q..., want 44 ending in one =", len(s), s[:4])
		}
		if seen[s] {
			t.Fatal("GenerateKey repeated a key")
		}
		seen[s] = true
		if _, err := seal.ParseKey(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseKeyRejectsWithoutShowingTheValue(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"empty", "", "got 0 characters"},
		{"no padding", strings.TrimSuffix(testKey, "="), `"=" padding missing`},
		{"hex", strings.Repeat("0123456789abcdef", 4), "looks like hex"},
		{"a trailing newline", testKey + "\n", "spaces or newlines"},
		{"a leading space", " " + testKey, "spaces or newlines"},
		{"24 bytes", base64.StdEncoding.EncodeToString(testKeyBytes[:24]), "got 32 characters"},
		{"33 bytes, unpadded, in 44 characters", base64.RawStdEncoding.EncodeToString(append(testKeyBytes, 9)), "decodes to 33 bytes"},
		{"31 bytes padded to 44 characters", base64.StdEncoding.EncodeToString(testKeyBytes[:31]), "decodes to 31 bytes"},
		{"base64url", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(append([]byte{0xfb, 0xff}, testKeyBytes[2:]...))), "base64url character at position 1"},
		{"a bad character", "*" + testKey[1:], "bad character or padding at position 1"},
		{"padding in the middle", testKey[:20] + "=" + testKey[21:], "position 21"},
		{"unused bits set", testKey[:42] + "B=", "unused bits"},
		{"all zero", base64.StdEncoding.EncodeToString(make([]byte, 32)), "all zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := seal.ParseKey(tt.key)
			if err == nil {
				t.Fatalf("ParseKey accepted it: %v", k)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "seal: ") {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			assertNoKey(t, err.Error(), tt.key)
		})
	}
	if _, err := seal.ParseKey(testKey); err != nil {
		t.Fatalf("the valid key: %v", err)
	}
}

// assertNoKey fails if msg contains key or a long enough part of it to
// matter.
func assertNoKey(t *testing.T, msg, key string) {
	t.Helper()
	for i := 0; i+8 <= len(key); i += 4 {
		if part := key[i : i+8]; strings.TrimSpace(part) == part && strings.Contains(msg, part) {
			t.Fatalf("%q shows part of the key: %q", msg, part)
		}
	}
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestLoadKeyFromTheEnvironment(t *testing.T) {
	want, err := seal.ParseKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{testKey, testKey + "\n", testKey + "\r\n"} {
		k, err := seal.LoadKey(env(map[string]string{"WXTOKEN_KEY": v}), "WXTOKEN_KEY", "")
		if err != nil || k.ID() != want.ID() {
			t.Fatalf("LoadKey(%d characters) = %v, %v", len(v), k, err)
		}
	}

	_, err = seal.LoadKey(env(map[string]string{"WXTOKEN_KEY": testKey + "\n\n"}), "WXTOKEN_KEY", "")
	if err == nil || !strings.Contains(err.Error(), "environment variable WXTOKEN_KEY") || !strings.Contains(err.Error(), "spaces or newlines") {
		t.Errorf("two newlines: %v", err)
	}
	bad := "not-a-key-at-all-but-secret-looking-value"
	_, err = seal.LoadKey(env(map[string]string{"K": bad}), "K", "")
	if err == nil || !strings.Contains(err.Error(), "environment variable K") {
		t.Errorf("a bad key: %v", err)
	} else {
		assertNoKey(t, err.Error(), bad)
	}
	for name, vars := range map[string]map[string]string{"unset": {}, "empty": {"K": ""}} {
		_, err := seal.LoadKey(env(vars), "K", "")
		if !errors.Is(err, seal.ErrNoKey) || !strings.Contains(err.Error(), "K") {
			t.Errorf("%s: %v; want ErrNoKey naming K", name, err)
		}
	}

	t.Setenv("WXTOKEN_SEAL_TEST_KEY", testKey)
	if k, err := seal.LoadKey(nil, "WXTOKEN_SEAL_TEST_KEY", ""); err != nil || k.ID() != want.ID() {
		t.Errorf("LoadKey with the process environment = %v, %v", k, err)
	}
}

func TestLoadKeyNeedsExactlyOneSource(t *testing.T) {
	if _, err := seal.LoadKey(env(nil), "", ""); !errors.Is(err, seal.ErrNoKey) {
		t.Errorf("neither: %v", err)
	}
	_, err := seal.LoadKey(env(map[string]string{"K": testKey}), "K", "/some/file")
	if err == nil || errors.Is(err, seal.ErrNoKey) || !strings.Contains(err.Error(), "only one") {
		t.Errorf("both: %v", err)
	}
}

func writeKeyFile(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "seal.key")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod, since WriteFile's mode passes through the umask.
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestLoadKeyFromAFile(t *testing.T) {
	want, _ := seal.ParseKey(testKey)
	for _, tt := range []struct {
		content string
		perm    os.FileMode
	}{
		{testKey, 0o600},
		{testKey + "\n", 0o400},
		{testKey + "\r\n", 0o640},
		{testKey + "\n", 0o440},
	} {
		name := writeKeyFile(t, tt.content, tt.perm)
		k, err := seal.LoadKey(env(nil), "", name)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("mode %04o: LoadKey = %v, %v", tt.perm, k, err)
		}
	}
}

func TestLoadKeyFileRefusals(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	tests := []struct {
		name, content string
		perm          os.FileMode
		want          string
	}{
		{"readable by others", testKey, 0o644, "mode 0644"},
		{"readable by others only", testKey, 0o604, "mode 0604"},
		{"writable by the group", testKey, 0o660, "mode 0660"},
		{"writable by others", testKey, 0o602, "mode 0602"},
		{"empty", "", 0o600, "empty"},
		{"two newlines", testKey + "\n\n", 0o600, "spaces or newlines"},
		{"a bad key", strings.Repeat("x", 44), 0o600, "decodes to 33 bytes"},
		{"too large", strings.Repeat(testKey, 100), 0o600, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := writeKeyFile(t, tt.content, tt.perm)
			_, err := seal.LoadKey(env(nil), "", name)
			if err == nil {
				t.Fatal("LoadKey accepted the file")
			}
			if !strings.Contains(err.Error(), "key file "+name) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the file and say %q", err, tt.want)
			}
			assertNoKey(t, err.Error(), testKey)
		})
	}

	missing := filepath.Join(t.TempDir(), "absent")
	_, err := seal.LoadKey(env(nil), "", missing)
	if !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("a missing file: %v; want ErrNotExist naming the file once", err)
	}
	_, err = seal.LoadKey(env(nil), "", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
