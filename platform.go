package wxtoken

import (
	"context"
	"time"
)

// Push is one request WeChat sent to a third-party platform's
// authorization event URL, as it arrived: the query's timestamp, nonce,
// encrypt_type and msg_signature, and the raw XML body.
type Push struct {
	Timestamp    string
	Nonce        string
	EncryptType  string
	MsgSignature string
	Body         []byte
}

// Platforms is what the HTTP API asks of the open platform's third-party
// platforms, beside Service, which serves the credentials of a platform
// (its component_access_token under its component_appid, with family
// FamilyComponent) and of its authorizers (under their AuthorizerID).
//
// Errors are *Error values, as Service's: ENotFound for a platform that
// is not configured or an authorizer it does not know, EInvalid for a push
// that fails its checks or bad arguments, EUnavailable when WeChat cannot
// be asked.
type Platforms interface {
	// Event checks and acts on a push: component_verify_ticket (stored),
	// authorized and updateauthorized (the code exchanged at once, the
	// authorizer stored), unauthorized (the authorizer no longer served).
	// It returns nil only once what the push said is stored durably:
	// then, and only then, WeChat is answered "success".
	Event(ctx context.Context, componentAppID string, p Push) error
	// PreAuthURL returns the URL of WeChat's authorization page for the
	// platform, with a fresh pre_auth_code, that sends the account's
	// admin back to redirectURI; authType is WeChat's auth_type ("" for
	// its default).
	PreAuthURL(ctx context.Context, componentAppID, redirectURI, authType string) (string, error)
	// Authorize exchanges an authorization code (from the redirect or a
	// push) for the authorizer's credentials, stores the authorizer, and
	// returns its access_token.
	Authorize(ctx context.Context, componentAppID, authCode string) (Grant, error)
	// ImportAuthorizer stores an authorizer known to another system by its
	// refresh token, and fetches its access_token with it.
	ImportAuthorizer(ctx context.Context, componentAppID, authorizerAppID, refreshToken string) (AuthorizerStatus, error)
	// Authorizers returns every authorizer of the platform, removed ones
	// included, with the state of their credentials; never a refresh
	// token.
	Authorizers(ctx context.Context, componentAppID string) ([]AuthorizerStatus, error)
}

// AuthorizerStatus is one authorizer of a platform, for operators.
type AuthorizerStatus struct {
	ComponentAppID  string     `json:"component_appid"`
	AuthorizerAppID string     `json:"authorizer_appid"`
	State           EntryState `json:"state"`
	// Note says why the authorizer is in its state.
	Note         string    `json:"note,omitempty"`
	AuthorizedAt time.Time `json:"authorized_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Credentials are those of its AppStatus; empty once removed.
	Credentials []CredentialStatus `json:"credentials"`
}
