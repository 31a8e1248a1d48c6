// SPDX-License-Identifier: BSL-1.0
// bench/floor.hpp - the hardware floor, without any library: what moving the same bytes
// between two processes through shared memory costs at the least.
//
//   floor-spin   a cache-line ping-pong: the client copies its request into a shared message
//                area and stores a sequence number in the same cache line; the server spins on
//                that line, copies the request into its answer area, stores the sequence; the
//                client spins until it sees it and copies the answer out. Three copies, as in
//                venom (into the queue slot, handler into the response slot, out to the caller).
//                Up to 48 bytes it is exactly one cache line each way.
//   floor-futex  the same with both sides blocking on a futex instead of spinning: the floor of
//                the blocking path (a sleeping daemon woken by a request).
//   memcpy       copying a state of the same size out of shared memory another process wrote.
#pragma once

#include "common.hpp"

#include <cstring>
#include <string>

namespace vb {

inline constexpr std::uint64_t quit_bit64 = std::uint64_t{1} << 63;
inline constexpr std::uint32_t quit_bit32 = 1u << 31;

/// The server halves. One object lives in the peer for its whole life: it remembers the last
/// sequence it answered, so a request sent before the server loop (re)starts is never missed.
struct FloorServer {
    std::uint64_t last_spin = 0;
    std::uint32_t last_futex = 0;

    /// Answers spin ping-pong requests until a quit message. false: no request for
    /// `idle_limit_ns` (the client is gone).
    bool serve_spin(Ctl& c, int parent_pid, std::int64_t idle_limit_ns) {
        for (;;) {
            std::uint64_t s;
            unsigned spins = 0;
            std::int64_t idle_since = 0;
            while ((s = c.ping.seq.load(std::memory_order_acquire)) == last_spin) {
                cpu_relax();
                if ((++spins & 0xfffff) == 0) {
                    if (!parent_alive(parent_pid)) std::_Exit(3);
                    const std::int64_t t = now_ns();
                    if (idle_since == 0) idle_since = t;
                    else if (t - idle_since > idle_limit_ns) return false;
                }
            }
            last_spin = s;
            const std::size_t n = c.ping.len.load(std::memory_order_relaxed);
            std::memcpy(c.pong.payload, c.ping.payload, n);
            c.pong.len.store(n, std::memory_order_relaxed);
            c.pong.seq.store(s, std::memory_order_release);
            if (s & quit_bit64) return true;
        }
    }

    /// Answers futex ping-pong requests until a quit message.
    bool serve_futex(Ctl& c, int parent_pid, std::int64_t idle_limit_ns) {
        for (;;) {
            std::uint32_t s;
            const std::int64_t start = now_ns();
            while ((s = c.fping.seq.load(std::memory_order_acquire)) == last_futex) {
                futex_wait(&c.fping.seq, s, 50000000);
                if (!parent_alive(parent_pid)) std::_Exit(3);
                if (now_ns() - start > idle_limit_ns) return false;
            }
            last_futex = s;
            const std::uint32_t n = c.fping.len;
            std::memcpy(c.fpong.payload, c.fping.payload, n);
            c.fpong.len = n;
            c.fpong.seq.store(s, std::memory_order_release);
            futex_wake(&c.fpong.seq);
            if (s & quit_bit32) return true;
        }
    }
};

/// Client half of the spin ping-pong. Throws if no answer comes within 10 s.
struct FloorSpinClient {
    Ctl* c = nullptr;
    std::uint64_t seq = 0;

    void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n,
                   bool quit = false) {
        std::memcpy(c->ping.payload, req, n);
        c->ping.len.store(n, std::memory_order_relaxed);
        seq = (seq & ~quit_bit64) + 1;
        const std::uint64_t s = seq | (quit ? quit_bit64 : 0);
        c->ping.seq.store(s, std::memory_order_release);
        unsigned spins = 0;
        std::int64_t start = 0;
        while (c->pong.seq.load(std::memory_order_acquire) != s) {
            cpu_relax();
            if ((++spins & 0xfffff) == 0) {
                if (start == 0) start = now_ns();
                else if (now_ns() - start > 10000000000LL) fail("floor-spin: no answer in 10 s");
            }
        }
        std::memcpy(resp, c->pong.payload, n);
        if (quit) seq = s;
    }
};

/// Client half of the futex ping-pong: wakes the server, then sleeps until the answer.
struct FloorFutexClient {
    Ctl* c = nullptr;
    std::uint32_t seq = 0;

    void roundtrip(const unsigned char* req, unsigned char* resp, std::size_t n,
                   bool quit = false) {
        std::memcpy(c->fping.payload, req, n);
        c->fping.len = static_cast<std::uint32_t>(n);
        seq = ((seq & ~quit_bit32) + 1) & ~quit_bit32;
        if (seq == 0) seq = 1;
        const std::uint32_t s = seq | (quit ? quit_bit32 : 0);
        c->fping.seq.store(s, std::memory_order_release);
        futex_wake(&c->fping.seq);
        const std::int64_t start = now_ns();
        std::uint32_t cur;
        while ((cur = c->fpong.seq.load(std::memory_order_acquire)) != s) {
            futex_wait(&c->fpong.seq, cur, 50000000);
            if (now_ns() - start > 10000000000LL) fail("floor-futex: no answer in 10 s");
        }
        std::memcpy(resp, c->fpong.payload, n);
        if (quit) seq = s;
    }
};

/// Keeps the compiler from dropping a copy whose result is not read.
inline void clobber(void* p) noexcept { asm volatile("" : : "r"(p) : "memory"); }

/// `reps` copies of n bytes from src to dst; returns the time taken (ns).
inline std::int64_t time_memcpy(void* dst, const void* src, std::size_t n, std::uint64_t reps) {
    const std::int64_t t0 = now_ns();
    for (std::uint64_t i = 0; i < reps; ++i) {
        std::memcpy(dst, src, n);
        clobber(dst);
    }
    return now_ns() - t0;
}

} // namespace vb
