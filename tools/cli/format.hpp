// SPDX-License-Identifier: BSL-1.0
// tools/cli/format.hpp - how `venom` shows numbers and bytes to people: sizes, durations,
// hex dumps, "is this text?", and the hex a command can be given in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace venom_cli {

/// The system clock now, in nanoseconds since the Unix epoch (as channels stamp creation,
/// connections and errors).
inline std::uint64_t unix_now_ns() {
    const auto t = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t).count());
}

/// 1536 -> "1.5 KiB"; exact below 1 KiB.
inline std::string human_bytes(std::uint64_t n) {
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) return std::to_string(n) + " B";
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (v == static_cast<double>(static_cast<std::uint64_t>(v)))
        std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
    else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

/// Seconds -> "12.3s", "5m03s", "2h07m", "3d04h".
inline std::string human_duration(double s) {
    char buf[32];
    if (s < 0) s = 0;
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.1fs", s);
        return buf;
    }
    const auto t = static_cast<std::uint64_t>(s);
    if (t < 3600)
        std::snprintf(buf, sizeof buf, "%um%02us", static_cast<unsigned>(t / 60),
                      static_cast<unsigned>(t % 60));
    else if (t < 86400)
        std::snprintf(buf, sizeof buf, "%uh%02um", static_cast<unsigned>(t / 3600),
                      static_cast<unsigned>(t % 3600 / 60));
    else
        std::snprintf(buf, sizeof buf, "%ud%02uh", static_cast<unsigned>(t / 86400),
                      static_cast<unsigned>(t % 86400 / 3600));
    return buf;
}

inline std::string fixed(double v, int decimals = 1) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

/// Whether bytes read as text: valid UTF-8 without control characters other than \t \n \r.
inline bool is_text(const std::uint8_t* p, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        const std::uint8_t c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
            ++i;
            continue;
        }
        std::size_t len = 0;
        if ((c & 0xe0) == 0xc0 && c >= 0xc2) len = 2;
        else if ((c & 0xf0) == 0xe0) len = 3;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4) len = 4;
        else return false;
        if (i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((p[i + k] & 0xc0) != 0x80) return false;
        i += len;
    }
    return true;
}

/// Text with anything that is not printable (or not UTF-8) shown as \xNN; \n and \t kept.
inline std::string escaped_text(const std::uint8_t* p, std::size_t n) {
    std::string out;
    out.reserve(n);
    std::size_t i = 0;
    while (i < n) {
        const std::uint8_t c = p[i];
        if (c >= 0x80) {
            const std::size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
            if (i + len <= n && is_text(p + i, len)) {
                out.append(reinterpret_cast<const char*>(p + i), len);
                i += len;
                continue;
            }
        }
        if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            out += buf;
        }
        ++i;
    }
    return out;
}

/// Plain lower-case hex, two digits a byte ("70696e67").
inline std::string hex_string(const std::uint8_t* p, std::size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out(2 * n, '0');
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    return out;
}

/// xxd-style dump: offset, 16 bytes in hex, the printable ones.
inline std::string hex_dump(const std::uint8_t* p, std::size_t n) {
    std::string out;
    char buf[32];
    for (std::size_t off = 0; off < n; off += 16) {
        std::snprintf(buf, sizeof buf, "%08zx ", off);
        out += buf;
        for (std::size_t i = 0; i < 16; ++i) {
            if (i == 8) out += ' ';
            if (off + i < n) {
                std::snprintf(buf, sizeof buf, " %02x", static_cast<unsigned>(p[off + i]));
                out += buf;
            } else {
                out += "   ";
            }
        }
        out += "  |";
        for (std::size_t i = 0; i < 16 && off + i < n; ++i) {
            const std::uint8_t c = p[off + i];
            out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
        }
        out += "|\n";
    }
    return out;
}

/// "70 69 6e 67", "70696E67", "0x70,0x69": hex digits with optional separators and 0x
/// prefixes. nullopt when a character is not hex or the digits are odd in number.
inline std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view s) {
    std::vector<std::uint8_t> out;
    int hi = -1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == ' ' || c == ':' || c == ',' || c == '\n' || c == '\t' || c == '-') {
            if (hi >= 0) return std::nullopt;
            continue;
        }
        if (c == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') && hi < 0) {
            ++i;
            continue;
        }
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        if (hi < 0) {
            hi = d;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi * 16 + d));
            hi = -1;
        }
    }
    if (hi >= 0) return std::nullopt;
    return out;
}

} // namespace venom_cli
