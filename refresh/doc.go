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
//
// Every credential family (wxtoken.Family) goes through the same engine: a
// WeCom agent is an app whose id is wxtoken.WeComID, and only upstream.go
// tells the families apart, choosing the upstream call. Where an upstream
// answers the value already held (a stable or WeCom token inside its life,
// a ticket), the answer never extends its expiry, and the tries close in on
// that expiry (schedule.planSame); a WeCom token's successor exists only
// once it expired, so between the end of its handout and the new token
// readers wait for that try (Engine.bridging) rather than get a dead or
// nearly dead token.
//
// A few words the code uses in its comments and names:
//
//   - known: the time up to which the engine knows of every token call that
//     any replica started (now, for a store of its own; see
//     coordinator.known). A call started after it may already have
//     replaced the current token, so handouts count from it.
//   - heard: when the store last confirmed a credential, or every change
//     written before that time (slot.heard, cluster.heardAt); reported as
//     HeardAt in the status.
//   - mintAt: the first token call made since the current access_token was
//     fetched that could have replaced it (Ledger.MintAttemptAt), zero when
//     none was; the token dies an overlap after it at the latest.
//   - ledgerSeen: the last change of an app's bookkeeping that a shared
//     store told of, so that a repeated notice is not read again.
//
// Solo and cluster mode are two values of one coordinator interface
// (coordinator.go): the engine claims a lease, writes under it and follows
// the store the same way in both, and only cluster.go is about other
// replicas.
package refresh
