package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// The control API: JSON in and out, under /_sim/.
//
//	GET    /_sim/faults   the faults in force
//	POST   /_sim/faults   inject a Fault
//	DELETE /_sim/faults   clear every fault
//	GET    /_sim/calls    call counts (?endpoint=&appid= for one number)
//	GET    /_sim/check    ?value=V: the CredentialState of a token or ticket
//	POST   /_sim/rotate   {"appid","what"}: rotate a credential out of band
//	POST   /_sim/invalidate {"appid","what"}: end a credential early
//	POST   /_sim/codes    {"appid","openid","scope"}: a login code for /sns/
//	POST   /_sim/platforms/authorize, /updateauthorized, /unauthorize,
//	       /push_ticket, /invalidate_refresh_token; GET /_sim/platforms/stats:
//	       the open platform (platform_control.go)
//
// For a WeCom agent, rotate and invalidate take "appid":"corpid/agentid"
// or "corpid" and "agentid" apart; calls takes ?appid=corpid/agentid (or
// a bare corpid for all its agents). For the open platform they take
// "appid":"component_appid" (component_token) or
// "appid":"component_appid:authorizer_appid" (authorizer_token, jsapi,
// wx_card).

const ctlContentType = "application/json; charset=utf-8"

type ctlError struct {
	Error string `json:"error"`
}

// rotateRequest is the body of rotate and invalidate.
type rotateRequest struct {
	AppID   string `json:"appid"`
	CorpID  string `json:"corpid"`
	AgentID string `json:"agentid"`
	What    string `json:"what"`
}

// id is the app or agent the request names.
func (q rotateRequest) id() (string, error) {
	switch {
	case q.CorpID == "" && q.AgentID == "":
		return q.AppID, nil
	case q.AppID != "":
		return "", errors.New("give appid, or corpid and agentid, not both")
	case q.CorpID == "":
		return "", errors.New("agentid needs its corpid")
	case q.AgentID == "":
		return q.CorpID, nil
	}
	return wxtoken.WeComID(q.CorpID, q.AgentID), nil
}

func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sim/faults":
		switch r.Method {
		case http.MethodGet:
			writeCtl(w, http.StatusOK, map[string][]Fault{"faults": s.activeFaults()})
		case http.MethodPost:
			var f Fault
			if err := decodeBody(r, &f); err != nil {
				ctlFail(w, http.StatusBadRequest, err.Error())
				return
			}
			if err := f.Validate(); err != nil {
				ctlFail(w, http.StatusBadRequest, "invalid fault: "+err.Error())
				return
			}
			_ = s.Inject(f) // validated above
			writeCtl(w, http.StatusOK, map[string]Fault{"fault": f})
		case http.MethodDelete:
			writeCtl(w, http.StatusOK, map[string]int{"cleared": s.clearFaults()})
		default:
			methodNotAllowed(w, r, "GET, POST, DELETE")
		}
	case "/_sim/calls":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		q := r.URL.Query()
		if !q.Has("endpoint") && !q.Has("appid") {
			writeCtl(w, http.StatusOK, map[string]any{"calls": s.callCounts()})
			return
		}
		e := q.Get("endpoint")
		if e != "" && !validEndpoint(e) {
			ctlFail(w, http.StatusBadRequest, fmt.Sprintf("unknown endpoint %q (want %s)", e, strings.Join(endpoints(), ", ")))
			return
		}
		writeCtl(w, http.StatusOK, map[string]int{"count": s.Calls(e, q.Get("appid"))})
	case "/_sim/check":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		v := r.URL.Query().Get("value")
		if v == "" {
			ctlFail(w, http.StatusBadRequest, "query parameter value (the token or ticket to check) is required")
			return
		}
		writeCtl(w, http.StatusOK, s.Check(v))
	case "/_sim/codes":
		s.serveCodes(w, r)
	case "/_sim/platforms/authorize", "/_sim/platforms/updateauthorized", "/_sim/platforms/unauthorize",
		"/_sim/platforms/push_ticket", "/_sim/platforms/invalidate_refresh_token", "/_sim/platforms/stats":
		s.servePlatformControl(w, r)
	case "/_sim/rotate", "/_sim/invalidate":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, "POST")
			return
		}
		var req rotateRequest
		if err := decodeBody(r, &req); err != nil {
			ctlFail(w, http.StatusBadRequest, err.Error())
			return
		}
		id, err := req.id()
		if err != nil {
			ctlFail(w, http.StatusBadRequest, err.Error())
			return
		}
		key, do := "value", s.Rotate
		if r.URL.Path == "/_sim/invalidate" {
			key, do = "ended", s.Invalidate
		}
		v, err := do(id, req.What)
		if err != nil {
			ctlFail(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "simulator: "))
			return
		}
		writeCtl(w, http.StatusOK, map[string]string{key: v})
	default:
		ctlFail(w, http.StatusNotFound, fmt.Sprintf("no control route %s (have /_sim/faults, /_sim/calls, /_sim/check, /_sim/rotate, /_sim/invalidate, /_sim/codes, /_sim/platforms/...)", r.URL.Path))
	}
}

// decodeBody reads exactly one JSON object from the request body into v,
// refusing unknown fields so that a misspelt one is reported, not ignored.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty; want a JSON object")
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: more than one JSON value")
	}
	return nil
}

func writeCtl(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, ctlContentType, v)
}

func ctlFail(w http.ResponseWriter, status int, msg string) {
	writeCtl(w, status, ctlError{msg})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	ctlFail(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
}
