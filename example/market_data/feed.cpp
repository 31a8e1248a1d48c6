// SPDX-License-Identifier: BSL-1.0
// example/market_data/feed.cpp - a market-data feed: publishes top-of-book snapshots at a high
// rate and takes orders from strategies (the gateway side of the channel).
//
//   venom_market_feed [channel] [seconds] [ticks_per_second]
//
// One thread does everything, the way a feed handler pinned to its core does: it publishes a
// TopOfBook every 1/rate seconds (write<T>: the newest snapshot replaces the previous one;
// readers always get a whole one) and, while it waits for the next tick, handles the orders
// that came in (poll: never blocks), stamping each with its tick-to-order time.
// SIGINT/SIGTERM or the time limit stop it.
#include "market_data.hpp"

#include <venom/venom.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "market_data";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 0.0; // 0: until a signal
    const double rate = argc > 3 ? std::atof(argv[3]) : 100000.0;
    if (rate <= 0) {
        std::fprintf(stderr, "feed: ticks_per_second must be positive\n");
        return 2;
    }

    // The state is exactly one TopOfBook; commands are Orders, answers OrderAcks.
    venom::ChannelConfig config{sizeof(market::TopOfBook), 256, 16};
    config.max_cmd_size = sizeof(market::Order);
    config.max_response_size = sizeof(market::OrderAck);
    try {
        auto daemon = venom::DaemonChannel::create(name, config);
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        std::printf("feed: publishing \"%s\" at %.0f ticks/s (pid %d)\n", name.c_str(), rate,
                    static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        std::uint64_t orders = 0, rejected = 0;
        // The zero-allocation handler form: the answer is written straight into the client's
        // response slot.
        auto on_order = [&](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& out) {
            const std::int64_t arrived = market::now_ns();
            if (cmd.size() != sizeof(market::Order)) {
                ++rejected;
                throw std::invalid_argument("not an Order: " + std::to_string(cmd.size()) +
                                            " bytes");
            }
            market::Order order;
            std::memcpy(&order, cmd.data(), sizeof order);
            const market::OrderAck ack{++orders, arrived - order.tick_published_ns};
            out.assign(&ack, sizeof ack);
        };

        market::TopOfBook tob{};
        std::memcpy(tob.symbol, "ESZ6", 5);
        tob.bid_px = 500000;
        tob.ask_px = 500001;
        std::mt19937_64 rng(42);
        const auto period = std::chrono::duration<double>(1.0 / rate);
        const auto start = std::chrono::steady_clock::now();
        std::uint64_t published = 0;
        for (std::uint64_t k = 1; !g_stop.load(std::memory_order_relaxed); ++k) {
            const auto due =
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            period * static_cast<double>(k));
            if (seconds > 0 && due - start >= std::chrono::duration<double>(seconds)) break;
            // Until the next tick is due: serve orders (poll never waits). A feed that may not
            // keep a core busy would sleep here instead, and serve orders from run() in a
            // second thread.
            while (std::chrono::steady_clock::now() < due) daemon.poll(on_order);
            // A random walk of the book; the spread is 1 tick about a third of the time.
            const std::uint64_t r = rng();
            tob.bid_px += static_cast<std::int64_t>(r % 3) - 1;
            tob.ask_px = tob.bid_px + 1 + static_cast<std::int64_t>((r >> 8) % 3);
            tob.bid_qty = static_cast<std::uint32_t>(1 + (r >> 16) % 50);
            tob.ask_qty = static_cast<std::uint32_t>(1 + (r >> 24) % 50);
            tob.seq = k;
            tob.published_ns = market::now_ns();
            // typed: sizeof(TopOfBook) bytes, checked by read<T> on the other side
            daemon.write(tob);
            published = k;
        }
        daemon.poll(on_order); // the last orders in the queue
        std::printf("feed: published %llu ticks, accepted %llu orders, rejected %llu\n",
                    static_cast<unsigned long long>(published),
                    static_cast<unsigned long long>(orders),
                    static_cast<unsigned long long>(rejected));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "feed: %s\n", e.what());
        return 1;
    }
    return 0;
}
