package config

import (
	"strings"
	"testing"
)

func TestValidateCompat(t *testing.T) {
	tests := []struct {
		name     string
		compat   string
		err      string // substring of the error; "" means valid
		warn     string // substring of a warning
		basePath string // the parsed base_path, when valid
	}{
		{name: "disabled by default", compat: ""},
		{name: "enabled at the root", compat: "compat: {enabled: true}"},
		{name: "base path", compat: "compat: {enabled: true, base_path: /wechat}", basePath: "/wechat"},
		{name: "nested base path", compat: "compat: {enabled: true, base_path: /api/wx-1.0_~}", basePath: "/api/wx-1.0_~"},
		{name: "base path while disabled", compat: "compat: {base_path: /wechat}", warn: "compat.base_path: ignored unless compat.enabled is true", basePath: "/wechat"},
		{name: "root", compat: "compat: {enabled: true, base_path: /}", err: `compat.base_path: "/" is the default`},
		{name: "relative", compat: "compat: {enabled: true, base_path: wechat}", err: `compat.base_path: "wechat" must start with "/"`},
		{name: "trailing slash", compat: "compat: {enabled: true, base_path: /wechat/}", err: `compat.base_path: "/wechat/" must not end with "/"`},
		{name: "empty segment", compat: "compat: {enabled: true, base_path: /a//b}", err: "compat.base_path:", warn: ""},
		{name: "dot dot", compat: "compat: {enabled: true, base_path: /a/../v1}", err: "is not a clean path"},
		{name: "space", compat: "compat: {enabled: true, base_path: '/we chat'}", err: "is not a clean path"},
		{name: "escape", compat: "compat: {enabled: true, base_path: /we%20chat}", err: "is not a clean path"},
		{name: "query", compat: "compat: {enabled: true, base_path: '/wechat?x=1'}", err: "is not a clean path"},
		{name: "a prefix of an API root is fine", compat: "compat: {enabled: true, base_path: /v10}", basePath: "/v10"},
		{name: "too long", compat: "compat: {enabled: true, base_path: /" + strings.Repeat("a", 128) + "}", err: "compat.base_path: longer than 128 characters"},
		{name: "unknown key", compat: "compat: {enabled: true, prefix: /wechat}", err: "compat.prefix: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]string{"compat": tt.compat}
			cfg, err := Parse([]byte(build(set)), t.TempDir(), defaultEnv())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if cfg.Compat.BasePath != tt.basePath {
				t.Errorf("base_path %q, want %q", cfg.Compat.BasePath, tt.basePath)
			}
			warnings := strings.Join(cfg.Warnings, "\n")
			if tt.warn != "" && !strings.Contains(warnings, tt.warn) {
				t.Errorf("warnings %q lack %q", cfg.Warnings, tt.warn)
			}
			if tt.warn == "" && warnings != "" {
				t.Errorf("unexpected warnings %q", cfg.Warnings)
			}
		})
	}
}
