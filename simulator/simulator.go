// Package simulator is a stand-in for WeChat's credential API that runs over
// real HTTP: /cgi-bin/token, /cgi-bin/stable_token, /cgi-bin/ticket/getticket
// and an ordinary token-checked call, /cgi-bin/get_api_domain_ip. Any other
// path called with an access_token stands for the rest of WeChat's API: the
// token is checked the same way and a live one gets {"errcode":0,"errmsg":"ok"},
// so that SDKs pointed at the simulator have something to call;
// /cgi-bin/media/upload also reads a multipart upload whole before it
// answers, as WeChat does. The login calls under /sns/ (jscode2session,
// web OAuth's code exchange, refresh, userinfo and auth) work with codes
// minted through the control API, so that login flows can be tested
// offline.
//
// On the same listener it answers WeCom's (企业微信) credential API for the
// agents in Options.WeCom (wecom.go): /cgi-bin/gettoken, one token per
// (corpid, agent secret) that comes back unchanged within its validity;
// the corp ticket (/cgi-bin/get_jsapi_ticket) and the agent ticket
// (/cgi-bin/ticket/get?type=agent_config) with WeCom's hourly limits; and
// /cgi-bin/agent/get, an ordinary call that refuses a token of another
// agent of the corp (301002). Any other path called with a WeCom token is
// checked the same way. A WeCom agent is named by wxtoken.WeComID,
// "corpid/agentid", wherever an app is named by its appid.
//
// It keeps the rules a credential server has to live with: a classic token
// call replaces the previous token, which keeps working for an overlap
// window; stable_token is idempotent until its last overlap window and its
// force mode is rationed; a WeCom token is idempotent until it expires,
// and may be ended early; tickets need a live token; quotas run out. Every
// duration is an option, so tests can compress a day into seconds, and the
// clock can be injected so that tests need no sleeps.
//
// For the open platform's third-party platforms in Options.Platforms
// (platform.go) it answers the five component endpoints under
// /cgi-bin/component/ and pushes encrypted events (component_verify_ticket
// on a timer, authorized, updateauthorized, unauthorized through the
// control API) to each platform's event URL; an authorizer's access token
// works with getticket and every ordinary call as an app's does. An
// authorizer is named by wxtoken.AuthorizerID,
// "component_appid:authorizer_appid", wherever an app is named by its
// appid.
//
// Faults (every error class a server must classify, slow answers, dropped
// connections), out-of-band rotations and early ends are injected through
// the Go API or through a small JSON control API under /_sim/, which also
// reports call counts and whether a given token or ticket is still
// accepted.
package simulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The endpoints the simulator answers, as named in Fault.Endpoint and Calls.
const (
	EndpointToken       = "token"             // GET /cgi-bin/token
	EndpointStableToken = "stable_token"      // POST /cgi-bin/stable_token
	EndpointTicket      = "getticket"         // GET /cgi-bin/ticket/getticket
	EndpointProbe       = "get_api_domain_ip" // GET or POST /cgi-bin/get_api_domain_ip
	// EndpointAPI is every other path called with an access_token: the
	// ordinary WeChat API, answered after the same token check.
	EndpointAPI = "api"
	// EndpointSNS is the login calls under /sns/ (sns.go).
	EndpointSNS = "sns"

	// WeCom's endpoints (wecom.go).
	EndpointWeComToken       = "gettoken"         // GET /cgi-bin/gettoken
	EndpointWeComJSAPITicket = "get_jsapi_ticket" // GET /cgi-bin/get_jsapi_ticket: the corp ticket
	EndpointWeComTicket      = "ticket_get"       // GET /cgi-bin/ticket/get?type=agent_config: the agent ticket
	// EndpointWeComAPI is /cgi-bin/agent/get and every other path called
	// with a WeCom access_token.
	EndpointWeComAPI = "wecom_api"
)

// endpoints lists the endpoint names in a stable order.
func endpoints() []string {
	return slices.Concat(oaEndpoints(), wecomEndpoints(), platformEndpoints(), quotaEndpoints())
}

// quotaEndpoints are listed in the call counts only once called.
func quotaEndpoints() []string { return []string{EndpointQuotaGet, EndpointClearQuota} }

func oaEndpoints() []string {
	return []string{EndpointToken, EndpointStableToken, EndpointTicket, EndpointProbe, EndpointAPI, EndpointSNS}
}

func wecomEndpoints() []string {
	return []string{EndpointWeComToken, EndpointWeComJSAPITicket, EndpointWeComTicket, EndpointWeComAPI}
}

// servedEndpoints lists the endpoints of the families s serves: WeCom's
// only when it knows WeCom agents, the open platform's only when it knows
// platforms.
func (s *Simulator) servedEndpoints() []string {
	out := oaEndpoints()
	if len(s.agents) > 0 {
		out = append(out, wecomEndpoints()...)
	}
	if len(s.platforms) > 0 {
		out = append(out, platformEndpoints()...)
	}
	return out
}

func validEndpoint(e string) bool { return slices.Contains(endpoints(), e) }

// Credential kinds, as reported by Check and accepted by Rotate.
const (
	KindClassic = "classic" // access_token from /cgi-bin/token
	KindStable  = "stable"  // access_token from /cgi-bin/stable_token
	KindJSAPI   = "jsapi"   // jsapi_ticket
	KindWxCard  = "wx_card" // wx_card api_ticket

	KindWeComToken  = "wecom_token"  // a WeCom agent's access_token from /cgi-bin/gettoken
	KindWeComJSAPI  = "wecom_jsapi"  // a WeCom corp's jsapi_ticket from /cgi-bin/get_jsapi_ticket
	KindAgentConfig = "agent_config" // a WeCom agent's ticket from /cgi-bin/ticket/get?type=agent_config
)

// isTicket reports whether credentials of kind are tickets.
func isTicket(kind string) bool {
	return kind == KindJSAPI || kind == KindWxCard || kind == KindWeComJSAPI || kind == KindAgentConfig
}

// isWeCom reports whether credentials of kind belong to a WeCom corp or
// agent.
func isWeCom(kind string) bool {
	return kind == KindWeComToken || kind == KindWeComJSAPI || kind == KindAgentConfig
}

// Reasons, as reported in CredentialState.Reason.
const (
	ReasonValid    = "valid"
	ReasonExpired  = "expired"  // reached the end of its own lifetime
	ReasonReplaced = "replaced" // killed before its lifetime ended (new token, force refresh, rotation, Invalidate)
	ReasonUnknown  = "unknown"  // never issued by this simulator
)

// What becomes of a ticket once a new one is issued, as Options.OldTicket
// says. WeChat does not document it, so the simulator models both.
const (
	// OldTicketEndsAfterOverlap: every getticket call issues a new ticket,
	// and the previous one keeps working for the overlap, then stops, as
	// a classic access_token does. The default: a credential server must
	// keep its promises under it.
	OldTicketEndsAfterOverlap = "ends_after_overlap"
	// OldTicketLivesOn: the same ticket is answered during its life, a new
	// one only in its last overlap, and the old one keeps working until its
	// own expiry, as community reports describe.
	OldTicketLivesOn = "lives_on"
)

// Options configures a Simulator. Zero values take the defaults noted.
type Options struct {
	// Apps maps each appid the simulator knows to its secret. Apps, WeCom
	// and Platforms may not all be empty.
	Apps map[string]string
	// WeCom lists the WeCom agents the simulator knows.
	WeCom []WeComAgent
	// Platforms lists the open platform's third-party platforms the
	// simulator knows (platform.go). Those with an event URL get pushes
	// from a goroutine each, which Close stops.
	Platforms []Platform
	// VerifyTicketTTL is how long a component_verify_ticket is accepted by
	// api_component_token; default 6*TTL, WeChat's 12 hours for the
	// default TTL.
	VerifyTicketTTL time.Duration
	// TTL is an access_token's lifetime; default 7200s, at least 1s.
	TTL time.Duration
	// Overlap is how long a replaced classic token keeps working and the
	// final window of a stable token or ticket in which a new one is issued.
	// Default TTL/24, which is WeChat's 300s for the default TTL; it must be
	// shorter than TTL and TicketTTL.
	Overlap time.Duration
	// TicketTTL is a ticket's lifetime; default TTL, at least 1s.
	TicketTTL time.Duration
	// DailyQuota is how many /cgi-bin/token calls an app may make per quota
	// period; default 2000.
	DailyQuota int
	// StableQuota is how many stable_token calls an app may make per quota
	// period; default 500000.
	StableQuota int
	// QuotaPeriod is how often quotas reset, counted from New; default 24h.
	QuotaPeriod time.Duration
	// ForceLimit is how many effective force refreshes of the stable token
	// an app may make per quota period; default 20.
	ForceLimit int
	// ForceInterval is the shortest gap between effective force refreshes;
	// a force call inside it is answered as a normal-mode call. Default 30s.
	ForceInterval time.Duration
	// OldTicket is OldTicketEndsAfterOverlap (the default) or
	// OldTicketLivesOn: what getticket, and WeCom's two ticket calls, do to
	// the ticket they replace.
	OldTicket string
	// WeComCorpTicketLimit is how many tickets of each type (the corp
	// ticket, the agent ticket) all agents of a corp together may be
	// issued per WeComTicketPeriod; default 400, WeCom's hourly limit.
	WeComCorpTicketLimit int
	// WeComAgentTicketLimit is how many tickets of each type one agent may
	// be issued per WeComTicketPeriod; default 100, WeCom's hourly limit.
	WeComAgentTicketLimit int
	// WeComTicketPeriod is how often the WeCom ticket limits reset,
	// counted from New; default 1h.
	WeComTicketPeriod time.Duration
	// Now is the clock; default time.Now. Tests inject a fake one. Only the
	// "slow" fault's delay is measured in real time.
	Now func() time.Time
}

// CredentialState says whether a token or ticket is accepted right now.
type CredentialState struct {
	Known bool `json:"known"`
	Valid bool `json:"valid"`
	// AppID is the owner: the appid, the WeComID of a WeCom agent's token
	// or agent ticket, or the corpid of a WeCom corp ticket.
	AppID     string `json:"appid"`
	Kind      string `json:"kind"`       // one of the Kind* constants
	ExpiresIn int    `json:"expires_in"` // whole seconds left, rounded down; 0 if invalid
	Reason    string `json:"reason"`     // ReasonValid, ReasonExpired, ReasonReplaced or ReasonUnknown
	// CorpID and AgentID are set for WeCom credentials (AgentID not for
	// the corp ticket).
	CorpID  string `json:"corpid,omitempty"`
	AgentID string `json:"agentid,omitempty"`
	// ComponentAppID is set for the open platform's credentials, and
	// AuthorizerAppID for an authorizer's (whose AppID is its
	// AuthorizerID).
	ComponentAppID  string `json:"component_appid,omitempty"`
	AuthorizerAppID string `json:"authorizer_appid,omitempty"`
}

// Simulator is a simulated WeChat credential API; it is an http.Handler and
// safe for concurrent use.
type Simulator struct {
	opts  Options
	start time.Time

	mu     sync.Mutex
	apps   map[string]*app
	corps  map[string]*corp  // WeCom corps by corpid
	agents map[string]*agent // WeCom agents by WeComID
	creds  map[string]*cred  // every value ever issued, so Check can tell expired from unknown
	calls  map[callKey]int
	faults []*activeFault
	sns    snsState // the login calls' codes and users' tokens

	platforms  map[string]*platform // third-party platforms by component_appid
	pushClient *http.Client
	life       context.Context // ends at Close; the pushes run on it
	stop       context.CancelFunc
	wg         sync.WaitGroup // the push loops
}

type callKey struct{ endpoint, appID string }

// app is the state WeChat keeps per account.
type app struct {
	id, secret string
	classic    *cred // latest classic token
	stable     *cred // latest stable token; isolated from classic
	jsapi      *cred // latest jsapi_ticket
	wxCard     *cred // latest wx_card ticket

	period                    int64 // quota period the counters below belong to
	classicCalls, stableCalls int
	forces                    int
	forced                    bool      // lastForce is set
	lastForce                 time.Time // last effective force refresh

	// clears counts the clear_quota calls made in clearMonth (quota.go).
	clearMonth string
	clears     int
}

// cred is one issued token or ticket.
type cred struct {
	value, appID, kind string
	expiry             time.Time // end of its natural life
	deadline           time.Time // when it stops working; before expiry if it was killed
}

// New returns a simulator configured by opts, or an error naming the first
// invalid option.
func New(opts Options) (*Simulator, error) {
	if len(opts.Apps) == 0 && len(opts.WeCom) == 0 && len(opts.Platforms) == 0 {
		return nil, errors.New("simulator: no apps, WeCom agents or platforms configured")
	}
	apps := make(map[string]*app, len(opts.Apps))
	for id, secret := range opts.Apps {
		if id == "" {
			return nil, errors.New("simulator: an app has an empty appid")
		}
		if secret == "" {
			return nil, fmt.Errorf("simulator: app %s has an empty secret", id)
		}
		apps[id] = &app{id: id, secret: secret}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"TTL", opts.TTL}, {"Overlap", opts.Overlap}, {"TicketTTL", opts.TicketTTL},
		{"QuotaPeriod", opts.QuotaPeriod}, {"ForceInterval", opts.ForceInterval},
		{"WeComTicketPeriod", opts.WeComTicketPeriod}, {"VerifyTicketTTL", opts.VerifyTicketTTL},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("simulator: %s %v is negative", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{
		{"DailyQuota", opts.DailyQuota}, {"StableQuota", opts.StableQuota}, {"ForceLimit", opts.ForceLimit},
		{"WeComCorpTicketLimit", opts.WeComCorpTicketLimit}, {"WeComAgentTicketLimit", opts.WeComAgentTicketLimit},
	} {
		if n.v < 0 {
			return nil, fmt.Errorf("simulator: %s %d is negative", n.name, n.v)
		}
	}
	orDefault(&opts.TTL, 7200*time.Second)
	orDefault(&opts.Overlap, opts.TTL/24)
	orDefault(&opts.TicketTTL, opts.TTL)
	orDefault(&opts.QuotaPeriod, 24*time.Hour)
	orDefault(&opts.ForceInterval, 30*time.Second)
	orDefault(&opts.DailyQuota, 2000)
	orDefault(&opts.StableQuota, 500000)
	orDefault(&opts.ForceLimit, 20)
	orDefault(&opts.OldTicket, OldTicketEndsAfterOverlap)
	orDefault(&opts.WeComCorpTicketLimit, 400)
	orDefault(&opts.WeComAgentTicketLimit, 100)
	orDefault(&opts.WeComTicketPeriod, time.Hour)
	orDefault(&opts.VerifyTicketTTL, 6*opts.TTL)
	if opts.OldTicket != OldTicketEndsAfterOverlap && opts.OldTicket != OldTicketLivesOn {
		return nil, fmt.Errorf("simulator: OldTicket %q is neither %s nor %s", opts.OldTicket, OldTicketEndsAfterOverlap, OldTicketLivesOn)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// expires_in is whole seconds on the wire; a lifetime under a second
	// would be announced as 0, which no client can use.
	if opts.TTL < time.Second {
		return nil, fmt.Errorf("simulator: TTL %v is shorter than 1s", opts.TTL)
	}
	if opts.TicketTTL < time.Second {
		return nil, fmt.Errorf("simulator: TicketTTL %v is shorter than 1s", opts.TicketTTL)
	}
	if opts.Overlap >= opts.TTL {
		return nil, fmt.Errorf("simulator: Overlap %v must be shorter than TTL %v", opts.Overlap, opts.TTL)
	}
	if opts.Overlap >= opts.TicketTTL {
		return nil, fmt.Errorf("simulator: Overlap %v must be shorter than TicketTTL %v", opts.Overlap, opts.TicketTTL)
	}
	corps, agents, err := newWeCom(opts.WeCom)
	if err != nil {
		return nil, err
	}
	platforms, err := newPlatforms(opts, apps)
	if err != nil {
		return nil, err
	}
	// The copies in apps, corps and platforms are the ones used.
	opts.Apps, opts.WeCom, opts.Platforms = nil, nil, nil
	life, stop := context.WithCancel(context.Background())
	s := &Simulator{
		opts:      opts,
		start:     opts.Now(),
		apps:      apps,
		corps:     corps,
		agents:    agents,
		creds:     map[string]*cred{},
		calls:     map[callKey]int{},
		platforms: platforms,
		pushClient: &http.Client{
			// WeChat does not follow a redirect of its pushes.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		life: life,
		stop: stop,
	}
	s.startPushLoops()
	return s, nil
}

// orDefault sets *v to d if *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (s *Simulator) now() time.Time { return s.opts.Now() }

// Options returns the effective options, defaults filled in, without Apps,
// WeCom and Platforms (which hold secrets; see AppIDs, WeComIDs and
// ComponentAppIDs).
func (s *Simulator) Options() Options { return s.opts }

// AppIDs returns the configured appids, sorted.
func (s *Simulator) AppIDs() []string {
	ids := make([]string, 0, len(s.apps))
	for id := range s.apps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Calls returns how many calls the endpoint received for the app, counting
// faulted and rejected calls. An empty endpoint or appID matches all. For
// getticket, get_api_domain_ip and api the app is the owner of the
// access_token presented; calls with a token the simulator never issued
// count under "".
//
// A WeCom agent's calls count under its WeComID, "corpid/agentid": for
// gettoken when the corpsecret is the agent's (else under the corpid
// sent), for the other WeCom endpoints when the access_token is the
// agent's. A bare corpid as appID matches the calls of all its agents and
// the gettoken calls that named no agent of it.
func (s *Simulator) Calls(endpoint, appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.calls {
		if (endpoint == "" || k.endpoint == endpoint) && matchApp(appID, k.appID) {
			n += c
		}
	}
	return n
}

// matchApp reports whether the calls of key are among those that filter
// selects: all for "", the same id, for a bare corpid its agents too, and
// for a bare component_appid its authorizers too.
func matchApp(filter, key string) bool {
	if filter == "" || filter == key {
		return true
	}
	bare := !strings.ContainsAny(filter, "/:")
	return bare && (strings.HasPrefix(key, filter+"/") || strings.HasPrefix(key, filter+":"))
}

// callCounts returns every counter: endpoint -> appid -> count.
func (s *Simulator) callCounts() map[string]map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]int{}
	for _, e := range s.servedEndpoints() {
		out[e] = map[string]int{}
	}
	for k, c := range s.calls {
		if out[k.endpoint] == nil {
			// A family's endpoint called though none of it is configured.
			out[k.endpoint] = map[string]int{}
		}
		out[k.endpoint][k.appID] = c
	}
	return out
}

// Check reports whether value, a token or ticket, is accepted right now.
func (s *Simulator) Check(value string) CredentialState {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.creds[value]
	if c == nil {
		return CredentialState{Reason: ReasonUnknown}
	}
	st := CredentialState{Known: true, AppID: c.appID, Kind: c.kind}
	switch {
	case isWeCom(c.kind):
		st.CorpID, st.AgentID, _ = strings.Cut(c.appID, "/")
	case c.kind == KindComponentToken:
		st.ComponentAppID = c.appID
	case strings.Contains(c.appID, ":"):
		st.ComponentAppID, st.AuthorizerAppID, _ = strings.Cut(c.appID, ":")
	}
	now := s.now()
	switch {
	case now.Before(c.deadline):
		st.Valid, st.ExpiresIn, st.Reason = true, seconds(c.deadline.Sub(now)), ReasonValid
	case c.deadline.Before(c.expiry):
		st.Reason = ReasonReplaced
	default:
		st.Reason = ReasonExpired
	}
	return st
}

// Rotate replaces an app's current credential out of band, as a leak
// response, another server's force refresh or an admin reset would: what is
// KindClassic, KindStable, KindJSAPI or KindWxCard. The old value stops
// working at once (to replace a classic token with WeChat's overlap, call
// /cgi-bin/token instead). Rotation consumes no quota. It returns the new
// value.
//
// For a WeCom agent, appID is its WeComID and what is KindWeComToken or
// KindAgentConfig; for a corp's ticket, KindWeComJSAPI, appID is the
// corpid or the WeComID of any of its agents. A rotated WeCom token
// answers 40014 at once, and gettoken returns the new one.
//
// For the open platform, appID is a component_appid with what
// KindComponentToken, or an authorizer's wxtoken.AuthorizerID with
// KindAuthorizerToken, KindJSAPI or KindWxCard.
func (s *Simulator) Rotate(appID, what string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, owner, err := s.slot(appID, what, "rotate")
	if err != nil {
		return "", err
	}
	now := s.now()
	if old := *slot; old != nil {
		old.kill(now)
	}
	*slot = s.mint(owner, what, now)
	return (*slot).value, nil
}

// Invalidate ends a credential early without issuing another, as WeCom
// ends a token "for operational needs": appID and what as for Rotate. The
// value stops working at once (a WeCom token then answers 40014, an
// OA token 40001), and the next call that fetches one issues a new one. It
// returns the value it ended, "" if there was no working one.
func (s *Simulator) Invalidate(appID, what string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, _, err := s.slot(appID, what, "invalidate")
	if err != nil {
		return "", err
	}
	old := *slot
	*slot = nil
	now := s.now()
	if old == nil || !now.Before(old.deadline) {
		return "", nil
	}
	old.kill(now)
	return old.value, nil
}

// slot is where the simulator keeps appID's current credential of kind
// what, with the owner a new one would have; verb names the operation
// for errors. The caller holds s.mu.
func (s *Simulator) slot(appID, what, verb string) (**cred, string, error) {
	if isWeCom(what) {
		return s.wecomSlot(appID, what, verb)
	}
	if s.isPlatformID(appID, what) {
		return s.platformSlot(appID, what, verb)
	}
	a := s.apps[appID]
	if a == nil {
		if s.agents[appID] != nil || s.corps[appID] != nil {
			return nil, "", fmt.Errorf("simulator: cannot %s %q for WeCom %q (want %s, %s or %s)", verb, what, appID, KindWeComToken, KindWeComJSAPI, KindAgentConfig)
		}
		return nil, "", fmt.Errorf("simulator: unknown appid %q", appID)
	}
	slot := a.slot(what)
	if slot == nil {
		return nil, "", fmt.Errorf("simulator: cannot %s %q (want %s, %s, %s, %s, or for WeCom %s, %s or %s)", verb, what,
			KindClassic, KindStable, KindJSAPI, KindWxCard, KindWeComToken, KindWeComJSAPI, KindAgentConfig)
	}
	return slot, a.id, nil
}

// slot is where a keeps its current credential of kind, or nil for an
// unknown kind.
func (a *app) slot(kind string) **cred {
	switch kind {
	case KindClassic:
		return &a.classic
	case KindStable:
		return &a.stable
	case KindJSAPI:
		return &a.jsapi
	case KindWxCard:
		return &a.wxCard
	}
	return nil
}

// ttl is the lifetime of a new credential of kind.
func (s *Simulator) ttl(kind string) time.Duration {
	if isTicket(kind) {
		return s.opts.TicketTTL
	}
	return s.opts.TTL
}

// kill makes c stop working at t unless it already stops earlier.
func (c *cred) kill(t time.Time) {
	if t.Before(c.deadline) {
		c.deadline = t
	}
}

// left is c's remaining working time at now (negative when dead).
func (c *cred) left(now time.Time) time.Duration { return c.deadline.Sub(now) }

// mint issues a new credential; the caller holds s.mu.
func (s *Simulator) mint(appID, kind string, now time.Time) *cred {
	ttl := s.ttl(kind)
	for {
		var v string
		switch {
		case kind == KindClassic || kind == KindStable || kind == KindComponentToken || kind == KindAuthorizerToken:
			// Real tokens are about 136 characters with a short numeric prefix.
			v = "95_" + randomText(133)
		case kind == KindWeComToken:
			v = randomText(214) // WeCom's are longer, with no prefix
		default:
			v = randomText(86) // real tickets are about 86 characters
		}
		if _, dup := s.creds[v]; dup {
			continue
		}
		c := &cred{value: v, appID: appID, kind: kind, expiry: now.Add(ttl), deadline: now.Add(ttl)}
		s.creds[v] = c
		return c
	}
}

// randomText returns n random characters from [A-Za-z0-9_-].
func randomText(n int) string {
	b := make([]byte, (n*3+3)/4)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// seconds is d in whole seconds, rounded down, as expires_in is announced:
// rounding up would promise time the credential does not have.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(d / time.Second)
}

// rollQuota resets a's counters when a new quota period has begun; the
// caller holds s.mu.
func (s *Simulator) rollQuota(a *app, now time.Time) {
	p := int64(now.Sub(s.start) / s.opts.QuotaPeriod)
	if p != a.period {
		a.period, a.classicCalls, a.stableCalls, a.forces = p, 0, 0, 0
	}
}
