// SPDX-License-Identifier: BSL-1.0
// example/game_state/network.cpp - a network shell: reads the world after every tick and works
// out what it would send to remote players (the entities that moved), without sending
// anything. It only reads: it never sends a command.
//
//   venom_game_network [channel] [seconds]
#include "world.hpp"

#include <venom/venom.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

namespace {

venom::ShellChannel connect_when_up(const std::string& name) {
    venom::ShellOptions options;
    options.connect_timeout = std::chrono::seconds(5); // the daemon may still be starting
    return venom::ShellChannel::connect(name, options);
}

} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "game_state";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 10.0;
    try {
        auto shell = connect_when_up(name);
        std::printf("network %u: connected (pid %d)\n", shell.client_id(),
                    static_cast<int>(venom::process_id()));
        std::fflush(stdout);
        auto world = std::make_unique<game::World>(), previous = std::make_unique<game::World>();
        std::uint64_t seen = 0, updates = 0, bytes = 0;
        const auto start = std::chrono::steady_clock::now();
        const auto end = start + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            try {
                if (!shell.wait_for_update(seen, std::chrono::milliseconds(100))) continue;
            } catch (const venom::error& e) {
                if (e.code() == venom::errc::daemon_gone) break;
                throw;
            }
            std::error_code ec;
            shell.read(*world, ec, &seen); // typed: a World, whole, or wrong_size
            if (ec) throw venom::error(ec, "read<World>");
            // A delta update: the entities that moved more than half a unit since the last one.
            std::uint64_t moved = 0;
            for (std::uint32_t i = 0; i < world->entity_count; ++i) {
                const auto& a = world->entities[i];
                const auto& b = previous->entities[i];
                if (std::fabs(a.x - b.x) + std::fabs(a.y - b.y) > 0.5f) ++moved;
            }
            bytes += moved * sizeof(game::Entity);
            std::swap(world, previous);
            ++updates;
        }
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("network %u: %llu world updates read, %.1f KB/s of deltas to send\n",
                    shell.client_id(), static_cast<unsigned long long>(updates),
                    static_cast<double>(bytes) / 1e3 / s);
        if (updates == 0) return 1;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "network: %s\n", e.what());
        return 1;
    }
    return 0;
}
