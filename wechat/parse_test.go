package wechat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCredential(t *testing.T) {
	long := strings.Repeat("a", MaxCredentialLen)
	tests := []struct {
		name    string
		body    string
		field   string
		want    Credential
		apiCode int  // expected *APIError errcode, 0 if none
		bad     bool // expected *TransportError
	}{
		{name: "token", body: `{"access_token":"TOKEN","expires_in":7200}`, field: "access_token", want: Credential{"TOKEN", 7200 * time.Second}},
		{name: "ticket with errcode 0", body: `{"errcode":0,"errmsg":"ok","ticket":"TICKET","expires_in":7200}`, field: "ticket", want: Credential{"TICKET", 7200 * time.Second}},
		{name: "whitespace around", body: " \n{\"access_token\":\"T\",\"expires_in\":1}\n", field: "access_token", want: Credential{"T", time.Second}},
		{name: "longest credential", body: `{"access_token":"` + long + `","expires_in":60}`, field: "access_token", want: Credential{long, time.Minute}},
		{name: "a day exactly", body: `{"access_token":"T","expires_in":86400}`, field: "access_token", want: Credential{"T", 24 * time.Hour}},
		{name: "errcode", body: `{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 1-2-3"}`, field: "access_token", apiCode: 40164},
		{name: "system busy", body: `{"errcode":-1,"errmsg":"system error"}`, field: "access_token", apiCode: -1},
		{name: "errcode beside a token", body: `{"errcode":45009,"errmsg":"x","access_token":"T","expires_in":7200}`, field: "access_token", apiCode: 45009},
		{name: "html", body: `<html><body>502 Bad Gateway</body></html>`, field: "access_token", bad: true},
		{name: "empty body", body: ``, field: "access_token", bad: true},
		{name: "truncated", body: `{"access_token":"TOK`, field: "access_token", bad: true},
		{name: "trailing data", body: `{"access_token":"T","expires_in":7200}{"x":1}`, field: "access_token", bad: true},
		{name: "array", body: `[1,2]`, field: "access_token", bad: true},
		{name: "empty token", body: `{"access_token":"","expires_in":7200}`, field: "access_token", bad: true},
		{name: "missing token", body: `{"expires_in":7200}`, field: "access_token", bad: true},
		{name: "null token", body: `{"access_token":null,"expires_in":7200}`, field: "access_token", bad: true},
		{name: "token where ticket wanted", body: `{"access_token":"T","expires_in":7200}`, field: "ticket", bad: true},
		{name: "oversized", body: `{"access_token":"` + long + `b","expires_in":60}`, field: "access_token", bad: true},
		{name: "space in token", body: `{"access_token":"a b","expires_in":60}`, field: "access_token", bad: true},
		{name: "non-ascii token", body: `{"access_token":"令牌","expires_in":60}`, field: "access_token", bad: true},
		{name: "zero expires_in", body: `{"access_token":"T","expires_in":0}`, field: "access_token", bad: true},
		{name: "negative expires_in", body: `{"access_token":"T","expires_in":-5}`, field: "access_token", bad: true},
		{name: "over a day", body: `{"access_token":"T","expires_in":86401}`, field: "access_token", bad: true},
		{name: "missing expires_in", body: `{"access_token":"T"}`, field: "access_token", bad: true},
		{name: "string expires_in", body: `{"access_token":"T","expires_in":"7200"}`, field: "access_token", bad: true},
		{name: "float expires_in", body: `{"access_token":"T","expires_in":7200.5}`, field: "access_token", bad: true},
		{name: "huge expires_in", body: `{"access_token":"T","expires_in":99999999999999999999999}`, field: "access_token", bad: true},
		{name: "string errcode", body: `{"errcode":"40001","errmsg":"x"}`, field: "access_token", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredential(PathToken, []byte(tt.body), tt.field)
			var api *APIError
			var te *TransportError
			switch {
			case tt.apiCode != 0:
				if !errors.As(err, &api) || api.ErrCode != tt.apiCode {
					t.Fatalf("err = %v, want APIError %d", err, tt.apiCode)
				}
			case tt.bad:
				if !errors.As(err, &te) {
					t.Fatalf("err = %v (credential %+v), want a TransportError", err, got)
				}
				if Classify(err, time.Now()).Class != ClassTransient {
					t.Fatalf("bad answer classified %v, want transient", Classify(err, time.Now()).Class)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if got != tt.want {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
			}
		})
	}
}

func TestParseRID(t *testing.T) {
	tests := map[string]string{
		"invalid credential rid: 6579b4c3-1f2e3d4c-5b6a7988":       "6579b4c3-1f2e3d4c-5b6a7988",
		"invalid ip 1.2.3.4, not in whitelist rid: abc-def, hints": "abc-def",
		"system error":  "",
		"rid:":          "",
		"x rid:  a-b  ": "a-b",
	}
	for msg, want := range tests {
		if got := parseRID(msg); got != want {
			t.Errorf("parseRID(%q) = %q, want %q", msg, got, want)
		}
	}
	_, err := ParseCredential(PathToken, []byte(`{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 1a-2b-3c"}`), "access_token")
	var api *APIError
	if !errors.As(err, &api) || api.RID != "1a-2b-3c" {
		t.Fatalf("err = %#v, want rid 1a-2b-3c", err)
	}
}

// FuzzParseCredential checks that no input panics the parser and that
// whatever it accepts is a credential within the limits.
func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"TOKEN","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","ticket":"T","expires_in":7200}`,
		`{"errcode":40001,"errmsg":"invalid credential rid: a-b-c"}`,
		`{"access_token":"","expires_in":7200}`,
		`{"access_token":"T","expires_in":0}`,
		`{"access_token":"T","expires_in":1e3}`,
		`<html></html>`,
		`{"access_token":"T`,
		`{"access_token":"T","expires_in":7200}garbage`,
		`null`,
		``,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, token bool) {
		field := "ticket"
		if token {
			field = "access_token"
		}
		c, err := ParseCredential(PathToken, body, field)
		if err != nil {
			var api *APIError
			var te *TransportError
			if !errors.As(err, &api) && !errors.As(err, &te) {
				t.Fatalf("error of unexpected type %T: %v", err, err)
			}
			if api != nil && api.ErrCode == 0 {
				t.Fatal("APIError with errcode 0")
			}
			return
		}
		if c.Value == "" || len(c.Value) > MaxCredentialLen || !printable(c.Value) {
			t.Fatalf("accepted bad credential %q", c.Value)
		}
		if c.ExpiresIn <= 0 || c.ExpiresIn > MaxExpiresIn {
			t.Fatalf("accepted expires_in %v", c.ExpiresIn)
		}
	})
}
