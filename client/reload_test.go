package client_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

// fixedReloader answers every reload with res, or refuses it with
// problems.
type fixedReloader struct {
	res      httpapi.ReloadResponse
	problems []string
}

func (r *fixedReloader) Reload(context.Context) (httpapi.ReloadResponse, error) {
	if r.problems != nil {
		return httpapi.ReloadResponse{}, &httpapi.ReloadError{Problems: r.problems}
	}
	return r.res, nil
}

// reloadServer is the server's real HTTP API with r behind its reload
// route and cfg shown in GET /v1/apps.
func reloadServer(t *testing.T, r httpapi.Reloader, cfg *httpapi.ConfigInfo) string {
	t.Helper()
	h, err := httpapi.New(httpapi.Options{
		Service:  &mock.Service{},
		Reloader: r,
		Config:   cfg,
		Clients: []clientkey.Client{
			{Name: "ops", KeySHA256: hexSHA(opsKey), Admin: true},
			{Name: "shop", KeySHA256: hexSHA(shopKey), Apps: []string{"*"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestReload(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	r := &fixedReloader{res: httpapi.ReloadResponse{
		Config: httpapi.ConfigInfo{LoadedAt: at, Digest: strings.Repeat("ab", 32)},
		Added:  []string{"wxa"}, Removed: []string{"wxb"}, ClientsAdded: []string{"late"}, NeedRestart: []string{"listen"},
	}}
	base := reloadServer(t, r, nil)
	got, err := newOpsClient(t, base, opsKey).Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Config.LoadedAt.Equal(at) || got.Config.Digest != r.res.Config.Digest || len(got.Added) != 1 || len(got.Removed) != 1 ||
		len(got.Changed) != 0 || got.ClientsAdded[0] != "late" || got.NeedRestart[0] != "listen" {
		t.Errorf("Reload = %+v", got)
	}
	if _, err := newOpsClient(t, base, shopKey).Reload(t.Context()); wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("Reload with a key that is not an admin's: %v, want %s", err, wxtoken.EForbidden)
	}
}

// TestReloadRefused: a refused file is an EInvalid error whose message
// holds every problem.
func TestReloadRefused(t *testing.T) {
	base := reloadServer(t, &fixedReloader{problems: []string{"apps[0].appid: required", "clients[1].key_sha256: required"}}, nil)
	_, err := newOpsClient(t, base, opsKey).Reload(t.Context())
	if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Fatalf("Reload of a refused file: %v", err)
	}
	for _, p := range []string{"apps[0].appid: required", "clients[1].key_sha256: required", "nothing changed"} {
		if !strings.Contains(wxtoken.ErrorMessage(err), p) {
			t.Errorf("the error does not say %q: %v", p, err)
		}
	}
}

// TestReportShowsConfig: Report carries the config the server shows, and
// nil from a server that shows none.
func TestReportShowsConfig(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	base := reloadServer(t, nil, &httpapi.ConfigInfo{LoadedAt: at, Digest: "d1"})
	rep, err := newOpsClient(t, base, opsKey).Report(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Config == nil || rep.Config.Digest != "d1" || !rep.Config.LoadedAt.Equal(at) {
		t.Errorf("Report config = %+v", rep.Config)
	}
	rep, err = newOpsClient(t, reloadServer(t, nil, nil), opsKey).Report(t.Context())
	if err != nil || rep.Config != nil {
		t.Errorf("Report from a server without a config: %+v, %v", rep.Config, err)
	}
	// Without a Reloader the route says so.
	if _, err := newOpsClient(t, base, opsKey).Reload(t.Context()); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		t.Errorf("Reload from a server that cannot: %v", err)
	}
}
