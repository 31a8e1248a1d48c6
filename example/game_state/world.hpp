// SPDX-License-Identifier: BSL-1.0
// example/game_state/world.hpp - the world the physics daemon publishes and the commands it
// takes, shared by every process of the game. Copy this folder and change the structs.
//
// Splitting a game into processes isolates crashes: the physics daemon owns the world; AI,
// networking, rendering... are shells that read it and send commands. A shell that crashes (or
// is killed) takes nothing down with it: the daemon never waits for readers, and the shell's
// client slot is freed for whoever connects next.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

namespace game {

inline constexpr std::uint32_t max_entities = 512;
inline constexpr double tick_hz = 120.0;
inline constexpr float arena = 1000.0f; ///< the world is [0, arena) x [0, arena)

struct Entity {
    float x, y, vx, vy;
    std::uint32_t id;
    std::uint32_t steered_by; ///< client id + 1 of the last AI that steered it; 0: none
};

struct World {
    std::uint64_t tick;        ///< physics steps so far
    std::int64_t published_ns; ///< steady_clock when this tick was published
    std::uint32_t entity_count;
    std::uint32_t reserved;
    Entity entities[max_entities];
};

/// A command: accelerate one entity.
struct Steer {
    std::uint32_t entity;
    float ax, ay;
};

/// The answer: the tick at which the steering takes effect.
struct SteerAck {
    std::uint64_t tick;
};

static_assert(std::is_trivially_copyable_v<World> && std::is_trivially_copyable_v<Steer> &&
                  std::is_trivially_copyable_v<SteerAck>,
              "whatever crosses the channel as raw bytes must be trivially copyable");

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace game
