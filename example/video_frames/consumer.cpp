// example/video_frames/consumer.cpp - a video consumer: takes each new frame as it appears,
// verifies its checksum, and prints the frame rate and copy bandwidth it achieved.
//
//   venom_video_consumer [channel] [seconds]
//
// It runs until the producer stops (or the time limit); exit 1 if a frame failed its check.
#include "frame.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
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
        std::vector<unsigned char> frame(video::frame_bytes); // one buffer, reused for every frame
        std::uint64_t seen = shell.version(), frames = 0, bad = 0, dropped = 0, last = 0;
        std::vector<double> copy_ms;
        std::chrono::steady_clock::time_point first{}, latest{};
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
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
            std::error_code ec;
            const std::size_t n = shell.read_data(frame.data(), frame.size(), ec, &seen);
            const auto t1 = std::chrono::steady_clock::now();
            if (ec) throw venom::error(ec, "read_data");
            copy_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            video::FrameHeader h;
            std::memcpy(&h, frame.data(), sizeof h);
            const bool ok = n == video::frame_bytes && h.magic == video::magic && h.width == video::width &&
                            h.height == video::height &&
                            h.checksum == video::checksum(frame.data() + sizeof h);
            if (!ok) {
                ++bad;
                std::fprintf(stderr, "consumer: frame %llu failed its check\n", static_cast<unsigned long long>(h.frame_no));
                continue;
            }
            if (frames == 0) first = t1;
            latest = t1;
            if (last != 0 && h.frame_no > last + 1) dropped += h.frame_no - last - 1;
            last = h.frame_no;
            ++frames;
        }
        std::sort(copy_ms.begin(), copy_ms.end());
        const double span = std::chrono::duration<double>(latest - first).count();
        const double fps = frames > 1 && span > 0 ? static_cast<double>(frames - 1) / span : 0.0;
        const double median = copy_ms.empty() ? 0.0 : copy_ms[copy_ms.size() / 2];
        std::printf("consumer %u: %llu frames verified, %llu bad, %llu skipped; %.1f fps\n", shell.client_id(),
                    static_cast<unsigned long long>(frames), static_cast<unsigned long long>(bad),
                    static_cast<unsigned long long>(dropped), fps);
        std::printf("consumer %u: read_data median %.1f ms = %.1f GB/s; delivered %.2f GB/s\n", shell.client_id(),
                    median, median > 0 ? static_cast<double>(video::frame_bytes) / (median * 1e6) : 0.0,
                    fps * static_cast<double>(video::frame_bytes) / 1e9);
        if (bad != 0 || frames == 0) return 1;
    } catch (const venom::error& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
    return 0;
}
