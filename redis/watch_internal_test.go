package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// A field of the versions hash names its credential under every form of
// id, the verify ticket included.
func TestParseField(t *testing.T) {
	tests := []struct {
		field string
		appID string
		kind  wxtoken.Kind
		ok    bool
	}{
		{"wx00000000000000aa/access_token", "wx00000000000000aa", wxtoken.KindAccessToken, true},
		{"wx00000000000000aa/", "wx00000000000000aa", "", true},
		{"ww00000000000000cc/1000002/agent_config", "ww00000000000000cc/1000002", wxtoken.KindAgentConfig, true},
		{"ww00000000000000cc/1000002/", "ww00000000000000cc/1000002", "", true},
		{"wxcomp:wxauth/jsapi", "wxcomp:wxauth", wxtoken.KindJSAPITicket, true},
		{"wxcomp:wxauth/", "wxcomp:wxauth", "", true},
		{"wxcomp/verify_ticket", "wxcomp", wxtoken.KindVerifyTicket, true},
		{"no-slash", "", "", false},
		{"/access_token", "", "", false},
	}
	for _, tc := range tests {
		appID, kind, ok := parseField(tc.field)
		if appID != tc.appID || kind != tc.kind || ok != tc.ok {
			t.Errorf("parseField(%q) = %q, %q, %v; want %q, %q, %v", tc.field, appID, kind, ok, tc.appID, tc.kind, tc.ok)
		}
	}
}

type tellLog struct{ told []string }

func (l *tellLog) Changed(appID string, kind wxtoken.Kind, v uint64) {
	l.told = append(l.told, "cred "+appID+"/"+string(kind))
}
func (l *tellLog) EntryChanged(id string, v uint64) { l.told = append(l.told, "entry "+id) }
func (l *tellLog) Synced(time.Time, error)          {}
func (l *tellLog) Reset()                           {}

// Entry messages carry the version first, so that any id comes through;
// a message of the other channel's form, or a repeat, tells nothing.
func TestEntryMessage(t *testing.T) {
	l := &tellLog{}
	ws := &watchState{w: l, seen: map[string]uint64{}, seenEntries: map[string]uint64{}}
	for _, p := range []string{
		"3 wxcomp:wxauth", "3 wxcomp:wxauth", "2 wxcomp:wxauth",
		"1 ww00000000000000cc/1000002", "1 id with spaces",
		"wx00000000000000aa/ 4", "x y", "5", "5 ",
	} {
		ws.entryMessage(p)
	}
	want := []string{"entry wxcomp:wxauth", "entry ww00000000000000cc/1000002", "entry id with spaces"}
	if !slices.Equal(l.told, want) {
		t.Errorf("told %q, want %q", l.told, want)
	}
}
