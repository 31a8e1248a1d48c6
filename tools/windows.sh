#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Cross-builds venom's tests, examples and the `venom` tool for Windows x86-64 with mingw-w64
# (posix threads) against the system Boost headers, and runs them under wine (the tool: by
# test/cli_test_windows.sh against the example daemon).
#   bash tools/windows.sh          build and run everything; exits non-zero on any failure
# Tests that exercise Linux-only features are listed in linux_only below.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build/windows
# permissions_test switches to another user; trust_test and hostile_test attack /dev/shm files
# (symlinks, FIFOs, hard links, foreign owners, truncation); isolation_test reads page
# protections from /proc/self/maps and uses SIGSEGV, SIGSTOP: Linux only (README, Windows section)
linux_only="permissions_test trust_test hostile_test isolation_test"
scale=${VENOM_WINDOWS_TEST_SCALE:-0.3}

need=()
for p in g++-mingw-w64-x86-64 wine64 libboost-dev libboost-test-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -ne 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
wine_bin=$(command -v wine || command -v wine64) || { echo "wine not found"; exit 1; }

# Only Boost on the include path: glibc's headers must stay out of a mingw build.
mkdir -p "$out/include"
ln -sfn /usr/include/boost "$out/include/boost"
cxx="x86_64-w64-mingw32-g++-posix -std=c++17 -O2 -Wall -Wextra -I$root -isystem $out/include"
ldflags="-static -ladvapi32"

export WINEPREFIX=$out/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== creating the wine prefix"
    "$wine_bin" wineboot -i >/dev/null 2>&1 || true
fi

echo "== venom's headers for Windows: strict warnings as errors"
echo '#include <venom/venom.hpp>' | $cxx -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror \
    -x c++ -fsyntax-only - || { echo "venom.hpp: warnings under mingw-w64"; exit 1; }
echo "   venom.hpp (with platform_windows.hpp): no warning"

echo "== building (mingw-w64)"
t0=$SECONDS
builds=()
for src in test/*_test.cpp; do
    name=$(basename "$src" .cpp)
    case " $linux_only " in *" $name "*) continue ;; esac
    builds+=("$name")
done
build_one() { # name src: each test links Boost.Test's implementation, compiled once below
    $cxx -DVENOM_TEST_STATIC_BOOST_TEST "$2" "$out/boost_test.o" -o "$out/$1.exe" $ldflags \
        > "$out/$1.build.log" 2>&1 ||
        { echo "build failed: $1"; cat "$out/$1.build.log" | head -40; return 1; }
}
fail=0
$cxx -c test/boost_test_impl.cpp -o "$out/boost_test.o" > "$out/boost_test.build.log" 2>&1 ||
    { echo "build failed: boost_test_impl.cpp"; head -40 "$out/boost_test.build.log"; exit 1; }
pids=()
for name in "${builds[@]}"; do
    build_one "$name" "test/$name.cpp" & pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
$cxx example/daemon.cpp -o "$out/venom_example_daemon.exe" $ldflags || fail=1
$cxx example/shell.cpp -o "$out/venom_example_shell.exe" $ldflags || fail=1
# The tool's own code is warning-clean under mingw-w64: -Werror keeps it so.
$cxx -Werror tools/venom_cli.cpp -o "$out/venom.exe" $ldflags > "$out/venom.build.log" 2>&1 ||
    { fail=1; echo "build failed: venom.exe"; head -40 "$out/venom.build.log"; }
echo "   built in $((SECONDS - t0)) s"

echo "== running under wine (stress scale $scale)"
passed=0; failed=0
for name in "${builds[@]}"; do
    [ -f "$out/$name.exe" ] || { failed=$((failed + 1)); continue; }
    t1=$SECONDS
    if VENOM_TEST_SCALE=$scale timeout 900 "$wine_bin" "$out/$name.exe" --report_level=short > "$out/$name.log" 2>&1; then
        passed=$((passed + 1)); echo "   $name: passed ($((SECONDS - t1)) s) $(grep -Eo 'Test module .* [0-9]+ test cases? out of [0-9]+ passed|[0-9]+ test cases? out of [0-9]+ passed' "$out/$name.log" | tail -1)"
    else
        failed=$((failed + 1)); echo "   $name: FAILED"; tail -30 "$out/$name.log"
    fi
done

# The example: one daemon (20 s: the three shells run one after another within them, also on a
# loaded machine, where wine's round trips take a millisecond), three shells.
t1=$SECONDS
( "$wine_bin" "$out/venom_example_daemon.exe" venom_demo_win 20 > "$out/example_daemon.log" 2>&1 & echo $! > "$out/daemon.pid"; wait ) &
ok=1
for i in 1 2 3; do
    timeout 120 "$wine_bin" "$out/venom_example_shell.exe" venom_demo_win 2000 > "$out/example_shell$i.log" 2>&1 || ok=0
    grep -q "ping -> pong" "$out/example_shell$i.log" || ok=0
done
wait
grep -q "stopped after" "$out/example_daemon.log" || ok=0
if [ $ok = 1 ]; then passed=$((passed + 1)); echo "   example daemon + 3 shells: passed ($((SECONDS - t1)) s)"
else failed=$((failed + 1)); echo "   example: FAILED"; cat "$out"/example_*.log; fi

# The tool: list, stat, read, call, wait, rm, top, ... against the example daemon.
t1=$SECONDS
if [ -f "$out/venom.exe" ] && timeout 600 bash test/cli_test_windows.sh "$out/venom.exe" \
    "$out/venom_example_daemon.exe" > "$out/cli_test_windows.log" 2>&1; then
    passed=$((passed + 1))
    echo "   cli_test_windows: passed ($((SECONDS - t1)) s) $(tail -1 "$out/cli_test_windows.log")"
else
    failed=$((failed + 1)); echo "   cli_test_windows: FAILED"; cat "$out/cli_test_windows.log" 2>/dev/null
fi

echo "wine: $passed passed, $failed failed"
[ $fail = 0 ] && [ $failed = 0 ]
