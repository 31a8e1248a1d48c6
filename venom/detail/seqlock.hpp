// SPDX-License-Identifier: BSL-1.0
// venom/detail/seqlock.hpp - the state area: a multi-buffer seqlock.
//
// Design. state_buffers (N >= 2) buffers, each {seq, length, data}; ControlBlock::state_word
// holds the version of the newest complete write (the number of writes, unless the daemon
// gave versions of its own: DaemonChannel::write_data_as, which only go up, at most
// max_state_version = 2^61 - 1, so 2v + 1 fits a seq) and the buffer holding the newest one
// (make_state_word), so a reader finds it without a division. A version lives in the buffer
// after the one of the version published before it, wrapping at N, unless views pin that one
// (view_pins.hpp): then in the next buffer no view pins, and nowhere (state_busy) if they pin
// all but the newest.
//   owners:  the daemon (single writer) writes everything; readers only read.
//   writer:  (v, b) = (version + 1 or a given v > version, a buffer other than the newest
//            that no view pins: view_pins.hpp; with no views, the next one in turn)
//            b.seq = 2v + 1 (odd: being written); copy data (or the caller writes it in
//            place: a StateLoan, between state_begin and state_publish); b.length = n
//            b.seq = 2v (SYNC POINT WRITE: buffer complete); state_word = (v, b) (seq_cst:
//            SYNC POINT WRITE: published, and the notifier half of the wait's Dekker pair)
//   reader:  (v, b) = state_word (SYNC POINT READ: published)
//            s1 = b.seq (SYNC POINT READ: buffer complete); s1 == 2v or retry from the top
//            copy; fence; s2 = b.seq; s1 == s2: the copy is version v, whole.
// Why readers progress under a busy writer: the writer touches the buffer a reader copies only
// N - 1 writes later, so a reader that copies as fast as the writer writes always has N - 1
// write-times to finish; a plain one-buffer seqlock gives it none. (With k buffers pinned by
// views, N - 1 - k: the writer rotates through the others.)
// The writer never waits for readers.
// Process death: a writer killed mid-write leaves one buffer odd, but `version` still names the
// previous complete buffer, so readers never wait on it. A reader's death costs nothing.
// A write begun and never published (an abandoned loan) is the same as a writer that died
// mid-write: its buffer stays odd, the version does not move, and the next write reuses it.
// Corrupt values: a seq below 2v for the published version, a length over data_size in a
// buffer whose seq checked out, or a published version whose buffer keeps disagreeing with it
// (any other seq, for seqlock_same_version_tries tries or seqlock_same_version_time, whichever
// ends first: no writer touches the newest buffer without first publishing newer versions)
// are reported as corrupt_channel, never trusted, and never waited on longer than that.
//
// The copy races with the writer by design (the seqlock detects it): racy_copy.hpp says how the
// bytes are copied, and why that is sound; only the sequence check decides whether they are used.
#pragma once

#include <venom/detail/channel_map.hpp>
#include <venom/detail/racy_copy.hpp>
#include <venom/detail/waiter.hpp>

#include <cstring>
#include <system_error>
#include <thread>
#include <type_traits>

namespace venom::detail {

/// The compile-time checks of a typed state's T (write<T>, loan<T>, read<T>).
template <class T> constexpr void check_state_type() {
    static_assert(std::is_trivially_copyable_v<T>,
                  "a venom typed state is raw bytes in shared memory that other processes read: "
                  "T must be trivially copyable (no pointers or references into this process, no "
                  "virtual functions, no owning members such as std::string or std::vector)");
    static_assert(!std::is_pointer_v<T>, "a pointer means nothing in another process");
    static_assert(!std::is_array_v<T>, "wrap the array in a struct (a typed state is one object)");
    static_assert(alignof(T) <= cache_line, "a state buffer's bytes are 64-byte aligned");
}

/// A write in progress: the version it will publish and the buffer it writes (state_begin).
struct state_write {
    std::uint64_t version = 0;
    std::uint32_t index = 0;
    StateBuffer* buffer = nullptr;
    unsigned char* data = nullptr; ///< data_size bytes of the buffer
};

/// No buffer is pinned (a writer without views: tests, tools).
struct no_pins {
    bool any() const noexcept { return false; }
    std::uint32_t operator()(std::uint32_t, std::uint64_t) const noexcept { return 0; }
};

/// The writer's half, step 1: takes a buffer for the next version and marks it being written
/// (odd seq). Until state_publish, readers go on reading the newest complete version; a write
/// never published (an abandoned loan) leaves the buffer odd and the version where it was, and
/// the next write may take the same buffer again.
/// The candidates are every buffer but the newest, from the one after it on (with no views
/// the buffers are used in turn). `pinned.any()` (W0) says whether any shell views; if so,
/// `pinned(c, old)`, asked after c's seq is odd (view_pins.hpp, W1-W3; old: c's seq before),
/// gives the mask of buffers views pin: a pinned c gets its seq back and the next
/// candidate is tried (each with its own W1-W2: a dead shell's pin is cleared only when it
/// is in a candidate's way). Every candidate pinned: w.buffer is null, nothing
/// changed (state_busy).
/// `version`: the version to write; 0 (the default) is the one after the current. Any version
/// above the current works (DaemonChannel::write_data_as): a buffer's seq only grows, so the
/// readers' checks (s1 == 2v, s1 < 2v corrupt) hold across a jump.
/// \pre one writer at a time (the daemon serialises writes and loans); version == 0 or
/// current < version <= max_state_version (the caller checks it).
template <class Pinned = no_pins>
state_write state_begin(const ChannelMap& m, Pinned&& pinned = Pinned{},
                        std::uint64_t version = 0) noexcept {
    ControlBlock& cb = *m.cb;
    // relaxed: only this writer stores the state word.
    const std::uint64_t word = cb.state_word.load(std::memory_order_relaxed);
    const std::uint64_t current = state_version_of(word);
    state_write w;
    w.version = version != 0 ? version : current + 1;
    // Before the first write no buffer holds a version: all are candidates, from buffer 0.
    const std::uint32_t newest = current == 0 ? m.state_buffers : state_buffer_of(word);
    // W0 (view_pins.hpp): no shell views - no pin to look for, and no fence for it.
    const bool views = pinned.any();
    for (std::uint32_t step = 0; step < m.state_buffers; ++step) {
        const std::uint32_t c =
            newest >= m.state_buffers ? step : (newest + 1 + step) % m.state_buffers;
        if (c == newest) continue;
        StateBuffer& b = m.buffer(c);
        // relaxed: only this writer stores seq.
        const std::uint64_t old = b.seq.load(std::memory_order_relaxed);
        if (!views) {
            b.seq.store(2 * w.version + 1, std::memory_order_relaxed);
        } else {
            // seq_cst: W1 of the view handshake, before pinned()'s seq_cst reads (W2).
            b.seq.store(2 * w.version + 1, std::memory_order_seq_cst);
        }
        const std::uint32_t mask = views ? pinned(c, old) : 0;
        if ((mask & (1u << c)) != 0) {
            // release: nothing was written; copy readers that saw `old` before keep a valid copy.
            b.seq.store(old, std::memory_order_release);
            continue;
        }
        // The odd seq must be visible before any byte of the new data (readers' s2 check).
        std::atomic_thread_fence(std::memory_order_release);
        w.index = c;
        w.buffer = &b;
        w.data = m.buffer_data(b);
        return w;
    }
    return w; // every candidate pinned: w.buffer == nullptr
}

/// The writer's half, step 2: the first n bytes of w.data are the new version; readers see it.
/// \pre n <= data_size.
inline void state_publish(const ChannelMap& m, const state_write& w, std::size_t n) noexcept {
    w.buffer->length.store(n, std::memory_order_relaxed);
    // SYNC POINT WRITE: buffer complete
    w.buffer->seq.store(2 * w.version, std::memory_order_release);
    // SYNC POINT WRITE: published
    m.cb->state_word.store(make_state_word(w.version, w.index), std::memory_order_seq_cst);
    notify_published(m.state_event());
}

/// The writer's half, whole: a copy of data[0, n) becomes the next version (or `version`, as
/// state_begin takes it). false: every buffer but the newest is pinned (state_begin), nothing
/// written.
/// \pre one writer at a time, n <= data_size; `version` as state_begin requires.
template <class Pinned = no_pins>
bool seqlock_write(const ChannelMap& m, const void* data, std::size_t n, Pinned&& pinned = Pinned{},
                   std::uint64_t version = 0) noexcept {
    const state_write w = state_begin(m, pinned, version);
    if (w.buffer == nullptr) return false;
    racy_copy_to_shared(w.data, data, n);
    state_publish(m, w, n);
    return true;
}

/// The state's version (number of writes) as a reader sees it.
inline std::uint64_t state_version(const ChannelMap& m) noexcept {
    return state_version_of(m.cb->state_word.load(std::memory_order_acquire));
}

/// Outcome of one read.
struct snapshot {
    /// empty, buffer_too_small (needed = length), wrong_size (exact reads), corrupt_channel,
    /// timeout
    std::error_code ec;
    std::size_t length = 0; ///< the state's length (also when the buffer was too small)
    std::uint64_t version = 0;
};

/// Failed tries in a row that see one unchanging version before the reader calls the buffer
/// corrupt: a writer that laps the reader publishes newer versions long before that.
inline constexpr unsigned seqlock_same_version_tries = 1000;
/// Tries that retry at once (a pause between them); after these the reader yields between
/// tries and keeps to its give_up time.
inline constexpr unsigned seqlock_fast_tries = 8;
/// The same for as long as this, in yielding tries: a version whose buffer disagrees with it
/// while the version stays put is corrupt, not a lapping writer (a writer reaches the newest
/// buffer only after publishing newer versions, which the next look at the state word sees).
/// On a loaded machine, where each yield can take milliseconds, this ends such a read long
/// before seqlock_same_version_tries would.
inline constexpr std::chrono::milliseconds seqlock_same_version_time{5};

/// The reader's half: copies a complete version into out[0, cap). Lock-free; retries while the
/// writer laps the buffer being copied, yielding after a few tries, and gives up with
/// errc::timeout after `give_up` (a writer that always overwrites a state before any reader can
/// copy it).
/// `exact` (a typed read): only a state of exactly cap bytes is copied; any other length is
/// reported as wrong_size (the empty state of version 0 too). A wrong_size copies nothing of
/// its own, but an earlier try may have copied part of a state of the right size that a
/// writer then lapped: on any error, out's bytes are unspecified.
inline snapshot seqlock_read(const ChannelMap& m, void* out, std::size_t cap,
                             std::chrono::nanoseconds give_up = std::chrono::seconds(2),
                             bool exact = false) noexcept {
    const ControlBlock& cb = *m.cb;
    snapshot r;
    clock::time_point end{};
    std::uint64_t last_v = 0;
    unsigned same_v = 0;            // failed tries in a row that saw the same version
    clock::time_point same_since{}; // first yielding try that saw it (unset: not yet)
    for (unsigned attempt = 0;; ++attempt) {
        // SYNC POINT READ: published
        const std::uint64_t word = cb.state_word.load(std::memory_order_acquire);
        const std::uint64_t v = state_version_of(word);
        const std::uint32_t index = state_buffer_of(word);
        same_v = (v == last_v) ? same_v + 1 : 0;
        if (same_v == 0) same_since = clock::time_point{};
        last_v = v;
        // A writer that lapped our buffer has published newer versions long before we retry
        // a thousand times; a version that never moves while its buffer's seq disagrees is a
        // value written from outside the protocol.
        if (same_v > seqlock_same_version_tries) {
            r.ec = make_error_code(errc::corrupt_channel);
            return r;
        }
        r.version = v;
        if (v == 0) { // nothing written yet: the empty state
            r.length = 0;
            if (exact && cap != 0) r.ec = make_error_code(errc::wrong_size);
            return r;
        }
        if (index >= m.state_buffers) {
            r.ec = make_error_code(errc::corrupt_channel);
            return r;
        }
        StateBuffer& b = m.buffer(index);
        // SYNC POINT READ: buffer complete
        const std::uint64_t s1 = b.seq.load(std::memory_order_acquire);
        if (s1 < 2 * v) {
            r.ec = make_error_code(errc::corrupt_channel);
            return r;
        }
        if (s1 == 2 * v) {
            const std::uint64_t n = b.length.load(std::memory_order_relaxed);
            bool too_small = false;
            const bool mismatch = exact && n != cap;
            if (n <= m.data_size && n <= cap && !mismatch) {
                racy_copy_from_shared(out, m.buffer_data(b), static_cast<std::size_t>(n));
            } else {
                too_small = true;
            }
            // Order the copy (and the length load) before the re-check of seq.
            std::atomic_thread_fence(std::memory_order_acquire);
            if (b.seq.load(std::memory_order_relaxed) == s1) {
                r.length = static_cast<std::size_t>(n);
                if (n > m.data_size) r.ec = make_error_code(errc::corrupt_channel);
                else if (mismatch) r.ec = make_error_code(errc::wrong_size);
                else if (too_small) r.ec = make_error_code(errc::buffer_too_small);
                return r;
            }
        }
        // The writer lapped us: try again with the newest version.
        if (attempt >= seqlock_fast_tries) {
            const auto now = clock::now();
            if (attempt == seqlock_fast_tries) end = saturating_add(now, give_up);
            else if (now >= end) {
                r.ec = make_error_code(errc::timeout);
                return r;
            }
            if (same_since == clock::time_point{}) {
                same_since = now;
            } else if (now - same_since >= seqlock_same_version_time) {
                r.ec = make_error_code(errc::corrupt_channel);
                return r;
            }
            std::this_thread::yield();
        } else {
            cpu_relax();
        }
    }
}

} // namespace venom::detail
