// SPDX-License-Identifier: BSL-1.0
// tools/cli/wait.hpp - `venom wait NAME`: until a live daemon serves channel NAME.
//
// It only looks (venom::inspect_channel, read-only: no client slot is taken, so it works when
// every slot is full, and the daemon cannot tell it is watched), once every --interval
// (default 10 ms), and returns as soon as a look finds the channel alive and its daemon
// serving. The clients and the error log are not read (InspectOptions clients/errors off): a
// look is the lock file, the segment's mapping and a few loads.
//
// Time. The first look is at once. Between looks it sleeps min(interval, deadline - now), so
// the last look is at the deadline itself and a daemon that comes up just before it is seen;
// with --timeout 0 there is exactly one look. The sleep is cut into slices of at most
// stop_check_slice, after each of which the stop flag (set by SIGINT/SIGTERM) is read: Ctrl-C
// ends a wait with a long interval at once. Without --timeout the loop has no deadline: it
// ends when the daemon serves, or at Ctrl-C; every look is bounded (inspect_channel never
// waits on another process).
//
// Results are returned, not printed: venom_cli.cpp turns them into its output and exit codes
// (0 served; 1 timeout or interrupted, with the keys "timeout" and "interrupted").
#pragma once

#include "os.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace venom_cli {

/// The longest a sleep goes without looking at the stop flag (Ctrl-C is seen this soon).
inline constexpr std::chrono::milliseconds stop_check_slice{20};

/// Sleeps until `until` unless `stop` becomes non-zero; false if it did (or already was).
inline bool sleep_until_or_stop(std::chrono::steady_clock::time_point until,
                                const os::StopFlag& stop) {
    while (stop == 0) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) return true;
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(until - now, stop_check_slice));
    }
    return false;
}

struct WaitSettings {
    std::string name;                                 ///< a valid channel name
    std::optional<std::chrono::milliseconds> timeout; ///< empty: no deadline
    std::chrono::milliseconds interval{10};           ///< between two looks (at least 1 ms)
};

struct WaitOutcome {
    enum class Result { served, timed_out, interrupted };
    Result result = Result::timed_out;
    venom::channel_status status = venom::channel_status::missing; ///< the last look's
    std::uint32_t pid = 0;               ///< the daemon's, as the last look found it (0: none)
    std::chrono::milliseconds waited{0}; ///< from the first look to the last
    std::uint64_t looks = 0;             ///< inspections made
};

/// Looks at `s.name` until a live daemon serves it, the deadline passes or `stop` is set.
/// Throws what venom::inspect_channel throws (system_failure, bad_alloc).
inline WaitOutcome wait_for_daemon(const WaitSettings& s, const os::StopFlag& stop) {
    using clock = std::chrono::steady_clock;
    venom::InspectOptions o;
    o.clients = false;
    o.errors = false;
    o.map_untrusted = true; // the tool accepts SIGBUS from a hostile owner (inspect.hpp)
    const auto t0 = clock::now();
    const auto deadline = s.timeout ? t0 + *s.timeout : clock::time_point::max();
    WaitOutcome out;
    auto finish = [&](WaitOutcome::Result r) {
        out.result = r;
        out.waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
        return out;
    };
    for (;;) {
        const venom::ChannelInfo c = venom::inspect_channel(s.name, o);
        ++out.looks;
        out.status = c.status;
        out.pid = c.daemon.pid;
        if (c.status == venom::channel_status::alive && c.daemon.serving)
            return finish(WaitOutcome::Result::served);
        if (stop != 0) return finish(WaitOutcome::Result::interrupted);
        const auto now = clock::now();
        if (now >= deadline) return finish(WaitOutcome::Result::timed_out);
        const auto wake = deadline - now > s.interval ? now + s.interval : deadline;
        if (!sleep_until_or_stop(wake, stop)) return finish(WaitOutcome::Result::interrupted);
    }
}

} // namespace venom_cli
