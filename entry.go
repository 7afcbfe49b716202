package wxtoken

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry is a credential owner that lives in the store rather than in the
// configuration file: an open-platform authorizer, registered by WeChat's
// push, an exchanged authorization code or an import, or an app or WeCom
// agent registered through the admin API. The engine keeps an active
// entry's credentials as it keeps a configured app's.
//
// Records are immutable values; a change writes a new record with a higher
// Version. An entry is never deleted from the store: a removed one is kept
// with State EntryRemoved, so that every replica learns of the removal and
// a refresh token is never lost by accident.
type Entry struct {
	// ID is the id the credentials are kept under: an appid, a WeComID or
	// an AuthorizerID.
	ID     string `json:"id"`
	Family Family `json:"family"`
	Name   string `json:"name,omitempty"`
	// Secret is sealed (package seal): an app's AppSecret, an agent's
	// secret, or an authorizer's authorizer_refresh_token. A store never
	// holds it in plaintext and never looks inside.
	Secret   string   `json:"secret"`
	TokenAPI TokenAPI `json:"token_api,omitempty"`
	Tickets  []Kind   `json:"tickets,omitempty"`
	// Tags are labels given at registration; a client granted "tag:T" is
	// granted every entry tagged T.
	Tags  []string   `json:"tags,omitempty"`
	State EntryState `json:"state,omitempty"`
	// Note says why the entry is in its state, for status: who removed
	// it, or what WeChat answered when it refused the refresh token.
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version increases with every record written for ID; a store never
	// replaces a record with one of a lower or equal version.
	Version uint64 `json:"version"`
}

// EntryState says whether an entry's credentials are served.
type EntryState string

// The entry states.
const (
	// EntryActive entries are served and refreshed.
	EntryActive EntryState = "active"
	// EntryReauthorize is an authorizer whose refresh token WeChat refused
	// (61023): its token is served until it expires, then callers hear
	// that the account must authorize the platform again. Its record stays.
	EntryReauthorize EntryState = "reauthorize"
	// EntryRemoved entries are no longer served or refreshed: removed by
	// an admin, or an authorizer that cancelled its authorization.
	EntryRemoved EntryState = "removed"
)

// Valid reports whether s is one of the known states.
func (s EntryState) Valid() bool {
	return s == EntryActive || s == EntryReauthorize || s == EntryRemoved
}

// Validate rejects entries no one should store. Every Store checks it in
// PutEntry.
func (e Entry) Validate() error {
	switch {
	case e.ID == "":
		return errors.New("invalid entry: empty id")
	case !e.Family.Valid():
		return fmt.Errorf("invalid entry %s: unknown family %q", e.ID, e.Family)
	case !e.State.Valid():
		return fmt.Errorf("invalid entry %s: unknown state %q", e.ID, e.State)
	case e.Version == 0:
		return fmt.Errorf("invalid entry %s: version must be at least 1", e.ID)
	}
	for _, k := range e.Tickets {
		if !e.Family.HasTicket(k) {
			return fmt.Errorf("invalid entry %s: %q is not a ticket of the %s family", e.ID, k, e.Family)
		}
	}
	return nil
}

// Registry is what a Store keeps of entries. PutEntry is a compare-and-set
// on Version, as Store.Put is for credentials, and it returns only once
// the record is durable: an authorizer's refresh token must never be lost
// once WeChat has handed it out.
type Registry interface {
	// GetEntry returns the entry id, or ErrNotFound.
	GetEntry(ctx context.Context, id string) (Entry, error)
	// ListEntries returns every stored entry, removed ones included.
	ListEntries(ctx context.Context) ([]Entry, error)
	// PutEntry stores e if nothing is stored for e.ID or the stored
	// record's Version is lower than e.Version; otherwise it returns an
	// error wrapping ErrStale and stores nothing.
	PutEntry(ctx context.Context, e Entry) error
}
