// SPDX-License-Identifier: BSL-1.0
// tools/cli/subprocess.hpp - runs one command for `venom serve --exec`: its stdin given, its
// stdout and stderr captured, its time bounded.
//
// run_child(argv, env, input, limits, cancel) starts argv[0] with argv and env, writes `input`
// to its stdin and closes it, reads its stdout (at most limits.stdout_cap + 1 bytes: one more
// than may be kept, so "too much" is seen) and its stderr (the first limits.stderr_keep bytes
// kept, the rest read and dropped), and reaps it. It returns how the child ended.
//
// Owners and states. Everything here belongs to the one thread that calls run_child (in serve,
// the run() thread); nothing is shared with other threads but `cancel`, which another thread
// sets (relaxed loads: a flag, nothing is published by it). A child goes through
//   running -> (exited | signalled)                                 the normal ends
//   running -> killed: deadline passed, stdout over its cap, or cancel + term_grace passed
//   running -> terminating (cancel set: SIGTERM sent) -> exited | signalled | killed
// and every path ends with the child reaped: no zombie is left, except one that SIGKILL
// could not end within reap_limit (a process in uninterruptible sleep); it is kept in a list
// and reaped by a later call (reap_leftovers()), never waited for without a bound.
//
// The child's process group. The child is the leader of a new process group (POSIX_SPAWN_
// SETPGROUP), and the group is what gets signalled: `sh -c 'sleep 5'` may run sleep as a child
// of sh, and killing only sh would leave sleep running, holding the pipes open. When the child
// has ended (seen with waitid(WNOWAIT), before it is reaped, so that its pid, and with it the
// group id, cannot be reused yet), whatever else is left in its group is killed with SIGKILL:
// a request leaves nothing running behind it (a command that must outlive its request starts
// it with setsid). A Ctrl-C on serve's terminal does not reach the group (it is not the
// terminal's foreground group): serve's signal watcher sets `cancel` instead.
//
// No deadlock, no unbounded wait. stdin, stdout and stderr are pipes whose parent ends are
// non-blocking and close-on-exec (so no other child inherits them); one poll(2) loop writes
// stdin as far as the child reads it and reads stdout and stderr as they come, so a child that
// writes first and reads later (or never reads) cannot block us or itself. A child that exits
// without reading its stdin makes our write fail with EPIPE (SIGPIPE is ignored by serve,
// process-wide), which only ends the writing. Every poll has a timeout of at most poll_slice,
// and the loop ends by the deadline. The child's end is seen through a pidfd (Linux 5.3+) in
// the same poll; without one (ENOSYS: old kernels, some emulators) by waitid every poll_slice.
//
// Signals in the child: posix_spawn gives it an empty signal mask (serve blocks SIGINT and
// SIGTERM in its own threads) and SIGPIPE at its default (serve ignores it).
//
// POSIX only for now; the Win32 half (CreateProcess, two reader threads, a job object for the
// group) is to come: on Windows run_child reports failed_to_start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#ifndef _WIN32
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif
#endif

namespace venom_cli {

struct ChildLimits {
    std::size_t stdout_cap = 4096; ///< more than this many bytes on stdout: output_too_large
    std::size_t stderr_keep = 200; ///< this many bytes of stderr are kept (the rest dropped)
    std::chrono::milliseconds timeout{10000}; ///< from the start; then SIGKILL: timed_out
    /// After `cancel` is seen: SIGTERM, then this long before SIGKILL.
    std::chrono::milliseconds term_grace{1000};
};

struct ChildResult {
    enum class End {
        exited,           ///< status: its exit code
        signalled,        ///< status: the signal that ended it (not one we sent)
        timed_out,        ///< past limits.timeout: killed
        output_too_large, ///< wrote more than limits.stdout_cap bytes to stdout: killed
        cancelled,        ///< `cancel` was set: SIGTERM, SIGKILL after term_grace
        failed_to_start,  ///< error says why; nothing runs
    };
    End end = End::failed_to_start;
    int status = 0;
    std::string out;   ///< its stdout (at most stdout_cap + 1 bytes)
    std::string err;   ///< the first stderr_keep bytes of its stderr
    std::string error; ///< failed_to_start: the OS call and its error
};

#ifndef _WIN32

namespace subprocess_detail {

/// How long one poll waits at most: the loop looks at the deadline and at `cancel` this often.
inline constexpr std::chrono::milliseconds poll_slice{50};
/// Without a pidfd, the child's end is looked for this often.
inline constexpr std::chrono::milliseconds exit_check_slice{5};
/// After SIGKILL, how long we wait for the kernel to end the child before leaving it to
/// reap_leftovers().
inline constexpr std::chrono::milliseconds reap_limit{2000};
/// One read or write moves at most this much.
inline constexpr std::size_t chunk = 65536;
/// After the child ended, at most this much more is drained from its pipes (a process it left
/// behind may still be writing; it is killed, but its last writes are bounded too).
inline constexpr std::size_t drain_limit = std::size_t{1} << 20;

/// Children that SIGKILL did not end within reap_limit: reaped by a later reap_leftovers().
inline std::vector<pid_t>& leftovers() {
    static std::vector<pid_t> pids; // the run_child thread only
    return pids;
}

/// A descriptor closed at scope exit.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() noexcept {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    explicit operator bool() const noexcept { return fd >= 0; }
};

/// A close-on-exec pipe whose ends are both above 2 (so that dup2 onto 0..2 in the child never
/// finds its source already there, which would leave it close-on-exec).
inline bool make_pipe(Fd& r, Fd& w, std::string& error) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        error = std::string("pipe2: ") + std::strerror(errno);
        return false;
    }
    for (int& fd : p) {
        if (fd > 2) continue;
        const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        ::close(fd);
        fd = high;
    }
    r.fd = p[0];
    w.fd = p[1];
    if (r.fd < 0 || w.fd < 0) {
        error = std::string("fcntl(F_DUPFD_CLOEXEC): ") + std::strerror(errno);
        return false;
    }
    return true;
}

inline void set_nonblocking(int fd) noexcept {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/// Whether child `pid` has ended, without reaping it (its pid stays ours until then).
inline bool ended(pid_t pid) noexcept {
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD; // not ours any more: nothing to wait for
    return info.si_pid == pid;
}

/// Reaps `pid` if it has ended; true when it is reaped (or was not ours).
inline bool try_reap(pid_t pid, int* status) noexcept {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status != nullptr) *status = st;
        return true;
    }
    return r < 0 && errno == ECHILD;
}

/// Waits up to `limit` for `pid` to end, then reaps it; false if it has not ended by then.
inline bool reap_within(pid_t pid, std::chrono::milliseconds limit, int* status) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (try_reap(pid, status)) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

/// Signals the child's whole process group (and the child itself, should the group not have
/// been made). \pre the child is not reaped yet (its pid, the group's id, is still ours).
inline void signal_group(pid_t pid, int sig) noexcept {
    ::kill(-pid, sig);
    ::kill(pid, sig);
}

/// A pidfd for `pid` (readable once it ends), or -1 where the kernel has none.
inline int open_pidfd(pid_t pid) noexcept {
#if defined(__linux__) && defined(SYS_pidfd_open)
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
        return static_cast<int>(fd);
    }
#else
    (void)pid;
#endif
    return -1;
}

} // namespace subprocess_detail

/// Reaps the children an earlier run_child could not (see the design note). Never waits.
inline void reap_leftovers() noexcept {
    auto& pids = subprocess_detail::leftovers();
    for (std::size_t i = 0; i < pids.size();) {
        if (subprocess_detail::try_reap(pids[i], nullptr)) {
            pids[i] = pids.back();
            pids.pop_back();
        } else {
            ++i;
        }
    }
}

/// How many children are left unreaped (SIGKILLed, not yet ended by the kernel).
inline std::size_t unreaped_children() noexcept { return subprocess_detail::leftovers().size(); }

/// Runs argv (argv[0] is a path: no PATH search) with environment env ("K=V" strings).
/// \pre called from one thread at a time; SIGPIPE ignored (or handled) in this process.
/// Never throws but std::bad_alloc.
inline ChildResult run_child(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, const void* input,
                             std::size_t input_size, const ChildLimits& limits,
                             const std::atomic<bool>& cancel) {
    using namespace subprocess_detail;
    using clock = std::chrono::steady_clock;
    reap_leftovers();
    ChildResult res;
    if (cancel.load(std::memory_order_relaxed)) { // shutting down already: nothing is started
        res.end = ChildResult::End::cancelled;
        return res;
    }
    Fd in_r, in_w, out_r, out_w, err_r, err_w;
    if (!make_pipe(in_r, in_w, res.error) || !make_pipe(out_r, out_w, res.error) ||
        !make_pipe(err_r, err_w, res.error))
        return res;
    set_nonblocking(in_w.fd);
    set_nonblocking(out_r.fd);
    set_nonblocking(err_r.fd);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, in_r.fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_w.fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w.fd, STDERR_FILENO);
    sigset_t empty_mask, defaults;
    sigemptyset(&empty_mask);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &empty_mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr,
        static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP));
    std::vector<char*> av, ev;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, av[0], &fa, &attr, av.data(), ev.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        res.error = "cannot start " + argv[0] + ": " + std::strerror(rc);
        return res;
    }
    // The child's ends are the child's now.
    in_r.reset();
    out_w.reset();
    err_w.reset();
    Fd pidfd(open_pidfd(pid));

    const auto start = clock::now();
    const auto deadline = start + limits.timeout;
    auto kill_at = clock::time_point::max(); // cancel seen: SIGKILL from then on
    enum class Why { none, timed_out, too_large, cancelled } why = Why::none;
    const auto* in = static_cast<const unsigned char*>(input);
    std::size_t written = 0;
    if (input_size == 0) in_w.reset();
    std::vector<char> buf(chunk);
    std::size_t err_seen = 0;
    // Reads what `fd` has now into out (up to `keep` bytes kept); false at EOF or error.
    auto read_some = [&](Fd& fd, std::string& out, std::size_t keep, std::size_t& seen) {
        const ssize_t n = ::read(fd.fd, buf.data(), buf.size());
        if (n > 0) {
            const auto got = static_cast<std::size_t>(n);
            if (out.size() < keep) out.append(buf.data(), std::min(got, keep - out.size()));
            seen += got;
            return true;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        fd.reset();
        return false;
    };
    std::size_t out_seen = 0;
    const std::size_t out_keep = limits.stdout_cap + 1;
    bool child_ended = false;
    while (!child_ended) {
        const auto now = clock::now();
        if (why == Why::none && now >= deadline) why = Why::timed_out;
        if (why == Why::none && cancel.load(std::memory_order_relaxed)) {
            why = Why::cancelled;
            signal_group(pid, SIGTERM);
            kill_at = now + limits.term_grace;
        }
        if (why == Why::timed_out || why == Why::too_large || now >= kill_at) break; // kill
        auto wait = std::min<clock::duration>(deadline - now, poll_slice);
        if (kill_at != clock::time_point::max())
            wait = std::min<clock::duration>(wait, kill_at - now);
        if (!pidfd) wait = std::min<clock::duration>(wait, exit_check_slice);
        pollfd p[4];
        nfds_t n = 0;
        // The index of fd's entry in p, or -1 when it is closed (nothing more to do with it).
        auto watch = [&](const Fd& fd, short events) {
            if (!fd) return -1;
            p[n] = pollfd{fd.fd, events, 0};
            return static_cast<int>(n++);
        };
        const int i_in = watch(in_w, POLLOUT);
        const int i_out = watch(out_r, POLLIN);
        const int i_err = watch(err_r, POLLIN);
        const int i_pid = watch(pidfd, POLLIN);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count() + 1;
        const int r = ::poll(p, n, static_cast<int>(ms));
        if (r < 0 && errno != EINTR) break; // cannot wait: kill it (reported as timed out)
        if (r <= 0) {
            if (!pidfd) child_ended = ended(pid);
            continue;
        }
        if (i_in >= 0 && p[i_in].revents != 0) {
            if ((p[i_in].revents & POLLOUT) != 0) {
                const ssize_t w =
                    ::write(in_w.fd, in + written, std::min(chunk, input_size - written));
                if (w > 0) written += static_cast<std::size_t>(w);
                else if (w < 0 && errno != EAGAIN && errno != EINTR) in_w.reset(); // EPIPE...
                if (written == input_size) in_w.reset();                           // EOF for it
            } else {
                in_w.reset(); // POLLERR / POLLHUP: the child closed its stdin
            }
        }
        if (i_out >= 0 && p[i_out].revents != 0) {
            read_some(out_r, res.out, out_keep, out_seen);
            if (res.out.size() > limits.stdout_cap) why = Why::too_large;
        }
        if (i_err >= 0 && p[i_err].revents != 0)
            read_some(err_r, res.err, limits.stderr_keep, err_seen);
        if (i_pid >= 0 && p[i_pid].revents != 0) child_ended = true;
        if (!pidfd && !child_ended) child_ended = ended(pid);
    }

    int st = 0;
    if (!child_ended) {
        if (why == Why::none) why = Why::timed_out; // poll failed
        signal_group(pid, SIGKILL);
        if (!reap_within(pid, reap_limit, &st)) {
            leftovers().push_back(pid);
            res.end = why == Why::too_large   ? ChildResult::End::output_too_large
                      : why == Why::cancelled ? ChildResult::End::cancelled
                                              : ChildResult::End::timed_out;
            return res;
        }
    } else {
        // Ended: what it wrote is in the pipes (bounded drain), then whatever it left running
        // in its group is killed, and it is reaped.
        std::size_t drained = 0;
        while (out_r && drained < drain_limit && res.out.size() <= limits.stdout_cap) {
            const std::size_t before = out_seen;
            if (!read_some(out_r, res.out, out_keep, out_seen) || out_seen == before) break;
            drained += out_seen - before;
        }
        while (err_r && drained < drain_limit) {
            const std::size_t before = err_seen;
            if (!read_some(err_r, res.err, limits.stderr_keep, err_seen) || err_seen == before)
                break;
            drained += err_seen - before;
        }
        if (res.out.size() > limits.stdout_cap) why = Why::too_large;
        signal_group(pid, SIGKILL); // its leftovers; the child itself has ended already
        if (!reap_within(pid, reap_limit, &st)) leftovers().push_back(pid);
    }
    switch (why) {
    case Why::timed_out: res.end = ChildResult::End::timed_out; break;
    case Why::too_large: res.end = ChildResult::End::output_too_large; break;
    case Why::cancelled: res.end = ChildResult::End::cancelled; break;
    case Why::none:
        if (WIFEXITED(st)) {
            res.end = ChildResult::End::exited;
            res.status = WEXITSTATUS(st);
        } else {
            res.end = ChildResult::End::signalled;
            res.status = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        }
        break;
    }
    return res;
}

#else // _WIN32

inline void reap_leftovers() noexcept {}
inline std::size_t unreaped_children() noexcept { return 0; }
inline ChildResult run_child(const std::vector<std::string>&, const std::vector<std::string>&,
                             const void*, std::size_t, const ChildLimits&,
                             const std::atomic<bool>&) {
    ChildResult res;
    res.error = "running a command is not supported on Windows yet";
    return res;
}

#endif

} // namespace venom_cli
