// SPDX-License-Identifier: BSL-1.0
// example/shell.cpp - a venom shell: reads the daemon's state, pings it, sets the state.
//
//   venom_example_shell [channel] [pings]
#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "venom_demo";
    const int pings = argc > 2 ? std::atoi(argv[2]) : 10000;
    try {
        venom::ShellOptions options;
        options.connect_timeout = std::chrono::seconds(5); // the daemon may still be starting
        auto shell = venom::ShellChannel::connect(name, options);
        const std::uint32_t id = shell.client_id();

        char state[64 * 1024];
        std::size_t len = shell.read_data(state, sizeof state);
        std::printf("shell %u: state = \"%.*s\"\n", id, static_cast<int>(len), state);

        char resp[4096];
        std::size_t rlen = shell.request("ping", 4, resp, sizeof resp);
        std::printf("shell %u: ping -> %.*s\n", id, static_cast<int>(rlen), resp);

        std::vector<double> us;
        us.reserve(static_cast<std::size_t>(pings));
        for (int i = 0; i < pings; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            rlen = shell.request("ping", 4, resp, sizeof resp);
            const auto t1 = std::chrono::steady_clock::now();
            if (std::string(resp, rlen) != "pong") {
                std::fprintf(stderr, "shell %u: wrong answer\n", id);
                return 1;
            }
            us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        if (!us.empty()) {
            std::sort(us.begin(), us.end());
            std::printf("shell %u: %d round trips, p50 %.2f us, p99 %.2f us\n", id, pings,
                        us[us.size() / 2], us[us.size() * 99 / 100]);
        }

        const std::string set = "set hello from shell " + std::to_string(id);
        auto answer = shell.request(set);
        std::printf("shell %u: %s -> %.*s\n", id, set.c_str(), static_cast<int>(answer.size()),
                    reinterpret_cast<const char*>(answer.data()));
        const std::uint64_t seen = shell.version();
        if (shell.wait_for_update(seen, std::chrono::seconds(2))) {
            len = shell.read_data(state, sizeof state);
            std::printf("shell %u: state = \"%.*s\"\n", id, static_cast<int>(len), state);
        }
    } catch (const venom::error& e) {
        std::fprintf(stderr, "shell: %s\n", e.what());
        return 1;
    }
    return 0;
}
