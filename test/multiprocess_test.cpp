// SPDX-License-Identifier: BSL-1.0
// test/multiprocess_test.cpp - venom across processes: daemons and shells in child processes
// (this binary re-run in a role via spawn_self), crashes (SIGKILL) on either side, slot reuse,
// many concurrent shells, and a large state read by other processes under a busy writer.
//
// Conventions:
//   - every child gets a pipe as stdin and one as stdout (Proc below); children print one-line
//     reports "key=value ..." and read commands from stdin; EOF on stdin means "parent gone".
//     (Windows: anonymous pipes passed as the child's standard handles.)
//   - every child has a Watchdog: it stops (or exits) if its parent dies or a time limit passes,
//     so a failing or killed test never leaves processes behind. (Windows: the parent's pid
//     comes from spawn_self's environment variable, its death from a process handle.)
//   - synchronisation is by pipes, state versions and connect_when_up, never by sleeping; the few
//     sleeps below only widen a window that any interleaving must survive, or pace a writer.
//   - every wait is bounded: requests carry time limits, pipes are read with limits, children
//     are waited for with Child::wait's limit.
#include "test_support.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#if !defined(_WIN32)
#include <fcntl.h>
#include <poll.h>
#endif

using namespace venom_test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

long elapsed_us(Clock::time_point since) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count());
}
long elapsed_ms(Clock::time_point since) { return elapsed_us(since) / 1000; }

// ---- line I/O over pipes -------------------------------------------------------------------

#if defined(_WIN32)
using pipe_end = HANDLE;
const pipe_end no_pipe = nullptr;
pipe_end stdin_pipe() { return GetStdHandle(STD_INPUT_HANDLE); }
pipe_end stdout_pipe() { return GetStdHandle(STD_OUTPUT_HANDLE); }
void close_pipe(pipe_end h) { CloseHandle(h); }

/// Reads one line (without '\n') from pipe h into `line`, waiting at most `limit`. `buf` keeps
/// what was read past the line. false on timeout or EOF (then *eof is set, if given).
/// Anonymous pipes have no overlapped I/O and no poll: PeekNamedPipe, then sleep briefly.
bool read_line_fd(HANDLE h, std::string& buf, std::string& line, std::chrono::milliseconds limit,
                  bool* eof = nullptr) {
    const auto end = Clock::now() + limit;
    for (int idle = 0;;) {
        const auto nl = buf.find('\n');
        if (nl != std::string::npos) {
            line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            return true;
        }
        DWORD avail = 0;
        if (!PeekNamedPipe(h, nullptr, 0, nullptr, &avail, nullptr)) { // writer gone: EOF
            if (eof != nullptr) *eof = true;
            return false;
        }
        if (avail == 0) {
            if (Clock::now() >= end) return false;
            // 1 ms while a line may be close, then 5 ms: idle children cost next to nothing.
            Sleep(++idle < 100 ? 1 : 5);
            continue;
        }
        idle = 0;
        char tmp[4096];
        DWORD n = 0;
        if (!ReadFile(h, tmp, std::min<DWORD>(avail, sizeof tmp), &n, nullptr) || n == 0) {
            if (eof != nullptr) *eof = true;
            return false;
        }
        buf.append(tmp, n);
    }
}

bool write_all(HANDLE h, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        DWORD n = 0;
        if (!WriteFile(h, s.data() + done, static_cast<DWORD>(s.size() - done), &n, nullptr) ||
            n == 0)
            return false; // the reader is gone (no SIGPIPE on Windows)
        done += n;
    }
    return true;
}
#else
using pipe_end = int;
constexpr pipe_end no_pipe = -1;
pipe_end stdin_pipe() { return 0; }
pipe_end stdout_pipe() { return 1; }
void close_pipe(pipe_end fd) { ::close(fd); }

/// Reads one line (without '\n') from fd into `line`, waiting at most `limit`. `buf` keeps what
/// was read past the line. false on timeout or EOF (then *eof is set, if given).
bool read_line_fd(int fd, std::string& buf, std::string& line, std::chrono::milliseconds limit,
                  bool* eof = nullptr) {
    const auto end = Clock::now() + limit;
    for (;;) {
        const auto nl = buf.find('\n');
        if (nl != std::string::npos) {
            line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            return true;
        }
        const auto now = Clock::now();
        const long long left = now >= end ? 0 : std::chrono::ceil<ms>(end - now).count();
        struct pollfd p {
            fd, POLLIN, 0
        };
        const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (r < 0 && errno != EINTR) return false;
        if (r == 0 && Clock::now() >= end) return false;
        if (r <= 0) continue;
        char tmp[4096];
        const ssize_t n = ::read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { // EOF or error
            if (eof != nullptr) *eof = true;
            return false;
        }
        buf.append(tmp, static_cast<std::size_t>(n));
    }
}

bool write_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}
#endif

/// Child side: one report line on stdout.
void say(const std::string& line) { (void)write_all(stdout_pipe(), line + "\n"); }

/// Child side: one command line from stdin (false on EOF: the parent is gone, or timeout).
bool hear(std::string& line, std::chrono::milliseconds limit) {
    static std::string buf;
    return read_line_fd(stdin_pipe(), buf, line, limit);
}

/// "a=1 b=two" -> {a: 1, b: two}
std::map<std::string, std::string> fields(const std::string& line) {
    std::map<std::string, std::string> out;
    std::istringstream in(line);
    std::string word;
    while (in >> word) {
        const auto eq = word.find('=');
        if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return out;
}
long field_long(const std::map<std::string, std::string>& f, const std::string& key) {
    const auto it = f.find(key);
    return it == f.end() ? -1 : std::stol(it->second);
}

#if !defined(_WIN32)
void ignore_sigpipe() {
    static const bool done = [] {
        ::signal(SIGPIPE, SIG_IGN); // a write to a dead child's stdin fails instead of killing us
        return true;
    }();
    (void)done;
}
#endif

/// A child process started with spawn_self whose stdin and stdout are pipes to this process.
/// Linux: the pipes are put on fds 0 and 1 only for the duration of spawn_self (the child
/// inherits them); every descriptor this process keeps is close-on-exec, so no other child
/// inherits it. Windows: anonymous pipes whose child ends alone are inheritable, and only until
/// spawn_self passed them as the child's standard handles (children are started from one
/// thread, so no other child inherits them).
class Proc {
public:
#if defined(_WIN32)
    Proc(const std::string& role, const std::vector<std::string>& args) {
        SECURITY_ATTRIBUTES sa{};
        sa.nLength = sizeof sa;
        sa.bInheritHandle = FALSE;
        HANDLE in_r = nullptr, in_w = nullptr, out_r = nullptr, out_w = nullptr;
        if (!CreatePipe(&in_r, &in_w, &sa, 0)) throw std::runtime_error("CreatePipe failed");
        if (!CreatePipe(&out_r, &out_w, &sa, 0)) {
            CloseHandle(in_r);
            CloseHandle(in_w);
            throw std::runtime_error("CreatePipe failed");
        }
        // The child's stderr: ours, as an inheritable duplicate (none if we have none).
        HANDLE err = nullptr;
        const HANDLE my_err = GetStdHandle(STD_ERROR_HANDLE);
        if (my_err != nullptr && my_err != INVALID_HANDLE_VALUE &&
            !DuplicateHandle(GetCurrentProcess(), my_err, GetCurrentProcess(), &err, 0, TRUE,
                             DUPLICATE_SAME_ACCESS))
            err = nullptr;
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        auto close_child_ends = [&] {
            CloseHandle(in_r);
            CloseHandle(out_w);
            if (err != nullptr) CloseHandle(err);
        };
        if (!SetHandleInformation(in_r, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) ||
            !SetHandleInformation(out_w, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
            close_child_ends();
            CloseHandle(in_w);
            CloseHandle(out_r);
            throw std::runtime_error("SetHandleInformation failed");
        }
        const HANDLE std_handles[3] = {in_r, out_w, err};
        try {
            child_ = spawn_self(role, args, std_handles);
        } catch (...) {
            close_child_ends();
            CloseHandle(in_w);
            CloseHandle(out_r);
            throw;
        }
        close_child_ends();
        in_ = in_w;
        out_ = out_r;
    }
#else
    Proc(const std::string& role, const std::vector<std::string>& args) {
        ignore_sigpipe();
        int in[2], out[2];
        if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        if (::pipe2(out, O_CLOEXEC) != 0) {
            ::close(in[0]);
            ::close(in[1]);
            throw std::runtime_error("pipe2 failed");
        }
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        const int save0 = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
        const int save1 = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
        ::dup2(in[0], 0); // dup2 leaves the new descriptor inheritable
        ::dup2(out[1], 1);
        auto restore = [&] {
            if (save0 >= 0) ::dup2(save0, 0);
            else ::close(0);
            if (save1 >= 0) ::dup2(save1, 1);
            else ::close(1);
            if (save0 >= 0) ::close(save0);
            if (save1 >= 0) ::close(save1);
            ::close(in[0]);
            ::close(out[1]);
        };
        try {
            child_ = spawn_self(role, args);
        } catch (...) {
            restore();
            ::close(in[1]);
            ::close(out[0]);
            throw;
        }
        restore();
        in_ = in[1];
        out_ = out[0];
    }
#endif
    Proc(const Proc&) = delete;
    Proc& operator=(const Proc&) = delete;
    ~Proc() {
        close_input();
        if (out_ != no_pipe) close_pipe(out_);
        // child_'s destructor kills the process if it is still running
    }

    /// The next report line of the child, or nullopt on timeout / EOF.
    std::optional<std::string> line(std::chrono::milliseconds limit = 30s) {
        std::string l;
        if (!read_line_fd(out_, buf_, l, limit, &eof_)) return std::nullopt;
        return l;
    }
    /// The next report line that starts with `prefix` (skipping others).
    std::optional<std::string> line_starting(const std::string& prefix,
                                             std::chrono::milliseconds limit = 30s) {
        const auto end = Clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<ms>(end - Clock::now());
            if (left.count() < 0) return std::nullopt;
            auto l = line(left);
            if (!l) return std::nullopt;
            if (l->rfind(prefix, 0) == 0) return l;
        }
    }
    bool tell(const std::string& command) {
        return in_ != no_pipe && write_all(in_, command + "\n");
    }
    /// Whether the child's stdout has ended (it exited or closed it).
    bool eof() const { return eof_; }
    void close_input() {
        if (in_ != no_pipe) close_pipe(in_);
        in_ = no_pipe;
    }
    /// Bounded wait for the exit code (-signal if killed by one); throws after killing it if the
    /// child is still running at the limit.
    /// Closes the child's stdin first: EOF tells every role to finish.
    int wait(std::chrono::milliseconds limit = 60s) {
        close_input();
        return child_.wait(limit);
    }
    void kill(int sig = SIGKILL) { child_.kill(sig); }
    auto pid() const { return child_.pid(); }

private:
    Child child_;
    pipe_end in_ = no_pipe;
    pipe_end out_ = no_pipe;
    std::string buf_;
    bool eof_ = false;
};

/// Child side: fires once if the parent process dies or `limit` passes. The default action
/// exits the process; a custom one (a daemon's stop()) gets a grace period to let the role
/// return by itself, then the process exits anyway.
class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds limit, std::function<void()> on_fire = {})
        : parent_(open_parent()),
          end_(Clock::now() + limit),
          on_fire_(std::move(on_fire)),
          thread_([this] { loop(); }) {}
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> g(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
#if defined(_WIN32)
        if (parent_ != nullptr) CloseHandle(parent_);
#endif
    }
    bool fired() const { return fired_.load(); }

private:
#if defined(_WIN32)
    using parent_t = HANDLE;
    /// A handle to wait on for the parent's end; null if the parent is unknown or already gone
    /// (then parent_alive() says whether it was known at all).
    static HANDLE open_parent() {
        const DWORD pid = parent_pid();
        return pid == 0 ? nullptr : OpenProcess(SYNCHRONIZE, FALSE, pid);
    }
    bool parent_alive() const {
        if (parent_ == nullptr) return parent_pid() == 0; // unknown: only the time limit counts
        return WaitForSingleObject(parent_, 0) == WAIT_TIMEOUT;
    }
#else
    using parent_t = pid_t;
    static pid_t open_parent() { return ::getppid(); }
    bool parent_alive() const { return ::getppid() == parent_; }
#endif
    void loop() {
        std::unique_lock<std::mutex> g(mutex_);
        while (!done_) {
            cv_.wait_for(g, 20ms);
            if (done_) return;
            const bool parent_ok = parent_alive();
            if (parent_ok && Clock::now() < end_) continue;
            fired_ = true;
            std::fprintf(stderr, "venom test child %d: %s, giving up\n", getpid_portable(),
                         parent_ok ? "time limit reached" : "parent died");
            if (!on_fire_) std::_Exit(97);
            on_fire_();
            if (!cv_.wait_for(g, 3s, [&] { return done_; })) std::_Exit(97);
            return;
        }
    }
    const parent_t parent_;
    const Clock::time_point end_;
    std::function<void()> on_fire_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_; // last: starts after the members it uses
};

std::string text(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

/// The bytes with control characters as \xNN, for messages.
std::string printable(const std::vector<std::uint8_t>& v) {
    std::string out;
    for (std::uint8_t c : v) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
            out += hex;
        }
    }
    return out;
}

/// Waits for the daemon's first state (it publishes right after create, and a shell may connect
/// in between).
std::string first_state(venom::ShellChannel& shell, std::chrono::milliseconds limit = 10s) {
    const auto end = Clock::now() + limit;
    while (shell.version() == 0) {
        if (Clock::now() > end) throw std::runtime_error("no state published in time");
        shell.wait_for_update(0, 100ms);
    }
    return text(shell.read_data());
}

/// Runs a daemon's run() loop on a thread of this process; stops and joins on destruction.
class DaemonThread {
public:
    template <class Handler>
    DaemonThread(const std::string& name, const venom::ChannelConfig& config, Handler handler)
        : daemon_(venom::DaemonChannel::create(name, config)) {
        thread_ = std::thread([this, handler]() mutable { daemon_.run(handler); });
    }
    ~DaemonThread() {
        daemon_.stop();
        thread_.join();
    }
    venom::DaemonChannel& daemon() { return daemon_; }

private:
    venom::DaemonChannel daemon_;
    std::thread thread_;
};

/// The in-process daemons' handler: "ping" -> "pong", "who" -> the client id, "slow" -> sleeps
/// 200 ms (raising *slow_seen first), anything else is echoed.
struct EchoHandler {
    std::atomic<int>* slow_seen = nullptr;
    std::vector<std::uint8_t> operator()(std::uint32_t client, venom::ByteView cmd) const {
        if (cmd == "ping") return {'p', 'o', 'n', 'g'};
        if (cmd == "who") {
            const std::string s = std::to_string(client);
            return {s.begin(), s.end()};
        }
        if (cmd == "slow") {
            if (slow_seen != nullptr) slow_seen->fetch_add(1);
            std::this_thread::sleep_for(200ms);
            return {'s', 'l', 'o', 'w', '-', 'd', 'o', 'n', 'e'};
        }
        return cmd.to_vector();
    }
};

/// Shell options for this process's shells: every request is bounded, even without a timeout.
venom::ShellOptions bounded() {
    venom::ShellOptions o;
    o.request_timeout = 30s;
    return o;
}

venom::errc code_of(const venom::error& e) { return static_cast<venom::errc>(e.code().value()); }

// ---- deterministic pseudo-random bytes -------------------------------------------------------

std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// ---- the stress protocol (case 2) ------------------------------------------------------------
// request 'R': [0]='R' [1..4] shell index [5..12] seq [13..16] payload length, then the payload
//              (splitmix bytes seeded by index and seq; length random, up to max_cmd_size).
// answer:      the request bytes, then the client id (4 bytes), then
//              fnv1a(request, seeded with fnv1a(client id)) (8 bytes); or "ERR:..." on a check.
// hello 'H' + index: binds the client id to the shell index; the daemon publishes "go" once
// every shell said hello. 'Q': statistics. 'S': stop.
constexpr std::size_t stress_header = 17;

template <class T> void put(std::uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }
template <class T> T get(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t payload_seed(std::uint32_t index, std::uint64_t seq) {
    return (std::uint64_t{index} << 40) ^ seq ^ 0x5eed5eed5eedull;
}

/// Fills out[0, max_cmd) with request (index, seq); returns its length.
std::size_t make_request(std::uint8_t* out, std::size_t max_cmd, std::uint32_t index,
                         std::uint64_t seq) {
    std::uint64_t x = payload_seed(index, seq);
    const std::uint64_t max_payload = max_cmd - stress_header;
    const auto plen = static_cast<std::uint32_t>(splitmix(x) % (max_payload + 1));
    out[0] = 'R';
    put(out + 1, index);
    put(out + 5, seq);
    put(out + 13, plen);
    std::uint8_t* p = out + stress_header;
    for (std::uint32_t i = 0; i < plen; i += 8) {
        const std::uint64_t r = splitmix(x);
        std::memcpy(p + i, &r, std::min<std::uint32_t>(8, plen - i));
    }
    return stress_header + plen;
}

std::uint64_t answer_checksum(std::uint32_t client, const std::uint8_t* cmd, std::size_t n) {
    return fnv1a(cmd, n, fnv1a(&client, sizeof client));
}

// ---- the big state (case 3) ------------------------------------------------------------------
// Version v of the state: 64-bit words w[i] = v * K + i. A copy mixing two versions fails the
// check; a copy whose words match another version than the one read_data reported fails too.
constexpr std::uint64_t golden = 0x9E3779B97F4A7C15ull;
constexpr std::size_t big_state_bytes = std::size_t{1} << 20;
constexpr std::size_t big_state_words = big_state_bytes / 8;
static_assert(big_state_words % 4 == 0, "the fill and check loops take 4 words at a time");

// The fill and check loops are the hot path of case 3; keep them fast in Debug builds too.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE__)
#pragma GCC push_options
#pragma GCC optimize("O2")
#endif
// Unrolled by four with `i` as the only induction variable: GCC 12 makes slow vector code of the
// plain `w[i] = base + i` loop (~70 us per MiB here; this form: ~20 us), and miscompiles (at -O3)
// the form with four separate counters e0..e3 += 4: it stores e0, e1, e0, e1, ...
void fill_version(std::uint64_t* w, std::size_t n, std::uint64_t v) {
    const std::uint64_t base = v * golden;
    for (std::size_t i = 0; i + 4 <= n; i += 4) {
        w[i] = base + i;
        w[i + 1] = base + i + 1;
        w[i + 2] = base + i + 2;
        w[i + 3] = base + i + 3;
    }
}
/// true when every word is w[0] + i. \pre n % 4 == 0
bool consistent(const std::uint64_t* w, std::size_t n) {
    const std::uint64_t base = w[0];
    std::uint64_t bad0 = 0, bad1 = 0, bad2 = 0, bad3 = 0;
    for (std::size_t i = 0; i + 4 <= n; i += 4) {
        bad0 |= w[i] ^ (base + i);
        bad1 |= w[i + 1] ^ (base + i + 1);
        bad2 |= w[i + 2] ^ (base + i + 2);
        bad3 |= w[i + 3] ^ (base + i + 3);
    }
    return (bad0 | bad1 | bad2 | bad3) == 0;
}
#if defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE__)
#pragma GCC pop_options
#endif

} // namespace

// =============================================================================================
// Child roles
// =============================================================================================

/// A daemon: publishes "state-1", then serves: "ping" -> "pong", "stop" -> stops,
/// "hang" -> publishes "got-hang" and never answers (sleeps until killed or its watchdog fires),
/// "slow" -> answers after 200 ms, "who" -> client id, else echo.
/// args: name max_clients cmd_slots
VENOM_CHILD_ROLE(echo_daemon) {
    venom::ChannelConfig config{4096, static_cast<std::uint32_t>(std::stoul(args.at(2))),
                                static_cast<std::uint32_t>(std::stoul(args.at(1)))};
    auto daemon = venom::DaemonChannel::create(args.at(0), config);
    Watchdog dog(120s, [&daemon] { daemon.stop(); });
    daemon.write_data("state-1");
    daemon.run([&](std::uint32_t client, venom::ByteView cmd) -> std::string {
        if (cmd == "ping") return "pong";
        if (cmd == "stop") {
            daemon.stop();
            return "stopping";
        }
        if (cmd == "hang") {
            daemon.write_data("got-hang");
            for (int i = 0; i < 6000 && !dog.fired(); ++i) std::this_thread::sleep_for(10ms);
            return "hang-done";
        }
        if (cmd == "slow") {
            std::this_thread::sleep_for(200ms);
            return "slow-done";
        }
        if (cmd == "who") return std::to_string(client);
        return cmd.to_string();
    });
    return dog.fired() ? 3 : 0;
}

/// The stress daemon (case 2). Checks per client id that the commands of that client arrive in
/// sending order and intact; answers a deterministic function of (client id, command).
/// args: name cmd_slots shells max_cmd_size
VENOM_CHILD_ROLE(stress_daemon) {
    const std::string name = args.at(0);
    const auto slots = static_cast<std::uint32_t>(std::stoul(args.at(1)));
    const auto shells = static_cast<std::uint32_t>(std::stoul(args.at(2)));
    const auto max_cmd = static_cast<std::uint32_t>(std::stoul(args.at(3)));
    venom::ChannelConfig config{64, slots, 16};
    config.max_cmd_size = max_cmd;
    config.max_response_size = max_cmd + 64;
    auto daemon = venom::DaemonChannel::create(name, config);
    Watchdog dog(240s, [&daemon] { daemon.stop(); });
    daemon.write_data("wait"); // version 1; "go" (version 2) once every shell said hello

    struct ClientState {
        bool bound = false;
        std::uint32_t shell = 0;
        std::uint64_t next = 0; ///< the sequence number expected next
    };
    std::vector<ClientState> clients(config.max_clients);
    std::vector<bool> hello_from(shells, false);
    std::uint32_t hellos = 0;
    std::uint64_t handled = 0, errors = 0;
    std::vector<std::uint8_t> expect(max_cmd);

    daemon.run([&](std::uint32_t client, venom::ByteView cmd, venom::ResponseWriter& out) {
        auto fail = [&](const std::string& why) {
            ++errors;
            if (errors <= 5)
                std::fprintf(stderr, "stress_daemon: client %u: %s\n", client, why.c_str());
            out.assign("ERR:", 4);
            out.append(why);
        };
        if (cmd.empty()) return fail("empty command");
        ClientState& cs = clients.at(client);
        switch (cmd[0]) {
        case 'H': {
            if (cmd.size() != 5) return fail("bad hello");
            const auto index = get<std::uint32_t>(cmd.data() + 1);
            if (index >= shells) return fail("bad shell index in hello");
            cs = ClientState{true, index, 0};
            if (!hello_from[index]) {
                hello_from[index] = true;
                if (++hellos == shells) daemon.write_data("go");
            }
            out.append("hello");
            return;
        }
        case 'R': {
            ++handled;
            if (cmd.size() < stress_header) return fail("short request");
            const auto index = get<std::uint32_t>(cmd.data() + 1);
            const auto seq = get<std::uint64_t>(cmd.data() + 5);
            const auto plen = get<std::uint32_t>(cmd.data() + 13);
            if (!cs.bound) return fail("request before hello");
            if (index != cs.shell)
                return fail("request of shell " + std::to_string(index) +
                            " on the client id of shell " + std::to_string(cs.shell));
            if (seq != cs.next)
                return fail("out of order: seq " + std::to_string(seq) + ", expected " +
                            std::to_string(cs.next));
            cs.next = seq + 1;
            if (stress_header + plen != cmd.size()) return fail("length mismatch");
            const std::size_t n = make_request(expect.data(), max_cmd, index, seq);
            if (n != cmd.size() || std::memcmp(expect.data(), cmd.data(), n) != 0)
                return fail("payload corrupted, seq " + std::to_string(seq));
            const std::uint64_t sum = answer_checksum(client, cmd.data(), cmd.size());
            out.append(cmd.data(), cmd.size());
            out.append(&client, sizeof client);
            out.append(&sum, sizeof sum);
            return;
        }
        case 'Q': {
            out.append("handled=" + std::to_string(handled) + " errors=" + std::to_string(errors) +
                       " hellos=" + std::to_string(hellos));
            return;
        }
        case 'S':
            daemon.stop();
            out.append("stopping");
            return;
        default: return fail("unknown command");
        }
    });
    if (dog.fired()) return 3;
    return errors == 0 ? 0 : 1;
}

/// A stress shell (case 2): hello, wait for "go", then `count` distinct requests, each answer
/// checked against its own request. args: name index count
VENOM_CHILD_ROLE(stress_shell) {
    const std::string name = args.at(0);
    const auto index = static_cast<std::uint32_t>(std::stoul(args.at(1)));
    const auto count = static_cast<std::uint64_t>(std::stoull(args.at(2)));
    Watchdog dog(240s);
    venom::ShellOptions options;
    options.request_timeout = 60s;
    auto shell = connect_when_up(name, options);
    const std::uint32_t me = shell.client_id();
    const std::size_t max_cmd = shell.config().max_cmd_size;
    std::vector<std::uint8_t> cmd(max_cmd), resp(shell.config().max_response_size);

    std::uint8_t hello[5] = {'H', 0, 0, 0, 0};
    put(hello + 1, index);
    std::size_t rn = shell.request(hello, sizeof hello, resp.data(), resp.size());
    if (std::string(resp.begin(), resp.begin() + static_cast<long>(rn)) != "hello") {
        std::fprintf(stderr, "stress_shell %u: bad hello answer\n", index);
        return 1;
    }
    const auto go_deadline = Clock::now() + 60s;
    while (shell.version() < 2) {
        if (Clock::now() > go_deadline) {
            std::fprintf(stderr, "stress_shell %u: no \"go\" in time\n", index);
            return 2;
        }
        shell.wait_for_update(1, 100ms);
    }

    const auto start = Clock::now();
    std::uint64_t bad = 0;
    for (std::uint64_t seq = 0; seq < count; ++seq) {
        const std::size_t n = make_request(cmd.data(), max_cmd, index, seq);
        rn = shell.request(cmd.data(), n, resp.data(), resp.size());
        const std::uint8_t* r = resp.data();
        bool ok = rn == n + 12 && std::memcmp(r, cmd.data(), n) == 0 &&
                  get<std::uint32_t>(r + n) == me &&
                  get<std::uint64_t>(r + n + 4) == answer_checksum(me, cmd.data(), n);
        if (!ok) {
            ++bad;
            if (bad <= 5) {
                const std::string head(reinterpret_cast<const char*>(r),
                                       std::min<std::size_t>(rn, 60));
                std::fprintf(stderr,
                             "stress_shell %u (client %u): seq %llu: wrong answer (%zu bytes, "
                             "expected %zu): %s\n",
                             index, me, static_cast<unsigned long long>(seq), rn, n + 12,
                             head.rfind("ERR:", 0) == 0 ? head.c_str() : "(not an error marker)");
            }
        }
    }
    say("done shell=" + std::to_string(index) + " client=" + std::to_string(me) +
        " requests=" + std::to_string(count) + " bad=" + std::to_string(bad) +
        " us=" + std::to_string(elapsed_us(start)));
    return bad == 0 ? 0 : 1;
}

/// A reader of the big state (case 3): `reads` reads, each checked word by word.
/// Reports "progress reads=N" every 100,000 reads, then "result reads= torn= errors= versions=
/// us=". args: name reads
VENOM_CHILD_ROLE(state_reader) {
    const std::string name = args.at(0);
    const long reads = std::stol(args.at(1));
    Watchdog dog(200s);
    auto shell = connect_when_up(name);
    const auto first_deadline = Clock::now() + 20s;
    while (shell.version() == 0) {
        if (Clock::now() > first_deadline) return 2;
        shell.wait_for_update(0, 100ms);
    }
    std::vector<std::uint64_t> buf(big_state_words);
    long torn = 0, errors = 0, versions = 0, short_reads = 0;
    std::uint64_t last = ~std::uint64_t{0};
    const auto start = Clock::now();
    for (long r = 0; r < reads; ++r) {
        std::error_code ec;
        std::uint64_t version = 0;
        const std::size_t n = shell.read_data(buf.data(), big_state_bytes, ec, &version);
        if (ec) {
            if (++errors <= 3)
                std::fprintf(stderr, "state_reader: read_data: %s\n", ec.message().c_str());
            continue;
        }
        if (n != big_state_bytes) {
            ++short_reads;
            continue;
        }
        if (!consistent(buf.data(), big_state_words) || buf[0] != version * golden) {
            if (++torn <= 3) {
                std::size_t at = 0;
                while (at < big_state_words && buf[at] == buf[0] + at) ++at;
                std::fprintf(stderr,
                             "state_reader: torn or mislabelled copy of version %llu: word 0 is "
                             "version %s, first inconsistent word %zu of %zu\n",
                             static_cast<unsigned long long>(version),
                             buf[0] == version * golden ? "right" : "WRONG", at, big_state_words);
            }
            continue;
        }
        if (version != last) {
            ++versions;
            last = version;
        }
        if ((r + 1) % 100000 == 0) say("progress reads=" + std::to_string(r + 1));
    }
    const long us = elapsed_us(start);
    say("result reads=" + std::to_string(reads) + " torn=" + std::to_string(torn) +
        " errors=" + std::to_string(errors + short_reads) +
        " versions=" + std::to_string(versions) + " us=" + std::to_string(us));
    return torn == 0 && errors == 0 && short_reads == 0 && versions > 1 ? 0 : 1;
}

/// Connects, reports "id=N", checks one request, then holds its slot until it reads "exit" (or
/// EOF) on stdin, and disconnects normally. args: name
VENOM_CHILD_ROLE(holder_shell) {
    Watchdog dog(120s);
    auto shell = venom::ShellChannel::connect(args.at(0));
    const std::string who = text(shell.request(std::string_view("who"), 10s));
    if (who != std::to_string(shell.client_id())) {
        std::fprintf(stderr, "holder_shell: \"who\" answered %s, client id %u\n", who.c_str(),
                     shell.client_id());
        return 1;
    }
    say("id=" + std::to_string(shell.client_id()));
    std::string command;
    while (hear(command, 120s)) {
        if (command == "exit") break;
        if (command == "ping") say("answer=" + text(shell.request(std::string_view("ping"), 10s)));
    }
    return 0;
}

/// Tries to connect once; reports "id=N" or "error=<errc value>". args: name
VENOM_CHILD_ROLE(connect_once) {
    Watchdog dog(60s);
    try {
        auto shell = venom::ShellChannel::connect(args.at(0));
        say("id=" + std::to_string(shell.client_id()));
    } catch (const venom::error& e) {
        say("error=" + std::to_string(e.code().value()));
    }
    return 0;
}

/// Connects, reports "id=N", then "sending" and sends "slow" (expects to be killed meanwhile).
/// args: name
VENOM_CHILD_ROLE(slow_requester) {
    Watchdog dog(60s);
    auto shell = venom::ShellChannel::connect(args.at(0));
    say("id=" + std::to_string(shell.client_id()));
    say("sending");
    const std::string a = text(shell.request(std::string_view("slow"), 30s));
    say("answer=" + a);
    return 0;
}

/// Connects, reports "id=N", sends `count` distinct echo requests and checks each answer is its
/// own. Reports "done bad=K", then keeps its slot until "exit" or EOF on stdin. args: name count
VENOM_CHILD_ROLE(echo_shell) {
    Watchdog dog(60s);
    auto shell = venom::ShellChannel::connect(args.at(0));
    say("id=" + std::to_string(shell.client_id()));
    const long count = std::stol(args.at(1));
    long bad = 0;
    for (long i = 0; i < count; ++i) {
        const std::string cmd = "echo-" + std::to_string(getpid_portable()) + "-" +
                                std::to_string(i) +
                                std::string(static_cast<std::size_t>(i % 50), 'x');
        const std::string a = text(shell.request(cmd, 10s));
        if (a != cmd && ++bad <= 3)
            std::fprintf(stderr, "echo_shell: sent %s, got %s\n", cmd.c_str(), a.c_str());
    }
    say("done bad=" + std::to_string(bad));
    std::string command; // keep the slot until told (or the parent is gone)
    while (hear(command, 60s) && command != "exit") {}
    return bad == 0 ? 0 : 1;
}

/// Connects with a long daemon_check (so only the daemon's close can wake it quickly), reports
/// "sending", sends a request nobody answers, and reports how it ended:
/// "result=<errc value> ms=<time blocked>". args: name
VENOM_CHILD_ROLE(gone_waiter) {
    Watchdog dog(60s);
    venom::ShellOptions options;
    options.daemon_check = 5s;
    auto shell = venom::ShellChannel::connect(args.at(0), options);
    say("sending");
    const auto start = Clock::now();
    int result = 0;
    try {
        (void)shell.request(std::string_view("nobody-answers"), 20s);
    } catch (const venom::error& e) {
        result = e.code().value();
    }
    say("result=" + std::to_string(result) + " ms=" + std::to_string(elapsed_ms(start)));
    return 0;
}

/// A daemon that only publishes, never calls run(): writes "state-1", then for each stdin line
/// "publish" writes "state-<next version>" and reports "published v=N"; "quit" or EOF ends it.
/// args: name
VENOM_CHILD_ROLE(publisher_daemon) {
    venom::ChannelConfig config{4096, 4, 8};
    auto daemon = venom::DaemonChannel::create(args.at(0), config);
    Watchdog dog(120s);
    daemon.write_data("state-1");
    std::string command;
    while (hear(command, 120s)) {
        if (command == "quit") break;
        if (command == "publish") {
            daemon.write_data("state-" + std::to_string(daemon.version() + 1));
            say("published v=" + std::to_string(daemon.version()));
        }
    }
    return 0;
}

/// Follows a publish-only daemon with wait_for_update/read_data until it reads "state-<last>".
/// Each read must carry the content of the version it reports. Reports "ready v=N" once
/// connected and "done updates=K v=N". args: name last
VENOM_CHILD_ROLE(follow_reader) {
    Watchdog dog(120s);
    const long last = std::stol(args.at(1));
    auto shell = connect_when_up(args.at(0));
    (void)first_state(shell);
    std::vector<char> buf(shell.config().data_size);
    auto read = [&](std::uint64_t& version) {
        std::error_code ec;
        const std::size_t n = shell.read_data(buf.data(), buf.size(), ec, &version);
        if (ec) throw venom::error(ec, "read_data");
        return std::string(buf.data(), n);
    };
    std::uint64_t seen = 0;
    std::string s = read(seen);
    if (s != "state-" + std::to_string(seen)) {
        std::fprintf(stderr, "follow_reader: version %llu holds \"%s\"\n",
                     static_cast<unsigned long long>(seen), s.c_str());
        return 1;
    }
    say("ready v=" + std::to_string(seen));
    long updates = 0;
    const auto end = Clock::now() + 60s;
    while (s != "state-" + std::to_string(last)) {
        if (Clock::now() > end) {
            std::fprintf(stderr, "follow_reader: stuck at version %llu\n",
                         static_cast<unsigned long long>(seen));
            return 2;
        }
        if (!shell.wait_for_update(seen, 1s)) continue;
        std::uint64_t v = 0;
        s = read(v);
        if (v <= seen || s != "state-" + std::to_string(v)) {
            std::fprintf(stderr, "follow_reader: after version %llu read version %llu = \"%s\"\n",
                         static_cast<unsigned long long>(seen), static_cast<unsigned long long>(v),
                         s.c_str());
            return 1;
        }
        seen = v;
        ++updates;
    }
    say("done updates=" + std::to_string(updates) + " v=" + std::to_string(seen));
    return 0;
}

// =============================================================================================
// Test cases
// =============================================================================================

// 1. The seed scenario across two processes.
BOOST_AUTO_TEST_CASE(seed_ping_pong_with_daemon_process) {
    ChannelName name("mp_seed");
    Proc daemon("echo_daemon", {name.str(), "4", "16"});
    auto shell = connect_when_up(name, bounded());
    BOOST_TEST(shell.client_id() == 0u);
    BOOST_TEST(first_state(shell) == "state-1");
    BOOST_TEST(text(shell.request(std::string_view("ping"), 10s)) == "pong");
    BOOST_TEST(text(shell.request("ping")) == "pong");
    char resp[16];
    const std::size_t n = shell.request("ping", 4, resp, sizeof resp, 10s);
    BOOST_TEST(std::string(resp, n) == "pong");
    BOOST_TEST(text(shell.request(std::string_view("stop"), 10s)) == "stopping");
    BOOST_TEST(daemon.wait(20s) == 0);
    BOOST_TEST(channel_files_gone_after_close(name));
    // The shell keeps its mapping but sees the channel closed.
    BOOST_CHECK_EXCEPTION(
        shell.request(std::string_view("ping"), 5s), venom::error,
        [](const venom::error& e) { return code_of(e) == venom::errc::daemon_gone; });
    { venom::ShellChannel closing = std::move(shell); }
    BOOST_TEST(!channel_files_exist(name)); // the last shell closed: nothing at all is left
}

// 1b. A string literal sent with a time limit is the same command as without one. (The
// request(const char*) overload drops the literal's NUL; request(const Bytes&, timeout) takes the
// literal as a char[N] array and sends its NUL too, so "ping" arrives as "ping\0".)
BOOST_AUTO_TEST_CASE(literal_request_with_timeout_sends_no_nul) {
    ChannelName name("mp_lit");
    Proc daemon("echo_daemon", {name.str(), "4", "16"});
    auto shell = connect_when_up(name, bounded());
    BOOST_TEST(text(shell.request("ping")) == "pong");
    const auto with_limit = shell.request("ping", 10s);
    BOOST_TEST(with_limit.size() == 4u);
    BOOST_TEST(text(with_limit) == "pong", "request(\"ping\", 10s) was answered \""
                                               << printable(with_limit) << "\" ("
                                               << with_limit.size() << " bytes)");
    BOOST_TEST(text(shell.request(std::string_view("stop"), 10s)) == "stopping");
    BOOST_TEST(daemon.wait(20s) == 0);
}

// 2. 8 shell processes x 10,000 distinct requests each, against a daemon process.
namespace {
void many_shells(std::uint32_t cmd_slots) {
    ChannelName name("mp_many");
    constexpr int shells = 8;
    const long count = scaled(10000);
    const std::uint32_t max_cmd = 1024;
    Proc daemon("stress_daemon", {name.str(), std::to_string(cmd_slots), std::to_string(shells),
                                  std::to_string(max_cmd)});
    const auto start = Clock::now();
    std::vector<std::unique_ptr<Proc>> children;
    for (int i = 0; i < shells; ++i)
        children.push_back(std::make_unique<Proc>(
            "stress_shell",
            std::vector<std::string>{name.str(), std::to_string(i), std::to_string(count)}));
    std::vector<bool> clients_seen(16, false);
    for (int i = 0; i < shells; ++i) {
        const auto report = children[static_cast<std::size_t>(i)]->line_starting("done", 200s);
        BOOST_TEST_CONTEXT("shell " << i) {
            BOOST_TEST(report.has_value());
            if (report) {
                const auto f = fields(*report);
                BOOST_TEST(field_long(f, "bad") == 0);
                BOOST_TEST(field_long(f, "requests") == count);
                const long client = field_long(f, "client");
                BOOST_TEST((client >= 0 && client < 16));
                if (client >= 0 && client < 16) {
                    BOOST_TEST(!clients_seen[static_cast<std::size_t>(client)]); // distinct ids
                    clients_seen[static_cast<std::size_t>(client)] = true;
                }
            }
            BOOST_TEST(children[static_cast<std::size_t>(i)]->wait(30s) == 0);
        }
    }
    const long total_ms = elapsed_ms(start);
    auto shell = venom::ShellChannel::connect(name.str(), bounded());
    const auto stats = fields(text(shell.request(std::string("Q"), 10s)));
    BOOST_TEST(field_long(stats, "handled") == shells * count);
    BOOST_TEST(field_long(stats, "errors") == 0);
    BOOST_TEST(field_long(stats, "hellos") == shells);
    BOOST_TEST(text(shell.request(std::string("S"), 10s)) == "stopping");
    BOOST_TEST(daemon.wait(20s) == 0);
    BOOST_TEST(channel_files_gone_after_close(name));
    { venom::ShellChannel closing = std::move(shell); }
    BOOST_TEST(!channel_files_exist(name)); // the last shell closed: nothing at all is left
    BOOST_TEST_MESSAGE("cmd_slots " << cmd_slots << ": " << shells << " shells x " << count
                                    << " requests in " << total_ms << " ms ("
                                    << (total_ms > 0 ? shells * count * 1000 / total_ms : 0)
                                    << " requests/s)");
}
} // namespace

BOOST_AUTO_TEST_CASE(eight_shells_small_queue) { many_shells(4); }
BOOST_AUTO_TEST_CASE(eight_shells_large_queue) { many_shells(128); }

// 3. A writer rewriting a 1 MiB state while 2 reader processes check >= 1,000,000 reads.
BOOST_AUTO_TEST_CASE(big_state_never_torn_across_processes) {
    ChannelName name("mp_state");
    venom::ChannelConfig config{big_state_bytes, 4, 4};
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    std::vector<std::uint64_t> words(big_state_words);
    fill_version(words.data(), words.size(), 1);
    // The generator and the checker agree (a miscompiled loop would make every read "torn").
    BOOST_REQUIRE(consistent(words.data(), words.size()));
    BOOST_REQUIRE(words[0] == golden && words[big_state_words - 1] == golden + big_state_words - 1);
    words[12345] ^= 1;
    BOOST_REQUIRE(!consistent(words.data(), words.size()));
    words[12345] ^= 1;
    daemon.write_data(words.data(), big_state_bytes);

    const long total = scaled(1000000);
    const long per_reader[2] = {total / 2, total - total / 2};
    const auto start = Clock::now();
    Proc r0("state_reader", {name.str(), std::to_string(per_reader[0])});
    Proc r1("state_reader", {name.str(), std::to_string(per_reader[1])});
    Proc* readers[2] = {&r0, &r1};
    std::optional<std::string> report[2];
    std::string progress[2] = {"progress reads=0", "progress reads=0"};
    bool ended[2] = {false, false};
    const auto limit = 150s;
    bool out_of_time = false;
    std::uint64_t writes = 1;
    while (!(ended[0] && ended[1])) {
        const std::uint64_t v = daemon.version() + 1;
        fill_version(words.data(), words.size(), v);
        daemon.write_data(words.data(), big_state_bytes);
        ++writes;
        // A short pause per version leaves the readers most of the 2 cores (a write of 1 MiB
        // takes ~70 us, so this still publishes thousands of versions a second). Each wake-up
        // also preempts a reader, often mid-copy: the case where the writer laps its buffer.
        std::this_thread::sleep_for(200us);
        for (int i = 0; i < 2; ++i) {
            if (ended[i]) continue;
            while (auto l = readers[i]->line(0ms)) {
                if (l->rfind("result", 0) == 0) {
                    report[i] = l;
                    ended[i] = true;
                    break;
                }
                progress[i] = *l;
            }
            if (readers[i]->eof()) ended[i] = true; // a reader that died has ended too
        }
        if (Clock::now() - start > limit) {
            out_of_time = true;
            break;
        }
    }
    const long total_us = elapsed_us(start);
    BOOST_TEST(!out_of_time, "the readers did not finish within the time limit");
    long reads = 0, torn = 0, errors = 0, max_us = 1;
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST_CONTEXT("reader " << i) {
            BOOST_TEST(report[i].has_value(), "no result; its last report: " << progress[i]);
            if (!report[i]) continue;
            const auto f = fields(*report[i]);
            BOOST_TEST(field_long(f, "reads") == per_reader[i]);
            BOOST_TEST(field_long(f, "torn") == 0);
            BOOST_TEST(field_long(f, "errors") == 0);
            BOOST_TEST(field_long(f, "versions") > 1);
            reads += std::max(0L, field_long(f, "reads"));
            torn += field_long(f, "torn");
            errors += field_long(f, "errors");
            max_us = std::max(max_us, field_long(f, "us"));
            BOOST_TEST_MESSAGE("reader " << i << ": " << *report[i]);
            BOOST_TEST(readers[i]->wait(30s) == 0);
        }
    }
    BOOST_TEST(reads >= total);
    BOOST_TEST(torn == 0);
    const auto per_second =
        static_cast<long>(static_cast<double>(reads) * 1e6 / static_cast<double>(max_us));
    BOOST_TEST_MESSAGE("1 MiB state: " << reads << " reads by 2 processes in " << max_us / 1000
                                       << " ms = " << per_second << " reads/s, torn " << torn
                                       << ", errors " << errors << "; writer: " << writes
                                       << " versions in " << total_us / 1000 << " ms");
}

// 4. A shell that exits normally frees its slot; the next shell gets that id; max_clients = 2.
BOOST_AUTO_TEST_CASE(disconnected_slot_is_reused) {
    ChannelName name("mp_reuse");
    DaemonThread d(name, venom::ChannelConfig{256, 8, 2}, EchoHandler{});
    Proc a("holder_shell", {name.str()});
    const auto ida = a.line();
    BOOST_REQUIRE(ida.has_value());
    Proc b("holder_shell", {name.str()});
    const auto idb = b.line();
    BOOST_REQUIRE(idb.has_value());
    const long a_id = field_long(fields(*ida), "id"), b_id = field_long(fields(*idb), "id");
    BOOST_TEST(((a_id == 0 && b_id == 1) || (a_id == 1 && b_id == 0)));

    // Both slots held: a third connection is refused.
    {
        Proc full("connect_once", {name.str()});
        const auto r = full.line();
        BOOST_TEST((r && field_long(fields(*r), "error") ==
                             static_cast<long>(venom::errc::too_many_clients)));
        BOOST_TEST(full.wait(20s) == 0);
    }
    BOOST_TEST(b.tell("ping"));
    BOOST_TEST(b.line().value_or("") == "answer=pong");

    // A exits normally: its slot is free again and the next shell gets exactly that id.
    BOOST_TEST(a.tell("exit"));
    BOOST_TEST(a.wait(20s) == 0);
    Proc c("holder_shell", {name.str()});
    const auto idc = c.line();
    BOOST_REQUIRE(idc.has_value());
    BOOST_TEST(field_long(fields(*idc), "id") == a_id);

    // Both taken again: a fourth gets too_many_clients (in a child, and here too).
    Proc e("connect_once", {name.str()});
    const auto r = e.line();
    BOOST_TEST(
        (r && field_long(fields(*r), "error") == static_cast<long>(venom::errc::too_many_clients)));
    BOOST_TEST(e.wait(20s) == 0);
    BOOST_CHECK_EXCEPTION(
        venom::ShellChannel::connect(name.str(), bounded()), venom::error,
        [](const venom::error& x) { return code_of(x) == venom::errc::too_many_clients; });
    BOOST_TEST(c.tell("ping"));
    BOOST_TEST(c.line().value_or("") == "answer=pong");
    BOOST_TEST(b.tell("exit"));
    BOOST_TEST(c.tell("exit"));
    BOOST_TEST(b.wait(20s) == 0);
    BOOST_TEST(c.wait(20s) == 0);
    // Both gone: this process gets a slot.
    auto shell = venom::ShellChannel::connect(name.str(), bounded());
    BOOST_TEST(text(shell.request(std::string_view("ping"), 10s)) == "pong");
}

// 5a. A shell killed (SIGKILL) while connected: the OS releases its lock and the slot is reused.
BOOST_AUTO_TEST_CASE(killed_shell_slot_is_reused) {
    ChannelName name("mp_kill");
    DaemonThread d(name, venom::ChannelConfig{256, 8, 2}, EchoHandler{});
    auto mine = venom::ShellChannel::connect(name.str(), bounded());
    BOOST_TEST(mine.client_id() == 0u);
    Proc victim("holder_shell", {name.str()});
    const auto id = victim.line();
    BOOST_REQUIRE(id.has_value());
    BOOST_TEST(field_long(fields(*id), "id") == 1);
    BOOST_CHECK_EXCEPTION(
        venom::ShellChannel::connect(name.str(), bounded()), venom::error,
        [](const venom::error& x) { return code_of(x) == venom::errc::too_many_clients; });

    victim.kill(SIGKILL);
    BOOST_TEST(victim.wait(20s) == -SIGKILL);
    // It never disconnected, but its lock died with it: slot 1 is claimable at once.
    Proc next("echo_shell", {name.str(), "100"});
    const auto id2 = next.line();
    BOOST_REQUIRE(id2.has_value());
    BOOST_TEST(field_long(fields(*id2), "id") == 1);
    BOOST_TEST(next.line().value_or("") == "done bad=0");
    BOOST_TEST(next.wait(20s) == 0);
    // And once more from this process (the freed slot again).
    auto again = venom::ShellChannel::connect(name.str(), bounded());
    BOOST_TEST(again.client_id() == 1u);
    BOOST_TEST(text(again.request(std::string_view("who"), 10s)) == "1");
    BOOST_TEST(text(mine.request(std::string_view("ping"), 10s)) == "pong");
}

// 5b. Shells killed while waiting for their answer (one in the handler, one queued behind it)
// do not disturb the daemon; their slots are reused and never get their stale answers.
BOOST_AUTO_TEST_CASE(shell_killed_while_waiting_does_not_disturb_daemon) {
    ChannelName name("mp_killwait");
    std::atomic<int> slow_seen{0};
    DaemonThread d(name, venom::ChannelConfig{256, 8, 3}, EchoHandler{&slow_seen});
    auto mine = venom::ShellChannel::connect(name.str(), bounded());
    BOOST_TEST(mine.client_id() == 0u);

    Proc s1("slow_requester", {name.str()});
    BOOST_TEST(s1.line().value_or("") == "id=1");
    BOOST_TEST(s1.line().value_or("") == "sending");
    BOOST_REQUIRE(eventually([&] { return slow_seen.load() >= 1; }, 10s)); // the handler runs
    // While the daemon sleeps in s1's handler, s2 queues its "slow" behind it.
    Proc s2("slow_requester", {name.str()});
    BOOST_TEST(s2.line().value_or("") == "id=2");
    BOOST_TEST(s2.line().value_or("") == "sending");
    std::this_thread::sleep_for(5ms); // widens the window; any interleaving must pass
    s1.kill(SIGKILL);
    s2.kill(SIGKILL);
    BOOST_TEST(s1.wait(20s) == -SIGKILL);
    BOOST_TEST(s2.wait(20s) == -SIGKILL);

    // The daemon goes on serving (after the slow handlers it is busy with).
    const auto t0 = Clock::now();
    BOOST_TEST(text(mine.request(std::string_view("ping"), 10s)) == "pong");
    BOOST_TEST_MESSAGE("first answer after the kills: " << elapsed_ms(t0) << " ms");
    // New shells take the dead shells' slots and get only their own answers.
    Proc e1("echo_shell", {name.str(), "300"});
    Proc e2("echo_shell", {name.str(), "300"});
    const auto i1 = e1.line(), i2 = e2.line();
    BOOST_REQUIRE((i1 && i2));
    const long id1 = field_long(fields(*i1), "id"), id2 = field_long(fields(*i2), "id");
    BOOST_TEST(((id1 == 1 && id2 == 2) || (id1 == 2 && id2 == 1)),
               "the new shells reported \"" << *i1 << "\" and \"" << *i2 << "\"");
    BOOST_TEST(e1.line().value_or("") == "done bad=0");
    BOOST_TEST(e2.line().value_or("") == "done bad=0");
    BOOST_TEST(e1.wait(20s) == 0);
    BOOST_TEST(e2.wait(20s) == 0);
    BOOST_TEST(text(mine.request(std::string_view("slow"), 10s)) == "slow-done");
    BOOST_TEST(slow_seen.load() >= 2);
    BOOST_TEST(text(mine.request(std::string_view("ping"), 10s)) == "pong");
}

// 6a. The daemon process is SIGKILLed while this process is blocked in request(): daemon_gone
// within 1 s; then a new daemon takes the name over and a new shell connects to it.
BOOST_AUTO_TEST_CASE(daemon_killed_while_shell_waits) {
    ChannelName name("mp_dkill");
    Proc daemon("echo_daemon", {name.str(), "4", "8"});
    auto shell = connect_when_up(name, bounded()); // default daemon_check: 20 ms
    BOOST_TEST(first_state(shell) == "state-1");
    BOOST_TEST(text(shell.request(std::string_view("ping"), 10s)) == "pong");

    std::atomic<long> kill_at_us{-1};
    const auto base = Clock::now();
    std::thread killer([&] {
        // The daemon publishes "got-hang" (version 2) when it holds our request unanswered.
        if (eventually([&] { return shell.version() >= 2; }, 10s)) {
            kill_at_us = elapsed_us(base);
            daemon.kill(SIGKILL);
        }
    });
    venom::errc got{};
    try {
        (void)shell.request(std::string_view("hang"), 20s);
    } catch (const venom::error& e) {
        got = code_of(e);
    }
    const long thrown_at_us = elapsed_us(base);
    killer.join();
    BOOST_REQUIRE(kill_at_us.load() >= 0);
    BOOST_TEST(static_cast<int>(got) == static_cast<int>(venom::errc::daemon_gone));
    const long latency_ms = (thrown_at_us - kill_at_us.load()) / 1000;
    BOOST_TEST(latency_ms < 1000);
    BOOST_TEST_MESSAGE("daemon_gone " << latency_ms << " ms after SIGKILL");
    BOOST_TEST(daemon.wait(20s) == -SIGKILL);
    BOOST_TEST(channel_files_exist(name)); // a killed daemon leaves its files

    // A new daemon takes over the stale segment; a new shell connects and is served.
    {
        DaemonThread d2(name, venom::ChannelConfig{4096, 8, 4}, EchoHandler{});
        d2.daemon().write_data("second-life");
        auto fresh = venom::ShellChannel::connect(name.str(), bounded());
        BOOST_TEST(text(fresh.read_data()) == "second-life");
        BOOST_TEST(text(fresh.request(std::string_view("ping"), 10s)) == "pong");
        BOOST_TEST(text(fresh.request(std::string_view("who"), 10s)) ==
                   std::to_string(fresh.client_id()));
        Proc other("echo_shell", {name.str(), "50"});
        BOOST_TEST(other.line().has_value());
        BOOST_TEST(other.line().value_or("") == "done bad=0");
        BOOST_TEST(other.wait(20s) == 0);
    }
    BOOST_TEST(channel_files_gone_after_close(name)); // the stale shell holds the old liveness file
    { venom::ShellChannel closing = std::move(shell); }
    BOOST_TEST(!channel_files_exist(name)); // the last shell closed: nothing at all is left
}

// 6b. A daemon that stops cleanly (destroys its DaemonChannel) while a shell process waits for
// an answer: daemon_gone at once (the close wakes it; its daemon_check is 5 s).
BOOST_AUTO_TEST_CASE(daemon_closed_while_shell_waits) {
    ChannelName name("mp_dclose");
    auto daemon = std::make_unique<venom::DaemonChannel>(
        venom::DaemonChannel::create(name.str(), venom::ChannelConfig{256, 8, 4}));
    daemon->write_data("up"); // never runs: the request stays unanswered
    Proc waiter("gone_waiter", {name.str()});
    BOOST_TEST(waiter.line().value_or("") == "sending");
    // 100 ms in which the request must stay unanswered: it is blocked in request() by then.
    const auto early = waiter.line(100ms);
    BOOST_TEST(!early.has_value(),
               "the request ended before the daemon closed: " << early.value_or(""));
    const auto closed_at = Clock::now();
    daemon.reset();
    BOOST_TEST(channel_files_gone_after_close(name)); // the waiter may still hold its liveness file
    const auto result = waiter.line(10s);
    const long after_ms = elapsed_ms(closed_at);
    BOOST_REQUIRE(result.has_value());
    const auto f = fields(*result);
    BOOST_TEST(field_long(f, "result") == static_cast<long>(venom::errc::daemon_gone));
    BOOST_TEST(after_ms < 1000); // woken by the close, not by its 5 s daemon check
    BOOST_TEST_MESSAGE("daemon_gone " << after_ms << " ms after the daemon closed (blocked "
                                      << field_long(f, "ms") << " ms)");
    BOOST_TEST(waiter.wait(20s) == 0);
    BOOST_TEST(!channel_files_exist(name)); // the last shell exited: nothing at all is left
}

// 6c. A shell of a killed daemon must keep reporting daemon_gone after a new daemon has taken
// the name over (it is still mapped to the dead segment, which nobody serves), and must not keep
// a client slot of the new channel.
BOOST_AUTO_TEST_CASE(stale_shell_after_daemon_restart) {
    ChannelName name("mp_stale");
    Proc daemon("echo_daemon", {name.str(), "1", "8"});
    auto old_shell = connect_when_up(name, bounded());
    BOOST_TEST(text(old_shell.request(std::string_view("ping"), 10s)) == "pong");
    daemon.kill(SIGKILL);
    BOOST_TEST(daemon.wait(20s) == -SIGKILL);
    BOOST_CHECK_EXCEPTION(
        old_shell.request(std::string_view("ping"), 5s), venom::error,
        [](const venom::error& e) { return code_of(e) == venom::errc::daemon_gone; });

    DaemonThread d2(name, venom::ChannelConfig{4096, 8, 1}, EchoHandler{});
    // The old shell is still mapped to the dead segment: its requests can never be answered.
    const auto t0 = Clock::now();
    venom::errc got{};
    try {
        (void)old_shell.request(std::string_view("ping"), 3s);
    } catch (const venom::error& e) {
        got = code_of(e);
    }
    BOOST_TEST(static_cast<int>(got) == static_cast<int>(venom::errc::daemon_gone),
               "a request on the stale shell ended with errc " << static_cast<int>(got) << " after "
                                                               << elapsed_ms(t0)
                                                               << " ms, expected daemon_gone");
    bool waited = true;
    venom::errc wgot{};
    try {
        waited = old_shell.wait_for_update(old_shell.version(), 1s);
    } catch (const venom::error& e) {
        wgot = code_of(e);
    }
    BOOST_TEST(static_cast<int>(wgot) == static_cast<int>(venom::errc::daemon_gone),
               "wait_for_update on the stale shell returned " << waited << " (errc "
                                                              << static_cast<int>(wgot) << ")");
    // max_clients = 1: the only slot of the new channel must be free for a new shell.
    Proc fresh("connect_once", {name.str()});
    const auto r = fresh.line();
    BOOST_TEST(r.value_or("") == "id=0",
               "a new shell got \"" << r.value_or("(nothing)") << "\" while a stale shell lives");
    BOOST_TEST(fresh.wait(20s) == 0);
}

// 7. A daemon that only publishes (never calls run) serves readers in other processes.
BOOST_AUTO_TEST_CASE(publish_only_daemon_serves_readers) {
    ChannelName name("mp_pub");
    const int last = 40;
    Proc publisher("publisher_daemon", {name.str()});
    Proc f1("follow_reader", {name.str(), std::to_string(last)});
    Proc f2("follow_reader", {name.str(), std::to_string(last)});
    auto shell = connect_when_up(name, bounded());
    BOOST_TEST(first_state(shell) == "state-1");
    BOOST_TEST(f1.line_starting("ready").has_value());
    BOOST_TEST(f2.line_starting("ready").has_value());

    std::uint64_t seen = shell.version();
    for (int v = 2; v <= last; ++v) {
        BOOST_REQUIRE(publisher.tell("publish"));
        BOOST_REQUIRE(publisher.line().value_or("") == "published v=" + std::to_string(v));
        BOOST_TEST(shell.wait_for_update(seen, 10s));
        std::error_code ec;
        std::uint64_t version = 0;
        char buf[64];
        const std::size_t n = shell.read_data(buf, sizeof buf, ec, &version);
        BOOST_TEST(!ec);
        BOOST_TEST(version == static_cast<std::uint64_t>(v));
        BOOST_TEST(std::string(buf, n) == "state-" + std::to_string(v));
        seen = version;
    }
    BOOST_TEST(!shell.wait_for_update(seen, 30ms)); // nothing new: times out, returns false
    const auto d1 = f1.line_starting("done");
    const auto d2 = f2.line_starting("done");
    BOOST_TEST((d1 && field_long(fields(*d1), "v") == last));
    BOOST_TEST((d2 && field_long(fields(*d2), "v") == last));
    BOOST_TEST(f1.wait(20s) == 0);
    BOOST_TEST(f2.wait(20s) == 0);
    // Nobody runs the queue: a request times out (and does not hurt the readers).
    BOOST_CHECK_EXCEPTION(shell.request(std::string_view("ping"), 50ms), venom::error,
                          [](const venom::error& e) { return code_of(e) == venom::errc::timeout; });
    BOOST_TEST(text(shell.read_data()) == "state-" + std::to_string(last));
    BOOST_TEST(publisher.tell("quit"));
    BOOST_TEST(publisher.wait(20s) == 0);
    BOOST_TEST(channel_files_gone_after_close(name));
    // After the daemon closed: the last state stays readable, waits end with daemon_gone.
    BOOST_TEST(text(shell.read_data()) == "state-" + std::to_string(last));
    BOOST_CHECK_EXCEPTION(shell.wait_for_update(seen, 5s), venom::error, [](const venom::error& e) {
        return code_of(e) == venom::errc::daemon_gone;
    });
    { venom::ShellChannel closing = std::move(shell); }
    BOOST_TEST(!channel_files_exist(name)); // the last shell closed: nothing at all is left
}

VENOM_TEST_MAIN("multiprocess")
