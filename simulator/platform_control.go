package simulator

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
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

// PlatformStats is what the simulator counted for a platform.
type PlatformStats struct {
	ComponentAppID string `json:"component_appid"`
	// Pushes counts the pushes to the event URL.
	Pushes PushStats `json:"pushes"`
	// Calls counts the calls of each component endpoint for the platform
	// and its authorizers.
	Calls map[string]int `json:"calls"`
	// VerifyTicket is the latest verify ticket issued, "" if none yet.
	VerifyTicket string `json:"verify_ticket"`
	// Authorizers lists the accounts that authorize the platform now.
	Authorizers []string `json:"authorizers"`
}

// PushStats counts the pushes to a platform's event URL.
type PushStats struct {
	// Sent is every push attempted.
	Sent int `json:"sent"`
	// Success counts the pushes answered HTTP 200 with exactly "success".
	Success int `json:"success"`
	// Failed counts the others: another answer, another status, or no
	// answer at all.
	Failed int `json:"failed"`
	// LastFailure says what was wrong with the latest failed push.
	LastFailure string `json:"last_failure,omitempty"`
	// ByInfoType counts the pushes sent by InfoType.
	ByInfoType map[string]int `json:"by_info_type"`
}

// Stats reports what the simulator counted for the platform
// componentAppID.
func (s *Simulator) Stats(componentAppID string) (PlatformStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.platforms[componentAppID]
	if p == nil {
		return PlatformStats{}, fmt.Errorf("simulator: unknown platform %q", componentAppID)
	}
	st := PlatformStats{ComponentAppID: componentAppID, Pushes: p.stats, Calls: map[string]int{}, VerifyTicket: p.lastTicket, Authorizers: []string{}}
	st.Pushes.ByInfoType = map[string]int{}
	for k, v := range p.stats.ByInfoType {
		st.Pushes.ByInfoType[k] = v
	}
	for _, e := range platformEndpoints() {
		st.Calls[e] = 0
	}
	for k, n := range s.calls {
		if slices.Contains(platformEndpoints(), k.endpoint) && matchApp(componentAppID, k.appID) {
			st.Calls[k.endpoint] += n
		}
	}
	for id, a := range p.authorizers {
		if a.authorized {
			st.Authorizers = append(st.Authorizers, id)
		}
	}
	sort.Strings(st.Authorizers)
	return st, nil
}

// InvalidateRefreshToken makes the authorizer's current refresh token
// invalid, as WeChat does for reasons it does not tell: the next
// api_authorizer_token with it answers 61023. Its access token keeps
// working until it expires; only a new authorization (a code exchanged
// at api_query_auth) brings a new refresh token.
func (s *Simulator) InvalidateRefreshToken(componentAppID, authorizerAppID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.platforms[componentAppID]
	if p == nil {
		return fmt.Errorf("simulator: unknown platform %q", componentAppID)
	}
	a := p.authorizers[authorizerAppID]
	if a == nil {
		return fmt.Errorf("simulator: %q never authorized platform %s", authorizerAppID, componentAppID)
	}
	a.invalidated = true
	return nil
}

// RefreshToken returns the authorizer's current refresh token, as WeChat
// handed it out: for tests that look for it where it must not be (a
// store's bytes, a log).
func (s *Simulator) RefreshToken(componentAppID, authorizerAppID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.platforms[componentAppID]
	if p == nil {
		return "", fmt.Errorf("simulator: unknown platform %q", componentAppID)
	}
	a := p.authorizers[authorizerAppID]
	if a == nil || a.refresh == "" {
		return "", fmt.Errorf("simulator: %q has no refresh token for platform %s", authorizerAppID, componentAppID)
	}
	return a.refresh, nil
}
