// SPDX-License-Identifier: BSL-1.0
// example/game_state/ai.cpp - an AI shell: reads the world after every physics tick and steers
// the entities it looks after towards the centre of the arena.
//
//   venom_game_ai [channel] [seconds]
#include "world.hpp"

#include <venom/venom.hpp>

#include <chrono>
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
        auto world = std::make_unique<game::World>(); // 12 KB: not on the stack
        std::uint64_t seen = 0, updates = 0, commands = 0, missed = 0, last_tick = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            try {
                if (!shell.wait_for_update(seen, std::chrono::milliseconds(100))) continue;
            } catch (const venom::error& e) {
                if (e.code() == venom::errc::daemon_gone) break; // the game is over
                throw;
            }
            std::error_code ec;
            shell.read(*world, ec, &seen); // typed: a World, whole, or wrong_size
            if (ec) throw venom::error(ec, "read<World>");
            ++updates;
            if (last_tick != 0 && world->tick > last_tick + 1)
                missed += world->tick - last_tick - 1;
            last_tick = world->tick;
            // Think: steer one of "our" entities (every 8th) towards the centre, one per tick.
            const std::uint32_t id =
                static_cast<std::uint32_t>((world->tick * 8) % game::max_entities);
            const game::Entity& e = world->entities[id];
            const game::Steer s{id, (game::arena / 2 - e.x) * 0.01f,
                                (game::arena / 2 - e.y) * 0.01f};
            game::SteerAck ack{};
            shell.request(&s, sizeof s, &ack, sizeof ack, std::chrono::seconds(1), ec);
            if (ec == venom::errc::daemon_gone) break;
            if (ec) throw venom::error(ec, "steer: " + shell.last_error_text());
            ++commands;
        }
        std::printf(
            "ai %u: %llu world updates read (%llu ticks missed), %llu steering commands "
            "acknowledged\n",
            shell.client_id(), static_cast<unsigned long long>(updates),
            static_cast<unsigned long long>(missed), static_cast<unsigned long long>(commands));
        if (commands == 0) return 1;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "ai: %s\n", e.what());
        return 1;
    }
    return 0;
}
