package wechat_test

// The open platform's calls against the simulator, over real HTTP: the
// whole authorization flow as a credential server goes through it, and
// every errcode of the platform as the client classifies it.

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	simComp       = "wxc0ffee00000001"
	simCompSecret = "CompSecret-7d3f0a9e4c21"
	simMsgToken   = "MsgToken123"
	simAESKey     = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
)

func startPlatformSim(t *testing.T, mode string) (*simulator.Simulator, *httptest.Server, *simClock) {
	t.Helper()
	sim, srv, clock := startSim(t, simulator.Options{Platforms: []simulator.Platform{{
		ComponentAppID: simComp, Secret: simCompSecret, Token: simMsgToken, EncodingAESKey: simAESKey,
		RefreshToken: mode,
	}}}, nil)
	t.Cleanup(func() { _ = sim.Close() })
	return sim, srv, clock
}

// wantClass asserts that err is WeChat's errcode code from endpoint, of
// class, and carries none of the secrets.
func wantClass(t *testing.T, err error, endpoint string, code int, class wechat.Class, secrets ...string) wechat.Classification {
	t.Helper()
	var api *wechat.APIError
	if !errors.As(err, &api) || api.ErrCode != code || api.Endpoint != endpoint || !simRID.MatchString(api.RID) {
		t.Fatalf("err = %v, want errcode %d from %s with a rid", err, code, endpoint)
	}
	c := wechat.Classify(err, simClassifyAt)
	if c.Class != class {
		t.Fatalf("%v classified %v, want %v", err, c.Class, class)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error carries a secret: %v", err)
		}
	}
	return c
}

// TestSimulatorPlatformFlow: verify ticket, component token, pre-auth
// code, authorization, the authorizer's tickets, its token refreshed with
// the refresh token, and the end of that refresh token (61023).
func TestSimulatorPlatformFlow(t *testing.T) {
	for _, mode := range []string{simulator.RefreshTokenSame, simulator.RefreshTokenRotate} {
		t.Run(mode, func(t *testing.T) {
			sim, srv, clock := startPlatformSim(t, mode)
			ctx := context.Background()
			c := newSimClient(t, 5*time.Second, false, srv.URL)

			ticket, _, err := sim.PushVerifyTicket(ctx, simComp)
			if err != nil {
				t.Fatal(err)
			}
			ct, err := c.ComponentToken(ctx, simComp, simCompSecret, ticket)
			if err != nil || ct.ExpiresIn != 7200*time.Second || !sim.Check(ct.Value).Valid {
				t.Fatalf("ComponentToken = %+v, %v", ct, err)
			}
			if err := c.StartPushTicket(ctx, simComp, simCompSecret); err != nil {
				t.Fatalf("StartPushTicket: %v", err)
			}
			pre, ttl, err := c.PreAuthCode(ctx, ct.Value, simComp)
			if err != nil || pre == "" || ttl != 30*time.Minute {
				t.Fatalf("PreAuthCode = %q, %v, %v", pre, ttl, err)
			}
			auth, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: simComp, AuthorizerAppID: "wxacc00000000001", PreAuthCode: pre, FuncInfo: []int{1, 15}})
			if err != nil {
				t.Fatal(err)
			}
			a, err := c.QueryAuth(ctx, ct.Value, simComp, auth.AuthCode)
			if err != nil || a.AuthorizerAppID != "wxacc00000000001" || a.AccessToken.ExpiresIn != 7200*time.Second ||
				a.RefreshToken == "" || len(a.FuncInfo) != 2 || a.FuncInfo[1] != 15 {
				t.Fatalf("QueryAuth = %+v, %v", a, err)
			}
			_, err = c.QueryAuth(ctx, ct.Value, simComp, auth.AuthCode)
			wantClass(t, err, wechat.PathQueryAuth, wechat.ErrAuthCodeInvalid, wechat.ClassConfig, auth.AuthCode)

			// Ticket serves an authorizer's token unchanged.
			for _, kind := range []wxtoken.Kind{wxtoken.KindJSAPITicket, wxtoken.KindWxCard} {
				tk, err := c.Ticket(ctx, a.AccessToken.Value, kind)
				if err != nil || tk.Value == "" || !sim.Check(tk.Value).Valid {
					t.Fatalf("Ticket(%s) = %+v, %v", kind, tk, err)
				}
			}
			if err := c.Probe(ctx, a.AccessToken.Value); err != nil {
				t.Fatalf("Probe: %v", err)
			}

			tok, rt, err := c.AuthorizerToken(ctx, ct.Value, simComp, a.AuthorizerAppID, a.RefreshToken)
			if err != nil || tok.Value == a.AccessToken.Value || rt == "" {
				t.Fatalf("AuthorizerToken = %+v, %q, %v", tok, rt, err)
			}
			if (rt == a.RefreshToken) != (mode == simulator.RefreshTokenSame) {
				t.Fatalf("mode %s: refresh token changed: %v", mode, rt != a.RefreshToken)
			}
			if mode == simulator.RefreshTokenRotate {
				_, _, err = c.AuthorizerToken(ctx, ct.Value, simComp, a.AuthorizerAppID, a.RefreshToken)
				wantClass(t, err, wechat.PathAuthorizerToken, wechat.ErrRefreshTokenInvalid, wechat.ClassReauthorize, a.RefreshToken)
			}
			if err := sim.InvalidateRefreshToken(simComp, a.AuthorizerAppID); err != nil {
				t.Fatal(err)
			}
			_, _, err = c.AuthorizerToken(ctx, ct.Value, simComp, a.AuthorizerAppID, rt)
			cl := wantClass(t, err, wechat.PathAuthorizerToken, wechat.ErrRefreshTokenInvalid, wechat.ClassReauthorize, rt)
			if !cl.Class.NeedsHuman() || !strings.Contains(cl.Hint, "authorize the platform again") {
				t.Fatalf("61023 classified %+v", cl)
			}

			// The component token, replaced and then past its overlap, is
			// rejected as a dead token is.
			ct2, err := c.ComponentToken(ctx, simComp, simCompSecret, ticket)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(sim.Options().Overlap)
			_, _, err = c.PreAuthCode(ctx, ct.Value, simComp)
			wantClass(t, err, wechat.PathPreAuthCode, wechat.ErrInvalidCredential, wechat.ClassTokenRejected)
			if !wechat.IsTokenRejected(err) {
				t.Fatal("a dead component token is not reported as rejected")
			}
			clock.Advance(2 * time.Hour)
			_, err = c.QueryAuth(ctx, ct2.Value, simComp, "queryauthcode@@@x")
			wantClass(t, err, wechat.PathQueryAuth, wechat.ErrTokenExpired, wechat.ClassTokenRejected)
		})
	}
}

// TestSimulatorPlatformErrcodes: the verify ticket refused (expired,
// never pushed), a wrong secret, the platform's whitelist, and an
// unauthorized account, as the client classifies them.
func TestSimulatorPlatformErrcodes(t *testing.T) {
	sim, srv, clock := startPlatformSim(t, "")
	ctx := context.Background()
	c := newSimClient(t, 5*time.Second, false, srv.URL)
	ticket, _, err := sim.PushVerifyTicket(ctx, simComp)
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.ComponentToken(ctx, simComp, simCompSecret, "ticket@@@forged")
	cl := wantClass(t, err, wechat.PathComponentToken, wechat.ErrVerifyTicketInvalid, wechat.ClassVerifyTicket, simCompSecret, "ticket@@@forged")
	if cl.Class.NeedsHuman() || !strings.Contains(cl.Hint, "api_start_push_ticket") {
		t.Fatalf("61006 classified %+v", cl)
	}
	_, err = c.ComponentToken(ctx, simComp, "wrong-secret-42", ticket)
	wantClass(t, err, wechat.PathComponentToken, wechat.ErrInvalidSecret, wechat.ClassConfig, "wrong-secret-42", ticket)
	err = c.StartPushTicket(ctx, "wxunknown", simCompSecret)
	wantClass(t, err, wechat.PathStartPushTicket, wechat.ErrInvalidComponent, wechat.ClassConfig, simCompSecret)

	if err := sim.Inject(simulator.Fault{Endpoint: simulator.EndpointComponentToken, Kind: simulator.FaultErrCode, ErrCode: wechat.ErrWhitelist, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ComponentToken(ctx, simComp, simCompSecret, ticket)
	cl = wantClass(t, err, wechat.PathComponentToken, wechat.ErrWhitelist, wechat.ClassWhitelist, simCompSecret, ticket)
	if !strings.Contains(cl.Hint, "第三方平台 IP白名单") || !strings.Contains(cl.Hint, "127.0.0.1") {
		t.Fatalf("61004 hint %q", cl.Hint)
	}

	ct, err := c.ComponentToken(ctx, simComp, simCompSecret, ticket)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: simComp})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.QueryAuth(ctx, ct.Value, simComp, auth.AuthCode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Unauthorize(ctx, simComp, a.AuthorizerAppID); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.AuthorizerToken(ctx, ct.Value, simComp, a.AuthorizerAppID, a.RefreshToken)
	wantClass(t, err, wechat.PathAuthorizerToken, wechat.ErrComponentNotAuthorized, wechat.ClassReauthorize, a.RefreshToken)
	_, err = c.Ticket(ctx, a.AccessToken.Value, wxtoken.KindJSAPITicket)
	if !wechat.IsTokenRejected(err) {
		t.Fatalf("an unauthorized account's token: %v", err)
	}

	auth2, err := sim.Authorize(ctx, simulator.AuthorizeRequest{ComponentAppID: simComp})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	_, err = c.QueryAuth(ctx, ct.Value, simComp, auth2.AuthCode)
	wantClass(t, err, wechat.PathQueryAuth, wechat.ErrAuthCodeExpired, wechat.ClassConfig, auth2.AuthCode)

	// Past its 12 hours the ticket is refused as expired.
	clock.Advance(12 * time.Hour)
	_, err = c.ComponentToken(ctx, simComp, simCompSecret, ticket)
	wantClass(t, err, wechat.PathComponentToken, wechat.ErrVerifyTicketExpired, wechat.ClassVerifyTicket, simCompSecret, ticket)
}

// TestSimulatorPlatformFallback: the component calls go to the fallback
// hosts as the other calls do, when the first host is unreachable or
// fails with HTTP 500.
func TestSimulatorPlatformFallback(t *testing.T) {
	sim, fb, _ := startPlatformSim(t, "")
	ctx := context.Background()
	ticket, _, err := sim.PushVerifyTicket(ctx, simComp)
	if err != nil {
		t.Fatal(err)
	}
	broken, brokenSrv, _ := startPlatformSim(t, "")
	if err := broken.Inject(simulator.Fault{Kind: simulator.FaultHTTP500}); err != nil {
		t.Fatal(err)
	}
	for _, primary := range []string{simClosedURL(t), brokenSrv.URL} {
		c := newSimClient(t, 5*time.Second, true, primary, fb.URL)
		ct, err := c.ComponentToken(ctx, simComp, simCompSecret, ticket)
		if err != nil {
			t.Fatalf("via %s: %v", primary, err)
		}
		if err := c.StartPushTicket(ctx, simComp, simCompSecret); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.PreAuthCode(ctx, ct.Value, simComp); err != nil {
			t.Fatal(err)
		}
	}
	if n := broken.Calls(simulator.EndpointComponentToken, simComp); n != 1 {
		t.Fatalf("the broken primary saw %d api_component_token calls, want 1", n)
	}
}
