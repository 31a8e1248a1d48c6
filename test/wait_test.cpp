// SPDX-License-Identifier: BSL-1.0
// test/wait_test.cpp - unit tests of the hybrid wait's parts (detail/waiter.hpp) in one
// process: the lazy Deadline (a quick wait reads no clock for it; a started one is never
// restarted), the YieldPacer's learning, and wait_until's outcomes with a lazy deadline. The
// waits spin (busy_poll) or sleep on an event with no kernel object, so nothing here needs a
// channel or another process.
#include "test_support.hpp"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

using namespace venom_test;
namespace vd = venom::detail;
using Clock = vd::clock;
using namespace std::chrono_literals;

namespace {

vd::WaitParams params(venom::WaitPolicy policy) {
    vd::WaitParams p;
    p.policy = policy;
    p.spin = 200us;
    p.check_every = 5ms;
    return p;
}

/// An event over a local wait word: nobody notifies it; a block sleeps for its slice.
struct LocalEvent {
    vd::WaitWord word{};
    vd::Event event() {
        vd::Event e{};
        e.word = &word;
        return e;
    }
};

} // namespace

BOOST_AUTO_TEST_CASE(lazy_deadline_starts_at_its_first_look_and_stays) {
    vd::Deadline d = vd::Deadline::lazy(10ms);
    BOOST_TEST(!d.started());
    BOOST_TEST(d.bounded());
    const auto t0 = Clock::now() + 1h; // any reading: the deadline counts from the first one
    BOOST_TEST((d.at(t0) == t0 + 10ms));
    BOOST_TEST(d.started());
    BOOST_TEST((d.at(t0 + 5h) == t0 + 10ms)); // later readings do not move it
    BOOST_TEST(!d.passed(t0 + 9ms));
    BOOST_TEST(d.passed(t0 + 10ms));
}

BOOST_AUTO_TEST_CASE(lazy_deadline_of_max_is_no_deadline) {
    vd::Deadline d = vd::Deadline::lazy(std::chrono::nanoseconds::max());
    BOOST_TEST(!d.bounded());
    BOOST_TEST((d.at(Clock::now()) == Clock::time_point::max()));
    BOOST_TEST(!d.passed(Clock::now() + 24h));
    vd::Deadline none;
    BOOST_TEST(!none.bounded());
    BOOST_TEST(none.started());
}

BOOST_AUTO_TEST_CASE(lazy_deadline_saturates_instead_of_overflowing) {
    vd::Deadline d =
        vd::Deadline::lazy(std::chrono::nanoseconds::max() - std::chrono::nanoseconds(1));
    BOOST_TEST((d.at(Clock::now()) == Clock::time_point::max()));
    const auto fixed = Clock::now() + 3s;
    vd::Deadline f(fixed);
    BOOST_TEST(f.started());
    BOOST_TEST((f.at(Clock::now() + 1h) == fixed));
}

BOOST_AUTO_TEST_CASE(a_wait_answered_within_the_first_spins_never_starts_its_deadline) {
    LocalEvent le;
    const vd::Event ev = le.event();
    for (auto policy : {venom::WaitPolicy::busy_poll, venom::WaitPolicy::spin_then_block}) {
        vd::Deadline d = vd::Deadline::lazy(1s);
        unsigned calls = 0;
        auto ready = [&] { return ++calls >= vd::spins_per_check / 2; };
        auto never = [] { return false; };
        BOOST_TEST((vd::wait_until(ev, ready, never, params(policy), d) == vd::wait_status::ready));
        BOOST_TEST(!d.started()); // no look at the clock for it
    }
}

BOOST_AUTO_TEST_CASE(a_lazy_deadline_ends_the_wait_after_its_timeout) {
    LocalEvent le;
    const vd::Event ev = le.event();
    for (auto policy : {venom::WaitPolicy::busy_poll, venom::WaitPolicy::spin_then_block}) {
        vd::Deadline d = vd::Deadline::lazy(30ms);
        auto never = [] { return false; };
        const auto t0 = Clock::now();
        BOOST_TEST(
            (vd::wait_until(ev, never, never, params(policy), d) == vd::wait_status::timed_out));
        const auto took = Clock::now() - t0;
        BOOST_TEST(d.started());
        BOOST_TEST((took >= 30ms));
        BOOST_TEST((took < 30ms + 2s)); // bounded, on a loaded 2-core machine too
    }
}

BOOST_AUTO_TEST_CASE(a_started_deadline_is_not_restarted_by_the_next_wait) {
    // One request's waits (the previous answer, space, its own answer) share one Deadline:
    // the second wait must not count the timeout again from its own start.
    LocalEvent le;
    const vd::Event ev = le.event();
    vd::Deadline d = vd::Deadline::lazy(500ms);
    (void)d.at(Clock::now() - 1s); // as if the first wait had looked a second ago: passed
    auto never = [] { return false; };
    const auto t0 = Clock::now();
    BOOST_TEST((vd::wait_until(ev, never, never, params(venom::WaitPolicy::busy_poll), d) ==
                vd::wait_status::timed_out));
    BOOST_TEST((Clock::now() - t0 < 400ms)); // a restarted one would take 500 ms
}

BOOST_AUTO_TEST_CASE(abort_ends_a_wait_with_a_lazy_deadline) {
    LocalEvent le;
    const vd::Event ev = le.event();
    vd::Deadline d = vd::Deadline::lazy(std::chrono::nanoseconds::max());
    unsigned tests = 0;
    auto never = [] { return false; };
    auto third = [&] { return ++tests >= 3; };
    BOOST_TEST((vd::wait_until(ev, never, third, params(venom::WaitPolicy::busy_poll), d) ==
                vd::wait_status::aborted));
    BOOST_TEST(tests == 3u);
}

BOOST_AUTO_TEST_CASE(yield_pacer_backs_off_while_yields_give_the_cpu_to_nobody) {
    vd::YieldPacer p;
    BOOST_TEST(p.checks_per_yield == 1u);
    const unsigned expected[] = {2, 4, 8, 16, 32, 64, 64, 64};
    for (unsigned e : expected) {
        p.learn(false);
        BOOST_TEST(p.checks_per_yield == e);
    }
    static_assert(vd::YieldPacer::max_checks_per_yield == 64, "the table above stops at 64");
}

BOOST_AUTO_TEST_CASE(yield_pacer_yields_at_every_check_once_another_thread_ran) {
    vd::YieldPacer p;
    p.checks_per_yield = vd::YieldPacer::max_checks_per_yield;
    p.learn(true);
    BOOST_TEST(p.checks_per_yield == 1u);
    p.learn(false);
    BOOST_TEST(p.checks_per_yield == 2u);
}

BOOST_AUTO_TEST_CASE(yield_pacer_yields_only_at_its_checks) {
    vd::YieldPacer p;
    p.checks_per_yield = 4;
    for (unsigned check : {1u, 2u, 3u, 5u, 6u, 7u}) {
        (void)p.at_check(check);
        BOOST_TEST(p.checks_per_yield == 4u); // no yield, nothing learnt
    }
    (void)p.at_check(8); // a yield: it learns (8 if nobody ran, 1 if another thread did)
    BOOST_TEST((p.checks_per_yield == 8u || p.checks_per_yield == 1u));
}

#if defined(__linux__)
BOOST_AUTO_TEST_CASE(yield_cpu_sees_another_thread_run_on_its_cpu) {
    // Two threads pinned to one CPU: one spins, the other yields. A yield that hands the CPU to
    // the spinner must say so (the pacer then keeps yielding).
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    std::atomic<bool> stop{false}, pinned{false};
    std::thread spinner([&] {
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        pinned = true;
        while (!stop.load(std::memory_order_relaxed)) vd::cpu_relax();
    });
    unsigned ran = 0, yields = 0;
    std::thread yielder([&] {
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        const auto give_up = Clock::now() + 10s;
        while (!pinned.load() && Clock::now() < give_up) std::this_thread::yield();
        (void)vd::yield_cpu(); // the first call only sets the count
        // Up to 2000 yields (bounded in time too), until three saw the spinner run.
        for (; yields < 2000 && ran < 3 && Clock::now() < give_up; ++yields)
            ran += vd::yield_cpu() ? 1 : 0;
    });
    yielder.join();
    stop = true;
    spinner.join();
    // Not every one: the scheduler (EEVDF) may run the yielder again at once if it is still
    // owed CPU time; but one that never sees the spinner would keep the pacer backing off.
    BOOST_TEST(ran >= 1u, ran << " of " << yields << " yields saw the spinner run");
}
#endif

VENOM_TEST_MAIN("wait")
