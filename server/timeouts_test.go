package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
)

// serveWith starts a server on f whose HTTP timeouts adjust sets, and
// returns its address.
func serveWith(t *testing.T, f *fixture, adjust func(*http.Server)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, f.cfg, server.Options{Logger: f.log, HTTP: adjust})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return strings.TrimPrefix(srv.URL(), "http://")
}

// endsWithin reads from c until the server ends the connection, and
// reports what was read and how long it took; a read still blocked after
// limit fails the test.
func endsWithin(t *testing.T, c net.Conn, limit time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v (read %q)", limit, b)
	}
	return string(b), time.Since(start)
}

// The server's idle limit closes a keep-alive connection that sends
// nothing more, as http.Server's IdleTimeout did.
func TestIdleConnectionIsClosed(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	addr := serveWith(t, f, func(hs *http.Server) { hs.IdleTimeout = time.Second })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d", resp.StatusCode)
	}
	// Closed between the limit and the limit plus one sweep (a second).
	if rest, took := endsWithin(t, c, 10*time.Second); rest != "" || took > 3*time.Second {
		t.Errorf("idle connection closed after %v with %q, want within 2 s and nothing sent", took, rest)
	}
}

// A request whose body stalls is cut at the read timeout, as
// http.Server's ReadTimeout did, even though requests without a body no
// longer carry a read deadline.
func TestStalledRequestBodyIsCut(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	addr := serveWith(t, f, func(hs *http.Server) { hs.ReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Promises 100 bytes, sends 2, then stalls.
	req := "POST /v1/apps/" + appID + "/access_token/refresh HTTP/1.1\r\nHost: x\r\n" +
		"Authorization: Bearer nobody\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\""
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if _, took := endsWithin(t, c, 10*time.Second); took > 5*time.Second {
		t.Errorf("a stalled body held its connection for %v, want about the 300 ms read timeout", took)
	}
}

// A request that takes longer than the write timeout to be answered loses
// its connection, as with http.Server's WriteTimeout; the limit counts from
// the request, not from the connection.
func TestSlowAnswerIsCut(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	// What is slow here is a client that never reads: it sends requests
	// for its whole life.
	addr := serveWith(t, f, func(hs *http.Server) { hs.WriteTimeout = time.Second })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Answers held in the socket buffers until they are full block the
	// server's write: the guard then ends the connection.
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 200,000 answers of /healthz are far more than the socket
		// buffers hold.
		line := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		for range 200000 {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a client that never reads its answers kept its connection for 30 s")
	}
}
