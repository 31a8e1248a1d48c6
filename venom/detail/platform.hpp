// venom/detail/platform.hpp - every OS call venom makes, behind a small interface:
//   futex_wait / futex_wake_all   block on / wake a 32-bit atomic in shared memory
//   cpu_relax                     the spin-loop hint
//   LockFile                      byte-range locks that the OS releases when a process dies
//   shm names and paths, free-space checks, pid and clocks
// Nothing outside this file includes an OS header.
#pragma once

#include <venom/error.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#if defined(__linux__)
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#error "venom: only Linux is supported by this platform layer so far (Windows is planned)"
#endif

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

namespace venom::detail {

/// Spin-loop hint: lets the sibling hyper-thread run and saves power while spinning.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

inline std::uint32_t current_pid() noexcept { return static_cast<std::uint32_t>(::getpid()); }

inline std::uint64_t unix_now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

[[noreturn]] inline void throw_system(const std::string& what, int err) {
    if (err == EACCES || err == EPERM)
        throw error(errc::permission_denied, what + ": " + std::strerror(err));
    if (err == ENOSPC || err == ENOMEM)
        throw error(errc::out_of_memory, what + ": " + std::strerror(err));
    throw error(errc::system_failure, what + ": " + std::strerror(err));
}

// ---- futex ---------------------------------------------------------------------------------
// Shared (not FUTEX_PRIVATE_FLAG) so that waits and wakes meet across processes.

/// Blocks while *word == expected, at most `timeout`. Returns on a wake, a timeout, a signal or
/// when *word != expected already; the caller re-checks its condition. Async-signal-safe.
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "futex word");
    if (timeout.count() <= 0) return;
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts,
              nullptr, 0);
}

/// Wakes every thread of every process blocked on word. Async-signal-safe.
inline void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 0x7fffffff, nullptr,
              nullptr, 0);
}

// ---- names ---------------------------------------------------------------------------------

/// The shared-memory object name of a channel (Boost adds the leading '/'); on Linux the
/// segment is the file /dev/shm/<segment_name>.
inline std::string segment_name(std::string_view channel) {
    return "venom." + std::string(channel) + ".shm";
}

inline std::string shm_directory() { return "/dev/shm/"; }

inline std::string segment_path(std::string_view channel) {
    return shm_directory() + segment_name(channel);
}

inline std::string lock_path(std::string_view channel) {
    return shm_directory() + "venom." + std::string(channel) + ".lock";
}

inline unsigned access_mode(std::uint32_t access) noexcept {
    switch (access) {
    case 1: return 0660;
    case 2: return 0666;
    default: return 0600;
    }
}

/// Bytes free in the shared-memory file system, or UINT64_MAX when it cannot be told.
inline std::uint64_t shm_free_bytes() noexcept {
    struct statvfs st;
    if (::statvfs(shm_directory().c_str(), &st) != 0) return UINT64_MAX;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

/// Reserves the whole segment in /dev/shm so a full tmpfs fails here, with a clear error,
/// rather than with SIGBUS at the first write to an unbacked page.
inline void reserve_segment(const std::string& seg_name, std::uint64_t size) {
    const std::string path = shm_directory() + seg_name;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return; // not a tmpfs file on this system: nothing to reserve
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    ::close(fd);
    if (rc == ENOSPC || rc == ENOMEM)
        throw error(errc::out_of_memory, "reserving " + std::to_string(size) + " bytes in " +
                                             shm_directory() + " for the channel");
}

inline bool remove_file(const std::string& path) noexcept { return ::unlink(path.c_str()) == 0; }

// ---- lock file -----------------------------------------------------------------------------

/// One open file description of a channel's lock file, with Linux open-file-description
/// byte-range locks (F_OFD_*): they conflict between two LockFile objects even in one process,
/// and the kernel drops them when the description closes or its process dies (kill -9 too).
class LockFile {
public:
    LockFile() = default;
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    LockFile(LockFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
    LockFile& operator=(LockFile&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = o.fd_;
            path_ = std::move(o.path_);
            o.fd_ = -1;
        }
        return *this;
    }
    ~LockFile() { close(); }

    /// Opens, creating it with `mode` if missing. Used by the daemon.
    static LockFile open_or_create(const std::string& path, unsigned mode) {
        LockFile f;
        f.path_ = path;
        f.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (f.fd_ >= 0) {
            ::fchmod(f.fd_, mode); // the umask may have narrowed the mode
            return f;
        }
        if (errno != EEXIST) throw_system("creating " + path, errno);
        f.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (f.fd_ < 0) throw_system("opening " + path, errno);
        return f;
    }

    /// Opens an existing lock file. Used by shells. Missing: errc::channel_not_found.
    static LockFile open_existing(const std::string& path) {
        LockFile f;
        f.path_ = path;
        f.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (f.fd_ < 0) {
            if (errno == ENOENT)
                throw error(errc::channel_not_found, "no file " + path);
            throw_system("opening " + path, errno);
        }
        return f;
    }

    bool is_open() const noexcept { return fd_ >= 0; }

    /// Takes an exclusive lock on byte `b` without waiting. false: another holder has it.
    bool try_lock(std::uint64_t b) {
        struct flock fl = make(F_WRLCK, b);
        if (::fcntl(fd_, F_OFD_SETLK, &fl) == 0) return true;
        if (errno == EAGAIN || errno == EACCES) return false;
        throw_system("locking " + path_, errno);
    }

    void unlock(std::uint64_t b) noexcept {
        struct flock fl = make(F_UNLCK, b);
        ::fcntl(fd_, F_OFD_SETLK, &fl);
    }

    /// Whether another open description (this process or another) holds byte `b`.
    /// On an OS error it answers true: "alive" is the safe assumption.
    bool held_by_other(std::uint64_t b) const noexcept {
        struct flock fl = make(F_WRLCK, b);
        if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) return true;
        return fl.l_type != F_UNLCK;
    }

    /// Whether the path still names the file this description has open (it may have been
    /// unlinked, and perhaps created anew, by a daemon shutting down meanwhile).
    bool still_linked() const noexcept {
        struct stat a, b;
        if (::fstat(fd_, &a) != 0 || ::stat(path_.c_str(), &b) != 0) return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    }

    const std::string& path() const noexcept { return path_; }

    void close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    static struct flock make(short type, std::uint64_t b) noexcept {
        struct flock fl;
        std::memset(&fl, 0, sizeof fl);
        fl.l_type = type;
        fl.l_whence = SEEK_SET;
        fl.l_start = static_cast<off_t>(b);
        fl.l_len = 1;
        fl.l_pid = 0; // required by F_OFD_*
        return fl;
    }

    int fd_ = -1;
    std::string path_;
};

} // namespace venom::detail
