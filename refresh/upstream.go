package refresh

import (
	"context"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// This file is the one place where a credential's family (and, for an
// app, its token API) chooses the upstream call; everything else the
// engine does is the same for every family.

// tokenCall makes the upstream token call of a and returns its answer and
// the endpoint it called. force spends a stable force_refresh (stable only).
func (e *Engine) tokenCall(ctx context.Context, a *app, force bool) (wechat.Credential, string, error) {
	switch a.cfg.TokenAPI {
	case wxtoken.TokenAPIClassic:
		w, err := e.opts.Upstream.Token(ctx, a.cfg.AppID, a.cfg.Secret())
		return w, wechat.PathToken, err
	case wxtoken.TokenAPIWeCom:
		_, corp, _ := wxtoken.ParseID(a.cfg.AppID)
		w, err := e.opts.Upstream.WeComToken(ctx, corp, a.cfg.Secret())
		return w, wechat.PathWeComToken, err
	default:
		w, err := e.opts.Upstream.StableToken(ctx, a.cfg.AppID, a.cfg.Secret(), force)
		return w, wechat.PathStableToken, err
	}
}

// ticketCall fetches ticket kind of a with access_token token, and returns
// the endpoint it called.
func (e *Engine) ticketCall(ctx context.Context, a *app, token string, kind wxtoken.Kind) (wechat.Credential, string, error) {
	if a.cfg.Family == wxtoken.FamilyWeCom {
		w, err := e.opts.Upstream.WeComTicket(ctx, token, kind)
		endpoint := wechat.PathWeComJSAPITicket
		if kind == wxtoken.KindAgentConfig {
			endpoint = wechat.PathWeComTicket
		}
		return w, endpoint, err
	}
	w, err := e.opts.Upstream.Ticket(ctx, token, kind)
	return w, wechat.PathTicket, err
}

// successorAtExpiry reports whether the upstream of a issues a new token
// only once the current one expired (or was ended early), answering the
// current one to every call before that: WeCom's gettoken.
func (a *app) successorAtExpiry() bool { return a.cfg.TokenAPI == wxtoken.TokenAPIWeCom }

// lateChecked reports whether tokens minted by api are probed against
// calls that may land late (see late.go): those of an API whose every call
// mints, and that an ordinary token-checked call accepts. A
// component_access_token is accepted only by the open platform's own
// calls, none of them cheap to make and harmless, so it is not probed; its
// handout is capped as any minted token's.
func lateChecked(api wxtoken.TokenAPI) bool {
	return api == wxtoken.TokenAPIClassic || api == wxtoken.TokenAPIAuthorizer
}
