// test/fuzz/fuzz_channel.cpp - libFuzzer target: hostile bytes in a live channel's shared memory.
//
// Each input builds a fresh channel (a daemon and a shell in this process), then runs a little
// program of operations decoded from the input: write fuzzer bytes over the control block, the
// command slots, the response slots, the client records, the state buffers or anywhere in the
// whole segment (Boost's segment header, allocator and name index included: every byte any
// process that can write the segment controls); write one 8-byte word at an aligned offset
// (offsets, offset_ptrs, sizes); fill a range with one byte; truncate the segment file and
// connect (which must refuse it) before restoring its size; let the daemon poll; let the shell
// read the state, send a request, wait for an update; connect another shell; look at the
// channel the way the `venom` tool does. After the program a fresh shell connects once more.
// Every call must return (bounded), report corruption as a venom::error or error_code, and
// never touch memory outside the segment (AddressSanitizer) or hit undefined behaviour.
//
// Input format: a sequence of operations, each an op byte (taken % 16) and its operands:
//   0, 1  region write   region (% 6: control block, command slots, response slots, client
//                        records, state buffers, whole segment), offset (u16; u24 for the
//                        whole segment), length (% 17), bytes
//   2, 12 daemon poll
//   3     shell read_data
//   4     shell request   length (% 80: may exceed max_cmd_size), timeout 0
//   5     shell wait_for_update, timeout 0
//   6, 10, 13  connect a second shell (replacing the last) and send a request; 6 also reads
//               the state
//   7     daemon write_data  length (u8)
//   8     truncate          size (u24 % segment size): ftruncate the segment file smaller,
//                           connect (must fail with a venom::error), inspect, restore the size
//   9, 14 word write        9: offset (u24, word index % the segment's words); 14: offset
//                           (u8, word index % the control block's words); then mode (% 4),
//                           then 8 bytes:
//                           0 raw value, 1 offset_ptr to (offset + signed value),
//                           2 small value (low byte), 3 ~0 - low byte
//   11    fill              offset (u24), length (u16), byte: fill the whole segment's range
//   15    inspect           the tool's read-only Inspection of the channel, sampled
//
//   build and run: bash tools/fuzz.sh [seconds]
#include <venom/venom.hpp>

#include "tools/cli/inspect.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
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
    std::uint32_t u16() { return static_cast<std::uint32_t>(byte()) | (static_cast<std::uint32_t>(byte()) << 8); }
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
void register_cleanup() {
    std::snprintf(segment_file, sizeof segment_file, "%s", venom::detail::segment_path(channel_name()).c_str());
    std::snprintf(lock_file, sizeof lock_file, "%s", venom::detail::lock_path(channel_name()).c_str());
    std::atexit(remove_channel_files);
}

/// Connects (every hostile state must give a shell or a venom::error), then uses the shell a
/// little: the state, a request that nobody answers in time. Bounded: no connect_timeout.
/// `read`: also read the state (a corrupt state costs a reader ~1000 yielding retries before
/// it says corrupt_channel, so not on every connect: the fuzzer stays fast).
void connect_and_use(std::optional<venom::ShellChannel>& slot, const venom::ShellOptions& so, bool read) {
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
            std::fprintf(stderr, "connect: ok, client %u, read: %s, request: %s\n", slot->client_id(),
                         read_ec ? read_ec.message().c_str() : "ok",
                         request_ec ? request_ec.message().c_str() : "ok");
    } catch (const venom::error& e) {
        if (trace()) std::fprintf(stderr, "connect: %s\n", e.what());
    }
}

/// What `venom ls/show` does: a read-only attach, then its counters and client slots.
void inspect() {
    try {
        const auto ins = venom_cli::Inspection::open(channel_name());
        (void)ins.sample();
        (void)ins.clients(true);
        (void)ins.clients_alive();
        (void)ins.age_seconds();
        (void)ins.incarnation();
    } catch (const venom::error&) {
    }
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

        // The regions, as a shell maps them (process-local view of the segment).
        const venom::detail::Attachment mapping = venom::detail::attach(channel_name(), {});
        const venom::detail::ChannelMap& m = mapping.map;
        struct Region {
            std::uint8_t* p;
            std::size_t n;
        };
        std::uint8_t* const seg = mapping.mapping.data();
        const std::size_t seg_size = static_cast<std::size_t>(mapping.mapping.size());
        constexpr std::size_t whole = 5;
        const Region regions[] = {
            {reinterpret_cast<std::uint8_t*>(m.cb), sizeof(venom::detail::ControlBlock)},
            {m.slots, m.slot_stride * m.cmd_slots},
            {m.responses, m.response_stride * m.max_clients},
            {m.clients, sizeof(venom::detail::ClientRecord) * m.max_clients},
            {m.state, m.state_stride * m.state_buffers},
            {seg, seg_size}, // every byte: Boost's header, allocator, name index, our regions
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
                const std::size_t off = (which == whole ? in.u24() : in.u16()) % r.n;
                std::size_t len = in.byte() % 17;
                if (len > r.n - off) len = r.n - off;
                for (std::size_t i = 0; i < len; ++i) r.p[off + i] = in.byte();
                break;
            }
            case 2:
            case 12: daemon.poll(handler); break;
            case 3: {
                std::error_code ec;
                (void)shell.read_data(buf, sizeof buf, ec);
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
                } catch (const venom::error&) {
                }
                break;
            }
            case 6: connect_and_use(second, so, true); break;
            case 10:
            case 13: connect_and_use(second, so, false); break;
            case 7: {
                const std::size_t len = in.byte();
                std::uint8_t state[256];
                std::memset(state, static_cast<int>(len), sizeof state);
                daemon.write_data(state, len);
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
                std::optional<venom_cli::Inspection> ins;
                try {
                    ins.emplace(venom_cli::Inspection::open(channel_name()));
                } catch (const venom::error&) {
                }
                const bool tool_mapped = ins && ins->mapped();
                if (trace())
                    std::fprintf(stderr, "truncated to %lld: connect %s (%s); tool: %s\n",
                                 static_cast<long long>(smaller), accepted ? "ACCEPTED" : "refused",
                                 why.c_str(), ins ? ins->problem.c_str() : "?");
                // The restored pages read as zeros: just another hostile write.
                if (::ftruncate(seg_fd, static_cast<off_t>(seg_size)) != 0) std::abort();
                if (accepted || tool_mapped) {
                    std::fprintf(stderr, "a segment truncated to %lld of %zu bytes was accepted (%s)\n",
                                 static_cast<long long>(smaller), seg_size,
                                 accepted ? "by connect" : "by the tool");
                    std::abort();
                }
                break;
            }
            case 9:
            case 14: { // one 8-byte word at an aligned offset anywhere in the segment (9) or
                       // in the control block (14: its sizes, counts and region offset_ptrs)
                const std::size_t cb_at = static_cast<std::size_t>(mapping.record.control_offset);
                const std::size_t off = code == 9 ? (in.u24() % (seg_size / 8)) * 8
                                                  : cb_at + (in.byte() % (sizeof(venom::detail::ControlBlock) / 8)) * 8;
                const std::uint8_t mode = in.byte() % 4;
                const std::uint64_t raw = in.u64();
                std::uint64_t v = raw;
                if (mode == 1) {
                    // an offset_ptr stored at `off` pointing at off + d, d the signed low 24
                    // bits of raw (0: a self-referential pointer, as zeroed memory reads)
                    std::int64_t d = static_cast<std::int64_t>(raw & 0xffffff);
                    if (d >= 0x800000) d -= 0x1000000;
                    v = static_cast<std::uint64_t>(d);
                } else if (mode == 2) {
                    v = raw & 0xff;
                } else if (mode == 3) {
                    v = ~std::uint64_t{0} - (raw & 0xff);
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
