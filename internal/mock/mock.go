// Package mock holds mocks of wxtoken's interfaces for the unit tests of a
// single piece: each method calls the function field of its name, which
// the test sets to script the answers and record the calls. Tests of the
// whole program use the real parts instead (see package e2e).
package mock

import (
	"context"

	"github.com/wxtoken/wxtoken"
)

// Service is a wxtoken.Service. A method whose function is not set
// answers as a service with nothing to serve: Credential and Refresh
// fail with EUnavailable, Status and NotReady return nothing.
type Service struct {
	CredentialFn func(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error)
	RefreshFn    func(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error)
	StatusFn     func(ctx context.Context) []wxtoken.AppStatus
	NotReadyFn   func(ctx context.Context) []string
}

var _ wxtoken.Service = (*Service)(nil)

// Credential calls CredentialFn.
func (s *Service) Credential(ctx context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
	if s.CredentialFn == nil {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no CredentialFn")
	}
	return s.CredentialFn(ctx, appID, kind)
}

// Refresh calls RefreshFn.
func (s *Service) Refresh(ctx context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
	if s.RefreshFn == nil {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no RefreshFn")
	}
	return s.RefreshFn(ctx, appID, kind, stale)
}

// Status calls StatusFn.
func (s *Service) Status(ctx context.Context) []wxtoken.AppStatus {
	if s.StatusFn == nil {
		return nil
	}
	return s.StatusFn(ctx)
}

// NotReady calls NotReadyFn.
func (s *Service) NotReady(ctx context.Context) []string {
	if s.NotReadyFn == nil {
		return nil
	}
	return s.NotReadyFn(ctx)
}

// Platforms is a wxtoken.Platforms. A method whose function is not set
// answers as if WeChat could not be asked: it fails with EUnavailable.
type Platforms struct {
	EventFn            func(ctx context.Context, componentAppID string, p wxtoken.Push) error
	PreAuthURLFn       func(ctx context.Context, componentAppID, redirectURI, authType string) (string, error)
	AuthorizeFn        func(ctx context.Context, componentAppID, authCode string) (wxtoken.Grant, error)
	ImportAuthorizerFn func(ctx context.Context, componentAppID, authorizerAppID, refreshToken string) (wxtoken.AuthorizerStatus, error)
	AuthorizersFn      func(ctx context.Context, componentAppID string) ([]wxtoken.AuthorizerStatus, error)
}

var _ wxtoken.Platforms = (*Platforms)(nil)

// Event calls EventFn.
func (p *Platforms) Event(ctx context.Context, componentAppID string, push wxtoken.Push) error {
	if p.EventFn == nil {
		return wxtoken.Errorf(wxtoken.EUnavailable, "mock: no EventFn")
	}
	return p.EventFn(ctx, componentAppID, push)
}

// PreAuthURL calls PreAuthURLFn.
func (p *Platforms) PreAuthURL(ctx context.Context, componentAppID, redirectURI, authType string) (string, error) {
	if p.PreAuthURLFn == nil {
		return "", wxtoken.Errorf(wxtoken.EUnavailable, "mock: no PreAuthURLFn")
	}
	return p.PreAuthURLFn(ctx, componentAppID, redirectURI, authType)
}

// Authorize calls AuthorizeFn.
func (p *Platforms) Authorize(ctx context.Context, componentAppID, authCode string) (wxtoken.Grant, error) {
	if p.AuthorizeFn == nil {
		return wxtoken.Grant{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no AuthorizeFn")
	}
	return p.AuthorizeFn(ctx, componentAppID, authCode)
}

// ImportAuthorizer calls ImportAuthorizerFn.
func (p *Platforms) ImportAuthorizer(ctx context.Context, componentAppID, authorizerAppID, refreshToken string) (wxtoken.AuthorizerStatus, error) {
	if p.ImportAuthorizerFn == nil {
		return wxtoken.AuthorizerStatus{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no ImportAuthorizerFn")
	}
	return p.ImportAuthorizerFn(ctx, componentAppID, authorizerAppID, refreshToken)
}

// Authorizers calls AuthorizersFn.
func (p *Platforms) Authorizers(ctx context.Context, componentAppID string) ([]wxtoken.AuthorizerStatus, error) {
	if p.AuthorizersFn == nil {
		return nil, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no AuthorizersFn")
	}
	return p.AuthorizersFn(ctx, componentAppID)
}

// Registrar is a wxtoken.Registrar. A method whose function is not set
// answers as if the store could not be written: it fails with
// EUnavailable.
type Registrar struct {
	RegisterFn      func(ctx context.Context, r wxtoken.Registration) (wxtoken.Registered, error)
	ChangeFn        func(ctx context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error)
	UnregisterFn    func(ctx context.Context, id string) error
	RegistrationsFn func(ctx context.Context, family wxtoken.Family) ([]wxtoken.Registered, error)
}

var _ wxtoken.Registrar = (*Registrar)(nil)

// Register calls RegisterFn.
func (m *Registrar) Register(ctx context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
	if m.RegisterFn == nil {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no RegisterFn")
	}
	return m.RegisterFn(ctx, r)
}

// Change calls ChangeFn.
func (m *Registrar) Change(ctx context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
	if m.ChangeFn == nil {
		return wxtoken.Registered{}, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no ChangeFn")
	}
	return m.ChangeFn(ctx, id, r)
}

// Unregister calls UnregisterFn.
func (m *Registrar) Unregister(ctx context.Context, id string) error {
	if m.UnregisterFn == nil {
		return wxtoken.Errorf(wxtoken.EUnavailable, "mock: no UnregisterFn")
	}
	return m.UnregisterFn(ctx, id)
}

// Registrations calls RegistrationsFn.
func (m *Registrar) Registrations(ctx context.Context, family wxtoken.Family) ([]wxtoken.Registered, error) {
	if m.RegistrationsFn == nil {
		return nil, wxtoken.Errorf(wxtoken.EUnavailable, "mock: no RegistrationsFn")
	}
	return m.RegistrationsFn(ctx, family)
}
