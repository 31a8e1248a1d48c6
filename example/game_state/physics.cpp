// SPDX-License-Identifier: BSL-1.0
// example/game_state/physics.cpp - the physics daemon: steps the world at 120 Hz, publishes it
// after every step, and applies steering commands from AI shells.
//
//   venom_game_physics [channel] [seconds]
//
// At the end it prints how many ticks each second had: killing a shell meanwhile (the example's
// run.sh kills the network shell with SIGKILL) leaves them at 120.
#include "world.hpp"

#include <venom/venom.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {
std::atomic<venom::DaemonChannel*> g_daemon{nullptr};
extern "C" void on_signal(int) {
    if (auto* d = g_daemon.load()) d->stop();
}
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "game_state";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 0.0; // 0: until a signal

    venom::ChannelConfig config{sizeof(game::World), 512, 16};
    config.max_cmd_size = sizeof(game::Steer);
    config.max_response_size = sizeof(game::SteerAck);
    try {
        auto daemon = venom::DaemonChannel::create(name, config);
        g_daemon = &daemon;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);

        game::World world{};
        world.entity_count = game::max_entities;
        for (std::uint32_t i = 0; i < world.entity_count; ++i) {
            auto& e = world.entities[i];
            e.id = i;
            e.x = static_cast<float>((i * 37) % 1000);
            e.y = static_cast<float>((i * 91) % 1000);
            e.vx = static_cast<float>(static_cast<int>(i % 21) - 10);
            e.vy = static_cast<float>(static_cast<int>(i % 17) - 8);
        }
        std::mutex steer_mutex; // between the handler and the physics thread
        std::vector<std::pair<game::Steer, std::uint32_t>> pending;
        std::atomic<std::uint64_t> tick{0};
        daemon.write(world);
        std::printf("physics: \"%s\", %u entities at %.0f Hz (pid %d)\n", name.c_str(),
                    world.entity_count, game::tick_hz, static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        std::vector<unsigned> ticks_per_second;
        double worst_lag_ms = 0;
        std::thread physics([&] {
            const auto period = std::chrono::duration<double>(1.0 / game::tick_hz);
            const auto start = std::chrono::steady_clock::now();
            const float dt = static_cast<float>(1.0 / game::tick_hz);
            std::vector<std::pair<game::Steer, std::uint32_t>> steering;
            for (std::uint64_t k = 1;; ++k) {
                const auto due =
                    start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                period * static_cast<double>(k));
                if (seconds > 0 && due - start > std::chrono::duration<double>(seconds)) break;
                std::this_thread::sleep_until(due);
                if (g_daemon.load() == nullptr) break;
                const auto now = std::chrono::steady_clock::now();
                worst_lag_ms = std::max(
                    worst_lag_ms, std::chrono::duration<double, std::milli>(now - due).count());
                const auto second =
                    static_cast<std::size_t>(std::chrono::duration<double>(now - start).count());
                if (ticks_per_second.size() <= second) ticks_per_second.resize(second + 1, 0);
                ++ticks_per_second[second];
                {
                    std::lock_guard<std::mutex> lock(steer_mutex);
                    steering.swap(pending);
                }
                for (const auto& [s, client] : steering) {
                    auto& e = world.entities[s.entity];
                    e.vx += s.ax;
                    e.vy += s.ay;
                    e.steered_by = client + 1;
                }
                steering.clear();
                for (std::uint32_t i = 0; i < world.entity_count; ++i) {
                    auto& e = world.entities[i];
                    e.x += e.vx * dt;
                    e.y += e.vy * dt;
                    if (e.x < 0 || e.x >= game::arena)
                        e.vx = -e.vx, e.x = e.x < 0 ? 0 : game::arena - 1;
                    if (e.y < 0 || e.y >= game::arena)
                        e.vy = -e.vy, e.y = e.y < 0 ? 0 : game::arena - 1;
                }
                world.tick = k;
                world.published_ns = game::now_ns();
                daemon.write(world); // never waits for any reader
                tick.store(k, std::memory_order_relaxed);
            }
            daemon.stop();
        });

        std::uint64_t commands = 0;
        daemon.run([&](std::uint32_t client, venom::ByteView cmd, venom::ResponseWriter& out) {
            game::Steer s;
            if (cmd.size() != sizeof s) throw std::invalid_argument("not a Steer command");
            std::memcpy(&s, cmd.data(), sizeof s);
            if (s.entity >= game::max_entities)
                throw std::out_of_range("no entity " + std::to_string(s.entity));
            {
                std::lock_guard<std::mutex> lock(steer_mutex);
                pending.emplace_back(s, client);
            }
            ++commands;
            const game::SteerAck ack{tick.load(std::memory_order_relaxed) + 1};
            out.assign(&ack, sizeof ack);
        });
        g_daemon = nullptr;
        physics.join();
        std::printf("physics: %llu ticks, %llu steering commands, worst tick lag %.2f ms\n",
                    static_cast<unsigned long long>(tick.load()),
                    static_cast<unsigned long long>(commands), worst_lag_ms);
        std::printf("physics: ticks per second:");
        for (std::size_t s = 0; s < ticks_per_second.size(); ++s)
            std::printf(" %u", ticks_per_second[s]);
        std::printf("\n");
    } catch (const venom::error& e) {
        std::fprintf(stderr, "physics: %s\n", e.what());
        return 1;
    }
    return 0;
}
