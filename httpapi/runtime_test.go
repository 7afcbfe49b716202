package httpapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
)

const (
	appRuntime   = "wx0000000000000a01" // kept by the Service, not configured
	agentRuntime = "1000009"
	idRuntime    = corpA + "/" + agentRuntime
	keyTagged    = "wxk_tagged_0f1e2d3c4b5a69788796a5b4c3d2e1f0" // granted "tag:shops"
)

// kept is the Service's list of ids kept beside the configured ones.
type kept struct {
	mu  sync.Mutex
	ids map[string]wxtoken.Family
}

func (k *kept) family(id string) (wxtoken.Family, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f, ok := k.ids[id]
	return f, ok
}

func (k *kept) set(id string, f wxtoken.Family) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f == "" {
		delete(k.ids, id)
		return
	}
	k.ids[id] = f
}

// newRuntimeEnv serves the configured apps and, beside them, what k keeps,
// with a key granted the entries tagged "shops".
func newRuntimeEnv(t *testing.T, k *kept) *env {
	t.Helper()
	tags := map[string][]string{appRuntime: {"shops"}, idRuntime: {"shops"}, compRuntime: {"shops"}}
	return newEnv(t, &stub{}, func(o *httpapi.Options) {
		o.Kept = k.family
		o.Tags = func(id string) []string { return tags[id] }
		o.Clients = append(o.Clients, clientkey.Client{Name: "tagged", KeySHA256: sha(keyTagged), Apps: []string{"tag:shops"}})
	})
}

// compRuntime is a platform the Service keeps: never an app here.
const compRuntime = "wxc0000000000000c9"

// An app or agent the Service keeps beside the configured ones is served
// on its family's routes, to the keys granted it (by "*" or by a tag),
// and is unknown again once no longer kept.
func TestRuntimeIDsAreServed(t *testing.T) {
	k := &kept{ids: map[string]wxtoken.Family{appRuntime: wxtoken.FamilyApp, idRuntime: wxtoken.FamilyWeCom, compRuntime: wxtoken.FamilyComponent}}
	e := newRuntimeEnv(t, k)
	appPath := "/v1/apps/" + appRuntime + "/access_token"
	agentPath := weComPath(corpA, agentRuntime, "access_token")
	for _, key := range []string{keyAll, keyTagged} {
		for range 2 { // the second from the answer cache
			a := e.get(t, appPath, key)
			if a.status != http.StatusOK {
				t.Fatalf("app with %s: status %d: %s", key[:8], a.status, a.body)
			}
			var got httpapi.TokenResponse
			decode(t, a, &got)
			if got.AppID != appRuntime || got.AccessToken != value(appRuntime, wxtoken.KindAccessToken) {
				t.Errorf("app: %+v", got)
			}
			a = e.get(t, agentPath, key)
			if a.status != http.StatusOK {
				t.Fatalf("agent with %s: status %d: %s", key[:8], a.status, a.body)
			}
			var ag httpapi.WeComTokenResponse
			decode(t, a, &ag)
			if ag.CorpID != corpA || ag.AgentID != agentRuntime || ag.AccessToken != value(idRuntime, wxtoken.KindAccessToken) {
				t.Errorf("agent: %+v", ag)
			}
		}
	}
	if a := e.get(t, "/v1/apps/"+appRuntime+"/tickets/jsapi", keyTagged); a.status != http.StatusOK {
		t.Errorf("ticket: status %d", a.status)
	}
	// Not granted: 403, as for a configured app.
	wantError(t, e.get(t, appPath, keyShop), http.StatusForbidden, wxtoken.EForbidden)
	wantError(t, e.get(t, agentPath, keyShop), http.StatusForbidden, wxtoken.EForbidden)
	// A platform the Service keeps is no app, nor is an agent on the app
	// routes or an app on the WeCom routes.
	wantError(t, e.get(t, "/v1/apps/"+compRuntime+"/access_token", keyTagged), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, "/v1/apps/"+corpA+"%2F"+agentRuntime+"/access_token", keyAll), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, weComPath(appRuntime, "x", "access_token"), keyAll), http.StatusNotFound, wxtoken.ENotFound)
	calls := len(e.svc.Calls())

	k.set(appRuntime, "")
	k.set(idRuntime, "")
	wantError(t, e.get(t, appPath, keyAll), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, e.get(t, agentPath, keyAll), http.StatusNotFound, wxtoken.ENotFound)
	if n := len(e.svc.Calls()); n != calls {
		t.Errorf("ids no longer kept reached the service: %q", e.svc.Calls()[calls:])
	}
}

// Without Kept, only the configured ids are served: the Service is not
// asked for any other.
func TestOnlyConfiguredWithoutKept(t *testing.T) {
	e := newEnv(t, &stub{}, nil)
	wantError(t, e.get(t, "/v1/apps/"+appRuntime+"/access_token", keyAll), http.StatusNotFound, wxtoken.ENotFound)
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("service calls = %q", calls)
	}
}
