// SPDX-License-Identifier: BSL-1.0
// test/hostile_test.cpp - hostile bytes anywhere in a live channel's segment, Boost's own
// header, allocator and name index included. Whoever can write the segment (any process of a
// user the channel's access lets in) controls every byte of it; venom must stay bounded and
// safe whatever those bytes are: connects succeed or throw a venom::error promptly, calls
// return, no process crashes, a daemon keeps running. (Before shells mapped the segment
// themselves, a scribbled index made every later connect crash in Boost's iset_index::find, and
// a segment-size word or an init word made Boost's open read outside the mapping or wait
// forever.)
//
// Layout 5 (venom/detail/layout.hpp): page-aligned regions - control block, state buffers,
// response slots, the shared region (SharedLines and the ring), client areas - and a shell
// maps all of it read-only but the shared region and its own client area. So the scribblers
// of the first two cases use a raw mapping of the segment file (detail::attach), as any
// process of the channel's user can; what a buggy shell can do through its own mapping is
// the third case's.
//
//   a_second_process_scribbling_while_the_daemon_and_a_shell_run: a daemon child (echo
//       handler, a state published every millisecond), a shell child looping requests (200 ms
//       timeout) and reads, a scribbler child writing random bytes over the whole mapping:
//       blind, then keeping the control block's first three lines (identity, region pointers,
//       configuration: all that validation reads) so that newcomers get past validation into
//       a garbage segment. The test process connects as a newcomer during and after each phase
//       (each connect timed), while the scribbled daemon still runs.
//   hostile_boost_header_and_index: Boost's bytes (everything outside venom's five regions)
//       overwritten with patterns (zeros: offset_ptrs that point at themselves, so index walks
//       cycle; 0xff; random; Boost's init word states) while the daemon serves: connect, a
//       round trip and the state still work. Then the control block's region pointers aimed
//       outside the mapping, off their page alignment, or onto another region
//       (corrupt_channel), its configuration out of range or contradicting its strides, ring
//       size or page size (corrupt_channel), its segment-size word made huge (harmless: the
//       bound is the file's size).
//   a_buggy_shell_scribbling_its_writable_pages: a shell child finds its own mapping in
//       /proc/self/maps, checks that exactly the shared region and its own client area are
//       writable there (isolation_test.cpp shows that a write anywhere else faults), and
//       scribbles through it on the events' wait words, the pages' padding and its own client
//       area, while a daemon, an honest shell and newcomers run: nothing any other party reads
//       as configuration, state, commands or answers is in those pages, so every connect
//       succeeds, every read returns the state, every answer is right and every call returns.
//   a_tail_far_behind_the_head_keeps_requests_bounded: one stray write puts the tail 2^40
//       behind the head (every position from there reads as taken, and a shell helps the tail
//       on one CAS at a time): a request still keeps to its timeout, and the daemon puts the
//       tail back.
//   stray_ring_words_are_repaired: a ring zeroed, one ring word of a later lap, every ring word
//       of a later lap; then twenty requests must be answered within 1 s (the daemon resets a
//       ring word that fits no position once it has stayed claim_timeout).
//   a_buggy_shell_scribbling_the_queue_too: the buggy shell scribbles the tail and the ring
//       too; once it is gone the channel must serve everyone again (a publish it erased ends
//       its sender's wait with corrupt_channel, not a wait for ever).
//
// Duration scales with VENOM_TEST_SCALE (default: 2 s of blind scribbling, then 1 s more; 2 s
// of the buggy shell); the scribblers' seeds are printed, VENOM_HOSTILE_SEED=<seed> repeats
// their writes.
#include "test_support.hpp"

#include <boost/interprocess/mapped_region.hpp>
#if defined(_WIN32)
#include <boost/interprocess/windows_shared_memory.hpp>
#else
#include <boost/interprocess/shared_memory_object.hpp>
#endif

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

using namespace venom_test;
namespace bip = boost::interprocess;
namespace vd = venom::detail;
using Clock = std::chrono::steady_clock;

namespace {

venom::ChannelConfig hostile_config() {
    venom::ChannelConfig c{256, 8, 4};
    c.max_cmd_size = 128;
    c.max_response_size = 128;
    return c;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Counters the children share with the test, in a plain shared-memory object of their own
/// (never in the channel's segment, which the scribbler owns).
struct Stats {
    std::atomic<std::uint32_t> stop_shell;
    std::atomic<std::uint32_t> stop_daemon;
    std::atomic<std::uint32_t> scribbling;    ///< 1 while the scribbler writes
    std::atomic<std::uint32_t> blind_done;    ///< the scribbler's first phase is over
    std::atomic<std::uint32_t> go_on;         ///< the test lets the second phase begin
    std::atomic<std::uint32_t> scribble_done; ///< the scribbler finished
    std::atomic<std::uint64_t> scribbles;     ///< writes made
    std::atomic<std::uint64_t> handled;       ///< commands the daemon's handler answered
    std::atomic<std::uint64_t> states;        ///< write_data calls
    /// write_data calls refused (state_busy: forged pins)
    std::atomic<std::uint64_t> states_busy;
    // the shell's outcomes
    std::atomic<std::uint64_t> ok, wrong, timeouts, gone, corrupt, other_errors;
    std::atomic<std::uint64_t> reads_ok, read_errors;
    std::atomic<std::uint64_t> reconnects_ok, reconnects_failed;
    std::atomic<std::uint64_t> ok_while_scribbling;
    std::atomic<std::uint64_t> kept_old_shell; ///< reconnect refused: went on with the old shell
};

using StatsMap = SharedBlock<Stats>;

/// One connect as a newcomer makes it, timed: a shell, or the venom::error it threw (code and
/// text). A request (bounded) and a read on the shell, counted, not judged.
struct ConnectOutcome {
    bool connected = false;
    std::error_code error; ///< when not connected
    std::string text;
    double seconds = 0;
    bool answered = false, read_ok = false;
    std::string request_error; ///< when connected but not answered: what the request returned
    double request_seconds = 0;
};

ConnectOutcome connect_once(const std::string& name, std::chrono::milliseconds request_timeout) {
    ConnectOutcome out;
    const auto t0 = Clock::now();
    try {
        venom::ShellChannel s = venom::ShellChannel::connect(name);
        out.connected = true;
        char resp[256];
        std::error_code ec;
        const auto r0 = Clock::now();
        const std::size_t n = s.request("probe", 5, resp, sizeof resp, request_timeout, ec);
        out.request_seconds = seconds_since(r0);
        out.answered = !ec && n == 5 && std::memcmp(resp, "probe", 5) == 0;
        if (!out.answered) out.request_error = ec ? ec.message() : "a wrong answer";
        (void)s.read_data(resp, sizeof resp, ec);
        out.read_ok = !ec;
    } catch (const venom::error& e) {
        out.error = e.code();
        out.text = e.what();
    }
    out.seconds = seconds_since(t0);
    return out;
}

/// Tallies of many connects: by outcome, and the slowest.
struct ConnectTally {
    int total = 0, connected = 0, answered = 0, read_ok = 0;
    std::map<std::string, int> errors; ///< error message -> count
    /// connected, not answered: what the request returned -> count
    std::map<std::string, int> request_errors;
    double slowest_request = 0;
    double slowest = 0;
    std::string slowest_what;

    void add(const ConnectOutcome& o) {
        ++total;
        if (o.connected) ++connected;
        if (o.answered) ++answered;
        if (o.read_ok) ++read_ok;
        if (!o.connected) ++errors[o.error.message()];
        if (o.connected && !o.answered) ++request_errors[o.request_error];
        slowest_request = std::max(slowest_request, o.request_seconds);
        if (o.seconds > slowest) {
            slowest = o.seconds;
            slowest_what = o.connected ? "connected" : o.text;
        }
    }
    std::string summary() const {
        std::string s = std::to_string(total) + " connects: " + std::to_string(connected) +
                        " connected (" + std::to_string(answered) + " answered, " +
                        std::to_string(read_ok) + " read the state)";
        for (const auto& e : errors) s += "; " + std::to_string(e.second) + "x " + e.first;
        for (const auto& e : request_errors)
            s += "; request " + std::to_string(e.second) + "x " + e.first;
        return s + "; slowest " + std::to_string(slowest) + " s (" + slowest_what +
               "), slowest request " + std::to_string(slowest_request) + " s";
    }
};

} // namespace

// ================================================================ scribbling in a second process

VENOM_CHILD_ROLE(hostile_daemon) {
    StatsMap stats(args.at(1), false);
    auto daemon = venom::DaemonChannel::create(args.at(0), hostile_config());
    daemon.write_data(std::string_view("state 0"));
    std::atomic<bool> done{false};
    const auto give_up = Clock::now() + 300s; // the test died: stop anyway
    std::thread writer([&] {
        for (std::uint64_t v = 1; !done.load(); ++v) {
            // A pin word forged by the scribbling may hold a buffer back (view_pins.hpp): a
            // refused write (state_busy) is counted, and the next one tries again.
            const std::string st = "state " + std::to_string(v);
            std::error_code ec;
            daemon.write_data(st.data(), st.size(), ec);
            (ec ? stats->states_busy : stats->states).fetch_add(1);
            std::this_thread::sleep_for(1ms);
        }
    });
    std::thread stopper([&] {
        while (stats->stop_daemon.load() == 0 && Clock::now() < give_up)
            std::this_thread::sleep_for(2ms);
        daemon.stop();
    });
    daemon.run([&](std::uint32_t, venom::ByteView cmd) {
        stats->handled.fetch_add(1);
        return cmd.to_vector();
    });
    done = true;
    writer.join();
    stopper.join();
    return 0;
}

VENOM_CHILD_ROLE(hostile_shell) {
    StatsMap stats(args.at(1), false);
    const auto give_up = Clock::now() + 300s;
    venom::ShellChannel shell = connect_when_up(args.at(0), {}, 20s);
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid_portable()));
    std::vector<std::uint8_t> cmd, resp(512);
    char state[512];
    while (stats->stop_shell.load() == 0 && Clock::now() < give_up) {
        cmd.resize(1 + rng() % 100);
        for (auto& b : cmd) b = static_cast<std::uint8_t>(rng());
        std::error_code ec;
        const std::size_t n =
            shell.request(cmd.data(), cmd.size(), resp.data(), resp.size(), 200ms, ec);
        bool reconnect = false;
        if (!ec) {
            if (n == cmd.size() && std::memcmp(resp.data(), cmd.data(), n) == 0) {
                stats->ok.fetch_add(1);
                if (stats->scribbling.load() != 0) stats->ok_while_scribbling.fetch_add(1);
            } else {
                stats->wrong.fetch_add(1); // the scribbler wrote over the answer: possible
            }
        } else if (ec == venom::errc::timeout) {
            stats->timeouts.fetch_add(1);
        } else if (ec == venom::errc::daemon_gone) { // the state word says stopped or closed
            stats->gone.fetch_add(1);
            reconnect = true;
        } else if (ec == venom::errc::corrupt_channel) {
            stats->corrupt.fetch_add(1);
            reconnect = true;
        } else {
            stats->other_errors.fetch_add(1); // e.g. a scribbled status reads as handler_failed
        }
        std::error_code rec;
        (void)shell.read_data(state, sizeof state, rec);
        (rec ? stats->read_errors : stats->reads_ok).fetch_add(1);
        if (reconnect) {
            // What an application does: connect again. Refused (the segment no longer looks
            // like a channel): go on with the old shell, whose view of the segment was
            // validated once and stays in bounds whatever the bytes become.
            try {
                shell = venom::ShellChannel::connect(args.at(0));
                stats->reconnects_ok.fetch_add(1);
            } catch (const venom::error&) {
                stats->reconnects_failed.fetch_add(1);
                stats->kept_old_shell.fetch_add(1);
                std::this_thread::sleep_for(1ms);
            }
        }
    }
    return 0;
}

/// The control block's bytes that ChannelMap::validate reads (lines 0-2: identity and state,
/// region pointers, configuration); the state word's line and the counters follow them.
constexpr std::size_t validated_bytes = offsetof(vd::ControlBlock, state_word);
static_assert(validated_bytes == 3 * vd::cache_line,
              "validation reads the control block's first three lines");

/// Writes random bytes at random offsets over the whole mapping (Boost's header, allocator
/// and index, the control block, every region). args: name, stats, blind ms, keeping ms, seed.
/// Phase 1 (blind): nothing spared; the magic number soon goes, and with it every newcomer.
/// Then, once the test says go on, phase 2: the same, but the control block's first three
/// lines (identity, state, region pointers, configuration) are put back after every burst, as
/// an attacker who wants newcomers to get past validation would: they connect, claim a slot,
/// send and read in a segment whose every other byte is garbage.
VENOM_CHILD_ROLE(hostile_scribbler) {
    StatsMap stats(args.at(1), false);
    // A raw read-write mapping of the segment file, as any process of the channel's user can
    // make: not a shell's (a shell's own mapping is read-only but for the shared region and
    // its client area), so nothing of the segment is spared.
    vd::Attachment a = vd::attach(args.at(0), {});
    unsigned char* const base = a.mapping.data();
    const std::uint64_t size = a.mapping.size();
    const std::uint64_t control = a.record.control_offset;
    unsigned char identity[validated_bytes];
    std::memcpy(identity, base + control, sizeof identity);
    std::mt19937_64 rng(std::stoull(args.at(4)));
    std::uint64_t writes = 0;
    auto scribble = [&](std::chrono::milliseconds how_long, bool keep_identity) {
        const auto end = Clock::now() + how_long;
        while (Clock::now() < end) {
            const unsigned kind = static_cast<unsigned>(rng() % 16);
            if (kind < 12) { // 1..16 random bytes anywhere
                const std::uint64_t off = rng() % size;
                const std::uint64_t len = std::min<std::uint64_t>(1 + rng() % 16, size - off);
                for (std::uint64_t i = 0; i < len; ++i)
                    base[off + i] = static_cast<unsigned char>(rng());
            } else { // one aligned word: a small number, all ones, an offset_ptr to nearby, any
                const std::uint64_t off = (rng() % (size / 8)) * 8;
                std::uint64_t v = 0;
                switch (kind) {
                case 12: v = rng() % 4; break;
                case 13: v = ~std::uint64_t{0} - rng() % 4; break;
                case 14:
                    v = static_cast<std::uint64_t>(static_cast<std::int64_t>(rng() % 8192) - 4096);
                    break;
                default: v = rng(); break;
                }
                std::memcpy(base + off, &v, sizeof v);
            }
            ++writes;
            stats->scribbles.store(writes, std::memory_order_relaxed);
            // Bursts, so that the daemon and the shells keep working in a segment being
            // corrupted rather than in one wiped at once.
            if (writes % 4 == 0) {
                if (keep_identity) std::memcpy(base + control, identity, sizeof identity);
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
        }
    };
    stats->scribbling.store(1);
    scribble(std::chrono::milliseconds(std::stol(args.at(2))), false);
    stats->scribbling.store(0);
    stats->blind_done.store(1);
    const auto give_up = Clock::now() + 60s;
    while (stats->go_on.load() == 0 && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
    stats->scribbling.store(1);
    std::memcpy(base + control, identity, sizeof identity);
    scribble(std::chrono::milliseconds(std::stol(args.at(3))), true);
    stats->scribbling.store(0);
    stats->scribble_done.store(1);
    return 0;
}

namespace {

/// Newcomers connecting from the test process until `done` (at most 60 s), one every 10 ms.
template <class Done>
ConnectTally connect_until(const std::string& name, Done&& done, const char* when) {
    ConnectTally t;
    const auto t0 = Clock::now();
    while (!done() && seconds_since(t0) < 60) {
        const ConnectOutcome o = connect_once(name, 20ms);
        t.add(o);
        BOOST_TEST(o.seconds < 5.0,
                   "a connect " << when << " took " << o.seconds << " s: " << o.text);
        std::this_thread::sleep_for(10ms);
    }
    return t;
}

/// 50 newcomers in a row: each connects or is refused with a venom::error, within 5 s.
ConnectTally fifty_connects(const std::string& name, const char* when,
                            std::chrono::milliseconds request_timeout = 20ms) {
    ConnectTally t;
    for (int i = 0; i < 50; ++i) {
        const ConnectOutcome o = connect_once(name, request_timeout);
        t.add(o);
        BOOST_TEST(o.seconds < 5.0,
                   "connect " << i << " " << when << " took " << o.seconds << " s: " << o.text);
        if (!o.connected) BOOST_TEST(o.error.category().name() == std::string("venom"), o.text);
    }
    BOOST_TEST(t.total == 50);
    return t;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_second_process_scribbling_while_the_daemon_and_a_shell_run) {
    ChannelName name("hostile");
    const std::string stats_name = "vt_hostile_stats_" + std::to_string(getpid_portable());
    StatsMap stats(stats_name, true);
    const long blind_ms = scaled(2000), keeping_ms = scaled(1000);

    Child daemon = spawn_self("hostile_daemon", {name.str(), stats_name});
    Child shell = spawn_self("hostile_shell", {name.str(), stats_name});
    BOOST_REQUIRE_MESSAGE(eventually([&] { return stats->ok.load() >= 200; }, 30s),
                          "the shell never got going (ok " << stats->ok.load() << ")");
    const std::uint64_t ok_before = stats->ok.load();

    // A new seed each run (printed; VENOM_HOSTILE_SEED=<n> repeats a run's writes).
    const char* seed_env = std::getenv("VENOM_HOSTILE_SEED");
    const std::uint64_t seed =
        seed_env != nullptr
            ? std::strtoull(seed_env, nullptr, 10)
            : static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) % 1000000007u;
    BOOST_TEST_MESSAGE("scribbler seed " << seed << " (VENOM_HOSTILE_SEED)");
    Child scribbler =
        spawn_self("hostile_scribbler", {name.str(), stats_name, std::to_string(blind_ms),
                                         std::to_string(keeping_ms), std::to_string(seed)});
    // Meanwhile this process connects as a newcomer, again and again.
    const ConnectTally blind = connect_until(
        name.str(), [&] { return stats->blind_done.load() != 0; }, "during the blind scribbling");
    BOOST_TEST_MESSAGE("during " << blind_ms << " ms of blind scribbling: " << blind.summary());
    // Afterwards (the scribbler paused, the scribbled daemon still running): every newcomer
    // connects or is refused, promptly; the old code crashed here every time.
    const ConnectTally after_blind = fifty_connects(name.str(), "after the blind scribbling");
    BOOST_TEST_MESSAGE("after the blind scribbling: " << after_blind.summary());

    stats->go_on.store(1);
    const ConnectTally keeping = connect_until(
        name.str(), [&] { return stats->scribble_done.load() != 0; },
        "during the scribbling that keeps the identity");
    BOOST_TEST_MESSAGE("during " << keeping_ms << " ms of scribbling that keeps the identity: "
                                 << keeping.summary());
    const int scribbler_rc = scribbler.wait(30s);
    BOOST_TEST(scribbler_rc == 0, "the scribbler exited with " << scribbler_rc);
    BOOST_TEST_MESSAGE("scribbler: " << stats->scribbles.load()
                                     << " writes over the whole segment");
    const ConnectTally after = fifty_connects(name.str(), "after all scribbling");
    BOOST_TEST_MESSAGE("after all scribbling: " << after.summary());
    BOOST_TEST(keeping.connected + after.connected > 0,
               "no newcomer got past validation: the second phase tested nothing");

    // The daemon, its own control block scribbled over, still runs: its state writer goes on
    // and it still holds its ready byte.
    const std::uint64_t states = stats->states.load();
    BOOST_TEST(eventually([&] { return stats->states.load() > states + 10; }, 10s),
               "the daemon stopped publishing after the scribbling");
    try {
        const auto f = vd::LockFile::open_trusted(
            vd::liveness_path(name.str(), vd::find_incarnation(name.str())), vd::Trust{}, false);
        BOOST_TEST(vd::daemon_alive(f), "the daemon no longer holds its ready byte");
    } catch (const venom::error& e) {
        BOOST_ERROR("the daemon's files: " << e.what());
    }

    // Every call of the shell and the daemon returned: both exit 0 when told to stop.
    stats->stop_shell.store(1);
    const int shell_rc = shell.wait(30s);
    stats->stop_daemon.store(1);
    const int daemon_rc = daemon.wait(30s);
    BOOST_TEST_MESSAGE(
        "shell: " << stats->ok.load() << " answered (" << ok_before << " before the scribbling, "
                  << stats->ok_while_scribbling.load() << " during), " << stats->wrong.load()
                  << " wrong (answer overwritten), " << stats->timeouts.load() << " timeouts, "
                  << stats->gone.load() << " daemon_gone, " << stats->corrupt.load()
                  << " corrupt_channel, " << stats->other_errors.load() << " other errors; "
                  << stats->reads_ok.load() << " reads, " << stats->read_errors.load()
                  << " read errors; reconnects " << stats->reconnects_ok.load() << " ok, "
                  << stats->reconnects_failed.load() << " refused (old shell kept)");
    BOOST_TEST_MESSAGE("daemon: " << stats->handled.load() << " commands answered, "
                                  << stats->states.load() << " states published, "
                                  << stats->states_busy.load() << " refused (state_busy)");
    BOOST_TEST(shell_rc == 0,
               "the shell exited with " << shell_rc << " (negative: killed by that signal)");
    BOOST_TEST(daemon_rc == 0,
               "the daemon exited with " << daemon_rc << " (negative: killed by that signal)");
}

// ================================================================ Boost's bytes, the control block

namespace {

/// [begin, end) byte ranges of the segment.
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

/// The configuration a validated map was built from, and the region sizes it implies.
venom::ChannelConfig config_of(const vd::ChannelMap& m) {
    venom::ChannelConfig c{static_cast<std::size_t>(m.data_size), m.cmd_slots, m.max_clients};
    c.max_cmd_size = m.max_cmd_size;
    c.max_response_size = m.max_response_size;
    c.state_buffers = m.state_buffers;
    return c;
}
vd::Sizes sizes_of(const vd::ChannelMap& m) { return vd::Sizes::of(config_of(m), m.page_size); }

/// What venom owns in the segment: the control block's pages and the four regions (each a
/// whole number of pages, carved in this order from one block), sorted.
Ranges venom_ranges(const vd::Attachment& a) {
    const vd::ChannelMap& m = a.map;
    const vd::Sizes s = sizes_of(m);
    auto range = [&](const void* p, std::uint64_t n) {
        return std::make_pair(m.offset_of(p), m.offset_of(p) + n);
    };
    Ranges r = {
        range(m.cb, s.control),    range(m.state, s.state),     range(m.responses, s.responses),
        range(m.shared, s.shared), range(m.clients, s.clients),
    };
    BOOST_TEST(m.shared_bytes == s.shared);
    BOOST_TEST(m.client_stride * m.max_clients == s.clients);
    std::sort(r.begin(), r.end());
    return r;
}

/// Everything else: Boost's segment header, its allocator's block headers and free space, the
/// name index and the named object's name.
Ranges boost_ranges(const vd::Attachment& a) {
    Ranges out;
    std::uint64_t from = 0;
    for (const auto& v : venom_ranges(a)) {
        if (v.first > from) out.push_back({from, v.first});
        from = std::max(from, v.second);
    }
    if (a.mapping.size() > from) out.push_back({from, a.mapping.size()});
    return out;
}

bool inside(const Ranges& rs, std::uint64_t off, std::uint64_t n) {
    for (const auto& r : rs)
        if (off >= r.first && off + n <= r.second) return true;
    return false;
}

/// A newcomer connects promptly, its request is answered, it reads the published state; the
/// tool's read-only attach works too.
void expect_channel_works(const std::string& name, const std::string& state,
                          const std::string& context) {
    const auto t0 = Clock::now();
    try {
        venom::ShellOptions o;
        o.request_timeout = 10s;
        venom::ShellChannel s = venom::ShellChannel::connect(name, o);
        const double connect_s = seconds_since(t0);
        BOOST_TEST(connect_s < 2.0, context << ": connect took " << connect_s << " s");
        const std::string cmd = "ping " + context;
        const auto answer = s.request(cmd);
        BOOST_TEST(std::string(answer.begin(), answer.end()) == cmd, context << ": round trip");
        const auto st = s.read_data();
        BOOST_TEST(std::string(st.begin(), st.end()) == state, context << ": read_data");
        vd::AttachOptions tool;
        tool.writable = false;
        tool.require_live = false;
        const vd::Attachment ro = vd::attach(name, tool);
        BOOST_TEST(ro.daemon_alive, context << ": read-only attach");
    } catch (const venom::error& e) {
        BOOST_ERROR(context << ": " << e.what());
    }
    const double total = seconds_since(t0);
    BOOST_TEST(total < 5.0, context << ": took " << total << " s");
}

/// A newcomer's connect throws corrupt_channel, promptly.
void expect_corrupt(const std::string& name, const std::string& context) {
    const auto t0 = Clock::now();
    try {
        venom::ShellChannel s = venom::ShellChannel::connect(name);
        BOOST_ERROR(context << ": connect accepted the segment");
    } catch (const venom::error& e) {
        BOOST_TEST(e.code() == venom::errc::corrupt_channel, context << ": " << e.what());
        BOOST_TEST_MESSAGE(context << ": " << e.what());
    }
    const double took = seconds_since(t0);
    BOOST_TEST(took < 2.0, context << ": connect took " << took << " s");
}

std::int64_t offset_of(const bip::offset_ptr<unsigned char>& p) {
    return static_cast<std::int64_t>(p.get_offset());
}

/// Stores a raw offset into an offset_ptr member, as a hostile process would (bytes, no
/// pointer formed).
void set_offset(bip::offset_ptr<unsigned char>& p, std::int64_t off) {
    std::memcpy(static_cast<void*>(&p), &off, sizeof off);
}

/// Sets `field` to `value` for one expect_corrupt, then puts it back.
template <class T, class V>
void corrupt_field(const std::string& name, T& field, V value, const std::string& what) {
    const T saved = field;
    field = static_cast<T>(value);
    expect_corrupt(name, what);
    field = saved;
}

} // namespace

BOOST_AUTO_TEST_CASE(hostile_boost_header_and_index) {
    ChannelName name("hboost");
    auto daemon = venom::DaemonChannel::create(name.str(), hostile_config());
    const std::string state = "published state";
    daemon.write_data(state);
    Server server(daemon, [](std::uint32_t, venom::ByteView cmd) { return cmd.to_vector(); });
    expect_channel_works(name.str(), state, "untouched");

    vd::Attachment a = vd::attach(name.str(), {}); // raw, read-write: no shell's protections
    unsigned char* const base = a.mapping.data();
    const std::uint64_t size = a.mapping.size();
    const std::uint64_t control = a.record.control_offset;
    const std::uint64_t page = a.map.page_size;
    BOOST_REQUIRE(control >= 8 && control < size);
    BOOST_TEST(control % page == 0, "the control block is page aligned");
    const Ranges venom = venom_ranges(a);
    for (const auto& r : venom)
        BOOST_TEST((r.first % page == 0 && r.second % page == 0),
                   "venom's regions are whole pages");
    const Ranges boost = boost_ranges(a);
    std::uint64_t boost_bytes = 0;
    for (const auto& r : boost) boost_bytes += r.second - r.first;
    // The name index is in Boost's bytes: the named object's name, at least, is.
    const std::string anchor = vd::control_block_name;
    const auto* found = std::search(base, base + size, anchor.begin(), anchor.end());
    BOOST_TEST(found != base + size, "the control block's name is not in the segment");
    if (found != base + size)
        BOOST_TEST(inside(boost, static_cast<std::uint64_t>(found - base), anchor.size()),
                   "the index's name lies in venom's ranges");
    BOOST_TEST_MESSAGE("segment " << size << " bytes, control block at " << control << ", venom's "
                                  << venom.back().second - venom.front().first
                                  << " bytes from there, Boost's " << boost_bytes << " in "
                                  << boost.size() << " ranges, \"" << anchor << "\" at "
                                  << (found - base));

    const std::vector<unsigned char> original(base, base + size);
    auto restore_boost = [&] {
        for (const auto& r : boost)
            std::memcpy(base + r.first, original.data() + r.first, r.second - r.first);
    };
    std::mt19937_64 rng(42);
    using Fill = std::function<void(unsigned char*, std::uint64_t)>;
    const Fill zeros = [](unsigned char* p, std::uint64_t n) { std::memset(p, 0, n); };
    const Fill ones = [](unsigned char* p, std::uint64_t n) { std::memset(p, 0xff, n); };
    const Fill random = [&](unsigned char* p, std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(rng());
    };
    auto words = [](std::uint64_t v) -> Fill {
        return [v](unsigned char* p, std::uint64_t n) {
            for (std::uint64_t i = 0; i + 8 <= n; i += 8) std::memcpy(p + i, &v, 8);
        };
    };
    const std::vector<std::pair<std::string, Fill>> patterns = {
        {"zeros (offset_ptrs point at themselves: index cycles)", zeros},
        {"0xff", ones},
        {"random", random},
        {"every word 1 (null offset_ptrs)", words(1)},
        {"every word 2^62 (huge sizes)", words(std::uint64_t{1} << 62)},
        {"every word 16x the segment size", words(size * 16)},
    };
    // Boost's header up to the control block, then every byte of Boost's.
    for (const auto& p : patterns) {
        restore_boost();
        p.second(base, control);
        expect_channel_works(name.str(), state,
                             "header [0, " + std::to_string(control) + ") " + p.first);
    }
    for (const auto& p : patterns) {
        restore_boost();
        for (const auto& r : boost) p.second(base + r.first, r.second - r.first);
        expect_channel_works(name.str(), state, "all Boost's bytes " + p.first);
    }
    // Boost's init word (the first word: 0 uninitialised, 1 initialising made open_only wait
    // forever, 3 corrupted), over the original header.
    for (const std::uint64_t init : std::vector<std::uint64_t>{0, 1, 3, ~std::uint64_t{0}}) {
        restore_boost();
        std::memcpy(base, &init, 8);
        expect_channel_works(name.str(), state, "init word " + std::to_string(init));
    }
    restore_boost();
    expect_channel_works(name.str(), state, "restored");

    // ---- the control block's region pointers aimed outside the mapping, off their pages, or
    // onto another region (the shared region over a client's area would let one shell's
    // writable pages cover what another reads; ChannelMap refuses overlaps)
    vd::ControlBlock& cb = *a.map.cb;
    auto field_at = [&](const void* p) {
        return static_cast<std::int64_t>(static_cast<const unsigned char*>(p) - base);
    };
    struct Ptr {
        const char* what;
        bip::offset_ptr<unsigned char>* p;
    };
    const Ptr ptrs[] = {{"state_area", &cb.state_area},
                        {"responses", &cb.responses},
                        {"shared", &cb.shared},
                        {"clients", &cb.clients}};
    const auto n_ptrs = static_cast<std::int64_t>(std::size(ptrs));
    for (std::int64_t i = 0; i < n_ptrs; ++i) {
        const Ptr& f = ptrs[i];
        const std::int64_t saved = offset_of(*f.p);
        const std::int64_t field = field_at(f.p);
        const Ptr& next = ptrs[(i + 1) % n_ptrs];
        const std::int64_t next_region = field_at(next.p) + offset_of(*next.p);
        const auto isize = static_cast<std::int64_t>(size), ipage = static_cast<std::int64_t>(page);
        const std::pair<std::string, std::int64_t> cases[] = {
            {"+ the mapping's size", saved + isize},
            {"just past the end", isize - field},
            {"the last cache line", isize - 64 - field},
            {"before the mapping", -field - ipage},
            {"huge", INT64_MAX},
            {"most negative", INT64_MIN},
            {"misaligned by 8", saved + 8},
            {"a cache line on (off its page)", saved + 64},
            {"half a page on", saved + ipage / 2},
            {"null (offset 1)", 1},
            {"onto the control block", static_cast<std::int64_t>(control) - field},
            {std::string("onto the ") + next.what + " region", next_region - field},
        };
        for (const auto& c : cases) {
            set_offset(*f.p, c.second);
            expect_corrupt(name.str(), std::string(f.what) + " " + c.first);
            set_offset(*f.p, saved);
        }
        expect_channel_works(name.str(), state, std::string(f.what) + " restored");
    }
    // Also through offset_ptr's own assignment.
    {
        const std::int64_t saved = offset_of(cb.shared);
        cb.shared = cb.shared.get() + size;
        expect_corrupt(name.str(), "shared = shared + size (offset_ptr assignment)");
        cb.shared = cb.clients.get();
        expect_corrupt(name.str(), "shared = clients (offset_ptr assignment)");
        set_offset(cb.shared, saved);
    }

    // ---- the segment-size word: never a bound (the file's size is)
    const std::uint64_t saved_size = cb.segment_size;
    for (const std::uint64_t v :
         std::vector<std::uint64_t>{~std::uint64_t{0}, std::uint64_t{1} << 62, 0, size * 1000}) {
        cb.segment_size = v;
        expect_channel_works(name.str(), state, "segment_size " + std::to_string(v));
    }
    cb.segment_size = saved_size;

    // ---- the configuration the regions are sized by: out of range, or contradicting the
    // strides, the ring size or the page size, is corrupt_channel
    const std::string n = name.str();
    corrupt_field(n, cb.cmd_slots, 0xffffffffu, "cmd_slots 2^32-1");
    corrupt_field(n, cb.cmd_slots, 1, "cmd_slots 1 (ring_slots no longer matches)");
    corrupt_field(n, cb.ring_slots, cb.ring_slots * 2, "ring_slots x2");
    corrupt_field(n, cb.ring_slots, 0, "ring_slots 0");
    corrupt_field(n, cb.max_clients, 0, "max_clients 0");
    corrupt_field(n, cb.max_clients, venom::limits::max_clients + 1, "max_clients over the limit");
    corrupt_field(n, cb.max_cmd_size, 0x80000000u, "max_cmd_size 2^31");
    corrupt_field(n, cb.max_response_size, cb.max_response_size * 64,
                  "max_response_size x64 (response_stride no longer matches)");
    corrupt_field(n, cb.state_buffers, 9, "state_buffers 9");
    corrupt_field(n, cb.data_size, std::uint64_t{1} << 40, "data_size 2^40");
    corrupt_field(n, cb.data_size, std::uint64_t{1} << 30,
                  "data_size 2^30 (state_stride no longer matches)");
    corrupt_field(n, cb.client_stride, cb.client_stride * 1024, "client_stride x1024");
    corrupt_field(n, cb.client_stride, cb.client_stride - 64,
                  "client_stride a line short (no whole page)");
    corrupt_field(n, cb.response_stride, cb.response_stride + 64, "response_stride + 64");
    corrupt_field(n, cb.state_stride, cb.state_stride + 64, "state_stride + 64");
    corrupt_field(n, cb.page_size, 0, "page_size 0");
    corrupt_field(n, cb.page_size, 4097, "page_size 4097");
    corrupt_field(n, cb.page_size, 2048, "page_size 2048");
    corrupt_field(n, cb.page_size, page * 2, "page_size x2 (the strides no longer match)");
    corrupt_field(n, cb.page_size, 1u << 21, "page_size 2 MiB");
    corrupt_field(n, cb.claim_timeout_ns, 0, "claim_timeout_ns 0");
    corrupt_field(n, cb.claim_timeout_ns, std::uint64_t{1} << 63, "claim_timeout_ns 2^63");
    // The identity: the daemon's record (which shells read first, and only the daemon writes)
    // names the layout, the daemon's pid and creation time; a segment contradicting it is
    // corrupt, not another layout.
    corrupt_field(n, cb.magic, 0, "magic 0");
    corrupt_field(n, cb.version, vd::layout_version - 1, "the previous layout version");
    corrupt_field(n, cb.daemon_pid, cb.daemon_pid + 1, "daemon_pid + 1");
    corrupt_field(n, cb.created_unix_ns, cb.created_unix_ns + 1, "created_unix_ns + 1");
    {
        const std::uint32_t saved = cb.state.load();
        cb.state.store(7);
        expect_corrupt(n, "state 7");
        cb.state.store(saved);
    }
    expect_channel_works(name.str(), state, "everything restored");
    BOOST_TEST(std::memcmp(original.data(), base, control) == 0);
}

// ================================================================ what a shell may write

namespace {

/// The pieces of every mapping of channel `channel`'s segment file in this process (a shell's
/// mapping is cut into pieces by its protections).
std::vector<Vma> segment_vmas(const std::string& channel) {
    return mappings_of(vd::segment_path(channel));
}

/// Sorted, with touching and overlapping ranges merged.
Ranges merged(Ranges r) {
    std::sort(r.begin(), r.end());
    Ranges out;
    for (const auto& x : r) {
        if (!out.empty() && x.first <= out.back().second)
            out.back().second = std::max(out.back().second, x.second);
        else out.push_back(x);
    }
    return out;
}

std::string to_text(const Ranges& rs) {
    std::string s;
    for (const auto& r : rs)
        s += "[" + std::to_string(r.first) + ", " + std::to_string(r.second) + ") ";
    return s;
}

/// What a shell holding client slot `id` may write (segment.hpp, protect_for_shell and
/// protect_client_area): the shared region and its own client area.
Ranges shell_writable(const vd::ChannelMap& m, std::uint32_t id) {
    return merged(
        {{m.offset_of(m.shared), m.offset_of(m.shared) + m.shared_bytes},
         {m.offset_of(m.client_area(id)), m.offset_of(m.client_area(id)) + m.client_stride}});
}

/// The file ranges of `vmas` that are writable.
Ranges writable_ranges(const std::vector<Vma>& vmas) {
    Ranges r;
    for (const Vma& v : vmas)
        if (v.writable) r.push_back({v.offset, v.offset + (v.end - v.begin)});
    return merged(r);
}

/// A shell's view of its own mapping, for writing through it as a buggy shell would: the
/// mapping found in /proc/self/maps right after connect (the only one of the segment in this
/// process then), and a read-only attach for the offsets (the same in every mapping).
struct OwnMapping {
    std::vector<Vma> vmas;
    unsigned char* base = nullptr; ///< the shell's mapping's start (file offset 0)
    vd::Attachment offsets;

    explicit OwnMapping(const std::string& channel) : vmas(segment_vmas(channel)) {
        if (vmas.empty()) throw std::runtime_error("no mapping of the segment in /proc/self/maps");
        base = reinterpret_cast<unsigned char*>(vmas.front().begin - vmas.front().offset);
        for (const Vma& v : vmas)
            if (v.begin - v.offset != vmas.front().begin - vmas.front().offset)
                throw std::runtime_error(
                    "more than one mapping of the segment before the shell's own");
        vd::AttachOptions ro;
        ro.writable = false;
        offsets = vd::attach(channel, ro);
    }
    const vd::ChannelMap& map() const { return offsets.map; }
    /// The shell's own address of segment offset `at`.
    unsigned char* at(std::uint64_t offset) const { return base + offset; }
};

} // namespace

// ---- a buggy shell: scribbling through its own mapping

namespace {

/// How the buggy shell scribbles: `own_pages` spares the queue's words (tail and ring), which
/// every shell must write correctly for the queue to work; `queue` scribbles them too.
enum class scribble_scope { own_pages, queue };

/// Counters the buggy-shell test shares with its children (besides Stats).
struct BuggyStats {
    /// 1: the shell's writable pages are as promised; 2: not
    std::atomic<std::uint32_t> writable_check;
    std::atomic<std::uint64_t> own_ok, own_failed; ///< the buggy shell's own requests
};
using BuggyMap = SharedBlock<BuggyStats>;

} // namespace

/// A shell that scribbles through its own mapping, on what it may write only: the shared
/// region (the events' words and the pages' padding; with scope `queue` the tail and the ring
/// too) and its own client area (record, request counter, answer wait word, staging header
/// and bytes), and sends requests of its own in between. args: name, stats, buggy stats, ms,
/// seed, scope.
VENOM_CHILD_ROLE(shell_scribbler) {
    StatsMap stats(args.at(1), false);
    BuggyMap buggy(args.at(2), false);
    const scribble_scope scope =
        args.at(5) == "queue" ? scribble_scope::queue : scribble_scope::own_pages;
    venom::ShellChannel shell = connect_when_up(args.at(0), {}, 20s);
    const OwnMapping own(args.at(0));
    const vd::ChannelMap& m = own.map();
    const std::uint32_t id = shell.client_id();
    const Ranges writable = writable_ranges(own.vmas), promised = shell_writable(m, id);
    buggy->writable_check.store(writable == promised ? 1 : 2);
    if (writable != promised) {
        std::fprintf(
            stderr,
            "shell_scribbler: its mapping is writable at %s, protect_for_shell promises %s\n",
            to_text(writable).c_str(), to_text(promised).c_str());
        return 3;
    }

    const std::uint64_t shared = m.offset_of(m.shared), ring = m.offset_of(m.ring);
    const std::uint64_t ring_end = ring + std::uint64_t{m.ring_slots} * vd::cache_line;
    const std::uint64_t area = m.offset_of(m.client_area(id));
    const std::uint64_t area_used = vd::client_fixed_bytes + m.max_cmd_size;
    // The shell's own pointers (through its own mapping) to the queue's words.
    auto& tail = *reinterpret_cast<std::atomic<std::uint64_t>*>(
        own.at(shared + offsetof(vd::SharedLines, tail)));
    auto ring_word = [&](std::uint64_t pos) -> std::atomic<std::uint64_t>& {
        return *reinterpret_cast<std::atomic<std::uint64_t>*>(
            own.at(ring + (pos & m.ring_mask) * vd::cache_line));
    };
    // The events' words: cmd_wait, space_wait, state_wait (each {epoch, waiters}).
    const std::uint64_t events[] = {shared + offsetof(vd::SharedLines, cmd_wait),
                                    shared + offsetof(vd::SharedLines, space_wait),
                                    shared + offsetof(vd::SharedLines, state_wait)};
    std::mt19937_64 rng(std::stoull(args.at(4)));
    auto random_bytes = [&](std::uint64_t from, std::uint64_t to) { // [from, to)
        const std::uint64_t off = from + rng() % (to - from);
        const std::uint64_t len = std::min<std::uint64_t>(1 + rng() % 16, to - off);
        for (std::uint64_t i = 0; i < len; ++i)
            *own.at(off + i) = static_cast<unsigned char>(rng());
    };
    std::uint64_t writes = 0;
    const auto end = Clock::now() + std::chrono::milliseconds(std::stol(args.at(3)));
    stats->scribbling.store(1);
    while (Clock::now() < end) {
        const unsigned kind = static_cast<unsigned>(rng() % 16);
        switch (scope == scribble_scope::queue ? kind : kind % 8) {
        // record, counter, wait, staging
        case 0: random_bytes(area, area + area_used); break;
        case 1: random_bytes(area, area + vd::client_fixed_bytes); break; // the fixed lines only
        case 2:
            random_bytes(area + area_used, area + m.client_stride);
            break; // the area's padding
        // the shared pages' padding
        case 3: random_bytes(ring_end, shared + m.shared_bytes); break;
        // tail's line, past tail
        case 4: random_bytes(shared + 8, shared + vd::cache_line); break;
        // an event's epoch or waiters
        case 5: {
            const std::uint64_t e = events[rng() % 3] + 4 * (rng() % 2);
            const std::uint32_t v = rng() % 2 ? static_cast<std::uint32_t>(rng())
                                              : static_cast<std::uint32_t>(rng() % 3);
            std::memcpy(own.at(e), &v, sizeof v);
            break;
        }
        case 6: { // its own staging header: a length or request id of any value
            vd::StagingHeader& st = m.staging(id); // offsets only: written through own.at
            const std::uint64_t h = m.offset_of(&st);
            const std::uint64_t v = rng();
            std::memcpy(own.at(h + (rng() % 2 ? offsetof(vd::StagingHeader, length)
                                              : offsetof(vd::StagingHeader, request))),
                        &v, rng() % 2 ? 4 : 8);
            break;
        }
        case 7: { // its own record: state, pid, generation
            const std::uint64_t r = area + vd::client_record_line * vd::cache_line;
            const std::uint64_t v = rng() % 2 ? rng() : rng() % 3;
            std::memcpy(own.at(r + 8 * (rng() % 2)), &v, rng() % 2 ? 4 : 8);
            break;
        }
        // ---- scope queue: the words every shell must write correctly
        case 8: random_bytes(shared, shared + 8); break; // the tail's bytes
        case 9:
            random_bytes(ring, ring_end);
            break; // the ring's lines
        // a ring word: free for a nearby position
        case 10: {
            const std::uint64_t t = tail.load() + rng() % (4 * m.ring_slots) - 2 * m.ring_slots;
            ring_word(t).store(vd::slot_free(t + (rng() % 3 - 1) * m.ring_slots));
            break;
        }
        case 11: { // a ring word: a forged publish
            const std::uint64_t t = tail.load() + rng() % (4 * m.ring_slots) - 2 * m.ring_slots;
            ring_word(t).store(
                vd::slot_published(t + (rng() % 3 - 1) * m.ring_slots,
                                   static_cast<std::uint32_t>(rng() % (m.max_clients + 1))));
            break;
        }
        // tail nearby
        case 12: tail.store(tail.load() + rng() % (4 * m.ring_slots) - 2 * m.ring_slots); break;
        case 13:
            tail.store(tail.load() + ((rng() % 2 ? 1 : -1) * (std::int64_t{1} << (rng() % 63))));
            break;
        case 14: tail.store(rng()); break;
        default: std::memset(own.at(ring), 0, ring_end - ring); break; // a stray memset of the ring
        }
        ++writes;
        stats->scribbles.store(writes, std::memory_order_relaxed);
        // Bursts, so that the others keep working in pages being scribbled on; and now and
        // then a request of its own (a buggy shell still talks; its staging may be garbage,
        // so most of them time out).
        if (writes % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
        if (writes % 64 == 0) {
            char resp[256];
            std::error_code ec;
            (void)shell.request("mine", 4, resp, sizeof resp, 20ms, ec);
            (ec ? buggy->own_failed : buggy->own_ok).fetch_add(1);
        }
    }
    stats->scribbling.store(0);
    stats->scribble_done.store(1);
    return 0;
}

namespace {

/// The buggy-shell scenario: a daemon, an honest shell, the buggy shell scribbling its own
/// pages for 2 s (scaled), newcomers from the test process throughout; once the buggy shell is
/// gone, the channel must serve everyone again.
void buggy_shell_scenario(scribble_scope scope) {
    ChannelName name("hbuggy");
    const std::string stats_name = "vt_hbuggy_stats_" + std::to_string(getpid_portable());
    StatsMap stats(stats_name, true);
    BuggyMap buggy(stats_name + "_b", true);
    const long ms = scaled(2000);
    Child daemon = spawn_self("hostile_daemon", {name.str(), stats_name});
    Child shell = spawn_self("hostile_shell", {name.str(), stats_name});
    BOOST_REQUIRE_MESSAGE(eventually([&] { return stats->ok.load() >= 200; }, 30s),
                          "the shell never got going (ok " << stats->ok.load() << ")");
    const char* seed_env = std::getenv("VENOM_HOSTILE_SEED");
    const std::uint64_t seed =
        seed_env != nullptr
            ? std::strtoull(seed_env, nullptr, 10)
            : static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) % 1000000007u;
    BOOST_TEST_MESSAGE("buggy shell seed " << seed << " (VENOM_HOSTILE_SEED)");
    Child scribbler =
        spawn_self("shell_scribbler",
                   {name.str(), stats_name, stats_name + "_b", std::to_string(ms),
                    std::to_string(seed), scope == scribble_scope::queue ? "queue" : "own_pages"});
    const ConnectTally during = connect_until(
        name.str(), [&] { return stats->scribble_done.load() != 0; },
        "while a shell scribbles its own pages");
    BOOST_TEST_MESSAGE("during " << ms
                                 << " ms of a buggy shell's scribbling: " << during.summary());
    const int scribbler_rc = scribbler.wait(30s);
    BOOST_TEST(scribbler_rc == 0, "the buggy shell exited with " << scribbler_rc);
    BOOST_TEST(buggy->writable_check.load() == 1u,
               "the buggy shell's writable pages are not what protect_for_shell promises");
    BOOST_TEST_MESSAGE("buggy shell: " << stats->scribbles.load() << " writes, its own requests "
                                       << buggy->own_ok.load() << " answered, "
                                       << buggy->own_failed.load() << " failed");
    // Nothing validation reads is in a shell's writable pages: no newcomer is ever refused as
    // corrupt, and every one that connects reads the state (the state is the daemon's alone).
    // Slots may look taken while a forged publish names them (scope queue).
    for (const auto& e : during.errors)
        BOOST_TEST((scope == scribble_scope::queue &&
                    e.first == venom::make_error_code(venom::errc::too_many_clients).message()),
                   e.second << " newcomers refused: " << e.first);
    BOOST_TEST(during.read_ok == during.connected);

    // Once the buggy shell is gone, the channel serves everyone again.
    const std::uint64_t ok_after = stats->ok.load();
    BOOST_TEST(eventually([&] { return stats->ok.load() > ok_after + 50; }, 5s),
               "the honest shell is no longer answered after the buggy shell left ("
                   << stats->ok.load() - ok_after << " answers in 5 s)");
    // The buggy shell's last stray words in the ring cost a claim_timeout each until the
    // daemon repairs them (command_queue.hpp): the channel has settled once its repairs stop
    // (no new one for 100 ms, twenty claim timeouts). Newcomers' requests are judged after
    // that, with 200 ms each: the point is that they are served, and on 2 cores the honest
    // shell's spinning and a sanitizer's slowdown can cost a newcomer a few scheduler slices.
    std::uint64_t repairs_settled = 0;
    {
        vd::AttachOptions ro;
        ro.writable = false;
        const vd::Attachment a = vd::attach(name.str(), ro);
        auto last_change = Clock::now();
        std::uint64_t seen = a.map.cb->queue_repairs.load();
        const auto t0 = Clock::now();
        while (Clock::now() - last_change < 100ms && Clock::now() - t0 < 5s) {
            std::this_thread::sleep_for(5ms);
            const std::uint64_t now_seen = a.map.cb->queue_repairs.load();
            if (now_seen != seen) {
                seen = now_seen;
                last_change = Clock::now();
            }
        }
        const bool settled = Clock::now() - last_change >= 100ms;
        BOOST_TEST(settled,
                   "the daemon was still repairing the queue 5 s after the buggy shell left");
        repairs_settled = seen;
    }
    const ConnectTally after = fifty_connects(name.str(), "after the buggy shell left", 200ms);
    BOOST_TEST_MESSAGE("after the buggy shell left: " << after.summary());
    BOOST_TEST(after.connected == 50);
    BOOST_TEST(after.answered >= 49, "newcomers answered after the buggy shell left: "
                                         << after.answered << " of 50 (" << after.summary() << ")");
    BOOST_TEST(after.read_ok == after.connected);
    try {
        vd::AttachOptions ro;
        ro.writable = false;
        const vd::Attachment a = vd::attach(name.str(), ro);
        BOOST_TEST_MESSAGE("daemon counters: " << a.map.cb->commands_handled.load() << " handled, "
                                               << a.map.cb->commands_malformed.load()
                                               << " malformed, " << a.map.cb->commands_stale.load()
                                               << " stale, " << a.map.cb->queue_repairs.load()
                                               << " queue repairs ("
                                               << a.map.cb->queue_repairs.load() - repairs_settled
                                               << " during the fifty connects after)");
    } catch (const venom::error& e) {
        BOOST_ERROR("the daemon's segment after the buggy shell: " << e.what());
    }

    stats->stop_shell.store(1);
    const int shell_rc = shell.wait(30s);
    stats->stop_daemon.store(1);
    const int daemon_rc = daemon.wait(30s);
    BOOST_TEST_MESSAGE("honest shell: "
                       << stats->ok.load() << " answered (" << stats->ok_while_scribbling.load()
                       << " during the scribbling), " << stats->wrong.load() << " wrong, "
                       << stats->timeouts.load() << " timeouts, " << stats->gone.load()
                       << " daemon_gone, " << stats->corrupt.load() << " corrupt_channel, "
                       << stats->other_errors.load() << " other errors; " << stats->reads_ok.load()
                       << " reads, " << stats->read_errors.load() << " read errors");
    BOOST_TEST(shell_rc == 0, "the honest shell exited with " << shell_rc);
    BOOST_TEST(daemon_rc == 0, "the daemon exited with " << daemon_rc);
    // The honest shell's staging area, its answer slot and the state are not in the buggy
    // shell's pages: it reads every state, and never gets a wrong or corrupt answer unless
    // the queue's words are forged (a forged publish re-runs its command: README, Security).
    BOOST_TEST(stats->read_errors.load() == 0u);
    BOOST_TEST(stats->ok_while_scribbling.load() > 0u,
               "the honest shell got no answer during the scribbling");
    if (scope == scribble_scope::own_pages) {
        BOOST_TEST(stats->wrong.load() == 0u);
        BOOST_TEST(stats->corrupt.load() == 0u);
        BOOST_TEST(stats->gone.load() == 0u);
        BOOST_TEST(stats->other_errors.load() == 0u);
    }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_buggy_shell_scribbling_its_writable_pages) {
    buggy_shell_scenario(scribble_scope::own_pages);
}

// ================================================================ the queue's words
//
// The tail and the ring are in every shell's writable pages; a buggy shell's stray writes
// there must cost at most the commands in flight (command_queue.hpp: the daemon skips holes
// and puts back a tail run ahead or behind), and never a call's bound.

BOOST_AUTO_TEST_CASE(a_buggy_shell_scribbling_the_queue_too) {
    buggy_shell_scenario(scribble_scope::queue);
}

namespace {

/// Requests of 100 ms each until one is answered, for at most `limit`; returns the time it
/// took, or a negative number.
double first_answer_within(venom::ShellChannel& s, std::chrono::milliseconds limit) {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
        char resp[64];
        std::error_code ec;
        const std::size_t n = s.request("again", 5, resp, sizeof resp, 100ms, ec);
        if (!ec && n == 5) return seconds_since(t0);
    }
    return -1;
}

} // namespace

/// A request that would have to move the tail forward a long way (a stray write put it far
/// behind the head: every position from there reads as taken, and the shell helps the tail
/// past each) returns within its timeout, and the queue serves again soon after. In a child,
/// so that a request that never returns cannot hang the test. args: name. Exit 0: both; 2: the
/// request overran its timeout; 3: no request was answered within 3 s after.
VENOM_CHILD_ROLE(tail_behind_requester) {
    venom::ShellChannel s = venom::ShellChannel::connect(args.at(0));
    for (int i = 0; i < 20; ++i) s.request("lap");
    vd::Attachment a = vd::attach(args.at(0), {});
    const vd::ChannelMap& m = a.map;
    m.shared->tail.store(m.shared->tail.load() - (std::uint64_t{1} << 40));
    const auto t0 = Clock::now();
    char resp[64];
    std::error_code ec;
    (void)s.request("x", 1, resp, sizeof resp, 200ms, ec);
    const double took = seconds_since(t0);
    std::fprintf(stderr, "tail_behind_requester: a 200 ms request returned %s after %.3f s\n",
                 ec ? ec.message().c_str() : "ok", took);
    if (took > 1.0) return 2;
    return first_answer_within(s, 3s) >= 0 ? 0 : 3;
}

BOOST_AUTO_TEST_CASE(a_tail_far_behind_the_head_keeps_requests_bounded) {
    ChannelName name("htail");
    auto daemon = venom::DaemonChannel::create(name.str(), hostile_config());
    daemon.write_data(std::string_view("s"));
    Server server(daemon);
    Child c = spawn_self("tail_behind_requester", {name.str()});
    int rc = -1;
    try {
        rc = c.wait(10s);
    } catch (const std::exception& e) {
        BOOST_ERROR("a 200 ms request did not return in 10 s with the tail 2^40 behind the head ("
                    << e.what() << ")");
        return;
    }
    BOOST_TEST(
        rc == 0,
        "exit " << rc << " (2: the request overran its timeout; 3: the queue did not recover)");
}

/// A stray ring word other than "free for its position" or "published for its position" - of
/// an older lap (a memset of zeros over the ring), or of a later lap (any large value) - must
/// cost at most a few repairs: afterwards twenty requests are answered within 1 s.
BOOST_AUTO_TEST_CASE(stray_ring_words_are_repaired) {
    venom::ChannelConfig config{64, 2, 2};
    const std::string cases[] = {"the ring zeroed", "one word a later lap's",
                                 "every word a later lap's"};
    for (const std::string& how : cases) {
        ChannelName name("hring");
        auto daemon = venom::DaemonChannel::create(name.str(), config);
        daemon.write_data(std::string_view("s"));
        Server server(daemon);
        venom::ShellChannel s = venom::ShellChannel::connect(name.str());
        for (int i = 0; i < 10; ++i) s.request("lap"); // the ring has gone round
        // raw: a buggy shell writes these pages through its own
        vd::Attachment a = vd::attach(name.str(), {});
        const vd::ChannelMap& m = a.map;
        const std::uint64_t tail = m.shared->tail.load(), lap = m.ring_slots;
        const std::uint64_t far = (std::uint64_t{1} << 40) * lap;
        if (how == "the ring zeroed") std::memset(m.ring, 0, lap * vd::cache_line);
        else if (how == "one word a later lap's")
            m.slot(tail).word.store(vd::slot_free(tail + far));
        else
            for (std::uint64_t i = 0; i < lap; ++i)
                m.slot(tail + i).word.store(vd::slot_free(tail + i + far));
        const auto t0 = Clock::now();
        int answered = 0;
        while (answered < 20 && Clock::now() - t0 < 1s) {
            char resp[16];
            std::error_code ec;
            if (s.request("x", 1, resp, sizeof resp, 200ms, ec) == 1 && !ec) ++answered;
        }
        BOOST_TEST_MESSAGE(how << ": " << answered << " of 20 requests answered in "
                               << seconds_since(t0) << " s");
        BOOST_TEST(answered == 20, how << ": " << answered << " of 20 requests answered in "
                                       << seconds_since(t0) << " s (tail " << m.shared->tail.load()
                                       << ", head " << m.cb->head.load() << ", repairs "
                                       << m.cb->queue_repairs.load() << ")");
    }
}

VENOM_TEST_MAIN("hostile")
