package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// encoded is what writeJSON sends for v.
func encoded(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkGrantJSON holds the hand-built grant answers to the encoder's.
func checkGrantJSON(t testing.TB, appID, value string, expiresIn int64, at time.Time) {
	t.Helper()
	atText := at.UTC().Format(time.RFC3339)
	got := appendGrant(nil, appID, wxtoken.KindAccessToken, value, expiresIn, at)
	want := encoded(t, TokenResponse{AppID: appID, AccessToken: value, ExpiresIn: expiresIn, ExpiresAt: atText})
	if !bytes.Equal(got, want) {
		t.Errorf("token:\n got %q\nwant %q", got, want)
	}
	for _, kind := range wxtoken.FamilyApp.Tickets() {
		got := appendGrant(nil, appID, kind, value, expiresIn, at)
		want := encoded(t, TicketResponse{AppID: appID, Type: kind, Ticket: value, ExpiresIn: expiresIn, ExpiresAt: atText})
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", kind, got, want)
		}
	}
}

// checkWeComGrantJSON holds the hand-built WeCom grant answers to the
// encoder's.
func checkWeComGrantJSON(t testing.TB, corpID, agentID, value string, expiresIn int64, at time.Time) {
	t.Helper()
	atText := at.UTC().Format(time.RFC3339)
	got := appendWeComGrant(nil, corpID, agentID, wxtoken.KindAccessToken, value, expiresIn, at)
	want := encoded(t, WeComTokenResponse{CorpID: corpID, AgentID: agentID, AccessToken: value, ExpiresIn: expiresIn, ExpiresAt: atText})
	if !bytes.Equal(got, want) {
		t.Errorf("wecom token:\n got %q\nwant %q", got, want)
	}
	for _, kind := range wxtoken.FamilyWeCom.Tickets() {
		got := appendWeComGrant(nil, corpID, agentID, kind, value, expiresIn, at)
		want := encoded(t, WeComTicketResponse{CorpID: corpID, AgentID: agentID, Type: kind, Ticket: value, ExpiresIn: expiresIn, ExpiresAt: atText})
		if !bytes.Equal(got, want) {
			t.Errorf("wecom %s:\n got %q\nwant %q", kind, got, want)
		}
	}
}

func TestAppendGrantMatchesEncoder(t *testing.T) {
	at := time.Date(2025, 3, 1, 20, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	for _, v := range []string{
		"", "ACCESS_TOKEN-0123456789_abcdefghijklmnopqrstuvwxyz",
		`quo"te`, `back\slash`, "tab\there", "nl\n", "\x00\x1f\x7f", "<script>&amp;", "U+2028\u2028", "汉字", "bad\xffutf8",
	} {
		checkGrantJSON(t, "wx0123456789abcdef", v, 7200, at)
		checkGrantJSON(t, v, "token", -1, at)
		checkWeComGrantJSON(t, "ww0123456789abcdef", "1000002", v, 7200, at)
		checkWeComGrantJSON(t, v, v, "token", 0, at)
	}
}

func FuzzAppendGrant(f *testing.F) {
	f.Add("wx0123456789abcdef", "token", int64(7200), int64(1740830400))
	f.Add("wx\"", "\xff<>&\u2028", int64(-5), int64(0))
	f.Fuzz(func(t *testing.T, appID, value string, expiresIn, unix int64) {
		// RFC 3339 has four-digit years; keep the time in range.
		at := time.Unix(unix%253402300799, 0)
		if at.Year() < 0 {
			at = time.Unix(0, 0)
		}
		checkGrantJSON(t, appID, value, expiresIn, at)
		checkWeComGrantJSON(t, appID, value, value, expiresIn, at)
	})
}

// TestPlainJSON holds the eight-bytes-at-a-time check to its byte-by-byte
// definition, for every byte value at every position of strings that fill
// one and two words and leave a tail.
func TestPlainJSON(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 1; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{'a', ' ', '~', '!', '#', '[', ']'} {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(c)
					if got, want := plainJSON(string(b)), plain(string(b)); got != want {
						t.Fatalf("plainJSON(%q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
}
