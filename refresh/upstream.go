package refresh

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	case wxtoken.TokenAPIComponent:
		w, err := e.componentToken(ctx, a)
		return w, wechat.PathComponentToken, err
	case wxtoken.TokenAPIAuthorizer:
		w, err := e.authorizerToken(ctx, a)
		return w, wechat.PathAuthorizerToken, err
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

// verifyTicketLife is how long WeChat accepts a component_verify_ticket
// after pushing it.
const verifyTicketLife = 12 * time.Hour

// componentToken fetches the component_access_token of platform a with the
// latest verify ticket WeChat pushed (which the store holds under the
// platform's id, whichever replica received it). Without one in its life,
// or when WeChat refuses the one held, it asks WeChat to push one now.
func (e *Engine) componentToken(ctx context.Context, a *app) (wechat.Credential, error) {
	t, err := e.opts.Store.Get(ctx, a.cfg.AppID, wxtoken.KindVerifyTicket)
	switch {
	case errors.Is(err, wxtoken.ErrNotFound) || err == nil && !e.opts.Clock.Now().Before(t.FetchedAt.Add(verifyTicketLife)):
		e.askForVerifyTicket(ctx, a)
		return wechat.Credential{}, wechat.ErrNoVerifyTicket
	case err != nil:
		return wechat.Credential{}, fmt.Errorf("reading the platform's verify ticket: %w", err)
	}
	w, err := e.opts.Upstream.ComponentToken(ctx, a.cfg.AppID, a.cfg.Secret(), t.Value)
	if wechat.Classify(err, e.opts.Clock.Now()).Class == wechat.ClassVerifyTicket {
		e.askForVerifyTicket(ctx, a)
	}
	return w, err
}

// askForVerifyTicket asks WeChat to push platform a a verify ticket now,
// at most once a minute.
func (e *Engine) askForVerifyTicket(ctx context.Context, a *app) {
	now := e.opts.Clock.Now()
	a.mu.Lock()
	if now.Before(a.askedTicketAt.Add(time.Minute)) {
		a.mu.Unlock()
		return
	}
	a.askedTicketAt = now
	a.mu.Unlock()
	if err := e.opts.Upstream.StartPushTicket(ctx, a.cfg.AppID, a.cfg.Secret()); err != nil {
		e.log.Warn("asking WeChat to push a verify ticket failed", "component_appid", a.cfg.AppID, "err", err)
		return
	}
	e.log.Info("asked WeChat to push a verify ticket", "component_appid", a.cfg.AppID)
}

// authorizerToken fetches the authorizer_access_token of a with its
// platform's component_access_token and its refresh token. A new refresh
// token in the answer is handed to a's owner, which stores it, before the
// token is installed. A component token that WeChat rejects is reported
// as stale to the platform, and the call made once more with its
// successor.
func (e *Engine) authorizerToken(ctx context.Context, a *app) (wechat.Credential, error) {
	_, comp, appID := wxtoken.ParseID(a.cfg.AppID)
	if e.app(comp) == nil {
		return wechat.Credential{}, fmt.Errorf("the platform %s of authorizer %s is not configured", comp, appID)
	}
	g, err := e.Credential(ctx, comp, wxtoken.KindAccessToken)
	if err != nil {
		return wechat.Credential{}, fmt.Errorf("the platform's component_access_token: %w", err)
	}
	secret := a.cfg.Secret()
	w, rotated, err := e.opts.Upstream.AuthorizerToken(ctx, g.Value, comp, appID, secret)
	if wechat.Classify(err, e.opts.Clock.Now()).Class == wechat.ClassTokenRejected {
		if g, err = e.Refresh(ctx, comp, wxtoken.KindAccessToken, g.Value); err != nil {
			return wechat.Credential{}, fmt.Errorf("the platform's component_access_token: %w", err)
		}
		w, rotated, err = e.opts.Upstream.AuthorizerToken(ctx, g.Value, comp, appID, secret)
	}
	if err != nil {
		return w, err
	}
	if rotated != "" && rotated != secret && a.cfg.Owner != nil {
		if err := a.cfg.Owner.Rotated(ctx, rotated); err != nil {
			// The token is good whatever happens to the refresh token;
			// the one stored stays until a later answer can be stored.
			e.log.Error("storing the authorizer's new refresh token failed; keeping the one stored",
				"authorizer", a.cfg.AppID, "err", err)
		}
	}
	return w, nil
}
