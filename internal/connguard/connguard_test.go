package connguard

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// serve starts an http.Server with g and h on loopback. The channel tells
// every state change, once the guard has seen it.
func serve(t *testing.T, g *Guard, h http.Handler) (string, <-chan http.ConnState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan http.ConnState, 100)
	hs := &http.Server{Handler: h, ConnContext: g.ConnContext, ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			g.ConnState(c, s)
			states <- s
		}}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), states
}

// waitState waits until the server reported state, which it does for
// StateIdle only after it wrote the answer.
func waitState(t *testing.T, states <-chan http.ConnState, state http.ConnState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-states:
			if s == state {
				return
			}
		case <-timeout:
			t.Fatalf("the server never reported %v", state)
		}
	}
}

// client is one keep-alive connection that sends GET requests by hand.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// get sends a request and returns the answer's status, or the error that
// ended the connection.
func (cl *client) get(path string) (int, error) {
	if _, err := io.WriteString(cl.c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	return cl.answer()
}

func (cl *client) answer() (int, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(cl.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// closed reports whether the server closed the connection: a read ends
// with EOF or a reset rather than its deadline.
func (cl *client) closed() bool {
	_ = cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := cl.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

func TestIdleConnectionClosedAfterItsLimit(t *testing.T) {
	g := New(time.Hour, 3*time.Second, time.Second) // idle: 3 sweeps
	addr, states := serve(t, g, ok)
	cl := dial(t, addr)
	if code, err := cl.get("/"); err != nil || code != http.StatusNoContent {
		t.Fatalf("first request: %d, %v", code, err)
	}
	waitState(t, states, http.StateIdle)
	for range 3 {
		g.Sweep()
	}
	// Three sweeps after going idle is not yet past the limit.
	if code, err := cl.get("/"); err != nil || code != http.StatusNoContent {
		t.Fatalf("request within the idle limit: %d, %v", code, err)
	}
	waitState(t, states, http.StateIdle)
	for range 4 {
		g.Sweep()
	}
	if !cl.closed() {
		t.Fatal("a connection idle past its limit was left open")
	}
}

func TestBusyRequestClosedAfterItsLimit(t *testing.T) {
	g := New(2*time.Second, time.Hour, time.Second) // busy: 2 sweeps
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	addr, _ := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	cl := dial(t, addr)
	if _, err := io.WriteString(cl.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	g.Sweep()
	g.Sweep()
	if code, err := peekClosed(cl); code != 0 || err != nil {
		t.Fatalf("closed within the busy limit: %d, %v", code, err)
	}
	g.Sweep()
	if !cl.closed() {
		t.Fatal("a request busy past its limit kept its connection")
	}
}

// peekClosed reports an answer or a close that arrived already, without
// waiting: (0, nil) when nothing did.
func peekClosed(cl *client) (int, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := cl.r.Peek(1)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, nil
	}
	if err != nil {
		return -1, err
	}
	return cl.answer()
}

func TestExemptRequestKeepsItsConnection(t *testing.T) {
	g := New(time.Second, time.Hour, time.Second)
	entered, release := make(chan struct{}), make(chan struct{})
	addr, states := serve(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/relay" {
			Exempt(r.Context())
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	cl := dial(t, addr)
	if _, err := io.WriteString(cl.c, "GET /relay HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	for range 5 {
		g.Sweep()
	}
	close(release)
	if code, err := cl.answer(); err != nil || code != http.StatusNoContent {
		t.Fatalf("exempt request: %d, %v", code, err)
	}
	// The exemption ends with its request.
	waitState(t, states, http.StateIdle)
	for _, v := range loadAll(g) {
		if v.exempt.Load() {
			t.Fatal("the exemption outlived its request")
		}
	}
}

func loadAll(g *Guard) []*conn {
	var out []*conn
	g.conns.Range(func(_, v any) bool {
		out = append(out, v.(*conn))
		return true
	})
	return out
}

func TestClosedConnectionsAreForgotten(t *testing.T) {
	g := New(time.Hour, time.Hour, time.Second)
	addr, states := serve(t, g, ok)
	cl := dial(t, addr)
	if _, err := cl.get("/"); err != nil {
		t.Fatal(err)
	}
	if g.Open() != 1 {
		t.Fatalf("open = %d, want 1", g.Open())
	}
	cl.c.Close()
	waitState(t, states, http.StateClosed)
	if g.Open() != 0 || len(loadAll(g)) != 0 {
		t.Fatalf("open = %d after the close, want 0", g.Open())
	}
}

func TestRunEndsWithItsContext(t *testing.T) {
	g := New(time.Hour, time.Hour, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	cancel()
	<-done
}
