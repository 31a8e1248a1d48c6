// venom/detail/platform_linux.hpp - the Linux half of the platform layer (see platform.hpp).
//   Event        a futex on the WaitWord's epoch, in the segment itself (no kernel object)
//   LockFile     open-file-description byte-range locks (F_OFD_*)
//   names        /dev/shm/venom.<name>.shm (the segment, also the liveness file) and
//                /dev/shm/venom.<name>.lock (the name lock)
#pragma once

#include <venom/error.hpp>
#include <venom/detail/layout.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

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

// ---- names ---------------------------------------------------------------------------------
// On Linux a restarted daemon reuses the segment's name: shells of the dead daemon keep the old
// (unlinked) file and see its daemon byte free. The incarnation number is not needed (always 0).

inline std::uint64_t new_incarnation() noexcept { return 0; }

/// The shared-memory object name of a channel (Boost adds the leading '/'); on Linux the
/// segment is the file /dev/shm/<segment_name>.
inline std::string segment_name(std::string_view channel, std::uint64_t /*incarnation*/ = 0) {
    return "venom." + std::string(channel) + ".shm";
}

inline std::string shm_directory() { return "/dev/shm/"; }

/// The file whose lock bytes tell liveness (layout.hpp): on Linux, the segment file itself.
inline std::string liveness_path(std::string_view channel, std::uint64_t incarnation = 0) {
    return shm_directory() + segment_name(channel, incarnation);
}
inline std::string segment_path(std::string_view channel) { return liveness_path(channel); }

inline std::string lock_path(std::string_view channel) {
    return shm_directory() + "venom." + std::string(channel) + ".lock";
}

/// Who may open the channel's objects: a file mode on Linux.
class AccessControl {
public:
    explicit AccessControl(std::uint32_t access) noexcept
        : mode_(access == 1 ? 0660u : access == 2 ? 0666u : 0600u) {}
    unsigned mode() const noexcept { return mode_; }
    boost::interprocess::permissions permissions() const noexcept {
        return boost::interprocess::permissions(static_cast<int>(mode_));
    }

private:
    unsigned mode_;
};

// ---- events --------------------------------------------------------------------------------
// A shared futex (not FUTEX_PRIVATE_FLAG) on the WaitWord's epoch, so that waits and wakes meet
// across processes. The Event is a view: nothing to create, nothing to close.

struct Event {
    WaitWord* word = nullptr;
};

/// The events of one channel in one process. Linux needs no kernel objects: all no-ops.
struct EventSet {
    void bind(const std::string& /*channel*/, std::uint64_t /*incarnation*/, std::uint32_t /*count*/,
              const AccessControl& /*access*/) {}
    void open(std::uint32_t /*index*/) {}
    void open_all() {}
    Event get(WaitWord& w, std::uint32_t /*index*/) const noexcept { return Event{&w}; }
};

/// Blocks while w.epoch == expected, at most `timeout`. Returns on a wake, a timeout, a signal
/// or when the epoch moved already; the caller re-checks its condition. Async-signal-safe.
inline void event_wait(const Event& e, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "futex word");
    if (timeout.count() <= 0) return;
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&e.word->epoch), FUTEX_WAIT, expected,
              &ts, nullptr, 0);
}

/// Wakes every thread of every process blocked on the event. Async-signal-safe.
inline void event_wake_all(const Event& e) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&e.word->epoch), FUTEX_WAKE, 0x7fffffff,
              nullptr, nullptr, 0);
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

/// Removes a segment's name (its memory lives on while mapped).
inline bool remove_segment(const std::string& seg_name) noexcept {
    return boost::interprocess::shared_memory_object::remove(seg_name.c_str());
}

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

    /// Opens, creating it with the access's mode if missing. Used by the daemon.
    static LockFile open_or_create(const std::string& path, const AccessControl& access) {
        const unsigned mode = access.mode();
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

// ---- incarnations -------------------------------------------------------------------------
// Linux needs none (see names): nothing to publish, nothing to find.
inline void publish_incarnation(LockFile& /*name_lock*/, std::string_view /*channel*/,
                                std::uint64_t /*incarnation*/) {}
inline std::uint64_t find_incarnation(std::string_view /*channel*/) { return 0; }

} // namespace venom::detail
