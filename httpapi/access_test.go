package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
)

// newAccessHandler is a Handler over the default stub, served by a real
// HTTP server, with the test's clients and apps.
func newAccessHandler(t *testing.T, change func(*httpapi.Options)) (*httpapi.Handler, *env) {
	t.Helper()
	opts := httpapi.Options{Service: (&stub{}).service(), Clients: testClients(), Apps: []string{appShop, appOther}}
	if change != nil {
		change(&opts)
	}
	h, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, &env{srv: srv}
}

// TestSetAccess: keys and apps replaced while serving take effect for the
// next request: a key added is accepted, one removed is 401, an app added
// is served, one removed is 404; a bad list changes nothing.
func TestSetAccess(t *testing.T) {
	h, e := newAccessHandler(t, nil)
	const keyLate = "wxk_late_00000000000000000000000000000001"
	if a := e.get(t, "/v1/apps/"+appNone+"/access_token", keyLate); a.status != http.StatusUnauthorized {
		t.Fatalf("the late key before: %d", a.status)
	}
	clients := append(testClients()[1:], clientkey.Client{Name: "late", KeySHA256: sha(keyLate), Apps: []string{appNone}})
	if err := h.SetAccess(clients, []string{appShop, appNone}); err != nil {
		t.Fatal(err)
	}
	if a := e.get(t, "/v1/apps/"+appNone+"/access_token", keyLate); a.status != http.StatusOK {
		t.Errorf("the late key on the added app: %d %s", a.status, a.body)
	}
	if a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop); a.status != http.StatusUnauthorized {
		t.Errorf("the removed key: %d, want 401", a.status)
	}
	if a := e.get(t, "/v1/apps/"+appOther+"/access_token", keyAll); a.status != http.StatusNotFound {
		t.Errorf("the removed app: %d, want 404", a.status)
	}
	if a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyAll); a.status != http.StatusOK {
		t.Errorf("a kept app with a kept key: %d", a.status)
	}
	bad := append(clients, clientkey.Client{Name: "twin", KeySHA256: sha(keyLate)})
	if err := h.SetAccess(bad, []string{appOther}); err == nil {
		t.Fatal("a repeated key was taken")
	}
	if a := e.get(t, "/v1/apps/"+appNone+"/access_token", keyLate); a.status != http.StatusOK {
		t.Errorf("after a refused SetAccess: %d", a.status)
	}
}

// TestSetAccessWhileServing: requests racing with SetAccess each see one
// whole set: a key kept in every set is never refused. Run with -race.
func TestSetAccessWhileServing(t *testing.T) {
	h, e := newAccessHandler(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			apps := []string{appShop, appOther}
			if i%2 == 1 {
				apps = []string{appShop}
			}
			if err := h.SetAccess(testClients()[:2+i%3], apps); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		if a := e.get(t, "/v1/apps/"+appShop+"/access_token", keyShop); a.status != http.StatusOK {
			t.Fatalf("a kept key on a kept app: %d %s", a.status, a.body)
		}
	}
	close(stop)
	wg.Wait()
}

// TestAppsShowsConfig: GET /v1/apps has a config object when one is set,
// and none otherwise, so that older readers see the same shape.
func TestAppsShowsConfig(t *testing.T) {
	h, e := newAccessHandler(t, nil)
	a := e.get(t, "/v1/apps", keyAdmin)
	if a.status != http.StatusOK || strings.Contains(a.body, `"config"`) {
		t.Fatalf("without a config: %d %s", a.status, a.body)
	}
	h.SetConfig(&httpapi.ConfigInfo{LoadedAt: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC), Digest: "abc"})
	a = e.get(t, "/v1/apps", keyAdmin)
	if !strings.Contains(a.body, `"config":{"loaded_at":"2026-12-03T14:00:00Z","digest":"abc"}`) || !strings.Contains(a.body, `"apps":[`) {
		t.Errorf("with a config: %s", a.body)
	}
}
