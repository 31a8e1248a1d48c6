// SPDX-License-Identifier: BSL-1.0
// bench/settings.hpp - how much each scenario measures in the quick (default), --full and
// --smoke modes, the CPUs to pin to, and the sanity checks a run accumulates.
#pragma once

#include "common.hpp"
#include "results.hpp"

#include <venom/venom.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace vb {

struct Settings {
    std::string mode = "quick"; ///< quick, full, smoke
    int rounds = 5;             ///< interleaved rounds (latency scenarios)

    // rpc-latency
    std::vector<std::size_t> rpc_sizes{16, 64, 1024, 4096};
    std::uint64_t fast_iters = 20000;   ///< round trips per segment: floor and venom
    std::uint64_t slow_iters = 2000;    ///< round trips per segment: the alternatives
    double segment_limit_s = 0.3;       ///< and at most this long per segment
    std::uint64_t idle_iters = 200;     ///< blocking path: round trips per segment
    std::int64_t idle_gap_ns = 1000000; ///< blocking path: pause before each round trip
    std::size_t idle_size = 64;

    // rpc-throughput
    std::vector<int> tp_shells{1, 2, 4, 8, 16};
    double tp_seconds = 1.0;
    std::size_t tp_size = 64;
    /// ShellOptions/ChannelConfig::spin_time for rpc-throughput (-1: default)
    int tp_spin_us = -1;

    // broadcast
    std::vector<std::uint64_t> bc_sizes{64, 4096, 65536, 1u << 20, 16u << 20, 64u << 20};
    std::vector<int> bc_static_readers{1, 2};
    std::vector<int> bc_flat_readers{1, 2};
    std::vector<int> bc_rate_readers{1};
    int bc_rounds = 5;
    std::uint64_t bc_batch_bytes = 64u << 20;      ///< bytes per timed batch (static)
    double bc_seconds = 0.5;                       ///< flat-out and fixed-rate runs
    double bc_rate_cap_bytes = 2e9;                ///< fixed rate: min(1 kHz, this / size) writes/s
    std::uint64_t frame_size = 7680ull * 4320 * 3; ///< the "8K frame" case
    double frame_hz = 30;
    double frame_seconds = 2.0;
    std::vector<int> frame_readers{1, 2};
    // zero-copy: per-frame cost at these sizes (and the 8K frame), with these reader counts;
    // frames at frame_hz with each (hold fraction of a frame time) x (state_buffers) x (readers)
    std::vector<std::uint64_t> zc_sizes{65536, 1u << 20, 16u << 20, 7680ull * 4320 * 3};
    std::vector<int> zc_readers{1, 4};
    std::vector<int> zc_frame_readers{1, 4};
    std::vector<std::uint32_t> zc_buffers{2, 3, 4};
    std::vector<double> zc_hold_fractions{0.25, 1.5};

    // update-latency
    std::uint64_t upd_iters = 200;     ///< updates per segment
    std::int64_t upd_gap_ns = 1000000; ///< between updates (readers go to sleep meanwhile)
    std::vector<std::size_t> upd_sizes{64};
    /// The hot-writer rows: the writer spins this long between updates instead of sleeping, so
    /// one update follows the other the way a feed handler publishes (the one-way target).
    std::int64_t upd_hot_gap_ns = 20000;

    // idle
    double idle_seconds = 5.0;
    double idle_busy_seconds = 2.0;
    int idle_shells = 3;

    // machine
    int cpu_a = -1;        ///< the daemon / server / writer
    int cpu_b = -1;        ///< the shell / client / reader
    std::vector<int> cpus; ///< every allowed CPU
    std::string run_id;    ///< unique prefix of every name this run creates
    int parent_pid = 0;
    CtlSegment* ctl = nullptr;

    /// The CPU for reader/shell #i when several are pinned: cpu_b, then the others in turn.
    int cpu_for(int i) const {
        if (cpu_b < 0 || cpus.empty()) return -1;
        std::vector<int> order{cpu_b};
        for (int c : cpus)
            if (c != cpu_b) order.push_back(c);
        return order[static_cast<std::size_t>(i) % order.size()];
    }

    std::string chan(const std::string& tag) const {
        static int counter = 0;
        const std::string n = run_id + "_" + tag + std::to_string(counter++);
        cleanup_list().add_channel(n);
        return n;
    }

    static Settings quick() { return Settings{}; }
    static Settings full() {
        Settings s;
        s.mode = "full";
        s.rounds = 20;
        s.fast_iters = 100000;
        s.slow_iters = 10000;
        s.segment_limit_s = 1.0;
        s.idle_iters = 500;
        s.tp_seconds = 3.0;
        s.bc_static_readers = {1, 2, 3, 4};
        s.bc_flat_readers = {1, 2, 3, 4};
        s.bc_rate_readers = {1, 2, 4};
        s.bc_rounds = 10;
        s.bc_seconds = 2.0;
        s.frame_seconds = 5.0;
        s.frame_readers = {1, 2, 3};
        s.zc_readers = {1, 2, 4};
        s.zc_frame_readers = {1, 2, 4};
        s.zc_hold_fractions = {0.25, 1.0, 1.5};
        s.upd_iters = 500;
        s.upd_sizes = {64, 65536};
        s.idle_busy_seconds = 5.0;
        s.idle_shells = 8;
        return s;
    }
    static Settings smoke() {
        Settings s;
        s.mode = "smoke";
        s.rounds = 1;
        s.rpc_sizes = {16, 4096};
        s.fast_iters = 2000;
        s.slow_iters = 100;
        s.segment_limit_s = 0.1;
        s.idle_iters = 20;
        s.tp_shells = {1, 4};
        s.tp_seconds = 0.2;
        s.bc_sizes = {64, 65536, 1u << 20};
        s.bc_static_readers = {1};
        s.bc_flat_readers = {1, 2};
        s.bc_rate_readers = {1};
        s.bc_rounds = 1;
        s.bc_batch_bytes = 8u << 20;
        s.bc_seconds = 0.2;
        s.frame_size = 7680ull * 4320 * 3 / 64;
        s.frame_seconds = 0.3;
        s.frame_readers = {1};
        s.zc_sizes = {65536, 1u << 20};
        s.zc_readers = {1};
        s.zc_frame_readers = {1};
        s.zc_buffers = {2, 3};
        s.zc_hold_fractions = {0.25};
        s.upd_iters = 30;
        s.idle_seconds = 0.5;
        s.idle_busy_seconds = 0.3;
        s.idle_shells = 2;
        return s;
    }
};

/// Sanity checks a run accumulates (answers wrong, figures zero, errors). Any failure makes
/// venom_bench exit non-zero.
struct Checks {
    std::vector<std::string> failures;
    void expect(bool ok, const std::string& what) {
        if (!ok) failures.push_back(what);
    }
};

/// Connects a shell, retrying while a just-spawned daemon is not up yet (at most `limit_ns`).
inline venom::ShellChannel connect_when_up(const std::string& name, const venom::ShellOptions& o,
                                           std::int64_t limit_ns = 20000000000LL) {
    const std::int64_t end = now_ns() + limit_ns;
    for (;;) {
        try {
            return venom::ShellChannel::connect(name, o);
        } catch (const venom::error& e) {
            if (e.code() != venom::errc::channel_not_found || now_ns() > end) throw;
        }
        sleep_ns(2000000);
    }
}

inline venom::ShellOptions shell_options(venom::WaitPolicy p) {
    venom::ShellOptions o;
    o.wait = p;
    o.request_timeout = std::chrono::seconds(20);
    return o;
}

inline const char* policy_name(venom::WaitPolicy p) {
    return p == venom::WaitPolicy::busy_poll ? "busy_poll" : "spin_then_block";
}
inline venom::WaitPolicy parse_policy(const std::string& s) {
    return s == "busy_poll" ? venom::WaitPolicy::busy_poll : venom::WaitPolicy::spin_then_block;
}

} // namespace vb
