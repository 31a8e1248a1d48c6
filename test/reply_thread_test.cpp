// SPDX-License-Identifier: BSL-1.0
// test/reply_thread_test.cpp - the in-process cases of reply_test.cpp (deferred answers:
// shells as threads, Replies answered by a thread pool) without its multi-process ones, for
// the TSan build (tools/dev.sh sanitize), which runs only in-process tests.
#define VENOM_REPLY_IN_PROCESS_ONLY
#include "reply_test.cpp"
