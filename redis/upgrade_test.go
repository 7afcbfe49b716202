package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/redis"
)

// previousLayout writes, with plain Redis commands, the keys that the
// store wrote before it recorded a schema version (schema 0): two
// credentials, an app's bookkeeping and two entries, with their versions
// hash fields and the epoch, times in nanoseconds of Redis's clock. It
// returns the Redis time it wrote them at.
func previousLayout(t *testing.T, c *goredis.Client, tag string) int64 {
	t.Helper()
	ctx := t.Context()
	now, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	at := now.Truncate(time.Second).UnixNano()
	h := int64(time.Hour)
	cmds := []struct {
		key, value string
	}{
		{tag + "cred:wx00000000000000aa:access_token", fmt.Sprintf(`{"appid":"wx00000000000000aa","kind":"access_token","value":"token-aa-3","fetched_at":%d,"expires_at":%d,"refresh_at":%d,"version":3,"api":"classic","writer":"old-replica"}`, at, at+2*h, at+h)},
		{tag + "cred:wx00000000000000aa:jsapi", fmt.Sprintf(`{"appid":"wx00000000000000aa","kind":"jsapi","value":"ticket-aa-2","fetched_at":%d,"expires_at":%d,"refresh_at":%d,"version":2,"token_version":3,"call_attempt_at":%d,"writer":"old-replica"}`, at, at+2*h, at+h, at+h/2)},
		{tag + "meta:wx00000000000000aa", fmt.Sprintf(`{"appid":"wx00000000000000aa","quota_day":"2026-11-20","token_calls":12,"force_refreshes":[%d],"abandoned_mint_at":%d,"killed_version":2,"token_failure":{"count":2,"retry_at":%d,"blocked":true,"errcode":40164,"class":"ip_whitelist","message":"invalid ip","hint":"add the IP","at":%d},"writer":"old-replica"}`, at-h, at-h/2, at+h/12, at)},
		{tag + "entry:wx00000000000000bb", fmt.Sprintf(`{"id":"wx00000000000000bb","family":"app","name":"shop","secret":"sealed:v1:AAAA","token_api":"stable","tickets":["jsapi"],"tags":["retail"],"state":"active","created_at":%d,"updated_at":%d,"version":1,"writer":"old-replica"}`, at, at)},
		{tag + "entry:wx00000000000000dd:wx00000000000000ee", fmt.Sprintf(`{"id":"wx00000000000000dd:wx00000000000000ee","family":"authorizer","secret":"sealed:v1:CCCC","state":"reauthorize","note":"61023","created_at":%d,"updated_at":%d,"version":4,"writer":"old-replica"}`, at, at)},
	}
	for _, cmd := range cmds {
		if err := c.Set(ctx, cmd.key, cmd.value, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.HSet(ctx, tag+"versions", "wx00000000000000aa/access_token", 3, "wx00000000000000aa/jsapi", 2, "wx00000000000000aa/", 5).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, tag+"entries", "wx00000000000000bb", 1, "wx00000000000000dd:wx00000000000000ee", 4).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, tag+"epoch", 9, 0).Err(); err != nil {
		t.Fatal(err)
	}
	return at
}

// checkPreviousLayout fails unless s reads every record previousLayout
// wrote, at time at of Redis's clock.
func checkPreviousLayout(t *testing.T, s *redis.Store, at int64) {
	t.Helper()
	ctx := t.Context()
	off := int64(s.Offset())
	local := func(n int64) time.Time { return time.Unix(0, n-off).UTC() }
	h := int64(time.Hour)
	wantCreds := []wxtoken.Credential{
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "token-aa-3", FetchedAt: local(at), ExpiresAt: local(at + 2*h), RefreshAt: local(at + h), Version: 3, API: wxtoken.TokenAPIClassic},
		{AppID: "wx00000000000000aa", Kind: wxtoken.KindJSAPITicket, Value: "ticket-aa-2", FetchedAt: local(at), ExpiresAt: local(at + 2*h), RefreshAt: local(at + h), Version: 2, TokenVersion: 3, CallAttemptAt: local(at + h/2)},
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !reflect.DeepEqual(got, wantCreds) {
		t.Errorf("List:\n got %+v\nwant %+v", got, wantCreds)
	}
	wantLedger := wxtoken.Ledger{AppID: "wx00000000000000aa", QuotaDay: "2026-11-20", TokenCalls: 12, ForceRefreshes: []time.Time{local(at - h)},
		AbandonedMintAt: local(at - h/2), KilledVersion: 2,
		TokenFailure: &wxtoken.Failure{Count: 2, RetryAt: local(at + h/12), Blocked: true, Error: wxtoken.ErrorInfo{ErrCode: 40164, Class: "ip_whitelist", Message: "invalid ip", Hint: "add the IP", At: local(at)}}}
	m, err := s.GetLedger(ctx, "wx00000000000000aa")
	if err != nil || !reflect.DeepEqual(m, wantLedger) {
		t.Errorf("GetLedger: %v\n got %+v\nwant %+v", err, m, wantLedger)
	}
	wantEntries := []wxtoken.Entry{
		{ID: "wx00000000000000bb", Family: wxtoken.FamilyApp, Name: "shop", Secret: "sealed:v1:AAAA", TokenAPI: wxtoken.TokenAPIStable, Tickets: []wxtoken.Kind{wxtoken.KindJSAPITicket}, Tags: []string{"retail"}, State: wxtoken.EntryActive, CreatedAt: local(at), UpdatedAt: local(at), Version: 1},
		{ID: "wx00000000000000dd:wx00000000000000ee", Family: wxtoken.FamilyAuthorizer, Secret: "sealed:v1:CCCC", State: wxtoken.EntryReauthorize, Note: "61023", CreatedAt: local(at), UpdatedAt: local(at), Version: 4},
	}
	es, err := s.ListEntries(ctx)
	if err != nil || !reflect.DeepEqual(es, wantEntries) {
		t.Errorf("ListEntries: %v\n got %+v\nwant %+v", err, es, wantEntries)
	}
}

func newClient(t *testing.T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPreviousLayoutIsUpgraded(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr)
	tag := "{" + prefix + "}"
	c := newClient(t, addr)
	at := previousLayout(t, c, tag)

	var logs bytes.Buffer
	s, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Prefix: prefix, Owner: "new-replica",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open of a store in the previous layout: %v", err)
	}
	defer s.Close()
	if v, err := c.Get(t.Context(), tag+"schema").Result(); err != nil || v != strconv.Itoa(redis.SchemaVersion) {
		t.Errorf("schema version recorded at Open: %q, %v; want %d", v, err, redis.SchemaVersion)
	}
	if !strings.Contains(logs.String(), "upgraded") || !strings.Contains(logs.String(), "from=0") {
		t.Errorf("the upgrade was not logged: %q", logs.String())
	}
	checkPreviousLayout(t, s, at)
	// The upgraded store takes writes, the versions still compared.
	cred, err := s.Get(t.Context(), "wx00000000000000aa", wxtoken.KindAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	cred.Value, cred.Version = "token-aa-4", 4
	if err := s.Put(t.Context(), cred); err != nil {
		t.Errorf("Put into the upgraded store: %v", err)
	}
	cred.Version = 2
	if err := s.Put(t.Context(), cred); !errors.Is(err, wxtoken.ErrStale) {
		t.Errorf("Put of an older version: %v, want ErrStale", err)
	}

	// A second replica opens the upgraded store without upgrading it.
	logs.Reset()
	s2, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Prefix: prefix, Owner: "second",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := s2.Schema(t.Context()); err != nil || v != redis.SchemaVersion {
		t.Errorf("Schema: %d, %v", v, err)
	}
	if strings.Contains(logs.String(), "upgraded") {
		t.Errorf("the second replica upgraded again: %q", logs.String())
	}
	if got, err := s2.Get(t.Context(), "wx00000000000000aa", wxtoken.KindAccessToken); err != nil || got.Value != "token-aa-4" {
		t.Errorf("Get from the second replica: %+v, %v", got, err)
	}
}

func TestNewStoreRecordsTheSchemaVersion(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr)
	var logs bytes.Buffer
	s, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Prefix: prefix, Owner: "a",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Schema(t.Context()); err != nil || v != redis.SchemaVersion {
		t.Errorf("Schema of a new store: %d, %v; want %d", v, err, redis.SchemaVersion)
	}
	if strings.Contains(logs.String(), "upgraded") {
		t.Errorf("a new store was logged as upgraded: %q", logs.String())
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr)
	tag := "{" + prefix + "}"
	c := newClient(t, addr)
	previousLayout(t, c, tag)
	newer := strconv.Itoa(redis.SchemaVersion + 1)
	if err := c.Set(t.Context(), tag+"schema", newer, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := redis.Open(t.Context(), redis.Options{Addrs: []string{addr}, Prefix: prefix, Owner: "old"})
	if !errors.Is(err, redis.ErrNewerSchema) {
		t.Fatalf("Open of a newer store: %v, want ErrNewerSchema", err)
	}
	for _, part := range []string{"newer wxtoken", "schema version " + newer, tag + "schema", "up to " + strconv.Itoa(redis.SchemaVersion)} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	if v, _ := c.Get(t.Context(), tag+"schema").Result(); v != newer {
		t.Errorf("the refused store's version became %q", v)
	}
}

// TestNewerSchemaFoundLaterIsRefused: a replica that started while Redis
// was away meets the newer store at its first command, and writes nothing.
func TestNewerSchemaFoundLaterIsRefused(t *testing.T) {
	srv := redistest.StartServer(t)
	srv.Stop()
	s, err := redis.Open(t.Context(), redis.Options{Addrs: []string{srv.Addr}, Owner: "early", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open while Redis is away: %v", err)
	}
	defer s.Close()
	srv.Start()
	c := newClient(t, srv.Addr)
	tag := "{" + redis.DefaultPrefix + "}"
	newer := strconv.Itoa(redis.SchemaVersion + 1)
	if err := c.Set(t.Context(), tag+"schema", newer, 0).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = s.Put(ctx, wxtoken.Credential{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "v", Version: 1})
	if !errors.Is(err, redis.ErrNewerSchema) {
		t.Fatalf("Put into a newer store: %v, want ErrNewerSchema", err)
	}
	if n, _ := c.Exists(t.Context(), tag+"cred:wx00000000000000aa:access_token").Result(); n != 0 {
		t.Error("the refused store was written to")
	}
}

// TestSchemaRecordedAgainAfterRedisLostEverything: a Redis restarted
// without persistence loses the version with the rest; the replicas'
// check records it again before they write their records back.
func TestSchemaRecordedAgainAfterRedisLostEverything(t *testing.T) {
	srv := redistest.StartServer(t)
	s, err := redis.Open(t.Context(), redis.Options{Addrs: []string{srv.Addr}, Owner: "a", SyncInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Schema(t.Context()); err != nil || v != redis.SchemaVersion {
		t.Fatalf("Schema: %d, %v", v, err)
	}
	srv.Stop()
	srv.Start()
	synced := make(chan error, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = s.Watch(ctx, syncWatcher{synced}) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-synced:
			if err != nil {
				continue // the watch reconnecting
			}
			if v, err := s.Schema(t.Context()); err == nil && v == redis.SchemaVersion {
				return
			}
		case <-deadline:
			v, err := s.Schema(t.Context())
			t.Fatalf("after Redis lost everything, the schema version is %d (%v); want it recorded again", v, err)
		}
	}
}

// syncWatcher passes on the results of the watch's syncs.
type syncWatcher struct{ synced chan<- error }

func (syncWatcher) Changed(string, wxtoken.Kind, uint64) {}
func (syncWatcher) EntryChanged(string, uint64)          {}
func (syncWatcher) Reset()                               {}
func (w syncWatcher) Synced(_ time.Time, err error) {
	select {
	case w.synced <- err:
	default:
	}
}
