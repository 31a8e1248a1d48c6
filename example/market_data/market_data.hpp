// SPDX-License-Identifier: BSL-1.0
// example/market_data/market_data.hpp - what the feed and the strategy agree on. Copy this
// folder and change the structs: both sides include this one header.
//
// The state is one TopOfBook, a trivially copyable struct: the feed write_data()s it, every
// strategy read_data()s it into its own copy (never torn, never locked). Orders go the other
// way as commands; each answer (OrderAck) comes back to the strategy that sent the order.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

namespace market {

/// Prices are integers in ticks of the instrument (here 1 tick = 0.01).
struct TopOfBook {
    std::uint64_t seq;         ///< tick number: 1, 2, 3...
    std::int64_t published_ns; ///< steady_clock (CLOCK_MONOTONIC): one clock for every process
    char symbol[8];
    std::int64_t bid_px, ask_px;
    std::uint32_t bid_qty, ask_qty;
};

struct Order {
    std::uint64_t tick_seq;         ///< the tick that triggered it
    std::int64_t tick_published_ns; ///< copied from that tick
    std::int64_t price;
    std::uint32_t qty;
    char side; ///< 'B' or 'S'
    char pad[3];
};

struct OrderAck {
    std::uint64_t order_id;
    std::int64_t tick_to_order_ns; ///< from the tick's publication to the order's arrival
};

static_assert(std::is_trivially_copyable_v<TopOfBook> && std::is_trivially_copyable_v<Order> &&
                  std::is_trivially_copyable_v<OrderAck>,
              "whatever crosses the channel as raw bytes must be trivially copyable");

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace market
