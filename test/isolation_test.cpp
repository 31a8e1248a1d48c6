// SPDX-License-Identifier: BSL-1.0
// test/isolation_test.cpp - what one shell can do to the others (Linux only): write where it
// must not (read-only mappings), be stopped at any instruction (SIGSTOP), or die at any
// instruction (SIGKILL), while a daemon and other shells go on being served correctly.
//
//   a_stray_write_kills_only_the_shell_that_makes_it: a daemon (this process, a checksum
//       handler, one state) and shell B (a child looping checked requests and state reads).
//       One child shell A per target connects, finds its own mapping of the segment in
//       /proc/self/maps (the one ShellChannel::connect made; the child makes no other), lays
//       the channel out over it from the daemon's name record, checks every page's protection,
//       makes the writes a shell is allowed (its own client area, the shared lines: the same
//       value back), then writes one byte where it may not: the state, the control block, B's
//       answer slot, its own answer slot, B's staging area and record, a free client area,
//       Boost's header, the pages just around the shared region and its own area. Each A must
//       die of SIGSEGV (SEGV_ACCERR) at exactly that address; after each, B, the daemon and
//       this process's own shell still work, the state is unchanged, no answer is wrong.
//   a_stopped_shell_holds_nothing: a daemon with large commands (64 MiB, or 16 MiB / 4 MiB on
//       a small /dev/shm) and a checksum handler; shell S (a child) sends commands of tens of
//       MiB with random content in a loop; S is SIGSTOPped at random moments (at least 10
//       times, 100..300 ms each) while two shells of this process (T1, T2) keep making small
//       requests: each is answered within 2 s, and both are answered while S is stopped (the
//       worst latencies are printed). After SIGCONT every request of S completes with its own
//       checksum (every third has a 150 ms timeout: it may time out, and the next request is
//       then answered correctly). The daemon counts no malformed, stale or repaired command.
//   a_killed_shell_leaves_its_slot_for_the_next: the same channel shape; S is SIGKILLed at
//       random points of its loop, a new S connects each time; T1 and T2 are unaffected, the
//       slots are reused (every slot can still be taken at the end), nothing hangs.
//
// Sizes scale down with VENOM_TEST_SCALE < 1 (the sanitizer runs use 0.2): the large commands
// shrink (down to 1 MiB); the number of stops and kills does not.
#include "test_support.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

using namespace venom_test;
namespace vd = venom::detail;
using Clock = std::chrono::steady_clock;

namespace {

// ---- commands and answers -------------------------------------------------------------------

/// A checksum fast enough for commands of 64 MiB: four independent lanes of 8-byte words
/// (each step a bijection of the lane's state, so a changed word always changes its lane),
/// the tail bytes by FNV-1a.
std::uint64_t sum64(const void* data, std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
    std::uint64_t h[4] = {n, n ^ 0x1111, n ^ 0x2222, n ^ 0x3333};
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (std::size_t j = 0; j < 4; ++j) {
            std::uint64_t w;
            std::memcpy(&w, p + i + 8 * j, 8);
            h[j] = (h[j] ^ w) * k;
            h[j] ^= h[j] >> 31;
        }
    std::uint64_t r = h[0];
    for (std::size_t j = 1; j < 4; ++j) {
        r = (r ^ h[j]) * k;
        r ^= r >> 29;
    }
    return fnv1a(p + i, n - i, r);
}

/// Every command starts with its sender's sequence number; the answer names it, the command's
/// length and checksum, and the client the daemon answered.
struct Answer {
    std::uint64_t seq;
    std::uint64_t length;
    std::uint64_t sum;
    std::uint32_t client;
    std::uint32_t pad;
};
static_assert(sizeof(Answer) == 32 && sizeof(Answer) <= vd::response_inline_capacity,
              "an answer fits the response slot's first line");

std::uint64_t seq_of(const void* cmd, std::size_t n) {
    std::uint64_t s = 0;
    if (n >= 8) std::memcpy(&s, cmd, 8);
    return s;
}

Answer answer_for(std::uint32_t client, const void* cmd, std::size_t n) {
    return Answer{seq_of(cmd, n), n, sum64(cmd, n), client, 0};
}

/// The daemon's handler in every test: the answer, written into the slot without allocating.
void checksum_handler(std::uint32_t client, venom::ByteView cmd, venom::ResponseWriter& out) {
    const Answer a = answer_for(client, cmd.data(), cmd.size());
    std::memcpy(out.data(), &a, sizeof a);
    out.resize(sizeof a);
}

/// Whether n bytes at resp are the answer to this command from this client.
bool answer_ok(const void* resp, std::size_t n, std::uint32_t client, const void* cmd,
               std::size_t len) {
    const Answer want = answer_for(client, cmd, len);
    return n == sizeof want && std::memcmp(resp, &want, sizeof want) == 0;
}

/// Sends one small checked command; true if the right answer came back.
bool checked_request(venom::ShellChannel& shell, std::uint64_t seq, std::mt19937_64& rng,
                     std::chrono::milliseconds timeout, std::error_code& ec) {
    std::vector<unsigned char> cmd(8 + rng() % 200);
    for (auto& b : cmd) b = static_cast<unsigned char>(rng());
    std::memcpy(cmd.data(), &seq, 8);
    unsigned char resp[64];
    const std::size_t n = shell.request(cmd.data(), cmd.size(), resp, sizeof resp, timeout, ec);
    return !ec && answer_ok(resp, n, shell.client_id(), cmd.data(), cmd.size());
}

void atomic_max(std::atomic<std::uint64_t>& a, std::uint64_t v) {
    for (std::uint64_t cur = a.load(); v > cur && !a.compare_exchange_weak(cur, v);) {}
}

std::uint64_t ns_since(Clock::time_point t0) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

// ---- the daemon's counters, read through a read-only mapping of this process ------------------

struct Counters {
    std::uint64_t handled, malformed, stale, handler_errors, repairs;
};

Counters counters_of(const vd::ChannelMap& m) {
    const vd::ControlBlock& cb = *m.cb;
    return {cb.commands_handled.load(), cb.commands_malformed.load(), cb.commands_stale.load(),
            cb.handler_errors.load(), cb.queue_repairs.load()};
}

vd::Attachment attach_read_only(const std::string& name) {
    vd::AttachOptions o;
    o.writable = false;
    return vd::attach(name, o);
}

// =============================================================================================
// 1. read-only mappings
// =============================================================================================

constexpr std::size_t ro_state_bytes = 4096;

venom::ChannelConfig ro_config() {
    venom::ChannelConfig c{ro_state_bytes, 8, 5};
    c.max_cmd_size = 4096;
    c.max_response_size = 64;
    return c;
}

std::vector<unsigned char> ro_state() {
    std::vector<unsigned char> s(ro_state_bytes);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<unsigned char>(i * 131 + 7);
    return s;
}

/// Shell B's outcomes (a plain shared-memory object of the test's, not the channel's segment).
struct SteadyStats {
    std::atomic<std::uint32_t> stop;
    std::atomic<std::uint32_t> id;
    std::atomic<std::uint32_t> connected;
    std::atomic<std::uint32_t> last_error;
    std::atomic<std::uint64_t> ok, wrong, errors, reads_ok, state_bad;
};

/// What a scribbling shell A tells the test: how far it got, and where it faulted.
struct ScribbleReport {
    std::atomic<std::uint64_t> armed;      ///< the address about to be written (0: not reached)
    std::atomic<std::uint64_t> fault_addr; ///< si_addr of the SIGSEGV
    std::atomic<std::int32_t> fault_code;  ///< si_code of the SIGSEGV
    std::atomic<std::uint32_t> faulted;
    std::atomic<std::uint32_t> survived; ///< the forbidden write went through
    std::atomic<std::uint32_t> allowed_writes;
    std::atomic<std::uint32_t> own_id;
    char text[512]; ///< why the child gave up, if it did
};

ScribbleReport* g_report = nullptr;

void record_segv(int, siginfo_t* info, void*) {
    // Async-signal-safe: lock-free atomics only. SA_RESETHAND restored the default action, so
    // returning re-runs the write, which now kills the process with SIGSEGV.
    g_report->fault_addr.store(reinterpret_cast<std::uintptr_t>(info->si_addr));
    g_report->fault_code.store(info->si_code);
    g_report->faulted.store(1);
}

/// Writes a byte's own value back (a plain store: only for bytes no other process writes).
void rewrite(unsigned char* p) {
    volatile unsigned char* v = p;
    *v = *v;
}

/// Writes an atomic's value back, atomically (a CAS of the value with itself: a write cycle
/// that changes nothing, whatever other processes do to it meanwhile).
template <class T> void rewrite(std::atomic<T>& a) {
    T v = a.load();
    while (!a.compare_exchange_weak(v, v)) {}
}

const char* const scribble_targets[] = {
    "state",           // (a) the newest state buffer's data
    "control",         // (b) the control block's channel state
    "other_response",  // (c) shell B's response slot
    "own_response",    // (d) this shell's own response slot
    "other_staging",   // (e) shell B's staging area (command bytes)
    "other_record",    //     shell B's client record
    "free_area",       //     the staging area of a client slot nobody holds
    "segment_header",  //     Boost's header, byte 0 of the segment
    "before_shared",   //     the last byte before the shared region (response slots' pages)
    "after_shared",    //     the first byte after it (client area 0's record)
    "before_own_area", //     the last byte before this shell's own client area
    "after_own_area",  //     the first byte after it
};

} // namespace

/// Shell B: checked requests and state reads, until told to stop.
VENOM_CHILD_ROLE(steady_shell) {
    SharedBlock<SteadyStats> stats(args.at(1), false);
    auto shell = connect_when_up(args.at(0), {}, 20s);
    stats->id.store(shell.client_id());
    stats->connected.store(1);
    const auto want = ro_state();
    std::vector<unsigned char> got(ro_state_bytes);
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid_portable()));
    const auto give_up = Clock::now() + 300s; // the test died: stop anyway
    for (std::uint64_t seq = 1; stats->stop.load() == 0 && Clock::now() < give_up; ++seq) {
        std::error_code ec;
        if (checked_request(shell, seq, rng, 5000ms, ec)) stats->ok.fetch_add(1);
        else if (ec) {
            stats->errors.fetch_add(1);
            stats->last_error.store(static_cast<std::uint32_t>(ec.value()));
            std::this_thread::sleep_for(1ms);
        } else stats->wrong.fetch_add(1);
        const std::size_t n = shell.read_data(got.data(), got.size(), ec);
        if (!ec && n == want.size() && got == want) stats->reads_ok.fetch_add(1);
        else stats->state_bad.fetch_add(1);
        std::this_thread::sleep_for(200us);
    }
    return 0;
}

/// Shell A: connects, checks its own mapping, makes the writes it may, then one it may not.
/// args: channel, report block, target, shell B's client id. Dies of SIGSEGV when all is well;
/// any exit code means it did not (10..: set-up failed, see the report's text; 0: the write
/// went through).
VENOM_CHILD_ROLE(scribbler) {
    SharedBlock<ScribbleReport> report(args.at(1), false);
    g_report = &*report;
    const std::string target = args.at(2);
    const auto other = static_cast<std::uint32_t>(std::stoul(args.at(3)));
    auto fail = [&](int code, const std::string& why) {
        std::snprintf(report->text, sizeof report->text, "%s", why.c_str());
        return code;
    };
    const rlimit no_core{0, 0}; // a dump per expected crash helps nobody
    ::setrlimit(RLIMIT_CORE, &no_core);

    auto shell = venom::ShellChannel::connect(args.at(0));
    const std::uint32_t own = shell.client_id();
    report->own_id.store(own);
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid_portable()));
    std::error_code ec;
    if (!checked_request(shell, 1, rng, 5000ms, ec))
        return fail(10, "first request: " + ec.message());

    // ---- the shell's own mapping: the only one of the segment file in this process
    const std::string path = vd::segment_path(args.at(0));
    const std::vector<Vma> vmas = mappings_of(path);
    if (vmas.empty()) return fail(11, "no mapping of " + path + " in /proc/self/maps");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fail(11, "stat " + path);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::uintptr_t begin = vmas.front().begin;
    for (std::size_t i = 0; i < vmas.size(); ++i)
        if (vmas[i].offset != vmas[i].begin - begin || (i != 0 && vmas[i].begin != vmas[i - 1].end))
            return fail(11, "the segment file is mapped more than once, or not contiguously");
    const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    if (vmas.front().offset != 0 || vmas.back().end - begin != (size + page - 1) / page * page)
        return fail(11, "the mapping does not cover the file exactly once");
    auto* base = reinterpret_cast<unsigned char*>(begin);

    // ---- the layout over it, from the daemon's name record (a read of the lock file: no
    // second mapping of anything)
    vd::NameRecord record{};
    {
        const vd::LockFile lock =
            vd::LockFile::open_trusted(vd::lock_path(args.at(0)), vd::Trust{}, false);
        if (!vd::read_record(lock, args.at(0), record)) return fail(12, "no ready name record");
    }
    if (record.control_offset >= size) return fail(12, "control offset outside the file");
    vd::ChannelMap m;
    try {
        m = vd::ChannelMap::validate(
            reinterpret_cast<vd::ControlBlock*>(base + record.control_offset), base, size);
    } catch (const std::exception& e) {
        return fail(13, std::string("validate: ") + e.what());
    }
    if (m.client(own).pid.load() != static_cast<std::uint32_t>(::getpid()) ||
        m.client(own).state.load() != vd::client_connected)
        return fail(14, "our client record is not ours: the layout is off");
    if (other == own || other >= m.max_clients ||
        m.client(other).state.load() != vd::client_connected)
        return fail(15, "shell B's slot " + std::to_string(other) + " is not connected");
    if (own == 0 || own + 1 >= m.max_clients)
        return fail(15, "own slot " + std::to_string(own) + " has no neighbours");

    // ---- every page's protection: writable exactly the shared region and our own area
    const auto shared_lo = reinterpret_cast<std::uintptr_t>(m.shared);
    const std::uintptr_t shared_hi = shared_lo + m.shared_bytes;
    const auto own_lo = reinterpret_cast<std::uintptr_t>(m.client_area(own));
    const std::uintptr_t own_hi = own_lo + m.client_stride;
    std::uint64_t writable_bytes = 0;
    for (const Vma& v : vmas) {
        const bool in_shared = v.begin >= shared_lo && v.end <= shared_hi;
        const bool in_own = v.begin >= own_lo && v.end <= own_hi;
        const bool touches =
            (v.begin < shared_hi && v.end > shared_lo) || (v.begin < own_hi && v.end > own_lo);
        if (v.writable && !in_shared && !in_own)
            return fail(16, "a writable mapping outside the shared region and our area at offset " +
                                std::to_string(v.offset));
        if (!v.writable && touches)
            return fail(16, "a read-only page in the shared region or our area at offset " +
                                std::to_string(v.offset));
        if (v.writable) writable_bytes += v.end - v.begin;
    }
    if (writable_bytes != m.shared_bytes + m.client_stride)
        return fail(16, "writable bytes " + std::to_string(writable_bytes) + ", expected " +
                            std::to_string(m.shared_bytes + m.client_stride));

    // ---- the writes a shell is allowed: its own area, the shared lines (nothing changes)
    rewrite(m.client(own).state);
    rewrite(m.client_requests(own));
    rewrite(m.staging(own).length);
    rewrite(m.staging_data(own));
    rewrite(m.client_area(own) + m.client_stride - 1);
    rewrite(m.shared->tail);
    rewrite(m.shared->cmd_wait.epoch);
    rewrite(m.slot(m.shared->tail.load()).word);
    // the last line's padding
    rewrite(reinterpret_cast<unsigned char*>(m.shared) + m.shared_bytes - 1);
    report->allowed_writes.store(9);
    if (!checked_request(shell, 2, rng, 5000ms, ec))
        return fail(17, "request after the allowed writes: " + ec.message());

    // ---- the write it may not make
    unsigned char* p = nullptr;
    unsigned char value = 0;
    auto flip = [&](void* at) {
        p = static_cast<unsigned char*>(at);
        value = static_cast<unsigned char>(*p ^ 0x5A);
    };
    if (target == "state") {
        flip(m.buffer_data(m.buffer(vd::state_buffer_of(m.cb->state_word.load()))) + 100);
    } else if (target == "control") {
        p = reinterpret_cast<unsigned char*>(&m.cb->state); // "closed": every shell would give up
        value = static_cast<unsigned char>(vd::channel_closed);
    } else if (target == "other_response") {
        flip(&m.response(other).seq);
    } else if (target == "own_response") {
        flip(&m.response(own).seq);
    } else if (target == "other_staging") {
        flip(m.staging_data(other) + 8);
    } else if (target == "other_record") {
        // "free": B's commands dropped
        p = reinterpret_cast<unsigned char*>(&m.client(other).state);
        value = static_cast<unsigned char>(vd::client_free);
    } else if (target == "free_area") {
        for (std::uint32_t i = 0; i < m.max_clients && p == nullptr; ++i)
            if (i != own && i != other && m.client(i).state.load() == vd::client_free)
                flip(m.staging_data(i));
        if (p == nullptr) return fail(18, "no free client slot");
    } else if (target == "segment_header") {
        flip(base);
    } else if (target == "before_shared") {
        flip(reinterpret_cast<unsigned char*>(m.shared) - 1);
    } else if (target == "after_shared") {
        flip(reinterpret_cast<unsigned char*>(m.shared) + m.shared_bytes);
    } else if (target == "before_own_area") {
        flip(m.client_area(own) - 1);
    } else if (target == "after_own_area") {
        flip(m.client_area(own) + m.client_stride);
    } else {
        return fail(19, "unknown target " + target);
    }
    struct sigaction sa {};
    sa.sa_sigaction = &record_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGSEGV, &sa, nullptr) != 0) return fail(20, "sigaction");
    report->armed.store(reinterpret_cast<std::uintptr_t>(p));
    *static_cast<volatile unsigned char*>(p) = value;
    report->survived.store(1);
    return fail(0, "the write to " + target + " went through");
}

BOOST_AUTO_TEST_CASE(a_stray_write_kills_only_the_shell_that_makes_it) {
    ChannelName name("iso_ro");
    const std::string stats_name = "vt_iso_steady_" + std::to_string(getpid_portable());
    SharedBlock<SteadyStats> stats(stats_name, true);
    auto daemon = venom::DaemonChannel::create(name.str(), ro_config());
    const auto state = ro_state();
    daemon.write_data(state.data(), state.size());
    Server server(daemon, &checksum_handler);
    const vd::Attachment view = attach_read_only(name.str());

    auto mine = venom::ShellChannel::connect(name.str()); // slot 0: this process's own checks
    Child b = spawn_self("steady_shell", {name.str(), stats_name});
    BOOST_REQUIRE_MESSAGE(eventually([&] { return stats->ok.load() >= 20; }, 20s),
                          "shell B never got going");
    const std::uint32_t b_id = stats->id.load();
    std::mt19937_64 rng(4242);
    std::uint64_t seq = 1;
    std::vector<unsigned char> got(ro_state_bytes);

    int index = 0;
    for (const char* target : scribble_targets) {
        const std::string report_name =
            "vt_iso_rep_" + std::to_string(getpid_portable()) + "_" + std::to_string(index++);
        SharedBlock<ScribbleReport> report(report_name, true);
        Child a = spawn_self("scribbler", {name.str(), report_name, target, std::to_string(b_id)});
        const int rc = a.wait(20s);
        const std::string text(report->text, strnlen(report->text, sizeof report->text));
        BOOST_TEST(rc == -SIGSEGV, target << ": shell A ended with " << rc << " (" << text << ")");
        BOOST_TEST(report->allowed_writes.load() == 9u,
                   target << ": the allowed writes were not all made");
        BOOST_TEST(report->armed.load() != 0u, target << ": A never reached its forbidden write");
        BOOST_TEST(report->faulted.load() == 1u, target);
        BOOST_TEST(report->fault_addr.load() == report->armed.load(),
                   target << ": A faulted at " << std::hex << report->fault_addr.load()
                          << ", not at its write " << report->armed.load());
        BOOST_TEST(report->fault_code.load() == SEGV_ACCERR,
                   target << ": si_code " << report->fault_code.load());
        BOOST_TEST(report->survived.load() == 0u, target);
        BOOST_TEST(report->own_id.load() != b_id, target);

        // B, the daemon and this process's shell are unaffected.
        const std::uint64_t before = stats->ok.load();
        BOOST_TEST(eventually([&] { return stats->ok.load() >= before + 20; }, 10s),
                   target << ": shell B stopped being answered");
        std::error_code ec;
        BOOST_TEST(checked_request(mine, ++seq, rng, 5000ms, ec), target << ": " << ec.message());
        const std::size_t n = mine.read_data(got.data(), got.size());
        BOOST_TEST((n == state.size() && got == state), target << ": the state changed");
        BOOST_TEST(mine.version() == 1u, target);
        BOOST_TEST(stats->wrong.load() == 0u, target);
        BOOST_TEST(stats->errors.load() == 0u,
                   target << ": B's last error " << stats->last_error.load());
        BOOST_TEST(stats->state_bad.load() == 0u, target);
        BOOST_TEST(counters_of(view.map).malformed == 0u, target);
    }
    // Every slot A held was given back: all five can be held at once (this one, B, three more).
    {
        std::vector<venom::ShellChannel> more;
        for (int i = 0; i < 3; ++i) more.push_back(venom::ShellChannel::connect(name.str()));
        for (auto& s : more) {
            std::error_code ec;
            BOOST_TEST(checked_request(s, ++seq, rng, 5000ms, ec), ec.message());
        }
    }
    stats->stop.store(1);
    BOOST_TEST(b.wait(20s) == 0);
    const Counters c = counters_of(view.map);
    BOOST_TEST_MESSAGE(std::size(scribble_targets)
                       << " stray writes, each fatal to its shell only; B made " << stats->ok.load()
                       << " checked requests and " << stats->reads_ok.load()
                       << " state reads; daemon handled " << c.handled);
    BOOST_TEST(c.malformed == 0u);
    BOOST_TEST(c.handler_errors == 0u);
    BOOST_TEST(c.repairs == 0u);
    BOOST_TEST(stats->wrong.load() == 0u);
    BOOST_TEST(stats->state_bad.load() == 0u);
}

// =============================================================================================
// 2 and 3. large commands, a shell stopped or killed at random
// =============================================================================================

namespace {

// T1, T2, S, a spare slot for a killed S's successor, one more
constexpr std::uint32_t big_clients = 5;
constexpr int big_lanes = 16;

/// The largest command: 64 MiB if /dev/shm has room for the channel twice over, else 16 or
/// 4 MiB; shrunk further with VENOM_TEST_SCALE < 1 (not below 1 MiB). 0: no room at all.
std::uint32_t big_cmd_size() {
    const std::uint64_t free_bytes = vd::shm_free_bytes();
    std::uint32_t chosen = 0;
    for (std::uint32_t mib : {64u, 16u, 4u}) {
        venom::ChannelConfig c{64, 8, big_clients};
        c.max_cmd_size = mib << 20;
        if (free_bytes / 2 > vd::Sizes::of(c).segment) {
            chosen = mib << 20;
            break;
        }
    }
    if (chosen != 0 && scale() < 1.0) {
        const auto scaled_size = static_cast<std::uint32_t>(chosen * std::max(scale(), 0.0));
        chosen = std::max<std::uint32_t>(1u << 20, scaled_size / 4096 * 4096);
    }
    return chosen;
}

venom::ChannelConfig big_config(std::uint32_t max_cmd) {
    venom::ChannelConfig c{64, 8, big_clients};
    c.max_cmd_size = max_cmd;
    c.max_response_size = 64;
    return c;
}

/// One large-command shell S's outcomes.
struct BigLane {
    std::atomic<std::uint32_t> id;
    std::atomic<std::uint32_t> connected;
    std::atomic<std::uint32_t> phase;    ///< 1: preparing a command, 2: inside request()
    std::atomic<std::uint32_t> final_ok; ///< the closing request after stop was answered right
    std::atomic<std::uint32_t> last_error;
    std::atomic<std::uint32_t> connect_retries; ///< too_many_clients before a slot came free
    std::atomic<std::uint64_t> sent, ok, wrong, timeouts, errors, ok_after_timeout, bytes;
};

struct BigStats {
    std::atomic<std::uint32_t> stop;
    BigLane lane[big_lanes];
};

} // namespace

/// Shell S: commands of max_cmd/4 .. max_cmd bytes of random content, each checked, until told
/// to stop; then one small request that must be answered. args: channel, stats, lane, max
/// command size, "mixed" (every third request has a 150 ms timeout) or "long" (30 s each).
VENOM_CHILD_ROLE(big_shell) {
    SharedBlock<BigStats> stats(args.at(1), false);
    BigLane& lane = stats->lane[std::stoi(args.at(2))];
    const auto max_cmd = static_cast<std::size_t>(std::stoul(args.at(3)));
    const bool mixed = args.at(4) == "mixed";
    std::optional<venom::ShellChannel> shell;
    for (const auto until = Clock::now() + 10s; !shell;) {
        try {
            shell.emplace(connect_when_up(args.at(0), {}, 20s));
        } catch (const venom::error& e) {
            // a killed predecessor's slot is taken again once the daemon consumed its command
            if (e.code() != venom::errc::too_many_clients || Clock::now() > until) throw;
            lane.connect_retries.fetch_add(1);
            std::this_thread::sleep_for(2ms);
        }
    }
    lane.id.store(shell->client_id());
    lane.connected.store(1);
    std::mt19937_64 rng(static_cast<std::uint64_t>(getpid_portable()) * 0x9E3779B97F4A7C15ull);
    constexpr std::size_t max_offset = 64; // commands start at any alignment
    std::vector<unsigned char> buf(max_cmd + max_offset);
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
        const std::uint64_t w = rng();
        std::memcpy(&buf[i], &w, 8);
    }
    unsigned char resp[64];
    bool after_timeout = false;
    std::uint64_t seq = 0;
    const auto give_up = Clock::now() + 300s;
    while (stats->stop.load() == 0 && Clock::now() < give_up) {
        lane.phase.store(1);
        const std::size_t len = max_cmd / 4 + rng() % (max_cmd - max_cmd / 4 + 1);
        const std::size_t off = rng() % max_offset;
        for (int i = 0; i < 64; ++i) { // new random content each time
            const std::uint64_t w = rng();
            std::memcpy(&buf[off + rng() % (len - 8)], &w, 8);
        }
        ++seq;
        std::memcpy(&buf[off], &seq, 8);
        const auto timeout = mixed && seq % 3 == 0 ? std::chrono::milliseconds(150)
                                                   : std::chrono::milliseconds(30000);
        lane.sent.fetch_add(1);
        lane.phase.store(2);
        std::error_code ec;
        const std::size_t n = shell->request(&buf[off], len, resp, sizeof resp, timeout, ec);
        lane.phase.store(1);
        if (ec == venom::errc::timeout && timeout < 1s) {
            lane.timeouts.fetch_add(1);
            after_timeout = true;
            continue;
        }
        if (ec) {
            lane.errors.fetch_add(1);
            lane.last_error.store(static_cast<std::uint32_t>(ec.value()));
            std::this_thread::sleep_for(1ms);
            continue;
        }
        if (answer_ok(resp, n, shell->client_id(), &buf[off], len)) {
            lane.ok.fetch_add(1);
            lane.bytes.fetch_add(len);
            if (after_timeout) lane.ok_after_timeout.fetch_add(1);
        } else {
            lane.wrong.fetch_add(1);
        }
        after_timeout = false;
    }
    std::error_code ec;
    if (checked_request(*shell, ++seq, rng, 30000ms, ec)) lane.final_ok.store(1);
    return 0;
}

namespace {

/// A small-request shell of this process (T1, T2): its outcomes and latencies.
struct SmallLane {
    std::atomic<std::uint64_t> done{0}, wrong{0}, errors{0};
    std::atomic<std::uint64_t> worst_ns{0};
    std::atomic<std::uint64_t> done_while_stopped{0}, worst_while_stopped_ns{0};
    std::atomic<std::uint32_t> last_error{0};
};

/// A daemon in this process with the checksum handler, T1 and T2 requesting in threads, and
/// the block that S children report into.
class BigChannel {
public:
    explicit BigChannel(const char* tag)
        : name_(tag),
          stats_name_(std::string("vt_") + tag + "_stats_" + std::to_string(getpid_portable())),
          stats_(stats_name_, true),
          max_cmd_(big_cmd_size()),
          daemon_(venom::DaemonChannel::create(name_.str(), big_config(max_cmd_))),
          server_(daemon_, &checksum_handler),
          view_(attach_read_only(name_.str())) {
        for (int i = 0; i < 2; ++i) {
            shells_.push_back(venom::ShellChannel::connect(name_.str()));
        }
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this, i] { small_loop(i); });
    }
    ~BigChannel() { stop_small(); }

    void stop_small() {
        t_stop_.store(true);
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }

    const std::string& name() const { return name_.str(); }
    const std::string& stats_name() const { return stats_name_; }
    BigStats& stats() { return *stats_; }
    std::uint32_t max_cmd() const { return max_cmd_; }
    SmallLane& small(int i) { return small_[i]; }
    std::uint32_t small_id(int i) const { return shells_[static_cast<std::size_t>(i)].client_id(); }
    Counters counters() const { return counters_of(view_.map); }
    /// Small requests that start and end while this is set count as made while S was stopped.
    void set_s_stopped(bool v) { s_stopped_.store(v); }

    Child spawn_s(int lane, const char* mode) {
        return spawn_self("big_shell", {name(), stats_name_, std::to_string(lane),
                                        std::to_string(max_cmd_), mode});
    }

    /// Whether T1 and T2 each got `n` more answers within `limit`.
    bool small_progress(std::uint64_t n, std::chrono::milliseconds limit) {
        const std::uint64_t b0 = small_[0].done.load(), b1 = small_[1].done.load();
        return eventually(
            [&] { return small_[0].done.load() >= b0 + n && small_[1].done.load() >= b1 + n; },
            limit);
    }

private:
    void small_loop(int i) {
        SmallLane& lane = small_[i];
        venom::ShellChannel& shell = shells_[static_cast<std::size_t>(i)];
        std::mt19937_64 rng(777u + static_cast<unsigned>(i));
        for (std::uint64_t seq = 1; !t_stop_.load(); ++seq) {
            const bool stopped_before = s_stopped_.load();
            const auto t0 = Clock::now();
            std::error_code ec;
            const bool ok = checked_request(shell, seq, rng, 10000ms, ec);
            const std::uint64_t ns = ns_since(t0);
            if (ok) {
                lane.done.fetch_add(1);
            } else if (ec) {
                lane.errors.fetch_add(1);
                lane.last_error.store(static_cast<std::uint32_t>(ec.value()));
            } else {
                lane.wrong.fetch_add(1);
            }
            atomic_max(lane.worst_ns, ns);
            if (ok && stopped_before && s_stopped_.load()) {
                lane.done_while_stopped.fetch_add(1);
                atomic_max(lane.worst_while_stopped_ns, ns);
            }
            std::this_thread::sleep_for(1ms);
        }
    }

    ChannelName name_;
    std::string stats_name_;
    SharedBlock<BigStats> stats_;
    std::uint32_t max_cmd_;
    venom::DaemonChannel daemon_;
    Server server_;
    vd::Attachment view_;
    std::vector<venom::ShellChannel> shells_;
    SmallLane small_[2];
    std::atomic<bool> t_stop_{false};
    std::atomic<bool> s_stopped_{false};
    std::vector<std::thread> threads_;
};

/// Waits (bounded) until child `pid` is reported stopped.
bool wait_stopped(pid_t pid, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    for (;;) {
        int st = 0;
        const pid_t r = ::waitpid(pid, &st, WNOHANG | WUNTRACED);
        if (r == pid) return WIFSTOPPED(st);
        if (r < 0 || Clock::now() > end) return false;
        std::this_thread::sleep_for(100us);
    }
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

} // namespace

BOOST_AUTO_TEST_CASE(a_stopped_shell_holds_nothing) {
    if (big_cmd_size() == 0) {
        BOOST_TEST_MESSAGE("skipped: /dev/shm has " << vd::shm_free_bytes() << " bytes free");
        return;
    }
    BigChannel ch("iso_stop");
    BOOST_TEST_MESSAGE("large commands of " << ch.max_cmd() / 4 << ".." << ch.max_cmd()
                                            << " bytes");
    BigLane& s_lane = ch.stats().lane[0];
    Child s = ch.spawn_s(0, "mixed");
    BOOST_REQUIRE_MESSAGE(eventually([&] { return s_lane.ok.load() >= 2; }, 30s),
                          "S never got going");
    BOOST_REQUIRE(ch.small_progress(5, 10s));

    std::mt19937 rng(20240611u);
    const int stops = std::max(10, static_cast<int>(scaled(12)));
    int stopped_inside_request = 0;
    std::uint64_t longest_stop_ms = 0;
    for (int k = 0; k < stops; ++k) {
        // Let S get into a new command, then stop it somewhere in it.
        const std::uint64_t sent = s_lane.sent.load();
        BOOST_REQUIRE_MESSAGE(eventually([&] { return s_lane.sent.load() > sent; }, 30s),
                              "S stopped sending after its stop " << k);
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
        s.kill(SIGSTOP);
        BOOST_REQUIRE_MESSAGE(wait_stopped(s.pid(), 5000ms), "S did not stop");
        const auto stopped_at = Clock::now();
        if (s_lane.phase.load() == 2) ++stopped_inside_request;
        ch.set_s_stopped(true);
        const std::uint64_t d0 = ch.small(0).done_while_stopped.load(),
                            d1 = ch.small(1).done_while_stopped.load();
        const std::uint64_t hold_ms = 100 + rng() % 200;
        std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
        // Both are answered while S stays stopped (a command S published before its stop
        // still runs first: the daemon handles it in turn, S's answer just waits for S).
        const bool served = eventually(
            [&] {
                return ch.small(0).done_while_stopped.load() > d0 &&
                       ch.small(1).done_while_stopped.load() > d1;
            },
            2000ms);
        ch.set_s_stopped(false);
        BOOST_TEST(served,
                   "T1 and T2 not both answered within 2 s while S was stopped (stop " << k << ")");
        longest_stop_ms =
            std::max(longest_stop_ms, static_cast<std::uint64_t>(ms_since(stopped_at)));
        s.kill(SIGCONT);
    }
    // S, resumed, goes on being answered.
    const std::uint64_t ok_before = s_lane.ok.load();
    BOOST_TEST(eventually([&] { return s_lane.ok.load() >= ok_before + 2; }, 30s),
               "S was not answered after SIGCONT");
    ch.stats().stop.store(1);
    BOOST_TEST(s.wait(60s) == 0);
    ch.stop_small();

    const Counters c = ch.counters();
    BOOST_TEST_MESSAGE(
        stops << " stops of S (" << stopped_inside_request << " inside request(), up to "
              << longest_stop_ms << " ms each); S: " << s_lane.sent.load() << " sent, "
              << s_lane.ok.load() << " answered right (" << s_lane.bytes.load() / (1u << 20)
              << " MiB), " << s_lane.timeouts.load() << " timed out (150 ms), "
              << s_lane.ok_after_timeout.load() << " answered right just after a timeout");
    for (int i = 0; i < 2; ++i)
        BOOST_TEST_MESSAGE("T" << i + 1 << ": " << ch.small(i).done.load()
                               << " answers, worst latency " << ms(ch.small(i).worst_ns.load())
                               << " ms; while S was stopped "
                               << ch.small(i).done_while_stopped.load() << " answers, worst "
                               << ms(ch.small(i).worst_while_stopped_ns.load()) << " ms");
    BOOST_TEST_MESSAGE("daemon: handled " << c.handled << ", malformed " << c.malformed
                                          << ", stale " << c.stale << ", repairs " << c.repairs);
    BOOST_TEST(s_lane.wrong.load() == 0u);
    BOOST_TEST(s_lane.errors.load() == 0u, "S's last error " << s_lane.last_error.load());
    BOOST_TEST(s_lane.sent.load() == s_lane.ok.load() + s_lane.timeouts.load(),
               "every request of S was answered right or timed out (150 ms)");
    BOOST_TEST(s_lane.final_ok.load() == 1u, "S's closing request");
    // Only every third request has the short timeout: the others cannot time out.
    const std::uint64_t sent = s_lane.sent.load();
    BOOST_TEST(s_lane.ok.load() >= sent - sent / 3);
    BOOST_TEST(sent >= static_cast<std::uint64_t>(stops));
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST(ch.small(i).wrong.load() == 0u);
        BOOST_TEST(ch.small(i).errors.load() == 0u,
                   "T" << i + 1 << "'s last error " << ch.small(i).last_error.load());
        BOOST_TEST(ch.small(i).worst_ns.load() < 2'000'000'000u,
                   "T" << i + 1 << " waited over 2 s");
    }
    BOOST_TEST(c.malformed == 0u);
    BOOST_TEST(c.stale == 0u);
    BOOST_TEST(c.handler_errors == 0u);
    BOOST_TEST(c.repairs == 0u, "no stop can leave a hole in the queue");
}

BOOST_AUTO_TEST_CASE(a_killed_shell_leaves_its_slot_for_the_next) {
    if (big_cmd_size() == 0) {
        BOOST_TEST_MESSAGE("skipped: /dev/shm has " << vd::shm_free_bytes() << " bytes free");
        return;
    }
    BigChannel ch("iso_kill");
    const std::uint32_t t1 = ch.small_id(0), t2 = ch.small_id(1);
    std::mt19937 rng(97u);
    const int kills = std::max(6, static_cast<int>(scaled(6)));
    BOOST_REQUIRE(kills < big_lanes);
    std::vector<std::uint32_t> ids;
    int killed_inside_request = 0;
    std::uint64_t retries = 0;
    for (int k = 0; k < kills; ++k) {
        BigLane& lane = ch.stats().lane[k];
        const auto t0 = Clock::now();
        Child s = ch.spawn_s(k, "long");
        // (the counters are read after the wait: Boost.Test may evaluate a message first)
        const bool answered = eventually([&] { return lane.ok.load() >= 1; }, 30s);
        const std::uint32_t tries = lane.connect_retries.load();
        const std::uint64_t errors = lane.errors.load();
        BOOST_REQUIRE_MESSAGE(answered, "S " << k << " was never answered (connect retries "
                                             << tries << ", errors " << errors << ")");
        BOOST_TEST(ms_since(t0) < 20000.0);
        ids.push_back(lane.id.load());
        retries += lane.connect_retries.load();
        const std::uint64_t sent = lane.sent.load();
        BOOST_REQUIRE(eventually([&] { return lane.sent.load() > sent; }, 30s));
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
        if (lane.phase.load() == 2) ++killed_inside_request;
        s.kill(SIGKILL);
        BOOST_REQUIRE(s.wait(10s) == -SIGKILL);
        BOOST_TEST(ch.small_progress(5, 5000ms), "T1/T2 not answered after the kill of S " << k);
        BOOST_TEST(lane.wrong.load() == 0u);
        BOOST_TEST(lane.errors.load() == 0u,
                   "S " << k << "'s last error " << lane.last_error.load());
    }
    // One more S runs to the end: its requests are answered and it closes cleanly.
    BigLane& last = ch.stats().lane[kills];
    Child s = ch.spawn_s(kills, "long");
    BOOST_REQUIRE(eventually([&] { return last.ok.load() >= 3; }, 30s));
    ids.push_back(last.id.load());
    ch.stats().stop.store(1);
    BOOST_TEST(s.wait(60s) == 0);
    BOOST_TEST(last.final_ok.load() == 1u);
    BOOST_TEST(last.wrong.load() == 0u);
    BOOST_TEST(last.errors.load() == 0u);

    std::ostringstream used;
    for (auto id : ids) {
        used << id << ' ';
        BOOST_TEST((id != t1 && id != t2 && id < big_clients), "S got slot " << id);
    }
    // Every slot that a killed S held is free again: the three T1 and T2 do not hold can be
    // taken at once.
    {
        std::vector<venom::ShellChannel> all;
        for (std::uint32_t i = 2; i < big_clients; ++i)
            all.push_back(venom::ShellChannel::connect(ch.name()));
        std::mt19937_64 r(5);
        std::uint64_t seq = 1;
        for (auto& sh : all) {
            std::error_code ec;
            BOOST_TEST(checked_request(sh, seq++, r, 5000ms, ec), ec.message());
        }
    }
    BOOST_TEST(ch.small_progress(5, 5000ms));
    ch.stop_small();
    const Counters c = ch.counters();
    BOOST_TEST_MESSAGE(kills << " kills of S (" << killed_inside_request
                             << " inside request()); slots of S: " << used.str()
                             << "(connect retries " << retries << ")");
    for (int i = 0; i < 2; ++i)
        BOOST_TEST_MESSAGE("T" << i + 1 << ": " << ch.small(i).done.load()
                               << " answers, worst latency " << ms(ch.small(i).worst_ns.load())
                               << " ms");
    BOOST_TEST_MESSAGE("daemon: handled " << c.handled << ", malformed " << c.malformed
                                          << ", stale " << c.stale << ", repairs " << c.repairs);
    for (int i = 0; i < 2; ++i) {
        BOOST_TEST(ch.small(i).wrong.load() == 0u);
        BOOST_TEST(ch.small(i).errors.load() == 0u,
                   "T" << i + 1 << "'s last error " << ch.small(i).last_error.load());
        BOOST_TEST(ch.small(i).worst_ns.load() < 2'000'000'000u,
                   "T" << i + 1 << " waited over 2 s");
    }
    BOOST_TEST(c.malformed == 0u);
    BOOST_TEST(c.handler_errors == 0u);
    BOOST_TEST(c.repairs == 0u, "no kill can leave a hole in the queue");
}

VENOM_TEST_MAIN("isolation")
