#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Builds the libFuzzer target (clang, ASan + UBSan) and runs it.
#   bash tools/fuzz.sh [seconds=60]    runs from the committed seed corpus, keeps new inputs in a
#                                      scratch corpus; exits non-zero on a finding (full log:
#                                      build/fuzz/fuzz.log)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
for p in clang libclang-rt-14-dev libboost-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null; }
done
out=build/fuzz
mkdir -p "$out" test/fuzz/corpus-work
clang++ -std=c++17 -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    test/fuzz/fuzz_channel.cpp -o "$out/fuzz_channel" -lpthread -lrt
# The whole log stays in $out/fuzz.log; shown: the seed corpus's coverage (INITED), the last
# lines without libFuzzer's recommended dictionary (the DONE line has the final coverage), and
# on a finding its report.
log=$out/fuzz.log
status=0
"$out/fuzz_channel" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/" test/fuzz/corpus-work test/fuzz/corpus >"$log" 2>&1 || status=$?
grep -m1 -E '[[:space:]]INITED[[:space:]]' "$log" || true
grep -v -e '^"' -e '^######' "$log" | tail -25
[ "$status" -eq 0 ] || echo "fuzz.sh: the fuzzer exited with $status (a finding?): see $log and $out/crash-* $out/timeout-* $out/leak-*"
exit "$status"
