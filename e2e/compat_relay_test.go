package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/compat"
	"github.com/wxtoken/wxtoken/internal/integration"
	"github.com/wxtoken/wxtoken/simulator"
	"github.com/wxtoken/wxtoken/wechat"
)

// bodyWatch stands between wxtoken and the simulator and counts the bytes
// of request bodies as they arrive there, closing reached once mark bytes
// have come: a relayed body that is streamed arrives while the caller is
// still sending it.
type bodyWatch struct {
	next    http.Handler
	mark    int64
	n       atomic.Int64
	reached chan struct{}
	once    sync.Once
}

func (bw *bodyWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = watchedBody{r.Body, bw}
	bw.next.ServeHTTP(w, r)
}

type watchedBody struct {
	io.ReadCloser
	bw *bodyWatch
}

func (b watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.bw.n.Add(int64(n)) >= b.bw.mark {
		b.bw.once.Do(func() { close(b.bw.reached) })
	}
	return n, err
}

// slowBody sends data a chunk per tick, as a caller on a slow link does.
// before, when set, is called before each chunk with what has been sent
// so far, and may hold the upload there.
type slowBody struct {
	rest   []byte
	sent   int
	chunk  int
	tick   <-chan time.Time
	before func(sent int)
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.rest) == 0 {
		return 0, io.EOF
	}
	if b.before != nil {
		b.before(b.sent)
	}
	<-b.tick
	n := min(len(p), b.chunk, len(b.rest))
	copy(p, b.rest[:n])
	b.rest, b.sent = b.rest[n:], b.sent+n
	return n, nil
}

// mediaForm is a multipart upload of a size-byte file in the part "media",
// as SDKs upload temporary media, and its content type.
func mediaForm(t *testing.T, size int) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile("media", "photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte{0xff, 0xd8}, size/2))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// upload posts body to the front door's media upload at the pace of body.
func (e *env) upload(t *testing.T, token, contentType string, body *slowBody) (wxAnswer, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+"/cgi-bin/media/upload?type=image&access_token="+token, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body.rest))
	req.Header.Set("Content-Type", contentType)
	start := time.Now()
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("the upload: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the upload's answer: %v", err)
	}
	a := wxAnswer{status: resp.StatusCode, header: resp.Header, raw: string(bytes.TrimSpace(raw))}
	e.checkNoSecret("the front door's answer to an upload", answer{status: a.status, header: a.header, body: raw})
	if json.Valid(raw) {
		_ = json.Unmarshal(raw, &a)
	}
	return a, time.Since(start)
}

// relayReadTimeout is the server's read timeout in the upload tests:
// short, so that an upload outlasts it in a couple of seconds.
const relayReadTimeout = time.Second

// TestCompatSlowUploadCompletes: a 3 MB media upload that streams slowly
// but steadily through the front door takes more than twice the server's
// read timeout and still reaches WeChat whole, streamed as it comes (not
// held until it is all there), and its answer reaches the caller.
func TestCompatSlowUploadCompletes(t *testing.T) {
	integration.Skip(t)
	const appID = "wxupload"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second, readTimeout: relayReadTimeout})
	// The watch first, since the recorder reads a body whole before it
	// passes it on.
	rec := &upstreamRecorder{next: e.sim}
	watch := &bodyWatch{next: rec, mark: 1 << 20, reached: make(chan struct{})}
	up := httptest.NewServer(watch)
	t.Cleanup(up.Close)
	e.cfg.Upstream.BaseURL = up.URL
	e.start()
	token := e.token(t, appID).value

	form, ct := mediaForm(t, 3<<20)
	// 32 KiB every 25 ms: about 1.3 MB/s, 2.4 s for the whole, with no
	// pause near the read timeout.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var notStreamed atomic.Bool
	checked := false
	body := &slowBody{rest: form, chunk: 32 << 10, tick: tick.C, before: func(sent int) {
		if sent < 2<<20 || checked {
			return
		}
		checked = true
		// Two of the three megabytes are out: a streamed body has been
		// arriving at the upstream all along.
		select {
		case <-watch.reached:
		case <-time.After(5 * time.Second):
			notStreamed.Store(true)
		}
	}}
	a, took := e.upload(t, token, ct, body)
	if a.status != http.StatusOK || !strings.Contains(a.raw, `"media_id"`) || !strings.Contains(a.raw, `"type":"image"`) {
		t.Fatalf("the slow upload, %v long: %s", took.Round(time.Millisecond), a)
	}
	if took < 2*relayReadTimeout {
		t.Fatalf("the upload took %v, want longer than twice the read timeout %v for this test to mean anything", took, relayReadTimeout)
	}
	if notStreamed.Load() {
		t.Errorf("with 2 MiB of the body sent, less than 1 MiB had reached the upstream: the body was held, not streamed")
	}
	var uploads []upstreamCall
	for _, c := range rec.since(0) {
		if c.path == "/cgi-bin/media/upload" {
			uploads = append(uploads, c)
		}
	}
	if len(uploads) != 1 || !bytes.Equal(uploads[0].body, form) {
		t.Fatalf("want the upload relayed once and whole, got %d calls", len(uploads))
	}
	if n := e.sim.Calls(simulator.EndpointAPI, appID); n != 1 {
		t.Errorf("WeChat counted %d calls, want 1", n)
	}
	if logs := e.logs.String(); strings.Contains(logs, "relaying a call to the upstream failed") {
		t.Errorf("the log blames the upstream for a call that succeeded")
	}
	t.Logf("3 MiB uploaded through the front door in %v (read timeout %v)", took.Round(time.Millisecond), relayReadTimeout)
	e.noTokenInLogs(t, token)
}

// TestCompatStalledUploadBlamesTheCaller: an upload that stops midway is
// answered once the read timeout has passed without a byte, with HTTP 408
// and errcode 47001 (never -1, which SDKs retry as "system busy"), and
// the log says the caller's body stalled, not that WeChat failed. The
// call never reaches WeChat whole, so WeChat makes none. Both a body small
// enough to be held for a retry and a larger, streamed one.
func TestCompatStalledUploadBlamesTheCaller(t *testing.T) {
	integration.Skip(t)
	for _, c := range []struct {
		name        string
		size, stall int
	}{
		{"held", 600 << 10, 300 << 10},
		{"streamed", 3 << 20, 1536 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			const appID = "wxstall"
			e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "stable"}}, ttl: time.Minute, overlap: 5 * time.Second, readTimeout: relayReadTimeout})
			e.start()
			token := e.token(t, appID).value

			form, ct := mediaForm(t, c.size)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			release := make(chan struct{})
			defer close(release)
			// The body is read on the HTTP client's goroutine.
			stalled := make(chan time.Time, 1)
			body := &slowBody{rest: form, chunk: 32 << 10, tick: tick.C, before: func(sent int) {
				if sent >= c.stall {
					stalled <- time.Now()
					<-release
				}
			}}
			a, _ := e.upload(t, token, ct, body)
			var waited time.Duration
			select {
			case at := <-stalled:
				waited = time.Since(at)
			default:
				t.Fatalf("answered before the body stalled: %s", a)
			}
			if a.status != http.StatusRequestTimeout || a.ErrCode != 47001 || !strings.HasPrefix(a.ErrMsg, "wxtoken: ") || !strings.Contains(a.ErrMsg, "stalled") {
				t.Fatalf("want HTTP 408 with errcode 47001 saying the body stalled, got %s", a)
			}
			if ct := a.header.Get("Content-Type"); ct != wxContentType {
				t.Errorf("Content-Type %q", ct)
			}
			if waited < relayReadTimeout || waited > relayReadTimeout+3*time.Second {
				t.Errorf("answered %v after the body stalled, want about the read timeout %v", waited, relayReadTimeout)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "the caller did not send its request body whole") || !strings.Contains(logs, "side=caller") {
				t.Errorf("the log does not say the caller's body stalled")
			}
			if strings.Contains(logs, "relaying a call to the upstream failed") {
				t.Errorf("the log blames the upstream for the caller's stall")
			}
			if n := e.sim.Calls(simulator.EndpointAPI, appID); n != 0 {
				t.Errorf("WeChat counted %d calls of an upload it never received whole", n)
			}
			t.Logf("answered %v after the body stalled: %s", waited.Round(time.Millisecond), a.raw)
			e.noTokenInLogs(t, token)
		})
	}
}

// TestCompatRetriesLoneRejectionOfLiveToken: WeChat answers an ordinary
// call 40001 once while the token is alive (its servers disagree for a
// moment after a refresh). wxtoken's check finds the token alive, spends
// no refresh, and makes the call once more with the same token after a
// pause: the caller gets the success, and the retry is counted.
func TestCompatRetriesLoneRejectionOfLiveToken(t *testing.T) {
	integration.Skip(t)
	const appID = "wxlone"
	e := newCompatEnv(t, setup{apps: []appSpec{{id: appID, api: "classic"}}, ttl: time.Minute, overlap: 5 * time.Second})
	rec := e.recordUpstream(t)
	e.start()
	token := e.token(t, appID).value
	mints := e.sim.Calls(simulator.EndpointToken, appID)
	if err := e.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointAPI, AppID: appID, Kind: simulator.FaultErrCode, ErrCode: wechat.ErrInvalidCredential, Count: 1}); err != nil {
		t.Fatal(err)
	}

	n := rec.count()
	const body = `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`
	a := e.wx(t, http.MethodPost, "/cgi-bin/message/custom/send?access_token="+token, body, map[string]string{"Content-Type": "application/json"})
	if a.status != 200 || a.raw != `{"errcode":0,"errmsg":"ok"}` {
		t.Fatalf("the call WeChat rejected once: %s", a)
	}
	var sends []upstreamCall
	for _, c := range rec.since(n) {
		if c.path == "/cgi-bin/message/custom/send" {
			sends = append(sends, c)
		}
	}
	if len(sends) != 2 || sends[0].query != "access_token="+token || sends[1].query != "access_token="+token || string(sends[1].body) != body {
		t.Fatalf("want the call made twice with the same token and body, got %+v", sends)
	}
	gap := sends[1].at.Sub(sends[0].at)
	if gap < compat.DefaultAlivePause {
		t.Errorf("the second call came %v after the first, want a pause of at least %v", gap, compat.DefaultAlivePause)
	}
	t.Logf("the call was made again %v after WeChat rejected it", gap.Round(time.Millisecond))
	if got := e.sim.Calls(simulator.EndpointToken, appID); got != mints {
		t.Errorf("%d token calls, want %d: the check spent a refresh", got, mints)
	}
	if got := e.sim.Calls(simulator.EndpointProbe, appID); got != 1 {
		t.Errorf("%d checks of the token at WeChat, want 1", got)
	}
	if got := e.token(t, appID).value; got != token {
		t.Errorf("the token was replaced")
	}
	m := e.mustDo(t, http.MethodGet, "/metrics", e.key, "")
	if !bytes.Contains(m.body, []byte(`wxtoken_compat_retries_total{reason="token_alive"} 1`)) ||
		!bytes.Contains(m.body, []byte(`wxtoken_compat_retries_total{reason="token_replaced"} 0`)) {
		t.Errorf("the metrics do not count one retry with a live token:\n%s", grepLines(m.body, "compat_retries"))
	}
	e.noTokenInLogs(t, token)
}

// TestClientTransportRetriesLoneRejectionOfLiveToken: the Go client's
// RoundTripper, calling WeChat directly with tokens from wxtoken, does the
// same when WeChat rejects a live token once.
func TestClientTransportRetriesLoneRejectionOfLiveToken(t *testing.T) {
	integration.Skip(t)
	const appID = "wxlone"
	e := newEnv(t, setup{apps: []appSpec{{id: appID, api: "classic"}}, ttl: time.Minute, overlap: 5 * time.Second})
	e.start()
	c, err := client.New(e.base, e.key)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: c.Transport(appID, nil), Timeout: 10 * time.Second}
	token, err := c.AccessToken(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}
	mints := e.sim.Calls(simulator.EndpointToken, appID)
	calls := e.sim.Calls(simulator.EndpointAPI, appID)
	if err := e.sim.Inject(simulator.Fault{Endpoint: simulator.EndpointAPI, AppID: appID, Kind: simulator.FaultErrCode, ErrCode: wechat.ErrInvalidCredential, Count: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(e.simURL+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(`{"touser":"o1"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(raw) != `{"errcode":0,"errmsg":"ok"}` {
		t.Fatalf("the call WeChat rejected once: %s", raw)
	}
	if got := e.sim.Calls(simulator.EndpointAPI, appID) - calls; got != 2 {
		t.Errorf("WeChat saw %d calls, want 2", got)
	}
	if got := e.sim.Calls(simulator.EndpointToken, appID); got != mints {
		t.Errorf("%d token calls, want %d: the report spent a refresh", got, mints)
	}
	if st := e.sim.Check(token); !st.Valid {
		t.Errorf("the token is no longer valid: %+v", st)
	}
}

// grepLines returns the lines of b that contain s, for messages.
func grepLines(b []byte, s string) string {
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(out)
}
