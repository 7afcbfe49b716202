package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/simulator"
)

// The keys of the store verbs' server: an admin's and a business
// server's.
const (
	storeAdminKey = "wxt_store-admin-key"
	storeShopKey  = "wxt_store-shop-key"
	storeApp      = "wx00000000000000aa"
)

// The stored entries: one sealed under the previous key, one under the
// current key, one under a key the server does not have.
const (
	entryOld     = "wxc0c0c0c0c0c0c0c0:wxa1a1a1a1a1a1a1a1"
	entryCurrent = "wxc0c0c0c0c0c0c0c0:wxa2a2a2a2a2a2a2a2"
	entryStray   = "wxc0c0c0c0c0c0c0c0:wxa3a3a3a3a3a3a3a3"
)

func refreshToken(id string) string { return "plaintext-refresh-token-" + id }

// storeKeys are a rotation's keys as the config names them (current,
// previous), and one the server lacks.
type storeKeys struct {
	current, previous, stray string
}

func (k storeKeys) key(t *testing.T, s string) seal.Key {
	t.Helper()
	key, err := seal.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newStoreKeys(t *testing.T) storeKeys {
	t.Helper()
	var ks [3]string
	for i := range ks {
		k, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	return storeKeys{current: ks[0], previous: ks[1], stray: ks[2]}
}

// seedEntries stores the three entries in s.
func seedEntries(t *testing.T, s wxtoken.Store, k storeKeys) {
	t.Helper()
	for id, key := range map[string]string{entryOld: k.previous, entryCurrent: k.current, entryStray: k.stray} {
		sealed, err := seal.New(k.key(t, key)).Seal([]byte(refreshToken(id)), id)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		e := wxtoken.Entry{ID: id, Family: wxtoken.FamilyAuthorizer, Secret: sealed, State: wxtoken.EntryActive,
			TokenAPI: wxtoken.TokenAPIAuthorizer, CreatedAt: at, UpdatedAt: at, Version: 1}
		if err := s.PutEntry(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// startStoreServer starts a real server, in front of a simulator, on the
// store given (or on the bolt file dbPath when it is nil), with k's
// current and previous keys; it returns the server's URL.
func startStoreServer(t *testing.T, driver, dbPath string, st wxtoken.Store, k storeKeys) string {
	t.Helper()
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{storeApp: "app-secret"}, TTL: time.Hour, Overlap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sts := httptest.NewServer(sim)
	t.Cleanup(sts.Close)
	sha := func(k string) string { sum := sha256.Sum256([]byte(k)); return hex.EncodeToString(sum[:]) }
	y := fmt.Sprintf(`listen: 127.0.0.1:0
store: {driver: %s, path: %q, encryption_key_env: STORE_KEY, previous_encryption_key_env: OLD_STORE_KEY}
upstream: {base_url: %q, fallback_base_urls: [], timeout: 2s, overlap: 5m}
apps:
  - {appid: %s, secret_env: APP_SECRET}
clients:
  - {name: ops, key_sha256: %q, admin: true}
  - {name: shop, key_sha256: %q, apps: ["*"]}
`, driver, dbPath, sts.URL, storeApp, sha(storeAdminKey), sha(storeShopKey))
	env := map[string]string{"STORE_KEY": k.current, "OLD_STORE_KEY": k.previous, "APP_SECRET": "app-secret"}
	cfg, err := config.Parse([]byte(y), t.TempDir(), func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Listener: ln, Store: st})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv.URL()
}

// openBackup opens a backup file as a store.
func openBackup(t *testing.T, path string) *bolt.Store {
	t.Helper()
	b, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rekey and backup against a running bolt-backed server, whose file it
// holds locked: the rekey re-seals what the previous key sealed and names
// the entry no key opens; the backup opens as a store and holds every
// entry, sealed.
func TestStoreVerbsOnABoltServer(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "wxtoken.db")
	k := newStoreKeys(t)
	st, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedEntries(t, st, k)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	base := startStoreServer(t, "bolt", dbPath, nil, k)
	as := func(key string, args ...string) []string {
		return append(args, "--server", base, "--key", key)
	}

	runVerbCases(t, []verbCase{
		{name: "rekey needs an admin key", args: as(storeShopKey, "rekey"), code: 1, stderr: []string{"admin client key"}},
		{name: "rekey", args: as(storeAdminKey, "rekey"), code: 1,
			stdout: "re-sealed under the primary key: 1\nalready sealed under it: 1\nfailed: 1\n  " + entryStray + "\n",
			stderr: []string{"keep the previous key"}},
		{name: "rekey again", args: as(storeAdminKey, "rekey", "--json"), code: 1,
			stdout: "{\n  \"resealed\": 0,\n  \"current\": 2,\n  \"failed\": [\n    \"" + entryStray + "\"\n  ]\n}\n"},
	}, refreshToken(entryOld))

	out := filepath.Join(t.TempDir(), "backup.db")
	runVerbCases(t, []verbCase{
		{name: "backup needs --out", args: as(storeAdminKey, "backup"), code: 2, stderr: []string{"--out FILE is required"}},
		{name: "backup needs an admin key", args: as(storeShopKey, "backup", "--out", out), code: 1, stderr: []string{"admin client key"}},
		{name: "backup", args: as(storeAdminKey, "backup", "--out", out), code: 0,
			has: []string{"wrote " + out, "3 entries"}},
		{name: "backup refuses to replace", args: as(storeAdminKey, "backup", "--out", out), code: 1,
			stderr: []string{"exists: pass --force"}},
	})
	left, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		t.Errorf("the backup's folder holds %d files, want the backup alone (no temporary file left)", len(left))
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup's mode is %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{entryOld, entryCurrent, entryStray} {
		if bytes.Contains(raw, []byte(refreshToken(id))) {
			t.Errorf("the backup holds the plaintext refresh token of %s", id)
		}
	}
	b := openBackup(t, out)
	current := seal.New(k.key(t, k.current))
	for _, id := range []string{entryOld, entryCurrent} {
		e, err := b.GetEntry(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := current.Open(e.Secret, id)
		if err != nil || string(plain) != refreshToken(id) {
			t.Errorf("%s in the backup: the current key alone opens %q, %v", id, plain, err)
		}
	}
	if e, err := b.GetEntry(t.Context(), entryOld); err != nil || e.Version != 2 {
		t.Errorf("the re-sealed entry in the backup: version %d, %v; want 2", e.Version, err)
	}
	b.Close()

	runVerbCases(t, []verbCase{
		{name: "backup --force", args: as(storeAdminKey, "backup", "--out", out, "--force"), code: 0, has: []string{"3 entries"}},
	})
	openBackup(t, out)
}

// A server on another store sends a bolt file built from what the store
// lists, its secrets sealed as stored.
func TestBackupVerbOnAMemoryServer(t *testing.T) {
	k := newStoreKeys(t)
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	seedEntries(t, st, k)
	base := startStoreServer(t, "memory", "", st, k)
	out := filepath.Join(t.TempDir(), "backup.db")
	runVerbCases(t, []verbCase{
		{name: "backup", args: []string{"backup", "--out", out, "--server", base, "--key", storeAdminKey}, code: 0,
			has: []string{"3 entries"}},
	})
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(refreshToken(entryOld))) {
		t.Error("the backup holds a plaintext refresh token")
	}
	b := openBackup(t, out)
	want, err := st.GetEntry(t.Context(), entryOld)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.GetEntry(t.Context(), entryOld)
	if err != nil || got.Secret != want.Secret {
		t.Errorf("the entry in the backup is not the stored one, sealed as it is: %+v, %v", got, err)
	}
	if !strings.HasPrefix(got.Secret, "v1.") {
		t.Errorf("the secret in the backup is not sealed: %q", got.Secret)
	}
}
