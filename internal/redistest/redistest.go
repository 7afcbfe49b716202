// Package redistest connects tests to a real Redis: the one the machine
// runs (127.0.0.1:6379, or WXTOKEN_TEST_REDIS), or a private redis-server
// that a test may stop and start again.
//
// A test that needs Redis is an integration test: it is skipped unless
// WXTOKEN_INTEGRATION=1 asks for those (see internal/integration). When
// asked, it fails when no Redis answers and CI is set in the environment
// (.ci/run sets both and starts a Redis); elsewhere it is skipped with a
// message that says how to run it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/integration"
)

// Addr returns the address of the machine's Redis, after checking that it
// answers.
func Addr(t testing.TB) string {
	t.Helper()
	integration.Skip(t)
	addr := os.Getenv("WXTOKEN_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	if err := ping(addr); err != nil {
		unavailable(t, fmt.Sprintf("no Redis answers on %s (%v)", addr, err))
	}
	return addr
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI needs one (.ci/run starts redis-server)", why)
	}
	t.Skipf("%s; start redis-server, or set WXTOKEN_TEST_REDIS=host:port, to run this test", why)
}

func ping(addr string) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Prefix returns a key prefix of its own for the test, and deletes every
// key under it when the test ends.
func Prefix(t testing.TB, addr string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "wxtoken-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { DeleteKeys(t, addr, prefix) })
	return prefix
}

// DeleteKeys deletes every key whose name holds prefix.
func DeleteKeys(t testing.TB, addr, prefix string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("deleting the test's Redis keys: %v", err)
	}
}

// Server is a redis-server of the test's own, on a free port, keeping
// nothing on disk unless Save is called.
type Server struct {
	t    testing.TB
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// StartServer starts a private redis-server; it is stopped when the test
// ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	integration.Skip(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{t: t, Addr: addr, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again, after Stop) and waits until it
// answers. It starts empty, or with what the last Save wrote.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ping(s.Addr) != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 10 s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond) // a new process: nothing to wait on but its port
	}
}

// Save writes what the server holds to disk, for the next Start: a Redis
// that goes away and comes back with its data.
func (s *Server) Save() {
	s.t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Save(ctx).Err(); err != nil {
		s.t.Fatalf("SAVE on %s: %v", s.Addr, err)
	}
}

// Stop kills the server; what it held is lost, but for what Save wrote.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server's process without ending it: connections stay
// open and every command hangs, as with a server that froze or a network
// that drops packets. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server, with everything it held.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Fatal("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %s to redis-server: %v", strconv.Itoa(int(sig)), err)
	}
}
