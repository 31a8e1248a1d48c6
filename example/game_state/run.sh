#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the game example briefly: physics at 120 Hz for 3 s, an AI shell and a network shell;
# after 1 s the network shell is killed (SIGKILL) and a new one connects in its place. The
# physics daemon's ticks per second must stay at 120 (here: at least 100, on a busy machine).
#   usage: run.sh PHYSICS AI NETWORK [SECONDS]
set -uo pipefail
physics=$1; ai=$2; network=$3; seconds=${4:-3}
name="venom_game_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
"$physics" "$name" "$seconds" >"$out/physics.txt" 2>&1 & physics_pid=$!
"$ai" "$name" $((seconds + 5)) >"$out/ai.txt" 2>&1 & ai_pid=$!
"$network" "$name" $((seconds + 5)) >"$out/net1.txt" 2>&1 & net1=$!
sleep 1
kill -9 $net1; wait $net1 2>/dev/null
echo "killed the network shell (pid $net1) with SIGKILL"
"$network" "$name" $((seconds + 5)) >"$out/net2.txt" 2>&1 & net2=$!
fail=0
wait $ai_pid || { echo "the AI shell failed"; fail=1; }
wait $net2 || { echo "the second network shell failed"; fail=1; }
wait $physics_pid || { echo "physics exited with an error"; fail=1; }
cat "$out"/physics.txt "$out"/ai.txt "$out"/net1.txt "$out"/net2.txt
# Every whole second of the run had (about) 120 ticks, the second of the kill included.
ticks=$(sed -n 's/^physics: ticks per second://p' "$out/physics.txt")
n=0
for t in $ticks; do
    n=$((n + 1)); [ $n -gt "$seconds" ] && break
    [ "$t" -ge 100 ] || { echo "physics slowed down: $t ticks in second $n"; fail=1; }
done
[ $n -ge "$seconds" ] || { echo "physics ran $n seconds, expected $seconds"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "game_state: OK" || { echo "game_state: FAILED"; exit 1; }
