// SPDX-License-Identifier: BSL-1.0
// example/video_frames/producer.cpp - a video source: publishes an 8K RGB frame (99.5 MB) 30
// times a second. Consumers (inference, rendering, recording) each read the newest frame.
//
//   venom_video_producer [channel] [seconds] [fps]
//
// Each frame is drawn straight into the channel's next state buffer (DaemonChannel::loan): no
// copy into shared memory; consumers view it where it lies (ShellChannel::view): no copy out.
// The state area holds state_buffers frames, 3 here (299 MB of /dev/shm): the newest, the one
// being drawn, and one that a consumer still viewing the previous frame may hold - so a
// consumer has a whole frame time (33 ms) past the next frame to finish with a frame. When
// consumers hold every buffer but the newest, the frame is skipped (state_busy: counted) and
// the next one is drawn on time. Docker's default /dev/shm (64 MB) is too small: the producer
// says so (errc::out_of_memory) - run the container with --shm-size=512m.
#include "frame.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }
} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "video_frames";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 0.0; // 0: until a signal
    const double fps = argc > 3 ? std::atof(argv[3]) : 30.0;
    if (fps <= 0) {
        std::fprintf(stderr, "producer: fps must be positive\n");
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    venom::ChannelConfig config{video::frame_bytes, 4, 8}; // data_size, cmd_slots, max_clients
    config.state_buffers = 3;                              // 3 x 99.5 MB of /dev/shm
    try {
        auto daemon = venom::DaemonChannel::create(name, config);

        // The picture: a gradient; each frame moves a bright bar down and stamps the sampled
        // words. It is drawn straight into the next state buffer (a loan): nothing is copied
        // into shared memory. A real source would decode or capture into loan.data() the same
        // way. A buffer comes back with the frame it held state_buffers frames ago, so the
        // gradient is drawn once per buffer and each frame only adds its bar and stamps.
        std::vector<const unsigned char*> painted; // buffers that hold the gradient already
        std::vector<unsigned char> row0(video::width * video::channels);
        for (std::size_t x = 0; x < row0.size(); ++x) row0[x] = static_cast<unsigned char>(x / 3);
        auto paint_gradient = [&](unsigned char* pixels) {
            for (std::size_t y = 0; y < video::height; ++y) {
                unsigned char* row = pixels + y * row0.size();
                for (std::size_t x = 0; x < row0.size(); ++x)
                    row[x] = static_cast<unsigned char>(row0[x] + y);
            }
        };
        std::printf(
            "producer: \"%s\", %ux%u RGB frames of %.1f MB at %.0f fps, drawn in place (pid %d)\n",
            name.c_str(), video::width, video::height,
            static_cast<double>(video::frame_bytes) / 1e6, fps,
            static_cast<int>(venom::process_id()));
        std::fflush(stdout);

        const auto period = std::chrono::duration<double>(1.0 / fps);
        const auto start = std::chrono::steady_clock::now();
        std::vector<double> frame_ms;
        std::uint64_t n = 0, busy = 0;
        while (!g_stop) {
            const auto due =
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            period * static_cast<double>(n));
            const auto limit = std::chrono::duration<double>(seconds);
            if (seconds > 0 &&
                (due - start >= limit || std::chrono::steady_clock::now() - start >= limit))
                break; // on time, or (on a machine too busy for 30 fps) at the time limit
            std::this_thread::sleep_until(due);
            ++n;
            const auto t0 = std::chrono::steady_clock::now();
            std::error_code ec;
            // a free buffer; readers keep the last frame
            venom::StateLoan loan = daemon.loan(video::frame_bytes, ec);
            // consumers' views hold every other buffer: skip this frame
            if (ec == venom::errc::state_busy) {
                ++busy;
                continue;
            }
            if (ec) throw venom::error(ec, "loan");
            unsigned char* pixels = loan.data() + sizeof(video::FrameHeader);
            if (std::find(painted.begin(), painted.end(), loan.data()) == painted.end()) {
                paint_gradient(pixels);
                painted.push_back(loan.data());
            }
            const std::size_t bar = (n * 16) % video::height;
            std::fill_n(pixels + bar * row0.size(), 16 * row0.size(),
                        static_cast<unsigned char>(n));
            video::stamp(pixels, n);
            const video::FrameHeader h{video::magic,    n,
                                       video::now_ns(), video::width,
                                       video::height,   video::channels,
                                       video::samples,  video::checksum(pixels),
                                       {0, 0}};
            std::memcpy(loan.data(), &h, sizeof h);
            loan.publish(); // consumers see frame n from now on, whole
            frame_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::sort(frame_ms.begin(), frame_ms.end());
        const double median = frame_ms.empty() ? 0.0 : frame_ms[frame_ms.size() / 2];
        std::printf(
            "producer: %llu frames in %.2f s (%.1f fps); each drawn in place and published "
            "(median %.2f ms per frame): %llu copies of %.1f MB into shared memory not made "
            "(%.1f GB); %llu skipped (views held every other buffer)\n",
            static_cast<unsigned long long>(n), elapsed, static_cast<double>(n) / elapsed, median,
            static_cast<unsigned long long>(n - busy),
            static_cast<double>(video::frame_bytes) / 1e6,
            static_cast<double>(n - busy) * static_cast<double>(video::frame_bytes) / 1e9,
            static_cast<unsigned long long>(busy));
    } catch (const venom::error& e) {
        std::fprintf(stderr, "producer: %s\n", e.what());
        return 1;
    }
    return 0;
}
