#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# venom's developer entry point. On a fresh Debian 12 machine (as root, or with sudo) it installs
# what it needs, builds, and runs.
#   bash tools/dev.sh demo    build the examples and run the example daemon with three shells
#   bash tools/dev.sh test    build and run every test: CMake Release + Debug (ctest), b2, and an
#                             install + find_package(venom) consumer check
#   bash tools/dev.sh sanitize  the tests under ASan+UBSan, the in-process tests under TSan, and
#                             a 60 s fuzz run (CI runs it after `test`)
#   bash tools/dev.sh deps    only install the packages
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

packages=(g++ cmake make libboost-dev libboost-test-dev libboost-program-options-dev libboost-tools-dev
          libzmq3-dev) # libzmq3-dev: the ZeroMQ baseline of venom_bench

deps() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "== installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cmake_build() { # dir type [extra cmake arguments]
    cmake -S "$root" -B "$1" -DCMAKE_BUILD_TYPE="$2" -DVENOM_BUILD_TESTS=ON -DVENOM_BUILD_EXAMPLES=ON "${@:3}" >/dev/null
    cmake --build "$1" -j"$jobs"
}

demo() {
    deps
    cmake_build build/release Release
    bash example/run_example.sh build/release/example/venom_example_daemon build/release/example/venom_example_shell
}

consumer_check() { # install venom, then build a tiny project that uses find_package(venom)
    local prefix; prefix=$(mktemp -d)
    cmake --install build/release --prefix "$prefix" >/dev/null
    local src; src=$(mktemp -d)
    cat > "$src/CMakeLists.txt" <<'EOC'
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
find_package(venom 0.1 REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE venom::venom)
EOC
    cat > "$src/main.cpp" <<'EOC'
#include <venom/venom.hpp>
#include <cstdio>
int main() {
    auto d = venom::DaemonChannel::create("venom_consumer_check", venom::ChannelConfig{64, 4, 2});
    d.write_data("installed venom works");
    auto s = venom::ShellChannel::connect("venom_consumer_check");
    auto v = s.read_data();
    std::printf("%.*s\n", static_cast<int>(v.size()), reinterpret_cast<const char*>(v.data()));
    return v.size() == 21 ? 0 : 1;
}
EOC
    cmake -S "$src" -B "$src/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    cmake --build "$src/build" >/dev/null
    "$src/build/consumer"
    rm -rf "$prefix" "$src"
    echo "find_package(venom) consumer: OK"
}

test_all() {
    deps
    local t0=$SECONDS
    echo "== CMake Release: build and ctest"
    cmake_build build/release Release
    (cd build/release && ctest --output-on-failure -j1)
    echo "== CMake Debug: build and ctest"
    cmake_build build/debug Debug
    (cd build/debug && ctest --output-on-failure -j1)
    echo "== b2: build and run the tests with the system Boost"
    b2 -j"$jobs" -q test
    echo "== install + find_package(venom)"
    consumer_check
    echo "== all tests passed in $((SECONDS - t0)) s"
}

sanitize() {
    deps
    local t0=$SECONDS
    echo "== ASan + UBSan: every test (stress sizes scaled to 0.2)"
    cmake_build build/asan Debug -DVENOM_SANITIZE=address,undefined -DVENOM_BUILD_BENCH=OFF
    (cd build/asan && VENOM_TEST_SCALE=0.2 ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1)
    echo "== TSan: the in-process (threaded) tests"
    cmake_build build/tsan RelWithDebInfo -DVENOM_SANITIZE=thread -DVENOM_BUILD_BENCH=OFF
    (cd build/tsan && VENOM_TEST_SCALE=0.2 TSAN_OPTIONS=halt_on_error=1 \
        ctest --output-on-failure -j1 -R '^(api_test|config_error_test|seqlock_test|queue_test|wait_test|state_loan_test|view_test)$')
    echo "== libFuzzer: 60 s over the seed corpus"
    bash tools/fuzz.sh 60
    echo "== sanitizers passed in $((SECONDS - t0)) s"
}

case "${1:-}" in
    demo) demo ;;
    test) test_all ;;
    sanitize) sanitize ;;
    deps) deps ;;
    *) sed -n '3,10p' "$0"; exit 2 ;;
esac
