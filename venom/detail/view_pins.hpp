// SPDX-License-Identifier: BSL-1.0
// venom/detail/view_pins.hpp - views: reading a state buffer in place, pinned against reuse.
//
// Design. A shell that views a version pins its buffer: it writes a pin word naming the
// buffer in its own client area (layout.hpp: ViewPins, ClientArea line 3; views_per_shell
// words, one cache line, written only by that shell). The writer (the daemon, seqlock.hpp:
// state_begin) never takes a buffer that a pin names, and never the newest one; when every
// other buffer is pinned it takes none and the write fails with state_busy. The writer never
// waits for a reader.
//   owners:  pin words: their shell (and the daemon, which clears a dead shell's: below);
//            StateBuffer::seq and the state word: the daemon (seqlock.hpp).
//   pin word: 0 = none; else make_pin(generation, v, b) = (generation mod 2^32) << 32 |
//            pin_flag | (v mod 2^24) << 3 | b: "client of this connection generation views
//            version v, in buffer b". The writer uses b and v; the generation tells a dead
//            shell's pin from its successor's (the clear below is a CAS of the exact value,
//            and is skipped once the slot's generation has moved).
//   viewers: ClientRecord::viewer, set (viewer_mark(generation)) by a shell before its
//            first pin and cleared when it disconnects; SharedLines::view_registrations, a
//            counter every shell bumps after setting or clearing its mark. The daemon keeps,
//            in its own memory, the list of clients whose mark is set (PinScanner), rebuilt
//            when the counter moves; a write reads the pin lines of those clients only, and
//            nothing but the counter while the list is empty (a channel nobody views pays one
//            load per write). Whoever cleans up after a dead viewer - the daemon, or the
//            slot's next owner - clears its mark (CAS of the value read before the probe).
//   reader (ShellChannel::view, one of its free pin words P):
//     R0  first view of this connection: record.viewer = mark;
//         view_registrations += 1                                               (seq_cst)
//     R1  (v, b) = state word (seq_cst; SYNC POINT READ: published); v == 0: the empty
//         state, no pin needed
//     R2  P = make_pin(g, v, b)                                            (seq_cst)
//     R3  s = b.seq                                                        (seq_cst)
//     R4  s == 2v: the view holds version v, whole (R3 also acquires the writer's release
//         of 2v: SYNC POINT READ: buffer complete); else P = 0 and retry from R1
//     R5  release: P = 0 (release: every read of the bytes comes before the writer's
//         acquire of the cleared pin; SYNC POINT WRITE: view released)
//   writer (state_begin; V = the version it writes):
//     W0  r = view_registrations (seq_cst); r moved: rebuild the list from the marks
//         (acquire); views = the list is not empty
//     for candidate c != newest, in turn:
//     W1  old = c.seq; c.seq = 2V + 1 (odd: being written)  (seq_cst if views, else relaxed)
//     W2  views: read the pin words of every client on the list               (seq_cst)
//     W3  a live client's pin names c and the version c held (old / 2): c.seq = old
//         (nothing was written), next candidate; none: write version V into c (seqlock.hpp
//         goes on from there). A pin naming another version is no reader's (below): ignored.
// Why a view's bytes never change under it. Let R accept at R4 and W be any write of c that
// starts (W1) while R's pin is still stored. R2 and R3, W1 and W2 are seq_cst, so they lie in
// one total order S, each pair in program order.
//   - W2 after R2 in S: W2 reads R's pin (or, once R released, a later value) and leaves c
//     alone (W3). A dead-shell clear cannot remove it: R's pin carries R's generation and the
//     clear is a CAS of the dead shell's exact value.
//   - W2 before R2 in S: then W1 < W2 < R2 < R3 in S, so R3 reads W's odd value or a later
//     one of c.seq. R accepts only 2v, so it read W's own 2V = 2v after W's data (a complete
//     version, written before R accepted - nothing of W writes after its 2V), or a later
//     writer's 2V', which the same argument applies to; a restore (W3) puts back the value c
//     held, with c's bytes untouched.
//   - R is not on W's list: then W0 read the counter before R0 in S (had R0 come first,
//     W0 would have read R0's value or a later one - the counter only grows - and, since
//     R0 releases R's mark and W0 acquires it, rebuilt the list with R on it). So W0 < R0,
//     and every R1 of R, after R0, comes after W0 - and after the publish of the version
//     published before V (V - 1, unless the daemon gave versions of its own: write_data_as),
//     which precedes W0 in W's program order. So R1 reads that version, whose buffer was the
//     newest when W began and is no candidate of W, or V or later, which W has published:
//     its bytes were all written before. Either way W never writes a buffer R pins, fenced
//     or not. (This is why R0 comes before the first R1, and why a write to a channel
//     nobody views needs no fence.)
//   Hence no write starts on c while the pin stands, after R accepted. And a pin (v, c) that
//   a write W finds while c holds u != v cannot be accepted: the write that put u into c
//   did not see the pin (or it would not have written c), so its W2 - and its W1 - came
//   before R2 in S, and R3 reads that odd value or a later one, never the older 2v. So the
//   writer counts only pins of the version their buffer holds. The newest buffer is
//   never a candidate, so a reader that pins the newest version never fails R4 unless a newer
//   one was published meanwhile (then R1 sees it): the retry loop ends, bounded as reads are
//   (seqlock.hpp: a newest buffer that keeps disagreeing is corrupt_channel).
// Process death or stall. A reader stopped at any step holds at most its pins: the writer
// writes other buffers (state_busy once every buffer but the newest is pinned). A reader
// killed with pins out: the daemon, finding a pin of client i in its way, probes C_i
// (liveness.hpp; at most once per pin_owner_recheck per client, the system call off the write
// path otherwise) and, if no process holds it, CASes that client's pin words from the values
// it read to 0 (ControlBlock::pins_cleared) and clears its mark (the next write's rebuild
// leaves it off the list). The
// next shell to take slot i clears both too, before it pins anything; a dead viewer whose
// pins are in nobody's way costs each write one more pin line until then. The daemon killed: views
// stay valid, the mapping is the shell's.
// A view keeps its shell's connection (slot, mapping) until it is released.
// Corrupt values: a pin naming no buffer (b >= state_buffers), or a version its buffer does
// not hold, is ignored; one naming a buffer and its version can only hold that buffer back.
// A shell (or a stray write into its own pages) can so make writes fail with state_busy -
// README, Security - for as long as it lives. The counter is in the shared lines, which
// every shell writes: a stray write that sets it back to the value the daemon last saw, just
// as a shell registers, hides that shell from the daemon's list, so writes skip its pins and
// may overwrite a buffer it views - shells that share a channel trust each other with that,
// as with the queue. Any other value costs a rebuild; a mark forged into a shell's own record
// only adds its pin line to the scan.
#pragma once

#include <venom/config.hpp>
#include <venom/detail/channel_map.hpp>
#include <venom/detail/seqlock.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace venom::detail {

static_assert(views_per_shell >= limits::max_state_buffers,
              "a shell can pin every buffer at once: it never runs out of pin words");

// A pin word: buffer (bits 0-2), version mod 2^24 (3-26), flag (27), the connection's
// generation mod 2^32 (32-63). A false version match only holds a buffer back (R3 compares the
// whole 2v), so 24 bits do, also when versions given to write_data_as jump by a multiple of
// 2^24 (a stale pin whose version then matches its buffer's new one holds that buffer until
// the pin goes); the generation is what keeps a dead shell's pin apart from a successor's
// (the daemon's clear is a CAS of the dead one's value), so it gets 32.
inline constexpr unsigned pin_version_shift = state_index_bits;
inline constexpr unsigned pin_version_bits = 24;
inline constexpr std::uint64_t pin_flag = std::uint64_t{1}
                                          << (pin_version_shift + pin_version_bits);
inline constexpr unsigned pin_generation_shift = 32;
inline constexpr std::uint64_t pin_buffer_mask = (1u << state_index_bits) - 1;

constexpr std::uint64_t make_pin(std::uint64_t generation, std::uint64_t version,
                                 std::uint32_t buffer) noexcept {
    return pin_flag | (generation << pin_generation_shift) |
           ((version & ((std::uint64_t{1} << pin_version_bits) - 1)) << pin_version_shift) | buffer;
}
constexpr bool pin_set(std::uint64_t pin) noexcept { return (pin & pin_flag) != 0; }
constexpr std::uint32_t pin_buffer(std::uint64_t pin) noexcept {
    return static_cast<std::uint32_t>(pin & pin_buffer_mask);
}
static_assert(pin_version_shift + pin_version_bits + 1 <= pin_generation_shift,
              "buffer, version, flag and generation fields do not overlap");

/// The daemon rechecks a pinning client's liveness (a system call) at most this often.
inline constexpr std::chrono::milliseconds pin_owner_recheck{10};

/// The version field of a pin (v mod 2^24).
constexpr std::uint64_t pin_version(std::uint64_t pin) noexcept {
    return (pin >> pin_version_shift) & ((std::uint64_t{1} << pin_version_bits) - 1);
}
/// The pin version a buffer's seq stands for: its complete version mod 2^24, or no_pin_version
/// (odd: being written or abandoned; 0: never written). No reader can hold such a buffer.
inline constexpr std::uint64_t no_pin_version = ~std::uint64_t{0};
constexpr std::uint64_t pin_version_of_seq(std::uint64_t seq) noexcept {
    return (seq & 1) != 0 || seq == 0 ? no_pin_version
                                      : (seq / 2) & ((std::uint64_t{1} << pin_version_bits) - 1);
}

/// One client's pins as W2 reads them: the buffers they hold (bit b: buffer b), given what
/// each buffer holds now (`holds`: pin_version_of_seq per buffer). A pin counts only if its
/// version is the one its buffer holds: a reader accepts a pin only when R3 reads that
/// version's 2v, and every pin stored before a buffer's last write was seen by that write (or
/// could not be accepted), so a pin naming another version - stale, or forged by a stray
/// write - is never a reader's. `seen` gets the words as read.
inline std::uint32_t client_pins(const ChannelMap& m, std::uint32_t i, const std::uint64_t* holds,
                                 std::uint64_t* seen) noexcept {
    ViewPins& p = m.pins(i);
    std::uint32_t mine = 0;
    for (std::uint32_t k = 0; k < views_per_shell; ++k) {
        // seq_cst: W2 (see the design note); also acquires a released pin's reads (R5).
        seen[k] = p.pin[k].load(std::memory_order_seq_cst);
        if (pin_set(seen[k]) && pin_buffer(seen[k]) < m.state_buffers &&
            pin_version(seen[k]) == holds[pin_buffer(seen[k])])
            mine |= 1u << pin_buffer(seen[k]);
    }
    return mine;
}

/// What each buffer holds now, as pin versions; the candidate's from `candidate_old`, its seq
/// before W1. \pre the caller is the writer (the only one who writes seq) or only looks.
inline void buffers_held(const ChannelMap& m, std::uint32_t candidate, std::uint64_t candidate_old,
                         std::uint64_t* holds) noexcept {
    for (std::uint32_t x = 0; x < m.state_buffers; ++x)
        // relaxed: the writer's own stores (or a tool's look: a moment's picture).
        holds[x] = pin_version_of_seq(
            x == candidate ? candidate_old : m.buffer(x).seq.load(std::memory_order_relaxed));
}

/// The buffers any client's pins hold now, reading every client (a tool's look, busy_reason).
inline std::uint32_t pinned_buffers_any(const ChannelMap& m) noexcept {
    std::uint64_t holds[1u << state_index_bits], seen[views_per_shell];
    buffers_held(m, m.state_buffers, 0, holds);
    std::uint32_t mask = 0;
    for (std::uint32_t i = 0; i < m.max_clients; ++i) mask |= client_pins(m, i, holds, seen);
    return mask;
}

/// Clears client i's viewer mark if it still is `mark` (the value read before its liveness
/// was probed: a successor's differs), and says so to the daemon (the counter moves).
inline bool clear_viewer_mark(const ChannelMap& m, std::uint32_t i, std::uint32_t mark) noexcept {
    if (mark == 0) return false;
    std::uint32_t expected = mark;
    // relaxed: the daemon rereads marks after the counter's seq_cst bump below.
    if (!m.client(i).viewer.compare_exchange_strong(expected, 0, std::memory_order_relaxed,
                                                    std::memory_order_relaxed))
        return false;
    m.shared->view_registrations.fetch_add(1, std::memory_order_seq_cst);
    return true;
}

/// The writer's side of views (W0, W2): the daemon's own list of the clients whose viewer
/// mark is set, rebuilt from the marks when SharedLines::view_registrations moves. Writer
/// only (the daemon's write mutex); holds max_clients ids, allocated once.
class PinScanner {
public:
    PinScanner() = default;
    explicit PinScanner(std::uint32_t max_clients) : ids_(max_clients, 0) {}

    /// W0: whether a write must look at pins now.
    bool any(const ChannelMap& m) noexcept {
        // seq_cst: W0 (after the previous write's seq_cst publish; against the readers' R0).
        const std::uint64_t r = m.shared->view_registrations.load(std::memory_order_seq_cst);
        if (r != seen_) {
            seen_ = r;
            count_ = 0;
            for (std::uint32_t i = 0; i < m.max_clients && i < ids_.size(); ++i)
                // acquire: a mark stored before a registration that W0 read (R0's release).
                if (m.client(i).viewer.load(std::memory_order_acquire) != 0) ids_[count_++] = i;
        }
        return count_ != 0;
    }

    /// W2: the buffers the listed clients' pins hold, read seq_cst after the candidate's odd
    /// seq. `owner(i, seen)` is asked about each client i with a pin that holds `candidate`
    /// (`seen`: its pin words as read): it returns false once it has found the client dead and
    /// cleared those pins (they then count for nothing).
    template <class Owner>
    std::uint32_t pinned(const ChannelMap& m, std::uint32_t candidate, std::uint64_t candidate_old,
                         Owner&& owner) noexcept {
        std::uint64_t holds[1u << state_index_bits], seen[views_per_shell];
        buffers_held(m, candidate, candidate_old, holds);
        std::uint32_t mask = 0;
        for (std::uint32_t n = 0; n < count_; ++n) {
            const std::uint32_t i = ids_[n];
            std::uint32_t mine = client_pins(m, i, holds, seen);
            if ((mine & (1u << candidate)) != 0 &&
                !owner(i, static_cast<const std::uint64_t*>(seen)))
                mine = 0;
            mask |= mine;
        }
        return mask;
    }

private:
    std::vector<std::uint32_t> ids_;
    std::uint32_t count_ = 0;
    std::uint64_t seen_ = 0; ///< the counter as of the last rebuild (0: nobody registered yet)
};

/// Daemon: clears a dead client's pin words from the values `seen` before its liveness was
/// probed (CAS: a successor's pins, carrying another generation, stay). Returns how many.
inline std::uint32_t clear_dead_pins(ViewPins& p, const std::uint64_t* seen) noexcept {
    std::uint32_t n = 0;
    for (std::uint32_t k = 0; k < views_per_shell; ++k) {
        std::uint64_t w = seen[k];
        // relaxed: the dead shell reads nothing any more; the writer's next scan is seq_cst.
        if (w != 0 && p.pin[k].compare_exchange_strong(w, 0, std::memory_order_relaxed,
                                                       std::memory_order_relaxed))
            ++n;
    }
    return n;
}

/// Reader, R2-R4 for one try: pins (v, b) in pin word `k` of client `id` and checks the
/// buffer still holds v. `after_pin` runs between R2 and R3 (tests force interleavings there;
/// a no-op otherwise). true: pinned; false: the pin is cleared again (retry from R1).
template <class AfterPin>
bool pin_try(const ChannelMap& m, std::uint32_t id, std::uint32_t k, std::uint64_t pin,
             std::uint64_t v, std::uint32_t b, AfterPin&& after_pin) noexcept {
    std::atomic<std::uint64_t>& word = m.pins(id).pin[k];
    word.store(pin, std::memory_order_seq_cst); // R2
    after_pin();
    // seq_cst: R3 (also acquire: SYNC POINT READ: buffer complete, pairs with state_publish).
    if (m.buffer(b).seq.load(std::memory_order_seq_cst) == 2 * v) return true;
    // release: this word may have been released (R5) by another thread of this shell just
    // before; the writer's acquire of this 0 must still order those reads before its writes.
    word.store(0, std::memory_order_release);
    return false;
}

/// Reader, R5: releases pin word `k` of client `id`.
inline void pin_release(const ChannelMap& m, std::uint32_t id, std::uint32_t k) noexcept {
    // release: SYNC POINT WRITE: view released (our reads of the buffer come first).
    m.pins(id).pin[k].store(0, std::memory_order_release);
}

/// Where ViewTable::take calls its hook: after R1 (before R0 and R2), and after R2 (before R3).
enum class view_step { before_pin, before_check };

/// A view taken (ViewTable::take): the bytes of one version, pinned. slot == no_slot: the
/// empty state of version 0 (nothing pinned) or an error.
struct view_taken {
    static constexpr std::uint32_t no_slot = ~0u;
    std::error_code ec; ///< empty, corrupt_channel, timeout
    std::uint32_t slot = no_slot;
    const unsigned char* data = nullptr;
    std::size_t length = 0;
    std::uint64_t version = 0;
};

/// A shell's pin words as this process uses them: views of one version share a word (a count
/// of them here, in process memory); thread-safe. The shell's client slot `id` and connection
/// `generation` are fixed for the table's life.
class ViewTable {
public:
    /// R1-R4: a view of the newest version. Retries while a writer starts on the buffer
    /// between R1 and R3 (each retry sees a newer version), yielding after a few tries; gives
    /// up with timeout after `give_up`, and with corrupt_channel when the published version
    /// stays put while its buffer disagrees with it (as seqlock_read). `hook(view_step)` runs
    /// between R1 and R2 and between R2 and R3 of each try (tests force interleavings there).
    /// The table's mutex is held throughout: other threads' release() of this shell waits for
    /// it (microseconds; up to give_up only under a writer that laps every try).
    template <class Hook>
    view_taken take(const ChannelMap& m, std::uint32_t id, std::uint64_t generation, Hook&& hook,
                    std::chrono::nanoseconds give_up = std::chrono::seconds(2)) noexcept {
        std::lock_guard<std::mutex> guard(mutex_);
        view_taken r;
        clock::time_point end{}, same_since{};
        std::uint64_t last_v = 0;
        unsigned same_v = 0;
        for (unsigned attempt = 0;; ++attempt) {
            // R1. seq_cst: after R0 in S (the fast-path half of the proof); also SYNC POINT
            // READ: published (pairs with state_publish's seq_cst store).
            const std::uint64_t word = m.cb->state_word.load(std::memory_order_seq_cst);
            const std::uint64_t v = state_version_of(word);
            const std::uint32_t b = state_buffer_of(word);
            r.version = v;
            if (v == 0) return r; // the empty state: nothing to pin
            if (b >= m.state_buffers) return fail(r, errc::corrupt_channel);
            if (!registered_) { // R0, once per connection: writes look at our pins from now on
                // relaxed: published by the release of the seq_cst bump below.
                m.client(id).viewer.store(viewer_mark(generation), std::memory_order_relaxed);
                // seq_cst: R0, before the R1 whose buffer is pinned (with the writer's W0).
                m.shared->view_registrations.fetch_add(1, std::memory_order_seq_cst);
                registered_ = true;
                continue; // R1 again, now after R0
            }
            same_v = (v == last_v) ? same_v + 1 : 0;
            if (same_v == 0) same_since = clock::time_point{};
            last_v = v;
            if (same_v > seqlock_same_version_tries) return fail(r, errc::corrupt_channel);
            std::uint32_t k = view_taken::no_slot;
            for (std::uint32_t i = 0; i < views_per_shell; ++i) {
                // already pinned here
                if (slots_[i].refs != 0 && slots_[i].version == v && slots_[i].buffer == b) {
                    ++slots_[i].refs;
                    return held(r, m, i);
                }
                if (slots_[i].refs == 0 && k == view_taken::no_slot) k = i;
            }
            // Each word in use holds a buffer of its own (the writer never reuses a pinned
            // buffer), and views_per_shell >= state_buffers: a word is always free, unless
            // something wrote our pin words or the buffers' seq from outside the protocol.
            if (k == view_taken::no_slot) return fail(r, errc::corrupt_channel);
            hook(view_step::before_pin);
            if (pin_try(m, id, k, make_pin(generation, v, b), v, b,
                        [&] { hook(view_step::before_check); })) {
                // relaxed: stored before the 2v that R3 acquired; the buffer is ours now.
                const std::uint64_t n = m.buffer(b).length.load(std::memory_order_relaxed);
                if (n > m.data_size) {
                    pin_release(m, id, k);
                    return fail(r, errc::corrupt_channel);
                }
                slots_[k] = slot{1, v, b, static_cast<std::size_t>(n)};
                return held(r, m, k);
            }
            // A writer started on b after R1 (b is no longer the newest): look again.
            if (attempt >= seqlock_fast_tries) {
                const auto now = clock::now();
                if (attempt == seqlock_fast_tries) end = saturating_add(now, give_up);
                else if (now >= end) return fail(r, errc::timeout);
                if (same_since == clock::time_point{}) same_since = now;
                else if (now - same_since >= seqlock_same_version_time)
                    return fail(r, errc::corrupt_channel);
                std::this_thread::yield();
            } else {
                cpu_relax();
            }
        }
    }

    /// R5 for one view of slot k: the last view of a version releases its pin word.
    void release(const ChannelMap& m, std::uint32_t id, std::uint32_t k) noexcept {
        std::lock_guard<std::mutex> guard(mutex_);
        if (k >= views_per_shell || slots_[k].refs == 0) return;
        if (--slots_[k].refs == 0) pin_release(m, id, k);
    }

    /// At disconnect (no view left): clears this connection's viewer mark (the daemon drops it
    /// from its list at its next write).
    void unregister(const ChannelMap& m, std::uint32_t id, std::uint64_t generation) noexcept {
        std::lock_guard<std::mutex> guard(mutex_);
        if (registered_) clear_viewer_mark(m, id, viewer_mark(generation));
        registered_ = false;
    }

    /// Views held now (for tests and tools): pin words in use.
    std::uint32_t words_in_use() const noexcept {
        std::lock_guard<std::mutex> guard(mutex_);
        std::uint32_t n = 0;
        for (const slot& s : slots_) n += s.refs != 0;
        return n;
    }

private:
    struct slot {
        std::uint32_t refs = 0; ///< views of this version in this process
        std::uint64_t version = 0;
        std::uint32_t buffer = 0;
        std::size_t length = 0;
    };
    mutable std::mutex mutex_;
    slot slots_[views_per_shell];
    bool registered_ = false; ///< this connection's viewer mark is set

    static view_taken& fail(view_taken& r, errc e) noexcept {
        r.ec = make_error_code(e);
        r.slot = view_taken::no_slot;
        return r;
    }
    view_taken& held(view_taken& r, const ChannelMap& m, std::uint32_t k) const noexcept {
        r.slot = k;
        r.version = slots_[k].version;
        r.length = slots_[k].length;
        r.data = m.buffer_data(m.buffer(slots_[k].buffer));
        return r;
    }
};

} // namespace venom::detail
