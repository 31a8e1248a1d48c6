// SPDX-License-Identifier: BSL-1.0
/// \file bridge/exporter.hpp
/// The export side: the bridge as an ordinary shell of the origin daemon (design 1.3, 1.5).
///
/// Threads and owners, per export:
/// - E.state (state_loop) owns the origin shell S0, the announcement writer and the state
///   writer. It connects to the origin daemon (retrying every 100 ms while none serves the
///   name), announces the channel's config (alive), then paces itself: a view of the newest
///   version -> its chunks with their crc32c -> the next newest (versions published meanwhile
///   are skipped and counted). A version that started is never replaced in flight. On a new match
///   of the state writer it re-sends the newest; on a mirror's first resync request too; later
///   resyncs re-send a version already sent at most once per resync_min_interval (a resync costs
///   every importer a whole state).
///   Pacing is DDS flow control: the state writer keeps all of at most 8 unacknowledged chunks, so
///   dds_write blocks (at most 2 x lease) while the link is behind; versions published meanwhile
///   are skipped, and the next one sent is the newest. The origin daemon gone (daemon_gone): it
///   announces alive=false, and reconnects; the new origin daemon gets a new origin tag (its
///   versions start again from 1).
/// - E.req[k], k < --workers: each owns one origin ShellChannel (one client slot) and a bounded
///   FIFO filled by on_request (receive thread or main backstop). A remote shell's requests all go
///   to one worker (hash of mirror and slot), so they run in order. A request's budget travels with
///   it: one that expired before it could run is answered timeout and counted ("expired").
///   After the answer the worker reads the origin's version (>= every version published before
///   the answer) and sends it with the answer: the mirror delivers the answer only once it
///   shows that version (read-your-writes).
/// - Origin generations: E.state numbers each origin daemon it connects to (origin_gen_, 1, 2,
///   ...; bumped before the announcement, so a request of the new origin's mirror is accepted
///   with the new number) and, once it sees that daemon gone, publishes the number as gone
///   (gone_gen_). A request carries the generation it was accepted under. A worker whose shell
///   belongs to an older generation reconnects before it sends (a restarted origin daemon: its
///   shells still hold the old one's channel, and the first request on each would fail
///   daemon_gone with the old daemon's text). A request of a generation known gone is answered
///   daemon_gone without being sent: it came from a mirror of the old daemon, and the new one's
///   versions restart from 1, so its answer could not keep read-your-writes (the importer drops
///   it anyway with that mirror). Not retried: a request that failed daemon_gone on its own
///   generation's shell may have been staged before the daemon died (kill -9: the command sits
///   in the dead daemon's queue until a liveness probe fails), and ShellChannel does not say
///   whether it was; once a request is sent, the bridge never sends it again (at most once).
/// - If an importer stalls, dds_write blocks at most 2 x lease (state) or 100 ms (answers),
///   then the version is abandoned (counted) or the answer dropped; the origin daemon never
///   waits for the bridge (a view pins one buffer at most). The state writer is shared by every
///   importer of the channel: the slowest reader paces them all (a stalled one holds every
///   importer's versions back up to 2 x lease per chunk).
/// - Origin liveness while sending: E.state probes the origin daemon (probe_origin, a few ms)
///   before each version, between chunks at most every probe_every, and before each retry of
///   a version that could not be sent. So a dead origin is noticed within one blocked
///   dds_write (2 x lease) + probe_every + the probe, even while a reader stalls the state
///   writer or a large version is on its way (the idle loop's wait_for_update probes too).
#pragma once

#include "chunks.hpp"
#include "context.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace venom_bridge {

class Exporter {
public:
    Exporter(Context& ctx, ExportSpec spec) : ctx_(ctx), spec_(std::move(spec)) {
        Qos aq;
        ctx_.announce_qos(aq);
        announce_writer_ = ctx_.writer(ctx_.t_announce, aq, "dds_create_writer venom/announce");
        Qos sq;
        ctx_.state_writer_qos(sq);
        state_writer_ = ctx_.writer(ctx_.t_state, sq, "dds_create_writer venom/state");
        workers_.reserve(ctx_.options.workers);
        for (std::uint32_t k = 0; k < ctx_.options.workers; ++k)
            workers_.push_back(std::make_unique<Worker>());
    }
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;
    ~Exporter() { (void)stop(); }

    const std::string& name() const noexcept { return spec_.name; }

    void start() {
        state_thread_ = std::thread([this] { state_loop(); });
        for (std::uint32_t k = 0; k < workers_.size(); ++k)
            workers_[k]->thread = std::thread([this, k] { worker_loop(*workers_[k]); });
    }

    /// Tells the threads to end, without waiting for them (a bridge stopping several exports
    /// calls this on each first, then stop() on each: they end in parallel). From the main
    /// thread; never blocks beyond the workers' queue mutexes; idempotent.
    void request_stop() {
        stop_ = true;
        for (auto& w : workers_) {
            { std::lock_guard<std::mutex> g(w->m); }
            w->cv.notify_all();
        }
    }

    /// request_stop(), waits for the threads, then announces the channel gone. From the main
    /// thread; idempotent. E.state ends within ~100 ms (or a blocked dds_write's 2 x lease); a
    /// worker within worker_stop_wait, unless it is inside a request the origin daemon does
    /// not answer (one without a time limit, to a handler that hangs): such a worker is left
    /// running (detached), and stop() returns false - the process must then end without
    /// destroying this Exporter (main: std::_Exit).
    bool stop() {
        if (stopped_) return !stuck_;
        stopped_ = true;
        request_stop();
        if (state_thread_.joinable()) state_thread_.join();
        const auto until = std::chrono::steady_clock::now() + worker_stop_wait;
        for (auto& w : workers_) {
            while (!w->finished && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            if (!w->thread.joinable()) continue;
            if (w->finished) {
                w->thread.join();
            } else {
                w->thread.detach();
                stuck_ = true;
            }
        }
        if (announce_writer_) {
            // Said explicitly: importers destroy their mirrors at once (no lease to wait), and
            // know why (origin tag 0 with alive=false: the exporter bridge stopped).
            origin_tag_ = 0;
            write_announce(false);
            (void)dds_wait_for_acks(announce_writer_.get(), dds_ns(stop_ack_wait));
        }
        return !stuck_;
    }

    /// A request sample for this channel (main thread). Validated, then queued to its worker,
    /// or answered at once (read-only, expired, queue full, malformed).
    void on_request(const venom_bridge_Request& r) {
        const auto now = std::chrono::steady_clock::now();
        const OriginShape shape = shape_.load();
        if (r.slot == resync_slot) {
            if (!shape.known || r.origin != shape.origin) return;
            // A mirror's first resync is served at once (a new mirror has seen nothing of this
            // origin); its later ones are rate-limited by E.state (resync_).
            bool first = false;
            {
                std::lock_guard<std::mutex> g(resync_m_);
                if (resync_mirrors_.size() >= max_resync_mirrors) resync_mirrors_.clear();
                first = resync_mirrors_.insert(r.mirror).second;
            }
            if (first) resend_ = true;
            else resync_ = true;
            return;
        }
        if (!shape.known) { // the origin daemon is not running (its mirrors are going)
            ctx_.answer_error(spec_.name, r.mirror, r.slot, r.request_id, venom::errc::daemon_gone,
                              "the origin daemon of \"" + spec_.name + "\" is not running", 0,
                              Context::blocking::never);
            return;
        }
        if (r.slot >= shape.max_clients || r.bytes._length > shape.max_cmd_size ||
            (r.bytes._length != 0 && r.bytes._buffer == nullptr) || r.request_id == 0) {
            ctx_.drops.count(spec_.name, "malformed");
            return;
        }
        if (r.origin != shape.origin) {
            // Not for the origin daemon this exporter serves now. Another bridge's origin: that
            // exporter answers it (two exporters of one name never both run a request), so only
            // counted here. An older origin of ours (the window of a restart: the request came
            // from the old daemon's mirror, which is going): daemon_gone, not sent.
            if (!tag_is_ours(ctx_.tag_base, r.origin)) {
                ctx_.drops.count(spec_.name, "other_origin");
                return;
            }
            ctx_.answer_error(spec_.name, r.mirror, r.slot, r.request_id, venom::errc::daemon_gone,
                              "the origin daemon of \"" + spec_.name +
                                  "\" that this request's mirror shows is gone; the request was "
                                  "not sent",
                              0, Context::blocking::never);
            return;
        }
        if (spec_.read_only) {
            ctx_.answer_error(spec_.name, r.mirror, r.slot, r.request_id,
                              venom::errc::permission_denied,
                              "\"" + spec_.name + "\" is exported read-only (--export " +
                                  spec_.name + ":ro): remote requests are refused",
                              0, Context::blocking::never);
            return;
        }
        Job j;
        j.mirror = r.mirror;
        j.slot = r.slot;
        j.request_id = r.request_id;
        j.deadline = deadline_after(now, r.budget_ns);
        j.generation = shape.generation;
        j.bytes.assign(r.bytes._buffer, r.bytes._buffer + r.bytes._length);
        const std::size_t k =
            static_cast<std::size_t>((r.mirror * 0x9e3779b97f4a7c15ull) ^ r.slot) % workers_.size();
        Worker& w = *workers_[k];
        {
            std::lock_guard<std::mutex> g(w.m);
            if (w.q.size() < worker_queue_capacity &&
                w.queued_bytes + j.bytes.size() <= worker_queue_bytes) {
                w.queued_bytes += j.bytes.size();
                w.q.push_back(std::move(j));
                w.cv.notify_one();
                return;
            }
        }
        ctx_.answer_error(spec_.name, r.mirror, r.slot, r.request_id, venom::errc::timeout,
                          "bridge queue full: the exporter of \"" + spec_.name + "\" has " +
                              std::to_string(worker_queue_capacity) + " requests or " +
                              std::to_string(worker_queue_bytes >> 20) +
                              " MiB waiting per worker; raise --workers or retry",
                          0, Context::blocking::never);
    }

private:
    /// The origin's shape, as the workers check requests against it (set by E.state).
    struct OriginShape {
        bool known = false;
        std::uint32_t max_clients = 0;
        std::uint32_t max_cmd_size = 0;
        std::uint64_t generation = 0; ///< origin_gen_ of this origin daemon
        std::uint64_t origin = 0;     ///< its origin tag (Announce.origin, Request.origin)
    };
    /// A tiny lock-guarded cell (E.state writes, the main thread reads).
    template <class T> class Cell {
    public:
        T load() const {
            std::lock_guard<std::mutex> g(m_);
            return v_;
        }
        void store(const T& v) {
            std::lock_guard<std::mutex> g(m_);
            v_ = v;
        }

    private:
        mutable std::mutex m_;
        T v_{};
    };

    struct Job {
        std::uint64_t mirror = 0;
        std::uint32_t slot = 0;
        std::uint64_t request_id = 0;
        std::chrono::steady_clock::time_point deadline{};
        std::uint64_t generation = 0; ///< the origin generation it was accepted under
        std::vector<std::uint8_t> bytes;
    };
    struct Worker {
        std::mutex m;
        std::condition_variable cv;
        std::deque<Job> q;            ///< guarded by m; at most worker_queue_capacity
        std::size_t queued_bytes = 0; ///< guarded by m; sum of q's commands, <= worker_queue_bytes
        std::thread thread;
        std::atomic<bool> finished{false};        ///< the thread has left worker_loop
        std::optional<venom::ShellChannel> shell; ///< the worker thread's own
        std::uint64_t shell_generation = 0;       ///< the job generation shell was made for
        std::vector<std::uint8_t> answer;
    };
    /// Requests waiting per worker before new ones are refused ("bridge queue full"): every
    /// client slot of a mirror (at most limits::max_clients) of several importers.
    static constexpr std::size_t worker_queue_capacity = 4 * venom::limits::max_clients;
    /// Command bytes waiting per worker before new requests are refused ("bridge queue full"):
    /// a bound on the memory remote peers can make the exporter hold (max_cmd_size can be
    /// 64 MiB); one command of any allowed size always fits.
    static constexpr std::size_t worker_queue_bytes = 2 * std::size_t{message_bytes_max};
    /// How often the threads look at stop_ while idle.
    static constexpr std::chrono::milliseconds idle_step{100};
    /// How often E.state tries to connect while no origin daemon serves the name: often, so a
    /// restarted origin is served again well within a second (a try is a few file calls).
    static constexpr std::chrono::milliseconds reconnect_every{100};
    /// The fewest state buffers an exported channel may have (README: state_buffers >= 3).
    static constexpr std::uint32_t min_state_buffers = 3;
    /// How often E.state looks again at an origin daemon it refused (min_state_buffers).
    static constexpr std::chrono::milliseconds refused_retry_every{1000};
    /// How long a stopping exporter waits for importers to acknowledge its last announcement.
    static constexpr std::chrono::milliseconds stop_ack_wait{500};
    /// S0's ShellOptions::daemon_check, and probe_origin's wait (one probe fits in it).
    static constexpr std::chrono::milliseconds s0_daemon_check{1};
    static constexpr std::chrono::milliseconds probe_wait{2};
    /// How often E.state probes the origin daemon while it sends (between chunks).
    static constexpr std::chrono::milliseconds probe_every{100};
    /// Mirror tags remembered as having asked for a resync (cleared when full).
    static constexpr std::size_t max_resync_mirrors = 256;
    /// A resync request re-sends a version already sent at most this often (M7).
    static constexpr std::chrono::milliseconds resync_min_interval{1000};
    /// How long stop() waits for the workers' requests in flight to end.
    static constexpr std::chrono::milliseconds worker_stop_wait{2000};

    /// now + budget_ns, or max() for 0 (no limit) and for a budget past the clock's range (a
    /// network value: the sum must not overflow).
    static std::chrono::steady_clock::time_point deadline_after(
        std::chrono::steady_clock::time_point now, std::uint64_t budget_ns) noexcept {
        using clock = std::chrono::steady_clock;
        if (budget_ns == 0) return clock::time_point::max();
        const auto room =
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::time_point::max() - now);
        if (room.count() <= 0 || budget_ns >= static_cast<std::uint64_t>(room.count()))
            return clock::time_point::max();
        return now + std::chrono::duration_cast<clock::duration>(
                         std::chrono::nanoseconds(static_cast<std::int64_t>(budget_ns)));
    }

    // ---- E.state ----------------------------------------------------------------------------

    bool sleep_unless_stopped(std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        while (!stop_ && !ctx_.stopping && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
                idle_step, until - std::chrono::steady_clock::now()));
        return !(stop_ || ctx_.stopping);
    }

    void write_announce(bool alive) {
        venom_bridge_Announce a{};
        set_name(a.channel, spec_.name);
        a.origin = origin_tag_;
        a.read_only = spec_.read_only;
        a.alive = alive;
        a.data_size = config_.data_size;
        a.cmd_slots = config_.cmd_slots;
        a.max_clients = config_.max_clients;
        a.max_cmd_size = config_.max_cmd_size;
        a.max_response_size = config_.max_response_size;
        a.state_buffers = config_.state_buffers;
        a.access = static_cast<std::uint32_t>(config_.access);
        a.claim_timeout_ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(config_.claim_timeout).count());
        a.spin_time_ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(config_.spin_time).count());
        a.version = s0_ ? s0_->version() : 0;
        a.chunk_size = ctx_.options.chunk;
        const dds_return_t rc = dds_write(announce_writer_.get(), &a);
        if (rc < 0) ctx_.log.error("announce " + spec_.name, dds_strretcode(rc));
    }

    /// Connects S0 to the origin daemon; true when connected (and announced).
    bool connect_origin() {
        try {
            venom::ShellOptions so;
            so.spin_time = std::chrono::microseconds(20);
            so.daemon_check = s0_daemon_check; // probe_origin's wait: see there
            s0_.emplace(venom::ShellChannel::connect(spec_.name, so));
        } catch (const venom::error& e) {
            if (!waiting_logged_) {
                ctx_.log.event("waiting", {Field::str("channel", spec_.name),
                                           Field::str("message", std::string(e.what()) +
                                                                     " (retrying every 100 ms)")});
                waiting_logged_ = true;
            }
            return false;
        }
        waiting_logged_ = false;
        config_ = s0_->config();
        if (config_.state_buffers < min_state_buffers) {
            // The bridge reads the origin through a view, which pins one state buffer: with 2 the
            // origin's writer would wait for the network (design 1.3). Refused, not served.
            if (!refused_logged_)
                ctx_.log.error(
                    "export " + spec_.name,
                    "refused to export \"" + spec_.name +
                        "\": its origin daemon has state_buffers " +
                        std::to_string(config_.state_buffers) +
                        ", an exported channel needs >= " + std::to_string(min_state_buffers) +
                        " (the bridge's view pins one buffer; with fewer the origin's writer "
                        "would wait for the network). Restart the origin daemon with "
                        "ChannelConfig::state_buffers >= 3 (venom serve --state-buffers 3); "
                        "retrying every second");
            refused_logged_ = true;
            s0_.reset();
            return false;
        }
        refused_logged_ = false;
        // access, claim_timeout and spin_time are not in ShellChannel::config(): the inspector
        // reads them from the control block (it only looks).
        try {
            const venom::ChannelInfo info = venom::inspect_channel(spec_.name);
            if (info.readable) {
                config_.access = info.layout.config.access;
                config_.claim_timeout = info.layout.config.claim_timeout;
                config_.spin_time = info.layout.config.spin_time;
            }
        } catch (const venom::error&) {
            // the defaults then
        }
        ++origin_counter_;
        origin_tag_ = make_tag(ctx_.tag_base, origin_counter_);
        // Before the announcement: a request of this origin's mirror comes after it, and is
        // accepted (on_request reads shape_) with this generation.
        shape_.store(OriginShape{true, config_.max_clients, config_.max_cmd_size, origin_counter_,
                                 origin_tag_});
        sent_ = 0;
        write_announce(true);
        ctx_.log.event("exported",
                       {Field::str("channel", spec_.name), Field::num("version", s0_->version()),
                        Field::num("origin", origin_tag_), Field::raw("config", config_json()),
                        Field::boolean("read_only", spec_.read_only)});
        return true;
    }

    std::string config_json() const {
        return "{\"data_size\":" + std::to_string(config_.data_size) +
               ",\"cmd_slots\":" + std::to_string(config_.cmd_slots) +
               ",\"max_clients\":" + std::to_string(config_.max_clients) +
               ",\"max_cmd_size\":" + std::to_string(config_.max_cmd_size) +
               ",\"max_response_size\":" + std::to_string(config_.max_response_size) +
               ",\"state_buffers\":" + std::to_string(config_.state_buffers) + "}";
    }

    void origin_gone(const std::string& why) {
        shape_.store(OriginShape{});
        // SYNC POINT WRITE: gone generation. release: pairs with serve()'s acquire (a worker that
        // sees it refuses the jobs of this daemon without sending them).
        gone_gen_.store(origin_counter_, std::memory_order_release);
        write_announce(false);
        ctx_.log.event("daemon_gone",
                       {Field::str("channel", spec_.name), Field::str("side", "origin"),
                        Field::str("reason", "origin_daemon"), Field::str("message", why)});
        s0_.reset();
    }

    /// Throws venom::error(daemon_gone) when the origin daemon is dead or has closed the
    /// channel: a wait for a version that never comes, long enough for one liveness probe of
    /// S0 (its daemon_check). E.state only; blocks probe_wait (2 ms).
    void probe_origin() {
        (void)s0_->wait_for_update(std::numeric_limits<std::uint64_t>::max(), probe_wait);
        next_probe_ = std::chrono::steady_clock::now() + probe_every;
    }
    void probe_origin_due() {
        if (std::chrono::steady_clock::now() >= next_probe_) probe_origin();
    }

    /// Sends version v whole: its chunks in index order. false: it could not (a stalled
    /// reader held the history full for 2 x lease). Throws daemon_gone when a probe between
    /// chunks finds the origin daemon dead.
    bool send_version(const venom::StateView& v) {
        const std::uint32_t chunk = ctx_.options.chunk;
        const std::uint64_t total = v.size();
        const auto count = static_cast<std::uint32_t>(chunk_count(total, chunk));
        venom_bridge_StateChunk c{};
        set_name(c.channel, spec_.name);
        c.origin = origin_tag_;
        c.version = v.version();
        c.total_length = total;
        c.count = count;
        for (std::uint32_t i = 0; i < count; ++i) {
            if (stop_ || ctx_.stopping) return false;
            probe_origin_due();
            const std::uint64_t off = std::uint64_t{i} * chunk;
            const auto len =
                static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk, total - off));
            const unsigned char* p = v.data() == nullptr ? nullptr : v.data() + off;
            c.index = i;
            c.offset = off;
            c.crc32c = crc32c(p, len);
            c.bytes._buffer = const_cast<std::uint8_t*>(p); // dds_write copies; never freed
            c.bytes._length = len;
            c.bytes._maximum = len;
            c.bytes._release = false;
            const dds_return_t rc = dds_write(state_writer_.get(), &c);
            if (rc < 0) {
                ++ctx_.stats.send_timeouts;
                ctx_.drops.count(spec_.name, "send_timeout");
                return false;
            }
        }
        // No dds_wait_for_acks here: the writer's KEEP_ALL history (state_writer_depth chunks)
        // is the pacing. A version's chunks are never replaced in flight (KEEP_ALL drops
        // nothing), dds_write blocks while the history is full of unacknowledged chunks, and
        // the next version sent is the newest one when it returns. Waiting for the acks of each
        // version instead costs a heartbeat/ack round (Cyclone's HeartbeatInterval, 100 ms) per
        // version: measured, a remote set + read_data took > 100 ms instead of < 1 ms.
        ++ctx_.stats.versions_sent;
        ctx_.stats.bytes_sent += total;
        return true;
    }

    void state_loop() {
        bool retrying = false; // the last send_version failed: probe before the next
        while (!stop_ && !ctx_.stopping) {
            if (!s0_) {
                if (!connect_origin()) {
                    if (!sleep_unless_stopped(refused_logged_ ? refused_retry_every
                                                              : reconnect_every))
                        break;
                    continue;
                }
            }
            try {
                dds_publication_matched_status_t pm{};
                if (dds_get_publication_matched_status(state_writer_.get(), &pm) ==
                        DDS_RETCODE_OK &&
                    pm.total_count_change > 0)
                    resend_ = true; // a new importer: it has missed the versions sent so far
                bool resend = resend_.exchange(false);
                if (resync_.exchange(false)) {
                    // A resync asks for the newest version again: at most once per
                    // resync_min_interval for a version already sent (importers ask every second
                    // while a large first version is on its way; anyone may ask).
                    if (sent_ == 0 ||
                        std::chrono::steady_clock::now() - sent_at_ >= resync_min_interval)
                        resend = true;
                    else ctx_.drops.count(spec_.name, "resync_limited");
                }
                std::uint64_t now_v = s0_->version();
                if (!resend && now_v <= sent_) {
                    (void)s0_->wait_for_update(sent_, idle_step);
                    now_v = s0_->version();
                    if (now_v <= sent_) continue;
                }
                if (now_v == 0) continue; // nothing published yet
                if (pm.current_count == 0) {
                    // Nobody to send to: remember where we are; a match re-sends the newest.
                    sent_ = now_v;
                    continue;
                }
                // Before every send, and always before a retry: the loop may not reach the idle
                // wait for a long time (a stalled reader, resync requests, a stream of versions).
                if (retrying) probe_origin();
                else probe_origin_due();
                venom::StateView v = s0_->view();
                if (sent_ != 0 && v.version() > sent_ + 1)
                    ctx_.stats.versions_skipped += v.version() - sent_ - 1;
                retrying = false;
                if (send_version(v)) {
                    sent_ = v.version();
                    sent_at_ = std::chrono::steady_clock::now();
                } else if (!stop_ && !ctx_.stopping) {
                    resend_ = true; // try again with the newest (after a probe)
                    retrying = true;
                }
            } catch (const venom::error& e) {
                if (e.code() == venom::errc::daemon_gone) origin_gone(e.what());
                else {
                    ctx_.log.error("export " + spec_.name, e.what());
                    origin_gone(e.what());
                }
            } catch (const std::exception& e) {
                // bad_alloc and the like: counted, logged; the loop goes on (after a pause, so
                // a failure that repeats does not spin) with the newest version again.
                ctx_.drops.count(spec_.name, "state_error");
                ctx_.log.error("export " + spec_.name + " state", e.what());
                resend_ = true;
                if (!sleep_unless_stopped(idle_step)) break;
            }
        }
    }

    // ---- E.req[k] ---------------------------------------------------------------------------

    void worker_loop(Worker& w) {
        for (;;) {
            Job j;
            {
                std::unique_lock<std::mutex> g(w.m);
                w.cv.wait_for(g, idle_step, [&] { return stop_ || !w.q.empty(); });
                if (stop_) {
                    w.finished = true;
                    return;
                }
                if (w.q.empty()) continue;
                j = std::move(w.q.front());
                w.q.pop_front();
                w.queued_bytes -= j.bytes.size();
            }
            try {
                serve(w, j);
            } catch (const std::exception& e) {
                // bad_alloc and the like (venom::error does not leave serve): this request is
                // answered handler_failed if it can be, the worker goes on with the next.
                ctx_.drops.count(spec_.name, "worker_error");
                ctx_.log.error("export " + spec_.name + " worker", e.what());
                try {
                    ctx_.answer_error(spec_.name, j.mirror, j.slot, j.request_id,
                                      venom::errc::handler_failed,
                                      std::string("the exporting bridge failed: ") + e.what());
                } catch (const std::exception&) {
                    // not even that: the remote shell times out
                }
            }
        }
    }

    void serve(Worker& w, const Job& j) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= j.deadline) {
            ctx_.drops.count(spec_.name, "expired");
            ctx_.answer_error(spec_.name, j.mirror, j.slot, j.request_id, venom::errc::timeout,
                              "expired before the origin daemon could handle it (its time limit "
                              "passed while it crossed the network or waited in the bridge)");
            return;
        }
        // SYNC POINT READ: gone generation (origin_gone's release).
        if (j.generation <= gone_gen_.load(std::memory_order_acquire)) {
            if (w.shell && w.shell_generation <= j.generation) w.shell.reset();
            ctx_.answer_error(spec_.name, j.mirror, j.slot, j.request_id, venom::errc::daemon_gone,
                              "the origin daemon of \"" + spec_.name +
                                  "\" that this request's mirror shows is gone; the request was "
                                  "not sent (the mirror goes, and a new one comes for the next "
                                  "origin daemon)");
            return;
        }
        // A shell of an older origin daemon (it was restarted): connect to the current one
        // before sending, so the request never reaches a daemon older than its mirror's.
        if (w.shell && w.shell_generation != j.generation) {
            w.shell.reset();
            ++ctx_.stats.worker_reconnects;
        }
        if (!w.shell) {
            try {
                venom::ShellOptions so;
                so.spin_time = std::chrono::microseconds(20);
                w.shell.emplace(venom::ShellChannel::connect(spec_.name, so));
                w.shell_generation = j.generation;
                w.answer.resize(w.shell->config().max_response_size);
            } catch (const venom::error& e) {
                ctx_.answer_error(spec_.name, j.mirror, j.slot, j.request_id,
                                  venom::errc::daemon_gone,
                                  std::string("the origin daemon is not serving: ") + e.what());
                return;
            }
        }
        std::error_code ec;
        std::size_t n = 0;
        // request_until: the deadline travels with the command (layout 8), and an origin
        // daemon that takes it too late answers timeout without running it (commands_expired).
        if (j.deadline == std::chrono::steady_clock::time_point::max())
            n = w.shell->request(j.bytes.data(), j.bytes.size(), w.answer.data(), w.answer.size(),
                                 std::chrono::nanoseconds::max(), ec);
        else
            n = w.shell->request_until(j.deadline, j.bytes.data(), j.bytes.size(), w.answer.data(),
                                       w.answer.size(), ec);
        // SYNC POINT READ (the answer's seq, inside request): every version the origin
        // published before this answer is <= this one.
        const std::uint64_t version = w.shell->version();
        ++ctx_.stats.requests_served;
        if (ec) {
            const auto code = ec.category() == venom::venom_category()
                                  ? static_cast<venom::errc>(ec.value())
                                  : venom::errc::system_failure;
            const std::string text = w.shell->last_error_text();
            if (code == venom::errc::daemon_gone) w.shell.reset(); // reconnect next time
            ctx_.answer_error(spec_.name, j.mirror, j.slot, j.request_id, code,
                              text.empty() ? ec.message() : text, version);
            return;
        }
        venom_bridge_Answer a{};
        set_name(a.channel, spec_.name);
        a.mirror = j.mirror;
        a.slot = j.slot;
        a.request_id = j.request_id;
        a.status = 0;
        a.state_version = version;
        a.bytes._buffer = w.answer.data();
        a.bytes._length = static_cast<std::uint32_t>(n);
        a.bytes._maximum = a.bytes._length;
        a.bytes._release = false;
        if (dds_write(ctx_.answer_writer.get(), &a) < 0)
            ctx_.drops.count(spec_.name, "answer_dropped");
    }

    Context& ctx_;
    ExportSpec spec_;
    Entity announce_writer_;
    Entity state_writer_;
    std::atomic<bool> stop_{false};
    bool stopped_ = false;            ///< stop() ran (main thread)
    bool stuck_ = false;              ///< a worker was left running in a request (main thread)
    std::atomic<bool> resend_{false}; ///< re-send the newest: a new match, a failed send
    std::atomic<bool> resync_{false}; ///< an importer asked for the newest (rate-limited)
    std::mutex resync_m_;
    std::set<std::uint64_t> resync_mirrors_; ///< guarded by resync_m_: mirrors that asked once
    std::thread state_thread_;
    std::vector<std::unique_ptr<Worker>> workers_;
    Cell<OriginShape> shape_;
    /// The newest origin generation E.state has seen gone (0: none); written by E.state only.
    std::atomic<std::uint64_t> gone_gen_{0};
    // E.state's own:
    std::optional<venom::ShellChannel> s0_;
    venom::ChannelConfig config_{1, 1, 1};
    std::uint32_t origin_counter_ = 0;
    std::uint64_t origin_tag_ = 0;
    std::uint64_t sent_ = 0;
    std::chrono::steady_clock::time_point next_probe_{};
    std::chrono::steady_clock::time_point sent_at_{}; ///< when sent_ finished going out
    bool waiting_logged_ = false;
    bool refused_logged_ = false; ///< the origin daemon was refused (state_buffers); said once
};

} // namespace venom_bridge
