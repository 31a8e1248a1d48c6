// SPDX-License-Identifier: BSL-1.0
// test/fuzz/fuzz_channel.cpp - libFuzzer target: hostile bytes in a live channel's shared memory.
//
// Each input builds a fresh channel (a daemon and a shell in this process), then runs a little
// program of operations decoded from the input: write fuzzer bytes over the control block, the
// shared region (the queue's tail, the events' wait words, the ring), the response slots, the
// client areas (record, request counter, answer wait word, view pins, staging header and command
// bytes),
// the state buffers or anywhere in the whole segment (Boost's segment header, allocator and
// name index included: every byte any process that can write the segment controls); write one
// 8-byte word at an aligned offset (offsets, offset_ptrs, sizes, queue words, the state word);
// fill a range with one byte; truncate the segment file and connect (which must refuse it)
// before restoring its size; let the daemon poll; let the shell read the state, send a
// request, wait for an update; connect another shell; look at the channel the way the `venom`
// tool does. After the program a fresh shell connects once more.
// The hostile writes go through a raw read-write mapping of the segment file (detail::attach),
// not through a shell's own mapping, which is read-only outside the shared region and its own
// client area (layout 6): they stand for any process that can map the file.
// Every call must return (bounded), report corruption as a venom::error or error_code, and
// never touch memory outside the segment (AddressSanitizer) or hit undefined behaviour.
//
// Input format: a sequence of operations, each an op byte (taken % 16) and its operands:
//   0, 1  region write   region (% 6: control block, shared region, response slots, client
//                        areas, state buffers, whole segment), offset (u16; u24 for the whole
//                        segment), length (% 17), bytes. The client areas count only their
//                        used bytes (client_fixed_bytes + max_cmd_size of each area, one after
//                        the other), the shared region its SharedLines and ring lines.
//   2     daemon poll
//   12    forged answer     status (u8), length (u16), flags (u8): the shell sends a request
//                           (5 ms timeout) and, once its wait stops spinning, an answer to the
//                           request id in its staging area is published in its response slot
//                           with that status and length (flags & 1: length 2^32 - 1 - length)
//                           over whatever payload and error text the slot holds; flags & 2: an
//                           8-byte buffer (buffer_too_small), flags & 4: the form that returns a
//                           vector (and throws)
//   3     shell read_data, then a view of the state (every byte of it read)
//   4     shell request   length (% 80: may exceed max_cmd_size), timeout 0
//   5     shell wait_for_update, timeout 0
//   6, 10, 13  connect a second shell (replacing the last) and send a request; 6 also reads
//               the state
//   7     daemon write_data  length (u8) (state_busy, from forged pins, is an outcome)
//   8     truncate          size (u24 % segment size): ftruncate the segment file smaller,
//                           connect (must fail with a venom::error), inspect, restore the size
//   9, 14 word write        9: offset (u24, word index % the segment's words); 14: offset
//                           (u8, word index % the words of the control block and then of the
//                           shared region's used lines: 0..39 the control block, 40.. tail,
//                           events, ring); then mode (% 8), then 8 bytes (raw):
//                           0 raw value, 1 offset_ptr to (offset + signed value),
//                           2 small value (low byte), 3 ~0 - low byte,
//                           4 slot_free(tail + d), 5 slot_published(tail + d, client),
//                           6 tail + d, 7 the state word make_state_word(version + d, buffer):
//                           d = the signed low byte of raw shifted left by (byte 1 % 64),
//                           client = bits 16..26 of raw, buffer = bits 16..18; tail and
//                           version are the live values
//   11    fill              offset (u24), length (u16), byte: fill the whole segment's range
//   15    inspect           venom/inspect.hpp's read-only look at the channel: inspect_channel
//                           (clients, error log, heartbeat), then a ChannelInspector's
//                           sample, daemon, clients_alive, current and read_state
//
//   build and run: bash tools/fuzz.sh [seconds]
#include <venom/venom.hpp>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <optional>
#include <signal.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

struct Reader {
    const std::uint8_t* p;
    std::size_t n;
    std::uint8_t byte() {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
    std::uint32_t u16() {
        return static_cast<std::uint32_t>(byte()) | (static_cast<std::uint32_t>(byte()) << 8);
    }
    std::uint32_t u24() { return u16() | (static_cast<std::uint32_t>(byte()) << 16); }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(byte()) << (8 * i);
        return v;
    }
};

/// VENOM_FUZZ_TRACE=1: print what each connect and truncation did (reproducing a finding).
bool trace() {
    static const bool on = std::getenv("VENOM_FUZZ_TRACE") != nullptr;
    return on;
}

/// The meaningful bytes of one region: `count` pieces of `used` bytes, `stride` apart,
/// addressed as one run of count * used bytes.
struct Region {
    std::uint8_t* p;
    std::size_t used, stride, count;
    std::size_t size() const { return used * count; }
    std::uint8_t* at(std::size_t off) const { return p + (off / used) * stride + off % used; }
};

/// Op 12's forged answer, published by the fault hook at the first block of a wait of the
/// shell's request (waiter.hpp, fault::block_begin): the answer to whatever request id the
/// shell staged, as the daemon would publish it (length and status, then seq). Set only while
/// that request runs; everything runs on one thread.
struct Forgery {
    const venom::detail::ChannelMap* map = nullptr;
    std::uint32_t client = 0, status = 0, length = 0;
};
Forgery* forgery = nullptr;

void forge_answer(venom::detail::fault f) {
    if (f != venom::detail::fault::block_begin || forgery == nullptr) return;
    const venom::detail::ChannelMap& m = *forgery->map;
    venom::detail::ResponseSlot& r = m.response(forgery->client);
    r.length.store(forgery->length, std::memory_order_relaxed);
    r.status.store(forgery->status, std::memory_order_relaxed);
    r.seq.store(m.staging(forgery->client).request.load(std::memory_order_relaxed),
                std::memory_order_release);
}

std::string channel_name() {
    static const std::string name = "venom_fuzz_" + std::to_string(::getpid());
    return name;
}

/// libFuzzer may end the process inside an input (-max_total_time, a finding): remove the
/// channel's files then, so that /dev/shm keeps no venom_fuzz_<pid> leftovers. The paths are
/// kept in plain arrays: exit handlers may run after static strings are destroyed.
char segment_file[256], lock_file[256];
void remove_channel_files() {
    ::unlink(segment_file);
    ::unlink(lock_file);
}
/// A timeout or a crash ends the process without exit handlers (libFuzzer's _Exit; -fork and
/// -minimize_crash run many such processes): the first input of each process removes what
/// processes of this target that are gone left (venom_fuzz_<pid> of a pid no longer running).
void remove_leftovers_of_dead_runs() {
    DIR* dir = ::opendir(venom::detail::shm_directory().c_str());
    if (dir == nullptr) return;
    const std::string prefix = "venom.venom_fuzz_";
    std::vector<std::string> dead;
    while (const dirent* e = ::readdir(dir)) {
        const std::string file = e->d_name;
        if (file.compare(0, prefix.size(), prefix) != 0) continue;
        const long pid = std::strtol(file.c_str() + prefix.size(), nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
            dead.push_back(file);
    }
    ::closedir(dir);
    for (const std::string& file : dead) ::unlink((venom::detail::shm_directory() + file).c_str());
}

void register_cleanup() {
    std::snprintf(segment_file, sizeof segment_file, "%s",
                  venom::detail::segment_path(channel_name()).c_str());
    std::snprintf(lock_file, sizeof lock_file, "%s",
                  venom::detail::lock_path(channel_name()).c_str());
    std::atexit(remove_channel_files);
    remove_leftovers_of_dead_runs();
}

/// Connects (every hostile state must give a shell or a venom::error), then uses the shell a
/// little: the state, a request that nobody answers in time. Bounded: no connect_timeout.
/// `read`: also read the state (a corrupt state costs a reader ~1000 yielding retries before
/// it says corrupt_channel, so not on every connect: the fuzzer stays fast).
void connect_and_use(std::optional<venom::ShellChannel>& slot, const venom::ShellOptions& so,
                     bool read) {
    std::uint8_t buf[512];
    try {
        slot.reset();
        slot.emplace(venom::ShellChannel::connect(channel_name(), so));
        std::error_code read_ec, request_ec;
        if (read) (void)slot->read_data(buf, sizeof buf, read_ec);
        (void)slot->request("x", 1, buf, sizeof buf, std::chrono::nanoseconds(0), request_ec);
        (void)slot->version();
        (void)slot->config();
        if (trace())
            std::fprintf(stderr, "connect: ok, client %u, read: %s, request: %s\n",
                         slot->client_id(), read_ec ? read_ec.message().c_str() : "ok",
                         request_ec ? request_ec.message().c_str() : "ok");
    } catch (const venom::error& e) {
        if (trace()) std::fprintf(stderr, "connect: %s\n", e.what());
    }
}

/// What `venom list/stat/top` do (venom/inspect.hpp): a read-only look, every field of it.
void inspect() {
    try {
        venom::InspectOptions o;
        o.map_untrusted = true;
        const venom::ChannelInfo info = venom::inspect_channel(channel_name(), o);
        if (trace())
            std::fprintf(stderr, "inspect: %s, readable %d, %zu errors, %zu clients\n",
                         venom::to_string(info.status), info.readable ? 1 : 0,
                         info.recent_errors.size(), info.clients.size());
        const auto ins = venom::ChannelInspector::open(channel_name(), o);
        (void)ins.sample();
        (void)ins.daemon();
        (void)ins.clients_alive();
        (void)ins.current();
        unsigned char buf[256];
        std::uint64_t version = 0;
        std::error_code ec;
        (void)ins.read_state(buf, sizeof buf, version, ec);
    } catch (const venom::error&) {}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    static const bool cleanup_registered = (register_cleanup(), true);
    (void)cleanup_registered;
    venom::ChannelConfig config{256, 4, 3};
    config.max_cmd_size = 64;
    config.max_response_size = 64;
    config.state_buffers = 2;
    int seg_fd = -1;
    try {
        auto daemon = venom::DaemonChannel::create(channel_name(), config);
        venom::ShellOptions so;
        so.spin_time = 0us;
        so.daemon_check = 1ms;
        auto shell = venom::ShellChannel::connect(channel_name(), so);
        std::optional<venom::ShellChannel> second;
        daemon.write_data(std::string_view("initial state"));

        // The regions, through a raw read-write mapping of the segment (not a shell's, whose
        // pages are read-only but for the shared region and its own client area).
        namespace vd = venom::detail;
        const vd::Attachment mapping = vd::attach(channel_name(), {});
        const vd::ChannelMap& m = mapping.map;
        std::uint8_t* const seg = mapping.mapping.data();
        const std::size_t seg_size = static_cast<std::size_t>(mapping.mapping.size());
        constexpr std::size_t whole = 5;
        // The bytes of each region that mean something: a region is `count` pieces of `used`
        // bytes, `stride` apart (padding to whole pages left out, so that offsets land on
        // fields).
        const std::size_t shared_used =
            sizeof(vd::SharedLines) + std::size_t{m.ring_slots} * vd::cache_line;
        const std::size_t area_used = vd::client_fixed_bytes + m.max_cmd_size;
        const Region regions[] = {
            {reinterpret_cast<std::uint8_t*>(m.cb), sizeof(vd::ControlBlock),
             sizeof(vd::ControlBlock), 1},
            {reinterpret_cast<std::uint8_t*>(m.shared), shared_used, shared_used, 1},
            {m.responses, m.response_stride, m.response_stride, m.max_clients},
            {m.clients, area_used, m.client_stride, m.max_clients},
            {m.state, m.state_stride, m.state_stride, m.state_buffers},
            // every byte: Boost's header, allocator, name index, our regions
            {seg, seg_size, seg_size, 1},
        };
        // A second descriptor on the segment file, for truncating it (the daemon's and the
        // shells' open file descriptions keep their OFD locks: closing this one drops none).
        seg_fd = ::open(venom::detail::segment_path(channel_name()).c_str(), O_RDWR | O_CLOEXEC);
        auto handler = [](std::uint32_t id, venom::ByteView cmd) {
            std::vector<std::uint8_t> out(cmd.begin(), cmd.end());
            out.push_back(static_cast<std::uint8_t>(id));
            return out;
        };

        Reader in{data, size};
        std::uint8_t buf[512];
        for (int op = 0; op < 64 && in.n != 0; ++op) {
            const unsigned code = in.byte() % 16u;
            if (trace()) std::fprintf(stderr, "op %d: %u\n", op, code);
            switch (code) {
            case 0:
            case 1: { // hostile write: region, offset, length, bytes
                const std::size_t which = in.byte() % 6;
                const Region& r = regions[which];
                const std::size_t off = (which == whole ? in.u24() : in.u16()) % r.size();
                std::size_t len = in.byte() % 17;
                if (len > r.size() - off) len = r.size() - off;
                for (std::size_t i = 0; i < len; ++i) *r.at(off + i) = in.byte();
                break;
            }
            case 2: daemon.poll(handler); break;
            case 12: { // a forged answer to the shell's next request
                Forgery f;
                f.map = &m;
                f.client = shell.client_id();
                f.status = in.byte();
                f.length = in.u16();
                const std::uint8_t flags = in.byte();
                if ((flags & 1) != 0) f.length = 0xffffffffu - f.length;
                forgery = &f;
                venom::detail::fault_hook.store(&forge_answer, std::memory_order_relaxed);
                if ((flags & 4) != 0) {
                    try {
                        (void)shell.request(std::string_view("forged"), 5ms);
                    } catch (const venom::error&) {}
                } else {
                    std::error_code ec;
                    (void)shell.request("forged", 6, buf, (flags & 2) != 0 ? 8 : sizeof buf, 5ms,
                                        ec);
                    if (trace())
                        std::fprintf(stderr, "forged answer: %s\n",
                                     ec ? ec.message().c_str() : "ok");
                }
                venom::detail::fault_hook.store(nullptr, std::memory_order_relaxed);
                forgery = nullptr;
                break;
            }
            case 3: {
                std::error_code ec;
                (void)shell.read_data(buf, sizeof buf, ec);
                // And in place: every byte a view shows must lie in the mapping (ASan), and
                // the view is released again (its pin word back to 0).
                venom::StateView v = shell.view(ec);
                unsigned sum = 0;
                for (std::size_t i = 0; i < v.size(); ++i) sum += v.data()[i];
                if (trace())
                    std::fprintf(stderr, "view: %s, %zu bytes, sum %u\n",
                                 ec ? ec.message().c_str() : "ok", v.size(), sum);
                break;
            }
            case 4: {
                std::error_code ec;
                const std::size_t len = in.byte() % 80; // may exceed max_cmd_size
                std::uint8_t cmd[80] = {};
                (void)shell.request(cmd, len, buf, sizeof buf, 0ns, ec);
                break;
            }
            case 5: {
                try {
                    (void)shell.wait_for_update(shell.version(), 0ns);
                } catch (const venom::error&) {}
                break;
            }
            case 6: connect_and_use(second, so, true); break;
            case 10:
            case 13: connect_and_use(second, so, false); break;
            case 7: {
                const std::size_t len = in.byte();
                std::uint8_t state[256];
                std::memset(state, static_cast<int>(len), sizeof state);
                std::error_code ec; // state_busy: forged pin words may hold every other buffer
                daemon.write_data(state, len, ec);
                break;
            }
            case 8: { // truncate the segment file, connect, restore the size
                const off_t smaller = static_cast<off_t>(in.u24() % seg_size);
                if (seg_fd < 0 || ::ftruncate(seg_fd, smaller) != 0) break;
                // Nothing may touch the mapped pages past `smaller` until the size is back
                // (SIGBUS): only connect and the tool's attach run here, and both must refuse
                // the file before they read it. Whatever they accepted is kept until then.
                std::optional<venom::ShellChannel> accepted;
                std::string why;
                try {
                    accepted.emplace(venom::ShellChannel::connect(channel_name(), so));
                } catch (const venom::error& e) {
                    if (trace()) why = e.what();
                }
                std::optional<venom::ChannelInspector> ins;
                try {
                    venom::InspectOptions o;
                    o.map_untrusted = true;
                    ins.emplace(venom::ChannelInspector::open(channel_name(), o));
                } catch (const venom::error&) {}
                const bool tool_mapped = ins && ins->readable();
                if (trace())
                    std::fprintf(stderr, "truncated to %lld: connect %s (%s); tool: %s\n",
                                 static_cast<long long>(smaller), accepted ? "ACCEPTED" : "refused",
                                 why.c_str(), ins ? ins->opened().problem_text.c_str() : "?");
                // The restored pages read as zeros: just another hostile write.
                if (::ftruncate(seg_fd, static_cast<off_t>(seg_size)) != 0) std::abort();
                if (accepted || tool_mapped) {
                    std::fprintf(stderr,
                                 "a segment truncated to %lld of %zu bytes was accepted (%s)\n",
                                 static_cast<long long>(smaller), seg_size,
                                 accepted ? "by connect" : "by the tool");
                    std::abort();
                }
                break;
            }
            case 9:
            case 14: { // one 8-byte word at an aligned offset anywhere in the segment (9), or
                       // in the control block and the shared region's used lines (14: sizes,
                       // counts, region offset_ptrs, the state word, tail, ring words)
                constexpr std::size_t cb_words = sizeof(vd::ControlBlock) / 8;
                std::size_t off = 0;
                if (code == 9) {
                    off = (in.u24() % (seg_size / 8)) * 8;
                } else {
                    const std::size_t w = in.byte() % (cb_words + shared_used / 8);
                    off = w < cb_words ? m.offset_of(m.cb) + w * 8
                                       : m.offset_of(m.shared) + (w - cb_words) * 8;
                }
                const std::uint8_t mode = in.byte() % 8;
                const std::uint64_t raw = in.u64();
                // d: a signed distance of any scale (modes 4-7)
                const auto d = static_cast<std::uint64_t>(
                                   static_cast<std::int64_t>(static_cast<std::int8_t>(raw & 0xff)))
                               << ((raw >> 8) % 64);
                const std::uint64_t tail = m.shared->tail.load(std::memory_order_relaxed);
                std::uint64_t v = raw;
                switch (mode) {
                case 1: {
                    // an offset_ptr stored at `off` pointing at off + d, d the signed low 24
                    // bits of raw (0: a self-referential pointer, as zeroed memory reads)
                    std::int64_t p = static_cast<std::int64_t>(raw & 0xffffff);
                    if (p >= 0x800000) p -= 0x1000000;
                    v = static_cast<std::uint64_t>(p);
                    break;
                }
                case 2: v = raw & 0xff; break;
                case 3: v = ~std::uint64_t{0} - (raw & 0xff); break;
                case 4: v = vd::slot_free(tail + d); break;
                case 5:
                    v = vd::slot_published(
                        tail + d, static_cast<std::uint32_t>((raw >> 16) & vd::slot_client_mask));
                    break;
                case 6: v = tail + d; break;
                case 7:
                    v = vd::make_state_word(vd::state_version(m) + d,
                                            static_cast<std::uint32_t>((raw >> 16) & 7));
                    break;
                default: break;
                }
                std::memcpy(seg + off, &v, sizeof v);
                break;
            }
            case 11: { // fill a range of the whole segment with one byte
                const std::size_t off = in.u24() % seg_size;
                std::size_t len = in.u16();
                if (len > seg_size - off) len = seg_size - off;
                std::memset(seg + off, in.byte(), len);
                break;
            }
            case 15: inspect(); break;
            }
        }
        // Whatever the program did: a fresh shell connects or is refused, and the tool looks.
        connect_and_use(second, so, true);
        inspect();
    } catch (const venom::error& e) {
        // Set-up errors are not findings, but they must not be the norm: report and go on.
        static int reported = 0;
        if (reported++ < 5) std::fprintf(stderr, "fuzz set-up: %s\n", e.what());
    }
    if (seg_fd >= 0) ::close(seg_fd);
    return 0;
}
