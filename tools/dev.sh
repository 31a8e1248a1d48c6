#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# venom's developer entry point. On a fresh Debian 12 machine (as root, or with sudo) it installs
# what it needs, builds, and runs.
#   bash tools/dev.sh demo    build the examples and run the example daemon with three shells
#   bash tools/dev.sh test    build and run every test: gcc 12 Release (C++17, Boost 1.74, and
#                             the Python module with its pytest suite),
#                             clang 14 + libc++ Debug (C++20, Boost 1.81), b2 with clang (C++20),
#                             consumer checks (find_package, add_subdirectory, pkg-config, b2,
#                             pip install of the Python module)
#   bash tools/dev.sh check   static checks: clang-format, every header alone with strict
#                             warnings as errors (gcc, clang, libc++; C++17/20; Boost 1.74/1.81),
#                             the C++17 #error, the API reference (doxygen, warnings as errors)
#   bash tools/dev.sh sanitize  the tests under ASan+UBSan, the in-process tests under TSan, and
#                             a 60 s fuzz run
#   bash tools/dev.sh deps    only install the packages
# CI (.ci/run) runs test, check, sanitize, tools/aarch64.sh and tools/windows.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# libzmq3-dev: the ZeroMQ baseline of venom_bench; pkgconf: the pkg-config consumer check;
# python3: the README checks; clang/libc++/clang-format/doxygen: the matrix and the checks;
# pybind11, python3-dev, numpy, pytest, zmq, venv, pip, setuptools: the Python module (python/),
# its tests, benchmark and pip install check.
packages=(g++ cmake make libboost-dev libboost-test-dev libboost-program-options-dev libboost-tools-dev
          libzmq3-dev pkgconf python3 clang clang-14 libc++-14-dev libc++abi-14-dev clang-format-14
          doxygen pybind11-dev python3-pybind11 python3-dev python3-numpy python3-pytest python3-zmq
          python3-venv python3-pip python3-setuptools)

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

# Debian's Boost 1.81 headers, unpacked beside the system's 1.74 (installing libboost1.81-dev
# would remove 1.74's -dev packages): apt-get download + dpkg -x into build/boost-1.81. Prints
# the folder that holds usr/include/boost.
boost181() {
    local dir=$root/build/boost-1.81
    if [ ! -f "$dir/usr/include/boost/version.hpp" ]; then
        mkdir -p "$dir/deb"
        (cd "$dir/deb" && { apt-get download -qq libboost1.81-dev >/dev/null 2>&1 ||
                            { apt-get update -qq && apt-get download -qq libboost1.81-dev >/dev/null; }; })
        dpkg -x "$dir"/deb/libboost1.81-dev_*.deb "$dir"
    fi
    grep -q 'define BOOST_LIB_VERSION "1_81"' "$dir/usr/include/boost/version.hpp" ||
        { echo "build/boost-1.81 does not hold Boost 1.81" >&2; exit 1; }
    echo "$dir"
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
    # 4. b2: use-project, from a consumer that configures Boost its own way (its own
    #    project-config.jam with `using boost`, and boost.use-project): venom's Jamroot
    #    configures nothing of Boost, so the two never clash
    mkdir -p "$src/b2"
    cat > "$src/b2/project-config.jam" <<EOC
using gcc ;
using boost : 1.74 : <layout>system ;
EOC
    cat > "$src/b2/Jamroot" <<EOC
import boost ;
boost.use-project 1.74 ;
use-project /venom : $root ;
exe consumer : ../main.cpp /venom//venom : <cxxstd>17 ;
install dist : consumer : <location>dist ;
EOC
    (cd "$src/b2" && b2 -q -d0 dist) && "$src/b2/dist/consumer" b2
    echo "b2 use-project /venom consumer: OK"
    # 5. pip: the Python module into a venv that sees Debian's setuptools, pybind11 and numpy
    #    (Debian's interpreter: a python3 earlier on PATH may not have them)
    /usr/bin/python3 -m venv --system-site-packages "$src/venv"
    "$src/venv/bin/pip" install -q --no-build-isolation "$root/python" >/dev/null
    (cd "$src" && "$src/venv/bin/python" - <<'EOP'
import os, venom, numpy
name = "venom_consumer_check_pip_%d" % os.getpid()
with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)) as d:
    d.write_data(b"installed venom works")
    with venom.ShellChannel.connect(name) as s, s.view() as v:
        a = numpy.asarray(v)
        assert a.tobytes() == b"installed venom works" and a.ctypes.data == v.address
        del a
print("installed venom works (venom %s, python module at %s)" % (venom.__version__, os.path.dirname(venom.__file__)))
EOP
    )
    echo "pip install --no-build-isolation ./python consumer: OK"
    rm -rf "$prefix" "$src"
}

test_all() {
    deps
    local t0=$SECONDS b181; b181=$(boost181)
    echo "== gcc 12, libstdc++, C++17, Boost 1.74, Release, warnings as errors: build and ctest"
    cmake_build build/release Release -DVENOM_WERROR=ON -DVENOM_BUILD_PYTHON=ON
    (cd build/release && ctest --output-on-failure -j1)
    echo "== clang 14, libc++, C++20, Boost 1.81 (header-only Boost.Test), Debug, warnings as errors: build and ctest"
    # libc++: the system's Boost.Test and Boost.Program_options libraries are built against
    # libstdc++, so the tests use the header-only Boost.Test, and the benchmark (program_options)
    # is left out of this build. The tool needs no Boost library (tools/cli/args.hpp): it is
    # built here too, and cli_test and readme_console run against this build of it.
    cmake_build build/debug Debug -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_STANDARD=20 -DCMAKE_CXX_EXTENSIONS=OFF \
        -DCMAKE_CXX_FLAGS=-stdlib=libc++ -DCMAKE_EXE_LINKER_FLAGS=-stdlib=libc++ \
        -DBoost_DIR="$(echo "$b181"/usr/lib/*/cmake/Boost-1.81.0)" -DVENOM_TEST_HEADER_ONLY=ON \
        -DVENOM_BUILD_BENCH=OFF -DVENOM_WERROR=ON
    grep -q '^Boost_DIR:.*Boost-1\.81\.0' build/debug/CMakeCache.txt || { echo "build/debug did not take Boost 1.81"; exit 1; }
    # Stress sizes at 0.3: the Release run above has them whole; this one is for assertions,
    # another compiler, library and Boost (a -O0 reader checks a 1 MiB state ~5x slower).
    (cd build/debug && VENOM_TEST_SCALE=0.3 ctest --output-on-failure -j1)
    echo "== mixed Boost: the example daemon built with Boost 1.74 (Release), its shells with 1.81"
    g++ -std=c++17 -O2 -I. -isystem "$b181/usr/include" example/shell.cpp -o build/debug/venom_example_shell_boost181 -pthread -lrt
    bash example/run_example.sh build/release/example/venom_example_daemon build/debug/venom_example_shell_boost181
    echo "== b2, clang 14, C++20, the system Boost: build and run the tests (stress sizes at 0.2)"
    # The gcc Release run above has the stress sizes whole; this one shows that b2 builds and
    # runs everything with clang. Whole, its 1 MiB reader case alone took 150 s and timed out
    # on a loaded machine.
    VENOM_TEST_SCALE=0.2 b2 -j"$jobs" -q toolset=clang cxxstd=20 test
    echo "== consumers: install + find_package(venom), add_subdirectory(venom), pkg-config, b2 use-project"
    consumer_check
    echo "== all tests passed in $((SECONDS - t0)) s"
}

# Every header compiles alone; venom.hpp (all of them) with strict warnings as errors in every
# cell of compiler x standard library x C++ standard x Boost. Boost's headers are system headers
# (/usr/include, or -isystem for 1.81): their warnings are Boost's, not ours.
headers_check() {
    local b181=$1
    local strict="-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror"
    local cells=() out; out=$(mktemp -d)
    for cxx in "g++" "clang++-14" "clang++-14 -stdlib=libc++"; do
        for std in 17 20; do
            for boost in 1.74 1.81; do cells+=("$cxx|$std|$boost|venom/venom.hpp"); done
        done
    done
    # platform_windows.hpp: Windows only (tools/windows.sh compiles it)
    for h in venom/*.hpp venom/detail/*.hpp; do
        [ "$h" = venom/detail/platform_windows.hpp ] && continue
        cells+=("g++|17|1.74|$h" "clang++-14 -stdlib=libc++|20|1.81|$h")
    done
    one() { # "compiler|std|boost|header" strict b181 out
        local cxx std boost h inc=""
        IFS='|' read -r cxx std boost h <<< "$1"
        [ "$boost" = 1.81 ] && inc="-isystem $3/usr/include"
        # shellcheck disable=SC2086 # compiler and flags are words
        # (the log's name is fixed here: in the pipeline the compiler runs in a subshell, whose
        # $BASHPID differs from this one's)
        local log; log=$(mktemp -p "$4")
        if ! echo "#include <$h>" | $cxx -std=c++$std $2 -I. $inc -x c++ -fsyntax-only - > "$log" 2>&1; then
            echo "FAILED: $h alone, $cxx, C++$std, Boost $boost:"; head -30 "$log"; return 1
        fi
    }
    export -f one
    local n=${#cells[@]}
    printf '%s\n' "${cells[@]}" | xargs -P"$jobs" -I{} bash -c 'one "$@"' _ {} "$strict" "$b181" "$out" ||
        { rm -rf "$out"; echo "headers: FAILED"; exit 1; }
    rm -rf "$out"
    echo "headers: $n compiles passed (venom.hpp in 12 cells of g++/clang++/clang++ libc++ x C++17/20 x Boost 1.74/1.81; each header alone in 2)"
}

check() {
    deps
    local t0=$SECONDS b181; b181=$(boost181)
    echo "== clang-format 14: every .hpp/.cpp as .clang-format says"
    git ls-files '*.hpp' '*.cpp' | xargs clang-format-14 --dry-run --Werror ||
        { echo "format: FAILED (apply with: git ls-files '*.hpp' '*.cpp' | xargs clang-format-14 -i)"; exit 1; }
    echo "format: OK ($(git ls-files '*.hpp' '*.cpp' | wc -l) files)"
    echo "== the venom tool uses venom's public API only"
    if grep -nE '#include *[<"]venom/detail/|venom::detail|\bvd::' tools/*.cpp tools/cli/*.hpp; then
        echo "tools: the lines above reach into venom::detail; use venom/inspect.hpp or the channels"
        exit 1
    fi
    echo "tools: public API only"
    echo "== headers: strict warnings as errors"
    headers_check "$b181"
    echo "== below C++17: a clear #error"
    local msg
    if msg=$(echo '#include <venom/venom.hpp>' | g++ -std=c++14 -I. -x c++ -fsyntax-only - 2>&1); then
        echo "C++14: venom.hpp compiled, expected the #error"; exit 1
    fi
    # The compiler goes on after an #error; what matters is that the first error is ours.
    local first; first=$(grep -m1 'error:' <<< "$msg")
    grep -q 'venom needs C++17 or later' <<< "$first" || { echo "C++14: the first error is not venom's #error:"; head -20 <<< "$msg"; exit 1; }
    echo "C++14: the first error is \"$(grep -o 'venom needs C++17[^"]*' <<< "$first")\""
    echo "== API reference: doxygen, warnings as errors"
    cmake -S "$root" -B build/docs -DVENOM_BUILD_TESTS=OFF -DVENOM_BUILD_EXAMPLES=OFF -DVENOM_BUILD_TOOLS=OFF \
        -DVENOM_BUILD_BENCH=OFF >/dev/null
    cmake --build build/docs --target docs
    echo "== checks passed in $((SECONDS - t0)) s"
}

sanitize() {
    deps
    local t0=$SECONDS
    echo "== ASan + UBSan: every test (stress sizes scaled to 0.2), the Python module's too"
    cmake_build build/asan Debug -DVENOM_SANITIZE=address,undefined -DVENOM_BUILD_BENCH=OFF -DVENOM_BUILD_PYTHON=ON
    (cd build/asan && VENOM_TEST_SCALE=0.2 ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1)
    echo "== TSan: the in-process (threaded) tests"
    # Only those are built: the examples, the tool and the multi-process tests are not run here.
    local tsan_tests=(api_test config_error_test seqlock_test queue_test wait_test state_loan_test view_test state_version_test)
    cmake -S "$root" -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVENOM_SANITIZE=thread -DVENOM_BUILD_TESTS=ON \
        -DVENOM_BUILD_EXAMPLES=OFF -DVENOM_BUILD_TOOLS=OFF -DVENOM_BUILD_BENCH=OFF >/dev/null
    cmake --build build/tsan -j"$jobs" --target "${tsan_tests[@]}"
    (cd build/tsan && VENOM_TEST_SCALE=0.2 TSAN_OPTIONS=halt_on_error=1 \
        ctest --output-on-failure -j1 -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$")
    echo "== libFuzzer: 60 s over the seed corpus"
    bash tools/fuzz.sh 60
    echo "== sanitizers passed in $((SECONDS - t0)) s"
}

case "${1:-}" in
    demo) demo ;;
    test) test_all ;;
    check) check ;;
    sanitize) sanitize ;;
    deps) deps ;;
    *) sed -n '3,17p' "$0"; exit 2 ;;
esac
