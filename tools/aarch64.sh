#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Cross-builds venom's test binaries for Linux aarch64 with Debian's g++-aarch64-linux-gnu
# against the system Boost headers, and runs them under qemu-user (qemu-aarch64-static).
#   bash tools/aarch64.sh          build and run every test; exits non-zero on any failure
# Environment: VENOM_AARCH64_TEST_SCALE (stress scale, default 0.5), VENOM_AARCH64_TIMEOUT
# (seconds per test binary, default 240), VENOM_AARCH64_JOBS (parallel compiles, default 2),
# VENOM_AARCH64_OPT (default -O2; -Og builds in half the time). QEMU_CPU=cortex-a72 runs on a
# CPU without LSE atomics (libgcc's outline atomics then take their LL/SC path; the default
# CPU "max" has LSE).
# binfmt_misc may be unmounted: a test's children run through the emulator too, named to
# them by VENOM_TEST_EMULATOR (test/test_support.hpp).
# qemu-user on x86-64 does not show weak-memory reorderings (README, aarch64 section): what
# this checks is the aarch64 build (atomics' code, 64-bit atomics, futex, page size) running.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build/aarch64
scale=${VENOM_AARCH64_TEST_SCALE:-0.5}
limit=${VENOM_AARCH64_TIMEOUT:-240}
jobs=${VENOM_AARCH64_JOBS:-2}
opt=${VENOM_AARCH64_OPT:-O2}
opt=-${opt#-}
# Per-test stress scales, where the default does not fit: multiprocess_test's 1 MiB state case
# reads scaled(1,000,000) copies of 1 MiB, each checked word by word, within 150 s; qemu does
# ~1,300 such reads a second on a loaded 2-core machine (0.2 took 140-150+ s).
declare -A test_scale=([multiprocess_test]=0.05)
# Test binaries not run under qemu-user, each with its reason. The shell-script tests
# (cli_test.sh, example/*/run.sh) are not run on aarch64 at all.
declare -A excluded=()

need=()
for p in g++-aarch64-linux-gnu qemu-user-static libboost-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -ne 0 ]; then
    echo "== installing: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
emu=qemu-aarch64-static
command -v "$emu" >/dev/null || { echo "$emu not found"; exit 1; }

# Only Boost on the include path: the x86-64 glibc headers must stay out of the cross build.
# Static links: no aarch64 sysroot (-L) is needed at run time.
rm -rf "$out"
mkdir -p "$out/include"
ln -sfn /usr/include/boost "$out/include/boost"
cxx="aarch64-linux-gnu-g++ -std=c++17 $opt -Wall -Wextra -pthread -I$root -isystem $out/include"
ldflags="-static -pthread"

names=()
for src in test/*_test.cpp; do
    name=$(basename "$src" .cpp)
    [ -n "${excluded[$name]:-}" ] && continue
    names+=("$name")
done

echo "== building (aarch64-linux-gnu-g++ $opt, $jobs jobs)"
# Boost.Test's implementation is compiled once (~30 s, test/boost_test_impl.cpp) and linked
# into every test (VENOM_TEST_STATIC_BOOST_TEST).
# What the emulated process sees: page size (venom aligns regions to it), 64-bit atomics, LSE
# atomics (ARMv8.1 CAS/LDADD; without them libgcc uses LL/SC loops), /proc/self/exe.
cat > "$out/probe.cpp" <<'EOF'
#include <asm/hwcap.h>
#include <sys/auxv.h>
#include <unistd.h>
#include <atomic>
#include <cstdio>
int main() {
    char exe[256] = {};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::printf("sysconf(_SC_PAGESIZE) %ld, AT_PAGESZ %lu, 64-bit atomics lock-free %d, LSE "
                "atomics %d, /proc/self/exe %s\n", sysconf(_SC_PAGESIZE), getauxval(AT_PAGESZ),
                int(std::atomic<unsigned long long>::is_always_lock_free),
                int((getauxval(AT_HWCAP) & HWCAP_ATOMICS) != 0), n > 0 ? exe : "?");
}
EOF
compile() { # object source [flags]
    $cxx ${3:-} -c "$2" -o "$out/$1.o" > "$out/$1.build.log" 2>&1 ||
        { echo "build failed: $1"; head -40 "$out/$1.build.log"; return 1; }
}
queue() { # object source [flags]: compiles in the background, at most $jobs at once
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    compile "$@" &
}
fail=0
build_all() {
    queue boost_test test/boost_test_impl.cpp
    queue probe "$out/probe.cpp"
    # Largest first, so that the jobs end at about the same time.
    for src in $(ls -S test/*_test.cpp); do
        name=$(basename "$src" .cpp)
        [ -n "${excluded[$name]:-}" ] || queue "$name" "$src" -DVENOM_TEST_STATIC_BOOST_TEST
    done
    wait
    for o in boost_test probe "${names[@]}"; do [ -f "$out/$o.o" ] || fail=1; done
    aarch64-linux-gnu-g++ "$out/probe.o" -o "$out/probe" $ldflags
    for name in "${names[@]}"; do
        [ -f "$out/$name.o" ] || continue
        aarch64-linux-gnu-g++ "$out/$name.o" "$out/boost_test.o" -o "$out/$name" $ldflags \
            >> "$out/$name.build.log" 2>&1 || { echo "link failed: $name"; fail=1; }
    done
}
TIMEFORMAT="   built in %0R s (CPU: %0U s user, %0S s system)"
time build_all

echo "== under $emu: $(timeout 30 "$emu" "$out/probe" 2>&1)"
echo "== running under $emu (stress scale $scale, at most $limit s each)"
export VENOM_TEST_EMULATOR=$emu
passed=0; failed=0
t0=$SECONDS
for name in "${names[@]}"; do
    [ -f "$out/$name" ] || { failed=$((failed + 1)); echo "   $name: NOT BUILT"; continue; }
    t1=$SECONDS
    # timeout kills the test's whole process group (its children too) after $limit s. The test
    # runs as the shell that writes its pid (exec): its channel and block names carry that pid.
    VENOM_TEST_SCALE=${test_scale[$name]:-$scale} timeout -k 10 "$limit" \
        sh -c 'echo $$ > "$1.pid"; exec "$2" "$1" --report_level=short' sh "$out/$name" "$emu" \
        > "$out/$name.log" 2>&1
    rc=$?
    if [ $rc != 0 ] && [ -s "$out/$name.pid" ]; then # a killed test leaves its /dev/shm files
        pid=$(cat "$out/$name.pid")
        rm -f /dev/shm/venom.vt_*_"$pid"_* /dev/shm/vt_*_"$pid" /dev/shm/vt_*_"$pid"_*
    fi
    summary=$(grep -Eo '[0-9]+ test cases? out of [0-9]+ (passed|failed)' "$out/$name.log" | tail -1)
    if [ $rc = 0 ]; then
        passed=$((passed + 1)); echo "   $name: passed ($((SECONDS - t1)) s, scale ${test_scale[$name]:-$scale}) $summary"
    else
        failed=$((failed + 1))
        if [ $rc = 124 ] || [ $rc = 137 ]; then why="timed out after $limit s"; else why="exit $rc"; fi
        echo "   $name: FAILED, $why ($((SECONDS - t1)) s) $summary"; tail -30 "$out/$name.log"
    fi
done
for name in "${!excluded[@]}"; do echo "   $name: not run (${excluded[$name]})"; done
echo "   ran in $((SECONDS - t0)) s"

echo "aarch64: $passed passed, $failed failed"
[ $fail = 0 ] && [ $failed = 0 ]
