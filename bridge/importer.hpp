// SPDX-License-Identifier: BSL-1.0
/// \file bridge/importer.hpp
/// The import side: the bridge as the daemon of a local mirror of a remote export (design
/// 1.3, 1.5, 3).
///
/// Owners and threads, per import:
/// - The main thread owns the Importer: announcements, chunks and the periodic tick arrive
///   there (one DDS waitset). Answers arrive on Cyclone's receive thread (a listener; the main
///   loop also takes any it left): on_answer holds mirror_m_, which the main thread holds
///   while it installs or removes a mirror (mirror_, mirror_tag_), so an answer never meets a
///   mirror half made or destroyed. It creates the mirror (a DaemonChannel with the
///   origin's config) when the export is announced alive, assembles chunks straight into a
///   StateLoan of the mirror and publishes each whole version with the origin's number.
/// - I.daemon (one thread per mirror) runs mirror.run(handler) and forwards each command to the
///   exporter as a Request.
/// - The exporter gone - its announcement disposed (clean stop), its liveliness lost (killed,
///   link cut: within --lease), or alive=false (its origin daemon gone) - destroys the mirror:
///   local shells get daemon_gone at their next probe (ShellOptions::daemon_check), read_data
///   keeps the last state. The announcement back (or another origin) makes a new mirror
///   incarnation (a new DaemonChannel::create), and asks the exporter for its newest version.
/// - Chunks of another origin, or of older versions, are stale (dropped); malformed ones are
///   dropped and counted.
#pragma once

#include "chunks.hpp"
#include "context.hpp"

#include <venom/venom.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// The request path needs the core's deferred answers (venom::Reply, design 2b). A core without
// them builds a bridge that carries states only: its mirrors answer every request
// handler_failed, saying so.
#if __has_include(<venom/reply.hpp>)
#include <venom/reply.hpp>
#define VENOM_BRIDGE_REQUESTS 1
#else
#define VENOM_BRIDGE_REQUESTS 0
#endif

namespace venom_bridge {

namespace detail_import {

/// loan_as(version, n, ec) when the core has it (a mirror's version follows the origin's),
/// else loan(n, ec) (the mirror then numbers versions itself).
template <class D>
auto loan_version(D& d, std::uint64_t v, std::size_t n, std::error_code& ec, int)
    -> decltype(d.loan_as(v, n, ec)) {
    return d.loan_as(v, n, ec);
}
template <class D>
venom::StateLoan loan_version(D& d, std::uint64_t, std::size_t n, std::error_code& ec, long) {
    return d.loan(n, ec);
}

} // namespace detail_import

class Importer {
public:
    Importer(Context& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;
    ~Importer() { destroy_mirror(); }

    const std::string& name() const noexcept { return name_; }
    bool mirror_up() const noexcept { return mirror_.has_value(); }

    /// An announcement sample of this channel (valid data).
    void on_announce(const venom_bridge_Announce& a) {
        if (!a.alive) {
            // origin 0: the exporter bridge stopped (SIGINT/SIGTERM); else its origin daemon went.
            if (mirror_) gone(a.origin == 0 ? "bridge" : "origin_daemon");
            origin_ = 0;
            return;
        }
        venom::ChannelConfig c{static_cast<std::size_t>(a.data_size), a.cmd_slots, a.max_clients};
        c.max_cmd_size = a.max_cmd_size;
        c.max_response_size = a.max_response_size;
        c.state_buffers = a.state_buffers;
        c.access = static_cast<venom::Access>(a.access);
        c.claim_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::nanoseconds(a.claim_timeout_ns));
        c.spin_time = std::chrono::microseconds(mirror_spin_us);
        c.wait = venom::WaitPolicy::spin_then_block;
        try {
            c.validate();
        } catch (const venom::error&) {
            ctx_.drops.count(name_, "malformed");
            return;
        }
        if (a.chunk_size < option_limits::min_chunk || a.chunk_size > option_limits::max_chunk) {
            ctx_.drops.count(name_, "malformed");
            return;
        }
        const bool same = mirror_ && a.origin == origin_ && same_config(c, config_) &&
                          a.chunk_size == chunk_size_ && a.read_only == read_only_;
        if (same) return;
        if (mirror_) gone("origin_changed");
        origin_ = a.origin;
        config_ = c;
        chunk_size_ = a.chunk_size;
        read_only_ = a.read_only;
        announced_version_ = a.version;
        make_mirror();
    }

    /// The channel's announcement instance is no longer alive: its writer's liveliness or its
    /// participant's lease was lost (the exporter bridge was killed, or the link is cut).
    void on_exporter_gone() {
        origin_ = 0;
        if (mirror_) gone("lease");
    }

    /// A state chunk of this channel.
    void on_chunk(const venom_bridge_StateChunk& s) {
        if (!mirror_ || !assembler_) return; // no mirror: the exporter re-sends once there is
        Chunk c;
        c.origin = s.origin;
        c.version = s.version;
        c.total = s.total_length;
        c.offset = s.offset;
        c.index = s.index;
        c.count = s.count;
        c.crc = s.crc32c;
        c.bytes = s.bytes._buffer;
        c.length = s.bytes._length;
        Sink sink{*this};
        switch (assembler_->add(c, sink)) {
        case ChunkResult::completed:
            ++ctx_.stats.versions_received;
            ctx_.stats.bytes_received += c.total;
            got_state_ = true;
            if (!announced_up_) log_mirror_up();
            release_parked();
            break;
        case ChunkResult::malformed: ctx_.drops.count(name_, "malformed"); break;
        case ChunkResult::no_buffer: ctx_.drops.count(name_, "state_busy"); break;
        case ChunkResult::accepted:
        case ChunkResult::duplicate:
        case ChunkResult::stale: break;
        }
    }

    /// An answer sample of this channel: delivered to the Reply of its slot if it belongs to
    /// this mirror incarnation, that slot and its open request; parked until the mirror shows
    /// the answer's state version (read-your-writes); else dropped (stale_answer, malformed).
    /// From Cyclone's receive thread (or the main loop's backstop take), never concurrently
    /// with itself (the bridge's answers_m_). Does not block: a few locks and Reply::send.
    void on_answer(const venom_bridge_Answer& a) {
        std::lock_guard<std::mutex> life(mirror_m_);
        if (!mirror_ || a.mirror != mirror_tag_) {
            // Another incarnation of ours (a mirror since destroyed): never delivered.
            if (tag_is_ours(ctx_.tag_base, a.mirror)) ctx_.drops.count(name_, "stale_answer");
            return; // else: another importer's
        }
        const std::uint32_t cap = a.status == 0 ? config_.max_response_size : max_error_text;
        if (a.slot >= config_.max_clients || a.bytes._length > cap ||
            (a.bytes._length != 0 && a.bytes._buffer == nullptr) || a.request_id == 0 ||
            a.status > max_errc) {
            ctx_.drops.count(name_, "malformed");
            return;
        }
#if VENOM_BRIDGE_REQUESTS
        venom::Reply reply;
        {
            std::lock_guard<std::mutex> g(pending_m_);
            Pending& p = pending_[a.slot];
            if (p.request_id != a.request_id || p.parked) {
                ctx_.drops.count(name_, "stale_answer");
                return;
            }
            if (a.status == 0 && mirror_->version() < a.state_version) {
                p.parked = true; // the state the answer was read with is still on its way
                p.state_version = a.state_version;
                p.answer.assign(a.bytes._buffer, a.bytes._buffer + a.bytes._length);
                ++parked_;
                return;
            }
            reply = std::move(p.reply);
            p = Pending{};
            --open_;
        }
        if (a.status == 0) {
            std::error_code ec;
            reply.send(venom::ByteView(a.bytes._buffer, a.bytes._length), ec);
        } else {
            reply.fail(
                static_cast<venom::errc>(a.status),
                std::string(reinterpret_cast<const char*>(a.bytes._buffer), a.bytes._length));
        }
        ++ctx_.stats.answers_delivered;
#endif
    }

    /// Every main-loop wake (<= 100 ms; 10 ms while requests are open): a mirror that has no
    /// state yet asks again; Replies whose deadline passed are answered timeout.
    void tick(std::chrono::steady_clock::time_point now) {
        if (!mirror_ && retry_create_ && now >= next_create_) make_mirror();
        if (mirror_ && !got_state_ && now >= next_resync_) request_resync(now);
#if VENOM_BRIDGE_REQUESTS
        if (!mirror_ || open_ == 0) return;
        std::vector<venom::Reply> late;
        {
            std::lock_guard<std::mutex> g(pending_m_);
            for (Pending& p : pending_)
                if (p.request_id != 0 && now >= p.deadline) {
                    late.push_back(std::move(p.reply));
                    if (p.parked) --parked_;
                    p = Pending{};
                    --open_;
                }
        }
        for (auto& r : late) {
            ctx_.drops.count(name_, "expired");
            r.fail(venom::errc::timeout, "no answer from the origin of \"" + name_ +
                                             "\" within the request's time limit (venom_bridge)");
        }
#endif
    }

    /// Whether Replies are open (the main loop then wakes every 10 ms for their deadlines).
    bool requests_open() const noexcept { return open_ != 0; }

private:
    /// The mirror daemon's spin before it blocks: short, so two shared cores stay idle at 0%.
    static constexpr std::uint32_t mirror_spin_us = 20;
    static constexpr std::chrono::milliseconds resync_every{1000};
    static constexpr std::chrono::milliseconds create_retry_every{1000};

    /// The longest error text an answer may carry.
    static constexpr std::uint32_t max_error_text = 64 * 1024;
    /// The highest venom::errc value (errc::wrong_size): an answer's status above it is malformed.
    static constexpr std::uint32_t max_errc = static_cast<std::uint32_t>(venom::errc::wrong_size);

    static bool same_config(const venom::ChannelConfig& a, const venom::ChannelConfig& b) {
        return a.data_size == b.data_size && a.cmd_slots == b.cmd_slots &&
               a.max_clients == b.max_clients && a.max_cmd_size == b.max_cmd_size &&
               a.max_response_size == b.max_response_size && a.state_buffers == b.state_buffers &&
               a.access == b.access;
    }

    /// The Assembler's view of the mirror: one StateLoan at a time.
    struct Sink {
        Importer& im;
        std::uint64_t version() const { return im.mirror_->version(); }
        unsigned char* begin(std::uint64_t v, std::uint64_t total) {
            std::error_code ec;
            im.loan_ =
                detail_import::loan_version(*im.mirror_, v, static_cast<std::size_t>(total), ec, 0);
            if (ec) return nullptr;
            return im.loan_.data();
        }
        void abandon() { im.loan_.drop(); }
        bool publish(std::uint64_t total) {
            std::error_code ec;
            im.loan_.publish(static_cast<std::size_t>(total), ec);
            return !ec;
        }
    };

    void make_mirror() {
        retry_create_ = false;
        std::optional<venom::DaemonChannel> made;
        try {
            made.emplace(venom::DaemonChannel::create(name_, config_));
        } catch (const venom::error& e) {
            ctx_.log.error("import " + name_, std::string("cannot create the mirror: ") + e.what() +
                                                  " (retrying every second)");
            retry_create_ = true;
            next_create_ = std::chrono::steady_clock::now() + create_retry_every;
            return;
        }
        ++incarnation_;
        {
            // Installed whole for on_answer (receive thread); config_ was written while there
            // was no mirror, so on_answer never read it meanwhile.
            std::lock_guard<std::mutex> life(mirror_m_);
            mirror_ = std::move(made);
            mirror_tag_ = make_tag(ctx_.tag_base, incarnation_);
#if VENOM_BRIDGE_REQUESTS
            std::lock_guard<std::mutex> g(pending_m_);
            pending_.clear();
            pending_.resize(config_.max_clients);
            open_ = 0;
            parked_ = 0;
#endif
        }
        assembler_.emplace(chunk_size_, config_.data_size);
        Sink sink{*this};
        assembler_->set_origin(origin_, sink);
        got_state_ = false;
        announced_up_ = false;
        venom::DaemonChannel* d = &*mirror_;
        daemon_thread_ = std::thread([this, d] { daemon_loop(*d); });
        ctx_.log.event("imported", {Field::str("channel", name_), Field::num("origin", origin_),
                                    Field::num("incarnation", incarnation_)});
        request_resync(std::chrono::steady_clock::now());
        // An origin with no state yet: the mirror serves as it is (version 0).
        if (announced_version_ == 0) log_mirror_up();
    }

    void log_mirror_up() {
        announced_up_ = true;
        std::uint64_t since = 0;
        if (gone_at_ != std::chrono::steady_clock::time_point{})
            since =
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - gone_at_)
                                               .count());
        ctx_.log.event(
            "mirror_up",
            {Field::str("channel", name_), Field::num("incarnation", incarnation_),
             Field::num("version", mirror_->version()), Field::num("ms_since_gone", since)});
    }

    void request_resync(std::chrono::steady_clock::time_point now) {
        next_resync_ = now + resync_every;
        venom_bridge_Request r{};
        set_name(r.channel, name_);
        r.mirror = mirror_tag_;
        r.origin = origin_;
        r.slot = resync_slot;
        (void)dds_write(ctx_.request_writer.get(), &r);
    }

    void gone(const char* reason) {
        destroy_mirror();
        gone_at_ = std::chrono::steady_clock::now();
        ctx_.log.event("daemon_gone",
                       {Field::str("channel", name_), Field::str("side", "mirror"),
                        Field::str("reason", reason), Field::num("incarnation", incarnation_)});
    }

    /// Stops I.daemon, drops the loan, closes the mirror (shells: daemon_gone).
    void destroy_mirror() {
        if (!mirror_) return;
        mirror_->stop();
        if (daemon_thread_.joinable()) daemon_thread_.join();
        if (assembler_) {
            Sink sink{*this};
            assembler_->drop(sink);
        }
        loan_.drop(); // before the mirror: a loan's bytes are the mirror's mapping
        assembler_.reset();
        std::lock_guard<std::mutex> life(mirror_m_); // on_answer sees no mirror, or all of it
        mirror_.reset();
#if VENOM_BRIDGE_REQUESTS
        // After the mirror: Replies of a destroyed daemon send nothing (their shells see
        // daemon_gone already).
        std::lock_guard<std::mutex> g(pending_m_);
        pending_.clear();
        open_ = 0;
        parked_ = 0;
#endif
    }

#if VENOM_BRIDGE_REQUESTS
    /// One open request per client slot of the mirror (a shell has one in flight). Guarded by
    /// pending_m_: I.daemon files Replies, the main thread answers them.
    struct Pending {
        std::uint64_t request_id = 0; ///< 0: none open
        venom::Reply reply;
        std::chrono::steady_clock::time_point deadline =
            std::chrono::steady_clock::time_point::max();
        bool parked = false; ///< the answer is in, waiting for its state version
        std::uint64_t state_version = 0;
        std::vector<std::uint8_t> answer;
    };

    /// Parked answers whose state version the mirror now shows are sent (main thread).
    void release_parked() {
        std::vector<std::pair<venom::Reply, std::vector<std::uint8_t>>> ready;
        {
            // The version is read under the lock: on_answer (receive thread) parks an answer
            // under it only after seeing the mirror's version below the answer's, so an answer
            // parked before this look is released by it, and one checked after sees v.
            std::lock_guard<std::mutex> g(pending_m_);
            if (parked_ == 0) return;
            const std::uint64_t v = mirror_->version();
            for (Pending& p : pending_)
                if (p.parked && p.state_version <= v) {
                    ready.emplace_back(std::move(p.reply), std::move(p.answer));
                    p = Pending{};
                    --parked_;
                    --open_;
                }
        }
        for (auto& r : ready) {
            std::error_code ec;
            r.first.send(venom::ByteView(r.second.data(), r.second.size()), ec);
            ++ctx_.stats.answers_delivered;
        }
    }

    /// I.daemon's handler: files the Reply, then writes the Request (never blocks: the request
    /// writer's max_blocking_time is 0, so a full history fails the Reply "link congested").
    void forward(std::uint32_t client, venom::ByteView cmd, venom::Reply reply) {
        if (read_only_) {
            reply.fail(venom::errc::permission_denied,
                       "\"" + name_ + "\" is exported read-only: remote requests are refused");
            return;
        }
        if (client >= config_.max_clients) {
            reply.fail(venom::errc::corrupt_channel, "client slot out of range");
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        const auto deadline = reply.deadline();
        std::uint64_t budget = 0; // no limit
        if (deadline != std::chrono::steady_clock::time_point::max()) {
            if (deadline <= now) {
                ctx_.drops.count(name_, "expired");
                reply.fail(venom::errc::timeout, "expired before venom_bridge could forward it");
                return;
            }
            budget = static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
        }
        const std::uint64_t id = ++next_request_;
        {
            std::lock_guard<std::mutex> g(pending_m_);
            Pending& p = pending_[client];
            // An open Reply of this slot belongs to a previous connection (a live shell has one
            // request in flight): replaced; the core drops its answer as stale.
            if (p.request_id != 0) {
                if (p.parked) --parked_;
                --open_;
            }
            p = Pending{};
            p.request_id = id;
            p.reply = std::move(reply);
            p.deadline = deadline;
            ++open_;
        }
        venom_bridge_Request r{};
        set_name(r.channel, name_);
        r.mirror = mirror_tag_;
        r.origin = origin_;
        r.slot = client;
        r.request_id = id;
        r.budget_ns = budget;
        r.bytes._buffer = const_cast<std::uint8_t*>(cmd.data()); // dds_write copies
        r.bytes._length = static_cast<std::uint32_t>(cmd.size());
        r.bytes._maximum = r.bytes._length;
        r.bytes._release = false;
        if (dds_write(ctx_.request_writer.get(), &r) >= 0) {
            ++ctx_.stats.requests_forwarded;
            return;
        }
        venom::Reply back;
        {
            std::lock_guard<std::mutex> g(pending_m_);
            Pending& p = pending_[client];
            if (p.request_id != id) return; // answered meanwhile (cannot be: not sent)
            back = std::move(p.reply);
            p = Pending{};
            --open_;
        }
        back.fail(venom::errc::timeout,
                  "link congested: venom_bridge could not send the request "
                  "to the exporter of \"" +
                      name_ + "\" (its history is full)");
    }

    void daemon_loop(venom::DaemonChannel& d) {
        try {
            d.run([this](std::uint32_t client, venom::ByteView cmd, venom::Reply reply) {
                forward(client, cmd, std::move(reply));
            });
        } catch (const std::exception& e) {
            ctx_.log.error("mirror " + name_, e.what());
        }
    }
#else
    void release_parked() {}

    void daemon_loop(venom::DaemonChannel& d) {
        try {
            d.run([this](std::uint32_t, venom::ByteView) -> std::string {
                throw venom::error(venom::errc::handler_failed,
                                   "this venom_bridge build carries states only: remote requests "
                                   "of \"" +
                                       name_ + "\" are not forwarded yet");
            });
        } catch (const std::exception& e) {
            ctx_.log.error("mirror " + name_, e.what());
        }
    }
#endif

    Context& ctx_;
    std::string name_;
    // from the announcement
    std::uint64_t origin_ = 0;
    venom::ChannelConfig config_{1, 1, 1};
    std::uint32_t chunk_size_ = option_limits::default_chunk;
    bool read_only_ = false;
    std::uint64_t announced_version_ = 0; ///< the origin's version when it was announced
    // the mirror
    std::mutex mirror_m_; ///< held by on_answer, and by the main thread installing/removing
    std::optional<venom::DaemonChannel> mirror_; ///< written under mirror_m_ (main thread)
    std::thread daemon_thread_;
    std::uint32_t incarnation_ = 0;
    std::uint64_t mirror_tag_ = 0;
    std::optional<Assembler> assembler_;
    venom::StateLoan loan_;
    bool got_state_ = false;
    bool announced_up_ = false;
    bool retry_create_ = false;
    std::chrono::steady_clock::time_point next_create_{};
    std::chrono::steady_clock::time_point next_resync_{};
    std::chrono::steady_clock::time_point gone_at_{};
    // the request path
    std::atomic<std::uint64_t> next_request_{0}; ///< I.daemon's (ids only grow, per process)
    std::atomic<std::uint32_t> open_{0};         ///< open Replies (guarded writes: pending_m_)
    std::uint32_t parked_ = 0;                   ///< parked answers (guarded by pending_m_)
#if VENOM_BRIDGE_REQUESTS
    std::mutex pending_m_;
    std::vector<Pending> pending_; ///< max_clients entries, sized before I.daemon starts
#endif
};

} // namespace venom_bridge
