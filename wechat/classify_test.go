package wechat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestClassifyEveryErrcode(t *testing.T) {
	// 2026-11-23 10:00 UTC is 18:00 in China; the quota resets at 16:00 UTC.
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	reset := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		endpoint string
		code     int
		class    Class
		wait     time.Duration // NotBefore - now
		notAt    time.Time     // when set, NotBefore exactly
		hint     string        // a fragment the hint must contain
	}{
		{PathToken, -1, ClassTransient, 0, time.Time{}, "busy"},
		{PathToken, 45011, ClassMinuteLimit, time.Minute, time.Time{}, "minute"},
		{PathStableToken, 45009, ClassDailyQuota, 0, reset, "00:00 China Standard Time"},
		{PathToken, 40164, ClassWhitelist, 5 * time.Minute, time.Time{}, "203.0.113.7"},
		{PathToken, 61004, ClassWhitelist, 5 * time.Minute, time.Time{}, "whitelist"},
		{PathToken, 89503, ClassRiskConfirm, 5 * time.Minute, time.Time{}, "admin"},
		{PathToken, 89501, ClassRiskConfirm, 5 * time.Minute, time.Time{}, "admin"},
		{PathToken, 89507, ClassAdminRejected, time.Hour, time.Time{}, "1 hour"},
		{PathToken, 89506, ClassAdminRejected, 24 * time.Hour, time.Time{}, "24 hours"},
		{PathToken, 40013, ClassConfig, 10 * time.Minute, time.Time{}, "appid"},
		{PathToken, 41002, ClassConfig, 10 * time.Minute, time.Time{}, "appid"},
		{PathToken, 40125, ClassConfig, 10 * time.Minute, time.Time{}, "secret"},
		{PathToken, 41004, ClassConfig, 10 * time.Minute, time.Time{}, "secret"},
		{PathToken, 40001, ClassConfig, 10 * time.Minute, time.Time{}, "AppSecret"},
		{PathStableToken, 40001, ClassConfig, 10 * time.Minute, time.Time{}, "AppSecret"},
		{PathToken, 40243, ClassConfig, 10 * time.Minute, time.Time{}, "frozen"},
		{PathToken, 50004, ClassConfig, 10 * time.Minute, time.Time{}, "barred"},
		{PathToken, 50007, ClassConfig, 10 * time.Minute, time.Time{}, "frozen"},
		{PathToken, 61024, ClassConfig, 10 * time.Minute, time.Time{}, "third-party"},
		{PathTicket, 40001, ClassTokenRejected, 0, time.Time{}, "dead"},
		{PathTicket, 40014, ClassTokenRejected, 0, time.Time{}, "dead"},
		{PathTicket, 42001, ClassTokenRejected, 0, time.Time{}, "dead"},
		{PathProbe, 42001, ClassTokenRejected, 0, time.Time{}, "dead"},
		{PathToken, 40002, ClassUnknown, time.Minute, time.Time{}, "rid x-y-z"},
		{PathToken, 99999, ClassUnknown, time.Minute, time.Time{}, "99999"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.endpoint, tt.code), func(t *testing.T) {
			msg := "some text rid: x-y-z"
			if tt.code == 40164 {
				msg = "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: x-y-z"
			}
			err := fmt.Errorf("refresh: %w", &APIError{Endpoint: tt.endpoint, ErrCode: tt.code, ErrMsg: msg, RID: parseRID(msg)})
			c := Classify(err, now)
			if c.Class != tt.class {
				t.Fatalf("class = %v, want %v", c.Class, tt.class)
			}
			if c.ErrCode != tt.code {
				t.Fatalf("errcode = %d", c.ErrCode)
			}
			want := now.Add(tt.wait)
			if !tt.notAt.IsZero() {
				want = tt.notAt
			}
			if !c.NotBefore.Equal(want) {
				t.Fatalf("NotBefore = %v, want %v", c.NotBefore, want)
			}
			if !strings.Contains(c.Hint, tt.hint) {
				t.Fatalf("hint %q lacks %q", c.Hint, tt.hint)
			}
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	now := time.Unix(1e9, 0)
	for _, err := range []error{
		&TransportError{Endpoint: PathToken, Status: 502, Reason: "unexpected HTTP status"},
		context.DeadlineExceeded,
		errors.New("connection refused"),
	} {
		c := Classify(err, now)
		if c.Class != ClassTransient || !c.NotBefore.Equal(now) || c.ErrCode != 0 || c.Hint == "" {
			t.Errorf("Classify(%v) = %+v, want transient now", err, c)
		}
	}
}

func TestNextQuotaReset(t *testing.T) {
	tests := []struct{ at, want time.Time }{
		// 15:59:59 UTC is 23:59:59 in China: the reset is one second away.
		{time.Date(2026, 1, 1, 15, 59, 59, 0, time.UTC), time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC)},
		// 16:00 UTC is midnight in China: the next reset is a day later.
		{time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 16, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := NextQuotaReset(tt.at); !got.Equal(tt.want) {
			t.Errorf("NextQuotaReset(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
	if d := QuotaDay(time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC)); d != "2026-01-02" {
		t.Errorf("QuotaDay = %s", d)
	}
}

func TestWhitelistIP(t *testing.T) {
	tests := map[string]string{
		"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: a": "1.2.3.4",
		"invalid ip 2001:db8::1, not in whitelist":                        "2001:db8::1",
		"invalid ip <script>, not in whitelist":                           "",
		"not in whitelist":                                                "",
	}
	for msg, want := range tests {
		if got := whitelistIP(msg); got != want {
			t.Errorf("whitelistIP(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestIsTokenRejected(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&APIError{Endpoint: PathTicket, ErrCode: 40001}, true},
		{&APIError{Endpoint: PathProbe, ErrCode: 42001}, true},
		{&APIError{Endpoint: "/cgi-bin/message/custom/send", ErrCode: 40014}, true},
		{&APIError{Endpoint: PathToken, ErrCode: 40001}, false},
		{&APIError{Endpoint: PathTicket, ErrCode: -1}, false},
		{errors.New("x"), false},
	}
	for _, tt := range tests {
		if got := IsTokenRejected(tt.err); got != tt.want {
			t.Errorf("IsTokenRejected(%v) = %v", tt.err, got)
		}
	}
}
