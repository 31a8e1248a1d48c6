// SPDX-License-Identifier: BSL-1.0
// test/trust_test.cpp - files in /dev/shm that venom did not make, restarts that race, and the
// narrow windows of the waiter and the queue's dead-claim recovery, each hit deterministically
// (a fault-injection hook, venom/detail/fault.hpp, or a protocol state written by hand) rather
// than by luck. The attacks by another user are in permissions_test.cpp; hostile bytes in the
// segment in hostile_test.cpp and the fuzzer.
#include "test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <optional>

using namespace venom_test;
namespace vd = venom::detail;
using venom::errc;
using Clock = std::chrono::steady_clock;

namespace {

std::string shm(const std::string& name, const char* suffix) {
    return "/dev/shm/venom." + name + suffix;
}

/// The bytes of a file, or "<missing>".
std::string file_text(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return "<missing>";
    std::string out;
    char buf[256];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    std::fclose(f);
    return out;
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
}

/// Whether some open description holds an exclusive lock on byte `b` of `path`.
bool byte_locked(const std::string& path, off_t b) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = b;
    fl.l_len = 1;
    const bool held = ::fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    ::close(fd);
    return held;
}

/// Installs a fault hook for one test; removes it on destruction.
class FaultHook {
public:
    explicit FaultHook(vd::fault_fn f) { vd::fault_hook.store(f); }
    ~FaultHook() { vd::fault_hook.store(nullptr); }
};

venom::ChannelConfig small_config() { return venom::ChannelConfig{64, 4, 4}; }

} // namespace

// ================================================================ files venom did not make

BOOST_AUTO_TEST_CASE(a_symlinked_lock_file_is_refused_and_its_target_untouched) {
    ChannelName name("symlock");
    const std::string target = "/dev/shm/vt_symlock_target_" + std::to_string(getpid_portable());
    write_file(target, "not venom's", 0640);
    BOOST_REQUIRE(::symlink(target.c_str(), shm(name, ".lock").c_str()) == 0);
    const std::string what =
        error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
                 errc::permission_denied, "create over a symlinked lock file");
    BOOST_TEST(contains(what, "symbolic link"), what);
    BOOST_TEST(file_text(target) == "not venom's");
    struct stat st;
    BOOST_TEST((::stat(target.c_str(), &st) == 0 && (st.st_mode & 0777) == 0640));
    BOOST_TEST(!byte_locked(target, 0));
    BOOST_TEST(
        (::lstat(shm(name, ".lock").c_str(), &st) == 0 && S_ISLNK(st.st_mode))); // left alone
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::permission_denied,
             "connect through a symlinked lock file");
    ::unlink(target.c_str());
}

BOOST_AUTO_TEST_CASE(a_symlinked_segment_is_refused_by_create_and_connect) {
    ChannelName name("symseg");
    const std::string target = "/dev/shm/vt_symseg_target_" + std::to_string(getpid_portable());
    write_file(target, std::string(8192, 'x'));
    BOOST_REQUIRE(::symlink(target.c_str(), shm(name, ".shm").c_str()) == 0);
    error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
             errc::permission_denied, "create over a symlinked segment");
    BOOST_TEST(file_text(target) == std::string(8192, 'x'));
    struct stat st;
    BOOST_TEST((::lstat(shm(name, ".shm").c_str(), &st) == 0 && S_ISLNK(st.st_mode)));
    // The failed create left no lock file of its own behind.
    BOOST_TEST(::access(shm(name, ".lock").c_str(), F_OK) != 0);
    ::unlink(target.c_str());
}

BOOST_AUTO_TEST_CASE(a_fifo_or_directory_as_lock_file_is_refused_without_blocking) {
    for (const char* kind : {"fifo", "dir"}) {
        ChannelName name(kind);
        const std::string p = shm(name, ".lock");
        if (std::string(kind) == "fifo") BOOST_REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
        else BOOST_REQUIRE(::mkdir(p.c_str(), 0700) == 0);
        const auto t0 = Clock::now();
        const std::string what =
            error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
                     errc::permission_denied, std::string("create over a ") + kind);
        BOOST_TEST(contains(what, std::string(kind) == "fifo" ? "FIFO" : "directory"), what);
        error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::permission_denied,
                 std::string("connect with a ") + kind + " as lock file");
        BOOST_TEST(ms_since(t0) < 5000.0);
        struct stat st;
        BOOST_TEST(::lstat(p.c_str(), &st) == 0); // left in place
        if (std::string(kind) == "dir") ::rmdir(p.c_str());
    }
}

BOOST_AUTO_TEST_CASE(another_channels_files_linked_under_a_name_are_not_that_channel) {
    // Another channel's files hard-linked under this name would let a shell talk to the wrong
    // daemon: the record names its channel, so the shell finds no daemon of this name; create
    // says the name is taken by a live lock and why; the linked channel is unharmed.
    ChannelName other("hlother"), name("hlink");
    auto daemon = venom::DaemonChannel::create(other.str(), small_config());
    BOOST_REQUIRE(::link(shm(other, ".lock").c_str(), shm(name, ".lock").c_str()) == 0);
    BOOST_REQUIRE(::link(shm(other, ".shm").c_str(), shm(name, ".shm").c_str()) == 0);
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "connect through hard links");
    const std::string what =
        error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
                 errc::channel_exists, "create over a live channel's links");
    BOOST_TEST(contains(what, "2 links"), what);
    auto shell = venom::ShellChannel::connect(other.str());
    {
        Server server(daemon);
        BOOST_TEST(to_string(shell.request(std::string("still fine"))) == "still fine");
    }
    // Once the linked channel's daemon is gone, a create of this name replaces the links with
    // files of its own and leaves the other name alone.
    {
        venom::DaemonChannel moved = std::move(daemon); // the other daemon closes
    }
    ::unlink(shm(name, ".lock").c_str());
    ::unlink(shm(name, ".shm").c_str());
    const std::string other_lock = "a dead daemon's lock file";
    write_file(shm(other, ".lock"), other_lock);
    BOOST_REQUIRE(::link(shm(other, ".lock").c_str(), shm(name, ".lock").c_str()) == 0);
    auto mine = venom::DaemonChannel::create(name.str(), small_config());
    struct stat a, b;
    BOOST_TEST((::stat(shm(name, ".lock").c_str(), &a) == 0 &&
                ::stat(shm(other, ".lock").c_str(), &b) == 0));
    BOOST_TEST(a.st_ino != b.st_ino);
    BOOST_TEST(a.st_nlink == 1u);
    BOOST_TEST(file_text(shm(other, ".lock")) == other_lock);
    mine.write_data("mine");
    BOOST_TEST(to_string(venom::ShellChannel::connect(name.str()).read_data()) == "mine");
}

BOOST_AUTO_TEST_CASE(a_record_that_names_another_channel_or_is_damaged_reads_as_no_daemon) {
    ChannelName name("rec");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    (void)venom::ShellChannel::connect(name.str()); // fine as it is
    const std::string lock = shm(name, ".lock");
    const std::string good = file_text(lock);
    BOOST_REQUIRE(good.size() == sizeof(vd::NameRecord));
    for (std::size_t at : {std::size_t{0}, offsetof(vd::NameRecord, control_offset),
                           offsetof(vd::NameRecord, name), offsetof(vd::NameRecord, checksum)}) {
        std::string bad = good;
        bad[at] = static_cast<char>(bad[at] ^ 0x5a);
        write_file(lock, bad);
        error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
                 "record damaged at byte " + std::to_string(at));
    }
    write_file(lock, good.substr(0, 17)); // short
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "short record");
    write_file(lock, good);
    (void)venom::ShellChannel::connect(name.str());
}

BOOST_AUTO_TEST_CASE(a_daemon_whose_lock_file_was_removed_keeps_its_segment) {
    // Someone removed a live daemon's lock file by hand. A second daemon of the name gets the
    // name lock (a new file), but must neither remove nor replace the first one's segment:
    // before, the first one's clean stop would later delete the second one's segment.
    ChannelName name("orphan");
    auto first = venom::DaemonChannel::create(name.str(), small_config());
    first.write_data("first");
    BOOST_REQUIRE(::unlink(shm(name, ".lock").c_str()) == 0);
    struct stat before, after;
    BOOST_REQUIRE(::stat(shm(name, ".shm").c_str(), &before) == 0);
    const std::string what =
        error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
                 errc::channel_exists, "second daemon on an orphaned segment");
    BOOST_TEST(contains(what, "still serves"), what);
    BOOST_REQUIRE(::stat(shm(name, ".shm").c_str(), &after) == 0);
    BOOST_TEST(before.st_ino == after.st_ino);
    BOOST_TEST(::access(shm(name, ".lock").c_str(), F_OK) !=
               0); // the second one's lock file went with it
}

BOOST_AUTO_TEST_CASE(a_leftover_lock_file_gets_the_new_daemons_mode) {
    // A crash left the lock file of an Access::everyone daemon (0644, or 0666 from an older
    // build): an owner_only daemon taking the name over must not keep it readable by others.
    ChannelName name("mode");
    write_file(shm(name, ".lock"), "");
    BOOST_REQUIRE(::chmod(shm(name, ".lock").c_str(), 0666) == 0);
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    struct stat st;
    BOOST_TEST((::stat(shm(name, ".lock").c_str(), &st) == 0 && (st.st_mode & 0777) == 0600),
               "mode " << std::oct << (st.st_mode & 0777));
}

// ================================================================ restarts

namespace {
std::atomic<int> hook_calls{0};
std::string hook_path;
} // namespace

BOOST_AUTO_TEST_CASE(create_while_the_previous_daemon_removes_its_lock_file) {
    // The window: create's O_EXCL open finds the file (EEXIST), then the closing daemon unlinks
    // it before create opens it. The old code then failed with system_failure "No such file".
    ChannelName name("racecreate");
    write_file(shm(name, ".lock"), ""); // a dead daemon's lock file
    hook_path = shm(name, ".lock");
    hook_calls = 0;
    FaultHook hook([](vd::fault f) {
        if (f == vd::fault::lock_file_exists && hook_calls++ == 0) ::unlink(hook_path.c_str());
    });
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    BOOST_TEST(hook_calls.load() == 1);
    daemon.write_data("up");
    BOOST_TEST(to_string(venom::ShellChannel::connect(name.str()).read_data()) == "up");
}

BOOST_AUTO_TEST_CASE(create_racing_a_closing_daemon_is_success_or_channel_exists) {
    ChannelName name("createloop");
    const int rounds = static_cast<int>(scaled(300));
    std::atomic<int> other_errors{0};
    std::string first_other;
    std::mutex m;
    auto loop = [&](int& made, int& exists) {
        for (int i = 0; i < rounds; ++i) {
            try {
                auto d = venom::DaemonChannel::create(name.str(), small_config());
                ++made;
            } catch (const venom::error& e) {
                if (e.code() == errc::channel_exists) {
                    ++exists;
                } else {
                    ++other_errors;
                    std::lock_guard<std::mutex> g(m);
                    if (first_other.empty()) first_other = e.what();
                }
            }
        }
    };
    int made_a = 0, exists_a = 0, made_b = 0, exists_b = 0;
    std::thread a([&] { loop(made_a, exists_a); });
    loop(made_b, exists_b);
    a.join();
    BOOST_TEST_MESSAGE("create/close x2 threads x " << rounds << ": created " << made_a + made_b
                                                    << ", channel_exists " << exists_a + exists_b
                                                    << ", other errors " << other_errors.load());
    BOOST_TEST(other_errors.load() == 0, first_other);
    BOOST_TEST(made_a + made_b > 0);
    BOOST_TEST(!channel_files_exist(name.str()));
}

namespace {
std::optional<venom::DaemonChannel>* restart_target = nullptr;
std::string restart_name;
} // namespace

BOOST_AUTO_TEST_CASE(connect_while_the_daemon_restarts_is_success_or_channel_not_found) {
    // The window: connect read the old daemon's record, then the daemon was replaced before
    // connect opened the segment. The old code opened the new daemon's segment by name and
    // read it half-built (incompatible_layout, corrupt_channel, or a hang inside Boost).
    ChannelName name("raceconnect");
    std::optional<venom::DaemonChannel> daemon;
    daemon.emplace(venom::DaemonChannel::create(name.str(), small_config()));
    restart_target = &daemon;
    restart_name = name.str();
    hook_calls = 0;
    FaultHook hook([](vd::fault f) {
        if (f != vd::fault::record_read || hook_calls++ != 0) return;
        restart_target->reset();
        restart_target->emplace(venom::DaemonChannel::create(restart_name, small_config()));
        (*restart_target)->write_data("second");
    });
    // Without connect_timeout: the segment it finds is not the record's: channel_not_found.
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "connect across a restart");
    BOOST_TEST(hook_calls.load() >= 1);
    // With connect_timeout it tries again and reaches the new daemon.
    hook_calls = 0;
    venom::ShellOptions o;
    o.connect_timeout = 2000ms;
    auto shell = venom::ShellChannel::connect(name.str(), o);
    BOOST_TEST(hook_calls.load() >= 2);
    BOOST_TEST(to_string(shell.read_data()) == "second");
}

BOOST_AUTO_TEST_CASE(connect_in_a_restart_loop_never_reports_anything_else) {
    ChannelName name("restartloop");
    std::atomic<bool> stop{false};
    std::atomic<int> restarts{0};
    std::thread restarter([&] {
        std::uint64_t x = 88172645463325252ull;
        while (!stop.load()) {
            {
                auto d = venom::DaemonChannel::create(name.str(), small_config());
                d.write_data("up");
                Server server(d);
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                std::this_thread::sleep_for(std::chrono::microseconds(x % 3000));
            }
            ++restarts;
        }
    });
    std::map<std::string, int> outcomes;
    const int tries = static_cast<int>(scaled(400));
    venom::ShellOptions o;
    o.connect_timeout = 3000ms;
    o.request_timeout = 3000ms;
    for (int i = 0; i < tries; ++i) {
        try {
            auto s = venom::ShellChannel::connect(name.str(), o);
            std::error_code ec;
            char buf[16];
            (void)s.request("ping", 4, buf, sizeof buf, 3s, ec);
            // daemon_gone is fine here: the request raced the next restart, the connect did not.
            ++outcomes[ec && ec != errc::daemon_gone ? "request: " + ec.message() : "connected"];
        } catch (const venom::error& e) {
            ++outcomes[std::string("connect: ") + e.what()];
        }
    }
    stop = true;
    restarter.join();
    for (const auto& [k, v] : outcomes) BOOST_TEST_MESSAGE("  " << k << ": " << v);
    BOOST_TEST_MESSAGE(tries << " connects across " << restarts.load() << " restarts");
    BOOST_TEST(outcomes["connected"] == tries);
}

BOOST_AUTO_TEST_CASE(a_half_built_segment_never_hangs_connect) {
    // A daemon killed inside Boost's create leaves a zeroed segment file and a zeroed record:
    // Boost's own open would wait for ever. connect must end, within connect_timeout.
    ChannelName name("halfbuilt");
    write_file(shm(name, ".lock"), std::string(sizeof(vd::NameRecord), '\0'));
    {
        const int fd = ::open(shm(name, ".shm").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::ftruncate(fd, 1 << 20) == 0);
        ::close(fd);
    }
    auto t0 = Clock::now();
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "half built");
    BOOST_TEST(ms_since(t0) < 1000.0);
    venom::ShellOptions o;
    o.connect_timeout = 300ms;
    t0 = Clock::now();
    error_of([&] { (void)venom::ShellChannel::connect(name.str(), o); }, errc::channel_not_found,
             "half built, with connect_timeout");
    const double waited = ms_since(t0);
    BOOST_TEST_MESSAGE("connect_timeout 300 ms over a half-built segment: returned after "
                       << waited << " ms");
    BOOST_TEST(waited >= 300.0);
    BOOST_TEST(waited < 5000.0);
    // The next daemon takes the leftovers over.
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    (void)venom::ShellChannel::connect(name.str());
}

BOOST_AUTO_TEST_CASE(connect_between_close_and_unlink_is_channel_not_found) {
    // close() marks the channel closed before it removes the names: a connect in between must
    // say "no daemon" (and connect_timeout keep waiting), not daemon_gone.
    ChannelName name("closewin");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    vd::Attachment raw = vd::attach(name.str(), {});
    raw.map.cb->state.store(vd::channel_closed);
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "closing");
    venom::ShellOptions o;
    o.connect_timeout = 100ms;
    error_of([&] { (void)venom::ShellChannel::connect(name.str(), o); }, errc::channel_not_found,
             "closing, with connect_timeout");
    raw.map.cb->state.store(vd::channel_ready);
    (void)venom::ShellChannel::connect(name.str());
}

// ================================================================ the waiter's windows

namespace {
venom::DaemonChannel* hook_daemon = nullptr;
std::optional<venom::DaemonChannel>* hook_owner = nullptr;
vd::ControlBlock* hook_cb = nullptr;
std::atomic<bool> slept_after_abort{false};
std::atomic<int> sleeps{0};
} // namespace

BOOST_AUTO_TEST_CASE(a_close_landing_just_before_a_shell_blocks_is_not_missed) {
    // The window: the shell's wait has tested abort() and is about to block when the daemon
    // closes the channel. The waiter must notice before sleeping its slice (here 10 s).
    // (A stop() does not abort a waiting request at once: the request waits for its next
    // probe, daemon_check later, in case the daemon serves again. Only close is tested here.)
    for (int variant = 1; variant < 2; ++variant) {
        ChannelName name(variant == 0 ? "stopwin" : "closewin2");
        std::optional<venom::DaemonChannel> daemon;
        daemon.emplace(venom::DaemonChannel::create(name.str(), small_config()));
        venom::ShellOptions o;
        o.spin_time = 0us;
        o.daemon_check = 10000ms;
        auto shell = venom::ShellChannel::connect(name.str(), o);
        vd::Attachment raw = vd::attach(name.str(), {});
        hook_cb = raw.map.cb;
        hook_daemon = &*daemon;
        hook_owner = &daemon;
        hook_calls = 0;
        slept_after_abort = false;
        sleeps = 0;
        std::optional<FaultHook> hook;
        if (variant == 0) {
            hook.emplace([](vd::fault f) {
                if (f == vd::fault::block_begin && hook_calls++ == 0) hook_daemon->stop();
                if (f == vd::fault::before_sleep) {
                    ++sleeps;
                    if (hook_cb->state.load() != vd::channel_ready) slept_after_abort = true;
                }
            });
        } else {
            hook.emplace([](vd::fault f) {
                if (f == vd::fault::block_begin && hook_calls++ == 0) hook_owner->reset(); // close
                if (f == vd::fault::before_sleep) {
                    ++sleeps;
                    if (hook_cb->state.load() != vd::channel_ready) slept_after_abort = true;
                }
            });
        }
        // Nobody serves the queue: the request waits for its answer until the stop/close.
        std::error_code ec;
        char buf[16];
        const auto t0 = Clock::now();
        (void)shell.request("x", 1, buf, sizeof buf, 20s, ec);
        const double ms = ms_since(t0);
        hook.reset();
        BOOST_TEST((ec == errc::daemon_gone), ec.message());
        BOOST_TEST(hook_calls.load() >= 1);
        BOOST_TEST(!slept_after_abort.load(),
                   "the waiter went to sleep after the abort was published");
        BOOST_TEST_MESSAGE((variant == 0 ? "stop" : "close")
                           << " at block_begin: request ended after " << ms << " ms, "
                           << sleeps.load() << " sleeps");
    }
}

BOOST_AUTO_TEST_CASE(a_stop_landing_just_before_run_blocks_is_not_missed) {
    ChannelName name("runwin");
    venom::ChannelConfig c = small_config();
    c.spin_time = 0us;
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    hook_daemon = &daemon;
    hook_calls = 0;
    slept_after_abort = false;
    static std::atomic<bool> stop_sent{false};
    stop_sent = false;
    FaultHook hook([](vd::fault f) {
        if (f == vd::fault::block_begin && hook_calls++ == 0) {
            hook_daemon->stop();
            stop_sent = true;
        }
        if (f == vd::fault::before_sleep && stop_sent.load()) slept_after_abort = true;
    });
    const auto t0 = Clock::now();
    daemon.run([](std::uint32_t, venom::ByteView) {}); // returns once it notices the stop
    BOOST_TEST(hook_calls.load() >= 1);
    BOOST_TEST(!slept_after_abort.load(), "run() went to sleep after stop()");
    BOOST_TEST_MESSAGE("stop at block_begin: run() returned after " << ms_since(t0) << " ms");
}

// ================================================================ the queue's repairs

BOOST_AUTO_TEST_CASE(skipping_a_hole_wakes_shells_waiting_for_space) {
    // A one-slot queue whose tail a stray write moved past position 0, which holds no publish:
    // a hole (command_queue.hpp). A shell waiting for space blocks with a 10 s slice; when the
    // daemon skips the hole (after claim_timeout) it must wake it, not let it time out.
    ChannelName name("holewake");
    venom::ChannelConfig c{64, 1, 3};
    auto daemon = venom::DaemonChannel::create(name.str(), c);
    venom::ShellOptions o;
    o.spin_time = 0us;
    o.daemon_check = 10000ms;
    auto shell = venom::ShellChannel::connect(name.str(), o);
    BOOST_REQUIRE(shell.client_id() == 0);
    {
        vd::Attachment raw = vd::attach(name.str(), {});
        raw.map.shared->tail.store(1); // position 0 passed, never published
    }
    std::error_code ec;
    std::size_t n = 0;
    char buf[16];
    double ms = 0;
    std::thread t([&] {
        const auto t0 = Clock::now();
        n = shell.request("after", 5, buf, sizeof buf, 5s, ec);
        ms = ms_since(t0);
    });
    std::this_thread::sleep_for(50ms); // the shell is blocked on the full queue now
    Server server(daemon);
    t.join();
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(std::string(buf, ec ? 0 : n) == "after");
    BOOST_TEST(ms < 2000.0, "woken when the hole was skipped, not at the end of a slice");
    BOOST_TEST_MESSAGE("request behind a hole answered after " << ms << " ms");
}

// ================================================================ stop()

BOOST_AUTO_TEST_CASE(a_request_told_stopped_stays_queued_and_holds_back_the_next) {
    // A request that gets daemon_gone from a stopped daemon leaves its command queued, and the
    // daemon reads it from the shell's staging area when it serves again: the shell must not
    // stage another command over it meanwhile (it did once: the daemon then ran the second
    // command twice and never the first).
    ChannelName name("stopqueued");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    auto shell = venom::ShellChannel::connect(name.str());
    daemon.stop();
    error_of([&] { (void)shell.request(std::string("A")); }, errc::daemon_gone,
             "A, daemon stopped");
    const std::string what = error_of([&] { (void)shell.request(std::string("B")); },
                                      errc::daemon_gone, "B, A still queued");
    BOOST_TEST(contains(what, "stopped serving"), what);
    std::vector<std::string> seen;
    BOOST_TEST(daemon.poll([&](std::uint32_t, venom::ByteView cmd) {
        seen.push_back(cmd.to_string());
        return cmd.to_vector();
    }) == 1u);
    BOOST_TEST(seen == std::vector<std::string>{"A"}, boost::test_tools::per_element());
    daemon.run([](std::uint32_t, venom::ByteView) {}); // consumes the stop() (returns at once)
    Server server(daemon, [&](std::uint32_t, venom::ByteView cmd) {
        seen.push_back(cmd.to_string());
        return cmd.to_vector();
    });
    BOOST_TEST(to_string(shell.request(std::string("C"))) == "C");
    server.stop();
    BOOST_TEST((seen == std::vector<std::string>{"A", "C"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stop_stops_serving_until_run_again) {
    ChannelName name("stopserve");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    daemon.write_data("v1");
    venom::ShellOptions o;
    o.request_timeout = 10s;
    auto shell = venom::ShellChannel::connect(name.str(), o);
    {
        Server server(daemon);
        BOOST_TEST(to_string(shell.request(std::string("a"))) == "a");
    } // stop() + join
    // Not serving: daemon_gone after one daemon_check (20 ms), saying why; the state is still
    // published and read.
    const auto t0 = Clock::now();
    const std::string what =
        error_of([&] { (void)shell.request(std::string("b")); }, errc::daemon_gone, "stopped");
    const double gone_ms = ms_since(t0);
    BOOST_TEST_MESSAGE("request to a stopped daemon: daemon_gone after " << gone_ms << " ms");
    BOOST_TEST(gone_ms >= 15.0);
    BOOST_TEST(gone_ms < 2000.0);
    BOOST_TEST(contains(what, "stopped serving"), what);
    daemon.write_data("v2");
    BOOST_TEST(shell.wait_for_update(1, 1s));
    BOOST_TEST(to_string(shell.read_data()) == "v2");
    // A request already waiting when stop() comes (no run() in progress) ends at once too.
    // serving again: "b", stale
    BOOST_TEST(daemon.poll([](std::uint32_t, venom::ByteView) {}) == 1u);
    std::error_code ec;
    double waited_ms = 0;
    std::thread waiter([&] {
        char buf[8];
        const auto t1 = Clock::now();
        (void)shell.request("c", 1, buf, sizeof buf, 10s, ec);
        waited_ms = ms_since(t1);
    });
    std::this_thread::sleep_for(50ms); // it waits for an answer nobody gives
    daemon.stop();
    waiter.join();
    BOOST_TEST((ec == errc::daemon_gone), ec.message());
    BOOST_TEST(waited_ms < 5000.0);
    // The command it left in the queue is handled by the next poll (its answer is stale).
    BOOST_TEST(daemon.poll([](std::uint32_t, venom::ByteView) {}) == 1u);
    // stop() before run(): run() returns at once and the channel stays not serving.
    daemon.stop();
    daemon.run([](std::uint32_t, venom::ByteView) {});
    error_of([&] { (void)shell.request(std::string("e")); }, errc::daemon_gone, "stop before run");
    // A daemon that serves again at once loses no request: one sent while it was stopped is
    // answered by the next poll().
    BOOST_TEST(daemon.poll([](std::uint32_t, venom::ByteView) {}) == 1u); // "e", stale now
    std::error_code ec2;
    std::thread later([&] {
        char buf[8];
        (void)shell.request("f", 1, buf, sizeof buf, 10s, ec2);
    });
    const bool handled =
        eventually([&] { return daemon.poll([](std::uint32_t, venom::ByteView) {}) > 0; }, 5s);
    later.join();
    BOOST_TEST(handled);
    BOOST_TEST(!ec2, ec2.message());
}

VENOM_TEST_MAIN("trust")
