// SPDX-License-Identifier: BSL-1.0
// example/sensors/sensors.hpp - what the sensor hub publishes, shared by the hub and every
// control loop. Copy this folder and change the structs.
//
// One channel per sensor stream, so that each control loop copies only what it needs: the
// IMU channel "<name>.imu" (a 1 kHz stream of small samples) and the lidar channel
// "<name>.lidar" (20 scans a second of 1800 ranges each).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

namespace sensors {

inline constexpr double imu_hz = 1000.0;
inline constexpr double lidar_hz = 20.0;
inline constexpr std::uint32_t lidar_points = 1800; ///< 0.2 degree steps

struct ImuSample {
    std::uint64_t seq;
    std::int64_t published_ns; ///< steady_clock: one clock for every process on the machine
    float accel[3];            ///< m/s^2
    float gyro[3];             ///< rad/s
};

struct LidarScan {
    std::uint64_t seq;
    std::int64_t published_ns;
    float angle_min, angle_step; ///< radians
    float ranges[lidar_points];  ///< metres
};

static_assert(std::is_trivially_copyable_v<ImuSample> && std::is_trivially_copyable_v<LidarScan>,
              "whatever crosses the channel as raw bytes must be trivially copyable");

inline std::string imu_channel(const std::string& name) { return name + ".imu"; }
inline std::string lidar_channel(const std::string& name) { return name + ".lidar"; }

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace sensors
