package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Many apps' secret files are read several at a time, with the same
// result as one by one: each app gets its own secret, and a missing or an
// empty file is reported at its own key.
func TestManySecretFiles(t *testing.T) {
	dir := t.TempDir()
	const n = 300
	var b strings.Builder
	b.WriteString("apps:\n  - {appid: wx0123456789abcdef, secret_env: WX_SECRET}\n")
	for i := range n {
		id := fmt.Sprintf("wx%016x", i)
		fmt.Fprintf(&b, "  - {appid: %s, secret_file: s/%s}\n", id, id)
	}
	if err := os.Mkdir(filepath.Join(dir, "s"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(i int, v string) {
		if err := os.WriteFile(filepath.Join(dir, "s", fmt.Sprintf("wx%016x", i)), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		write(i, fmt.Sprintf("secret-of-app-%d\n", i))
	}
	c := mustParse(t, build(map[string]string{"apps": b.String()}), dir, defaultEnv())
	for i, a := range c.Apps[1:] {
		if got, want := a.Secret.Reveal(), fmt.Sprintf("secret-of-app-%d", i); got != want {
			t.Fatalf("apps[%d] got the secret %q, want %q", i, got, want)
		}
	}

	if err := os.Remove(filepath.Join(dir, "s", fmt.Sprintf("wx%016x", 7))); err != nil {
		t.Fatal(err)
	}
	write(250, " \n")
	_, err := Parse([]byte(build(map[string]string{"apps": b.String()})), dir, defaultEnv())
	if err == nil {
		t.Fatal("a missing and an empty secret file were accepted")
	}
	for _, want := range []string{"apps[8].secret_file", "apps[251].secret_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem at %s in:\n%v", want, err)
		}
	}
	if strings.Count(err.Error(), "secret_file") != 2 {
		t.Errorf("want exactly two secret_file problems:\n%v", err)
	}
}
