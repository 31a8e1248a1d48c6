#!/usr/bin/env bash
# Runs the video example briefly: 8K frames at 30 fps for 2 s and a consumer verifying them.
#   usage: run.sh PRODUCER CONSUMER [SECONDS]
set -uo pipefail
producer=$1; consumer=$2; seconds=${3:-2}
name="venom_video_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
"$producer" "$name" "$seconds" 30 >"$out/producer.txt" 2>&1 & producer_pid=$!
"$consumer" "$name" $((seconds + 10)) >"$out/c1.txt" 2>&1 & c1=$!
fail=0
wait $c1 || fail=1
wait $producer_pid || { echo "producer exited with an error"; fail=1; }
cat "$out"/producer.txt "$out"/c1.txt
grep -q ' 0 bad' "$out"/c1.txt || { echo "the consumer saw a bad frame"; fail=1; }
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "video_frames: OK" || { echo "video_frames: FAILED"; exit 1; }
