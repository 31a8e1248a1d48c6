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
///   origin's sizes, checked against the core's limits and --max-mirror, and the access of
///   --import NAME[:group|:everyone], never the announcement's) when the export is announced
///   alive, assembles chunks straight into a StateLoan of the mirror and publishes each whole
///   version with the origin's number.
/// - Trust (what the network decides): the first DDS writer heard announcing the name owns it
///   while its instance lives (others: foreign_writer); chunks only from that writer's
///   participant. A well-formed announcement of that writer still sets the mirror's sizes (up
///   to --max-mirror) and its chunks the state: peers in the DDS domain are trusted that far.
/// - Liveness of the state: an assembly without progress for a lease is abandoned; a version
///   lost (no free buffer, stalled) or an answer parked a lease for its state version makes the
///   mirror ask for a resend (backoff 1 s .. 8 s). Every remote request has a time limit
///   (the shell's, else --request-timeout): no Reply stays open forever.
/// - I.daemon (one thread per mirror) runs mirror.run(handler) and forwards each command to the
///   exporter as a Request.
/// - The exporter gone - its announcement disposed (clean stop), its liveliness lost (killed,
///   link cut: within --lease), or alive=false (its origin daemon gone) - destroys the mirror:
///   local shells get daemon_gone at their next probe (ShellOptions::daemon_check), read_data
///   keeps the last state. The announcement back (or another origin) makes a new mirror
///   incarnation (a new DaemonChannel::create), and asks the exporter for its newest version.
/// - Chunks of another origin, or of older versions, are stale (dropped); malformed ones are
///   dropped and counted.
/// - Known limit: a second writer of the name that stays alive keeps the DDS instance alive
///   after the owner was killed, so the owner's loss is not seen as "exporter gone" until
///   that writer goes too (the mirror then serves its last state meanwhile).
#pragma once

#include "chunks.hpp"
#include "context.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <venom/detail/channel_map.hpp>
#include <venom/reply.hpp>

namespace venom_bridge {

class Importer {
public:
    Importer(Context& ctx, const ImportSpec& spec)
        : ctx_(ctx), name_(spec.name), access_(spec.access) {}
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;
    ~Importer() { destroy_mirror(); }

    const std::string& name() const noexcept { return name_; }
    /// An announcement sample of this channel (valid data), written by DDS writer `writer`
    /// (its publication handle). The first writer heard owns the instance until it is gone
    /// (on_exporter_gone, or its alive=false): another writer's samples are dropped
    /// (foreign_writer), so a second exporter of the name cannot make the mirror flap.
    /// `reader`: the announcement reader (to learn the writer's participant: chunks are taken
    /// only from that participant).
    void on_announce(const venom_bridge_Announce& a, dds_instance_handle_t writer,
                     dds_entity_t reader) {
        if (writer_ != 0 && writer != writer_) {
            ctx_.drops.count(name_, "foreign_writer");
            return;
        }
        if (!a.alive) {
            writer_ = 0;
            retry_create_ = false; // no origin: no mirror to make
            // origin 0: the exporter bridge stopped (SIGINT/SIGTERM); else its origin daemon went.
            if (mirror_) gone(a.origin == 0 ? "bridge" : "origin_daemon");
            origin_ = 0;
            return;
        }
        venom::ChannelConfig c{static_cast<std::size_t>(a.data_size), a.cmd_slots, a.max_clients};
        c.max_cmd_size = a.max_cmd_size;
        c.max_response_size = a.max_response_size;
        c.state_buffers = a.state_buffers;
        c.access = access_; // local (--import NAME[:group|:everyone]), never the sample's
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
        // The local cap (--max-mirror): the segment is allocated (tmpfs: RAM) on this host.
        if (venom::detail::Sizes::of(c).segment > ctx_.options.max_mirror) {
            ctx_.drops.count(name_, "too_large");
            return;
        }
        writer_ = writer;
        const bool same = mirror_ && a.origin == origin_ && same_config(c, config_) &&
                          a.chunk_size == chunk_size_ && a.read_only == read_only_;
        if (same) return;
        if (!participant_of(reader, writer, owner_participant_)) {
            writer_ = 0; // the writer is no longer matched: its samples are on their way out
            return;
        }
        chunk_writer_ = 0;
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
        writer_ = 0;
        retry_create_ = false; // no origin: no mirror to make
        if (mirror_) gone("lease");
    }

    /// A state chunk of this channel, written by `writer` (a publication handle of `reader`,
    /// the state reader): taken only from the participant whose writer owns the announcement
    /// (else foreign_writer), so a forged high version cannot hold the assembler.
    void on_chunk(const venom_bridge_StateChunk& s, dds_instance_handle_t writer,
                  dds_entity_t reader) {
        if (!mirror_ || !assembler_) return; // no mirror: the exporter re-sends once there is
        if (writer != chunk_writer_) {
            dds_guid_t p{};
            if (!participant_of(reader, writer, p) ||
                std::memcmp(p.v, owner_participant_.v, sizeof p.v) != 0) {
                ctx_.drops.count(name_, "foreign_writer");
                return;
            }
            chunk_writer_ = writer;
        }
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
        switch (assembler_->add(c, sink, std::chrono::steady_clock::now())) {
        case ChunkResult::completed:
            ++ctx_.stats.versions_received;
            ctx_.stats.bytes_received += c.total;
            got_state_ = true;
            resync_backoff_ = resync_every;
            if (!announced_up_) log_mirror_up();
            release_parked();
            break;
        case ChunkResult::malformed: ctx_.drops.count(name_, "malformed"); break;
        case ChunkResult::no_buffer:
            // Local views pin every buffer: this version cannot start (or publish). The chunks
            // that went by meanwhile are lost to it: ask for a resend (tick, with backoff).
            ctx_.drops.count(name_, "state_busy");
            if (c.version != refused_version_) {
                refused_version_ = c.version;
                ctx_.drops.count(name_, "version_refused");
            }
            want_resync_ = true;
            break;
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
        venom::Reply reply;
        {
            std::lock_guard<std::mutex> g(pending_m_);
            Pending& p = pending_[a.slot];
            if (p.request_id != a.request_id || p.parked) {
                ctx_.drops.count(name_, "stale_answer");
                return;
            }
            // Any answer, error ones too (a command may change the state and then fail), waits
            // for the state version it was made with (read-your-writes).
            if (mirror_->version() < a.state_version) {
                p.parked = true; // the state the answer was read with is still on its way
                p.state_version = a.state_version;
                p.parked_at = std::chrono::steady_clock::now();
                p.status = a.status;
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
    }

    /// Every main-loop wake (<= 100 ms; 10 ms while requests are open): an assembly without
    /// progress for a lease is abandoned; a mirror that has no state yet, lost a version
    /// (no buffer, stalled) or holds answers parked for a lease waiting for a newer version
    /// asks for a resend (backoff 1 s doubling to 8 s, reset by a completed version);
    /// Replies whose deadline passed are answered timeout.
    void tick(std::chrono::steady_clock::time_point now) {
        if (!mirror_ && retry_create_ && now >= next_create_) make_mirror();
        if (!mirror_) return;
        Sink sink{*this};
        if (assembler_ && assembler_->abandon_stalled(now, ctx_.lease(), sink)) {
            ctx_.drops.count(name_, "stalled");
            want_resync_ = true;
        }
        if ((!got_state_ || want_resync_ || parked_too_long(now)) && now >= next_resync_)
            request_resync(now);
        if (open_ == 0) return;
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
            r.fail(venom::errc::timeout,
                   "no answer from the origin of \"" + name_ +
                       "\" within the request's time limit (venom_bridge; a request without "
                       "one is limited by --request-timeout)");
        }
    }

    /// Whether Replies are open (the main loop then wakes every 10 ms for their deadlines).
    bool requests_open() const noexcept { return open_ != 0; }

private:
    /// The mirror daemon's spin before it blocks: short, so two shared cores stay idle at 0%.
    static constexpr std::uint32_t mirror_spin_us = 20;
    static constexpr std::chrono::milliseconds resync_every{1000};
    static constexpr std::chrono::milliseconds resync_backoff_max{8000};
    static constexpr std::chrono::milliseconds create_retry_every{1000};
    static constexpr std::uint32_t create_log_every = 60; ///< failures per error line

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
            im.loan_ = im.mirror_->loan_as(v, static_cast<std::size_t>(total), ec);
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
            // Logged on the first failure, then once a minute (retries every second).
            if (create_failures_++ % create_log_every == 0)
                ctx_.log.error("import " + name_, std::string("cannot create the mirror: ") +
                                                      e.what() +
                                                      " (retrying every second; failed " +
                                                      std::to_string(create_failures_) + " times)");
            retry_create_ = true;
            next_create_ = std::chrono::steady_clock::now() + create_retry_every;
            return;
        }
        create_failures_ = 0;
        ++incarnation_;
        {
            // Installed whole for on_answer (receive thread); config_ was written while there
            // was no mirror, so on_answer never read it meanwhile.
            std::lock_guard<std::mutex> life(mirror_m_);
            mirror_ = std::move(made);
            mirror_tag_ = make_tag(ctx_.tag_base, incarnation_);
            std::lock_guard<std::mutex> g(pending_m_);
            pending_.clear();
            pending_.resize(config_.max_clients);
            open_ = 0;
            parked_ = 0;
        }
        assembler_.emplace(chunk_size_, config_.data_size);
        want_resync_ = false;
        refused_version_ = 0;
        resync_backoff_ = resync_every;
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

    /// The writer's participant, from the reader's matched publications; false: not matched.
    static bool participant_of(dds_entity_t reader, dds_instance_handle_t writer, dds_guid_t& out) {
        dds_builtintopic_endpoint_t* e = dds_get_matched_publication_data(reader, writer);
        if (e == nullptr) return false;
        out = e->participant_key;
        dds_builtintopic_free_endpoint(e); // frees e too
        return true;
    }

    /// Whether an answer has been parked a lease or longer (its version is not coming).
    bool parked_too_long(std::chrono::steady_clock::time_point now) {
        // Relaxed: a hint only; the scan below is under pending_m_.
        if (parked_.load(std::memory_order_relaxed) == 0) return false;
        std::lock_guard<std::mutex> g(pending_m_);
        for (const Pending& p : pending_)
            if (p.parked && now - p.parked_at >= ctx_.lease()) return true;
        return false;
    }

    /// Asks the exporter to send its newest version again; the next one no sooner than the
    /// backoff, which doubles (a resend that does not help is not repeated every second).
    void request_resync(std::chrono::steady_clock::time_point now) {
        want_resync_ = false;
        next_resync_ = now + resync_backoff_;
        resync_backoff_ =
            std::min<std::chrono::steady_clock::duration>(resync_backoff_ * 2, resync_backoff_max);
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
        // After the mirror: Replies of a destroyed daemon send nothing (their shells see
        // daemon_gone already).
        std::lock_guard<std::mutex> g(pending_m_);
        pending_.clear();
        open_ = 0;
        parked_ = 0;
    }

    /// One open request per client slot of the mirror (a shell has one in flight). Guarded by
    /// pending_m_: I.daemon files Replies, the main thread answers them.
    struct Pending {
        std::uint64_t request_id = 0; ///< 0: none open
        venom::Reply reply;
        std::chrono::steady_clock::time_point deadline{}; ///< always finite (--request-timeout)
        bool parked = false; ///< the answer is in, waiting for its state version
        std::chrono::steady_clock::time_point parked_at{};
        std::uint32_t status = 0; ///< the parked answer's (0: ok, else a venom::errc value)
        std::uint64_t state_version = 0;
        std::vector<std::uint8_t> answer;
    };

    /// Parked answers whose state version the mirror now shows are sent (main thread).
    void release_parked() {
        struct Ready {
            venom::Reply reply;
            std::uint32_t status;
            std::vector<std::uint8_t> answer;
        };
        std::vector<Ready> ready;
        {
            // The version is read under the lock: on_answer (receive thread) parks an answer
            // under it only after seeing the mirror's version below the answer's, so an answer
            // parked before this look is released by it, and one checked after sees v.
            std::lock_guard<std::mutex> g(pending_m_);
            if (parked_ == 0) return;
            const std::uint64_t v = mirror_->version();
            for (Pending& p : pending_)
                if (p.parked && p.state_version <= v) {
                    ready.push_back(Ready{std::move(p.reply), p.status, std::move(p.answer)});
                    p = Pending{};
                    --parked_;
                    --open_;
                }
        }
        for (auto& r : ready) {
            if (r.status == 0) {
                std::error_code ec;
                r.reply.send(venom::ByteView(r.answer.data(), r.answer.size()), ec);
            } else {
                r.reply.fail(static_cast<venom::errc>(r.status),
                             std::string(r.answer.begin(), r.answer.end()));
            }
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
        auto deadline = reply.deadline();
        // A request without a time limit gets --request-timeout: an answer lost on the way
        // (dropped, never sent, parked for a version that never comes) must not hold the
        // shell's slot forever. Sent at most once all the same: a late answer is stale.
        if (deadline == std::chrono::steady_clock::time_point::max())
            deadline = now + std::chrono::milliseconds(ctx_.options.request_timeout_ms);
        if (deadline <= now) {
            ctx_.drops.count(name_, "expired");
            reply.fail(venom::errc::timeout, "expired before venom_bridge could forward it");
            return;
        }
        const auto budget = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
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

    Context& ctx_;
    std::string name_;
    venom::Access access_; ///< the mirror's file access (local option)
    // from the announcement
    dds_instance_handle_t writer_ = 0; ///< the announcing writer that owns the instance; 0: none
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
    std::uint32_t create_failures_ = 0; ///< in a row (L7: the error is rate-limited)
    std::chrono::steady_clock::time_point next_create_{};
    std::chrono::steady_clock::time_point next_resync_{};
    std::chrono::steady_clock::duration resync_backoff_ = resync_every;
    bool want_resync_ = false;               ///< a version was lost: ask for a resend (tick)
    std::uint64_t refused_version_ = 0;      ///< the last version counted version_refused
    dds_guid_t owner_participant_{};         ///< the participant of writer_ (chunks: only its)
    dds_instance_handle_t chunk_writer_ = 0; ///< a state writer of that participant (cache)
    std::chrono::steady_clock::time_point gone_at_{};
    // the request path
    std::atomic<std::uint64_t> next_request_{0}; ///< I.daemon's (ids only grow, per process)
    std::atomic<std::uint32_t> open_{0};         ///< open Replies (guarded writes: pending_m_)
    /// Parked answers: written under pending_m_; read without it by tick (a hint).
    std::atomic<std::uint32_t> parked_{0};
    std::mutex pending_m_;
    std::vector<Pending> pending_; ///< max_clients entries, sized before I.daemon starts
};

} // namespace venom_bridge
