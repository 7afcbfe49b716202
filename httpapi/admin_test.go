package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
)

// fakeAdmin answers the operator's routes as its fields say, counting
// the calls.
type fakeAdmin struct {
	rekey  func(ctx context.Context) (httpapi.RekeyResponse, error)
	backup func(ctx context.Context, w io.Writer) (int64, error)
	calls  atomic.Int32
}

func (a *fakeAdmin) Rekey(ctx context.Context) (httpapi.RekeyResponse, error) {
	a.calls.Add(1)
	return a.rekey(ctx)
}

func (a *fakeAdmin) Backup(ctx context.Context, w io.Writer) (int64, error) {
	a.calls.Add(1)
	return a.backup(ctx, w)
}

// backupBytes stands for a bbolt file.
var backupBytes = bytes.Repeat([]byte("bbolt-page\x00"), 20000)

func newAdminEnv(t *testing.T, a *fakeAdmin) *env {
	t.Helper()
	return newEnv(t, &stub{}, func(o *httpapi.Options) {
		if a != nil {
			o.Admin = a
		}
	})
}

func workingAdmin() *fakeAdmin {
	return &fakeAdmin{
		rekey: func(context.Context) (httpapi.RekeyResponse, error) {
			return httpapi.RekeyResponse{Resealed: 2, Current: 5, Failed: []string{"wxc:wxa"}}, nil
		},
		backup: func(_ context.Context, w io.Writer) (int64, error) {
			n, err := io.Copy(w, bytes.NewReader(backupBytes))
			return n, err
		},
	}
}

// Only an admin key reaches the operator's routes: no key is 401, a key
// that is not an admin's 403, and neither gets to the store.
func TestAdminRoutesNeedAnAdminKey(t *testing.T) {
	a := workingAdmin()
	e := newAdminEnv(t, a)
	for _, q := range []req{
		{method: http.MethodPost, path: "/v1/admin/rekey"},
		{method: http.MethodGet, path: "/v1/admin/backup"},
	} {
		t.Run(q.method+" "+q.path, func(t *testing.T) {
			got := e.do(t, q)
			wantError(t, got, http.StatusUnauthorized, wxtoken.EUnauthorized)
			q.key = keyUnknown
			wantError(t, e.do(t, q), http.StatusUnauthorized, wxtoken.EUnauthorized)
			for _, k := range []string{keyAll, keyShop} {
				q.key = k
				wantError(t, e.do(t, q), http.StatusForbidden, wxtoken.EForbidden)
			}
		})
	}
	if n := a.calls.Load(); n != 0 {
		t.Errorf("the store was asked %d times by keys that are not an admin's", n)
	}
}

// A rekey answers its counts and the failed ids.
func TestRekeyRoute(t *testing.T) {
	e := newAdminEnv(t, workingAdmin())
	got := e.do(t, req{method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin})
	if got.status != http.StatusOK {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	wantJSON(t, got)
	if want := `{"resealed":2,"current":5,"failed":["wxc:wxa"]}` + "\n"; got.body != want {
		t.Errorf("body %s, want %s", got.body, want)
	}
	if got := e.get(t, "/v1/admin/rekey", keyAdmin); got.status != http.StatusMethodNotAllowed {
		t.Errorf("GET rekey: status %d, want 405", got.status)
	}
}

// A rekey where nothing failed answers an empty list, not null; a rekey
// that fails as a whole answers its error.
func TestRekeyRouteShapes(t *testing.T) {
	a := &fakeAdmin{rekey: func(context.Context) (httpapi.RekeyResponse, error) {
		return httpapi.RekeyResponse{Resealed: 1}, nil
	}}
	e := newAdminEnv(t, a)
	got := e.do(t, req{method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin})
	if want := `{"resealed":1,"current":0,"failed":[]}` + "\n"; got.body != want {
		t.Errorf("body %s, want %s", got.body, want)
	}
	a.rekey = func(context.Context) (httpapi.RekeyResponse, error) {
		return httpapi.RekeyResponse{}, wxtoken.Errorf(wxtoken.EConflict, "the server has no store encryption key")
	}
	b := wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin}), http.StatusConflict, wxtoken.EConflict)
	if !strings.Contains(b.Message, "encryption key") {
		t.Errorf("message %q", b.Message)
	}
}

// A backup is the Admin's bytes, as a download.
func TestBackupRoute(t *testing.T) {
	e := newAdminEnv(t, workingAdmin())
	got := e.get(t, "/v1/admin/backup", keyAdmin)
	if got.status != http.StatusOK {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := got.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if got.body != string(backupBytes) {
		t.Errorf("the body is %d bytes, not the %d of the backup", len(got.body), len(backupBytes))
	}
}

// A backup that fails before its first byte is an error answer; one that
// fails halfway drops the connection, so that the caller cannot take
// what it got for a whole file.
func TestBackupRouteFailures(t *testing.T) {
	a := &fakeAdmin{backup: func(context.Context, io.Writer) (int64, error) {
		return 0, wxtoken.Errorf(wxtoken.EUnavailable, "the store's entries cannot be listed")
	}}
	e := newAdminEnv(t, a)
	wantError(t, e.get(t, "/v1/admin/backup", keyAdmin), http.StatusServiceUnavailable, wxtoken.EUnavailable)

	a.backup = func(_ context.Context, w io.Writer) (int64, error) {
		n, err := w.Write(backupBytes[:len(backupBytes)/2])
		if err != nil {
			return int64(n), err
		}
		return int64(n), errors.New("the disk went away")
	}
	r, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/admin/backup", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+keyAdmin)
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a backup cut short read as a whole file of %d bytes", len(body))
	}
	if !strings.Contains(e.logs.String(), "the disk went away") {
		t.Errorf("the failure is not logged:\n%s", e.logs.String())
	}
}

// A server started without an Admin says so on the operator's routes.
func TestAdminRoutesWithoutAdmin(t *testing.T) {
	e := newAdminEnv(t, nil)
	b := wantError(t, e.do(t, req{method: http.MethodPost, path: "/v1/admin/rekey", key: keyAdmin}), http.StatusNotFound, wxtoken.ENotFound)
	if !strings.Contains(b.Message, "rekey") {
		t.Errorf("message %q does not say what is not served", b.Message)
	}
	wantError(t, e.get(t, "/v1/admin/backup", keyAdmin), http.StatusNotFound, wxtoken.ENotFound)
}
