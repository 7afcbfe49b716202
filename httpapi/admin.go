package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/connguard"
)

// The operator's routes, for admin keys only: on the store, and the
// reload of the configuration (reload.go).
const (
	routeRekey  = "POST /v1/admin/rekey"
	routeBackup = "GET /v1/admin/backup"
	routeReload = "POST /v1/admin/reload"
)

// adminRoutes lists the operator's routes, for RoutePaths.
func adminRoutes() []string { return []string{routeRekey, routeBackup, routeReload} }

// Admin does the operator's work on the server's store that the admin
// routes ask for.
type Admin interface {
	// Rekey seals again, under the primary encryption key, every stored
	// secret sealed under another key, and says what it did.
	Rekey(ctx context.Context) (RekeyResponse, error)
	// Backup writes a consistent copy of the store to w, a bbolt file
	// with its secrets still sealed, and returns the bytes written. It
	// writes nothing to w when it fails before the copy is complete; an
	// error after the first write means w holds no backup.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// RekeyResponse is the answer of POST /v1/admin/rekey.
type RekeyResponse struct {
	// Resealed entries are now sealed under the primary key.
	Resealed int `json:"resealed"`
	// Current entries were sealed under it already.
	Current int `json:"current"`
	// Failed are the ids of the entries that are still as they were: no
	// configured key opens them, or they could not be written. Never
	// null.
	Failed []string `json:"failed"`
}

// contentTypeBackup is the Content-Type of a backup: a bbolt file.
const contentTypeBackup = "application/octet-stream"

// backupPause is how long a backup's download may stall (the caller not
// reading) before the connection is given up.
const backupPause = time.Minute

// registerAdminRoutes registers the operator's routes; New calls it.
func (h *Handler) registerAdminRoutes() {
	h.route(routeRekey, h.rekey)
	h.route(routeBackup, h.backup)
	h.route(routeReload, h.reload)
}

// adminRequest authenticates a request on an operator's route, which
// only admin keys pass.
func (h *Handler) adminRequest(ex *exchange, r *http.Request, doing string) error {
	if h.admin == nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "this server does not %s: it was started without the operator's routes", doing)
	}
	return h.adminKey(ex, r)
}

// adminKey authenticates a request that only admin keys pass.
func (h *Handler) adminKey(ex *exchange, r *http.Request) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	ex.client = c.Name
	if !c.Admin {
		return wxtoken.Errorf(wxtoken.EForbidden, "the operator's routes need an admin client key")
	}
	// These take as long as the store's size makes them: the server's
	// limit on a busy connection, meant for a cached token's answer,
	// would cut them. The request's context still ends with its
	// connection.
	connguard.Exempt(r.Context())
	return nil
}

// rekey seals every stored secret under the primary key.
func (h *Handler) rekey(ex *exchange, r *http.Request, _ params) error {
	if err := h.adminRequest(ex, r, "rekey its store"); err != nil {
		return err
	}
	res, err := h.admin.Rekey(r.Context())
	if err != nil {
		return err
	}
	if res.Failed == nil {
		res.Failed = []string{}
	}
	h.writeJSON(ex, http.StatusOK, res)
	return nil
}

// backup streams a copy of the store. An error before the first byte is
// answered as any other; one after it drops the connection, so that the
// caller sees a broken download rather than a complete-looking file that
// is cut short.
func (h *Handler) backup(ex *exchange, r *http.Request, _ params) error {
	if err := h.adminRequest(ex, r, "make backups"); err != nil {
		return err
	}
	bw := &backupWriter{ex: ex, rc: http.NewResponseController(ex.w)}
	n, err := h.admin.Backup(r.Context(), bw)
	if err == nil && !bw.started {
		// An empty copy is not a bbolt file: it cannot happen, but it
		// must not pass for a backup.
		err = wxtoken.Errorf(wxtoken.EInternal, "the backup came out empty")
	}
	if err == nil {
		return nil
	}
	if !bw.started {
		return err
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "a backup failed during its download; the connection is dropped",
		slog.String("client", ex.client), slog.Int64("bytes", n), slog.String("error", err.Error()))
	panic(http.ErrAbortHandler)
}

// backupWriter writes a backup's bytes to the caller: the headers with
// the first write, and each write with a deadline one pause away.
type backupWriter struct {
	ex      *exchange
	rc      *http.ResponseController
	started bool
}

func (w *backupWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		hdr := w.ex.Header()
		hdr.Set("Content-Type", contentTypeBackup)
		hdr.Set("Content-Disposition", `attachment; filename="wxtoken-backup.db"`)
		w.ex.WriteHeader(http.StatusOK)
	}
	// Errors mean a writer without deadlines (a test recorder): there is
	// nothing to move then.
	_ = w.rc.SetWriteDeadline(time.Now().Add(backupPause))
	return w.ex.Write(p)
}
