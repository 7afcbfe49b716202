package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/msgcrypt"
)

// The pushes to a platform's authorization event URL, as WeChat sends
// them: POST URL?timestamp=&nonce=&encrypt_type=aes&msg_signature= with
// the envelope <xml><AppId>..</AppId><Encrypt>..</Encrypt></xml>, the
// message encrypted with msgcrypt under the platform's Token and
// EncodingAESKey. WeChat wants the plain answer "success" within 5
// seconds; every other outcome is counted as failed (the simulator does
// not retry).

// pushTimeout is how long WeChat waits for the answer to a push.
const pushTimeout = 5 * time.Second

// PushResult is what became of one push.
type PushResult struct {
	// Sent says whether the push was sent at all: false when the platform
	// has no event URL.
	Sent bool `json:"sent"`
	// Success says whether it was answered HTTP 200 with exactly
	// "success".
	Success bool `json:"success"`
	// Status and Answer are the HTTP status and the start of the body of
	// the answer, if one came.
	Status int    `json:"status,omitempty"`
	Answer string `json:"answer,omitempty"`
	// Error says why there was no answer.
	Error string `json:"error,omitempty"`
}

// startPushLoops starts, for every platform with an event URL, the
// goroutine that pushes a verify ticket every PushInterval and when
// api_start_push_ticket asks for one; Close stops them.
func (s *Simulator) startPushLoops() {
	for _, p := range s.platforms {
		if p.cfg.EventURL == "" {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pushLoop(p)
		}()
	}
}

func (s *Simulator) pushLoop(p *platform) {
	t := time.NewTicker(p.cfg.PushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
		_, _ = s.pushTicket(s.life, p)
	}
}

// Close stops the pushes and waits for any in flight. The simulator
// keeps answering calls. It is safe to call more than once.
func (s *Simulator) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

// PushVerifyTicket issues a new component_verify_ticket to the platform
// and pushes it now, whatever the push interval; it returns the ticket
// and what became of the push. Without an event URL the ticket is
// issued but not sent.
func (s *Simulator) PushVerifyTicket(ctx context.Context, componentAppID string) (string, PushResult, error) {
	s.mu.Lock()
	p := s.platforms[componentAppID]
	s.mu.Unlock()
	if p == nil {
		return "", PushResult{}, fmt.Errorf("simulator: unknown platform %q", componentAppID)
	}
	ticket, res := s.pushTicket(ctx, p)
	return ticket, res, nil
}

func (s *Simulator) pushTicket(ctx context.Context, p *platform) (string, PushResult) {
	s.mu.Lock()
	now := s.now()
	ticket := s.issueTicket(p, now)
	s.mu.Unlock()
	msg := eventXML(p.cfg.ComponentAppID, now, "component_verify_ticket", "ComponentVerifyTicket", ticket)
	return ticket, s.push(ctx, p, "component_verify_ticket", msg)
}

// Authorize plays an account's admin authorizing the platform: it makes an
// authorization code, pushes "authorized" with it, and returns it, so that
// a test can also exchange it at api_query_auth itself (a code is good
// once). Authorizing an account that already authorizes the platform
// works too (the admin went through the page again).
func (s *Simulator) Authorize(ctx context.Context, req AuthorizeRequest) (Authorized, error) {
	return s.authorize(ctx, req, false)
}

// UpdateAuthorized plays an admin changing what an authorized account
// grants the platform: as Authorize, but the push is "updateauthorized"
// and the account must authorize the platform already.
func (s *Simulator) UpdateAuthorized(ctx context.Context, req AuthorizeRequest) (Authorized, error) {
	return s.authorize(ctx, req, true)
}

func (s *Simulator) authorize(ctx context.Context, req AuthorizeRequest, update bool) (Authorized, error) {
	s.mu.Lock()
	p, out, msg, err := s.grant(req, update, s.now())
	s.mu.Unlock()
	if err != nil {
		return Authorized{}, err
	}
	info := "authorized"
	if update {
		info = "updateauthorized"
	}
	out.Push = s.push(ctx, p, info, msg)
	return out, nil
}

// Unauthorize plays an admin withdrawing the account's authorization: its
// access token and tickets stop working at once, its refresh token and
// outstanding codes are good no more (61003), and "unauthorized" is
// pushed.
func (s *Simulator) Unauthorize(ctx context.Context, componentAppID, authorizerAppID string) (PushResult, error) {
	s.mu.Lock()
	p := s.platforms[componentAppID]
	var a *authorizer
	if p != nil {
		a = p.authorizers[authorizerAppID]
	}
	if a == nil || !a.authorized {
		s.mu.Unlock()
		return PushResult{}, fmt.Errorf("simulator: %q does not authorize platform %q", authorizerAppID, componentAppID)
	}
	now := s.now()
	a.authorized = false
	// Every credential of the account, those in an overlap included.
	for _, c := range s.creds {
		if c.appID == a.id {
			c.kill(now)
		}
	}
	for _, ac := range p.codes {
		if ac.authorizer == a.appID {
			ac.used = true
		}
	}
	msg := eventXML(componentAppID, now, "unauthorized", "AuthorizerAppid", a.appID)
	s.mu.Unlock()
	return s.push(ctx, p, "unauthorized", msg), nil
}

// eventXML is a push's message before encryption: AppId, CreateTime and
// InfoType, then the given name, value pairs.
func eventXML(componentAppID string, now time.Time, infoType string, kv ...string) []byte {
	var b strings.Builder
	b.WriteString("<xml>")
	cdata(&b, "AppId", componentAppID)
	fmt.Fprintf(&b, "<CreateTime>%d</CreateTime>", now.Unix())
	cdata(&b, "InfoType", infoType)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "AuthorizationCodeExpiredTime" {
			fmt.Fprintf(&b, "<%s>%s</%s>", kv[i], kv[i+1], kv[i])
			continue
		}
		cdata(&b, kv[i], kv[i+1])
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// cdata writes <name><![CDATA[v]]></name>; every value the simulator
// puts there is its own, without "]]>".
func cdata(b *strings.Builder, name, v string) {
	fmt.Fprintf(b, "<%s><![CDATA[%s]]></%s>", name, v, name)
}

// push encrypts msg and POSTs it to p's event URL, and counts the outcome.
func (s *Simulator) push(ctx context.Context, p *platform, infoType string, msg []byte) PushResult {
	if p.cfg.EventURL == "" {
		return PushResult{Error: "the platform has no event URL"}
	}
	res := s.deliver(ctx, p, msg)
	if !res.Success && ctx.Err() != nil {
		// Cut off by Close or by the control call's caller going away:
		// not the receiver's doing, so not counted.
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &p.stats
	st.Sent++
	if st.ByInfoType == nil {
		st.ByInfoType = map[string]int{}
	}
	st.ByInfoType[infoType]++
	if res.Success {
		st.Success++
	} else {
		st.Failed++
		st.LastFailure = res.Error
		if res.Error == "" {
			st.LastFailure = fmt.Sprintf("answered HTTP %d %q, not \"success\"", res.Status, res.Answer)
		}
	}
	return res
}

// deliver makes one push.
func (s *Simulator) deliver(ctx context.Context, p *platform, msg []byte) PushResult {
	timestamp := strconv.FormatInt(s.now().Unix(), 10)
	nonce := randomDigits(10)
	encrypt, sig, err := p.crypt.Seal(msg, timestamp, nonce)
	if err != nil {
		return PushResult{Error: err.Error()}
	}
	u, err := url.Parse(p.cfg.EventURL) // checked in New
	if err != nil {
		return PushResult{Error: "bad event URL"}
	}
	q := u.Query()
	q.Set("timestamp", timestamp)
	q.Set("nonce", nonce)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", sig)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(msgcrypt.Envelope(p.cfg.ComponentAppID, encrypt)))
	if err != nil {
		return PushResult{Sent: true, Error: "cannot build the push: " + err.Error()}
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := s.pushClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return PushResult{Sent: true, Error: "no answer: " + err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	res := PushResult{Sent: true, Status: resp.StatusCode, Answer: string(body)}
	if len(res.Answer) > 200 {
		res.Answer = res.Answer[:200]
	}
	if err != nil {
		res.Error = "answer cut short: " + err.Error()
		return res
	}
	res.Success = resp.StatusCode == http.StatusOK && string(body) == "success"
	return res
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	t := randomText(n)
	b := make([]byte, n)
	for i := range b {
		b[i] = '0' + t[i]%10
	}
	return string(b)
}
