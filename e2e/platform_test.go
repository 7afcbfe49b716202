package e2e_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/simulator"
)

// refreshTokenShape starts every refresh token the simulator hands out:
// found anywhere, some refresh token, maybe one replaced since, is there
// in plaintext.
const refreshTokenShape = "refreshtoken@@@"

// The refresh schedule of classic-like credentials, as configured by
// default (refresh.early, refresh.jitter): an authorizer's token is
// replaced no sooner than (early - jitter/2) of its life after it was
// fetched.
const (
	defaultEarly  = 0.66
	defaultJitter = 0.1
)

// TestPlatformColdStart: a platform that WeChat never sent a verify
// ticket serves a valid component_access_token within a push interval and
// a second of the server's start.
func TestPlatformColdStart(t *testing.T) {
	integration.Skip(t)
	const (
		comp = "wx00000000000c01d0"
		push = 3 * time.Second
	)
	e := newEnv(t, setup{platforms: []platformSpec{{id: comp, pushInterval: push}}, ttl: time.Minute, overlap: 5 * time.Second})
	if st, err := e.sim.Stats(comp); err != nil || st.VerifyTicket != "" {
		t.Fatalf("the simulator issued a verify ticket before the server started (%q, %v)", st.VerifyTicket, err)
	}
	started := time.Now()
	in := e.start()
	e.pushTo(in.base)
	var token string
	waitFor(t, push+time.Second, "a component token within a push interval and a second", func() bool {
		v, ok := e.componentToken(in.base, comp)
		token = v
		return ok
	})
	took := time.Since(started)
	if st := e.sim.Check(token); !st.Valid || st.Kind != simulator.KindComponentToken || st.ComponentAppID != comp {
		t.Fatalf("the component token handed out is not a live one of %s: %+v", comp, st)
	}
	st, err := e.sim.Stats(comp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("component token served %v after the start (push interval %v): %d api_start_push_ticket, %d api_component_token calls, %d pushes (%d success)",
		took.Round(time.Millisecond), push, st.Calls[simulator.EndpointStartPushTicket], st.Calls[simulator.EndpointComponentToken],
		st.Pushes.Sent, st.Pushes.Success)
}

// TestPlatformThousandAuthorizers: 1,000 accounts authorize the platform
// through WeChat's pushes, a few at a time; each is served as soon as its
// push is answered. Pollers then read every authorizer's access_token
// through two lifetimes: no token is dead at WeChat while its expires_in
// runs, and the server calls api_authorizer_token at most 1.5 times per
// authorizer per lifetime. Last, no refresh token is in the store file or
// the bolt file in plaintext.
//
// The lifetime is compressed less than in the lifetime tests (16 s, not
// 8 s), the authorizers have no tickets (TestPlatformCluster has) and the
// pollers are paced: a thousand tokens of 8 s ask for some 200 refreshes
// a second, each committed to the bolt file three times with fsyncs of
// its own, more than a shared 2-core machine gets through; the queue then
// holds up the component token's refresh until the token cannot be
// handed out, and every push waits on it past WeChat's 5 s.
func TestPlatformThousandAuthorizers(t *testing.T) {
	integration.Skip(t)
	const (
		comp     = "wx000000000000a100"
		n        = 1000
		ttl      = 16 * time.Second
		overlap  = 2 * time.Second
		parallel = 4
		pollers  = 4
		// every is the pace of each poller: 100 answers a second in all,
		// every authorizer read every 10 s.
		every = 40 * time.Millisecond
	)
	e := newEnv(t, setup{
		platforms: []platformSpec{{id: comp, pushInterval: ttl / 2}},
		ttl:       ttl, overlap: overlap,
		// Each authorizer's token is refreshed about every 10 s: 100
		// starts a second in all; ten times that leaves room for the
		// bursts.
		maxRate: 1000,
	})
	in := e.start()
	e.pushTo(in.base)
	waitFor(t, 5*time.Second, "the component token", func() bool { _, ok := e.componentToken(in.base, comp); return ok })

	began := time.Now()
	auths := e.authorizeMany(t, comp, n, parallel)
	authorizing := time.Since(began)
	ids := make([]string, n)
	for i, a := range auths {
		ids[i] = a.AuthorizerAppID
	}
	// Every account is listed and served once its push is answered.
	list := e.authorizerList(t, nil, in.base, comp)
	for _, id := range ids {
		if st, ok := list[id]; !ok || st.State != wxtoken.EntryActive {
			t.Fatalf("authorizer %s: listed %t, state %q, want active", id, ok, st.State)
		}
	}
	if len(list) != n {
		t.Fatalf("%d authorizers listed, want %d", len(list), n)
	}
	t.Logf("%d accounts authorized through pushes in %v (%d at a time)", n, authorizing.Round(time.Millisecond), parallel)

	rec := &handedOut{creds: map[string]*promise{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*ttl+time.Second)
	defer cancel()
	var (
		fails            failures
		wg               sync.WaitGroup
		answers, checked atomic.Int64
		rounds           atomic.Int64
	)
	for p := range pollers {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := p; ; i += pollers {
				if i >= n {
					i = p
					rounds.Add(1)
				}
				if g, err := e.authorizerGrant(nil, in.base, comp, ids[i], ""); err != nil {
					fails.add("poller %d: %v", p, err)
				} else {
					answers.Add(1)
					rec.add("access_token", g)
					st := e.sim.Check(g.value)
					checked.Add(1)
					if !st.Valid && time.Now().Before(g.deadline) {
						fails.add("poller %d: the token of %s handed out with %v to live is dead at WeChat (%s)", p, ids[i], g.expiresIn, st.Reason)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	var watched int
	wg.Go(func() { watched = e.watchDeadlines(ctx, rec, fails.add) })
	wg.Wait()
	end := time.Now()
	fails.report(t)

	st, err := e.sim.Stats(comp)
	if err != nil {
		t.Fatal(err)
	}
	calls := st.Calls[simulator.EndpointAuthorizerToken]
	// Each authorizer's lifetimes: from its authorization, which came
	// with its first token, to the end of the polling.
	var lifetimes float64
	most := 0
	for _, a := range auths {
		lifetimes += end.Sub(a.started).Seconds() / ttl.Seconds()
		most = max(most, e.sim.Calls(simulator.EndpointAuthorizerToken, wxtoken.AuthorizerID(comp, a.AuthorizerAppID)))
	}
	perLife := float64(calls) / lifetimes
	t.Logf("%d answers in %d rounds over every authorizer, %d checks at answer time and %d before the promises ended; %d tokens handed out",
		answers.Load(), rounds.Load()/pollers, checked.Load(), watched, rec.distinct("access_token"))
	t.Logf("%d api_authorizer_token calls for %d authorizers over %.0f authorizer lifetimes: %.2f per authorizer per lifetime (at most %d for one); %d api_component_token calls",
		calls, n, lifetimes, perLife, most, st.Calls[simulator.EndpointComponentToken])
	if perLife > 1.5 {
		t.Errorf("%.2f api_authorizer_token calls per authorizer per lifetime, want at most 1.5", perLife)
	}
	// Two lifetimes outlive every first token: each was refreshed.
	if calls < n {
		t.Errorf("%d api_authorizer_token calls in two lifetimes, want at least one per authorizer (%d)", calls, n)
	}
	if answers.Load() < 2*n {
		t.Errorf("%d answers, want every authorizer's token read at least twice (%d)", answers.Load(), 2*n)
	}

	// No refresh token in plaintext in the store file or the log.
	tokens := e.refreshTokens(t, comp, ids)
	in.stop(t)
	raw, err := os.ReadFile(e.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	searchPlain(t, "the bolt file", raw, tokens)
	searchPlain(t, "the server log", []byte(e.logs.String()), tokens)
	for where, b := range map[string][]byte{"the bolt file": raw, "the server log": []byte(e.logs.String())} {
		if bytes.Contains(b, []byte(refreshTokenShape)) {
			t.Errorf("%s holds a refresh token in plaintext", where)
		}
	}
	t.Logf("%d refresh tokens searched for in the %d-byte bolt file and the %d-byte log", len(tokens), len(raw), len(e.logs.String()))
}

// TestPlatformKilledDuringAuthorizations: the real binary is killed (-9)
// while accounts authorize the platform in a burst. After a restart on
// the same store file, every account whose push was answered success is
// listed and served, and none of them, nor the platform, costs a token
// call to WeChat: their tokens are still valid.
func TestPlatformKilledDuringAuthorizations(t *testing.T) {
	integration.Skip(t)
	const (
		comp     = "wx0000000000c1a500"
		parallel = 8
		before   = 40 // authorizations answered success before the kill
	)
	bin := buildWxtoken(t)
	e := newEnv(t, setup{
		platforms: []platformSpec{{id: comp, tickets: []string{"jsapi"}, pushInterval: time.Minute}},
		ttl:       2 * time.Minute, overlap: 10 * time.Second,
	})
	first := e.startProc(t, bin, "first")
	e.pushTo(first.base)
	waitFor(t, 10*time.Second, "the component token", func() bool { _, ok := e.componentToken(first.base, comp); return ok })

	var (
		mu      sync.Mutex
		results []simulator.Authorized
		ok      atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for range parallel {
		wg.Go(func() {
			for !stop.Load() {
				a, err := e.sim.Authorize(context.Background(), simulator.AuthorizeRequest{ComponentAppID: comp})
				if err != nil {
					t.Errorf("authorize: %v", err)
					return
				}
				mu.Lock()
				results = append(results, a)
				mu.Unlock()
				if a.Push.Success {
					ok.Add(1)
				}
			}
		})
	}
	waitFor(t, 30*time.Second, "authorizations answered success", func() bool { return ok.Load() >= before })
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	stop.Store(true)
	wg.Wait()

	var succeeded, failed []simulator.Authorized
	for _, a := range results {
		if a.Push.Success {
			succeeded = append(succeeded, a)
		} else {
			failed = append(failed, a)
		}
	}
	if len(failed) == 0 {
		t.Fatal("no push failed: the kill did not land during the burst")
	}
	t.Logf("killed during the burst: %d authorizations answered success, %d not (the first failure: %+v)", len(succeeded), len(failed), failed[0].Push)

	// Every refresh token WeChat handed out, the failed pushes' too (some
	// were exchanged before the kill).
	tokens := map[string]string{}
	for _, a := range results {
		if rt, err := e.sim.RefreshToken(comp, a.AuthorizerAppID); err == nil {
			tokens[rt] = a.AuthorizerAppID
		}
	}
	raw, err := os.ReadFile(e.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	searchPlain(t, "the bolt file", raw, tokens)
	if bytes.Contains(raw, []byte(refreshTokenShape)) {
		t.Errorf("the bolt file holds a refresh token in plaintext")
	}

	statsBefore, err := e.sim.Stats(comp)
	if err != nil {
		t.Fatal(err)
	}
	callsBefore := map[string]int{}
	for _, a := range succeeded {
		callsBefore[a.AuthorizerAppID] = e.sim.Calls(simulator.EndpointAuthorizerToken, wxtoken.AuthorizerID(comp, a.AuthorizerAppID))
	}

	second := e.startProc(t, bin, "second")
	e.pushTo(second.base)
	list := e.authorizerList(t, nil, second.base, comp)
	for _, a := range succeeded {
		id := a.AuthorizerAppID
		if st, ok := list[id]; !ok || st.State != wxtoken.EntryActive {
			t.Errorf("authorizer %s, whose push was answered success, after the restart: listed %t, state %q", id, ok, st.State)
			continue
		}
		for _, typ := range []string{"", "jsapi"} {
			g, err := e.authorizerGrant(nil, second.base, comp, id, typ)
			if err != nil {
				t.Errorf("after the restart: %v", err)
				continue
			}
			if st := e.sim.Check(g.value); !st.Valid {
				t.Errorf("after the restart, authorizer %s's %q is dead at WeChat: %s", id, typ, st.Reason)
			}
		}
	}
	statsAfter, err := e.sim.Stats(comp)
	if err != nil {
		t.Fatal(err)
	}
	if d := statsAfter.Calls[simulator.EndpointComponentToken] - statsBefore.Calls[simulator.EndpointComponentToken]; d != 0 {
		t.Errorf("%d api_component_token calls after the restart, want 0: the component token was still valid", d)
	}
	extra := 0
	for _, a := range succeeded {
		d := e.sim.Calls(simulator.EndpointAuthorizerToken, wxtoken.AuthorizerID(comp, a.AuthorizerAppID)) - callsBefore[a.AuthorizerAppID]
		if d != 0 {
			if extra++; extra <= 5 {
				t.Errorf("%d api_authorizer_token calls for %s after the restart, want 0: its token was still valid", d, a.AuthorizerAppID)
			}
		}
	}
	unanswered := 0
	for id := range list {
		if !slices.ContainsFunc(succeeded, func(a simulator.Authorized) bool { return a.AuthorizerAppID == id }) {
			unanswered++
		}
	}
	t.Logf("after the restart: %d authorizers listed (%d stored but killed before answering); calls since the kill: %d api_component_token, %d api_authorizer_token (all authorizers), %d api_query_auth",
		len(list), unanswered, statsAfter.Calls[simulator.EndpointComponentToken]-statsBefore.Calls[simulator.EndpointComponentToken],
		statsAfter.Calls[simulator.EndpointAuthorizerToken]-statsBefore.Calls[simulator.EndpointAuthorizerToken],
		statsAfter.Calls[simulator.EndpointQueryAuth]-statsBefore.Calls[simulator.EndpointQueryAuth])
	for _, p := range []*proc{first, second} {
		logs := []byte(p.logs.String())
		searchPlain(t, "the log of "+p.name, logs, tokens)
		if bytes.Contains(logs, []byte(refreshTokenShape)) {
			t.Errorf("the log of %s holds a refresh token in plaintext", p.name)
		}
	}
}

// TestPlatformCluster: three replicas share Redis; WeChat pushes to one
// of them. An account authorized there is served by the other two within
// the sync interval, and the replicas together call api_authorizer_token
// once per need. No refresh token is in Redis or the logs in plaintext.
func TestPlatformCluster(t *testing.T) {
	integration.Skip(t)
	redisAddr := redistest.Addr(t)
	const (
		comp     = "wx0000000000c3a300"
		n        = 30
		parallel = 3
		ttl      = 8 * time.Second
		overlap  = 2 * time.Second
	)
	e := newClusterEnv(t, setup{
		platforms: []platformSpec{{id: comp, tickets: []string{"jsapi"}, pushInterval: ttl / 2}},
		ttl:       ttl, overlap: overlap, maxRate: 200,
	}, redisAddr)
	names := []string{"r1", "r2", "r3"}
	ins := map[string]*instance{}
	for _, name := range names {
		ins[name] = e.replica(name, nil)
	}
	e.pushTo(ins["r1"].base)
	for _, name := range names {
		waitFor(t, 5*time.Second, "the component token on "+name, func() bool { _, ok := e.componentToken(ins[name].base, comp); return ok })
	}

	// Each authorization, pushed to r1, is looked for on r2 and r3 at
	// once; the delay is from the push's answer to the sending of the
	// first request the replica served.
	auths := make([]authorization, n)
	delays := make([]time.Duration, 0, 2*n)
	var (
		mu    sync.Mutex
		fails failures
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range parallel {
		wg.Go(func() {
			for i := range next {
				started := time.Now()
				a, err := e.sim.Authorize(context.Background(), simulator.AuthorizeRequest{ComponentAppID: comp})
				if err != nil || !a.Push.Success {
					fails.add("authorization %d: %+v, %v", i, a.Push, err)
					continue
				}
				answered := time.Now()
				auths[i] = authorization{started: started, Authorized: a}
				for _, name := range []string{"r2", "r3"} {
					for {
						sent := time.Now()
						_, err := e.authorizerGrant(nil, ins[name].base, comp, a.AuthorizerAppID, "")
						if err == nil {
							mu.Lock()
							delays = append(delays, sent.Sub(answered))
							mu.Unlock()
							break
						}
						if time.Since(answered) > 5*time.Second {
							fails.add("%s does not serve %s 5 s after its push was answered on r1: %v", name, a.AuthorizerAppID, err)
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	fails.report(t)
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	worst := delays[len(delays)-1]
	t.Logf("r2 and r3 served each new authorizer %v after r1 answered its push (median), %v at worst; sync interval %v",
		delays[len(delays)/2].Round(time.Millisecond), worst.Round(time.Millisecond), syncInterval)
	if worst > syncInterval {
		t.Errorf("a replica served a new authorizer %v after the push was answered on another, want within the sync interval %v", worst.Round(time.Millisecond), syncInterval)
	}

	// Every replica serves every authorizer through more than a
	// lifetime and a half, so that every authorizer is refreshed at least
	// once.
	rec := &handedOut{creds: map[string]*promise{}}
	ctx, cancel := context.WithTimeout(context.Background(), ttl*3/2+time.Second)
	defer cancel()
	var answers atomic.Int64
	for _, name := range names {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				for _, a := range auths {
					for _, typ := range []string{"", "jsapi"} {
						g, err := e.authorizerGrant(nil, ins[name].base, comp, a.AuthorizerAppID, typ)
						if err != nil {
							fails.add("%s: %v", name, err)
							continue
						}
						answers.Add(1)
						kind := "access_token"
						if typ != "" {
							kind = typ
						}
						rec.add(kind, g)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	var watched int
	wg.Go(func() { watched = e.watchDeadlines(ctx, rec, fails.add) })
	wg.Wait()
	end := time.Now()
	fails.report(t)

	// One call per need: an authorizer's token is replaced no sooner
	// than (early - jitter/2) of its life after the previous one, so in
	// its time since its authorization it needed at most that many.
	period := time.Duration((defaultEarly - defaultJitter/2) * float64(ttl))
	calls, needs := 0, 0
	for _, a := range auths {
		got := e.sim.Calls(simulator.EndpointAuthorizerToken, wxtoken.AuthorizerID(comp, a.AuthorizerAppID))
		need := int(math.Floor(float64(end.Sub(a.started)) / float64(period)))
		calls += got
		needs += need
		if got > need {
			t.Errorf("%d api_authorizer_token calls for %s in %v, want at most %d (one per refresh every %v or more)",
				got, a.AuthorizerAppID, end.Sub(a.started).Round(time.Millisecond), need, period)
		}
		if got == 0 {
			t.Errorf("no api_authorizer_token call for %s in %v: its first token was not refreshed", a.AuthorizerAppID, end.Sub(a.started).Round(time.Millisecond))
		}
	}
	t.Logf("%d answers from three replicas, %d checks before the promises ended, %d access_tokens and %d jsapi tickets handed out; %d api_authorizer_token calls for %d authorizers (at most %d needed)",
		answers.Load(), watched, rec.distinct("access_token"), rec.distinct("jsapi"), calls, n, needs)

	// No refresh token in plaintext in Redis or the logs.
	ids := make([]string, n)
	for i, a := range auths {
		ids[i] = a.AuthorizerAppID
	}
	tokens := e.refreshTokens(t, comp, ids)
	raw, keys := redisBytes(t, redisAddr, e.cfg.Store.Redis.Prefix)
	if keys == 0 {
		t.Fatal("no key under the test's prefix in Redis")
	}
	searchPlain(t, "Redis", raw, tokens)
	searchPlain(t, "the replicas' log", []byte(e.logs.String()), tokens)
	for where, b := range map[string][]byte{"Redis": raw, "the replicas' log": []byte(e.logs.String())} {
		if bytes.Contains(b, []byte(refreshTokenShape)) {
			t.Errorf("%s holds a refresh token in plaintext", where)
		}
	}
	t.Logf("%d refresh tokens searched for in %d Redis keys (%d bytes) and the log", len(tokens), keys, len(raw))
}
