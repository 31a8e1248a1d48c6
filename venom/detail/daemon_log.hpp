// SPDX-License-Identifier: BSL-1.0
// venom/detail/daemon_log.hpp - what a daemon records for tools: a heartbeat, and a log of its
// last error answers (ControlBlock lines 5-37, layout.hpp).
//
// Owners. Only the daemon's run()/poll() thread writes these lines (the heartbeat from its
// loop, the log from handle()); shells map them read-only; tools (venom/inspect.hpp) only read.
// Nothing here is on the per-command path: the heartbeat is stamped from a clock reading the
// idle wait already took, or once per heartbeat_commands commands when busy; an entry of the
// log is written per error answer only.
//
// Heartbeat: heartbeat_steady_ns is steady_clock's reading at the last beat (0: never) and
// `beats` counts them. A lone value read by tools: relaxed stores and loads, nothing is
// published by it. A daemon that dies or stops leaves the last value, which then only ages; a
// reader tells "not running" (age grows, no commands handled) from "stuck in a handler" (age
// grows, commands wait in the queue) with the counters beside it.
//
// Error log, a per-entry seqlock: error #k (errors_logged counts them) lives in entry
// k % error_log_entries. The writer marks the entry 2k + 1, copies the body in, marks it
// 2k + 2, then publishes errors_logged = k + 1. A reader that wants #k reads the entry's seq
// (must be 2k + 2), copies the body out, and reads seq again (must be unchanged).
//   writer dies before the first mark:  entry still holds #(k - 16) (or nothing): consistent;
//   writer dies between the marks:      seq stays odd; the entry reads as "being written"
//                                       forever (skipped), the other entries still read;
//   writer dies after the second mark:  #k is readable; errors_logged lags by one, so readers
//                                       that go by errors_logged do not ask for it: it is lost
//                                       to them, and the next daemon starts a new log anyway.
//   writer stalls anywhere:             readers never wait: one try per entry, then skip.
// The body is attacker-controlled like every shared byte: a reader clamps text_length, and
// takes `code` and `client` as numbers to show, never as indices.
#pragma once

#include <venom/detail/layout.hpp>
#include <venom/detail/platform.hpp>
#include <venom/detail/racy_copy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

namespace venom::detail {

/// A busy daemon beats once per this many commands handled (one clock read per batch).
inline constexpr unsigned heartbeat_commands = 64;
/// A daemon driven by poll() beats at every this-many-th poll() that finds nothing.
inline constexpr unsigned heartbeat_empty_polls = 16;

/// Nanoseconds of a steady_clock reading since the clock's epoch (as the heartbeat stores it).
inline std::uint64_t steady_ns(std::chrono::steady_clock::time_point t) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

/// A heartbeat from a clock reading the caller already has. \pre the run()/poll() thread.
inline void stamp_heartbeat(ControlBlock& cb, std::chrono::steady_clock::time_point now) noexcept {
    // relaxed: a lone value for tools; nothing is published by it (only this thread writes it).
    cb.heartbeat_steady_ns.store(steady_ns(now), std::memory_order_relaxed);
    bump(cb.beats);
}

/// Logs an error answer as error #errors_logged. `text` is NUL-terminated (what()); it is cut
/// to error_entry_text_capacity bytes. \pre the run()/poll() thread. No allocation, no throw.
inline void log_error(ControlBlock& cb, std::uint32_t client, std::uint64_t request,
                      std::uint32_t code, const char* text) noexcept {
    // relaxed: only this thread writes errors_logged.
    const std::uint64_t k = cb.errors_logged.load(std::memory_order_relaxed);
    ErrorEntry& e = cb.errors[k % error_log_entries];
    // relaxed + release fence: the odd mark is ordered before the body's bytes below.
    // SYNC POINT WRITE: error entry being written (pairs with read_error's second seq load)
    e.seq.store(2 * k + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    ErrorBody body{};
    body.unix_ns = unix_now_ns();
    body.request = request;
    body.client = client;
    body.code = code;
    const std::size_t full = text != nullptr ? std::strlen(text) : 0;
    const std::size_t kept = std::min(full, error_entry_text_capacity);
    body.text_length = static_cast<std::uint32_t>(kept);
    body.full_length = static_cast<std::uint32_t>(std::min<std::size_t>(full, UINT32_MAX));
    if (kept != 0) std::memcpy(body.text, text, kept);
    racy_copy_to_shared(e.body, &body, sizeof body);
    // release: the body's bytes before the even mark.
    // SYNC POINT WRITE: error entry complete (pairs with read_error's first seq load)
    e.seq.store(2 * k + 2, std::memory_order_release);
    // release: the entry complete before the count that makes readers ask for it.
    // SYNC POINT WRITE: error logged (pairs with log_range's errors_logged load)
    cb.errors_logged.store(k + 1, std::memory_order_release);
}

/// The errors a reader can ask for: [first, end) with end = errors_logged and at most
/// error_log_entries of them (errors_logged is any number in a hostile segment).
struct ErrorRange {
    std::uint64_t first = 0, end = 0;
};
inline ErrorRange log_range(const ControlBlock& cb) noexcept {
    // SYNC POINT READ: error logged (pairs with log_error's errors_logged store)
    const std::uint64_t end = cb.errors_logged.load(std::memory_order_acquire);
    return {end > error_log_entries ? end - error_log_entries : 0, end};
}

/// Reads error #k into `out`: false if its entry holds another error, or is being written (or
/// was when its daemon died). One try, never a wait. text_length comes back clamped.
inline bool read_error(const ControlBlock& cb, std::uint64_t k, ErrorBody& out) noexcept {
    const ErrorEntry& e = cb.errors[k % error_log_entries];
    // SYNC POINT READ: error entry complete (pairs with log_error's even mark)
    const std::uint64_t s1 = e.seq.load(std::memory_order_acquire);
    if (s1 != 2 * k + 2) return false;
    racy_copy_from_shared(&out, e.body, sizeof out);
    // acquire fence: the body's bytes are read before seq is read again.
    // SYNC POINT READ: error entry being written (pairs with log_error's odd mark)
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e.seq.load(std::memory_order_relaxed) != s1) return false;
    out.text_length = std::min<std::uint32_t>(
        out.text_length, static_cast<std::uint32_t>(error_entry_text_capacity));
    return true;
}

} // namespace venom::detail
