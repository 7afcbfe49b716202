package mock_test

import (
	"context"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/mock"
)

func TestServiceUnsetAnswersNothing(t *testing.T) {
	var s mock.Service
	ctx := context.Background()
	if _, err := s.Credential(ctx, "wxA", wxtoken.KindAccessToken); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("Credential: %v, want EUnavailable", err)
	}
	if _, err := s.Refresh(ctx, "wxA", wxtoken.KindAccessToken, "T"); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("Refresh: %v, want EUnavailable", err)
	}
	if s.Status(ctx) != nil || s.NotReady(ctx) != nil {
		t.Error("Status or NotReady answered something")
	}
}

func TestServiceCallsItsFunctions(t *testing.T) {
	var calls []string
	s := mock.Service{
		CredentialFn: func(_ context.Context, appID string, kind wxtoken.Kind) (wxtoken.Grant, error) {
			calls = append(calls, "credential "+appID+" "+string(kind))
			return wxtoken.Grant{Value: "A"}, nil
		},
		RefreshFn: func(_ context.Context, appID string, kind wxtoken.Kind, stale string) (wxtoken.Grant, error) {
			calls = append(calls, "refresh "+appID+" "+string(kind)+" "+stale)
			return wxtoken.Grant{Value: "B"}, nil
		},
		StatusFn:   func(context.Context) []wxtoken.AppStatus { return []wxtoken.AppStatus{{AppID: "wxA"}} },
		NotReadyFn: func(context.Context) []string { return []string{"x"} },
	}
	ctx := context.Background()
	g1, _ := s.Credential(ctx, "wxA", wxtoken.KindAccessToken)
	g2, _ := s.Refresh(ctx, "wxA", wxtoken.KindJSAPITicket, "old")
	if g1.Value != "A" || g2.Value != "B" || len(s.Status(ctx)) != 1 || len(s.NotReady(ctx)) != 1 {
		t.Errorf("answers %q %q %v %v", g1.Value, g2.Value, s.Status(ctx), s.NotReady(ctx))
	}
	if len(calls) != 2 || calls[0] != "credential wxA access_token" || calls[1] != "refresh wxA jsapi old" {
		t.Errorf("calls %q", calls)
	}
}
