#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the sidecar example briefly: the key-value service and three clients at once, each
# writing and verifying its own keys and then its peers'.
#   usage: run.sh SERVICE CLIENT [KEYS]
set -uo pipefail
service=$1; client=$2; keys=${3:-2000}
name="venom_kv_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
# The service stops itself after 120 s at the latest: a bound, not the run time (the clients
# finish in about a second on a quiet machine, far later on one busy with a parallel build).
"$service" "$name" 120 >"$out/service.txt" 2>&1 & service_pid=$!
"$client" "$name" alice "$keys" bob carol >"$out/alice.txt" 2>&1 & a=$!
"$client" "$name" bob "$keys" alice carol >"$out/bob.txt" 2>&1 & b=$!
"$client" "$name" carol "$keys" alice bob >"$out/carol.txt" 2>&1 & c=$!
fail=0
for p in $a $b $c; do wait $p || fail=1; done
kill -TERM $service_pid
wait $service_pid || { echo "the service exited with an error"; fail=1; }
cat "$out"/service.txt "$out"/alice.txt "$out"/bob.txt "$out"/carol.txt
[ "$(grep -c "peer keys verified" "$out"/alice.txt "$out"/bob.txt "$out"/carol.txt | awk -F: '{s+=$2} END {print s}')" = 3 ] || { echo "a client did not finish"; fail=1; }
grep -q "stopped; $((3 * keys + 3)) keys" "$out/service.txt" || { echo "the service does not hold $((3 * keys + 3)) keys"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "sidecar: OK" || { echo "sidecar: FAILED"; exit 1; }
