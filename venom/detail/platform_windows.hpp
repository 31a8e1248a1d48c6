// venom/detail/platform_windows.hpp - the Windows half of the platform layer (see platform.hpp).
//
//   segment     native Windows shared memory (managed_windows_shared_memory, segment.hpp),
//               "Local\venom.<name>.<incarnation>.shm". It exists while some process has it
//               open: the daemon holds it for its whole life. Each daemon instance uses a new
//               incarnation number, so a restarted daemon never collides with the old mapping
//               that shells of a dead daemon may still hold.
//   name lock   %TEMP%\venom.<name>.lock: the daemon holds a LockFileEx lock in it for its life
//               and writes its incarnation at offset 0 (shells read it to find the segment).
//   liveness    %TEMP%\venom.<name>.<incarnation>.live: daemon and client lock bytes
//               (layout.hpp), released by the OS when a process dies.
//   Event       a named semaphore per WaitWord, "Local\venom.<name>.<incarnation>.w<index>"
//               (WaitOnAddress does not cross processes; Boost 1.74's interprocess sync types
//               spin on Windows).
//   access      a security descriptor: the creating user only (default), plus its primary
//               group, or everyone.
//
// LockFileEx locks are mandatory (they block reads and writes of the locked bytes through other
// handles), so every lock byte is placed far past the file's contents (lock_base).
#pragma once

#include <venom/detail/layout.hpp>
#include <venom/error.hpp>

#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <sddl.h>

#include <boost/interprocess/permissions.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace venom::detail {

inline void cpu_relax() noexcept { YieldProcessor(); }

inline std::uint32_t current_pid() noexcept { return static_cast<std::uint32_t>(GetCurrentProcessId()); }

inline std::uint64_t unix_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

inline std::string win_error_text(DWORD err) {
    char buf[256] = {};
    const DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                   nullptr, err, 0, buf, sizeof buf, nullptr);
    std::string s(buf, n);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '.')) s.pop_back();
    return s.empty() ? "Windows error " + std::to_string(err) : s;
}

[[noreturn]] inline void throw_system(const std::string& what, DWORD err) {
    if (err == ERROR_ACCESS_DENIED)
        throw error(errc::permission_denied, what + ": " + win_error_text(err));
    if (err == ERROR_NOT_ENOUGH_MEMORY || err == ERROR_COMMITMENT_LIMIT || err == ERROR_DISK_FULL ||
        err == ERROR_OUTOFMEMORY)
        throw error(errc::out_of_memory, what + ": " + win_error_text(err));
    throw error(errc::system_failure, what + ": " + win_error_text(err));
}

// ---- names ---------------------------------------------------------------------------------

/// A fresh, nonzero instance number for a daemon (names its segment, events, liveness file).
inline std::uint64_t new_incarnation() {
    std::random_device rd;
    const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ unix_now_ns() ^
                            (static_cast<std::uint64_t>(current_pid()) << 16);
    return r == 0 ? 1 : r;
}

inline std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

/// Kernel-object namespace: "Local\" (this logon session). A service in session 0 does not see
/// "Local\" objects of user sessions; a "Global\" namespace would need SeCreateGlobalPrivilege.
inline std::string object_prefix() { return "Local\\"; }

inline std::string temp_directory() {
    char buf[MAX_PATH + 1] = {};
    const DWORD n = GetTempPathA(MAX_PATH, buf);
    std::string s = (n > 0 && n <= MAX_PATH) ? std::string(buf, n) : std::string(".\\");
    if (s.back() != '\\' && s.back() != '/') s += '\\';
    return s;
}

inline std::string segment_name(std::string_view channel, std::uint64_t incarnation) {
    return object_prefix() + "venom." + std::string(channel) + "." + hex64(incarnation) + ".shm";
}

inline std::string liveness_path(std::string_view channel, std::uint64_t incarnation) {
    return temp_directory() + "venom." + std::string(channel) + "." + hex64(incarnation) + ".live";
}

inline std::string lock_path(std::string_view channel) {
    return temp_directory() + "venom." + std::string(channel) + ".lock";
}

// ---- access --------------------------------------------------------------------------------

/// Who may open the channel's objects: a security descriptor granting the creating user (and,
/// if asked, its primary group or everyone) full access, and nobody else.
class AccessControl {
public:
    explicit AccessControl(std::uint32_t access) : access_(access) {
        std::string sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
        const std::string user = token_sid(TokenUser);
        if (!user.empty()) sddl += "(A;;GA;;;" + user + ")";
        if (access == 1) {
            const std::string group = token_sid(TokenPrimaryGroup);
            if (!group.empty()) sddl += "(A;;GA;;;" + group + ")";
        } else if (access == 2) {
            sddl += "(A;;GA;;;WD)";
        }
        PSECURITY_DESCRIPTOR sd = nullptr;
        if (ConvertStringSecurityDescriptorToSecurityDescriptorA(sddl.c_str(), SDDL_REVISION_1, &sd,
                                                                 nullptr)) {
            sd_.reset(sd);
            sa_.nLength = sizeof sa_;
            sa_.lpSecurityDescriptor = sd;
            sa_.bInheritHandle = FALSE;
        }
    }
    AccessControl(const AccessControl&) = delete;
    AccessControl& operator=(const AccessControl&) = delete;

    /// Security attributes for CreateFile/CreateSemaphore/CreateFileMapping; null: the default.
    SECURITY_ATTRIBUTES* attributes() const noexcept {
        return sd_ ? const_cast<SECURITY_ATTRIBUTES*>(&sa_) : nullptr;
    }
    boost::interprocess::permissions permissions() const noexcept {
        boost::interprocess::permissions p;
        if (sd_) p.set_permissions(attributes());
        return p;
    }

private:
    static std::string token_sid(TOKEN_INFORMATION_CLASS cls) {
        HANDLE token = nullptr;
        if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return {};
        DWORD len = 0;
        GetTokenInformation(token, cls, nullptr, 0, &len);
        std::vector<unsigned char> buf(len ? len : 1);
        std::string out;
        if (len && GetTokenInformation(token, cls, buf.data(), len, &len)) {
            PSID sid = cls == TokenUser ? reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid
                                        : reinterpret_cast<TOKEN_PRIMARY_GROUP*>(buf.data())->PrimaryGroup;
            char* text = nullptr;
            if (ConvertSidToStringSidA(sid, &text)) {
                out = text;
                LocalFree(text);
            }
        }
        CloseHandle(token);
        return out;
    }
    struct LocalFreeDeleter {
        void operator()(void* p) const noexcept { LocalFree(p); }
    };
    std::uint32_t access_;
    std::unique_ptr<void, LocalFreeDeleter> sd_;
    SECURITY_ATTRIBUTES sa_{};
};

// ---- events --------------------------------------------------------------------------------
// A named semaphore per WaitWord. Notifiers release one count per announced waiter; a waiter
// blocks on the semaphore for at most its slice. Counts left over (a waiter that timed out, or
// died) cause a spurious wake-up later, after which the waiter re-checks and waits again.

struct Event {
    WaitWord* word = nullptr;
    HANDLE handle = nullptr; ///< null: no kernel object, waits sleep for their slice
};

inline void event_wait(const Event& e, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
    if (timeout.count() <= 0) return;
    if (e.word->epoch.load(std::memory_order_acquire) != expected) return;
    const auto ms = (timeout.count() + 999999) / 1000000; // round up: never a zero-time spin
    const DWORD wait_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<DWORD>(ms);
    if (e.handle != nullptr) WaitForSingleObject(e.handle, wait_ms);
    else Sleep(wait_ms > 1 ? 1 : wait_ms);
}

inline void event_wake_all(const Event& e) noexcept {
    if (e.handle == nullptr) return;
    const std::uint32_t n = e.word->waiters.load(std::memory_order_relaxed);
    ReleaseSemaphore(e.handle, static_cast<LONG>(n == 0 ? 1 : n > 64 ? 64 : n), nullptr);
}

/// The named semaphores of one channel in one process: opened on demand (a shell needs four of
/// them, the daemon all), closed with the set.
class EventSet {
public:
    EventSet() = default;
    EventSet(const EventSet&) = delete;
    EventSet& operator=(const EventSet&) = delete;
    ~EventSet() {
        for (HANDLE h : handles_)
            if (h != nullptr) CloseHandle(h);
    }

    /// Names the semaphores; `access` may be a temporary (a shell binds with one and opens its
    /// semaphores later), so its security descriptor is copied, not referred to.
    void bind(const std::string& channel, std::uint64_t incarnation, std::uint32_t count,
              const AccessControl& access) {
        prefix_ = object_prefix() + "venom." + channel + "." + hex64(incarnation) + ".w";
        handles_.assign(count, nullptr);
        sd_.clear();
        const SECURITY_ATTRIBUTES* sa = access.attributes();
        if (sa != nullptr && sa->lpSecurityDescriptor != nullptr) {
            // Self-relative (ConvertStringSecurityDescriptorToSecurityDescriptor): copyable.
            const auto* p = static_cast<const unsigned char*>(sa->lpSecurityDescriptor);
            sd_.assign(p, p + GetSecurityDescriptorLength(sa->lpSecurityDescriptor));
            sa_.nLength = sizeof sa_;
            sa_.lpSecurityDescriptor = sd_.data();
            sa_.bInheritHandle = FALSE;
        }
    }
    void open(std::uint32_t index) {
        if (index >= handles_.size() || handles_[index] != nullptr) return;
        const std::string name = prefix_ + std::to_string(index);
        HANDLE h = CreateSemaphoreA(sd_.empty() ? nullptr : &sa_, 0, 0x7fffffff, name.c_str());
        if (h == nullptr) throw_system("creating semaphore " + name, GetLastError());
        handles_[index] = h;
    }
    void open_all() {
        for (std::uint32_t i = 0; i < handles_.size(); ++i) open(i);
        sd_.clear(); // every semaphore is open: nothing left to create
    }
    Event get(WaitWord& w, std::uint32_t index) const noexcept {
        return Event{&w, index < handles_.size() ? handles_[index] : nullptr};
    }

private:
    std::string prefix_;
    std::vector<HANDLE> handles_;
    std::vector<unsigned char> sd_; ///< a copy of the security descriptor; empty: the default
    SECURITY_ATTRIBUTES sa_{};
};

// ---- shared memory helpers -------------------------------------------------------------------

/// The pagefile backs Windows shared memory and CreateFileMapping commits it whole: a lack of
/// memory fails at create with a clear error, so there is nothing to check or reserve here.
inline std::uint64_t shm_free_bytes() noexcept { return UINT64_MAX; }
inline std::string shm_directory() { return "the pagefile"; }
inline void reserve_segment(const std::string&, std::uint64_t) {}

/// Windows shared memory has no name to remove: it vanishes with its last handle.
inline bool remove_segment(const std::string&) noexcept { return true; }

inline bool remove_file(const std::string& path) noexcept { return DeleteFileA(path.c_str()) != 0; }

// ---- lock file -----------------------------------------------------------------------------

/// One handle to a lock file, with LockFileEx byte-range locks: they conflict between two
/// handles even in one process, and Windows releases them when the handle closes or its process
/// ends (TerminateProcess too). Opened with FILE_SHARE_DELETE, so a daemon can delete the file
/// while shells still have it open.
class LockFile {
public:
    static constexpr std::uint64_t lock_base = std::uint64_t{1} << 40;

    LockFile() = default;
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    LockFile(LockFile&& o) noexcept : h_(o.h_), path_(std::move(o.path_)) { o.h_ = INVALID_HANDLE_VALUE; }
    LockFile& operator=(LockFile&& o) noexcept {
        if (this != &o) {
            close();
            h_ = o.h_;
            path_ = std::move(o.path_);
            o.h_ = INVALID_HANDLE_VALUE;
        }
        return *this;
    }
    ~LockFile() { close(); }

    static LockFile open_or_create(const std::string& path, const AccessControl& access) {
        return open(path, OPEN_ALWAYS, access.attributes());
    }
    static LockFile open_existing(const std::string& path) {
        return open(path, OPEN_EXISTING, nullptr);
    }

    bool is_open() const noexcept { return h_ != INVALID_HANDLE_VALUE; }

    bool try_lock(std::uint64_t b) {
        OVERLAPPED ov = at(b);
        if (LockFileEx(h_, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) return true;
        const DWORD err = GetLastError();
        if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) return false;
        throw_system("locking " + path_, err);
    }

    void unlock(std::uint64_t b) noexcept {
        OVERLAPPED ov = at(b);
        UnlockFileEx(h_, 0, 1, 0, &ov);
    }

    /// Whether another handle holds byte `b`: Windows has no query, so try to take it and give it
    /// back. \pre this handle does not hold `b` itself.
    bool held_by_other(std::uint64_t b) const noexcept {
        OVERLAPPED ov = at(b);
        if (!LockFileEx(h_, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov))
            return true;
        OVERLAPPED ov2 = at(b);
        UnlockFileEx(h_, 0, 1, 0, &ov2);
        return false;
    }

    /// Windows names a file until its last handle closes: no other file can take its path.
    bool still_linked() const noexcept { return true; }

    const std::string& path() const noexcept { return path_; }

    /// Writes / reads the file's contents (the incarnation number, on the name lock).
    void write_at(std::uint64_t offset, const void* data, std::uint32_t n) {
        OVERLAPPED ov = raw(offset);
        DWORD done = 0;
        if (!WriteFile(h_, data, n, &done, &ov) || done != n)
            throw_system("writing " + path_, GetLastError());
        FlushFileBuffers(h_);
    }
    std::uint32_t read_at(std::uint64_t offset, void* data, std::uint32_t n) const {
        OVERLAPPED ov = raw(offset);
        DWORD done = 0;
        if (!ReadFile(h_, data, n, &done, &ov)) return 0;
        return done;
    }

    void close() noexcept {
        if (h_ != INVALID_HANDLE_VALUE) CloseHandle(h_);
        h_ = INVALID_HANDLE_VALUE;
    }

private:
    static LockFile open(const std::string& path, DWORD disposition, SECURITY_ATTRIBUTES* sa) {
        LockFile f;
        f.path_ = path;
        f.h_ = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, sa, disposition,
                           FILE_ATTRIBUTE_NORMAL, nullptr);
        // A file whose deletion is pending (a daemon closing while someone still has it open)
        // refuses new opens with ERROR_ACCESS_DENIED until the last handle closes: give it a
        // moment (at most ~200 ms) before calling that a permission problem.
        for (int attempt = 0; f.h_ == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED &&
                              attempt < 200;
             ++attempt) {
            Sleep(1);
            f.h_ = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE,
                               FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, sa,
                               disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
        }
        if (f.h_ == INVALID_HANDLE_VALUE) {
            const DWORD err = GetLastError();
            if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND)
                throw error(errc::channel_not_found, "no file " + path);
            throw_system("opening " + path, err);
        }
        return f;
    }
    static OVERLAPPED raw(std::uint64_t offset) noexcept {
        OVERLAPPED ov{};
        ov.Offset = static_cast<DWORD>(offset & 0xffffffffu);
        ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
        return ov;
    }
    static OVERLAPPED at(std::uint64_t b) noexcept { return raw(lock_base + b); }

    HANDLE h_ = INVALID_HANDLE_VALUE;
    std::string path_;
};

// ---- incarnations -------------------------------------------------------------------------

/// The daemon, holding the name lock, records which instance serves the name (hex, offset 0),
/// and deletes the liveness file a dead predecessor left behind.
inline void publish_incarnation(LockFile& name_lock, std::string_view channel, std::uint64_t incarnation) {
    char old[17] = {};
    if (name_lock.read_at(0, old, 16) == 16) {
        const std::uint64_t previous = std::strtoull(old, nullptr, 16);
        if (previous != 0 && previous != incarnation) remove_file(liveness_path(channel, previous));
    }
    const std::string text = hex64(incarnation);
    name_lock.write_at(0, text.data(), static_cast<std::uint32_t>(text.size()));
}

/// The incarnation serving `channel`, from its name lock file; channel_not_found without one.
inline std::uint64_t find_incarnation(std::string_view channel) {
    LockFile f = LockFile::open_existing(lock_path(channel));
    char text[17] = {};
    if (f.read_at(0, text, 16) != 16)
        throw error(errc::channel_not_found, "channel \"" + std::string(channel) + "\" has no running daemon");
    return std::strtoull(text, nullptr, 16);
}

} // namespace venom::detail
