package ui

import (
	"net/http"
	"time"
)

// loginData is the sign-in page.
type loginData struct {
	// Problem says why the last sign-in was refused, "" for none.
	Problem string
}

// loginPage shows the sign-in form, or goes to the status page when the
// browser is signed in already.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := h.session(r); ok {
		http.Redirect(w, r, Path, http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "login", loginData{})
}

// login checks the key of the sign-in form, which comes in the body only
// (a key in the URL's query is never read, nor is the URL logged), and
// starts a session for an admin key.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := h.origin.Check(r); err != nil {
		h.log.Warn("ui: sign-in refused: a request from another site", "remote", r.RemoteAddr)
		h.message(w, http.StatusForbidden, "Refused", "The sign-in did not come from this page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, http.StatusBadRequest, "login", loginData{Problem: "The form could not be read."})
		return
	}
	key := r.PostForm.Get("key")
	c, ok := h.keys.Load().Key(key)
	if !ok {
		h.log.Warn("ui: sign-in refused: unknown key", "remote", r.RemoteAddr)
		h.render(w, http.StatusUnauthorized, "login", loginData{Problem: "Unknown key."})
		return
	}
	if !c.Admin {
		h.log.Warn("ui: sign-in refused: not an admin key", "client", c.Name, "remote", r.RemoteAddr)
		h.render(w, http.StatusForbidden, "login", loginData{Problem: "This key is not an admin key: the status page needs one."})
		return
	}
	now := h.now()
	expires := now.Add(h.ttl)
	id, err := h.sessions.create(key, c.Name, now, expires)
	if err != nil {
		h.log.Error("ui: starting a session", "err", err)
		h.message(w, http.StatusInternalServerError, "Internal error", "The session could not be started; the server's log says why.")
		return
	}
	http.SetCookie(w, h.cookie(r, id, expires))
	h.log.Info("ui: signed in", "client", c.Name, "remote", r.RemoteAddr, "until", expires.Format(time.RFC3339))
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// cookie is the session cookie of id, which ends at expires; an empty id
// with a zero expires deletes it.
func (h *Handler) cookie(r *http.Request, id string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: CookieName, Value: id, Path: Path,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
	if id == "" {
		c.MaxAge = -1
		return c
	}
	c.Expires = expires.UTC()
	c.MaxAge = max(1, int(expires.Sub(h.now())/time.Second))
	return c
}

// session returns the browser's session and its cookie value, if it is
// signed in with a key that is still an admin's.
func (h *Handler) session(r *http.Request) (session, string, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return session{}, "", false
	}
	s, ok := h.sessions.get(ck.Value, h.now())
	if !ok {
		return session{}, "", false
	}
	c, ok := h.keys.Load().Key(s.key)
	if !ok || !c.Admin {
		// The key was removed or is no longer an admin's.
		h.sessions.end(ck.Value)
		h.log.Info("ui: session ended: its key is no longer an admin key", "client", s.client)
		return session{}, "", false
	}
	s.client = c.Name
	return s, ck.Value, true
}

// signedOut answers a request that needs a session with the sign-in page
// and 401.
func (h *Handler) signedOut(w http.ResponseWriter) {
	h.render(w, http.StatusUnauthorized, "login", loginData{Problem: "Sign in with an admin key to see this page."})
}

// checkForm reads a POST form of a signed-in browser and checks that it
// comes from this page: the browser does not say it is from another
// site, and it carries the session's CSRF token. It answers the request
// itself and returns false when the form is refused.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request) (session, string, bool) {
	s, id, ok := h.session(r)
	if !ok {
		h.signedOut(w)
		return session{}, "", false
	}
	if err := h.origin.Check(r); err != nil {
		h.log.Warn("ui: form refused: a request from another site", "client", s.client, "path", r.URL.Path)
		h.message(w, http.StatusForbidden, "Refused", "The form did not come from this page.")
		return session{}, "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.message(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return session{}, "", false
	}
	if !csrfOK(s, r.PostForm.Get("csrf")) {
		h.log.Warn("ui: form refused: a missing or wrong CSRF token", "client", s.client, "path", r.URL.Path)
		h.message(w, http.StatusForbidden, "Refused", "The form's token does not match this session: reload the page and try again.")
		return session{}, "", false
	}
	return s, id, true
}

// logout ends the session and deletes its cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	s, id, ok := h.checkForm(w, r)
	if !ok {
		return
	}
	h.sessions.end(id)
	http.SetCookie(w, h.cookie(r, "", time.Time{}))
	h.log.Info("ui: signed out", "client", s.client, "remote", r.RemoteAddr)
	http.Redirect(w, r, Path+"login", http.StatusSeeOther)
}
