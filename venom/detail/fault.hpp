// SPDX-License-Identifier: BSL-1.0
// venom/detail/fault.hpp - fault injection for tests that must hit a narrow window every time,
// not by luck. A test sets `fault_hook`; the hook runs at each named point below. In
// production the hook is null: one relaxed load and a predictable branch, only on paths that
// are about to make a system call anyway or that only a write from outside the protocol
// reaches (never on the spin path or a request's fast path).
#pragma once

#include <atomic>

namespace venom::detail {

enum class fault {
    block_begin,      ///< waiter.hpp: a wait enters a block round, before loading the epoch
    before_sleep,     ///< waiter.hpp: the wait has tested ready() and abort(); it sleeps next
    lock_file_exists, ///< platform: a daemon's O_EXCL create of a channel file found one there
    record_read,      ///< liveness.hpp: attach read a valid record, before opening the segment
    tail_repair,      ///< command_queue.hpp: the daemon read an out-of-range tail, before its CAS
    /// daemon: a viewer whose pin is in a write's way probed dead, before its pins are cleared
    pin_owner_dead,
};
using fault_fn = void (*)(fault);
inline std::atomic<fault_fn> fault_hook{nullptr};

inline void fault_point(fault f) {
    // relaxed: a test sets the hook before the operations it observes start.
    if (fault_fn h = fault_hook.load(std::memory_order_relaxed)) h(f);
}

} // namespace venom::detail
