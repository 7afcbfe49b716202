package compat

import (
	"net/http"
	"strings"
	"testing"
)

func TestFindToken(t *testing.T) {
	for _, c := range []struct {
		raw             string
		value           string
		found, conflict bool
	}{
		{"", "", false, false},
		{"type=jsapi", "", false, false},
		{"access_token=T1&type=jsapi", "T1", true, false},
		{"type=jsapi&access_token=T1", "T1", true, false},
		{"access%5Ftoken=T1", "T1", true, false},
		{"access_token=T%2D1", "T-1", true, false},
		{"access_token=", "", true, false},
		{"access_token", "", true, false},
		{"access_token=T1&access_token=T1", "T1", true, false},
		{"access_token=T1&access_token=T2", "", true, true},
		{"access_tokens=T1", "", false, false},
		{"x=%zz&access_token=T1", "T1", true, false},
	} {
		v, found, conflict := findToken(c.raw)
		if v != c.value || found != c.found || conflict != c.conflict {
			t.Errorf("findToken(%q) = %q, %v, %v; want %q, %v, %v", c.raw, v, found, conflict, c.value, c.found, c.conflict)
		}
	}
}

func TestWithToken(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"", "access_token=NEW"},
		{"type=jsapi", "type=jsapi&access_token=NEW"},
		{"access_token=OLD&type=jsapi", "access_token=NEW&type=jsapi"},
		{"z=1&access_token=OLD&a=%2F%20x&empty=", "z=1&access_token=NEW&a=%2F%20x&empty="},
		{"access_token=A&x=1&access%5Ftoken=B", "access_token=NEW&x=1"},
		{"a=1&&b=2", "a=1&&b=2&access_token=NEW"},
	} {
		if got := withToken(c.raw, "NEW"); got != c.want {
			t.Errorf("withToken(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// TestWithParam: the AppSecret put in where a client key stood, in its
// place, whatever spelling the parameter's name had, and escaped.
func TestWithParam(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"appid=wxA&secret=wxt_key&js_code=c", "appid=wxA&secret=s%2Bcr%26t&js_code=c"},
		{"s%65cret=wxt_key&appid=wxA&secret=wxt_key", "secret=s%2Bcr%26t&appid=wxA"},
		{"appid=wxA", "appid=wxA&secret=s%2Bcr%26t"},
	} {
		if got := withParam(c.raw, "secret", "s+cr&t"); got != c.want {
			t.Errorf("withParam(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	if v, found, conflict := findParam("secret=a&s%65cret=b", "secret"); v != "" || !found || !conflict {
		t.Errorf("two different secrets: %q %v %v", v, found, conflict)
	}
}

// FuzzWithToken: whatever the query, the result carries exactly the new
// token, and every other parameter as it was, in order.
func FuzzWithToken(f *testing.F) {
	for _, s := range []string{"", "a=1", "access_token=x&b=2", "access%5Ftoken=1&access_token=2", "&&", "=", "%zz=1&access_token"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const tok = "95_new-TOKEN_value"
		out := withToken(raw, tok)
		v, found, conflict := findToken(out)
		if v != tok || !found || conflict {
			t.Fatalf("withToken(%q) = %q: findToken says %q, %v, %v", raw, out, v, found, conflict)
		}
		var others, kept []string
		for p := range strings.SplitSeq(raw, "&") {
			if k, _ := queryKey(p); k != tokenParam {
				others = append(others, p)
			}
		}
		for p := range strings.SplitSeq(out, "&") {
			if k, _ := queryKey(p); k != tokenParam {
				kept = append(kept, p)
			}
		}
		if raw == "" {
			others = nil
		}
		if strings.Join(others, "&") != strings.Join(kept, "&") {
			t.Fatalf("withToken(%q) = %q changed the other parameters", raw, out)
		}
	})
}

func TestForwardHeaders(t *testing.T) {
	in := http.Header{
		"Content-Type":        {"application/json"},
		"X-Custom":            {"a", "b"},
		"Connection":          {"keep-alive, X-Hop"},
		"X-Hop":               {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"trailers"},
		"Upgrade":             {"h2c"},
		"Proxy-Authorization": {"Basic x"},
		"Authorization":       {"Bearer wxt_secret"},
		"X-Wxtoken-Appid":     {"wxA"},
		"Accept-Encoding":     {"gzip"},
		"Cookie":              {"a=b"},
	}
	out := forwardHeaders(in)
	want := http.Header{"Content-Type": {"application/json"}, "X-Custom": {"a", "b"}, "Cookie": {"a=b"}}
	if len(out) != len(want) {
		t.Fatalf("forwarded %v, want %v", out, want)
	}
	for k, v := range want {
		if strings.Join(out[k], ",") != strings.Join(v, ",") {
			t.Errorf("%s: %v, want %v", k, out[k], v)
		}
	}
}

func TestTokenRejected(t *testing.T) {
	for body, want := range map[string]bool{
		`{"errcode":40001,"errmsg":"invalid credential"}`: true,
		`{"errcode":42001,"errmsg":"expired"}`:            true,
		`{"errcode":40014,"errmsg":"invalid"}`:            true,
		`{"errcode":0,"errmsg":"ok"}`:                     false,
		`{"errcode":45009}`:                               false,
		`{"ip_list":[]}`:                                  false,
		`not json`:                                        false,
		`[40001]`:                                         false,
	} {
		if got := tokenRejected([]byte(body)); got != want {
			t.Errorf("tokenRejected(%s) = %v", body, got)
		}
	}
}

func TestClaim(t *testing.T) {
	root := &Handler{roots: map[string]*route{}}
	for _, r := range Roots() {
		root.roots[r] = &route{}
	}
	under := &Handler{base: "/wechat", roots: root.roots}
	for _, c := range []struct {
		h    *Handler
		path string
		wx   string
		ok   bool
	}{
		{root, "/cgi-bin/token", "/cgi-bin/token", true},
		{root, "/sns/jscode2session", "/sns/jscode2session", true},
		{root, "/cgi-bin", "/cgi-bin", true},
		{root, "/v1/apps", "", false},
		{root, "/metrics", "", false},
		{root, "/cgi-binx/token", "", false},
		{root, "/", "", false},
		{under, "/wechat/cgi-bin/token", "/cgi-bin/token", true},
		{under, "/wechat/anything", "/anything", true},
		{under, "/wechat", "", false},
		{under, "/wechatx/cgi-bin/token", "", false},
		{under, "/cgi-bin/token", "", false},
	} {
		wx, ok := c.h.claim(c.path)
		if wx != c.wx || ok != c.ok {
			t.Errorf("claim(%q) under %q = %q, %v; want %q, %v", c.path, c.h.base, wx, ok, c.wx, c.ok)
		}
	}
}
