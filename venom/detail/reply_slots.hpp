// SPDX-License-Identifier: BSL-1.0
// venom/detail/reply_slots.hpp - deferred answers (venom::Reply): the daemon's per-client-slot
// bookkeeping, in its own process memory. Nothing here is in shared memory: only the daemon
// process writes answers, so only its threads need to agree on who writes a response slot.
//
// Design. A handler of the form handler(client, cmd, Reply) may answer later, from any thread
// of the daemon process. The run()/poll() thread goes on to other commands meanwhile, so up to
// max_clients answers may be open at once, one per client slot (a shell has one request in
// flight: response_slot.hpp). What must not happen: two threads writing one client's response
// slot at once (an answer of a new connection torn by a late answer of the old one), an
// answer for one connection reaching the next shell in the slot, and a write into the mapping
// after the daemon unmapped it.
//   fields and owners (all in reply_slots, shared by the daemon and every Reply through a
//   shared_ptr, so a Reply may outlive its daemon):
//     slot[c].mutex  - held while anyone writes client c's response slot on behalf of a
//                      Reply, or changes `open` / `gone` of c;
//     slot[c].open   - the request id of c's command the daemon took last, while it may still
//                      be answered (0: none); written by the run()/poll() thread when it takes a
//                      command (handle()) and by the Reply that answers it (to 0);
//     slot[c].gone   - the daemon closed: nothing may touch the mapping (set by close());
//     open_replies   - Replies alive and unanswered, this process (atomic: any thread);
//     log_mutex      - the error log and handler_errors (daemon_log.hpp: one writer at a
//                      time; a Reply's fail() runs on any thread).
//   states of one request r of client c (r carries c's connection generation):
//     taken:     handle() locks slot c, sets open = r (any Reply of c still out belongs to an
//                earlier connection, or to an earlier request whose shell gave up: stale from
//                now on), unlocks, makes Reply{c, r} and calls the handler. The command then
//                leaves the queue (the handler got a copy-or-lose-it view of its bytes).
//     answered:  Reply::send/fail locks slot c; if gone: daemon_gone, nothing written; if
//                open != r, or c's ClientRecord is not connected with r's generation: stale,
//                dropped and counted (ControlBlock::replies_stale); else it writes the answer
//                bytes, publishes seq = r (response_slot.hpp: SYNC POINT WRITE: answer), sets
//                open = 0 and unlocks. The shell's wait for r ends.
//     dropped:   a Reply destroyed unanswered answers handler_failed as above. The Reply that
//                handle() passed, destroyed while its handler throws, instead leaves the answer
//                to handle()'s catch, which answers with the exception's text (under the same
//                lock, if open is still r).
//   The lock makes "an old answer's bytes written over a new answer" impossible: a stale Reply
//   either finished its copy before handle() took the new command (its seq is an older id,
//   which the new shell ignores) or finds open moved on. A synchronous handler's answer (the
//   other forms) is written by the run()/poll() thread without the lock, after handle() has
//   set open under it; while no Reply is out (open_replies == 0) handle() skips even that.
// Process death or stall.
//   The shell dies with a Reply open: the Reply's send finds the slot free or reconnected
//     (generation moved) and is dropped as stale. The slot's next shell is not held back by it:
//     the command left the queue when the handler returned (liveness.hpp, claim_client_slot).
//   The shell's request times out: it keeps the request as outstanding and waits for its
//     answer before it stages the next one (shell_channel.hpp); a late send is still delivered
//     and unblocks it. So every Reply must be answered (the destructor sees to it).
//   A thread stalls inside send/fail: it holds only its slot's mutex, for one copy of at most
//     max_response_size bytes; the run()/poll() thread waits for it only when it takes the
//     next command of that same slot.
//   The daemon process dies: its answers die with it; shells see daemon_gone (liveness).
//   The DaemonChannel is destroyed (close()): close() locks each slot in turn and sets gone
//     before the segment is unmapped, so a Reply answering after that reports daemon_gone and
//     writes nothing, and one answering during close() finishes first.
#pragma once

#include <venom/error.hpp>
#include <venom/detail/channel_map.hpp>
#include <venom/detail/daemon_log.hpp>
#include <venom/detail/response_slot.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>

namespace venom::detail {

/// The daemon's bookkeeping of deferred answers (see the header comment). Process-local.
struct reply_slots {
    struct slot {
        std::mutex mutex;
        std::uint64_t open = 0; ///< request id that may still be answered (guarded by mutex)
        bool gone = false;      ///< the daemon closed (guarded by mutex)
    };

    explicit reply_slots(const ChannelMap& m)
        : map(m), count(m.max_clients), slots(new slot[m.max_clients]) {}

    /// The daemon's map; used only under a slot's mutex while that slot is not gone.
    const ChannelMap map;
    const std::uint32_t count; ///< max_clients
    std::unique_ptr<slot[]> slots;
    /// Replies alive and unanswered in this process. handle() reads it (acquire) to skip the
    /// slot lock while none is out: a Reply decrements it (release) only after its last
    /// write to the response slot, and only handle() creates Replies.
    std::atomic<std::uint32_t> open_replies{0};
    /// Serialises writers of the error log and of handler_errors (daemon_log.hpp has one
    /// writer at a time; Reply::fail runs on any thread). Taken on error paths only.
    std::mutex log_mutex;

    slot& at(std::uint32_t client) noexcept { return slots[client]; }

    /// handle()'s step "taken": request `request` of `client` is the one a Reply may answer.
    /// \pre the run()/poll() thread; client < count.
    void take(std::uint32_t client, std::uint64_t request) noexcept {
        std::lock_guard<std::mutex> guard(at(client).mutex);
        at(client).open = request;
    }

    /// Step "answered": publishes client `client`'s answer to `request`, status_ok with the n
    /// bytes at `bytes`, or an error status with the n bytes of text at `bytes` (cut to
    /// error_text_capacity), unless the daemon closed (daemon_gone) or the request is no
    /// longer the slot's open one (stale: std::errc::connection_aborted, counted). Any thread.
    /// \pre n <= max_response_size for status_ok; client < count.
    std::error_code answer(std::uint32_t client, std::uint64_t request, std::uint32_t status,
                           const void* bytes, std::size_t n) noexcept {
        slot& s = at(client);
        std::lock_guard<std::mutex> guard(s.mutex);
        if (s.gone) return make_error_code(errc::daemon_gone);
        const ClientRecord& rec = map.client(client);
        // SYNC POINT READ: connected (pairs with claim_client_slot's release store of state):
        // the generation read after it is that connection's (relaxed: ordered by the acquire).
        const bool connected = rec.state.load(std::memory_order_acquire) == client_connected;
        const std::uint64_t generation = rec.generation.load(std::memory_order_relaxed);
        if (s.open != request || !connected ||
            request_generation(request) != (generation & request_counter_mask)) {
            // relaxed: a lone counter for tools; several threads may add (other slots' locks).
            map.cb->replies_stale.fetch_add(1, std::memory_order_relaxed);
            return std::make_error_code(std::errc::connection_aborted);
        }
        if (status == status_ok) {
            if (n != 0) std::memcpy(answer_bytes(map, client), bytes, n);
            publish_answer(map, client, request, status_ok, n);
        } else {
            const std::size_t kept = std::min(n, error_text_capacity);
            if (kept != 0) std::memcpy(map.response_error_text(map.response(client)), bytes, kept);
            publish_answer(map, client, request, status, kept);
            char text[error_text_capacity + 1]; // log_error takes a NUL-terminated text
            if (kept != 0) std::memcpy(text, bytes, kept);
            text[kept] = '\0';
            std::lock_guard<std::mutex> log(log_mutex);
            bump(map.cb->handler_errors);
            log_error(*map.cb, client, request, status, text);
        }
        s.open = 0;
        return {};
    }

    /// The daemon closes: from now on no Reply touches the mapping. Waits for a Reply that is
    /// writing an answer now. Idempotent.
    void close() noexcept {
        for (std::uint32_t c = 0; c < count; ++c) {
            std::lock_guard<std::mutex> guard(at(c).mutex);
            at(c).gone = true;
        }
    }
};

} // namespace venom::detail
