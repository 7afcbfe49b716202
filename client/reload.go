package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken"
)

// ConfigInfo describes the configuration file a server runs with.
type ConfigInfo struct {
	// LoadedAt is when the server read the file: at start, or at the last
	// reload it applied.
	LoadedAt time.Time `json:"loaded_at"`
	// Digest is the hex SHA-256 of the file's bytes, which `sha256sum`
	// prints for the file on disk.
	Digest string `json:"digest"`
}

// AppsReport is the server's GET /v1/apps: the status of every app, and
// the replica and configuration that answered.
type AppsReport struct {
	// Replica names the replica that answered, on a shared store.
	Replica string
	// Config is nil when the server does not say (it was not started from
	// a file, or it is older than this client).
	Config *ConfigInfo
	Apps   []wxtoken.AppStatus
}

// Report returns the status of every app the server keeps, with the
// configuration it runs with. It needs an admin key.
func (c *Client) Report(ctx context.Context) (AppsReport, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/apps", nil, nil, &raw); err != nil {
		return AppsReport{}, err
	}
	// Accept both a bare list and a list wrapped in an object, so that the
	// client does not break if the server adds totals beside the list.
	var apps []wxtoken.AppStatus
	if err := json.Unmarshal(raw, &apps); err == nil {
		return AppsReport{Apps: apps}, nil
	}
	var wrapped struct {
		Replica string              `json:"replica"`
		Config  *ConfigInfo         `json:"config"`
		Apps    []wxtoken.AppStatus `json:"apps"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return AppsReport{}, malformed("/v1/apps", err)
	}
	return AppsReport{Replica: wrapped.Replica, Config: wrapped.Config, Apps: wrapped.Apps}, nil
}

// ReloadResult is what the server's reload of its configuration file
// changed.
type ReloadResult struct {
	// Config describes the file now in force.
	Config ConfigInfo `json:"config"`
	// Added, Removed and Changed are the ids of the apps added, removed
	// and changed.
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	// ClientsAdded, ClientsRemoved and ClientsChanged name the clients
	// whose keys were added, removed and changed.
	ClientsAdded   []string `json:"clients_added"`
	ClientsRemoved []string `json:"clients_removed"`
	ClientsChanged []string `json:"clients_changed"`
	// NeedRestart are the config keys whose change the server left
	// unapplied because it takes a restart.
	NeedRestart []string `json:"need_restart"`
}

// Reload has the server read its configuration file again and apply what
// changed. It needs an admin key. A file the server refuses changes
// nothing: the error is then an *wxtoken.Error with code EInvalid whose
// message lists every problem, one per line.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/v1/admin/reload", nil, nil, &raw); err != nil {
		return ReloadResult{}, err
	}
	var probe struct {
		Config *ConfigInfo `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return ReloadResult{}, malformed("reload", err)
	}
	if probe.Config == nil {
		return ReloadResult{}, malformed("reload", errors.New("config missing"))
	}
	var res ReloadResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return ReloadResult{}, malformed("reload", err)
	}
	return res, nil
}
