package interop

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/miniprogram"
	miniConfig "github.com/silenceper/wechat/v2/miniprogram/config"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
)

// mini returns a new silenceper/wechat mini program client for a, with its
// own cache.
func mini(a stackApp) *miniprogram.MiniProgram {
	return wechat.NewWechat().GetMiniProgram(&miniConfig.Config{AppID: a.id, AppSecret: a.secret, Cache: cache.NewMemory()})
}

// code mints a login code at the simulator, as a user's WeChat client
// gets one from wx.login or an OAuth redirect.
func (st *stack) code(t *testing.T, appID, openID string) string {
	t.Helper()
	c, err := st.sim.MintCode(simulator.CodeRequest{AppID: appID, OpenID: openID})
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}

// TestSilenceperWithAClientKeyAsSecret: the SDK, unchanged, configured with
// a business server's client key where the AppSecret goes, gets the app's
// token and jsapi ticket (in both its token modes), makes API calls, logs
// users in with jscode2session and runs web OAuth (code exchange,
// userinfo, auth, refresh) through the front door. Once the key is removed
// from wxtoken's config and wxtoken restarted, the same SDK setup is
// refused as with a wrong AppSecret, and nothing reaches WeChat.
func TestSilenceperWithAClientKeyAsSecret(t *testing.T) {
	st := startStack(t, 7200*time.Second, 300*time.Second, "stable")
	a := st.app(t, "stable")
	keyed := stackApp{id: a.id, api: a.api, secret: st.shopKey} // the business server never sees the AppSecret
	want := st.current(t, a.id, wxtoken.KindAccessToken)
	ticket := st.current(t, a.id, wxtoken.KindJSAPITicket)

	for _, stable := range []bool{false, true} {
		oa := sdk(keyed, stable)
		tok, err := oa.GetAccessToken()
		if err != nil || tok != want {
			t.Fatalf("SDK (stable=%v) with the key: %v; wxtoken's token: %v", stable, err, tok == want)
		}
		const page = "https://shop.example.com/login?next=%2Fcart"
		cfg, err := oa.GetJs().GetConfig(page)
		if err != nil {
			t.Fatalf("GetConfig: %v", err)
		}
		sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", ticket, cfg.NonceStr, cfg.Timestamp, page)))
		if cfg.Signature != hex.EncodeToString(sum[:]) {
			t.Fatalf("the JS-SDK signature does not verify with wxtoken's ticket")
		}
		if ips, err := oa.GetBasic().GetCallbackIP(); err != nil || len(ips) == 0 {
			t.Fatalf("GetCallbackIP: %v", err)
		}
	}

	// A mini program's login: the SDK sends the key as the secret; the
	// simulator, which knows only the AppSecret, accepts the call.
	res, err := mini(keyed).GetAuth().Code2Session(st.code(t, a.id, "oMiniUser"))
	if err != nil || res.OpenID != "oMiniUser" || res.SessionKey == "" {
		t.Fatalf("Code2Session with the key: %+v %v", res, err)
	}

	// Web OAuth: the code exchange with the key, then the user's own
	// token, which reaches WeChat as the SDK sent it.
	oauth := sdk(keyed, true).GetOauth()
	at, err := oauth.GetUserAccessToken(st.code(t, a.id, "oWebUser"))
	if err != nil || at.OpenID != "oWebUser" || at.AccessToken == "" {
		t.Fatalf("GetUserAccessToken with the key: %+v %v", at, err)
	}
	info, err := oauth.GetUserInfo(at.AccessToken, at.OpenID, "zh_CN")
	if err != nil || info.OpenID != "oWebUser" || info.Nickname == "" {
		t.Fatalf("GetUserInfo: %+v %v", info, err)
	}
	if ok, err := oauth.CheckAccessToken(at.AccessToken, at.OpenID); err != nil || !ok {
		t.Fatalf("CheckAccessToken: %v %v", ok, err)
	}
	re, err := oauth.RefreshAccessToken(at.RefreshToken)
	if err != nil || re.AccessToken == "" || re.AccessToken == at.AccessToken {
		t.Fatalf("RefreshAccessToken: %v", err)
	}
	if ok, err := oauth.CheckAccessToken(re.AccessToken, at.OpenID); err != nil || !ok {
		t.Fatalf("CheckAccessToken with the refreshed token: %v %v", ok, err)
	}
	if got := st.sim.Calls(simulator.EndpointSNS, a.id); got != 6 {
		t.Errorf("%d login calls reached WeChat, want 6", got)
	}

	// Revoke the key: out of the config, and restart.
	st.restart(t, false)
	before := st.sim.Calls("", "")
	for _, stable := range []bool{false, true} {
		_, err := sdk(keyed, stable).GetAccessToken()
		if err == nil || !strings.Contains(err.Error(), "40125") {
			t.Errorf("SDK (stable=%v) with the revoked key: %v, want 40125", stable, err)
		}
	}
	if _, err := mini(keyed).GetAuth().Code2Session(st.code(t, a.id, "")); err == nil || !strings.Contains(err.Error(), "40125") {
		t.Errorf("Code2Session with the revoked key: %v, want 40125", err)
	}
	if _, err := sdk(keyed, true).GetOauth().GetUserAccessToken(st.code(t, a.id, "")); err == nil || !strings.Contains(err.Error(), "40125") {
		t.Errorf("GetUserAccessToken with the revoked key: %v, want 40125", err)
	}
	if got := st.sim.Calls("", ""); got != before {
		t.Errorf("the revoked key caused %d calls at WeChat, want none", got-before)
	}
	// The AppSecret still works after the restart, from the store.
	if tok, err := sdk(a, true).GetAccessToken(); err != nil || tok != want {
		t.Errorf("the AppSecret after the restart: %v", err)
	}
	st.noValueInLogs(t, want, ticket, at.AccessToken, at.RefreshToken, re.AccessToken)
}
