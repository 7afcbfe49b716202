package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
)

// TestGrantAnswerFollowsEveryChange serves grants that differ from the
// one before in a single field, each through the same route, and checks
// that every answer says what its grant says: an answer kept from an
// earlier request must never stand for a grant that differs in anything
// the answer shows.
func TestGrantAnswerFollowsEveryChange(t *testing.T) {
	base := grant(appShop, wxtoken.KindAccessToken)
	base.ExpiresAt = t0.Add(7000*time.Second + 250*time.Millisecond)
	steps := []struct {
		name   string
		change func(*wxtoken.Grant)
	}{
		{"first", func(*wxtoken.Grant) {}},
		{"same grant again", func(*wxtoken.Grant) {}},
		{"same second, other nanoseconds", func(g *wxtoken.Grant) { g.ExpiresAt = g.ExpiresAt.Add(500 * time.Millisecond) }},
		{"new value", func(g *wxtoken.Grant) { g.Value = "VALUE-rotated" }},
		{"value of the same length", func(g *wxtoken.Grant) { g.Value = "VALUE-rotatee" }},
		{"a second less to live", func(g *wxtoken.Grant) { g.ExpiresIn -= time.Second }},
		{"expires a second later", func(g *wxtoken.Grant) { g.ExpiresAt = g.ExpiresAt.Add(time.Second) }},
		{"the service names the app", func(g *wxtoken.Grant) { g.AppID = "wx0123456789ABCDEF" }},
		{"the service names no app", func(g *wxtoken.Grant) { g.AppID = "" }},
		{"back to the first", func(g *wxtoken.Grant) { *g = base }},
	}
	var (
		mu  sync.Mutex
		cur = base
	)
	svc := &stub{credential: func(context.Context, string, wxtoken.Kind) (wxtoken.Grant, error) {
		mu.Lock()
		defer mu.Unlock()
		return cur, nil
	}}
	e := newEnv(t, svc, nil)
	for _, s := range steps {
		mu.Lock()
		s.change(&cur)
		g := cur
		mu.Unlock()
		a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop)
		if a.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", s.name, a.status, a.body)
		}
		var got httpapi.TokenResponse
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatalf("%s: %v: %s", s.name, err, a.body)
		}
		want := httpapi.TokenResponse{
			AppID:       g.AppID,
			AccessToken: g.Value,
			ExpiresIn:   int64(g.ExpiresIn / time.Second),
			ExpiresAt:   g.ExpiresAt.UTC().Format(time.RFC3339),
		}
		if want.AppID == "" {
			want.AppID = appShop
		}
		if got != want {
			t.Errorf("%s: answer %+v, want %+v", s.name, got, want)
		}
	}
}

// TestGrantAnswersOfKindsAndAppsStayApart reads every kind of two apps in
// turn, many times over and from many goroutines at once, with the one
// value for all of them: each answer must still be its own app's and
// kind's.
func TestGrantAnswersOfKindsAndAppsStayApart(t *testing.T) {
	svc := &stub{credential: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
		g := grant(appID, kind)
		g.Value = "SAME-VALUE"
		return g, nil
	}}
	e := newEnv(t, svc, nil)
	type want struct{ app, kind string }
	paths := map[string]want{}
	for _, app := range []string{appShop, appOther} {
		paths["/v1/apps/"+app+"/access_token"] = want{app, ""}
		for _, k := range wxtoken.FamilyApp.Tickets() {
			paths["/v1/apps/"+app+"/tickets/"+string(k)] = want{app, string(k)}
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				for path, w := range paths {
					a := e.get(t, path, keyAll)
					var got struct {
						AppID       string `json:"appid"`
						Type        string `json:"type"`
						AccessToken string `json:"access_token"`
						Ticket      string `json:"ticket"`
					}
					err := json.Unmarshal([]byte(a.body), &got)
					if err != nil || got.AppID != w.app || got.Type != w.kind || got.AccessToken+got.Ticket != "SAME-VALUE" {
						t.Errorf("%s: %d %s (%v), want appid %s, type %q", path, a.status, a.body, err, w.app, w.kind)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
