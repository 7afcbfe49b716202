// Package wechat is the client for WeChat's credential endpoints:
// GET /cgi-bin/token, POST /cgi-bin/stable_token, GET
// /cgi-bin/ticket/getticket, and /cgi-bin/get_api_domain_ip as a cheap probe
// of a token; WeCom's gettoken and tickets; and the open platform's
// component calls (component.go) for third-party platforms and the
// accounts that authorized them. It parses answers strictly, so that nothing but a well-formed
// credential is ever returned as one, and it classifies every failure —
// WeChat's errcodes and the transport's — into the classes of the error
// policy, each with the earliest time a retry makes sense.
package wechat
