package wxtoken

import (
	"context"
	"time"
)

// Registration is an app or WeCom agent as registered through the admin
// API: the keys of a config entry, plus tags. For a WeCom agent CorpID and
// AgentID are set and AppID is empty.
type Registration struct {
	AppID   string `json:"appid,omitempty"`
	CorpID  string `json:"corpid,omitempty"`
	AgentID string `json:"agentid,omitempty"`
	Name    string `json:"name,omitempty"`
	// Secret is the AppSecret or the agent's secret. Required to register;
	// empty in a change keeps the one stored. Never answered.
	Secret   string   `json:"secret,omitempty"`
	TokenAPI TokenAPI `json:"token_api,omitempty"`
	Tickets  []Kind   `json:"tickets,omitempty"`
	// Tags label the entry: a client granted "tag:T" is granted every
	// entry tagged T.
	Tags []string `json:"tags,omitempty"`
}

// ID is the id the registration's credentials are kept under: the appid,
// or the agent's WeComID.
func (r Registration) ID() string {
	if r.CorpID != "" || r.AgentID != "" {
		return WeComID(r.CorpID, r.AgentID)
	}
	return r.AppID
}

// Registered is a registered entry as answered: never its secret.
type Registered struct {
	ID       string     `json:"id"`
	Family   Family     `json:"family"`
	AppID    string     `json:"appid,omitempty"`
	CorpID   string     `json:"corpid,omitempty"`
	AgentID  string     `json:"agentid,omitempty"`
	Name     string     `json:"name,omitempty"`
	TokenAPI TokenAPI   `json:"token_api,omitempty"`
	Tickets  []Kind     `json:"tickets"`
	Tags     []string   `json:"tags"`
	State    EntryState `json:"state"`
	// CreatedAt and UpdatedAt are the entry's.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Credentials are those of its AppStatus; empty once removed.
	Credentials []CredentialStatus `json:"credentials"`
}

// Registrar is what the admin API asks to register, change and remove
// apps and WeCom agents while the server runs. Entries from the
// configuration file are read-only there: EConflict. Errors are *Error
// values: EInvalid for a bad registration, ENotFound for an id not
// registered, EConflict for one that exists already or comes from the
// configuration, EUnavailable when the store cannot be written.
type Registrar interface {
	// Register stores r (its secret sealed) and starts keeping its
	// credentials at once.
	Register(ctx context.Context, r Registration) (Registered, error)
	// Change replaces the registered entry id by r (an empty secret keeps
	// the stored one): a new secret is used from the next fetch, a
	// changed token API or tickets list is applied at once.
	Change(ctx context.Context, id string, r Registration) (Registered, error)
	// Unregister stops serving and refreshing id; its record is kept as
	// removed.
	Unregister(ctx context.Context, id string) error
	// Registrations lists the registered entries of family (FamilyApp or
	// FamilyWeCom; empty for both), removed ones included.
	Registrations(ctx context.Context, family Family) ([]Registered, error)
}
