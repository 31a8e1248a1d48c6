// SPDX-License-Identifier: BSL-1.0
// example/video_frames/consumer.cpp - a video consumer: takes each new frame as it appears,
// in place (a view: no copy), verifies its checksum there, and prints the frame rate, what a
// view cost and the CPU it used.
//
//   venom_video_consumer [channel] [seconds]
//
// It runs until the producer stops (or the time limit); exit 1 if a frame failed its check.
// An inference or render step would work on view.data() where the check is: the frame stays
// whole and unchanged until the view is released (the producer draws into other buffers
// meanwhile). Release it before waiting for the next frame: a view kept across frames holds a
// buffer the producer then cannot draw into.
#include "frame.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

venom::ShellChannel connect_when_up(const std::string& name) {
    venom::ShellOptions options;
    options.connect_timeout = std::chrono::seconds(5); // the daemon may still be starting
    return venom::ShellChannel::connect(name, options);
}

} // namespace

int main(int argc, char** argv) {
    const std::string name = argc > 1 ? argv[1] : "video_frames";
    const double seconds = argc > 2 ? std::atof(argv[2]) : 10.0;
    try {
        auto shell = connect_when_up(name);
        std::uint64_t seen = shell.version(), frames = 0, bad = 0, dropped = 0, last = 0;
        std::vector<double> view_ms;
        std::chrono::steady_clock::time_point first{}, latest{};
        const auto start = std::chrono::steady_clock::now();
        const std::clock_t cpu0 = std::clock();
        const auto end = start + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            bool updated = false;
            try {
                updated = shell.wait_for_update(seen, std::chrono::milliseconds(200));
            } catch (const venom::error& e) {
                if (e.code() == venom::errc::daemon_gone) break; // the producer has stopped
                throw;
            }
            if (!updated) continue;
            const auto t0 = std::chrono::steady_clock::now();
            venom::StateView frame = shell.view(); // the newest frame, where it lies
            const auto t1 = std::chrono::steady_clock::now();
            view_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            seen = frame.version();
            video::FrameHeader h;
            std::memcpy(&h, frame.data(), sizeof h);
            const bool ok = frame.size() == video::frame_bytes && h.magic == video::magic &&
                            h.width == video::width && h.height == video::height &&
                            h.checksum == video::checksum(frame.data() + sizeof h);
            frame.release(); // done with it: the producer may draw into its buffer again
            if (!ok) {
                ++bad;
                std::fprintf(stderr, "consumer: frame %llu failed its check\n",
                             static_cast<unsigned long long>(h.frame_no));
                continue;
            }
            if (frames == 0) first = t1;
            latest = t1;
            if (last != 0 && h.frame_no > last + 1) dropped += h.frame_no - last - 1;
            last = h.frame_no;
            ++frames;
        }
        const double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
        const double wall_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::sort(view_ms.begin(), view_ms.end());
        const double span = std::chrono::duration<double>(latest - first).count();
        const double fps = frames > 1 && span > 0 ? static_cast<double>(frames - 1) / span : 0.0;
        const double median = view_ms.empty() ? 0.0 : view_ms[view_ms.size() / 2];
        std::printf("consumer %u: %llu frames verified, %llu bad, %llu skipped; %.1f fps\n",
                    shell.client_id(), static_cast<unsigned long long>(frames),
                    static_cast<unsigned long long>(bad), static_cast<unsigned long long>(dropped),
                    fps);
        std::printf(
            "consumer %u: each frame viewed in place (median %.4f ms per view): %llu copies of "
            "%.1f MB "
            "out of shared memory not made (%.1f GB); CPU %.2f%% of one core\n",
            shell.client_id(), median, static_cast<unsigned long long>(frames),
            static_cast<double>(video::frame_bytes) / 1e6,
            static_cast<double>(frames) * static_cast<double>(video::frame_bytes) / 1e9,
            wall_s > 0 ? 100.0 * cpu_s / wall_s : 0.0);
        if (bad != 0 || frames == 0) return 1;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
    return 0;
}
