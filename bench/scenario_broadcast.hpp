// SPDX-License-Identifier: BSL-1.0
// bench/scenario_broadcast.hpp - broadcast: the daemon publishes a state (write_data), readers
// copy it out (read_data), in separate processes, writer and readers pinned apart.
//
//   static      the state is written once; each reader alternates, round after round, timed
//               batches of memcpy out of a raw shared-memory buffer of the same size (written by
//               the same writer process: the floor) and of read_data. Each call copies the whole
//               state and counts once. Before that the writer times write_data against memcpy
//               into raw shared memory (the floor of writing).
//   flat-out    the writer calls write_data as fast as it can; readers call read_data as fast
//               as they can. A version counts once per reader however often it is re-read:
//               "delivered" bytes are (distinct versions read) x size.
//   fixed-rate  the writer writes min(1 kHz, 2 GB/s / size) times a second; readers wait for
//               each update (wait_for_update) and read it. The floor, first, for a quarter of the
//               time: raw frames at the same rate (memcpy into raw shared memory, a version word,
//               a futex wake), which readers memcpy out: equally fresh data, no library.
//   8k-frame    a 7680x4320x3 byte frame (~99.5 MB) at 30 Hz (~3 GB/s), readers as fixed-rate.
#pragma once

#include "floor.hpp"
#include "settings.hpp"

#include <venom/venom.hpp>

namespace vb {

enum BcMode : int { bc_static = 0, bc_flat = 1, bc_rate = 2 };

// Slot figures (ChildSlot::v) of the broadcast roles.
//   writer static: v[2r] memcpy-write GB/s, v[2r+1] write_data GB/s (round r)
//   writer flat/rate: v[0] seconds running, v[1] p50 write ns, v[2] p99 write ns
//   reader static: v[2r] memcpy GB/s, v[2r+1] read_data GB/s
//   reader flat/rate: v[0] distinct versions, v[1] seconds, v[2] p50 read ns, v[3] p99 read ns,
//                     v[5] versions missed; rate only: v[4] p50 and v[6] p99 ns of the floor's
//                     memcpy of a freshly written raw frame, v[7] how many

inline double gbps(std::uint64_t bytes, std::int64_t ns) {
    return ns > 0 ? static_cast<double>(bytes) / static_cast<double>(ns) : nan();
}

/// Role "bc_writer".
inline int role_bc_writer(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        const auto size = static_cast<std::size_t>(a.num("size"));
        const auto mode = static_cast<int>(a.num("mode"));
        venom::ChannelConfig cfg{size, 1, 64};
        auto d = venom::DaemonChannel::create(a.str("chan"), cfg);
        RawShm raw = RawShm::open(a.str("raw"));
        auto* rawp = static_cast<unsigned char*>(raw.data());
        std::vector<unsigned char> src(size);
        for (std::size_t i = 0; i < size; ++i) src[i] = static_cast<unsigned char>(i * 31 + 3);

        if (mode == bc_static) {
            const auto rounds = static_cast<int>(a.num("rounds"));
            const std::uint64_t reps =
                std::max<std::uint64_t>(2, static_cast<std::uint64_t>(a.num("batch")) / size);
            // first touch of every page: the raw buffer and each of the rotating state buffers
            time_memcpy(rawp, src.data(), size, 2);
            for (std::uint32_t i = 0; i < 2 * cfg.state_buffers; ++i)
                d.write_data(src.data(), size);
            for (int r = 0; r < rounds; ++r) {
                me.v[2 * r] = gbps(size * reps, time_memcpy(rawp, src.data(), size, reps));
                const std::int64_t t0 = now_ns();
                for (std::uint64_t i = 0; i < reps; ++i) d.write_data(src.data(), size);
                me.v[2 * r + 1] = gbps(size * reps, now_ns() - t0);
            }
            const std::uint64_t v = d.version() + 1;
            stamp(src.data(), size, v);
            std::memcpy(rawp, src.data(), size);
            d.write_data(src.data(), size);
            me.ops.store(v);
            me.ready.store(1);
            wait_change(ctl->stop, 0, 600000000000LL, ctl->parent_pid);
        } else {
            std::memcpy(rawp, src.data(), size);
            stamp(src.data(), size, 1);
            d.write_data(src.data(), size);
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            std::uint64_t writes = 0;
            std::vector<std::int64_t> dur;
            const double hz = a.real("hz");
            const std::int64_t period = mode == bc_rate ? static_cast<std::int64_t>(1e9 / hz) : 0;
            std::uint32_t raw_version = ctl->raw_version32.load();
            std::int64_t next = now_ns();
            if (mode == bc_rate) {
                // The floor first, at the same rate: the same bytes into raw shared memory,
                // announced by a version word and a futex wake, so that the readers' memcpy
                // copies a frame just written by another core, as read_data will.
                const std::int64_t floor_end =
                    next + static_cast<std::int64_t>(a.real("floor_s") * 1e9);
                while (ctl->stop.load(std::memory_order_relaxed) == 0 && now_ns() < floor_end) {
                    sleep_until_ns(next);
                    std::memcpy(rawp, src.data(), size);
                    ctl->raw_version32.store(++raw_version, std::memory_order_release);
                    futex_wake(&ctl->raw_version32);
                    next += period;
                    if (now_ns() > next + period) next = now_ns(); // fell behind: no burst
                }
                ctl->phase.store(1);
                futex_wake(&ctl->raw_version32); // readers waiting for a floor frame
            }
            const std::int64_t t0 = now_ns();
            while (ctl->stop.load(std::memory_order_relaxed) == 0) {
                if (mode == bc_rate) {
                    sleep_until_ns(next);
                    if (ctl->stop.load(std::memory_order_relaxed) != 0) break;
                    next += period;
                    if (now_ns() > next + period) next = now_ns();
                }
                stamp(src.data(), size, d.version() + 1);
                const std::int64_t w0 = now_ns();
                d.write_data(src.data(), size);
                if (mode == bc_rate || (writes & 1023) == 0) dur.push_back(now_ns() - w0);
                ++writes;
            }
            me.v[0] = static_cast<double>(now_ns() - t0) / 1e9;
            const Summary sm = summarize(dur);
            me.v[1] = sm.p50;
            me.v[2] = sm.p99;
            me.ops.store(writes);
            // Stay (the channel open) until the parent has collected every reader: a reader
            // still in wait_for_update would otherwise see daemon_gone.
            wait_change(ctl->stop, 1, 120000000000LL, ctl->parent_pid);
        }
        me.done.store(1);
        return 0;
    });
}

/// Role "bc_reader".
inline int role_bc_reader(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        const auto size = static_cast<std::size_t>(a.num("size"));
        const auto mode = static_cast<int>(a.num("mode"));
        auto sh = connect_when_up(a.str("chan"), shell_options(venom::WaitPolicy::spin_then_block));
        RawShm raw = RawShm::open(a.str("raw"));
        const auto* rawp = static_cast<const unsigned char*>(raw.data());
        std::vector<unsigned char> dst(size);
        std::memset(dst.data(), 1, size);
        std::uint64_t bad = 0, errors = 0;

        if (mode == bc_static) {
            const auto rounds = static_cast<int>(a.num("rounds"));
            const std::uint64_t reps =
                std::max<std::uint64_t>(2, static_cast<std::uint64_t>(a.num("batch")) / size);
            const std::uint64_t expect = static_cast<std::uint64_t>(a.num("version"));
            auto read_batch = [&] {
                const std::int64_t t0 = now_ns();
                std::error_code ec;
                std::uint64_t ver = 0;
                std::size_t len = 0;
                for (std::uint64_t i = 0; i < reps; ++i) {
                    len = sh.read_data(dst.data(), size, ec, &ver);
                    if (ec || len != size) ++errors;
                }
                const std::int64_t t = now_ns() - t0;
                if (ver != expect || !stamp_ok(dst.data(), len, ver)) ++bad;
                return t;
            };
            time_memcpy(dst.data(), rawp, size, 1); // warm-up: first touch of both
            read_batch();
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            for (int r = 0; r < rounds; ++r) {
                me.v[2 * r] = gbps(size * reps, time_memcpy(dst.data(), rawp, size, reps));
                me.v[2 * r + 1] = gbps(size * reps, read_batch());
            }
            if (!stamp_ok(dst.data(), size, expect)) ++bad;
            me.ops.store(reps * static_cast<std::uint64_t>(rounds));
        } else {
            time_memcpy(dst.data(), rawp, size, 1);
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            std::uint64_t reads = 0, distinct = 0, missed = 0, last = 0;
            std::vector<std::int64_t> dur, raw_dur;
            if (mode == bc_rate) {
                // the floor phase: wait for each raw frame, copy it with memcpy
                std::uint32_t raw_seen = ctl->raw_version32.load();
                const std::int64_t give_up = now_ns() + 120000000000LL;
                while (ctl->phase.load() == 0 && ctl->stop.load() == 0 && now_ns() < give_up) {
                    const std::uint32_t cur = ctl->raw_version32.load(std::memory_order_acquire);
                    if (cur == raw_seen) {
                        futex_wait(&ctl->raw_version32, cur, 20000000);
                        continue;
                    }
                    raw_seen = cur;
                    const std::int64_t c0 = now_ns();
                    std::memcpy(dst.data(), rawp, size);
                    clobber(dst.data());
                    raw_dur.push_back(now_ns() - c0);
                }
            }
            const std::int64_t t0 = now_ns();
            std::uint64_t seen = sh.version();
            last = seen;
            while (ctl->stop.load(std::memory_order_relaxed) == 0) {
                if (mode == bc_rate) {
                    if (!sh.wait_for_update(seen, std::chrono::milliseconds(200))) continue;
                }
                std::error_code ec;
                std::uint64_t ver = 0;
                const std::int64_t r0 = now_ns();
                const std::size_t len = sh.read_data(dst.data(), size, ec, &ver);
                const std::int64_t r1 = now_ns();
                if (ec) {
                    ++errors;
                    continue;
                }
                ++reads;
                if (mode == bc_rate || (reads & 1023) == 0) dur.push_back(r1 - r0);
                if (len != size || !stamp_ok(dst.data(), len, ver)) ++bad;
                if (ver != last) {
                    ++distinct;
                    if (ver > last + 1) missed += ver - last - 1;
                    last = ver;
                }
                seen = ver;
            }
            me.v[0] = static_cast<double>(distinct);
            me.v[1] = static_cast<double>(now_ns() - t0) / 1e9;
            const Summary sm = summarize(dur);
            me.v[2] = sm.p50;
            me.v[3] = sm.p99;
            me.v[5] = static_cast<double>(missed);
            const Summary fl = summarize(raw_dur);
            me.v[4] = fl.p50;
            me.v[6] = fl.p99;
            me.v[7] = static_cast<double>(fl.n);
            me.ops.store(reads);
        }
        me.bad.store(bad);
        me.errors.store(errors);
        me.done.store(1);
        return 0;
    });
}

/// A plain copy of a child's figures.
struct SlotCopy {
    std::uint64_t ops = 0, errors = 0, bad = 0;
    double v[256] = {};
    static SlotCopy of(const ChildSlot& c) {
        SlotCopy s;
        s.ops = c.ops.load();
        s.errors = c.errors.load();
        s.bad = c.bad.load();
        std::copy(std::begin(c.v), std::end(c.v), std::begin(s.v));
        return s;
    }
};

/// What one broadcast configuration measured.
struct BcRun {
    SlotCopy writer;
    std::vector<SlotCopy> readers;
};

/// The end of a writer-and-readers run (broadcast, zero-copy): timed runs (`seconds` > 0)
/// are told to stop after that long; then the readers are collected, the writer is let go
/// (stop = 2: it closes the channel only once no reader waits on it) and collected, and every
/// slot's figures copied. Fails on any child's error.
inline void finish_writer_readers(CtlSegment& ctl, Child& writer, std::vector<Child>& readers,
                                  double seconds, SlotCopy& writer_out,
                                  std::vector<SlotCopy>& readers_out) {
    if (seconds > 0) {
        sleep_ns(static_cast<std::int64_t>(seconds * 1e9));
        ctl->stop.store(1);
        futex_wake(&ctl->stop);
    }
    for (std::size_t i = 0; i < readers.size(); ++i) {
        const int rc = readers[i].wait(seconds > 0 ? 60000000000LL : 300000000000LL);
        if (rc != 0)
            fail("a reader failed (exit " + std::to_string(rc) + "): " + ctl->slots[1 + i].error);
    }
    ctl->stop.store(2);
    futex_wake(&ctl->stop);
    const int rc = writer.wait(60000000000LL);
    if (rc != 0) fail(std::string("the writer failed: ") + ctl->slots[0].error);
    for (std::size_t i = 0; i <= readers.size(); ++i)
        if (ctl->slots[i].status.load() != 0) fail(ctl->slots[i].error);
    writer_out = SlotCopy::of(ctl->slots[0]);
    for (std::size_t i = 0; i < readers.size(); ++i)
        readers_out.push_back(SlotCopy::of(ctl->slots[1 + i]));
}

/// Fixed rate: how long the floor phase (raw frames) runs before venom's: a quarter of the
/// venom phase, at least 3 frames.
inline double floor_seconds(double seconds, double hz) {
    return hz > 0 ? std::max(seconds / 4, 3.0 / hz) : 0;
}

/// Runs a writer (slot 0, cpu_a) and `readers` readers (slots 1.., cpu_b then the others).
inline BcRun bc_run(const Settings& s, const std::string& raw, std::uint64_t size, BcMode mode,
                    int readers, double hz, double seconds) {
    CtlSegment& ctl = *s.ctl;
    ctl.reset();
    const std::string chan = s.chan("bc");
    const std::string sz = std::to_string(size), md = std::to_string(mode),
                      rounds = std::to_string(s.bc_rounds),
                      batch = std::to_string(s.bc_batch_bytes);
    Child writer = Child::spawn(
        role_argv("bc_writer", {{"ctl", ctl.name()},
                                {"slot", "0"},
                                {"cpu", std::to_string(s.cpu_a)},
                                {"chan", chan},
                                {"raw", raw},
                                {"size", sz},
                                {"mode", md},
                                {"rounds", rounds},
                                {"batch", batch},
                                {"hz", fmt("%.6f", hz)},
                                {"floor_s", fmt("%.6f", floor_seconds(seconds, hz))}}));
    wait_ready(*ctl, 0, 1, 120000000000LL, "writer");
    const std::string version = std::to_string(ctl->slots[0].ops.load());
    std::vector<Child> rs;
    for (int i = 0; i < readers; ++i)
        rs.push_back(Child::spawn(role_argv("bc_reader", {{"ctl", ctl.name()},
                                                          {"slot", std::to_string(1 + i)},
                                                          {"cpu", std::to_string(s.cpu_for(i))},
                                                          {"chan", chan},
                                                          {"raw", raw},
                                                          {"size", sz},
                                                          {"mode", md},
                                                          {"rounds", rounds},
                                                          {"batch", batch},
                                                          {"version", version}})));
    wait_ready(*ctl, 1, readers, 120000000000LL, "reader");
    BcRun out;
    ctl->go.store(1);
    futex_wake(&ctl->go);
    finish_writer_readers(ctl, writer, rs,
                          mode == bc_static ? 0 : seconds + floor_seconds(seconds, hz), out.writer,
                          out.readers);
    return out;
}

inline void scenario_broadcast(const Settings& s, Report& rep, Checks& chk) {
    std::uint64_t largest = s.frame_size;
    for (auto z : s.bc_sizes) largest = std::max(largest, z);
    const std::string raw = s.run_id + ".raw";
    RawShm raw_owner = RawShm::create(raw, largest);
    cleanup_list().add("/dev/shm/" + raw);

    auto check_run = [&](const BcRun& run, const std::string& what) {
        for (auto& r : run.readers) {
            chk.expect(r.bad == 0, "broadcast " + what + ": " + std::to_string(r.bad) +
                                       " torn or wrong states read");
            chk.expect(r.errors == 0,
                       "broadcast " + what + ": " + std::to_string(r.errors) + " read errors");
            chk.expect(r.ops > 0, "broadcast " + what + ": a reader read nothing");
        }
    };

    // ---- static: read_data and write_data against memcpy
    Table ts(
        "broadcast (state written once): read_data and write_data against memcpy of the same "
        "size in raw shared memory, " +
            std::to_string(s.bc_rounds) +
            " interleaved rounds; GB/s per reader (median of rounds); ratios are medians of "
            "per-round ratios",
        {"size", "readers", "memcpy out", "read_data", "read/memcpy", "memcpy in", "write_data",
         "write/memcpy"},
        1);
    for (std::uint64_t size : s.bc_sizes) {
        for (int nr : s.bc_static_readers) {
            progress().set(
                "broadcast: static, " + fmt_size(size) + ", " + std::to_string(nr) + " reader(s)",
                true);
            const BcRun run = bc_run(s, raw, size, bc_static, nr, 0, 0);
            check_run(run, "static " + fmt_size(size));
            std::vector<double> mc, rd, q;
            for (auto& r : run.readers)
                for (int k = 0; k < s.bc_rounds; ++k) {
                    mc.push_back(r.v[2 * k]);
                    rd.push_back(r.v[2 * k + 1]);
                    q.push_back(r.v[2 * k + 1] / r.v[2 * k]);
                }
            std::vector<double> wm, wd, wq;
            for (int k = 0; k < s.bc_rounds; ++k) {
                wm.push_back(run.writer.v[2 * k]);
                wd.push_back(run.writer.v[2 * k + 1]);
                wq.push_back(run.writer.v[2 * k + 1] / run.writer.v[2 * k]);
            }
            const double mcm = median(mc), rdm = median(rd), qm = median(q);
            rep.add(Record{"broadcast",
                           "memcpy",
                           "static",
                           size,
                           nr,
                           {{"gb_per_s", mcm}},
                           "floor: memcpy out of raw shared memory, per reader"});
            rep.add(Record{"broadcast",
                           "read_data",
                           "static",
                           size,
                           nr,
                           {{"gb_per_s", rdm},
                            {"ratio_vs_memcpy", qm},
                            {"ratio_min_round", *std::min_element(q.begin(), q.end())}},
                           "per reader"});
            std::string wms, wds, wqs;
            if (nr == s.bc_static_readers.front()) {
                const double a = median(wm), b = median(wd), c = median(wq);
                rep.add(Record{"broadcast",
                               "memcpy-write",
                               "static",
                               size,
                               0,
                               {{"gb_per_s", a}},
                               "floor: memcpy into raw shared memory"});
                rep.add(Record{"broadcast",
                               "write_data",
                               "static",
                               size,
                               0,
                               {{"gb_per_s", b}, {"ratio_vs_memcpy", c}},
                               ""});
                wms = fmt_gbps(a);
                wds = fmt_gbps(b);
                wqs = fmt_ratio(c);
            }
            ts.row({nr == s.bc_static_readers.front() ? fmt_size(size) : "", std::to_string(nr),
                    fmt_gbps(mcm), fmt_gbps(rdm), fmt_ratio(qm), wms, wds, wqs});
            chk.expect(rdm > 0 && mcm > 0, "broadcast: zero bandwidth at " + fmt_size(size));
        }
    }
    rep.tables.push_back(ts.str());

    // ---- flat out
    Table tf("broadcast (writer flat out): write_data in a loop, readers read_data in a loop for " +
                 fmt("%.1f", s.bc_seconds) + " s; delivered = distinct versions read x size",
             {"size", "readers", "write_data", "writes/s", "delivered/reader", "delivered total",
              "versions seen", "reads/s/reader"},
             1);
    for (std::uint64_t size : s.bc_sizes) {
        for (int nr : s.bc_flat_readers) {
            progress().set(
                "broadcast: flat out, " + fmt_size(size) + ", " + std::to_string(nr) + " reader(s)",
                true);
            const BcRun run = bc_run(s, raw, size, bc_flat, nr, 0, s.bc_seconds);
            check_run(run, "flat-out " + fmt_size(size));
            const double wsec = run.writer.v[0];
            const double writes = static_cast<double>(run.writer.ops);
            double delivered = 0, reads = 0, distinct = 0;
            for (auto& r : run.readers) {
                delivered += r.v[0] * static_cast<double>(size) / r.v[1] / 1e9;
                reads += static_cast<double>(r.ops) / r.v[1];
                distinct += r.v[0];
            }
            const double wg = writes * static_cast<double>(size) / wsec / 1e9;
            const double seen = distinct / nr / writes;
            rep.add(Record{"broadcast",
                           "write_data",
                           "flat-out",
                           size,
                           nr,
                           {{"gb_per_s", wg},
                            {"writes_per_s", writes / wsec},
                            {"write_p50_ns", run.writer.v[1]}},
                           ""});
            rep.add(Record{"broadcast",
                           "read_data",
                           "flat-out",
                           size,
                           nr,
                           {{"gb_per_s", delivered / nr},
                            {"gb_per_s_total", delivered},
                            {"versions_seen_fraction", seen},
                            {"reads_per_s", reads / nr}},
                           "delivered: distinct versions x size, per reader"});
            tf.row({nr == s.bc_flat_readers.front() ? fmt_size(size) : "", std::to_string(nr),
                    fmt_gbps(wg), fmt_rate(writes / wsec), fmt_gbps(delivered / nr),
                    fmt_gbps(delivered), fmt_pct(100 * seen), fmt_rate(reads / nr)});
            chk.expect(writes > 0 && delivered > 0,
                       "broadcast flat-out: nothing delivered at " + fmt_size(size));
        }
    }
    rep.tables.push_back(tf.str());

    // ---- fixed rate, and the 8K frame
    Table tr(
        "broadcast (fixed rate): readers wait_for_update, then read_data each version; before "
        "that, for a quarter of the time, the writer puts the same bytes at the same rate in raw "
        "shared memory and readers memcpy them (the floor, equally fresh); the 8K frame is "
        "7680x4320x3 bytes at 30 Hz",
        {"case", "size", "readers", "rate", "delivered/reader", "versions seen", "read p50",
         "read p99", "memcpy p50", "memcpy p99", "read/memcpy"},
        1);
    auto rate_case = [&](const std::string& variant, std::uint64_t size, double hz, int nr,
                         double secs) {
        progress().set("broadcast: " + variant + ", " + fmt_size(size) + ", " + std::to_string(nr) +
                           " reader(s)",
                       true);
        const BcRun run = bc_run(s, raw, size, bc_rate, nr, hz, secs);
        check_run(run, variant + " " + fmt_size(size));
        const double writes = static_cast<double>(run.writer.ops);
        const double wsec = run.writer.v[0];
        double delivered = 0, distinct = 0, p50 = 0, p99 = 0, mc = 0, mc99 = 0, missed = 0;
        for (auto& r : run.readers) {
            delivered += r.v[0] * static_cast<double>(size) / r.v[1] / 1e9;
            distinct += r.v[0];
            p50 = std::max(p50, r.v[2]);
            p99 = std::max(p99, r.v[3]);
            mc = std::max(mc, r.v[4]);
            mc99 = std::max(mc99, r.v[6]);
            missed += r.v[5];
        }
        const double seen = distinct / nr / writes;
        Record rec{
            "broadcast",
            "read_data",
            variant,
            size,
            nr,
            {{"rate_hz", writes / wsec},
             {"gb_per_s", delivered / nr},
             {"gb_per_s_total", delivered},
             {"versions_seen_fraction", seen},
             {"versions_missed", missed},
             {"read_p50_ns", p50},
             {"read_p99_ns", p99},
             {"memcpy_p50_ns", mc},
             {"memcpy_p99_ns", mc99},
             {"ratio_vs_memcpy", mc / p50},
             {"write_p50_ns", run.writer.v[1]}},
            "read and memcpy of fresh frames, p50/p99 of the slowest reader; ratio: bandwidth"};
        rep.add(rec);
        tr.row({variant, fmt_size(size), std::to_string(nr), fmt("%.0f Hz", writes / wsec),
                fmt_gbps(delivered / nr), fmt_pct(100 * seen), fmt_ns(p50), fmt_ns(p99), fmt_ns(mc),
                fmt_ns(mc99), fmt_ratio(mc / p50)});
        chk.expect(distinct > 0,
                   "broadcast " + variant + ": nothing delivered at " + fmt_size(size));
    };
    for (std::uint64_t size : s.bc_sizes)
        for (int nr : s.bc_rate_readers)
            rate_case("fixed-rate", size,
                      std::min(1000.0, s.bc_rate_cap_bytes / static_cast<double>(size)), nr,
                      s.bc_seconds);
    tr.separator();
    for (int nr : s.frame_readers)
        rate_case("8k-frame", s.frame_size, s.frame_hz, nr, s.frame_seconds);
    rep.tables.push_back(tr.str());
}

} // namespace vb
