// SPDX-License-Identifier: BSL-1.0
/// \file venom/daemon_channel.hpp
/// The daemon side: creates a channel, publishes its state, serves requests.
#pragma once

#include <venom/bytes.hpp>
#include <venom/config.hpp>
#include <venom/detail/command_queue.hpp>
#include <venom/detail/daemon_log.hpp>
#include <venom/detail/liveness.hpp>
#include <venom/detail/response_slot.hpp>
#include <venom/detail/segment.hpp>
#include <venom/detail/seqlock.hpp>
#include <venom/detail/view_pins.hpp>
#include <venom/detail/waiter.hpp>

#include <atomic>
#include <cassert>
#if defined(__GLIBCXX__)
#include <cxxabi.h> // abi::__forced_unwind (libstdc++)
#endif
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace venom {

/// The largest state version a channel can carry: the state word holds the version in its top
/// 61 bits (and a buffer's sequence number, 2v + 1, then fits 64). DaemonChannel::write_data_as
/// and loan_as refuse versions above it.
inline constexpr std::uint64_t max_state_version = (std::uint64_t{1} << 61) - 1;
static_assert(max_state_version == (~std::uint64_t{0} >> detail::state_index_bits),
              "max_state_version is the largest version the state word holds");

namespace detail {

struct daemon_impl {
    std::string name;
    std::uint64_t incarnation = 0; ///< this daemon's instance of the name (Windows object names)
    ChannelConfig config;
    LockFile name_lock;    ///< the lock file: owns the name
    LockFile segment_lock; ///< the segment file: "alive and ready", and clients' liveness
    Segment segment;
    std::uint64_t head = 0; ///< next queue position (the run/poll thread only)
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> running{false}; ///< inside run(): its end stops serving (stop() does not)
    WaitParams wait;
    std::uint64_t stuck_pos = no_position; ///< a head found passed by tail but unpublished, if any
    clock::time_point stuck_since{};       ///< when it was first found so
    clock::time_point strays_since{};      ///< when ring words that fit no position were first seen
    /// poll() calls that found nothing (the ring is scanned every 64th)
    unsigned empty_polls = 0;
    /// abort tests of the idle wait (tail is read every 16th)
    unsigned idle_checks = 0;
    /// commands handled since the last heartbeat (a busy daemon beats every heartbeat_commands)
    unsigned commands_since_beat = 0;
    /// Per client slot, the request id last handled: a publish naming a command already handled
    /// (forged by a stray write into the ring) is dropped as stale instead of run twice.
    std::vector<std::uint64_t> last_request;
    /// The state writer's lock and loan bookkeeping, shared with the StateLoan out, if any: a
    /// loan's publish() or drop() after (or racing with) its daemon's destruction locks this,
    /// not freed memory, and finds `daemon` null. (Its bytes are gone with the mapping: filling
    /// a loan while another thread destroys the daemon writes into unmapped memory.)
    struct writer_state {
        std::mutex mutex;              ///< one write_data, loan or publish at a time
        daemon_impl* daemon = nullptr; ///< null once the daemon closed (guarded by mutex)
        bool loan_out = false;         ///< a StateLoan is out (guarded by mutex)
        /// Per client slot: until when its last liveness probe (a pin in the writer's way:
        /// view_pins.hpp) counts (guarded by mutex).
        std::vector<clock::time_point> pin_owner_alive_until;
        PinScanner pins; ///< the clients that view (view_pins.hpp; guarded by mutex)
    };
    std::shared_ptr<writer_state> writer = make_writer(this);
    static std::shared_ptr<writer_state> make_writer(daemon_impl* d) {
        auto w = std::make_shared<writer_state>();
        w->daemon = d;
        return w;
    }
    /// The writer's W0 and W2 (view_pins.hpp), for state_begin. A client whose pin is in the
    /// way is probed (at most once per pin_owner_recheck); a dead one's pins and viewer mark
    /// are cleared (the mark's counter bump makes the next write rebuild the list without it).
    /// \pre writer->mutex held.
    struct write_pins {
        daemon_impl& d;
        bool any() noexcept { return d.writer->pins.any(d.map()); }
        std::uint32_t operator()(std::uint32_t candidate, std::uint64_t candidate_old) noexcept {
            const ChannelMap& m = d.map();
            auto& alive_until = d.writer->pin_owner_alive_until;
            return d.writer->pins.pinned(
                m, candidate, candidate_old, [&](std::uint32_t i, const std::uint64_t* seen) {
                    const auto now = clock::now();
                    if (i < alive_until.size() && now < alive_until[i]) return true;
                    // Read before the probe: a successor that takes the slot after it has its own
                    // mark and generation (and clears the dead one's pins itself).
                    const std::uint32_t mark = m.client(i).viewer.load(std::memory_order_relaxed);
                    const std::uint64_t generation =
                        m.client(i).generation.load(std::memory_order_acquire);
                    if (client_alive(d.segment_lock, i)) {
                        if (i < alive_until.size()) alive_until[i] = now + pin_owner_recheck;
                        return true;
                    }
                    fault_point(fault::pin_owner_dead);
                    // A successor took the slot meanwhile: it has zeroed the dead one's pins, and
                    // what is there now is its own.
                    if (m.client(i).generation.load(std::memory_order_acquire) != generation)
                        return true;
                    for (std::uint32_t n = clear_dead_pins(m.pins(i), seen); n != 0; --n)
                        bump(m.cb->pins_cleared);
                    clear_viewer_mark(m, i, mark);
                    return false;
                });
        }
    };
    /// state_begin with this daemon's views, for `version` (as next_version gives it).
    /// \pre writer->mutex held.
    state_write begin_write(std::uint64_t version) noexcept {
        state_write w = state_begin(map(), write_pins{*this}, version);
        if (w.buffer == nullptr) bump(map().cb->state_busy);
        return w;
    }

    /// The version a write publishes: `requested`, or for 0 the one after the current; 0 if
    /// refused (not above the current version, or above max_state_version). `current` gets
    /// the current version. \pre writer->mutex held (so nothing moves the version meanwhile).
    std::uint64_t next_version(std::uint64_t requested, std::uint64_t& current) const noexcept {
        // relaxed: only this daemon stores the state word, under writer->mutex, which we hold.
        current = state_version_of(map().cb->state_word.load(std::memory_order_relaxed));
        const std::uint64_t v = requested != 0 ? requested : current + 1;
        return v > current && v <= max_state_version ? v : 0;
    }

    /// Why a write or loan was refused (DaemonChannel's write_impl and loan_impl).
    enum class refusal { none, too_large, busy, version };

    /// The sender of the last command handled (a valid client id: handle() sets it only after
    /// checking), and how many of its staging lines that command spanned: the idle wait looks
    /// at those lines while it spins (see wait_for_work).
    std::uint32_t last_sender = 0;
    std::uint32_t last_sender_lines = 0;

    static constexpr std::uint64_t no_position = ~std::uint64_t{0};
    /// The longest sleep of the daemon's idle wait: how often it looks at the queue's tail for
    /// the repairs of check_queue when no publish wakes it.
    static constexpr std::chrono::milliseconds idle_slice{100};
    /// In the idle wait's spin phase, the tail is read at every this-many-th abort test (every
    /// spins_per_check spins), so the shells' tail line is not pulled to the daemon's core on
    /// every spin.
    static constexpr unsigned tail_check_every = 16;
    /// poll() scans the ring for stray words at every this-many-th call that finds nothing.
    static constexpr unsigned ring_scan_every = 64;
    /// At most this many of the last sender's staging lines are read ahead in the idle wait.
    static constexpr std::size_t staging_lookahead_lines = 2;

    const ChannelMap& map() const noexcept { return segment.map; }

    ~daemon_impl() { close(); }

    /// Marks the channel closed, wakes every waiter, zeroes the name record and removes the
    /// segment's and lock file's names (liveness.hpp, "Daemon close"). Also undoes a create
    /// that failed part-way: whatever of the segment and the files it holds. Idempotent.
    void close() noexcept {
        {
            // After this, a loan still out reports daemon_gone; one publishing now finishes
            // first (it holds the lock), while the mapping is still there.
            std::lock_guard<std::mutex> guard(writer->mutex);
            writer->daemon = nullptr;
        }
        if (segment.mapped()) {
            // SYNC POINT WRITE: channel closed (shells read it in their abort test, after
            // loading an epoch that the wakes below bump: waiter.hpp).
            map().cb->state.store(channel_closed, std::memory_order_seq_cst);
            wake_everyone();
        }
        if (name_lock.is_open()) {
            try {
                write_record(name_lock, nullptr);
            } catch (...) {
                // the file system refused: shells still see the closed state or the free ready byte
            }
        }
        if (segment_lock.is_open()) segment_lock.unlink_if_linked(); // Linux: the segment file
        segment_lock.close();                                        // releases "ready"
        if (name_lock.is_open()) name_lock.unlink_if_linked();
        name_lock.close(); // releases the name
        segment.reset();
    }

    /// Wakes every waiter of the channel: the daemon's loop, shells waiting for space, for an
    /// answer or for a state update. Async-signal-safe (atomics and futex calls only).
    void wake_everyone() const noexcept {
        const ChannelMap& m = map();
        wake_all(m.cmd_event());
        wake_all(m.space_event());
        wake_all(m.state_event());
        for (std::uint32_t i = 0; i < m.max_clients; ++i) wake_all(m.response_event(i));
    }

    /// The queue's repairs (command_queue.hpp: writes from outside the protocol): a tail run
    /// more than a ring ahead is put back; a head position that tail has passed without a
    /// publish is skipped once it has stayed so for claim_timeout (`until` says till when).
    /// true: the queue changed (look at it again).
    bool check_queue(clock::time_point& until, bool scan_ring = true) {
        const ChannelMap& m = map();
        bool changed = false;
        if (queue_repair_tail(m, head)) {
            bump(m.cb->queue_repairs);
            changed = true;
        }
        if (scan_ring) {
            // Ring words that fit no position: repaired once they have stayed claim_timeout.
            if (queue_count_strays(m, head) == 0) {
                strays_since = clock::time_point{};
            } else {
                const auto now = clock::now();
                if (strays_since == clock::time_point{}) strays_since = now;
                const auto due = strays_since + std::chrono::nanoseconds(m.claim_timeout_ns);
                if (now >= due) {
                    strays_since = clock::time_point{};
                    for (std::uint32_t n = queue_fix_strays(m, head); n != 0; --n)
                        bump(m.cb->queue_repairs);
                    changed = true;
                } else if (due < until) {
                    until = due;
                }
            }
        }
        if (changed) {
            // A tail put back or ring words reset: producers waiting for space look again.
            notify(m.space_event());
            return true;
        }
        if (!queue_head_passed_unpublished(m, head)) {
            stuck_pos = no_position;
            return false;
        }
        const auto now = clock::now();
        if (stuck_pos != head) {
            stuck_pos = head;
            stuck_since = now;
        }
        until = stuck_since + std::chrono::nanoseconds(m.claim_timeout_ns);
        if (now < until) return false;
        stuck_pos = no_position;
        // The tail when the hole aged out: positions below it that hold no publish either are
        // holes of the same stray write, skipped now rather than claim_timeout each.
        const std::uint64_t seen_tail = m.shared->tail.load(std::memory_order_relaxed);
        if (!queue_skip(m, head)) return true; // published after all: poll takes it
        bump(m.cb->queue_repairs);
        std::uint32_t c = 0;
        for (std::uint32_t k = 1; k<m.ring_slots&& static_cast<std::int64_t>(seen_tail - head)> 0 &&
                                  !queue_front(m, head, c);
             ++k)
            if (queue_skip(m, head)) bump(m.cb->queue_repairs);
        notify(m.space_event());
        return true;
    }

    /// Serving again (run() or poll() after stop()): requests are taken again.
    void serve() noexcept {
        std::uint32_t expected = channel_stopped;
        // release: nothing to publish but the state itself; shells only compare it.
        map().cb->state.compare_exchange_strong(expected, channel_ready, std::memory_order_release,
                                                std::memory_order_relaxed);
    }

    /// Not serving (stop(), run() returning): requests that stay waiting get daemon_gone.
    void unserve() noexcept {
        std::uint32_t expected = channel_ready;
        // seq_cst: ordered before the epoch bumps of wake_everyone(), like close().
        map().cb->state.compare_exchange_strong(
            expected, channel_stopped, std::memory_order_seq_cst, std::memory_order_relaxed);
    }

    /// Handles the published command at head, from client `client` (queue_front).
    template <class Handler> void handle(Handler& handler, std::uint32_t client) {
        const ChannelMap& m = map();
        ControlBlock& cb = *m.cb;
        if (client >= m.max_clients) {
            bump(cb.commands_malformed);
            return; // no such client: nobody to answer
        }
        ClientRecord& rec = m.client(client);
        // SYNC POINT READ: connected, client slot free (pairs with claim_client_slot's and
        // release_client_slot's release stores: the generation it read is the connection's).
        if (rec.state.load(std::memory_order_acquire) != client_connected) {
            bump(cb.commands_stale);
            return; // its sender disconnected: nobody waits for this answer
        }
        StagingHeader& st = m.staging(client);
        // relaxed: ordered after the slot word's acquire in queue_front.
        const std::uint64_t request = st.request.load(std::memory_order_relaxed);
        const std::uint32_t length = st.length.load(std::memory_order_relaxed);
        if (request_generation(request) !=
                (rec.generation.load(std::memory_order_relaxed) & request_counter_mask) ||
            request == last_request[client]) {
            bump(cb.commands_stale);
            return; // left by a shell that has since disconnected, or handled already
        }
        last_request[client] = request;
        last_sender = client;
        last_sender_lines = static_cast<std::uint32_t>(
            std::min<std::size_t>(staging_lookahead_lines,
                                  (staging_header_bytes + length + cache_line - 1) / cache_line));
        if (length > m.max_cmd_size) {
            bump(cb.commands_malformed);
            constexpr const char* text =
                "the daemon found the command's length out of range in the shell's staging area";
            publish_error(m, client, request, static_cast<std::uint32_t>(errc::corrupt_channel),
                          text);
            log_error(cb, client, request, static_cast<std::uint32_t>(errc::corrupt_channel), text);
            return;
        }
        const ByteView cmd(m.staging_data(client), length);
        std::uint8_t* out = answer_bytes(m, client);
        // An error answer is published inside its catch block, while what() is alive: its
        // text goes straight into the response slot (publish_error copies and cuts it).
        auto fail = [&](errc code, const char* text) noexcept {
            bump(cb.handler_errors);
            publish_error(m, client, request, static_cast<std::uint32_t>(code), text);
            log_error(cb, client, request, static_cast<std::uint32_t>(code), text);
        };
        try {
            const std::size_t n = invoke(handler, client, cmd, out);
            publish_answer(m, client, request, status_ok, n);
        } catch (const error& e) {
            fail(e.code() == errc::message_too_large ? errc::message_too_large
                                                     : errc::handler_failed,
                 e.what());
        } catch (const std::exception& e) {
            fail(errc::handler_failed, e.what());
        }
#if defined(__GLIBCXX__)
        catch (abi::__forced_unwind&) {
            // pthread_exit or pthread_cancel unwinding this thread (a Python interpreter ending
            // its daemon threads does that): it must go on, or the process aborts. (libc++ has
            // no name for it: there a thread ended inside a handler aborts the process.)
            throw;
        }
#endif
        catch (...) {
            fail(errc::handler_failed,
                 "the handler threw an exception not derived from std::exception");
        }
        bump(cb.commands_handled);
    }

    /// Calls the handler in whichever form it has; returns the answer's length in `out`.
    template <class Handler>
    std::size_t invoke(Handler& handler, std::uint32_t client, ByteView cmd, std::uint8_t* out) {
        const std::size_t cap = map().max_response_size;
        if constexpr (std::is_invocable_v<Handler&, std::uint32_t, ByteView, ResponseWriter&>) {
            ResponseWriter w(out, cap);
            handler(client, cmd, w);
            return w.size();
        } else {
            static_assert(std::is_invocable_v<Handler&, std::uint32_t, ByteView>,
                          "a venom handler is callable as (std::uint32_t client_id, ByteView cmd) "
                          "returning bytes, or (std::uint32_t, ByteView, ResponseWriter&)");
            using R = std::invoke_result_t<Handler&, std::uint32_t, ByteView>;
            if constexpr (std::is_void_v<R>) {
                handler(client, cmd);
                return 0;
            } else {
                static_assert(is_byte_container_v<R>,
                              "a venom handler returns a contiguous container of bytes "
                              "(std::vector<std::uint8_t>, std::string, ...) or void");
                const R answer = handler(client, cmd);
                const std::size_t n = std::size(answer);
                if (n > cap)
                    throw error(errc::message_too_large,
                                "the handler's response of " + std::to_string(n) +
                                    " bytes is over max_response_size " + std::to_string(cap));
                if (n != 0) std::memcpy(out, std::data(answer), n);
                return n;
            }
        }
    }

    template <class Handler> std::size_t poll(Handler& handler, bool honour_stop) {
        const ChannelMap& m = map();
        std::size_t handled = 0;
        std::uint32_t client = 0;
        while (handled < m.ring_slots && queue_front(m, head, client)) {
            handle(handler, client);
            queue_release(m, head);
            ++handled;
            if (honour_stop && stop_requested.load(std::memory_order_relaxed)) break;
        }
        if (handled != 0) {
            stuck_pos = no_position;
            // one fence for the whole batch of releases (waiter.hpp)
            notify(m.space_event()); // producers waiting for a free slot
            commands_since_beat += static_cast<unsigned>(handled);
            if (commands_since_beat >= heartbeat_commands) {
                commands_since_beat = 0;
                stamp_heartbeat(*m.cb, clock::now());
            }
        }
        return handled;
    }

    /// One wait of run() with nothing published at the head: for a publish or a stop, and
    /// now and then a look at the queue's tail for check_queue (never at every wait: the
    /// shells' tail line stays on their cores).
    void wait_for_work() {
        const ChannelMap& m = map();
        clock::time_point until = clock::time_point::max();
        const bool repairing = stuck_pos == head || strays_since != clock::time_point{};
        if (repairing && check_queue(until)) return;
        const bool stuck = stuck_pos == head;
        std::uint32_t client = 0;
        // While it spins, the wait also reads ahead the staging lines of the last sender (the
        // one client of a request/response loop is the likely next sender): a line its shell
        // rewrites moves to this core while the shell goes on to publish, so handle() does
        // not wait for it after the slot word, one dependent line transfer fewer. A hint: it
        // changes nothing (a prefetch), and costs a cached look when the guess is wrong.
        const unsigned char* ahead =
            reinterpret_cast<const unsigned char*>(&m.staging(last_sender));
        auto ready = [&] {
            for (std::uint32_t k = 0; k < last_sender_lines; ++k)
                prefetch_read(ahead + k * cache_line);
            return queue_front(m, head, client);
        };
        auto abort = [&] {
            if (stop_requested.load(std::memory_order_relaxed)) return true;
            if (stuck || ++idle_checks % tail_check_every != 0) return false;
            // Tail past head with nothing published there (a hole), or further behind head
            // than a publish in flight leaves it (a stray write: producers walk it up one CAS
            // at a time): check_queue repairs either.
            const auto d =
                static_cast<std::int64_t>(m.shared->tail.load(std::memory_order_relaxed) - head);
            return d > 0 || d < -1;
        };
        // The idle slice starts lazily: a command that comes within the first spins reads no
        // clock. A repair due sooner ends the wait at its due time.
        Deadline deadline = Deadline::lazy(idle_slice);
        if (stuck) deadline = until;
        else if (strays_since != clock::time_point{})
            deadline = std::min(until, deadline_after(idle_slice));
        const wait_status st = wait_until(m.cmd_event(), ready, abort, wait, deadline);
        // The heartbeat of an idle daemon, from the clock reading the wait took (a wait over
        // within its first spins read none, and a command follows: poll() beats per batch).
        if (deadline.seen() != clock::time_point{}) stamp_heartbeat(*m.cb, deadline.seen());
        if (st != wait_status::ready && !stop_requested.load(std::memory_order_relaxed))
            check_queue(until);
    }
};

} // namespace detail

/// A state buffer lent for writing the next version in place (DaemonChannel::loan): no copy.
///     venom::StateLoan loan = daemon.loan(n);  // n <= data_size bytes of a free state buffer
///     fill(loan.data(), loan.size());          // the next version, written where it lies
///     loan.publish();                          // readers see it (publish(m): the first m bytes)
/// Until publish() readers go on seeing the current version; a loan dropped (drop(), or
/// destroyed) unpublished is abandoned: the version does not move. One loan at a time per
/// daemon, and no write_data while it is out (both fail with errc::state_busy). Movable, not
/// copyable; it may be published from another thread than the one that took it. The bytes are
/// the daemon's until publish: a slow reader still copying that buffer's old version sees its
/// copy fail its sequence check and retries (seqlock.hpp), so nothing half-written is ever
/// read. A loan that outlives its daemon publishes nothing (daemon_gone), but its data() is
/// gone with the daemon's mapping: end loans (and stop filling them) before the daemon.
class StateLoan {
public:
    StateLoan() noexcept = default; ///< an inactive loan
    /// Takes over o's loan; o is left inactive.
    StateLoan(StateLoan&& o) noexcept { take(o); }
    /// Drops this loan if it is active (unpublished), then takes over o's; o is left inactive.
    StateLoan& operator=(StateLoan&& o) noexcept {
        if (this != &o) {
            drop();
            take(o);
        }
        return *this;
    }
    StateLoan(const StateLoan&) = delete;
    StateLoan& operator=(const StateLoan&) = delete;
    ~StateLoan() { drop(); }

    /// Whether this loan is out (taken, not yet published or dropped).
    bool active() const noexcept { return token_ != nullptr; }
    explicit operator bool() const noexcept { return active(); } ///< active()
    /// The lent bytes (size() of them, 64-byte aligned); null when not active.
    unsigned char* data() const noexcept { return active() ? write_.data : nullptr; }
    /// The n of loan(n): how many bytes are lent; 0 when not active.
    std::size_t size() const noexcept { return active() ? size_ : 0; }
    /// The version readers will see once it is published.
    std::uint64_t version() const noexcept { return active() ? write_.version : 0; }

    /// Publishes all size() bytes as the next version. Throws as publish(m, ec) reports.
    void publish() { publish(size_); }
    /// Publishes the first m bytes (m <= size()) as the next version.
    void publish(std::size_t m) {
        std::error_code ec;
        publish(m, ec);
        if (ec) throw error(ec, publish_text(ec, m));
    }
    /// Non-throwing form. ec: message_too_large (m > size(): nothing published, the loan stays
    /// out), daemon_gone (the daemon was destroyed: nothing published), or
    /// std::errc::invalid_argument (this loan is not active: already published or dropped).
    void publish(std::size_t m, std::error_code& ec) noexcept {
        ec.clear();
        if (!active()) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return;
        }
        if (m > size_) {
            ec = make_error_code(errc::message_too_large);
            return;
        }
        const std::shared_ptr<detail::daemon_impl::writer_state> w = std::move(token_);
        std::lock_guard<std::mutex> guard(w->mutex);
        if (w->daemon == nullptr) {
            ec = make_error_code(errc::daemon_gone);
            return;
        }
        detail::state_publish(w->daemon->map(), write_, m);
        w->loan_out = false;
    }

    /// Abandons the loan unpublished (the version does not move); nothing if not active.
    void drop() noexcept {
        if (!active()) return;
        const std::shared_ptr<detail::daemon_impl::writer_state> w = std::move(token_);
        std::lock_guard<std::mutex> guard(w->mutex);
        w->loan_out = false;
    }

private:
    friend class DaemonChannel;
    std::shared_ptr<detail::daemon_impl::writer_state> token_;
    detail::state_write write_{};
    std::size_t size_ = 0;

    void take(StateLoan& o) noexcept {
        token_ = std::move(o.token_);
        write_ = o.write_;
        size_ = o.size_;
    }
    std::string publish_text(std::error_code ec, std::size_t m) const {
        if (ec == errc::message_too_large)
            return "StateLoan::publish of " + std::to_string(m) + " bytes; the loan has " +
                   std::to_string(size_) + ": publish at most that, or take a larger loan";
        if (ec == errc::daemon_gone)
            return "StateLoan::publish: its DaemonChannel was destroyed; nothing was published";
        return "StateLoan::publish: this loan is not out (already published, dropped or moved "
               "from)";
    }
};

/// A loan of a state holding one T (DaemonChannel::loan<T>): value() is the T to fill in place.
/// T is trivially copyable (checked at compile time); its bytes are the state's, sizeof(T) of them.
template <class T> class TypedLoan {
public:
    TypedLoan() noexcept = default; ///< an inactive loan
    /// Takes over o's loan; o is left inactive.
    TypedLoan(TypedLoan&& o) noexcept : loan_(std::move(o.loan_)), value_(o.value_) {
        o.value_ = nullptr;
    }
    /// Drops this loan if it is active (unpublished), then takes over o's; o is left inactive.
    TypedLoan& operator=(TypedLoan&& o) noexcept {
        if (this != &o) {
            loan_ = std::move(o.loan_); // drops ours, if out
            value_ = o.value_;
            o.value_ = nullptr;
        }
        return *this;
    }
    /// Whether this loan is out (taken, not yet published or dropped).
    bool active() const noexcept { return loan_.active(); }
    explicit operator bool() const noexcept { return active(); } ///< active()
    /// The T being written. \pre active() (null once published, dropped or moved from).
    T& value() const noexcept { return *value_; }
    /// The T's address, for `loan->field = ...`. \pre active().
    T* operator->() const noexcept { return value_; }
    T& operator*() const noexcept { return *value_; } ///< value(). \pre active().
    /// The version readers will see once it is published; 0 when not active.
    std::uint64_t version() const noexcept { return loan_.version(); }
    /// Publishes the T (its sizeof(T) bytes) as the next version. Throws as
    /// StateLoan::publish().
    void publish() {
        try {
            loan_.publish();
        } catch (...) {
            // A loan that ended in the throw (daemon_gone: the daemon, and with it the
            // mapping value_ points into, is gone) leaves no pointer behind.
            if (!loan_.active()) value_ = nullptr;
            throw;
        }
        value_ = nullptr;
    }
    /// Non-throwing form: ec as StateLoan::publish(std::size_t, std::error_code&) reports it.
    void publish(std::error_code& ec) noexcept {
        loan_.publish(sizeof(T), ec);
        if (!loan_.active()) value_ = nullptr;
    }
    /// Abandons the loan unpublished (the version does not move); nothing if not active.
    void drop() noexcept {
        loan_.drop();
        value_ = nullptr;
    }

private:
    friend class DaemonChannel;
    explicit TypedLoan(StateLoan l) noexcept : loan_(std::move(l)) {
        // A T begins its life in the lent bytes, default-initialised: members with default
        // initialisers get them, the others are indeterminate (in practice an older version's
        // bytes, or an abandoned loan's). Set every field; never read one you did not set.
        value_ = std::launder(new (loan_.data()) T);
    }
    StateLoan loan_;
    T* value_ = nullptr;
};

/// The daemon (single writer) of a named channel. Movable, not copyable.
///
/// Threads: run()/poll() from one thread at a time; write_data() from any thread (serialised
/// internally: one writer at a time); stop() from anywhere, including a signal handler.
/// Destroying the daemon closes the channel: waiting and new requests get errc::daemon_gone, and
/// the channel's names are removed from /dev/shm (shells keep their mappings).
class DaemonChannel {
public:
    /// Creates channel `name`. Throws venom::error: invalid_name, invalid_config (before any
    /// allocation), channel_exists (a live daemon serves the name), permission_denied,
    /// out_of_memory. A segment left by a dead daemon is taken over. May block briefly (file
    /// system calls), allocates.
    static DaemonChannel create(std::string_view name, const ChannelConfig& config) {
        validate_name(name);
        config.validate();
        (void)detail::Sizes::of(config); // size limits, before touching the file system
        auto impl = std::make_unique<detail::daemon_impl>();
        impl->name = std::string(name);
        impl->config = config;
        impl->wait.policy = config.wait;
        impl->wait.spin = config.spin_time;
        impl->wait.check_every = detail::daemon_impl::idle_slice;
        const detail::AccessControl access(static_cast<std::uint32_t>(config.access));
        const detail::AccessControl record_access(static_cast<std::uint32_t>(config.access), true);
        detail::NameRecord previous{};
        bool had_previous = false;
        // Steps 1-3 of liveness.hpp: the name, or channel_exists / permission_denied.
        impl->name_lock = detail::claim_name(impl->name, record_access, previous, had_previous);
        impl->incarnation = detail::new_incarnation();
        const std::string seg = detail::segment_name(name, impl->incarnation);
        const std::string live = detail::liveness_path(name, impl->incarnation);
        try {
            // Step 4: a dead daemon's leftovers. Unlinking its segment leaves its shells a file
            // whose ready byte nobody holds, so they report daemon_gone.
            detail::remove_leftovers(impl->name, had_previous ? previous.incarnation : 0);
            detail::write_building_record(impl->name_lock, impl->name, impl->incarnation);
            // Steps 5 and 6: the segment, built over a file this process checked (its own, the
            // size Boost gave it) and reserved in /dev/shm before the layout, then its ready
            // byte. A failure inside create_segment removes what it made.
            auto created = detail::create_segment(seg, config, access, impl->segment_lock, live);
            impl->segment = std::move(created.segment);
            impl->segment.bind_events(impl->name, impl->incarnation, access);
            impl->segment.events->open_all();
            impl->last_request.assign(impl->segment.map.max_clients, 0);
            impl->writer->pin_owner_alive_until.assign(impl->segment.map.max_clients,
                                                       detail::clock::time_point{});
            impl->writer->pins = detail::PinScanner(impl->segment.map.max_clients);
            const std::uint64_t segment_size = impl->segment.map.cb->segment_size;
            if (!impl->segment_lock.try_lock(detail::segment_daemon_byte))
                throw error(errc::system_failure,
                            "could not lock " + live +
                                " (another process "
                                "holds its ready byte: remove the file and retry)");
            // Step 7: the record shells find the segment by.
            const detail::NameRecord record = detail::make_record(
                impl->name, impl->incarnation, segment_size, created.control_offset,
                impl->segment_lock, *impl->segment.map.cb);
            detail::write_record(impl->name_lock, &record);
        } catch (...) {
            impl->close(); // what create made so far: the segment, its file, the name
            throw;
        }
        return DaemonChannel(std::move(impl));
    }

    /// Takes over the other daemon's channel; the moved-from daemon may only be destroyed or
    /// assigned to.
    DaemonChannel(DaemonChannel&&) noexcept = default;
    /// Closes this daemon's channel, if it has one (as destruction does), then takes over the
    /// other's.
    DaemonChannel& operator=(DaemonChannel&&) noexcept = default;
    DaemonChannel(const DaemonChannel&) = delete;
    DaemonChannel& operator=(const DaemonChannel&) = delete;
    ~DaemonChannel() = default;

    /// Publishes a new state (replaces the old one). Throws message_too_large over data_size.
    /// Never waits for readers; wait-free apart from the internal writer mutex (and, when a
    /// view's pin is in its way, a liveness probe of that shell, at most every 10 ms each).
    /// Throws state_busy while a StateLoan of this daemon is out, or when shells' views pin
    /// every state buffer but the newest (nothing written; ShellChannel::view).
    void write_data(const void* data, std::size_t size) {
        std::uint64_t current = 0;
        const refusal r = write_impl(data, size, 0, current);
        if (r != refusal::none) throw_refusal(r, "write_data", size, false, 0, current);
    }
    /// Non-throwing form: ec is message_too_large or state_busy (nothing written: a loan is
    /// out, or views pin every buffer but the newest; busy_reason() says which).
    void write_data(const void* data, std::size_t size, std::error_code& ec) noexcept {
        std::uint64_t current = 0;
        ec = refusal_code(write_impl(data, size, 0, current));
    }

    /// Publishes a new state, as write_data, with version number `version` instead of the one
    /// after the current: readers see version() jump to it (ShellChannel::wait_for_update wakes
    /// as for any newer version). For a daemon that mirrors another channel's versions (a
    /// bridge). Versions only go up: a `version` not above the current one, or above
    /// max_state_version, is refused with std::errc::invalid_argument and nothing is published.
    /// Later write_data calls go on from it (version + 1). Throws venom::error with that code,
    /// message_too_large or state_busy (as write_data). Any thread; serialised with the other
    /// writes; never waits for readers.
    void write_data_as(std::uint64_t version, const void* data, std::size_t size) {
        std::uint64_t current = 0;
        const refusal r = write_impl(data, size, checked_request(version), current);
        if (r != refusal::none) throw_refusal(r, "write_data_as", size, true, version, current);
    }
    /// Non-throwing form: ec is std::errc::invalid_argument (the version is not above the
    /// current one, or above max_state_version), message_too_large or state_busy; nothing is
    /// written then.
    void write_data_as(std::uint64_t version, const void* data, std::size_t size,
                       std::error_code& ec) noexcept {
        std::uint64_t current = 0;
        ec = refusal_code(write_impl(data, size, checked_request(version), current));
    }

    /// Lends the buffer of the next version, n <= data_size bytes of it, for writing in place
    /// (StateLoan). Throws message_too_large (n > data_size) or state_busy (a loan is out:
    /// also `l = daemon.loan(n)` while `l` is still out, since the new loan is taken before
    /// the old one is dropped; publish or drop it first). Never waits for readers.
    StateLoan loan(std::size_t n) {
        std::uint64_t current = 0;
        StateLoan l;
        const refusal r = loan_impl(n, 0, current, l);
        if (r != refusal::none) throw_refusal(r, "loan", n, false, 0, current);
        return l;
    }
    /// Non-throwing form: an inactive loan and ec (message_too_large, state_busy: a loan is
    /// out, or views pin every buffer but the newest) on failure.
    StateLoan loan(std::size_t n, std::error_code& ec) noexcept {
        std::uint64_t current = 0;
        StateLoan l;
        ec = refusal_code(loan_impl(n, 0, current, l));
        return l;
    }

    /// A loan, as loan(n), whose publish makes `version` the state's version (as
    /// write_data_as): for assembling a mirrored version in place. The version is checked when
    /// the loan is taken (it cannot move while the loan is out): one not above the current
    /// version, or above max_state_version, is refused with std::errc::invalid_argument (no
    /// loan). Dropped unpublished, the version stays where it was. Throws venom::error with
    /// that code, message_too_large or state_busy (as loan).
    StateLoan loan_as(std::uint64_t version, std::size_t n) {
        std::uint64_t current = 0;
        StateLoan l;
        const refusal r = loan_impl(n, checked_request(version), current, l);
        if (r != refusal::none) throw_refusal(r, "loan_as", n, true, version, current);
        return l;
    }
    /// Non-throwing form: an inactive loan and ec (std::errc::invalid_argument,
    /// message_too_large, state_busy) on failure.
    StateLoan loan_as(std::uint64_t version, std::size_t n, std::error_code& ec) noexcept {
        std::uint64_t current = 0;
        StateLoan l;
        ec = refusal_code(loan_impl(n, checked_request(version), current, l));
        return l;
    }

    /// A loan of sizeof(T) bytes holding a T to fill in place (TypedLoan). Throws as loan(n).
    template <class T> TypedLoan<T> loan() {
        detail::check_state_type<T>();
        return TypedLoan<T>(loan(sizeof(T)));
    }

    /// Publishes `value`'s bytes as the next state (a trivially copyable T; readers use
    /// ShellChannel::read<T>). Throws as write_data.
    template <class T> void write(const T& value) {
        detail::check_state_type<T>();
        static_assert(!detail::is_byte_container_v<T>,
                      "write<T> publishes T's own bytes; for the bytes a string_view, span or "
                      "vector holds, use write_data");
        write_data(&value, sizeof(T));
    }
    /// Any contiguous container of bytes: std::string_view, std::string, std::vector<uint8_t>...
    template <class Bytes, class = std::enable_if_t<detail::is_byte_container_v<Bytes>>>
    void write_data(const Bytes& bytes) {
        write_data(std::data(bytes), std::size(bytes));
    }
    /// A C string literal (its bytes without the terminating NUL).
    void write_data(const char* text) { write_data(std::string_view(text)); }

    /// Serves requests until stop(). The handler is called as handler(client_id, cmd) returning
    /// bytes (vector, string, ... or void), or handler(client_id, cmd, ResponseWriter&) which
    /// writes into the client's response slot without allocating. A handler that throws sends
    /// handler_failed (with its what()) to that client; the daemon goes on.
    /// Blocks; waits as ChannelConfig::wait says (spin, then sleep: ~0% CPU when idle).
    /// A stop() that came before run() makes it return at once. When run() returns (after
    /// stop()) the channel stays open and its state readable, but it is not serving (see
    /// stop()) until run() or poll() is called again.
    template <class Handler> void run(Handler&& handler) {
        auto& d = impl();
        // seq_cst (with stop()'s stop_requested store and running load): either stop() sees
        // this run() as running, or this load sees its request.
        d.running.store(true, std::memory_order_seq_cst);
        if (!d.stop_requested.load(std::memory_order_seq_cst)) d.serve();
        detail::stamp_heartbeat(*d.map().cb, detail::clock::now()); // a fresh run() beats at once
        while (!d.stop_requested.load(std::memory_order_acquire)) {
            if (d.poll(handler, true) != 0) continue;
            d.wait_for_work();
        }
        // Consume the stop that ended the loop before leaving `running`: a stop() from now on
        // is kept for the next run() (or, once running is false, stops serving by itself).
        d.stop_requested.store(false, std::memory_order_seq_cst);
        d.running.store(false, std::memory_order_seq_cst);
        // The command in hand was answered: only now do waiting requests learn of the stop.
        d.unserve();
        d.wake_everyone();
    }

    /// Handles the commands already queued (at most one ring's worth), never waits. Returns how
    /// many.
    /// After a stop(), serves again (requests are taken again). From the thread that would
    /// call run(); never concurrently with run().
    template <class Handler> std::size_t poll(Handler&& handler) {
        auto& d = impl();
        d.serve();
        const std::size_t n = d.poll(handler, false);
        if (n == 0) {
            detail::clock::time_point until{};
            // repairs of the queue (command_queue.hpp); the O(ring) scan only now and then
            const unsigned empty = ++d.empty_polls;
            d.check_queue(until, empty % detail::daemon_impl::ring_scan_every == 0);
            // the heartbeat of a daemon driven by poll(): one clock read per few empty polls
            if (empty % detail::heartbeat_empty_polls == 0)
                detail::stamp_heartbeat(*d.map().cb, detail::clock::now());
        }
        return n;
    }

    /// Stops serving: run() returns after the command in hand (whose answer is delivered).
    /// Until run() or poll() is called again, requests wait (they are queued), and a request
    /// that finds the daemon still stopped ShellOptions::daemon_check (20 ms) into its wait
    /// fails with errc::daemon_gone ("stopped serving"): a daemon that calls run() again at
    /// once loses no request, one that stays stopped makes none wait for ever. The channel
    /// stays open: shells still read the state and write_data still publishes. Destroying the
    /// daemon closes the channel. Async-signal-safe, any thread, never throws.
    void stop() noexcept {
        if (!impl_) return;
        auto& d = *impl_;
        d.stop_requested.store(true, std::memory_order_seq_cst);
        detail::wake_all(d.map().cmd_event());
        if (!d.running.load(std::memory_order_seq_cst)) { // no run() to finish it: stop serving now
            d.unserve();
            d.wake_everyone();
        }
    }

    /// The version of the newest state: the number of states published so far (write_data,
    /// write<T>, published loans), or the number given to the last write_data_as or loan_as,
    /// plus the writes since.
    std::uint64_t version() const noexcept { return detail::state_version(impl().map()); }
    const std::string& name() const noexcept { return impl().name; } ///< the channel's name
    /// The configuration the channel was created with, as passed to create().
    const ChannelConfig& config() const noexcept { return impl().config; }

    /// Why the writer refuses a write now (state_busy): a loan out, or views; "" if neither.
    std::string busy_reason() const {
        auto& d = impl();
        std::lock_guard<std::mutex> guard(d.writer->mutex);
        if (d.writer->loan_out)
            return "a StateLoan of this daemon is still out; publish or drop it first";
        const auto& m = d.map();
        // The newest buffer is never written, pinned or not: count the others.
        const std::uint32_t newest =
            detail::state_buffer_of(m.cb->state_word.load(std::memory_order_relaxed));
        const std::uint32_t mask = detail::pinned_buffers_any(m) & ~(1u << newest);
        std::uint32_t pinned = 0;
        for (std::uint32_t b = 0; b < m.state_buffers; ++b) pinned += (mask >> b) & 1u;
        if (pinned + 1 < m.state_buffers) return "";
        return "views pin " + std::to_string(pinned) + " of the " +
               std::to_string(m.state_buffers - 1) +
               " state buffers other than the newest (a view holds its buffer until released; "
               "views of "
               "the newest version share one)";
    }

private:
    explicit DaemonChannel(std::unique_ptr<detail::daemon_impl> p) noexcept : impl_(std::move(p)) {}
    using refusal = detail::daemon_impl::refusal;
    /// A version asked of write_data_as or loan_as, as write_impl and loan_impl take it: 0
    /// there means "the next", so a requested 0 (never above the current) becomes a value
    /// that next_version refuses.
    static constexpr std::uint64_t checked_request(std::uint64_t version) noexcept {
        return version != 0 ? version : ~std::uint64_t{0};
    }
    /// write_data's work (`version` 0: the next; else write_data_as's); refusal::none:
    /// written. No error_code on the way (its category functions are out-of-line calls: a few
    /// ns of a 16 B write). `current` gets the version before the write (when it got so far).
    refusal write_impl(const void* data, std::size_t size, std::uint64_t version,
                       std::uint64_t& current) noexcept {
        auto& d = impl();
        const auto& m = d.map();
        if (size > m.data_size) return refusal::too_large;
        std::lock_guard<std::mutex> guard(d.writer->mutex);
        if (d.writer->loan_out) return refusal::busy;
        const std::uint64_t v = d.next_version(version, current);
        if (v == 0) return refusal::version;
        if (!detail::seqlock_write(m, data, size, detail::daemon_impl::write_pins{d}, v)) {
            detail::bump(m.cb->state_busy);
            return refusal::busy;
        }
        return refusal::none;
    }
    /// loan's and loan_as's work: `l` gets the loan (refusal::none) or stays inactive.
    refusal loan_impl(std::size_t n, std::uint64_t version, std::uint64_t& current,
                      StateLoan& l) noexcept {
        auto& d = impl();
        const auto& m = d.map();
        if (n > m.data_size) return refusal::too_large;
        std::lock_guard<std::mutex> guard(d.writer->mutex);
        if (d.writer->loan_out) return refusal::busy;
        const std::uint64_t v = d.next_version(version, current);
        if (v == 0) return refusal::version;
        const detail::state_write w = d.begin_write(v);
        if (w.buffer == nullptr) return refusal::busy;
        d.writer->loan_out = true;
        l.write_ = w;
        l.token_ = d.writer;
        l.size_ = n;
        return refusal::none;
    }
    static std::error_code refusal_code(refusal r) noexcept {
        switch (r) {
        case refusal::none: return {};
        case refusal::too_large: return make_error_code(errc::message_too_large);
        case refusal::busy: return make_error_code(errc::state_busy);
        case refusal::version: return std::make_error_code(std::errc::invalid_argument);
        }
        return make_error_code(errc::state_busy);
    }
    /// Throws the venom::error of a refused write or loan (`what`: the call, `n` its bytes,
    /// `as`: a version was asked for, `version`; `current` as write_impl gave it).
    [[noreturn]] void throw_refusal(refusal r, const char* what, std::size_t n, bool as,
                                    std::uint64_t version, std::uint64_t current) const {
        const std::error_code ec = refusal_code(r);
        if (r == refusal::too_large)
            throw error(ec, std::string(what) + " of " + std::to_string(n) +
                                " bytes; data_size is " + std::to_string(impl().map().data_size));
        if (r == refusal::version) {
            if (!as) // write_data or loan at max_state_version: no next version
                throw error(ec, std::string(what) + ": the version is max_state_version (" +
                                    std::to_string(current) + "); no later version exists");
            if (version > max_state_version)
                throw error(ec, std::string(what) + ": version " + std::to_string(version) +
                                    " is above max_state_version (2^61 - 1); nothing published");
            throw error(ec, std::string(what) + ": version " + std::to_string(version) +
                                " is not above the current version " + std::to_string(current) +
                                "; nothing published (versions only go up)");
        }
        throw error(ec, busy_text(what));
    }
    std::string busy_text(const char* what) const {
        std::string why = busy_reason();
        return std::string(what) + ": " +
               (why.empty() ? "views pinned every state buffer but the newest" : why);
    }
    detail::daemon_impl& impl() const noexcept {
        assert(impl_ && "use of a moved-from venom::DaemonChannel");
        return *impl_;
    }
    std::unique_ptr<detail::daemon_impl> impl_;
};

/// What remove_stale() did.
enum class removal {
    removed,      ///< the channel's files were removed: no process held them
    daemon_alive, ///< a live daemon holds the name (or serves the segment): nothing removed
    not_found,    ///< no file of that name
};

/// Removes the files a dead daemon of channel `name` left behind (venom::is_leftover
/// statuses; also files named like the channel that no venom daemon made, if they are this
/// user's). It takes the name lock the way a daemon does, so no daemon can start on the name
/// meanwhile, and never removes what a live daemon holds. Throws invalid_name,
/// permission_denied (the files are another user's: let their owner or root remove them) and
/// system_failure.
inline removal remove_stale(std::string_view name) {
    validate_name(name);
    const std::string lock_path = detail::lock_path(name);
    constexpr int max_tries = 100; // each try found the lock file replaced meanwhile
    for (int attempt = 0; attempt < max_tries; ++attempt) {
        bool any = detail::look_at(lock_path).exists;
#ifndef _WIN32
        any = any || detail::look_at(detail::segment_path(name)).exists; // no lock file: foreign
#endif
        if (!any) return removal::not_found;
#ifndef _WIN32
        // Another user's segment (or not a regular file): refused before the name lock is
        // taken, so that no lock file of ours is left where its owner's daemon needs its own.
        const std::string seg_path = detail::segment_path(name);
        const detail::FileFacts seg = detail::look_at(seg_path);
        if (seg.exists)
            detail::require_channel_file(
                seg_path, seg, [](std::uint32_t uid) { return uid == detail::effective_uid(); },
                "this user");
        const bool had_lock_file = detail::look_at(lock_path).exists;
#endif
        detail::NameRecord previous{};
        bool had = false;
        detail::LockFile lock;
        try {
            lock = detail::claim_name(name, detail::AccessControl(0, true), previous, had);
        } catch (const error& e) {
            if (e.code() == errc::channel_exists) return removal::daemon_alive;
            throw;
        }
        try {
            detail::remove_leftovers(name, had ? previous.incarnation : 0);
        } catch (const error& e) {
#ifndef _WIN32
            // A lock file this call created must not outlive it (a daemon would find it as is).
            if (!had_lock_file) lock.unlink_if_linked();
#endif
            if (e.code() == errc::channel_exists) return removal::daemon_alive;
            throw;
        }
        if (!lock.still_linked()) continue;
        lock.unlink_if_linked();
        return removal::removed; // the name lock goes with `lock`
    }
    throw error(errc::system_failure, "the files of \"" + std::string(name) + "\" keep changing");
}

/// As above; errors set `ec` (and the result is not_found).
inline removal remove_stale(std::string_view name, std::error_code& ec) noexcept {
    ec.clear();
    try {
        return remove_stale(name);
    } catch (const error& e) {
        ec = e.code();
    } catch (...) {
        ec = make_error_code(errc::system_failure);
    }
    return removal::not_found;
}

} // namespace venom
