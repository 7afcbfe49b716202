package refresh

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
)

func TestAppOfKnowsCurrentAndPreviousToken(t *testing.T) {
	h := newHarness(t, wxtoken.TokenAPIClassic, nil, nil)
	if _, ok := h.eng.AppOf("never-handed-out"); ok {
		t.Fatal("an unknown value was recognized")
	}
	var values []string
	for i := range 3 {
		g := h.get(wxtoken.KindAccessToken)
		values = append(values, g.Value)
		if id, ok := h.eng.AppOf(g.Value); !ok || id != appA {
			t.Fatalf("token %d: AppOf = %q %v, want %s", i, id, ok, appA)
		}
		if i < 2 {
			// A caller's report of a dead token mints the next one.
			if _, err := h.sim.Rotate(appA, simulator.KindClassic); err != nil {
				t.Fatal(err)
			}
			if _, err := h.eng.Refresh(context.Background(), appA, wxtoken.KindAccessToken, g.Value); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(time.Minute) // past the passive-refresh interval
		}
	}
	if values[0] == values[1] || values[1] == values[2] {
		t.Fatalf("no new token minted: %q", values)
	}
	if id, ok := h.eng.AppOf(values[1]); !ok || id != appA {
		t.Fatalf("the replaced token: AppOf = %q %v", id, ok)
	}
	if _, ok := h.eng.AppOf(values[0]); ok {
		t.Fatal("a token replaced twice is still recognized")
	}
	h.clk.Advance(2 * time.Hour)
	if _, ok := h.eng.AppOf(values[2]); ok {
		t.Fatal("an expired token is still recognized")
	}
}
