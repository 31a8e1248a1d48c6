// SPDX-License-Identifier: BSL-1.0
// test/chaos_test.cpp - kill -9 storms: a daemon, 8 shells looping checksummed requests and a
// verifying reader; shells are SIGKILLed at random and replaced, then the daemon is killed and
// restarted again and again. Nothing may hang, no answer may be wrong or foreign, every
// surviving shell keeps being answered, no client slot leaks, nothing is left in /dev/shm.
//
// Sizes scale with VENOM_TEST_SCALE (default: 500 shell kills, 20 daemon restarts).
#include "test_support.hpp"

#include <optional>
#include <random>

using namespace venom_test;

namespace {

constexpr int lanes = 8;
constexpr std::size_t state_bytes = 4096;
constexpr std::uint64_t pattern_key = 0x9E3779B97F4A7C15ull;

struct Lane {
    std::atomic<std::uint64_t> verified;
    std::atomic<std::uint64_t> wrong;
    std::atomic<std::uint64_t> daemon_gone;
    std::atomic<std::uint64_t> timeouts;
};

/// Counters the children share with the test, in a plain shared-memory object of their own.
struct Stats {
    std::atomic<std::uint32_t> stop_shells;
    std::atomic<std::uint32_t> stop_daemon;
    std::atomic<std::uint64_t> reads;
    std::atomic<std::uint64_t> torn;
    std::atomic<std::uint64_t> daemons_started;
    Lane lane[lanes];
};

using StatsMap = SharedBlock<Stats>;

void fill_state(std::vector<std::uint64_t>& w, std::uint64_t v) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = v * pattern_key + i;
}

/// Whether w is one whole version: w[i] = v * key + i for a single v (w[0] = v * key).
bool state_ok(const std::uint64_t* w, std::size_t words) {
    for (std::size_t i = 0; i < words; ++i)
        if (w[i] != w[0] + i) return false;
    return true;
}

// The answer to a command: the command, then the FNV-1a of the command, then the client id.
std::vector<std::uint8_t> answer_for(std::uint32_t client, venom::ByteView cmd) {
    std::vector<std::uint8_t> out(cmd.begin(), cmd.end());
    const std::uint64_t h = fnv1a(cmd.data(), cmd.size());
    out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(&h),
               reinterpret_cast<const std::uint8_t*>(&h) + 8);
    out.insert(out.end(), reinterpret_cast<const std::uint8_t*>(&client),
               reinterpret_cast<const std::uint8_t*>(&client) + 4);
    return out;
}

venom::ChannelConfig chaos_config() {
    venom::ChannelConfig c{state_bytes, 8, 16};
    c.max_cmd_size = 512;
    c.max_response_size = 512 + 12;
    return c;
}

} // namespace

VENOM_CHILD_ROLE(chaos_daemon) {
    StatsMap stats(args.at(1), false);
    // A killed predecessor's lock is released by the OS before we are spawned; retry briefly
    // in case a clean shutdown is still unlinking.
    auto daemon = [&] {
        for (int i = 0;; ++i) {
            try {
                return venom::DaemonChannel::create(args.at(0), chaos_config());
            } catch (const venom::error& e) {
                if (e.code() != venom::errc::channel_exists || i > 2000) throw;
                std::this_thread::sleep_for(1ms);
            }
        }
    }();
    stats->daemons_started.fetch_add(1);
    std::atomic<bool> done{false};
    std::thread writer([&] {
        std::vector<std::uint64_t> w(state_bytes / 8);
        for (std::uint64_t v = 1; !done.load(); ++v) {
            fill_state(w, v);
            daemon.write_data(w.data(), state_bytes);
            if (stats->stop_daemon.load()) daemon.stop();
            std::this_thread::sleep_for(500us);
        }
    });
    daemon.run([&](std::uint32_t client, venom::ByteView cmd) { return answer_for(client, cmd); });
    done = true;
    writer.join();
    return 0;
}

VENOM_CHILD_ROLE(chaos_shell) {
    StatsMap stats(args.at(1), false);
    Lane& lane = stats->lane[std::stoi(args.at(2))];
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid_portable()) * 7919u);
    venom::ShellOptions o;
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> cmd;
    std::vector<std::uint8_t> resp(1024);
    const auto give_up = std::chrono::steady_clock::now() + 600s; // parent died: stop anyway
    while (stats->stop_shells.load() == 0 && std::chrono::steady_clock::now() < give_up) {
        // Across restarts connect gives a shell or, after its timeout, channel_not_found; it
        // used to give daemon_gone for a daemon caught closing (now a failure of this child).
        std::optional<venom::ShellChannel> shell;
        shell.emplace(connect_when_up(args.at(0), o, 30s));
        while (stats->stop_shells.load() == 0) {
            cmd.resize(12 + rng() % 200);
            for (auto& b : cmd) b = static_cast<std::uint8_t>(rng());
            ++seq;
            std::memcpy(cmd.data(), &seq, 8);
            std::error_code ec;
            const std::size_t n =
                shell->request(cmd.data(), cmd.size(), resp.data(), resp.size(), 10s, ec);
            if (ec == venom::errc::daemon_gone) {
                lane.daemon_gone.fetch_add(1);
                break; // reconnect to the next daemon
            }
            if (ec == venom::errc::timeout) {
                lane.timeouts.fetch_add(1);
                continue;
            }
            if (ec) throw venom::error(ec, "chaos request");
            const auto expect =
                answer_for(shell->client_id(), venom::ByteView(cmd.data(), cmd.size()));
            if (n != expect.size() || std::memcmp(resp.data(), expect.data(), n) != 0)
                lane.wrong.fetch_add(1);
            else lane.verified.fetch_add(1);
        }
    }
    return 0;
}

VENOM_CHILD_ROLE(chaos_reader) {
    StatsMap stats(args.at(1), false);
    std::vector<std::uint64_t> w(state_bytes / 8);
    const auto give_up = std::chrono::steady_clock::now() + 600s;
    while (stats->stop_shells.load() == 0 && std::chrono::steady_clock::now() < give_up) {
        std::optional<venom::ShellChannel> shell;
        shell.emplace(connect_when_up(args.at(0), {}, 30s));
        std::uint64_t seen = 0;
        try {
            while (stats->stop_shells.load() == 0) {
                shell->wait_for_update(seen, 50ms);
                std::uint64_t version = 0;
                std::error_code ec;
                const std::size_t n = shell->read_data(w.data(), state_bytes, ec, &version);
                if (ec) throw venom::error(ec, "chaos read");
                seen = version;
                if (n == 0) continue;
                stats->reads.fetch_add(1);
                if (n != state_bytes || !state_ok(w.data(), w.size())) stats->torn.fetch_add(1);
            }
        } catch (const venom::error& e) {
            if (e.code() != venom::errc::daemon_gone) throw;
        }
    }
    return 0;
}

namespace {

std::uint64_t total_verified(Stats& s) {
    std::uint64_t n = 0;
    for (auto& l : s.lane) n += l.verified.load();
    return n;
}

/// Waits until every lane's verified count has grown past `before` (bounded).
bool every_lane_progresses(Stats& s, std::chrono::milliseconds limit) {
    std::uint64_t before[lanes];
    for (int i = 0; i < lanes; ++i) before[i] = s.lane[i].verified.load();
    return eventually(
        [&] {
            for (int i = 0; i < lanes; ++i)
                if (s.lane[i].verified.load() <= before[i] + 5) return false;
            return true;
        },
        limit);
}

} // namespace

BOOST_AUTO_TEST_CASE(kill_storm) {
    ChannelName name("chaos");
    const std::string stats_name = "vt_chaos_stats_" + std::to_string(getpid_portable());
    StatsMap stats(stats_name, true);
    const long shell_kills = scaled(500);
    const long daemon_kills = scaled(20);

    Child daemon = spawn_self("chaos_daemon", {name.str(), stats_name});
    std::vector<Child> shells;
    for (int i = 0; i < lanes; ++i)
        shells.push_back(spawn_self("chaos_shell", {name.str(), stats_name, std::to_string(i)}));
    Child reader = spawn_self("chaos_reader", {name.str(), stats_name});
    BOOST_REQUIRE_MESSAGE(every_lane_progresses(*stats, 30s), "shells never got going");

    // ---- shells killed at random and replaced
    std::mt19937 rng(12345);
    const auto t0 = std::chrono::steady_clock::now();
    for (long k = 0; k < shell_kills; ++k) {
        std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 3000));
        const int i = static_cast<int>(rng() % lanes);
        shells[i].kill(SIGKILL);
        const int rc = shells[i].wait(10s);
        BOOST_REQUIRE_MESSAGE(rc == -SIGKILL || rc == 0, "shell " << i << " exited with " << rc);
        shells[i] = spawn_self("chaos_shell", {name.str(), stats_name, std::to_string(i)});
    }
    const double storm_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST_MESSAGE(shell_kills << " shell kills in " << storm_s << " s; verified so far "
                                   << total_verified(*stats));
    BOOST_REQUIRE_MESSAGE(every_lane_progresses(*stats, 30s),
                          "a shell stopped being answered after the kill storm");

    // ---- the daemon killed and restarted
    for (long k = 0; k < daemon_kills; ++k) {
        daemon.kill(SIGKILL);
        BOOST_REQUIRE(daemon.wait(10s) == -SIGKILL);
        daemon = spawn_self("chaos_daemon", {name.str(), stats_name});
        BOOST_REQUIRE_MESSAGE(every_lane_progresses(*stats, 30s),
                              "shells not answered after daemon restart " << k);
    }

    // ---- settle, then stop the shells and the reader cleanly
    stats->stop_shells.store(1);
    for (int i = 0; i < lanes; ++i) BOOST_TEST(shells[i].wait(30s) == 0);
    BOOST_TEST(reader.wait(30s) == 0);

    std::uint64_t wrong = 0, gone = 0, timeouts = 0;
    for (auto& l : stats->lane) {
        wrong += l.wrong.load();
        gone += l.daemon_gone.load();
        timeouts += l.timeouts.load();
    }
    BOOST_TEST_MESSAGE("verified " << total_verified(*stats) << " requests, wrong " << wrong
                                   << ", daemon_gone " << gone << ", timeouts " << timeouts
                                   << ", state reads " << stats->reads.load() << ", torn "
                                   << stats->torn.load() << ", daemons started "
                                   << stats->daemons_started.load());
    BOOST_TEST(wrong == 0u);
    BOOST_TEST(timeouts == 0u);
    BOOST_TEST(stats->torn.load() == 0u);
    BOOST_TEST(stats->reads.load() > 0u);
    BOOST_TEST(stats->daemons_started.load() == static_cast<std::uint64_t>(daemon_kills + 1));

    // ---- no client slot leaked: max_clients shells connect at once
    {
        std::vector<venom::ShellChannel> all;
        for (std::uint32_t i = 0; i < chaos_config().max_clients; ++i)
            all.push_back(venom::ShellChannel::connect(name.str()));
        BOOST_TEST(all.size() == chaos_config().max_clients);
        char resp[600];
        BOOST_TEST(all.back().request("x", 1, resp, sizeof resp, 10s) == 1u + 12u);
    }

    // ---- the daemon stops cleanly and leaves nothing in /dev/shm
    stats->stop_daemon.store(1);
    BOOST_TEST(daemon.wait(30s) == 0);
    BOOST_TEST(!channel_files_exist(name.str()));
#if defined(_WIN32)
    for (const auto& f : channel_files(name.str())) BOOST_TEST_MESSAGE("left behind: " << f);
#endif
}

VENOM_TEST_MAIN("chaos")
