package wxtoken

import (
	"context"
	"time"
)

// Health is whether a replica is ready to serve, and what needs a human
// even while it is: /readyz answers the first to anyone and the rest to
// an admin key.
//
// Ready means the replica can serve what it is asked for. It is false
// only while the replica is shutting down, or while it relies on a shared
// store that is away (or has not answered since the start, so the stored
// credentials are not loaded) and has no app's access_token to serve from
// memory. One app that cannot be served, or a store away while
// credentials are cached, does not make a replica unready: another
// replica could not serve that app either, and taking this one out of
// service would only refuse the apps it does serve.
type Health struct {
	Ready bool `json:"ready"`
	// Reasons say why the replica is not ready; empty when it is.
	Reasons []string `json:"reasons,omitempty"`
	// Store is the shared store's state; nil without one.
	Store *StoreHealth `json:"store,omitempty"`
	// Apps are the apps that need attention: a credential that cannot be
	// handed out now, or token calls the error policy holds back.
	Apps []AppHealth `json:"apps"`
}

// StoreHealth is a replica's view of the shared store.
type StoreHealth struct {
	Reachable bool `json:"reachable"`
	// Loaded says the stored credentials have been read since the start.
	Loaded bool `json:"loaded"`
	// DownSince and Error are set while the store cannot be reached:
	// since when, and the last failure.
	DownSince *time.Time `json:"down_since,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// AppHealth is one app that needs attention.
type AppHealth struct {
	AppID string `json:"appid"`
	// Unservable are the app's credentials that cannot be handed out now.
	Unservable []Kind `json:"unservable,omitempty"`
	// BlockedUntil is set while the error policy holds back token calls.
	BlockedUntil *time.Time `json:"blocked_until,omitempty"`
	// LastError is the last upstream failure of the access_token, or of
	// an unservable ticket when the token has none.
	LastError *ErrorInfo `json:"last_error,omitempty"`
}

// HealthReporter is implemented by a Service that can say more about its
// readiness than NotReady: the detail /readyz shows an admin key.
type HealthReporter interface {
	Health(ctx context.Context) Health
}
