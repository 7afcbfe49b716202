// Package platform serves the open platform's third-party platforms
// (第三方平台): it checks and acts on WeChat's pushes to a platform's
// authorization event URL, exchanges authorization codes, imports
// authorizers from other systems, and keeps every authorizer of every
// platform in the store and in the refresh engine.
//
// An authorizer is a wxtoken.Entry of FamilyAuthorizer under its
// wxtoken.AuthorizerID. Its authorizer_refresh_token, which WeChat hands
// out once and which is needed for every later token, is sealed (package
// seal) before it is stored, and stored durably before anything relies on
// it; a new one replaces the old only once written. The entry is never
// deleted: an account that cancels its authorization, or whose refresh
// token WeChat refuses, keeps its record with the state that says so.
//
// The component_access_token itself is kept by the engine (FamilyComponent,
// under the component_appid) with the latest verify ticket, which the
// events endpoint stores as a credential of kind wxtoken.KindVerifyTicket
// where every replica finds it.
package platform

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/seal"
	"github.com/wxtoken/wxtoken/wechat"
)

// Config is one configured platform.
type Config struct {
	ComponentAppID string
	Name           string
	// Secret returns the component secret.
	Secret func() string
	// Crypter checks and decrypts the platform's pushes.
	Crypter *msgcrypt.Crypter
	// Tickets are kept for every authorizer besides its access_token.
	Tickets []wxtoken.Kind
}

// Engine is the part of *refresh.Engine the platforms use.
type Engine interface {
	Credential(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error)
	Status(ctx context.Context) []wxtoken.AppStatus
	StatusOf(ctx context.Context, id string) (wxtoken.AppStatus, bool)
	Add(ctx context.Context, c refresh.AppConfig) error
	Remove(id string) error
	RetryNow(ctx context.Context, id string) error
}

// Upstream is the part of *wechat.Client the platforms use.
type Upstream interface {
	PreAuthCode(ctx context.Context, componentToken, componentAppID string) (string, time.Duration, error)
	QueryAuth(ctx context.Context, componentToken, componentAppID, authCode string) (wechat.Authorization, error)
}

// Options configure a Manager.
type Options struct {
	Platforms []Config
	Store     wxtoken.Store
	Engine    Engine
	Upstream  Upstream
	// Sealer seals refresh tokens; required.
	Sealer *seal.Sealer
	Now    func() time.Time
	Logger *slog.Logger
	// LoginPage is WeChat's authorization page; default
	// https://mp.weixin.qq.com/cgi-bin/componentloginpage.
	LoginPage string
}

// verifyTicketLife is how long WeChat accepts a verify ticket.
const verifyTicketLife = 12 * time.Hour

// Manager implements wxtoken.Platforms.
type Manager struct {
	opts      Options
	log       *slog.Logger
	platforms map[string]*Config

	// mu guards held and orders the writes of one authorizer's entry.
	mu   sync.Mutex
	held map[string]*holder
}

// holder is an authorizer the engine keeps: its entry as last stored,
// whose sealed secret the engine's Secret function opens.
type holder struct {
	m  *Manager
	mu sync.Mutex
	e  wxtoken.Entry
}

// New returns a Manager. Call Start to have the engine keep the stored
// authorizers.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Engine == nil || opts.Upstream == nil || opts.Sealer == nil {
		return nil, errors.New("platform: a Store, an Engine, an Upstream and a Sealer are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LoginPage == "" {
		opts.LoginPage = "https://mp.weixin.qq.com/cgi-bin/componentloginpage"
	}
	m := &Manager{opts: opts, log: opts.Logger, platforms: map[string]*Config{}, held: map[string]*holder{}}
	for i := range opts.Platforms {
		p := &opts.Platforms[i]
		if p.ComponentAppID == "" || p.Secret == nil || p.Crypter == nil {
			return nil, fmt.Errorf("platform %q: a component_appid, a secret and a crypter are required", p.ComponentAppID)
		}
		m.platforms[p.ComponentAppID] = p
	}
	return m, nil
}

// Start has the engine keep every stored authorizer of a configured
// platform that is still served; those of a platform no longer configured
// stay in the store, untouched.
func (m *Manager) Start(ctx context.Context) error {
	entries, err := m.opts.Store.ListEntries(ctx)
	if err != nil {
		return fmt.Errorf("platform: reading the authorizers: %w", err)
	}
	kept := 0
	for _, e := range entries {
		if e.Family != wxtoken.FamilyAuthorizer || e.State == wxtoken.EntryRemoved {
			continue
		}
		_, comp, _ := wxtoken.ParseID(e.ID)
		if m.platforms[comp] == nil {
			continue
		}
		if err := m.keep(ctx, e, 0); err != nil {
			return err
		}
		kept++
	}
	if kept > 0 {
		m.log.Info("authorizers loaded from the store", "count", kept)
	}
	return nil
}

// followGrace is how long a replica that learns of an authorizer from
// another one waits for the credentials that replica writes before it
// fetches them itself: the replica that took the authorization stores the
// account's first token a moment after the entry, and a fetch here in
// between would mint a second token, ending the first.
const followGrace = 5 * time.Second

// Follow is Sync for a change another replica wrote to the shared store:
// credentials not stored yet are fetched only after followGrace, unless a
// caller asks for them first.
func (m *Manager) Follow(ctx context.Context, id string) error { return m.sync(ctx, id, followGrace) }

// Sync brings the engine in line with the stored entry id: a new
// authorizer is kept, a removed one dropped, a new refresh token used from
// the next fetch.
func (m *Manager) Sync(ctx context.Context, id string) error { return m.sync(ctx, id, 0) }

func (m *Manager) sync(ctx context.Context, id string, grace time.Duration) error {
	e, err := m.opts.Store.GetEntry(ctx, id)
	if err != nil {
		return fmt.Errorf("platform: reading %s: %w", id, err)
	}
	if e.Family != wxtoken.FamilyAuthorizer {
		return nil
	}
	_, comp, _ := wxtoken.ParseID(e.ID)
	if m.platforms[comp] == nil {
		return nil
	}
	if e.State == wxtoken.EntryRemoved {
		m.drop(e.ID)
		return nil
	}
	return m.keep(ctx, e, grace)
}

// keep has the engine keep the authorizer e, or updates the entry of one
// it keeps (its refresh token, its state). A credential the store does not
// hold yet is first fetched after grace (see refresh.AppConfig).
func (m *Manager) keep(ctx context.Context, e wxtoken.Entry, grace time.Duration) error {
	m.mu.Lock()
	h := m.held[e.ID]
	if h != nil {
		h.mu.Lock()
		if e.Version > h.e.Version {
			h.e = e
		}
		h.mu.Unlock()
		m.mu.Unlock()
		return nil
	}
	h = &holder{m: m, e: e}
	m.held[e.ID] = h
	m.mu.Unlock()
	_, comp, _ := wxtoken.ParseID(e.ID)
	err := m.opts.Engine.Add(ctx, refresh.AppConfig{
		AppID: e.ID, Family: wxtoken.FamilyAuthorizer, Name: e.Name, Secret: h.secret,
		Tickets: m.platforms[comp].Tickets, Owner: h, FirstFetchAfter: grace,
	})
	if err != nil && wxtoken.ErrorCode(err) != wxtoken.EConflict {
		m.mu.Lock()
		delete(m.held, e.ID)
		m.mu.Unlock()
		return fmt.Errorf("platform: keeping %s: %w", e.ID, err)
	}
	return nil
}

// drop stops serving the authorizer id.
func (m *Manager) drop(id string) {
	m.mu.Lock()
	delete(m.held, id)
	m.mu.Unlock()
	if err := m.opts.Engine.Remove(id); err != nil && wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		m.log.Warn("no longer serving an authorizer failed", "authorizer", id, "err", err)
	}
}

// secret opens the authorizer's refresh token; "" when it cannot be
// opened (the key that sealed it is not configured), which WeChat then
// refuses as it would a lost one.
func (h *holder) secret() string {
	h.mu.Lock()
	sealed, id := h.e.Secret, h.e.ID
	h.mu.Unlock()
	b, err := h.m.opts.Sealer.Open(sealed, id)
	if err != nil {
		h.m.log.Error("the authorizer's refresh token cannot be opened with the configured keys", "authorizer", id, "err", err)
		return ""
	}
	return string(b)
}

// Rotated implements refresh.SecretOwner: the new refresh token is stored
// before the token it came with is installed.
func (h *holder) Rotated(ctx context.Context, secret string) error {
	return h.update(ctx, func(e *wxtoken.Entry) error {
		sealed, err := h.m.opts.Sealer.Seal([]byte(secret), e.ID)
		if err != nil {
			return err
		}
		e.Secret = sealed
		return nil
	})
}

// Refused implements refresh.SecretOwner: WeChat refused the refresh
// token for good, so the account must authorize the platform again. The
// record stays, marked.
func (h *holder) Refused(ctx context.Context, info wxtoken.ErrorInfo) {
	err := h.update(ctx, func(e *wxtoken.Entry) error {
		e.State = wxtoken.EntryReauthorize
		e.Note = fmt.Sprintf("WeChat refused the refresh token (%d) at %s: the account must authorize the platform again",
			info.ErrCode, info.At.UTC().Format(time.RFC3339))
		return nil
	})
	if err != nil {
		h.m.log.Error("marking an authorizer as needing authorization again failed", "authorizer", h.e.ID, "err", err)
		return
	}
	h.m.log.Error("an account must authorize the platform again: WeChat refused its refresh token", "authorizer", h.e.ID, "errcode", info.ErrCode)
}

// update writes the held entry changed by fn, retrying on a newer stored
// version.
func (h *holder) update(ctx context.Context, fn func(*wxtoken.Entry) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range 5 {
		e := h.e
		if err := fn(&e); err != nil {
			return err
		}
		e.Version++
		e.UpdatedAt = h.m.opts.Now()
		err := h.m.opts.Store.PutEntry(ctx, e)
		if err == nil {
			h.e = e
			return nil
		}
		if !errors.Is(err, wxtoken.ErrStale) {
			return err
		}
		stored, gerr := h.m.opts.Store.GetEntry(ctx, e.ID)
		if gerr != nil {
			return gerr
		}
		h.e = stored
	}
	return fmt.Errorf("platform: %s changed too often to be written", h.e.ID)
}

// platform returns the configured platform c.
func (m *Manager) platform(c string) (*Config, error) {
	if p := m.platforms[c]; p != nil {
		return p, nil
	}
	return nil, wxtoken.Errorf(wxtoken.ENotFound, "platform %s is not configured", c)
}

// event is the decrypted body of a push.
type event struct {
	AppID                        string `xml:"AppId"`
	CreateTime                   int64  `xml:"CreateTime"`
	InfoType                     string `xml:"InfoType"`
	ComponentVerifyTicket        string `xml:"ComponentVerifyTicket"`
	AuthorizerAppID              string `xml:"AuthorizerAppid"`
	AuthorizationCode            string `xml:"AuthorizationCode"`
	AuthorizationCodeExpiredTime int64  `xml:"AuthorizationCodeExpiredTime"`
}

// Event implements wxtoken.Platforms.
func (m *Manager) Event(ctx context.Context, componentAppID string, p wxtoken.Push) error {
	pf, err := m.platform(componentAppID)
	if err != nil {
		return err
	}
	if p.EncryptType != "" && p.EncryptType != "aes" {
		return wxtoken.Errorf(wxtoken.EInvalid, "encrypt_type %q: only aes pushes are taken", p.EncryptType)
	}
	appID, encrypt, err := msgcrypt.ParseEnvelope(p.Body)
	if err != nil {
		return &wxtoken.Error{Code: wxtoken.EInvalid, Message: "the push is not WeChat's encrypted envelope", Err: err}
	}
	if appID != "" && appID != componentAppID {
		return wxtoken.Errorf(wxtoken.EInvalid, "the push is addressed to %s, not this platform", appID)
	}
	plain, err := pf.Crypter.Decrypt(p.MsgSignature, p.Timestamp, p.Nonce, encrypt)
	if err != nil {
		return &wxtoken.Error{Code: wxtoken.EInvalid, Message: "the push failed WeChat's message checks", Err: err}
	}
	var ev event
	if err := xml.Unmarshal(plain, &ev); err != nil {
		return &wxtoken.Error{Code: wxtoken.EInvalid, Message: "the decrypted push is not XML", Err: err}
	}
	if ev.AppID != "" && ev.AppID != componentAppID {
		return wxtoken.Errorf(wxtoken.EInvalid, "the decrypted push names platform %s", ev.AppID)
	}
	switch ev.InfoType {
	case "component_verify_ticket":
		if ev.ComponentVerifyTicket == "" {
			return wxtoken.Errorf(wxtoken.EInvalid, "a component_verify_ticket push without a ticket")
		}
		return m.storeVerifyTicket(ctx, componentAppID, ev.ComponentVerifyTicket)
	case "authorized", "updateauthorized":
		if ev.AuthorizationCode == "" {
			return wxtoken.Errorf(wxtoken.EInvalid, "an %s push without an AuthorizationCode", ev.InfoType)
		}
		_, err := m.authorize(ctx, componentAppID, ev.AuthorizationCode, ev.InfoType)
		return err
	case "unauthorized":
		if ev.AuthorizerAppID == "" {
			return wxtoken.Errorf(wxtoken.EInvalid, "an unauthorized push without an AuthorizerAppid")
		}
		return m.unauthorize(ctx, componentAppID, ev.AuthorizerAppID)
	default:
		// A push of a kind wxtoken does not act on: taken, so that WeChat
		// does not send it again.
		m.log.Info("a platform push of a kind not acted on", "component_appid", componentAppID, "info_type", ev.InfoType)
		return nil
	}
}

// storeVerifyTicket keeps ticket as the platform's latest verify ticket
// and, if the platform has no token to serve, has the engine try now.
func (m *Manager) storeVerifyTicket(ctx context.Context, c, ticket string) error {
	now := m.opts.Now()
	for range 5 {
		var version uint64 = 1
		cur, err := m.opts.Store.Get(ctx, c, wxtoken.KindVerifyTicket)
		switch {
		case err == nil:
			if cur.Value == ticket {
				return nil // the same push again
			}
			version = cur.Version + 1
		case !errors.Is(err, wxtoken.ErrNotFound):
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store cannot be read", Err: err}
		}
		err = m.opts.Store.Put(ctx, wxtoken.Credential{AppID: c, Kind: wxtoken.KindVerifyTicket, Value: ticket,
			FetchedAt: now, ExpiresAt: now.Add(verifyTicketLife), Version: version})
		if errors.Is(err, wxtoken.ErrStale) {
			continue // another replica stored a push at the same moment
		}
		if err != nil {
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the verify ticket cannot be stored", Err: err}
		}
		m.log.Debug("component_verify_ticket stored", "component_appid", c)
		if _, err := m.opts.Engine.Credential(ctx, c, wxtoken.KindAccessToken); err != nil {
			// Fetched in the background with the new ticket, at once.
			if rerr := m.opts.Engine.RetryNow(context.WithoutCancel(ctx), c); rerr != nil {
				m.log.Warn("trying the component token again failed", "component_appid", c, "err", rerr)
			}
		}
		return nil
	}
	return wxtoken.Errorf(wxtoken.EUnavailable, "the verify ticket changed too often to be stored")
}

// Authorize implements wxtoken.Platforms.
func (m *Manager) Authorize(ctx context.Context, componentAppID, authCode string) (wxtoken.Grant, error) {
	if authCode == "" {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EInvalid, "auth_code is required")
	}
	id, err := m.authorize(ctx, componentAppID, authCode, "authorization")
	if err != nil {
		return wxtoken.Grant{}, err
	}
	return m.opts.Engine.Credential(ctx, id, wxtoken.KindAccessToken)
}

// authorize exchanges an authorization code and stores the authorizer,
// sealed, before the engine keeps it; how names what brought the code.
func (m *Manager) authorize(ctx context.Context, c, code, how string) (string, error) {
	if _, err := m.platform(c); err != nil {
		return "", err
	}
	g, err := m.opts.Engine.Credential(ctx, c, wxtoken.KindAccessToken)
	if err != nil {
		return "", err
	}
	auth, err := m.opts.Upstream.QueryAuth(ctx, g.Value, c, code)
	if err != nil {
		return "", upstreamError("exchanging the authorization code", err)
	}
	id := wxtoken.AuthorizerID(c, auth.AuthorizerAppID)
	now := m.opts.Now()
	if err := m.putAuthorizer(ctx, id, auth.RefreshToken, now); err != nil {
		return "", err
	}
	// The token that came with the code, so that the account is served
	// without another call.
	cred := wxtoken.Credential{AppID: id, Kind: wxtoken.KindAccessToken, Value: auth.AccessToken.Value,
		FetchedAt: now, ExpiresAt: now.Add(auth.AccessToken.ExpiresIn), RefreshAt: now.Add(auth.AccessToken.ExpiresIn * 2 / 3),
		API: wxtoken.TokenAPIAuthorizer, Version: 1}
	if cur, err := m.opts.Store.Get(ctx, id, wxtoken.KindAccessToken); err == nil {
		cred.Version = cur.Version + 1
	}
	if err := m.opts.Store.Put(ctx, cred); err != nil && !errors.Is(err, wxtoken.ErrStale) {
		m.log.Warn("storing the authorizer's first token failed; it is fetched again", "authorizer", id, "err", err)
	}
	if err := m.Sync(ctx, id); err != nil {
		return "", &wxtoken.Error{Code: wxtoken.EInternal, Message: "the authorizer is stored but not served yet", Err: err}
	}
	m.log.Info("an account authorized the platform", "authorizer", id, "by", how)
	return id, nil
}

// putAuthorizer stores the authorizer id with refreshToken, sealed, as an
// active entry, keeping its creation time if it was known before.
func (m *Manager) putAuthorizer(ctx context.Context, id, refreshToken string, now time.Time) error {
	if refreshToken == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "WeChat answered no refresh token for %s", id)
	}
	sealed, err := m.opts.Sealer.Seal([]byte(refreshToken), id)
	if err != nil {
		return &wxtoken.Error{Code: wxtoken.EInternal, Message: "the refresh token cannot be sealed", Err: err}
	}
	for range 5 {
		e := wxtoken.Entry{ID: id, Family: wxtoken.FamilyAuthorizer, Secret: sealed, State: wxtoken.EntryActive,
			TokenAPI: wxtoken.TokenAPIAuthorizer, CreatedAt: now, UpdatedAt: now, Version: 1}
		cur, err := m.opts.Store.GetEntry(ctx, id)
		switch {
		case err == nil:
			e.CreatedAt, e.Version, e.Name = cur.CreatedAt, cur.Version+1, cur.Name
		case !errors.Is(err, wxtoken.ErrNotFound):
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store cannot be read", Err: err}
		}
		err = m.opts.Store.PutEntry(ctx, e)
		if errors.Is(err, wxtoken.ErrStale) {
			continue
		}
		if err != nil {
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the authorizer cannot be stored", Err: err}
		}
		return nil
	}
	return wxtoken.Errorf(wxtoken.EUnavailable, "the authorizer %s changed too often to be stored", id)
}

// unauthorize marks the authorizer removed and stops serving it.
func (m *Manager) unauthorize(ctx context.Context, c, appID string) error {
	id := wxtoken.AuthorizerID(c, appID)
	for range 5 {
		cur, err := m.opts.Store.GetEntry(ctx, id)
		if errors.Is(err, wxtoken.ErrNotFound) {
			m.drop(id)
			return nil // never known here: nothing to stop
		}
		if err != nil {
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the store cannot be read", Err: err}
		}
		if cur.State == wxtoken.EntryRemoved {
			m.drop(id)
			return nil
		}
		now := m.opts.Now()
		cur.State, cur.Version, cur.UpdatedAt = wxtoken.EntryRemoved, cur.Version+1, now
		cur.Note = "the account cancelled its authorization at " + now.UTC().Format(time.RFC3339)
		err = m.opts.Store.PutEntry(ctx, cur)
		if errors.Is(err, wxtoken.ErrStale) {
			continue
		}
		if err != nil {
			return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "the authorizer cannot be stored", Err: err}
		}
		m.drop(id)
		m.log.Info("an account cancelled its authorization of the platform", "authorizer", id)
		return nil
	}
	return wxtoken.Errorf(wxtoken.EUnavailable, "the authorizer %s changed too often to be stored", id)
}

// ImportAuthorizer implements wxtoken.Platforms.
func (m *Manager) ImportAuthorizer(ctx context.Context, componentAppID, authorizerAppID, refreshToken string) (wxtoken.AuthorizerStatus, error) {
	if _, err := m.platform(componentAppID); err != nil {
		return wxtoken.AuthorizerStatus{}, err
	}
	if authorizerAppID == "" || refreshToken == "" {
		return wxtoken.AuthorizerStatus{}, wxtoken.Errorf(wxtoken.EInvalid, "authorizer_appid and refresh_token are required")
	}
	id := wxtoken.AuthorizerID(componentAppID, authorizerAppID)
	if err := m.putAuthorizer(ctx, id, refreshToken, m.opts.Now()); err != nil {
		return wxtoken.AuthorizerStatus{}, err
	}
	if err := m.Sync(ctx, id); err != nil {
		return wxtoken.AuthorizerStatus{}, &wxtoken.Error{Code: wxtoken.EInternal, Message: "the authorizer is stored but not served yet", Err: err}
	}
	// A held authorizer uses the imported refresh token from its next
	// fetch; one that has no token yet fetches it now, which proves the
	// refresh token.
	if _, err := m.opts.Engine.Credential(ctx, id, wxtoken.KindAccessToken); err != nil {
		m.log.Warn("an imported authorizer's first token failed", "authorizer", id, "err", err)
	}
	// This one authorizer's record and credentials, not the whole list:
	// an import of thousands asks once for each.
	e, err := m.opts.Store.GetEntry(ctx, id)
	if err != nil {
		return wxtoken.AuthorizerStatus{}, &wxtoken.Error{Code: wxtoken.EInternal,
			Message: fmt.Sprintf("the imported authorizer %s is not listed", id), Err: err}
	}
	st, _ := m.opts.Engine.StatusOf(ctx, id)
	return authorizerStatus(e, st.Credentials), nil
}

// Authorizers implements wxtoken.Platforms.
func (m *Manager) Authorizers(ctx context.Context, componentAppID string) ([]wxtoken.AuthorizerStatus, error) {
	if _, err := m.platform(componentAppID); err != nil {
		return nil, err
	}
	return m.statuses(ctx, componentAppID), nil
}

func (m *Manager) statuses(ctx context.Context, c string) []wxtoken.AuthorizerStatus {
	entries, err := m.opts.Store.ListEntries(ctx)
	if err != nil {
		m.log.Warn("listing the authorizers from the store failed", "component_appid", c, "err", err)
		return nil
	}
	creds := map[string][]wxtoken.CredentialStatus{}
	for _, st := range m.opts.Engine.Status(ctx) {
		if st.Family == wxtoken.FamilyAuthorizer {
			creds[st.AppID] = st.Credentials
		}
	}
	out := []wxtoken.AuthorizerStatus{}
	for _, e := range entries {
		if _, comp, _ := wxtoken.ParseID(e.ID); e.Family != wxtoken.FamilyAuthorizer || comp != c {
			continue
		}
		out = append(out, authorizerStatus(e, creds[e.ID]))
	}
	return out
}

// authorizerStatus is the status of the authorizer e, whose credentials'
// states are creds.
func authorizerStatus(e wxtoken.Entry, creds []wxtoken.CredentialStatus) wxtoken.AuthorizerStatus {
	_, comp, appID := wxtoken.ParseID(e.ID)
	if creds == nil {
		creds = []wxtoken.CredentialStatus{}
	}
	return wxtoken.AuthorizerStatus{ComponentAppID: comp, AuthorizerAppID: appID, State: e.State, Note: e.Note,
		AuthorizedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Credentials: creds}
}

// PreAuthURL implements wxtoken.Platforms.
func (m *Manager) PreAuthURL(ctx context.Context, componentAppID, redirectURI, authType string) (string, error) {
	if _, err := m.platform(componentAppID); err != nil {
		return "", err
	}
	g, err := m.opts.Engine.Credential(ctx, componentAppID, wxtoken.KindAccessToken)
	if err != nil {
		return "", err
	}
	code, _, err := m.opts.Upstream.PreAuthCode(ctx, g.Value, componentAppID)
	if err != nil {
		return "", upstreamError("asking for a pre-authorization code", err)
	}
	q := url.Values{"component_appid": {componentAppID}, "pre_auth_code": {code}, "redirect_uri": {redirectURI}}
	if authType != "" {
		q.Set("auth_type", authType)
	}
	return m.opts.LoginPage + "?" + q.Encode(), nil
}

// upstreamError turns a failed call to WeChat into an *wxtoken.Error.
func upstreamError(doing string, err error) error {
	c := wechat.Classify(err, time.Now())
	code := wxtoken.EUnavailable
	if c.Class == wechat.ClassConfig {
		code = wxtoken.EInvalid
	}
	return &wxtoken.Error{Code: code, Message: fmt.Sprintf("%s: WeChat answered %s", doing, c.Class), WeChatErrCode: c.ErrCode, Err: err}
}
