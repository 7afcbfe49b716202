package simulator

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// Errcodes of the media upload.
const (
	errInvalidMediaType = 40004
	errInvalidMediaSize = 40006
	errMissingMedia     = 41005
)

// maxMediaBody bounds what an upload may send; the largest media WeChat
// takes is a 20 MB video.
const maxMediaBody = 24 << 20

// mediaLimits are the largest files WeChat takes as temporary media, by
// type.
func mediaLimit(kind string) (int64, bool) {
	switch kind {
	case "image", "video":
		return 10 << 20, true
	case "voice":
		return 2 << 20, true
	case "thumb":
		return 64 << 10, true
	}
	return 0, false
}

type mediaBody struct {
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt int64  `json:"created_at"`
}

// serveMediaUpload answers POST /cgi-bin/media/upload?type=T: a multipart
// body whose "media" part is the file. Like WeChat it takes the whole body
// before it answers, so an upload that stalls midway gets no answer; then
// the call is counted (as EndpointAPI, where its faults are injected too)
// and the token checked as for any other call. An upload is a call to
// check what reaches WeChat, so nothing is kept but its size.
func (s *Simulator) serveMediaUpload(w http.ResponseWriter, r *http.Request) {
	body := &uploadBody{r: r.Body}
	size, readErr := mediaSize(r.Header.Get("Content-Type"), body)
	// Whatever the parts said, the rest of the body is taken too.
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxMediaBody))
	if body.err != nil {
		// The upload broke off: the caller is gone, and WeChat makes
		// no call of what it did not receive whole.
		return
	}
	q := r.URL.Query()
	if !s.begin(w, r, EndpointAPI, s.owner(q.Get("access_token"))) {
		return
	}
	if r.Method != http.MethodPost {
		writeWX(w, s.errBody(r, errRequirePOST, ""))
		return
	}
	s.mu.Lock()
	now := s.now()
	_, code := s.liveToken(q, now)
	s.mu.Unlock()
	if code != 0 {
		writeWX(w, s.errBody(r, code, ""))
		return
	}
	kind := q.Get("type")
	limit, ok := mediaLimit(kind)
	switch {
	case !ok:
		writeWX(w, s.errBody(r, errInvalidMediaType, "invalid media type"))
	case readErr != nil || size == 0:
		writeWX(w, s.errBody(r, errMissingMedia, "media data missing"))
	case size > limit:
		writeWX(w, s.errBody(r, errInvalidMediaSize, "invalid media size"))
	default:
		writeWX(w, mediaBody{Type: kind, MediaID: randomText(64), CreatedAt: now.Unix()})
	}
}

// uploadBody is a request body that keeps the error of a read that
// failed, which tells an upload that broke off from a malformed one.
type uploadBody struct {
	r   io.Reader
	err error
}

func (b *uploadBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// mediaSize reads a multipart upload up to its "media" part and returns
// that part's size.
func mediaSize(contentType string, body io.Reader) (int64, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return 0, errors.New("not a multipart/form-data body")
	}
	mr := multipart.NewReader(io.LimitReader(body, maxMediaBody), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return 0, err
		}
		if p.FormName() != "media" {
			continue
		}
		n, err := io.Copy(io.Discard, p)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
