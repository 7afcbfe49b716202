package registry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/config"
)

// errNoKey answers a registration or a new secret when no store
// encryption key is configured.
func errNoKey() error {
	return wxtoken.Errorf(wxtoken.EUnavailable,
		"secrets are kept encrypted in the store, and this server has no store encryption key: set store.encryption_key_env (or store.encryption_key_file) and restart it")
}

func errConfigured(id string) error {
	return wxtoken.Errorf(wxtoken.EConflict, "%s comes from the configuration file; change it there", id)
}

func errNotRegistered(id string) error {
	return wxtoken.Errorf(wxtoken.ENotFound, "%s is not registered", id)
}

func errStore(doing string, err error) error {
	return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store cannot be " + doing, Err: err}
}

// maxSecret bounds a secret: WeChat's AppSecrets are 32 characters and
// WeCom's secrets 43.
const maxSecret = 256

// check validates r as the configuration file's keys are validated and
// returns it completed with its defaults: its family, its token API. The
// secret is checked only when present; messages never quote it.
func check(r wxtoken.Registration) (wxtoken.Registration, wxtoken.Family, error) {
	var fam wxtoken.Family
	switch {
	case r.CorpID != "" || r.AgentID != "":
		fam = wxtoken.FamilyWeCom
		switch {
		case r.AppID != "":
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "give either appid (an app) or corpid and agentid (a WeCom agent), not both")
		case !config.ValidCorpID(r.CorpID):
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, `corpid %q is not valid (want 1 to 64 letters, digits, "_" or "-"; WeCom's are "ww" or "wx" and 16 hex digits)`, clip(r.CorpID))
		case !config.ValidAgentID(r.AgentID):
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, `agentid %q is not valid (want 1 to 64 letters, digits, "_" or "-", such as "1000002" or "contacts")`, clip(r.AgentID))
		}
		switch r.TokenAPI {
		case "":
			r.TokenAPI = wxtoken.TokenAPIWeCom
		case wxtoken.TokenAPIWeCom:
		default:
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "token_api %q: a WeCom agent's token comes from gettoken; leave token_api out", clip(string(r.TokenAPI)))
		}
	default:
		fam = wxtoken.FamilyApp
		if !config.ValidAppID(r.AppID) {
			if r.AppID == "" {
				return r, "", wxtoken.Errorf(wxtoken.EInvalid, "appid is required (or corpid and agentid for a WeCom agent)")
			}
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, `appid %q is not valid (want 1 to 64 letters, digits, "_" or "-"; WeChat's are "wx" and 16 hex digits)`, clip(r.AppID))
		}
		switch r.TokenAPI {
		case "":
			r.TokenAPI = wxtoken.TokenAPIStable
		case wxtoken.TokenAPIStable, wxtoken.TokenAPIClassic:
		default:
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "token_api %q is unknown (want stable or classic)", clip(string(r.TokenAPI)))
		}
	}
	if utf8.RuneCountInString(r.Name) > 64 {
		return r, "", wxtoken.Errorf(wxtoken.EInvalid, "name is longer than 64 characters")
	}
	for i, k := range r.Tickets {
		if _, err := fam.ParseTicket(string(k)); err != nil {
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "tickets[%d]: %v", i, err)
		}
		if slices.Contains(r.Tickets[:i], k) {
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "tickets[%d]: %s is listed twice", i, k)
		}
	}
	if len(r.Tags) > maxTags {
		return r, "", wxtoken.Errorf(wxtoken.EInvalid, "%d tags: at most %d", len(r.Tags), maxTags)
	}
	for i, t := range r.Tags {
		if !config.ValidTag(t) {
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, `tags[%d]: %q is not a valid tag (want 1 to 64 letters, digits, ".", "_" or "-")`, i, clip(t))
		}
		if slices.Contains(r.Tags[:i], t) {
			return r, "", wxtoken.Errorf(wxtoken.EInvalid, "tags[%d]: %s is listed twice", i, t)
		}
	}
	if r.Secret != "" && (len(r.Secret) > maxSecret || strings.IndexFunc(r.Secret, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0) {
		return r, "", wxtoken.Errorf(wxtoken.EInvalid, "secret is not a secret WeChat issues (at most %d characters, no spaces or control characters)", maxSecret)
	}
	return r, fam, nil
}

// clip shortens what a caller sent for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// clash reports why the id of r cannot be registered beside the
// configuration and the held entries, whose grants by name must stay
// unambiguous; nil when it can. The caller holds mu.
func (m *Manager) clash(r wxtoken.Registration, fam wxtoken.Family) error {
	id := r.ID()
	if m.isConfigured(id) {
		return errConfigured(id)
	}
	if fam == wxtoken.FamilyApp {
		if m.configured.Load().corps[id] {
			return wxtoken.Errorf(wxtoken.EConflict, "%s is a configured WeCom corpid: a client grant of it could not tell the two apart", id)
		}
		for hid := range m.held {
			if f, corp, _ := wxtoken.ParseID(hid); f == wxtoken.FamilyWeCom && corp == id {
				return wxtoken.Errorf(wxtoken.EConflict, "%s is the corpid of the registered WeCom agent %s: a client grant of it could not tell the two apart", id, hid)
			}
		}
		return nil
	}
	if m.isConfigured(r.CorpID) {
		return wxtoken.Errorf(wxtoken.EConflict, "corpid %s is configured as an app or a platform: a client grant of it could not tell the two apart", r.CorpID)
	}
	if m.held[r.CorpID] != nil {
		return wxtoken.Errorf(wxtoken.EConflict, "corpid %s is registered as an app: a client grant of it could not tell the two apart", r.CorpID)
	}
	return nil
}

// Register implements wxtoken.Registrar. The entry is stored, its secret
// sealed, before the engine keeps it; the answer comes once its
// access_token has been fetched once (or failed to be), so that it shows
// whether WeChat took the secret.
func (m *Manager) Register(ctx context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
	r, fam, err := check(r)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	if r.Secret == "" {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EInvalid, "secret is required to register")
	}
	if m.opts.Sealer == nil {
		return wxtoken.Registered{}, errNoKey()
	}
	id := r.ID()
	sealed, err := m.opts.Sealer.Seal([]byte(r.Secret), id)
	if err != nil {
		return wxtoken.Registered{}, &wxtoken.Error{Code: wxtoken.EInternal, Message: "the secret cannot be sealed", Err: err}
	}
	e, err := m.register(ctx, r, fam, sealed)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	m.log.Info("an entry was registered", "id", id, "family", string(fam))
	// A first fetch, outside mu: it may wait for WeChat. Its failure is
	// in the answer's credentials.
	if _, err := m.opts.Engine.Credential(ctx, id, wxtoken.KindAccessToken); err != nil {
		m.log.Warn("a registered entry's first access_token failed", "id", id, "err", err)
	}
	return m.answer(ctx, e), nil
}

// register stores the new entry and has the engine keep it.
func (m *Manager) register(ctx context.Context, r wxtoken.Registration, fam wxtoken.Family, sealed string) (wxtoken.Entry, error) {
	id := r.ID()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.clash(r, fam); err != nil {
		return wxtoken.Entry{}, err
	}
	now := m.opts.Now()
	e := wxtoken.Entry{ID: id, Family: fam, Name: r.Name, Secret: sealed, TokenAPI: r.TokenAPI,
		Tickets: slices.Clone(r.Tickets), Tags: slices.Clone(r.Tags), State: wxtoken.EntryActive,
		CreatedAt: now, UpdatedAt: now, Version: 1}
	switch cur, err := m.opts.Store.GetEntry(ctx, id); {
	case err == nil:
		if cur.State != wxtoken.EntryRemoved || cur.Family != fam {
			return wxtoken.Entry{}, wxtoken.Errorf(wxtoken.EConflict, "%s is registered already: change it instead", id)
		}
		e.Version = cur.Version + 1 // registered again after its removal
	case !errors.Is(err, wxtoken.ErrNotFound):
		return wxtoken.Entry{}, errStore("read", err)
	}
	if err := m.opts.Store.PutEntry(ctx, e); err != nil {
		if errors.Is(err, wxtoken.ErrStale) {
			return wxtoken.Entry{}, wxtoken.Errorf(wxtoken.EConflict, "%s was registered at the same moment elsewhere", id)
		}
		return wxtoken.Entry{}, errStore("written", err)
	}
	if err := m.keep(ctx, e); err != nil {
		// Stored but not kept: the record says so, so that no replica
		// serves what this one could not.
		m.unstore(ctx, e, "it could not be kept: "+wxtoken.ErrorMessage(err))
		if wxtoken.ErrorCode(err) == wxtoken.EInternal {
			return wxtoken.Entry{}, &wxtoken.Error{Code: wxtoken.EInvalid, Message: "the registration cannot be kept", Err: err}
		}
		return wxtoken.Entry{}, err
	}
	return e, nil
}

// unstore marks the stored entry e removed with the note why, after a
// failure to keep it; a failure to write is only logged.
func (m *Manager) unstore(ctx context.Context, e wxtoken.Entry, why string) {
	e.State, e.Version, e.UpdatedAt, e.Note = wxtoken.EntryRemoved, e.Version+1, m.opts.Now(), why
	if err := m.opts.Store.PutEntry(ctx, e); err != nil {
		m.log.Error("marking an entry that could not be kept as removed failed", "id", e.ID, "err", err)
	}
}

// Change implements wxtoken.Registrar. The body replaces the entry's
// name, token API, tickets and tags; an empty secret keeps the stored
// one. A new secret is used from the next fetch (and at once by the
// credentials its predecessor failed); a changed token API or tickets
// list has the engine keep the entry anew, with its stored credentials
// and no upstream call for a token still valid.
func (m *Manager) Change(ctx context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
	if m.isConfigured(id) {
		return wxtoken.Registered{}, errConfigured(id)
	}
	fam, first, second := wxtoken.ParseID(id)
	switch {
	case fam == wxtoken.FamilyWeCom && r.AppID == "" && r.CorpID == "" && r.AgentID == "":
		r.CorpID, r.AgentID = first, second
	case fam == wxtoken.FamilyApp && r.AppID == "" && r.CorpID == "" && r.AgentID == "":
		r.AppID = id
	}
	r, _, err := check(r)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	if r.ID() != id {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EInvalid, "the body names %s, not %s: an id cannot be changed", clip(r.ID()), clip(id))
	}
	var sealed string
	if r.Secret != "" {
		if m.opts.Sealer == nil {
			return wxtoken.Registered{}, errNoKey()
		}
		if sealed, err = m.opts.Sealer.Seal([]byte(r.Secret), id); err != nil {
			return wxtoken.Registered{}, &wxtoken.Error{Code: wxtoken.EInternal, Message: "the secret cannot be sealed", Err: err}
		}
	}
	e, err := m.change(ctx, id, r, sealed)
	if err != nil {
		return wxtoken.Registered{}, err
	}
	m.log.Info("a registered entry was changed", "id", id, "new_secret", sealed != "")
	return m.answer(ctx, e), nil
}

func (m *Manager) change(ctx context.Context, id string, r wxtoken.Registration, sealed string) (wxtoken.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, err := m.opts.Store.GetEntry(ctx, id)
	switch {
	case errors.Is(err, wxtoken.ErrNotFound):
		return wxtoken.Entry{}, errNotRegistered(id)
	case err != nil:
		return wxtoken.Entry{}, errStore("read", err)
	case !ours(cur) || cur.State != wxtoken.EntryActive:
		return wxtoken.Entry{}, errNotRegistered(id)
	}
	e := cur
	e.Name, e.TokenAPI, e.Tickets, e.Tags = r.Name, r.TokenAPI, slices.Clone(r.Tickets), slices.Clone(r.Tags)
	if sealed != "" {
		e.Secret = sealed
	}
	e.Version, e.UpdatedAt, e.Note = cur.Version+1, m.opts.Now(), ""
	h := m.held[id]
	anew := h == nil || !sameKeeping(*h.e.Load(), e)
	if anew && h != nil {
		// Dropped first: a WeCom agent the engine cannot let go of (it
		// holds its corp's jsapi ticket for others) is refused before
		// anything is written.
		if err := m.drop(id); err != nil {
			return wxtoken.Entry{}, err
		}
	}
	if err := m.opts.Store.PutEntry(ctx, e); err != nil {
		if anew && h != nil {
			m.rekeep(ctx, *h.e.Load())
		}
		if errors.Is(err, wxtoken.ErrStale) {
			return wxtoken.Entry{}, wxtoken.Errorf(wxtoken.EConflict, "%s was changed at the same moment elsewhere: read it and try again", id)
		}
		return wxtoken.Entry{}, errStore("written", err)
	}
	if !anew {
		h.e.Store(&e)
		m.setTags(e)
		if sealed != "" {
			m.retry(ctx, id)
		}
		return e, nil
	}
	if m.opts.Sealer == nil {
		return e, nil // stored; served once a key is configured
	}
	if err := m.keep(ctx, e); err != nil {
		return wxtoken.Entry{}, &wxtoken.Error{Code: wxtoken.EInternal, Message: "the change is stored but not applied", Err: err}
	}
	return e, nil
}

// rekeep has the engine keep again the entry it was keeping before a
// change failed to be stored; a failure is only logged.
func (m *Manager) rekeep(ctx context.Context, e wxtoken.Entry) {
	if err := m.keep(ctx, e); err != nil {
		m.log.Error("a registered entry is no longer served after a failed change", "id", e.ID, "err", err)
	}
}

// Unregister implements wxtoken.Registrar. The engine lets go of the entry
// first, so that an agent it must keep (its corp's jsapi ticket holder
// for other agents) is refused with nothing written; then the record is
// stored as removed.
func (m *Manager) Unregister(ctx context.Context, id string) error {
	if m.isConfigured(id) {
		return errConfigured(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, err := m.opts.Store.GetEntry(ctx, id)
	switch {
	case errors.Is(err, wxtoken.ErrNotFound):
		return errNotRegistered(id)
	case err != nil:
		return errStore("read", err)
	case !ours(cur) || cur.State != wxtoken.EntryActive:
		return errNotRegistered(id)
	}
	h := m.held[id]
	if err := m.drop(id); err != nil {
		return err
	}
	now := m.opts.Now()
	e := cur
	e.State, e.Version, e.UpdatedAt = wxtoken.EntryRemoved, cur.Version+1, now
	e.Note = "unregistered at " + now.UTC().Format(time.RFC3339)
	if err := m.opts.Store.PutEntry(ctx, e); err != nil {
		if h != nil {
			m.rekeep(ctx, *h.e.Load())
		}
		if errors.Is(err, wxtoken.ErrStale) {
			return wxtoken.Errorf(wxtoken.EConflict, "%s was changed at the same moment elsewhere: try again", id)
		}
		return errStore("written", err)
	}
	m.log.Info("an entry was unregistered", "id", id)
	return nil
}

var _ wxtoken.Registrar = (*Manager)(nil)
