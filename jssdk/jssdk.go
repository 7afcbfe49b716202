// Package jssdk computes the signatures WeChat's web JS-SDK checks: the
// wx.config signature over a page URL with the app's jsapi_ticket, and the
// card signatures (cardExt for addCard, cardSign for chooseCard) made with
// the wx_card api_ticket; and for a WeCom agent's page, the wx.config
// signature with the corp's jsapi ticket and the wx.agentConfig signature
// with the agent's agent_config ticket (NewWeComConfig).
//
// WeChat recomputes each signature from the same raw values, so nothing
// here escapes, trims or re-encodes what it signs: a URL that differs from
// the page's location.href by one byte yields "invalid signature".
package jssdk

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// MaxURLLength bounds the page URLs NormalizeURL accepts. Real pages are
// far shorter; the cap keeps a caller from making the server hash and echo
// megabytes.
const MaxURLLength = 4096

// NonceLength is the length of the nonces Nonce returns.
const NonceLength = 16

// Config is the object a page passes to wx.config: the values that were
// signed, with the signature, ready to be sent as JSON.
type Config struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	// URL is the page URL that was signed (fragment removed), so the page
	// can check it is the one it runs at.
	URL string `json:"url"`
}

// NewConfig signs pageURL for wx.config with the app's jsapi_ticket, a
// fresh nonce and now's Unix time. A pageURL that NormalizeURL rejects
// yields a *wxtoken.Error with code EInvalid.
func NewConfig(appID, ticket, pageURL string, now time.Time) (Config, error) {
	if appID == "" || ticket == "" {
		return Config{}, fmt.Errorf("jssdk: appid and ticket are required")
	}
	u, err := NormalizeURL(pageURL)
	if err != nil {
		return Config{}, err
	}
	nonce, err := Nonce()
	if err != nil {
		return Config{}, err
	}
	ts := now.Unix()
	return Config{
		AppID:     appID,
		Timestamp: ts,
		NonceStr:  nonce,
		Signature: Sign(ticket, nonce, ts, u),
		URL:       u,
	}, nil
}

// Sign returns the wx.config signature: the lower-case hex SHA-1 of
// "jsapi_ticket=T&noncestr=N&timestamp=S&url=U", the fields in ASCII order
// of their names and the values raw. pageURL must already be normalized.
func Sign(ticket, nonceStr string, timestamp int64, pageURL string) string {
	s := "jsapi_ticket=" + ticket +
		"&noncestr=" + nonceStr +
		"&timestamp=" + strconv.FormatInt(timestamp, 10) +
		"&url=" + pageURL
	return sha1Hex(s)
}

// NormalizeURL returns the part of a page URL that wx.config signs: the
// URL up to, not including, the first "#". It must be an absolute http or
// https URL with a host, at most MaxURLLength bytes, in the percent-encoded
// ASCII form browsers give location.href. Everything before the fragment is kept exactly as
// given, since WeChat signs the page's own location.href. Rejections are
// *wxtoken.Error values with code EInvalid.
func NormalizeURL(raw string) (string, error) {
	if raw == "" {
		return "", invalidURL("is required")
	}
	if len(raw) > MaxURLLength {
		return "", invalidURL(fmt.Sprintf("is longer than %d bytes", MaxURLLength))
	}
	// A browser's location.href is ASCII: spaces, controls and non-ASCII
	// characters are percent-encoded, and hosts are punycode. A URL holding
	// them cannot match what the page signs against, so say so now rather
	// than let wx.config fail with "invalid signature".
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "", invalidURL("must be ASCII without spaces or control characters: send the page's location.href, which is percent-encoded")
	}
	page, _, _ := strings.Cut(raw, "#")
	u, err := url.Parse(page)
	switch {
	case err != nil:
		return "", invalidURL("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", invalidURL("must be an absolute http or https URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", invalidURL("must have a host")
	}
	return page, nil
}

func invalidURL(problem string) error {
	return wxtoken.Errorf(wxtoken.EInvalid, "url %s", problem)
}

// nonceAlphabet is the characters of a nonce: letters and digits are safe
// unescaped in JSON, HTML attributes and URLs alike.
const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Nonce returns NonceLength random letters and digits from the system's
// CSPRNG, each equally likely.
func Nonce() (string, error) {
	// Bytes at or above the largest multiple of the alphabet size are
	// dropped, so that the modulo below does not favour the first letters.
	const limit = 256 - 256%len(nonceAlphabet)
	out := make([]byte, 0, NonceLength)
	buf := make([]byte, 2*NonceLength)
	for len(out) < NonceLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("jssdk: nonce: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < NonceLength {
				out = append(out, nonceAlphabet[int(b)%len(nonceAlphabet)])
			}
		}
	}
	return string(out), nil
}

// CardExtSign returns the signature of an addCard cardExt: the SHA-1 hex
// of the non-empty values among the arguments, sorted as strings and
// concatenated. apiTicket is the app's wx_card api_ticket; code and openID
// are empty when the card does not bind them.
func CardExtSign(apiTicket, timestamp, cardID, code, openID, nonceStr string) string {
	return sortedValuesSign(apiTicket, timestamp, cardID, code, openID, nonceStr)
}

// CardSign returns the signature for chooseCard, made like CardExtSign
// over the non-empty values among the arguments.
func CardSign(apiTicket, appID, locationID, timestamp, nonceStr, cardID, cardType string) string {
	return sortedValuesSign(apiTicket, appID, locationID, timestamp, nonceStr, cardID, cardType)
}

// sortedValuesSign is the card signature scheme: field names play no part,
// only the present values, in byte order.
func sortedValuesSign(values ...string) string {
	present := make([]string, 0, len(values))
	for _, v := range values {
		if v != "" {
			present = append(present, v)
		}
	}
	sort.Strings(present)
	return sha1Hex(strings.Join(present, ""))
}

func sha1Hex(s string) string {
	// SHA-1 is WeChat's choice, not ours: the signature only has to match
	// the one WeChat computes.
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
