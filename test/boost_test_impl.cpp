// SPDX-License-Identifier: BSL-1.0
// test/boost_test_impl.cpp - Boost.Test's whole implementation, compiled once and linked into
// every test built with VENOM_TEST_STATIC_BOOST_TEST (test_support.hpp): the header-only
// Boost.Test without its cost in each test (about 30 s of compiling per test). CMake's
// VENOM_TEST_HEADER_ONLY, tools/aarch64.sh and tools/windows.sh use it. The tests define
// main() themselves (test_support.hpp), so neither main nor the init function is here.
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/included/unit_test.hpp>
