// venom/detail/command_queue.hpp - the bounded MPSC command queue (shells -> daemon).
//
// Design (Vyukov's bounded queue, in the style of Boost.Lockfree, with a run-time capacity C):
//   fields:  ControlBlock::tail   next position to claim        (shells: CAS)
//            ControlBlock::head   next position to consume      (daemon only; mirrored for tools)
//            CmdSlot::seq         per-slot sequence number       (shell publishes, daemon frees)
//            CmdSlot::{request, client, length}, payload         (written by the claimant)
//            ClientRecord::pending_pos                           (claimant: "I am claiming pos")
//   slot states for position p (slot index p % C), with seq counting in steps of two so that
//   "published at p" (2p + 1) can never equal "free for p + C" (2(p + C)), even when C == 1:
//            seq == 2p            free, claimable by the producer at p
//            tail > p, seq == 2p  claimed, being written (not yet visible to the daemon)
//            seq == 2p + 1        published; the daemon may consume it
//            seq == 2(p + C)      consumed, free for position p + C
//   producer: pos = tail; seq == 2pos ? (pending_pos = pos; CAS tail pos -> pos+1) :
//             seq < 2pos ? full : reload. After the CAS: write fields and payload, then
//             seq = 2pos + 1 (SYNC POINT WRITE: command published), pending_pos = none.
//   consumer: seq(head) == 2head + 1 (SYNC POINT READ: command published) -> use the slot in
//             place, then seq = 2(head + C) (SYNC POINT WRITE: slot free), head += 1.
// Order: positions are handed out in tail order, and the daemon consumes strictly in position
// order, so the commands of one client (one outstanding at a time) are handled in sending order.
// Process death:
//   - a producer killed before its CAS: nothing happened.
//   - killed between the CAS and the publish: the slot stays claimed and the daemon cannot pass
//     it. Its pending_pos names the position; once the daemon finds the claimant's lock released
//     (the process is gone), it turns the slot into a skipped slot (seq = 2(p + C), head += 1)
//     exactly as if consumed, and wakes shells waiting for space: Aeron's unblock(). The
//     protocol and its memory orders are in liveness.hpp ("Dead claims").
//   - the daemon killed while consuming: the channel is gone; a new daemon starts a new segment.
// Corrupt values: client ids and lengths are checked against the process-local configuration
// before use; a malformed command is dropped and counted.
#pragma once

#include <venom/detail/channel_map.hpp>

#include <cstdint>
#include <cstring>

namespace venom::detail {

enum class claim_result { claimed, full, corrupt };

/// CmdSlot::seq values for position p (see the design note).
constexpr std::uint64_t seq_free(std::uint64_t pos) noexcept { return 2 * pos; }
constexpr std::uint64_t seq_published(std::uint64_t pos) noexcept { return 2 * pos + 1; }

/// Claims the next position for a command. \note lock-free; never blocks. `corrupt`: the
/// tail and a slot's seq contradict each other (seq ahead of an unchanging tail), which only
/// a write from outside the protocol can cause.
inline claim_result queue_try_claim(const ChannelMap& m, ClientRecord& me, std::uint64_t& pos) noexcept {
    ControlBlock& cb = *m.cb;
    pos = cb.tail.load(std::memory_order_relaxed);
    // A bound on the whole loop: honest producers win a CAS within a few rounds each, but a
    // process that keeps writing `tail` could keep us here; "full" sends the caller to its
    // bounded wait for space (its deadline and abort test apply there).
    constexpr unsigned max_rounds = 1u << 20;
    for (unsigned stale = 0, rounds = 0;; ++rounds) {
        if (rounds == max_rounds) {
            me.pending_pos.store(no_pending, std::memory_order_relaxed);
            return claim_result::full;
        }
        CmdSlot& s = m.slot(pos);
        const std::uint64_t seq = s.seq.load(std::memory_order_acquire); // SYNC POINT READ: slot free
        const auto diff = static_cast<std::int64_t>(seq - seq_free(pos));
        if (diff == 0) {
            // release: published by the CAS's release below to whoever reads tail afterwards;
            // release itself so that a daemon reading it (acquire) also sees this client's
            // earlier retraction and publish (C++20 no longer counts a relaxed store of the
            // same thread into the release sequence). A plain store on x86 and ARMv8 (stlr).
            me.pending_pos.store(pos, std::memory_order_release);
            if (cb.tail.compare_exchange_weak(pos, pos + 1, std::memory_order_release,
                                              std::memory_order_relaxed))
                return claim_result::claimed;
            // pos now holds the current tail: retry there.
        } else if (diff < 0) {
            // The slot still holds the command from pos - C. We claim nothing: say so, or the
            // daemon could take us for the claimant of a position a dead producer won.
            me.pending_pos.store(no_pending, std::memory_order_relaxed);
            return claim_result::full;
        } else {
            // Another producer took pos: its CAS of tail is visible, since its publish of seq
            // (which we acquired) came after it. An unchanged tail means corrupt memory.
            const std::uint64_t now = cb.tail.load(std::memory_order_relaxed);
            if (now == pos && ++stale > 1000) {
                me.pending_pos.store(no_pending, std::memory_order_relaxed);
                return claim_result::corrupt;
            }
            pos = now;
        }
    }
}

/// Writes and publishes a claimed slot. \pre queue_try_claim returned claimed for pos.
inline void queue_publish(const ChannelMap& m, ClientRecord& me, std::uint64_t pos,
                          std::uint32_t client, std::uint64_t request, const void* data,
                          std::size_t n) noexcept {
    CmdSlot& s = m.slot(pos);
    // relaxed: ordered by the release store of seq below.
    s.request.store(request, std::memory_order_relaxed);
    s.client.store(client, std::memory_order_relaxed);
    s.length.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
    if (n != 0) std::memcpy(m.slot_payload(s), data, n);
    s.seq.store(seq_published(pos), std::memory_order_release); // SYNC POINT WRITE: command published
    // release: a daemon that reads the retracted claim must also see the publish above, or on a
    // weakly ordered CPU (ARM) it could take this live claim for a dead one and skip it.
    me.pending_pos.store(no_pending, std::memory_order_release); // SYNC POINT WRITE: claim retracted
}

/// Whether the slot at position `pos` could be claimed now (for waiting on a full queue).
inline bool queue_has_space(const ChannelMap& m) noexcept {
    const std::uint64_t pos = m.cb->tail.load(std::memory_order_relaxed);
    const std::uint64_t seq = m.slot(pos).seq.load(std::memory_order_acquire);
    return static_cast<std::int64_t>(seq - seq_free(pos)) >= 0;
}

/// Daemon: the published slot at `head`, or nullptr if none is published yet.
inline CmdSlot* queue_front(const ChannelMap& m, std::uint64_t head) noexcept {
    CmdSlot& s = m.slot(head);
    // SYNC POINT READ: command published
    return s.seq.load(std::memory_order_acquire) == seq_published(head) ? &s : nullptr;
}

/// Daemon: frees the slot at `head` (consumed or skipped) and advances head.
inline void queue_release(const ChannelMap& m, std::uint64_t& head) noexcept {
    m.slot(head).seq.store(seq_free(head + m.cmd_slots), std::memory_order_release); // SYNC POINT WRITE: slot free
    ++head;
    m.cb->head.store(head, std::memory_order_relaxed); // mirror for tools; only the daemon reads it back
}

} // namespace venom::detail
