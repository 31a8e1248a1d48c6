// SPDX-License-Identifier: BSL-1.0
// test/permissions_test.cpp - who may connect, and what another user can do to a channel.
//
// Who may connect: the channel's files are owner-only (segment 0600, lock file 0600) by
// default; ChannelConfig::access widens them to the group (0660 / 0640) or everyone (0666 /
// 0644: only the daemon writes the name record in its lock file).
//
// What another user can do: /dev/shm is world-writable (sticky), so any user can put a file,
// a symbolic link, a FIFO, a directory or a hard link where a channel's files go, run a daemon
// of their own under a name root wants, or leave files there that root's daemon or shell finds.
// The tests below do that as uid 65534 ("nobody") and check that root's create and connect
// answer permission_denied naming the owner (or channel_not_found), promptly, and leave the
// planted object and whatever it points to untouched (content, mode, owner, times, no lock).
//
// The other user is a child of this binary that drops root to uid/gid 65534 ("nobody") or to
// uid 65534 with the daemon's group. Whatever could hang (an open of a FIFO, a connect over a
// squatted segment) runs in a child that is waited for at most 30 s. Needs root (CI runs as
// root); skipped with a message otherwise.
#include "test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>

using namespace venom_test;

namespace {

constexpr unsigned nobody_uid = 65534;

bool is_root() { return ::geteuid() == 0; }

unsigned file_mode(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 0777;
}

std::string lock_file(const std::string& name) { return "/dev/shm/venom." + name + ".lock"; }
std::string shm_file(const std::string& name) { return "/dev/shm/venom." + name + ".shm"; }

/// Runs the "connect_as" child as uid 65534 with group `gid`; returns its exit code:
/// 0 connected, 1 permission_denied, 2 another error.
int connect_as(const std::string& name, unsigned gid) {
    Child c = spawn_self("connect_as", {name, std::to_string(gid)});
    return c.wait(30s);
}

/// In a child: become uid/gid 65534 with no supplementary groups.
bool become_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setgid(nobody_uid) == 0 && ::setuid(nobody_uid) == 0 &&
           ::geteuid() == nobody_uid;
}

/// A scratch path of this test process in /dev/shm (not a venom.* name), removed (file or
/// empty directory) on destruction.
class Scratch {
public:
    explicit Scratch(const std::string& tag) {
        static int counter = 0;
        path_ = "/dev/shm/vt_perm_" + tag + "_" + std::to_string(::getpid()) + "_" +
                std::to_string(counter++);
        remove();
    }
    ~Scratch() { remove(); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    const std::string& str() const { return path_; }
    operator const std::string&() const { return path_; }
    void remove() const {
        if (::unlink(path_.c_str()) != 0 && errno != ENOENT) ::rmdir(path_.c_str());
    }

private:
    std::string path_;
};

/// Removes a directory planted where a channel file goes (ChannelName only unlinks).
struct RmdirOnExit {
    std::string path;
    ~RmdirOnExit() { ::rmdir(path.c_str()); }
};

bool exists_no_follow(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

/// Everything an attack on a file could change: identity, type, mode, owner, links, size,
/// times (a chmod or chown moves ctime, a write mtime), a link's target, a regular file's bytes.
struct Snapshot {
    bool exists = false;
    struct stat st {};
    std::string link;
    std::string content;
};

Snapshot snapshot(const std::string& path, bool with_content = true) {
    Snapshot s;
    if (::lstat(path.c_str(), &s.st) != 0) return s;
    s.exists = true;
    if (S_ISLNK(s.st.st_mode)) {
        char buf[4096];
        const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
        if (n > 0) s.link.assign(buf, static_cast<std::size_t>(n));
    } else if (S_ISREG(s.st.st_mode) && with_content) {
        const int fd =
            ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[65536];
            ssize_t n;
            while ((n = ::read(fd, buf, sizeof buf)) > 0)
                s.content.append(buf, static_cast<std::size_t>(n));
            ::close(fd);
        }
    }
    return s;
}

bool same_time(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/// The same file, unchanged. `times_and_content` false: identity, type, mode, owner, links and
/// size only (a live daemon's segment, whose bytes and mtime move while it serves).
bool unchanged(const Snapshot& a, const Snapshot& b, bool times_and_content = true) {
    if (a.exists != b.exists) return false;
    if (!a.exists) return true;
    const bool identity = a.st.st_dev == b.st.st_dev && a.st.st_ino == b.st.st_ino &&
                          a.st.st_mode == b.st.st_mode && a.st.st_uid == b.st.st_uid &&
                          a.st.st_gid == b.st.st_gid && a.st.st_nlink == b.st.st_nlink &&
                          a.st.st_size == b.st.st_size && a.link == b.link;
    if (!identity || !times_and_content) return identity;
    return same_time(a.st.st_mtim, b.st.st_mtim) && same_time(a.st.st_ctim, b.st.st_ctim) &&
           a.content == b.content;
}

std::string describe(const Snapshot& s) {
    if (!s.exists) return "(missing)";
    std::ostringstream o;
    o << "ino " << s.st.st_ino << " mode " << std::oct << s.st.st_mode << std::dec << " uid "
      << s.st.st_uid << " links " << s.st.st_nlink << " size " << s.st.st_size << " ctime "
      << s.st.st_ctim.tv_sec << "." << s.st.st_ctim.tv_nsec;
    if (!s.link.empty()) o << " -> " << s.link;
    return o.str();
}

/// Whether some other open file description holds a lock on byte `b` of `path`, as F_OFD_GETLK
/// reports it: F_UNLCK, F_RDLCK or F_WRLCK (-1 if the file cannot be opened).
int lock_on(const std::string& path, off_t b = 0) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = b;
    fl.l_len = 1;
    const int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
    ::close(fd);
    return rc == 0 ? fl.l_type : -1;
}

/// Whether this process can take an exclusive OFD lock on byte 0 of `path` (nobody else holds one).
bool can_lock(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return false;
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    const bool ok = ::fcntl(fd, F_OFD_SETLK, &fl) == 0;
    ::close(fd);
    return ok;
}

/// Whether this process has a descriptor open on `path` (a leaked open of a victim file).
bool process_has_open(const std::string& path) {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return false;
    bool found = false;
    while (dirent* e = ::readdir(d)) {
        char buf[4096];
        const std::string fd = std::string("/proc/self/fd/") + e->d_name;
        const ssize_t n = ::readlink(fd.c_str(), buf, sizeof buf);
        if (n > 0 && std::string(buf, static_cast<std::size_t>(n)) == path) found = true;
    }
    ::closedir(d);
    return found;
}

bool write_file(const std::string& path, const std::string& content, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return false;
    const bool ok =
        ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ::fchmod(fd, mode);
    ::close(fd);
    return ok;
}

const char* errc_name(int code) {
    static const char* const names[] = {
        "success",          "channel_not_found", "channel_exists",
        "too_many_clients", "message_too_large", "buffer_too_small",
        "timeout",          "daemon_gone",       "incompatible_layout",
        "invalid_config",   "invalid_name",      "permission_denied",
        "handler_failed",   "out_of_memory",     "corrupt_channel",
        "system_failure"};
    if (code >= 0 && code < static_cast<int>(sizeof names / sizeof names[0])) return names[code];
    if (code < 0) return "killed by a signal";
    return "another failure (see the child's stderr)";
}

int code_of(venom::errc e) { return static_cast<int>(e); }

/// What a root child role (root_create, root_connect) reported.
struct Outcome {
    int code = -1000;  ///< its exit code: 0 success, a venom::errc value, 97 another exception
    std::string text;  ///< the exception's what(), or what a connected shell read
    long op_ms = -1;   ///< how long the create or connect itself took in the child
    long total_ms = 0; ///< spawn to exit, as this process saw it
    bool hung = false; ///< still running after 30 s (then killed)
};

/// Runs a root child role whose last argument is the file it reports its outcome into:
/// "<op ms>\n<text>". Waits at most 30 s.
Outcome run_root(const std::string& role, std::vector<std::string> args) {
    Scratch out("out");
    args.push_back(out.str());
    Outcome o;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        Child c = spawn_self(role, args);
        o.code = c.wait(30s);
    } catch (const std::exception& e) {
        o.hung = true;
        o.text = e.what();
    }
    o.total_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    std::ifstream in(out.str());
    std::string first;
    if (std::getline(in, first)) {
        o.op_ms = std::atol(first.c_str());
        std::ostringstream rest;
        rest << in.rdbuf();
        o.text = rest.str();
    }
    BOOST_TEST_MESSAGE("  " << role << " " << (args.empty() ? "" : args.front()) << ": "
                            << (o.hung ? "HUNG" : errc_name(o.code)) << " (exit " << o.code
                            << ") after " << o.op_ms << " ms (child " << o.total_ms
                            << " ms): " << o.text);
    return o;
}

/// Root's DaemonChannel::create(name) in a child.
Outcome root_create(const std::string& name, venom::Access access = venom::Access::owner_only) {
    return run_root("root_create", {name, std::to_string(static_cast<int>(access))});
}

/// Root's ShellChannel::connect(name) in a child; trusted: ShellOptions::trusted_uid (or none).
Outcome root_connect(const std::string& name, long connect_timeout_ms = 0, long trusted = -1) {
    return run_root("root_connect", {name, trusted < 0 ? "-" : std::to_string(trusted),
                                     std::to_string(connect_timeout_ms)});
}

/// Runs one file-system action as nobody (the "as_nobody" role); returns its exit code.
int as_nobody(const std::vector<std::string>& args) {
    Child c = spawn_self("as_nobody", args);
    return c.wait(30s);
}

/// The common verdict: permission_denied, promptly, its message naming `what` and the owner.
void expect_denied(const Outcome& o, const std::string& owner_uid, const std::string& what = "") {
    BOOST_TEST(!o.hung);
    BOOST_TEST(o.code == code_of(venom::errc::permission_denied),
               "got " << errc_name(o.code) << ": " << o.text);
    BOOST_TEST(contains(o.text, "owned by uid " + owner_uid), o.text);
    if (!what.empty()) BOOST_TEST(contains(o.text, what), o.text);
    BOOST_TEST(o.op_ms >= 0);
    BOOST_TEST(o.op_ms < 5000, "took " << o.op_ms << " ms");
}

void write_outcome(const std::string& path, long ms, const std::string& text) {
    if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fprintf(f, "%ld\n%s", ms, text.c_str());
        std::fclose(f);
    }
}

/// Whole milliseconds since t0, for the outcome files.
long whole_ms_since(std::chrono::steady_clock::time_point t0) {
    return static_cast<long>(ms_since(t0));
}

std::string as_text(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

std::atomic<venom::DaemonChannel*> daemon_ptr{nullptr};
void stop_daemon(int) {
    if (venom::DaemonChannel* d = daemon_ptr.load()) d->stop();
}

} // namespace

VENOM_CHILD_ROLE(connect_as) {
    const gid_t gid = static_cast<gid_t>(std::stoul(args.at(1)));
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(65534) != 0) return 3;
    try {
        auto shell = venom::ShellChannel::connect(args.at(0));
        char buf[64];
        (void)shell.read_data(buf, sizeof buf);
        return 0;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "connect_as: %s\n", e.what());
        return e.code() == venom::errc::permission_denied ? 1 : 2;
    }
}

/// As nobody: one file-system action. 0 done; 1 refused (EPERM/EACCES); 2 another error;
/// 3 could not drop root.
///   symlink TARGET PATH | fifo PATH | mkdir PATH | link EXISTING NEWPATH | file PATH SIZE |
///   unlink PATH | rmdir PATH
VENOM_CHILD_ROLE(as_nobody) {
    if (!become_nobody()) return 3;
    const std::string& op = args.at(0);
    int rc = -1;
    if (op == "symlink") rc = ::symlink(args.at(1).c_str(), args.at(2).c_str());
    else if (op == "fifo") rc = ::mkfifo(args.at(1).c_str(), 0666);
    else if (op == "mkdir") rc = ::mkdir(args.at(1).c_str(), 0777);
    else if (op == "link") rc = ::link(args.at(1).c_str(), args.at(2).c_str());
    else if (op == "unlink") rc = ::unlink(args.at(1).c_str());
    else if (op == "rmdir") rc = ::rmdir(args.at(1).c_str());
    else if (op == "file") {
        const int fd = ::open(args.at(1).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        rc = fd < 0 ? -1 : ::ftruncate(fd, static_cast<off_t>(std::stoll(args.at(2))));
        if (fd >= 0) ::close(fd);
    } else {
        std::fprintf(stderr, "as_nobody: unknown action %s\n", op.c_str());
        return 2;
    }
    if (rc == 0) return 0;
    const int err = errno;
    std::fprintf(stderr, "as_nobody %s %s: %s\n", op.c_str(), args.at(1).c_str(),
                 std::strerror(err));
    return err == EPERM || err == EACCES ? 1 : 2;
}

/// As root: DaemonChannel::create(name, access); reports to OUT. Exit 0 created (and closed
/// again), else the venom::errc value.
VENOM_CHILD_ROLE(root_create) { // NAME ACCESS OUT
    venom::ChannelConfig c{64, 4, 4};
    c.access = static_cast<venom::Access>(std::stoi(args.at(1)));
    const auto t0 = std::chrono::steady_clock::now();
    try {
        auto d = venom::DaemonChannel::create(args.at(0), c);
        write_outcome(args.at(2), whole_ms_since(t0), "created");
        return 0;
    } catch (const venom::error& e) {
        write_outcome(args.at(2), whole_ms_since(t0), e.what());
        return e.code().value();
    }
}

/// As root: ShellChannel::connect(name) trusting TRUSTED ("-": nobody else) with
/// connect_timeout MS; connected, it reads the state and sends "ping". Reports to OUT. Exit 0
/// connected and answered, else the venom::errc value.
VENOM_CHILD_ROLE(root_connect) { // NAME TRUSTED MS OUT
    venom::ShellOptions o;
    if (args.at(1) != "-") o.trusted_uid = static_cast<std::uint32_t>(std::stoul(args.at(1)));
    o.connect_timeout = std::chrono::milliseconds(std::stol(args.at(2)));
    o.request_timeout = 5s;
    const auto t0 = std::chrono::steady_clock::now();
    long ms = -1;
    try {
        auto shell = venom::ShellChannel::connect(args.at(0), o);
        ms = whole_ms_since(t0);
        const std::string state = as_text(shell.read_data());
        const std::string answer = as_text(shell.request("ping"));
        write_outcome(args.at(3), ms, "state=" + state + " answer=" + answer);
        return 0;
    } catch (const venom::error& e) {
        write_outcome(args.at(3), ms < 0 ? whole_ms_since(t0) : ms,
                      (ms < 0 ? "" : "after connecting: ") + std::string(e.what()));
        return e.code().value();
    }
}

/// A daemon on NAME with `access` whose state is `state` and which answers "pong:<cmd>";
/// creates READY once serving is about to start; SIGTERM stops it, and it closes the channel
/// (removing its files).
static int serve_until_sigterm(const std::string& name, venom::Access access, const char* state,
                               const std::string& ready) {
    venom::ChannelConfig c{64, 4, 4};
    c.access = access;
    auto d = venom::DaemonChannel::create(name, c);
    d.write_data(state);
    daemon_ptr.store(&d);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_daemon;
    ::sigaction(SIGTERM, &sa, nullptr);
    if (!write_file(ready, "up", 0644)) return 4;
    d.run([](std::uint32_t, venom::ByteView cmd) { return "pong:" + cmd.to_string(); });
    daemon_ptr.store(nullptr);
    return 0;
}

/// As nobody: serve_until_sigterm with Access::everyone and the state "state of nobody".
VENOM_CHILD_ROLE(nobody_daemon) { // NAME READY
    if (!become_nobody()) return 3;
    return serve_until_sigterm(args.at(0), venom::Access::everyone, "state of nobody", args.at(1));
}

/// As root: serve_until_sigterm with ACCESS and the state "state of root".
VENOM_CHILD_ROLE(root_daemon) { // NAME ACCESS READY
    return serve_until_sigterm(args.at(0), static_cast<venom::Access>(std::stoi(args.at(1))),
                               "state of root", args.at(2));
}

/// As uid 65534 with group GID: opens PATH read-only (all a 0644 / 0640 lock file allows) and
/// holds a shared (read) lock on its byte 0 until killed; creates READY once it does.
VENOM_CHILD_ROLE(nobody_rdlock) { // PATH GID READY
    const gid_t gid = static_cast<gid_t>(std::stoul(args.at(1)));
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(nobody_uid) != 0) return 3;
    const int fd = ::open(args.at(0).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "nobody_rdlock: opening %s: %s\n", args.at(0).c_str(),
                     std::strerror(errno));
        return 4;
    }
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) return 5;
    if (!write_file(args.at(2), "up", 0644)) return 6;
    for (;;) ::pause();
}

/// As nobody: squats NAME's files and holds locks on byte 0 of each until killed.
///   SHM: none | empty | zero (1 MiB of zeros)    LOCK: none | empty | zero (4 KiB) | forged
///   (a valid name record naming the squatted segment, control block at 0: all zeros)
///   SHMLOCK: rd (a read lock on the segment's byte 0) | wr (an exclusive one: "a live daemon")
/// Creates READY when everything is in place.
VENOM_CHILD_ROLE(nobody_squat) { // NAME SHM LOCK SHMLOCK READY
    if (!become_nobody()) return 3;
    const std::string& name = args.at(0);
    auto lock_byte0 = [](int fd, short type) {
        struct flock fl;
        std::memset(&fl, 0, sizeof fl);
        fl.l_type = type;
        fl.l_whence = SEEK_SET;
        fl.l_start = 0;
        fl.l_len = 1;
        return ::fcntl(fd, F_OFD_SETLK, &fl) == 0;
    };
    auto plant = [](const std::string& path, off_t size) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) return -1;
        ::fchmod(fd, 0666);
        if (size > 0 && ::ftruncate(fd, size) != 0) return -1;
        return fd;
    };
    int shm = -1;
    if (args.at(1) != "none") {
        shm = plant(shm_file(name), args.at(1) == "zero" ? off_t{1} << 20 : 0);
        if (shm < 0 || !lock_byte0(shm, args.at(3) == "wr" ? F_WRLCK : F_RDLCK)) return 4;
    }
    if (args.at(2) != "none") {
        const int fd = plant(lock_file(name), args.at(2) == "zero" ? 4096 : 0);
        if (fd < 0) return 5;
        if (args.at(2) == "forged") {
            struct stat st;
            if (shm < 0 || ::fstat(shm, &st) != 0) return 6;
            venom::detail::NameRecord r{};
            r.magic = venom::detail::name_record_magic;
            r.layout = venom::detail::layout_version;
            r.record_size = sizeof r;
            r.incarnation = 0;
            r.segment_size = static_cast<std::uint64_t>(st.st_size);
            r.control_offset = 0;
            r.segment_dev = static_cast<std::uint64_t>(st.st_dev);
            r.segment_ino = static_cast<std::uint64_t>(st.st_ino);
            r.created_unix_ns = 0; // what the zeros at the control block's place say
            r.daemon_pid = 0;
            r.daemon_uid = nobody_uid;
            std::memcpy(r.name, name.data(), name.size());
            r.checksum = venom::detail::record_checksum(r);
            if (::pwrite(fd, &r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) return 7;
        }
        if (!lock_byte0(fd, F_RDLCK)) return 8;
    }
    if (!write_file(args.at(4), "up", 0644)) return 9;
    for (;;) ::pause();
}

/// As root, in a new session without a controlling terminal: plants NAME's lock file as a
/// symbolic link to the slave of a new pty (owned by OWNER: nobody | root), then tries
/// DaemonChannel::create and ShellChannel::connect on NAME. Neither may open the pty: the
/// process must still have no controlling terminal, and closing the master must not hang it
/// up (SIGHUP would kill it). Reports to OUT. Exit 0 all fine; 10.. a set-up step failed;
/// 20 created; 21 create: another error than permission_denied; 22 its message does not name
/// the link's owner; 23 connected; 24 connect: another error; 30 it has a controlling terminal
/// now; 31 /dev/tty: another errno than ENXIO; 32 the link is gone; 33 the pty was changed.
VENOM_CHILD_ROLE(pty_victim) { // NAME OWNER OUT
    const std::string& name = args.at(0);
    const bool nobody_link = args.at(1) == "nobody";
    const std::string owner = nobody_link ? std::to_string(nobody_uid) : "0";
    ::signal(SIGHUP, SIG_DFL); // a hang-up must kill us, even if our parent ignores it
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    ::sigprocmask(SIG_UNBLOCK, &hup, nullptr);
    auto tty_errno = [] { // 0: we have a controlling terminal
        const int fd = ::open("/dev/tty", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            ::close(fd);
            return 0;
        }
        return errno;
    };
    if (::setsid() < 0) return 10;
    if (tty_errno() != ENXIO) return 11;
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return 12;
    const char* pts = ::ptsname(master);
    if (pts == nullptr) return 12;
    const std::string slave = pts;
    const std::string link = lock_file(name);
    if (::symlink(slave.c_str(), link.c_str()) != 0) return 13;
    if (nobody_link && ::lchown(link.c_str(), nobody_uid, nobody_uid) != 0) return 13;
    const Snapshot slave_before = snapshot(slave, false);
    const Snapshot link_before = snapshot(link);

    int code = 0;
    std::string text = "link " + link + " -> " + slave + "\ncreate: ";
    const auto t0 = std::chrono::steady_clock::now();
    try {
        venom::ChannelConfig c{64, 4, 4};
        auto d = venom::DaemonChannel::create(name, c);
        text += "created";
        code = 20;
    } catch (const venom::error& e) {
        text += e.what();
        if (e.code() != venom::errc::permission_denied) code = 21;
        else if (!contains(e.what(), "symbolic link owned by uid " + owner)) code = 22;
    }
    text += "\nconnect: ";
    try {
        auto s = venom::ShellChannel::connect(name);
        text += "connected";
        if (code == 0) code = 23;
    } catch (const venom::error& e) {
        text += e.what();
        if (e.code() != venom::errc::permission_denied && code == 0) code = 24;
    }
    const long ms = whole_ms_since(t0);
    const int tty = tty_errno();
    text += "\n/dev/tty afterwards: " +
            std::string(tty == 0 ? "opened (a controlling terminal!)" : std::strerror(tty));
    if (tty == 0) code = 30;
    else if (tty != ENXIO && code == 0) code = 31;
    if (!unchanged(link_before, snapshot(link)) && code == 0) code = 32;
    if (!unchanged(slave_before, snapshot(slave, false)) && code == 0) code = 33;
    write_outcome(args.at(2), ms, text);
    ::close(master); // hangs the slave up: SIGHUP to us if it were our controlling terminal
    std::this_thread::sleep_for(300ms);
    return code;
}

BOOST_AUTO_TEST_CASE(owner_only_by_default) {
    if (!is_root()) {
        BOOST_TEST_MESSAGE("skipped: needs root to act as another user");
        return;
    }
    ChannelName name("perm");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 4});
    BOOST_TEST(file_mode(shm_file(name)) == 0600u);
    BOOST_TEST(file_mode(lock_file(name)) == 0600u);
    BOOST_TEST(connect_as(name.str(), 65534) == 1);      // another user: permission_denied
    BOOST_TEST(connect_as(name.str(), ::getgid()) == 1); // same group, other user: denied too
}

BOOST_AUTO_TEST_CASE(group_access) {
    if (!is_root()) return;
    ChannelName name("perm");
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::group;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    BOOST_TEST(file_mode(shm_file(name)) == 0660u);
    BOOST_TEST(file_mode(lock_file(name)) == 0640u); // the group reads the record, never writes it
    BOOST_TEST(connect_as(name.str(), ::getgid()) == 0); // in the group: allowed
    BOOST_TEST(connect_as(name.str(), 65534) == 1);      // outside it: denied
}

BOOST_AUTO_TEST_CASE(everyone_access) {
    if (!is_root()) return;
    ChannelName name("perm");
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::everyone;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    BOOST_TEST(file_mode(shm_file(name)) == 0666u);
    BOOST_TEST(file_mode(lock_file(name)) == 0644u);
    BOOST_TEST(connect_as(name.str(), 65534) == 0);
}

BOOST_AUTO_TEST_CASE(umask_does_not_narrow_or_widen) {
    if (!is_root()) return;
    struct Case {
        venom::Access access;
        unsigned shm, lock;
    };
    const Case cases[] = {{venom::Access::owner_only, 0600u, 0600u},
                          {venom::Access::group, 0660u, 0640u},
                          {venom::Access::everyone, 0666u, 0644u}};
    for (const mode_t mask : {mode_t{0077}, mode_t{0}, mode_t{0022}, mode_t{0777}}) {
        for (const Case& k : cases) {
            BOOST_TEST_CONTEXT("umask " << std::oct << mask << ", access " << std::dec
                                        << static_cast<int>(k.access)) {
                ChannelName name("perm");
                venom::ChannelConfig c{64, 4, 4};
                c.access = k.access;
                const mode_t old = ::umask(mask);
                auto daemon = venom::DaemonChannel::create(name.str(), c);
                ::umask(old);
                BOOST_TEST(file_mode(shm_file(name)) == k.shm);
                BOOST_TEST(file_mode(lock_file(name)) == k.lock);
            }
        }
    }
}

// ---- another user's objects where a channel's files go --------------------------------------

// Finding: a daemon followed a symbolic link planted as its lock file, opened (O_CREAT) the
// target read-write, chmod-ed it to the channel's mode, locked it and unlinked it at close.
BOOST_AUTO_TEST_CASE(lock_file_symlink_to_a_root_file) {
    if (!is_root()) return;
    Scratch target("target");
    const std::string secret = "root's secret, mode 0600: venom must not touch this\n";
    BOOST_REQUIRE(write_file(target, secret, 0600));
    const Snapshot target_before = snapshot(target);

    // As nobody; then, so that the kernel's fs.protected_symlinks (which refuses to follow a
    // link of another user in a sticky directory) cannot be what saves the file, as root too.
    for (const bool nobody_link : {true, false}) {
        BOOST_TEST_CONTEXT((nobody_link ? "link owned by nobody" : "link owned by root")) {
            ChannelName name("perm_symlink");
            const std::string link = lock_file(name);
            if (nobody_link) {
                BOOST_REQUIRE(as_nobody({"symlink", target, link}) == 0);
            } else {
                BOOST_REQUIRE(::symlink(target.str().c_str(), link.c_str()) == 0);
            }
            const Snapshot link_before = snapshot(link);
            BOOST_REQUIRE(S_ISLNK(link_before.st.st_mode));

            // In this process: then a leaked descriptor or lock on the target would show.
            const std::string owner = nobody_link ? "65534" : "0";
            std::string what;
            int code = 0;
            try {
                auto d = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 4});
                what = "created";
            } catch (const venom::error& e) {
                code = e.code().value();
                what = e.what();
            }
            BOOST_TEST_MESSAGE("  create over " << link << " -> " << target.str() << ": "
                                                << errc_name(code) << ": " << what);
            BOOST_TEST(code == code_of(venom::errc::permission_denied), what);
            BOOST_TEST(contains(what, "symbolic link owned by uid " + owner), what);

            const Snapshot target_after = snapshot(target);
            BOOST_TEST(unchanged(target_before, target_after),
                       "target before: " << describe(target_before)
                                         << ", after: " << describe(target_after));
            BOOST_TEST(target_after.content == secret);
            BOOST_TEST((target_after.st.st_mode & 07777) == 0600u);
            BOOST_TEST(target_after.st.st_uid == 0u);
            BOOST_TEST(lock_on(target) == F_UNLCK); // no lock left on it
            BOOST_TEST(can_lock(target));           // and we can lock it ourselves
            BOOST_TEST(!process_has_open(target));  // nor a descriptor left open on it
            const Snapshot link_after = snapshot(link);
            BOOST_TEST(unchanged(link_before, link_after),
                       "the link itself: " << describe(link_after));

            // A root shell refuses it as well (and does not open it).
            const Outcome o = root_connect(name);
            expect_denied(o, owner, "symbolic link");
            BOOST_TEST(unchanged(target_before, snapshot(target)));
        }
    }

    // A dangling link: an O_CREAT through it would make root create a file wherever it points.
    {
        ChannelName name("perm_dangling");
        Scratch nowhere("nowhere");
        BOOST_REQUIRE(as_nobody({"symlink", nowhere, lock_file(name)}) == 0);
        const Outcome o = root_create(name);
        expect_denied(o, "65534", "symbolic link");
        BOOST_TEST(!exists_no_follow(nowhere),
                   "root created " << nowhere.str() << " through the link");
        BOOST_TEST(exists_no_follow(lock_file(name)));
    }
}

// Finding: a hard link has the owner of the file it links to. Nobody links root's own
// Access::everyone segment (0666, so fs.protected_hardlinks allows it) as another channel's
// lock file: owner root. Neither side may take it for that channel's: no record of that name
// is in it, and its byte 0 (the victim's ready byte) is not that channel's name lock.
BOOST_AUTO_TEST_CASE(lock_file_hard_link_to_a_root_segment) {
    if (!is_root()) return;
    ChannelName victim("perm_victim");
    ChannelName name("perm_hardlink");
    venom::ChannelConfig c{64, 4, 4};
    c.access = venom::Access::everyone;
    auto daemon = venom::DaemonChannel::create(victim.str(), c);
    const int linked = as_nobody({"link", shm_file(victim), lock_file(name)});
    if (linked != 0) {
        BOOST_TEST_MESSAGE("skipped: nobody may not hard-link root's 0666 segment here (as_nobody: "
                           << linked << ")");
        return;
    }
    const Snapshot seg_before = snapshot(shm_file(victim), false);
    BOOST_REQUIRE(seg_before.st.st_nlink == 2u);

    // The linked file is root's own and a live daemon holds its byte 0: create says the name
    // is taken and why it may be a link; connect finds no record of this name in it.
    Outcome o = root_create(name);
    BOOST_TEST(!o.hung);
    BOOST_TEST(errc_name(o.code) == std::string("channel_exists"), o.text);
    BOOST_TEST(contains(o.text, "2 links"), o.text);
    o = root_connect(name);
    BOOST_TEST(!o.hung);
    BOOST_TEST(errc_name(o.code) == std::string("channel_not_found"), o.text);
    const Snapshot seg_after = snapshot(shm_file(victim), false);
    BOOST_TEST(unchanged(seg_before, seg_after, false), "victim segment: " << describe(seg_after));
    BOOST_TEST(exists_no_follow(lock_file(name)));
}

// The other side of the link count check: nobody hard-links root's Access::everyone segment
// (0666, so fs.protected_hardlinks allows it; with protected_hardlinks = 0 any file, 0600 too)
// under a name of its own. root's channel must go on working: new shells connect (the record
// pins the segment's inode), and after its daemon dies (kill -9) a new daemon takes the name
// over. A link count of 2 on the daemon's own segment must not lock root out of its channel.
BOOST_AUTO_TEST_CASE(hard_link_to_a_segment_does_not_lock_out_its_channel) {
    if (!is_root()) return;
    ChannelName victim("perm_victim");
    Scratch alias("alias");
    Scratch ready("ready");
    Child daemon = spawn_self(
        "root_daemon", {victim, std::to_string(static_cast<int>(venom::Access::everyone)), ready});
    BOOST_REQUIRE(eventually([&] { return exists_no_follow(ready); }, 20s));
    const int linked = as_nobody({"link", shm_file(victim), alias});
    if (linked != 0) {
        BOOST_TEST_MESSAGE("skipped: nobody may not hard-link root's 0666 segment here (as_nobody: "
                           << linked << ")");
        return;
    }
    BOOST_TEST(snapshot(shm_file(victim), false).st.st_nlink == 2u);
    Outcome o = root_connect(victim); // a new shell of root's own, live channel
    BOOST_TEST(!o.hung);
    BOOST_TEST(o.code == 0,
               "a new shell of root's channel: " << errc_name(o.code) << ": " << o.text);
    BOOST_TEST(contains(o.text, "state=state of root answer=pong:ping"), o.text);

    daemon.kill(SIGKILL); // dies without closing: its segment (2 links) is left behind
    BOOST_TEST(daemon.wait(30s) == -SIGKILL);
    o = root_create(victim, venom::Access::everyone); // a restarted daemon takes the name over
    BOOST_TEST(!o.hung);
    BOOST_TEST(o.code == 0, "restarting root's daemon: " << errc_name(o.code) << ": " << o.text);
}

// A reader of the lock file (everyone may read the record with Access::everyone, the group with
// Access::group) takes a shared lock on its byte 0 - the byte the daemon locks exclusively to
// own the name - after the daemon died (kill -9). With widened access clients are trusted not
// to do this (README, Security: they can keep the next daemon from starting); what venom
// promises is that the restart is refused with a message that says exactly that (not "a live
// daemon serves it"), that nothing hangs, and that the restart works once the reader lets go.
BOOST_AUTO_TEST_CASE(read_lock_on_a_dead_daemons_lock_file_is_reported_and_released) {
    if (!is_root()) return;
    struct Case {
        venom::Access access;
        unsigned gid;
    };
    for (const Case k :
         {Case{venom::Access::everyone, nobody_uid}, Case{venom::Access::group, ::getgid()}}) {
        BOOST_TEST_CONTEXT("access " << static_cast<int>(k.access) << ", reader's group "
                                     << k.gid) {
            ChannelName name("perm_rdlock");
            Scratch up("ready");
            Scratch locked("ready");
            Child daemon =
                spawn_self("root_daemon", {name, std::to_string(static_cast<int>(k.access)), up});
            BOOST_REQUIRE(eventually([&] { return exists_no_follow(up); }, 20s));
            daemon.kill(SIGKILL);
            BOOST_TEST(daemon.wait(30s) == -SIGKILL);
            BOOST_REQUIRE(exists_no_follow(lock_file(name))); // a dead daemon's name lock file
            {
                Child reader =
                    spawn_self("nobody_rdlock", {lock_file(name), std::to_string(k.gid), locked});
                BOOST_REQUIRE(eventually([&] { return exists_no_follow(locked); }, 20s));
                BOOST_TEST(lock_on(lock_file(name)) == F_RDLCK);
                const Outcome o = root_create(name, k.access);
                BOOST_TEST(!o.hung);
                BOOST_TEST(errc_name(o.code) == std::string("channel_exists"), o.text);
                BOOST_TEST(contains(o.text, "holds a shared lock"), o.text);
                reader.kill(SIGKILL);
                (void)reader.wait(30s);
            }
            const Outcome o = root_create(name, k.access);
            BOOST_TEST(!o.hung);
            BOOST_TEST(o.code == 0, "restarting once the reader let go: " << errc_name(o.code)
                                                                          << ": " << o.text);
        }
    }
}

// Finding: a FIFO as the lock file blocked the open (a shell's read-only open for ever); a
// directory must be refused too. Each attempt runs in a child waited for at most 30 s.
BOOST_AUTO_TEST_CASE(lock_file_fifo_or_directory) {
    if (!is_root()) return;
    {
        ChannelName name("perm_fifo");
        BOOST_REQUIRE(as_nobody({"fifo", lock_file(name)}) == 0);
        const Snapshot before = snapshot(lock_file(name));
        BOOST_REQUIRE(S_ISFIFO(before.st.st_mode));
        Outcome o = root_create(name);
        expect_denied(o, "65534", "FIFO");
        o = root_connect(name);
        expect_denied(o, "65534", "FIFO");
        o = root_connect(name, 2000); // permission_denied is not retried
        expect_denied(o, "65534", "FIFO");
        BOOST_TEST(o.op_ms < 1000,
                   "connect with connect_timeout 2 s took " << o.op_ms << " ms: retried?");
        const Snapshot after = snapshot(lock_file(name));
        BOOST_TEST(unchanged(before, after), "the FIFO: " << describe(after));
    }
    {
        ChannelName name("perm_dir");
        RmdirOnExit cleanup{lock_file(name)};
        BOOST_REQUIRE(as_nobody({"mkdir", lock_file(name)}) == 0);
        const Snapshot before = snapshot(lock_file(name));
        BOOST_REQUIRE(S_ISDIR(before.st.st_mode));
        Outcome o = root_create(name);
        expect_denied(o, "65534", "directory");
        o = root_connect(name);
        expect_denied(o, "65534", "directory");
        const Snapshot after = snapshot(lock_file(name));
        BOOST_TEST(unchanged(before, after), "the directory: " << describe(after));
    }
}

// Finding: a lock file linked to a pty, opened without O_NOCTTY by a session leader without a
// controlling terminal, became its controlling terminal: the pty's owner could then send it
// SIGHUP (and read its terminal). Also with a root-owned link (fs.protected_symlinks aside).
BOOST_AUTO_TEST_CASE(lock_file_symlink_to_a_pty) {
    if (!is_root()) return;
    if (::access("/dev/ptmx", R_OK | W_OK) != 0) {
        BOOST_TEST_MESSAGE("skipped: no /dev/ptmx");
        return;
    }
    for (const char* owner : {"nobody", "root"}) {
        BOOST_TEST_CONTEXT("link owned by " << owner) {
            ChannelName name("perm_pty");
            const Outcome o = run_root("pty_victim", {name, owner});
            BOOST_TEST(!o.hung);
            BOOST_TEST(o.code == 0, "pty_victim exit "
                                        << o.code
                                        << (o.code == -SIGHUP ? " (killed by SIGHUP)" : "") << ": "
                                        << o.text);
            BOOST_TEST(o.op_ms < 5000);
            BOOST_TEST(exists_no_follow(lock_file(name))); // the link is left in place
        }
    }
}

// ---- another user's channel under a name root uses ------------------------------------------

// Finding: a root shell trusted a channel whose files another user made (a spoofed daemon that
// reads root's requests and feeds it state); root's daemon took such a name over.
BOOST_AUTO_TEST_CASE(daemon_of_another_user) {
    if (!is_root()) return;
    ChannelName name("perm_foreign");
    Scratch ready("ready");
    Child daemon = spawn_self("nobody_daemon", {name, ready});
    BOOST_REQUIRE(eventually([&] { return exists_no_follow(ready); }, 20s));
    const Snapshot lock_before = snapshot(lock_file(name));
    const Snapshot seg_before = snapshot(shm_file(name), false);
    BOOST_REQUIRE(lock_before.exists);
    BOOST_TEST(lock_before.st.st_uid == nobody_uid);
    BOOST_TEST((lock_before.st.st_mode & 0777) == 0644u);
    BOOST_TEST((seg_before.st.st_mode & 0777) == 0666u); // root could map it anyway

    Outcome o = root_connect(name);
    expect_denied(o, "65534");
    o = root_connect(name, 2000);
    expect_denied(o, "65534");
    BOOST_TEST(o.op_ms < 1000,
               "connect with connect_timeout 2 s took " << o.op_ms << " ms: retried?");

    o = root_create(name);
    expect_denied(o, "65534");
    BOOST_TEST(o.code != code_of(venom::errc::channel_exists));

    o = root_connect(name, 0, nobody_uid); // trusting nobody explicitly: connects
    BOOST_TEST(!o.hung);
    BOOST_TEST(o.code == 0, errc_name(o.code) << ": " << o.text);
    BOOST_TEST(contains(o.text, "state=state of nobody answer=pong:ping"), o.text);

    const Snapshot lock_after = snapshot(lock_file(name));
    const Snapshot seg_after = snapshot(shm_file(name), false);
    BOOST_TEST(unchanged(lock_before, lock_after), "lock file: " << describe(lock_after));
    BOOST_TEST(unchanged(seg_before, seg_after, false), "segment: " << describe(seg_after));

    daemon.kill(SIGTERM); // it stops, closes the channel, removes its files
    BOOST_TEST(daemon.wait(30s) == 0);
    BOOST_TEST(!channel_files_exist(name));
}

// Finding: files squatted by another user (an empty or zero-filled segment, an empty or zeroed
// lock file, read locks on byte 0) made a root shell's connect run Boost's open over the
// segment and hang, or retry for ever. Now: permission_denied at once, not retried.
BOOST_AUTO_TEST_CASE(squatted_files_never_hang_a_shell) {
    if (!is_root()) return;
    struct Squat {
        const char* shm;
        const char* lock;
    };
    for (const Squat s : {Squat{"empty", "empty"}, Squat{"zero", "zero"}, Squat{"zero", "empty"},
                          Squat{"empty", "none"}, Squat{"zero", "none"}}) {
        BOOST_TEST_CONTEXT("segment " << s.shm << ", lock file " << s.lock) {
            ChannelName name("perm_squat");
            Scratch ready("ready");
            Child squatter = spawn_self("nobody_squat", {name, s.shm, s.lock, "rd", ready});
            BOOST_REQUIRE(eventually([&] { return exists_no_follow(ready); }, 20s));
            BOOST_TEST(lock_on(shm_file(name)) == F_RDLCK); // the squatter's read lock is there
            const bool has_lock = std::string(s.lock) != "none";
            if (has_lock) BOOST_TEST(lock_on(lock_file(name)) == F_RDLCK);
            const Snapshot shm_before = snapshot(shm_file(name));
            const Snapshot lock_before = snapshot(lock_file(name));

            Outcome quick = root_connect(name);
            Outcome patient = root_connect(name, 300);
            if (has_lock) {
                expect_denied(quick, "65534");
                expect_denied(patient, "65534");
                BOOST_TEST(patient.op_ms < 300,
                           "permission_denied was retried: " << patient.op_ms << " ms");
            } else { // no lock file: no daemon (or, for a root-trusted check, the segment's owner)
                for (const Outcome* o : {&quick, &patient}) {
                    BOOST_TEST(!o->hung);
                    BOOST_TEST((o->code == code_of(venom::errc::channel_not_found) ||
                                o->code == code_of(venom::errc::permission_denied)),
                               errc_name(o->code) << ": " << o->text);
                    BOOST_TEST(o->op_ms < 5000);
                }
                BOOST_TEST(quick.op_ms < 1000);
            }
            // Root's daemon refuses the name as well: the lock file, or the segment, is nobody's.
            const Outcome created = root_create(name);
            expect_denied(created, "65534");
            // its own lock file removed
            if (!has_lock) BOOST_TEST(!exists_no_follow(lock_file(name)));

            const Snapshot shm_after = snapshot(shm_file(name));
            const Snapshot lock_after = snapshot(lock_file(name));
            BOOST_TEST(unchanged(shm_before, shm_after), "segment: " << describe(shm_after));
            BOOST_TEST(unchanged(lock_before, lock_after), "lock file: " << describe(lock_after));
        }
    }
}

// The same squatted files, but trusted (ShellOptions::trusted_uid = 65534): the shell gets
// past the owner check and reads what nobody wrote. An empty or zeroed record is "no daemon":
// connect_timeout retries it and then gives up; a forged, valid record naming a zero-filled
// segment whose ready byte nobody holds is refused, never mapped as a channel; none of it hangs.
BOOST_AUTO_TEST_CASE(trusted_squatter_with_garbage_never_hangs_a_shell) {
    if (!is_root()) return;
    struct Squat {
        const char* shm;
        const char* lock;
        const char* shm_lock;
        venom::errc expected;
    };
    for (const Squat s : {Squat{"empty", "empty", "rd", venom::errc::channel_not_found},
                          Squat{"zero", "zero", "rd", venom::errc::channel_not_found},
                          Squat{"zero", "forged", "rd", venom::errc::channel_not_found},
                          // a valid record, a segment that contradicts it: written over
                          Squat{"zero", "forged", "wr", venom::errc::corrupt_channel}}) {
        BOOST_TEST_CONTEXT("segment " << s.shm << ", lock file " << s.lock << ", segment byte 0 "
                                      << s.shm_lock) {
            ChannelName name("perm_trusted_squat");
            Scratch ready("ready");
            Child squatter = spawn_self("nobody_squat", {name, s.shm, s.lock, s.shm_lock, ready});
            BOOST_REQUIRE(eventually([&] { return exists_no_follow(ready); }, 20s));
            const Snapshot shm_before = snapshot(shm_file(name));
            const Snapshot lock_before = snapshot(lock_file(name));

            const Outcome quick = root_connect(name, 0, nobody_uid);
            const Outcome patient = root_connect(name, 300, nobody_uid);
            for (const Outcome* o : {&quick, &patient}) {
                BOOST_TEST(!o->hung);
                BOOST_TEST(o->code == code_of(s.expected), errc_name(o->code) << ": " << o->text);
                BOOST_TEST(o->op_ms < 5000);
            }
            BOOST_TEST(quick.op_ms < 1000);
            if (s.expected != venom::errc::channel_not_found) // not retried
                BOOST_TEST(patient.op_ms < 300, "retried: " << patient.op_ms << " ms");

            const Snapshot shm_after = snapshot(shm_file(name));
            const Snapshot lock_after = snapshot(lock_file(name));
            BOOST_TEST(unchanged(shm_before, shm_after), "segment: " << describe(shm_after));
            BOOST_TEST(unchanged(lock_before, lock_after), "lock file: " << describe(lock_after));
        }
    }
}

// Finding: root's daemon locked a lock file owned by nobody; nobody unlinked it (its own file,
// sticky directory or not) and a second root daemon created a fresh one: two daemons on one
// name. Now the foreign lock file is refused, and root's own cannot be unlinked by nobody.
BOOST_AUTO_TEST_CASE(foreign_lock_file_never_lets_two_daemons_run) {
    if (!is_root()) return;
    ChannelName name("perm_twice");
    BOOST_REQUIRE(as_nobody({"file", lock_file(name), "0"}) == 0);
    const Snapshot before = snapshot(lock_file(name));
    Outcome o = root_create(name);
    expect_denied(o, "65534");
    BOOST_TEST(unchanged(before, snapshot(lock_file(name))));

    BOOST_REQUIRE(as_nobody({"unlink", lock_file(name)}) == 0); // nobody takes its file away
    auto first = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 4});
    const Snapshot own = snapshot(lock_file(name));
    BOOST_TEST(own.st.st_uid == 0u);
    BOOST_TEST((own.st.st_mode & 0777) == 0600u);

    o = root_create(name); // a second root daemon
    BOOST_TEST(!o.hung);
    BOOST_TEST(o.code == code_of(venom::errc::channel_exists), errc_name(o.code) << ": " << o.text);

    // Nobody cannot remove root's lock file (sticky /dev/shm) to make room for another.
    BOOST_TEST(as_nobody({"unlink", lock_file(name)}) == 1);
    BOOST_TEST(as_nobody({"unlink", shm_file(name)}) == 1);
    o = root_create(name);
    BOOST_TEST(o.code == code_of(venom::errc::channel_exists), errc_name(o.code) << ": " << o.text);
    BOOST_TEST(unchanged(own, snapshot(lock_file(name)), false));
    auto shell = venom::ShellChannel::connect(name.str()); // the first daemon still serves the name
    BOOST_TEST(shell.client_id() == 0u);
}

VENOM_TEST_MAIN("permissions")
