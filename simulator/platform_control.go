package simulator

import (
	"net/http"
	"strings"
)

// The open platform's control API, under /_sim/platforms/. Pushes made
// here are sent before the answer, which reports what became of them.
//
//	POST /_sim/platforms/authorize        {"component_appid","authorizer_appid"?,"pre_auth_code"?,"func_info"?}:
//	                                      an Authorized (auth_code, push); pushes "authorized"
//	POST /_sim/platforms/updateauthorized the same for an authorized account; pushes "updateauthorized"
//	POST /_sim/platforms/unauthorize      {"component_appid","authorizer_appid"}: {"push"}; pushes "unauthorized"
//	POST /_sim/platforms/push_ticket      {"component_appid"}: {"verify_ticket","push"}
//	POST /_sim/platforms/invalidate_refresh_token {"component_appid","authorizer_appid"}: {"invalidated":true}
//	GET  /_sim/platforms/stats            ?component_appid=[&value=]: PlatformStats, with "check", the
//	                                      CredentialState of value, when value is given

// platformRequest is the body of the platform control calls but
// authorize and updateauthorized.
type platformRequest struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
}

func (s *Simulator) servePlatformControl(w http.ResponseWriter, r *http.Request) {
	verb := strings.TrimPrefix(r.URL.Path, "/_sim/platforms/")
	if verb == "stats" {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET")
			return
		}
		q := r.URL.Query()
		st, err := s.Stats(q.Get("component_appid"))
		if err != nil {
			ctlFail(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), "simulator: "))
			return
		}
		if !q.Has("value") {
			writeCtl(w, http.StatusOK, st)
			return
		}
		c := s.Check(q.Get("value"))
		writeCtl(w, http.StatusOK, struct {
			PlatformStats
			Check CredentialState `json:"check"`
		}{st, c})
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	ctx := r.Context()
	var (
		out any
		err error
	)
	switch verb {
	case "authorize", "updateauthorized":
		var req AuthorizeRequest
		if err := decodeBody(r, &req); err != nil {
			ctlFail(w, http.StatusBadRequest, err.Error())
			return
		}
		if verb == "authorize" {
			out, err = s.Authorize(ctx, req)
		} else {
			out, err = s.UpdateAuthorized(ctx, req)
		}
	default:
		var req platformRequest
		if err := decodeBody(r, &req); err != nil {
			ctlFail(w, http.StatusBadRequest, err.Error())
			return
		}
		switch verb {
		case "unauthorize":
			var res PushResult
			res, err = s.Unauthorize(ctx, req.ComponentAppID, req.AuthorizerAppID)
			out = map[string]PushResult{"push": res}
		case "push_ticket":
			var (
				ticket string
				res    PushResult
			)
			ticket, res, err = s.PushVerifyTicket(ctx, req.ComponentAppID)
			out = struct {
				VerifyTicket string     `json:"verify_ticket"`
				Push         PushResult `json:"push"`
			}{ticket, res}
		case "invalidate_refresh_token":
			err = s.InvalidateRefreshToken(req.ComponentAppID, req.AuthorizerAppID)
			out = map[string]bool{"invalidated": true}
		}
	}
	if err != nil {
		ctlFail(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "simulator: "))
		return
	}
	writeCtl(w, http.StatusOK, out)
}
