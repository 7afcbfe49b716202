package mock_test

import (
	"context"
	"fmt"
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

func TestPlatformsUnsetAnswersUnavailable(t *testing.T) {
	var p mock.Platforms
	ctx := context.Background()
	_, err1 := p.PreAuthURL(ctx, "wxC", "https://a.example/", "")
	_, err2 := p.Authorize(ctx, "wxC", "code")
	_, err3 := p.ImportAuthorizer(ctx, "wxC", "wxA", "R")
	_, err4 := p.Authorizers(ctx, "wxC")
	for i, err := range []error{p.Event(ctx, "wxC", wxtoken.Push{}), err1, err2, err3, err4} {
		if wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
			t.Errorf("method %d: %v, want EUnavailable", i, err)
		}
	}
}

func TestPlatformsCallsItsFunctions(t *testing.T) {
	var calls []string
	p := mock.Platforms{
		EventFn: func(_ context.Context, c string, push wxtoken.Push) error {
			calls = append(calls, "event "+c+" "+push.Nonce+" "+string(push.Body))
			return nil
		},
		PreAuthURLFn: func(_ context.Context, c, redirect, authType string) (string, error) {
			calls = append(calls, "preauth "+c+" "+redirect+" "+authType)
			return "U", nil
		},
		AuthorizeFn: func(_ context.Context, c, code string) (wxtoken.Grant, error) {
			calls = append(calls, "authorize "+c+" "+code)
			return wxtoken.Grant{Value: "T"}, nil
		},
		ImportAuthorizerFn: func(_ context.Context, c, a, r string) (wxtoken.AuthorizerStatus, error) {
			calls = append(calls, "import "+c+" "+a+" "+r)
			return wxtoken.AuthorizerStatus{AuthorizerAppID: a}, nil
		},
		AuthorizersFn: func(_ context.Context, c string) ([]wxtoken.AuthorizerStatus, error) {
			calls = append(calls, "authorizers "+c)
			return []wxtoken.AuthorizerStatus{{}}, nil
		},
	}
	ctx := context.Background()
	err := p.Event(ctx, "wxC", wxtoken.Push{Nonce: "n", Body: []byte("<xml/>")})
	u, _ := p.PreAuthURL(ctx, "wxC", "https://a.example/", "3")
	g, _ := p.Authorize(ctx, "wxC", "code")
	st, _ := p.ImportAuthorizer(ctx, "wxC", "wxA", "R")
	list, _ := p.Authorizers(ctx, "wxC")
	if err != nil || u != "U" || g.Value != "T" || st.AuthorizerAppID != "wxA" || len(list) != 1 {
		t.Errorf("answers %v %q %q %q %v", err, u, g.Value, st.AuthorizerAppID, list)
	}
	want := []string{"event wxC n <xml/>", "preauth wxC https://a.example/ 3", "authorize wxC code", "import wxC wxA R", "authorizers wxC"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

func TestRegistrarUnsetAnswersUnavailable(t *testing.T) {
	var m mock.Registrar
	ctx := context.Background()
	_, err1 := m.Register(ctx, wxtoken.Registration{AppID: "wxA", Secret: "S"})
	_, err2 := m.Change(ctx, "wxA", wxtoken.Registration{AppID: "wxA"})
	_, err3 := m.Registrations(ctx, "")
	for i, err := range []error{err1, err2, m.Unregister(ctx, "wxA"), err3} {
		if wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
			t.Errorf("method %d: %v, want EUnavailable", i, err)
		}
	}
}

func TestRegistrarCallsItsFunctions(t *testing.T) {
	var calls []string
	m := mock.Registrar{
		RegisterFn: func(_ context.Context, r wxtoken.Registration) (wxtoken.Registered, error) {
			calls = append(calls, "register "+r.ID()+" "+r.Secret)
			return wxtoken.Registered{ID: r.ID()}, nil
		},
		ChangeFn: func(_ context.Context, id string, r wxtoken.Registration) (wxtoken.Registered, error) {
			calls = append(calls, "change "+id+" "+r.Name)
			return wxtoken.Registered{ID: id, Name: r.Name}, nil
		},
		UnregisterFn: func(_ context.Context, id string) error {
			calls = append(calls, "unregister "+id)
			return nil
		},
		RegistrationsFn: func(_ context.Context, f wxtoken.Family) ([]wxtoken.Registered, error) {
			calls = append(calls, "registrations "+string(f))
			return []wxtoken.Registered{{ID: "wxA"}}, nil
		},
	}
	ctx := context.Background()
	r1, _ := m.Register(ctx, wxtoken.Registration{CorpID: "ww1", AgentID: "1000002", Secret: "S"})
	r2, _ := m.Change(ctx, "wxA", wxtoken.Registration{AppID: "wxA", Name: "shop"})
	err := m.Unregister(ctx, "wxA")
	list, _ := m.Registrations(ctx, wxtoken.FamilyWeCom)
	if r1.ID != "ww1/1000002" || r2.Name != "shop" || err != nil || len(list) != 1 {
		t.Errorf("answers %v %v %v %v", r1, r2, err, list)
	}
	want := []string{"register ww1/1000002 S", "change wxA shop", "unregister wxA", "registrations wecom"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}
