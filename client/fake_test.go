package client_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/jssdk"
)

// The app and key the fake server knows.
const (
	testAppID = "wx0123456789abcdef"
	testKey   = "wxt_test-client-key"
)

// fakeServer is a small wxtoken server speaking the HTTP API of the spec:
// it keeps one access_token and one ticket of each type per app, rotates a
// credential when a refresh reports the current one, and counts requests.
type fakeServer struct {
	*httptest.Server

	mu        sync.Mutex
	seq       map[string]int // by appid/kind: how many values were issued
	expiresIn int64
	expiresAt string // overrides the computed expires_at when set
	calls     map[string]int
	// fail, when set, is answered to every credential request instead.
	fail func(w http.ResponseWriter)
	// hold, when set, holds credential GETs until it is closed.
	hold chan struct{}
	// alive makes a refresh find the reported value alive at WeChat and
	// keep it, as the server does after a check.
	alive bool
	// raw, when set, is the body of every credential answer.
	raw   string
	apps  any
	ready []string
}

func newFakeServer() *fakeServer {
	f := &fakeServer{seq: map[string]int{}, expiresIn: 7200, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/apps/{appid}/access_token", f.auth(f.getCredential))
	mux.HandleFunc("POST /v1/apps/{appid}/access_token/refresh", f.auth(f.refreshCredential))
	mux.HandleFunc("GET /v1/apps/{appid}/tickets/{type}", f.auth(f.getCredential))
	mux.HandleFunc("POST /v1/apps/{appid}/tickets/{type}/refresh", f.auth(f.refreshCredential))
	mux.HandleFunc("GET /v1/apps/{appid}/jssdk_config", f.auth(f.jssdkConfig))
	mux.HandleFunc("GET /v1/apps", f.auth(f.listApps))
	mux.HandleFunc("GET /readyz", f.readyz)
	f.Server = httptest.NewServer(mux)
	return f
}

// count returns how many requests of a kind ("get access_token",
// "refresh jsapi", "jssdk_config", ...) the server answered.
func (f *fakeServer) count(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[what]
}

// current returns the value the server hands out now for an app's kind.
func (f *fakeServer) current(appID string, kind wxtoken.Kind) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.valueLocked(appID, kind)
}

func (f *fakeServer) valueLocked(appID string, kind wxtoken.Kind) string {
	k := appID + "/" + string(kind)
	if f.seq[k] == 0 {
		f.seq[k] = 1
	}
	return fmt.Sprintf("%s-%s-%d", appID, kind, f.seq[k])
}

// rotate replaces an app's credential, as the server's schedule would.
func (f *fakeServer) rotate(appID string, kind wxtoken.Kind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valueLocked(appID, kind)
	f.seq[appID+"/"+string(kind)]++
}

func (f *fakeServer) set(fn func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code wxtoken.Code, msg string, errcode int) {
	e := map[string]any{"code": code, "message": msg}
	if errcode != 0 {
		e["wechat_errcode"] = errcode
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (f *fakeServer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			writeError(w, http.StatusUnauthorized, wxtoken.EUnauthorized, "missing or unknown client key", 0)
			return
		}
		if id := r.PathValue("appid"); id != "" && id != testAppID && id != "wxother" {
			writeError(w, http.StatusNotFound, wxtoken.ENotFound, fmt.Sprintf("unknown app %q", id), 0)
			return
		}
		h(w, r)
	}
}

// kindOf is the credential kind a request's path names.
func kindOf(r *http.Request) wxtoken.Kind {
	if t := r.PathValue("type"); t != "" {
		return wxtoken.Kind(t)
	}
	return wxtoken.KindAccessToken
}

func (f *fakeServer) getCredential(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	f.mu.Lock()
	f.calls["get "+string(kind)]++
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.answer(w, r.PathValue("appid"), kind)
}

func (f *fakeServer) refreshCredential(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	var body struct {
		Stale string `json:"stale"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Stale == "" {
		writeError(w, http.StatusBadRequest, wxtoken.EInvalid, "stale is required", 0)
		return
	}
	appID := r.PathValue("appid")
	f.mu.Lock()
	f.calls["refresh "+string(kind)]++
	failing := f.fail != nil
	if !failing && !f.alive && body.Stale == f.valueLocked(appID, kind) {
		f.seq[appID+"/"+string(kind)]++
	}
	f.mu.Unlock()
	f.answer(w, appID, kind)
}

func (f *fakeServer) answer(w http.ResponseWriter, appID string, kind wxtoken.Kind) {
	f.mu.Lock()
	fail, raw := f.fail, f.raw
	v := f.valueLocked(appID, kind)
	in, at := f.expiresIn, f.expiresAt
	f.mu.Unlock()
	if fail != nil {
		fail(w)
		return
	}
	if raw != "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(raw))
		return
	}
	if at == "" {
		at = time.Now().Add(time.Duration(in) * time.Second).UTC().Format(time.RFC3339)
	}
	a := map[string]any{"appid": appID, "expires_in": in, "expires_at": at}
	if kind.IsTicket() {
		a["type"] = string(kind)
		a["ticket"] = v
	} else {
		a["access_token"] = v
	}
	writeJSON(w, http.StatusOK, a)
}

func (f *fakeServer) jssdkConfig(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls["jssdk_config"]++
	f.mu.Unlock()
	page, err := jssdk.NormalizeURL(r.URL.Query().Get("url"))
	if err != nil {
		writeError(w, http.StatusBadRequest, wxtoken.ErrorCode(err), wxtoken.ErrorMessage(err), 0)
		return
	}
	ticket := f.current(r.PathValue("appid"), wxtoken.KindJSAPITicket)
	const nonce, ts = "Wm3WZYTPz0wzccnW", 1414587457
	writeJSON(w, http.StatusOK, jssdk.Config{
		AppID: r.PathValue("appid"), Timestamp: ts, NonceStr: nonce,
		Signature: jssdk.Sign(ticket, nonce, ts, page), URL: page,
	})
}

func (f *fakeServer) listApps(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	apps := f.apps
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, apps)
}

func (f *fakeServer) readyz(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	ready := f.ready
	f.mu.Unlock()
	if len(ready) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reasons": ready})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}
