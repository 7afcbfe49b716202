package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/internal/mock"
)

const (
	opsKey  = "wxt_ops-admin-key"
	shopKey = "wxt_shop-key"
)

// opsAdmin answers the operator's routes with fixed results.
type opsAdmin struct {
	backup []byte
	// cut, when set, fails the backup after half of it.
	cut bool
}

func (a *opsAdmin) Rekey(context.Context) (httpapi.RekeyResponse, error) {
	return httpapi.RekeyResponse{Resealed: 3, Current: 1, Failed: []string{"wxc:wxa"}}, nil
}

func (a *opsAdmin) Backup(_ context.Context, w io.Writer) (int64, error) {
	if a.cut {
		n, _ := w.Write(a.backup[:len(a.backup)/2])
		return int64(n), errors.New("the store went away")
	}
	n, err := w.Write(a.backup)
	return int64(n), err
}

// opsServer is the server's real HTTP API with adm behind its operator's
// routes.
func opsServer(t *testing.T, adm httpapi.Admin) string {
	t.Helper()
	h, err := httpapi.New(httpapi.Options{
		Service: &mock.Service{},
		Admin:   adm,
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

func newOpsClient(t *testing.T, base, key string) *client.Client {
	t.Helper()
	c, err := client.New(base, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRekey(t *testing.T) {
	base := opsServer(t, &opsAdmin{})
	got, err := newOpsClient(t, base, opsKey).Rekey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Resealed != 3 || got.Current != 1 || len(got.Failed) != 1 || got.Failed[0] != "wxc:wxa" {
		t.Errorf("Rekey = %+v", got)
	}
	_, err = newOpsClient(t, base, shopKey).Rekey(t.Context())
	if wxtoken.ErrorCode(err) != wxtoken.EForbidden {
		t.Errorf("Rekey with a key that is not an admin's: %v, want %s", err, wxtoken.EForbidden)
	}
}

func TestBackup(t *testing.T) {
	data := bytes.Repeat([]byte("page\x00\x01"), 50000)
	adm := &opsAdmin{backup: data}
	base := opsServer(t, adm)
	var buf bytes.Buffer
	n, err := newOpsClient(t, base, opsKey).Backup(t.Context(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("Backup wrote %d bytes (reported %d), want the %d of the backup", buf.Len(), n, len(data))
	}

	buf.Reset()
	if _, err := newOpsClient(t, base, shopKey).Backup(t.Context(), &buf); wxtoken.ErrorCode(err) != wxtoken.EForbidden || buf.Len() != 0 {
		t.Errorf("Backup with a key that is not an admin's: %v, %d bytes written", err, buf.Len())
	}

	adm.cut = true
	buf.Reset()
	if _, err := newOpsClient(t, base, opsKey).Backup(t.Context(), &buf); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("a backup cut short: %v, want %s", err, wxtoken.EUnavailable)
	}
}

// An answer that is not a download, such as a proxy's page, is no backup.
func TestBackupRefusesAnotherAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>welcome</html>")
	}))
	defer ts.Close()
	var buf bytes.Buffer
	_, err := newOpsClient(t, ts.URL, opsKey).Backup(t.Context(), &buf)
	if err == nil || buf.Len() != 0 {
		t.Errorf("an HTML page taken for a backup: %v, %d bytes written", err, buf.Len())
	}
}
