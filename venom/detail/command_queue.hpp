// SPDX-License-Identifier: BSL-1.0
// venom/detail/command_queue.hpp - the bounded MPSC command queue (shells -> daemon).
//
// Design. A ring of R = ring_slots (a power of two) slots, each ONE atomic word on its own
// cache line. The command itself is not in the ring but in its client's staging area
// (layout.hpp: ClientArea), which only that client writes, and it is complete before the
// client touches the queue. So a queue entry is a single word - "client c has a command for
// position p" - and claiming a position and publishing the command there are one CAS: there
// is no moment at which a position is claimed but not yet published, and no claimant that a
// stop (SIGSTOP, a debugger), a preemption or a death can leave holding the queue.
//   fields:  SharedLines::tail     a hint: the lowest position not known to be taken
//                                  (every producer CASes it forward, its own or a helped one)
//            head                  next position to consume (daemon only, in its own memory;
//                                  mirrored in ControlBlock::head for tools)
//            CmdSlot::word         per slot, below (single atomic operations only)
//            StagingHeader, bytes  the command (its client only)
//   slot words for position p (slot p & (R - 1)); the position is kept modulo 2^52:
//            slot_free(p)          = p << 12                   free for position p
//            slot_published(p, c)  = p << 12 | c << 1 | 1      client c's command for p
//   a producer (client c), its command staged (bytes, length, request id: plain stores):
//     t = tail; word(t) == slot_free(t) ? CAS word(t): slot_free(t) -> slot_published(t, c)
//     (SYNC POINT WRITE: command published), then CAS tail t -> t + 1 (done; failing means
//     someone helped) : word(t) for an older position (t - R not consumed): full, wait for
//     space : taken (published, or already consumed): CAS tail t -> t + 1 (help), look again.
//   the daemon, at head:
//     word == slot_published(head, c) (SYNC POINT READ: command published) -> reads client c's
//     staging area, answers, then word = slot_free(head + R) (SYNC POINT WRITE: slot free);
//     head += 1.
// Why no hole: tail passes t only after slot t was published (its winner moves tail, or a
// helper that saw slot t taken), so every position below tail is published or consumed, and
// the daemon never waits for a position whose producer stalled.
// Writes from outside the protocol (the ring and tail are in pages every shell maps writable:
// a stray write of a buggy shell lands there as easily as anywhere) can still make holes: a
// head position that tail has passed but that holds no publish. The daemon skips such a
// position once it has stayed so for ChannelConfig::claim_timeout, puts a tail that ran more
// than a ring ahead (or behind head) back to head, and resets a ring word that does not fit
// the position its slot stands for (another lap's, a broken state: producers would stay away
// from that slot for ever) once such words have stayed for claim_timeout. Such writes can also
// forge a publish naming another client (which re-runs that client's staged command): README,
// Security, says what shells that share a channel trust each other with.
// Order: positions are taken in tail order and consumed in position order; a client has at
// most one command queued (it waits for the answer, or after a timeout for the daemon to be
// done with its staging area, before staging the next), so its commands run in sending order.
// Process death: a producer killed before its CAS left nothing; after it, a complete command,
// which the daemon drops if it finds its sender's slot free by then (stale). The daemon killed
// while consuming: the channel is gone; a new daemon starts a new segment.
// Corrupt values: a client id in a published word is checked against max_clients, the staging
// length against max_cmd_size, before use.
#pragma once

#include <venom/detail/channel_map.hpp>
#include <venom/detail/fault.hpp>

#include <cstdint>

namespace venom::detail {

enum class push_result { pushed, full };

inline constexpr unsigned slot_position_shift = 12; ///< low bits: published flag and client id
inline constexpr std::uint64_t slot_published_bit = 1;
inline constexpr unsigned slot_client_shift = 1;
inline constexpr std::uint64_t slot_client_mask =
    (1u << (slot_position_shift - slot_client_shift)) - 1;
static_assert(limits::max_clients - 1 <= slot_client_mask, "every client id fits a slot word");

constexpr std::uint64_t slot_free(std::uint64_t pos) noexcept { return pos << slot_position_shift; }
constexpr std::uint64_t slot_published(std::uint64_t pos, std::uint32_t client) noexcept {
    return (pos << slot_position_shift) | (std::uint64_t{client} << slot_client_shift) |
           slot_published_bit;
}
/// The word's position minus pos, modulo 2^52, as a signed number.
constexpr std::int64_t slot_position_diff(std::uint64_t word, std::uint64_t pos) noexcept {
    return static_cast<std::int64_t>((word >> slot_position_shift << slot_position_shift) -
                                     (pos << slot_position_shift)) >>
           slot_position_shift;
}

/// A bound on one push: honest producers win a CAS within a few rounds each, but a process
/// that keeps writing the ring or `tail` could keep us here; "full" sends the caller to its
/// bounded wait for space (its deadline and abort test apply there).
inline constexpr unsigned push_max_rounds = 1u << 20;

/// Asks for the cache line of the slot at the tail, for writing: a producer calls it before it
/// stages its command, so the line's transfer overlaps with the staging writes instead of
/// following them (the push's CAS waits for both). A hint; it changes nothing.
inline void queue_prefetch(const ChannelMap& m) noexcept {
    prefetch_write(&m.slot(m.shared->tail.load(std::memory_order_relaxed)));
}

/// Pushes client `client`'s staged command: claims and publishes the next position in one
/// CAS of its slot, then moves tail past it. Lock-free; never blocks. `pos` gets the
/// position. \pre the client's staging area holds the command.
inline push_result queue_push(const ChannelMap& m, std::uint32_t client,
                              std::uint64_t& pos) noexcept {
    std::atomic<std::uint64_t>& tail = m.shared->tail;
    // relaxed: tail is a hint of where to look; the slot word is what we trust.
    std::uint64_t t = tail.load(std::memory_order_relaxed);
    for (unsigned rounds = 0; rounds < push_max_rounds; ++rounds) {
        std::atomic<std::uint64_t>& word = m.slot(t).word;
        // SYNC POINT READ: slot free (pairs with queue_release): the daemon is done with the
        // command that held this slot before.
        std::uint64_t w = word.load(std::memory_order_acquire);
        if (w == slot_free(t)) {
            // seq_cst: a release (the staging area written before it is visible to the
            // daemon's acquire: SYNC POINT WRITE: command published), and with
            // notify_published's seq_cst load of cmd_wait.waiters the notifier half of the
            // wait's Dekker pair, with no separate fence (waiter.hpp).
            if (word.compare_exchange_strong(w, slot_published(t, client),
                                             std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
                pos = t;
                // relaxed: tail carries no data. Failing means another producer helped.
                tail.compare_exchange_strong(t, t + 1, std::memory_order_relaxed,
                                             std::memory_order_relaxed);
                return push_result::pushed;
            }
            continue; // another producer took position t: look at what it left
        }
        if (slot_position_diff(w, t) < 0) return push_result::full; // t - R not consumed yet
        // Position t is taken (published, or consumed already): help tail past it. On
        // failure t holds the tail someone else moved to.
        if (tail.compare_exchange_strong(t, t + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed))
            ++t;
    }
    return push_result::full;
}

/// Whether the slot at the tail could be claimed now (for waiting on a full queue).
inline bool queue_has_space(const ChannelMap& m) noexcept {
    const std::uint64_t pos = m.shared->tail.load(std::memory_order_relaxed);
    return slot_position_diff(m.slot(pos).word.load(std::memory_order_acquire), pos) >= 0;
}

/// Daemon: whether position `head` is published; `client` gets its sender.
inline bool queue_front(const ChannelMap& m, std::uint64_t head, std::uint32_t& client) noexcept {
    // SYNC POINT READ: command published (pairs with the seq_cst CAS in queue_push).
    const std::uint64_t w = m.slot(head).word.load(std::memory_order_acquire);
    if ((w & ~(slot_client_mask << slot_client_shift)) != (slot_free(head) | slot_published_bit))
        return false;
    client = static_cast<std::uint32_t>((w >> slot_client_shift) & slot_client_mask);
    return true;
}

/// Daemon: whether tail has passed `head` although `head` is not published (see queue_skip).
inline bool queue_head_passed_unpublished(const ChannelMap& m, std::uint64_t head) noexcept {
    std::uint32_t c;
    const auto ahead =
        static_cast<std::int64_t>(m.shared->tail.load(std::memory_order_relaxed) - head);
    return ahead > 0 && !queue_front(m, head, c);
}

/// Daemon: frees the slot at `head` (consumed) and advances head.
inline void queue_release(const ChannelMap& m, std::uint64_t& head) noexcept {
    // release (SYNC POINT WRITE: slot free): our reads of the command come before its reuse.
    m.slot(head).word.store(slot_free(head + m.ring_slots), std::memory_order_release);
    ++head;
    // mirror for tools; only the daemon reads it back
    m.cb->head.store(head, std::memory_order_relaxed);
}

/// Daemon: skips position `head`, which tail has passed but no publish filled (only a write
/// from outside the protocol does that: see the design note), and advances head. false: it
/// holds a publish now (handle it).
inline bool queue_skip(const ChannelMap& m, std::uint64_t& head) noexcept {
    std::atomic<std::uint64_t>& word = m.slot(head).word;
    std::uint64_t w = word.load(std::memory_order_acquire);
    std::uint32_t c;
    if (queue_front(m, head, c)) return false;
    // A word for a later lap may be a producer's real publish (after a stray word made it help
    // tail on): leave it for its position and only move head on.
    if (slot_position_diff(w, head) <= 0) {
        // acq_rel: on failure the word may be a publish, whose command the caller then reads.
        if (!word.compare_exchange_strong(w, slot_free(head + m.ring_slots),
                                          std::memory_order_acq_rel, std::memory_order_acquire))
            return false;
    }
    ++head;
    m.cb->head.store(head, std::memory_order_relaxed);
    return true;
}

/// Daemon: a bound on queue_repair_tail's attempts. Producers walking a far-behind tail up
/// CAS it at every step, so one attempt almost always loses to them (ASan builds lost it for
/// seconds on end); each lost attempt reloads the tail and tries again, up to this many.
inline constexpr unsigned repair_tail_max_attempts = 1024;

/// Daemon: puts tail back to head if a write from outside the protocol moved it more than a
/// ring ahead, or behind head (producers would find the queue full, or walk it up one CAS at a
/// time). Legitimately head - 1 <= tail <= head + R: a producer's publish, which the daemon
/// acquires, comes after its read of tail, and it moves tail on only after that. true: repaired.
inline bool queue_repair_tail(const ChannelMap& m, std::uint64_t head) noexcept {
    std::uint64_t t = m.shared->tail.load(std::memory_order_relaxed);
    for (unsigned attempt = 0; attempt < repair_tail_max_attempts; ++attempt) {
        const auto d = static_cast<std::int64_t>(t - head);
        if (d >= -1 && d <= static_cast<std::int64_t>(m.ring_slots)) return false;
        fault_point(fault::tail_repair);
        // relaxed: tail carries no data. On failure t holds the tail a producer moved to.
        if (m.shared->tail.compare_exchange_strong(t, head, std::memory_order_relaxed,
                                                   std::memory_order_relaxed))
            return true;
    }
    return false; // still out of range: the next check_queue tries again
}

/// Whether `word` may stand in the slot of position q while the daemon's head is at most q
/// and q < head + R: free for q, or published for q. Any other value - another lap's, a
/// broken state - only a write from outside the protocol leaves, and it would keep producers
/// away from the slot for ever (they expect slot_free(q) exactly).
constexpr bool slot_word_fits(std::uint64_t word, std::uint64_t q) noexcept {
    return word == slot_free(q) ||
           ((word & slot_published_bit) != 0 && slot_position_diff(word, q) == 0);
}

/// Daemon: how many ring words do not fit the position their slot stands for now (head ..
/// head + R - 1). O(R), R <= 1024.
inline std::uint32_t queue_count_strays(const ChannelMap& m, std::uint64_t head) noexcept {
    std::uint32_t n = 0;
    for (std::uint64_t q = head; q != head + m.ring_slots; ++q)
        if (!slot_word_fits(m.slot(q).word.load(std::memory_order_relaxed), q)) ++n;
    return n;
}

/// Daemon: puts every ring word that does not fit its position back to free for it (a CAS
/// from the value seen: a producer never changes a word that does not fit). Returns how many.
inline std::uint32_t queue_fix_strays(const ChannelMap& m, std::uint64_t head) noexcept {
    std::uint32_t n = 0;
    for (std::uint64_t q = head; q != head + m.ring_slots; ++q) {
        std::atomic<std::uint64_t>& word = m.slot(q).word;
        std::uint64_t w = word.load(std::memory_order_acquire);
        // release: as queue_release, the slot is free for its position's producer.
        if (!slot_word_fits(w, q) &&
            word.compare_exchange_strong(w, slot_free(q), std::memory_order_release,
                                         std::memory_order_relaxed))
            ++n;
    }
    return n;
}

/// Whether any slot still holds a published command of `client` (a shell taking over slot
/// `client` must not stage its command while the daemon may still read its predecessor's).
inline bool queue_holds_client(const ChannelMap& m, std::uint32_t client) noexcept {
    for (std::uint32_t i = 0; i < m.ring_slots; ++i) {
        const std::uint64_t w = m.slot(i).word.load(std::memory_order_acquire);
        if ((w & slot_published_bit) != 0 &&
            ((w >> slot_client_shift) & slot_client_mask) == client)
            return true;
    }
    return false;
}

} // namespace venom::detail
