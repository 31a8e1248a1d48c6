// SPDX-License-Identifier: BSL-1.0
// example/daemon.cpp - a venom daemon: publishes a global state and answers requests.
//
//   venom_example_daemon [channel] [seconds]
//
// Commands it understands: "ping" -> "pong"; "set <text>" -> stores <text> as the global state
// (write_data) and answers "ok"; anything else -> "unknown command". A second thread
// republishes the state with a tick counter every 100 ms. SIGINT/SIGTERM (or the time limit)
// stop it; the channel is removed on exit.
#include <venom/venom.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace {
venom::DaemonChannel* g_daemon = nullptr;
extern "C" void on_signal(int) {
    if (g_daemon) g_daemon->stop(); // async-signal-safe
}
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "venom_demo";
    const int seconds = argc > 2 ? std::atoi(argv[2]) : 0; // 0: until a signal

    venom::ChannelConfig config{64 * 1024, 128, 16}; // data_size, cmd_slots, max_clients
    config.max_cmd_size = 4096;
    config.max_response_size = 4096;
    try {
        auto daemon = venom::DaemonChannel::create(name, config);
        g_daemon = &daemon;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);

        std::mutex text_mutex;
        std::string text = "hello from the daemon";
        std::atomic<unsigned> ticks{0};
        auto publish = [&] {
            std::lock_guard<std::mutex> lock(text_mutex);
            daemon.write_data("tick " + std::to_string(ticks.load()) + ": " + text);
        };
        publish();
        std::printf("daemon: serving \"%s\" (pid %d)\n", name.c_str(),
                    static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        std::atomic<bool> done{false};
        std::thread ticker([&] {
            const auto start = std::chrono::steady_clock::now();
            while (!done.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                ++ticks;
                publish();
                if (seconds > 0 &&
                    std::chrono::steady_clock::now() - start >= std::chrono::seconds(seconds))
                    daemon.stop();
            }
        });

        std::uint64_t served = 0;
        daemon.run([&](std::uint32_t client_id, auto cmd) -> std::string {
            ++served;
            const std::string_view c = cmd.as_string_view();
            if (c == "ping") return "pong";
            if (c.substr(0, 4) == "set ") {
                {
                    std::lock_guard<std::mutex> lock(text_mutex);
                    text = std::string(c.substr(4)) + " (from client " + std::to_string(client_id) +
                           ")";
                }
                publish();
                return "ok";
            }
            return "unknown command";
        });
        done = true;
        ticker.join();
        g_daemon = nullptr;
        std::printf("daemon: stopped after %llu requests\n",
                    static_cast<unsigned long long>(served));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "daemon: %s\n", e.what());
        return 1;
    }
    return 0;
}
