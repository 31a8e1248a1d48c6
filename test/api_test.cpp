// test/api_test.cpp - the public API as venom_memory programs use it, in one process.
#include "test_support.hpp"

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

VENOM_TEST_MAIN("api")
