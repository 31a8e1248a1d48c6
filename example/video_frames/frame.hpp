// SPDX-License-Identifier: BSL-1.0
// example/video_frames/frame.hpp - the frame format shared by producer and consumer: an 8K RGB
// frame (7680 x 4320 x 3 bytes, 99.5 MB) behind a 64-byte header. Copy this folder and change
// the format: both sides include this one header.
//
// Checking a 99.5 MB frame byte by byte would cost more than copying it, so the check is
// sampled: the producer writes a frame-dependent value into 4096 64-bit words spread evenly
// over the pixels and puts their checksum, with the frame number, in the header. A frame mixed
// from two versions (which venom never hands out) would fail the check.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace video {

inline constexpr std::uint32_t width = 7680, height = 4320, channels = 3;
inline constexpr std::size_t pixel_bytes = std::size_t{width} * height * channels; // 99,532,800
inline constexpr std::uint64_t magic = 0x454d4152464b3856ull;                      // "V8KFRAME"
inline constexpr std::size_t samples = 4096;
inline constexpr std::size_t sample_stride = pixel_bytes / 8 / samples; // in 64-bit words

struct FrameHeader {
    std::uint64_t magic;
    std::uint64_t frame_no;
    std::int64_t produced_ns; ///< steady_clock, when the producer started writing it
    std::uint32_t width, height, channels, samples;
    std::uint64_t checksum; ///< of the sampled words
    std::uint64_t reserved[2];
};
static_assert(sizeof(FrameHeader) == 64, "the pixels start on a cache line");
inline constexpr std::size_t frame_bytes = sizeof(FrameHeader) + pixel_bytes;

inline std::uint64_t mix(std::uint64_t x) { // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/// The checksum of the sampled words of `pixels` (memcpy: no alignment assumed).
inline std::uint64_t checksum(const unsigned char* pixels) {
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < samples; ++i) {
        std::uint64_t w;
        std::memcpy(&w, pixels + i * sample_stride * 8, 8);
        h = mix(h ^ w) + i;
    }
    return h;
}

/// Writes frame `n`'s value into each sampled word.
inline void stamp(unsigned char* pixels, std::uint64_t n) {
    for (std::size_t i = 0; i < samples; ++i) {
        const std::uint64_t w = mix(n * samples + i);
        std::memcpy(pixels + i * sample_stride * 8, &w, 8);
    }
}

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace video
