// SPDX-License-Identifier: BSL-1.0
// tools/cli/serve.hpp - `venom serve NAME`: a channel hosted from a shell script, with venom's
// public API only (DaemonChannel::create / run / write_data / stop).
//
// Threads and what each owns:
//   main     creates the DaemonChannel, then runs run(handler) until stop(). The handler (echo,
//            or one --exec child at a time: run() is one thread, so requests are answered one
//            after the other) runs here, and so does every child (subprocess.hpp).
//   feeder   publishes the state with write_data: each line of stdin, or the whole of
//            --state-file whenever it changes. It never touches the handler's data.
//   watcher  waits for SIGINT/SIGTERM with sigtimedwait (100 ms slices, so it sees the end);
//            on one it sets `stopping` and calls daemon.stop().
// Shared: `stopping` (atomic; set by the watcher, by the feeder at EOF with --exit-on-eof, and
// by main when run() returns) and `finished` (set by main before joining), and the output
// (one mutex, so lines from two threads never mix).
//
// Signals. SIGINT and SIGTERM are blocked in every thread (the mask is set before any thread
// is made, and threads inherit it) and taken by the watcher with sigtimedwait, not by a
// handler: a handler could run on any thread at any moment, also while main destroys the
// daemon; the watcher is joined before that. (stop() is async-signal-safe, so a handler could
// call it; the watcher avoids the destruction race, and may call anything.) A signal that
// comes while the channel is being created stays pending until the watcher runs, and then
// stops the daemon before run() even serves (run() returns at once after a stop()). A running
// --exec child sees `stopping` through run_child's cancel flag: SIGTERM to its process group,
// SIGKILL 1 s later; its request gets an error answer. Then run() returns, the feeder and the
// watcher are joined, and the DaemonChannel's destructor closes the channel and removes its
// files: exit 0. SIGPIPE is ignored process-wide (a child that exits without reading its
// stdin; a closed stdout), and children get it back at its default.
//
// What a child can do to serve: nothing beyond its own request. It cannot block serve (its
// pipes are polled, its time is bounded by --exec-timeout, its stdout by max_response_size);
// a child that dies is reaped and its request answered with an error; one that stalls is
// killed at the deadline.
//
// What the feeder reads is bounded too: a line over data_size is counted and dropped as it
// streams (never held whole), a --state-file over data_size is not read past data_size + 1
// bytes, and a FIFO or device named as the state file is refused (opened O_NONBLOCK, checked
// with fstat) rather than blocked on.
//
// POSIX only for now (poll on fd 0, sigtimedwait, posix_spawn). The Win32 half would take
// SetConsoleCtrlHandler for the watcher, a reader thread for stdin, and CreateProcess in
// subprocess.hpp; until then serve() says "not supported on Windows yet".
#pragma once

#include "json.hpp"
#include "subprocess.hpp"

#include <venom/venom.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef _WIN32
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;
#endif

namespace venom_cli {

/// What `venom serve` was asked to do (venom_cli.cpp checks the arguments and fills it in).
struct ServeSettings {
    std::string name;
    venom::ChannelConfig config{64 * 1024, 128, 16};
    enum class Mode { echo, exec } mode = Mode::echo;
    std::string exec_command; ///< --exec: run as /bin/sh -c exec_command
    std::chrono::milliseconds exec_timeout{10000};
    std::string state_file;                       ///< empty: the state comes from stdin's lines
    std::chrono::milliseconds poll_interval{100}; ///< --state-file: how often it is looked at
    bool exit_on_eof = false;
    bool json = false;
};

/// serve's messages: text on stderr, or with --json one JSON object per line on stdout.
/// Called from any of serve's threads.
class ServeOutput {
public:
    explicit ServeOutput(bool json) : json_(json) {}
    void serving(const std::string& name, long pid) {
        std::lock_guard<std::mutex> lock(m_);
        if (json_) {
            Json j;
            j.begin_object().kv("serving", name).kv("pid", std::int64_t{pid}).end_object();
            j.print();
        } else {
            std::fprintf(stderr, "serving %s (pid %ld)\n", name.c_str(), pid);
        }
    }
    /// A problem that does not stop serving (a line too long, a state file gone...).
    void warning(const char* code, const std::string& message) {
        std::lock_guard<std::mutex> lock(m_);
        if (json_) {
            Json j;
            j.begin_object().key("warning").begin_object().kv("code", code);
            j.kv("message", message).end_object().end_object().print();
        } else {
            std::fprintf(stderr, "venom serve: %s\n", message.c_str());
        }
    }
    void stopped(const std::string& name, const std::string& why) {
        std::lock_guard<std::mutex> lock(m_);
        if (json_) {
            Json j;
            j.begin_object().kv("stopped", name).kv("reason", why).end_object().print();
        } else {
            std::fprintf(stderr, "venom serve: stopped serving %s (%s)\n", name.c_str(),
                         why.c_str());
        }
    }

private:
    std::mutex m_;
    bool json_;
};

namespace serve_detail {

/// How long the feeder's and the watcher's waits last at most: how soon they see a stop.
inline constexpr std::chrono::milliseconds stop_check{100};
/// The part of a child's stderr quoted in its error answer (an error answer holds 256 bytes).
inline constexpr std::size_t stderr_quoted = 200;
/// The part of the --exec command quoted in error answers.
inline constexpr std::size_t command_quoted = 40;

/// `"tr a-z A-Z"` (cut to command_quoted characters), for error answers.
inline std::string quoted_command(const std::string& cmd) {
    if (cmd.size() <= command_quoted) return "\"" + cmd + "\"";
    return "\"" + cmd.substr(0, command_quoted - 3) + "...\"";
}

/// A child's stderr for an error text: trailing newlines and spaces cut, control characters
/// (a terminal's escape sequences among them) turned into spaces.
inline std::string printable(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return s;
}

#ifndef _WIN32

/// Opens /dev/null on any of fds 0..2 that is closed, so that no pipe or channel descriptor
/// gets one of those numbers (a child would then inherit it as its stdin, stdout or stderr).
inline void ensure_standard_fds() noexcept {
    for (int fd = 0; fd <= 2; ++fd)
        if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            const int n = ::open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) ::close(n); // cannot happen: the lowest free number is fd
        }
}

/// The environment of every child: ours without VENOM_CHANNEL and VENOM_CLIENT (each request
/// adds its own).
inline std::vector<std::string> base_environment() {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string s(*e);
        if (s.rfind("VENOM_CHANNEL=", 0) == 0 || s.rfind("VENOM_CLIENT=", 0) == 0) continue;
        env.push_back(s);
    }
    return env;
}

/// Publishes `bytes` as the state; a refusal (state_busy) is a warning, the old state stays.
inline void publish(venom::DaemonChannel& d, ServeOutput& out, const std::string& bytes) {
    std::error_code ec;
    d.write_data(bytes.data(), bytes.size(), ec);
    if (ec)
        out.warning(
            ec == venom::errc::state_busy ? "state_busy" : "message_too_large",
            "could not publish " + std::to_string(bytes.size()) + " bytes: " + ec.message());
}

/// Stdin mode: each line (without its '\n') is published; a line over data_size is skipped
/// with a warning (counted as it streams, never held). At EOF: returns (serving goes on), or
/// with exit_on_eof stops the daemon.
inline void feed_lines(venom::DaemonChannel& d, ServeOutput& out, const ServeSettings& s,
                       std::atomic<bool>& stopping) {
    const std::size_t cap = s.config.data_size;
    std::string line;
    std::uint64_t skipped_length = 0; // > 0: the current line is over cap and being skipped
    std::vector<char> buf(65536);
    auto end_line = [&] {
        if (skipped_length != 0)
            out.warning("message_too_large", "skipped a line of " + std::to_string(skipped_length) +
                                                 " bytes: over data_size " + std::to_string(cap) +
                                                 " (--data-size sets it)");
        else publish(d, out, line);
        line.clear();
        skipped_length = 0;
    };
    bool eof = false;
    while (!eof && !stopping.load(std::memory_order_relaxed)) {
        pollfd p{STDIN_FILENO, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(stop_check.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) continue;
        if (r < 0 || (p.revents & POLLNVAL) != 0) {
            eof = true;
            break;
        }
        const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            if (n < 0)
                out.warning("system_failure", std::string("reading stdin: ") +
                                                  std::strerror(errno) + "; taken as its end");
            eof = true;
            break;
        }
        const char* p0 = buf.data();
        const char* end = p0 + n;
        while (p0 < end) {
            const char* nl =
                static_cast<const char*>(std::memchr(p0, '\n', static_cast<std::size_t>(end - p0)));
            const char* stop = nl != nullptr ? nl : end;
            const auto piece = static_cast<std::size_t>(stop - p0);
            if (skipped_length != 0) {
                skipped_length += piece;
            } else if (line.size() + piece > cap) {
                skipped_length = line.size() + piece;
                line.clear();
            } else {
                line.append(p0, piece);
            }
            if (nl == nullptr) break;
            end_line();
            p0 = nl + 1;
        }
    }
    if (!eof) return;                                     // stopped
    if (!line.empty() || skipped_length != 0) end_line(); // a last line without its '\n'
    if (s.exit_on_eof) {
        stopping.store(true, std::memory_order_relaxed);
        d.stop();
    }
}

/// What identifies one version of the state file.
struct FileVersion {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileVersion& o) const noexcept {
        return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
    bool operator!=(const FileVersion& o) const noexcept { return !(*this == o); }
};
inline FileVersion version_of(const struct stat& st) noexcept {
    FileVersion v;
    v.dev = st.st_dev;
    v.ino = st.st_ino;
    v.size = st.st_size;
    v.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return v;
}

/// --state-file mode: FILE is looked at every poll_interval and published whole when its
/// (device, inode, size, mtime) change. Missing, not a regular file, unreadable or over
/// data_size: a warning (once per version), and the last state stays.
inline void feed_file(venom::DaemonChannel& d, ServeOutput& out, const ServeSettings& s,
                      std::atomic<bool>& stopping) {
    const std::size_t cap = s.config.data_size;
    const std::string& path = s.state_file;
    FileVersion last;
    bool have_last = false;
    std::string problem_said; // the last warning, not repeated while it holds
    auto say = [&](const char* code, const std::string& text) {
        if (text != problem_said) out.warning(code, text);
        problem_said = text;
    };
    std::string bytes;
    while (!stopping.load(std::memory_order_relaxed)) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            say("state_file", "cannot look at --state-file " + path + ": " + std::strerror(errno) +
                                  "; the last state stays");
        } else if (!have_last || version_of(st) != last) {
            // Opened without blocking (a FIFO would block a plain open), then judged by fstat
            // of what was opened: the file may be replaced between stat and open.
            const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
            struct stat fst {};
            if (fd < 0 || ::fstat(fd, &fst) != 0) {
                say("state_file", "cannot open --state-file " + path + ": " + std::strerror(errno) +
                                      "; the last state stays");
            } else if (!S_ISREG(fst.st_mode)) {
                say("state_file",
                    "--state-file " + path + " is not a regular file; the last state stays");
                last = version_of(fst);
                have_last = true;
            } else {
                last = version_of(fst);
                have_last = true;
                // Read to its end, but never more than cap + 1 bytes (one more: too big).
                bytes.resize(cap + 1);
                std::size_t n = 0;
                bool failed = false;
                while (n < bytes.size()) {
                    const ssize_t r = ::read(fd, &bytes[n], bytes.size() - n);
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0) failed = true;
                    if (r <= 0) break;
                    n += static_cast<std::size_t>(r);
                }
                if (failed) {
                    say("state_file", "reading --state-file " + path + ": " + std::strerror(errno) +
                                          "; the last state stays");
                    have_last = false; // try again
                } else if (n > cap) {
                    say("message_too_large", "--state-file " + path + " has " +
                                                 std::to_string(fst.st_size) +
                                                 " bytes, over data_size " + std::to_string(cap) +
                                                 " (--data-size sets it); the last state stays");
                } else {
                    bytes.resize(n);
                    publish(d, out, bytes);
                    problem_said.clear();
                }
            }
            if (fd >= 0) ::close(fd);
        }
        // The next look, in slices short enough to see a stop.
        const auto next = std::chrono::steady_clock::now() + s.poll_interval;
        while (!stopping.load(std::memory_order_relaxed)) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= next) break;
            std::this_thread::sleep_for(
                std::min<std::chrono::steady_clock::duration>(next - now, stop_check));
        }
    }
}

/// The --exec handler: one child per request (subprocess.hpp); its exit code decides the
/// answer. Runs on the run() thread.
class ExecHandler {
public:
    ExecHandler(const ServeSettings& s, const std::atomic<bool>& stopping)
        : s_(s), stopping_(stopping), env_(base_environment()) {
        limits_.stdout_cap = s.config.max_response_size;
        limits_.stderr_keep = stderr_quoted;
        limits_.timeout = s.exec_timeout;
    }

    std::string operator()(std::uint32_t client, venom::ByteView cmd) {
        std::vector<std::string> env = env_;
        env.push_back("VENOM_CHANNEL=" + s_.name);
        env.push_back("VENOM_CLIENT=" + std::to_string(client));
        ChildResult r = run_child({"/bin/sh", "-c", s_.exec_command}, env, cmd.data(), cmd.size(),
                                  limits_, stopping_);
        const std::string who = quoted_command(s_.exec_command);
        switch (r.end) {
        case ChildResult::End::exited:
            if (r.status == 0) return std::move(r.out);
            r.err = printable(std::move(r.err));
            throw std::runtime_error(who + " exited with " + std::to_string(r.status) +
                                     (r.err.empty() ? " (nothing on stderr)" : ": " + r.err));
        case ChildResult::End::signalled:
            throw std::runtime_error(who + " was killed by signal " + std::to_string(r.status));
        case ChildResult::End::timed_out:
            throw std::runtime_error(who + " timed out after " +
                                     std::to_string(s_.exec_timeout.count()) +
                                     " ms (killed; --exec-timeout sets the limit)");
        case ChildResult::End::output_too_large:
            // message_too_large travels as itself (DaemonChannel::run keeps that code).
            throw venom::error(venom::errc::message_too_large,
                               who + " wrote more than " + std::to_string(limits_.stdout_cap) +
                                   " bytes (max_response_size; --max-response-size sets it)");
        case ChildResult::End::cancelled:
            throw std::runtime_error(who + " was stopped: venom serve is shutting down");
        case ChildResult::End::failed_to_start: break;
        }
        throw std::runtime_error(r.error);
    }

private:
    const ServeSettings& s_;
    const std::atomic<bool>& stopping_;
    std::vector<std::string> env_;
    ChildLimits limits_;
};

/// At scope exit: tells serve's threads to end, then joins one (so that no path out of
/// serve(), an exception included, leaves a thread running or waits for one that was not told).
struct Joiner {
    std::thread& t;
    std::atomic<bool>& stopping;
    std::atomic<bool>& finished;
    ~Joiner() {
        stopping.store(true, std::memory_order_relaxed);
        finished.store(true, std::memory_order_relaxed);
        if (t.joinable()) t.join();
    }
};

#endif // !_WIN32

} // namespace serve_detail

/// Runs `venom serve`: returns the exit code (0 after SIGINT/SIGTERM or --exit-on-eof).
/// Throws venom::error from DaemonChannel::create (channel_exists, invalid_config,
/// permission_denied, out_of_memory...), which the caller turns into its exit code.
inline int serve(const ServeSettings& s) {
#ifdef _WIN32
    (void)s;
    throw std::runtime_error("venom serve is not supported on Windows yet");
#else
    using namespace serve_detail;
    ensure_standard_fds();
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    // Before any thread exists (they inherit the mask), and before the channel exists (a
    // signal from now on is kept pending for the watcher, never lost, never default-killing
    // us with the files left behind).
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    ServeOutput out(s.json);
    venom::DaemonChannel daemon = venom::DaemonChannel::create(s.name, s.config);
    out.serving(s.name, static_cast<long>(::getpid()));

    std::atomic<bool> stopping{false};
    std::atomic<bool> finished{false};
    std::atomic<int> stop_signal{0};
    std::thread watcher([&] {
        const timespec slice{0, static_cast<long>(stop_check.count()) * 1000000L};
        while (!finished.load(std::memory_order_relaxed)) {
            siginfo_t info{};
            const int sig = ::sigtimedwait(&stop_signals, &info, &slice);
            if (sig == SIGINT || sig == SIGTERM) {
                stop_signal.store(sig, std::memory_order_relaxed);
                stopping.store(true, std::memory_order_relaxed);
                daemon.stop();
                return;
            }
        }
    });
    Joiner join_watcher{watcher, stopping, finished};
    std::thread feeder([&] {
        if (s.state_file.empty()) feed_lines(daemon, out, s, stopping);
        else feed_file(daemon, out, s, stopping);
    });
    Joiner join_feeder{feeder, stopping, finished};

    std::size_t answered = 0;
    if (s.mode == ServeSettings::Mode::echo) {
        daemon.run([&](std::uint32_t, venom::ByteView cmd) {
            ++answered;
            return cmd.to_string();
        });
    } else {
        ExecHandler exec(s, stopping);
        daemon.run([&](std::uint32_t client, venom::ByteView cmd) {
            ++answered;
            return exec(client, cmd);
        });
    }
    const int sig = stop_signal.load(std::memory_order_relaxed);
    std::string why = sig == SIGINT    ? "SIGINT"
                      : sig == SIGTERM ? "SIGTERM"
                                       : "end of stdin (--exit-on-eof)";
    why += ", " + std::to_string(answered) + " request" + (answered == 1 ? "" : "s") + " answered";
    if (unreaped_children() != 0)
        why += "; " + std::to_string(unreaped_children()) +
               " child(ren) did not end after SIGKILL and are left unreaped";
    out.stopped(s.name, why);
    return 0;
#endif
}

} // namespace venom_cli
