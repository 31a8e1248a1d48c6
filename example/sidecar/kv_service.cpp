// SPDX-License-Identifier: BSL-1.0
// example/sidecar/kv_service.cpp - a key-value sidecar: answers get/put/del commands from any
// number of shells on the machine (the service's own processes, scripts, `venom call`), and
// publishes its statistics as the channel's state.
//
//   venom_kv_service [channel] [seconds]
//
// The protocol is text, so that an operator can talk to it with the venom tool:
//   put KEY VALUE  -> "ok"                    venom call kv "put greeting hello"
//   get KEY        -> VALUE, or an error      venom call kv "get greeting"
//   del KEY        -> "ok", or an error
//   keys           -> the keys, one a line
// An unknown key or command throws in the handler: the caller gets errc::handler_failed with
// the message, the service goes on.
#include <venom/venom.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace {
std::atomic<venom::DaemonChannel*> g_daemon{nullptr};
extern "C" void on_signal(int) {
    if (auto* d = g_daemon.load()) d->stop();
}

/// Splits "word rest" at the first space.
std::pair<std::string_view, std::string_view> split(std::string_view s) {
    const auto sp = s.find(' ');
    if (sp == std::string_view::npos) return {s, {}};
    return {s.substr(0, sp), s.substr(sp + 1)};
}
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "kv";
    const int seconds = argc > 2 ? std::atoi(argv[2]) : 0; // 0: until a signal

    venom::ChannelConfig config{256, 256, 32}; // state: a line of statistics; 32 clients
    config.max_cmd_size = 64 * 1024;           // values up to ~64 KB
    config.max_response_size = 64 * 1024;
    try {
        auto daemon = venom::DaemonChannel::create(name, config);
        g_daemon = &daemon;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        std::printf("kv service: serving \"%s\" (pid %d)\n", name.c_str(),
                    static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        std::map<std::string, std::string, std::less<>> store;
        std::uint64_t ops = 0, puts = 0, gets = 0, misses = 0, dels = 0;
        auto publish = [&] {
            daemon.write_data("keys " + std::to_string(store.size()) + ", puts " +
                              std::to_string(puts) + ", gets " + std::to_string(gets) +
                              ", misses " + std::to_string(misses) + ", dels " +
                              std::to_string(dels));
        };
        publish();

        std::atomic<bool> done{false};
        std::thread timer([&] { // the time limit, if any
            const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
            while (!done && (seconds == 0 || std::chrono::steady_clock::now() < end))
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            daemon.stop();
        });

        // One handler, one thread: the map needs no lock. Answers are written straight into
        // the caller's response slot (ResponseWriter), without allocating.
        daemon.run([&](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& out) {
            if (++ops % 64 == 0) publish(); // the statistics, now and then
            const auto [verb, rest] = split(cmd.as_string_view());
            if (verb == "put") {
                const auto [key, value] = split(rest);
                if (key.empty()) throw std::invalid_argument("usage: put KEY VALUE");
                store.insert_or_assign(std::string(key), std::string(value));
                ++puts;
                out.append("ok");
            } else if (verb == "get") {
                ++gets;
                const auto it = store.find(rest);
                if (it == store.end()) {
                    ++misses;
                    throw std::out_of_range("no key \"" + std::string(rest) + "\"");
                }
                out.append(it->second);
            } else if (verb == "del") {
                if (store.erase(std::string(rest)) == 0)
                    throw std::out_of_range("no key \"" + std::string(rest) + "\"");
                ++dels;
                out.append("ok");
            } else if (verb == "keys") {
                for (const auto& kv : store) {
                    if (out.size() + kv.first.size() + 1 > out.capacity()) break;
                    out.append(kv.first);
                    out.append("\n");
                }
            } else {
                throw std::invalid_argument("unknown command \"" + std::string(verb) +
                                            "\"; use get, put, del, keys");
            }
        });
        done = true;
        timer.join();
        publish();
        g_daemon = nullptr;
        std::printf(
            "kv service: stopped; %zu keys, %llu puts, %llu gets (%llu misses), %llu dels\n",
            store.size(), static_cast<unsigned long long>(puts),
            static_cast<unsigned long long>(gets), static_cast<unsigned long long>(misses),
            static_cast<unsigned long long>(dels));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "kv service: %s\n", e.what());
        return 1;
    }
    return 0;
}
