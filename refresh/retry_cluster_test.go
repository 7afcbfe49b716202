package refresh

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/clientkey"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// In cluster mode, a retry asked of one replica through the HTTP API
// lifts the whitelist hold for the others too: the replica that met the
// error serves the token fetched at the retry, without waiting out its 5
// minutes and without a call of its own.
func TestClusterRetryNowOverHTTPLiftsTheHoldForEveryReplica(t *testing.T) {
	f := newFleet(t, wxtoken.TokenAPIStable)
	if err := f.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointStableToken, AppID: appA, Kind: simulator.FaultErrCode, ErrCode: wechat.ErrIPNotWhitelisted}); err != nil {
		t.Fatal(err)
	}
	a := f.start("a", nil)
	b := f.start("b", nil)
	ctx := t.Context()
	if _, err := a.eng.Credential(ctx, appA, wxtoken.KindAccessToken); err == nil {
		t.Fatal("a token was served through the whitelist fault")
	}
	f.sim.ClearFaults()
	held := func(r *replica) bool {
		st, _ := r.eng.StatusOf(ctx, appA)
		return st.BlockedUntil != nil
	}
	f.eventually("both replicas hold the app back", func() bool { f.sync(); return held(a) && held(b) })

	const key = "wxt_cluster-retry-admin"
	sum := sha256.Sum256([]byte(key))
	h, err := httpapi.New(httpapi.Options{
		Service: b.eng, Retrier: b.eng, Apps: []string{appA},
		Clients: []clientkey.Client{{Name: "ops", KeySHA256: hex.EncodeToString(sum[:]), Admin: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/apps/"+appA+"/retry", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", rec.Code, rec.Body)
	}
	var st wxtoken.AppStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.BlockedUntil != nil || st.Credentials[0].State != wxtoken.StateFresh {
		t.Fatalf("b's status after the retry: %s", rec.Body)
	}
	calls := f.calls()
	f.eventually("a hears of the token fetched at the retry", func() bool {
		f.sync()
		c := a.token()
		return c != nil && c.Value == b.token().Value && !held(a)
	})
	g := grantOf(t, a)
	if g.Value != b.token().Value || f.calls() != calls {
		t.Fatalf("a served %q with %d more calls, want b's token with none", g.Value, f.calls()-calls)
	}
}
