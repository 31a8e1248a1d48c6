// SPDX-License-Identifier: BSL-1.0
// venom/detail/racy_copy.hpp - copies of seqlock-protected bytes, which race with the writer by
// design.
//
// A seqlock reader copies bytes the writer may be overwriting, then discards the copy if the
// sequence number moved (seqlock.hpp). In the C++ memory model that overlap is only defined if
// the shared bytes are accessed as atomics (H. Boehm, "Can seqlocks get along with programming
// language memory models?", 2012): relaxed atomic loads and stores, with the fences the seqlock
// already has. Plain memcpy compiles to the same loads and stores on every platform venom
// targets, and is several times faster for large states, so it is what venom uses -- except
// under ThreadSanitizer, where the copy is done with relaxed atomic 8-byte accesses so that TSan
// checks the protocol (the fences and sequence numbers) instead of reporting the designed race.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SANITIZE_THREAD__)
#define VENOM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VENOM_TSAN 1
#endif
#endif

namespace venom::detail {

/// Copies n bytes out of a seqlock-protected shared buffer (src is 8-byte aligned).
inline void racy_copy_from_shared(void* dst, const unsigned char* src, std::size_t n) noexcept {
#if defined(VENOM_TSAN)
    auto* d = static_cast<unsigned char*>(dst);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const std::uint64_t w =
            __atomic_load_n(reinterpret_cast<const std::uint64_t*>(src + i), __ATOMIC_RELAXED);
        std::memcpy(d + i, &w, 8);
    }
    for (; i < n; ++i) d[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
#else
    if (n != 0) std::memcpy(dst, src, n);
#endif
}

/// Copies n bytes into a seqlock-protected shared buffer (dst is 8-byte aligned).
inline void racy_copy_to_shared(unsigned char* dst, const void* src, std::size_t n) noexcept {
#if defined(VENOM_TSAN)
    const auto* s = static_cast<const unsigned char*>(src);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s + i, 8);
        __atomic_store_n(reinterpret_cast<std::uint64_t*>(dst + i), w, __ATOMIC_RELAXED);
    }
    for (; i < n; ++i) __atomic_store_n(dst + i, s[i], __ATOMIC_RELAXED);
#else
    if (n != 0) std::memcpy(dst, src, n);
#endif
}

} // namespace venom::detail
