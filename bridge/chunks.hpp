// SPDX-License-Identifier: BSL-1.0
/// \file bridge/chunks.hpp
/// State chunks: crc32c, how a version is cut into chunks (exporter), and the Assembler that
/// puts the chunks of one version back together (importer). Pure C++: no DDS, no venom
/// channel, so it is unit-tested on its own (bridge/chunks_test.cpp).
///
/// Design (notes/design_issue12.md 1.5):
/// - A version of `total` bytes is `count = max(1, ceil(total / chunk_size))` chunks; chunk i
///   holds bytes [i * chunk_size, min(total, (i + 1) * chunk_size)) and their crc32c.
/// - The Assembler belongs to one thread (the importer's receive loop): no locks. Its state is
///   the origin tag it accepts, the version being assembled (version, total, count) and a
///   bitmap of the chunks received. Its bytes go straight into a buffer the Sink lends (the
///   mirror's StateLoan): no assembly buffer of its own.
/// - Every field of a chunk is checked before any byte is copied: count, index < count,
///   offset == index * chunk_size, the length (chunk_size but for the last), total <=
///   max_total, crc32c. A bad chunk is reported `malformed` and changes nothing: a version
///   with a bad chunk never completes, and the next version replaces it.
/// - A chunk of another origin, or of a version not above the sink's, is `stale`. A chunk of a
///   newer version than the one in assembly abandons that one (Sink::abandon: the loan is
///   dropped, the mirror's version does not move) and starts the new one. A repeated index
///   is a `duplicate`, ignored.
/// - All chunks in: Sink::publish(total) makes the version visible whole (the seqlock's job from
///   there on).
/// - A peer that dies mid-version, a chunk lost for good, or a forged chunk of a high version
///   that never completes leave an assembly without progress: abandon_stalled(now, limit)
///   (the importer calls it every tick, limit about one lease) drops it, so the sink's loan is
///   returned and lower versions are accepted again; the importer then asks for a resend.
/// - A version whose first chunk finds no buffer (Sink::begin fails: local views pin every
///   state buffer) is not started: `no_buffer`; the next chunk of it tries again. An assembly
///   started after its first chunks went by completes only when the version is sent again:
///   the importer asks for that (a resync) on no_buffer and on a stalled assembly.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace venom_bridge {

// ---- crc32c (Castagnoli) ----------------------------------------------------------------------

namespace detail_crc {

constexpr std::uint32_t poly = 0x82f63b78u; // reflected Castagnoli polynomial

struct Table {
    std::uint32_t t[8][256];
    constexpr Table() : t{} {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
            t[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
};
inline constexpr Table table{};

/// Slice-by-8 in software (any CPU).
inline std::uint32_t soft(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        w ^= crc;
        crc = table.t[7][w & 0xff] ^ table.t[6][(w >> 8) & 0xff] ^ table.t[5][(w >> 16) & 0xff] ^
              table.t[4][(w >> 24) & 0xff] ^ table.t[3][(w >> 32) & 0xff] ^
              table.t[2][(w >> 40) & 0xff] ^ table.t[1][(w >> 48) & 0xff] ^ table.t[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- != 0) crc = (crc >> 8) ^ table.t[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// SSE4.2's crc32 instruction (the same polynomial), 8 bytes per step.
__attribute__((target("sse4.2"))) inline std::uint32_t hard(std::uint32_t crc,
                                                            const unsigned char* p,
                                                            std::size_t n) noexcept {
    std::uint64_t c = crc;
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    auto c32 = static_cast<std::uint32_t>(c);
    while (n-- != 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
inline bool have_hard() noexcept {
    static const bool yes = __builtin_cpu_supports("sse4.2");
    return yes;
}
#endif

} // namespace detail_crc

/// crc32c of n bytes (the hardware instruction where the CPU has it).
inline std::uint32_t crc32c(const void* data, std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (detail_crc::have_hard()) return ~detail_crc::hard(~0u, p, n);
#endif
    return ~detail_crc::soft(~0u, p, n);
}

/// crc32c in software only (the test compares both).
inline std::uint32_t crc32c_soft(const void* data, std::size_t n) noexcept {
    return ~detail_crc::soft(~0u, static_cast<const unsigned char*>(data), n);
}

// ---- cutting a version ----------------------------------------------------------------------

/// Chunks of a version of `total` bytes: max(1, ceil(total / chunk_size)).
inline std::uint64_t chunk_count(std::uint64_t total, std::uint32_t chunk_size) noexcept {
    return total == 0 ? 1 : (total + chunk_size - 1) / chunk_size;
}

/// One received chunk, as the importer sees it (fields straight from the network).
struct Chunk {
    std::uint64_t origin = 0;
    std::uint64_t version = 0;
    std::uint64_t total = 0;
    std::uint64_t offset = 0;
    std::uint32_t index = 0;
    std::uint32_t count = 0;
    std::uint32_t crc = 0;
    const unsigned char* bytes = nullptr;
    std::size_t length = 0;
};

enum class ChunkResult {
    accepted,  ///< copied; the version is not complete yet
    completed, ///< copied, and the version was published
    duplicate, ///< this index of this version arrived before: ignored
    stale,     ///< another origin, or a version not above the sink's: ignored
    malformed, ///< a field is out of range or the crc is wrong: ignored, count it
    no_buffer, ///< the sink could not lend a buffer for the version (Sink::begin failed)
};

/// Puts versions back together. Sink (the importer's mirror, or a test's):
///   std::uint64_t version();                       // the version it shows now
///   unsigned char* begin(std::uint64_t v, std::uint64_t total); // lend total bytes; null: no
///   void abandon();                                // drop what begin lent (unpublished)
///   bool publish(std::uint64_t total);             // make version v visible; false: failed
/// One thread.
class Assembler {
public:
    /// chunk_size: the exporter's (from its announcement); max_total: the mirror's data_size.
    Assembler(std::uint32_t chunk_size, std::uint64_t max_total) noexcept
        : chunk_size_(chunk_size), max_total_(max_total) {}

    /// The origin whose chunks are accepted; another one abandons the assembly in progress.
    template <class Sink> void set_origin(std::uint64_t origin, Sink& sink) {
        if (origin == origin_) return;
        drop(sink);
        origin_ = origin;
    }
    std::uint64_t origin() const noexcept { return origin_; }
    /// The version being assembled (0: none).
    std::uint64_t assembling() const noexcept { return version_; }
    std::uint32_t received() const noexcept { return received_; }

    using clock = std::chrono::steady_clock;

    /// Abandons the version in progress if no chunk of it was copied for `limit` (its last
    /// progress, or its start, is `limit` or more before `now`); true if it did.
    template <class Sink>
    bool abandon_stalled(clock::time_point now, clock::duration limit, Sink& sink) {
        if (version_ == 0 || now - progress_ < limit) return false;
        drop(sink);
        return true;
    }

    /// Abandons the version in progress, if any.
    template <class Sink> void drop(Sink& sink) {
        if (version_ != 0) sink.abandon();
        version_ = 0;
        received_ = 0;
        have_.clear();
    }

    /// `now`: when the chunk arrived (a copied chunk is progress, for abandon_stalled).
    template <class Sink>
    ChunkResult add(const Chunk& c, Sink& sink, clock::time_point now = clock::now()) {
        if (origin_ == 0 || c.origin != origin_) return ChunkResult::stale;
        if (c.version == 0 || c.version <= sink.version()) return ChunkResult::stale;
        if (!well_formed(c)) return ChunkResult::malformed;
        if (c.version < version_) return ChunkResult::stale; // an older one, after a newer began
        if (c.version == version_) {
            // The version's shape was fixed by its first chunk.
            if (c.total != total_ || c.count != count_) return ChunkResult::malformed;
            if (bit(c.index)) return ChunkResult::duplicate;
        } else {
            drop(sink); // a newer version replaces the one in progress
            buffer_ = sink.begin(c.version, c.total);
            if (buffer_ == nullptr && c.total != 0) return ChunkResult::no_buffer;
            version_ = c.version;
            total_ = c.total;
            count_ = c.count;
            have_.assign((count_ + 63) / 64, 0);
        }
        if (c.length != 0) std::memcpy(buffer_ + c.offset, c.bytes, c.length);
        progress_ = now;
        have_[c.index / 64] |= std::uint64_t{1} << (c.index % 64);
        if (++received_ < count_) return ChunkResult::accepted;
        const std::uint64_t total = total_;
        version_ = 0; // the loan is the sink's to publish now: drop() must not abandon it
        received_ = 0;
        have_.clear();
        return sink.publish(total) ? ChunkResult::completed : ChunkResult::no_buffer;
    }

private:
    bool well_formed(const Chunk& c) const noexcept {
        if (c.total > max_total_) return false;
        if (c.count == 0 || c.count != chunk_count(c.total, chunk_size_)) return false;
        if (c.index >= c.count) return false;
        if (c.offset != std::uint64_t{c.index} * chunk_size_) return false;
        const std::uint64_t expect =
            c.index + 1 < c.count ? chunk_size_ : c.total - std::uint64_t{c.index} * chunk_size_;
        if (c.length != expect) return false;
        if (c.length != 0 && c.bytes == nullptr) return false;
        return crc32c(c.bytes, c.length) == c.crc;
    }
    bool bit(std::uint32_t i) const noexcept { return (have_[i / 64] >> (i % 64)) & 1u; }

    std::uint32_t chunk_size_;
    std::uint64_t max_total_;
    std::uint64_t origin_ = 0;
    std::uint64_t version_ = 0; ///< in assembly; 0: none
    std::uint64_t total_ = 0;
    std::uint32_t count_ = 0;
    std::uint32_t received_ = 0;
    unsigned char* buffer_ = nullptr;
    std::vector<std::uint64_t> have_; ///< bitmap of the chunks received
    clock::time_point progress_{};    ///< when the assembly last copied a chunk
};

} // namespace venom_bridge
