package refresh

import (
	"time"

	"github.com/wxtoken/wxtoken"
)

// keptTokens is how many access_token values per app AppOf recognizes:
// the current one and the one it replaced, which WeChat may still accept
// for a while and which callers may still hold.
const keptTokens = 2

// remember records that c, an access_token, is (or was) a value of its
// app's, so that AppOf can tell the app from the value alone. It forgets
// the app's values older than the last keptTokens.
func (e *Engine) remember(a *app, c *wxtoken.Credential) {
	if c == nil || c.Kind != wxtoken.KindAccessToken || c.Value == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.known {
		if v.Value == c.Value {
			return
		}
	}
	a.known = append(a.known, knownToken{Value: c.Value, ExpiresAt: c.ExpiresAt})
	e.tokens.Store(c.Value, a)
	for len(a.known) > keptTokens {
		e.tokens.CompareAndDelete(a.known[0].Value, a)
		a.known = a.known[1:]
	}
}

// knownToken is an access_token value an app has had.
type knownToken struct {
	Value     string
	ExpiresAt time.Time
}

// AppOf returns the appid of an access_token value that this engine holds
// or held until its last replacement, while that value has not expired.
// It is how a caller that presents only a token (as WeChat's own API
// takes them) is told apart from another app's.
func (e *Engine) AppOf(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	v, ok := e.tokens.Load(token)
	if !ok {
		return "", false
	}
	a := v.(*app)
	now := e.opts.Clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.known {
		if k.Value == token {
			return a.cfg.AppID, now.Before(k.ExpiresAt)
		}
	}
	return "", false
}
