// Package refresh is the credential engine: it keeps every configured app's
// access_token and tickets fresh, serves them without waiting on the
// network while they are valid, and coalesces every reason to call WeChat —
// cold start, proactive refresh, a caller's compare-and-refresh report — into
// one upstream call per credential.
//
// A credential is fresh until its planned refresh time, stale after it
// (still served while a refresh runs), and invalid once what remains of its
// life no longer covers the safety margin; only then does a reader wait.
// One scheduler goroutine drives every credential of every app, and a rate
// limiter spreads upstream calls so that a cold start of many apps never
// bursts. Failures are handled by the error policy of the wechat package:
// transient ones back off with jitter, the others hold calls back for the
// time their class implies, and the cached credential is served until its
// own expiry whatever happens.
package refresh
