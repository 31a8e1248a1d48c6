// SPDX-License-Identifier: BSL-1.0
// test/test_support.hpp - shared by venom's tests: Boost.Test set-up, unique channel names with
// RAII removal, and re-running the test binary itself as a child process (so multi-process
// tests port to Windows: no fork).
//
// A test file defines VENOM_TEST_MODULE's name, includes this header, and registers child roles:
//     VENOM_CHILD_ROLE(echo_daemon) { ... return 0; }   // args: std::vector<std::string>
// A test starts a child with venom_test::spawn_self("echo_daemon", {name, ...}).
//
// Boost.Test comes in one of three ways: the shared library (default); VENOM_TEST_HEADER_ONLY,
// the whole implementation compiled into each test (boost/test/included/unit_test.hpp: no
// library needed); VENOM_TEST_STATIC_BOOST_TEST, linked statically from a library or from one
// object compiled once, test/boost_test_impl.cpp (~30 s less per test to build: CMake's
// VENOM_TEST_HEADER_ONLY option, tools/aarch64.sh and tools/windows.sh build the tests so).
//
// Under an emulator (POSIX): VENOM_TEST_EMULATOR holds the command line that runs this binary,
// split on whitespace, e.g. "qemu-aarch64-static" or "qemu-aarch64 -L /usr/aarch64-linux-gnu".
// spawn_self puts it before the binary's path: without binfmt_misc, a foreign binary cannot
// exec another one directly (the child never runs). Unset or empty: children are exec'ed
// directly. qemu-user reports the guest binary, not itself, as /proc/self/exe, and argv[0] is
// the path it was given.
#pragma once

#if defined(VENOM_TEST_HEADER_ONLY)
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/included/unit_test.hpp>
#elif defined(VENOM_TEST_STATIC_BOOST_TEST)
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/unit_test.hpp>
#else
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/unit_test.hpp>
#endif

#include <venom/venom.hpp>

#include <boost/interprocess/mapped_region.hpp>
#if defined(_WIN32)
#include <boost/interprocess/windows_shared_memory.hpp>
#else
#include <boost/interprocess/shared_memory_object.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(_WIN32)
#include <process.h>
#include <signal.h>
#ifndef SIGKILL
#define SIGKILL 9 // Child::kill(SIGKILL) is TerminateProcess; wait() then reports -SIGKILL
#endif
inline int getpid_portable() { return static_cast<int>(GetCurrentProcessId()); }
#else
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
extern char** environ;
inline int getpid_portable() { return static_cast<int>(::getpid()); }
#endif

namespace venom_test {

using namespace std::chrono_literals;

/// Scale for stress sizes: VENOM_TEST_SCALE=0.1 shrinks, 10 grows. Default 1.
inline double scale() {
    const char* s = std::getenv("VENOM_TEST_SCALE");
    return s ? std::atof(s) : 1.0;
}
inline long scaled(long n) {
    const long v = static_cast<long>(static_cast<double>(n) * scale());
    return v < 1 ? 1 : v;
}

inline std::string& self_path() {
    static std::string p;
    return p;
}

#if defined(_WIN32)
/// The files of a channel in %TEMP% (lock file, liveness files of every incarnation).
inline std::vector<std::string> channel_files(const std::string& name) {
    std::vector<std::string> out;
    const std::string dir = venom::detail::temp_directory();
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA((dir + "venom." + name + ".*").c_str(), &fd);
    if (h == INVALID_HANDLE_VALUE) return out;
    do {
        const std::string f = fd.cFileName;
        // venom.<name>.lock or venom.<name>.<16 hex>.live, not another channel's "<name>.x"
        const std::string rest = f.substr(6 + name.size() + 1);
        if (rest == "lock" || (rest.size() == 21 && rest.substr(16) == ".live"))
            out.push_back(dir + f);
    } while (FindNextFileA(h, &fd));
    FindClose(h);
    return out;
}
inline void remove_channel_files(const std::string& name) {
    for (const auto& f : channel_files(name)) DeleteFileA(f.c_str());
}
inline bool channel_files_exist(const std::string& name) { return !channel_files(name).empty(); }
#else
/// Removes a channel's files from /dev/shm (after a test, or a dead daemon's leftovers).
inline void remove_channel_files(const std::string& name) {
    ::unlink(("/dev/shm/venom." + name + ".shm").c_str());
    ::unlink(("/dev/shm/venom." + name + ".lock").c_str());
}

inline bool channel_files_exist(const std::string& name) {
    return ::access(("/dev/shm/venom." + name + ".shm").c_str(), F_OK) == 0 ||
           ::access(("/dev/shm/venom." + name + ".lock").c_str(), F_OK) == 0;
}
#endif

/// After a daemon closed its channel cleanly: whether its files are gone, as far as the platform
/// lets a test tell. Linux: nothing of the channel is left in /dev/shm. Windows: a file deleted
/// while other handles have it open keeps its name until the last of them closes (wine, and
/// Windows without POSIX delete semantics), and every connected shell holds the liveness file
/// open; so there the lock file (the channel's name) must be gone at once, while liveness files
/// are reported with a message, not failed: a test checks channel_files_exist again once its
/// shells are closed.
inline bool channel_files_gone_after_close(const std::string& name) {
#if defined(_WIN32)
    bool lock_left = false;
    for (const auto& f : channel_files(name)) {
        if (f == venom::detail::lock_path(name)) {
            lock_left = true;
        } else {
            BOOST_TEST_MESSAGE("Windows: " << f
                                           << " was deleted but keeps its name while a shell "
                                              "still has it open");
        }
    }
    return !lock_left;
#else
    return !channel_files_exist(name);
#endif
}

/// A channel name unique to this process and call, removed from /dev/shm on destruction.
class ChannelName {
public:
    explicit ChannelName(const std::string& tag = "t") {
        static std::atomic<int> counter{0};
        name_ =
            "vt_" + tag + "_" + std::to_string(getpid_portable()) + "_" + std::to_string(counter++);
        remove_channel_files(name_);
    }
    ~ChannelName() { remove_channel_files(name_); }
    ChannelName(const ChannelName&) = delete;
    ChannelName& operator=(const ChannelName&) = delete;
    const std::string& str() const { return name_; }
    operator const std::string&() const { return name_; }
    const char* c_str() const { return name_.c_str(); }

private:
    std::string name_;
};

#if defined(_WIN32)
/// A child process running this same binary in a role; terminated if still running when
/// destroyed, so a failing test never leaves children behind.
class Child {
public:
    Child() = default;
    Child(HANDLE h, DWORD pid) : h_(h), pid_(pid) {}
    Child(Child&& o) noexcept : h_(o.h_), pid_(o.pid_), killed_(o.killed_) { o.h_ = nullptr; }
    Child& operator=(Child&& o) noexcept {
        std::swap(h_, o.h_);
        std::swap(pid_, o.pid_);
        std::swap(killed_, o.killed_);
        return *this;
    }
    ~Child() {
        if (h_ != nullptr) {
            TerminateProcess(h_, 128 + SIGKILL);
            WaitForSingleObject(h_, INFINITE);
            CloseHandle(h_);
        }
    }
    int pid() const { return static_cast<int>(pid_); }
    /// Exit code, or -SIGKILL after kill(); throws (after terminating it) if still running.
    int wait(std::chrono::milliseconds limit = 60s) {
        if (WaitForSingleObject(h_, static_cast<DWORD>(limit.count())) != WAIT_OBJECT_0) {
            TerminateProcess(h_, 1);
            WaitForSingleObject(h_, INFINITE);
            CloseHandle(h_);
            h_ = nullptr;
            throw std::runtime_error("child process did not finish in time (killed)");
        }
        DWORD code = 0;
        GetExitCodeProcess(h_, &code);
        CloseHandle(h_);
        h_ = nullptr;
        return killed_ ? -SIGKILL : static_cast<int>(code);
    }
    void kill(int = SIGKILL) {
        if (h_ != nullptr && TerminateProcess(h_, 128 + SIGKILL)) killed_ = true;
    }

private:
    HANDLE h_ = nullptr;
    DWORD pid_ = 0;
    bool killed_ = false;
};

inline std::string quote_arg(const std::string& a) {
    std::string q = "\"";
    for (char c : a) {
        if (c == '"') q += '\\';
        q += c;
    }
    return q + "\"";
}

/// The environment variable through which a child learns its parent's process id (Windows has
/// no getppid): see parent_pid().
inline const char* parent_pid_variable() { return "VENOM_TEST_PARENT_PID"; }

/// Starts this test binary as a child in `role` with `args`. With `std_handles` (stdin, stdout,
/// stderr; each must be inheritable), the child gets them as its standard handles and inherits
/// every inheritable handle of this process: keep the handles this process holds on to
/// non-inheritable (CreatePipe without bInheritHandle, then SetHandleInformation on the
/// child's ends only), so that no other child keeps a pipe end open.
inline Child spawn_self(const std::string& role, const std::vector<std::string>& args,
                        const HANDLE* std_handles = nullptr) {
    std::string cmd = quote_arg(self_path()) + " --venom-child " + quote_arg(role);
    for (const auto& a : args) cmd += " " + quote_arg(a);
    // Every child learns its parent's pid (the same for all children of this process).
    SetEnvironmentVariableA(parent_pid_variable(), std::to_string(GetCurrentProcessId()).c_str());
    STARTUPINFOA si{};
    si.cb = sizeof si;
    if (std_handles != nullptr) {
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = std_handles[0];
        si.hStdOutput = std_handles[1];
        si.hStdError = std_handles[2];
    }
    PROCESS_INFORMATION pi{};
    // wine's process creation fails now and then under a storm of kills: retry a little.
    for (int attempt = 0;
         !CreateProcessA(nullptr, cmd.data(), nullptr, nullptr,
                         std_handles != nullptr ? TRUE : FALSE, 0, nullptr, nullptr, &si, &pi);
         ++attempt) {
        if (attempt == 50)
            throw std::runtime_error("CreateProcess failed: " + std::to_string(GetLastError()));
        std::this_thread::sleep_for(20ms);
    }
    CloseHandle(pi.hThread);
    return Child(pi.hProcess, pi.dwProcessId);
}

/// In a child started by spawn_self: its parent's process id (0 if unknown).
inline DWORD parent_pid() {
    char buf[32] = {};
    const DWORD n = GetEnvironmentVariableA(parent_pid_variable(), buf, sizeof buf);
    return n > 0 && n < sizeof buf ? static_cast<DWORD>(std::strtoul(buf, nullptr, 10)) : 0;
}
#else
/// A child process running this same binary in a role; killed (SIGKILL) if still running when
/// destroyed, so a failing test never leaves children behind.
class Child {
public:
    Child() = default;
    explicit Child(pid_t pid) : pid_(pid) {}
    Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
    Child& operator=(Child&& o) noexcept {
        std::swap(pid_, o.pid_);
        return *this;
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
        }
    }
    pid_t pid() const { return pid_; }

    /// Waits at most `limit` for the child to exit; returns its exit code, -signal if killed by a
    /// signal, or throws if it is still running then (after killing it).
    int wait(std::chrono::milliseconds limit = 60s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        for (;;) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                if (WIFEXITED(st)) return WEXITSTATUS(st);
                if (WIFSIGNALED(st)) return -WTERMSIG(st);
                return -1000;
            }
            if (std::chrono::steady_clock::now() > end) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &st, 0);
                pid_ = -1;
                throw std::runtime_error("child process did not finish in time (killed)");
            }
            std::this_thread::sleep_for(1ms);
        }
    }
    void kill(int sig = SIGKILL) {
        if (pid_ > 0) ::kill(pid_, sig);
    }

private:
    pid_t pid_ = -1;
};

/// The words of VENOM_TEST_EMULATOR (see the top of this file); empty when unset.
inline std::vector<std::string> emulator_command() {
    std::vector<std::string> words;
    if (const char* e = std::getenv("VENOM_TEST_EMULATOR")) {
        std::istringstream in(e);
        for (std::string w; in >> w;) words.push_back(w);
    }
    return words;
}

/// Starts this test binary as a child in `role` with `args`, through VENOM_TEST_EMULATOR if set
/// (the child's pid is then the emulator's, which is the emulated process itself).
inline Child spawn_self(const std::string& role, const std::vector<std::string>& args) {
    std::vector<std::string> all = emulator_command();
    const bool emulated = !all.empty();
    all.insert(all.end(), {self_path(), "--venom-child", role});
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    // An emulator is looked up on PATH; this binary's own path is used as given.
    const int rc =
        emulated ? ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ)
                 : ::posix_spawn(&pid, self_path().c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
    return Child(pid);
}
#endif

using role_fn = int (*)(const std::vector<std::string>&);
inline std::map<std::string, role_fn>& roles() {
    static std::map<std::string, role_fn> r;
    return r;
}
struct role_registrar {
    role_registrar(const char* name, role_fn f) { roles()[name] = f; }
};

/// Runs f, expects a venom::error with `expected`; returns its what() ("" if none was thrown).
template <class F> std::string error_of(F&& f, venom::errc expected, const std::string& context) {
    try {
        f();
    } catch (const venom::error& e) {
        BOOST_TEST(e.code() == expected,
                   context << ": got " << e.code().message() << " (" << e.what() << ")");
        BOOST_TEST(e.code().category().name() == std::string("venom"), context);
        return e.what();
    } catch (const std::exception& e) {
        BOOST_ERROR(context << ": threw a non-venom exception: " << e.what());
        return {};
    }
    BOOST_ERROR(context << ": nothing was thrown, expected "
                        << venom::make_error_code(expected).message());
    return {};
}

inline bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

inline double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline std::string to_string(const std::vector<std::uint8_t>& v) {
    return std::string(v.begin(), v.end());
}

/// A block of type T in a plain shared-memory object of its own, for counters and commands
/// that a test shares with its child processes. The creator value-initialises it and removes
/// the object on destruction. On Windows native shared memory (Boost's shared_memory_object
/// emulation fails under wine): the creator holds it open for the children's whole life.
template <class T> class SharedBlock {
public:
    SharedBlock(const std::string& name, bool create) : name_(name), owner_(create) {
        namespace bip = boost::interprocess;
#if defined(_WIN32)
        if (create)
            shm_ = std::make_unique<bip::windows_shared_memory>(bip::create_only, name.c_str(),
                                                                bip::read_write, sizeof(T));
        else
            shm_ = std::make_unique<bip::windows_shared_memory>(bip::open_only, name.c_str(),
                                                                bip::read_write);
        region_ = bip::mapped_region(*shm_, bip::read_write);
        if (create) new (region_.get_address()) T{};
#else
        if (create) {
            bip::shared_memory_object::remove(name.c_str());
            bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write);
            shm.truncate(sizeof(T));
            region_ = bip::mapped_region(shm, bip::read_write);
            new (region_.get_address()) T{};
        } else {
            bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
            region_ = bip::mapped_region(shm, bip::read_write);
        }
#endif
    }
    ~SharedBlock() {
#if !defined(_WIN32)
        if (owner_) boost::interprocess::shared_memory_object::remove(name_.c_str());
#endif
    }
    SharedBlock(const SharedBlock&) = delete;
    SharedBlock& operator=(const SharedBlock&) = delete;
    T& operator*() { return *static_cast<T*>(region_.get_address()); }
    T* operator->() { return static_cast<T*>(region_.get_address()); }

private:
    std::string name_;
    bool owner_;
#if defined(_WIN32)
    std::unique_ptr<boost::interprocess::windows_shared_memory> shm_;
#endif
    boost::interprocess::mapped_region region_;
};

/// Runs a daemon's run() loop in a thread (an echo handler unless given one); stops and joins
/// on destruction. \note run() serves from when its thread gets there: after a stop(), call
/// daemon.poll() first if a request must not race the thread's start.
class Server {
public:
    explicit Server(venom::DaemonChannel& d)
        : Server(d, [](std::uint32_t, venom::ByteView cmd) { return cmd.to_vector(); }) {}
    template <class Handler>
    Server(venom::DaemonChannel& d, Handler h) : d_(d), t_([&d, h]() mutable { d.run(h); }) {}
    ~Server() { stop(); }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    void stop() {
        if (!t_.joinable()) return;
        d_.stop();
        t_.join();
    }

private:
    venom::DaemonChannel& d_;
    std::thread t_;
};

/// Polls `cond` every millisecond for at most `limit`. Returns whether it became true.
template <class Cond> bool eventually(Cond&& cond, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// Connects, retrying while the daemon (just spawned) is not up yet, for at most `limit`.
inline venom::ShellChannel connect_when_up(const std::string& name,
                                           const venom::ShellOptions& o = {},
                                           std::chrono::milliseconds limit = 20s) {
    venom::ShellOptions options = o;
    options.connect_timeout = limit;
    return venom::ShellChannel::connect(name, options);
}

#if defined(__linux__)
/// One mapping (VMA) of a file in this process, from /proc/self/maps (a shell's mapping of its
/// segment is cut into several by its protections).
struct Vma {
    std::uintptr_t begin = 0, end = 0;
    std::uint64_t offset = 0; ///< the file offset at `begin`
    bool writable = false;
};

/// Every mapping of the file at `path` (also once it is unlinked), sorted by address.
inline std::vector<Vma> mappings_of(const std::string& path) {
    std::vector<Vma> out;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode, file;
        in >> range >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, file);
        if (file != path && file != path + " (deleted)") continue;
        const auto dash = range.find('-');
        Vma v;
        v.begin = static_cast<std::uintptr_t>(std::stoull(range.substr(0, dash), nullptr, 16));
        v.end = static_cast<std::uintptr_t>(std::stoull(range.substr(dash + 1), nullptr, 16));
        v.offset = std::stoull(offset, nullptr, 16);
        v.writable = perms.size() > 1 && perms[1] == 'w';
        out.push_back(v);
    }
    std::sort(out.begin(), out.end(), [](const Vma& a, const Vma& b) { return a.begin < b.begin; });
    return out;
}
#endif

/// Frees what an aligned operator new gave.
struct AlignedDelete {
    std::size_t align;
    void operator()(unsigned char* p) const { ::operator delete (p, std::align_val_t{align}); }
};

/// A whole channel laid out by detail::lay_out_channel, as detail::create_segment does, but on
/// an aligned heap buffer: no shared memory, no files. The ChannelMap is built by
/// ChannelMap::validate, as a shell's is.
class HeapChannel {
public:
    explicit HeapChannel(const venom::ChannelConfig& c) : config_(c) {
        namespace vd = venom::detail;
        const vd::Sizes s = vd::Sizes::of(c);
        size_ = static_cast<std::size_t>(s.block);
        align_ = static_cast<std::size_t>(s.page);
        mem_ = std::unique_ptr<unsigned char, AlignedDelete>(
            static_cast<unsigned char*>(::operator new (size_, std::align_val_t{align_})),
            AlignedDelete{align_});
        // Garbage first: lay_out_channel must initialise every header itself.
        std::memset(mem_.get(), 0xA5, size_);
        unsigned char* base = mem_.get();
        vd::ControlBlock* cb = vd::lay_out_channel(base, c, s, size_);
        map_ = vd::ChannelMap::validate(cb, base, size_);
        cb->state.store(vd::channel_ready, std::memory_order_release);
    }
    const venom::detail::ChannelMap& map() const { return map_; }
    venom::detail::ControlBlock& cb() const { return *map_.cb; }
    /// The buffer that holds version `version` (>= 1): the writer fills buffer 0 first, then
    /// the next in turn.
    venom::detail::StateBuffer& buffer(std::uint64_t version) const {
        return map_.buffer(static_cast<std::uint32_t>((version - 1) % map_.state_buffers));
    }

private:
    venom::ChannelConfig config_;
    std::size_t size_ = 0;
    std::size_t align_ = 0;
    std::unique_ptr<unsigned char, AlignedDelete> mem_{nullptr,
                                                       AlignedDelete{venom::detail::cache_line}};
    venom::detail::ChannelMap map_;
};

/// FNV-1a, for checksummed payloads.
inline std::uint64_t fnv1a(const void* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

} // namespace venom_test

#define VENOM_CHILD_ROLE(role)                                                            \
    static int venom_child_##role(const std::vector<std::string>& args);                  \
    static venom_test::role_registrar venom_child_reg_##role(#role, &venom_child_##role); \
    static int venom_child_##role(const std::vector<std::string>& args)

/// The test binary's main: a child role when called with --venom-child, Boost.Test otherwise.
#define VENOM_TEST_MAIN(module_name)                                                 \
    static bool venom_test_init() {                                                  \
        boost::unit_test::framework::master_test_suite().p_name.value = module_name; \
        return true;                                                                 \
    }                                                                                \
    int main(int argc, char* argv[]) {                                               \
        venom_test::self_path() = argv[0];                                           \
        if (argc >= 3 && std::string(argv[1]) == "--venom-child") {                  \
            auto it = venom_test::roles().find(argv[2]);                             \
            if (it == venom_test::roles().end()) {                                   \
                std::fprintf(stderr, "unknown child role %s\n", argv[2]);            \
                return 99;                                                           \
            }                                                                        \
            try {                                                                    \
                return it->second(std::vector<std::string>(argv + 3, argv + argc));  \
            } catch (const std::exception& e) {                                      \
                std::fprintf(stderr, "child %s: %s\n", argv[2], e.what());           \
                return 98;                                                           \
            }                                                                        \
        }                                                                            \
        return boost::unit_test::unit_test_main(&venom_test_init, argc, argv);       \
    }
