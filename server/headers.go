package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/httpapi"
)

// maxHeaderBytes bounds a request's head (request line and header fields)
// that is served: no route needs more than a path, a key and the usual
// headers, and a relayed WeChat call not much more.
const maxHeaderBytes = 16 << 10

// readHeaderBytes is how much net/http reads of a request's head before
// it gives up on its own. net/http answers a longer head with a
// plain-text 431 before any handler runs, so it is given room beyond
// maxHeaderBytes (its own default) and limitHeaders answers in JSON
// instead; only a head past this larger bound still gets the plain text.
const readHeaderBytes = 1 << 20

// limitHeaders answers a request whose head is larger than limit bytes
// with a JSON 431, in the shape of every other error answer, and passes
// the others to next.
func limitHeaders(next http.Handler, limit int) http.Handler {
	body := tooLargeBody(limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headSize(r) <= limit {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		// The rest of such a request is not worth reading.
		h.Set("Connection", "close")
		w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		_, _ = w.Write(body)
	})
}

// tooLargeBody is the answer of limitHeaders.
func tooLargeBody(limit int) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// A struct of strings always encodes.
	_ = enc.Encode(httpapi.ErrorResponse{Error: httpapi.ErrorBody{
		Code:    httpapi.CodeOf(http.StatusRequestHeaderFieldsTooLarge),
		Message: fmt.Sprintf("the request's headers are larger than %d bytes", limit),
	}})
	return buf.Bytes()
}

// headSize is the size of r's head as it came on the wire, near enough:
// the request line and every header field with its separators. net/http
// has moved Host out of the header map, so it is counted apart.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// readDeadline gives a request that has a body until timeout to send it
// (http.Server's ReadTimeout, kept for these requests only: one without a
// body was read whole with its headers).
func readDeadline(next http.Handler, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
		}
		next.ServeHTTP(w, r)
	})
}
