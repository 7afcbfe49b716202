package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser. The key it signed in with is kept in
// this process's memory only, so that every request checks it again
// against the key ring in force: a key removed or demoted by a reload ends
// its sessions at once.
type session struct {
	key     string
	client  string
	csrf    string
	expires time.Time
	// flash is the outcome of the last action, shown once on the next
	// page (it never travels in a URL).
	flash string
}

// sessions holds the sessions by the SHA-256 of their cookie value, so
// that looking one up takes no time that depends on how much of a guessed
// id matches a real one.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session
	max int
}

func newSessions(max int) *sessions {
	return &sessions{m: make(map[[sha256.Size]byte]*session), max: max}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// create starts a session for client, signed in with key, that ends at
// expires, and returns its cookie value. Expired sessions are dropped on
// the way; when the table is still full, the one closest to its end goes.
func (ss *sessions) create(key, client string, now, expires time.Time) (string, error) {
	id, err := randomToken(32)
	if err != nil {
		return "", err
	}
	csrf, err := randomToken(32)
	if err != nil {
		return "", err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for h, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, h)
		}
	}
	for len(ss.m) >= ss.max {
		var oldest [sha256.Size]byte
		var at time.Time
		for h, s := range ss.m {
			if at.IsZero() || s.expires.Before(at) {
				oldest, at = h, s.expires
			}
		}
		delete(ss.m, oldest)
	}
	ss.m[sha256.Sum256([]byte(id))] = &session{key: key, client: client, csrf: csrf, expires: expires}
	return id, nil
}

// get returns a copy of the session of cookie value id, if it exists and
// has not ended at now.
func (ss *sessions) get(id string, now time.Time) (session, bool) {
	h := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[h]
	if !ok {
		return session{}, false
	}
	if !now.Before(s.expires) {
		delete(ss.m, h)
		return session{}, false
	}
	return *s, true
}

// takeFlash returns the session's flash message and clears it.
func (ss *sessions) takeFlash(id string) string {
	h := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[h]
	if !ok {
		return ""
	}
	f := s.flash
	s.flash = ""
	return f
}

// setFlash records msg to be shown on the session's next page.
func (ss *sessions) setFlash(id, msg string) {
	h := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[h]; ok {
		s.flash = msg
	}
}

// end removes the session of cookie value id.
func (ss *sessions) end(id string) {
	h := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, h)
}

// csrfOK compares a form's token with the session's in constant time.
func csrfOK(s session, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(token)) == 1
}
