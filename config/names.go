package config

import "regexp"

// tagRe is a tag of a registered entry, as named in a grant "tag:T".
var tagRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidAppID reports whether s is what wxtoken accepts as an appid (1 to
// 64 letters, digits, "_" or "-"), in the configuration file and in a
// registration alike.
func ValidAppID(s string) bool { return appIDRe.MatchString(s) }

// ValidCorpID reports whether s is what wxtoken accepts as a WeCom corpid.
func ValidCorpID(s string) bool { return corpIDRe.MatchString(s) }

// ValidAgentID reports whether s is what wxtoken accepts as a WeCom
// agentid: WeCom's digits, or a word for a built-in app such as contacts.
func ValidAgentID(s string) bool { return agentIDRe.MatchString(s) }

// ValidTag reports whether s is a tag wxtoken accepts on a registered
// entry and in a grant "tag:T": 1 to 64 letters, digits, ".", "_" or "-".
func ValidTag(s string) bool { return tagRe.MatchString(s) }
