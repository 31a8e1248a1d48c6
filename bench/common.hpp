// SPDX-License-Identifier: BSL-1.0
// bench/common.hpp - what every part of venom_bench shares: the clock, CPU pinning, the futex
// calls of the raw baselines, the control segment through which the parent drives its children,
// spawning this binary as a child (and never leaving one behind), per-process CPU time, and the
// progress line on stderr.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

extern char** environ;

namespace vb {

// ---- time ----------------------------------------------------------------------------------

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine (vDSO, no system
/// call), so a writer's timestamp and a reader's can be subtracted.
inline std::int64_t now_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline void sleep_ns(std::int64_t ns) {
    if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}

/// Sleeps until the CLOCK_MONOTONIC time `t` (absolute: no drift in fixed-rate loops).
inline void sleep_until_ns(std::int64_t t) noexcept {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(t / 1000000000);
    ts.tv_nsec = static_cast<long>(t % 1000000000);
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {}
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// ---- raw futex (the baselines' own; venom has its own in venom/detail/platform.hpp) ---------

inline void futex_wait(std::atomic<std::uint32_t>* w, std::uint32_t expected,
                       std::int64_t timeout_ns) noexcept {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), FUTEX_WAIT, expected, &ts, nullptr,
              0);
}
inline void futex_wake(std::atomic<std::uint32_t>* w) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), FUTEX_WAKE, 0x7fffffff, nullptr,
              nullptr, 0);
}

// ---- CPUs ----------------------------------------------------------------------------------

/// The CPUs this process may run on, in order.
inline std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) out.push_back(c);
    return out;
}

/// Pins the calling process to `cpu` (-1: no pinning). Returns false if the OS refused.
inline bool pin_self(int cpu) noexcept {
    if (cpu < 0) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

inline void set_affinity(const std::vector<int>& cpus) noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(c, &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

// ---- errors --------------------------------------------------------------------------------

[[noreturn]] inline void fail(const std::string& what) { throw std::runtime_error(what); }
[[noreturn]] inline void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

// ---- things to remove at exit (also from a signal handler) ---------------------------------

/// Paths (files in /dev/shm, sockets in /tmp) that the parent unlinks at exit, normal or not.
/// Fixed storage so that the signal handler only reads plain memory and calls unlink().
struct CleanupList {
    static constexpr int max_paths = 256;
    char paths[max_paths][160] = {};
    std::atomic<int> count{0};

    void add(const std::string& p) noexcept {
        const int i = count.load();
        if (i >= max_paths || p.size() >= sizeof paths[0]) return;
        std::memcpy(paths[i], p.c_str(), p.size() + 1);
        count.store(i + 1);
    }
    /// A venom channel's two files in /dev/shm (a daemon killed with SIGKILL leaves them).
    void add_channel(const std::string& name) noexcept {
        add("/dev/shm/venom." + name + ".shm");
        add("/dev/shm/venom." + name + ".lock");
    }
    void run() noexcept {
        const int n = count.load();
        for (int i = 0; i < n; ++i) ::unlink(paths[i]);
    }
};
inline CleanupList& cleanup_list() {
    static CleanupList c;
    return c;
}

// ---- children ------------------------------------------------------------------------------

/// Every live child pid, for the exit path and the signal handler: none is ever left behind.
struct ChildRegistry {
    static constexpr int max_children = 128;
    std::atomic<int> pids[max_children] = {};

    void add(int pid) noexcept {
        for (auto& p : pids) {
            int z = 0;
            if (p.compare_exchange_strong(z, pid)) return;
        }
    }
    void remove(int pid) noexcept {
        for (auto& p : pids) {
            int v = pid;
            if (p.compare_exchange_strong(v, 0)) return;
        }
    }
    void kill_all() noexcept {
        for (auto& p : pids) {
            const int pid = p.load();
            if (pid > 0) ::kill(pid, SIGKILL);
        }
        for (auto& p : pids) {
            const int pid = p.exchange(0);
            if (pid > 0) {
                int st;
                ::waitpid(pid, &st, 0);
            }
        }
    }
};
inline ChildRegistry& children() {
    static ChildRegistry r;
    return r;
}

inline std::string& self_exe() {
    static std::string p;
    return p;
}

/// A child process: this binary in a role. Killed (SIGKILL) and reaped if still running when
/// destroyed, so an exception anywhere leaves no process behind.
class Child {
public:
    Child() = default;
    Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
    Child& operator=(Child&& o) noexcept {
        std::swap(pid_, o.pid_);
        return *this;
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { kill_and_reap(); }

    /// Runs self_exe() with `args` (argv[1..]); `dups` are (from, to) fds to hand over.
    static Child spawn(const std::vector<std::string>& args,
                       const std::vector<std::pair<int, int>>& dups = {}) {
        std::vector<std::string> all{self_exe()};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : all) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        for (auto [from, to] : dups) posix_spawn_file_actions_adddup2(&fa, from, to);
        pid_t pid = -1;
        const int rc = ::posix_spawn(&pid, self_exe().c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) fail("posix_spawn " + self_exe() + ": " + std::strerror(rc));
        children().add(pid);
        Child c;
        c.pid_ = pid;
        return c;
    }

    int pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0; }

    /// Waits at most `limit_ns` for the exit. Returns the exit code (-signal if killed); kills
    /// the child and returns -1000 if it did not finish in time.
    int wait(std::int64_t limit_ns) {
        if (pid_ <= 0) return exit_code_;
        const std::int64_t end = now_ns() + limit_ns;
        for (;;) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                children().remove(pid_);
                pid_ = -1;
                exit_code_ = WIFEXITED(st)     ? WEXITSTATUS(st)
                             : WIFSIGNALED(st) ? -WTERMSIG(st)
                                               : -999;
                return exit_code_;
            }
            if (now_ns() > end) {
                kill_and_reap();
                exit_code_ = -1000;
                return exit_code_;
            }
            sleep_ns(1000000);
        }
    }
    void signal(int sig) noexcept {
        if (pid_ > 0) ::kill(pid_, sig);
    }
    void kill_and_reap() noexcept {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int st;
        ::waitpid(pid_, &st, 0);
        children().remove(pid_);
        pid_ = -1;
        exit_code_ = -SIGKILL;
    }

private:
    int pid_ = -1;
    int exit_code_ = 0;
};

/// In a child, first thing: die with the parent (SIGKILL), and exit if it is already gone.
inline void child_die_with_parent(int parent_pid) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid) std::_Exit(3);
}

inline bool parent_alive(int parent_pid) noexcept { return ::getppid() == parent_pid; }

// ---- shared memory without venom (control segment, raw baselines) ---------------------------

/// A POSIX shared-memory object mapped into this process. The creator unlinks it at exit
/// (cleanup_list()); openers just unmap.
class RawShm {
public:
    RawShm() = default;
    RawShm(RawShm&& o) noexcept : p_(o.p_), n_(o.n_) {
        o.p_ = nullptr;
        o.n_ = 0;
    }
    RawShm& operator=(RawShm&& o) noexcept {
        std::swap(p_, o.p_);
        std::swap(n_, o.n_);
        return *this;
    }
    RawShm(const RawShm&) = delete;
    RawShm& operator=(const RawShm&) = delete;
    ~RawShm() {
        if (p_ != nullptr) ::munmap(p_, n_);
    }

    /// name: without the leading '/'; the file is /dev/shm/<name>.
    static RawShm create(const std::string& name, std::size_t size) {
        ::shm_unlink(("/" + name).c_str());
        const int fd = ::shm_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0) fail_errno("shm_open " + name);
        if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
            ::close(fd);
            fail_errno("ftruncate " + name);
        }
        return map(fd, size, name);
    }
    static RawShm open(const std::string& name) {
        const int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
        if (fd < 0) fail_errno("shm_open (open) " + name);
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            ::close(fd);
            fail_errno("fstat " + name);
        }
        return map(fd, static_cast<std::size_t>(st.st_size), name);
    }
    void* data() const noexcept { return p_; }
    std::size_t size() const noexcept { return n_; }

private:
    static RawShm map(int fd, std::size_t size, const std::string& name) {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (p == MAP_FAILED) fail_errno("mmap " + name);
        RawShm s;
        s.p_ = p;
        s.n_ = size;
        return s;
    }
    void* p_ = nullptr;
    std::size_t n_ = 0;
};

// ---- the control segment ---------------------------------------------------------------------

inline constexpr std::size_t max_msg = 4096;   ///< largest RPC request of the benchmark
inline constexpr std::size_t ring_size = 4096; ///< update-latency timestamps kept
inline constexpr int max_slots = 64;           ///< children that report results at once

/// One message area of the raw ping-pong floor: the sequence word and the payload share the
/// first cache line, so a request of up to 48 bytes is exactly one line transfer each way.
struct alignas(64) RawMsg {
    std::atomic<std::uint64_t> seq;
    std::atomic<std::uint64_t> len;
    unsigned char payload[max_msg];
};
/// The futex floor's message area: a 32-bit futex word in the first line.
struct alignas(64) RawMsg32 {
    std::atomic<std::uint32_t> seq;
    std::uint32_t len;
    unsigned char payload[max_msg];
};

/// One child's report: readiness, completion and role-specific figures.
struct alignas(64) ChildSlot {
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> done;
    std::atomic<std::int32_t> status; ///< 0 ok, else failed (error holds why)
    std::atomic<std::uint32_t> pid;
    std::atomic<std::uint64_t> ops;    ///< completed operations
    std::atomic<std::uint64_t> errors; ///< failed operations (venom error codes, timeouts)
    std::atomic<std::uint64_t> bad;    ///< wrong answers / torn or mismatched states
    double v[256];                     ///< figures (meaning set by the role)
    char error[256];
};

/// A command the parent posts to the latency peer.
struct PeerCommand {
    std::uint32_t op;
    std::uint32_t mech;
    std::uint64_t size;
    std::uint64_t count;
    std::int64_t gap_ns;
    /// op_updates: the writer spins between updates (stays on its CPU, its code and lines warm)
    /// instead of sleeping.
    std::uint32_t spin_gap = 0;
};

/// One update-latency timestamp: when write_data (or the raw store) was called and returned.
struct alignas(16) Stamp {
    std::atomic<std::uint64_t> version;
    std::atomic<std::int64_t> t_return;
    std::int64_t t_call;
    std::int64_t pad;
};

struct Ctl {
    std::uint64_t magic;
    std::int32_t parent_pid;
    std::uint32_t tcp_port;
    alignas(64) std::atomic<std::uint32_t> go;      ///< start barrier (futex word)
    alignas(64) std::atomic<std::uint32_t> stop;    ///< end of a timed run (futex word)
    alignas(64) std::atomic<std::uint32_t> cmd_seq; ///< peer command posted (futex word)
    PeerCommand cmd;
    alignas(64) std::atomic<std::uint32_t> done_seq; ///< peer command finished (futex word)
    std::atomic<std::int32_t> cmd_status;
    char cmd_error[256];
    // raw floors: each side writes its own message area
    RawMsg ping;
    RawMsg pong;
    RawMsg32 fping;
    RawMsg32 fpong;
    // update-latency raw floors
    alignas(64) std::atomic<std::uint64_t> raw_version;
    /// update-latency, hot writer: the newest version the reader has seen (the writer waits
    /// for it before the next update, so none is coalesced on a loaded machine).
    alignas(64) std::atomic<std::uint64_t> upd_seen;
    alignas(64) std::atomic<std::uint32_t> raw_version32;
    /// broadcast fixed-rate: 0 floor frames, 1 venom
    alignas(64) std::atomic<std::uint32_t> phase;
    alignas(64) unsigned char raw_state[65536];
    alignas(64) Stamp ring[ring_size];
    ChildSlot slots[max_slots];
};
inline constexpr std::uint64_t ctl_magic = 0x4843424d4f4e4556ull; // "VENOMBCH"

/// The parent's mapping of the control segment (creates it) or a child's (opens it).
class CtlSegment {
public:
    static CtlSegment create(const std::string& name) {
        CtlSegment c;
        c.name_ = name;
        c.shm_ = RawShm::create(name, sizeof(Ctl));
        cleanup_list().add("/dev/shm/" + name);
        c.ctl_ = new (c.shm_.data()) Ctl();
        c.ctl_->magic = ctl_magic;
        c.ctl_->parent_pid = static_cast<std::int32_t>(::getpid());
        return c;
    }
    static CtlSegment open(const std::string& name) {
        CtlSegment c;
        c.name_ = name;
        c.shm_ = RawShm::open(name);
        if (c.shm_.size() < sizeof(Ctl)) fail("control segment " + name + " too small");
        c.ctl_ = static_cast<Ctl*>(c.shm_.data());
        if (c.ctl_->magic != ctl_magic) fail("control segment " + name + " is not venom_bench's");
        return c;
    }
    Ctl& operator*() const noexcept { return *ctl_; }
    Ctl* operator->() const noexcept { return ctl_; }
    const std::string& name() const noexcept { return name_; }

    /// Clears the barrier words and every slot before a new run.
    void reset() noexcept {
        ctl_->phase.store(0);
        ctl_->go.store(0);
        ctl_->stop.store(0);
        for (auto& s : ctl_->slots) {
            s.ready.store(0);
            s.done.store(0);
            s.status.store(0);
            s.ops.store(0);
            s.errors.store(0);
            s.bad.store(0);
            std::fill(std::begin(s.v), std::end(s.v), 0.0);
            s.error[0] = 0;
        }
    }

private:
    std::string name_;
    RawShm shm_;
    Ctl* ctl_ = nullptr;
};

inline void set_slot_error(ChildSlot& s, const std::string& what) noexcept {
    const std::size_t n = std::min(what.size(), sizeof s.error - 1);
    std::memcpy(s.error, what.data(), n);
    s.error[n] = 0;
    s.status.store(1);
}

/// Waits (blocking on the futex, re-checking every 50 ms) until *w != value, the deadline, or
/// the parent's death. Returns whether *w changed.
inline bool wait_change(std::atomic<std::uint32_t>& w, std::uint32_t value, std::int64_t limit_ns,
                        int parent_pid = 0) {
    const std::int64_t end = now_ns() + limit_ns;
    while (w.load(std::memory_order_acquire) == value) {
        const std::int64_t left = end - now_ns();
        if (left <= 0) return false;
        if (parent_pid != 0 && !parent_alive(parent_pid)) std::_Exit(3);
        futex_wait(&w, value, std::min<std::int64_t>(left, 50000000));
    }
    return true;
}

/// Parent side: waits until `n` slots from `first` report ready (or failed). Bounded.
inline void wait_ready(Ctl& c, int first, int n, std::int64_t limit_ns, const char* what) {
    const std::int64_t end = now_ns() + limit_ns;
    for (;;) {
        int ready = 0;
        for (int i = first; i < first + n; ++i) {
            if (c.slots[i].status.load() != 0)
                fail(std::string(what) + " #" + std::to_string(i - first) +
                     " failed: " + c.slots[i].error);
            if (c.slots[i].ready.load() != 0) ++ready;
        }
        if (ready == n) return;
        if (now_ns() > end)
            fail(std::string(what) + ": only " + std::to_string(ready) + " of " +
                 std::to_string(n) + " ready in time");
        sleep_ns(500000);
    }
}

// ---- CPU time of a process ------------------------------------------------------------------

/// CPU time (ns) a process has used so far, all its threads: the run time in
/// /proc/<pid>/task/*/schedstat (nanoseconds), or utime+stime of /proc/<pid>/stat (clock
/// ticks) where schedstat is missing. -1 if the process is gone.
inline std::int64_t process_cpu_ns(int pid) {
    const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    if (DIR* d = ::opendir(task_dir.c_str())) {
        std::int64_t total = 0;
        bool any = false;
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::ifstream f(task_dir + "/" + e->d_name + "/schedstat");
            long long run = 0;
            if (f >> run) {
                total += run;
                any = true;
            }
        }
        ::closedir(d);
        if (any) return total;
    }
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return -1;
    const auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream rest(line.substr(close_paren + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::atoll(field.c_str());
        if (i == 15) stime = std::atoll(field.c_str());
    }
    const long hz = ::sysconf(_SC_CLK_TCK);
    return (utime + stime) * (1000000000LL / (hz > 0 ? hz : 100));
}

// ---- how busy the machine was with other work -----------------------------------------------

/// CPU accounting of the whole machine (/proc/stat) and of this run (this process and its
/// reaped children), to tell how much of the machine other processes and the hypervisor took.
struct CpuSnapshot {
    double busy_s = 0;  ///< all CPUs: user+nice+system+irq+softirq
    double steal_s = 0; ///< time the hypervisor ran something else
    double total_s = 0; ///< all CPUs: every column (wall time x CPUs)
    double ours_s = 0;  ///< user+system of this process and its waited-for children
};

inline CpuSnapshot cpu_snapshot() {
    CpuSnapshot c;
    std::ifstream f("/proc/stat");
    std::string cpu;
    long long v[10] = {};
    f >> cpu;
    for (auto& x : v) f >> x;
    const double hz =
        static_cast<double>(::sysconf(_SC_CLK_TCK) > 0 ? ::sysconf(_SC_CLK_TCK) : 100);
    c.busy_s = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    c.steal_s = static_cast<double>(v[7]) / hz;
    c.total_s = static_cast<double>(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]) / hz;
    rusage self{}, kids{};
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &kids);
    auto sec = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    c.ours_s = sec(self.ru_utime) + sec(self.ru_stime) + sec(kids.ru_utime) + sec(kids.ru_stime);
    return c;
}

/// Between two snapshots (every child reaped): the share of the machine's CPU time that other
/// processes used, and that the hypervisor stole, in percent of all CPUs.
inline std::pair<double, double> foreign_load(const CpuSnapshot& a, const CpuSnapshot& b) {
    const double total = b.total_s - a.total_s;
    if (total <= 0) return {0, 0};
    const double foreign = std::max(0.0, (b.busy_s - a.busy_s) - (b.ours_s - a.ours_s));
    return {100 * foreign / total, 100 * (b.steal_s - a.steal_s) / total};
}

// ---- progress on stderr ----------------------------------------------------------------------

class Progress {
public:
    void enable(bool on) {
        on_ = on;
        tty_ = ::isatty(2) != 0;
    }
    /// A status line: rewritten in place on a terminal, a plain line per call elsewhere only
    /// when `milestone` (so logs stay short).
    void set(const std::string& text, bool milestone = false) {
        if (!on_) return;
        const double t = static_cast<double>(now_ns() - start_) / 1e9;
        char head[32];
        std::snprintf(head, sizeof head, "[%6.1fs] ", t);
        if (tty_) {
            std::fprintf(stderr, "\r\033[K%s%s", head, text.c_str());
            std::fflush(stderr);
        } else if (milestone) {
            std::fprintf(stderr, "%s%s\n", head, text.c_str());
        }
    }
    void clear() {
        if (on_ && tty_) std::fprintf(stderr, "\r\033[K");
    }
    void note(const std::string& text) {
        clear();
        std::fprintf(stderr, "%s\n", text.c_str());
    }

private:
    bool on_ = true;
    bool tty_ = false;
    std::int64_t start_ = now_ns();
};
inline Progress& progress() {
    static Progress p;
    return p;
}

// ---- child argument maps -------------------------------------------------------------------

/// Role arguments, passed as --arg key=value.
struct Args {
    std::map<std::string, std::string> kv;
    std::string str(const std::string& k, const std::string& dflt = "") const {
        auto it = kv.find(k);
        return it == kv.end() ? dflt : it->second;
    }
    long long num(const std::string& k, long long dflt = 0) const {
        auto it = kv.find(k);
        return it == kv.end() ? dflt : std::atoll(it->second.c_str());
    }
    double real(const std::string& k, double dflt = 0) const {
        auto it = kv.find(k);
        return it == kv.end() ? dflt : std::atof(it->second.c_str());
    }
};

/// The frame of every child role that reports through a slot: attach to the control segment,
/// die with the parent, record this pid in slot a["slot"], run `body(ctl, slot)`, and turn an
/// exception into the slot's error text and exit code 1.
template <class Body> int run_in_slot(const Args& a, Body&& body) {
    CtlSegment ctl = CtlSegment::open(a.str("ctl"));
    child_die_with_parent(ctl->parent_pid);
    ChildSlot& me = ctl->slots[a.num("slot")];
    me.pid.store(static_cast<std::uint32_t>(::getpid()));
    try {
        return body(ctl, me);
    } catch (const std::exception& e) {
        set_slot_error(me, e.what());
        return 1;
    }
}

/// Builds the argv of a child: --role R --arg k=v ...
inline std::vector<std::string> role_argv(
    const std::string& role, const std::vector<std::pair<std::string, std::string>>& kv) {
    std::vector<std::string> a{"--role", role};
    for (auto& [k, v] : kv) {
        a.push_back("--arg");
        a.push_back(k + "=" + v);
    }
    return a;
}

/// Stamps the first and last 8 bytes of a state with its version (readers check both ends).
inline void stamp(unsigned char* p, std::size_t n, std::uint64_t v) noexcept {
    if (n >= 16) {
        std::memcpy(p, &v, 8);
        std::memcpy(p + n - 8, &v, 8);
    } else if (n >= 8) {
        std::memcpy(p, &v, 8);
    }
}
inline bool stamp_ok(const unsigned char* p, std::size_t n, std::uint64_t v) noexcept {
    std::uint64_t a = v, b = v;
    if (n >= 8) std::memcpy(&a, p, 8);
    if (n >= 16) std::memcpy(&b, p + n - 8, 8);
    return a == v && b == v;
}

} // namespace vb
