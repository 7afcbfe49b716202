package config

import (
	"regexp"
	"strings"
)

// basePathSegmentRe is one segment of compat.base_path: the unreserved
// characters of RFC 3986, so that the path needs no escaping anywhere.
var basePathSegmentRe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

func (ch *checker) compat(c *Config) {
	cp := &c.Compat
	if cp.BasePath == "" {
		return
	}
	if !cp.Enabled {
		ch.warnf("compat.base_path", "ignored unless compat.enabled is true")
	}
	p := cp.BasePath
	switch {
	case len(p) > 128:
		ch.errorf("compat.base_path", "longer than 128 characters")
		return
	case !strings.HasPrefix(p, "/"):
		ch.errorf("compat.base_path", `%s must start with "/" (such as /wechat)`, show(p))
		return
	case p == "/":
		ch.errorf("compat.base_path", `"/" is the default: leave the key out to serve WeChat's paths at the root`)
		return
	case strings.HasSuffix(p, "/"):
		ch.errorf("compat.base_path", `%s must not end with "/"`, show(p))
		return
	}
	for _, s := range strings.Split(p[1:], "/") {
		if s == "." || s == ".." || !basePathSegmentRe.MatchString(s) {
			ch.errorf("compat.base_path", `%s is not a clean path: want segments of letters, digits, ".", "_", "~" or "-", such as /wechat`, show(p))
			return
		}
	}
	// A base path over the HTTP API's routes is refused by
	// server.CheckConfig, which knows them.
}
