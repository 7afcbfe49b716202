// Package registry keeps the apps and WeCom agents registered through the
// admin API while the server runs: it implements wxtoken.Registrar over
// the store's entries and the refresh engine.
//
// A registered app or agent is a wxtoken.Entry of FamilyApp or
// FamilyWeCom under its id (the appid, or the agent's wxtoken.WeComID).
// Its secret is sealed (package seal, the id as associated data) before it
// is stored, and the entry is stored durably before the engine relies on
// it. An entry is never deleted: an unregistered one stays as
// wxtoken.EntryRemoved, so that every replica learns of the removal.
// Entries of the configuration file are not the registry's: it refuses to
// register, change or remove them, and skips a stored entry whose id the
// configuration has taken since.
//
// Tags of the active entries are kept in memory for the key ring (Tags),
// where a grant "tag:T" covers every entry tagged T.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/seal"
)

// Engine is the part of *refresh.Engine the registry uses.
type Engine interface {
	Add(ctx context.Context, c refresh.AppConfig) error
	Remove(id string) error
	RetryNow(ctx context.Context, id string) error
	Credential(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error)
	Status(ctx context.Context) []wxtoken.AppStatus
	StatusOf(ctx context.Context, id string) (wxtoken.AppStatus, bool)
}

// Options configure a Manager.
type Options struct {
	// Store keeps the entries. Required.
	Store wxtoken.Registry
	// Engine keeps the credentials of the active entries. Required.
	Engine Engine
	// Sealer seals the registered secrets. Nil refuses every registration
	// and every new secret (they are never stored in plaintext), and
	// serves no stored entry, whose secret it could not open.
	Sealer *seal.Sealer
	// Configured are the ids the configuration file keeps: appids, WeCom
	// agents' WeComIDs and component_appids. They cannot be registered,
	// and neither can an app whose appid is a configured corpid, nor an
	// agent whose corpid is a configured appid or component_appid, which
	// a client grant could not tell apart.
	Configured []string
	// Now is the clock of the entries' times; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Manager implements wxtoken.Registrar. It is safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	// configured are the configuration's ids and corpids, replaced
	// whole by SetConfigured when the configuration is reloaded.
	configured atomic.Pointer[configuredIDs]

	// mu orders every change of the held entries: the registrar's
	// methods, Start and Sync.
	mu   sync.Mutex
	held map[string]*holder
	// tags are the tags of the held entries, by id, read without mu by
	// the key ring on every request a tag grant decides.
	tags sync.Map // string -> []string
}

// holder is a registered entry the engine keeps: its entry as last
// stored, whose sealed secret the engine's Secret function opens.
type holder struct {
	m *Manager
	e atomic.Pointer[wxtoken.Entry]
}

// maxTags bounds the tags of an entry.
const maxTags = 32

// New returns a Manager. Call Start, once the engine has started, to
// have the engine keep the stored entries.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Engine == nil {
		return nil, errors.New("registry: a Store and an Engine are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, log: opts.Logger, held: map[string]*holder{}}
	m.SetConfigured(opts.Configured)
	return m, nil
}

// configuredIDs are the ids the configuration keeps, and its corpids.
type configuredIDs struct{ ids, corps map[string]bool }

// SetConfigured replaces the ids the configuration keeps (as
// Options.Configured), after a reload: those become read-only here, and
// those no longer configured may be registered.
func (m *Manager) SetConfigured(ids []string) {
	c := &configuredIDs{ids: make(map[string]bool, len(ids)), corps: map[string]bool{}}
	for _, id := range ids {
		c.ids[id] = true
		if f, corp, _ := wxtoken.ParseID(id); f == wxtoken.FamilyWeCom {
			c.corps[corp] = true
		}
	}
	m.configured.Store(c)
}

// isConfigured reports whether the configuration keeps id.
func (m *Manager) isConfigured(id string) bool { return m.configured.Load().ids[id] }

// ours reports whether e is an entry of the registry's families.
func ours(e wxtoken.Entry) bool {
	return e.Family == wxtoken.FamilyApp || e.Family == wxtoken.FamilyWeCom
}

// Start has the engine keep every active registered entry in the store.
// One whose id the configuration now holds is skipped with a warning: the
// configuration wins, and the entry stays in the store untouched.
func (m *Manager) Start(ctx context.Context) error {
	entries, err := m.opts.Store.ListEntries(ctx)
	if err != nil {
		return fmt.Errorf("registry: reading the registered entries: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	kept, unsealed := 0, 0
	for _, e := range entries {
		if !ours(e) || e.State != wxtoken.EntryActive {
			continue
		}
		if m.isConfigured(e.ID) {
			m.log.Warn("a registered entry is skipped: the configuration file now holds its id", "id", e.ID)
			continue
		}
		if m.opts.Sealer == nil {
			unsealed++
			continue
		}
		if m.held[e.ID] != nil {
			continue // followed already, from the shared store's feed
		}
		if err := m.keep(ctx, e); err != nil {
			m.log.Error("a registered entry cannot be kept", "id", e.ID, "err", err)
			continue
		}
		kept++
	}
	if unsealed > 0 {
		m.log.Error("registered entries are not served: their secrets are sealed and no store encryption key is configured; set store.encryption_key_env or store.encryption_key_file",
			"count", unsealed)
	}
	if kept > 0 {
		m.log.Info("registered entries loaded from the store", "count", kept)
	}
	return nil
}

// Sync brings the engine in line with the stored entry id, which another
// replica may have written: a new entry is kept, a removed one dropped, a
// new secret used from the next fetch, a changed token API or tickets
// list applied. Entries of other families, and ids the configuration
// holds, are left alone.
func (m *Manager) Sync(ctx context.Context, id string) error {
	e, err := m.opts.Store.GetEntry(ctx, id)
	if err != nil {
		return fmt.Errorf("registry: reading %s: %w", id, err)
	}
	if !ours(e) || m.isConfigured(id) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.held[id]
	if h != nil && h.e.Load().Version >= e.Version {
		return nil // this replica's own write, or an older one
	}
	if e.State != wxtoken.EntryActive {
		if h == nil {
			return nil
		}
		return m.drop(id)
	}
	if m.opts.Sealer == nil {
		m.log.Error("a registered entry is not served: no store encryption key is configured to open its secret", "id", id)
		return nil
	}
	if h == nil {
		return m.keep(ctx, e)
	}
	old := h.e.Load()
	if !sameKeeping(*old, e) {
		if err := m.drop(id); err != nil {
			return err
		}
		return m.keep(ctx, e)
	}
	h.e.Store(&e)
	m.setTags(e)
	if e.Secret != old.Secret {
		m.retry(ctx, id)
	}
	return nil
}

// sameKeeping reports whether the engine keeps a and b alike: the same
// token API and tickets, the secret aside.
func sameKeeping(a, b wxtoken.Entry) bool {
	return a.TokenAPI == b.TokenAPI && sameKinds(a.Tickets, b.Tickets)
}

func sameKinds(a, b []wxtoken.Kind) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	return true
}

// keep has the engine keep the active entry e. The caller holds mu.
func (m *Manager) keep(ctx context.Context, e wxtoken.Entry) error {
	h := &holder{m: m}
	h.e.Store(&e)
	err := m.opts.Engine.Add(ctx, refresh.AppConfig{
		AppID: e.ID, Family: e.Family, Name: e.Name, Secret: h.secret, TokenAPI: e.TokenAPI, Tickets: e.Tickets,
	})
	if err != nil {
		return err
	}
	m.held[e.ID] = h
	m.setTags(e)
	return nil
}

// drop stops serving the entry id; a WeCom agent that holds its corp's
// jsapi ticket for other agents is refused (EConflict) and kept. The
// caller holds mu.
func (m *Manager) drop(id string) error {
	if err := m.opts.Engine.Remove(id); err != nil && wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		return err
	}
	delete(m.held, id)
	m.tags.Delete(id)
	return nil
}

// retry has the engine try id's failed credentials again at once, with
// a new secret: the hold of a refused one is lifted.
func (m *Manager) retry(ctx context.Context, id string) {
	if err := m.opts.Engine.RetryNow(ctx, id); err != nil {
		m.log.Warn("trying a registered entry again with its new secret failed", "id", id, "err", err)
	}
}

// setTags records the tags of the held entry e for the key ring.
func (m *Manager) setTags(e wxtoken.Entry) {
	if len(e.Tags) == 0 {
		m.tags.Delete(e.ID)
		return
	}
	m.tags.Store(e.ID, slices.Clip(slices.Clone(e.Tags)))
}

// Tags returns the tags of the active registered entry id, nil for any
// other id: the key ring's lookup for grants "tag:T"
// (clientkey.TagLookup). The slice must not be changed.
func (m *Manager) Tags(id string) []string {
	if v, ok := m.tags.Load(id); ok {
		return v.([]string)
	}
	return nil
}

// secret opens the entry's secret; "" when it cannot be opened (the key
// that sealed it is not configured), which WeChat then refuses as a wrong
// secret, and status says so.
func (h *holder) secret() string {
	e := h.e.Load()
	if h.m.opts.Sealer == nil {
		return ""
	}
	b, err := h.m.opts.Sealer.Open(e.Secret, e.ID)
	if err != nil {
		h.m.log.Error("a registered secret cannot be opened with the configured keys", "id", e.ID, "err", err)
		return ""
	}
	return string(b)
}

// Registrations implements wxtoken.Registrar.
func (m *Manager) Registrations(ctx context.Context, family wxtoken.Family) ([]wxtoken.Registered, error) {
	if family != "" && family != wxtoken.FamilyApp && family != wxtoken.FamilyWeCom {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "family %q: only apps and WeCom agents are registered", family)
	}
	entries, err := m.opts.Store.ListEntries(ctx)
	if err != nil {
		return nil, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store cannot be read", Err: err}
	}
	var creds map[string][]wxtoken.CredentialStatus
	out := []wxtoken.Registered{}
	for _, e := range entries {
		if !ours(e) || (family != "" && e.Family != family) {
			continue
		}
		if creds == nil {
			creds = map[string][]wxtoken.CredentialStatus{}
			for _, st := range m.opts.Engine.Status(ctx) {
				if st.Family == wxtoken.FamilyApp || st.Family == wxtoken.FamilyWeCom {
					creds[st.AppID] = st.Credentials
				}
			}
		}
		out = append(out, m.registered(e, creds[e.ID]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// answer is the Registered of e, with the credentials the engine keeps
// for it now.
func (m *Manager) answer(ctx context.Context, e wxtoken.Entry) wxtoken.Registered {
	var creds []wxtoken.CredentialStatus
	if e.State == wxtoken.EntryActive {
		if st, ok := m.opts.Engine.StatusOf(ctx, e.ID); ok {
			creds = st.Credentials
		}
	}
	return m.registered(e, creds)
}

// registered is e as answered: never its secret. Credentials are shown
// only for an active entry.
func (m *Manager) registered(e wxtoken.Entry, creds []wxtoken.CredentialStatus) wxtoken.Registered {
	r := wxtoken.Registered{ID: e.ID, Family: e.Family, Name: e.Name, TokenAPI: e.TokenAPI,
		Tickets: slices.Clone(e.Tickets), Tags: slices.Clone(e.Tags), State: e.State,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Credentials: creds}
	if e.Family == wxtoken.FamilyWeCom {
		_, r.CorpID, r.AgentID = wxtoken.ParseID(e.ID)
	} else {
		r.AppID = e.ID
	}
	if e.State != wxtoken.EntryActive {
		r.Credentials = nil
	}
	if r.Tickets == nil {
		r.Tickets = []wxtoken.Kind{}
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	if r.Credentials == nil {
		r.Credentials = []wxtoken.CredentialStatus{}
	}
	return r
}
