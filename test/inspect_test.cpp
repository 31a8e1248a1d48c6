// SPDX-License-Identifier: BSL-1.0
// test/inspect_test.cpp - venom/inspect.hpp: what a channel looks like from outside (status,
// configuration, clients, queue, heartbeat, error log), on hostile bytes and leftover files,
// as another user, and that looking never writes or locks anything; and remove_stale().
#include "test_support.hpp"

#include <future>
#include <optional>

#if !defined(_WIN32)
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#endif

using namespace venom_test;
namespace vd = venom::detail;
using venom::channel_status;
using venom::errc;

namespace {

venom::ChannelConfig small_config() {
    venom::ChannelConfig c{256, 8, 4};
    c.access = venom::Access::group;
    c.spin_time = std::chrono::microseconds(30);
    c.claim_timeout = std::chrono::milliseconds(7);
    return c;
}

bool listed(const std::string& name) {
    const auto names = venom::list_channels();
    return std::find(names.begin(), names.end(), name) != names.end();
}

/// The segment mapped read-write by hand, as a scribbling process would (no shell's
/// protections): its control block.
struct RawSegment {
    vd::Attachment a;
    explicit RawSegment(const std::string& name) : a(vd::attach(name, {})) {}
    vd::ControlBlock& cb() { return *a.map.cb; }
};

} // namespace

// ================================================================ a live channel

BOOST_AUTO_TEST_CASE(lists_and_describes_a_live_channel) {
    ChannelName name("live");
    const venom::ChannelConfig cfg = small_config();
    std::optional<venom::DaemonChannel> daemon(venom::DaemonChannel::create(name.str(), cfg));
    daemon->write_data("state one");
    BOOST_TEST(listed(name.str()));
    const venom::ChannelInfo i = venom::inspect_channel(name.str());
    BOOST_TEST(i.name == name.str());
    BOOST_TEST(venom::to_string(i.status) == "alive");
    BOOST_TEST(i.readable);
    BOOST_TEST(!i.problem, i.problem_text);
    BOOST_TEST(i.layout_version == venom::layout_version);
    BOOST_TEST(i.layout_version == 8u);
    BOOST_TEST(i.daemon.pid == venom::process_id());
    BOOST_TEST(i.daemon.alive);
    BOOST_TEST(i.daemon.name_held);
    BOOST_TEST(i.daemon.serving);
    BOOST_TEST(i.daemon.created_unix_ns != 0u);
    BOOST_TEST(i.incarnation_id != 0u);
    const venom::ChannelConfig& c = i.layout.config;
    BOOST_TEST(c.data_size == cfg.data_size);
    BOOST_TEST(c.cmd_slots == cfg.cmd_slots);
    BOOST_TEST(c.max_clients == cfg.max_clients);
    BOOST_TEST(c.max_cmd_size == cfg.max_cmd_size);
    BOOST_TEST(c.max_response_size == cfg.max_response_size);
    BOOST_TEST(c.state_buffers == cfg.state_buffers);
    BOOST_TEST((c.access == cfg.access));
    BOOST_TEST((c.wait == cfg.wait));
    BOOST_TEST(c.spin_time.count() == cfg.spin_time.count());
    BOOST_TEST(c.claim_timeout.count() == cfg.claim_timeout.count());
    BOOST_TEST(i.layout.segment_bytes > 0u);
    BOOST_TEST(i.sample.state_version == 1u);
    BOOST_TEST(i.sample.state_length == 9u);
    BOOST_TEST(i.clients.empty());
    // The state, read without a client slot.
    auto ins = venom::ChannelInspector::open(name.str());
    BOOST_TEST(ins.readable());
    BOOST_TEST(ins.current());
    char buf[64];
    std::uint64_t version = 0;
    std::error_code ec;
    const std::size_t n = ins.read_state(buf, sizeof buf, version, ec);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(std::string(buf, n) == "state one");
    BOOST_TEST(version == 1u);
    // Stopped, then closed: the inspector sees each.
    daemon->stop();
    BOOST_TEST(venom::to_string(venom::inspect_channel(name.str()).status) == "stopped");
    daemon.reset();
    BOOST_TEST(!ins.current());
    BOOST_TEST(venom::to_string(venom::inspect_channel(name.str()).status) == "missing");
    // (On Windows a file deleted while open keeps its name until its last handle closes: the
    // inspector's.)
    ins = venom::ChannelInspector();
    BOOST_TEST(!listed(name.str()));
    BOOST_CHECK_THROW((void)venom::inspect_channel("bad/name"), venom::error);
}

VENOM_CHILD_ROLE(inspect_shell) {
    auto shell = connect_when_up(args.at(0));
    std::this_thread::sleep_for(std::chrono::seconds(60)); // killed by the test
    return 0;
}

BOOST_AUTO_TEST_CASE(clients_alive_and_dead) {
    ChannelName name("clients");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    const auto before = static_cast<std::uint64_t>(vd::unix_now_ns());
    Child shell = spawn_self("inspect_shell", {name.str()});
    std::optional<venom::ClientInfo> seen;
    BOOST_REQUIRE(eventually([&] {
        const auto i = venom::inspect_channel(name.str());
        // The shell locks its slot first, then writes its record: wait for both.
        if (i.clients.size() == 1 && i.clients[0].alive && i.clients[0].connected)
            seen = i.clients[0];
        return seen.has_value();
    }));
    BOOST_TEST(seen->pid == static_cast<std::uint32_t>(shell.pid()));
    BOOST_TEST(seen->connected);
    BOOST_TEST(seen->connections == 1u);
    BOOST_TEST(seen->connected_unix_ns >= before);
    BOOST_TEST(seen->connected_unix_ns <= static_cast<std::uint64_t>(vd::unix_now_ns()));
    BOOST_TEST(venom::inspect_channel(name.str()).clients_alive == 1u);
    shell.kill(SIGKILL);
    (void)shell.wait();
    const auto after = venom::inspect_channel(name.str());
    BOOST_REQUIRE(after.clients.size() == 1u); // marked connected by a dead shell
    BOOST_TEST(!after.clients[0].alive);
    BOOST_TEST(after.clients[0].connected);
    BOOST_TEST(after.clients_alive == 0u);
}

BOOST_AUTO_TEST_CASE(queue_depth_is_exact) {
    ChannelName name("depth");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    constexpr int senders = 3;
    std::vector<venom::ShellChannel> shells;
    for (int k = 0; k < senders; ++k) shells.push_back(venom::ShellChannel::connect(name.str()));
    std::vector<std::thread> threads;
    for (int k = 0; k < senders; ++k)
        threads.emplace_back([&, k] { (void)shells[k].request(std::string("q"), 20s); });
    BOOST_TEST(eventually(
        [&] { return venom::inspect_channel(name.str()).sample.queue_depth == senders; }));
    std::size_t handled = 0;
    BOOST_TEST(eventually([&] {
        handled += daemon.poll([](std::uint32_t, venom::ByteView c) { return c.to_vector(); });
        return handled == senders;
    }));
    for (auto& t : threads) t.join();
    const auto i = venom::inspect_channel(name.str());
    BOOST_TEST(i.sample.queue_depth == 0u);
    BOOST_TEST(i.sample.commands_handled == static_cast<std::uint64_t>(senders));
    BOOST_TEST(i.sample.head == i.sample.tail);
    std::uint64_t requests = 0;
    for (const auto& c : i.clients) requests += c.requests;
    BOOST_TEST(requests == static_cast<std::uint64_t>(senders));
}

// ================================================================ the error log

BOOST_AUTO_TEST_CASE(error_log_keeps_the_last_16) {
    ChannelName name("errlog");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    int k = 0;
    Server server(daemon, [&k](std::uint32_t, venom::ByteView cmd) -> std::string {
        if (cmd.size() > 1) throw std::runtime_error(std::string(300, 'L'));
        throw std::runtime_error("err " + std::to_string(k++));
    });
    auto shell = venom::ShellChannel::connect(name.str());
    constexpr int total = 20;
    for (int n = 0; n < total; ++n)
        error_of([&] { (void)shell.request(std::string("x")); }, errc::handler_failed, "throws");
    auto i = venom::inspect_channel(name.str());
    BOOST_TEST(i.sample.errors_logged == static_cast<std::uint64_t>(total));
    BOOST_TEST(i.sample.handler_errors == static_cast<std::uint64_t>(total));
    BOOST_REQUIRE(i.recent_errors.size() == vd::error_log_entries);
    for (std::size_t e = 0; e < i.recent_errors.size(); ++e) {
        const venom::HandlerError& h = i.recent_errors[e];
        const std::uint64_t ordinal = total - vd::error_log_entries + e;
        BOOST_TEST(h.ordinal == ordinal);
        BOOST_TEST(h.text == "err " + std::to_string(ordinal));
        BOOST_TEST(!h.truncated);
        BOOST_TEST(h.known_code);
        BOOST_TEST(h.code == static_cast<std::uint32_t>(errc::handler_failed));
        BOOST_TEST(h.client == shell.client_id());
        BOOST_TEST(h.unix_ns != 0u);
        if (e != 0) BOOST_TEST(h.request > i.recent_errors[e - 1].request);
    }
    // A long what(): cut to what the entry holds, and said so.
    error_of([&] { (void)shell.request(std::string("long")); }, errc::handler_failed, "long");
    i = venom::inspect_channel(name.str());
    BOOST_REQUIRE(!i.recent_errors.empty());
    const venom::HandlerError& last = i.recent_errors.back();
    BOOST_TEST(last.truncated);
    BOOST_TEST(last.text == std::string(vd::error_entry_text_capacity, 'L'));
    // Without the log: nothing read.
    venom::InspectOptions quiet;
    quiet.errors = false;
    BOOST_TEST(venom::inspect_channel(name.str(), quiet).recent_errors.empty());
}

BOOST_AUTO_TEST_CASE(hostile_error_log_and_heartbeat_bytes_are_bounded) {
    ChannelName name("hostlog");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    {
        Server server(daemon, [](std::uint32_t, venom::ByteView) -> std::string {
            throw std::runtime_error("boom");
        });
        auto shell = venom::ShellChannel::connect(name.str());
        for (int n = 0; n < 4; ++n)
            error_of([&] { (void)shell.request(std::string("x")); }, errc::handler_failed, "boom");
    }
    RawSegment raw(name.str());
    vd::ControlBlock& cb = raw.cb();
    // Entry #1 "being written" (its writer died between the marks): skipped, the others read.
    cb.errors[1].seq.store(2 * 1 + 1);
    // Entry #2 naming another error than the one asked for: skipped.
    cb.errors[2].seq.store(2 * 40 + 2);
    // Entry #3's text length absurd: clamped to what the entry holds.
    vd::ErrorBody body;
    std::memcpy(&body, cb.errors[3].body, sizeof body);
    body.text_length = 0xffffffffu;
    body.code = 9999; // no errc of this build
    std::memcpy(cb.errors[3].body, &body, sizeof body);
    auto i = venom::inspect_channel(name.str());
    BOOST_REQUIRE(i.recent_errors.size() == 2u);
    BOOST_TEST(i.recent_errors[0].ordinal == 0u);
    BOOST_TEST(i.recent_errors[0].text == "boom");
    BOOST_TEST(i.recent_errors[1].ordinal == 3u);
    BOOST_TEST(i.recent_errors[1].text.size() == vd::error_entry_text_capacity);
    BOOST_TEST(!i.recent_errors[1].known_code);
    // A count of errors at the top of the range: at most a log's worth is looked at.
    cb.errors_logged.store(~std::uint64_t{0});
    i = venom::inspect_channel(name.str());
    BOOST_TEST(i.recent_errors.size() <= vd::error_log_entries);
    // A heartbeat from the future: not shown as an age.
    cb.heartbeat_steady_ns.store(vd::steady_ns(vd::clock::now() + std::chrono::hours(1)));
    BOOST_TEST(!venom::inspect_channel(name.str()).daemon.heartbeat_age.has_value());
    // Queue positions that make no sense: the depth stays within the ring.
    cb.head.store(1000);
    BOOST_TEST(venom::inspect_channel(name.str()).sample.queue_depth == 0u);
    cb.head.store(0);
    raw.a.map.shared->tail.store(1u << 30);
    BOOST_TEST(venom::inspect_channel(name.str()).sample.queue_depth <= raw.a.map.ring_slots);
    raw.a.map.shared->tail.store(0);
}

// ================================================================ the heartbeat

BOOST_AUTO_TEST_CASE(heartbeat_moves_while_idle_and_poll_beats_too) {
    ChannelName name("beat");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    // A daemon that never ran: no heartbeat.
    auto i = venom::inspect_channel(name.str());
    BOOST_TEST(!i.daemon.heartbeat_age.has_value());
    BOOST_TEST(i.daemon.beats == 0u);
    // poll() that finds nothing beats every heartbeat_empty_polls calls.
    for (unsigned k = 0; k < vd::heartbeat_empty_polls; ++k)
        (void)daemon.poll([](std::uint32_t, venom::ByteView) {});
    i = venom::inspect_channel(name.str());
    BOOST_TEST(i.daemon.beats == 1u);
    BOOST_TEST(i.daemon.heartbeat_age.has_value());
    // run(), idle: it beats at least every idle slice (100 ms).
    Server server(daemon);
    BOOST_REQUIRE(eventually([&] { return venom::inspect_channel(name.str()).daemon.beats > 1; }));
    const std::uint64_t b0 = venom::inspect_channel(name.str()).daemon.beats;
    BOOST_TEST(
        eventually([&] { return venom::inspect_channel(name.str()).daemon.beats >= b0 + 2; }));
    const auto ins = venom::ChannelInspector::open(name.str());
    const venom::DaemonInfo d = ins.daemon();
    BOOST_REQUIRE(d.heartbeat_age.has_value());
    BOOST_TEST(d.heartbeat_age->count() < std::chrono::nanoseconds(5s).count()); // one-sided
    BOOST_TEST(d.serving);
}

BOOST_AUTO_TEST_CASE(a_stuck_handler_ages_the_heartbeat) {
    ChannelName name("stuck");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    std::promise<void> release;
    std::shared_future<void> go = release.get_future().share();
    Server server(daemon, [go](std::uint32_t, venom::ByteView c) {
        go.wait(); // nothing stamps a heartbeat while the handler holds the loop
        return c.to_vector();
    });
    auto shell = venom::ShellChannel::connect(name.str());
    std::thread caller([&] { (void)shell.request(std::string("slow"), 30s); });
    BOOST_REQUIRE(eventually(
        [&] {
            const auto i = venom::inspect_channel(name.str());
            return i.sample.queue_depth >= 1u && i.daemon.heartbeat_age &&
                   *i.daemon.heartbeat_age >= std::chrono::seconds(1);
        },
        20s));
    const auto i = venom::inspect_channel(name.str());
    BOOST_TEST(i.sample.commands_handled == 0u);
    BOOST_TEST(i.daemon.alive);
    release.set_value();
    caller.join();
    BOOST_TEST(eventually([&] {
        const auto j = venom::inspect_channel(name.str());
        return j.sample.commands_handled == 1u && j.daemon.heartbeat_age &&
               *j.daemon.heartbeat_age < std::chrono::seconds(1);
    }));
}

#if !defined(_WIN32)
// ================================================================ leftovers and foreign files

namespace {

std::string shm(const std::string& name, const char* suffix) {
    return "/dev/shm/venom." + name + suffix;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    std::uint64_t x = 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(::getpid());
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>(x);
    }
    return s;
}

/// A lock file holding a "building" record of this process (as a daemon killed mid-create
/// leaves it), or none (`with_record` false: all zero, as a daemon's close leaves it).
void write_lock_file(const std::string& name, bool building) {
    auto lock = vd::LockFile::open_or_create_own(shm(name, ".lock"), vd::AccessControl(0, true));
    if (building) vd::write_building_record(lock, name, 0);
    else vd::write_record(lock, nullptr);
}

/// Fails the test (instead of hanging it) if a case blocks, e.g. on opening a FIFO.
struct Alarm {
    explicit Alarm(unsigned s) { ::alarm(s); }
    ~Alarm() { ::alarm(0); }
};

} // namespace

BOOST_AUTO_TEST_CASE(classifies_leftovers_and_foreign_files) {
    Alarm alarm(20);
    { // random bytes named like a segment, no lock file: not venom's, never "died creating"
        ChannelName name("junk");
        write_bytes(shm(name, ".shm"), random_bytes(8192));
        BOOST_TEST(listed(name.str()));
        const auto i = venom::inspect_channel(name.str());
        BOOST_TEST(venom::to_string(i.status) == "foreign");
        BOOST_TEST(!contains(i.problem_text, "creating"), i.problem_text);
        BOOST_TEST(contains(i.problem_text, "no lock file"), i.problem_text);
        BOOST_TEST((venom::remove_stale(name.str()) == venom::removal::removed));
        BOOST_TEST(!channel_files_exist(name.str()));
    }
    { // a daemon killed while creating: its building record and a segment
        ChannelName name("building");
        write_lock_file(name.str(), true);
        write_bytes(shm(name, ".shm"), random_bytes(4096));
        const auto i = venom::inspect_channel(name.str());
        BOOST_TEST(venom::to_string(i.status) == "died_creating");
        BOOST_TEST(i.daemon.pid == venom::process_id());
        BOOST_TEST(contains(i.problem_text, std::to_string(venom::process_id())), i.problem_text);
        BOOST_TEST(venom::is_leftover(i.status));
    }
    { // a daemon that closed (zeroed record) and died before removing its files
        ChannelName name("closedleft");
        write_lock_file(name.str(), false);
        write_bytes(shm(name, ".shm"), random_bytes(4096));
        BOOST_TEST(venom::to_string(venom::inspect_channel(name.str()).status) == "closed");
    }
    { // a lock file with garbage in it
        ChannelName name("garbage");
        write_bytes(shm(name, ".lock"), random_bytes(192));
        write_bytes(shm(name, ".shm"), random_bytes(4096));
        BOOST_TEST(venom::to_string(venom::inspect_channel(name.str()).status) == "foreign");
    }
    { // only the lock file
        ChannelName name("lockonly");
        write_lock_file(name.str(), false);
        const auto i = venom::inspect_channel(name.str());
        BOOST_TEST(venom::to_string(i.status) == "stale");
        BOOST_TEST(contains(i.problem_text, "only the lock file"), i.problem_text);
    }
    { // a FIFO and a symlink named like channel files: never opened (a FIFO would block)
        ChannelName fifo("fifo"), link("symlink");
        BOOST_REQUIRE(::mkfifo(shm(fifo, ".shm").c_str(), 0600) == 0);
        BOOST_REQUIRE(::symlink("/etc/passwd", shm(link, ".lock").c_str()) == 0);
        const auto f = venom::inspect_channel(fifo.str());
        BOOST_TEST(venom::to_string(f.status) == "foreign");
        BOOST_TEST(contains(f.problem_text, "FIFO"), f.problem_text);
        const auto l = venom::inspect_channel(link.str());
        BOOST_TEST(venom::to_string(l.status) == "foreign");
        BOOST_TEST(contains(l.problem_text, "symbolic link"), l.problem_text);
        std::error_code ec;
        (void)venom::remove_stale(link.str(), ec);
        BOOST_TEST((ec == errc::permission_denied), ec.message()); // never removed or followed
        BOOST_TEST(::access("/etc/passwd", F_OK) == 0);
    }
}

VENOM_CHILD_ROLE(inspect_daemon) {
    auto d = venom::DaemonChannel::create(args.at(0), venom::ChannelConfig{64, 4, 4});
    d.write_data("from the child");
    d.run([](std::uint32_t, venom::ByteView c) { return c.to_vector(); }); // killed by the test
    return 0;
}

BOOST_AUTO_TEST_CASE(a_killed_daemon_is_stale_and_remove_stale_cleans_it) {
    ChannelName name("killed");
    Child daemon = spawn_self("inspect_daemon", {name.str()});
    // Alive, and its state written: the channel is alive as soon as create() returns, before
    // the child's write_data (a slow emulator shows the gap).
    BOOST_REQUIRE(eventually(
        [&] {
            const auto i = venom::inspect_channel(name.str());
            return i.status == channel_status::alive && i.sample.state_version >= 1;
        },
        20s));
    BOOST_TEST((venom::remove_stale(name.str()) == venom::removal::daemon_alive));
    BOOST_TEST(channel_files_exist(name.str()));
    const auto daemon_pid = static_cast<std::uint32_t>(daemon.pid());
    daemon.kill(SIGKILL);
    (void)daemon.wait();
    const auto i = venom::inspect_channel(name.str());
    BOOST_TEST(venom::to_string(i.status) == "stale");
    BOOST_TEST(i.readable); // its last state is still there
    BOOST_TEST(!i.daemon.alive);
    BOOST_TEST(i.daemon.pid == daemon_pid);
    const auto ins = venom::ChannelInspector::open(name.str());
    char buf[32];
    std::uint64_t v = 0;
    std::error_code ec;
    const std::size_t n = ins.read_state(buf, sizeof buf, v, ec);
    BOOST_TEST(std::string(buf, n) == "from the child");
    BOOST_TEST((venom::remove_stale(name.str()) == venom::removal::removed));
    BOOST_TEST(!channel_files_exist(name.str()));
    BOOST_TEST((venom::remove_stale(name.str()) == venom::removal::not_found));
    BOOST_TEST(venom::to_string(venom::inspect_channel(name.str()).status) == "missing");
}

BOOST_AUTO_TEST_CASE(an_incompatible_layout_keeps_its_liveness) {
    ChannelName name("layout6");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    // The record as a daemon of layout 6 would write it (the lock file is the daemon's own).
    const int fd = ::open(shm(name, ".lock").c_str(), O_RDWR | O_CLOEXEC);
    BOOST_REQUIRE(fd >= 0);
    vd::NameRecord r{};
    BOOST_REQUIRE(::pread(fd, &r, sizeof r, 0) == static_cast<ssize_t>(sizeof r));
    r.layout = 6;
    r.checksum = vd::record_checksum(r);
    BOOST_REQUIRE(::pwrite(fd, &r, sizeof r, 0) == static_cast<ssize_t>(sizeof r));
    ::close(fd);
    const auto i = venom::inspect_channel(name.str());
    BOOST_TEST(venom::to_string(i.status) == "alive");
    BOOST_TEST(!i.readable);
    BOOST_TEST((i.problem == errc::incompatible_layout), i.problem_text);
    BOOST_TEST(i.layout_version == 6u);
    BOOST_TEST(i.daemon.pid == venom::process_id());
}

namespace {

/// The /proc/locks lines of a file (its inode), sorted without their ordinal.
std::vector<std::string> locks_of(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return {};
    const std::string ino = ":" + std::to_string(st.st_ino) + " ";
    std::vector<std::string> out;
    std::ifstream f("/proc/locks");
    for (std::string line; std::getline(f, line);)
        if (line.find(ino) != std::string::npos) out.push_back(line.substr(line.find(':') + 1));
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(inspection_writes_and_locks_nothing) {
    ChannelName name("readonly");
    auto daemon = venom::DaemonChannel::create(name.str(), small_config());
    Server server(daemon);
    auto shell = venom::ShellChannel::connect(name.str());
    (void)shell.request(std::string("hello"));
    const std::string seg = shm(name, ".shm"), lock = shm(name, ".lock");
    const auto seg_locks = locks_of(seg), lock_locks = locks_of(lock);
    BOOST_TEST(!seg_locks.empty());
    struct stat before {};
    BOOST_REQUIRE(::stat(seg.c_str(), &before) == 0);
    {
        auto ins = venom::ChannelInspector::open(name.str());
        for (int k = 0; k < 10; ++k) {
            (void)ins.info();
            (void)ins.sample();
            (void)ins.daemon();
            BOOST_TEST((locks_of(seg) == seg_locks));
            BOOST_TEST((locks_of(lock) == lock_locks));
        }
        const auto vmas = mappings_of(seg);
        BOOST_TEST(vmas.size() >= 2u); // the shell's (cut by protections) and the inspector's
        bool read_only_whole = false;
        for (const auto& v : vmas)
            if (!v.writable && v.offset == 0 &&
                v.end - v.begin >= ins.opened().layout.segment_bytes)
                read_only_whole = true;
        BOOST_TEST(read_only_whole);
    }
    struct stat after {};
    BOOST_REQUIRE(::stat(seg.c_str(), &after) == 0);
    BOOST_TEST(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    BOOST_TEST(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    BOOST_TEST((locks_of(seg) == seg_locks));
}

// ================================================================ another user

namespace {
constexpr unsigned nobody_uid = 65534;
bool become_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setgid(nobody_uid) == 0 && ::setuid(nobody_uid) == 0 &&
           ::geteuid() == nobody_uid;
}
} // namespace

/// As uid 65534: exits with the status of channel ARG0 (+10 if it was readable); or, with
/// ARG1 "rm", 0 if remove_stale was refused with permission_denied.
VENOM_CHILD_ROLE(inspect_as_nobody) {
    if (!become_nobody()) return 90;
    if (args.size() > 1 && args[1] == "rm") {
        std::error_code ec;
        (void)venom::remove_stale(args[0], ec);
        return ec == errc::permission_denied ? 0 : 1;
    }
    const auto i = venom::inspect_channel(args[0]);
    return static_cast<int>(i.status) + 10 * (i.readable ? 1 : 0);
}

BOOST_AUTO_TEST_CASE(another_user_sees_liveness_without_reading) {
    if (::geteuid() != 0) {
        BOOST_TEST_MESSAGE("skipped: needs root to run a child as another user");
        return;
    }
    ChannelName name("otheruser");
    Child daemon = spawn_self("inspect_daemon", {name.str()}); // owner_only: mode 0600
    BOOST_REQUIRE(eventually(
        [&] { return venom::inspect_channel(name.str()).status == channel_status::alive; }, 20s));
    auto as_nobody = [&](const char* what) {
        Child c = what ? spawn_self("inspect_as_nobody", {name.str(), what})
                       : spawn_self("inspect_as_nobody", {name.str()});
        return c.wait(30s);
    };
    // alive, not readable: liveness from the kernel's lock table, never "dead"
    BOOST_TEST(as_nobody(nullptr) == static_cast<int>(channel_status::alive));
    daemon.kill(SIGKILL);
    (void)daemon.wait();
    BOOST_TEST(as_nobody(nullptr) == static_cast<int>(channel_status::stale));
    // root's stale files: another user may not remove them
    BOOST_TEST(as_nobody("rm") == 0);
    BOOST_TEST(channel_files_exist(name.str()));
    BOOST_TEST((venom::remove_stale(name.str()) == venom::removal::removed));
}

BOOST_AUTO_TEST_CASE(another_users_remove_stale_leaves_no_lock_file_behind) {
    if (::geteuid() != 0) {
        BOOST_TEST_MESSAGE("skipped: needs root to run a child as another user");
        return;
    }
    // Root's leftover segment without a lock file: another user's remove_stale must refuse
    // before it creates a lock file of its own there (root's next daemon could not take it).
    ChannelName name("rmother");
    write_bytes(shm(name, ".shm"), random_bytes(4096));
    Child c = spawn_self("inspect_as_nobody", {name.str(), "rm"});
    BOOST_TEST(c.wait(30s) == 0); // permission_denied
    BOOST_TEST(::access(shm(name, ".lock").c_str(), F_OK) != 0);
    // Files of two owners are not one daemon's.
    write_lock_file(name.str(), false);
    BOOST_REQUIRE(::chown(shm(name, ".lock").c_str(), nobody_uid, nobody_uid) == 0);
    const auto i = venom::inspect_channel(name.str());
    BOOST_TEST(venom::to_string(i.status) == "foreign");
    BOOST_TEST(contains(i.problem_text, "different users"), i.problem_text);
    // (Root's create refuses that lock file, as it must: the reason the refusal above matters.)
    error_of([&] { (void)venom::DaemonChannel::create(name.str(), small_config()); },
             errc::permission_denied, "a lock file of uid 65534");
}
#endif

VENOM_TEST_MAIN("inspect")
