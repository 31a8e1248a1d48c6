// SPDX-License-Identifier: BSL-1.0
// venom/detail/waiter.hpp - the hybrid wait: spin briefly, then block in the kernel (a futex on
// the WaitWord on Linux, a named semaphore on Windows: platform.hpp, Event).
//
// Design (an eventcount over a WaitWord {epoch, waiters}):
//   waiter:   e = epoch; waiters += 1; fence; if (!ready() && !abort()) futex_wait(epoch, e);
//             waiters -= 1
//   notifier: publish the data; fence; if (waiters != 0) { epoch += 1; futex_wake(epoch) }
// The two seq_cst fences make it a Dekker pair: either the notifier sees the announced waiter
// (and bumps epoch, so futex_wait returns or is woken), or the waiter's re-check sees the data.
// The notifier's fast path is a fence and a load: no system call while nobody sleeps.
// Aborts (stop, close) are published before an unconditional epoch bump (wake_all), and the
// waiter tests abort() after loading the epoch: an abort that lands just after a test is seen
// by the next one or moves the epoch under the sleep, never costs a whole slice.
//
// Owners: `epoch` is written only by notifiers, `waiters` only by waiters.
// Crash cases: a waiter killed while announced leaves `waiters` over-counted; the only cost is
// a futex_wake system call per notify until the count is reset (a client's own WaitWord is
// reset when its slot is claimed again). A notifier killed between the bump and the wake
// leaves the waiter asleep until its time slice ends: every block is sliced (at most
// `check_every`), and the waiter re-checks its condition and its abort test after each slice.
// The spin phase reads no clock for its first spins_per_check spins, yields its CPU now and
// then (YieldPacer: as often as that lets something else run), and a lazy Deadline starts
// only at the first look at the clock: a wait answered quickly costs loads and pauses only.
#pragma once

#include <venom/config.hpp>
#include <venom/detail/fault.hpp>
#include <venom/detail/layout.hpp>
#include <venom/detail/platform.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>

namespace venom::detail {

using clock = std::chrono::steady_clock;

/// Wakes whoever waits on the event, after a publish made by a seq_cst store or
/// read-modify-write (the queue's publish CAS, an answer's seq, the state word): the seq_cst
/// load of `waiters` after it is the notifier's half of the Dekker pair without a fence
/// (C++: both are in the single total order S, and the waiter's announcement is followed by
/// a seq_cst fence; x86: the publish was a locked instruction or xchg; ARMv8: stlr then ldar
/// stay in order). The fast path is one plain load when nobody sleeps.
inline void notify_published(const Event& ev) noexcept {
    WaitWord& w = *ev.word;
    // SYNC POINT (Dekker, notifier side): the seq_cst publish before it, then this load.
    if (w.waiters.load(std::memory_order_seq_cst) != 0) {
        // release: a waiter whose epoch load (acquire) reads this bump also sees the publish,
        // so it cannot have been counted here yet sleep on the new epoch. The futex compares
        // the value itself.
        w.epoch.fetch_add(1, std::memory_order_release);
        event_wake_all(ev);
    }
}

/// Wakes whoever waits on the event, after a publish made by a weaker store (a release, or
/// several stores): a seq_cst fence orders it before reading `waiters`.
inline void notify(const Event& ev) noexcept {
    // SYNC POINT (Dekker, notifier side): the publish above is ordered before reading waiters.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    notify_published(ev);
}

/// Wakes the event's waiters unconditionally (stop, close): also safe in a signal handler.
inline void wake_all(const Event& ev) noexcept {
    ev.word->epoch.fetch_add(1, std::memory_order_seq_cst);
    // SYNC POINT (Dekker, notifier side): the bump is ordered before reading `waiters`, as in
    // notify(): a waiter not counted yet sees the new epoch and does not sleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    event_wake_all(ev);
}

struct WaitParams {
    WaitPolicy policy = WaitPolicy::spin_then_block;
    std::chrono::nanoseconds spin{std::chrono::microseconds(50)};
    /// The longest single block: the abort test runs at least this often.
    std::chrono::nanoseconds check_every{std::chrono::milliseconds(20)};
};

/// `timeout` after `now`, saturating at time_point::max().
inline clock::time_point saturating_add(clock::time_point now,
                                        std::chrono::nanoseconds timeout) noexcept {
    if (timeout >= clock::time_point::max() - now) return clock::time_point::max();
    return now + std::chrono::duration_cast<clock::duration>(timeout);
}

/// Deadline `timeout` from now, saturating. nanoseconds::max() means no deadline, and then
/// the clock is not read at all.
inline clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept {
    if (timeout == std::chrono::nanoseconds::max()) return clock::time_point::max();
    return saturating_add(clock::now(), timeout);
}

/// A deadline that may start late: Deadline::lazy(timeout) reads no clock until a wait first
/// looks at the clock anyway (after spins_per_check spins), and counts the timeout from
/// there. A hot path answered within those spins then reads no clock at all, even with a
/// timeout (one steady_clock read costs about 35 ns on this project's test machine, a sixth
/// of a small request's round trip). The price: the timeout starts up to one check late
/// (spins_per_check spins, a few microseconds). Several waits of one operation share one
/// Deadline, so it starts once.
class Deadline {
public:
    Deadline() = default; ///< no deadline
    /* implicit */ Deadline(clock::time_point at) noexcept : at_(at) {}

    /// `timeout` from the first look at the clock; nanoseconds::max(): none.
    static Deadline lazy(std::chrono::nanoseconds timeout) noexcept {
        Deadline d;
        if (timeout != std::chrono::nanoseconds::max()) {
            d.pending_ = timeout;
            d.started_ = false;
        }
        return d;
    }

    /// The deadline, given the clock's reading `now` (starting a lazy one there).
    clock::time_point at(clock::time_point now) noexcept {
        seen_ = now;
        if (!started_) {
            at_ = saturating_add(now, pending_);
            started_ = true;
        }
        return at_;
    }

    /// Whether it has passed at `now`.
    bool passed(clock::time_point now) noexcept { return now >= at(now); }

    /// Whether there is a deadline at all (a wait without one never needs the clock for it).
    bool bounded() const noexcept { return !started_ || at_ != clock::time_point::max(); }

    /// Whether it has started (a lazy one starts at its first at(); a fixed one always has).
    bool started() const noexcept { return started_; }

    /// The last clock reading it was given (at(), passed()); a default time_point if none: the
    /// wait that used it read no clock. (The daemon's heartbeat reuses it: daemon_log.hpp.)
    clock::time_point seen() const noexcept { return seen_; }

private:
    clock::time_point seen_{};
    clock::time_point at_ = clock::time_point::max();
    std::chrono::nanoseconds pending_{0};
    bool started_ = true;
};

/// Outcome of wait_until: ready, timed out, or an abort code (nonzero errc from `abort`).
enum class wait_status { ready, timed_out, aborted };

/// Spins between two looks at the clock and the abort test in the spin phase.
inline constexpr unsigned spins_per_check = 64;

/// How often a spinning wait yields its CPU, learnt per thread. A yield is what lets the
/// process being waited for run on a machine with fewer cores than busy threads (16 shells on
/// 2 cores: 0.2x of one shell's throughput without it, 0.5x-1x with it; README, Performance),
/// but it is a system call (about 0.7 us on this project's test machine, the time of 25 spins),
/// and an answer or update that lands during it waits for it to end. So a yield that gave the
/// CPU to nobody (platform.hpp, yield_cpu: no context switch) doubles the checks until the next
/// one, up to max_checks_per_yield; one that let another thread run - or a preemption since
/// the last yield - sets it back to every check. (Timing the yield instead is fooled by a
/// thread that runs briefly and yields back: the yield looks short, so it backs off.)
struct YieldPacer {
    static constexpr unsigned max_checks_per_yield = 64;
    unsigned checks_per_yield = 1;

    /// The thread's pacer (its learning carries from one wait to the next).
    static YieldPacer& mine() noexcept {
        static thread_local YieldPacer p;
        return p;
    }

    /// At the `check`-th check of a wait: yields if it is time; returns the clock's reading.
    clock::time_point at_check(unsigned check) noexcept {
        if (check % checks_per_yield == 0) learn(yield_cpu());
        return clock::now();
    }

    /// A yield let another thread run (`ran`), or gave the CPU to nobody.
    void learn(bool ran) noexcept {
        checks_per_yield = ran ? 1u : std::min(2 * checks_per_yield, max_checks_per_yield);
    }
};

/// Waits until ready() is true, the deadline passes, or abort() returns true.
/// ready() must be cheap (it runs in the spin loop); abort() runs every spins_per_check spins
/// and after every block. Never spins longer than params.spin unless the policy is busy_poll;
/// the spin time counts from the first check (a wait answered within spins_per_check spins
/// reads no clock).
template <class Ready, class Abort>
wait_status wait_until(const Event& ev, Ready&& ready, Abort&& abort, const WaitParams& params,
                       Deadline& deadline) {
    WaitWord& w = *ev.word;
    if (ready()) return wait_status::ready;
    // ---- spin phase
    const bool busy = params.policy == WaitPolicy::busy_poll;
    clock::time_point spin_end{}; // set at the first check
    YieldPacer& pacer = YieldPacer::mine();
    for (unsigned i = 1, check = 0;; ++i) {
        if (ready()) return wait_status::ready;
        cpu_relax();
        if (i % spins_per_check == 0) {
            // Now and then let a runnable thread of this CPU go first: on a machine with fewer
            // cores than waiting processes, the process being waited for is often that thread
            // (YieldPacer). An answer that comes within spins_per_check spins never gets here.
            const auto now = pacer.at_check(check++);
            if (abort()) return ready() ? wait_status::ready : wait_status::aborted;
            if (deadline.passed(now)) return ready() ? wait_status::ready : wait_status::timed_out;
            if (busy) continue;
            if (spin_end == clock::time_point{}) spin_end = now + params.spin;
            else if (now >= spin_end) break;
        }
    }
    // ---- block phase
    // The epoch is loaded before the abort test, so an abort (stop, close) published between
    // the test and the sleep is never missed: its waker bumps the epoch after publishing, so
    // either the test sees the abort, or the epoch moved and the futex returns at once.
    for (;;) {
        fault_point(fault::block_begin);
        // acquire: pairs with the seq_cst bump of wake_all, after the abort was published.
        const std::uint32_t e = w.epoch.load(std::memory_order_acquire);
        w.waiters.fetch_add(1, std::memory_order_relaxed);
        // SYNC POINT (Dekker, waiter side): the announcement is ordered before re-checking.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        bool ok = ready();
        bool stop = false;
        if (!ok) {
            stop = abort();
            if (!stop) {
                const auto now = clock::now();
                auto slice = params.check_every;
                if (deadline.bounded())
                    slice = std::min<std::chrono::nanoseconds>(slice, deadline.at(now) - now);
                fault_point(fault::before_sleep);
                event_wait(ev, e, slice);
                ok = ready();
            }
        }
        w.waiters.fetch_sub(1, std::memory_order_relaxed);
        if (ok) return wait_status::ready;
        if (stop || abort()) return ready() ? wait_status::ready : wait_status::aborted;
        if (deadline.passed(clock::now()))
            return ready() ? wait_status::ready : wait_status::timed_out;
    }
}

} // namespace venom::detail
