// test/fuzz/fuzz_channel.cpp - libFuzzer target: hostile bytes in a live channel's shared memory.
//
// Each input builds a fresh channel (a daemon and a shell in this process), then runs a little
// program of operations decoded from the input: write fuzzer bytes over the control block, the
// command slots, the response slots, the client records or the state buffers; let the daemon
// poll; let the shell read the state, send a request, wait for an update; connect another
// shell. Every call must return (bounded), report corruption as a venom::error or error_code,
// and never touch memory outside the segment (AddressSanitizer) or hit undefined behaviour.
//
//   build and run: bash tools/fuzz.sh [seconds]
#include <venom/venom.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
};

std::string channel_name() {
    static const std::string name = "venom_fuzz_" + std::to_string(::getpid());
    return name;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    venom::ChannelConfig config{256, 4, 3};
    config.max_cmd_size = 64;
    config.max_response_size = 64;
    config.state_buffers = 2;
    try {
        auto daemon = venom::DaemonChannel::create(channel_name(), config);
        venom::ShellOptions so;
        so.spin_time = 0us;
        so.daemon_check = 1ms;
        auto shell = venom::ShellChannel::connect(channel_name(), so);
        std::optional<venom::ShellChannel> second;
        daemon.write_data(std::string_view("initial state"));

        // The regions, as the daemon mapped them (process-local view of the segment).
        const venom::detail::Attachment mapping = venom::detail::attach(channel_name(), {});
        const venom::detail::ChannelMap& m = mapping.map;
        struct Region {
            std::uint8_t* p;
            std::size_t n;
        };
        const Region regions[] = {
            {reinterpret_cast<std::uint8_t*>(m.cb), sizeof(venom::detail::ControlBlock)},
            {m.slots, m.slot_stride * m.cmd_slots},
            {m.responses, m.response_stride * m.max_clients},
            {m.clients, sizeof(venom::detail::ClientRecord) * m.max_clients},
            {m.state, m.state_stride * m.state_buffers},
        };
        auto handler = [](std::uint32_t id, venom::ByteView cmd) {
            std::vector<std::uint8_t> out(cmd.begin(), cmd.end());
            out.push_back(static_cast<std::uint8_t>(id));
            return out;
        };

        Reader in{data, size};
        std::uint8_t buf[512];
        for (int op = 0; op < 64 && in.n != 0; ++op) {
            switch (in.byte() % 8) {
            case 0:
            case 1: { // hostile write: region, offset, length, bytes
                const Region& r = regions[in.byte() % 5];
                const std::size_t off = in.u16() % r.n;
                std::size_t len = in.byte() % 17;
                if (len > r.n - off) len = r.n - off;
                for (std::size_t i = 0; i < len; ++i) r.p[off + i] = in.byte();
                break;
            }
            case 2: daemon.poll(handler); break;
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
            case 6: {
                try {
                    second.reset();
                    second.emplace(venom::ShellChannel::connect(channel_name(), so));
                    std::error_code ec;
                    (void)second->read_data(buf, sizeof buf, ec);
                } catch (const venom::error&) {
                }
                break;
            }
            case 7: {
                const std::size_t len = in.byte();
                std::uint8_t state[256];
                std::memset(state, static_cast<int>(len), sizeof state);
                daemon.write_data(state, len);
                break;
            }
            }
        }
    } catch (const venom::error& e) {
        // Set-up errors are not findings, but they must not be the norm: report and go on.
        static int reported = 0;
        if (reported++ < 5) std::fprintf(stderr, "fuzz set-up: %s\n", e.what());
    }
    return 0;
}
