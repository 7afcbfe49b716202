#!/bin/sh
# Checks the Prometheus alert rules and runs their unit tests with promtool
# (Debian and Ubuntu: apt-get install prometheus). Exits non-zero when
# either fails or promtool is missing.
set -eu
dir=${0%/*}
if ! command -v promtool >/dev/null 2>&1; then
	echo "check.sh: promtool not found; install it (Debian: apt-get install prometheus) to check the alert rules" >&2
	exit 2
fi
cd "$dir"
promtool check rules wxtoken-rules.yaml
promtool test rules wxtoken-rules.test.yaml
