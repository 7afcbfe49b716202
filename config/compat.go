package config

import (
	"regexp"
	"strings"
)

// basePathSegmentRe is one segment of compat.base_path: the unreserved
// characters of RFC 3986, so that the path needs no escaping anywhere.
var basePathSegmentRe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// apiRoots are the first path segments of the HTTP API's own routes, which
// the front door must not shadow.
func apiRoots() []string { return []string{"v1", "healthz", "readyz", "metrics"} }

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
	segs := strings.Split(p[1:], "/")
	for _, s := range segs {
		if s == "." || s == ".." || !basePathSegmentRe.MatchString(s) {
			ch.errorf("compat.base_path", `%s is not a clean path: want segments of letters, digits, ".", "_", "~" or "-", such as /wechat`, show(p))
			return
		}
	}
	for _, r := range apiRoots() {
		if segs[0] == r {
			ch.errorf("compat.base_path", "%s would hide the HTTP API's /%s routes: choose another path, such as /wechat", show(p), r)
			return
		}
	}
}
