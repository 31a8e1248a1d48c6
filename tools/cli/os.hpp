// SPDX-License-Identifier: BSL-1.0
// tools/cli/os.hpp - the operating-system calls the `venom` tool makes, with a POSIX half and a
// Win32 half, so the rest of the tool (venom_cli.cpp, color.hpp, top.hpp, wait.hpp) has none.
//
// Design note. Each function below has one declaration and two bodies, chosen by _WIN32; the
// behaviour the tool relies on is the same on both, and where it is not, the comment says so:
//   stdout_is_terminal()  POSIX: isatty(1). Win32: stdout is a console (GetConsoleMode), and
//                         that console takes ANSI escape codes: ENABLE_VIRTUAL_TERMINAL_
//                         PROCESSING is switched on (Windows 10 1511+); a console that refuses
//                         it counts as no terminal, so nothing ever prints raw escape codes.
//   executable_dir()      POSIX: readlink /proc/self/exe. Win32: GetModuleFileNameA.
//   is_executable(path)   POSIX: access(X_OK). Win32: the file exists and is not a directory.
//   executable_suffix     "" / ".exe": what a program's file name ends with.
//   hand_over(argv)       run another program in our place: POSIX execv (returns only when it
//                         could not start it); Win32 has no exec that keeps the console's wait
//                         (_execv starts a new process and ends ours, so a shell would see us
//                         end early), so it runs the program, waits for it and returns its
//                         exit code; main then exits with it.
//   run_and_wait(argv, stdout_to_stderr)
//                         POSIX posix_spawn + waitpid; Win32 CreateProcessA (inheriting the
//                         standard handles) + WaitForSingleObject. The wait lasts as long as the
//                         program runs (bench: as long as the benchmark), like a shell's; Ctrl-C
//                         reaches it as well as us (one terminal, one console).
//   make_temp_file()      POSIX mkstemp in /tmp; Win32 GetTempFileNameA in GetTempPathA.
//   catch_interrupts()    POSIX sigaction SIGINT and SIGTERM, SIGPIPE ignored (so `| head`
//                         gives a write error, seen by ferror, not a kill). Win32
//                         SetConsoleCtrlHandler for Ctrl-C and Ctrl-Break (no SIGPIPE there: a
//                         closed pipe is a write error already). Both set `interrupted`.
//   local_time(t)         POSIX localtime_r; Win32 localtime_s (the thread-safe forms).
//   binary_stdout()       POSIX nothing; Win32 _setmode(_O_BINARY), so `read --raw` writes the
//                         bytes as they are (text mode turns each \n into \r\n: the tool's text
//                         output keeps CRLF line ends on Windows, as Windows programs do).
// Sleeping needs no half of its own: std::this_thread::sleep_for works on both (mingw-w64's
// posix threads included), and wait.hpp's sleep_until_or_stop slices it to see `interrupted`.
//
// The flag. `interrupted` is a lock-free std::atomic<int>: the POSIX handler runs on whatever
// thread the signal interrupts, the Win32 handler on a thread the system makes for it, so a
// plain volatile int would be a data race on Windows; a lock-free atomic may be written from a
// signal handler (C++17 [support.signal]). Relaxed order: it is a flag, nothing is published
// through it.
#pragma once

#include <atomic>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#else
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>

#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;
#endif

namespace venom_cli::os {

/// Set (to 1) by Ctrl-C, and on POSIX by SIGINT or SIGTERM, once catch_interrupts() ran.
using StopFlag = std::atomic<int>;
static_assert(StopFlag::is_always_lock_free, "the interrupt flag is written by a signal handler");
inline StopFlag interrupted{0};

/// What a program's file name ends with on this system.
#ifdef _WIN32
inline constexpr const char* executable_suffix = ".exe";
#else
inline constexpr const char* executable_suffix = "";
#endif

/// A program that could not be started, or the exit code of one that ran.
struct RunResult {
    bool started = false;         ///< false: it could not be started (`error` says why)
    std::optional<int> exit_code; ///< empty: it did not start, or did not exit normally
    std::string error;            ///< why exit_code is empty
};

#ifdef _WIN32

namespace detail {
/// One argument quoted for CreateProcess's command line, as CommandLineToArgvW and the C
/// runtime's argv parser read it back: backslashes before a quote doubled, quotes escaped.
inline std::string quote_argument(const std::string& a) {
    if (!a.empty() && a.find_first_of(" \t\n\v\"") == std::string::npos) return a;
    std::string q = "\"";
    std::size_t backslashes = 0;
    for (const char c : a) {
        if (c == '\\') {
            ++backslashes;
            continue;
        }
        if (c == '"') q.append(backslashes * 2 + 1, '\\');
        else q.append(backslashes, '\\');
        backslashes = 0;
        q += c;
    }
    q.append(backslashes * 2, '\\');
    q += '"';
    return q;
}

inline std::string last_error_text(DWORD code) {
    char buf[512];
    const DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                   nullptr, code, 0, buf, sizeof buf, nullptr);
    std::string s(buf, n);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '.')) s.pop_back();
    return s.empty() ? "Windows error " + std::to_string(code) : s;
}

inline BOOL WINAPI on_console_event(DWORD event) {
    if (event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT) {
        interrupted.store(1, std::memory_order_relaxed);
        return TRUE; // handled: the loops see the flag and end cleanly
    }
    return FALSE; // closing the console, logoff, shutdown: the default (end the process)
}
} // namespace detail

inline bool stdout_is_terminal() {
    const HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD mode = 0;
    if (out == INVALID_HANDLE_VALUE || out == nullptr || GetConsoleMode(out, &mode) == 0)
        return false; // a pipe, a file, NUL
    if ((mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0) return true;
    return SetConsoleMode(out, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0;
}

inline std::string executable_dir() {
    char buf[MAX_PATH * 4];
    const DWORD n = GetModuleFileNameA(nullptr, buf, sizeof buf);
    if (n == 0 || n >= sizeof buf) return ".";
    const std::string p(buf, n);
    const auto sep = p.find_last_of("\\/");
    return sep == std::string::npos ? "." : p.substr(0, sep);
}

inline bool is_executable(const std::string& path) {
    const DWORD a = GetFileAttributesA(path.c_str());
    return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) == 0;
}

inline RunResult run_and_wait(const std::vector<std::string>& argv, bool stdout_to_stderr) {
    RunResult r;
    if (argv.empty()) {
        r.error = "no program to run";
        return r;
    }
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + detail::quote_argument(a);
    STARTUPINFOA si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    si.hStdOutput = stdout_to_stderr ? si.hStdError : GetStdHandle(STD_OUTPUT_HANDLE);
    PROCESS_INFORMATION pi{};
    std::fflush(stdout);
    std::fflush(stderr);
    if (CreateProcessA(argv[0].c_str(), line.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr,
                       &si, &pi) == 0) {
        r.error = detail::last_error_text(GetLastError());
        return r;
    }
    r.started = true;
    CloseHandle(pi.hThread);
    WaitForSingleObject(pi.hProcess, INFINITE); // as long as the program runs (see the top)
    DWORD code = 0;
    if (GetExitCodeProcess(pi.hProcess, &code) != 0) r.exit_code = static_cast<int>(code);
    else r.error = detail::last_error_text(GetLastError());
    CloseHandle(pi.hProcess);
    return r;
}

inline RunResult hand_over(const std::vector<std::string>& argv) {
    return run_and_wait(argv, false);
}

inline std::optional<std::string> make_temp_file(std::string& error) {
    char dir[MAX_PATH + 1];
    const DWORD n = GetTempPathA(sizeof dir, dir);
    if (n == 0 || n > sizeof dir) {
        error = "no temporary directory: " + detail::last_error_text(GetLastError());
        return std::nullopt;
    }
    char path[MAX_PATH + 1];
    if (GetTempFileNameA(dir, "vnb", 0, path) == 0) { // creates the file, empty
        error = std::string("cannot create a temporary file in ") + dir + ": " +
                detail::last_error_text(GetLastError());
        return std::nullopt;
    }
    return std::string(path);
}

inline std::tm local_time(std::time_t t) {
    std::tm tm{};
    localtime_s(&tm, &t);
    return tm;
}

inline void catch_interrupts() { SetConsoleCtrlHandler(detail::on_console_event, TRUE); }

inline void binary_stdout() {
    std::fflush(stdout);
    _setmode(_fileno(stdout), _O_BINARY);
}

#else // POSIX

namespace detail {
extern "C" inline void on_stop_signal(int) { interrupted.store(1, std::memory_order_relaxed); }

inline std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}
} // namespace detail

inline bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) != 0; }

inline std::string executable_dir() {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    const std::string p(buf, static_cast<std::size_t>(n));
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? "." : p.substr(0, slash);
}

inline bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

inline RunResult run_and_wait(const std::vector<std::string>& argv, bool stdout_to_stderr) {
    RunResult r;
    if (argv.empty()) {
        r.error = "no program to run";
        return r;
    }
    std::vector<std::string> args = argv;
    std::vector<char*> cargv = detail::c_argv(args);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdout_to_stderr) posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    pid_t pid = -1;
    std::fflush(stdout);
    std::fflush(stderr);
    const int rc = ::posix_spawn(&pid, args[0].c_str(), &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        r.error = std::strerror(rc);
        return r;
    }
    r.started = true;
    int st = 0;
    // As long as the program runs (see the top); EINTR: a signal came, wait on.
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    else r.error = "killed by signal " + std::to_string(WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return r;
}

inline RunResult hand_over(const std::vector<std::string>& argv) {
    RunResult r;
    if (argv.empty()) {
        r.error = "no program to run";
        return r;
    }
    std::vector<std::string> args = argv;
    std::vector<char*> cargv = detail::c_argv(args);
    std::fflush(stdout);
    std::fflush(stderr);
    ::execv(args[0].c_str(), cargv.data());
    r.error = std::strerror(errno); // execv returns only when it failed
    return r;
}

inline std::optional<std::string> make_temp_file(std::string& error) {
    char tmpl[] = "/tmp/venom_bench_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) {
        error = std::string("cannot create a temporary file in /tmp: ") + std::strerror(errno);
        return std::nullopt;
    }
    ::close(fd);
    return std::string(tmpl);
}

inline std::tm local_time(std::time_t t) {
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
}

inline void catch_interrupts() {
    struct sigaction sa {};
    sa.sa_handler = detail::on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

inline void binary_stdout() {}

#endif

} // namespace venom_cli::os
