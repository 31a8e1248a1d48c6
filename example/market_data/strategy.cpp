// SPDX-License-Identifier: BSL-1.0
// example/market_data/strategy.cpp - a trading strategy: reads every top-of-book snapshot as
// it appears, sends an order when the spread is one tick, and prints tick-to-order latency
// percentiles (from the feed publishing the tick to the feed receiving the order).
//
//   venom_market_strategy [channel] [seconds]
//
// It runs until the feed stops (or the time limit). Run several: each gets its own answers.
#include "market_data.hpp"

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

double percentile_us(std::vector<std::int64_t>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "market_data";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 10.0;
    try {
        auto shell = connect_when_up(name);
        std::vector<std::int64_t> tick_to_order, round_trip;
        tick_to_order.reserve(1 << 20);
        round_trip.reserve(1 << 20);
        std::uint64_t seen = 0, ticks = 0, skipped = 0, last_seq = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        market::TopOfBook tob{};
        while (std::chrono::steady_clock::now() < end) {
            // Wait for a newer snapshot: spins briefly, then sleeps in the kernel (no polling).
            bool updated = false;
            try {
                updated = shell.wait_for_update(seen, std::chrono::milliseconds(100));
            } catch (const venom::error& e) {
                if (e.code() == venom::errc::daemon_gone) break; // the feed has stopped
                throw;
            }
            if (!updated) continue;
            std::error_code ec;
            // typed, non-throwing: wrong_size unless the state is a TopOfBook
            shell.read(tob, ec, &seen);
            if (ec) throw venom::error(ec, "read<TopOfBook>");
            ++ticks;
            if (last_seq != 0 && tob.seq > last_seq + 1) skipped += tob.seq - last_seq - 1;
            last_seq = tob.seq;
            if (tob.ask_px - tob.bid_px != 1) continue; // the signal: a one-tick spread
            const market::Order order{tob.seq, tob.published_ns, tob.ask_px, 1, 'B', {}};
            market::OrderAck ack{};
            const std::int64_t t0 = market::now_ns();
            shell.request(&order, sizeof order, &ack, sizeof ack, std::chrono::seconds(1), ec);
            const std::int64_t t1 = market::now_ns();
            if (ec == venom::errc::daemon_gone) break;
            if (ec) throw venom::error(ec, "order: " + shell.last_error_text());
            tick_to_order.push_back(ack.tick_to_order_ns);
            round_trip.push_back(t1 - t0);
        }
        const std::size_t orders = tick_to_order.size();
        std::printf("strategy %u: %llu ticks read, %llu skipped while busy, %zu orders sent\n",
                    shell.client_id(), static_cast<unsigned long long>(ticks),
                    static_cast<unsigned long long>(skipped), orders);
        if (orders == 0) {
            std::fprintf(stderr, "strategy: no order was sent\n");
            return 1;
        }
        std::printf(
            "strategy %u: tick-to-order  p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max "
            "%.1f us\n",
            shell.client_id(), percentile_us(tick_to_order, 50), percentile_us(tick_to_order, 90),
            percentile_us(tick_to_order, 99), percentile_us(tick_to_order, 99.9),
            percentile_us(tick_to_order, 100));
        std::printf("strategy %u: order round trip  p50 %.1f us  p99 %.1f us\n", shell.client_id(),
                    percentile_us(round_trip, 50), percentile_us(round_trip, 99));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "strategy: %s\n", e.what());
        return 1;
    }
    return 0;
}
