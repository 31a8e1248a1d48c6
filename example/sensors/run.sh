#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the sensors example briefly: the hub for 2 s, a balance loop on the IMU (1 kHz) and an
# obstacle-avoidance loop on the lidar (20 Hz), both waiting for updates instead of polling.
#   usage: run.sh HUB CONTROL [SECONDS]
set -uo pipefail
hub=$1; control=$2; seconds=${3:-2}
name="venom_robot_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
"$hub" "$name" "$seconds" >"$out/hub.txt" 2>&1 & hub_pid=$!
"$control" balance "$name" $((seconds + 5)) >"$out/balance.txt" 2>&1 & b=$!
"$control" avoid "$name" $((seconds + 5)) >"$out/avoid.txt" 2>&1 & a=$!
fail=0
wait $b || { echo "the balance loop failed"; fail=1; }
wait $a || { echo "the avoid loop failed"; fail=1; }
wait $hub_pid || { echo "the hub exited with an error"; fail=1; }
cat "$out"/hub.txt "$out"/balance.txt "$out"/avoid.txt
grep -q '^balance: [1-9][0-9]* readings' "$out/balance.txt" || { echo "the balance loop read nothing"; fail=1; }
grep -q '^avoid: [1-9][0-9]* readings' "$out/avoid.txt" || { echo "the avoid loop read nothing"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "sensors: OK" || { echo "sensors: FAILED"; exit 1; }
