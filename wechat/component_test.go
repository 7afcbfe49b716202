package wechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClassifyComponent: the open platform's errcodes, and the ones that
// read differently on its endpoints.
func TestClassifyComponent(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		endpoint string
		code     int
		class    Class
		wait     time.Duration
		hint     string
		human    bool
	}{
		{PathComponentToken, 61004, ClassWhitelist, 5 * time.Minute, "第三方平台 IP白名单", true},
		{PathAuthorizerToken, 61004, ClassWhitelist, 5 * time.Minute, "203.0.113.9", true},
		{PathToken, 61004, ClassWhitelist, 5 * time.Minute, "account's IP whitelist", true},
		{PathComponentToken, 61005, ClassVerifyTicket, time.Minute, "api_start_push_ticket", false},
		{PathComponentToken, 61006, ClassVerifyTicket, time.Minute, "not one WeChat pushed", false},
		{PathAuthorizerToken, 61023, ClassReauthorize, 10 * time.Minute, "authorize the platform again", true},
		{PathAuthorizerToken, 61003, ClassReauthorize, 10 * time.Minute, "authorize the platform again", true},
		{PathComponentToken, 61011, ClassConfig, 10 * time.Minute, "component_appid", true},
		{PathQueryAuth, 61009, ClassConfig, 0, "authorization code", true},
		{PathQueryAuth, 61010, ClassConfig, 0, "10 minutes", true},
		{PathPreAuthCode, 40001, ClassTokenRejected, 0, "component_access_token", false},
		{PathQueryAuth, 42001, ClassTokenRejected, 0, "component_access_token", false},
		{PathAuthorizerToken, 40014, ClassTokenRejected, 0, "component_access_token", false},
		{PathComponentToken, 40001, ClassConfig, 10 * time.Minute, "component secret", true},
		{PathStartPushTicket, 40001, ClassConfig, 10 * time.Minute, "component secret", true},
		{PathComponentToken, 45009, ClassDailyQuota, 6 * time.Hour, "00:00", true},
		{PathComponentToken, -1, ClassTransient, 0, "busy", false},
		// An authorizer's ticket call is an ordinary getticket.
		{PathTicket, 40001, ClassTokenRejected, 0, "access_token used", false},
	}
	// No ticket to ask with at all: the same class, with what to check.
	if c := Classify(fmt.Errorf("platform: %w", ErrNoVerifyTicket), now); c.Class != ClassVerifyTicket ||
		!c.NotBefore.Equal(now.Add(time.Minute)) || !strings.Contains(c.Hint, "event URL") || c.Class.NeedsHuman() {
		t.Errorf("no verify ticket: %+v", c)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.endpoint, tt.code), func(t *testing.T) {
			msg := "some text requestIP: 203.0.113.9 rid: a-b-c"
			err := fmt.Errorf("platform: %w", &APIError{Endpoint: tt.endpoint, ErrCode: tt.code, ErrMsg: msg, RID: parseRID(msg)})
			c := Classify(err, now)
			if c.Class != tt.class || c.ErrCode != tt.code {
				t.Fatalf("class = %v (errcode %d), want %v", c.Class, c.ErrCode, tt.class)
			}
			if want := now.Add(tt.wait); !c.NotBefore.Equal(want) {
				t.Fatalf("NotBefore = %v, want %v", c.NotBefore, want)
			}
			if !strings.Contains(c.Hint, tt.hint) {
				t.Fatalf("hint %q lacks %q", c.Hint, tt.hint)
			}
			if c.Class.NeedsHuman() != tt.human {
				t.Fatalf("NeedsHuman = %v", c.Class.NeedsHuman())
			}
		})
	}
	if ClassVerifyTicket.String() != "verify_ticket" || ClassReauthorize.String() != "reauthorize" {
		t.Fatalf("names: %s, %s", ClassVerifyTicket, ClassReauthorize)
	}
}

func TestIsTokenRejectedComponent(t *testing.T) {
	tests := []struct {
		endpoint string
		code     int
		want     bool
	}{
		{PathPreAuthCode, 40001, true},
		{PathQueryAuth, 42001, true},
		{PathAuthorizerToken, 40014, true},
		{PathComponentToken, 40001, false},
		{PathStartPushTicket, 40001, false},
		{PathAuthorizerToken, 61023, false},
	}
	for _, tt := range tests {
		if got := IsTokenRejected(&APIError{Endpoint: tt.endpoint, ErrCode: tt.code}); got != tt.want {
			t.Errorf("IsTokenRejected(%s %d) = %v", tt.endpoint, tt.code, got)
		}
	}
}

// TestComponentAnswersStrict: only a well-formed answer yields a
// credential; a broken one is a TransportError, whatever the call.
func TestComponentAnswersStrict(t *testing.T) {
	answers := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, answers[r.URL.Path])
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		PathComponentToken: func() error { _, err := c.ComponentToken(ctx, "wxc", "sec", "ticket@@@x"); return err },
		PathPreAuthCode:    func() error { _, _, err := c.PreAuthCode(ctx, "ctok", "wxc"); return err },
		PathQueryAuth:      func() error { _, err := c.QueryAuth(ctx, "ctok", "wxc", "code"); return err },
		PathAuthorizerToken: func() error {
			_, _, err := c.AuthorizerToken(ctx, "ctok", "wxc", "wxa", "refreshtoken@@@r")
			return err
		},
		PathStartPushTicket: func() error { return c.StartPushTicket(ctx, "wxc", "sec") },
	}
	bad := map[string][]string{
		PathComponentToken:  {`{"component_access_token":"","expires_in":7200}`, `{"expires_in":7200}`, `{"component_access_token":"t","expires_in":0}`, `<html>`},
		PathPreAuthCode:     {`{"pre_auth_code":"p"}`, `{"pre_auth_code":"a b","expires_in":1800}`},
		PathQueryAuth:       {`{}`, `{"authorization_info":{"authorizer_appid":"wxa","authorizer_access_token":"t","expires_in":7200}}`, `{"authorization_info":{"authorizer_access_token":"t","expires_in":7200,"authorizer_refresh_token":"r"}}`},
		PathAuthorizerToken: {`{"authorizer_refresh_token":"r","expires_in":7200}`, `{"authorizer_access_token":"t","expires_in":7200,"authorizer_refresh_token":"r\u0001"}`},
		PathStartPushTicket: {`{}`, `{"errcode":0,"errmsg":"ok"} x`},
	}
	for path, bodies := range bad {
		for _, b := range bodies {
			answers[path] = b
			var te *TransportError
			if err := calls[path](); !errors.As(err, &te) {
				t.Errorf("%s answered %s: err = %v, want a TransportError", path, b, err)
			}
		}
	}
	answers[PathAuthorizerToken] = `{"authorizer_access_token":"t","expires_in":7200}`
	tok, rt, err := c.AuthorizerToken(ctx, "ctok", "wxc", "wxa", "r")
	if err != nil || tok.Value != "t" || rt != "" {
		t.Fatalf("an answer without a refresh token = %+v, %q, %v; want the token and no refresh token", tok, rt, err)
	}
}

// TestComponentSecretsNeverInErrors: WeChat echoing the request in errmsg
// carries none of the secret, the verify ticket, the code or the refresh
// token into the error.
func TestComponentSecretsNeverInErrors(t *testing.T) {
	const secret, ticket, code, refresh = "CompSecret-9f8e7d", "ticket@@@Tk-12345", "queryauthcode@@@Cd-777", "refreshtoken@@@Rf-555"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// The whole request, quoted back as an errmsg.
		fmt.Fprintf(w, `{"errcode":40097,"errmsg":"invalid args %s rid: 1-2-3"}`, strings.ReplaceAll(string(b), `"`, `'`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var errs []error
	_, err = c.ComponentToken(ctx, "wxc", secret, ticket)
	errs = append(errs, err)
	errs = append(errs, c.StartPushTicket(ctx, "wxc", secret))
	_, err = c.QueryAuth(ctx, "ctok", "wxc", code)
	errs = append(errs, err)
	_, _, err = c.AuthorizerToken(ctx, "ctok", "wxc", "wxa", refresh)
	errs = append(errs, err)
	for i, err := range errs {
		var api *APIError
		if !errors.As(err, &api) || api.ErrCode != 40097 || api.RID != "1-2-3" {
			t.Fatalf("call %d: err = %v, want errcode 40097", i, err)
		}
		for _, s := range []string{secret, ticket, code, refresh} {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", api), s) {
				t.Errorf("call %d: error carries a secret: %v", i, err)
			}
		}
		if !strings.Contains(api.ErrMsg, "[redacted]") {
			t.Errorf("call %d: errmsg %q shows no redaction", i, api.ErrMsg)
		}
	}
}
