package compat

import (
	"net/url"
	"strings"
)

// tokenParam is the query parameter in which WeChat's API takes the
// access_token.
const tokenParam = "access_token"

// queryKey returns the decoded name of one key=value part of a raw query.
// A name that does not decode is taken as written, which is what a server
// that cannot decode it would see too.
func queryKey(part string) (key, value string) {
	key, value, _ = strings.Cut(part, "=")
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	return key, value
}

// findToken returns the access_token parameter of a raw query: its decoded
// value, whether there is one, and whether there are several with
// different values, which could make wxtoken check one token and the
// upstream use another.
func findToken(raw string) (value string, found, conflict bool) {
	return findParam(raw, tokenParam)
}

// findParam is findToken for any parameter name.
func findParam(raw, name string) (value string, found, conflict bool) {
	for part := range strings.SplitSeq(raw, "&") {
		key, v := queryKey(part)
		if key != name {
			continue
		}
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
		if found && v != value {
			return "", true, true
		}
		value, found = v, true
	}
	return value, found, false
}

// withToken returns raw with its access_token parameters replaced by one
// holding token, in the place of the first, or appended when there was
// none. Every other part of the query is kept byte for byte, in its order,
// so that the upstream sees what the caller sent.
func withToken(raw, token string) string {
	return withParam(raw, tokenParam, token)
}

// withParam is withToken for any parameter name.
func withParam(raw, name, value string) string {
	param := url.QueryEscape(name) + "=" + url.QueryEscape(value)
	if raw == "" {
		return param
	}
	var b strings.Builder
	b.Grow(len(raw) + len(param))
	placed := false
	first := true
	for part := range strings.SplitSeq(raw, "&") {
		if key, _ := queryKey(part); key == name {
			if placed {
				continue
			}
			part, placed = param, true
		}
		if !first {
			b.WriteByte('&')
		}
		b.WriteString(part)
		first = false
	}
	if !placed {
		if !first {
			b.WriteByte('&')
		}
		b.WriteString(param)
	}
	return b.String()
}

// queryValue returns the first value of key in a raw query, decoded, and
// whether the key is there. Parts that do not decode are skipped, as
// url.ParseQuery skips them.
func queryValue(raw, key string) (string, bool) {
	for part := range strings.SplitSeq(raw, "&") {
		k, v := queryKey(part)
		if k != key {
			continue
		}
		d, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return d, true
	}
	return "", false
}
