// SPDX-License-Identifier: BSL-1.0
// venom/detail/platform_linux.hpp - the Linux half of the platform layer (see platform.hpp).
//   Event        a futex on the WaitWord's epoch, in the segment itself (no kernel object)
//   LockFile     a channel file opened only after it passed the checks (a regular file - no
//                symlink, FIFO, device or directory - of a trusted owner), with
//                open-file-description byte-range locks (F_OFD_*)
//   Mapping      mmap of a whole channel file, sized by fstat
//   names        /dev/shm/venom.<name>.shm (the segment, also the liveness file) and
//                /dev/shm/venom.<name>.lock (the name lock and the daemon's record)
#pragma once

#include <venom/error.hpp>
#include <venom/detail/fault.hpp>
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
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

#include <boost/interprocess/permissions.hpp>

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

/// Gives the CPU to another runnable thread, if any; returns whether one ran meanwhile (this
/// thread was switched out: its count of involuntary context switches, which a yield that
/// hands the CPU over increments, moved since this thread's last call). A failed count says
/// "ran" (the caller keeps yielding: the safe side).
inline bool yield_cpu() noexcept {
    static thread_local long last_switches = -1;
    ::sched_yield();
    rusage ru{};
    if (::getrusage(RUSAGE_THREAD, &ru) != 0) return true;
    const bool ran = last_switches >= 0 && ru.ru_nivcsw != last_switches;
    last_switches = ru.ru_nivcsw;
    return ran;
}

inline std::uint32_t current_pid() noexcept { return static_cast<std::uint32_t>(::getpid()); }

/// The size of a memory page (the granularity of mapping protections).
inline std::uint32_t page_size() noexcept {
    static const std::uint32_t page = static_cast<std::uint32_t>(::sysconf(_SC_PAGESIZE));
    return page;
}

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

/// Who may open the channel's objects: a file mode on Linux. `record`: the mode of the name
/// lock file, whose record only the daemon writes: read-only for the others who may connect.
class AccessControl {
public:
    explicit AccessControl(std::uint32_t access, bool record = false) noexcept
        : mode_((access == 1   ? 0660u
                 : access == 2 ? 0666u
                               : 0600u) &
                (record ? 0644u : 0666u)) {}
    unsigned mode() const noexcept { return mode_; }
    template <class T>
    // declared only: for decltype
    static T permissions_arg(void (boost::interprocess::permissions::*)(T));
    boost::interprocess::permissions permissions() const noexcept {
        // Boost's (private) os_permissions_type is int up to 1.80 and mode_t (unsigned) from
        // 1.81: take it from set_permissions' parameter, so neither gives a sign conversion.
        using os_type =
            decltype(permissions_arg(&boost::interprocess::permissions::set_permissions));
        boost::interprocess::permissions p;
        p.set_permissions(static_cast<os_type>(mode_));
        return p;
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
    void bind(const std::string& /*channel*/, std::uint64_t /*incarnation*/,
              std::uint32_t /*count*/, const AccessControl& /*access*/) {}
    void open(std::uint32_t /*index*/) {}
    void open_all() {}
    Event get(WaitWord& w, std::uint32_t /*index*/) const noexcept { return Event{&w}; }
};

/// Blocks while w.epoch == expected, at most `timeout`. Returns on a wake, a timeout, a signal
/// or when the epoch moved already; the caller re-checks its condition. Async-signal-safe.
inline void event_wait(const Event& e, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
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

// ---- channel files -------------------------------------------------------------------------
// Everything in /dev/shm may have been put there by another user (the directory is world-
// writable with the sticky bit): a symbolic link to someone's file, a FIFO, a directory, a link
// to a pty, a hard link to another channel's file, a file of theirs. venom opens a channel file
// only after lstat() shows a regular file owned by a user it trusts, and then
// opens it with O_NOFOLLOW (a link swapped in meanwhile fails), O_NOCTTY (never a controlling
// terminal), O_NONBLOCK (a FIFO never blocks the open) and O_CLOEXEC, and checks with fstat()
// that the descriptor is the file lstat() saw. The sticky bit makes the check stick: once a
// name is seen to be ours, no other user (root aside) can unlink or replace it.

/// The owner a daemon's files must have: the effective user.
inline std::uint32_t effective_uid() noexcept { return static_cast<std::uint32_t>(::geteuid()); }

/// Whose files a shell (or the tool) accepts: its own, root's, and at most one more uid that
/// the program names (ShellOptions::trusted_uid).
struct Trust {
    static constexpr std::uint32_t nobody = 0xffffffffu;
    std::uint32_t extra_uid = nobody;
    bool any_owner = false; ///< the tool's read-only inspection: report, do not refuse
    bool trusts(std::uint32_t uid) const noexcept {
        return any_owner || uid == effective_uid() || uid == 0 ||
               (extra_uid != nobody && uid == extra_uid);
    }
};

/// What lstat/fstat told of a channel file.
struct FileFacts {
    bool exists = false;
    bool regular = false;
    std::uint32_t owner = 0;
    std::uint64_t links = 0, size = 0, dev = 0, ino = 0;
    unsigned type_bits = 0; ///< st_mode & S_IFMT

    static FileFacts of(const struct stat& st) noexcept {
        FileFacts f;
        f.exists = true;
        f.regular = S_ISREG(st.st_mode);
        f.owner = static_cast<std::uint32_t>(st.st_uid);
        f.links = static_cast<std::uint64_t>(st.st_nlink);
        f.size = static_cast<std::uint64_t>(st.st_size);
        f.dev = static_cast<std::uint64_t>(st.st_dev);
        f.ino = static_cast<std::uint64_t>(st.st_ino);
        f.type_bits = static_cast<unsigned>(st.st_mode & S_IFMT);
        return f;
    }
    const char* kind() const noexcept {
        switch (type_bits) {
        case S_IFREG: return "regular file";
        case S_IFLNK: return "symbolic link";
        case S_IFDIR: return "directory";
        case S_IFIFO: return "FIFO";
        case S_IFCHR: return "character device";
        case S_IFBLK: return "block device";
        case S_IFSOCK: return "socket";
        default: return "file of unknown type";
        }
    }
    bool same_file(const FileFacts& o) const noexcept {
        return exists && o.exists && dev == o.dev && ino == o.ino;
    }
};

/// lstat() of a path: never follows a link. exists == false when nothing has that name.
inline FileFacts look_at(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) return FileFacts::of(st);
    if (errno == ENOENT) return FileFacts{};
    throw_system("examining " + path, errno);
}

/// Throws permission_denied unless `f` is a regular file whose owner passes `owner_ok`; the
/// message names what the file is, its owner, and what to do. Hard links are not refused here:
/// a link to another channel's file is told apart by the name in the daemon's record and by
/// the segment's inode (liveness.hpp), and refusing a second link would let anyone who may
/// link a file lock its channel out.
template <class OwnerOk>
void require_channel_file(const std::string& path, const FileFacts& f, OwnerOk&& owner_ok,
                          const char* who_may) {
    if (!f.regular || !owner_ok(f.owner)) {
        const std::string what =
            path + " is a " + std::string(f.kind()) + " owned by uid " + std::to_string(f.owner);
        throw error(errc::permission_denied,
                    what + "; venom uses only a regular file owned by " + who_may +
                        ". It was not opened, locked or removed: let its owner (uid " +
                        std::to_string(f.owner) +
                        ") or root remove it, or use another channel name");
    }
}

/// One open file description of a channel file (the name lock file, the segment file), with
/// Linux open-file-description byte-range locks (F_OFD_*): they conflict between two LockFile
/// objects even in one process, and the kernel drops them when the description closes or its
/// process dies (kill -9 too).
class LockFile {
public:
    LockFile() = default;
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;
    LockFile(LockFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)), facts_(o.facts_) {
        o.fd_ = -1;
    }
    LockFile& operator=(LockFile&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = o.fd_;
            path_ = std::move(o.path_);
            facts_ = o.facts_;
            o.fd_ = -1;
        }
        return *this;
    }
    ~LockFile() { close(); }

    /// Daemon: opens the file at `path`, creating it (mode from `access`) if nothing has that
    /// name. An existing file must be a regular file of the effective user, else
    /// permission_denied (and the file is left alone). A file that vanishes between the steps
    /// (a daemon closing meanwhile) is looked for again. Never follows a link.
    static LockFile open_or_create_own(const std::string& path, const AccessControl& access) {
        const unsigned mode = access.mode();
        for (int attempt = 0; attempt < max_vanish_retries; ++attempt) {
            LockFile f;
            f.path_ = path;
            f.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | open_flags, mode);
            if (f.fd_ >= 0) {
                ::fchmod(f.fd_, mode); // the umask may have narrowed the mode
                f.refresh();
                return f;
            }
            if (errno != EEXIST) throw_system("creating " + path, errno);
            fault_point(fault::lock_file_exists);
            if (f.open_checked(path, O_RDWR, own_owner,
                               "this user (uid " + std::to_string(effective_uid()) + ")"))
                return f;
        }
        throw error(errc::system_failure, path + " keeps being created and removed; try again");
    }

    /// Opens an existing channel file that must belong to this user (the daemon's own segment
    /// file, right after it created it). Missing: channel_not_found.
    static LockFile open_own(const std::string& path) {
        return open_existing(path, O_RDWR, own_owner,
                             "this user (uid " + std::to_string(effective_uid()) + ")",
                             "keeps being replaced; try again", errc::system_failure);
    }

    /// Shell or tool: opens an existing channel file whose owner `trust` accepts, read-only or
    /// read-write. Missing: channel_not_found; untrusted: permission_denied.
    static LockFile open_trusted(const std::string& path, const Trust& trust, bool writable) {
        return open_existing(
            path, writable ? O_RDWR : O_RDONLY,
            [&](std::uint32_t uid) { return trust.trusts(uid); },
            "this user, root or ShellOptions::trusted_uid",
            "keeps being replaced (a daemon restarting)", errc::channel_not_found);
    }

    bool is_open() const noexcept { return fd_ >= 0; }

    /// Takes an exclusive lock on byte `b` without waiting. false: another holder has it.
    /// \pre opened read-write.
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

    /// Whether another open description (this process or another) holds an exclusive lock on
    /// byte `b`. venom's holders take exclusive locks only; a shared (read) lock, which needs
    /// nothing but read access, is not taken for a live holder, so a reader cannot fake one.
    /// On an OS error it answers true: "alive" is the safe assumption.
    bool held_by_other(std::uint64_t b) const noexcept {
        struct flock fl = make(F_WRLCK, b);
        if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) return true;
        return fl.l_type == F_WRLCK;
    }

    /// Whether the path still names the file this description has open (it may have been
    /// unlinked, and perhaps created anew, by a daemon shutting down meanwhile).
    bool still_linked() const noexcept {
        struct stat a, b;
        if (::fstat(fd_, &a) != 0 || ::lstat(path_.c_str(), &b) != 0) return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    }

    /// The file as fstat() saw it when it was opened (refresh() looks again).
    const FileFacts& facts() const noexcept { return facts_; }
    const FileFacts& refresh() {
        struct stat st;
        if (::fstat(fd_, &st) != 0) throw_system("examining " + path_, errno);
        facts_ = FileFacts::of(st);
        return facts_;
    }

    /// Reads up to n bytes at `offset`; returns how many were read (0 on error or at the end).
    std::size_t read_at(std::uint64_t offset, void* data, std::size_t n) const noexcept {
        const ssize_t r = ::pread(fd_, data, n, static_cast<off_t>(offset));
        return r > 0 ? static_cast<std::size_t>(r) : 0;
    }
    /// Writes n bytes at `offset`. \pre opened read-write.
    void write_at(std::uint64_t offset, const void* data, std::size_t n) {
        const ssize_t r = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
        if (r != static_cast<ssize_t>(n)) throw_system("writing " + path_, r < 0 ? errno : EIO);
    }

    /// Reserves `size` bytes of the file (posix_fallocate), so that a full tmpfs fails here with
    /// out_of_memory rather than with SIGBUS at the first write to an unbacked page.
    void reserve(std::uint64_t size) {
        int rc = EINTR;
        for (int attempt = 0; rc == EINTR && attempt < 100; ++attempt) // a signal interrupted it
            rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
        if (rc == 0 || rc == EOPNOTSUPP) return; // EOPNOTSUPP: not a tmpfs; nothing to reserve
        if (rc == ENOSPC || rc == ENOMEM)
            throw error(errc::out_of_memory, "reserving " + std::to_string(size) + " bytes in " +
                                                 shm_directory() + " for the channel");
        throw_system("reserving " + std::to_string(size) + " bytes of " + path_, rc);
    }

    /// Sets the file's mode (the daemon, on a file of its own that a crash may have left with
    /// another access's mode).
    void set_mode(const AccessControl& access) {
        if (::fchmod(fd_, access.mode()) != 0) throw_system("setting the mode of " + path_, errno);
    }

    /// Unlinks the path if it still names this description's file (never someone else's).
    bool unlink_if_linked() noexcept { return still_linked() && ::unlink(path_.c_str()) == 0; }

    int fd() const noexcept { return fd_; }
    const std::string& path() const noexcept { return path_; }

    void close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    static constexpr int open_flags = O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

    /// open_checked until it holds the file or the name is gone (channel_not_found); a name
    /// replaced again and again ends with `churn_code` after max_vanish_retries tries.
    template <class OwnerOk>
    static LockFile open_existing(const std::string& path, int access_mode, OwnerOk&& owner_ok,
                                  const std::string& who, const char* churn, errc churn_code) {
        for (int attempt = 0; attempt < max_vanish_retries; ++attempt) {
            LockFile f;
            if (f.open_checked(path, access_mode, owner_ok, who)) return f;
            if (!look_at(path).exists) throw error(errc::channel_not_found, "no file " + path);
        }
        throw error(churn_code, path + " " + churn);
    }
    static constexpr int max_vanish_retries = 1000;
    static bool own_owner(std::uint32_t uid) noexcept { return uid == effective_uid(); }

    /// lstat, check, open without following, fstat, compare. false: the name vanished or was
    /// replaced between the steps (look again); throws permission_denied for a file that fails
    /// the checks, channel_not_found-free: the caller decides what "missing" means.
    template <class OwnerOk>
    bool open_checked(const std::string& path, int access_mode, OwnerOk&& owner_ok,
                      const std::string& who) {
        path_ = path;
        const FileFacts seen = look_at(path);
        if (!seen.exists) return false;
        require_channel_file(path, seen, owner_ok, who.c_str());
        fd_ = ::open(path.c_str(), access_mode | open_flags);
        if (fd_ < 0) {
            if (errno == ENOENT || errno == ELOOP) return false; // replaced meanwhile
            throw_system("opening " + path, errno);
        }
        refresh();
        if (!facts_.same_file(seen) || facts_.links == 0) { // replaced, or unlinked since lstat
            close();
            return false;
        }
        require_channel_file(path, facts_, owner_ok, who.c_str());
        return true;
    }

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
    FileFacts facts_;
};

/// Removes the channel file at `path` if it is a regular file of this user (the leftover of a
/// dead daemon of ours); a file of anyone else's is refused (permission_denied), nothing at all
/// is fine. \pre the caller owns the channel's name lock.
inline void remove_own_leftover(const std::string& path) {
    const FileFacts f = look_at(path);
    if (!f.exists) return;
    require_channel_file(
        path, f, [](std::uint32_t uid) { return uid == effective_uid(); }, "this user");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_system("removing " + path, errno);
}

/// The daemon's descriptor of its liveness file: on Linux the segment file Boost just created
/// (checked: this user's, regular). `access` is unused here (Boost set the mode).
inline LockFile open_liveness_file(const std::string& path, const AccessControl& /*access*/) {
    return LockFile::open_own(path);
}

/// The daemon's own segment file has the size it was created with.
inline void check_own_segment_file(LockFile& f, std::uint64_t size) {
    if (f.refresh().size != size)
        throw error(errc::system_failure, f.path() + " is " + std::to_string(f.facts().size) +
                                              " bytes right after its creation at " +
                                              std::to_string(size) + ": something else writes it");
}

/// Whether `f` is the segment file a name record names (Linux: by device and inode).
inline bool matches_segment(const LockFile& f, std::uint64_t dev, std::uint64_t ino) noexcept {
    return f.facts().dev == dev && f.facts().ino == ino;
}

// ---- mappings ------------------------------------------------------------------------------

/// A shared mapping of a whole channel file, sized by fstat() of the descriptor (never by a
/// value inside the file). Read-write or read-only. The segment stays mapped after the file is
/// unlinked; a writer that truncates the file makes later accesses past its end raise SIGBUS,
/// which no mapping of a /dev/shm file can prevent (README, Security).
class Mapping {
public:
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& o) noexcept : addr_(o.addr_), size_(o.size_) {
        o.addr_ = nullptr;
        o.size_ = 0;
    }
    Mapping& operator=(Mapping&& o) noexcept {
        if (this != &o) {
            reset();
            addr_ = o.addr_;
            size_ = o.size_;
            o.addr_ = nullptr;
            o.size_ = 0;
        }
        return *this;
    }
    ~Mapping() { reset(); }

    /// Maps the segment: on Linux the segment file `file` itself (seg_name is unused), whole.
    static Mapping open(const std::string& /*seg_name*/, LockFile& file, bool writable) {
        const std::uint64_t size = file.refresh().size;
        if (size == 0)
            throw error(errc::channel_not_found, file.path() + " is empty (a daemon creating it)");
        Mapping m;
        void* p = ::mmap(nullptr, static_cast<std::size_t>(size),
                         writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, file.fd(), 0);
        if (p == MAP_FAILED) throw_system("mapping " + file.path(), errno);
        m.addr_ = static_cast<unsigned char*>(p);
        m.size_ = size;
        return m;
    }

    unsigned char* data() const noexcept { return addr_; }
    std::uint64_t size() const noexcept { return size_; }
    explicit operator bool() const noexcept { return addr_ != nullptr; }

    /// Makes [offset, offset + n) of a writable mapping read-only or writable again (whole
    /// pages: offset and n are multiples of page_size()). A write into a read-only page
    /// faults (SIGSEGV) in this process only.
    void protect(std::uint64_t offset, std::uint64_t n, bool writable) const {
        if (n == 0) return;
        if (::mprotect(addr_ + offset, static_cast<std::size_t>(n),
                       writable ? PROT_READ | PROT_WRITE : PROT_READ) != 0)
            throw_system("setting the protection of a channel mapping", errno);
    }

    void reset() noexcept {
        if (addr_ != nullptr) ::munmap(addr_, static_cast<std::size_t>(size_));
        addr_ = nullptr;
        size_ = 0;
    }

private:
    unsigned char* addr_ = nullptr;
    std::uint64_t size_ = 0;
};

} // namespace venom::detail
