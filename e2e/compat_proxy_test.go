package e2e_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
)

// TestCompatTicket: getticket answers the cached ticket for the app the
// token belongs to, whatever the order of the parameters, and refuses a
// token wxtoken did not hand out.
func TestCompatTicket(t *testing.T) {
	integration.Skip(t)
	e := newCompatEnv(t, setup{
		apps: []appSpec{{id: "wxtick", api: "stable", tickets: []string{"jsapi", "wx_card"}}, {id: "wxbare", api: "classic"}},
		ttl:  time.Minute, overlap: 5 * time.Second,
	})
	e.start()
	tok := e.token(t, "wxtick").value
	jsapi := e.ticket(t, "wxtick", "jsapi").value
	card := e.ticket(t, "wxtick", "wx_card").value
	calls := e.sim.Calls("", "")
	for _, path := range []string{
		"/cgi-bin/ticket/getticket?access_token=" + tok + "&type=jsapi",
		"/cgi-bin/ticket/getticket?type=jsapi&access_token=" + tok,
	} {
		a := e.wx(t, http.MethodGet, path, "", nil)
		if a.status != 200 || a.ErrCode != 0 || a.ErrMsg != "ok" || a.Ticket != jsapi || a.ExpiresIn < 1 || a.header.Get("Content-Type") != wxContentType {
			t.Fatalf("%s: %s", routeOf(path), a)
		}
	}
	if a := e.wx(t, http.MethodGet, "/cgi-bin/ticket/getticket?type=wx_card&access_token="+tok, "", nil); a.Ticket != card {
		t.Fatalf("wx_card: %s", a)
	}
	// With a client key and the appid header instead of a token.
	if a := e.wx(t, http.MethodGet, "/cgi-bin/ticket/getticket?type=jsapi", "", map[string]string{"Authorization": "Bearer " + e.key, "X-Wxtoken-Appid": "wxtick"}); a.Ticket != jsapi {
		t.Fatalf("with a client key: %s", a)
	}
	if got := e.sim.Calls("", ""); got != calls {
		t.Errorf("getticket through the front door made %d upstream calls", got-calls)
	}

	bare := e.token(t, "wxbare").value
	for _, c := range []struct {
		name, path string
		errcode    int
	}{
		{"unknown token", "/cgi-bin/ticket/getticket?type=jsapi&access_token=95_notonewxtokenhandedout", 40001},
		{"empty token", "/cgi-bin/ticket/getticket?type=jsapi&access_token=", 40014},
		{"no token", "/cgi-bin/ticket/getticket?type=jsapi", 41001},
		{"two tokens", "/cgi-bin/ticket/getticket?type=jsapi&access_token=" + tok + "&access_token=" + bare, 40014},
		{"unknown type", "/cgi-bin/ticket/getticket?type=card&access_token=" + tok, 40097},
		{"ticket not kept", "/cgi-bin/ticket/getticket?type=jsapi&access_token=" + bare, 40097},
	} {
		t.Run(c.name, func(t *testing.T) { wantWXError(t, e.wx(t, http.MethodGet, c.path, "", nil), c.errcode) })
	}
	wantWXError(t, e.wx(t, http.MethodPost, "/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok, "", nil), 43001)
	e.noTokenInLogs(t, tok, jsapi, card, bare)
}

// TestCompatProxyKeepsTheCall: a relayed call reaches the configured
// upstream with its method, path, query, body and end-to-end headers, the
// token swapped for the current one, and none of the hop-by-hop headers,
// the client key or the appid header; the answer comes back as WeChat
// gave it.
func TestCompatProxyKeepsTheCall(t *testing.T) {
	integration.Skip(t)
	const appID = "wxrelay"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second})
	rec := e.recordUpstream(t)
	e.start()
	cur := e.token(t, appID).value

	n := rec.count()
	body := `{"touser":"o1","msgtype":"text","text":{"content":"你好 & hi"}}`
	a := e.wx(t, http.MethodPost, "/cgi-bin/message/custom/send?z=1&access_token="+cur+"&a=%2F%20x&empty=", body, map[string]string{
		"Content-Type": "application/json", "X-Custom": "kept", "Connection": "X-Hop", "X-Hop": "dropped",
		"Te": "trailers", "Host": "evil.example", "User-Agent": "sdk/1.0",
	})
	if a.status != 200 || a.raw != `{"errcode":0,"errmsg":"ok"}` || a.header.Get("Content-Type") != wxContentType {
		t.Fatalf("relayed answer: %s (%q)", a, a.header.Get("Content-Type"))
	}
	got := rec.since(n)
	if len(got) != 1 {
		t.Fatalf("%d upstream calls, want 1", len(got))
	}
	c := got[0]
	if c.method != "POST" || c.path != "/cgi-bin/message/custom/send" || c.query != "z=1&access_token="+cur+"&a=%2F%20x&empty=" || string(c.body) != body {
		t.Errorf("upstream saw %s %s?%s %q", c.method, c.path, c.query, c.body)
	}
	if c.header.Get("X-Custom") != "kept" || c.header.Get("Content-Type") != "application/json" || c.header.Get("User-Agent") != "sdk/1.0" {
		t.Errorf("end-to-end headers lost: %v", c.header)
	}
	for _, h := range []string{"X-Hop", "Te", "Connection", "Authorization", "X-Wxtoken-Appid"} {
		if _, ok := c.header[h]; ok {
			t.Errorf("the upstream got the %s header", h)
		}
	}
	if strings.Contains(c.host, "evil") {
		t.Errorf("the Host header chose the upstream: %q", c.host)
	}

	// A client key and the appid header instead of a token: the token is
	// put in, and neither the key nor the header reaches WeChat.
	n = rec.count()
	a = e.wx(t, http.MethodGet, "/cgi-bin/getcallbackip", "", map[string]string{"Authorization": "Bearer " + e.key, "X-Wxtoken-Appid": appID})
	if a.status != 200 || len(a.IPList) == 0 || strings.Contains(a.raw, cur) {
		t.Fatalf("with a client key: %s", a)
	}
	got = rec.since(n)
	if len(got) != 1 || got[0].query != "access_token="+cur || got[0].header.Get("Authorization") != "" || got[0].header.Get("X-Wxtoken-Appid") != "" {
		t.Fatalf("with a client key the upstream saw %+v", got)
	}
	// ... even when the caller also sends some access_token.
	n = rec.count()
	e.wx(t, http.MethodGet, "/wxa/getpaidunionid?access_token=whatever&openid=o1", "", map[string]string{"Authorization": "Bearer " + e.key, "X-Wxtoken-Appid": appID})
	if got = rec.since(n); len(got) != 1 || got[0].query != "access_token="+cur+"&openid=o1" {
		t.Fatalf("the key's token did not replace the caller's: %+v", got)
	}

	// The app's own appid and AppSecret vouch for a call that takes them
	// (jscode2session), which is relayed as it is.
	n = rec.count()
	q := "/sns/jscode2session?appid=" + appID + "&secret=" + e.secretOf(appID) + "&js_code=c0de&grant_type=authorization_code"
	e.wx(t, http.MethodGet, q, "", nil)
	if got = rec.since(n); len(got) != 1 || got[0].path != "/sns/jscode2session" || !strings.Contains(got[0].query, "js_code=c0de") {
		t.Fatalf("jscode2session: %+v", got)
	}
	e.noTokenInLogs(t, cur)
}

// TestCompatNoOpenRelay: calls that carry nothing wxtoken can vouch for
// are answered by wxtoken and never reach the upstream.
func TestCompatNoOpenRelay(t *testing.T) {
	integration.Skip(t)
	e := newCompatEnv(t, setup{
		apps:    []appSpec{{id: "wxmine", api: "stable"}, {id: "wxother", api: "stable"}},
		clients: []clientSpec{{name: "mine", apps: []string{"wxmine"}}, {name: "all", apps: []string{"*"}}},
		ttl:     time.Minute, overlap: 5 * time.Second,
	})
	rec := e.recordUpstream(t)
	e.start()
	mine, all := e.keys["mine"], e.keys["all"]
	// Both apps' tokens first, so that the server's own token calls are
	// behind us.
	e.token(t, "wxmine")
	e.mustDo(t, http.MethodGet, "/v1/apps/wxother/access_token", all, "")
	n := rec.count()
	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		errcode            int
	}{
		{"nothing", "GET", "/cgi-bin/user/get", nil, 41001},
		{"foreign token", "GET", "/cgi-bin/user/get?access_token=95_someoneelsestoken", nil, 40001},
		{"empty token", "POST", "/cgi-bin/menu/create?access_token=", nil, 40014},
		{"unknown key", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Bearer wxt_nope", "X-Wxtoken-Appid": "wxmine"}, 40001},
		{"not a bearer key", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "X-Wxtoken-Appid": "wxmine"}, 40001},
		{"key without appid header", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Bearer " + mine}, 41002},
		{"key not granted the app", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Bearer " + mine, "X-Wxtoken-Appid": "wxother"}, 48001},
		{"key of an unknown app, not granted", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Bearer " + mine, "X-Wxtoken-Appid": "wxnone"}, 48001},
		{"key of an unknown app, granted all", "GET", "/cgi-bin/user/get", map[string]string{"Authorization": "Bearer " + all, "X-Wxtoken-Appid": "wxnone"}, 40013},
		{"wrong secret", "GET", "/sns/jscode2session?appid=wxmine&secret=" + strings.Repeat("f", 32) + "&js_code=x", nil, 40125},
		{"unknown appid with a secret", "GET", "/sns/jscode2session?appid=wxnone&secret=x&js_code=x", nil, 40013},
		// An appid alone vouches for nothing; the user's refresh token
		// that /sns/oauth2/refresh_token carries is relayed (compat_sns_test.go).
		{"appid without secret", "GET", "/cgi-bin/user/get?appid=wxmine&next_openid=", nil, 41001},
		{"login without secret", "GET", "/sns/jscode2session?appid=wxmine&js_code=x", nil, 41004},
		{"unclean path", "GET", "/cgi-bin/../cgi-bin/user/get?access_token=x", nil, 40066},
		{"token path in another case", "GET", "/CGI-BIN/TOKEN?grant_type=client_credential&appid=wxmine&secret=" + e.secretOf("wxmine"), nil, 40066},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if c.name == "token path in another case" {
				// Served at the root, /CGI-BIN is not a WeChat root, so
				// the HTTP API answers it; ask for the lower-case root
				// with an upper-case tail instead.
				path = "/cgi-bin/TOKEN?grant_type=client_credential&appid=wxmine&secret=" + e.secretOf("wxmine")
			}
			wantWXError(t, e.wx(t, c.method, path, "", c.header), c.errcode)
		})
	}
	if got := rec.since(n); len(got) != 0 {
		t.Errorf("refused calls reached the upstream: %+v", got)
	}
	// Paths that are not WeChat's still reach the HTTP API.
	a := e.mustDo(t, http.MethodGet, "/v1/apps/wxmine/access_token", mine, "")
	if _, err := parseGrant(a, "wxmine", ""); err != nil {
		t.Fatalf("the HTTP API behind the front door: %v", err)
	}
	apiError(t, e.mustDo(t, http.MethodGet, "/nothing/here", mine, ""), 404, "not_found")
}

// TestCompatProxyHealsRejectedToken: when WeChat rejects the token a
// relayed call carried, wxtoken reports it, gets a new one and makes the
// call once more, so the caller never sees the 40001; a token since
// replaced is still swapped for the current one. A body over the retry
// limit is streamed and not retried.
func TestCompatProxyHealsRejectedToken(t *testing.T) {
	integration.Skip(t)
	const appID = "wxheal"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second, passiveInterval: 200 * time.Millisecond})
	rec := e.recordUpstream(t)
	e.start()
	old := e.token(t, appID).value
	if _, err := e.sim.Rotate(appID, simulator.KindStable); err != nil {
		t.Fatal(err)
	}

	n := rec.count()
	body := `{"button":[{"type":"click","name":"Today","key":"V1001"}]}`
	a := e.wx(t, http.MethodPost, "/cgi-bin/menu/create?access_token="+old, body, map[string]string{"Content-Type": "application/json"})
	if a.status != 200 || a.raw != `{"errcode":0,"errmsg":"ok"}` {
		t.Fatalf("the healed call: %s", a)
	}
	// The report that healed the call was made before its answer came.
	reported := time.Now()
	cur := e.token(t, appID).value
	if cur == old {
		t.Fatal("the rejected token was not replaced")
	}
	var menus []upstreamCall
	for _, c := range rec.since(n) {
		if c.path == "/cgi-bin/menu/create" {
			menus = append(menus, c)
		}
	}
	if len(menus) != 2 || menus[0].query != "access_token="+old || menus[1].query != "access_token="+cur || !bytes.Equal(menus[1].body, []byte(body)) {
		t.Fatalf("want the call made with the old token, then once more with the new one and the same body; got %+v", menus)
	}

	// The caller still holds the replaced token: it is swapped.
	n = rec.count()
	if a := e.wx(t, http.MethodGet, "/cgi-bin/getcallbackip?access_token="+old, "", nil); a.ErrCode != 0 || len(a.IPList) == 0 {
		t.Fatalf("call with the replaced token: %s", a)
	}
	if got := rec.since(n); len(got) != 1 || got[0].query != "access_token="+cur {
		t.Fatalf("the replaced token was not swapped: %+v", got)
	}

	// A body too large to hold is streamed, and a rejection is passed on.
	// Past passive_interval since that report, so that a report would run.
	passive := e.cfg.Refresh.PassiveInterval.Std()
	waitFor(t, 5*time.Second, "passive_interval to pass since the last report", func() bool {
		return time.Since(reported) > passive
	})
	if _, err := e.sim.Rotate(appID, simulator.KindStable); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20+1)
	n = rec.count()
	a = e.wx(t, http.MethodPost, "/cgi-bin/media/upload?type=image&access_token="+cur, big, map[string]string{"Content-Type": "application/octet-stream"})
	if a.ErrCode != 40001 || strings.HasPrefix(a.ErrMsg, "wxtoken:") {
		t.Fatalf("a streamed call rejected by WeChat: want WeChat's own 40001, got %s", a)
	}
	if got := rec.since(n); len(got) != 1 || len(got[0].body) != len(big) {
		t.Fatalf("a streamed call was made %d times", len(got))
	}
	e.noTokenInLogs(t, old, cur)
}

// TestCompatDisabledAndBasePath: without compat.enabled WeChat's paths are
// the HTTP API's 404; with a base path the front door is below it and
// nowhere else.
func TestCompatDisabledAndBasePath(t *testing.T) {
	integration.Skip(t)
	const appID = "wxwhere"
	e := newEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second})
	first := e.start()
	secret := e.secretOf(appID)
	// Let the first fetch land, so that stopping this server does not
	// cancel it and leave a retry for the next one to wait out.
	e.token(t, appID)
	apiError(t, e.mustDo(t, http.MethodGet, classicTokenPath(appID, secret), "", ""), 404, "not_found")
	first.stop(t)

	e.cfg.Compat.Enabled, e.cfg.Compat.BasePath = true, "/wechat"
	e.start()
	want := e.token(t, appID).value
	if a := e.wx(t, http.MethodGet, "/wechat"+classicTokenPath(appID, secret), "", nil); a.AccessToken != want {
		t.Fatalf("below the base path: %s", a)
	}
	if a := e.wx(t, http.MethodGet, "/wechat/cgi-bin/getcallbackip?access_token="+want, "", nil); len(a.IPList) == 0 {
		t.Fatalf("relayed below the base path: %s", a)
	}
	apiError(t, e.mustDo(t, http.MethodGet, classicTokenPath(appID, secret), "", ""), 404, "not_found")
	// Below a base path every path is the front door's, WeChat root or not.
	wantWXError(t, e.wx(t, http.MethodGet, "/wechat/anything/else", "", nil), 41001)

	// The metrics name route patterns, never paths or queries.
	m := e.mustDo(t, http.MethodGet, "/metrics", e.key, "")
	if !bytes.Contains(m.body, []byte(`route="/wechat/cgi-bin/token"`)) || !bytes.Contains(m.body, []byte(`route="/wechat/cgi-bin/{path...}"`)) {
		t.Errorf("the metrics lack the front door's routes")
	}
	if bytes.Contains(m.body, []byte(want)) || bytes.Contains(m.body, []byte("getcallbackip")) || bytes.Contains(m.body, []byte("anything")) {
		t.Errorf("the metrics hold a raw path or a token")
	}
	e.noTokenInLogs(t, want)
}
