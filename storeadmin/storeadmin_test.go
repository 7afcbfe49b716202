package storeadmin_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/memory"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/storeadmin"
)

// stores are the stores every test runs against: memory and a bolt file
// always, Redis with WXTOKEN_INTEGRATION=1.
func stores() []struct {
	name string
	open func(t *testing.T) wxtoken.Store
} {
	return []struct {
		name string
		open func(t *testing.T) wxtoken.Store
	}{
		{"memory", func(t *testing.T) wxtoken.Store {
			s := memory.New()
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"bolt", func(t *testing.T) wxtoken.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "wxtoken.db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(t *testing.T) wxtoken.Store {
			addr := redistest.Addr(t)
			s, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Prefix: redistest.Prefix(t, addr), Owner: "storeadmin-test"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

func newKey(t *testing.T) seal.Key {
	t.Helper()
	s, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keys are the keys of a rotation: old (now the previous key), current
// (the primary) and stray, which the server does not have.
type keys struct{ old, current, stray seal.Key }

func newKeys(t *testing.T) keys {
	return keys{old: newKey(t), current: newKey(t), stray: newKey(t)}
}

// Entry ids of the fixture, and their plaintext secrets.
const (
	idOld     = "wxc0c0c0c0c0c0c0c0:wxa1a1a1a1a1a1a1a1" // sealed under the old key
	idRemoved = "wxc0c0c0c0c0c0c0c0:wxa2a2a2a2a2a2a2a2" // sealed under the old key, removed
	idCurrent = "wxc0c0c0c0c0c0c0c0:wxa3a3a3a3a3a3a3a3" // sealed under the current key
	idStray   = "wxc0c0c0c0c0c0c0c0:wxa4a4a4a4a4a4a4a4" // sealed under a key the server lacks
)

func plaintext(id string) string { return "refresh-token-plaintext-of-" + id }

var created = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// seed stores the fixture's entries, each at version 3, sealed as their
// ids say, and returns them as stored.
func seed(t *testing.T, s wxtoken.Store, k keys) map[string]wxtoken.Entry {
	t.Helper()
	sealers := map[string]*seal.Sealer{
		idOld: seal.New(k.old), idRemoved: seal.New(k.old), idCurrent: seal.New(k.current), idStray: seal.New(k.stray),
	}
	out := map[string]wxtoken.Entry{}
	for id, sl := range sealers {
		sealed, err := sl.Seal([]byte(plaintext(id)), id)
		if err != nil {
			t.Fatal(err)
		}
		e := wxtoken.Entry{ID: id, Family: wxtoken.FamilyAuthorizer, Name: "account " + id[len(id)-2:], Secret: sealed,
			TokenAPI: wxtoken.TokenAPIAuthorizer, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}, Tags: []string{"saas"},
			State: wxtoken.EntryActive, Note: "imported", CreatedAt: created, UpdatedAt: created.Add(time.Hour), Version: 3}
		if id == idRemoved {
			e.State, e.Note = wxtoken.EntryRemoved, "the account cancelled its authorization"
		}
		if err := s.PutEntry(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetEntry(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = got
	}
	return out
}

// changes records the ids an Admin said it changed.
type changes struct {
	mu  sync.Mutex
	ids []string
}

func (c *changes) add(_ context.Context, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, id)
}

func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.ids)
	sort.Strings(out)
	return out
}

// A rekey seals what the old key sealed under the current one, leaves
// what the current key sealed alone, and names the entry no configured
// key opens without stopping at it; a second rekey finds nothing to do.
func TestRekey(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			k := newKeys(t)
			before := seed(t, s, k)
			var ch changes
			a, err := storeadmin.New(storeadmin.Options{Store: s, Sealer: seal.New(k.current, k.old), Changed: ch.add})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := a.Rekey(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Resealed != 2 || rep.Current != 1 || len(rep.Failed) != 1 || rep.Failed[0].ID != idStray {
				t.Fatalf("report %+v, want 2 resealed, 1 current, %s failed", rep, idStray)
			}
			if err := rep.Failed[0].Err; !errors.Is(err, seal.ErrUnknownKey) {
				t.Errorf("the failure's error %v is not seal.ErrUnknownKey", err)
			}
			if got, want := ch.list(), []string{idOld, idRemoved}; !slices.Equal(got, want) {
				t.Errorf("Changed told of %v, want %v", got, want)
			}
			// The current key alone now opens every entry but the stray
			// one: the old key can go.
			onlyCurrent := seal.New(k.current)
			for id, b := range before {
				e, err := s.GetEntry(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				want := b
				switch id {
				case idOld, idRemoved:
					want.Version = b.Version + 1
					if e.Secret == b.Secret {
						t.Errorf("%s: the secret was not sealed again", id)
					}
					want.Secret = e.Secret // compared by opening it
				}
				if !reflect.DeepEqual(e, want) {
					t.Errorf("%s: stored\n%+v\nwant\n%+v", id, e, want)
				}
				if id == idStray {
					continue
				}
				plain, err := onlyCurrent.Open(e.Secret, id)
				if err != nil || string(plain) != plaintext(id) {
					t.Errorf("%s: the current key alone opens %q, %v", id, plain, err)
				}
			}

			again, err := a.Rekey(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if again.Resealed != 0 || again.Current != 3 || len(again.Failed) != 1 {
				t.Errorf("a second rekey: %+v, want 0 resealed, 3 current, 1 failed", again)
			}
		})
	}
}

// racingStore is a real store whose first PutEntry of an entry is
// preceded by another writer's change of it, as a refresh token rotated
// during the rekey would be.
type racingStore struct {
	wxtoken.Store
	once sync.Once
	t    *testing.T
}

func (r *racingStore) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	r.once.Do(func() {
		cur, err := r.Store.GetEntry(ctx, e.ID)
		if err != nil {
			r.t.Error(err)
			return
		}
		// Still sealed under the old key, and with a new note: the
		// rekey must read it again and re-seal it, keeping the note.
		cur.Note, cur.Version = "rotated meanwhile", cur.Version+1
		if err := r.Store.PutEntry(ctx, cur); err != nil {
			r.t.Error(err)
		}
	})
	return r.Store.PutEntry(ctx, e)
}

// An entry written by someone else between the rekey's read and its
// write is read again and re-sealed as it is now: the other writer's
// change stays.
func TestRekeyRereadsAnEntryChangedMeanwhile(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			base := st.open(t)
			k := newKeys(t)
			sealed, err := seal.New(k.old).Seal([]byte(plaintext(idOld)), idOld)
			if err != nil {
				t.Fatal(err)
			}
			e := wxtoken.Entry{ID: idOld, Family: wxtoken.FamilyAuthorizer, Secret: sealed, State: wxtoken.EntryActive,
				CreatedAt: created, UpdatedAt: created, Version: 1}
			if err := base.PutEntry(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			s := &racingStore{Store: base, t: t}
			a, err := storeadmin.New(storeadmin.Options{Store: s, Sealer: seal.New(k.current, k.old)})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := a.Rekey(t.Context())
			if err != nil || rep.Resealed != 1 || len(rep.Failed) != 0 {
				t.Fatalf("report %+v, %v; want 1 resealed", rep, err)
			}
			got, err := base.GetEntry(t.Context(), idOld)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 3 || got.Note != "rotated meanwhile" {
				t.Errorf("stored version %d note %q, want version 3 with the other writer's note", got.Version, got.Note)
			}
			if plain, err := seal.New(k.current).Open(got.Secret, idOld); err != nil || string(plain) != plaintext(idOld) {
				t.Errorf("the current key opens %q, %v", plain, err)
			}
		})
	}
}

// Without an encryption key there is nothing to rotate: the rekey says
// so and writes nothing.
func TestRekeyWithoutAKey(t *testing.T) {
	s := memory.New()
	defer s.Close()
	a, err := storeadmin.New(storeadmin.Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Rekey(t.Context())
	if wxtoken.ErrorCode(err) != wxtoken.EConflict {
		t.Fatalf("rekey without a key: %v, want %s", err, wxtoken.EConflict)
	}
}

// seedAll stores credentials and ledgers besides the fixture's entries,
// and returns the ids of the ledgers.
func seedAll(t *testing.T, s wxtoken.Store, k keys) (map[string]wxtoken.Entry, []wxtoken.Credential, []wxtoken.Ledger) {
	t.Helper()
	entries := seed(t, s, k)
	creds := []wxtoken.Credential{
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "token-aa", FetchedAt: created,
			ExpiresAt: created.Add(2 * time.Hour), RefreshAt: created.Add(time.Hour), Version: 7, API: wxtoken.TokenAPIStable},
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindJSAPITicket, Value: "ticket-aa", FetchedAt: created,
			ExpiresAt: created.Add(2 * time.Hour), RefreshAt: created.Add(time.Hour), Version: 2, TokenVersion: 7},
		{AppID: idOld, Kind: wxtoken.KindAccessToken, Value: "token-authorizer", FetchedAt: created,
			ExpiresAt: created.Add(2 * time.Hour), RefreshAt: created.Add(time.Hour), Version: 1, API: wxtoken.TokenAPIAuthorizer},
	}
	for _, c := range creds {
		if err := s.Put(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	ledgers := []wxtoken.Ledger{
		{AppID: "wx00000000000000aa", QuotaDay: "2025-03-01", TokenCalls: 3},
		{AppID: idOld, QuotaDay: "2025-03-01", TokenCalls: 1},
		// A configured app with bookkeeping and no credential yet.
		{AppID: "wx00000000000000bb", QuotaDay: "2025-03-01", TokenCalls: 9,
			TokenFailure: &wxtoken.Failure{Count: 2, RetryAt: created.Add(time.Minute), Error: wxtoken.ErrorInfo{ErrCode: 40164}}},
	}
	for _, l := range ledgers {
		if err := s.PutLedger(t.Context(), l); err != nil {
			t.Fatal(err)
		}
	}
	return entries, creds, ledgers
}

// A backup of any store is a bolt file that holds every credential,
// ledger and entry, the secrets sealed as they were stored: the file's
// bytes hold no secret's plaintext.
func TestBackup(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			k := newKeys(t)
			entries, creds, ledgers := seedAll(t, s, k)
			tmp := t.TempDir()
			a, err := storeadmin.New(storeadmin.Options{Store: s, TempDir: tmp,
				IDs: func() []string { return []string{"wx00000000000000bb"} }})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			n, err := a.Backup(t.Context(), &buf)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) || n == 0 {
				t.Fatalf("Backup reported %d bytes and wrote %d", n, buf.Len())
			}
			for id := range entries {
				if bytes.Contains(buf.Bytes(), []byte(plaintext(id))) {
					t.Errorf("the backup holds the plaintext secret of %s", id)
				}
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the copy left %d files in the temporary directory", len(left))
			}
			path := filepath.Join(t.TempDir(), "backup.db")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatalf("the backup does not open: %v", err)
			}
			defer b.Close()
			gotEntries, err := b.ListEntries(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(gotEntries) != len(entries) {
				t.Errorf("the backup holds %d entries, want %d", len(gotEntries), len(entries))
			}
			for _, e := range gotEntries {
				if !reflect.DeepEqual(e, entries[e.ID]) {
					t.Errorf("entry %s in the backup:\n%+v\nwant\n%+v", e.ID, e, entries[e.ID])
				}
			}
			for _, c := range creds {
				got, err := b.Get(t.Context(), c.AppID, c.Kind)
				if err != nil || !reflect.DeepEqual(got, c) {
					t.Errorf("credential %s/%s in the backup: %+v, %v; want %+v", c.AppID, c.Kind, got, err, c)
				}
			}
			for _, l := range ledgers {
				got, err := b.GetLedger(t.Context(), l.AppID)
				if err != nil || !reflect.DeepEqual(got, l) {
					t.Errorf("ledger %s in the backup: %+v, %v; want %+v", l.AppID, got, err, l)
				}
			}
		})
	}
}

// blockedWriter is a caller that reads a backup slowly: at its first
// write, the store grows (as refreshes would make it) before anything
// is taken.
type blockedWriter struct {
	t     *testing.T
	s     wxtoken.Store
	grown bool
	buf   bytes.Buffer
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	if !w.grown {
		w.grown = true
		done := make(chan error, 1)
		go func() {
			// Far more than the file's first mapping holds, so that
			// bbolt must map it anew, which waits for every read
			// transaction.
			for i := range 300 {
				c := wxtoken.Credential{AppID: "wx" + strings.Repeat("0", 12) + strconv.Itoa(1000+i), Kind: wxtoken.KindAccessToken,
					Value: strings.Repeat("v", 2000), Version: 1}
				if err := w.s.Put(context.Background(), c); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				w.t.Error(err)
			}
		case <-time.After(10 * time.Second):
			w.t.Error("the store's writes waited for the backup's reader: the backup holds a read transaction while the caller reads")
			return 0, errors.New("giving up")
		}
	}
	return w.buf.Write(p)
}

// A bolt store's backup is copied aside before it is sent: a caller that
// reads slowly does not hold back the store's writes.
func TestBackupOfBoltHoldsNoReadWhileSending(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "wxtoken.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seedAll(t, s, newKeys(t))
	a, err := storeadmin.New(storeadmin.Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	w := &blockedWriter{t: t, s: s}
	if _, err := a.Backup(t.Context(), w); err != nil {
		t.Fatal(err)
	}
}
