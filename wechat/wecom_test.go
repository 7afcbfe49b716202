package wechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// TestWeComCalls: each WeCom call goes to WeComBaseURL (never to the
// Official Account host), on its own path with its own query, and its
// answer is parsed; an errcode echoing the secret does not carry it.
func TestWeComCalls(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	wecom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		q := r.URL.Query()
		switch r.URL.Path {
		case PathWeComToken:
			if q.Get("corpsecret") != testSecret {
				fmt.Fprintf(w, `{"errcode":40001,"errmsg":"invalid credential, corpsecret %s, hint: [x]"}`, q.Get("corpsecret"))
				return
			}
			io.WriteString(w, `{"errcode":0,"errmsg":"ok","access_token":"WECOM-TOKEN","expires_in":7200}`)
		case PathWeComJSAPITicket:
			io.WriteString(w, `{"errcode":0,"errmsg":"ok","ticket":"CORP-TICKET","expires_in":7200}`)
		case PathWeComTicket:
			if q.Get("type") != "agent_config" {
				t.Errorf("ticket/get type = %q", q.Get("type"))
			}
			io.WriteString(w, `{"errcode":0,"errmsg":"ok","ticket":"AGENT-TICKET","expires_in":7100}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer wecom.Close()
	oa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a WeCom call reached the Official Account host: %s", r.URL.Path)
	}))
	defer oa.Close()
	c, err := New(Options{BaseURL: oa.URL, WeComBaseURL: wecom.URL + "/", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := c.WeComToken(ctx, "ww0123456789abcdef", testSecret)
	if err != nil || tok.Value != "WECOM-TOKEN" || tok.ExpiresIn != 7200*time.Second {
		t.Fatalf("WeComToken = %+v, %v", tok, err)
	}
	js, err := c.WeComTicket(ctx, tok.Value, wxtoken.KindJSAPITicket)
	if err != nil || js.Value != "CORP-TICKET" {
		t.Fatalf("jsapi = %+v, %v", js, err)
	}
	ac, err := c.WeComTicket(ctx, tok.Value, wxtoken.KindAgentConfig)
	if err != nil || ac.Value != "AGENT-TICKET" || ac.ExpiresIn != 7100*time.Second {
		t.Fatalf("agent_config = %+v, %v", ac, err)
	}
	if _, err := c.WeComTicket(ctx, tok.Value, wxtoken.KindWxCard); err == nil {
		t.Fatal("wx_card is no WeCom ticket")
	}
	want := []string{
		PathWeComToken + "?corpid=ww0123456789abcdef&corpsecret=" + testSecret,
		PathWeComJSAPITicket + "?access_token=WECOM-TOKEN",
		PathWeComTicket + "?access_token=WECOM-TOKEN&type=agent_config",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}

	const wrong = "wrong-secret-value-123"
	_, err = c.WeComToken(ctx, "ww0123456789abcdef", wrong)
	var api *APIError
	if !errors.As(err, &api) || api.ErrCode != 40001 || api.Endpoint != PathWeComToken {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("the secret leaked into the error: %v", err)
	}
	if cl := Classify(err, time.Now()); cl.Class != ClassConfig || !strings.Contains(cl.Hint, "agent's secret") {
		t.Fatalf("wrong secret classified %+v", cl)
	}
	if IsTokenRejected(err) {
		t.Fatal("40001 on gettoken is a wrong secret, not a dead token")
	}
}

// TestWeComTransportErrorsHideTheSecret: a gettoken call that cannot reach
// WeCom says so without the query that carries the secret.
func TestWeComTransportErrorsHideTheSecret(t *testing.T) {
	c, err := New(Options{WeComBaseURL: closedURL(t), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WeComToken(context.Background(), "ww0123456789abcdef", testSecret)
	var te *TransportError
	if !errors.As(err, &te) || te.Endpoint != PathWeComToken {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatalf("the secret leaked: %v", err)
	}
	if _, err := New(Options{WeComBaseURL: "qyapi.weixin.qq.com"}); err == nil {
		t.Fatal("a WeCom base URL without a scheme was accepted")
	}
}

func TestClassifyWeCom(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		endpoint string
		code     int
		msg      string
		class    Class
		wait     time.Duration
		hint     string
		rejected bool
	}{
		{PathWeComToken, 60020, "not allow to access from your ip, hint: [1], from ip: 203.0.113.9, more info at https://open.work.weixin.qq.com", ClassWhitelist, 5 * time.Minute, "203.0.113.9", false},
		{PathWeComTicket, 60020, "not allow to access from your ip", ClassWhitelist, 5 * time.Minute, "企业可信IP", false},
		{PathWeComToken, 40001, "invalid credential", ClassConfig, 10 * time.Minute, "agent's secret", false},
		{PathWeComToken, 40013, "invalid corpid", ClassConfig, 10 * time.Minute, "corpid", false},
		{PathWeComToken, 45009, "api freq out of limit", ClassFrequencyLimit, time.Minute, "frequency", false},
		{PathWeComJSAPITicket, 45009, "api freq out of limit", ClassFrequencyLimit, time.Minute, "per hour", false},
		{PathWeComTicket, 48002, "api forbidden", ClassConfig, 10 * time.Minute, "48002", false},
		{PathWeComJSAPITicket, 301002, "access_token and agentid mismatch", ClassOtherAgentToken, 10 * time.Minute, "another agent", false},
		{PathWeComJSAPITicket, 42001, "access_token expired", ClassTokenRejected, 0, "dead", true},
		{PathWeComTicket, 40014, "invalid access_token", ClassTokenRejected, 0, "dead", true},
		{PathWeComTicket, 40001, "invalid credential", ClassTokenRejected, 0, "dead", true},
		{PathWeComToken, -1, "system busy", ClassTransient, 0, "busy", false},
		// On the Official Account's endpoints the codes keep their meaning.
		{PathStableToken, 45009, "reach max api daily quota limit", ClassDailyQuota, 6 * time.Hour, "00:00", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.endpoint, tt.code), func(t *testing.T) {
			err := fmt.Errorf("refresh: %w", &APIError{Endpoint: tt.endpoint, ErrCode: tt.code, ErrMsg: tt.msg})
			c := Classify(err, now)
			if c.Class != tt.class || c.ErrCode != tt.code {
				t.Fatalf("class = %v (%d), want %v", c.Class, c.ErrCode, tt.class)
			}
			if got := c.NotBefore.Sub(now); got != tt.wait {
				t.Fatalf("wait = %v, want %v", got, tt.wait)
			}
			if !strings.Contains(c.Hint, tt.hint) {
				t.Fatalf("hint %q lacks %q", c.Hint, tt.hint)
			}
			if IsTokenRejected(err) != tt.rejected {
				t.Fatalf("IsTokenRejected = %v", !tt.rejected)
			}
		})
	}
	if !ClassOtherAgentToken.NeedsHuman() || ClassFrequencyLimit.NeedsHuman() {
		t.Fatal("NeedsHuman: 301002 must stop for a human, 45009 on WeCom clears by itself")
	}
	if ClassOtherAgentToken.String() != "other_agent_token" || ClassFrequencyLimit.String() != "frequency_limit" {
		t.Fatal("class names")
	}
}
