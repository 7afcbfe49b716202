package httpapi

import (
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// The answers of an id kept beside the configured ones are cached once
// served, dropped once it is no longer kept, and bounded.
func TestRuntimeAnswers(t *testing.T) {
	keptIDs := map[string]wxtoken.Family{"wxrt": wxtoken.FamilyApp}
	h := &Handler{kept: func(id string) (wxtoken.Family, bool) { f, ok := keptIDs[id]; return f, ok }}
	as := h.keptAnswers("wxrt")
	if as == nil || h.keptAnswers("wxrt") != as || h.runtime.n.Load() != 1 {
		t.Fatal("a kept app's answers are not made once and kept")
	}
	body := as.body("wxrt", "", wxtoken.KindAccessToken, "v", 10, time.Unix(1700000000, 0))
	if again := as.body("wxrt", "", wxtoken.KindAccessToken, "v", 10, time.Unix(1700000000, 0)); &again[0] != &body[0] {
		t.Error("the same answer was built twice")
	}
	if !h.keptAs("wxrt", wxtoken.FamilyApp) || h.keptAs("wxrt", wxtoken.FamilyWeCom) {
		t.Error("keptAs does not tell the family")
	}
	delete(keptIDs, "wxrt")
	if h.keptAs("wxrt", wxtoken.FamilyApp) || h.runtime.n.Load() != 0 {
		t.Error("the answers of an id no longer kept stay")
	}
	h.runtime.n.Store(maxRuntimeAnswers)
	if h.keptAnswers("wxfull") != nil {
		t.Error("answers made beyond the bound")
	}
	if (&Handler{}).keptAnswers("wxrt") != nil {
		t.Error("answers made without Kept")
	}
}
