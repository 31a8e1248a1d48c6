// SPDX-License-Identifier: BSL-1.0
// venom/detail/inspect_os.hpp - the OS calls only inspection needs (venom/inspect.hpp): the
// names of the channel files in the channel directory, and (Linux) the kernel's table of
// byte-range locks, from which liveness is learnt when the channel's files may not be opened.
//
// Both only read: a directory listing and /proc/locks. Neither opens a channel file, so a
// FIFO, device or another user's file named like a channel costs nothing but its name. Both
// are bounded: names are taken only if they pass validate_name (at most 100 characters), the
// listing stops after max_channel_files entries, and /proc/locks is read up to
// max_lock_table_bytes.
#pragma once

#include <venom/config.hpp>
#include <venom/detail/platform.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifndef _WIN32
#include <dirent.h>
#include <sys/sysmacros.h>
#endif

namespace venom::detail {

/// Directory entries looked at by one listing, at most (a directory filled by someone else
/// cannot make a listing run without end).
inline constexpr std::size_t max_channel_files = 1u << 20;

/// The channel name in a channel file's name, or "" if it is none of venom's:
/// "venom.<name>.lock", and on Linux "venom.<name>.shm", on Windows
/// "venom.<name>.<16 hex digits>.live".
inline std::string channel_of_file(std::string_view f) {
    constexpr std::string_view prefix = "venom.";
    auto strip = [&](std::string_view suffix) -> std::string_view {
        if (f.size() <= prefix.size() + suffix.size() || f.substr(0, prefix.size()) != prefix ||
            f.substr(f.size() - suffix.size()) != suffix)
            return {};
        return f.substr(prefix.size(), f.size() - prefix.size() - suffix.size());
    };
    std::string_view n = strip(".lock");
#ifdef _WIN32
    if (n.empty()) {
        n = strip(".live");
        constexpr std::size_t incarnation_suffix = 17; // ".<16 hex digits>"
        if (n.size() <= incarnation_suffix || n[n.size() - incarnation_suffix] != '.') return {};
        n = n.substr(0, n.size() - incarnation_suffix);
    }
#else
    if (n.empty()) n = strip(".shm");
#endif
    if (n.empty()) return {};
    try {
        validate_name(n);
    } catch (const error&) {
        return {}; // another program's file that happens to start with "venom."
    }
    return std::string(n);
}

/// The directory channel files live in, with its trailing separator.
inline std::string channel_files_directory() {
#ifdef _WIN32
    return temp_directory();
#else
    return shm_directory();
#endif
}

/// Appends the name of every channel that has a file in the channel directory (unsorted, with
/// repeats). On failure, `ec` is set and `out` keeps what was found.
inline void scan_channel_names(std::vector<std::string>& out, std::error_code& ec) {
    ec.clear();
    std::size_t seen = 0;
#ifdef _WIN32
    WIN32_FIND_DATAA data;
    const std::string pattern = temp_directory() + "venom.*";
    HANDLE h = FindFirstFileA(pattern.c_str(), &data);
    if (h == INVALID_HANDLE_VALUE) {
        const DWORD err = GetLastError();
        if (err != ERROR_FILE_NOT_FOUND && err != ERROR_NO_MORE_FILES)
            ec = make_error_code(errc::system_failure);
        return;
    }
    do {
        std::string n = channel_of_file(data.cFileName);
        if (!n.empty()) out.push_back(std::move(n));
    } while (++seen < max_channel_files && FindNextFileA(h, &data));
    FindClose(h);
#else
    DIR* d = ::opendir(shm_directory().c_str());
    if (d == nullptr) {
        ec = make_error_code(errno == EACCES ? errc::permission_denied : errc::system_failure);
        return;
    }
    while (const dirent* e = ::readdir(d)) {
        std::string n = channel_of_file(e->d_name);
        if (!n.empty()) out.push_back(std::move(n));
        if (++seen >= max_channel_files) break;
    }
    ::closedir(d);
#endif
}

#ifndef _WIN32
/// /proc/locks is read up to this many bytes (a machine with more locks than that is told as
/// "cannot tell", never as "no lock").
inline constexpr std::size_t max_lock_table_bytes = std::size_t{4} << 20;

/// The kernel's byte-range locks (/proc/locks): which bytes of which file are write-locked,
/// by anyone. Liveness for a channel whose files this user may not open (mode 0600 of another
/// user): the OFD locks are listed whatever their file's mode, and whatever the pid namespace.
class LockTable {
public:
    struct Lock {
        std::uint64_t dev_major = 0, dev_minor = 0, ino = 0, start = 0;
    };

    /// Reads the table; false if it cannot be read (no /proc, or too large): liveness unknown.
    bool read() {
        locks_.clear();
        std::FILE* f = std::fopen("/proc/locks", "re");
        if (f == nullptr) return false;
        std::string text;
        char buf[4096];
        std::size_t n = 0;
        bool whole = true;
        while ((n = std::fread(buf, 1, sizeof buf, f)) != 0) {
            if (text.size() + n > max_lock_table_bytes) {
                whole = false;
                break;
            }
            text.append(buf, n);
        }
        std::fclose(f);
        if (!whole) return false;
        std::size_t pos = 0;
        while (pos < text.size()) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            parse_line(std::string_view(text).substr(pos, end - pos));
            pos = end + 1;
        }
        return true;
    }

    /// Whether some process holds a write lock on byte `b` of the file (dev, ino) (lstat's).
    bool held(std::uint64_t dev, std::uint64_t ino, std::uint64_t b) const noexcept {
        return std::any_of(locks_.begin(), locks_.end(),
                           [&](const Lock& l) { return matches(l, dev, ino) && l.start == b; });
    }
    /// Write-locked bytes of the file at or after `from`.
    std::uint32_t count_from(std::uint64_t dev, std::uint64_t ino,
                             std::uint64_t from) const noexcept {
        return static_cast<std::uint32_t>(
            std::count_if(locks_.begin(), locks_.end(),
                          [&](const Lock& l) { return matches(l, dev, ino) && l.start >= from; }));
    }

private:
    static bool matches(const Lock& l, std::uint64_t dev, std::uint64_t ino) noexcept {
        return l.ino == ino && l.dev_major == major(static_cast<dev_t>(dev)) &&
               l.dev_minor == minor(static_cast<dev_t>(dev));
    }
    /// "N: OFDLCK ADVISORY  WRITE -1 00:1b:1100219 0 0"; other kinds (POSIX, FLOCK, LEASE),
    /// blocked waiters ("N: -> ...") and read locks are skipped. Device in hex, the rest decimal.
    void parse_line(std::string_view line) {
        std::vector<std::string_view> fields;
        std::size_t i = 0;
        while (i < line.size() && fields.size() < 9) {
            while (i < line.size() && line[i] == ' ') ++i;
            const std::size_t start = i;
            while (i < line.size() && line[i] != ' ') ++i;
            if (i > start) fields.push_back(line.substr(start, i - start));
        }
        // Only OFD locks are venom's: a FLOCK or POSIX lock on the same bytes (which read access
        // suffices for) must not make a dead daemon look alive.
        if (fields.size() < 8 || fields[1] != "OFDLCK" || fields[3] != "WRITE") return;
        Lock l;
        const std::string_view id = fields[5];
        const std::size_t c1 = id.find(':'), c2 = id.rfind(':');
        if (c1 == std::string_view::npos || c2 == c1) return;
        if (!number(id.substr(0, c1), 16, l.dev_major) ||
            !number(id.substr(c1 + 1, c2 - c1 - 1), 16, l.dev_minor) ||
            !number(id.substr(c2 + 1), 10, l.ino) || !number(fields[6], 10, l.start))
            return;
        locks_.push_back(l);
    }
    static bool number(std::string_view s, unsigned base, std::uint64_t& out) noexcept {
        if (s.empty() || s.size() > 20) return false;
        std::uint64_t v = 0;
        for (const char c : s) {
            unsigned d;
            if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
            else if (base == 16 && c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
            else if (base == 16 && c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
            else return false;
            v = v * base + d;
        }
        out = v;
        return true;
    }
    std::vector<Lock> locks_;
};
#endif

} // namespace venom::detail
