package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// The quota endpoints, as named in Fault.Endpoint and Calls.
const (
	EndpointQuotaGet   = "quota_get"   // POST /cgi-bin/openapi/quota/get
	EndpointClearQuota = "clear_quota" // POST /cgi-bin/clear_quota/v2
)

// errCGIPathNotFound is quota/get's answer for a cgi_path it keeps no
// quota of.
const errCGIPathNotFound = 76021

// chinaTime is China Standard Time, whose calendar months the clear_quota
// budget runs by.
func chinaTime() *time.Location { return time.FixedZone("CST", 8*60*60) }

// monthOf names the China Standard Time month of t.
func monthOf(t time.Time) string { return t.In(chinaTime()).Format("2006-01") }

// quotaRequest is the body of quota/get.
type quotaRequest struct {
	CGIPath string `json:"cgi_path"`
}

type quotaFigures struct {
	DailyLimit int `json:"daily_limit"`
	Used       int `json:"used"`
	Remain     int `json:"remain"`
}

type quotaBody struct {
	ErrCode int          `json:"errcode"`
	ErrMsg  string       `json:"errmsg"`
	Quota   quotaFigures `json:"quota"`
}

// Quota returns the daily quota of cgiPath (wechat.PathToken or
// wechat.PathStableToken) for the app as the simulator counts it now:
// what quota/get answers. ok is false for an unknown app or path.
func (s *Simulator) Quota(appID, cgiPath string) (limit, used int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appID]
	if a == nil {
		return 0, 0, false
	}
	s.rollQuota(a, s.now())
	return s.quotaOf(a, cgiPath)
}

// ClearsLeft returns how many clear_quota calls the app has left this
// month.
func (s *Simulator) ClearsLeft(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appID]
	if a == nil {
		return 0
	}
	return wechat.ClearQuotaPerMonth - a.clearsIn(monthOf(s.now()))
}

// quotaOf reads a's counter and limit of cgiPath; the caller holds s.mu.
func (s *Simulator) quotaOf(a *app, cgiPath string) (limit, used int, ok bool) {
	switch cgiPath {
	case wechat.PathToken:
		return s.opts.DailyQuota, a.classicCalls, true
	case wechat.PathStableToken:
		return s.opts.StableQuota, a.stableCalls, true
	}
	return 0, 0, false
}

// clearsIn returns how many clears a made in month.
func (a *app) clearsIn(month string) int {
	if a.clearMonth != month {
		return 0
	}
	return a.clears
}

// serveQuotaGet answers quota/get from the app's own daily counters.
func (s *Simulator) serveQuotaGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var req quotaRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if !s.begin(w, r, EndpointQuotaGet, s.owner(q.Get("access_token"))) {
		return
	}
	if r.Method != http.MethodPost {
		writeWX(w, s.errBody(r, errRequirePOST, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	tok, code := s.liveToken(q, now)
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	if err != nil {
		writeWX(w, s.errBody(r, errDataFormat, ""))
		return
	}
	a := s.apps[tok.appID]
	if a == nil {
		// An authorizer's token: the simulator keeps no quota for it.
		writeWX(w, s.errBody(r, errCGIPathNotFound, "cgi_path not found"))
		return
	}
	s.rollQuota(a, now)
	limit, used, ok := s.quotaOf(a, req.CGIPath)
	if !ok {
		writeWX(w, s.errBody(r, errCGIPathNotFound, "cgi_path not found"))
		return
	}
	writeWX(w, quotaBody{0, "ok", quotaFigures{DailyLimit: limit, Used: used, Remain: max(limit-used, 0)}})
}

// clearRequest is the body of clear_quota/v2.
type clearRequest struct {
	AppID     string `json:"appid"`
	AppSecret string `json:"appsecret"`
}

// serveClearQuota answers clear_quota/v2: with the app's appid and
// AppSecret (in the JSON body, or in the query as older documentation
// has them) it resets the app's daily counters, at most
// wechat.ClearQuotaPerMonth times a China Standard Time month.
func (s *Simulator) serveClearQuota(w http.ResponseWriter, r *http.Request) {
	var req clearRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	q := r.URL.Query()
	if req.AppID == "" {
		req.AppID = q.Get("appid")
	}
	if req.AppSecret == "" {
		req.AppSecret = q.Get("appsecret")
	}
	if !s.begin(w, r, EndpointClearQuota, req.AppID) {
		return
	}
	if r.Method != http.MethodPost {
		writeWX(w, s.errBody(r, errRequirePOST, ""))
		return
	}
	if err != nil {
		writeWX(w, s.errBody(r, errDataFormat, ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	a, code := s.auth(grantType, req.AppID, req.AppSecret, now)
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	month := monthOf(now)
	if a.clearsIn(month) >= wechat.ClearQuotaPerMonth {
		writeWX(w, s.errBody(r, wechat.ErrClearQuotaSpent, "forbid to clear quota because of reaching the limit"))
		return
	}
	a.clearMonth, a.clears = month, a.clearsIn(month)+1
	a.classicCalls, a.stableCalls, a.forces = 0, 0, 0
	writeWX(w, errorBody{0, "ok"})
}
