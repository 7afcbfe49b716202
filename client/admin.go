package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/wxtoken/wxtoken"
)

// RekeyResult is what the server's rekey did with the entries of its
// store.
type RekeyResult struct {
	// Resealed entries are now sealed under the primary key.
	Resealed int
	// Current entries were sealed under it already.
	Current int
	// Failed are the ids of the entries still as they were: no key the
	// server has opens them, or they could not be written. The previous
	// key must be kept while any is listed.
	Failed []string
}

// Rekey has the server seal again, under its primary store encryption
// key, every secret in its store sealed under another key. It needs an
// admin key. Once it reports no failure, the previous key can be removed
// from the server's configuration. The request is bounded by the
// client's timeout (WithTimeout); a large store may need more than the
// default.
func (c *Client) Rekey(ctx context.Context) (RekeyResult, error) {
	var a struct {
		Resealed *int      `json:"resealed"`
		Current  *int      `json:"current"`
		Failed   *[]string `json:"failed"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/admin/rekey", nil, nil, &a); err != nil {
		return RekeyResult{}, err
	}
	if a.Resealed == nil || a.Current == nil || a.Failed == nil {
		return RekeyResult{}, malformed("rekey", errors.New("resealed, current or failed missing"))
	}
	return RekeyResult{Resealed: *a.Resealed, Current: *a.Current, Failed: *a.Failed}, nil
}

// Backup writes a consistent copy of the server's store to w, a bbolt
// file with its secrets still sealed, and returns the bytes written. It
// needs an admin key. An error after bytes were written means w holds no
// whole backup: the server drops the connection when the copy fails
// halfway. The whole download is bounded by the client's timeout
// (WithTimeout).
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v1/admin/backup", nil), nil)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/octet-stream")
	req.Header.Set("User-Agent", "wxtoken-client/"+wxtoken.Version)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "cannot reach the wxtoken server at " + c.base.Redacted(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		return 0, decodeError(resp.StatusCode, b)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/octet-stream" {
		// A proxy's page, or a server that does not know the route.
		return 0, malformed("backup", fmt.Errorf("the answer is %q, not application/octet-stream", mt))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, &wxtoken.Error{Code: wxtoken.EUnavailable,
			Message: fmt.Sprintf("the backup stopped after %d bytes: what was received is no backup", n), Err: err}
	}
	return n, nil
}
