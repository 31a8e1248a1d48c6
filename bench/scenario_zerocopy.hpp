// SPDX-License-Identifier: BSL-1.0
// bench/scenario_zerocopy.hpp - zero-copy broadcast: the daemon writes states in place
// (DaemonChannel::loan), readers read them in place (ShellChannel::view), in separate
// processes, writer and readers pinned apart.
//
//   per-frame cost  the state is written once; each reader alternates, round after round,
//                   timed batches of memcpy out of a raw shared-memory buffer of the same size
//                   (the floor of copying), read_data, and view + release (which copies
//                   nothing). Each op handles the whole state once; figures are ns per op.
//   frames          8K frames (7680x4320x3 bytes) at 30 Hz drawn into loans (a header and
//                   sampled words stamped, as the video template does); readers wait for each
//                   frame, view it, check the sampled words in place, hold it for a set part of
//                   the frame time (their "work"), release it. Measured: publish to view held
//                   (the writer stamps the publish time into the frame), the readers' CPU per
//                   frame time, and how often a loan found every buffer but the newest held
//                   (state_busy), at each state_buffers.
#pragma once

#include "floor.hpp"
#include "scenario_broadcast.hpp" // SlotCopy
#include "settings.hpp"

#include <venom/venom.hpp>

#include <sys/resource.h>

namespace vb {

enum ZcMode : int { zc_static = 0, zc_frames = 1 };

// Slot figures (ChildSlot::v) of the zero-copy roles.
//   writer frames: v[0] frames published, v[1] loans refused (state_busy), v[2] seconds
//   reader static: v[3r] memcpy ns/op, v[3r+1] read_data ns/op, v[3r+2] view ns/op (round r)
//   reader frames: v[0] frames viewed, v[1] p50 publish->view ns, v[2] p99, v[3] CPU % of one
//                  core, v[4] frames missed, v[5] seconds

/// The frame header the frames mode stamps: version, and the steady-clock ns just before
/// publish (a reader's "view held" minus it is the publish-to-view time).
struct ZcHeader {
    std::uint64_t version;
    std::int64_t published_ns;
    std::uint64_t checksum;
};
inline constexpr std::size_t zc_samples = 1024;

inline std::uint64_t zc_mix(std::uint64_t x) {
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}
/// Sampled words of a frame (after its header), evenly spread: stamp and check.
inline std::uint64_t zc_stamp(unsigned char* p, std::size_t n, std::uint64_t v) {
    const std::size_t stride = (n - 64) / zc_samples / 8 * 8;
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < zc_samples; ++i) {
        const std::uint64_t w = zc_mix(v * zc_samples + i);
        std::memcpy(p + 64 + i * stride, &w, 8);
        h = zc_mix(h ^ w);
    }
    return h;
}
inline bool zc_check(const unsigned char* p, std::size_t n, const ZcHeader& hd) {
    const std::size_t stride = (n - 64) / zc_samples / 8 * 8;
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < zc_samples; ++i) {
        std::uint64_t w;
        std::memcpy(&w, p + 64 + i * stride, 8);
        if (w != zc_mix(hd.version * zc_samples + i)) return false;
        h = zc_mix(h ^ w);
    }
    return h == hd.checksum;
}

inline double cpu_seconds_self() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// Role "zc_writer".
inline int role_zc_writer(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        const auto size = static_cast<std::size_t>(a.num("size"));
        const auto mode = static_cast<int>(a.num("mode"));
        venom::ChannelConfig cfg{size, 1, 64};
        cfg.state_buffers = static_cast<std::uint32_t>(a.num("buffers", 3));
        auto d = venom::DaemonChannel::create(a.str("chan"), cfg);
        RawShm raw = RawShm::open(a.str("raw"));
        auto* rawp = static_cast<unsigned char*>(raw.data());
        if (mode == zc_static) {
            std::vector<unsigned char> src(size);
            for (std::size_t i = 0; i < size; ++i) src[i] = static_cast<unsigned char>(i * 31 + 3);
            std::memcpy(rawp, src.data(), size);
            // first touch of every state buffer, then the state the readers measure
            for (std::uint32_t i = 0; i < cfg.state_buffers; ++i) d.write_data(src.data(), size);
            const std::uint64_t v = d.version() + 1;
            stamp(src.data(), size, v);
            d.write_data(src.data(), size);
            me.ops.store(v);
            me.ready.store(1);
            wait_change(ctl->stop, 0, 600000000000LL, ctl->parent_pid);
        } else {
            // First touch of every buffer (a fresh segment's pages fault in on first write).
            for (std::uint32_t i = 0; i < cfg.state_buffers; ++i) {
                venom::StateLoan w = d.loan(size);
                std::memset(w.data(), 0, size);
                const ZcHeader h{d.version() + 1, now_ns(),
                                 zc_stamp(w.data(), size, d.version() + 1)};
                std::memcpy(w.data(), &h, sizeof h);
                w.publish();
            }
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            const std::int64_t period = static_cast<std::int64_t>(1e9 / a.real("hz"));
            std::uint64_t frames = 0, busy = 0;
            std::int64_t next = now_ns();
            const std::int64_t t0 = next;
            while (ctl->stop.load(std::memory_order_relaxed) == 0) {
                sleep_until_ns(next);
                if (ctl->stop.load(std::memory_order_relaxed) != 0) break;
                next += period;
                if (now_ns() > next + period) next = now_ns(); // fell behind: no burst
                std::error_code ec;
                venom::StateLoan l = d.loan(size, ec);
                if (ec == venom::errc::state_busy) {
                    ++busy; // every buffer but the newest is held by views: this frame is skipped
                    continue;
                }
                if (ec) fail("loan: " + ec.message());
                const std::uint64_t v = l.version();
                const std::uint64_t sum = zc_stamp(l.data(), size, v);
                const ZcHeader h{v, now_ns(), sum};
                std::memcpy(l.data(), &h, sizeof h);
                l.publish();
                ++frames;
            }
            me.v[0] = static_cast<double>(frames);
            me.v[1] = static_cast<double>(busy);
            me.v[2] = static_cast<double>(now_ns() - t0) / 1e9;
            me.ops.store(frames);
            // until the readers are collected
            wait_change(ctl->stop, 1, 120000000000LL, ctl->parent_pid);
        }
        me.done.store(1);
        return 0;
    });
}

/// Role "zc_reader".
inline int role_zc_reader(const Args& a) {
    return run_in_slot(a, [&](CtlSegment& ctl, ChildSlot& me) -> int {
        pin_self(static_cast<int>(a.num("cpu", -1)));
        const auto size = static_cast<std::size_t>(a.num("size"));
        const auto mode = static_cast<int>(a.num("mode"));
        auto sh = connect_when_up(a.str("chan"), shell_options(venom::WaitPolicy::spin_then_block));
        RawShm raw = RawShm::open(a.str("raw"));
        const auto* rawp = static_cast<const unsigned char*>(raw.data());
        std::uint64_t bad = 0, errors = 0;
        if (mode == zc_static) {
            const auto rounds = static_cast<int>(a.num("rounds"));
            const std::uint64_t reps =
                std::max<std::uint64_t>(2, static_cast<std::uint64_t>(a.num("batch")) / size);
            const std::uint64_t views = std::max<std::uint64_t>(reps, 1000);
            const std::uint64_t expect = static_cast<std::uint64_t>(a.num("version"));
            std::vector<unsigned char> dst(size);
            auto read_batch = [&] {
                std::error_code ec;
                std::uint64_t ver = 0;
                std::size_t len = 0;
                const std::int64_t t0 = now_ns();
                for (std::uint64_t i = 0; i < reps; ++i) {
                    len = sh.read_data(dst.data(), size, ec, &ver);
                    if (ec || len != size) ++errors;
                }
                const std::int64_t t = now_ns() - t0;
                if (ver != expect || !stamp_ok(dst.data(), len, ver)) ++bad;
                return static_cast<double>(t) / static_cast<double>(reps);
            };
            auto view_batch = [&] {
                std::uint64_t sum = 0;
                const std::int64_t t0 = now_ns();
                for (std::uint64_t i = 0; i < views; ++i) {
                    std::error_code ec;
                    venom::StateView v = sh.view(ec);
                    if (ec || v.size() != size) ++errors;
                    sum += v.version();
                }
                const std::int64_t t = now_ns() - t0;
                if (sum != expect * views) ++bad;
                return static_cast<double>(t) / static_cast<double>(views);
            };
            auto memcpy_batch = [&] {
                return static_cast<double>(time_memcpy(dst.data(), rawp, size, reps)) /
                       static_cast<double>(reps);
            };
            memcpy_batch(); // warm-up: first touch of both
            read_batch();
            {
                venom::StateView v = sh.view();
                // the view shows the bytes written
                if (!stamp_ok(v.data(), v.size(), expect)) ++bad;
            }
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            for (int r = 0; r < rounds; ++r) {
                me.v[3 * r] = memcpy_batch();
                me.v[3 * r + 1] = read_batch();
                me.v[3 * r + 2] = view_batch();
            }
            me.ops.store(reps * static_cast<std::uint64_t>(rounds));
        } else {
            const std::int64_t hold = static_cast<std::int64_t>(a.real("hold_s") * 1e9);
            // The sampled words cost the reader 1024 scattered cache and TLB misses per frame:
            // its own work, not the view's. Without them only the header is checked.
            const bool full_check = a.num("check", 1) != 0;
            me.ready.store(1);
            if (!wait_change(ctl->go, 0, 60000000000LL, ctl->parent_pid)) fail("no start signal");
            std::vector<std::int64_t> lat;
            std::uint64_t frames = 0, missed = 0;
            std::uint64_t seen = sh.version(), last = seen;
            const double cpu0 = cpu_seconds_self();
            const std::int64_t t0 = now_ns();
            while (ctl->stop.load(std::memory_order_relaxed) == 0) {
                if (!sh.wait_for_update(seen, std::chrono::milliseconds(200))) continue;
                std::error_code ec;
                venom::StateView v = sh.view(ec);
                const std::int64_t held = now_ns();
                if (ec || v.size() != size) {
                    ++errors;
                    continue;
                }
                ZcHeader h;
                std::memcpy(&h, v.data(), sizeof h);
                lat.push_back(held - h.published_ns);
                if (h.version != v.version() || (full_check && !zc_check(v.data(), size, h))) ++bad;
                seen = v.version();
                if (seen > last + 1) missed += seen - last - 1;
                last = seen;
                ++frames;
                // The reader's "work" on the frame, in place: the view stays held meanwhile.
                if (hold > 0) sleep_until_ns(held + hold);
                v.release();
            }
            const double wall = static_cast<double>(now_ns() - t0) / 1e9;
            const Summary sm = summarize(lat);
            me.v[0] = static_cast<double>(frames);
            me.v[1] = sm.p50;
            me.v[2] = sm.p99;
            me.v[3] = wall > 0 ? 100.0 * (cpu_seconds_self() - cpu0) / wall : nan();
            me.v[4] = static_cast<double>(missed);
            me.v[5] = wall;
            me.ops.store(frames);
        }
        me.bad.store(bad);
        me.errors.store(errors);
        me.done.store(1);
        return 0;
    });
}

struct ZcRun {
    SlotCopy writer;
    std::vector<SlotCopy> readers;
};

inline ZcRun zc_run(const Settings& s, const std::string& raw, std::uint64_t size, ZcMode mode,
                    int readers, std::uint32_t buffers, double hold_s, double seconds,
                    bool full_check = true) {
    CtlSegment& ctl = *s.ctl;
    ctl.reset();
    const std::string chan = s.chan("zc");
    const std::string sz = std::to_string(size), md = std::to_string(mode),
                      rounds = std::to_string(s.bc_rounds),
                      batch = std::to_string(s.bc_batch_bytes);
    Child writer = Child::spawn(role_argv("zc_writer", {{"ctl", ctl.name()},
                                                        {"slot", "0"},
                                                        {"cpu", std::to_string(s.cpu_a)},
                                                        {"chan", chan},
                                                        {"raw", raw},
                                                        {"size", sz},
                                                        {"mode", md},
                                                        {"buffers", std::to_string(buffers)},
                                                        {"hz", fmt("%.6f", s.frame_hz)}}));
    wait_ready(*ctl, 0, 1, 120000000000LL, "writer");
    const std::string version = std::to_string(ctl->slots[0].ops.load());
    std::vector<Child> rs;
    for (int i = 0; i < readers; ++i)
        rs.push_back(Child::spawn(role_argv("zc_reader", {{"ctl", ctl.name()},
                                                          {"slot", std::to_string(1 + i)},
                                                          {"cpu", std::to_string(s.cpu_for(i))},
                                                          {"chan", chan},
                                                          {"raw", raw},
                                                          {"size", sz},
                                                          {"mode", md},
                                                          {"rounds", rounds},
                                                          {"batch", batch},
                                                          {"version", version},
                                                          {"hold_s", fmt("%.6f", hold_s)},
                                                          {"check", full_check ? "1" : "0"}})));
    wait_ready(*ctl, 1, readers, 120000000000LL, "reader");
    ctl->go.store(1);
    futex_wake(&ctl->go);
    ZcRun out;
    finish_writer_readers(ctl, writer, rs, mode == zc_frames ? seconds : 0, out.writer,
                          out.readers);
    return out;
}

inline void scenario_zero_copy(const Settings& s, Report& rep, Checks& chk) {
    std::uint64_t largest = s.frame_size;
    for (auto z : s.zc_sizes) largest = std::max(largest, z);
    const std::string raw = s.run_id + ".zcraw";
    RawShm raw_owner = RawShm::create(raw, largest);
    cleanup_list().add("/dev/shm/" + raw);
    auto check_run = [&](const ZcRun& run, const std::string& what) {
        for (auto& r : run.readers) {
            chk.expect(r.bad == 0,
                       "zero-copy " + what + ": " + std::to_string(r.bad) + " wrong states seen");
            chk.expect(r.errors == 0,
                       "zero-copy " + what + ": " + std::to_string(r.errors) + " errors");
            chk.expect(r.ops > 0, "zero-copy " + what + ": a reader read nothing");
        }
    };

    Table tc(
        "zero-copy (state written once): per op, the whole state - memcpy out of raw shared memory "
        "(the floor of copying), read_data, and view + release (no copy); " +
            std::to_string(s.bc_rounds) + " interleaved rounds, median of per-reader rounds",
        {"size", "readers", "memcpy", "read_data", "view", "view/memcpy", "view/read_data"}, 1);
    for (std::uint64_t size : s.zc_sizes) {
        for (int nr : s.zc_readers) {
            progress().set("zero-copy: per-frame cost, " + fmt_size(size) + ", " +
                               std::to_string(nr) + " reader(s)",
                           true);
            const ZcRun run = zc_run(s, raw, size, zc_static, nr, 3, 0, 0);
            check_run(run, "static " + fmt_size(size));
            std::vector<double> mc, rd, vw, qm, qr;
            for (auto& r : run.readers)
                for (int k = 0; k < s.bc_rounds; ++k) {
                    mc.push_back(r.v[3 * k]);
                    rd.push_back(r.v[3 * k + 1]);
                    vw.push_back(r.v[3 * k + 2]);
                    qm.push_back(r.v[3 * k + 2] / r.v[3 * k]);
                    qr.push_back(r.v[3 * k + 2] / r.v[3 * k + 1]);
                }
            const double m = median(mc), d = median(rd), v = median(vw), q1 = median(qm),
                         q2 = median(qr);
            rep.add(Record{"zero-copy",
                           "view",
                           "static",
                           size,
                           nr,
                           {{"view_ns", v},
                            {"memcpy_ns", m},
                            {"read_data_ns", d},
                            {"ratio_vs_memcpy", q1},
                            {"ratio_vs_read_data", q2}},
                           "per op, per reader: view + release against copying the whole state"});
            tc.row({nr == s.zc_readers.front() ? fmt_size(size) : "", std::to_string(nr), fmt_ns(m),
                    fmt_ns(d), fmt_ns(v), fmt("%.2gx", q1), fmt("%.2gx", q2)});
            chk.expect(v > 0 && m > 0, "zero-copy: no time measured at " + fmt_size(size));
        }
    }
    rep.tables.push_back(tc.str());

    Table tf("zero-copy frames: " + fmt_size(s.frame_size) + " frames at " +
                 fmt("%.0f", s.frame_hz) +
                 " Hz drawn into loans; readers view each one, check it in place (1024 sampled "
                 "words, or only "
                 "its header), hold it for the given part of the frame time, release it; " +
                 fmt("%.1f", s.frame_seconds) + " s per row",
             {"buffers", "readers", "hold", "check", "frames", "state_busy", "publish->view p50",
              "p99", "missed/reader", "reader CPU"},
             1);
    auto frames_row = [&](std::uint32_t buffers, int nr, double hold, bool full_check) {
        progress().set("zero-copy: frames, " + std::to_string(buffers) + " buffers, " +
                           std::to_string(nr) + " reader(s), hold " + fmt_pct(100 * hold),
                       true);
        const ZcRun run = zc_run(s, raw, s.frame_size, zc_frames, nr, buffers, hold / s.frame_hz,
                                 s.frame_seconds, full_check);
        check_run(run, "frames");
        double p50 = 0, p99 = 0, cpu = 0, missed = 0;
        for (auto& r : run.readers) {
            p50 = std::max(p50, r.v[1]);
            p99 = std::max(p99, r.v[2]);
            cpu = std::max(cpu, r.v[3]);
            missed += r.v[4];
        }
        const double frames = run.writer.v[0], busy = run.writer.v[1];
        rep.add(Record{"zero-copy",
                       "view",
                       "frames-hold-" + fmt("%.2f", hold) + (full_check ? "" : "-header"),
                       s.frame_size,
                       nr,
                       {{"buffers", static_cast<double>(buffers)},
                        {"frames", frames},
                        {"state_busy", busy},
                        {"publish_to_view_p50_ns", p50},
                        {"publish_to_view_p99_ns", p99},
                        {"reader_cpu_pct", cpu},
                        {"missed_per_reader", missed / nr}},
                       "slowest reader's latency and CPU (% of one core)"});
        tf.row({std::to_string(buffers), std::to_string(nr), fmt_pct(100 * hold),
                full_check ? "sampled" : "header", fmt("%.0f", frames), fmt("%.0f", busy),
                fmt_ns(p50), fmt_ns(p99), fmt("%.1f", missed / nr), fmt("%.2f%%", cpu)});
        chk.expect(frames > 0, "zero-copy frames: nothing published");
    };
    for (double hold : s.zc_hold_fractions)
        for (std::uint32_t buffers : s.zc_buffers)
            for (int nr : s.zc_frame_readers) frames_row(buffers, nr, hold, true);
    // What a view costs a reader, without the reader's own checking: 3 buffers, the most readers.
    tf.separator();
    frames_row(3, s.zc_frame_readers.back(), s.zc_hold_fractions.front(), false);
    rep.tables.push_back(tf.str());
}

} // namespace vb
