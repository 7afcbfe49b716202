package refresh

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// fakeWeCom is a small stand-in for WeCom's credential endpoints, served
// over HTTP on the tests' fake clock: one token per (corpid, secret), the
// same one within its validity and a new one after its expiry or after
// end (WeCom ending it early); tickets per agent and kind, likewise the
// same within their validity, fetched with a live token only.
type fakeWeCom struct {
	now func() time.Time
	ttl time.Duration
	// fullExpiresIn makes every answer say the full ttl, even for a value
	// answered again (what a careless upstream could do).
	fullExpiresIn bool

	mu      sync.Mutex
	secrets map[string]string // WeComID -> secret
	tokens  map[string]*fakeCred
	byValue map[string]*fakeCred
	tickets map[string]*fakeCred // WeComID/kind
	calls   map[string]int       // path|WeComID
	used    map[string][]string  // ticket path -> tokens used
	faults  map[string][]fakeFault
	seq     int
}

type fakeCred struct {
	id, value string
	expires   time.Time
	ended     bool
}

type fakeFault struct {
	code  int
	msg   string
	count int
}

func newFakeWeCom(now func() time.Time, ttl time.Duration, secrets map[string]string) *fakeWeCom {
	return &fakeWeCom{now: now, ttl: ttl, secrets: secrets, tokens: map[string]*fakeCred{}, byValue: map[string]*fakeCred{},
		tickets: map[string]*fakeCred{}, calls: map[string]int{}, used: map[string][]string{}, faults: map[string][]fakeFault{}}
}

// inject makes the next count calls of path answer errcode code.
func (f *fakeWeCom) inject(path string, code int, msg string, count int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], fakeFault{code, msg, count})
}

// end ends the current token of agent id early.
func (f *fakeWeCom) end(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tokens[id]; t != nil {
		t.ended = true
	}
}

func (f *fakeWeCom) callsOf(path, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path+"|"+id]
}

func (f *fakeWeCom) tokensUsed(path string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.used[path]...)
}

// check returns how long value (a token or ticket) stays valid, zero or
// less when it is dead.
func (f *fakeWeCom) check(value string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byValue[value]
	if c == nil || c.ended {
		return 0
	}
	return c.expires.Sub(f.now())
}

func (f *fakeWeCom) answer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// issue returns the live credential at key, or a new one.
func (f *fakeWeCom) issue(m map[string]*fakeCred, key, id, prefix string) *fakeCred {
	now := f.now()
	c := m[key]
	if c == nil || c.ended || !now.Before(c.expires) {
		f.seq++
		c = &fakeCred{id: id, value: fmt.Sprintf("%s-%d", prefix, f.seq), expires: now.Add(f.ttl)}
		m[key] = c
		f.byValue[c.value] = c
	}
	return c
}

func (f *fakeWeCom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	path := r.URL.Path
	if fs := f.faults[path]; len(fs) > 0 {
		fs[0].count--
		if fs[0].count <= 0 {
			f.faults[path] = fs[1:]
		}
		f.answer(w, map[string]any{"errcode": fs[0].code, "errmsg": fs[0].msg})
		return
	}
	now := f.now()
	var c *fakeCred
	switch path {
	case wechat.PathWeComToken:
		corp, secret := q.Get("corpid"), q.Get("corpsecret")
		id, known := "", false
		for aid, s := range f.secrets {
			_, c, _ := wxtoken.ParseID(aid)
			if c == corp {
				known = true
				if s == secret {
					id = aid
				}
			}
		}
		switch {
		case !known:
			f.answer(w, map[string]any{"errcode": 40013, "errmsg": "invalid corpid"})
			return
		case id == "":
			f.answer(w, map[string]any{"errcode": 40001, "errmsg": "invalid secret"})
			return
		}
		f.calls[path+"|"+id]++
		c = f.issue(f.tokens, id, id, "TOKEN-"+id)
		f.answerCred(w, "access_token", c, now)
	case wechat.PathWeComJSAPITicket, wechat.PathWeComTicket:
		kind := wxtoken.KindJSAPITicket
		if path == wechat.PathWeComTicket {
			if q.Get("type") != "agent_config" {
				f.answer(w, map[string]any{"errcode": 40094, "errmsg": "invalid type"})
				return
			}
			kind = wxtoken.KindAgentConfig
		}
		tok := f.byValue[q.Get("access_token")]
		switch {
		case tok == nil || tok.ended:
			f.answer(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token"})
			return
		case !now.Before(tok.expires):
			f.answer(w, map[string]any{"errcode": 42001, "errmsg": "access_token expired"})
			return
		}
		f.calls[path+"|"+tok.id]++
		f.used[path] = append(f.used[path], tok.value)
		c = f.issue(f.tickets, tok.id+"/"+string(kind), tok.id, "TICKET-"+string(kind)+"-"+tok.id)
		f.answerCred(w, "ticket", c, now)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeWeCom) answerCred(w http.ResponseWriter, field string, c *fakeCred, now time.Time) {
	in := int(c.expires.Sub(now) / time.Second)
	if f.fullExpiresIn {
		in = int(f.ttl / time.Second)
	}
	f.answer(w, map[string]any{"errcode": 0, "errmsg": "ok", field: c.value, "expires_in": in})
}
