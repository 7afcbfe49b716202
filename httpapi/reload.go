package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// Reloader re-reads the server's configuration for POST
// /v1/admin/reload.
type Reloader interface {
	// Reload reads the configuration file again and applies what
	// changed. A file that cannot be applied changes nothing: the error
	// is then a *ReloadError that lists every problem.
	Reload(ctx context.Context) (ReloadResponse, error)
}

// ReloadResponse is the answer of POST /v1/admin/reload: what a reload
// changed. The lists are never null.
type ReloadResponse struct {
	// Config describes the file now in force.
	Config ConfigInfo `json:"config"`
	// Added, Removed and Changed are the ids of the apps (and of anything
	// else the engine keeps from the file) that the reload added, removed
	// or changed.
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	// ClientsAdded, ClientsRemoved and ClientsChanged are the names of
	// the clients whose keys the reload added, removed or changed.
	ClientsAdded   []string `json:"clients_added"`
	ClientsRemoved []string `json:"clients_removed"`
	ClientsChanged []string `json:"clients_changed"`
	// NeedRestart are the config keys whose change was left unapplied
	// because it takes a restart; the rest of the file was applied.
	NeedRestart []string `json:"need_restart"`
}

// Fill replaces r's null lists with empty ones, as answers have them.
func (r *ReloadResponse) Fill() {
	for _, l := range []*[]string{&r.Added, &r.Removed, &r.Changed, &r.ClientsAdded, &r.ClientsRemoved, &r.ClientsChanged, &r.NeedRestart} {
		if *l == nil {
			*l = []string{}
		}
	}
}

// ReloadError is a configuration file that a reload refused: nothing was
// changed. Problems lists every problem found, one per entry.
type ReloadError struct {
	Problems []string
}

func (e *ReloadError) Error() string {
	return fmt.Sprintf("the configuration was not reloaded (nothing changed): %s", strings.Join(e.Problems, "; "))
}

// ReloadErrorResponse is the 400 answer of POST /v1/admin/reload to a file
// that was refused: the usual error, whose message lists the problems one
// per line, and the problems as a list.
type ReloadErrorResponse struct {
	Error    ErrorBody `json:"error"`
	Problems []string  `json:"problems"`
}

// reload re-reads the configuration file.
func (h *Handler) reload(ex *exchange, r *http.Request, _ params) error {
	if h.reloader == nil {
		return wxtoken.Errorf(wxtoken.ENotFound, "this server cannot reload its configuration: it was not started from a config file")
	}
	if err := h.adminKey(ex, r); err != nil {
		return err
	}
	res, err := h.reloader.Reload(r.Context())
	var re *ReloadError
	if errors.As(err, &re) {
		problems := re.Problems
		if problems == nil {
			problems = []string{}
		}
		ex.errCode = wxtoken.EInvalid
		h.writeJSON(ex, http.StatusBadRequest, ReloadErrorResponse{
			Error: ErrorBody{Code: wxtoken.EInvalid, Message: "the configuration file was not applied; nothing changed:\n" +
				strings.Join(problems, "\n")},
			Problems: problems,
		})
		return nil
	}
	if err != nil {
		return err
	}
	res.Fill()
	h.writeJSON(ex, http.StatusOK, res)
	return nil
}
