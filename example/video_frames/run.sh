#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the video example briefly: 8K frames at 30 fps for 2 s and a consumer verifying them
# (VIDEO_CONSUMERS=N: N consumers).
#   usage: run.sh PRODUCER CONSUMER [SECONDS]
set -uo pipefail
producer=$1; consumer=$2; seconds=${3:-2}
name="venom_video_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
"$producer" "$name" "$seconds" 30 >"$out/producer.txt" 2>&1 & producer_pid=$!
consumers=()
for i in $(seq 1 "${VIDEO_CONSUMERS:-1}"); do # VIDEO_CONSUMERS=4: four consumers viewing each frame
    "$consumer" "$name" $((seconds + 10)) >"$out/c$i.txt" 2>&1 & consumers+=($!)
done
fail=0
for c in "${consumers[@]}"; do wait "$c" || fail=1; done
wait $producer_pid || { echo "producer exited with an error"; fail=1; }
cat "$out"/producer.txt "$out"/c*.txt
for f in "$out"/c*.txt; do grep -q ' 0 bad' "$f" || { echo "a consumer saw a bad frame"; fail=1; }; done
if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
[ $fail = 0 ] && echo "video_frames: OK" || { echo "video_frames: FAILED"; exit 1; }
