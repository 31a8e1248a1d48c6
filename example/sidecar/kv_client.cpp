// SPDX-License-Identifier: BSL-1.0
// example/sidecar/kv_client.cpp - a client of the key-value sidecar: puts its own keys, reads
// them back, checks that a missing key is an error, then reads the keys of its peers (other
// client processes) once they are done.
//
//   venom_kv_client [channel] [client_name] [keys] [peer_name...]
#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

venom::ShellChannel connect_when_up(const std::string& name) {
    venom::ShellOptions options;
    options.connect_timeout = std::chrono::seconds(5); // the daemon may still be starting
    return venom::ShellChannel::connect(name, options);
}

std::string text(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

std::string value_of(const std::string& client, int i) {
    return "value " + std::to_string(i) + " of " + client;
}

} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "kv";
    const std::string me = argc > 2 ? argv[2] : "client";
    const int keys = argc > 3 ? std::atoi(argv[3]) : 1000;
    const std::vector<std::string> peers(argv + std::min(argc, 4), argv + argc);
    try {
        auto kv = connect_when_up(name);
        std::vector<double> us;
        auto timed = [&](const std::string& cmd) {
            const auto t0 = std::chrono::steady_clock::now();
            auto answer = text(kv.request(cmd, std::chrono::seconds(5)));
            us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count());
            return answer;
        };
        for (int i = 0; i < keys; ++i)
            if (timed("put " + me + ":" + std::to_string(i) + " " + value_of(me, i)) != "ok") {
                std::fprintf(stderr, "%s: put %d was not acknowledged\n", me.c_str(), i);
                return 1;
            }
        for (int i = 0; i < keys; ++i)
            if (timed("get " + me + ":" + std::to_string(i)) != value_of(me, i)) {
                std::fprintf(stderr, "%s: get %d returned a wrong value\n", me.c_str(), i);
                return 1;
            }
        // A missing key: the service's handler throws, this client gets handler_failed.
        try {
            kv.request(std::string("get no-such-key"));
            std::fprintf(stderr, "%s: a missing key was not an error\n", me.c_str());
            return 1;
        } catch (const venom::error& e) {
            if (e.code() != venom::errc::handler_failed) throw;
            std::printf("%s: get no-such-key -> %s\n", me.c_str(), kv.last_error_text().c_str());
        }
        kv.request("put " + me + ":done yes");
        // The peers' keys, once each peer has written all of them.
        int checked = 0;
        for (const auto& peer : peers) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            for (;;) {
                try {
                    kv.request("get " + peer + ":done");
                    break;
                } catch (const venom::error& e) {
                    if (e.code() != venom::errc::handler_failed ||
                        std::chrono::steady_clock::now() > deadline)
                        throw;
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
            }
            for (int i = 0; i < keys; ++i, ++checked)
                if (text(kv.request("get " + peer + ":" + std::to_string(i))) !=
                    value_of(peer, i)) {
                    std::fprintf(stderr, "%s: %s's key %d has a wrong value\n", me.c_str(),
                                 peer.c_str(), i);
                    return 1;
                }
        }
        std::sort(us.begin(), us.end());
        const auto stats = kv.read_data(); // the service's statistics line
        std::printf(
            "%s (client %u): %d puts + %d gets verified, %d peer keys verified; p50 %.1f us, p99 "
            "%.1f us\n",
            me.c_str(), kv.client_id(), keys, keys, checked, us.empty() ? 0.0 : us[us.size() / 2],
            us.empty() ? 0.0 : us[us.size() * 99 / 100]);
        std::printf("%s: service state \"%s\"\n", me.c_str(), text(stats).c_str());
    } catch (const venom::error& e) {
        std::fprintf(stderr, "%s: %s\n", me.c_str(), e.what());
        return 1;
    }
    return 0;
}
