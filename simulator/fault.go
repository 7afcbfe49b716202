package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// Fault kinds.
const (
	FaultErrCode   = "errcode"   // HTTP 200 with {"errcode":N,"errmsg":"... rid: ..."}
	FaultHTTP500   = "http500"   // HTTP 500 with an HTML body
	FaultHTML      = "html"      // HTTP 200 with an HTML error page (text/html)
	FaultMalformed = "malformed" // HTTP 200 with a body that is not valid JSON
	FaultTruncated = "truncated" // a success body cut in half by a closed connection
	FaultEmpty     = "empty"     // a success shape with an empty access_token or ticket
	FaultSlow      = "slow"      // wait Delay, then answer normally
	FaultLate      = "late"      // wait Delay, then carry the call out even if its caller is gone
	FaultDrop      = "drop"      // close the connection without answering
)

// faultKinds lists the fault kinds in a stable order.
func faultKinds() []string {
	return []string{FaultErrCode, FaultHTTP500, FaultHTML, FaultMalformed, FaultTruncated, FaultEmpty, FaultSlow, FaultLate, FaultDrop}
}

// Fault makes matching calls fail in a chosen way. A faulted call changes
// no state: no token is minted and no quota is used; except a late one,
// which is carried out in full, only later. A fault lasts for its
// next Count matching calls, or for the window For from injection, or until
// whichever of the two ends first when both are set, or until ClearFaults
// when neither is. When several faults match a call, the oldest answers it.
//
// In JSON, durations are Go duration strings ("2s") and field names are
// endpoint, appid, kind, errcode, errmsg, count, for and delay.
type Fault struct {
	// Endpoint is one of the Endpoint* constants, or "" for all of them.
	Endpoint string
	// AppID limits the fault to one app, "" for any. For getticket,
	// get_api_domain_ip and api the app is the owner of the access_token
	// presented. A WeCom agent is named by its WeComID, "corpid/agentid",
	// as Calls counts it; a bare corpid matches all its agents.
	AppID string
	// Kind is one of the Fault* constants.
	Kind string
	// ErrCode is the errcode answered by Kind FaultErrCode; required there.
	ErrCode int
	// ErrMsg overrides the errmsg; by default it is WeChat's usual text for
	// ErrCode. A request id (" rid: ...") is appended unless present; on
	// WeCom's endpoints, WeCom's ", hint: [...], from ip: ..., more info
	// at ..." unless a hint is present.
	ErrMsg string
	// Count is how many matching calls the fault answers; 0 for no limit.
	Count int
	// For is how long the fault lasts from Inject, measured with
	// Options.Now; 0 for no limit.
	For time.Duration
	// Delay is how long Kind FaultSlow waits before answering normally
	// (a caller that gives up first gets no answer, and the call changes
	// nothing), and Kind FaultLate before carrying the call out (whether
	// or not its caller is still there); required for both.
	Delay time.Duration
}

type faultJSON struct {
	Endpoint string       `json:"endpoint,omitempty"`
	AppID    string       `json:"appid,omitempty"`
	Kind     string       `json:"kind"`
	ErrCode  int          `json:"errcode,omitempty"`
	ErrMsg   string       `json:"errmsg,omitempty"`
	Count    int          `json:"count,omitempty"`
	For      jsonDuration `json:"for,omitempty"`
	Delay    jsonDuration `json:"delay,omitempty"`
}

// jsonDuration is a time.Duration written as a Go duration string.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a Go duration string such as \"2s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a Go duration string such as \"2s\", got %q", s)
	}
	*d = jsonDuration(v)
	return nil
}

// MarshalJSON writes f with snake_case names and duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{f.Endpoint, f.AppID, f.Kind, f.ErrCode, f.ErrMsg, f.Count, jsonDuration(f.For), jsonDuration(f.Delay)})
}

// UnmarshalJSON reads the form MarshalJSON writes and rejects unknown
// fields, so that a misspelt field does not silently inject another fault.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*f = Fault{j.Endpoint, j.AppID, j.Kind, j.ErrCode, j.ErrMsg, j.Count, time.Duration(j.For), time.Duration(j.Delay)}
	return nil
}

// Validate reports what is wrong with f, if anything.
func (f Fault) Validate() error {
	if f.Endpoint != "" && !validEndpoint(f.Endpoint) {
		return fmt.Errorf("unknown endpoint %q (want %s or empty for all)", f.Endpoint, strings.Join(endpoints(), ", "))
	}
	if !slices.Contains(faultKinds(), f.Kind) {
		return fmt.Errorf("unknown fault kind %q (want %s)", f.Kind, strings.Join(faultKinds(), ", "))
	}
	switch {
	case f.Kind == FaultErrCode && f.ErrCode == 0:
		return errors.New("fault kind errcode needs a non-zero errcode")
	case f.Kind != FaultErrCode && (f.ErrCode != 0 || f.ErrMsg != ""):
		return fmt.Errorf("errcode and errmsg apply only to fault kind errcode, not %s", f.Kind)
	case delayed(f.Kind) && f.Delay <= 0:
		return fmt.Errorf("fault kind %s needs a positive delay", f.Kind)
	case !delayed(f.Kind) && f.Delay != 0:
		return fmt.Errorf("delay applies only to fault kind slow or late, not %s", f.Kind)
	case f.Count < 0:
		return fmt.Errorf("count %d is negative", f.Count)
	case f.For < 0:
		return fmt.Errorf("for %v is negative", f.For)
	}
	return nil
}

// isWeComEndpoint reports whether endpoint is one of WeCom's.
func isWeComEndpoint(endpoint string) bool { return slices.Contains(wecomEndpoints(), endpoint) }

// delayed reports whether fault kind k waits before the call goes on.
func delayed(k string) bool { return k == FaultSlow || k == FaultLate }

// activeFault is an injected fault with what is left of it.
type activeFault struct {
	f     Fault
	left  int       // matching calls left; 0 for no count limit
	until time.Time // end of the window; zero for none
}

// Inject adds a fault, or says why it is invalid.
func (s *Simulator) Inject(f Fault) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	af := &activeFault{f: f, left: f.Count}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.For > 0 {
		af.until = s.now().Add(f.For)
	}
	s.faults = append(s.faults, af)
	return nil
}

// ClearFaults removes every fault.
func (s *Simulator) ClearFaults() { s.clearFaults() }

func (s *Simulator) clearFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.faults)
	s.faults = nil
	return n
}

// activeFaults returns the faults still in force, with Count and For
// reduced to what is left of them.
func (s *Simulator) activeFaults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := []Fault{}
	for _, af := range s.faults {
		f := af.f
		f.Count = af.left
		if !af.until.IsZero() {
			left := af.until.Sub(now)
			if left <= 0 {
				continue
			}
			// Whole milliseconds, rounded up so that a live window never
			// reads as 0, which would mean "no window".
			f.For = (left + time.Millisecond - 1).Truncate(time.Millisecond)
		}
		out = append(out, f)
	}
	return out
}

// takeFault returns the fault that answers a call, using up one of its
// count, and forgets faults that are over; the caller holds s.mu.
func (s *Simulator) takeFault(endpoint, appID string, now time.Time) (Fault, bool) {
	var hit Fault
	found := false
	kept := s.faults[:0]
	for _, af := range s.faults {
		if !af.until.IsZero() && !now.Before(af.until) {
			continue
		}
		if !found && (af.f.Endpoint == "" || af.f.Endpoint == endpoint) && matchApp(af.f.AppID, appID) {
			hit, found = af.f, true
			if af.left > 0 {
				if af.left--; af.left == 0 {
					continue
				}
			}
		}
		kept = append(kept, af)
	}
	clear(s.faults[len(kept):])
	s.faults = kept
	return hit, found
}

// writeFault answers a call with fault f (any kind but slow and late).
func (s *Simulator) writeFault(w http.ResponseWriter, r *http.Request, endpoint string, f Fault) {
	switch f.Kind {
	case FaultErrCode:
		if isWeComEndpoint(endpoint) {
			writeWX(w, s.wecomErrBody(r, f.ErrCode, f.ErrMsg))
			return
		}
		writeWX(w, s.errBody(r, f.ErrCode, f.ErrMsg))
	case FaultHTTP500:
		writeRaw(w, http.StatusInternalServerError, "text/html", []byte(page500))
	case FaultHTML:
		writeRaw(w, http.StatusOK, "text/html; charset=utf-8", []byte(pageBusy))
	case FaultMalformed:
		// A trailing comma: close enough to JSON to fool a glance, not a parser.
		b := s.fakeSuccess(endpoint, false)
		writeRaw(w, http.StatusOK, wxContentType, append(b[:len(b)-1], ",}"...))
	case FaultEmpty:
		writeRaw(w, http.StatusOK, wxContentType, s.fakeSuccess(endpoint, true))
	case FaultTruncated:
		truncate(w, s.fakeSuccess(endpoint, false))
	case FaultDrop:
		drop(w)
	}
}

// fakeSuccess is a success body for endpoint that carries a value the
// simulator never issued (or an empty one), so a faulted call mints nothing.
func (s *Simulator) fakeSuccess(endpoint string, empty bool) []byte {
	var v any
	switch endpoint {
	case EndpointTicket:
		b := ticketBody{ErrMsg: "ok", ExpiresIn: seconds(s.opts.TicketTTL)}
		if !empty {
			b.Ticket = randomText(86)
		}
		v = b
	case EndpointProbe:
		b := ipListBody{IPList: []string{}}
		if !empty {
			b.IPList = probeIPs()
		}
		v = b
	case EndpointAPI, EndpointWeComAPI:
		v = errorBody{0, "ok"}
	case EndpointWeComJSAPITicket, EndpointWeComTicket:
		b := ticketBody{ErrMsg: "ok", ExpiresIn: seconds(s.opts.TicketTTL)}
		if !empty {
			b.Ticket = randomText(86)
		}
		v = b
	case EndpointWeComToken:
		b := wecomTokenBody{ErrMsg: "ok", ExpiresIn: seconds(s.opts.TTL)}
		if !empty {
			b.AccessToken = randomText(214)
		}
		v = b
	case EndpointComponentToken:
		b := componentTokenBody{ExpiresIn: seconds(s.opts.TTL)}
		if !empty {
			b.Token = "95_" + randomText(133)
		}
		v = b
	case EndpointStartPushTicket:
		// Its success has nothing to leave empty.
		v = errorBody{0, "ok"}
	case EndpointPreAuthCode:
		b := preAuthBody{ExpiresIn: seconds(preAuthCodeTTL)}
		if !empty {
			b.Code = "preauthcode@@@" + randomText(64)
		}
		v = b
	case EndpointQueryAuth:
		b := queryAuthBody{authorizationInfo{ExpiresIn: seconds(s.opts.TTL), FuncInfo: []funcScope{}}}
		if !empty {
			b.Info.AppID, b.Info.AccessToken, b.Info.RefreshToken = "wx"+randomHex(16), "95_"+randomText(133), newRefreshToken()
		}
		v = b
	case EndpointAuthorizerToken:
		b := authorizerTokenBody{ExpiresIn: seconds(s.opts.TTL)}
		if !empty {
			b.AccessToken, b.RefreshToken = "95_"+randomText(133), newRefreshToken()
		}
		v = b
	default:
		b := tokenBody{ExpiresIn: seconds(s.opts.TTL)}
		if !empty {
			b.AccessToken = "95_" + randomText(133)
		}
		v = b
	}
	b, _ := json.Marshal(v) // plain structs of strings and ints always marshal
	return b
}

// truncate announces body in full but sends only its first half, then
// closes the connection, as a connection lost mid-answer does.
func truncate(w http.ResponseWriter, body []byte) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not an HTTP/1 connection (HTTP/2, a recorder): send the half body
		// under the full length and let the server deal with the shortfall.
		w.Header().Set("Content-Type", wxContentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body[:len(body)/2])
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", wxContentType, len(body))
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}

// drop closes the connection without a word.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// The server's own way to abort a response it cannot hijack; it
		// recovers this panic without logging.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// errBody is WeChat's failure answer; msg "" takes the usual text for code.
func (s *Simulator) errBody(r *http.Request, code int, msg string) errorBody {
	if msg == "" {
		msg = defaultErrMsg(code, clientIP(r))
	}
	if !strings.Contains(msg, "rid:") {
		msg += " rid: " + s.rid()
	}
	return errorBody{ErrCode: code, ErrMsg: msg}
}

// rid makes a request id shaped like WeChat's: the time in hex, then two
// random groups.
func (s *Simulator) rid() string {
	return fmt.Sprintf("%08x-%08x-%08x", uint32(s.now().Unix()), rand.Uint32(), rand.Uint32())
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// defaultErrMsg is WeChat's usual errmsg for code, without the rid.
func defaultErrMsg(code int, ip string) string {
	switch code {
	case wechat.ErrSystemBusy:
		return "system error"
	case wechat.ErrInvalidCredential:
		return "invalid credential, access_token is invalid or not latest"
	case wechat.ErrInvalidGrantType:
		return "invalid grant_type"
	case wechat.ErrInvalidAppID:
		return "invalid appid"
	case wechat.ErrInvalidToken:
		return "invalid access_token"
	case wechat.ErrInvalidSecret:
		return "invalid appsecret"
	case wechat.ErrIPNotWhitelisted:
		// WeChat quotes the caller's address in both notations; the IPv6
		// one is the IPv4-mapped form when the caller came over IPv4.
		v6 := ip
		if a := net.ParseIP(ip); a != nil && a.To4() != nil {
			v6 = "::ffff:" + a.To4().String()
		}
		return fmt.Sprintf("invalid ip %s ipv6 %s, not in whitelist", ip, v6)
	case wechat.ErrSecretFrozen:
		return "appsecret is frozen, unfreeze it on mp.weixin.qq.com and retry"
	case wechat.ErrMissingAppID:
		return "appid missing"
	case wechat.ErrMissingSecret:
		return "appsecret missing"
	case wechat.ErrTokenExpired:
		return "access_token expired"
	case wechat.ErrDailyQuota:
		return "reach max api daily quota limit"
	case wechat.ErrMinuteLimit:
		return "api minute-quota reach limit  mustslower  retry next minute"
	case wechat.ErrAPIBarred:
		return "access to the token api is forbidden for this account"
	case wechat.ErrAccountFrozen:
		return "account is frozen"
	case wechat.ErrWhitelist:
		return "access clientip is not registered requestIP: " + ip
	case wechat.ErrUseComponentToken:
		return "the account is authorized to a third-party platform, use the component access_token"
	case wechat.ErrRiskPending:
		return "the administrator has not confirmed this call yet, please wait"
	case wechat.ErrRiskConfirm:
		return "this call needs the administrator's confirmation, a template message has been sent to the administrator"
	case wechat.ErrRiskRejectedOnce:
		return "the administrator rejected this ip, it may not call for 1 hour"
	case wechat.ErrRiskRejectedTwice:
		return "the administrator rejected this ip twice in 24 hours, it may not call for 24 hours"
	case errMissingToken:
		return "access_token missing"
	case errInvalidArgs:
		return "invalid args"
	case errDataFormat:
		return "data format error"
	case errRequireGET:
		return "require GET method"
	case errRequirePOST:
		return "require POST method"
	case errInvalidURL:
		return "invalid url"
	case wechat.ErrComponentNotAuthorized:
		return "component is not authorized by this account"
	case wechat.ErrVerifyTicketExpired:
		return "component ticket is expired"
	case wechat.ErrVerifyTicketInvalid:
		return "component ticket is invalid"
	case wechat.ErrAuthCodeInvalid:
		return "code is invalid"
	case wechat.ErrAuthCodeExpired:
		return "code is expired"
	case wechat.ErrInvalidComponent:
		return "invalid component"
	case errMustUseComponentToken:
		return "must use component token for component api"
	case wechat.ErrRefreshTokenInvalid:
		return "refresh_token is invalid"
	case errMissingCode:
		return "missing code"
	case errMissingRefreshToken:
		return "refresh_token missing"
	}
	return "simulated error"
}

const page500 = `<html>
<head><title>500 Internal Server Error</title></head>
<body>
<center><h1>500 Internal Server Error</h1></center>
<hr><center>nginx</center>
</body>
</html>
`

const pageBusy = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>System busy</title></head>
<body>
<h1>System busy</h1>
<p>The service is temporarily unavailable. Please try again later.</p>
</body>
</html>
`
