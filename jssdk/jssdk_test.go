package jssdk

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// sha1Of is written apart from the package's helper so that the tests do
// not check the code against itself.
func sha1Of(s string) string { return fmt.Sprintf("%x", sha1.Sum([]byte(s))) }

func TestSignDocumentationExample(t *testing.T) {
	// The worked example of WeChat's JS-SDK documentation (appendix 1).
	got := Sign(
		"sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW",
		1414587457,
		"http://mp.weixin.qq.com?params=value",
	)
	if want := "0f9de62fce790f9a083d5c99e95740ceb90c27ed"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestSignKnownAnswer(t *testing.T) {
	tests := []struct {
		ticket, nonce string
		ts            int64
		url           string
	}{
		{"ticket", "abc", 1, "https://example.com/"},
		// Raw values: the "&" and "=" of the query and the percent
		// escapes go into the string unchanged.
		{"t-0_9", "Nonce123", 1700000000, "https://shop.example.com/p?a=1&b=%E4%BD%A0#"},
		{"", "", 0, ""},
	}
	for _, tt := range tests {
		want := sha1Of("jsapi_ticket=" + tt.ticket + "&noncestr=" + tt.nonce +
			"&timestamp=" + fmt.Sprint(tt.ts) + "&url=" + tt.url)
		if got := Sign(tt.ticket, tt.nonce, tt.ts, tt.url); got != want {
			t.Errorf("Sign(%q, %q, %d, %q) = %s, want %s", tt.ticket, tt.nonce, tt.ts, tt.url, got, want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	long := "https://example.com/?q=" + strings.Repeat("a", MaxURLLength-len("https://example.com/?q="))
	tests := []struct {
		in, want string
		err      string
	}{
		{in: "https://example.com/page", want: "https://example.com/page"},
		{in: "http://example.com", want: "http://example.com"},
		{in: "https://example.com/p?a=1&b=2#/route?x=1", want: "https://example.com/p?a=1&b=2"},
		{in: "https://example.com/p#", want: "https://example.com/p"},
		{in: "https://example.com/p?#x", want: "https://example.com/p?"},
		{in: "https://example.com:8443/a%20b?q=%E4%BD%A0&q=%2f", want: "https://example.com:8443/a%20b?q=%E4%BD%A0&q=%2f"},
		{in: "https://example.com/p?b=2&a=1", want: "https://example.com/p?b=2&a=1"},
		{in: "HTTPS://Example.COM/P", want: "HTTPS://Example.COM/P"},
		{in: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080/"},
		{in: long, want: long},

		{in: "", err: "url is required"},
		{in: long + "a", err: "longer than 4096 bytes"},
		{in: "ftp://example.com/file", err: "must be an absolute http or https URL"},
		{in: "javascript:alert(1)", err: "must be an absolute http or https URL"},
		{in: "/relative/page", err: "must be an absolute http or https URL"},
		{in: "example.com/page", err: "must be an absolute http or https URL"},
		{in: "//example.com/page", err: "must be an absolute http or https URL"},
		{in: "https:example.com", err: "must have a host"},
		{in: "https:///path", err: "must have a host"},
		{in: "https://:443/path", err: "must have a host"},
		{in: "https://example.com/a b", err: "must be ASCII"},
		{in: " https://example.com/", err: "must be ASCII"},
		{in: "https://example.com/\n", err: "must be ASCII"},
		{in: "https://example.com/你好", err: "must be ASCII"},
		{in: "https://exa mple.com/", err: "must be ASCII"},
		{in: "https://[::1/", err: "not a valid URL"},
	}
	for _, tt := range tests {
		got, err := NormalizeURL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeURL(%.40q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			if code := wxtoken.ErrorCode(err); code != wxtoken.EInvalid {
				t.Errorf("NormalizeURL(%.40q) error code %q, want %q", tt.in, code, wxtoken.EInvalid)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURL(%.40q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNonce(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	const n = 2000
	for range n {
		s, err := Nonce()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != NonceLength {
			t.Fatalf("Nonce() = %q: length %d, want %d", s, len(s), NonceLength)
		}
		for _, r := range s {
			if !strings.ContainsRune(nonceAlphabet, r) {
				t.Fatalf("Nonce() = %q holds %q, not a letter or digit", s, r)
			}
			counts[r]++
		}
		if seen[s] {
			t.Fatalf("Nonce() repeated %q", s)
		}
		seen[s] = true
	}
	// 32,000 draws over 62 characters: about 516 each. A character that
	// never shows, or shows twice its share, means a broken generator.
	for _, r := range nonceAlphabet {
		if c := counts[r]; c == 0 || c > 2*n*NonceLength/len(nonceAlphabet) {
			t.Errorf("character %q drawn %d times in %d", r, c, n*NonceLength)
		}
	}
}

func TestNewConfig(t *testing.T) {
	now := time.Unix(1414587457, 999_000_000)
	c, err := NewConfig("wx0123456789abcdef", "the-ticket", "https://example.com/p?x=1#frag", now)
	if err != nil {
		t.Fatal(err)
	}
	if c.AppID != "wx0123456789abcdef" || c.Timestamp != 1414587457 || c.URL != "https://example.com/p?x=1" || len(c.NonceStr) != NonceLength {
		t.Errorf("NewConfig = %+v", c)
	}
	want := sha1Of("jsapi_ticket=the-ticket&noncestr=" + c.NonceStr + "&timestamp=1414587457&url=https://example.com/p?x=1")
	if c.Signature != want {
		t.Errorf("signature = %s, want %s over the returned nonce and timestamp", c.Signature, want)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"appId", "timestamp", "nonceStr", "signature", "url"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON %s lacks %q", j, k)
		}
	}
	if _, isNumber := back["timestamp"].(float64); !isNumber {
		t.Errorf("timestamp in %s is not a JSON number", j)
	}

	other, err := NewConfig("wx0123456789abcdef", "the-ticket", "https://example.com/p?x=1", now)
	if err != nil {
		t.Fatal(err)
	}
	if other.NonceStr == c.NonceStr {
		t.Error("two configs share a nonce")
	}

	if _, err := NewConfig("wx0123456789abcdef", "the-ticket", "ftp://example.com/", now); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("NewConfig with an ftp URL: %v, want an EInvalid error", err)
	}
	if _, err := NewConfig("wx0123456789abcdef", "", "https://example.com/", now); err == nil {
		t.Error("NewConfig without a ticket succeeded")
	}
	if _, err := NewConfig("", "t", "https://example.com/", now); err == nil {
		t.Error("NewConfig without an appid succeeded")
	}
}

func TestCardExtSign(t *testing.T) {
	tests := []struct {
		name                                           string
		ticket, timestamp, cardID, code, openID, nonce string
		sorted                                         string // the values in byte order, joined
	}{
		{
			name:   "all fields",
			ticket: "IpK_1T69hDhZkLQTlwsAX4", timestamp: "1404896688", cardID: "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
			code: "123456", openID: "oLVPpjqs9BhvzwPj5A-vTYAX3GLc", nonce: "Wm3WZYTP",
			sorted: "123456" + "1404896688" + "IpK_1T69hDhZkLQTlwsAX4" + "Wm3WZYTP" + "oLVPpjqs9BhvzwPj5A-vTYAX3GLc" + "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
		},
		{
			name:   "code and openid absent",
			ticket: "ticket", timestamp: "1404896688", cardID: "card", nonce: "n0nce",
			sorted: "1404896688" + "card" + "n0nce" + "ticket",
		},
		{
			// Upper case sorts before lower case: byte order, not
			// dictionary order.
			name:   "case",
			ticket: "b", timestamp: "2", cardID: "B", code: "a", openID: "A", nonce: "1",
			sorted: "12ABab",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CardExtSign(tt.ticket, tt.timestamp, tt.cardID, tt.code, tt.openID, tt.nonce)
			if want := sha1Of(tt.sorted); got != want {
				t.Errorf("CardExtSign = %s, want sha1(%q) = %s", got, tt.sorted, want)
			}
		})
	}
}

func TestCardSign(t *testing.T) {
	got := CardSign("ticket", "wx0123456789abcdef", "", "1404896688", "n0nce", "", "GROUPON")
	sorted := "1404896688" + "GROUPON" + "n0nce" + "ticket" + "wx0123456789abcdef"
	if want := sha1Of(sorted); got != want {
		t.Errorf("CardSign = %s, want sha1(%q) = %s", got, sorted, want)
	}
	all := CardSign("t", "wxa", "loc", "9", "n", "card", "CASH")
	if want := sha1Of("9CASHcardlocntwxa"); all != want {
		t.Errorf("CardSign with every field = %s, want %s", all, want)
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://example.com/p?a=1#x", "http://h", "ftp://x", "https:///p", "#", "https://a/#b#c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeURL(raw)
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Fatalf("NormalizeURL(%q): error %v is not EInvalid", raw, err)
			}
			return
		}
		if !strings.HasPrefix(raw, got) || strings.Contains(got, "#") || len(got) > MaxURLLength {
			t.Fatalf("NormalizeURL(%q) = %q: not the part before the fragment", raw, got)
		}
		if again, err := NormalizeURL(got); err != nil || again != got {
			t.Fatalf("NormalizeURL(%q) = %q, %v; want it unchanged", got, again, err)
		}
	})
}
