// test/hostile_test.cpp - hostile bytes anywhere in a live channel's segment, Boost's own
// header, allocator and name index included. Whoever can write the segment (any process of a
// user the channel's access lets in) controls every byte of it; venom must stay bounded and
// safe whatever those bytes are: connects succeed or throw a venom::error promptly, calls
// return, no process crashes, a daemon keeps running. (Before shells mapped the segment
// themselves, a scribbled index made every later connect crash in Boost's iset_index::find, and
// a segment-size word or an init word made Boost's open read outside the mapping or wait
// forever.)
//
//   a_second_process_scribbling_while_the_daemon_and_a_shell_run: a daemon child (echo
//       handler, a state published every millisecond), a shell child looping requests (200 ms
//       timeout) and reads, a scribbler child writing random bytes over the whole mapping:
//       blind, then keeping the control block's identity lines so that newcomers get past
//       validation into a garbage segment. The test process connects as a newcomer during and
//       after each phase (each connect timed), while the scribbled daemon still runs.
//   hostile_boost_header_and_index: Boost's bytes overwritten with patterns (zeros: offset_ptrs
//       that point at themselves, so index walks cycle; 0xff; random; Boost's init word states)
//       while the daemon serves: connect, a round trip and the state still work. Then region
//       pointers of the control block aimed outside the mapping (connect: corrupt_channel) and
//       its segment-size word made huge (harmless: the bound is the file's size).
//
// Duration scales with VENOM_TEST_SCALE (default: 2 s of blind scribbling, then 1 s more); the
// scribbler's seed is printed, VENOM_HOSTILE_SEED=<seed> repeats its writes.
#include "test_support.hpp"

#include <boost/interprocess/mapped_region.hpp>
#if defined(_WIN32)
#include <boost/interprocess/windows_shared_memory.hpp>
#else
#include <boost/interprocess/shared_memory_object.hpp>
#endif

#include <algorithm>
#include <optional>
#include <random>
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
    std::atomic<std::uint32_t> scribbling;     ///< 1 while the scribbler writes
    std::atomic<std::uint32_t> blind_done;     ///< the scribbler's first phase is over
    std::atomic<std::uint32_t> go_on;          ///< the test lets the second phase begin
    std::atomic<std::uint32_t> scribble_done;  ///< the scribbler finished
    std::atomic<std::uint64_t> scribbles;      ///< writes made
    std::atomic<std::uint64_t> handled;        ///< commands the daemon's handler answered
    std::atomic<std::uint64_t> states;         ///< write_data calls
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
    std::error_code error;   ///< when not connected
    std::string text;
    double seconds = 0;
    bool answered = false, read_ok = false;
};

ConnectOutcome connect_once(const std::string& name, std::chrono::milliseconds request_timeout) {
    ConnectOutcome out;
    const auto t0 = Clock::now();
    try {
        venom::ShellChannel s = venom::ShellChannel::connect(name);
        out.connected = true;
        char resp[256];
        std::error_code ec;
        const std::size_t n = s.request("probe", 5, resp, sizeof resp, request_timeout, ec);
        out.answered = !ec && n == 5 && std::memcmp(resp, "probe", 5) == 0;
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
    double slowest = 0;
    std::string slowest_what;

    void add(const ConnectOutcome& o) {
        ++total;
        if (o.connected) ++connected;
        if (o.answered) ++answered;
        if (o.read_ok) ++read_ok;
        if (!o.connected) ++errors[o.error.message()];
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
        return s + "; slowest " + std::to_string(slowest) + " s (" + slowest_what + ")";
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
            daemon.write_data("state " + std::to_string(v));
            stats->states.fetch_add(1);
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
        const std::size_t n = shell.request(cmd.data(), cmd.size(), resp.data(), resp.size(), 200ms, ec);
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

/// Writes random bytes at random offsets over the whole mapping (Boost's header, allocator
/// and index, the control block, every region). args: name, stats, blind ms, keeping ms, seed.
/// Phase 1 (blind): nothing spared; the magic number soon goes, and with it every newcomer.
/// Then, once the test says go on, phase 2: the same, but the control block's first two lines
/// (identity, configuration, state word, region pointers) are put back after every burst, as
/// an attacker who wants newcomers to get past validation would: they connect, claim a slot,
/// send and read in a segment whose every other byte is garbage.
VENOM_CHILD_ROLE(hostile_scribbler) {
    StatsMap stats(args.at(1), false);
    vd::Attachment a = vd::attach(args.at(0), {}); // the same user: read-write, like a shell
    unsigned char* const base = a.mapping.data();
    const std::uint64_t size = a.mapping.size();
    const std::uint64_t control = a.record.control_offset;
    unsigned char identity[2 * vd::cache_line];
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
                for (std::uint64_t i = 0; i < len; ++i) base[off + i] = static_cast<unsigned char>(rng());
            } else { // one aligned word: a small number, all ones, an offset_ptr to nearby, any
                const std::uint64_t off = (rng() % (size / 8)) * 8;
                std::uint64_t v = 0;
                switch (kind) {
                case 12: v = rng() % 4; break;
                case 13: v = ~std::uint64_t{0} - rng() % 4; break;
                case 14: v = static_cast<std::uint64_t>(static_cast<std::int64_t>(rng() % 8192) - 4096); break;
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
template <class Done> ConnectTally connect_until(const std::string& name, Done&& done, const char* when) {
    ConnectTally t;
    const auto t0 = Clock::now();
    while (!done() && seconds_since(t0) < 60) {
        const ConnectOutcome o = connect_once(name, 20ms);
        t.add(o);
        BOOST_TEST(o.seconds < 5.0, "a connect " << when << " took " << o.seconds << " s: " << o.text);
        std::this_thread::sleep_for(10ms);
    }
    return t;
}

/// 50 newcomers in a row: each connects or is refused with a venom::error, within 5 s.
ConnectTally fifty_connects(const std::string& name, const char* when) {
    ConnectTally t;
    for (int i = 0; i < 50; ++i) {
        const ConnectOutcome o = connect_once(name, 20ms);
        t.add(o);
        BOOST_TEST(o.seconds < 5.0, "connect " << i << " " << when << " took " << o.seconds << " s: " << o.text);
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
    const std::uint64_t seed = seed_env != nullptr
                                   ? std::strtoull(seed_env, nullptr, 10)
                                   : static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) % 1000000007u;
    BOOST_TEST_MESSAGE("scribbler seed " << seed << " (VENOM_HOSTILE_SEED)");
    Child scribbler = spawn_self("hostile_scribbler", {name.str(), stats_name, std::to_string(blind_ms),
                                                       std::to_string(keeping_ms), std::to_string(seed)});
    // Meanwhile this process connects as a newcomer, again and again.
    const ConnectTally blind = connect_until(name.str(), [&] { return stats->blind_done.load() != 0; },
                                             "during the blind scribbling");
    BOOST_TEST_MESSAGE("during " << blind_ms << " ms of blind scribbling: " << blind.summary());
    // Afterwards (the scribbler paused, the scribbled daemon still running): every newcomer
    // connects or is refused, promptly; the old code crashed here every time.
    const ConnectTally after_blind = fifty_connects(name.str(), "after the blind scribbling");
    BOOST_TEST_MESSAGE("after the blind scribbling: " << after_blind.summary());

    stats->go_on.store(1);
    const ConnectTally keeping = connect_until(name.str(), [&] { return stats->scribble_done.load() != 0; },
                                               "during the scribbling that keeps the identity");
    BOOST_TEST_MESSAGE("during " << keeping_ms << " ms of scribbling that keeps the identity: " << keeping.summary());
    const int scribbler_rc = scribbler.wait(30s);
    BOOST_TEST(scribbler_rc == 0, "the scribbler exited with " << scribbler_rc);
    BOOST_TEST_MESSAGE("scribbler: " << stats->scribbles.load() << " writes over the whole segment");
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
        const auto f = vd::LockFile::open_trusted(vd::liveness_path(name.str(), vd::find_incarnation(name.str())),
                                                  vd::Trust{}, false);
        BOOST_TEST(vd::daemon_alive(f), "the daemon no longer holds its ready byte");
    } catch (const venom::error& e) {
        BOOST_ERROR("the daemon's files: " << e.what());
    }

    // Every call of the shell and the daemon returned: both exit 0 when told to stop.
    stats->stop_shell.store(1);
    const int shell_rc = shell.wait(30s);
    stats->stop_daemon.store(1);
    const int daemon_rc = daemon.wait(30s);
    BOOST_TEST_MESSAGE("shell: " << stats->ok.load() << " answered (" << ok_before << " before the scribbling, "
                       << stats->ok_while_scribbling.load() << " during), " << stats->wrong.load()
                       << " wrong (answer overwritten), " << stats->timeouts.load() << " timeouts, "
                       << stats->gone.load() << " daemon_gone, " << stats->corrupt.load()
                       << " corrupt_channel, " << stats->other_errors.load() << " other errors; "
                       << stats->reads_ok.load() << " reads, " << stats->read_errors.load()
                       << " read errors; reconnects " << stats->reconnects_ok.load() << " ok, "
                       << stats->reconnects_failed.load() << " refused (old shell kept)");
    BOOST_TEST_MESSAGE("daemon: " << stats->handled.load() << " commands answered, "
                                  << stats->states.load() << " states published");
    BOOST_TEST(shell_rc == 0, "the shell exited with " << shell_rc << " (negative: killed by that signal)");
    BOOST_TEST(daemon_rc == 0, "the daemon exited with " << daemon_rc << " (negative: killed by that signal)");
}

// ================================================================ Boost's bytes, the control block

namespace {


/// [begin, end) byte ranges of the segment.
using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

/// What venom owns in the segment: the control block and the four regions, sorted.
Ranges venom_ranges(const vd::Attachment& a) {
    const vd::ChannelMap& m = a.map;
    const unsigned char* base = a.mapping.data();
    auto at = [&](const void* p) { return static_cast<std::uint64_t>(static_cast<const unsigned char*>(p) - base); };
    Ranges r = {
        {at(m.cb), at(m.cb) + sizeof(vd::ControlBlock)},
        {at(m.slots), at(m.slots) + m.slot_stride * m.cmd_slots},
        {at(m.responses), at(m.responses) + m.response_stride * m.max_clients},
        {at(m.clients), at(m.clients) + sizeof(vd::ClientRecord) * m.max_clients},
        {at(m.state), at(m.state) + m.state_stride * m.state_buffers},
    };
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
void expect_channel_works(const std::string& name, const std::string& state, const std::string& context) {
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

} // namespace

BOOST_AUTO_TEST_CASE(hostile_boost_header_and_index) {
    ChannelName name("hboost");
    auto daemon = venom::DaemonChannel::create(name.str(), hostile_config());
    const std::string state = "published state";
    daemon.write_data(state);
    Server server(daemon, [](std::uint32_t, venom::ByteView cmd) { return cmd.to_vector(); });
    expect_channel_works(name.str(), state, "untouched");

    vd::Attachment a = vd::attach(name.str(), {});
    unsigned char* const base = a.mapping.data();
    const std::uint64_t size = a.mapping.size();
    const std::uint64_t control = a.record.control_offset;
    BOOST_REQUIRE(control >= 8 && control < size);
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
    BOOST_TEST_MESSAGE("segment " << size << " bytes, control block at " << control << ", Boost's bytes "
                                  << boost_bytes << " in " << boost.size() << " ranges, \"" << anchor
                                  << "\" at " << (found - base));

    const std::vector<unsigned char> original(base, base + size);
    auto restore_boost = [&] {
        for (const auto& r : boost) std::memcpy(base + r.first, original.data() + r.first, r.second - r.first);
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
        expect_channel_works(name.str(), state, "header [0, " + std::to_string(control) + ") " + p.first);
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

    // ---- the control block's region pointers aimed outside the mapping
    vd::ControlBlock& cb = *a.map.cb;
    auto field_at = [&](const void* p) {
        return static_cast<std::int64_t>(static_cast<const unsigned char*>(p) - base);
    };
    struct Ptr {
        const char* what;
        bip::offset_ptr<unsigned char>* p;
    };
    const Ptr ptrs[] = {{"slots", &cb.slots}, {"responses", &cb.responses}, {"clients", &cb.clients},
                        {"state_area", &cb.state_area}};
    for (const Ptr& f : ptrs) {
        const std::int64_t saved = offset_of(*f.p);
        const std::int64_t field = field_at(f.p);
        const std::pair<std::string, std::int64_t> cases[] = {
            {"+ the mapping's size", saved + static_cast<std::int64_t>(size)},
            {"just past the end", static_cast<std::int64_t>(size) - field},
            {"the last cache line", static_cast<std::int64_t>(size) - 64 - field},
            {"before the mapping", -field - 64},
            {"huge", INT64_MAX},
            {"most negative", INT64_MIN},
            {"misaligned", saved + 8},
            {"null (offset 1)", 1},
        };
        for (const auto& c : cases) {
            set_offset(*f.p, c.second);
            expect_corrupt(name.str(), std::string(f.what) + " " + c.first);
            set_offset(*f.p, saved);
        }
        expect_channel_works(name.str(), state, std::string(f.what) + " restored");
    }
    // Also through offset_ptr's own assignment, as the brief of this test puts it.
    {
        const std::int64_t saved = offset_of(cb.slots);
        cb.slots = cb.slots.get() + size;
        expect_corrupt(name.str(), "slots = slots + size (offset_ptr assignment)");
        set_offset(cb.slots, saved);
    }

    // ---- the segment-size word: never a bound (the file's size is)
    const std::uint64_t saved_size = cb.segment_size;
    for (const std::uint64_t v : std::vector<std::uint64_t>{~std::uint64_t{0}, std::uint64_t{1} << 62, 0, size * 1000}) {
        cb.segment_size = v;
        expect_channel_works(name.str(), state, "segment_size " + std::to_string(v));
    }
    cb.segment_size = saved_size;

    // ---- the configuration the regions are sized by: out of range is corrupt_channel
    {
        const std::uint32_t saved = cb.cmd_slots;
        cb.cmd_slots = 0xffffffffu;
        expect_corrupt(name.str(), "cmd_slots 2^32-1");
        cb.cmd_slots = saved;
        const std::uint64_t stride = cb.slot_stride;
        cb.slot_stride = stride * 1024;
        expect_corrupt(name.str(), "slot_stride x1024");
        cb.slot_stride = stride;
    }
    expect_channel_works(name.str(), state, "everything restored");
    BOOST_TEST(std::memcmp(original.data(), base, control) == 0);
}

VENOM_TEST_MAIN("hostile")
