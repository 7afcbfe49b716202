package bolt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// recordCases are credentials of every shape a store keeps.
func recordCases() []wxtoken.Credential {
	at := time.Date(2026, 12, 3, 16, 16, 1, 71696462, time.UTC)
	return []wxtoken.Credential{
		{AppID: "wx0123456789abcdef", Kind: wxtoken.KindAccessToken, Value: "95_" + strings.Repeat("Ab-_9", 27),
			FetchedAt: at, ExpiresAt: at.Add(2 * time.Hour), RefreshAt: at.Add(110 * time.Minute), Version: 1, API: wxtoken.TokenAPIStable},
		{AppID: "wx0123456789abcdef", Kind: wxtoken.KindJSAPITicket, Value: "ticket", FetchedAt: at, ExpiresAt: at.Add(time.Hour),
			RefreshAt: at.Add(50 * time.Minute), Version: 1 << 40, TokenVersion: 7, CallAttemptAt: at.Add(time.Minute)},
		{AppID: wxtoken.WeComID("ww0123456789abcdef", "1000002"), Kind: wxtoken.KindAgentConfig, Value: "v",
			FetchedAt: at, ExpiresAt: at, RefreshAt: at, Version: 3, API: wxtoken.TokenAPIWeCom},
		{AppID: "wxcomponent00000001:wxauthorizer000001", Kind: wxtoken.KindAccessToken, Value: "",
			Version: 2, API: "some-future-api"},
		{AppID: "a", Kind: wxtoken.KindVerifyTicket, Value: strings.Repeat("x", 5000), FetchedAt: time.Unix(0, 999999999).UTC(),
			ExpiresAt: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), RefreshAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Version: 9},
	}
}

// Every field comes back as it was stored, the app id and kind from the
// key, and the binary form is far smaller than the JSON one.
func TestCredentialRecordRoundTrip(t *testing.T) {
	for _, c := range recordCases() {
		key := wxtoken.CredentialKey(c.AppID, c.Kind)
		data := encodeCredential(c)
		got, err := decodeCredential(key, data)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got != c {
			t.Errorf("%s: got\n%+v\nwant\n%+v", key, got, c)
		}
		if v, err := recordVersion(data); err != nil || v != c.Version {
			t.Errorf("%s: recordVersion = %d, %v; want %d", key, v, err, c.Version)
		}
		// The JSON form of schema 1 still reads, to the same credential.
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := decodeCredential(key, js)
		if err != nil || !fromJSON.FetchedAt.Equal(c.FetchedAt) || fromJSON.Value != c.Value || fromJSON.Version != c.Version {
			t.Errorf("%s: the JSON form read as %+v, %v", key, fromJSON, err)
		}
		if v, err := recordVersion(js); err != nil || v != c.Version {
			t.Errorf("%s: recordVersion of JSON = %d, %v", key, v, err)
		}
	}
	c := recordCases()[0]
	js, _ := json.Marshal(c)
	if bin := encodeCredential(c); 2*len(bin) > len(js)+len(js)/5 {
		t.Errorf("the binary record is %d bytes, the JSON one %d", len(bin), len(js))
	}
}

// A time keeps its instant whatever its location, and a zero time stays
// zero.
func TestCredentialRecordTimes(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	c := wxtoken.Credential{AppID: "wx1", Kind: wxtoken.KindAccessToken, Version: 1,
		FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, shanghai), ExpiresAt: time.Now()}
	got, err := decodeCredential("wx1/access_token", encodeCredential(c))
	if err != nil {
		t.Fatal(err)
	}
	if !got.FetchedAt.Equal(c.FetchedAt) || got.FetchedAt.Location() != time.UTC || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("times: %v %v, want %v %v in UTC", got.FetchedAt, got.ExpiresAt, c.FetchedAt, c.ExpiresAt)
	}
	if !got.RefreshAt.IsZero() || got.RefreshAt != (time.Time{}) || got.CallAttemptAt != (time.Time{}) {
		t.Errorf("zero times came back as %v and %v", got.RefreshAt, got.CallAttemptAt)
	}
}

// A damaged record is an error naming its key, never a panic or a
// credential made up of what is left.
func TestCredentialRecordDamage(t *testing.T) {
	c := recordCases()[1]
	key := wxtoken.CredentialKey(c.AppID, c.Kind)
	data := encodeCredential(c)
	for n := range len(data) {
		if _, err := decodeCredential(key, data[:n]); err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("a record cut to %d of %d bytes: %v", n, len(data), err)
		}
	}
	for name, bad := range map[string][]byte{
		"trailing bytes": append(append([]byte(nil), data...), 0),
		"unknown form":   append([]byte{0x02}, data[1:]...),
		"huge string":    append([]byte{recordBinary, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"nanoseconds":    {recordBinary, 1, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03},
	} {
		if _, err := decodeCredential(key, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, k := range []string{"noslash", "/access_token", "wx1/"} {
		if _, err := decodeCredential(k, data); err == nil {
			t.Errorf("key %q: accepted", k)
		}
	}
	if _, err := recordVersion([]byte{0x02}); err == nil {
		t.Error("recordVersion of an unknown form: accepted")
	}
}

func FuzzDecodeCredential(f *testing.F) {
	for _, c := range recordCases() {
		f.Add(wxtoken.CredentialKey(c.AppID, c.Kind), encodeCredential(c))
	}
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		c, err := decodeCredential(key, data)
		if err != nil || len(data) == 0 || data[0] != recordBinary {
			return
		}
		// What decodes encodes to the same bytes when it was canonical,
		// and always decodes again to the same credential.
		again, err := decodeCredential(key, encodeCredential(c))
		if err != nil || again != c {
			t.Fatalf("re-encoded %+v decoded as %+v, %v", c, again, err)
		}
	})
}
