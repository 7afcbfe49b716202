package refresh_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
	"github.com/wxtoken/wxtoken/internal/redistest"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/refresh"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// BenchmarkCredentialRead is a read of a cached access_token from the
// engine, on the embedded store and on a shared Redis (cluster mode),
// in the same run. Reads never touch the store, so the two should cost
// the same; the benchmark holds that claim to account.
func BenchmarkCredentialRead(b *testing.B) {
	const appID, secret = "wxbench", "bench-secret"
	sim, err := simulator.New(simulator.Options{Apps: map[string]string{appID: secret}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	up, err := wechat.New(wechat.Options{BaseURL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, store wxtoken.Store, coord wxtoken.Coordinator) {
		eng, err := refresh.New(refresh.Options{
			Apps:  []refresh.AppConfig{{AppID: appID, Secret: func() string { return secret }}},
			Store: store, Coordinator: coord, Upstream: up,
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := eng.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer eng.Close()
		if _, err := eng.Credential(ctx, appID, wxtoken.KindAccessToken); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := eng.Credential(ctx, appID, wxtoken.KindAccessToken); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("embedded", func(b *testing.B) {
		st, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st, nil)
	})
	b.Run("cluster", func(b *testing.B) {
		addr := redistest.Addr(b)
		st, err := redis.Open(context.Background(), redis.Options{
			Addrs: []string{addr}, Prefix: redistest.Prefix(b, addr), Owner: "bench",
		})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st, st)
	})
}
