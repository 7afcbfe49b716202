package seal_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wxtoken/wxtoken/seal"
)

func newKey(t testing.TB) (seal.Key, string) {
	t.Helper()
	s, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k, s
}

func mustSeal(t testing.TB, s *seal.Sealer, plain, ad string) string {
	t.Helper()
	v, err := s.Seal([]byte(plain), ad)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const ad = "apps/wx0123456789abcdef/secret"

func TestSealOpenRoundTrip(t *testing.T) {
	k, _ := newKey(t)
	s := seal.New(k)
	for _, plain := range []string{"", "x", "0123456789abcdef0123456789abcdef", "refreshtoken@@@" + strings.Repeat("é", 500)} {
		for _, ad := range []string{ad, "", "authorizers/wxc/wxa/refresh_token"} {
			v := mustSeal(t, s, plain, ad)
			got, err := s.Open(v, ad)
			if err != nil {
				t.Fatalf("Open(Seal(%q), %q): %v", plain, ad, err)
			}
			if string(got) != plain {
				t.Fatalf("Open(Seal(%q)) = %q", plain, got)
			}
			if s.NeedsRekey(v) {
				t.Fatalf("a value just sealed under the primary needs a rekey: %s", v)
			}
		}
	}
}

func TestSealedFormat(t *testing.T) {
	k, text := newKey(t)
	raw, _ := base64.StdEncoding.DecodeString(text)
	sum := sha256.Sum256(raw)
	wantID := hex.EncodeToString(sum[:8])
	if k.ID() != wantID {
		t.Fatalf("ID = %s, want %s", k.ID(), wantID)
	}
	plain := "a secret of 30 bytes, exactly"
	v := mustSeal(t, seal.New(k), plain, ad)
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != wantID {
		t.Fatalf("sealed value %q is not v1.%s.<payload>", v, wantID)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		t.Fatalf("payload is not unpadded base64url: %v", err)
	}
	if want := 12 + len(plain) + 16; len(payload) != want {
		t.Fatalf("payload of %d bytes, want nonce+ciphertext+tag = %d", len(payload), want)
	}
}

func TestSealedValuesHideThePlaintext(t *testing.T) {
	k, _ := newKey(t)
	s := seal.New(k)
	plain := "SECRET-0123456789abcdef0123456789abcdef-SECRET"
	v1 := mustSeal(t, s, plain, ad)
	v2 := mustSeal(t, s, plain, ad)
	if v1 == v2 {
		t.Fatal("two seals of one plaintext are equal: the nonce is not fresh")
	}
	for _, v := range []string{v1, v2} {
		payload, err := base64.RawURLEncoding.DecodeString(v[strings.LastIndex(v, ".")+1:])
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{"SECRET", "0123456789abcdef", plain[10:20]} {
			for _, enc := range []string{needle, base64.StdEncoding.EncodeToString([]byte(needle)), base64.RawURLEncoding.EncodeToString([]byte(needle)), hex.EncodeToString([]byte(needle))} {
				if strings.Contains(v, enc) {
					t.Fatalf("sealed value %s contains %q", v, enc)
				}
			}
			if bytes.Contains(payload, []byte(needle)) {
				t.Fatalf("payload of %s contains %q", v, needle)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey, _ := newKey(t)
	newKey, _ := newKey(t)
	before := seal.New(oldKey)
	v := mustSeal(t, before, "refresh-token", ad)

	after := seal.New(newKey, oldKey)
	got, err := after.Open(v, ad)
	if err != nil || string(got) != "refresh-token" {
		t.Fatalf("Open under [new, old] = %q, %v", got, err)
	}
	if !after.NeedsRekey(v) {
		t.Fatal("a value sealed under the old key does not need a rekey")
	}
	if before.NeedsRekey(v) {
		t.Fatal("a value sealed under the primary needs a rekey")
	}
	resealed := mustSeal(t, after, string(got), ad)
	if after.NeedsRekey(resealed) {
		t.Fatal("a resealed value still needs a rekey")
	}
	if !strings.Contains(resealed, newKey.ID()) || strings.Contains(resealed, oldKey.ID()) {
		t.Fatalf("resealed %s is not under the new key %s", resealed, newKey.ID())
	}

	// Once the old key is gone, the new value opens and the old one
	// names the key it needs.
	only := seal.New(newKey)
	if _, err := only.Open(resealed, ad); err != nil {
		t.Fatal(err)
	}
	_, err = only.Open(v, ad)
	if !errors.Is(err, seal.ErrUnknownKey) || errors.Is(err, seal.ErrOpen) {
		t.Fatalf("Open of a value under a removed key: %v; want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), oldKey.ID()) {
		t.Errorf("error %q does not name the key id %s", err, oldKey.ID())
	}
	if !only.NeedsRekey(v) {
		t.Error("a value under an unknown key does not need a rekey")
	}

	// The primary listed again among the older keys changes nothing.
	dup := seal.New(newKey, oldKey, newKey, seal.Key{})
	if dup.NeedsRekey(resealed) || !dup.NeedsRekey(v) {
		t.Error("a duplicate or zero older key confused NeedsRekey")
	}
}

func TestWrongAssociatedDataFails(t *testing.T) {
	k, _ := newKey(t)
	s := seal.New(k)
	v := mustSeal(t, s, "secret", "apps/wxA/secret")
	for _, other := range []string{"apps/wxB/secret", "apps/wxA/secre", "apps/wxA/secret ", ""} {
		if got, err := s.Open(v, other); !errors.Is(err, seal.ErrOpen) || got != nil {
			t.Errorf("Open with ad %q = %q, %v; want ErrOpen", other, got, err)
		}
	}
}

func TestEveryChangedCharacterFails(t *testing.T) {
	k, _ := newKey(t)
	s := seal.New(k)
	v := mustSeal(t, s, "secret", ad)
	for i := range len(v) {
		for _, c := range []byte{'A', 'f', '0', '_', '.'} {
			if v[i] == c {
				continue
			}
			changed := v[:i] + string(c) + v[i+1:]
			if got, err := s.Open(changed, ad); err == nil {
				t.Fatalf("changing character %d to %q still opens: %q", i, c, got)
			} else if !errors.Is(err, seal.ErrOpen) && !errors.Is(err, seal.ErrUnknownKey) {
				t.Fatalf("changing character %d: %v is neither ErrOpen nor ErrUnknownKey", i, err)
			}
		}
	}
	tests := []struct {
		name, changed string
		rekey         bool // what NeedsRekey says: it checks the form, not the ciphertext
	}{
		{"truncated", v[:len(v)-1], false},
		{"cut to the header", v[:20], false},
		{"extended", v + "A", false},
		{"a newline inserted", v[:30] + "\n" + v[30:], true},
		{"uppercase key id", v[:3] + strings.ToUpper(v[3:19]) + v[19:], true},
		{"plaintext", "0123456789abcdef0123456789abcdef", true},
		{"empty", "", true},
		{"another version", "v2" + v[2:], true},
	}
	for _, tt := range tests {
		if _, err := s.Open(tt.changed, ad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("%s: Open = %v; want ErrOpen", tt.name, err)
		}
		if s.NeedsRekey(tt.changed) != tt.rekey {
			t.Errorf("%s: NeedsRekey = %v", tt.name, !tt.rekey)
		}
	}
}

func TestWithoutAPrimaryKey(t *testing.T) {
	s := seal.New(seal.Key{})
	if _, err := s.Seal([]byte("x"), ad); !errors.Is(err, seal.ErrNoKey) {
		t.Fatalf("Seal without a key: %v", err)
	}
	k, _ := newKey(t)
	if v := mustSeal(t, seal.New(k), "x", ad); !s.NeedsRekey(v) {
		t.Error("NeedsRekey false without a primary key")
	}
}

func TestConcurrentUse(t *testing.T) {
	k, _ := newKey(t)
	s := seal.New(k)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				plain := fmt.Sprintf("%d/%d", g, i)
				v, err := s.Seal([]byte(plain), ad)
				if err != nil {
					errs <- err
					return
				}
				got, err := s.Open(v, ad)
				if err != nil || string(got) != plain {
					errs <- fmt.Errorf("%s opened as %q, %v", plain, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPrintingShowsNoKey(t *testing.T) {
	k, text := newKey(t)
	s := seal.New(k)
	raw, _ := base64.StdEncoding.DecodeString(text)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %x", k, k, k, s, s, []any{k, s}, s, k)
	for _, secret := range []string{text, text[:16], hex.EncodeToString(raw[:8]), fmt.Sprint(raw[:4])} {
		if strings.Contains(out, secret) {
			t.Fatalf("%q shows the key (%q)", out, secret)
		}
	}
	if !strings.Contains(out, k.ID()) {
		t.Errorf("%q does not name the key id", out)
	}
	if seal.New(seal.Key{}).String() == "" || (seal.Key{}).ID() != "" {
		t.Error("the zero key has an id")
	}
}
