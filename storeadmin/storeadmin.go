// Package storeadmin does an operator's work on the store of a running
// server: Rekey seals every stored secret again under the primary
// encryption key, so that an older key can be dropped, and Backup writes a
// consistent copy of the store as a bbolt file, its secrets still sealed.
//
// Both work through the wxtoken.Store the server holds, entry by entry,
// so they run while the server serves (a bolt file is locked by the
// server's process) and with every store. Neither ever opens a secret for
// anything but sealing it again, and neither writes one anywhere in
// plaintext.
//
// It is a package of its own rather than part of package platform because
// the secrets it re-seals are those of every entry family (authorizers'
// refresh tokens, AppSecrets registered through the admin API), and a
// server has a store, and may need a rekey or a backup, whether or not it
// serves a third-party platform.
package storeadmin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/seal"
)

// Options configure an Admin.
type Options struct {
	// Store is the server's store. Required.
	Store wxtoken.Store
	// Sealer opens secrets under any configured key and seals them under
	// the primary one. Nil when the server has no encryption key: Rekey
	// then fails, saying so, and Backup works as ever.
	Sealer *seal.Sealer
	// Changed is told the id of every entry Rekey rewrote, so that what
	// holds the entry in memory (the platforms' authorizers) takes the new
	// record at once. Nil tells no one.
	Changed func(ctx context.Context, id string)
	// IDs returns ids whose bookkeeping (wxtoken.Ledger) a copied backup
	// keeps besides those of every credential and entry in the store: the
	// apps the server is configured with, which may have a ledger and no
	// credential yet. Nil adds none.
	IDs func() []string
	// TempDir is where Backup builds the copy of a store other than bolt;
	// "" is the system's temporary directory.
	TempDir string
	// Logger receives a line per entry that could not be re-sealed. Nil
	// logs nothing.
	Logger *slog.Logger
}

// Admin does the operator's work on one store. It is safe for concurrent
// use; two rekeys at once do each entry once, by the store's
// compare-and-set.
type Admin struct {
	opts Options
	log  *slog.Logger
}

// New returns an Admin of opts.Store.
func New(opts Options) (*Admin, error) {
	if opts.Store == nil {
		return nil, errors.New("storeadmin: a Store is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Admin{opts: opts, log: log}, nil
}

// RekeyReport says what Rekey did with each stored entry.
type RekeyReport struct {
	// Resealed entries were sealed under an older key and are now sealed
	// under the primary one.
	Resealed int
	// Current entries needed nothing: sealed under the primary key
	// already, or holding no secret.
	Current int
	// Failed entries are still as they were: no configured key opens
	// their secret, or they could not be written. The old key must be
	// kept while any entry is here.
	Failed []Failure
}

// Failure is an entry Rekey could not re-seal, and why. The error never
// holds the secret; it may name the id of the key that sealed it.
type Failure struct {
	ID  string
	Err error
}

// staleRetries bounds the re-reads of one entry that other writers keep
// changing while Rekey writes it.
const staleRetries = 5

// Rekey seals again, under the primary key, the secret of every stored
// entry that is sealed under another key, writing each entry on its own
// (Version+1, compare-and-set; an entry another writer changed meanwhile
// is read again and looked at anew), with nothing else of it changed. An
// entry that cannot be re-sealed is reported in Failed and does not stop
// the others. It fails as a whole only when there is no encryption key,
// the entries cannot be listed, or ctx ends; the report then says what was
// done until then.
func (a *Admin) Rekey(ctx context.Context) (RekeyReport, error) {
	var rep RekeyReport
	if a.opts.Sealer == nil {
		return rep, wxtoken.Errorf(wxtoken.EConflict,
			"the server has no store encryption key: nothing is sealed under a key it could rotate; set store.encryption_key_env or store.encryption_key_file")
	}
	entries, err := a.opts.Store.ListEntries(ctx)
	if err != nil {
		return rep, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store's entries cannot be listed", Err: err}
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("rekey stopped after %d of %d entries: %w", rep.Resealed+rep.Current+len(rep.Failed), len(entries), err)
		}
		resealed, err := a.rekeyEntry(ctx, e)
		switch {
		case err != nil:
			rep.Failed = append(rep.Failed, Failure{ID: e.ID, Err: err})
			a.log.Error("an entry's secret could not be sealed under the primary key; keep the previous key until it is dealt with",
				"entry", e.ID, "err", err)
		case resealed:
			rep.Resealed++
			if a.opts.Changed != nil {
				a.opts.Changed(ctx, e.ID)
			}
		default:
			rep.Current++
		}
	}
	return rep, nil
}

// rekeyEntry re-seals e's secret, as listed, and reports whether it wrote
// the entry.
func (a *Admin) rekeyEntry(ctx context.Context, e wxtoken.Entry) (bool, error) {
	s := a.opts.Sealer
	for range staleRetries {
		if e.Secret == "" || !s.NeedsRekey(e.Secret) {
			// An entry without a secret depends on no key.
			return false, nil
		}
		plain, err := s.Open(e.Secret, e.ID)
		if err != nil {
			return false, fmt.Errorf("no configured key opens its secret: %w", err)
		}
		sealed, err := s.Seal(plain, e.ID)
		clear(plain)
		if err != nil {
			return false, fmt.Errorf("sealing under the primary key: %w", err)
		}
		next := e
		next.Secret, next.Version = sealed, e.Version+1
		err = a.opts.Store.PutEntry(ctx, next)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, wxtoken.ErrStale) {
			return false, fmt.Errorf("writing the entry: %w", err)
		}
		// Written meanwhile (a new refresh token, a new state): what is
		// stored now is what to look at.
		if e, err = a.opts.Store.GetEntry(ctx, e.ID); err != nil {
			return false, fmt.Errorf("reading the entry again after a concurrent change: %w", err)
		}
	}
	return false, fmt.Errorf("the entry changed %d times while it was being re-sealed", staleRetries)
}
