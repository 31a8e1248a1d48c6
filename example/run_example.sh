#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the example: one daemon, three shells at once; checks every shell got its pong and that
# the daemon stopped cleanly and removed its channel.  usage: run_example.sh DAEMON SHELL [PINGS]
set -euo pipefail
daemon_bin=$1; shell_bin=$2; pings=${3:-20000}
name="venom_demo_$$"
# The daemon stops itself after 120 s at the latest (a bound, not the expected run time: the
# shells finish in a second on a quiet machine; a loaded one, e.g. a parallel build, is slower).
"$daemon_bin" "$name" 120 & dpid=$!
trap 'kill -9 $dpid 2>/dev/null || true; rm -f /dev/shm/venom.$name.*' EXIT
out=$(mktemp -d)
for i in 1 2 3; do "$shell_bin" "$name" "$pings" > "$out/shell$i.txt" 2>&1 & done
fail=0
for job in $(jobs -p); do [ "$job" = "$dpid" ] && continue; wait "$job" || fail=1; done
cat "$out"/shell*.txt
kill -TERM $dpid
wait $dpid || { echo "daemon exited with an error"; fail=1; }
[ "$(grep -c 'ping -> pong' "$out"/shell*.txt | awk -F: '{s+=$2} END {print s}')" = 3 ] || { echo "missing pong"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
rm -rf "$out"
[ $fail = 0 ] && echo "example: OK" || { echo "example: FAILED"; exit 1; }
