package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/config"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/refresh"
)

// Cluster knobs: leases outlive a crashed holder by leaseTTL; replicas
// check Redis for missed changes every syncInterval.
const (
	leaseTTL     = time.Second
	syncInterval = 200 * time.Millisecond
)

// newClusterEnv is newEnv with the store on the Redis at redisAddr, under
// a prefix of the test's own.
func newClusterEnv(t *testing.T, s setup, redisAddr string) *env {
	t.Helper()
	e := newEnv(t, s)
	r := &e.cfg.Store.Redis
	e.cfg.Store.Driver = config.DriverRedis
	r.Addr, r.Prefix = redisAddr, redistest.Prefix(t, redisAddr)
	r.LeaseTTL, r.SyncInterval = config.Duration(leaseTTL), config.Duration(syncInterval)
	if s.lease > 0 {
		r.LeaseTTL = config.Duration(s.lease)
	}
	return e
}

// replica starts one replica of e's cluster, named name, on clock (nil
// for the system clock).
func (e *env) replica(name string, clock refresh.Clock) *instance {
	e.t.Helper()
	cfg := *e.cfg
	cfg.Store.Redis.Replica = name
	in := e.startWith(&cfg, clock, e.log.With("replica", name))
	if sc, ok := clock.(skewedClock); ok {
		in.skew = sc.d
	}
	return in
}

// skewedClock is the system clock off by d: a replica whose clock is wrong.
type skewedClock struct{ d time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.d) }
func (c skewedClock) NewTimer(d time.Duration) refresh.Timer {
	return refresh.SystemClock{}.NewTimer(d)
}
func (c skewedClock) TimerAt(at time.Time) refresh.Timer {
	return refresh.SystemClock{}.TimerAt(at.Add(-c.d))
}

// sightings records when each replica first handed out each value.
type sightings struct {
	mu    sync.Mutex
	first map[string]map[string]time.Time // value -> replica -> time
}

func newSightings() *sightings { return &sightings{first: map[string]map[string]time.Time{}} }

func (s *sightings) saw(value, replica string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.first[value]
	if m == nil {
		m = map[string]time.Time{}
		s.first[value] = m
	}
	if _, ok := m[replica]; !ok {
		m[replica] = at
	}
}

// check fails when a value first handed out before cutoff was not handed
// out by every replica within spread of the first sighting.
func (s *sightings) check(t *testing.T, replicas []string, spread time.Duration, cutoff time.Time) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	type row struct {
		first time.Time
		value string
	}
	var rows []row
	for v, m := range s.first {
		first := time.Time{}
		for _, at := range m {
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
		rows = append(rows, row{first, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].first.Before(rows[j].first) })
	for i, r := range rows {
		if !r.first.Before(cutoff) {
			continue
		}
		var worst time.Duration
		for _, name := range replicas {
			at, ok := s.first[r.value][name]
			if !ok {
				if i == len(rows)-1 {
					t.Errorf("credential %d (first seen %s) was never handed out by %s", i, r.first.Format("15:04:05.000"), name)
				}
				// Replaced before this replica was asked for it: its
				// successor's sighting tells how late this replica was.
				continue
			}
			worst = max(worst, at.Sub(r.first))
		}
		if worst > spread {
			t.Errorf("credential %d: the last replica handed it out %v after the first, want within %v", i, worst.Round(time.Millisecond), spread)
		} else {
			t.Logf("credential %d: every replica handed it out within %v", i, worst.Round(time.Millisecond))
		}
	}
}

// appsStatus is GET /v1/apps, decoded loosely.
type appsStatus struct {
	Replica string `json:"replica"`
	Apps    []struct {
		AppID       string `json:"appid"`
		Credentials []struct {
			Kind        string     `json:"kind"`
			State       string     `json:"state"`
			LeaseHolder string     `json:"lease_holder"`
			HeardAt     *time.Time `json:"heard_at"`
			// NextRefreshAt is when the credential is next looked at: the
			// retry after a failure.
			NextRefreshAt *time.Time `json:"next_refresh_at"`
		} `json:"credentials"`
	} `json:"apps"`
}

func (e *env) status(t *testing.T, base string) appsStatus {
	t.Helper()
	a, err := e.requestAt(base, http.MethodGet, "/v1/apps", e.key, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusOK {
		t.Fatalf("GET /v1/apps: %s", a)
	}
	var st appsStatus
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatalf("GET /v1/apps: %v", err)
	}
	return st
}

// failures collects a bounded number of failures from many goroutines.
type failures struct {
	mu   sync.Mutex
	list []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.list) < 20 {
		f.list = append(f.list, fmt.Sprintf(format, args...))
	}
}

func (f *failures) report(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.list {
		t.Error(s)
	}
}

// poll asks base for the app's access_token every interval until ctx
// ends, recording every grant in rec and every sighting under name.
func (e *env) poll(ctx context.Context, in *instance, name, appID string, every time.Duration, rec *handedOut, seen *sightings, fail func(string, ...any)) int {
	tick := time.NewTicker(every)
	defer tick.Stop()
	n := 0
	for {
		a, err := e.requestAt(in.base, http.MethodGet, "/v1/apps/"+appID+"/access_token", e.key, "")
		if err != nil {
			if ctx.Err() == nil {
				fail("%s: %v", name, err)
			}
		} else if g, err := parseGrantSkewed(a, appID, "", in.skew); err != nil {
			fail("%s: %v", name, err)
		} else {
			n++
			if rec != nil {
				rec.add("access_token", g)
			}
			if seen != nil {
				seen.saw(g.value, name, a.sent)
			}
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}
