package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/logbuf"
)

// The server timeouts of these tests: far shorter than the relayed calls,
// which must outlast them.
const (
	testReadTimeout  = 300 * time.Millisecond
	testWriteTimeout = 300 * time.Millisecond
)

// relayFront serves a front door in front of upstream on a real server
// whose own read and write timeouts are short. The token "T" is the one
// it handed out and the current one.
func relayFront(t *testing.T, upstream http.Handler, mod func(*Options)) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	opts := Options{
		Service:  stubService(func() (wxtoken.Grant, error) { return wxtoken.Grant{Value: "T", ExpiresIn: time.Hour}, nil }),
		AppOf:    func(tok string) (string, bool) { return "wxA", tok == "T" },
		Upstream: up.URL,
		BodyIdle: testReadTimeout,
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(h)
	front.Config.ReadTimeout = testReadTimeout
	front.Config.WriteTimeout = testWriteTimeout
	front.Start()
	t.Cleanup(front.Close)
	return front
}

// paced yields n bytes a chunk per tick.
type paced struct {
	left, chunk int
	tick        <-chan time.Time
}

func (p *paced) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	<-p.tick
	n := min(len(b), p.chunk, p.left)
	for i := range b[:n] {
		b[i] = 'm'
	}
	p.left -= n
	return n, nil
}

// TestRelayOutlastsServerTimeouts: a relayed call whose upstream answers
// after the server's write timeout, and whose answer then streams for
// longer than it, reaches the caller whole: its deadlines move on while
// bytes flow.
func TestRelayOutlastsServerTimeouts(t *testing.T) {
	const size = 1 << 20
	front := relayFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// WeChat takes its time, then sends a media file in pieces.
		time.Sleep(2 * testWriteTimeout)
		w.Header().Set("Content-Type", "image/jpeg")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		_, _ = io.Copy(w, &paced{left: size, chunk: 16 << 10, tick: tick.C})
	}), nil)
	start := time.Now()
	resp, err := front.Client().Get(front.URL + "/cgi-bin/media/get?media_id=M&access_token=T")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 || len(b) != size {
		t.Fatalf("got HTTP %d, %d bytes, %v after %v; want the whole %d bytes", resp.StatusCode, len(b), err, took, size)
	}
	if took < 3*testWriteTimeout {
		t.Fatalf("took %v, want longer than the server's timeouts for this test to mean anything", took)
	}
}

// TestRelayCap: a body that keeps coming, but for longer than
// MaxRelayTime, is cut there and answered 408, blaming the caller.
func TestRelayCap(t *testing.T) {
	const size = 4 << 20 // about 10 s at this pace
	reached := make(chan struct{}, 1)
	front := relayFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body cut off midway ends the copy too, with an error: only a
		// whole one counts.
		if n, err := io.Copy(io.Discard, r.Body); err == nil && n == size {
			reached <- struct{}{}
		}
	}), func(o *Options) { o.MaxRelayTime = 4 * testReadTimeout })
	// A raw connection: an HTTP client that is still sending when the
	// answer comes may report its failed write instead of the answer.
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	go func() {
		_, _ = fmt.Fprintf(conn, "POST /cgi-bin/media/upload?type=video&access_token=T HTTP/1.1\r\nHost: wxtoken\r\nContent-Length: %d\r\n\r\n", size)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		_, _ = io.Copy(conn, &paced{left: size, chunk: 8 << 10, tick: tick.C})
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	var a errorBody
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusRequestTimeout || a.ErrCode != errDataFormat || !strings.Contains(a.ErrMsg, "took longer than") {
		t.Fatalf("got HTTP %d %+v", resp.StatusCode, a)
	}
	if took < 4*testReadTimeout || took > 4*testReadTimeout+2*time.Second {
		t.Errorf("answered after %v, want the cap %v", took, 4*testReadTimeout)
	}
	select {
	case <-reached:
		t.Errorf("the upstream received a whole body")
	default:
	}
}

// TestRelayUpstreamSilence: when WeChat does not answer, the caller gets
// -1 and the log blames the upstream, not the caller, whose body came
// whole.
func TestRelayUpstreamSilence(t *testing.T) {
	var logs logbuf.Buffer
	release := make(chan struct{})
	defer close(release)
	front := relayFront(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-release
	}), func(o *Options) {
		o.Timeout = 2 * testReadTimeout
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	resp, err := front.Client().Post(front.URL+"/cgi-bin/message/custom/send?access_token=T", "application/json", strings.NewReader(`{"touser":"o1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a errorBody
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != 200 || a.ErrCode != errSystem || a.ErrMsg != "wxtoken: system busy: the upstream did not answer" {
		t.Fatalf("got HTTP %d %+v", resp.StatusCode, a)
	}
	if l := logs.String(); !strings.Contains(l, "side=upstream") || strings.Contains(l, "side=caller") {
		t.Errorf("the log does not blame the upstream alone:\n%s", l)
	}
}
