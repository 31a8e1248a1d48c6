// SPDX-License-Identifier: BSL-1.0
// test/seqlock_test.cpp - unit tests of the state area's multi-buffer seqlock
// (detail::seqlock_write / seqlock_read) over a channel laid out on an ordinary heap buffer,
// including protocol states written by hand (a writer that died mid-write, corrupt values)
// and reader progress under a busy writer.
#include "test_support.hpp"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include <cstdlib>
#include <memory>
#include <new>

using namespace venom_test;
using venom::errc;
using Clock = std::chrono::steady_clock;
namespace vd = venom::detail;

using venom_test::HeapChannel;

namespace {

venom::ChannelConfig state_config(std::size_t data_size, std::uint32_t buffers) {
    venom::ChannelConfig c{data_size, 2, 1};
    c.max_cmd_size = 64;
    c.max_response_size = 64;
    c.state_buffers = buffers;
    return c;
}

/// A word pattern (the constant body of the busy-writer test's versions).
std::uint64_t word_of(std::uint64_t v, std::size_t i) {
    return (v * 0x9E3779B97F4A7C15ull) ^ (static_cast<std::uint64_t>(i) * 0xC2B2AE3D27D4EB4Full) ^
           v;
}
void fill(std::vector<std::uint64_t>& buf, std::uint64_t v) {
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = word_of(v, i);
}

std::vector<unsigned char> bytes_of(std::uint64_t v, std::size_t n) {
    std::vector<unsigned char> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>((v * 31 + i * 7) & 0xff);
    return b;
}

/// seqlock_read in a thread of its own, waited for at most `limit`: a reader that spins for
/// ever becomes a failed check instead of a hung test. The thread shares ownership of the
/// channel and the output, so a spinning thread left behind touches nothing freed.
struct BoundedRead {
    bool finished = false;
    vd::snapshot result;
    std::vector<unsigned char> out;
};
BoundedRead bounded_read(const std::shared_ptr<HeapChannel>& ch, std::size_t cap,
                         std::chrono::milliseconds limit) {
    struct Shared {
        std::shared_ptr<HeapChannel> ch;
        std::vector<unsigned char> out;
        vd::snapshot result;
        std::atomic<bool> done{false};
    };
    auto sh = std::make_shared<Shared>();
    sh->ch = ch;
    sh->out.resize(cap);
    std::thread t([sh] {
        sh->result = vd::seqlock_read(sh->ch->map(), sh->out.data(), sh->out.size(),
                                      std::chrono::seconds(5));
        sh->done.store(true, std::memory_order_release);
    });
    BoundedRead r;
    r.finished = eventually([&] { return sh->done.load(std::memory_order_acquire); }, limit);
    if (!r.finished) {
        t.detach(); // it still spins; the test fails
        return r;
    }
    t.join();
    r.result = sh->result;
    r.out = sh->out;
    return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(empty_state_reads_version_0_length_0) {
    HeapChannel ch(state_config(256, 3));
    // Garbage in the buffers does not matter while nothing is published.
    std::memset(ch.map().buffer_data(ch.buffer(1)), 0x5A, 256);
    ch.buffer(1).length.store(12345);
    unsigned char out[16];
    std::memset(out, '#', sizeof out);
    const auto s = vd::seqlock_read(ch.map(), out, sizeof out);
    BOOST_TEST(!s.ec);
    BOOST_TEST(s.version == 0u);
    BOOST_TEST(s.length == 0u);
    BOOST_TEST(out[0] == '#');
    const auto z = vd::seqlock_read(ch.map(), nullptr, 0);
    BOOST_TEST(!z.ec);
    BOOST_TEST(z.length == 0u);
}

BOOST_AUTO_TEST_CASE(write_then_read) {
    HeapChannel ch(state_config(256, 3));
    const std::string text = "hello, state";
    vd::seqlock_write(ch.map(), text.data(), text.size());
    BOOST_TEST(vd::state_version(ch.map()) == 1u);
    BOOST_TEST(ch.buffer(1).seq.load() == 2u);
    char out[256];
    const auto s = vd::seqlock_read(ch.map(), out, sizeof out);
    BOOST_TEST(!s.ec);
    BOOST_TEST(s.version == 1u);
    BOOST_TEST(std::string(out, s.length) == text);
    // Reading does not change anything.
    const auto again = vd::seqlock_read(ch.map(), out, sizeof out);
    BOOST_TEST(again.version == 1u);
    BOOST_TEST(std::string(out, again.length) == text);
    BOOST_TEST(vd::state_version(ch.map()) == 1u);
}

BOOST_AUTO_TEST_CASE(lengths_0_1_and_data_size) {
    constexpr std::size_t data_size = 1000;
    HeapChannel ch(state_config(data_size, 3));
    std::vector<unsigned char> out(data_size + 64, 0);
    std::uint64_t v = 0;
    for (std::size_t n : {std::size_t{1}, std::size_t{0}, data_size, std::size_t{0}, std::size_t{1},
                          data_size, data_size - 1}) {
        const auto in = bytes_of(++v, n);
        vd::seqlock_write(ch.map(), in.data(), n);
        std::fill(out.begin(), out.end(), 0xEE);
        const auto s = vd::seqlock_read(ch.map(), out.data(), out.size());
        BOOST_TEST_CONTEXT("length " << n) {
            BOOST_TEST(!s.ec);
            BOOST_TEST(s.version == v);
            BOOST_TEST(s.length == n);
            BOOST_TEST(std::equal(in.begin(), in.end(), out.begin()));
            BOOST_TEST(out[n] == 0xEE, "no byte past the length is written");
        }
    }
    // Exactly data_size into a buffer of exactly data_size.
    const auto s = vd::seqlock_read(ch.map(), out.data(), data_size);
    BOOST_TEST(!s.ec);
}

BOOST_AUTO_TEST_CASE(public_write_data_refuses_data_size_plus_1) {
    ChannelName name("sl_limit");
    constexpr std::size_t data_size = 333;
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{data_size, 2, 1});
    auto shell = venom::ShellChannel::connect(name.str());
    const std::string full(data_size, 'F');
    daemon.write_data(full);
    BOOST_TEST(shell.version() == 1u);
    try {
        daemon.write_data(std::string(data_size + 1, 'X'));
        BOOST_ERROR("write_data of data_size + 1 bytes did not throw");
    } catch (const venom::error& e) {
        BOOST_TEST((e.code() == errc::message_too_large));
    }
    BOOST_TEST(daemon.version() == 1u, "a refused write publishes nothing");
    const auto got = shell.read_data();
    BOOST_TEST(std::string(got.begin(), got.end()) == full);
    daemon.write_data(std::string_view(""));
    daemon.write_data("1");
    BOOST_TEST(shell.version() == 3u);
    const auto one = shell.read_data();
    BOOST_TEST(std::string(one.begin(), one.end()) == "1");
}

BOOST_AUTO_TEST_CASE(buffer_too_small_returns_the_needed_length) {
    HeapChannel ch(state_config(512, 3));
    const auto in = bytes_of(7, 300);
    vd::seqlock_write(ch.map(), in.data(), in.size());
    std::vector<unsigned char> out(512, '#');
    auto s = vd::seqlock_read(ch.map(), out.data(), 299);
    BOOST_TEST((s.ec == errc::buffer_too_small));
    BOOST_TEST(s.length == 300u);
    BOOST_TEST(s.version == 1u);
    BOOST_TEST(std::count(out.begin(), out.end(), '#') == 512, "nothing was copied");
    s = vd::seqlock_read(ch.map(), nullptr, 0);
    BOOST_TEST((s.ec == errc::buffer_too_small));
    BOOST_TEST(s.length == 300u);
    s = vd::seqlock_read(ch.map(), out.data(), 300);
    BOOST_TEST(!s.ec);
    BOOST_TEST(std::equal(in.begin(), in.end(), out.begin()));
}

BOOST_AUTO_TEST_CASE(rotating_through_all_buffers_many_times) {
    constexpr std::size_t data_size = 200;
    for (std::uint32_t n = venom::limits::min_state_buffers; n <= venom::limits::max_state_buffers;
         ++n) {
        BOOST_TEST_CONTEXT("state_buffers " << n) {
            HeapChannel ch(state_config(data_size, n));
            std::vector<unsigned char> out(data_size);
            std::size_t bad = 0;
            const std::uint64_t writes = 100u * n + 3;
            for (std::uint64_t v = 1; v <= writes; ++v) {
                const std::size_t len = static_cast<std::size_t>((v * 37) % (data_size + 1));
                const auto in = bytes_of(v, len);
                vd::seqlock_write(ch.map(), in.data(), len);
                const auto s = vd::seqlock_read(ch.map(), out.data(), out.size());
                if (s.ec || s.version != v || s.length != len ||
                    !std::equal(in.begin(), in.end(), out.begin()))
                    ++bad;
                // Version v sits in buffer (v - 1) % n with seq 2v; the other buffers hold the n -
                // 1
                // versions before it (each complete: an even seq).
                for (std::uint64_t back = 0; back < n && back < v; ++back)
                    if (ch.buffer(v - back).seq.load() != 2 * (v - back)) ++bad;
            }
            BOOST_TEST(bad == 0u);
            BOOST_TEST(vd::state_version(ch.map()) == writes);
        }
    }
}

BOOST_AUTO_TEST_CASE(writer_died_mid_write_reader_gets_the_previous_version_at_once) {
    for (std::uint32_t n : {2u, 3u, 8u}) {
        BOOST_TEST_CONTEXT("state_buffers " << n) {
            auto ch = std::make_shared<HeapChannel>(state_config(128, n));
            for (std::uint64_t v = 1; v <= 5; ++v) {
                const auto in = bytes_of(v, 100);
                vd::seqlock_write(ch->map(), in.data(), in.size());
            }
            // By hand: the writer began version 6 (seq odd, bytes half replaced) and died.
            vd::StateBuffer& dying = ch->buffer(6);
            dying.seq.store(2 * 6 + 1);
            std::memset(ch->map().buffer_data(dying), 0xDD, 50);
            dying.length.store(77);
            BOOST_TEST(vd::state_version(ch->map()) == 5u);

            // A reader that waited for the odd buffer would not finish (or time out after 5 s).
            const auto t0 = Clock::now();
            const BoundedRead r = bounded_read(ch, 128, std::chrono::milliseconds(2000));
            const double ms = ms_since(t0);
            BOOST_TEST(r.finished, "the reader spins on the half-written buffer");
            if (!r.finished) continue;
            BOOST_TEST(!r.result.ec, r.result.ec.message());
            BOOST_TEST(r.result.version == 5u);
            BOOST_TEST(r.result.length == 100u);
            const auto expected = bytes_of(5, 100);
            BOOST_TEST(std::equal(expected.begin(), expected.end(), r.out.begin()));
            BOOST_TEST(ms < 200.0, "the read took " << ms << " ms");
            // Many reads, all at once.
            std::vector<unsigned char> out(128);
            const auto t1 = Clock::now();
            for (int i = 0; i < 1000; ++i) {
                const auto s =
                    vd::seqlock_read(ch->map(), out.data(), out.size(), std::chrono::seconds(5));
                if (s.ec || s.version != 5u) {
                    BOOST_ERROR("read " << i << ": " << s.ec.message() << " version " << s.version);
                    break;
                }
            }
            BOOST_TEST(ms_since(t1) < 500.0);
        }
    }
}

BOOST_AUTO_TEST_CASE(published_version_with_seq_below_2v_is_corrupt) {
    HeapChannel ch(state_config(64, 3));
    for (std::uint64_t v = 1; v <= 4; ++v) {
        const auto in = bytes_of(v, 10);
        vd::seqlock_write(ch.map(), in.data(), in.size());
    }
    unsigned char out[64];
    // Published version 7 in buffer 0, which holds version 4 (seq 8 < 14).
    ch.cb().state_word.store(vd::make_state_word(7, (7 - 1) % 3));
    auto t0 = Clock::now();
    auto s = vd::seqlock_read(ch.map(), out, sizeof out, std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    BOOST_TEST(ms_since(t0) < 100.0);
    // The same with the buffer's seq odd below 2v.
    ch.buffer(7).seq.store(2 * 7 - 1);
    s = vd::seqlock_read(ch.map(), out, sizeof out, std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    // A fresh channel whose version says 1 but whose buffer was never written (seq 0).
    HeapChannel fresh(state_config(64, 2));
    fresh.cb().state_word.store(vd::make_state_word(1, 0));
    s = vd::seqlock_read(fresh.map(), out, sizeof out, std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
}

BOOST_AUTO_TEST_CASE(published_buffer_always_ahead_is_reported_not_spun_on) {
    // A published buffer whose seq stays above 2v looks lapped for ever, while the version never
    // moves: only a write from outside the protocol does that. The reader must not retry
    // endlessly: it reports corrupt_channel, or at the latest timeout after give_up.
    for (std::uint64_t ahead : {std::uint64_t{2 * 1 + 2 * 3}, std::uint64_t{2 * 1 + 2 * 3 + 1},
                                std::uint64_t{3}, ~std::uint64_t{0}}) {
        BOOST_TEST_CONTEXT("seq " << ahead) {
            HeapChannel ch(state_config(64, 3));
            const auto in = bytes_of(1, 10);
            vd::seqlock_write(ch.map(), in.data(), in.size());
            ch.buffer(1).seq.store(ahead);
            unsigned char out[64];
            const auto t0 = Clock::now();
            const auto s =
                vd::seqlock_read(ch.map(), out, sizeof out, std::chrono::milliseconds(300));
            const double ms = ms_since(t0);
            BOOST_TEST((s.ec == errc::corrupt_channel || s.ec == errc::timeout), s.ec.message());
            BOOST_TEST(ms < 1300.0);
        }
    }
}

#if defined(__linux__)
BOOST_AUTO_TEST_CASE(a_disagreeing_buffer_is_corrupt_within_milliseconds_on_a_loaded_cpu) {
    // The same forgery, read by a thread that shares its CPU with three spinning threads: each
    // of its yields gives the CPU away for up to a scheduler slice, so a thousand tries would
    // take seconds (the fuzzer hit that: 2 s per read_data, give_up, on a busy machine). The
    // reader must call it corrupt after seqlock_same_version_time instead.
    HeapChannel ch(state_config(64, 3));
    const auto in = bytes_of(1, 10);
    vd::seqlock_write(ch.map(), in.data(), in.size());
    ch.buffer(1).seq.store(2 * 1 + 1); // odd, for ever, version 1 still published
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;
    for (int i = 0; i < 3; ++i)
        spinners.emplace_back([&] {
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            while (!stop.load(std::memory_order_relaxed)) vd::cpu_relax();
        });
    vd::snapshot s;
    double ms = 0;
    std::thread reader([&] {
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        unsigned char out[64];
        const auto t0 = Clock::now();
        s = vd::seqlock_read(ch.map(), out, sizeof out, std::chrono::seconds(20));
        ms = ms_since(t0);
    });
    reader.join();
    stop = true;
    for (auto& t : spinners) t.join();
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    BOOST_TEST(ms < 2000.0, ms << " ms");
}
#endif

BOOST_AUTO_TEST_CASE(exact_reads_of_forged_lengths) {
    // A typed read (exact mode) of hostile lengths: over data_size is corrupt, never copied; any
    // other length than cap is wrong_size, never copied; only exactly cap is read.
    constexpr std::size_t data_size = 64;
    HeapChannel ch(state_config(data_size, 3));
    const auto in = bytes_of(1, 16);
    vd::seqlock_write(ch.map(), in.data(), in.size());
    std::vector<unsigned char> out(16, '#');
    auto untouched = [&] { return std::count(out.begin(), out.end(), '#') == 16; };
    for (std::uint64_t forged : {std::uint64_t{data_size + 1}, ~std::uint64_t{0}}) {
        ch.buffer(1).length.store(forged);
        const auto s =
            vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5), true);
        BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
        BOOST_TEST(untouched());
    }
    for (std::uint64_t forged :
         {std::uint64_t{0}, std::uint64_t{15}, std::uint64_t{17}, std::uint64_t{data_size}}) {
        ch.buffer(1).length.store(forged);
        const auto s =
            vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5), true);
        BOOST_TEST((s.ec == errc::wrong_size), "length " << forged << ": " << s.ec.message());
        BOOST_TEST(s.length == forged);
        BOOST_TEST(untouched());
    }
    ch.buffer(1).length.store(16);
    const auto s =
        vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5), true);
    BOOST_TEST(!s.ec);
    BOOST_TEST((out == in));
}

BOOST_AUTO_TEST_CASE(length_over_data_size_is_corrupt) {
    constexpr std::size_t data_size = 64;
    HeapChannel ch(state_config(data_size, 3));
    const auto in = bytes_of(1, 10);
    vd::seqlock_write(ch.map(), in.data(), in.size());
    ch.buffer(1).length.store(data_size + 1);
    std::vector<unsigned char> out(4096, '#');
    auto s = vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    BOOST_TEST(std::count(out.begin(), out.end(), '#') == 4096,
               "nothing copied from a corrupt length");
    ch.buffer(1).length.store(~std::uint64_t{0});
    s = vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    // A small buffer: still corrupt, not buffer_too_small.
    s = vd::seqlock_read(ch.map(), out.data(), 4, std::chrono::seconds(5));
    BOOST_TEST((s.ec == errc::corrupt_channel), s.ec.message());
    ch.buffer(1).length.store(data_size);
    s = vd::seqlock_read(ch.map(), out.data(), out.size(), std::chrono::seconds(5));
    BOOST_TEST(!s.ec);
    BOOST_TEST(s.length == data_size);
}

BOOST_AUTO_TEST_CASE(readers_progress_under_a_busy_writer) {
    // One writer rewrites a 64 KiB state back-to-back. Version v is the constant body with v
    // stamped into the first word of every cache line, and a length derived from v: a copy
    // that mixes versions (torn) has two different stamps, or a stamp that disagrees with its
    // length. Stamping costs one store per line, so even a Debug build writes with almost no
    // gap between versions.
    // Two readers read for 2 seconds, pausing briefly after each snapshot. The pause keeps the
    // writer on a core of its own (this machine has 2): readers that spin back-to-back would
    // mostly run while the writer is descheduled, where even a one-buffer seqlock succeeds.
    constexpr std::size_t data_size = 64 * 1024;
    constexpr std::size_t words = data_size / 8;
    constexpr std::size_t line_words = vd::cache_line / 8;
    HeapChannel ch(state_config(data_size, 3));
    const vd::ChannelMap& m = ch.map();
    const auto run_for = std::chrono::seconds(2);
    const auto pause = std::chrono::microseconds(50);
    auto length_for = [](std::uint64_t v) {
        return data_size - static_cast<std::size_t>(v % 16) * vd::cache_line;
    };
    auto consistent = [&](const std::uint64_t* p, std::size_t length, std::uint64_t v) {
        if (length != length_for(v)) return false;
        for (std::size_t i = 0; i < length / 8; ++i)
            if (p[i] != (i % line_words == 0 ? v : word_of(0, i))) return false;
        return true;
    };

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    std::thread writer([&] {
        std::vector<std::uint64_t> buf(words);
        fill(buf, 0);
        std::uint64_t v = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            ++v; // the version this write will have
            for (std::uint64_t *p = buf.data(), *e = p + words; p != e; p += line_words) *p = v;
            vd::seqlock_write(m, buf.data(), length_for(v));
            writes.store(v, std::memory_order_release);
        }
    });

    struct Result {
        std::uint64_t snapshots = 0, torn = 0, errors = 0, backwards = 0, distinct = 0;
        std::uint64_t during_write = 0; ///< snapshots during which the writer published a version
        double seconds = 0;
        std::string first_error;
    };
    std::vector<Result> results(2);
    std::vector<std::thread> readers;
    for (std::size_t r = 0; r < results.size(); ++r) {
        readers.emplace_back([&, r] {
            Result& res = results[r];
            std::vector<std::uint64_t> out(words);
            std::uint64_t last = 0;
            const auto t0 = Clock::now();
            const auto end = t0 + run_for;
            while (Clock::now() < end) {
                const std::uint64_t w0 = writes.load(std::memory_order_acquire);
                const auto s = vd::seqlock_read(m, out.data(), data_size);
                const std::uint64_t w1 = writes.load(std::memory_order_acquire);
                if (s.ec) {
                    if (res.errors++ == 0) res.first_error = s.ec.message();
                    continue;
                }
                if (s.version == 0) continue; // the writer has not written yet
                ++res.snapshots;
                if (w1 != w0) ++res.during_write;
                if (!consistent(out.data(), s.length, s.version)) ++res.torn;
                if (s.version < last) ++res.backwards;
                if (s.version != last) ++res.distinct;
                last = s.version;
                std::this_thread::sleep_for(pause);
            }
            res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        });
    }
    for (auto& t : readers) t.join();
    stop = true;
    writer.join();

    const double write_rate =
        static_cast<double>(writes.load()) / std::chrono::duration<double>(run_for).count();
    BOOST_TEST_MESSAGE("writer: " << writes.load() << " versions of 64 KiB (" << write_rate
                                  << "/s)");
    for (std::size_t r = 0; r < results.size(); ++r) {
        const Result& res = results[r];
        const double rate = static_cast<double>(res.snapshots) / res.seconds;
        BOOST_TEST_MESSAGE("reader " << r << ": " << res.snapshots << " consistent snapshots in "
                                     << res.seconds << " s = " << rate << "/s (" << res.distinct
                                     << " distinct versions, " << res.during_write
                                     << " while the writer published), " << res.torn << " torn, "
                                     << res.errors << " errors");
        BOOST_TEST_CONTEXT("reader " << r) {
            BOOST_TEST(res.torn == 0u);
            BOOST_TEST(res.errors == 0u, res.first_error);
            BOOST_TEST(res.backwards == 0u, "versions never go backwards");
            BOOST_TEST(rate >= 200.0);
        }
    }
    // The writer really was busy.
    BOOST_TEST(writes.load() >= 1000u);
}

VENOM_TEST_MAIN("seqlock")
