package interop

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/menu"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/simulator"
)

// sdk returns a new silenceper/wechat Official Account client for a, with
// its own in-memory cache, as each business server would have; stable
// selects the SDK's stable_token mode.
func sdk(a stackApp, stable bool) *officialaccount.OfficialAccount {
	return wechat.NewWechat().GetOfficialAccount(&offConfig.Config{
		AppID: a.id, AppSecret: a.secret, Token: "interop", Cache: cache.NewMemory(), UseStableAK: stable,
	})
}

// current is what wxtoken holds for the app now.
func (st *stack) current(t *testing.T, appID string, kind wxtoken.Kind) string {
	t.Helper()
	g, err := st.srv.Engine().Credential(context.Background(), appID, kind)
	if err != nil {
		t.Fatal(err)
	}
	return g.Value
}

func testMenu() []*menu.Button {
	return []*menu.Button{{Type: "click", Name: "Today", Key: "V1001_TODAY"}}
}

// TestSilenceperThroughTheFrontDoor: the SDK, in its classic and its
// stable token mode, gets wxtoken's token, a jsapi ticket and a JS-SDK
// signature that verifies, and makes ordinary API calls through the
// relay; none of it costs a token call at WeChat beyond wxtoken's own.
func TestSilenceperThroughTheFrontDoor(t *testing.T) {
	for _, api := range []string{"stable", "classic"} {
		t.Run(api, func(t *testing.T) {
			st := startStack(t, 7200*time.Second, 300*time.Second, api)
			a := st.app(t, api)
			want := st.current(t, a.id, wxtoken.KindAccessToken)
			ticket := st.current(t, a.id, wxtoken.KindJSAPITicket)
			tokenCalls := st.sim.Calls(simulator.EndpointToken, "") + st.sim.Calls(simulator.EndpointStableToken, "")
			ticketCalls := st.sim.Calls(simulator.EndpointTicket, "")

			for _, stable := range []bool{false, true} {
				oa := sdk(a, stable)
				tok, err := oa.GetAccessToken()
				if err != nil || tok != want {
					t.Fatalf("SDK (stable=%v) token: %v; same as wxtoken's: %v", stable, err, tok == want)
				}

				const page = "https://shop.example.com/pay?order=42&from=app"
				cfg, err := oa.GetJs().GetConfig(page)
				if err != nil {
					t.Fatalf("GetConfig: %v", err)
				}
				sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", ticket, cfg.NonceStr, cfg.Timestamp, page)))
				if cfg.AppID != a.id || cfg.Signature != hex.EncodeToString(sum[:]) {
					t.Fatalf("the SDK's JS-SDK signature does not verify with wxtoken's ticket: %+v", cfg)
				}
				if s := st.sim.Check(ticket); !s.Valid {
					t.Fatalf("the ticket is not valid at WeChat: %+v", s)
				}

				ips, err := oa.GetBasic().GetCallbackIP()
				if err != nil || len(ips) == 0 {
					t.Fatalf("GetCallbackIP: %v %v", ips, err)
				}
				if err := oa.GetMenu().SetMenu(testMenu()); err != nil {
					t.Fatalf("SetMenu: %v", err)
				}
				if _, err := oa.GetUser().GetUserInfo("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"); err != nil {
					t.Fatalf("GetUserInfo: %v", err)
				}
			}
			if got := st.sim.Calls(simulator.EndpointToken, "") + st.sim.Calls(simulator.EndpointStableToken, ""); got != tokenCalls {
				t.Errorf("the SDKs caused %d token calls at WeChat, want none", got-tokenCalls)
			}
			if got := st.sim.Calls(simulator.EndpointTicket, ""); got != ticketCalls {
				t.Errorf("the SDKs caused %d getticket calls at WeChat, want none", got-ticketCalls)
			}
			if got := st.sim.Calls(simulator.EndpointAPI, a.id); got != 6 {
				t.Errorf("%d ordinary API calls reached WeChat, want 6 (3 per SDK client)", got)
			}
			st.noValueInLogs(t, want, ticket)
		})
	}
}

// TestSilenceperHealedByTheFrontDoor: the SDK holds a token that WeChat
// has since stopped accepting; its next call is answered 40001 at WeChat,
// which wxtoken heals (report, new token, one retry) so the SDK sees
// success, and its stale token keeps working through the relay.
func TestSilenceperHealedByTheFrontDoor(t *testing.T) {
	st := startStack(t, 7200*time.Second, 300*time.Second, "stable")
	a := st.app(t, "stable")
	oa := sdk(a, true)
	old, err := oa.GetAccessToken()
	if err != nil {
		t.Fatal(err)
	}
	// Out of band, the token dies at once: a leak response, an admin
	// reset, another server's force refresh.
	if _, err := st.sim.Rotate(a.id, simulator.KindStable); err != nil {
		t.Fatal(err)
	}
	apiCalls := st.sim.Calls(simulator.EndpointAPI, "")
	if err := oa.GetMenu().SetMenu(testMenu()); err != nil {
		t.Fatalf("SetMenu with a token WeChat no longer accepts: %v", err)
	}
	if got := st.sim.Calls(simulator.EndpointAPI, "") - apiCalls; got != 2 {
		t.Errorf("%d upstream calls for one SDK call, want 2 (the one answered 40001, then the retry)", got)
	}
	cur := st.current(t, a.id, wxtoken.KindAccessToken)
	if cur == old || !st.sim.Check(cur).Valid {
		t.Fatalf("wxtoken did not replace the rejected token with a valid one")
	}
	// The SDK still holds the old token, and keeps using it.
	if tok, _ := oa.GetAccessToken(); tok != old {
		t.Fatalf("the SDK's cache changed; the test assumes it holds the old token")
	}
	if ips, err := oa.GetBasic().GetCallbackIP(); err != nil || len(ips) == 0 {
		t.Fatalf("a call with the replaced token: %v", err)
	}
	st.noValueInLogs(t, old, cur)
}

// TestSilenceper50ClientsDuringRefresh: 50 SDK clients, each with its own
// cache as 50 business servers would have, fetch the token through the
// front door while wxtoken's refresh is due and in flight: they are all
// served the valid token at once, and WeChat sees one token call, the
// refresh.
func TestSilenceper50ClientsDuringRefresh(t *testing.T) {
	for _, api := range []string{"classic", "stable"} {
		t.Run(api, func(t *testing.T) {
			st := startStack(t, 12*time.Second, 3*time.Second, api)
			a := st.app(t, api)
			endpoint := simulator.EndpointStableToken
			if api == "classic" {
				endpoint = simulator.EndpointToken
			}
			old := st.current(t, a.id, wxtoken.KindAccessToken)
			if got := st.sim.Calls(endpoint, a.id); got != 1 {
				t.Fatalf("%d token calls after start", got)
			}
			if err := st.sim.Inject(simulator.Fault{Endpoint: endpoint, Kind: simulator.FaultSlow, Delay: time.Second, Count: 1}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for st.sim.Calls(endpoint, a.id) < 2 {
				if time.Now().After(deadline) {
					t.Fatal("the scheduled refresh did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}

			const n = 50
			clients := make([]*officialaccount.OfficialAccount, n)
			for i := range clients {
				clients[i] = sdk(a, i%2 == 1)
			}
			tokens := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					tokens[i], errs[i] = clients[i].GetAccessToken()
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)
			// Each client gets the valid token of the moment: the old one
			// while the refresh is in flight, the new one if a loaded
			// machine let the refresh land first.
			for i := range n {
				if errs[i] != nil || tokens[i] == "" || (tokens[i] != old && !st.sim.Check(tokens[i]).Valid) {
					t.Fatalf("client %d: %v", i, errs[i])
				}
			}
			if got := st.sim.Calls(endpoint, a.id); got != 2 {
				t.Errorf("%d SDK clients during a due refresh: %d token calls at WeChat, want 2 (start and the refresh)", n, got)
			}
			t.Logf("%s: %d SDK clients served in %v while the refresh was in flight; token calls at WeChat: %d (start + refresh)",
				api, n, took.Round(time.Millisecond), st.sim.Calls(endpoint, a.id))
		})
	}
}
