package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// A credential record is stored in a compact binary form (schema version
// 2 on). At 100,000 apps the JSON form of schema 1 made a 130 MB file,
// every page of which a start reads through the memory mapping (and so
// counts in the process's resident memory), and decoding it was a
// quarter of a restart's CPU time. The binary form is about half the
// size and decodes without reflection.
//
// The form, after its first byte recordBinary:
//
//	uvarint  Version
//	uvarint  TokenVersion
//	time     FetchedAt, ExpiresAt, RefreshAt, CallAttemptAt
//	string   API
//	string   Value
//
// where a time is a varint of Unix seconds and a uvarint of nanoseconds
// (the zero time as the seconds of year 1, as time.Time's own Unix gives
// them), and a string a uvarint length and the bytes. The app id and the
// kind are not repeated: they are the record's key, "appid/kind". A JSON
// record starts with '{', so the two forms cannot be mistaken for each
// other; JSON records are still read.
const recordBinary = 0x01

// maxRecordString bounds a string in a record: a token is a few hundred
// bytes, and a longer length is damage, not data.
const maxRecordString = 1 << 16

// errTruncated is the cause of a record that ends before its fields do.
var errTruncated = errors.New("the record is cut short")

// encodeCredential returns the stored form of c. A time keeps its instant
// only: it is read back in UTC, without a monotonic reading.
func encodeCredential(c wxtoken.Credential) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+4*(binary.MaxVarintLen64+5)+len(c.API)+len(c.Value)+2*3)
	b = append(b, recordBinary)
	b = binary.AppendUvarint(b, c.Version)
	b = binary.AppendUvarint(b, c.TokenVersion)
	for _, t := range [...]time.Time{c.FetchedAt, c.ExpiresAt, c.RefreshAt, c.CallAttemptAt} {
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	b = binary.AppendUvarint(b, uint64(len(c.API)))
	b = append(b, c.API...)
	b = binary.AppendUvarint(b, uint64(len(c.Value)))
	return append(b, c.Value...)
}

// decodeCredential decodes the record stored under key, in either form,
// and checks that it belongs there. The strings of the result are copies,
// so it stays valid after the transaction that owns data ends.
func decodeCredential(key string, data []byte) (wxtoken.Credential, error) {
	if len(data) > 0 && data[0] == '{' {
		return decodeJSONCredential(key, data)
	}
	appID, kind, ok := splitCredentialKey(key)
	if !ok {
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: the key names no app and kind", key)
	}
	if len(data) == 0 || data[0] != recordBinary {
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: not a credential record", key)
	}
	r := recordReader{data: data[1:]}
	c := wxtoken.Credential{AppID: appID, Kind: kind}
	c.Version = r.uvarint()
	c.TokenVersion = r.uvarint()
	c.FetchedAt, c.ExpiresAt, c.RefreshAt, c.CallAttemptAt = r.time(), r.time(), r.time(), r.time()
	c.API = internAPI(r.bytes())
	c.Value = string(r.bytes())
	switch {
	case r.err != nil:
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: %w", key, r.err)
	case len(r.data) > 0:
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: %d bytes after the record", key, len(r.data))
	}
	return c, nil
}

// decodeJSONCredential decodes a record of schema 1 and before.
func decodeJSONCredential(key string, data []byte) (wxtoken.Credential, error) {
	var c wxtoken.Credential
	if err := json.Unmarshal(data, &c); err != nil {
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: %w", key, err)
	}
	if got := wxtoken.CredentialKey(c.AppID, c.Kind); got != key {
		return wxtoken.Credential{}, fmt.Errorf("decode credential %q: the record is for %q", key, got)
	}
	return c, nil
}

// recordVersion returns the Version of a stored record of either form
// without decoding the rest: what Put compares.
func recordVersion(data []byte) (uint64, error) {
	if len(data) > 0 && data[0] == '{' {
		var stored struct {
			Version uint64 `json:"version"`
		}
		err := json.Unmarshal(data, &stored)
		return stored.Version, err
	}
	if len(data) == 0 || data[0] != recordBinary {
		return 0, errors.New("not a credential record")
	}
	r := recordReader{data: data[1:]}
	v := r.uvarint()
	return v, r.err
}

// splitCredentialKey splits "appid/kind" at its last slash: kinds hold
// none, ids may (a WeCom agent's).
func splitCredentialKey(key string) (string, wxtoken.Kind, bool) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return key[:i], internKind(key[i+1:]), true
}

// internKind returns the package's constant for a known kind, so that
// 200,000 decoded records do not each hold a copy of its name.
func internKind(s string) wxtoken.Kind {
	for _, k := range [...]wxtoken.Kind{wxtoken.KindAccessToken, wxtoken.KindJSAPITicket, wxtoken.KindWxCard,
		wxtoken.KindAgentConfig, wxtoken.KindVerifyTicket} {
		if s == string(k) {
			return k
		}
	}
	return wxtoken.Kind(s)
}

// internAPI returns the package's constant for a known token API.
func internAPI(b []byte) wxtoken.TokenAPI {
	for _, a := range [...]wxtoken.TokenAPI{wxtoken.TokenAPIStable, wxtoken.TokenAPIClassic, wxtoken.TokenAPIWeCom,
		wxtoken.TokenAPIComponent, wxtoken.TokenAPIAuthorizer} {
		if string(b) == string(a) {
			return a
		}
	}
	return wxtoken.TokenAPI(b)
}

// recordReader reads the fields of a binary record; the first failure
// sticks in err, and every read after it returns zero.
type recordReader struct {
	data []byte
	err  error
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *recordReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.data)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *recordReader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		r.err = fmt.Errorf("a time's nanoseconds are %d", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// bytes returns the next string's bytes, which alias the record.
func (r *recordReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxRecordString || n > uint64(len(r.data)) {
		r.err = errTruncated
		return nil
	}
	b := r.data[:n]
	r.data = r.data[n:]
	return b
}
