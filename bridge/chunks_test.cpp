// SPDX-License-Identifier: BSL-1.0
// bridge/chunks_test.cpp - the chunk assembler (bridge/chunks.hpp) without DDS: in-order,
// out-of-order, duplicate, newer version mid-assembly, bad crc/offset/count/length, origin
// change, an assembly without progress abandoned (a forged high version), a version refused
// for want of a buffer then completed by its resend; and crc32c against its known check value. Exit
// 0: every check passed.
#include "chunks.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace venom_bridge;

namespace {

int failures = 0;
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

/// A mirror stand-in: one buffer lent at a time, versions must rise.
struct TestSink {
    std::uint64_t shown = 0;          ///< published version
    std::vector<unsigned char> state; ///< published bytes
    std::vector<unsigned char> lent;
    std::uint64_t lent_version = 0;
    bool out = false;
    int abandoned = 0;
    int published = 0;
    bool refuse = false; ///< begin() finds no free buffer (local views pin every buffer)

    std::uint64_t version() const { return shown; }
    unsigned char* begin(std::uint64_t v, std::uint64_t total) {
        if (refuse) return nullptr;
        if (out) {
            std::fprintf(stderr, "begin while a loan is out\n");
            ++failures;
        }
        out = true;
        lent.assign(total, 0xee);
        lent_version = v;
        return lent.data();
    }
    void abandon() {
        if (!out) {
            std::fprintf(stderr, "abandon without a loan\n");
            ++failures;
        }
        out = false;
        ++abandoned;
    }
    bool publish(std::uint64_t total) {
        if (!out || lent_version <= shown) return false;
        state.assign(lent.begin(), lent.begin() + static_cast<std::ptrdiff_t>(total));
        shown = lent_version;
        out = false;
        ++published;
        return true;
    }
};

std::vector<unsigned char> pattern(std::size_t n, unsigned seed) {
    std::vector<unsigned char> v(n);
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& b : v) {
        x = x * 1664525u + 1013904223u;
        b = static_cast<unsigned char>(x >> 24);
    }
    return v;
}

constexpr std::uint32_t chunk = 4096;
constexpr std::uint64_t origin = 0xabc;

/// The chunks of one version, as the exporter cuts them.
std::vector<Chunk> cut(const std::vector<unsigned char>& data, std::uint64_t version,
                       std::uint64_t org = origin) {
    std::vector<Chunk> out;
    const auto count = static_cast<std::uint32_t>(chunk_count(data.size(), chunk));
    for (std::uint32_t i = 0; i < count; ++i) {
        Chunk c;
        c.origin = org;
        c.version = version;
        c.total = data.size();
        c.offset = std::uint64_t{i} * chunk;
        c.index = i;
        c.count = count;
        c.bytes = data.data() + c.offset;
        c.length = std::min<std::size_t>(chunk, data.size() - c.offset);
        c.crc = crc32c(c.bytes, c.length);
        out.push_back(c);
    }
    return out;
}

void test_crc() {
    const char* check = "123456789";
    CHECK(crc32c(check, 9) == 0xe3069283u); // the CRC-32C check value
    CHECK(crc32c_soft(check, 9) == 0xe3069283u);
    const auto big = pattern(100000, 7);
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 100000u})
        CHECK(crc32c(big.data(), n) == crc32c_soft(big.data(), n));
}

void test_in_order() {
    TestSink s;
    Assembler a(chunk, 1 << 20);
    a.set_origin(origin, s);
    const auto data = pattern(3 * chunk + 100, 1);
    const auto cs = cut(data, 5);
    CHECK(cs.size() == 4);
    for (std::size_t i = 0; i < cs.size(); ++i)
        CHECK(a.add(cs[i], s) ==
              (i + 1 == cs.size() ? ChunkResult::completed : ChunkResult::accepted));
    CHECK(s.shown == 5);
    CHECK(s.state == data);
    // the same version again: stale (the mirror shows it)
    CHECK(a.add(cs[0], s) == ChunkResult::stale);
}

void test_out_of_order_and_duplicate() {
    TestSink s;
    Assembler a(chunk, 1 << 20);
    a.set_origin(origin, s);
    const auto data = pattern(5 * chunk, 2);
    const auto cs = cut(data, 9);
    CHECK(a.add(cs[3], s) == ChunkResult::accepted);
    CHECK(a.add(cs[0], s) == ChunkResult::accepted);
    CHECK(a.add(cs[3], s) == ChunkResult::duplicate);
    CHECK(a.add(cs[4], s) == ChunkResult::accepted);
    CHECK(a.add(cs[2], s) == ChunkResult::accepted);
    CHECK(s.shown == 0); // nothing visible before the last chunk
    CHECK(a.add(cs[1], s) == ChunkResult::completed);
    CHECK(s.shown == 9 && s.state == data);
    CHECK(s.published == 1);
}

void test_newer_mid_assembly() {
    TestSink s;
    Assembler a(chunk, 1 << 20);
    a.set_origin(origin, s);
    const auto d1 = pattern(3 * chunk, 3), d2 = pattern(2 * chunk + 1, 4);
    const auto c1 = cut(d1, 10), c2 = cut(d2, 12);
    CHECK(a.add(c1[0], s) == ChunkResult::accepted);
    CHECK(a.add(c1[1], s) == ChunkResult::accepted);
    CHECK(a.add(c2[2], s) == ChunkResult::accepted); // 12 replaces 10
    CHECK(s.abandoned == 1);
    CHECK(a.add(c1[2], s) == ChunkResult::stale); // 10's last chunk: too late
    CHECK(a.add(c2[0], s) == ChunkResult::accepted);
    CHECK(a.add(c2[1], s) == ChunkResult::completed);
    CHECK(s.shown == 12 && s.state == d2);
    CHECK(a.add(c1[0], s) == ChunkResult::stale); // below the mirror's version
}

void test_malformed() {
    TestSink s;
    Assembler a(chunk, 64 * 1024);
    a.set_origin(origin, s);
    const auto data = pattern(3 * chunk + 5, 5);
    auto cs = cut(data, 3);
    {
        Chunk c = cs[1];
        c.crc ^= 1;
        CHECK(a.add(c, s) == ChunkResult::malformed); // bad crc
    }
    {
        Chunk c = cs[1];
        c.offset += 1;
        CHECK(a.add(c, s) == ChunkResult::malformed); // offset != index * chunk
    }
    {
        Chunk c = cs[1];
        c.count = 3;
        CHECK(a.add(c, s) == ChunkResult::malformed); // count does not fit total
    }
    {
        Chunk c = cs[1];
        c.count = 0;
        CHECK(a.add(c, s) == ChunkResult::malformed);
    }
    {
        Chunk c = cs[3];
        c.index = 4;
        c.offset = 4ull * chunk;
        CHECK(a.add(c, s) == ChunkResult::malformed); // index >= count
    }
    {
        Chunk c = cs[1];
        c.length -= 1;
        c.crc = crc32c(c.bytes, c.length);
        CHECK(a.add(c, s) == ChunkResult::malformed); // a middle chunk shorter than chunk_size
    }
    {
        Chunk c = cs[3];
        std::vector<unsigned char> longer(c.bytes, c.bytes + c.length); // a byte more than
        longer.push_back(0x55);                                         // the version has
        c.bytes = longer.data();
        c.length = longer.size();
        c.crc = crc32c(c.bytes, c.length);
        CHECK(a.add(c, s) == ChunkResult::malformed); // the last one longer than the rest
    }
    {
        Chunk c = cs[0];
        c.total = 1 << 20; // over max_total
        c.count = static_cast<std::uint32_t>(chunk_count(c.total, chunk));
        CHECK(a.add(c, s) == ChunkResult::malformed);
    }
    CHECK(s.shown == 0 && s.published == 0 && !s.out); // nothing lent for a bad chunk
    // The version still completes from good chunks; a bad chunk of it in between changes nothing.
    CHECK(a.add(cs[0], s) == ChunkResult::accepted);
    {
        Chunk c = cs[2];
        c.total += chunk; // another shape than the version's first chunk said
        c.count += 1;
        CHECK(a.add(c, s) == ChunkResult::malformed);
    }
    CHECK(a.add(cs[1], s) == ChunkResult::accepted);
    CHECK(a.add(cs[2], s) == ChunkResult::accepted);
    CHECK(a.add(cs[3], s) == ChunkResult::completed);
    CHECK(s.shown == 3 && s.state == data);
}

void test_origin_change_and_empty() {
    TestSink s;
    Assembler a(chunk, 1 << 20);
    const auto data = pattern(2 * chunk, 6);
    auto cs = cut(data, 4);
    CHECK(a.add(cs[0], s) == ChunkResult::stale); // no origin set yet
    a.set_origin(origin, s);
    CHECK(a.add(cs[0], s) == ChunkResult::accepted);
    a.set_origin(origin + 1, s); // the exporter reconnected to a new origin daemon
    CHECK(s.abandoned == 1 && !s.out);
    CHECK(a.add(cs[1], s) == ChunkResult::stale); // the old origin's chunk
    const auto other = cut(data, 4, origin + 1);
    CHECK(a.add(other[0], s) == ChunkResult::accepted);
    CHECK(a.add(other[1], s) == ChunkResult::completed);
    CHECK(s.shown == 4 && s.state == data);
    // an empty state: one chunk of length 0
    const std::vector<unsigned char> none;
    const auto e = cut(none, 6, origin + 1);
    CHECK(e.size() == 1 && e[0].length == 0);
    CHECK(a.add(e[0], s) == ChunkResult::completed);
    CHECK(s.shown == 6 && s.state.empty());
    // version 0 is never a version
    Chunk z = e[0];
    z.version = 0;
    CHECK(a.add(z, s) == ChunkResult::stale);
}

/// M6: a forged chunk of a high version that never completes blocks every real version below
/// it until abandon_stalled drops it after the limit (about one lease in the importer).
void test_stalled_high_version() {
    using ms = std::chrono::milliseconds;
    TestSink s;
    Assembler a(chunk, 1 << 20);
    a.set_origin(origin, s);
    const auto t0 = Assembler::clock::now();
    const auto fd = pattern(2 * chunk, 8); // the chunks point into their data: kept alive
    const auto forged = cut(fd, 1000);
    CHECK(a.add(forged[0], s, t0) == ChunkResult::accepted); // its chunk 1 never comes
    const auto data = pattern(2 * chunk, 9);
    const auto real = cut(data, 5);
    CHECK(a.add(real[0], s, t0 + ms(10)) == ChunkResult::stale); // below the one in assembly
    CHECK(!a.abandon_stalled(t0 + ms(999), ms(1000), s));        // not yet
    CHECK(a.assembling() == 1000 && s.abandoned == 0);
    CHECK(a.abandon_stalled(t0 + ms(1000), ms(1000), s));
    CHECK(a.assembling() == 0 && s.abandoned == 1 && !s.out);
    CHECK(!a.abandon_stalled(t0 + ms(5000), ms(1000), s)); // nothing in assembly
    CHECK(a.add(real[0], s, t0 + ms(1001)) == ChunkResult::accepted);
    // progress moves the limit: a chunk 900 ms later keeps the assembly for another limit
    CHECK(a.add(real[1], s, t0 + ms(1900)) == ChunkResult::completed);
    CHECK(s.shown == 5 && s.state == data);
    const auto dd = pattern(3 * chunk, 10);
    const auto d2 = cut(dd, 6);
    CHECK(a.add(d2[0], s, t0 + ms(2000)) == ChunkResult::accepted);
    CHECK(a.add(d2[1], s, t0 + ms(2900)) == ChunkResult::accepted);
    CHECK(!a.abandon_stalled(t0 + ms(3500), ms(1000), s)); // 600 ms since the last chunk
    CHECK(a.abandon_stalled(t0 + ms(3900), ms(1000), s));
}

/// H3: a version whose first chunk finds no buffer is not started (no_buffer); an assembly
/// started by a later chunk lacks the first ones and completes only when the version is sent
/// again (the importer's resync); a stalled one is abandoned meanwhile.
void test_no_buffer_then_resend() {
    using ms = std::chrono::milliseconds;
    TestSink s;
    Assembler a(chunk, 1 << 20);
    a.set_origin(origin, s);
    const auto t0 = Assembler::clock::now();
    const auto data = pattern(3 * chunk, 11);
    const auto cs = cut(data, 7);
    s.refuse = true;
    CHECK(a.add(cs[0], s, t0) == ChunkResult::no_buffer);
    CHECK(a.assembling() == 0 && !s.out);
    s.refuse = false; // a view let a buffer go
    CHECK(a.add(cs[1], s, t0) == ChunkResult::accepted);
    CHECK(a.add(cs[2], s, t0) == ChunkResult::accepted); // chunk 0 is missing: not complete
    CHECK(s.shown == 0);
    // the resend (answer to the resync) completes it
    CHECK(a.add(cs[0], s, t0 + ms(100)) == ChunkResult::completed);
    CHECK(s.shown == 7 && s.state == data);
    // the same, but the resend comes after the stall limit: abandoned, then assembled whole
    const auto d2 = pattern(3 * chunk, 12);
    const auto c2 = cut(d2, 8);
    s.refuse = true;
    CHECK(a.add(c2[0], s, t0) == ChunkResult::no_buffer);
    s.refuse = false;
    CHECK(a.add(c2[1], s, t0) == ChunkResult::accepted);
    CHECK(a.abandon_stalled(t0 + ms(1000), ms(1000), s));
    for (std::size_t i = 0; i < c2.size(); ++i)
        CHECK(a.add(c2[i], s, t0 + ms(1100)) ==
              (i + 1 == c2.size() ? ChunkResult::completed : ChunkResult::accepted));
    CHECK(s.shown == 8 && s.state == d2 && !s.out);
}

} // namespace

int main() {
    test_crc();
    test_in_order();
    test_out_of_order_and_duplicate();
    test_newer_mid_assembly();
    test_malformed();
    test_origin_change_and_empty();
    test_stalled_high_version();
    test_no_buffer_then_resend();
    if (failures != 0) {
        std::fprintf(stderr, "bridge_chunks_test: %d checks failed\n", failures);
        return 1;
    }
    std::printf("bridge_chunks_test: all checks passed\n");
    return 0;
}
