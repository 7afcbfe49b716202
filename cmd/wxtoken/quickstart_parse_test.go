package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// quickStartLines returns the command lines of the fenced sh blocks under
// the README's "## Quick start" heading.
func quickStartLines(t *testing.T, readme string) []string {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no Quick start section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var lines []string
	in := false
	for _, l := range strings.Split(section, "\n") {
		switch {
		case !in && l == "```sh":
			in = true
		case in && l == "```":
			in = false
		case in && strings.TrimSpace(l) != "":
			if strings.HasSuffix(l, "\\") {
				t.Fatalf("README Quick start: continued line %q; keep each command on one line", l)
			}
			lines = append(lines, l)
		}
	}
	return lines
}

// splitAnd splits a command line into words, as sh would for these simple
// lines (quotes, comments, &&), one word list per command.
func splitAnd(t *testing.T, line string) [][]string {
	t.Helper()
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !inWord:
			flush()
			goto done
		case strings.ContainsRune("|;<>$`\\()", r):
			t.Fatalf("README Quick start line %q: %q is more shell than this test follows", line, r)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
done:
	if quote != 0 {
		t.Fatalf("README Quick start line %q: unclosed quote", line)
	}
	flush()
	for {
		i := slices.Index(words, "&&")
		if i < 0 {
			break
		}
		cmds = append(cmds, words[:i])
		words = words[i+1:]
	}
	if len(words) > 0 {
		cmds = append(cmds, words)
	}
	return cmds
}

// envNameRe matches the name of an environment variable a command line sets.
var envNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// cutAssignments splits the leading NAME=value words off a command.
func cutAssignments(argv []string) (map[string]string, []string) {
	env := map[string]string{}
	for len(argv) > 0 {
		name, value, ok := strings.Cut(argv[0], "=")
		if !ok || !envNameRe.MatchString(name) {
			break
		}
		env[name] = value
		argv = argv[1:]
	}
	return env, argv
}

// parseUnit reads the [Service] settings of a systemd unit file.
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		case section == "[Service]":
			k, v, _ := strings.Cut(l, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// copyClone copies the repository at src to dst as a clone would have it:
// no .git, no dependencies installed, no build output.
func copyClone(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".git" || name == "node_modules" || rel == filepath.Join("bench", "results") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == "wxtoken" || strings.HasSuffix(name, ".db") || strings.HasSuffix(name, ".test") || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	if err != nil && !errors.Is(err, fs.SkipDir) {
		t.Fatalf("copy the repository: %v", err)
	}
}
