// SPDX-License-Identifier: BSL-1.0
// bench/scenario_idle.hpp - idle: CPU used by a daemon waiting for commands (run()) and shells
// waiting for a state update that never comes (wait_for_update), nothing else happening, over
// 5 s; from the processes' scheduler run time (/proc/<pid>/task/*/schedstat, nanoseconds).
// The default policy is the one with the target; busy_poll is shown for contrast.
#pragma once

#include "scenario_throughput.hpp"
#include "settings.hpp"

#include <venom/venom.hpp>

namespace vb {

/// Role "idle_daemon": an echo daemon until SIGTERM.
inline int role_idle_daemon(const Args& a) {
    return run_in_slot(a, [&](CtlSegment&, ChildSlot& me) -> int {
        venom::ChannelConfig cfg{4096, 16, 16};
        cfg.wait = parse_policy(a.str("policy"));
        auto d = venom::DaemonChannel::create(a.str("chan"), cfg);
        stop_on_sigterm(d);
        me.ready.store(1);
        d.run([](std::uint32_t, venom::ByteView cmd) { return cmd.to_vector(); });
        me.done.store(1);
        return 0;
    });
}

/// Role "idle_shell": one request (checked), then waits for state updates until the daemon goes.
inline int role_idle_shell(const Args& a) {
    return run_in_slot(a, [&](CtlSegment&, ChildSlot& me) -> int {
        auto sh = connect_when_up(a.str("chan"), shell_options(parse_policy(a.str("policy"))));
        const auto answer = sh.request(std::string("are you there?"));
        if (std::string(answer.begin(), answer.end()) != "are you there?") me.bad.store(1);
        me.ready.store(1);
        const std::int64_t give_up = now_ns() + 600000000000LL;
        try {
            while (now_ns() < give_up) sh.wait_for_update(sh.version(), std::chrono::seconds(1));
        } catch (const venom::error& e) {
            if (e.code() != venom::errc::daemon_gone) throw;
        }
        me.done.store(1);
        return 0;
    });
}

inline void scenario_idle(const Settings& s, Report& rep, Checks& chk) {
    Table t(
        "idle: CPU used while nothing happens (daemon in run(), shells in wait_for_update), "
        "from each process's scheduler run time",
        {"policy", "daemon", "shells", "daemon CPU", "shell CPU (max)", "shell CPU (mean)",
         "window"},
        1);
    for (auto policy : {venom::WaitPolicy::spin_then_block, venom::WaitPolicy::busy_poll}) {
        const bool busy = policy == venom::WaitPolicy::busy_poll;
        const int shells = busy ? 1 : s.idle_shells;
        const double window = busy ? s.idle_busy_seconds : s.idle_seconds;
        progress().set(
            std::string("idle: ") + policy_name(policy) + ", " + fmt("%.1f", window) + " s", true);
        CtlSegment& ctl = *s.ctl;
        ctl.reset();
        const std::string chan = s.chan("idle");
        Child d = Child::spawn(role_argv(
            "idle_daemon",
            {{"ctl", ctl.name()}, {"slot", "0"}, {"chan", chan}, {"policy", policy_name(policy)}}));
        wait_ready(*ctl, 0, 1, 30000000000LL, "idle daemon");
        std::vector<Child> sh;
        for (int i = 0; i < shells; ++i)
            sh.push_back(Child::spawn(role_argv("idle_shell", {{"ctl", ctl.name()},
                                                               {"slot", std::to_string(1 + i)},
                                                               {"chan", chan},
                                                               {"policy", policy_name(policy)}})));
        wait_ready(*ctl, 1, shells, 30000000000LL, "idle shell");
        sleep_ns(500000000); // settle: past every spin phase
        std::vector<std::int64_t> c0, c1;
        c0.push_back(process_cpu_ns(d.pid()));
        for (auto& c : sh) c0.push_back(process_cpu_ns(c.pid()));
        const std::int64_t t0 = now_ns();
        sleep_ns(static_cast<std::int64_t>(window * 1e9));
        c1.push_back(process_cpu_ns(d.pid()));
        for (auto& c : sh) c1.push_back(process_cpu_ns(c.pid()));
        const double wall = static_cast<double>(now_ns() - t0);
        d.signal(SIGTERM);
        const int rc = d.wait(10000000000LL);
        for (std::size_t i = 0; i < sh.size(); ++i) {
            const int r = sh[i].wait(10000000000LL);
            chk.expect(r == 0 && ctl->slots[1 + i].bad.load() == 0,
                       "idle: shell " + std::to_string(i) + " failed: " + ctl->slots[1 + i].error);
        }
        chk.expect(rc == 0, std::string("idle: the daemon failed: ") + ctl->slots[0].error);
        auto pct = [&](std::size_t i) { return 100.0 * static_cast<double>(c1[i] - c0[i]) / wall; };
        const double dp = pct(0);
        double smax = 0, ssum = 0;
        for (std::size_t i = 1; i < c0.size(); ++i) {
            smax = std::max(smax, pct(i));
            ssum += pct(i);
        }
        const double smean = ssum / shells;
        rep.add(Record{"idle",
                       "venom",
                       policy_name(policy),
                       0,
                       shells,
                       {{"daemon_cpu_pct", dp},
                        {"shell_cpu_pct_max", smax},
                        {"shell_cpu_pct_mean", smean},
                        {"window_s", wall / 1e9}},
                       ""});
        t.row({busy ? "busy_poll (contrast)" : "spin_then_block (default)", "1",
               std::to_string(shells), fmt_pct(dp), fmt_pct(smax), fmt_pct(smean),
               fmt("%.1f s", wall / 1e9)});
        if (!busy)
            chk.expect(dp < 50 && smax < 50,
                       "idle: a default-policy process spins while idle (daemon " + fmt_pct(dp) +
                           ", shell " + fmt_pct(smax) + ")");
    }
    rep.tables.push_back(t.str());
}

} // namespace vb
