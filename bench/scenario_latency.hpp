// SPDX-License-Identifier: BSL-1.0
// bench/scenario_latency.hpp - the two latency scenarios, measured from the parent against one
// "peer" child pinned to another CPU:
//
//   rpc-latency     the parent is the shell (or client), the peer the daemon (or server); every
//                   round trip is timed. Each round runs, for every request size, the raw floor,
//                   venom with both wait policies and every alternative one after the other, so
//                   the ratios compare figures taken within a fraction of a second of each other
//                   (the machine's cache-line round trip drifts by 5x over minutes on a VM).
//                   The blocking path: the same with a pause before each request, so that the
//                   daemon and the shell are asleep (default policy), against a raw futex
//                   ping-pong with the same pause.
//   update-latency  the peer writes a state (write_data, or a raw store for the floors) every
//                   millisecond and records when the call returned; the parent waits
//                   (wait_for_update, or a raw spin / futex wait) and records when it saw the
//                   new version. Then the same with a hot writer: it spins between updates
//                   (every 20 us), against a spinning reader (raw spin, venom busy_poll).
//
// The peer serves one mechanism at a time, on command (Ctl::cmd), so no idle server spins on a
// core while another mechanism is measured.
#pragma once

#include "alternatives.hpp"
#include "floor.hpp"
#include "settings.hpp"

#include <venom/venom.hpp>

#include <functional>
#include <memory>

namespace vb {

enum Mech : std::uint32_t {
    m_floor_spin,
    m_venom_busy,
    m_venom_default,
    m_pipe,
    m_uds,
    m_tcp,
    m_mq,
    m_zmq,
    m_floor_futex,
    m_count
};

struct MechInfo {
    const char* key;     ///< CSV/JSON mechanism
    const char* variant; ///< CSV/JSON variant
    const char* label;   ///< table
};
inline const MechInfo& mech_info(std::uint32_t m) {
    static const MechInfo info[m_count] = {
        {"floor-spin", "spin", "floor: spin ping-pong"},
        {"venom", "busy_poll", "venom busy_poll"},
        {"venom", "spin_then_block", "venom default"},
        {"pipe", "blocking", "pipe pair"},
        {"uds", "blocking", "unix socket"},
        {"tcp", "nodelay", "tcp loopback"},
        {"mq", "blocking", "bip message_queue"},
        {"zmq", "req-rep", "zeromq ipc"},
        {"floor-futex", "futex", "floor: futex ping-pong"},
    };
    return info[m];
}

enum PeerOp : std::uint32_t { op_serve = 1, op_updates = 2, op_exit = 3 };

// ---- the peer (child) --------------------------------------------------------------------------

inline venom::ChannelConfig peer_channel_config(venom::WaitPolicy p) {
    venom::ChannelConfig c{65536, 8, 4};
    c.max_cmd_size = static_cast<std::uint32_t>(max_msg);
    c.max_response_size = static_cast<std::uint32_t>(max_msg);
    c.wait = p;
    return c;
}

/// The echo handler: the answer is the request; a request starting with 'Q' ends the segment.
inline void serve_venom(venom::DaemonChannel& d) {
    d.run([&d](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& out) {
        std::memcpy(out.data(), cmd.data(), cmd.size());
        out.resize(cmd.size());
        if (!cmd.empty() && cmd[0] == 'Q') d.stop();
    });
}

/// Role "peer": fd 3 reads the request pipe, fd 4 writes the answer pipe.
inline int role_peer(const Args& a) {
    CtlSegment ctl = CtlSegment::open(a.str("ctl"));
    const int parent = ctl->parent_pid;
    child_die_with_parent(parent);
    ChildSlot& me = ctl->slots[0];
    try {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        auto busy = venom::DaemonChannel::create(a.str("chan_busy"),
                                                 peer_channel_config(venom::WaitPolicy::busy_poll));
        auto dflt = venom::DaemonChannel::create(
            a.str("chan_default"), peer_channel_config(venom::WaitPolicy::spin_then_block));
        const int uds_l = uds_listen(a.str("uds"));
        std::uint32_t port = 0;
        const int tcp_l = tcp_listen(port);
        ctl->tcp_port = port;
        MqPair mq = MqPair::create(a.str("mq"));
#ifdef VENOM_BENCH_HAVE_ZMQ
        ZmqSocket zmq;
        zmq.bind(a.str("zmq"));
#endif
        int uds_c = -1, tcp_c = -1;
        FloorServer floor;
        std::vector<unsigned char> buf(65536, 0x5a);
        me.ready.store(1);

        std::uint32_t seen = 0;
        for (;;) {
            if (!wait_change(ctl->cmd_seq, seen, 3600000000000LL, parent)) return 1;
            seen = ctl->cmd_seq.load(std::memory_order_acquire);
            const PeerCommand cmd = ctl->cmd;
            std::int32_t status = 0;
            std::string error;
            try {
                const std::int64_t idle_limit = 30000000000LL;
                bool ok = true;
                if (cmd.op == op_serve) {
                    switch (cmd.mech) {
                    case m_floor_spin: ok = floor.serve_spin(*ctl, parent, idle_limit); break;
                    case m_floor_futex: ok = floor.serve_futex(*ctl, parent, idle_limit); break;
                    case m_venom_busy: serve_venom(busy); break;
                    case m_venom_default: serve_venom(dflt); break;
                    case m_pipe: ok = serve_stream(3, 4, cmd.size); break;
                    case m_uds:
                        if (uds_c < 0) uds_c = accept_within(uds_l, 10000);
                        ok = uds_c >= 0 && serve_stream(uds_c, uds_c, cmd.size);
                        break;
                    case m_tcp:
                        if (tcp_c < 0) {
                            tcp_c = accept_within(tcp_l, 10000);
                            if (tcp_c >= 0) set_nodelay(tcp_c);
                        }
                        ok = tcp_c >= 0 && serve_stream(tcp_c, tcp_c, cmd.size);
                        break;
                    case m_mq: ok = serve_mq(mq); break;
#ifdef VENOM_BENCH_HAVE_ZMQ
                    case m_zmq: ok = serve_zmq(zmq); break;
#endif
                    default: ok = false;
                    }
                    if (!ok)
                        error = std::string("serving ") + mech_info(cmd.mech).label + " failed";
                } else if (cmd.op == op_updates) {
                    std::int64_t next = now_ns();
                    std::uint64_t prev_v = 0;
                    for (std::uint64_t i = 0; i < cmd.count; ++i) {
                        if (cmd.spin_gap != 0) {
                            // The reader has seen the previous update (or 1 s passed), then
                            // the gap, spinning: the writer never sleeps, and no update is
                            // coalesced with the next even when the reader is slow to run.
                            const std::int64_t give_up = now_ns() + 1000000000LL;
                            while (prev_v != 0 &&
                                   ctl->upd_seen.load(std::memory_order_acquire) < prev_v &&
                                   now_ns() < give_up)
                                cpu_relax();
                            next = now_ns() + cmd.gap_ns;
                            while (now_ns() < next) cpu_relax();
                        } else {
                            next += cmd.gap_ns;
                            sleep_until_ns(next);
                        }
                        std::uint64_t v = 0;
                        std::int64_t t_call = 0, t_ret = 0;
                        if (cmd.mech == m_venom_default || cmd.mech == m_venom_busy) {
                            venom::DaemonChannel& d = cmd.mech == m_venom_busy ? busy : dflt;
                            v = d.version() + 1;
                            stamp(buf.data(), cmd.size, v);
                            t_call = now_ns();
                            d.write_data(buf.data(), cmd.size);
                            t_ret = now_ns();
                        } else if (cmd.mech == m_floor_spin) {
                            v = ctl->raw_version.load(std::memory_order_relaxed) + 1;
                            stamp(buf.data(), cmd.size, v);
                            t_call = now_ns();
                            std::memcpy(ctl->raw_state, buf.data(), cmd.size);
                            ctl->raw_version.store(v, std::memory_order_release);
                            t_ret = now_ns();
                        } else {
                            const std::uint32_t v32 =
                                ctl->raw_version32.load(std::memory_order_relaxed) + 1;
                            v = v32;
                            stamp(buf.data(), cmd.size, v);
                            t_call = now_ns();
                            std::memcpy(ctl->raw_state, buf.data(), cmd.size);
                            ctl->raw_version32.store(v32, std::memory_order_release);
                            futex_wake(&ctl->raw_version32);
                            t_ret = now_ns();
                        }
                        prev_v = v;
                        Stamp& s = ctl->ring[v % ring_size];
                        s.t_call = t_call;
                        s.t_return.store(t_ret, std::memory_order_relaxed);
                        s.version.store(v, std::memory_order_release);
                    }
                } else if (cmd.op == op_exit) {
                    // below
                } else {
                    error = "unknown peer command";
                }
            } catch (const std::exception& e) {
                error = e.what();
            }
            if (!error.empty()) {
                status = 1;
                const std::size_t n = std::min(error.size(), sizeof ctl->cmd_error - 1);
                std::memcpy(ctl->cmd_error, error.data(), n);
                ctl->cmd_error[n] = 0;
            }
            ctl->cmd_status.store(status);
            ctl->done_seq.store(seen, std::memory_order_release);
            futex_wake(&ctl->done_seq);
            if (cmd.op == op_exit) break;
        }
        if (uds_c >= 0) ::close(uds_c);
        if (tcp_c >= 0) ::close(tcp_c);
        ::close(uds_l);
        ::close(tcp_l);
        return 0;
    } catch (const std::exception& e) {
        set_slot_error(me, e.what());
        return 1;
    }
}

// ---- the parent's side: a session with the peer --------------------------------------------

/// Spawns the peer on cpu_a, connects every client, and tears everything down at the end.
class PeerSession {
public:
    explicit PeerSession(const Settings& s) : s_(s), ctl_(*s.ctl) {
        ctl_.reset();
        ctl_->cmd_seq.store(0);
        ctl_->done_seq.store(0);
        chan_busy_ = s.chan("lb");
        chan_default_ = s.chan("ld");
        uds_ = "venom_bench." + s.run_id;
        mq_ = s.run_id + ".mq";
        cleanup_list().add("/dev/shm/" + mq_ + ".req");
        cleanup_list().add("/dev/shm/" + mq_ + ".resp");
        zmq_path_ = "/tmp/venom_bench." + s.run_id + ".zmq";
        cleanup_list().add(zmq_path_);

        // Pipes: moved above fd 64 so that the child's dup2 to 3 and 4 never meets itself.
        int req[2], resp[2];
        if (::pipe2(req, O_CLOEXEC) != 0 || ::pipe2(resp, O_CLOEXEC) != 0) fail_errno("pipe2");
        auto high = [](int fd) {
            const int h = ::fcntl(fd, F_DUPFD_CLOEXEC, 64);
            ::close(fd);
            return h;
        };
        for (int* p : {&req[0], &req[1], &resp[0], &resp[1]}) *p = high(*p);
        peer_ = Child::spawn(role_argv("peer", {{"ctl", ctl_.name()},
                                                {"cpu", std::to_string(s.cpu_a)},
                                                {"chan_busy", chan_busy_},
                                                {"chan_default", chan_default_},
                                                {"uds", uds_},
                                                {"mq", mq_},
                                                {"zmq", "ipc://" + zmq_path_}}),
                             {{req[0], 3}, {resp[1], 4}});
        ::close(req[0]);
        ::close(resp[1]);
        pipe_.wfd = req[1];
        pipe_.rfd = resp[0];
        pipe_.what = "pipe";
        wait_ready(*ctl_, 0, 1, 30000000000LL, "peer");

        shell_busy_ = std::make_unique<venom::ShellChannel>(
            venom::ShellChannel::connect(chan_busy_, shell_options(venom::WaitPolicy::busy_poll)));
        shell_default_ = std::make_unique<venom::ShellChannel>(venom::ShellChannel::connect(
            chan_default_, shell_options(venom::WaitPolicy::spin_then_block)));
        uds_fd_ = uds_connect(uds_);
        tcp_fd_ = tcp_connect(ctl_->tcp_port);
        mqp_ = MqPair::open(mq_);
#ifdef VENOM_BENCH_HAVE_ZMQ
        zmq_.connect("ipc://" + zmq_path_);
#endif
    }

    ~PeerSession() {
        try {
            post(PeerCommand{op_exit, 0, 0, 0, 0});
            wait_done(5000000000LL);
        } catch (...) {}
        peer_.wait(5000000000LL);
        for (int fd : {pipe_.rfd, pipe_.wfd, uds_fd_, tcp_fd_})
            if (fd >= 0) ::close(fd);
    }

    void post(const PeerCommand& c) {
        ctl_->cmd = c;
        ctl_->cmd_status.store(0);
        const std::uint32_t s = ctl_->cmd_seq.load() + 1;
        ctl_->cmd_seq.store(s, std::memory_order_release);
        futex_wake(&ctl_->cmd_seq);
        posted_ = s;
    }
    void wait_done(std::int64_t limit_ns) {
        const std::int64_t end = now_ns() + limit_ns;
        std::uint32_t cur;
        while ((cur = ctl_->done_seq.load(std::memory_order_acquire)) != posted_) {
            if (now_ns() > end) fail("the peer did not finish its command in time");
            if (!peer_.running()) fail("the peer is gone");
            futex_wait(&ctl_->done_seq, cur, 50000000);
        }
        if (ctl_->cmd_status.load() != 0) fail(std::string("peer: ") + ctl_->cmd_error);
    }

    /// One measuring segment of `m`: warm-up, then up to `iters` timed round trips of n bytes
    /// (each after a pause of gap_ns, if any), appended to `out`; ends with the quit request.
    /// Returns the number of answers that were not the request echoed.
    std::uint64_t segment(std::uint32_t m, std::size_t n, std::uint64_t iters, std::uint64_t warmup,
                          std::int64_t gap_ns, std::int64_t limit_ns,
                          std::vector<std::uint32_t>& out) {
        post(PeerCommand{op_serve, m, n, 0, 0});
        std::uint64_t bad = 0;
        switch (m) {
        case m_floor_spin: {
            FloorSpinClient c{&*ctl_, spin_seq_};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            spin_seq_ = c.seq;
            break;
        }
        case m_floor_futex: {
            FloorFutexClient c{&*ctl_, futex_seq_};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            futex_seq_ = c.seq;
            break;
        }
        case m_venom_busy: {
            VenomClient c{shell_busy_.get()};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
        case m_venom_default: {
            VenomClient c{shell_default_.get()};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
        case m_pipe: bad = run(pipe_, n, iters, warmup, gap_ns, limit_ns, out); break;
        case m_uds: {
            StreamClient c{uds_fd_, uds_fd_, "unix socket"};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
        case m_tcp: {
            StreamClient c{tcp_fd_, tcp_fd_, "tcp"};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
        case m_mq: {
            MqClient c{&mqp_};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
#ifdef VENOM_BENCH_HAVE_ZMQ
        case m_zmq: {
            ZmqClient c{&zmq_};
            bad = run(c, n, iters, warmup, gap_ns, limit_ns, out);
            break;
        }
#endif
        default: fail("mechanism not available");
        }
        wait_done(30000000000LL);
        return bad;
    }

    venom::ShellChannel& shell(bool busy) { return busy ? *shell_busy_ : *shell_default_; }
    Ctl& ctl() { return *ctl_; }

private:
    struct VenomClient {
        venom::ShellChannel* s;
        void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n, bool = false) {
            std::error_code ec;
            const std::size_t got = s->request(req, n, resp, max_msg, std::chrono::seconds(20), ec);
            if (ec) fail("venom request: " + ec.message() + " " + s->last_error_text());
            if (got != n) fail("venom request: answer of " + std::to_string(got) + " bytes");
        }
    };

    template <class Client>
    static std::uint64_t run(Client& c, std::size_t n, std::uint64_t iters, std::uint64_t warmup,
                             std::int64_t gap_ns, std::int64_t limit_ns,
                             std::vector<std::uint32_t>& out) {
        unsigned char req[max_msg], resp[max_msg];
        for (std::size_t i = 0; i < n; ++i) req[i] = static_cast<unsigned char>(i * 131 + 7);
        req[0] = 'R';
        std::uint64_t bad = 0;
        const std::int64_t start = now_ns();
        for (std::uint64_t i = 0; i < warmup + iters; ++i) {
            if (gap_ns > 0) sleep_ns(gap_ns);
            std::memcpy(req + 8, &i, 8);
            const std::int64_t t0 = now_ns();
            c.roundtrip(req, resp, n);
            const std::int64_t t1 = now_ns();
            if (std::memcmp(resp, req, 16) != 0 || resp[n - 1] != req[n - 1]) ++bad;
            if (i >= warmup)
                out.push_back(
                    static_cast<std::uint32_t>(std::min<std::int64_t>(t1 - t0, UINT32_MAX)));
            if (t1 - start > limit_ns && i >= warmup + 10) break;
        }
        if (std::memcmp(resp, req, n) != 0) ++bad;
        req[0] = 'Q';
        c.roundtrip(req, resp, n, true);
        return bad;
    }

    const Settings& s_;
    CtlSegment& ctl_;
    Child peer_;
    std::string chan_busy_, chan_default_, uds_, mq_, zmq_path_;
    std::uint32_t posted_ = 0;
    std::uint64_t spin_seq_ = 0;
    std::uint32_t futex_seq_ = 0;
    StreamClient pipe_;
    int uds_fd_ = -1, tcp_fd_ = -1;
    MqPair mqp_;
#ifdef VENOM_BENCH_HAVE_ZMQ
    ZmqSocket zmq_;
#endif
    std::unique_ptr<venom::ShellChannel> shell_busy_, shell_default_;
};

/// Pins the parent to cpu_b for a scenario and restores its affinity afterwards.
struct ParentPin {
    std::vector<int> saved = allowed_cpus();
    explicit ParentPin(int cpu) { pin_self(cpu); }
    ~ParentPin() { set_affinity(saved); }
};

// ---- rpc-latency -------------------------------------------------------------------------------

inline void scenario_rpc_latency(const Settings& s, Report& rep, Checks& chk) {
    progress().set("rpc-latency: starting the peer", true);
    ParentPin pin(s.cpu_b);
    PeerSession peer(s);

    std::vector<std::uint32_t> mechs{m_floor_spin, m_venom_busy, m_venom_default, m_pipe, m_uds,
                                     m_tcp,        m_mq};
    if (zmq_available()) mechs.push_back(m_zmq);
    else rep.notes.push_back("zeromq: skipped (libzmq not installed)");

    const std::size_t ns = s.rpc_sizes.size();
    // samples[m][size], and per-round p50 / p99 for the ratios
    std::vector<std::vector<std::vector<std::uint32_t>>> samples(
        m_count, std::vector<std::vector<std::uint32_t>>(ns));
    std::vector<std::vector<std::vector<double>>> r50(m_count,
                                                      std::vector<std::vector<double>>(ns)),
        r99 = r50;
    std::vector<std::uint64_t> bad(m_count, 0);
    const auto limit = static_cast<std::int64_t>(s.segment_limit_s * 1e9);

    for (int r = 0; r < s.rounds; ++r) {
        for (std::size_t si = 0; si < ns; ++si) {
            for (std::uint32_t m : mechs) {
                progress().set("rpc-latency: round " + std::to_string(r + 1) + "/" +
                               std::to_string(s.rounds) + ", " + fmt_size(s.rpc_sizes[si]) + ", " +
                               mech_info(m).label);
                const bool fast = m == m_floor_spin || m == m_venom_busy || m == m_venom_default;
                std::vector<std::uint32_t> seg;
                bad[m] += peer.segment(m, s.rpc_sizes[si], fast ? s.fast_iters : s.slow_iters,
                                       fast ? 2000 : 100, 0, limit, seg);
                std::vector<std::uint32_t> sorted = seg;
                const Summary sm = summarize(sorted);
                r50[m][si].push_back(sm.p50);
                r99[m][si].push_back(sm.p99);
                samples[m][si].insert(samples[m][si].end(), seg.begin(), seg.end());
            }
        }
    }
    // The blocking path: a pause before every request, so both sides are asleep.
    std::vector<std::uint32_t> idle_samples[2];
    std::vector<double> idle50[2], idle99[2];
    std::uint64_t idle_bad = 0;
    for (int r = 0; r < s.rounds; ++r) {
        int k = 0;
        for (std::uint32_t m : {m_floor_futex, m_venom_default}) {
            progress().set("rpc-latency: blocking path, round " + std::to_string(r + 1) + "/" +
                           std::to_string(s.rounds) + ", " + mech_info(m).label);
            std::vector<std::uint32_t> seg;
            idle_bad +=
                peer.segment(m, s.idle_size, s.idle_iters, 5, s.idle_gap_ns,
                             static_cast<std::int64_t>(s.idle_iters) * s.idle_gap_ns * 4, seg);
            std::vector<std::uint32_t> sorted = seg;
            const Summary sm = summarize(sorted);
            idle50[k].push_back(sm.p50);
            idle99[k].push_back(sm.p99);
            idle_samples[k].insert(idle_samples[k].end(), seg.begin(), seg.end());
            ++k;
        }
    }

    // ---- records and table
    auto ratio_rounds = [](const std::vector<double>& a, const std::vector<double>& b) {
        std::vector<double> q;
        for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) q.push_back(a[i] / b[i]);
        return median(q);
    };
    Table t("rpc-latency: echo round trip, shell and daemon in two processes" +
                std::string(s.cpu_a >= 0 ? " pinned to CPUs " + std::to_string(s.cpu_a) + "/" +
                                               std::to_string(s.cpu_b)
                                         : " (not pinned)") +
                "; " + std::to_string(s.rounds) +
                " interleaved rounds; ratios are medians of per-round ratios",
            {"size", "mechanism", "p50", "p90", "p99", "p99.9", "max", "samples", "venom/floor p50",
             "venom/floor p99", "alt/venom p50", "alt/venom p99"},
            2);
    for (std::size_t si = 0; si < ns; ++si) {
        const std::size_t n = s.rpc_sizes[si];
        for (std::uint32_t m : mechs) {
            auto v = samples[m][si];
            const Summary sm = summarize(v);
            Record rec{"rpc-latency", mech_info(m).key, mech_info(m).variant, n, 1, {}, ""};
            rec.add_summary(sm);
            rec.set("round_p50_min_ns", *std::min_element(r50[m][si].begin(), r50[m][si].end()));
            rec.set("round_p50_max_ns", *std::max_element(r50[m][si].begin(), r50[m][si].end()));
            std::string vf50, vf99, av50, av99;
            if (m == m_venom_busy || m == m_venom_default) {
                const double q50 = ratio_rounds(r50[m][si], r50[m_floor_spin][si]);
                const double q99 = ratio_rounds(r99[m][si], r99[m_floor_spin][si]);
                rec.set("ratio_p50_vs_floor", q50).set("ratio_p99_vs_floor", q99);
                vf50 = fmt_ratio(q50);
                vf99 = fmt_ratio(q99);
            } else if (m != m_floor_spin) {
                const double q50 = ratio_rounds(r50[m][si], r50[m_venom_default][si]);
                const double q99 = ratio_rounds(r99[m][si], r99[m_venom_default][si]);
                rec.set("ratio_p50_vs_venom", q50).set("ratio_p99_vs_venom", q99);
                av50 = fmt_ratio(q50);
                av99 = fmt_ratio(q99);
            }
            rep.add(rec);
            t.row({m == mechs.front() ? fmt_size(n) : "", mech_info(m).label, fmt_ns(sm.p50),
                   fmt_ns(sm.p90), fmt_ns(sm.p99), fmt_ns(sm.p999), fmt_ns(sm.max),
                   std::to_string(sm.n), vf50, vf99, av50, av99});
            chk.expect(sm.n > 0 && sm.p50 > 0, std::string("rpc-latency: no samples for ") +
                                                   mech_info(m).label + " at " + fmt_size(n));
        }
        t.separator();
    }
    for (std::uint32_t m : mechs)
        chk.expect(bad[m] == 0, std::string("rpc-latency: ") + std::to_string(bad[m]) +
                                    " wrong answers from " + mech_info(m).label);
    chk.expect(idle_bad == 0, "rpc-latency: wrong answers on the blocking path");

    {
        int k = 0;
        for (std::uint32_t m : {m_floor_futex, m_venom_default}) {
            auto v = idle_samples[k];
            const Summary sm = summarize(v);
            Record rec{"rpc-latency", mech_info(m).key, "after-idle", s.idle_size, 1, {}, ""};
            rec.add_summary(sm);
            rec.set("gap_ns", static_cast<double>(s.idle_gap_ns));
            std::string vf50, vf99;
            if (m == m_venom_default) {
                const double q50 = ratio_rounds(idle50[1], idle50[0]);
                const double q99 = ratio_rounds(idle99[1], idle99[0]);
                rec.set("ratio_p50_vs_floor", q50).set("ratio_p99_vs_floor", q99);
                vf50 = fmt_ratio(q50);
                vf99 = fmt_ratio(q99);
            }
            rep.add(rec);
            t.row({k == 0 ? fmt_size(s.idle_size) : "",
                   std::string(m == m_floor_futex ? "floor: futex ping-pong" : "venom default") +
                       ", after " + fmt_ns(static_cast<double>(s.idle_gap_ns)) + " idle",
                   fmt_ns(sm.p50), fmt_ns(sm.p90), fmt_ns(sm.p99), fmt_ns(sm.p999), fmt_ns(sm.max),
                   std::to_string(sm.n), vf50, vf99, "", ""});
            chk.expect(sm.n > 0 && sm.p50 > 0, "rpc-latency: no samples on the blocking path");
            ++k;
        }
    }
    rep.tables.push_back(t.str());
}

// ---- update-latency ----------------------------------------------------------------------------

inline void scenario_update_latency(const Settings& s, Report& rep, Checks& chk) {
    progress().set("update-latency: starting the peer", true);
    ParentPin pin(s.cpu_b);
    PeerSession peer(s);
    Ctl& c = peer.ctl();

    // floor-spin, venom busy_poll reader, floor-futex, venom default reader (a writer that
    // sleeps between updates); floor-spin and venom busy_poll again with a hot writer
    constexpr int rows = 6;
    const std::uint32_t mechs[rows] = {m_floor_spin,    m_venom_busy, m_floor_futex,
                                       m_venom_default, m_floor_spin, m_venom_busy};
    auto hot = [](int k) { return k >= 4; };
    auto gap_of = [&](int k) { return hot(k) ? s.upd_hot_gap_ns : s.upd_gap_ns; };
    Table t(
        "update-latency: from write_data returning to a waiting reader seeing the new version "
        "(negative: seen before the call returned); writer and reader pinned apart; one update "
        "every " +
            fmt_ns(static_cast<double>(s.upd_gap_ns)) +
            " (the writer sleeps between them), then a hot writer",
        {"size", "reader", "p50", "p90", "p99", "p99.9", "max", "samples", "p50 from call",
         "venom/floor p50", "venom/floor p99"},
        2);
    std::vector<unsigned char> buf(65536);
    for (std::size_t size : s.upd_sizes) {
        std::vector<std::int64_t> lat[rows], from_call[rows];
        std::vector<double> r50[rows], r99[rows];
        std::uint64_t bad = 0, errors = 0, coalesced = 0;
        for (int r = 0; r < s.rounds; ++r) {
            for (int k = 0; k < rows; ++k) {
                const std::uint32_t m = mechs[k];
                const std::int64_t gap = gap_of(k);
                progress().set("update-latency: " + fmt_size(size) + ", round " +
                               std::to_string(r + 1) + "/" + std::to_string(s.rounds) + ", " +
                               mech_info(m).label + (hot(k) ? ", hot writer" : ""));
                std::vector<std::int64_t> seg;
                venom::ShellChannel* sh = (m == m_venom_busy || m == m_venom_default)
                                              ? &peer.shell(m == m_venom_busy)
                                              : nullptr;
                std::uint64_t seen = sh                  ? sh->version()
                                     : m == m_floor_spin ? c.raw_version.load()
                                                         : c.raw_version32.load();
                // The ring is shared by the mechanisms, whose version numbers run in step: clear
                // it, or a reader faster than the writer's stamp would match a stale one.
                for (auto& st : c.ring) st.version.store(0, std::memory_order_relaxed);
                c.upd_seen.store(seen, std::memory_order_relaxed);
                peer.post(PeerCommand{op_updates, m, size, s.upd_iters, gap, hot(k) ? 1u : 0u});
                // Until the writer's last version: a reader that falls behind sees two updates
                // as one (counted in `coalesced`), and must not wait for more than are coming.
                const std::uint64_t last = seen + s.upd_iters;
                for (std::uint64_t i = 0; seen < last; ++i) {
                    const std::int64_t give_up = now_ns() + 5000000000LL;
                    std::uint64_t v = 0;
                    std::int64_t t_seen = 0;
                    if (sh) {
                        if (!sh->wait_for_update(seen, std::chrono::seconds(5))) {
                            ++errors;
                            break;
                        }
                        t_seen = now_ns();
                        v = sh->version();
                    } else if (m == m_floor_spin) {
                        unsigned spins = 0;
                        while ((v = c.raw_version.load(std::memory_order_acquire)) == seen) {
                            cpu_relax();
                            if ((++spins & 0xffff) == 0 && now_ns() > give_up) break;
                        }
                        t_seen = now_ns();
                    } else {
                        std::uint32_t cur;
                        while ((cur = c.raw_version32.load(std::memory_order_acquire)) == seen) {
                            futex_wait(&c.raw_version32, cur, 50000000);
                            if (now_ns() > give_up) break;
                        }
                        t_seen = now_ns();
                        v = cur;
                    }
                    if (v == seen) {
                        ++errors;
                        break;
                    }
                    coalesced += v - seen - 1;
                    Stamp& st = c.ring[v % ring_size];
                    while (st.version.load(std::memory_order_acquire) != v)
                        if (now_ns() > give_up)
                            fail("update-latency: the writer's stamp never came");
                    if (i >= 2) { // the first two: warm-up
                        seg.push_back(t_seen - st.t_return.load(std::memory_order_relaxed));
                        from_call[k].push_back(t_seen - st.t_call);
                    }
                    if (sh) { // the reader sees that version's bytes, whole
                        std::error_code ec;
                        std::uint64_t ver = 0;
                        const std::size_t len = sh->read_data(buf.data(), buf.size(), ec, &ver);
                        if (ec || len != size || ver < v || !stamp_ok(buf.data(), len, ver)) ++bad;
                    }
                    seen = v;
                    c.upd_seen.store(v, std::memory_order_release); // for the hot writer
                }
                peer.wait_done(static_cast<std::int64_t>(s.upd_iters) * gap * 4 + 10000000000LL);
                std::vector<std::int64_t> sorted = seg;
                const Summary sm = summarize(sorted);
                r50[k].push_back(sm.p50);
                r99[k].push_back(sm.p99);
                lat[k].insert(lat[k].end(), seg.begin(), seg.end());
            }
        }
        chk.expect(bad == 0, "update-latency: " + std::to_string(bad) + " wrong states read");
        chk.expect(errors == 0,
                   "update-latency: " + std::to_string(errors) + " updates never seen");
        if (coalesced != 0)
            rep.notes.push_back("update-latency " + fmt_size(size) + ": the reader fell behind " +
                                std::to_string(coalesced) + " times (two updates seen as one)");
        for (int k = 0; k < rows; ++k) {
            const std::uint32_t m = mechs[k];
            const Summary sm = summarize(lat[k]);
            const Summary fc = summarize(from_call[k]);
            Record rec{"update-latency",
                       mech_info(m).key,
                       std::string(mech_info(m).variant) + (hot(k) ? "-hot-writer" : ""),
                       size,
                       1,
                       {},
                       ""};
            rec.set("gap_ns", static_cast<double>(gap_of(k)));
            rec.add_summary(sm);
            rec.set("p50_from_call_ns", fc.p50);
            std::string q50s, q99s;
            if (k == 1 || k == 3 || k == 5) {
                // Medians of per-round ratios; a round whose floor figure is not positive (the
                // reader saw the store before the writer's clock read) gives no ratio.
                const int f = k - 1;
                auto ratio_rounds = [](const std::vector<double>& a, const std::vector<double>& b) {
                    std::vector<double> q;
                    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
                        q.push_back(b[i] > 0 ? a[i] / b[i] : nan());
                    return median(q);
                };
                const double q50 = ratio_rounds(r50[k], r50[f]);
                const double q99 = ratio_rounds(r99[k], r99[f]);
                rec.set("ratio_p50_vs_floor", q50).set("ratio_p99_vs_floor", q99);
                q50s = fmt_ratio(q50);
                q99s = fmt_ratio(q99);
            }
            rep.add(rec);
            const std::string hot_label =
                "; hot writer, every " + fmt_ns(static_cast<double>(s.upd_hot_gap_ns));
            std::string label = k == 0   ? "floor: raw spin on a version word"
                                : k == 1 ? "venom wait_for_update, busy_poll"
                                : k == 2 ? "floor: raw futex wait"
                                : k == 3 ? "venom wait_for_update, default"
                                : k == 4 ? "floor: raw spin" + hot_label
                                         : "venom busy_poll" + hot_label;
            t.row({k == 0 ? fmt_size(size) : "", label, fmt_ns(sm.p50), fmt_ns(sm.p90),
                   fmt_ns(sm.p99), fmt_ns(sm.p999), fmt_ns(sm.max), std::to_string(sm.n),
                   fmt_ns(fc.p50), q50s, q99s});
            chk.expect(sm.n > 0, std::string("update-latency: no samples for ") + label);
        }
        t.separator();
    }
    rep.tables.push_back(t.str());
}

} // namespace vb
