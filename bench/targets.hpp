// SPDX-License-Identifier: BSL-1.0
// bench/targets.hpp - the performance targets, judged on the figures of this run. They
// are benchmark figures, not tests: a miss is reported (and explained in the README), never
// turned into a failure exit.
#pragma once

#include "results.hpp"

#include <functional>
#include <string>

namespace vb {

inline void judge_targets(Report& rep) {
    auto list = [&](const std::function<bool(const Record&)>& pick, const std::string& metric,
                    const std::function<bool(double)>& ok,
                    const std::function<std::string(const Record&)>& label) {
        std::string measured;
        int status = -1;
        for (const Record& r : rep.records) {
            if (!pick(r)) continue;
            const double v = r.get(metric);
            if (std::isnan(v)) continue;
            if (!measured.empty()) measured += ", ";
            // three decimals below 10x: a figure at the threshold shows which side it is on
            measured += label(r) + " " +
                        (v < 0.01 ? fmt("%.2gx", v)
                         : v < 10 ? fmt("%.3fx", v)
                                  : fmt_ratio(v));
            const bool good = ok(v);
            status = status == -1 ? (good ? 1 : 0) : (status == 1 && good ? 1 : 0);
        }
        return std::make_pair(measured, status);
    };
    auto by_size = [](const Record& r) { return fmt_size(r.size); };
    auto add = [&](const std::string& what, std::pair<std::string, int> m) {
        rep.targets.push_back(Target{what, m.first.empty() ? "not measured" : m.first, m.second});
    };

    // Issue "Layout 4" (layout 5 in the code): the small round trip at the floor, p99 within 2x.
    for (const char* policy : {"busy_poll", "spin_then_block"}) {
        const std::string p = policy;
        auto small = [p](const Record& r) {
            return r.scenario == "rpc-latency" && r.mechanism == "venom" && r.variant == p &&
                   r.size <= 64;
        };
        add("rpc round trip p50 <= 1.3x the raw ping-pong floor, 16 and 64 B (venom " + p + ")",
            list(
                small, "ratio_p50_vs_floor", [](double v) { return v <= 1.3; }, by_size));
        add("rpc round trip p99 <= 2x the raw ping-pong floor, 16 and 64 B (venom " + p + ")",
            list(
                small, "ratio_p99_vs_floor", [](double v) { return v <= 2.0; }, by_size));
    }
    {
        // One-way: from the write_data call to a spinning (busy_poll) reader seeing the version,
        // with a hot writer (it spins between updates: its code and lines warm, as a feed
        // handler's), against half the raw round trip of the same size in this run's rpc-latency.
        double half_rtt = nan();
        for (const Record& r : rep.records)
            if (r.scenario == "rpc-latency" && r.mechanism == "floor-spin" && r.size == 64)
                half_rtt = r.get("p50_ns") / 2;
        std::string measured = "not measured";
        int status = -1;
        for (const Record& r : rep.records)
            if (r.scenario == "update-latency" && r.mechanism == "venom" &&
                r.variant == "busy_poll-hot-writer" && r.size == 64 && !std::isnan(half_rtt) &&
                half_rtt > 0) {
                const double v = r.get("p50_from_call_ns") / half_rtt;
                measured = fmt("64 B %.3fx", v) + " (" + fmt_ns(r.get("p50_from_call_ns")) +
                           " vs " + fmt_ns(half_rtt) + ")";
                status = v <= 1.5 ? 1 : 0;
            }
        rep.targets.push_back(
            Target{"state update to a spinning reader p50 <= 1.5x half the floor's round trip "
                   "(64 B, from the write_data call, hot writer)",
                   measured, status});
    }
    // Issue "Zero-copy state": a view of the 8K frame against copying it; readers' CPU at 30 fps.
    add("a view of the 8K frame (99.5 MB) costs < 1% of copying it (view / memcpy, per reader)",
        list(
            [](const Record& r) {
                return r.scenario == "zero-copy" && r.variant == "static" && r.size >= (64u << 20);
            },
            "ratio_vs_memcpy", [](double v) { return v < 0.01; },
            [](const Record& r) { return std::to_string(r.peers) + " reader(s)"; }));
    {
        std::string measured;
        int status = -1;
        for (const Record& r : rep.records)
            if (r.scenario == "zero-copy" && r.variant == "frames-hold-0.25-header" &&
                r.peers == 4 && r.get("buffers") == 3) {
                const double v = r.get("reader_cpu_pct");
                measured = fmt("%.2f%% of a core (slowest of 4)", v);
                status = v < 1.0 ? 1 : 0;
            }
        rep.targets.push_back(
            Target{"4 readers viewing 8K frames at 30 fps use < 1% CPU each (3 buffers; each "
                   "checks the frame's header, not 1024 sampled words)",
                   measured.empty() ? "not measured" : measured, status});
    }
    add("unix socket p50 >= 30x venom p50 (default policy)",
        list([](const Record& r) { return r.scenario == "rpc-latency" && r.mechanism == "uds"; },
             "ratio_p50_vs_venom", [](double v) { return v >= 30; }, by_size));
    add("read_data >= 0.95x memcpy, 64 KiB .. 16 MiB (1 reader)",
        list(
            [](const Record& r) {
                return r.scenario == "broadcast" && r.mechanism == "read_data" &&
                       r.variant == "static" && r.peers == 1 && r.size >= 65536 &&
                       r.size <= (16u << 20);
            },
            "ratio_vs_memcpy", [](double v) { return v >= 0.95; }, by_size));
    add("read_data >= 1.0x memcpy at 64 MiB and up (1 reader)",
        list(
            [](const Record& r) {
                return r.scenario == "broadcast" && r.mechanism == "read_data" &&
                       r.variant == "static" && r.peers == 1 && r.size >= (64u << 20);
            },
            "ratio_vs_memcpy", [](double v) { return v >= 1.0; }, by_size));
    add("16 shells on 2 cores (default policy) >= 0.5x the throughput of 1 shell",
        list(
            [](const Record& r) {
                return r.scenario == "rpc-throughput" && r.mechanism == "venom" &&
                       r.variant == "spin_then_block" && r.peers == 16;
            },
            "ratio_vs_first", [](double v) { return v >= 0.5; },
            [](const Record&) { return std::string("16 shells vs 1:"); }));
    {
        std::string measured;
        int status = -1;
        for (const Record& r : rep.records)
            if (r.scenario == "idle" && r.variant == "spin_then_block") {
                const double d = r.get("daemon_cpu_pct"), s = r.get("shell_cpu_pct_max");
                measured = "daemon " + fmt_pct(d) + ", busiest of " + std::to_string(r.peers) +
                           " shells " + fmt_pct(s);
                status = d < 1.0 && s < 1.0 ? 1 : 0;
            }
        rep.targets.push_back(Target{"idle < 1% CPU, daemon and each shell (default policy)",
                                     measured.empty() ? "not measured" : measured, status});
    }
    add("blocking path (default policy, after idling) p50 <= 1.3x the raw futex ping-pong",
        list(
            [](const Record& r) {
                return r.scenario == "rpc-latency" && r.mechanism == "venom" &&
                       r.variant == "after-idle";
            },
            "ratio_p50_vs_floor", [](double v) { return v <= 1.3; }, by_size));
}

inline std::string targets_table(const Report& rep) {
    Table t("targets (benchmark figures of this run, not tests)", {"target", "measured", "status"},
            2);
    for (const Target& g : rep.targets)
        t.row({g.what, g.measured, g.status == 1 ? "met" : g.status == 0 ? "MISSED" : "-"});
    return t.str();
}

} // namespace vb
