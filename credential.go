package wxtoken

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Credential is one stored credential: an app's access_token or one of its
// tickets. Records are immutable values; a refresh writes a new record with
// a higher Version.
type Credential struct {
	AppID string `json:"appid"`
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
	// FetchedAt is when wxtoken received the credential from WeChat.
	FetchedAt time.Time `json:"fetched_at"`
	// ExpiresAt is FetchedAt plus the expires_in WeChat answered.
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshAt is the planned time of the next proactive refresh. In
	// classic mode nothing mints a new token before it unless the current
	// one is proven dead, which is what makes handed-out lifetimes safe.
	RefreshAt time.Time `json:"refresh_at"`
	// Version increases with every record written for (AppID, Kind); a
	// store never replaces a record with one of a lower or equal version.
	Version uint64 `json:"version"`
	// TokenVersion is, for a ticket, the Version of the access_token it was
	// fetched with.
	TokenVersion uint64 `json:"token_version,omitempty"`
	// API is, for an access_token, the token API that minted it.
	API TokenAPI `json:"api,omitempty"`
	// CallAttemptAt is, for a ticket, the start of the first ticket call
	// made since this ticket was fetched, zero when there was none or
	// WeChat answered it with an errcode: that call may have replaced the
	// ticket at WeChat, which may end the old one an overlap later. It is
	// written before the call, so that every replica and a restart know.
	CallAttemptAt time.Time `json:"call_attempt_at,omitzero"`
}

// Validate rejects records no refresher should ever write; storing one
// would poison the compare-and-set (version 0) or be unreachable by Get.
// Every Store checks it in Put.
func (c Credential) Validate() error {
	switch {
	case c.AppID == "":
		return errors.New("invalid credential: empty appid")
	case !c.Kind.Valid():
		return fmt.Errorf("invalid credential for %s: unknown kind %q", c.AppID, c.Kind)
	case c.Version == 0:
		return fmt.Errorf("invalid credential %s/%s: version must be at least 1", c.AppID, c.Kind)
	}
	return nil
}

// IsZero reports whether c holds no credential.
func (c Credential) IsZero() bool { return c.Value == "" }

// ValidAt reports whether c is present and not expired at t.
func (c Credential) ValidAt(t time.Time) bool {
	return c.Value != "" && t.Before(c.ExpiresAt)
}

// Ledger is the per-app bookkeeping of upstream token calls that must
// survive a restart: the call count of the current quota day, the
// stable-mode force_refresh budget, the classic calls that may still land,
// and the error policy's hold on the app.
type Ledger struct {
	AppID string `json:"appid"`
	// QuotaDay is the China Standard Time date (2006-01-02) that the
	// counters below belong to.
	QuotaDay string `json:"quota_day"`
	// TokenCalls counts upstream token calls (classic or stable) made in
	// QuotaDay.
	TokenCalls int `json:"token_calls"`
	// ForceRefreshes are the times of stable force_refresh calls in
	// QuotaDay.
	ForceRefreshes []time.Time `json:"force_refreshes,omitempty"`
	// MintAttemptAt is the start of the first token call made after the
	// current access_token was fetched (whether or not it succeeded): in
	// classic mode that call may have replaced the token at WeChat, which
	// then dies an overlap later.
	MintAttemptAt time.Time `json:"mint_attempt_at,omitzero"`
	// LastMintAt is the start of the latest classic token call whose
	// answer is not known, and LastMintBy the replica that made it: a
	// call of a replica that crashed may still reach WeChat until its
	// timeout, and mint after it.
	LastMintAt time.Time `json:"last_mint_at,omitzero"`
	LastMintBy string    `json:"last_mint_by,omitempty"`
	// AbandonedMintAt is the start of the latest classic token call that
	// was given up on without an answer: it timed out or lost its
	// connection, or its replica stopped with it in flight. WeChat may
	// still carry such a call out, killing the token of that moment an
	// overlap later, so the tokens fetched after it are checked for a
	// while (see the README, "A classic call that lands late").
	AbandonedMintAt time.Time `json:"abandoned_mint_at,omitzero"`
	// KilledVersion is the highest access_token Version that a force
	// refresh killed; tickets fetched with it or an older one are refreshed.
	KilledVersion uint64 `json:"killed_version,omitempty"`
	// TokenFailure is the access_token's current upstream failure, kept
	// with the bookkeeping so that every replica sharing the store holds
	// back as the error policy says and reports the same error; nil while
	// the token refreshes fine.
	TokenFailure *Failure `json:"token_failure,omitempty"`
}

// Failure is a credential's run of failed refreshes.
type Failure struct {
	// Count is the number of failures in a row.
	Count int `json:"count"`
	// RetryAt is the earliest time of the next attempt.
	RetryAt time.Time `json:"retry_at"`
	// Blocked says that the error policy holds back every token call of
	// the app until RetryAt, not only this credential's refreshes.
	Blocked bool `json:"blocked,omitempty"`
	// Error is the last failure.
	Error ErrorInfo `json:"error"`
}

// Store errors.
var (
	// ErrNotFound is returned by Store reads when nothing is stored.
	ErrNotFound = errors.New("not found")
	// ErrStale is returned by Store.Put when the stored record has an
	// equal or higher version than the one written.
	ErrStale = errors.New("stale write: a newer record is stored")
)

// Store persists credentials, app bookkeeping and entries (Registry).
// Implementations are safe for concurrent use. Put is a compare-and-set on
// Version, so that an older credential can never overwrite a newer one,
// whichever process writes.
type Store interface {
	Registry
	// Get returns the record for (appID, kind), or ErrNotFound.
	Get(ctx context.Context, appID string, kind Kind) (Credential, error)
	// List returns every stored credential record.
	List(ctx context.Context) ([]Credential, error)
	// Put stores c if nothing is stored for (c.AppID, c.Kind) or the stored
	// record's Version is lower than c.Version; otherwise it returns an
	// error wrapping ErrStale and stores nothing.
	Put(ctx context.Context, c Credential) error
	// GetLedger returns the bookkeeping of appID, or ErrNotFound.
	GetLedger(ctx context.Context, appID string) (Ledger, error)
	// PutLedger stores m, replacing what was stored for m.AppID.
	PutLedger(ctx context.Context, m Ledger) error
	// Close releases the store.
	Close() error
}

// LedgerBatchReader is implemented by a Store that reads the bookkeeping
// of many apps at once more cheaply than with one GetLedger call each (one
// transaction, or a few network round trips, instead of one per app): a
// start with many apps reads them all. Callers check for it with a type
// assertion and fall back to GetLedger.
type LedgerBatchReader interface {
	// GetLedgers returns the bookkeeping of each of appIDs: len(appIDs)
	// entries, the i-th for appIDs[i], as GetLedger would return it. An
	// app with no bookkeeping stored gets the zero Ledger (AppID ""), not
	// an error. The call fails only when the store does, or when a
	// stored record cannot be read, with an error that names it as
	// GetLedger's does; it then returns no ledgers.
	GetLedgers(ctx context.Context, appIDs []string) ([]Ledger, error)
}
