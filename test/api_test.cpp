// SPDX-License-Identifier: BSL-1.0
// test/api_test.cpp - the public API as venom_memory programs use it, in one process.
#include "test_support.hpp"

#include <optional>

using namespace venom_test;

BOOST_AUTO_TEST_CASE(seed_ping_pong_in_one_process) {
    ChannelName name("api");
    venom::ChannelConfig config{64 * 1024, 128, 16};
    config.max_cmd_size = 4096;
    config.max_response_size = 4096;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    daemon.write_data(std::string_view("state-1"));
    std::thread server([&] {
        daemon.run([&](std::uint32_t, auto cmd) {
            if (cmd == "ping") return std::vector<std::uint8_t>{'p', 'o', 'n', 'g'};
            return std::vector<std::uint8_t>(cmd.begin(), cmd.end());
        });
    });
    auto shell = venom::ShellChannel::connect(name.str());
    BOOST_TEST(shell.client_id() == 0u);
    char buf[64];
    std::size_t len = shell.read_data(buf, sizeof buf);
    BOOST_TEST(std::string(buf, len) == "state-1");
    char resp[64];
    std::size_t rlen = shell.request("ping", 4, resp, sizeof resp);
    BOOST_TEST(std::string(resp, rlen) == "pong");
    daemon.stop();
    server.join();
}

BOOST_AUTO_TEST_CASE(connect_timeout_waits_for_a_starting_daemon) {
    ChannelName name("api");
    // Without a timeout, connect never waits.
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_CHECK_EXCEPTION(
        venom::ShellChannel::connect(name.str()), venom::error,
        [](const venom::error& e) { return e.code() == venom::errc::channel_not_found; });
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
    // With one, it gives up after it, with the same error.
    venom::ShellOptions brief;
    brief.connect_timeout = 50ms;
    const auto t1 = std::chrono::steady_clock::now();
    BOOST_CHECK_EXCEPTION(
        venom::ShellChannel::connect(name.str(), brief), venom::error,
        [](const venom::error& e) { return e.code() == venom::errc::channel_not_found; });
    BOOST_TEST((std::chrono::steady_clock::now() - t1 >= 50ms));
    // And it connects once a daemon comes up meanwhile.
    std::optional<venom::DaemonChannel> daemon;
    std::thread starter([&] {
        std::this_thread::sleep_for(100ms);
        daemon.emplace(venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2}));
        daemon->write_data("up");
    });
    venom::ShellOptions patient;
    patient.connect_timeout = 20s;
    auto shell = venom::ShellChannel::connect(name.str(), patient);
    starter.join();
    BOOST_TEST(shell.client_id() == 0u);
    venom::ShellOptions bad;
    bad.connect_timeout = -1ms;
    BOOST_CHECK_EXCEPTION(
        venom::ShellChannel::connect(name.str(), bad), venom::error,
        [](const venom::error& e) { return e.code() == venom::errc::invalid_config; });
}

VENOM_TEST_MAIN("api")
