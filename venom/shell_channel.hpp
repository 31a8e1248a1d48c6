// SPDX-License-Identifier: BSL-1.0
/// \file venom/shell_channel.hpp
/// The shell side: connects to a channel, reads the daemon's state, sends requests and receives
/// its own answers.
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

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace venom {

namespace detail {

struct shell_impl {
    std::string name;
    ShellOptions options;
    LockFile segment_lock; ///< the segment file: our client byte; probes the daemon's byte
    Segment segment;
    std::uint32_t id = 0;
    ClientRecord* record = nullptr;
    std::uint64_t generation = 0; ///< low 32 bits go into request ids
    std::uint32_t counter = 0;    ///< requests sent; low half of request ids
    /// A request that timed out after its command was queued: until its answer is in, the
    /// daemon may still read our staging area, so the next request waits for it first.
    std::uint64_t outstanding = 0;
    WaitParams wait;
    std::string last_error_text; ///< text of the last error answer (handler_failed ...)
    /// A request with a command up to this size starts its timeout lazily (at its wait's first
    /// look at the clock): staging it takes a few microseconds at most, about what the first
    /// spins of the wait take before that look.
    static constexpr std::size_t lazy_deadline_max_bytes = 64 * 1024;
    /// Lines of the last answer past its first (wait_for_answer reads that many ahead), and
    /// the most it reads ahead.
    std::uint32_t last_answer_lines = 0;
    static constexpr std::size_t answer_lookahead_lines = 2;
    /// This shell's views (view_pins.hpp). A view holds a shared_ptr to this impl: the slot,
    /// and with it the pins, stays ours until the last view is released.
    ViewTable views;

    const ChannelMap& map() const noexcept { return segment.map; }

    ~shell_impl() { disconnect(); }

    void disconnect() noexcept {
        if (record == nullptr) return;
        views.unregister(map(), id, generation); // no view is left: the impl outlives them
        release_client_slot(map(), segment_lock, id);
        segment_lock.close();
        record = nullptr;
    }

    /// The abort test of a wait for an answer or a queue slot: the daemon closed the channel,
    /// or (probes made once the wait has lasted options.daemon_check and then once per
    /// daemon_check) it has stopped serving or no process holds its ready byte any more (a
    /// system call). `next_probe` belongs to the wait.
    bool daemon_gone(clock::time_point& next_probe) { return gone_or(next_probe, true); }

    /// The abort test of a wait for the answer to `request`: daemon_gone, or (probed as
    /// often) the command vanished: no ring word names this client and the answer is not in.
    /// The daemon answers before it frees the slot (or, deferring the answer to a venom::Reply,
    /// marks the request deferred first), so only a write from outside the protocol
    /// (a buggy shell's, into the queue's shared lines) can erase a publish; without this test
    /// its sender would wait for ever. `lost` says which.
    bool gone_or_lost(clock::time_point& next_probe, clock::time_point& next_look,
                      std::uint64_t request, bool& lost) {
        if (daemon_gone(next_probe)) return true;
        const auto now = clock::now();
        if (next_look == clock::time_point{}) next_look = now + options.daemon_check;
        if (now < next_look) return false;
        next_look = now + options.daemon_check;
        // acquire (in both): a slot the daemon freed after answering shows the answer, or
        // (a deferred answer: venom::Reply) that the answer is to come.
        lost = !queue_holds_client(map(), id) && !answered(map(), id, request) &&
               !answer_deferred(map(), id, request);
        return lost;
    }

    /// Waits for the answer to `request` (spin, then sleep) until the deadline, the daemon's
    /// end (daemon_gone's probes, on `next_probe`), or the command vanishing (`lost`).
    wait_status wait_for_answer(std::uint64_t request, Deadline& deadline,
                                clock::time_point& next_probe, bool& lost) {
        const ChannelMap& m = map();
        // While it spins, the wait reads ahead the lines of the answer past its first (as many
        // as the last answer had, at most answer_lookahead_lines): they move to this core while
        // the daemon publishes, not after the seq it waits for. A hint, as in the daemon's wait.
        const unsigned char* more =
            reinterpret_cast<const unsigned char*>(&m.response(id)) + cache_line;
        const std::uint32_t more_lines = last_answer_lines;
        auto is_answered = [&] {
            for (std::uint32_t k = 0; k < more_lines; ++k) prefetch_read(more + k * cache_line);
            return answered(m, id, request);
        };
        clock::time_point next_look{};
        auto gone_lost = [&] { return gone_or_lost(next_probe, next_look, request, lost); };
        return wait_until(m.response_event(id), is_answered, gone_lost, wait, deadline);
    }

    /// The abort test of a wait for a state update: a stopped daemon still publishes.
    bool daemon_dead(clock::time_point& next_probe) { return gone_or(next_probe, false); }

    /// A stopped daemon counts as gone only when a probe finds it stopped, at least
    /// options.daemon_check into the wait: one that calls run() again at once (a loop that
    /// stops to do other work) serves the request instead of failing it.
    bool gone_or(clock::time_point& next_probe, bool stopped_counts) {
        // SYNC POINT READ: channel closed (pairs with the daemon's seq_cst stores in close()
        // and stop()).
        const std::uint32_t st = map().cb->state.load(std::memory_order_acquire);
        if (st == channel_closed) return true;
        const auto now = clock::now();
        if (next_probe == clock::time_point{}) next_probe = now + options.daemon_check;
        if (now < next_probe) return false;
        next_probe = now + options.daemon_check;
        if (stopped_counts && st == channel_stopped) return true;
        return !daemon_alive(segment_lock);
    }

    /// Text for daemon_gone: closed, stopped or dead.
    std::string gone_text() const {
        const std::uint32_t st = map().cb->state.load(std::memory_order_acquire);
        if (st == channel_stopped)
            return "the daemon of \"" + name +
                   "\" stopped serving requests (DaemonChannel::stop); "
                   "its state can still be read. The command stays queued and runs if the daemon "
                   "serves again; this shell's next request waits for its answer first";
        if (st == channel_closed)
            return "the daemon of \"" + name +
                   "\" closed the channel; connect again to reach the "
                   "next daemon";
        return "the daemon of \"" + name + "\" died; connect again to reach the next daemon";
    }

    /// Takes a client slot; `protect`: this shell maps the channel with a shell's protections
    /// (segment.hpp), so the slot's own pages are made writable.
    void claim_slot() {
        const Mapping& mapping = segment.mapping;
        id = claim_client_slot(map(), segment_lock, generation, [&](std::uint32_t i) {
            protect_client_area(mapping, map(), i, true);
        });
        record = &map().client(id);
    }

    /// A time limit as StagingHeader::timeout_us holds it: microseconds rounded up (at least
    /// 1), saturated; 0 for none (nanoseconds::max()). No clock read.
    static std::uint32_t timeout_us(std::chrono::nanoseconds timeout) noexcept {
        if (timeout == std::chrono::nanoseconds::max()) return 0;
        const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 0));
        const std::uint64_t us = ns / 1000 + (ns % 1000 != 0 ? 1 : 0);
        return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(us, 1, UINT32_MAX));
    }

    std::error_code to_code(wait_status st) {
        if (st == wait_status::timed_out) return make_error_code(errc::timeout);
        last_error_text = gone_text();
        return make_error_code(errc::daemon_gone);
    }

    /// The request path. Returns the answer's length (also when the buffer is too small).
    /// `deadline_ns`: request_until's deadline (steady_ns), written into the staging header;
    /// 0: none.
    std::size_t request(const void* cmd, std::size_t n, void* out, std::size_t cap,
                        std::chrono::nanoseconds timeout, std::error_code& ec,
                        std::vector<std::uint8_t>* grow, std::uint64_t deadline_ns = 0) {
        const ChannelMap& m = map();
        ec.clear();
        if (n > m.max_cmd_size) {
            ec = make_error_code(errc::message_too_large);
            last_error_text = "command of " + std::to_string(n) + " bytes; max_cmd_size is " +
                              std::to_string(m.max_cmd_size);
            return 0;
        }
        // A stopped daemon may serve again at once: the request waits (gone_or) rather than
        // failing here.
        if (m.cb->state.load(std::memory_order_acquire) == channel_closed) {
            ec = make_error_code(errc::daemon_gone);
            last_error_text = gone_text();
            return 0;
        }
        // No clock read on the way to a quick answer, timeout or not: the deadline starts at
        // the wait's first look at the clock (waiter.hpp, Deadline), except after staging a
        // large command, whose copy alone may take a good part of a short timeout.
        Deadline deadline = n > lazy_deadline_max_bytes ? Deadline(deadline_after(timeout))
                                                        : Deadline::lazy(timeout);
        clock::time_point next_probe{};
        auto gone = [&] { return daemon_gone(next_probe); };
        if (outstanding != 0) {
            // A timed-out request's command may still be queued: our staging area is the
            // daemon's to read until its answer is in (response_slot.hpp).
            bool lost = false;
            const auto st = wait_for_answer(outstanding, deadline, next_probe, lost);
            if (st != wait_status::ready && !lost) {
                ec = to_code(st);
                if (st == wait_status::timed_out)
                    last_error_text =
                        "the previous request, which timed out, is still queued: the "
                        "daemon has not answered it yet, so this one was not sent";
                return 0;
            }
            outstanding = 0;
        }
        const std::uint64_t req = make_request_id(generation, ++counter);
        // Stage the command: all of it before the queue sees it, so the push that publishes
        // it is one CAS, whatever the size (command_queue.hpp).
        StagingHeader& stage = m.staging(id);
        queue_prefetch(m); // the slot's line travels while we stage (command_queue.hpp)
        if (n != 0) std::memcpy(m.staging_data(id), cmd, n);
        // relaxed: published by the release of queue_push's CAS.
        stage.length.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
        stage.timeout_us.store(timeout_us(timeout), std::memory_order_relaxed);
        stage.deadline_ns.store(deadline_ns, std::memory_order_relaxed);
        stage.request.store(req, std::memory_order_relaxed);
        for (std::uint64_t pos = 0; queue_push(m, id, pos) != push_result::pushed;) {
            wait_status st;
            if (queue_has_space(m)) {
                // Full although a slot looks free: only writes from outside the protocol
                // (a tail far from head) do that. The wait would return at once: keep to the
                // deadline and the liveness probe here instead, and let the daemon repair.
                std::this_thread::yield();
                st = gone() ? wait_status::aborted
                     : (deadline.bounded() && deadline.passed(clock::now()))
                         ? wait_status::timed_out
                         : wait_status::ready;
            } else {
                auto space = [&] { return queue_has_space(m); };
                st = wait_until(m.space_event(), space, gone, wait, deadline);
            }
            if (st != wait_status::ready) {
                ec = to_code(st);
                return 0;
            }
        }
        bump(m.client_requests(id));
        notify_published(m.cmd_event()); // after the publish's seq_cst CAS: no fence

        bool lost = false;
        const auto st = wait_for_answer(req, deadline, next_probe, lost);
        if (lost) {
            ec = make_error_code(errc::corrupt_channel);
            last_error_text =
                "the command vanished from the queue before the daemon answered it (a "
                "write from outside venom's protocol into the queue's shared lines, "
                "e.g. a buggy shell); it may or may not have run";
            return 0;
        }
        if (st != wait_status::ready) {
            // Timed out, or the daemon stopped serving: the command stays queued, and the daemon
            // reads our staging area when it serves again. (Closed or dead: the next request
            // fails at once, or after one liveness probe, without staging anything.)
            outstanding = req;
            ec = to_code(st);
            return 0;
        }
        const answer_view a = read_answer(m, id);
        std::size_t len = a.length;
        last_answer_lines =
            a.status != status_ok || a.corrupt
                ? 0
                : static_cast<std::uint32_t>(std::min<std::size_t>(
                      answer_lookahead_lines, (response_header_bytes + len - 1) / cache_line));
        if (a.status != status_ok) {
            last_error_text.assign(reinterpret_cast<const char*>(a.bytes), len);
            // Any venom errc: a handler's own (handler_failed, message_too_large), the
            // daemon's, or one a deferred answer chose (Reply::fail: timeout, ...).
            const bool known = a.status >= static_cast<std::uint32_t>(errc::channel_not_found) &&
                               a.status <= static_cast<std::uint32_t>(errc::wrong_size);
            ec = make_error_code(known ? static_cast<errc>(a.status) : errc::corrupt_channel);
            return 0;
        }
        if (a.corrupt) {
            ec = make_error_code(errc::corrupt_channel);
            last_error_text = "response length out of range";
            return 0;
        }
        if (grow != nullptr) {
            grow->resize(len);
            out = grow->data();
            cap = len;
        }
        if (len > cap) {
            ec = make_error_code(errc::buffer_too_small);
            last_error_text = "the response is " + std::to_string(len) +
                              " bytes, the buffer holds " + std::to_string(cap);
            return len;
        }
        if (len != 0) std::memcpy(out, a.bytes, len);
        return len;
    }
};

} // namespace detail

/// A version of the state read in place (ShellChannel::view): data() and size() are the bytes
/// the daemon published as version(), and they do not change while the view lives - the
/// daemon writes other buffers meanwhile (view_pins.hpp), and a write that finds every buffer
/// but the newest held by views fails with state_busy instead. Release views promptly: each
/// one holds a state buffer back (views of one version share it). Movable, not copyable; may be
/// released from any thread. A view keeps its shell's connection and mapping (it outlives the
/// ShellChannel, and the daemon: a dead daemon's last state stays readable through it).
/// The empty state (version 0, before the first write) is a view of size 0.
class StateView {
public:
    StateView() noexcept = default; ///< an inactive view
    /// Takes over o's view; o is left inactive.
    StateView(StateView&& o) noexcept { take(o); }
    /// Releases this view if it is active, then takes over o's; o is left inactive.
    StateView& operator=(StateView&& o) noexcept {
        if (this != &o) {
            release();
            take(o);
        }
        return *this;
    }
    StateView(const StateView&) = delete;
    StateView& operator=(const StateView&) = delete;
    ~StateView() { release(); }

    /// Whether this view holds a version (taken, not yet released or moved from).
    bool active() const noexcept { return owner_ != nullptr; }
    explicit operator bool() const noexcept { return active(); } ///< active()
    /// The version's bytes (64-byte aligned); null for the empty state or an inactive view.
    const unsigned char* data() const noexcept { return data_; }
    /// The version's length in bytes; 0 for the empty state or an inactive view.
    std::size_t size() const noexcept { return size_; }
    /// Which version the bytes are: the daemon's count of states when it published them (0:
    /// the empty state).
    std::uint64_t version() const noexcept { return version_; }

    /// Lets the version go: the daemon may reuse its buffer (once no other view of it in this
    /// shell remains). data() is not to be read after this. Nothing if not active.
    void release() noexcept {
        if (owner_ == nullptr) return;
        if (slot_ != detail::view_taken::no_slot)
            owner_->views.release(owner_->map(), owner_->id, slot_);
        owner_.reset();
        data_ = nullptr;
        size_ = 0;
    }

private:
    friend class ShellChannel;
    std::shared_ptr<detail::shell_impl> owner_;
    std::uint32_t slot_ = detail::view_taken::no_slot;
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint64_t version_ = 0;

    void take(StateView& o) noexcept {
        owner_ = std::move(o.owner_);
        slot_ = o.slot_;
        data_ = o.data_;
        size_ = o.size_;
        version_ = o.version_;
        o.slot_ = detail::view_taken::no_slot;
        o.data_ = nullptr;
        o.size_ = 0;
        o.version_ = 0;
    }
};

/// A view of a state holding one T (ShellChannel::view<T>): value() is the daemon's T, in place.
template <class T> class TypedView {
public:
    TypedView() noexcept = default; ///< an inactive view
    /// Whether this view holds a version (taken, not yet released or moved from).
    bool active() const noexcept { return view_.active(); }
    explicit operator bool() const noexcept { return active(); } ///< active()
    /// The T. \pre active() (a moved-from or released view has none).
    const T& value() const noexcept { return *reinterpret_cast<const T*>(view_.data()); }
    /// The T's address, for `view->field`. \pre active().
    const T* operator->() const noexcept { return reinterpret_cast<const T*>(view_.data()); }
    const T& operator*() const noexcept { return value(); }            ///< value(). \pre active().
    std::uint64_t version() const noexcept { return view_.version(); } ///< which version the T is
    /// Lets the version go (StateView::release()): value() is not to be read after this.
    void release() noexcept { view_.release(); }

private:
    friend class ShellChannel;
    explicit TypedView(StateView v) noexcept : view_(std::move(v)) {}
    StateView view_;
};

/// A client of a channel. Movable, not copyable.
///
/// Threads: request() and wait_for_update() from one thread at a time (one outstanding
/// request per shell; use one shell per thread for parallel requests); read_data() and
/// version() from any thread. Destroying the shell frees its client slot for reuse.
class ShellChannel {
public:
    /// Connects to channel `name`. Throws venom::error: invalid_name, channel_not_found (no
    /// daemon ready now: none, or one starting, restarting or closing), too_many_clients,
    /// permission_denied (the channel's files belong to a user this shell does not trust - see
    /// ShellOptions::trusted_uid - or are not plain files, or this user may not open them),
    /// incompatible_layout (the daemon was built with another venom layout), corrupt_channel.
    /// Needs nothing from the daemon's loop. Allocates. Never runs Boost's code over the
    /// segment and never waits on it: without connect_timeout it returns or throws at once
    /// (but for up to 100 ms while the only free client slots wait for the daemon to consume a
    /// command their last shell left queued);
    /// with it, it retries channel_not_found (sleeping 5 ms between tries) until a daemon is
    /// ready or the time is up.
    static ShellChannel connect(std::string_view name, const ShellOptions& options = {}) {
        validate_name(name);
        options.validate();
        const auto deadline = detail::deadline_after(options.connect_timeout);
        for (;;) {
            try {
                return connect_once(name, options);
            } catch (const error& e) {
                if (e.code() != errc::channel_not_found || detail::clock::now() >= deadline) throw;
            }
            std::this_thread::sleep_for(connect_retry_pause);
        }
    }

    /// connect_timeout: the pause between tries while no daemon is ready.
    static constexpr std::chrono::milliseconds connect_retry_pause{5};

    /// Takes over the other shell's connection; the moved-from shell may only be destroyed or
    /// assigned to.
    ShellChannel(ShellChannel&&) noexcept = default;
    /// Disconnects this shell, as destruction does (its client slot is freed once its views are
    /// released too), then takes over the other's connection.
    ShellChannel& operator=(ShellChannel&&) noexcept = default;
    ShellChannel(const ShellChannel&) = delete;
    ShellChannel& operator=(const ShellChannel&) = delete;
    ~ShellChannel() = default;

private:
    /// A typed read of exactly n bytes into out (seqlock_read's exact mode: wrong_size for a
    /// state of any other length); T is checked at compile time.
    template <class T> detail::snapshot read_exact(T* out, std::size_t n) const noexcept {
        detail::check_state_type<T>();
        return detail::seqlock_read(impl().map(), out, n, std::chrono::seconds(2), true);
    }
    static ShellChannel connect_once(std::string_view name, const ShellOptions& options) {
        auto impl = std::make_shared<detail::shell_impl>();
        impl->name = std::string(name);
        impl->options = options;
        impl->wait.policy = options.wait;
        impl->wait.spin = options.spin_time;
        impl->wait.check_every = options.daemon_check;
        // liveness.hpp, "Shell attach": the daemon's record, its segment file (owner trusted),
        // its ready byte, then our own mapping of it. Never Boost's open or index.
        detail::AttachOptions how;
        how.trust.extra_uid = options.trusted_uid;
        detail::Attachment a = detail::attach(name, how);
        impl->segment_lock = std::move(a.segment_file);
        impl->segment.mapping = std::move(a.mapping);
        impl->segment.map = a.map;
        // A shell writes only the shared lines and its own client area: everything else (the
        // control block, the state, every answer, other clients' areas) is read-only here.
        detail::protect_for_shell(impl->segment.mapping, impl->segment.map);
        impl->segment.bind_events(impl->name, a.record.incarnation, detail::AccessControl(0));
        impl->claim_slot();
        auto& events = *impl->segment.events;
        events.open(detail::event_cmd);
        events.open(detail::event_space);
        events.open(detail::event_state);
        events.open(detail::event_response_base + impl->id);
        return ShellChannel(std::move(impl));
    }

public:
    /// This shell's client slot index, 0..max_clients-1 (reused after a disconnect).
    std::uint32_t client_id() const noexcept { return impl().id; }

    // ---- state ------------------------------------------------------------------------------

    /// Copies the current state into buf; returns its length. A state longer than `capacity`
    /// throws buffer_too_small (nothing copied; the message gives the size needed). Never torn.
    /// Lock-free; after the daemon is gone it returns the last state it published.
    std::size_t read_data(void* buf, std::size_t capacity) const {
        std::error_code ec;
        const std::size_t n = read_data(buf, capacity, ec);
        if (ec == errc::buffer_too_small)
            throw error(ec, "the state is " + std::to_string(n) + " bytes, the buffer holds " +
                                std::to_string(capacity));
        if (ec) throw error(ec, "read_data");
        return n;
    }
    /// Non-throwing form: ec is buffer_too_small (returns the length needed), corrupt_channel or
    /// timeout (the writer overwrote every version for 2 s before it could be copied).
    std::size_t read_data(void* buf, std::size_t capacity, std::error_code& ec,
                          std::uint64_t* version = nullptr) const noexcept {
        const auto s = detail::seqlock_read(impl().map(), buf, capacity);
        ec = s.ec;
        if (version != nullptr) *version = s.version;
        return s.length;
    }
    /// The state as a new vector (allocates the state's length; retries if it grew meanwhile).
    std::vector<std::uint8_t> read_data() const {
        std::vector<std::uint8_t> out;
        std::error_code ec;
        std::size_t n = 0;
        do {
            out.resize(n);
            n = read_data(out.data(), out.size(), ec);
        } while (ec == errc::buffer_too_small);
        if (ec) throw error(ec, "read_data");
        out.resize(n);
        return out;
    }

    /// The state as a T (the daemon writes it with write<T> or loan<T>; T trivially copyable,
    /// default-constructible). Throws wrong_size if the state is not sizeof(T) bytes (also
    /// before the first write: the empty state), with nothing read; otherwise as read_data.
    template <class T> T read() const {
        static_assert(!detail::is_byte_container_v<T>,
                      "read<T> reads T's own bytes; for the state's bytes use read_data");
        T value;
        const detail::snapshot s = read_exact(&value, sizeof(T));
        if (s.ec == errc::wrong_size)
            throw error(s.ec, "read<T>: the state is " + std::to_string(s.length) +
                                  " bytes (version " + std::to_string(s.version) + "), T is " +
                                  std::to_string(sizeof(T)));
        if (s.ec) throw error(s.ec, "read<T>");
        return value;
    }
    /// Non-throwing form, straight into `out` (no copy in between, whatever T's size). On any
    /// error `out`'s bytes are unspecified (untouched, unless a try copied part of a state that
    /// a writer lapped before the error was found); only success gives a T the daemon wrote.
    template <class T>
    void read(T& out, std::error_code& ec, std::uint64_t* version = nullptr) const noexcept {
        const detail::snapshot s = read_exact(&out, sizeof(T));
        ec = s.ec;
        if (version != nullptr) *version = s.version;
    }

    /// Number of states the daemon has published (write_data, write<T>, loans; 0: no state yet).
    std::uint64_t version() const noexcept { return detail::state_version(impl().map()); }

    /// The newest complete version, read in place (StateView): no copy, and bytes that cannot
    /// change while the view lives. Any number of views may be out. Throws corrupt_channel,
    /// or timeout (the daemon overwrote every version for
    /// 2 s before one could be pinned). Lock-free against the daemon (a mutex orders this
    /// shell's own threads); after the daemon is gone it views the last state it published.
    StateView view() const {
        std::error_code ec;
        StateView v = view(ec);
        if (ec) throw error(ec, "view of \"" + impl().name + "\"");
        return v;
    }
    /// Non-throwing form: an inactive view and ec on failure.
    StateView view(std::error_code& ec) const noexcept {
        auto& s = impl();
        const detail::view_taken t =
            s.views.take(s.map(), s.id, s.generation, [](detail::view_step) {});
        ec = t.ec;
        StateView v;
        if (ec) return v;
        v.owner_ = impl_;
        v.slot_ = t.slot;
        v.data_ = t.data;
        v.size_ = t.length;
        v.version_ = t.version;
        return v;
    }

    /// A view of the state as a T (the daemon writes it with write<T> or loan<T>). Throws
    /// wrong_size if the state is not sizeof(T) bytes (the empty state too); otherwise as view().
    template <class T> TypedView<T> view() const {
        detail::check_state_type<T>();
        StateView v = view();
        if (v.size() != sizeof(T) || v.version() == 0)
            throw error(errc::wrong_size, "view<T>: the state is " + std::to_string(v.size()) +
                                              " bytes (version " + std::to_string(v.version()) +
                                              "), T is " + std::to_string(sizeof(T)));
        return TypedView<T>(std::move(v));
    }
    /// Non-throwing form: an inactive view and ec (wrong_size, or as view(ec)) on failure.
    template <class T> TypedView<T> view(std::error_code& ec) const noexcept {
        detail::check_state_type<T>();
        StateView v = view(ec);
        if (ec) return TypedView<T>();
        if (v.size() != sizeof(T) || v.version() == 0) {
            ec = make_error_code(errc::wrong_size);
            return TypedView<T>();
        }
        return TypedView<T>(std::move(v));
    }

    /// Waits until the version is above `seen` (spin, then sleep). Returns true on an update,
    /// false on timeout; throws daemon_gone once the daemon is gone.
    bool wait_for_update(std::uint64_t seen, std::chrono::nanoseconds timeout) {
        auto& s = impl();
        const auto& m = s.map();
        auto newer = [&] { return detail::state_version(m) > seen; };
        detail::clock::time_point next_probe{};
        auto gone = [&] { return s.daemon_dead(next_probe); };
        // lazy: an update already in, or in within the first spins, reads no clock
        auto deadline = detail::Deadline::lazy(timeout);
        const auto st = detail::wait_until(m.state_event(), newer, gone, s.wait, deadline);
        if (st == detail::wait_status::aborted)
            throw error(errc::daemon_gone, "waiting for a state update of \"" + s.name + "\"");
        return st == detail::wait_status::ready;
    }

    // ---- requests ---------------------------------------------------------------------------

    /// Sends a command and copies this request's answer into resp; returns its length. Waits
    /// (spin, then sleep) for a queue slot and the answer, at most ShellOptions::request_timeout.
    /// Throws: message_too_large (cmd over max_cmd_size, or the handler's answer over
    /// max_response_size), buffer_too_small (message gives the size), timeout, daemon_gone,
    /// handler_failed (message carries the handler's what()).
    std::size_t request(const void* cmd, std::size_t cmd_len, void* resp,
                        std::size_t resp_capacity) {
        return request(cmd, cmd_len, resp, resp_capacity, impl().options.request_timeout);
    }
    /// As request(cmd, cmd_len, resp, resp_capacity), with its own time limit instead of
    /// ShellOptions::request_timeout. A command that was queued when the time ran out may still
    /// run: this shell's next request waits for its answer first.
    std::size_t request(const void* cmd, std::size_t cmd_len, void* resp, std::size_t resp_capacity,
                        std::chrono::nanoseconds timeout) {
        std::error_code ec;
        const std::size_t n = request(cmd, cmd_len, resp, resp_capacity, timeout, ec);
        if (ec) throw_request_error(ec);
        return n;
    }
    /// Non-throwing form (the hot path): ec reports what the throwing form throws; on
    /// buffer_too_small the return value is the answer's length. last_error_text() has details.
    std::size_t request(const void* cmd, std::size_t cmd_len, void* resp, std::size_t resp_capacity,
                        std::chrono::nanoseconds timeout, std::error_code& ec) noexcept {
        try {
            return impl().request(cmd, cmd_len, resp, resp_capacity, timeout, ec, nullptr);
        } catch (...) { // only std::string in error texts can throw (bad_alloc)
            ec = make_error_code(errc::system_failure);
            return 0;
        }
    }
    /// A request that must not run after `deadline` (steady clock): the deadline travels with
    /// the command, and a daemon that takes it later does not handle it but answers
    /// errc::timeout (counted in ChannelSample::commands_expired); this shell also stops
    /// waiting then (errc::timeout, as request with the time left as its timeout). A deadline
    /// already passed sends nothing (timeout). Otherwise as request(cmd, cmd_len, resp,
    /// resp_capacity, timeout). Throws what request throws.
    std::size_t request_until(std::chrono::steady_clock::time_point deadline, const void* cmd,
                              std::size_t cmd_len, void* resp, std::size_t resp_capacity) {
        std::error_code ec;
        const std::size_t n = request_until(deadline, cmd, cmd_len, resp, resp_capacity, ec);
        if (ec) throw_request_error(ec);
        return n;
    }
    /// Non-throwing form of request_until: ec as request's non-throwing form reports it.
    std::size_t request_until(std::chrono::steady_clock::time_point deadline, const void* cmd,
                              std::size_t cmd_len, void* resp, std::size_t resp_capacity,
                              std::error_code& ec) noexcept {
        try {
            auto& s = impl();
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
                ec = make_error_code(errc::timeout);
                s.last_error_text = "request_until: the deadline had passed; nothing was sent";
                return 0;
            }
            const std::uint64_t at = detail::steady_ns(deadline);
            return s.request(cmd, cmd_len, resp, resp_capacity,
                             std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now),
                             ec, nullptr, at != 0 ? at : 1);
        } catch (...) { // only std::string in error texts can throw (bad_alloc)
            ec = make_error_code(errc::system_failure);
            return 0;
        }
    }

    /// Any contiguous container of bytes as the command; the answer as a new vector.
    template <class Bytes, class = std::enable_if_t<detail::is_byte_container_v<Bytes>>>
    std::vector<std::uint8_t> request(const Bytes& cmd) {
        return request(cmd, impl().options.request_timeout);
    }
    /// As request(const Bytes&), with its own time limit instead of ShellOptions::request_timeout.
    template <class Bytes, class = std::enable_if_t<detail::is_byte_container_v<Bytes>>>
    std::vector<std::uint8_t> request(const Bytes& cmd, std::chrono::nanoseconds timeout) {
        std::vector<std::uint8_t> out;
        std::error_code ec;
        impl().request(std::data(cmd), std::size(cmd), nullptr, 0, timeout, ec, &out);
        if (ec) throw_request_error(ec);
        return out;
    }
    /// A C string (its bytes without the terminating NUL) as the command.
    std::vector<std::uint8_t> request(const char* text) { return request(std::string_view(text)); }
    /// As request(const char*), with its own time limit instead of ShellOptions::request_timeout.
    std::vector<std::uint8_t> request(const char* text, std::chrono::nanoseconds timeout) {
        return request(std::string_view(text), timeout);
    }

    /// Details of the last error answer or failed request (handler's what(), sizes).
    const std::string& last_error_text() const noexcept { return impl().last_error_text; }

    const std::string& name() const noexcept { return impl().name; } ///< the channel's name
    /// The channel's configuration as the daemon created it: its sizes and counts (wait,
    /// spin_time, access and claim_timeout are left at their defaults).
    ChannelConfig config() const noexcept {
        const auto& m = impl().map();
        ChannelConfig c{static_cast<std::size_t>(m.data_size), m.cmd_slots, m.max_clients};
        c.max_cmd_size = m.max_cmd_size;
        c.max_response_size = m.max_response_size;
        c.state_buffers = m.state_buffers;
        return c;
    }

private:
    explicit ShellChannel(std::shared_ptr<detail::shell_impl> p) noexcept : impl_(std::move(p)) {}
    detail::shell_impl& impl() const noexcept {
        assert(impl_ && "use of a moved-from venom::ShellChannel");
        return *impl_;
    }
    [[noreturn]] void throw_request_error(std::error_code ec) const {
        const auto& s = impl();
        std::string what = "request on \"" + s.name + "\"";
        if (ec == errc::handler_failed || ec == errc::message_too_large ||
            ec == errc::daemon_gone || ec == errc::buffer_too_small || ec == errc::corrupt_channel)
            what += ": " + s.last_error_text;
        throw error(ec, what);
    }
    std::shared_ptr<detail::shell_impl> impl_;
};

} // namespace venom
