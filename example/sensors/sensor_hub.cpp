// SPDX-License-Identifier: BSL-1.0
// example/sensors/sensor_hub.cpp - the sensor daemon: publishes IMU samples at 1 kHz and lidar
// scans at 20 Hz, each on its own channel. It only publishes: it never calls run(), and its
// readers need nothing from it but write<T>() and, for the lidar scans it computes in place,
// loan<T>().
//
//   venom_sensor_hub [name] [seconds]       channels <name>.imu and <name>.lidar
#include "sensors.hpp"

#include <venom/venom.hpp>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "robot";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 0.0; // 0: until a signal
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    try {
        // A publish-only channel still needs a command queue and a client slot per reader;
        // keep them small.
        venom::ChannelConfig imu_config{sizeof(sensors::ImuSample), 1, 8};
        imu_config.max_cmd_size = imu_config.max_response_size = 64;
        venom::ChannelConfig lidar_config{sizeof(sensors::LidarScan), 1, 8};
        lidar_config.max_cmd_size = lidar_config.max_response_size = 64;
        auto imu = venom::DaemonChannel::create(sensors::imu_channel(name), imu_config);
        auto lidar = venom::DaemonChannel::create(sensors::lidar_channel(name), lidar_config);
        std::printf("sensor hub: IMU at %.0f Hz on \"%s\", lidar at %.0f Hz on \"%s\" (pid %d)\n",
                    sensors::imu_hz, imu.name().c_str(), sensors::lidar_hz, lidar.name().c_str(),
                    static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        sensors::ImuSample sample{};
        const auto start = std::chrono::steady_clock::now();
        const auto period = std::chrono::duration<double>(1.0 / sensors::imu_hz);
        const auto per_scan = static_cast<std::uint64_t>(sensors::imu_hz / sensors::lidar_hz);
        std::uint64_t k = 0;
        while (!g_stop) {
            const auto due =
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            period * static_cast<double>(k + 1));
            if (seconds > 0 && due - start > std::chrono::duration<double>(seconds)) break;
            std::this_thread::sleep_until(due); // a sensor driver would block on its device here
            ++k;
            const float t = static_cast<float>(k) / static_cast<float>(sensors::imu_hz);
            sample.seq = k;
            sample.accel[0] = 0.1f * std::sin(t);
            sample.accel[1] = 0.1f * std::cos(t);
            sample.accel[2] = 9.81f;
            sample.gyro[2] = 0.05f * std::sin(0.5f * t);
            sample.published_ns = sensors::now_ns();
            imu.write(sample); // typed: readers read<ImuSample>, whose size is checked
            if (k % per_scan == 0) {
                // The scan is computed straight into the channel's next state buffer (a loan):
                // no copy of its 7 KiB, and readers see it only once it is published, whole.
                venom::TypedLoan<sensors::LidarScan> scan = lidar.loan<sensors::LidarScan>();
                scan->seq = k / per_scan;
                scan->angle_min = -3.14159265f;
                scan->angle_step = 2 * 3.14159265f / sensors::lidar_points;
                for (std::uint32_t i = 0; i < sensors::lidar_points; ++i)
                    scan->ranges[i] = 5.0f + 2.0f * std::sin(static_cast<float>(i) * 0.01f + t);
                scan->published_ns = sensors::now_ns();
                scan.publish();
            }
        }
        std::printf("sensor hub: published %llu IMU samples and %llu lidar scans\n",
                    static_cast<unsigned long long>(imu.version()),
                    static_cast<unsigned long long>(lidar.version()));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "sensor hub: %s\n", e.what());
        return 1;
    }
    return 0;
}
