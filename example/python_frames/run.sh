#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Runs the Python frames example briefly: the C++ producer (example/video_frames'
# venom_video_producer, the same frame format) with the Python consumer, then the Python
# producer with the Python consumer; 8K frames at 30 fps for SECONDS each.
#   usage: run.sh CPP_PRODUCER [SECONDS]     (PYTHON: the interpreter, /usr/bin/python3 by
#   default; PYTHONPATH must reach the venom module, e.g. build/python)
set -uo pipefail
cpp_producer=$1; seconds=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/usr/bin/python3}
name="venom_pyframes_$$"
out=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -f /dev/shm/venom.$name.*; rm -rf "$out"' EXIT
fail=0
for producer in cpp python; do
    if [ $producer = cpp ]; then
        "$cpp_producer" "$name" "$seconds" 30 >"$out/producer.txt" 2>&1 & pid=$!
    else
        "$py" "$here/producer.py" "$name" "$seconds" 30 >"$out/producer.txt" 2>&1 & pid=$!
    fi
    "$py" "$here/consumer.py" "$name" $((seconds + 10)) >"$out/consumer.txt" 2>&1 || fail=1
    wait $pid || { echo "$producer producer exited with an error"; fail=1; }
    echo "-- $producer producer, Python consumer"
    cat "$out/producer.txt" "$out/consumer.txt"
    grep -q ' 0 bad' "$out/consumer.txt" || { echo "the consumer saw a bad frame"; fail=1; }
    grep -q '^consumer: [1-9][0-9]* frames verified' "$out/consumer.txt" || { echo "no frame verified"; fail=1; }
    if ls /dev/shm/venom."$name".* >/dev/null 2>&1; then echo "channel files left in /dev/shm"; fail=1; fi
done
[ $fail = 0 ] && echo "python_frames: OK" || { echo "python_frames: FAILED"; exit 1; }
