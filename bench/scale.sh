#!/usr/bin/env bash
# wxtoken with many apps: check time, cold start, memory, /metrics, restart
# and idle CPU, for each number of apps given (default: 1000 10000), against
# the simulator. See bench/README.md, "Scale".
#
# Usage: bash bench/scale.sh [N...]
# Settings (environment): PROFILE=DIR runs an instrumented server in place
# of the binary and writes CPU and heap profiles of each phase to DIR;
# IDLE=10s is how long the idle CPU is measured; WORK=DIR keeps the
# configs, secrets, stores and logs there instead of a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/wxtoken" ./cmd/wxtoken
go build -o "$bin/scale" ./bench/cmd/scale
args=(-wxtoken "$bin/wxtoken" -idle "${IDLE:-10s}")
[[ -n ${PROFILE:-} ]] && args+=(-profile "$PROFILE")
[[ -n ${WORK:-} ]] && args+=(-work "$WORK")
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' || echo ' (with changes)'), $(date -u +%Y-%m-%dT%H:%MZ)"
# The machine's load tells how far the wall-clock figures are to be trusted.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/scale" "${args[@]}" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
