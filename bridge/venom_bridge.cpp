// SPDX-License-Identifier: BSL-1.0
// bridge/venom_bridge.cpp - venom_bridge: carries venom channels between hosts over Cyclone
// DDS (notes/design_issue12.md; README "Across hosts: venom bridge"). `venom bridge ARGS`
// runs it.
//
// Threads: main (options, DDS set-up, then one waitset loop: announcements, chunks, peers,
// stats, and a backstop take of requests and answers), Cyclone's receive thread (requests and
// answers, taken in a DATA_AVAILABLE listener: no wake-up of another thread on the round
// trip), a signal thread (sigwait for SIGINT/SIGTERM: sets the stop flag and
// triggers the waitset's guard condition; no work in a signal handler), and per export/import
// the threads of exporter.hpp and importer.hpp. Every wait is bounded (waitset 100 ms).
// Exit codes: 0 after SIGINT/SIGTERM, 1 set-up failed (DDS, channel), 2 usage.
#include "exporter.hpp"
#include "importer.hpp"

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace venom_bridge;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

/// Samples taken per dds_take call, and calls per reader per wake: a flood of samples cannot
/// keep the loop from its other readers and its periodic work.
constexpr std::uint32_t take_batch = 16;
constexpr int takes_per_wake = 8;
/// Batches a listener call takes at most (it runs on Cyclone's receive thread, which adds no
/// sample while it runs: the reader is drained well before this in practice). What is left
/// is taken at the next arrival or the main loop's backstop take (<= loop_wait).
constexpr int takes_per_listener_call = 64;
constexpr std::chrono::milliseconds loop_wait{100};
/// While Replies are open, the loop wakes this often to answer those whose time limit passed.
constexpr std::chrono::milliseconds deadline_sweep{10};
constexpr std::chrono::seconds stats_every{10};
/// Peers (remote participants) remembered for peer_up/peer_down; more are counted, not kept.
constexpr std::size_t max_peers = 1024;
/// A remote participant's __Hostname is logged up to this many bytes.
constexpr std::size_t max_host_name = 255;

class Bridge {
public:
    explicit Bridge(Context& ctx) : ctx_(ctx) {}

    void setup() {
        const Options& o = ctx_.options;
        Qos mq_w;
        ctx_.message_qos(mq_w, answer_blocking, false);
        ctx_.answer_writer = ctx_.writer(ctx_.t_answer, mq_w, "dds_create_writer venom/answer");
        Qos eq_w;
        ctx_.message_qos(eq_w, std::chrono::nanoseconds(0), false);
        ctx_.error_answer_writer =
            ctx_.writer(ctx_.t_answer, eq_w, "dds_create_writer venom/answer (errors)");
        Qos rq_w;
        ctx_.message_qos(rq_w, std::chrono::nanoseconds(0), false);
        ctx_.request_writer = ctx_.writer(ctx_.t_request, rq_w, "dds_create_writer venom/request");
        if (!o.exports.empty()) {
            Qos q;
            ctx_.message_qos(q, std::chrono::nanoseconds(0), true);
            request_reader_ = ctx_.reader(ctx_.t_request, q, "dds_create_reader venom/request");
        }
        if (!o.imports.empty()) {
            Qos aq;
            ctx_.announce_qos(aq);
            announce_reader_ = ctx_.reader(ctx_.t_announce, aq, "dds_create_reader venom/announce");
            Qos sq;
            ctx_.state_reader_qos(sq);
            state_reader_ = ctx_.reader(ctx_.t_state, sq, "dds_create_reader venom/state");
            Qos q;
            ctx_.message_qos(q, std::chrono::nanoseconds(0), true);
            answer_reader_ = ctx_.reader(ctx_.t_answer, q, "dds_create_reader venom/answer");
        }
        participants_ =
            Entity(dds_create_reader(ctx_.participant.get(), DDS_BUILTIN_TOPIC_DCPSPARTICIPANT,
                                     nullptr, nullptr),
                   "dds_create_reader DCPSParticipant");
        waitset_ = Entity(dds_create_waitset(ctx_.participant.get()), "dds_create_waitset");
        dds_check(dds_waitset_attach(waitset_.get(), ctx_.guard.get(), 0), "dds_waitset_attach");
        attach(participants_, DDS_ANY_STATE);
        attach(announce_reader_, DDS_ANY_STATE);
        attach(state_reader_, DDS_ANY_STATE);
        for (const auto& e : o.exports) exports_[e.name] = std::make_unique<Exporter>(ctx_, e);
        for (const auto& i : o.imports) imports_[i.name] = std::make_unique<Importer>(ctx_, i);
        // Last: the callbacks use exports_ and imports_.
        listen(request_reader_, &Bridge::requests_available);
        listen(answer_reader_, &Bridge::answers_available);
    }

    void run() {
        ctx_.log.event("started", {Field::str("participant", guid_text(ctx_.guid)),
                                   Field::num("domain", ctx_.options.domain),
                                   Field::num("exports", exports_.size()),
                                   Field::num("imports", imports_.size())});
        for (auto& kv : exports_) kv.second->start();
        auto next_stats = std::chrono::steady_clock::now() + stats_every;
        while (!ctx_.stopping) {
            dds_attach_t fired[8];
            bool open = false;
            for (auto& kv : imports_) open = open || kv.second->requests_open();
            (void)dds_waitset_wait(waitset_.get(), fired, 8,
                                   dds_ns(open ? deadline_sweep : loop_wait));
            if (ctx_.stopping) break;
            take_participants();
            take_announcements();
            take_chunks();
            // The listeners take these; a backstop for samples a listener call left.
            take_requests(takes_per_wake);
            take_answers(takes_per_wake);
            const auto now = std::chrono::steady_clock::now();
            for (auto& kv : imports_) kv.second->tick(now);
            ctx_.drops.report(ctx_.log);
            if (ctx_.options.json && now >= next_stats) {
                next_stats = now + stats_every;
                log_stats();
            }
        }
    }

    /// Exporters stop (their announcements say so), mirrors close. false: a worker is stuck in
    /// a request its origin daemon does not answer; the process must end without destructors.
    bool shutdown() {
        // First: no callback runs after this (dds_set_listener waits for one in progress).
        if (request_reader_) (void)dds_set_listener(request_reader_.get(), nullptr);
        if (answer_reader_) (void)dds_set_listener(answer_reader_.get(), nullptr);
        // Every exporter is told first, so their threads end in parallel (each stop() may wait
        // up to 2 x lease for E.state and worker_stop_wait for its workers).
        for (auto& kv : exports_) kv.second->request_stop();
        bool clean = true;
        for (auto& kv : exports_) clean = kv.second->stop() && clean;
        imports_.clear();
        if (clean) exports_.clear();
        ctx_.log.event("stopped", {Field::boolean("clean", clean)});
        return clean;
    }

private:
    void attach(const Entity& reader, std::uint32_t mask) {
        if (!reader) return;
        conditions_.emplace_back(dds_create_readcondition(reader.get(), mask),
                                 "dds_create_readcondition");
        dds_check(dds_waitset_attach(waitset_.get(), conditions_.back().get(), 0),
                  "dds_waitset_attach");
    }

    /// The request and answer readers are taken where Cyclone delivers them (its receive
    /// thread), so a round trip wakes no bridge thread on the way in.
    void listen(const Entity& reader, void (*cb)(dds_entity_t, void*)) {
        if (!reader) return;
        dds_listener_t* l = dds_create_listener(this);
        dds_lset_data_available(l, cb);
        const dds_return_t rc = dds_set_listener(reader.get(), l);
        dds_delete_listener(l);
        dds_check(rc, "dds_set_listener");
    }
    static void requests_available(dds_entity_t, void* self) {
        static_cast<Bridge*>(self)->take_requests(takes_per_listener_call);
    }
    static void answers_available(dds_entity_t, void* self) {
        static_cast<Bridge*>(self)->take_answers(takes_per_listener_call);
    }

    /// Takes up to `rounds` batches of `reader`, calling f(sample, info) for each.
    template <class T, class F>
    void take_all(const Entity& reader, F&& f, int rounds = takes_per_wake) {
        if (!reader) return;
        for (int round = 0; round < rounds; ++round) {
            void* samples[take_batch] = {};
            dds_sample_info_t infos[take_batch];
            const dds_return_t n = dds_take(reader.get(), samples, infos, take_batch, take_batch);
            if (n <= 0) return;
            for (dds_return_t i = 0; i < n; ++i) {
                try {
                    f(*static_cast<const T*>(samples[i]), infos[i]);
                } catch (const std::exception& e) {
                    ctx_.log.error("receive", e.what());
                }
            }
            (void)dds_return_loan(reader.get(), samples, n);
            if (n < static_cast<dds_return_t>(take_batch)) return;
        }
    }

    void take_participants() {
        take_all<
            dds_builtintopic_participant_t>(participants_, [&](const dds_builtintopic_participant_t&
                                                                   p,
                                                               const dds_sample_info_t& info) {
            const std::string id = guid_text(p.key);
            if (std::memcmp(p.key.v, ctx_.guid.v, sizeof p.key.v) == 0) return;
            if (info.valid_data && info.instance_state == DDS_IST_ALIVE) {
                if (peers_.count(id) != 0) return;
                if (peers_.size() >= max_peers) { // forged participant GUIDs: not remembered
                    ctx_.drops.count("?", "peer_limit");
                    return;
                }
                peers_.insert(id);
                char* host = nullptr;
                std::string h;
                if (p.qos != nullptr && dds_qget_prop(p.qos, "__Hostname", &host) && host) {
                    h.assign(host, strnlen(host, max_host_name));
                    dds_free(host);
                }
                ctx_.log.event("peer_up", {Field::str("participant", id), Field::str("host", h)});
            } else if (info.instance_state != DDS_IST_ALIVE) {
                if (peers_.erase(id) == 0) return;
                ctx_.log.event("peer_down", {Field::str("participant", id)});
            }
        });
    }

    void take_announcements() {
        take_all<venom_bridge_Announce>(
            announce_reader_, [&](const venom_bridge_Announce& a, const dds_sample_info_t& info) {
                // An invalid sample carries only the key (the channel) and the instance's state.
                const std::string name = received_name(a.channel);
                if (name.empty()) {
                    if (info.valid_data) ctx_.drops.count("?", "malformed");
                    return;
                }
                const auto it = imports_.find(name);
                if (it == imports_.end()) return; // not ours
                if (info.valid_data && info.instance_state == DDS_IST_ALIVE)
                    it->second->on_announce(a, info.publication_handle, announce_reader_.get());
                else if (info.instance_state != DDS_IST_ALIVE) it->second->on_exporter_gone();
            });
    }

    void take_chunks() {
        take_all<venom_bridge_StateChunk>(
            state_reader_, [&](const venom_bridge_StateChunk& c, const dds_sample_info_t& info) {
                if (!info.valid_data) return;
                const std::string name = received_name(c.channel);
                if (name.empty()) {
                    ctx_.drops.count("?", "malformed");
                    return;
                }
                const auto it = imports_.find(name);
                if (it != imports_.end())
                    it->second->on_chunk(c, info.publication_handle, state_reader_.get());
            });
    }

    /// From the listener (Cyclone's receive thread) or the main loop's backstop: one at a time
    /// (requests_m_), so a remote shell's requests reach its worker in the order they came.
    void take_requests(int rounds) {
        std::lock_guard<std::mutex> g(requests_m_);
        take_all<venom_bridge_Request>(
            request_reader_,
            [&](const venom_bridge_Request& r, const dds_sample_info_t& info) {
                if (!info.valid_data) return;
                const std::string name = received_name(r.channel);
                if (name.empty()) {
                    ctx_.drops.count("?", "malformed");
                    return;
                }
                const auto it = exports_.find(name);
                if (it != exports_.end()) it->second->on_request(r);
            },
            rounds);
    }

    /// From the listener or the main loop's backstop, one at a time (answers_m_).
    void take_answers(int rounds) {
        std::lock_guard<std::mutex> g(answers_m_);
        take_all<venom_bridge_Answer>(
            answer_reader_,
            [&](const venom_bridge_Answer& a, const dds_sample_info_t& info) {
                if (!info.valid_data) return;
                const std::string name = received_name(a.channel);
                if (name.empty()) {
                    ctx_.drops.count("?", "malformed");
                    return;
                }
                const auto it = imports_.find(name);
                if (it != imports_.end()) it->second->on_answer(a);
            },
            rounds);
    }

    void log_stats() {
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        const Stats& s = ctx_.stats;
        ctx_.log.event("stats", {Field::num("versions_sent", s.versions_sent),
                                 Field::num("versions_skipped", s.versions_skipped),
                                 Field::num("bytes_sent", s.bytes_sent),
                                 Field::num("send_timeouts", s.send_timeouts),
                                 Field::num("versions_received", s.versions_received),
                                 Field::num("bytes_received", s.bytes_received),
                                 Field::num("requests_forwarded", s.requests_forwarded),
                                 Field::num("requests_served", s.requests_served),
                                 Field::num("worker_reconnects", s.worker_reconnects),
                                 Field::num("answers_delivered", s.answers_delivered),
                                 Field::num("malformed", ctx_.drops.total("malformed")),
                                 Field::num("stale_answer", ctx_.drops.total("stale_answer")),
                                 Field::num("expired", ctx_.drops.total("expired")),
                                 Field::real("cpu_s", cpu), Field::num("peers", peers_.size())});
    }

    Context& ctx_;
    Entity participants_, request_reader_, announce_reader_, state_reader_, answer_reader_;
    Entity waitset_;
    std::vector<Entity> conditions_;
    std::mutex requests_m_; ///< one taker of requests at a time (listener or backstop)
    std::mutex answers_m_;  ///< one taker of answers at a time
    std::map<std::string, std::unique_ptr<Exporter>> exports_;
    std::map<std::string, std::unique_ptr<Importer>> imports_;
    std::set<std::string> peers_;
};

} // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const UsageError& u) {
        std::fprintf(stderr, "venom_bridge: %s\n%s(venom_bridge --help for details)\n",
                     u.message.c_str(), usage_text());
        return exit_usage;
    }
    if (options.help) {
        std::printf("%s\n%s", usage_text(), help_text());
        return exit_ok;
    }
    // SIGINT/SIGTERM go to the signal thread only (blocked here, before any thread starts,
    // so every thread inherits the mask; Cyclone's own threads too).
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    Context ctx(options);
    try {
        ctx.open_dds();
    } catch (const std::exception& e) {
        ctx.log.error("setup", e.what());
        return exit_failed;
    }
    // Joined before ctx goes (below): a signal thread left in sigwait past main's return would
    // use the destroyed ctx on a late SIGTERM.
    std::thread signals([&ctx, sigs] {
        int sig = 0;
        sigwait(&sigs, &sig);
        ctx.stopping = true;
        (void)dds_set_guardcondition(ctx.guard.get(), true);
    });
    // Wakes the signal thread (if no signal came yet: SIGTERM is blocked in every thread, so it
    // reaches only its sigwait) and joins it.
    auto end_signals = [&signals] {
        (void)pthread_kill(signals.native_handle(), SIGTERM);
        signals.join();
    };
    int code = exit_ok;
    {
        Bridge bridge(ctx);
        try {
            bridge.setup();
            bridge.run();
        } catch (const std::exception& e) {
            ctx.log.error("setup", e.what());
            code = exit_failed;
        }
        if (!bridge.shutdown()) {
            // A worker is still inside an origin request (no time limit, a hung handler): its
            // Exporter must outlive it. Leave the domain cleanly, then end here.
            ctx.participant.reset();
            std::fflush(stdout);
            std::fflush(stderr);
            std::_Exit(code); // the signal thread ends with the process (ctx is never destroyed)
        }
    }
    end_signals();
    return code;
}
