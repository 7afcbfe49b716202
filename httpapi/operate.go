package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/wxtoken/wxtoken"
)

// The operator's actions on one credential's app, for admin keys only:
// retry now (lift the error policy's hold once the cause is fixed), and
// clear an app's daily quota at WeChat.
const (
	routeRetryApp        = "POST /v1/apps/{appid}/retry"
	routeRetryAgent      = "POST /v1/wecom/{corpid}/{agentid}/retry"
	routeRetryAuthorizer = "POST /v1/platforms/{component_appid}/authorizers/{authorizer_appid}/retry"
	routeClearQuota      = "POST /v1/apps/{appid}/clear_quota"
)

// operateRoutes lists the routes of operate.go, for RoutePaths.
func operateRoutes() []string {
	return []string{routeRetryApp, routeRetryAgent, routeRetryAuthorizer, routeClearQuota}
}

// Retrier lifts the error policy's hold on an app, a WeCom agent or an
// authorizer (by its id as the Service knows it) and tries once now what
// needs it. *refresh.Engine is one.
type Retrier interface {
	RetryNow(ctx context.Context, id string) error
}

// QuotaClearer clears an app's daily quotas at WeChat, spending one of the
// ten clears WeChat allows an account a month.
type QuotaClearer interface {
	ClearQuota(ctx context.Context, appID string) (ClearQuotaResponse, error)
}

// ClearQuotaResponse is the answer of POST /v1/apps/{appid}/clear_quota.
type ClearQuotaResponse struct {
	AppID string `json:"appid"`
	// ClearRemainingThisMonth is how many clears are left this month,
	// as far as the server knows.
	ClearRemainingThisMonth int `json:"clear_remaining_this_month"`
	// Quota is the app's quota as WeChat reports it after the clear;
	// absent when it could not be asked.
	Quota *wxtoken.QuotaStatus `json:"quota,omitempty"`
}

// registerOperateRoutes registers the routes of operate.go; New calls it.
func (h *Handler) registerOperateRoutes() {
	h.route(routeRetryApp, func(ex *exchange, r *http.Request, p params) error {
		return h.retry(ex, r, p.appID, plainSegment(p.appID))
	})
	h.route(routeRetryAgent, func(ex *exchange, r *http.Request, _ params) error {
		corp, agent := r.PathValue("corpid"), r.PathValue("agentid")
		return h.retry(ex, r, wxtoken.WeComID(corp, agent), plainSegment(corp) && plainSegment(agent))
	})
	h.route(routeRetryAuthorizer, func(ex *exchange, r *http.Request, _ params) error {
		comp, auth := r.PathValue("component_appid"), r.PathValue("authorizer_appid")
		return h.retry(ex, r, wxtoken.AuthorizerID(comp, auth), plainSegment(comp) && plainSegment(auth))
	})
	h.route(routeClearQuota, h.clearQuota)
}

// operateRequest authenticates a request on an operator's action: admin
// keys only, checked before the server says whether it does the action
// at all.
func (h *Handler) operateRequest(ex *exchange, r *http.Request, enabled bool, doing string) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	ex.client = c.Name
	if !c.Admin {
		return wxtoken.Errorf(wxtoken.EForbidden, "%s needs an admin client key", doing)
	}
	if !enabled {
		return wxtoken.Errorf(wxtoken.ENotFound, "this server does not do %s", doing)
	}
	return nil
}

// retry lifts the error policy's hold on id and tries once now, then
// answers id's status. Where no valid access_token is cached the answer
// waits for the try, so that it shows the outcome; otherwise the cached
// one is still served and the try runs on behind the answer.
//
// plain says the path's segments are plain ids: an escaped ":" or "/" in
// a segment must not make one id look like another's.
func (h *Handler) retry(ex *exchange, r *http.Request, id string, plain bool) error {
	if err := h.operateRequest(ex, r, h.retrier != nil, "retry now"); err != nil {
		return err
	}
	if !plain {
		return wxtoken.Errorf(wxtoken.ENotFound, "%q is not kept by this server", id)
	}
	ctx := r.Context()
	h.log.LogAttrs(ctx, slog.LevelInfo, "retry now", slog.String("client", ex.client), slog.String("id", id))
	if err := h.retrier.RetryNow(ctx, id); err != nil {
		return err
	}
	// The try's own failure shows in the status answered.
	_, _ = h.svc.Credential(ctx, id, wxtoken.KindAccessToken)
	st, err := h.statusOf(ctx, id)
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, st)
	return nil
}

// clearQuota clears an app's daily quota at WeChat.
func (h *Handler) clearQuota(ex *exchange, r *http.Request, p params) error {
	if err := h.operateRequest(ex, r, h.quotas != nil, "quota clears"); err != nil {
		return err
	}
	if !plainSegment(p.appID) {
		return wxtoken.Errorf(wxtoken.ENotFound, "%q is not an app of this server", p.appID)
	}
	ctx := r.Context()
	h.log.LogAttrs(ctx, slog.LevelInfo, "clear quota", slog.String("client", ex.client), slog.String("appid", p.appID))
	res, err := h.quotas.ClearQuota(ctx, p.appID)
	if err != nil {
		return err
	}
	h.writeJSON(ex, http.StatusOK, res)
	return nil
}

// statusOf returns the status of one id.
func (h *Handler) statusOf(ctx context.Context, id string) (wxtoken.AppStatus, error) {
	if st, ok := wxtoken.StatusOf(ctx, h.svc, id); ok {
		return st, nil
	}
	return wxtoken.AppStatus{}, wxtoken.Errorf(wxtoken.ENotFound, "%q is not kept by this server", id)
}
