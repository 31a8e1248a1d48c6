// SPDX-License-Identifier: BSL-1.0
// test/state_version_test.cpp - versions the daemon gives (DaemonChannel::write_data_as,
// loan_as), through the public API, daemon and shells in one process:
//   1. jumps (0 -> 1000 -> 1001 and on) read back with their versions (read_data, view, the
//      daemon's and the shell's version()), write_data going on from a jump;
//   2. refusals (equal, lower, 0, max_state_version + 1; throwing and error_code forms,
//      write_data_as and loan_as): std::errc::invalid_argument with a text that names both
//      versions, nothing published; max_state_version itself accepted, and nothing after it;
//   3. loan_as: published with its version; dropped, the version stays;
//   4. a shell's wait_for_update(999) wakes on 1000 (a jump from far below, too);
//   5. a stress (also under TSan): every write jumps by exactly 2^24, so every pin's version
//      field (v mod 2^24, view_pins.hpp) aliases every buffer's, while readers hold views and
//      check that no byte of them changes.
#include "test_support.hpp"

#include <cstdint>
#include <thread>
#include <vector>

using namespace venom_test;
using venom::errc;

namespace {

venom::ChannelConfig small_config(std::uint32_t buffers = 3) {
    venom::ChannelConfig c{4096, 4, 8};
    c.state_buffers = buffers;
    return c;
}

std::string state_of(venom::ShellChannel& s, std::uint64_t* version = nullptr) {
    char buf[4096];
    std::error_code ec;
    const std::size_t n = s.read_data(buf, sizeof buf, ec, version);
    BOOST_REQUIRE(!ec);
    return std::string(buf, n);
}

/// The error a call throws (its code and what()); a default code if it throws none.
template <class F> std::pair<std::error_code, std::string> thrown_by(F&& f) {
    try {
        f();
    } catch (const venom::error& e) {
        return {e.code(), e.what()};
    }
    return {};
}

const std::error_code invalid = std::make_error_code(std::errc::invalid_argument);

/// The bytes of version v: distinct for versions 2^24 apart (a mix of all of v's bits).
unsigned char byte_of(std::uint64_t v, std::size_t i) {
    const std::uint64_t h = (v ^ (v >> 24) ^ (v >> 48)) * 0x9E3779B97F4A7C15ull;
    return static_cast<unsigned char>((h >> (8 * (i / 64 % 8))) + i / 512);
}
void fill_version(unsigned char* p, std::size_t n, std::uint64_t v) {
    for (std::size_t i = 0; i < n; ++i) p[i] = byte_of(v, i);
}
bool holds_version(const unsigned char* p, std::size_t n, std::uint64_t v) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != byte_of(v, i)) return false;
    return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(jumps_are_read_back_with_their_versions) {
    ChannelName name("ver");
    auto d = venom::DaemonChannel::create(name.str(), small_config());
    auto s = venom::ShellChannel::connect(name.str());
    d.write_data_as(1000, "thousand", 8);
    BOOST_TEST(d.version() == 1000u);
    BOOST_TEST(s.version() == 1000u);
    std::uint64_t v = 0;
    BOOST_TEST(state_of(s, &v) == "thousand");
    BOOST_TEST(v == 1000u);
    {
        venom::StateView view = s.view();
        BOOST_TEST(view.version() == 1000u);
        BOOST_TEST(std::string(reinterpret_cast<const char*>(view.data()), view.size()) ==
                   "thousand");
    }
    d.write_data_as(1001, "next", 4);
    BOOST_TEST(state_of(s, &v) == "next");
    BOOST_TEST(v == 1001u);
    d.write_data("plain"); // write_data goes on from the jump
    BOOST_TEST(state_of(s, &v) == "plain");
    BOOST_TEST(v == 1002u);
    std::error_code ec;
    d.write_data_as(std::uint64_t{1} << 40, "far", 3, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(state_of(s, &v) == "far");
    BOOST_TEST(v == (std::uint64_t{1} << 40));
    // Round the buffers a few times with jumps: each version read back whole, with its number.
    for (std::uint64_t k = 1; k <= 10; ++k) {
        const std::uint64_t want = (std::uint64_t{1} << 40) + k * 7;
        const std::string text = "v" + std::to_string(want);
        d.write_data_as(want, text.data(), text.size());
        BOOST_TEST(state_of(s, &v) == text);
        BOOST_TEST(v == want);
        BOOST_TEST(s.view().version() == want);
    }
}

BOOST_AUTO_TEST_CASE(versions_not_above_the_current_one_are_refused_and_publish_nothing) {
    ChannelName name("ver");
    auto d = venom::DaemonChannel::create(name.str(), small_config());
    auto s = venom::ShellChannel::connect(name.str());
    // Before any write, 0 is not above 0.
    auto [code0, text0] = thrown_by([&] { d.write_data_as(0, "x", 1); });
    BOOST_TEST((code0 == invalid), code0.message());
    BOOST_TEST(contains(text0, "version 0 is not above the current version 0"), text0);
    BOOST_TEST(s.version() == 0u);
    d.write_data_as(1000, "kept", 4);
    const auto expect_refused = [&](std::uint64_t asked, const std::string& part) {
        auto [code, text] = thrown_by([&] { d.write_data_as(asked, "bad", 3); });
        BOOST_TEST((code == invalid), asked << ": " << code.message());
        BOOST_TEST(contains(text, part), asked << ": " << text);
        std::error_code ec;
        d.write_data_as(asked, "bad", 3, ec);
        BOOST_TEST((ec == invalid), asked << ": " << ec.message());
        auto [lcode, ltext] = thrown_by([&] { d.loan_as(asked, 3); });
        BOOST_TEST((lcode == invalid), asked << ": " << lcode.message());
        BOOST_TEST((contains(ltext, "loan_as: ") && contains(ltext, part)), asked << ": " << ltext);
        venom::StateLoan l = d.loan_as(asked, 3, ec);
        BOOST_TEST((ec == invalid), asked << ": " << ec.message());
        BOOST_TEST(!l.active());
        std::uint64_t v = 0;
        BOOST_TEST(state_of(s, &v) == "kept", asked);
        BOOST_TEST(v == 1000u, asked);
        BOOST_TEST(d.version() == 1000u, asked);
    };
    expect_refused(1000, "version 1000 is not above the current version 1000");
    expect_refused(999, "version 999 is not above the current version 1000");
    expect_refused(1, "version 1 is not above the current version 1000");
    expect_refused(0, "version 0 is not above the current version 1000");
    expect_refused(venom::max_state_version + 1, "is above max_state_version");
    expect_refused(~std::uint64_t{0}, "is above max_state_version");
    BOOST_TEST(venom::inspect_channel(name.str()).sample.state_busy == 0u,
               "a refused version is not a busy writer");
    // The write after the refusals is the next version, and nothing else moved.
    d.write_data("after");
    std::uint64_t v = 0;
    BOOST_TEST(state_of(s, &v) == "after");
    BOOST_TEST(v == 1001u);
}

BOOST_AUTO_TEST_CASE(max_state_version_is_the_last_version) {
    ChannelName name("ver");
    auto d = venom::DaemonChannel::create(name.str(), small_config());
    auto s = venom::ShellChannel::connect(name.str());
    d.write_data_as(venom::max_state_version - 1, "almost", 6);
    d.write_data("last"); // the one after it: max_state_version
    std::uint64_t v = 0;
    BOOST_TEST(state_of(s, &v) == "last");
    BOOST_TEST(v == venom::max_state_version);
    BOOST_TEST(s.view().version() == venom::max_state_version);
    // No version follows: write_data and loan refuse (the state word would wrap to 0).
    auto [code, text] = thrown_by([&] { d.write_data("wrapped"); });
    BOOST_TEST((code == invalid), code.message());
    BOOST_TEST(contains(text, "no later version exists"), text);
    std::error_code ec;
    d.write_data("wrapped", 7, ec);
    BOOST_TEST((ec == invalid), ec.message());
    venom::StateLoan l = d.loan(4, ec);
    BOOST_TEST((ec == invalid), ec.message());
    BOOST_TEST(!l.active());
    BOOST_TEST(state_of(s, &v) == "last");
    BOOST_TEST(v == venom::max_state_version);
}

BOOST_AUTO_TEST_CASE(loan_as_publishes_its_version_and_a_dropped_one_keeps_the_current) {
    ChannelName name("ver");
    auto d = venom::DaemonChannel::create(name.str(), small_config());
    auto s = venom::ShellChannel::connect(name.str());
    d.write_data("one");
    {
        venom::StateLoan l = d.loan_as(500, 16);
        BOOST_TEST(l.active());
        BOOST_TEST(l.version() == 500u);
        std::memcpy(l.data(), "abandoned", 9);
        // While it is out, every other write is busy, whatever its version.
        std::error_code ec;
        d.write_data_as(600, "x", 1, ec);
        BOOST_TEST((ec == errc::state_busy));
        venom::StateLoan second = d.loan_as(700, 1, ec);
        BOOST_TEST((ec == errc::state_busy));
        l.drop();
    }
    std::uint64_t v = 0;
    BOOST_TEST(state_of(s, &v) == "one");
    BOOST_TEST(v == 1u);
    BOOST_TEST(d.version() == 1u);
    {
        venom::StateLoan destroyed = d.loan_as(500, 16); // destroyed unpublished: the same
        std::memcpy(destroyed.data(), "abandoned", 9);
    }
    BOOST_TEST(d.version() == 1u);
    // 500 was never published: it is still above the current version, and may be taken.
    venom::StateLoan l = d.loan_as(500, 16);
    std::memcpy(l.data(), "in place", 8);
    BOOST_TEST(s.version() == 1u); // not yet published
    l.publish(8);
    BOOST_TEST(state_of(s, &v) == "in place");
    BOOST_TEST(v == 500u);
    // A loan (no version given) after it is 501.
    venom::StateLoan next = d.loan(2);
    BOOST_TEST(next.version() == 501u);
    std::memcpy(next.data(), "ok", 2);
    next.publish();
    BOOST_TEST(state_of(s, &v) == "ok");
    BOOST_TEST(v == 501u);
    // Sizes are checked as for loan.
    std::error_code ec;
    venom::StateLoan big = d.loan_as(600, 4097, ec);
    BOOST_TEST((ec == errc::message_too_large));
    BOOST_TEST(!big.active());
    BOOST_TEST(d.version() == 501u);
}

BOOST_AUTO_TEST_CASE(wait_for_update_wakes_on_a_jump) {
    ChannelName name("ver");
    auto d = venom::DaemonChannel::create(name.str(), small_config());
    auto s = venom::ShellChannel::connect(name.str());
    d.write_data_as(999, "999", 3);
    std::atomic<bool> woke{false};
    std::atomic<std::uint64_t> seen{0};
    std::thread waiter([&] {
        woke = s.wait_for_update(999, std::chrono::seconds(10));
        seen = s.version();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // past its spin: asleep
    BOOST_TEST(!woke.load());
    const auto t0 = std::chrono::steady_clock::now();
    d.write_data_as(1000, "1000", 4);
    waiter.join();
    BOOST_TEST(woke.load());
    BOOST_TEST(seen.load() == 1000u);
    BOOST_TEST(ms_since(t0) < 5000.0);
    // Nothing newer than 1000: a wait for it times out.
    BOOST_TEST(!s.wait_for_update(1000, std::chrono::milliseconds(30)));
    // A shell that last saw version 3 wakes at once on a jump far past it.
    BOOST_TEST(s.wait_for_update(3, std::chrono::milliseconds(0)));
}

// ================================================================ the view handshake

// A reader reads the state word (R1: version 1, buffer 0); before it pins, the writer
// publishes 1 + 2^24, 1 + 2 * 2^24 and 1 + 3 * 2^24, the last into buffer 0 again: every one
// of them is 1 mod 2^24, the pin's version field. The reader's check (R3) compares the whole
// version, so the pin fails and the retry views the newest, whole. A check of the pin field
// alone would accept "version 1" over the bytes of another version.
BOOST_AUTO_TEST_CASE(a_pin_whose_version_field_aliases_a_jumped_version_is_not_accepted) {
    namespace vd = venom::detail;
    constexpr std::uint64_t jump = std::uint64_t{1} << 24;
    constexpr std::size_t n = 4096;
    HeapChannel ch(venom::ChannelConfig{n, 4, 2});
    const vd::ChannelMap& m = ch.map();
    auto write = [&](std::uint64_t v) {
        const vd::state_write w = vd::state_begin(m, vd::no_pins{}, v);
        BOOST_REQUIRE(w.buffer != nullptr);
        fill_version(w.data, n, v);
        vd::state_publish(m, w, n);
        return w.index;
    };
    BOOST_TEST(write(1) == 0u);
    vd::ViewTable views;
    int tries = 0;
    const vd::view_taken t = views.take(m, 0, 1, [&](vd::view_step step) {
        if (step != vd::view_step::before_pin || tries++ != 0) return;
        BOOST_TEST(write(1 + jump) == 1u);
        BOOST_TEST(write(1 + 2 * jump) == 2u);
        BOOST_TEST(write(1 + 3 * jump) == 0u); // buffer 0: not pinned yet
    });
    BOOST_REQUIRE(t.slot != vd::view_taken::no_slot);
    BOOST_TEST(tries == 2, "the first pin was refused, the second held");
    BOOST_TEST(t.version == 1 + 3 * jump);
    BOOST_TEST(t.length == n);
    BOOST_TEST(holds_version(t.data, n, t.version));
    views.release(m, 0, t.slot);
}

// ================================================================ stress

BOOST_AUTO_TEST_CASE(views_across_jumps_of_exactly_2_to_the_24_never_see_bytes_change) {
    ChannelName name("ver_stress");
    venom::ChannelConfig cfg{4096, 4, 8};
    cfg.state_buffers = 4;
    auto daemon = venom::DaemonChannel::create(name.str(), cfg);
    constexpr std::uint64_t jump = std::uint64_t{1} << 24; // pin versions are v mod 2^24
    std::vector<unsigned char> first(cfg.data_size);
    fill_version(first.data(), first.size(), 1);
    daemon.write_data_as(1, first.data(), first.size());
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> views{0}, moved{0}, busy{0}, written{0}, wrong{0};
    std::thread writer([&] {
        std::vector<unsigned char> bytes(cfg.data_size);
        std::uint64_t v = daemon.version();
        while (!done.load()) {
            // Every version is 1 mod 2^24: each pin's version field matches every buffer's.
            fill_version(bytes.data(), bytes.size(), v + jump);
            std::error_code ec;
            daemon.write_data_as(v + jump, bytes.data(), bytes.size(), ec);
            if (ec == errc::state_busy) {
                busy.fetch_add(1);
            } else if (ec) {
                wrong.fetch_add(1);
            } else {
                v += jump;
                written.fetch_add(1);
            }
        }
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&, r] {
            auto shell = venom::ShellChannel::connect(name.str());
            std::vector<venom::StateView> held;
            for (std::uint64_t i = 0; !done.load(); ++i) {
                venom::StateView v = shell.view();
                views.fetch_add(1);
                if (v.version() % jump != 1) wrong.fetch_add(1);
                for (int k = 0; k < 3; ++k) {
                    if (!holds_version(v.data(), v.size(), v.version())) moved.fetch_add(1);
                    std::this_thread::yield();
                }
                if ((i + r) % 4 == 0) held.push_back(std::move(v)); // keep one a while
                if (held.size() > 1) held.erase(held.begin());
            }
            for (const auto& v : held)
                if (!holds_version(v.data(), v.size(), v.version())) moved.fetch_add(1);
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(scaled(1500)));
    done.store(true);
    writer.join();
    for (auto& t : readers) t.join();
    BOOST_TEST_MESSAGE(views.load() << " views taken, " << written.load() << " versions written "
                                    << "(each 2^24 above the last), " << busy.load()
                                    << " writes refused (state_busy), " << moved.load()
                                    << " views whose bytes moved");
    BOOST_TEST(moved.load() == 0u);
    BOOST_TEST(wrong.load() == 0u);
    BOOST_TEST(views.load() > 100u);
    BOOST_TEST(written.load() > 100u);
}

VENOM_TEST_MAIN("state_version")
