package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// upload posts a multipart body with a part named part of size bytes.
func (f *fixture) upload(query, part string, size int) answer {
	f.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile(part, "photo.jpg")
	if err != nil {
		f.t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte{0xd8}, size))
	_ = mw.Close()
	resp, err := f.srv.Client().Post(f.srv.URL+"/cgi-bin/media/upload?"+query, mw.FormDataContentType(), &buf)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Raw: string(raw)}
	_ = json.Unmarshal(raw, &a)
	return a
}

// TestMediaUpload: the upload reads the multipart body, checks the token
// as any call does, then the type and size, and answers a media_id.
func TestMediaUpload(t *testing.T) {
	f := newFixture(t, Options{TTL: time.Hour, Overlap: time.Minute})
	tok := f.token(f.classic("wxA"))

	a := f.upload("type=image&access_token="+tok, "media", 3<<20)
	var m mediaBody
	if err := json.Unmarshal([]byte(a.Raw), &m); err != nil || a.Status != 200 || m.Type != "image" || len(m.MediaID) != 64 || m.CreatedAt != f.clock.Now().Unix() {
		t.Fatalf("upload: %d %s", a.Status, a.Raw)
	}
	wantErr(t, f.upload("type=image&access_token=95_neverissued", "media", 10), wechat.ErrInvalidCredential)
	wantErr(t, f.upload("type=image", "media", 10), errMissingToken)
	wantErr(t, f.upload("type=movie&access_token="+tok, "media", 10), errInvalidMediaType)
	wantErr(t, f.upload("type=image&access_token="+tok, "file", 10), errMissingMedia)
	wantErr(t, f.upload("type=thumb&access_token="+tok, "media", 64<<10+1), errInvalidMediaSize)
	if a := f.do("POST", "/cgi-bin/media/upload?type=image&access_token="+tok, `{"not":"multipart"}`); a.ErrCode != errMissingMedia {
		t.Errorf("a JSON body: %s", a.Raw)
	}
	if a := f.do("GET", "/cgi-bin/media/upload?type=image&access_token="+tok, ""); a.ErrCode != errRequirePOST {
		t.Errorf("GET: %s", a.Raw)
	}
	if got := f.sim.Calls(EndpointAPI, ""); got != 8 {
		t.Errorf("Calls(api) = %d, want 8", got)
	}

	// Faults of the ordinary API reach it.
	if err := f.sim.Inject(Fault{Endpoint: EndpointAPI, Kind: FaultErrCode, ErrCode: wechat.ErrInvalidCredential, Count: 1}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.upload("type=image&access_token="+tok, "media", 10), wechat.ErrInvalidCredential)
	if a := f.upload("type=voice&access_token="+tok, "media", 10); !strings.Contains(a.Raw, `"media_id"`) {
		t.Errorf("after the fault: %s", a.Raw)
	}
}
