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
