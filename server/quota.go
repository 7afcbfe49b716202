package server

import (
	"context"
	"log/slog"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/httpapi"
	"github.com/wxtoken/wxtoken/quota"
	"github.com/wxtoken/wxtoken/refresh"
)

// newQuota makes the keeper of WeChat's quota figures for the engine's
// apps (the configured and the registered ones, FamilyApp only: WeCom and
// the platforms have no quota/get). It asks with each app's current
// access_token, read through the engine, and clears with its AppSecret.
func (s *Server) newQuota(up quota.Upstream, clock refresh.Clock) (*quota.Poller, error) {
	return quota.New(quota.Options{
		Upstream: up,
		Apps: func() []quota.App {
			var out []quota.App
			for _, c := range s.engine.Apps() {
				if c.Family == wxtoken.FamilyApp {
					out = append(out, quota.App{AppID: c.AppID, TokenAPI: c.TokenAPI})
				}
			}
			return out
		},
		Token: func(ctx context.Context, appID string) (string, error) {
			g, err := s.engine.Credential(ctx, appID, wxtoken.KindAccessToken)
			return g.Value, err
		},
		Secret: func(appID string) string {
			c, ok := s.engine.AppConfig(appID)
			if !ok || c.Secret == nil {
				return ""
			}
			return c.Secret()
		},
		Interval: s.cfg.Quota.Interval.Std(),
		Clock:    clock,
		Logger:   s.log,
	})
}

// startQuota asks the apps' quotas in the background until Close, when
// the configuration says so.
func (s *Server) startQuota() {
	if !s.cfg.Quota.Poll {
		return
	}
	s.bgDone.Add(1)
	go func() {
		defer s.bgDone.Done()
		s.quota.Run(s.bg)
	}()
}

// Quota returns what keeps the apps' quota figures.
func (s *Server) Quota() *quota.Poller { return s.quota }

// quotaService is the engine as the HTTP API and the metrics see it: its
// status carries the apps' quota figures.
type quotaService struct {
	*refresh.Engine
	q *quota.Poller
}

// Status implements wxtoken.Service.
func (q quotaService) Status(ctx context.Context) []wxtoken.AppStatus {
	st := q.Engine.Status(ctx)
	q.q.Fill(st)
	return st
}

// StatusOf reports one id as Status does.
func (q quotaService) StatusOf(ctx context.Context, id string) (wxtoken.AppStatus, bool) {
	st, ok := q.Engine.StatusOf(ctx, id)
	if !ok {
		return st, false
	}
	one := []wxtoken.AppStatus{st}
	q.q.Fill(one)
	return one[0], true
}

// quotaClearer clears an app's quota for POST
// /v1/apps/{appid}/clear_quota.
type quotaClearer struct{ s *Server }

// ClearQuota implements httpapi.QuotaClearer. A clear also lifts the
// error policy's hold, which a used-up quota (45009) sets until midnight.
func (c quotaClearer) ClearQuota(ctx context.Context, appID string) (httpapi.ClearQuotaResponse, error) {
	s := c.s
	cfg, ok := s.engine.AppConfig(appID)
	if !ok || cfg.Family != wxtoken.FamilyApp {
		return httpapi.ClearQuotaResponse{}, wxtoken.Errorf(wxtoken.ENotFound, "%s is not an app of this server (WeCom agents and platforms have no quota to clear)", appID)
	}
	left, err := s.quota.Clear(ctx, quota.App{AppID: appID, TokenAPI: cfg.TokenAPI})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "clearing an app's quota failed",
			slog.String("appid", appID), slog.Int("clears_left", left), slog.String("error", err.Error()))
		return httpapi.ClearQuotaResponse{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "the quota of an app was cleared at WeChat",
		slog.String("appid", appID), slog.Int("clears_left", left))
	if err := s.engine.RetryNow(ctx, appID); err != nil {
		return httpapi.ClearQuotaResponse{}, err
	}
	res := httpapi.ClearQuotaResponse{AppID: appID, ClearRemainingThisMonth: left}
	if st, ok := s.quota.Figures(appID); ok {
		res.Quota = &st
	}
	return res, nil
}
