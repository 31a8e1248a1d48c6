#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the market-data example briefly: a feed at 100k ticks/s for 2 s and two strategies.
#   usage: run.sh FEED STRATEGY [SECONDS]
set -uo pipefail
feed=$1; strategy=$2; seconds=${3:-2}
name="venom_market_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
"$feed" "$name" "$seconds" 100000 >"$out/feed.txt" 2>&1 & feed_pid=$!
"$strategy" "$name" $((seconds + 5)) >"$out/s1.txt" 2>&1 & s1=$!
"$strategy" "$name" $((seconds + 5)) >"$out/s2.txt" 2>&1 & s2=$!
fail=0
wait $s1 || fail=1
wait $s2 || fail=1
wait $feed_pid || { echo "feed exited with an error"; fail=1; }
cat "$out"/feed.txt "$out"/s1.txt "$out"/s2.txt
[ "$(grep -c 'tick-to-order  p50' "$out"/s*.txt | awk -F: '{s+=$2} END {print s}')" = 2 ] || { echo "missing latency report"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "market_data: OK" || { echo "market_data: FAILED"; exit 1; }
