// SPDX-License-Identifier: BSL-1.0
// bench/scenario_throughput.hpp - rpc-throughput: requests/s of 1, 2, 4, 8, 16 shells (one
// process each) against one daemon, every answer checked; more shells than cores on purpose.
// The daemon is pinned (as in rpc-latency); shell i is pinned to CPU B, then to the next CPU in
// turn, so that from 2 shells on they share the daemon's CPU, as in any deployment with more
// processes than cores (left to the kernel, the placement of 1-2 shells, and with it the
// figures, changed from run to run by 100x). The alternative:
// a Unix-socket server (one process, poll() over every connection) with the same clients.
#pragma once

#include "alternatives.hpp"
#include "settings.hpp"

#include <venom/venom.hpp>

#include <csignal>

namespace vb {

namespace detail_tp {
inline venom::DaemonChannel* g_daemon = nullptr;
inline void on_term(int) {
    if (g_daemon) g_daemon->stop(); // async-signal-safe by venom's contract
}
} // namespace detail_tp

/// Installs SIGTERM -> daemon.stop() (run() then returns and the channel is closed cleanly).
inline void stop_on_sigterm(venom::DaemonChannel& d) {
    detail_tp::g_daemon = &d;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = detail_tp::on_term;
    ::sigaction(SIGTERM, &sa, nullptr);
}

/// Role "tp_daemon": an echo daemon until SIGTERM.
inline int role_tp_daemon(const Args& a) {
    return run_in_slot(a, [&](CtlSegment&, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        venom::ChannelConfig cfg{64, 64, 64};
        cfg.max_cmd_size = static_cast<std::uint32_t>(max_msg);
        cfg.max_response_size = static_cast<std::uint32_t>(max_msg);
        cfg.wait = parse_policy(a.str("policy"));
        if (a.num("spin", -1) >= 0) cfg.spin_time = std::chrono::microseconds(a.num("spin"));
        auto d = venom::DaemonChannel::create(a.str("chan"), cfg);
        stop_on_sigterm(d);
        me.ready.store(1);
        std::uint64_t handled = 0;
        d.run([&](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& out) {
            std::memcpy(out.data(), cmd.data(), cmd.size());
            out.resize(cmd.size());
            ++handled;
        });
        me.ops.store(handled);
        me.done.store(1);
        return 0;
    });
}

/// The client loop shared by venom shells and socket clients: waits for go, then sends
/// requests until stop, checking every answer.
template <class Roundtrip> void client_loop(Ctl& c, ChildSlot& me, std::size_t n, Roundtrip&& rt) {
    std::vector<unsigned char> req(n), resp(max_msg);
    for (std::size_t i = 0; i < n; ++i) req[i] = static_cast<unsigned char>(i * 7 + 1);
    me.ready.store(1);
    if (!wait_change(c.go, 0, 60000000000LL, c.parent_pid)) fail("no start signal");
    std::uint64_t ops = 0, bad = 0, errors = 0;
    while (c.stop.load(std::memory_order_relaxed) == 0) {
        std::memcpy(req.data(), &ops, 8);
        if (!rt(req.data(), resp.data(), n)) {
            ++errors;
            break;
        }
        if (std::memcmp(req.data(), resp.data(), n) != 0) ++bad;
        ++ops;
    }
    me.ops.store(ops);
    me.bad.store(bad);
    me.errors.store(errors);
    me.done.store(1);
}

/// Role "tp_shell": one venom shell.
inline int role_tp_shell(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        venom::ShellOptions o = shell_options(parse_policy(a.str("policy")));
        if (a.num("spin", -1) >= 0) o.spin_time = std::chrono::microseconds(a.num("spin"));
        auto sh = connect_when_up(a.str("chan"), o);
        client_loop(*ctl, me, static_cast<std::size_t>(a.num("size", 64)),
                    [&](const unsigned char* q, unsigned char* r, std::size_t n) {
                        std::error_code ec;
                        const std::size_t got =
                            sh.request(q, n, r, max_msg, std::chrono::seconds(20), ec);
                        return !ec && got == n;
                    });
        return 0;
    });
}

/// Role "tp_uds_server": one process, poll() over every client connection, echo.
inline int role_tp_uds_server(const Args& a) {
    return run_in_slot(a, [&](CtlSegment&, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        const int l = uds_listen(a.str("uds"), 1024);
        const auto clients = static_cast<int>(a.num("clients"));
        const auto n = static_cast<std::size_t>(a.num("size", 64));
        me.ready.store(1);
        std::vector<pollfd> fds;
        for (int i = 0; i < clients; ++i) {
            const int fd = accept_within(l, 20000);
            if (fd < 0) fail("a client did not connect");
            fds.push_back(pollfd{fd, POLLIN, 0});
        }
        unsigned char buf[max_msg];
        int open = clients;
        const std::int64_t give_up = now_ns() + 600000000000LL;
        while (open > 0 && now_ns() < give_up) {
            if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) fail_errno("poll");
            for (auto& p : fds) {
                if (p.fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                if (!read_all(p.fd, buf, n) || !write_all(p.fd, buf, n)) {
                    ::close(p.fd);
                    p.fd = -1;
                    --open;
                }
            }
        }
        ::close(l);
        me.done.store(1);
        return 0;
    });
}

/// Role "tp_uds_client".
inline int role_tp_uds_client(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        int fd = -1;
        const std::int64_t end = now_ns() + 20000000000LL;
        while (fd < 0) {
            try {
                fd = uds_connect(a.str("uds"));
            } catch (const std::exception&) {
                if (now_ns() > end) throw;
                sleep_ns(2000000);
            }
        }
        client_loop(*ctl, me, static_cast<std::size_t>(a.num("size", 64)),
                    [&](const unsigned char* q, unsigned char* r, std::size_t n) {
                        return write_all(fd, q, n) && read_all(fd, r, n);
                    });
        ::close(fd);
        return 0;
    });
}

struct TpPoint {
    double rate = 0, server_cpu = 0, clients_cpu = 0;
    std::uint64_t ops = 0, bad = 0, errors = 0;
};

/// One measurement: a server and `shells` clients for tp_seconds.
inline TpPoint tp_point(const Settings& s, const std::string& mech, venom::WaitPolicy policy,
                        int shells) {
    CtlSegment& ctl = *s.ctl;
    ctl.reset();
    const bool venom_mech = mech == "venom";
    const std::string name = venom_mech ? s.chan("tp") : "venom_bench." + s.run_id + ".tp";
    const std::string size = std::to_string(s.tp_size);
    Child server =
        venom_mech ? Child::spawn(role_argv("tp_daemon", {{"ctl", ctl.name()},
                                                          {"slot", "0"},
                                                          {"chan", name},
                                                          {"cpu", std::to_string(s.cpu_a)},
                                                          {"spin", std::to_string(s.tp_spin_us)},
                                                          {"policy", policy_name(policy)}}))
                   : Child::spawn(role_argv("tp_uds_server", {{"ctl", ctl.name()},
                                                              {"slot", "0"},
                                                              {"uds", name},
                                                              {"cpu", std::to_string(s.cpu_a)},
                                                              {"clients", std::to_string(shells)},
                                                              {"size", size}}));
    wait_ready(*ctl, 0, 1, 30000000000LL, "server");
    std::vector<Child> clients;
    for (int i = 0; i < shells; ++i) {
        const std::string slot = std::to_string(1 + i);
        clients.push_back(
            venom_mech
                ? Child::spawn(role_argv("tp_shell", {{"ctl", ctl.name()},
                                                      {"slot", slot},
                                                      {"chan", name},
                                                      {"cpu", std::to_string(s.cpu_for(i))},
                                                      {"spin", std::to_string(s.tp_spin_us)},
                                                      {"policy", policy_name(policy)},
                                                      {"size", size}}))
                : Child::spawn(role_argv("tp_uds_client", {{"ctl", ctl.name()},
                                                           {"slot", slot},
                                                           {"cpu", std::to_string(s.cpu_for(i))},
                                                           {"uds", name},
                                                           {"size", size}})));
    }
    wait_ready(*ctl, 1, shells, 30000000000LL, "client");
    sleep_ns(20000000); // let every client reach its wait for go

    auto clients_cpu = [&] {
        std::int64_t t = 0;
        for (auto& c : clients) t += std::max<std::int64_t>(0, process_cpu_ns(c.pid()));
        return t;
    };
    const std::int64_t d0 = process_cpu_ns(server.pid()), c0 = clients_cpu();
    const std::int64_t t0 = now_ns();
    ctl->go.store(1);
    futex_wake(&ctl->go);
    sleep_ns(static_cast<std::int64_t>(s.tp_seconds * 1e9));
    ctl->stop.store(1);
    const std::int64_t t1 = now_ns();
    const std::int64_t d1 = process_cpu_ns(server.pid()), c1 = clients_cpu();

    TpPoint p;
    for (int i = 0; i < shells; ++i) {
        const int rc = clients[static_cast<std::size_t>(i)].wait(60000000000LL);
        ChildSlot& sl = ctl->slots[1 + i];
        if (rc != 0 || sl.status.load() != 0)
            fail("rpc-throughput: client " + std::to_string(i) + " failed (exit " +
                 std::to_string(rc) + "): " + sl.error);
        p.ops += sl.ops.load();
        p.bad += sl.bad.load();
        p.errors += sl.errors.load();
    }
    if (venom_mech) server.signal(SIGTERM);
    const int rc = server.wait(20000000000LL);
    if (rc != 0)
        fail("rpc-throughput: the server failed (exit " + std::to_string(rc) +
             "): " + ctl->slots[0].error);
    const double wall = static_cast<double>(t1 - t0);
    p.rate = static_cast<double>(p.ops) / (wall / 1e9);
    p.server_cpu = 100.0 * static_cast<double>(d1 - d0) / wall;
    p.clients_cpu = 100.0 * static_cast<double>(c1 - c0) / wall;
    return p;
}

inline void scenario_rpc_throughput(const Settings& s, Report& rep, Checks& chk) {
    struct M {
        std::string mech;
        venom::WaitPolicy policy;
        std::string label;
    };
    const std::vector<M> mechs{
        {"venom", venom::WaitPolicy::spin_then_block, "venom default"},
        {"venom", venom::WaitPolicy::busy_poll, "venom busy_poll"},
        {"uds", venom::WaitPolicy::spin_then_block, "unix socket (poll server)"}};
    Table t(
        "rpc-throughput: " + fmt_size(s.tp_size) +
            " echo requests, one daemon (server) and N shells "
            "(clients), one process each; " +
            (s.cpu_a >= 0 ? "the daemon pinned to CPU " + std::to_string(s.cpu_a) +
                                ", shell i to CPU " + std::to_string(s.cpu_b) +
                                ", then the next CPU in turn (from 2 shells on, shells share the "
                                "daemon's CPU)"
                          : std::string("nothing pinned")) +
            "; " + fmt("%.1f", s.tp_seconds) + " s per point" +
            (s.tp_spin_us >= 0 ? "; spin_time " + std::to_string(s.tp_spin_us) + " us (--spin-us)"
                               : std::string()),
        {"mechanism", "shells", "requests/s", "per shell", "vs 1 shell", "daemon CPU", "shells CPU",
         "venom/uds"},
        1);
    std::vector<double> venom_default_rates;
    for (const M& m : mechs) {
        double one = nan();
        std::size_t idx = 0;
        for (int n : s.tp_shells) {
            progress().set("rpc-throughput: " + m.label + ", " + std::to_string(n) + " shells",
                           true);
            const TpPoint p = tp_point(s, m.mech, m.policy, n);
            if (n == s.tp_shells.front()) one = p.rate;
            Record rec{"rpc-throughput",
                       m.mech,
                       m.mech == "venom" ? policy_name(m.policy) : "poll",
                       s.tp_size,
                       n,
                       {},
                       ""};
            rec.set("requests_per_s", p.rate)
                .set("daemon_cpu_pct", p.server_cpu)
                .set("shells_cpu_pct", p.clients_cpu)
                .set("ratio_vs_first", p.rate / one)
                .set("errors", static_cast<double>(p.errors))
                .set("wrong_answers", static_cast<double>(p.bad));
            std::string vu;
            if (m.mech == "venom" && m.policy == venom::WaitPolicy::spin_then_block)
                venom_default_rates.push_back(p.rate);
            if (m.mech == "uds" && idx < venom_default_rates.size()) {
                const double q = venom_default_rates[idx] / p.rate;
                rec.set("venom_default_vs_this", q);
                vu = fmt_ratio(q);
            }
            rep.add(rec);
            t.row({n == s.tp_shells.front() ? m.label : "", std::to_string(n), fmt_rate(p.rate),
                   fmt_rate(p.rate / n), fmt_ratio(p.rate / one), fmt_pct(p.server_cpu),
                   fmt_pct(p.clients_cpu), vu});
            chk.expect(p.ops > 0, "rpc-throughput: no request completed (" + m.label + ", " +
                                      std::to_string(n) + " shells)");
            chk.expect(p.bad == 0 && p.errors == 0,
                       "rpc-throughput: " + std::to_string(p.bad) + " wrong answers, " +
                           std::to_string(p.errors) + " errors (" + m.label + ")");
            ++idx;
        }
        t.separator();
    }
    rep.tables.push_back(t.str());
}

} // namespace vb
