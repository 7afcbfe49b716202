package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// The listings of a server with 100,000 entries run to tens of
// megabytes, past the cap on any other answer: they are read whole,
// while a credential answer of the same size is refused.
func TestListingsMayBeLarge(t *testing.T) {
	const n = 60000 // about 12 MB of registrations
	var b strings.Builder
	b.WriteString(`{"registrations":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		e := wxtoken.Registered{ID: fmt.Sprintf("wx%016x", i), Family: wxtoken.FamilyApp, AppID: fmt.Sprintf("wx%016x", i),
			Name: strings.Repeat("n", 64), TokenAPI: wxtoken.TokenAPIStable, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket},
			Tags: []string{"team-a", "retail"}, State: wxtoken.EntryActive}
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	b.WriteString(`]}`)
	big := b.String()
	if len(big) < 9<<20 {
		t.Fatalf("the listing is only %d bytes", len(big))
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/registrations" {
			_, _ = w.Write([]byte(big))
			return
		}
		// A credential answer as long as the listing.
		_, _ = fmt.Fprintf(w, `{"appid":"wx0123456789abcdef","access_token":%q,"expires_in":7200}`, big[:len(big)-100])
	}))
	defer ts.Close()
	c, err := client.New(ts.URL, "wxt_limit-test-key")
	if err != nil {
		t.Fatal(err)
	}
	regs, err := c.Registrations(t.Context(), "")
	if err != nil || len(regs) != n {
		t.Fatalf("a listing of %d bytes: %d entries, %v", len(big), len(regs), err)
	}
	if _, err := c.Credential(t.Context(), "wx0123456789abcdef", wxtoken.KindAccessToken); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a credential answer of %d bytes: %v, want it refused as too long", len(big), err)
	}
}
