// SPDX-License-Identifier: BSL-1.0
// example/sensors/control.cpp - a control loop: waits for each new sensor reading with
// wait_for_update (it spins for 50 us, then sleeps in the kernel until the hub publishes: no
// polling, ~no CPU between readings), reads it without any lock, and acts on it.
//
//   venom_sensor_control balance [name] [seconds]   the IMU loop (1 kHz)
//   venom_sensor_control avoid   [name] [seconds]   the lidar loop (20 Hz)
//
// It prints how many readings it got, how long after publication it had each (wake-up
// latency), and the CPU time it used: the proof that it waited rather than polled.
#include "sensors.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace {

venom::ShellChannel connect_when_up(const std::string& name) {
    venom::ShellOptions options;
    options.connect_timeout = std::chrono::seconds(5); // the daemon may still be starting
    return venom::ShellChannel::connect(name, options);
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// Waits for each new version of the channel's state, reads it into `reading` and calls
/// act(reading); returns when the hub stops or after `seconds`. Prints the statistics.
template <class Reading, class Act>
int follow(const std::string& loop, const std::string& channel, double seconds, Act&& act) {
    auto shell = connect_when_up(channel);
    auto reading = std::make_unique<Reading>();
    std::vector<double> latency_us;
    std::uint64_t seen = shell.version(), readings = 0, missed = 0, last = 0;
    const double cpu0 = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        try {
            if (!shell.wait_for_update(seen, std::chrono::milliseconds(200))) continue;
        } catch (const venom::error& e) {
            if (e.code() == venom::errc::daemon_gone) break; // the hub has stopped
            throw;
        }
        std::error_code ec;
        // typed, lock-free, never torn; wrong_size if not a Reading
        shell.read(*reading, ec, &seen);
        if (ec) throw venom::error(ec, "read<Reading>");
        latency_us.push_back(static_cast<double>(sensors::now_ns() - reading->published_ns) / 1e3);
        if (last != 0 && reading->seq > last + 1) missed += reading->seq - last - 1;
        last = reading->seq;
        ++readings;
        act(*reading);
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu0;
    std::sort(latency_us.begin(), latency_us.end());
    auto pct = [&](double p) {
        return latency_us.empty() ? 0.0
                                  : latency_us[static_cast<std::size_t>(
                                        p / 100 * static_cast<double>(latency_us.size() - 1))];
    };
    std::printf(
        "%s: %llu readings in %.1f s (%llu missed); published-to-read p50 %.0f us, p99 %.0f us; "
        "CPU %.1f%% of a core\n",
        loop.c_str(), static_cast<unsigned long long>(readings), wall,
        static_cast<unsigned long long>(missed), pct(50), pct(99), 100.0 * cpu / wall);
    return readings == 0 ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string loop = argc > 1 ? argv[1] : "balance";
    const std::string name = argc > 2 ? argv[2] : "robot";
    const double seconds = argc > 3 ? std::atof(argv[3]) : 10.0;
    try {
        if (loop == "balance") {
            float tilt = 0; // a toy complementary filter on the IMU
            return follow<sensors::ImuSample>(
                loop, sensors::imu_channel(name), seconds, [&](const sensors::ImuSample& s) {
                    tilt = 0.98f * (tilt + s.gyro[2] * 0.001f) + 0.02f * s.accel[0];
                });
        }
        if (loop == "avoid") {
            return follow<sensors::LidarScan>(
                loop, sensors::lidar_channel(name), seconds, [&](const sensors::LidarScan& scan) {
                    // the nearest obstacle
                    (void)*std::min_element(scan.ranges, scan.ranges + sensors::lidar_points);
                });
        }
        std::fprintf(stderr, "usage: venom_sensor_control balance|avoid [name] [seconds]\n");
        return 2;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "%s: %s\n", loop.c_str(), e.what());
        return 1;
    }
}
