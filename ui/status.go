package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// statusData is the status page.
type statusData struct {
	Client  string
	Replica string
	CSRF    string
	Flash   string
	Now     time.Time
	Q       query
	P       pageOf
	// Refresh is how often the page reloads itself, in seconds; 0 never.
	Refresh  int
	Families []wxtoken.Family
	States   []string
	// ClearQuota offers clearing an app's quota.
	ClearQuota bool
	// RetryNow offers lifting the hold on a held-back or failing
	// credential.
	RetryNow bool
}

// Left says how long until t, or how long ago it was.
func (d statusData) Left(t *time.Time) string { return left(t, d.Now) }

// At writes t as a UTC time, "—" for none.
func (d statusData) At(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// PrevURL and NextURL are the neighbouring pages, "" at either end.
func (d statusData) PrevURL() string {
	if d.P.Page <= 1 {
		return ""
	}
	return d.Q.withPage(d.P.Page - 1).URL()
}

// NextURL is the next page, "" on the last.
func (d statusData) NextURL() string {
	if d.P.Page >= d.P.Pages {
		return ""
	}
	return d.Q.withPage(d.P.Page + 1).URL()
}

// Return is the page's own query, for an action to come back to.
func (d statusData) Return() string { return d.Q.withPage(d.P.Page).values().Encode() }

// status shows the status page to a signed-in browser and the sign-in
// page, with 401, to any other.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	s, id, ok := h.session(r)
	if !ok {
		h.signedOut(w)
		return
	}
	q := parseQuery(r.URL.Query())
	rows := rowsOf(h.svc.Status(r.Context()))
	d := statusData{
		Client: s.client, Replica: h.replica, CSRF: s.csrf, Flash: h.sessions.takeFlash(id), Now: h.now(),
		Q: q, P: paginate(rows, q, h.pageSize), Families: families(), States: states(),
		ClearQuota: h.clearQuota != nil, RetryNow: h.retryNow != nil,
	}
	if h.every > 0 {
		d.Refresh = max(1, int(h.every/time.Second))
	}
	h.render(w, http.StatusOK, "status", d)
}

// confirmData is the page that asks to confirm an action, for a browser
// that did not confirm it already (the page's script asks before the
// form is sent; without the script, this page asks).
type confirmData struct {
	// Action is the form's path below Path; Title and Text ask.
	Action, Title, Text string
	CSRF                string
	ID                  string
	Kind                wxtoken.Kind
	Return              string
	// Back is the status page the action came from.
	Back string
}

// refresh runs a compare-and-refresh of one credential: the value held
// now is reported as rejected, so that the Service fetches a new one
// unless it has already replaced it. It is confirmed first, and logged
// with the client's name.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	s, sid, ok := h.checkForm(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("id")
	kind := wxtoken.Kind(r.PostForm.Get("kind"))
	back := returnURL(r.PostForm.Get("return"))
	if id == "" || len(id) > 300 || !kind.Valid() || kind == wxtoken.KindVerifyTicket {
		h.message(w, http.StatusBadRequest, "Bad request", "The form names no credential that can be refreshed.")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.render(w, http.StatusOK, "confirm", confirmData{
			Action: "refresh", Title: "Compare-and-refresh?",
			Text: fmt.Sprintf("The %s of %s is reported as rejected: wxtoken asks WeChat for a new one unless it has replaced it already.", kind, id),
			CSRF: s.csrf, ID: id, Kind: kind, Return: r.PostForm.Get("return"), Back: back})
		return
	}
	ctx := r.Context()
	msg, err := h.compareAndRefresh(ctx, id, kind)
	if err != nil {
		h.log.Warn("ui: compare-and-refresh failed", "client", s.client, "id", id, "kind", string(kind), "err", err)
		h.sessions.setFlash(sid, fmt.Sprintf("Compare-and-refresh of %s %s failed: %s", id, kind, errorText(err)))
	} else {
		h.log.Info("ui: compare-and-refresh", "client", s.client, "id", id, "kind", string(kind), "outcome", msg)
		h.sessions.setFlash(sid, fmt.Sprintf("Compare-and-refresh of %s %s: %s.", id, kind, msg))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// compareAndRefresh reports the credential's current value as rejected
// and says what came of it. The value is never shown or logged.
func (h *Handler) compareAndRefresh(ctx context.Context, id string, kind wxtoken.Kind) (string, error) {
	cur, err := h.svc.Credential(ctx, id, kind)
	if err != nil {
		return "", err
	}
	next, err := h.svc.Refresh(ctx, id, kind, cur.Value)
	if err != nil {
		return "", err
	}
	if next.Value == cur.Value {
		return fmt.Sprintf("the credential was kept (valid for %s more)", shortDuration(next.ExpiresIn)), nil
	}
	return fmt.Sprintf("a new credential, valid for %s", shortDuration(next.ExpiresIn)), nil
}

// errorText is what the page says of err: a wxtoken.Error's code,
// message and WeChat's errcode, which are safe to show, and never its
// underlying cause, which is for the log.
func errorText(err error) string {
	var we *wxtoken.Error
	if errors.As(err, &we) {
		if we.WeChatErrCode != 0 {
			return fmt.Sprintf("%s: %s (WeChat errcode %d)", we.Code, we.Message, we.WeChatErrCode)
		}
		return fmt.Sprintf("%s: %s", we.Code, we.Message)
	}
	return "internal error (the server's log says more)"
}

// returnURL is the status page with the filters of the query raw, read
// as the page reads them: whatever raw holds, the answer is a path of the
// status page.
func returnURL(raw string) string {
	v, err := url.ParseQuery(strings.TrimPrefix(raw, "?"))
	if err != nil {
		return Path
	}
	q := parseQuery(v)
	return q.URL()
}

// clearAppQuota clears an app's daily quotas at WeChat, spending one of
// the ten clears WeChat allows a month. It is confirmed first, and logged
// with the client's name.
func (h *Handler) clearAppQuota(w http.ResponseWriter, r *http.Request) {
	s, sid, ok := h.checkForm(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("id")
	back := returnURL(r.PostForm.Get("return"))
	if f, _, _ := wxtoken.ParseID(id); id == "" || len(id) > 300 || f != wxtoken.FamilyApp {
		h.message(w, http.StatusBadRequest, "Bad request", "The form names no app.")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.render(w, http.StatusOK, "confirm", confirmData{
			Action: "clear_quota", Title: "Clear the quota?",
			Text: fmt.Sprintf("WeChat resets the daily quotas of %s; this spends one of the app's ten clears a month.", id),
			CSRF: s.csrf, ID: id, Return: r.PostForm.Get("return"), Back: back})
		return
	}
	left, err := h.clearQuota(r.Context(), id)
	if err != nil {
		h.log.Warn("ui: clearing the quota failed", "client", s.client, "id", id, "err", err)
		h.sessions.setFlash(sid, fmt.Sprintf("Clearing the quota of %s failed: %s", id, errorText(err)))
	} else {
		h.log.Info("ui: quota cleared", "client", s.client, "id", id, "clears_left", left)
		h.sessions.setFlash(sid, fmt.Sprintf("The quota of %s was cleared; %d clears are left this month.", id, left))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// retry lifts the error policy's hold on the credentials of one id (an
// app, a WeCom agent, a platform or an authorizer) and has them tried once
// now, for an operator who fixed the cause: put the server's IP on the
// whitelist, confirmed the risk message, corrected the secret. It is
// confirmed first, and logged with the client's name. The outcome of the
// try, with the error's hint when it failed again, is shown.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	s, sid, ok := h.checkForm(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("id")
	back := returnURL(r.PostForm.Get("return"))
	if id == "" || len(id) > 300 {
		h.message(w, http.StatusBadRequest, "Bad request", "The form names no credential to retry.")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.render(w, http.StatusOK, "confirm", confirmData{
			Action: "retry", Title: "Retry now?",
			Text: fmt.Sprintf("The error policy's hold on %s is lifted and WeChat is asked once, now, for what it needs. "+
				"Do this after fixing the cause; if it is not fixed, the error comes back and so does the hold.", id),
			CSRF: s.csrf, ID: id, Return: r.PostForm.Get("return"), Back: back})
		return
	}
	ctx := r.Context()
	h.log.Info("ui: retry now", "client", s.client, "id", id)
	if err := h.retryNow(ctx, id); err != nil {
		h.log.Warn("ui: retry now failed", "client", s.client, "id", id, "err", err)
		h.sessions.setFlash(sid, fmt.Sprintf("Retry now of %s failed: %s", id, errorText(err)))
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	// Wait for the try where no valid access_token is held, so that its
	// outcome can be told; a token still valid is served at once and the
	// held-back tickets are tried behind it.
	g, err := h.svc.Credential(ctx, id, wxtoken.KindAccessToken)
	if err != nil {
		text := errorText(err)
		if hint := h.hintOf(ctx, id); hint != "" && !strings.Contains(text, hint) {
			text += ". " + hint
		}
		h.log.Warn("ui: retried, and the try failed", "client", s.client, "id", id, "err", err)
		h.sessions.setFlash(sid, fmt.Sprintf("The hold on %s was lifted, but the try failed: %s", id, text))
	} else {
		h.log.Info("ui: retried", "client", s.client, "id", id, "outcome", "served")
		h.sessions.setFlash(sid, fmt.Sprintf("The hold on %s was lifted and it was tried again: its access_token is served, valid for %s.",
			id, shortDuration(g.ExpiresIn)))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// hintOf is the hint of id's last error, its access_token's first: what
// the operator is told to do about a try that failed again.
func (h *Handler) hintOf(ctx context.Context, id string) string {
	st, _ := wxtoken.StatusOf(ctx, h.svc, id)
	hint := ""
	for _, c := range st.Credentials {
		if c.LastError == nil || c.LastError.Hint == "" {
			continue
		}
		if c.Kind == wxtoken.KindAccessToken {
			return c.LastError.Hint
		}
		if hint == "" {
			hint = c.LastError.Hint
		}
	}
	return hint
}
