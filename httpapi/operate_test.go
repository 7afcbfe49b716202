package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
)

// retries records the ids RetryNow is asked for.
type retries struct {
	mu  sync.Mutex
	ids []string
}

func (r *retries) RetryNow(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	if id == appNone {
		return wxtoken.Errorf(wxtoken.ENotFound, "%s is not kept", id)
	}
	return nil
}

func (r *retries) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// The retry routes: admin keys only, checked before the server says
// whether it retries at all; the id of each family reaches RetryNow; the
// answer is the id's status after the credential was asked for; the
// retry is logged with the client's name.
func TestRetryRoutes(t *testing.T) {
	agent := wxtoken.WeComID("ww0123456789abcdef", "1000002")
	authz := wxtoken.AuthorizerID("wxc0123456789abcde", "wxa0123456789abcde")
	svc := &stub{status: []wxtoken.AppStatus{{AppID: appShop}, {AppID: agent}, {AppID: authz}}}
	r := &retries{}
	e := newEnv(t, svc, func(o *httpapi.Options) { o.Retrier = r })

	for path, id := range map[string]string{
		"/v1/apps/" + appShop + "/retry":                                        appShop,
		"/v1/wecom/ww0123456789abcdef/1000002/retry":                            agent,
		"/v1/platforms/wxc0123456789abcde/authorizers/wxa0123456789abcde/retry": authz,
	} {
		a := e.do(t, req{method: http.MethodPost, path: path, key: keyAdmin})
		if a.status != http.StatusOK || !strings.Contains(a.body, `"appid":"`+id+`"`) {
			t.Fatalf("POST %s: %d %s", path, a.status, a.body)
		}
	}
	if got := r.list(); len(got) != 3 {
		t.Fatalf("RetryNow asked for %v", got)
	}
	if calls := strings.Join(svc.Calls(), "\n"); !strings.Contains(calls, "credential "+appShop+" access_token") {
		t.Fatalf("the retry did not wait for the credential: %s", calls)
	}
	if !strings.Contains(e.logs.String(), `msg="retry now" client=ops id=`+appShop) {
		t.Fatalf("the retry is not logged with the client:\n%s", e.logs.String())
	}
	wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/retry", key: keyAll}), http.StatusForbidden, wxtoken.EForbidden)
	wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appNone + "/retry", key: keyAdmin}), http.StatusNotFound, wxtoken.ENotFound)
	// An escaped separator cannot make an app's id look like an agent's.
	wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/apps/ww0123456789abcdef%2F1000002/retry", key: keyAdmin}), http.StatusNotFound, wxtoken.ENotFound)
	if got := r.list(); len(got) != 4 {
		t.Fatalf("refused retries reached RetryNow: %v", got)
	}

	off := newEnv(t, &stub{}, nil)
	wantError(t, off.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/retry", key: keyAll}), http.StatusForbidden, wxtoken.EForbidden)
	wantError(t, off.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/retry", key: keyAdmin}), http.StatusNotFound, wxtoken.ENotFound)
	wantError(t, off.do(t, req{method: http.MethodPost, path: "/v1/apps/" + appShop + "/clear_quota", key: keyAdmin}), http.StatusNotFound, wxtoken.ENotFound)
}
