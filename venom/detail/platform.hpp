// SPDX-License-Identifier: BSL-1.0
// venom/detail/platform.hpp - every OS call venom makes, behind a small interface; the
// implementations are platform_linux.hpp and platform_windows.hpp. Nothing else includes an OS
// header. What each provides:
//   cpu_relax, current_pid, unix_now_ns (prefetch_read, prefetch_write: here, for both)
//   AccessControl                who may open the channel (file mode / security descriptor)
//   Event, EventSet              block on / wake a WaitWord across processes (futex / semaphore)
//   LockFile                     byte-range locks the OS releases when a process dies
//   names: segment_name, liveness_path, lock_path; new_incarnation; free-space checks
#pragma once

#if defined(_WIN32)
#include <venom/detail/platform_windows.hpp>
#elif defined(__linux__)
#include <venom/detail/platform_linux.hpp>
#else
#error "venom supports Linux and Windows"
#endif

#if defined(_MSC_VER)
#include <intrin.h> // _m_prefetchw
#endif

namespace venom::detail {

/// Asks for the cache line at p, to read it soon (a hint: it loads nothing, never faults).
inline void prefetch_read(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

/// Asks for the cache line at p, to write it soon: for ownership, so that a later store or
/// CAS to it does not wait for another core to give it up (a hint, as prefetch_read).
/// On x86-64 this is PREFETCHW, written out: __builtin_prefetch(p, 1) emits it only when the
/// target has PRFCHW enabled (-march), and otherwise a plain read prefetch, which brings the
/// line shared, not owned. CPUs without PRFCHW (Intel before Broadwell) decode it as a NOP.
inline void prefetch_write(const void* p) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1, 3); // AArch64: PRFM PSTL1KEEP
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _m_prefetchw(const_cast<void*>(p));
#else
    (void)p;
#endif
}

} // namespace venom::detail
