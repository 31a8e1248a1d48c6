#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# venom's developer entry point. On a fresh Debian 12 machine (as root, or with sudo) it installs
# what it needs, builds, and runs.
#   bash tools/dev.sh demo    build the examples and run the example daemon with three shells
#   bash tools/dev.sh test    build and run every test: CMake Release + Debug (ctest), b2, and
#                             consumer checks (installed find_package, add_subdirectory, pkg-config)
#   bash tools/dev.sh sanitize  the tests under ASan+UBSan, the in-process tests under TSan, and
#                             a 60 s fuzz run (CI runs it after `test`)
#   bash tools/dev.sh deps    only install the packages
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

packages=(g++ cmake make libboost-dev libboost-test-dev libboost-program-options-dev libboost-tools-dev
          libzmq3-dev pkgconf) # libzmq3-dev: the ZeroMQ baseline of venom_bench; pkgconf: the pkg-config consumer check

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

consumer_check() { # install venom, then build a tiny program against it in each way a user would
    local prefix; prefix=$(mktemp -d)
    cmake --install build/release --prefix "$prefix" >/dev/null
    local version; version=$(sed -n 's/^#define VENOM_VERSION_\(MAJOR\|MINOR\) \([0-9]*\)$/\2/p' venom/version.hpp | paste -sd.)
    local src; src=$(mktemp -d)
    cat > "$src/main.cpp" <<'EOC'
#include <venom/venom.hpp>
#include <cstdio>
#include <string>
int main(int argc, char** argv) {
    const std::string name = std::string("venom_consumer_check_") + (argc > 1 ? argv[1] : "x");
    auto d = venom::DaemonChannel::create(name, venom::ChannelConfig{64, 4, 2});
    d.write_data("installed venom works");
    auto s = venom::ShellChannel::connect(name);
    auto v = s.read_data();
    std::printf("%.*s (venom %d.%d.%d)\n", static_cast<int>(v.size()), reinterpret_cast<const char*>(v.data()),
                VENOM_VERSION_MAJOR, VENOM_VERSION_MINOR, VENOM_VERSION_PATCH);
    return v.size() == 21 ? 0 : 1;
}
EOC
    # 1. find_package(venom <major.minor>) against the installed package
    mkdir -p "$src/fp"
    cat > "$src/fp/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
find_package(venom $version REQUIRED)
add_executable(consumer ../main.cpp)
target_link_libraries(consumer PRIVATE venom::venom)
EOC
    cmake -S "$src/fp" -B "$src/fp/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    cmake --build "$src/fp/build" >/dev/null
    "$src/fp/build/consumer" find_package
    echo "find_package(venom $version) consumer: OK"
    # 2. add_subdirectory(venom) from the source tree: nothing of venom's is built or installed
    mkdir -p "$src/sub"
    cat > "$src/sub/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
add_subdirectory($PWD venom)
add_executable(consumer ../main.cpp)
target_link_libraries(consumer PRIVATE venom::venom)
install(TARGETS consumer DESTINATION bin)
EOC
    cmake -S "$src/sub" -B "$src/sub/build" >/dev/null
    cmake --build "$src/sub/build" >/dev/null
    "$src/sub/build/consumer" add_subdirectory
    cmake --install "$src/sub/build" --prefix "$src/sub/inst" >/dev/null
    if [ -e "$src/sub/inst/include/venom" ]; then echo "add_subdirectory: the parent's install installed venom too"; exit 1; fi
    echo "add_subdirectory(venom) consumer: OK (venom's tests not built, nothing of it installed)"
    # 3. pkg-config
    PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --exists "venom >= $version"
    # shellcheck disable=SC2046 # the flags are words
    g++ -o "$src/pc" "$src/main.cpp" $(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags --libs venom)
    "$src/pc" pkg_config
    echo "pkg-config venom consumer: OK"
    rm -rf "$prefix" "$src"
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
    echo "== consumers: install + find_package(venom), add_subdirectory(venom), pkg-config"
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
