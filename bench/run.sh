#!/usr/bin/env bash
# Throughput of wxtoken's authenticated GET /v1/apps/{appid}/access_token
# against a minimal net/http handler that answers the same JSON body, both
# served by bench/cmd/benchserver on this machine, measured with wrk in the
# same run. See bench/README.md.
#
# Settings (environment): CONNS=32 DURATION=4s WARMUP=3s ROUNDS=8
# PIN=auto|0|1 (taskset wrk to CPU 0 and the servers to the other CPUs;
# auto pins when there are 2 CPUs or more) THREADS (wrk threads; default 1
# when wrk is pinned to its one CPU, else 2)
# WX_ADDR=127.0.0.1:18081 BASE_ADDR=127.0.0.1:18082
# QUIET_PCT=15 QUIET_WAIT=30 (before each run, wait up to QUIET_WAIT s for
# a second in which other processes use under QUIET_PCT % of a CPU and the
# hypervisor steals under STEAL_MAX % of one) OTHER_MAX=10 STEAL_MAX=3
# RETRIES=6 (run a round again, RETRIES times at most in all, when other
# processes took more than OTHER_MAX % of a CPU during it, or the
# hypervisor stole more than STEAL_MAX %: on a shared virtual machine,
# steal comes in bursts that slow one run and not the next)
# COMPARE=handler (the default) measures wxtoken on the memory store
# against the constant handler; COMPARE=cluster measures wxtoken on Redis
# (cluster mode, the Redis of REDIS=127.0.0.1:6379) against wxtoken on the
# embedded bolt store: what cluster mode costs a read.
# MIN_RATIO=0.9 MAX_P99_RATIO=1.2 are the targets the summary checks (in
# the default comparison), on the medians of the rounds' ratios: wxtoken's
# req/s at least MIN_RATIO of the baseline's, and its p99 at most
# MAX_P99_RATIO of the baseline's. Each round runs both targets back to
# back, so a round's ratio compares runs under the same conditions, and
# the median leaves out the rounds that a burst of load elsewhere hit.
# PROFILE=1 adds a CPU profile of benchserver under wrk load, one per
# target (a fresh benchserver each), with `go tool pprof -top` of them and
# a table of server CPU per request by function, in the results folder.
set -euo pipefail

CONNS=${CONNS:-32}
COMPARE=${COMPARE:-handler}
REDIS=${REDIS:-127.0.0.1:6379}
case $COMPARE in
handler) server_flags=() ;;
cluster) server_flags=(--store redis --redis "$REDIS" --baseline-store bolt) ;;
*) echo "run.sh: COMPARE=$COMPARE: want handler or cluster" >&2; exit 2 ;;
esac
DURATION=${DURATION:-4s}
WARMUP=${WARMUP:-3s}
ROUNDS=${ROUNDS:-8}
PIN=${PIN:-auto}
PROFILE=${PROFILE:-0}
MIN_RATIO=${MIN_RATIO:-0.9}
MAX_P99_RATIO=${MAX_P99_RATIO:-1.2}
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-30}
OTHER_MAX=${OTHER_MAX:-10}
STEAL_MAX=${STEAL_MAX:-3}
RETRIES=${RETRIES:-6}
WX_ADDR=${WX_ADDR:-127.0.0.1:18081}
BASE_ADDR=${BASE_ADDR:-127.0.0.1:18082}

for a in "$WX_ADDR" "$BASE_ADDR"; do
	case $a in
	127.*:*) ;;
	*) echo "run.sh: $a: only loopback addresses (127.x.x.x:port) are benchmarked" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
results=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$results"
work=$(mktemp -d)
server_pid=

stop_server() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		# Serve lets requests in flight finish for up to 10 s.
		for _ in $(seq 150); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# wrk from Debian's packages.
if ! command -v wrk >/dev/null; then
	sudo=
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	echo "== installing wrk (apt-get)"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi

# CPU placement: with 2 or more CPUs, wrk gets CPU 0 and the servers the
# others, for the baseline and wxtoken alike, so that the load generator
# does not take CPU time from the server it measures.
ncpu=$(nproc)
if [[ $PIN == auto ]]; then
	if [[ $ncpu -ge 2 ]]; then PIN=1; else PIN=0; fi
fi
wrk_cpu=() server_cpu=()
if [[ $PIN == 1 ]]; then
	command -v taskset >/dev/null || { echo "run.sh: PIN=1 needs taskset (util-linux)" >&2; exit 2; }
	wrk_cpu=(taskset -c 0)
	server_cpu=(taskset -c "1-$((ncpu - 1))")
	# A second wrk thread on wrk's one CPU only adds context switches.
	THREADS=${THREADS:-1}
fi
THREADS=${THREADS:-2}

echo "== building benchserver"
go build -o "$work/benchserver" ./bench/cmd/benchserver

# start_server [flags...]: starts benchserver and reads its key and URLs.
start_server() {
	"${server_cpu[@]}" "$work/benchserver" --listen "$WX_ADDR" --baseline "$BASE_ADDR" "${server_flags[@]}" "$@" \
		>"$work/server.out" 2>"$results/benchserver.stderr" &
	server_pid=$!
	for _ in $(seq 100); do
		grep -qx ready "$work/server.out" && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$results/benchserver.stderr" >&2; exit 1; }
		sleep 0.1
	done
	grep -qx ready "$work/server.out" || { echo "run.sh: benchserver did not start" >&2; exit 1; }
	field() { awk -v k="$1" '$1 == k { print $2 }' "$work/server.out"; }
	KEY=$(field key)
	TOKEN_URL=$(field token_url)
	BASELINE_URL=$(field baseline_url)
	BODY_BYTES=$(field body_bytes)
	GOMAXPROCS_SEEN=$(field gomaxprocs)
	STORE=$(field store)
	BASELINE_STORE=$(field baseline_store)
}

# bench NAME OUTFILE DURATION: one wrk run against target NAME.
bench() {
	local name=$1 out=$2 dur=$3 url hdr
	# Both servers get the very same request: path and Authorization
	# header (which the baseline ignores), so that only the handlers differ.
	hdr=(-H "Authorization: Bearer $KEY")
	case $name in
	baseline) url=$BASELINE_URL ;;
	wxtoken) url=$TOKEN_URL ;;
	esac
	quiet
	local t0 s0 st0 TIMEFORMAT='# wrk_cpu_s %U %S'
	t0=$(ticks) s0=$(jiffies) st0=$(steal)
	{
		# The key is left out of the record.
		echo "# ${wrk_cpu[*]} wrk -t$THREADS -c$CONNS -d$dur --latency -H 'Authorization: Bearer <key>' $url"
		time timeout 120 "${wrk_cpu[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency "${hdr[@]}" "$url"
	} >"$out" 2>&1
	echo "# cpu_ticks $(($(ticks) - t0))" >>"$out"
	echo "# all_ticks $(($(jiffies) - s0))" >>"$out"
	echo "# steal_ticks $(($(steal) - st0))" >>"$out"
	echo "# quiet_before $QUIET_SEEN" >>"$out"
	if grep -q 'Non-2xx or 3xx responses' "$out"; then
		echo "run.sh: $name answered errors; see $out" >&2
		exit 1
	fi
}

# jiffies: user, nice and system time of all CPUs, in clock ticks.
jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 }' /proc/stat; }
# steal: time the hypervisor ran something else while a CPU of this
# machine wanted to run, all CPUs, in clock ticks.
steal() { awk '$1 == "cpu" { print $9 }' /proc/stat; }
# quiet waits, up to QUIET_WAIT seconds, for a second in which processes
# other than benchserver used under QUIET_PCT % of one CPU and steal was
# under STEAL_MAX %, and records in QUIET_SEEN what the last second showed.
# Other work on the machine (a build, another test run) or on its host
# skews a run; this keeps it out where it can.
quiet() {
	local deadline=$((SECONDS + QUIET_WAIT)) a b s st hz
	hz=$(getconf CLK_TCK)
	while :; do
		a=$(jiffies) s=$(ticks) st=$(steal)
		sleep 1
		b=$(jiffies)
		QUIET_SEEN=$(((b - a) - ($(ticks) - s)))
		QUIET_SEEN=$((QUIET_SEEN * 100 / hz))
		st=$((($(steal) - st) * 100 / hz))
		[[ ($QUIET_SEEN -lt $QUIET_PCT && $st -lt $STEAL_MAX) || $SECONDS -ge $deadline ]] && break
	done
	QUIET_SEEN="$QUIET_SEEN (steal $st)"
}
# other_pct: CPU used during the run by processes other than benchserver
# and wrk, in % of one CPU (approximate: 1-tick resolution per process).
other_pct() {
	awk -v hz="$(getconf CLK_TCK)" '
		$2 == "cpu_ticks" { srv = $3 } $2 == "all_ticks" { all = $3 }
		$2 == "wrk_cpu_s" { w = ($3 + $4) * hz } /^Requests\/sec:/ { ok = 1 }
		/ requests in / { d = $4; sub(/s,?$/, "", d) }
		END { if (ok && d > 0) { o = (all - srv - w) / hz / d * 100; printf "%.0f", (o < 0) ? 0 : o } }' "$1"
}
# steal_pct: steal during the run, in % of one CPU.
steal_pct() {
	awk -v hz="$(getconf CLK_TCK)" '$2 == "steal_ticks" { st = $3 } / requests in / { d = $4; sub(/s,?$/, "", d) }
		END { if (d > 0) printf "%.0f", st / hz / d * 100 }' "$1"
}
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
# Server CPU time per request in microseconds: benchserver's user+system
# time over the run (recorded by bench as a "# cpu_ticks" line) divided by
# the requests wrk completed.
cpu_us() {
	awk -v hz="$(getconf CLK_TCK)" '$2 == "cpu_ticks" { t = $3 } / requests in / { n = $1 }
		END { if (n > 0) printf "%.1f", t * 1e6 / hz / n }' "$1"
}
ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
# p99 in milliseconds, from wrk's latency distribution.
p99() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		m = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
		printf "%.3f", v * m }' "$1"
}

start_server
echo "== servers up: wxtoken $TOKEN_URL, baseline $BASELINE_URL ($BODY_BYTES-byte body, GOMAXPROCS $GOMAXPROCS_SEEN)"
[[ $PIN == 1 ]] && echo "== pinned: wrk on CPU 0, servers on CPUs 1-$((ncpu - 1))"

echo "== warming up ($WARMUP each)"
bench baseline "$results/warmup-baseline.txt" "$WARMUP"
bench wxtoken "$results/warmup-wxtoken.txt" "$WARMUP"

# Rounds alternate the order (baseline first, then wxtoken first, ...), so
# that neither target always runs on a machine warmed by the other. A round
# in which other processes took more than OTHER_MAX % of a CPU, or steal
# was over STEAL_MAX %, is run again,
# up to RETRIES times in all; the disturbed runs are kept as *-disturbed-*.
retries=0
for r in $(seq "$ROUNDS"); do
	order="baseline wxtoken"
	[[ $((r % 2)) -eq 0 ]] && order="wxtoken baseline"
	while :; do
		worst=0 worst_steal=0
		for t in $order; do
			echo "== round $r: $t (wrk -t$THREADS -c$CONNS -d$DURATION)"
			f=$results/$t-$r.txt
			bench "$t" "$f" "$DURATION"
			o=$(other_pct "$f") st=$(steal_pct "$f")
			[[ $o -gt $worst ]] && worst=$o
			[[ $st -gt $worst_steal ]] && worst_steal=$st
			printf '   %s req/s, p99 %s ms, server CPU %s us/req, other processes %s%% of a CPU, steal %s%%\n' \
				"$(rps "$f")" "$(p99 "$f")" "$(cpu_us "$f")" "$o" "$st"
		done
		[[ ($worst -le $OTHER_MAX && $worst_steal -le $STEAL_MAX) || $retries -ge $RETRIES ]] && break
		retries=$((retries + 1))
		echo "   other processes took $worst% of a CPU, steal $worst_steal%: round $r again"
		for t in $order; do mv "$results/$t-$r.txt" "$results/$t-$r-disturbed-$retries.txt"; done
	done
done
stop_server

{
	echo "machine: $ncpu CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(go version | awk '{ print $3 }'), $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }')"
	echo "targets: wxtoken on the $STORE store; baseline: $([[ $BASELINE_STORE == handler ]] && echo "a constant JSON handler" || echo "wxtoken on the $BASELINE_STORE store")"
	echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]] && echo ' with local changes')"
	if [[ $PIN == 1 ]]; then
		echo "placement: wrk on CPU 0, servers on CPUs 1-$((ncpu - 1)) (GOMAXPROCS $GOMAXPROCS_SEEN)"
	else
		echo "placement: not pinned (GOMAXPROCS $GOMAXPROCS_SEEN)"
	fi
	echo "load: wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS rounds alternating targets (ABBA order), after a $WARMUP warm-up of each"
	echo "other %: CPU used by other processes during the run, steal %: CPU time the hypervisor stole, each in % of one CPU; $retries round(s) run again for more than $OTHER_MAX% other or $STEAL_MAX% steal"
	echo
	printf '%-6s %-9s %10s %8s %12s %8s %8s\n' round target 'req/s' 'p99 ms' 'CPU us/req' 'other %' 'steal %'
	for r in $(seq "$ROUNDS"); do
		for t in baseline wxtoken; do
			f=$results/$t-$r.txt
			printf '%-6s %-9s %10.0f %8s %12s %8s %8s\n' "$r" "$t" "$(rps "$f")" "$(p99 "$f")" "$(cpu_us "$f")" "$(other_pct "$f")" "$(steal_pct "$f")"
		done
		printf '%-6s %-9s %10.3f\n' "$r" ratio "$(awk -v w="$(rps "$results/wxtoken-$r.txt")" -v b="$(rps "$results/baseline-$r.txt")" 'BEGIN { print w / b }')"
	done
	echo
	for t in baseline wxtoken; do
		for r in $(seq "$ROUNDS"); do
			f=$results/$t-$r.txt
			echo "$(rps "$f") $(p99 "$f") $(cpu_us "$f")"
		done | sort -k2,2g | awk -v t="$t" '{ s += $1; c += $3; p[NR] = $2 }
			END { m = (NR % 2) ? p[(NR + 1) / 2] : (p[NR / 2] + p[NR / 2 + 1]) / 2
				printf "%-9s mean %.0f req/s, p99 median %.3f ms (worst %.3f), %.1f us server CPU/req\n", t, s / NR, m, p[NR], c / NR }'
	done
	# One line per round: req/s and p99 of each target.
	for r in $(seq "$ROUNDS"); do
		echo "$(rps "$results/baseline-$r.txt") $(rps "$results/wxtoken-$r.txt") $(p99 "$results/baseline-$r.txt") $(p99 "$results/wxtoken-$r.txt")"
	done | awk -v targets="$([[ $COMPARE == handler ]] && echo 1 || echo 0)" -v min_ratio="$MIN_RATIO" -v max_p99="$MAX_P99_RATIO" '
		function median(a, n, i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ b += $1; w += $2; q[NR] = $2 / $1; pb[NR] = $3; pw[NR] = $4; pq[NR] = $4 / $3 }
		END {
			n = NR; ratio = w / b; mq = median(q, n); p99b = median(pb, n); p99w = median(pw, n); p99r = p99w / p99b; mpq = median(pq, n)
			printf "ratio     wxtoken / baseline req/s: %.3f, the median of the rounds (range %.3f-%.3f); %.3f of the mean req/s\n", mq, q[1], q[n], ratio
			printf "p99 ratio wxtoken / baseline p99: %.3f, the median of the rounds (range %.3f-%.3f); %.3f of the median p99s (%.3f / %.3f ms)\n", mpq, pq[1], pq[n], p99r, p99w, p99b
			if (targets) {
				ok = mq >= min_ratio && mpq <= max_p99
				printf "targets   ratio >= %s: %s; p99 ratio <= %s: %s; %s\n", min_ratio, (mq >= min_ratio) ? "met" : "NOT met",
					max_p99, (mpq <= max_p99) ? "met" : "NOT met", ok ? "both met" : "NOT MET"
			}
		}'
} | tee "$results/summary.txt"

# per_request: server CPU per request, in microseconds, of the functions
# that tell wxtoken's costs from the baseline's (cumulative: a function's
# time includes its callees'), from the two profiles.
per_request() {
	local t n
	for t in wxtoken baseline; do
		n=$(cat "$results/profile-warmup-$t.txt" "$results/profile-$t.txt" | awk '/ requests in / { s += $1 } END { print s }')
		go tool pprof -top -cum -nodefraction=0 -edgefraction=0 -nodecount=100000 \
			"$results/benchserver" "$results/cpu-$t.pprof" 2>/dev/null |
			awk -v t="$t" -v n="$n" '
				function sec(v) { u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
					return v * ((u == "ns") ? 1e-9 : (u == "us") ? 1e-6 : (u == "ms") ? 1e-3 : (u == "min") ? 60 : (u == "s") ? 1 : 0) }
				$2 ~ /%$/ && $5 ~ /%$/ { name = $6; for (i = 7; i <= NF; i++) name = name " " $i
					print t, sec($4) / n * 1e6, sec($1) / n * 1e6, name }'
	done | awk '
		{ name = $4; for (i = 5; i <= NF; i++) name = name " " $i
		  cum[$1, name] = $2; flat[$1] += $3; seen[name] = 1 }
		END {
			printf "%-58s %9s %9s\n", "server CPU per request (us), cumulative", "wxtoken", "baseline"
			printf "%-58s %9.2f %9.2f\n", "all samples", flat["wxtoken"], flat["baseline"]
			split("net/http.(*conn).serve|net/http.(*conn).readRequest|net/http.readRequest|net/http.(*conn).readRequest.func1|net/http.serverHandler.ServeHTTP|net/http.(*ServeMux).ServeHTTP|net/http.(*ServeMux).findHandler|github.com/wxtoken/wxtoken/httpapi.(*KeyRing).lookup|github.com/wxtoken/wxtoken/httpapi.(*Handler).serveGrant|github.com/wxtoken/wxtoken/httpapi.(*grantAnswers).body|github.com/wxtoken/wxtoken/refresh.(*Engine).Credential|github.com/wxtoken/wxtoken/httpapi.(*exchange).WriteHeader (inline)|github.com/wxtoken/wxtoken/httpapi.(*Handler).finish|github.com/wxtoken/wxtoken/metrics.(*RouteMetrics).Observe|net/http.Header.Set (inline)|net/http.(*response).finishRequest|net/http.Header.writeSubset|syscall.write|syscall.read|internal/poll.setDeadlineImpl|runtime.mallocgc|runtime.gcBgMarkWorker|runtime.gcAssistAlloc|runtime.schedule", k, "|")
			for (i = 1; i in k; i++)
				printf "%-58s %9.2f %9.2f\n", substr(k[i], 1, 58), cum["wxtoken", k[i]], cum["baseline", k[i]]
		}'
}

if [[ $PROFILE == 1 ]]; then
	# One benchserver per target, so that each profile holds one target's
	# load only (its warm-up and its run).
	cp "$work/benchserver" "$results/benchserver"
	for t in wxtoken baseline; do
		echo "== profiling benchserver under load on $t ($WARMUP + $DURATION)"
		start_server --cpuprofile "$results/cpu-$t.pprof"
		bench "$t" "$results/profile-warmup-$t.txt" "$WARMUP"
		bench "$t" "$results/profile-$t.txt" "$DURATION"
		stop_server
		pprof=(go tool pprof -nodecount=60 "$results/benchserver" "$results/cpu-$t.pprof")
		"${pprof[@]}" -top >"$results/pprof-$t-top.txt" 2>/dev/null
		"${pprof[@]}" -top -cum >"$results/pprof-$t-cum.txt" 2>/dev/null
		printf '   %s req/s under the profiler; %s/pprof-%s-{top,cum}.txt\n' \
			"$(rps "$results/profile-$t.txt")" "$results" "$t"
	done
	per_request >"$results/pprof-per-request.txt"
	cat "$results/pprof-per-request.txt"
	# Where wxtoken's handler spends its time, within the handler only.
	go tool pprof -top -cum -nodecount=60 -focus='httpapi\.\(\*Handler\)\.ServeHTTP' \
		"$results/benchserver" "$results/cpu-wxtoken.pprof" >"$results/pprof-wxtoken-handler.txt" 2>/dev/null
fi
echo "== raw wrk output in $results"
