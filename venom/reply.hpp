// SPDX-License-Identifier: BSL-1.0
/// \file venom/reply.hpp
/// A deferred answer: venom::Reply, given to a handler of the form
/// `handler(std::uint32_t client, venom::ByteView cmd, venom::Reply reply)`, which may answer
/// later, from any thread (detail/reply_slots.hpp has the protocol).
#pragma once

#include <venom/bytes.hpp>
#include <venom/error.hpp>
#include <venom/detail/reply_slots.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace venom {

namespace detail {
struct daemon_impl;
}

/// The answer to one request, to be given later (the handler form
/// `handler(client, cmd, venom::Reply reply)` of DaemonChannel::run and poll). The handler may
/// keep the Reply (move it into a queue, another thread, a timer list) and return at once: the
/// daemon goes on with other commands, and the shell's request waits until the Reply is
/// answered, by send() or fail(), from any thread of the daemon's process.
///
/// One answer per Reply: the first send() or fail() answers; later calls change nothing and
/// report std::errc::invalid_argument. A Reply destroyed unanswered answers
/// errc::handler_failed ("the daemon dropped the request unanswered"), so every request gets
/// an answer: do answer each one, a shell whose request timed out waits for that answer before
/// it sends its next request. A Reply whose shell has gone meanwhile (disconnected, killed,
/// its slot taken by a new shell) sends nothing: the answer is dropped and counted
/// (ChannelSample::replies_stale). A Reply that outlives its DaemonChannel sends nothing and
/// reports errc::daemon_gone.
///
/// Movable, not copyable. send, fail and the destructor never block, except on a mutex of the
/// Reply's client slot held for one copy of an answer (by another Reply of that slot, or by
/// the daemon taking that slot's next command). The handler's `cmd` is valid only during the
/// handler call: copy what the answer needs.
class Reply {
public:
    /// An inactive Reply (answers nothing).
    Reply() noexcept = default;
    /// Takes over o's answer; o is left inactive.
    Reply(Reply&& o) noexcept { take(o); }
    /// Answers this Reply's request handler_failed if it is still active (as the destructor
    /// does), then takes over o's; o is left inactive.
    Reply& operator=(Reply&& o) noexcept {
        if (this != &o) {
            drop();
            take(o);
        }
        return *this;
    }
    Reply(const Reply&) = delete;
    Reply& operator=(const Reply&) = delete;
    /// An active Reply answers errc::handler_failed ("the daemon dropped the request
    /// unanswered"). (The Reply a handler received, destroyed because the handler throws,
    /// leaves the answer to the daemon, which answers with the exception's text.)
    ~Reply() { drop(); }

    /// The client slot the request came from (as the handler's `client`).
    std::uint32_t client() const noexcept { return client_; }
    /// When the shell stops waiting for this answer: its ShellChannel::request_until deadline,
    /// or its request's time limit counted from when the daemon took the command (an upper
    /// bound: the shell started counting earlier); time_point::max() if it gave neither. A
    /// daemon that cannot answer in time may fail(errc::timeout, ...) at that moment.
    std::chrono::steady_clock::time_point deadline() const noexcept { return deadline_; }
    /// Whether the answer is still to be given.
    bool active() const noexcept { return slots_ != nullptr; }
    explicit operator bool() const noexcept { return active(); } ///< active()

    /// Answers with `answer`'s bytes (copied into the shell's response slot). Throws
    /// venom::error as send(ByteView, std::error_code&) reports.
    void send(ByteView answer) {
        std::error_code ec;
        send(answer, ec);
        if (ec) throw error(ec, send_text(ec, answer.size()));
    }
    /// Non-throwing form. ec: message_too_large (over max_response_size: nothing sent, the
    /// Reply stays active: send a shorter answer or fail()), daemon_gone (the DaemonChannel
    /// was destroyed), std::errc::connection_aborted (the shell that asked is gone: dropped and
    /// counted in replies_stale), std::errc::invalid_argument (not active: answered already,
    /// or moved from). Any thread.
    void send(ByteView answer, std::error_code& ec) noexcept {
        if (active() && answer.size() > slots_->map.max_response_size) {
            ec = make_error_code(errc::message_too_large);
            return;
        }
        ec = finish(detail::status_ok, answer.data(), answer.size());
    }
    /// Any contiguous container of bytes: std::string_view, std::string, std::vector<uint8_t>.
    template <class Bytes, class = std::enable_if_t<detail::is_byte_container_v<Bytes> &&
                                                    !std::is_same_v<Bytes, ByteView>>>
    void send(const Bytes& answer) {
        send(as_view(answer));
    }
    /// Non-throwing form for a contiguous container of bytes.
    template <class Bytes, class = std::enable_if_t<detail::is_byte_container_v<Bytes> &&
                                                    !std::is_same_v<Bytes, ByteView>>>
    void send(const Bytes& answer, std::error_code& ec) noexcept {
        send(as_view(answer), ec);
    }

    /// Answers with an error: the shell's request fails with `code` and its last_error_text()
    /// is `text` (cut to 256 bytes). `code` is any venom::errc (e.g. errc::timeout when the
    /// answer could not be had in time); one that is none (errc{}) is sent as handler_failed.
    /// Counted in handler_errors and logged (venom stat, inspect.hpp) like a handler's
    /// exception. Returns what send(ByteView, std::error_code&) reports (never
    /// message_too_large). Any thread.
    std::error_code fail(errc code, std::string_view text) noexcept {
        const int v = static_cast<int>(code);
        const bool known = v >= static_cast<int>(errc::channel_not_found) &&
                           v <= static_cast<int>(errc::wrong_size);
        return finish(static_cast<std::uint32_t>(known ? code : errc::handler_failed), text.data(),
                      text.size());
    }

private:
    friend struct detail::daemon_impl;
    /// The Reply handle() passes to a handler: `handed_back` is set if it is destroyed while
    /// that handler throws (the catch then answers with the exception's text).
    Reply(std::shared_ptr<detail::reply_slots> slots, std::uint32_t client, std::uint64_t request,
          std::chrono::steady_clock::time_point deadline, bool* handed_back) noexcept
        : slots_(std::move(slots)),
          request_(request),
          deadline_(deadline),
          handed_back_(handed_back),
          uncaught_(std::uncaught_exceptions()),
          client_(client) {
        // relaxed: counted before any thread can see this Reply; handle() is the reader.
        slots_->open_replies.fetch_add(1, std::memory_order_relaxed);
    }

    template <class Bytes> static ByteView as_view(const Bytes& b) noexcept {
        return ByteView(reinterpret_cast<const std::uint8_t*>(std::data(b)), std::size(b));
    }

    void take(Reply& o) noexcept {
        slots_ = std::move(o.slots_);
        request_ = o.request_;
        deadline_ = o.deadline_;
        client_ = o.client_;
        handed_back_ = nullptr; // a moved-to Reply always answers for itself
        o.handed_back_ = nullptr;
    }

    /// Ends the Reply with this answer (detail::reply_slots::answer); it is inactive after.
    std::error_code finish(std::uint32_t status, const void* bytes, std::size_t n) noexcept {
        if (!active()) return std::make_error_code(std::errc::invalid_argument);
        const std::shared_ptr<detail::reply_slots> s = std::move(slots_);
        handed_back_ = nullptr;
        const std::error_code ec = s->answer(client_, request_, status, bytes, n);
        // release: the answer's writes before the count that lets handle() skip the lock.
        s->open_replies.fetch_sub(1, std::memory_order_release);
        return ec;
    }

    /// The destructor's and move assignment's end of an active Reply.
    void drop() noexcept {
        if (!active()) return;
        if (handed_back_ != nullptr && std::uncaught_exceptions() > uncaught_) {
            // Destroyed by its handler's exception: handle()'s catch answers (it holds the
            // request's open mark; the count goes now, the catch takes the lock itself).
            *handed_back_ = true;
            handed_back_ = nullptr;
            const std::shared_ptr<detail::reply_slots> s = std::move(slots_);
            s->open_replies.fetch_sub(1, std::memory_order_release);
            return;
        }
        constexpr std::string_view text = "the daemon dropped the request unanswered";
        (void)finish(static_cast<std::uint32_t>(errc::handler_failed), text.data(), text.size());
    }

    std::string send_text(std::error_code ec, std::size_t n) const {
        if (ec == errc::message_too_large)
            return "Reply::send of " + std::to_string(n) + " bytes; max_response_size is " +
                   std::to_string(slots_ != nullptr ? slots_->map.max_response_size : 0);
        if (ec == errc::daemon_gone)
            return "Reply::send: its DaemonChannel was destroyed; nothing was sent";
        if (ec == std::errc::connection_aborted)
            return "Reply::send: the shell that sent the request has gone (disconnected, or "
                   "its client slot has a new shell); the answer was dropped";
        return "Reply::send: this Reply is not active (answered already, or moved from)";
    }

    std::shared_ptr<detail::reply_slots> slots_;
    std::uint64_t request_ = 0;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    bool* handed_back_ = nullptr; ///< handle()'s flag (the Reply it passed only)
    int uncaught_ = 0;            ///< std::uncaught_exceptions() when handle() made it
    std::uint32_t client_ = 0;
};

} // namespace venom
