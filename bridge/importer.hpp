// SPDX-License-Identifier: BSL-1.0
/// \file bridge/importer.hpp
/// The import side: the bridge as the daemon of a local mirror of a remote export (design
/// 1.3, 1.5, 3).
///
/// Owners and threads, per import:
/// - The main thread owns the Importer: announcements, chunks, answers and the periodic tick
///   all arrive there (one DDS waitset). It creates the mirror (a DaemonChannel with the
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

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

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
            if (mirror_) gone("origin_daemon");
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
        make_mirror();
    }

    /// The channel's announcement instance is no longer alive: disposed (the exporter bridge
    /// stopped) or without writers (its liveliness lost: killed, or the link is cut).
    void on_exporter_gone(bool disposed) {
        origin_ = 0;
        if (mirror_) gone(disposed ? "bridge" : "lease");
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
            break;
        case ChunkResult::malformed: ctx_.drops.count(name_, "malformed"); break;
        case ChunkResult::no_buffer: ctx_.drops.count(name_, "state_busy"); break;
        case ChunkResult::accepted:
        case ChunkResult::duplicate:
        case ChunkResult::stale: break;
        }
    }

    /// Every ~100 ms from the main loop: a mirror that has no state yet asks again.
    void tick(std::chrono::steady_clock::time_point now) {
        if (!mirror_ && retry_create_ && now >= next_create_) make_mirror();
        if (mirror_ && !got_state_ && now >= next_resync_) request_resync(now);
    }

private:
    /// The mirror daemon's spin before it blocks: short, so two shared cores stay idle at 0%.
    static constexpr std::uint32_t mirror_spin_us = 20;
    static constexpr std::chrono::milliseconds resync_every{1000};
    static constexpr std::chrono::milliseconds create_retry_every{1000};

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
            im.loan_ = detail_import::loan_version(*im.mirror_, v, static_cast<std::size_t>(total),
                                                   ec, 0);
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
        try {
            mirror_.emplace(venom::DaemonChannel::create(name_, config_));
        } catch (const venom::error& e) {
            ctx_.log.error("import " + name_, std::string("cannot create the mirror: ") + e.what() +
                                                  " (retrying every second)");
            retry_create_ = true;
            next_create_ = std::chrono::steady_clock::now() + create_retry_every;
            return;
        }
        ++incarnation_;
        mirror_tag_ = make_tag(ctx_.tag_base, incarnation_);
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
    }

    void log_mirror_up() {
        announced_up_ = true;
        std::uint64_t since = 0;
        if (gone_at_ != std::chrono::steady_clock::time_point{})
            since = static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - gone_at_)
                    .count());
        ctx_.log.event("mirror_up", {Field::str("channel", name_),
                                     Field::num("incarnation", incarnation_),
                                     Field::num("version", mirror_->version()),
                                     Field::num("ms_since_gone", since)});
    }

    void request_resync(std::chrono::steady_clock::time_point now) {
        next_resync_ = now + resync_every;
        venom_bridge_Request r{};
        set_name(r.channel, name_);
        r.mirror = mirror_tag_;
        r.slot = resync_slot;
        (void)dds_write(ctx_.request_writer.get(), &r);
    }

    void gone(const char* reason) {
        destroy_mirror();
        gone_at_ = std::chrono::steady_clock::now();
        ctx_.log.event("daemon_gone", {Field::str("channel", name_), Field::str("side", "mirror"),
                                       Field::str("reason", reason),
                                       Field::num("incarnation", incarnation_)});
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
        mirror_.reset();
        assembler_.reset();
    }

    void daemon_loop(venom::DaemonChannel& d) {
        try {
            d.run([this](std::uint32_t, venom::ByteView) -> std::string {
                throw venom::error(venom::errc::handler_failed,
                                   "this venom_bridge build carries states only: remote requests "
                                   "of \"" + name_ + "\" are not forwarded yet");
            });
        } catch (const std::exception& e) {
            ctx_.log.error("mirror " + name_, e.what());
        }
    }

    Context& ctx_;
    std::string name_;
    // from the announcement
    std::uint64_t origin_ = 0;
    venom::ChannelConfig config_{1, 1, 1};
    std::uint32_t chunk_size_ = option_limits::default_chunk;
    bool read_only_ = false;
    // the mirror
    std::optional<venom::DaemonChannel> mirror_;
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
};

} // namespace venom_bridge
