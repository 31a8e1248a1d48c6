// SPDX-License-Identifier: BSL-1.0
/// \file venom/version.hpp
/// venom's version, the one place it is written (CMakeLists.txt reads it from here), and the
/// language check every venom header goes through.
///
/// Builds interoperate when their shared-memory layout_version (detail/layout.hpp) is the same,
/// whatever their VENOM_VERSION; README, Compatibility, and CHANGELOG.md say which is which.
#pragma once

/// The C++ version the compiler implements, as venom's C++17 check reads it: _MSVC_LANG under
/// MSVC (whose __cplusplus says 199711L unless /Zc:__cplusplus), __cplusplus elsewhere.
#if defined(_MSVC_LANG)
#define VENOM_CPLUSPLUS _MSVC_LANG
#else
#define VENOM_CPLUSPLUS __cplusplus
#endif
#if VENOM_CPLUSPLUS < 201703L
#error "venom needs C++17 or later: compile with -std=c++17 (MSVC: /std:c++17 and /Zc:__cplusplus)"
#endif

/// venom's major version number.
#define VENOM_VERSION_MAJOR 0
/// venom's minor version number.
#define VENOM_VERSION_MINOR 2
/// venom's patch version number.
#define VENOM_VERSION_PATCH 0
/// MAJOR * 10000 + MINOR * 100 + PATCH, for `#if` comparisons.
#define VENOM_VERSION \
    (VENOM_VERSION_MAJOR * 10000 + VENOM_VERSION_MINOR * 100 + VENOM_VERSION_PATCH)

namespace venom {
inline constexpr int version_major = VENOM_VERSION_MAJOR; ///< VENOM_VERSION_MAJOR as a constant
inline constexpr int version_minor = VENOM_VERSION_MINOR; ///< VENOM_VERSION_MINOR as a constant
inline constexpr int version_patch = VENOM_VERSION_PATCH; ///< VENOM_VERSION_PATCH as a constant
} // namespace venom
