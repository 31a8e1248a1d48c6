// SPDX-License-Identifier: BSL-1.0
// venom/detail/response_slot.hpp - a client's answers (daemon -> one shell).
//
// Design. One ResponseSlot per client slot, in the responses region, which shells map
// read-only: only the daemon writes it, only the client holding the slot reads it. The answer's
// bytes start right after the 16-byte header, in the header's cache line, so an answer of up
// to response_inline_capacity (48) bytes reaches the shell in one line; longer ones run on
// into the next lines. Error text (a handler's what()) has its own area after the payload.
// The client's wait word for its answers lives in its own client area (it writes `waiters`).
//   owners:  daemon writes seq, status, length, bytes; the client reads them.
//   daemon:  bytes (the handler writes them in place, or a copy); length, status (relaxed);
//            seq = request id (seq_cst: SYNC POINT WRITE: answer); notify_published.
//   client:  seq == its request id (acquire: SYNC POINT READ: answer) -> status, length,
//            bytes. Any other seq is an older answer (ids carry the connection's generation
//            and a per-connection counter): the client keeps waiting.
// Why nothing tears: the daemon writes client c's slot only while handling a command of c,
// and c stages its next command only after it has this answer (or, after a timeout, once
// seq shows the daemon answered the timed-out request: shell_channel.hpp). A shell taking over
// slot c after a disconnect waits until no queued command of its predecessor remains.
// Process death: a daemon killed mid-answer never publishes seq: the client's wait ends with
// daemon_gone (its liveness probe). A client killed while waiting: the answer goes unread;
// the next holder of the slot ignores it (other generation).
// Corrupt values: a status that is not ok nor a venom::errc value, and lengths over their
// capacities, are reported as corrupt_channel, never used.
// A deferred answer's command leaves the queue before its answer is in: the daemon first
// stores its request id in the client's answer line (mark_deferred), so the client's test for
// a command that vanished from the queue (shell_channel.hpp) tells it from a lost one.
// Deferred answers (venom::Reply) are written from any thread of the daemon process, one at a
// time per slot under that slot's process-local mutex (reply_slots.hpp), which keeps "one
// writer per slot at a time" true.
#pragma once

#include <venom/detail/channel_map.hpp>
#include <venom/detail/waiter.hpp>

#include <cstdint>
#include <cstring>
#include <string>

namespace venom::detail {

// ---- the daemon's half ----------------------------------------------------------------------

/// Where the daemon writes client `id`'s answer bytes (max_response_size of them).
inline unsigned char* answer_bytes(const ChannelMap& m, std::uint32_t id) noexcept {
    return m.response_payload(m.response(id));
}

/// Publishes client `id`'s answer to `request`: n bytes already written at answer_bytes(), or
/// an error text's n bytes (status != status_ok), then wakes the client if it sleeps.
inline void publish_answer(const ChannelMap& m, std::uint32_t id, std::uint64_t request,
                           std::uint32_t status, std::size_t n) noexcept {
    ResponseSlot& r = m.response(id);
    // relaxed: ordered by the store of seq below.
    r.length.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
    r.status.store(status, std::memory_order_relaxed);
    // seq_cst: a release for the bytes above, and the notifier half of the wait's Dekker pair.
    r.seq.store(request, std::memory_order_seq_cst); // SYNC POINT WRITE: answer
    notify_published(m.response_event(id));
}

/// Publishes an error answer whose text is `text` (cut to error_text_capacity).
inline void publish_error(const ChannelMap& m, std::uint32_t id, std::uint64_t request,
                          std::uint32_t status, const char* text) noexcept {
    std::size_t n = std::char_traits<char>::length(text);
    if (n > error_text_capacity) n = error_text_capacity;
    std::memcpy(m.response_error_text(m.response(id)), text, n);
    publish_answer(m, id, request, status, n);
}

/// Marks client `id`'s `request` as deferred (venom::Reply): its command leaves the queue
/// before its answer is published. \pre the run()/poll() thread, before queue_release of it.
inline void mark_deferred(const ChannelMap& m, std::uint32_t id, std::uint64_t request) noexcept {
    // relaxed: published by queue_release's release store of the ring word (SYNC POINT WRITE:
    // slot free), which a shell's queue_holds_client acquires before it reads this.
    m.answer_deferred(id).store(request, std::memory_order_relaxed);
}

// ---- the client's half ----------------------------------------------------------------------

/// Whether the daemon took `request` of client `id` and deferred its answer (a Reply is out
/// for it). \pre read after queue_holds_client found no ring word of `id` (its acquire).
inline bool answer_deferred(const ChannelMap& m, std::uint32_t id, std::uint64_t request) noexcept {
    // acquire: pairs with queue_release's release (through the ring word read before).
    return m.answer_deferred(id).load(std::memory_order_acquire) == request;
}

/// Whether client `id`'s slot holds the answer to `request`.
inline bool answered(const ChannelMap& m, std::uint32_t id, std::uint64_t request) noexcept {
    // SYNC POINT READ: answer (pairs with the seq_cst store in publish_answer).
    return m.response(id).seq.load(std::memory_order_acquire) == request;
}

/// What the client found in its slot. \pre answered() was true for the request.
struct answer_view {
    std::uint32_t status = status_ok;
    std::size_t length = 0;
    const unsigned char* bytes = nullptr; ///< status_ok: the answer; otherwise the error text
    bool corrupt = false;                 ///< a length or status out of range
};

inline answer_view read_answer(const ChannelMap& m, std::uint32_t id) noexcept {
    ResponseSlot& r = m.response(id);
    answer_view a;
    // relaxed: ordered after answered()'s acquire.
    a.status = r.status.load(std::memory_order_relaxed);
    a.length = r.length.load(std::memory_order_relaxed);
    if (a.status == status_ok) {
        a.bytes = m.response_payload(r);
        a.corrupt = a.length > m.max_response_size;
    } else {
        a.bytes = reinterpret_cast<const unsigned char*>(m.response_error_text(r));
        if (a.length > error_text_capacity) a.length = error_text_capacity;
    }
    return a;
}

} // namespace venom::detail
