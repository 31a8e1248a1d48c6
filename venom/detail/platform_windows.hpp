// SPDX-License-Identifier: BSL-1.0
// venom/detail/platform_windows.hpp - the Windows half of the platform layer (see platform.hpp).
//
//   segment     native Windows shared memory (managed_windows_shared_memory, segment.hpp),
//               "Local\venom.<name>.<incarnation>.shm". It exists while some process has it
//               open: the daemon holds it for its whole life. Each daemon instance uses a new
//               incarnation number, so a restarted daemon never collides with the old mapping
//               that shells of a dead daemon may still hold.
//   name lock   %TEMP%\venom.<name>.lock: the daemon holds a LockFileEx lock in it for its life
//               and writes its NameRecord at offset 0 (liveness.hpp: shells find the
//               incarnation, the segment's size and the control block there).
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

#include <venom/detail/fault.hpp>
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

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/windows_shared_memory.hpp>

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

/// Gives the CPU to another ready thread of this processor, if any; returns whether one ran.
inline bool yield_cpu() noexcept { return SwitchToThread() != 0; }

inline std::uint32_t current_pid() noexcept {
    return static_cast<std::uint32_t>(GetCurrentProcessId());
}

/// The size of a memory page (the granularity of view protections).
inline std::uint32_t page_size() noexcept {
    static const std::uint32_t page = [] {
        SYSTEM_INFO si;
        ::GetSystemInfo(&si);
        return static_cast<std::uint32_t>(si.dwPageSize);
    }();
    return page;
}

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
    /// `record` (the name lock file's mode on Linux) changes nothing here: the descriptor
    /// already decides who may open the file.
    explicit AccessControl(std::uint32_t access, bool /*record*/ = false) : access_(access) {
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
            PSID sid = cls == TokenUser
                           ? reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid
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

inline void event_wait(const Event& e, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
    if (timeout.count() <= 0) return;
    if (e.word->epoch.load(std::memory_order_acquire) != expected) return;
    const auto ms = (timeout.count() + 999999) / 1000000; // round up: never a zero-time spin
    const DWORD wait_ms = ms > 0x7fffffff ? 0x7fffffff : static_cast<DWORD>(ms);
    if (e.handle != nullptr) WaitForSingleObject(e.handle, wait_ms);
    else Sleep(wait_ms > 1 ? 1 : wait_ms);
}

/// Releases one count per announced waiter (at most 64), none when nobody waits: a count
/// released for nobody would wake a later waiter for nothing, and stop/run cycles would pile
/// them up. \pre the caller's bump of the epoch is ordered before this (waiter.hpp: notify's
/// fence, wake_all's fence), so a waiter not yet counted sees the new epoch and does not sleep.
inline void event_wake_all(const Event& e) noexcept {
    if (e.handle == nullptr) return;
    const std::uint32_t n = e.word->waiters.load(std::memory_order_relaxed);
    if (n == 0) return;
    ReleaseSemaphore(e.handle, static_cast<LONG>(n > 64 ? 64 : n), nullptr);
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

// ---- channel files -------------------------------------------------------------------------
// %TEMP% is the user's own directory, and the files get the channel's security descriptor:
// no other user can plant a file there, so the Linux checks (owner, links, type) reduce to
// "it is a file". The Trust and FileFacts types exist so that liveness.hpp reads the same.

inline std::uint32_t effective_uid() noexcept { return 0; }

struct Trust {
    static constexpr std::uint32_t nobody = 0xffffffffu;
    std::uint32_t extra_uid = nobody;
    bool any_owner = false;
    bool trusts(std::uint32_t) const noexcept { return true; }
};

struct FileFacts {
    bool exists = false;
    bool regular = false;
    std::uint32_t owner = 0;
    std::uint64_t links = 1, size = 0, dev = 0, ino = 0;
};

inline FileFacts look_at(const std::string& path) {
    FileFacts f;
    WIN32_FILE_ATTRIBUTE_DATA data;
    if (GetFileAttributesExA(path.c_str(), GetFileExInfoStandard, &data)) {
        f.exists = true;
        f.regular = (data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0;
        f.size = (std::uint64_t{data.nFileSizeHigh} << 32) | data.nFileSizeLow;
    }
    return f;
}

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
    LockFile(LockFile&& o) noexcept : h_(o.h_), path_(std::move(o.path_)), facts_(o.facts_) {
        o.h_ = INVALID_HANDLE_VALUE;
    }
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

    /// The daemon's files: opened, created with the channel's security descriptor if missing.
    static LockFile open_or_create_own(const std::string& path, const AccessControl& access) {
        return open(path, OPEN_ALWAYS, access.attributes());
    }
    static LockFile open_own(const std::string& path) { return open(path, OPEN_EXISTING, nullptr); }
    /// A shell's or the tool's: an existing file (the descriptor decides who may open it).
    static LockFile open_trusted(const std::string& path, const Trust&, bool /*writable*/) {
        return open(path, OPEN_EXISTING, nullptr);
    }

    const FileFacts& facts() const noexcept { return facts_; }
    const FileFacts& refresh() noexcept { return facts_; }
    void reserve(std::uint64_t) noexcept {} // CreateFileMapping commits the whole segment
    /// Deletes the file if the path still names it (a file deleted while others hold it keeps
    /// its name until they close).
    bool unlink_if_linked() noexcept { return still_linked() && DeleteFileA(path_.c_str()) != 0; }
    void set_mode(const AccessControl&) noexcept {} // the security descriptor was set at creation

    bool is_open() const noexcept { return h_ != INVALID_HANDLE_VALUE; }

    bool try_lock(std::uint64_t b) {
        OVERLAPPED ov = at(b);
        if (LockFileEx(h_, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov))
            return true;
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

    /// Whether the path still names the file this handle has open: false once it was deleted
    /// (a deleted file refuses new opens while handles remain, and under POSIX delete semantics
    /// its name may already belong to a new file), compared by volume and file index.
    bool still_linked() const noexcept {
        HANDLE other = CreateFileA(path_.c_str(), FILE_READ_ATTRIBUTES,
                                   FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                                   OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
        if (other == INVALID_HANDLE_VALUE) return false;
        BY_HANDLE_FILE_INFORMATION a{}, b{};
        const bool same =
            GetFileInformationByHandle(h_, &a) && GetFileInformationByHandle(other, &b) &&
            a.dwVolumeSerialNumber == b.dwVolumeSerialNumber &&
            a.nFileIndexHigh == b.nFileIndexHigh && a.nFileIndexLow == b.nFileIndexLow;
        CloseHandle(other);
        return same;
    }

    const std::string& path() const noexcept { return path_; }

    /// Writes / reads the file's contents (the incarnation number, on the name lock).
    void write_at(std::uint64_t offset, const void* data, std::size_t n) {
        OVERLAPPED ov = raw(offset);
        DWORD done = 0;
        if (!WriteFile(h_, data, static_cast<DWORD>(n), &done, &ov) || done != n)
            throw_system("writing " + path_, GetLastError());
        FlushFileBuffers(h_);
    }
    std::size_t read_at(std::uint64_t offset, void* data, std::size_t n) const noexcept {
        OVERLAPPED ov = raw(offset);
        DWORD done = 0;
        if (!ReadFile(h_, data, static_cast<DWORD>(n), &done, &ov)) return 0;
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
        for (int attempt = 0;
             f.h_ == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED && attempt < 200;
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
    FileFacts facts_{true, true, 0, 1, 0, 0, 0};
};

/// A dead daemon's leftover file of this user's: removed (nothing there is fine).
inline void remove_own_leftover(const std::string& path) { DeleteFileA(path.c_str()); }

inline LockFile open_liveness_file(const std::string& path, const AccessControl& access) {
    return LockFile::open_or_create_own(path, access);
}
inline void check_own_segment_file(LockFile&, std::uint64_t) noexcept {}
/// Windows: the incarnation in the segment's name binds it to the record.
inline bool matches_segment(const LockFile&, std::uint64_t, std::uint64_t) noexcept { return true; }

// ---- mappings ------------------------------------------------------------------------------

/// A view of a daemon's native shared memory, opened by name; its size is the section's real
/// size as Windows reports it (mapped_region), never a value inside the segment.
class Mapping {
public:
    static Mapping open(const std::string& seg_name, LockFile& /*liveness file*/, bool writable) {
        namespace bip = boost::interprocess;
        Mapping m;
        const auto mode = writable ? bip::read_write : bip::read_only;
        try {
            m.shm_ = std::make_unique<bip::windows_shared_memory>(bip::open_only, seg_name.c_str(),
                                                                  mode);
            m.region_ = std::make_unique<bip::mapped_region>(*m.shm_, mode);
        } catch (const bip::interprocess_exception& e) {
            if (e.get_error_code() == bip::not_found_error)
                throw error(errc::channel_not_found, "no shared memory " + seg_name);
            if (e.get_error_code() == bip::security_error)
                throw error(errc::permission_denied,
                            "opening shared memory " + seg_name + ": " + e.what());
            throw error(errc::system_failure,
                        "opening shared memory " + seg_name + ": " + e.what());
        }
        return m;
    }

    unsigned char* data() const noexcept {
        return region_ ? static_cast<unsigned char*>(region_->get_address()) : nullptr;
    }
    std::uint64_t size() const noexcept { return region_ ? region_->get_size() : 0; }
    explicit operator bool() const noexcept { return region_ != nullptr; }

    /// Makes [offset, offset + n) of a writable view read-only or writable again (whole
    /// pages). A write into a read-only page faults in this process only.
    void protect(std::uint64_t offset, std::uint64_t n, bool writable) const {
        if (n == 0) return;
        DWORD old = 0;
        if (!::VirtualProtect(data() + offset, static_cast<SIZE_T>(n),
                              writable ? PAGE_READWRITE : PAGE_READONLY, &old))
            throw error(errc::system_failure, "VirtualProtect on a channel view failed (error " +
                                                  std::to_string(::GetLastError()) + ")");
    }
    void reset() noexcept {
        region_.reset();
        shm_.reset();
    }

private:
    // Held by pointer: Boost 1.74's windows_shared_memory move assignment reads an
    // uninitialised member of a default-constructed object.
    std::unique_ptr<boost::interprocess::windows_shared_memory> shm_;
    std::unique_ptr<boost::interprocess::mapped_region> region_;
};

} // namespace venom::detail
