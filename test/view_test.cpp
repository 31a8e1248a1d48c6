// SPDX-License-Identifier: BSL-1.0
// test/view_test.cpp - views: state buffers read in place and pinned (detail/view_pins.hpp).
//   1. Every interleaving of a reader's pin (R2) and check (R3) with a writer's odd seq (W1)
//      and pin scan (W2), forced step by step in two threads (a Script), over a HeapChannel:
//      whatever the order, an accepted view shows its version whole and the writer never
//      takes its buffer; a rejected try retries and lands on a newer version.
//   2. The writer's rules: never the newest buffer, never a pinned one, state_busy (and the
//      counter) when every other buffer is pinned; pins of another version than their
//      buffer holds - stale or forged - are ignored.
//   3. Through the public API: views of one version share a pin, a view outlives its
//      ShellChannel and its daemon, typed views, loans refused while pinned.
//   4. Processes: a shell killed while holding views releases them (the daemon clears its
//      pins at the next write in their way); a stopped one holds them (state_busy, bounded).
//   5. A stress (also under TSan): a writer writing without pause, readers holding views and
//      checking every byte stays put.
#include "test_support.hpp"

#include <venom/detail/view_pins.hpp>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <signal.h>
#endif

using namespace venom_test;
using namespace std::chrono_literals;
namespace vd = venom::detail;

namespace {

constexpr std::size_t state_bytes = 4096;

/// The bytes of version v: every byte (v * 37 + i / 64) mod 256, so any change shows.
void fill_version(unsigned char* p, std::size_t n, std::uint64_t v) {
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v * 37 + i / 64);
}
bool holds_version(const unsigned char* p, std::size_t n, std::uint64_t v) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != static_cast<unsigned char>(v * 37 + i / 64)) return false;
    return true;
}

/// Where heap_write calls its hook: at the start and end of each W2 (after W1; after the
/// scan), and before the data is written (state_begin has returned).
enum class wstep { w2_begins, w2_ends, data };

/// Writes version (current + 1) over the HeapChannel as the daemon does, with pins counted
/// (owner: always alive). Returns the buffer written, or -1 (state_busy).
/// The writer's list of viewers (one per HeapChannel, as the daemon keeps one).
std::map<const void*, vd::PinScanner>& scanners() {
    static std::map<const void*, vd::PinScanner> all;
    return all;
}
std::mutex scanners_mutex;
vd::PinScanner& scanner_of(const vd::ChannelMap& m) {
    std::lock_guard<std::mutex> lock(scanners_mutex);
    auto it = scanners().find(m.cb);
    if (it == scanners().end()) it = scanners().emplace(m.cb, vd::PinScanner(m.max_clients)).first;
    return it->second;
}
/// A HeapChannel at an address a previous one had: its writer starts with no list.
void fresh_scanner(const vd::ChannelMap& m) {
    std::lock_guard<std::mutex> lock(scanners_mutex);
    scanners().erase(m.cb);
}

template <class Hook> struct HeapPins {
    const vd::ChannelMap& m;
    Hook& hook;
    bool any() { return scanner_of(m).any(m); }
    std::uint32_t operator()(std::uint32_t c, std::uint64_t old) {
        hook(wstep::w2_begins);
        const std::uint32_t mask = scanner_of(m).pinned(
            m, c, old, [](std::uint32_t, const std::uint64_t*) { return true; });
        hook(wstep::w2_ends);
        return mask;
    }
};

template <class Hook> int heap_write(const vd::ChannelMap& m, Hook&& hook) {
    const vd::state_write w = vd::state_begin(m, HeapPins<Hook>{m, hook});
    if (w.buffer == nullptr) return -1;
    hook(wstep::data);
    fill_version(w.data, state_bytes, w.version);
    vd::state_publish(m, w, state_bytes);
    return static_cast<int>(w.index);
}
int heap_write(const vd::ChannelMap& m) {
    return heap_write(m, [](wstep) {});
}

/// Steps of two threads in a fixed order. A thread calls gate(step) before each step it
/// takes and done() after it (Script::Thread does both: a step ends at the thread's next
/// one): gate blocks until every step before this one in the script is done. A gate that waits more
/// than 5 s fails the script (no hang).
class Script {
public:
    explicit Script(std::vector<std::string> steps) : steps_(std::move(steps)) {}
    void gate(const std::string& step) {
        std::unique_lock<std::mutex> lock(mu_);
        if (!cv_.wait_for(lock, 5s, [&] { return pos_ < steps_.size() && steps_[pos_] == step; })) {
            failed_ = true;
            failure_ += "gate " + step + " waited past 5 s at step " + std::to_string(pos_) + "; ";
        }
    }
    void done() {
        std::lock_guard<std::mutex> lock(mu_);
        ++pos_;
        cv_.notify_all();
    }
    bool complete() const {
        std::lock_guard<std::mutex> lock(mu_);
        return !failed_ && pos_ == steps_.size();
    }
    std::string failure() const {
        std::lock_guard<std::mutex> lock(mu_);
        return failure_ + "at step " + std::to_string(pos_) + " of " +
               std::to_string(steps_.size());
    }

    /// One thread's steps: step(name) ends the thread's previous step (if any) and waits for
    /// `name`'s turn; the last step ends when the Thread goes out of scope.
    class Thread {
    public:
        explicit Thread(Script& s) : s_(s) {}
        ~Thread() {
            if (pending_) s_.done();
        }
        void operator()(const std::string& name) {
            if (pending_) s_.done();
            s_.gate(name);
            pending_ = true;
        }

    private:
        Script& s_;
        bool pending_ = false;
    };

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> steps_;
    std::size_t pos_ = 0;
    bool failed_ = false;
    std::string failure_;
};

/// One forced interleaving. Before it: version 1 is in buffer 0 (3 buffers). In the slow-path
/// cases the reader counts itself in and reads the state word first (R0, R1: version 1,
/// buffer 0); then the writer publishes versions 2 and 3 (buffers 1 and 2), so that buffer 0
/// is the first candidate of version 4's write, which then races with the reader's pin of
/// buffer 0 in the order the script says. In the fast-path cases the writer begins version 4
/// before the reader's first view.
struct Outcome {
    vd::view_taken view;
    int tries = 0;            ///< R2s the reader made
    int version4_buffer = -2; ///< where version 4 went (-1: state_busy)
    bool bytes_whole = false; ///< the view's bytes were its version's, after the writes
    std::string failure;
};

Outcome run_interleaving(const std::vector<std::string>& steps) {
    HeapChannel ch(venom::ChannelConfig{state_bytes, 4, 2});
    const vd::ChannelMap& m = ch.map();
    fresh_scanner(m);
    BOOST_REQUIRE(heap_write(m) == 0);
    Script script(steps);
    Outcome out;
    vd::ViewTable views;
    std::thread reader([&] {
        Script::Thread step(script);
        step("R1");
        out.view = views.take(m, 0, 1, [&](vd::view_step s) {
            if (s == vd::view_step::before_pin) {
                ++out.tries;
                step("R2");
            } else {
                step("R3");
            }
        });
    });
    std::thread writer([&] {
        Script::Thread step(script);
        step("Wprep");
        heap_write(m);
        heap_write(m);
        step("W1");
        out.version4_buffer = heap_write(m, [&](wstep w) {
            if (w == wstep::w2_begins) step("W2");
            else if (w == wstep::w2_ends) step("Wafter"); // the restore and the next candidate's W1
            else step("Wdata");                           // the bytes and the publish
        });
    });
    reader.join();
    writer.join();
    if (!script.complete()) out.failure = script.failure();
    // The writer goes on; a view held must keep its bytes.
    for (int i = 0; i < 20; ++i) heap_write(m);
    out.bytes_whole = out.view.slot != vd::view_taken::no_slot && out.view.length == state_bytes &&
                      holds_version(out.view.data, state_bytes, out.view.version);
    return out;
}

/// Client slots of the channel whose viewer mark is set (the shells the writer scans).
std::uint32_t marked_viewers(const std::string& name) {
    const vd::Attachment a = vd::attach(name, {});
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < a.map.max_clients; ++i) n += a.map.client(i).viewer.load() != 0;
    return n;
}

} // namespace

// ================================================================ the handshake, step by step

BOOST_AUTO_TEST_CASE(every_interleaving_of_pin_and_buffer_choice) {
    struct Case {
        const char* order;
        std::vector<std::string> steps;
        std::uint64_t viewed; ///< the version the reader ends up holding
        int tries;
        int version4_buffer;
    };
    // R1 (stale by the time of R2: versions 2 and 3 come in between) then the four steps in
    // each of their orders; a rejected try retries (its R2, R3 at the end). The reader's first
    // try also registers it as a viewer (R0) in its R1 step; the fast-path cases begin the
    // writer before that.
    const Case cases[] = {
        // Pin and check before the writer starts: the writer sees the pin and skips buffer 0.
        {"R2 R3 W1 W2",
         {"R1", "Wprep", "R2", "R3", "W1", "W2", "Wafter", "W2", "Wafter", "Wdata"},
         1,
         1,
         1},
        // The check sees the odd seq: rejected; the pin is gone when W2 looks: buffer 0 taken.
        {"R2 W1 R3 W2",
         {"R1", "Wprep", "R2", "W1", "R3", "W2", "Wafter", "Wdata", "R2", "R3"},
         3,
         2,
         0},
        // W2 sees the pin and gives buffer 0 back before R3 looks: accepted, version 1.
        {"R2 W1 W2 R3",
         {"R1", "Wprep", "R2", "W1", "W2", "Wafter", "W2", "Wafter", "Wdata", "R3"},
         1,
         1,
         1},
        // The odd seq is there before the pin: rejected; W2 finds no pin.
        {"W1 R2 R3 W2",
         {"R1", "Wprep", "W1", "R2", "R3", "W2", "Wafter", "Wdata", "R2", "R3"},
         3,
         2,
         0},
        // W2 sees the pin, gives buffer 0 back, and R3 then finds version 1 intact.
        {"W1 R2 W2 R3",
         {"R1", "Wprep", "W1", "R2", "W2", "Wafter", "W2", "Wafter", "Wdata", "R3"},
         1,
         1,
         1},
        // The writer is done before the pin: buffer 0 holds version 4, R3 rejects version 1,
        // and the retry views version 4 there.
        {"W1 W2 R2 R3",
         {"R1", "Wprep", "W1", "W2", "Wafter", "Wdata", "R2", "R3", "R2", "R3"},
         4,
         2,
         0},
        // The writer begins before the reader's first view (R0 is in its R1 step): it sees no
        // viewer, reads no pin and writes without a fence. The reader's R1, after R0, reads
        // version 3 (the newest when the writer began, no candidate of it) or version 4 once
        // published: the unfenced write never touches what the reader pins.
        {"fast: W1 R1 R2 R3 Wdata", {"Wprep", "W1", "R1", "R2", "R3", "Wdata"}, 3, 1, 0},
        {"fast: W1 R1 R2 Wdata R3", {"Wprep", "W1", "R1", "R2", "Wdata", "R3"}, 3, 1, 0},
        {"fast: W1 R1 Wdata R2 R3", {"Wprep", "W1", "R1", "Wdata", "R2", "R3"}, 3, 1, 0},
        {"fast: W1 Wdata R1 R2 R3", {"Wprep", "W1", "Wdata", "R1", "R2", "R3"}, 4, 1, 0},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.order) {
            const Outcome o = run_interleaving(c.steps);
            BOOST_TEST(o.failure.empty(), o.failure);
            BOOST_TEST(!o.view.ec, o.view.ec.message());
            BOOST_TEST(o.view.version == c.viewed);
            BOOST_TEST(o.tries == c.tries);
            BOOST_TEST(o.version4_buffer == c.version4_buffer);
            BOOST_TEST(o.bytes_whole, "the view's bytes are version " << o.view.version
                                                                      << "'s after 20 more writes");
        }
    }
}

// ================================================================ the writer's rules

BOOST_AUTO_TEST_CASE(the_writer_skips_pinned_buffers_and_reports_state_busy) {
    for (std::uint32_t buffers : {2u, 3u, 8u}) {
        BOOST_TEST_CONTEXT(buffers << " buffers") {
            venom::ChannelConfig cfg{state_bytes, 4, 2};
            cfg.state_buffers = buffers;
            HeapChannel ch(cfg);
            const vd::ChannelMap& m = ch.map();
            fresh_scanner(m);
            fresh_scanner(m);
            vd::ViewTable views;
            std::vector<vd::view_taken> held;
            // Pin one version after another until only the newest is left unpinned.
            for (std::uint32_t i = 0; i + 1 < buffers; ++i) {
                BOOST_REQUIRE(heap_write(m) >= 0);
                held.push_back(views.take(m, 0, 1, [](vd::view_step) {}));
                BOOST_REQUIRE(!held.back().ec);
            }
            BOOST_TEST(views.words_in_use() == buffers - 1);
            // One more write: the newest is free of views, and every other buffer is pinned.
            BOOST_REQUIRE(heap_write(m) >= 0);
            const std::uint64_t before = vd::state_version(m);
            BOOST_TEST(heap_write(m) == -1, "every buffer but the newest pinned: state_busy");
            BOOST_TEST(vd::state_version(m) == before, "nothing published");
            for (const auto& v : held) BOOST_TEST(holds_version(v.data, state_bytes, v.version));
            // Releasing any one frees its buffer for the next write.
            views.release(m, 0, held.front().slot);
            const int b = heap_write(m);
            BOOST_TEST(b >= 0);
            BOOST_TEST(vd::state_version(m) == before + 1);
            for (std::size_t i = 1; i < held.size(); ++i)
                BOOST_TEST(holds_version(held[i].data, state_bytes, held[i].version));
        }
    }
}

BOOST_AUTO_TEST_CASE(pins_of_another_version_count_for_nothing) {
    HeapChannel ch(venom::ChannelConfig{state_bytes, 4, 3});
    const vd::ChannelMap& m = ch.map();
    fresh_scanner(m);
    for (int i = 0; i < 3; ++i) BOOST_REQUIRE(heap_write(m) >= 0); // versions 1..3 in buffers 0..2
    // Client 2's pin words, as a stray write (or a reader that died mid-retry) leaves them:
    // buffer 0 with version 1000 (it holds 1), buffer 1 with version 1 (it holds 2), a buffer
    // that does not exist, and a bare flag.
    vd::ViewPins& p = m.pins(2);
    m.client(2).viewer.store(vd::viewer_mark(5)); // client 2 views: writes read its pins
    m.shared->view_registrations.fetch_add(1);
    p.pin[0].store(vd::make_pin(5, 1000, 0));
    p.pin[1].store(vd::make_pin(5, 1, 1));
    p.pin[2].store(vd::make_pin(5, 3, 6));
    p.pin[3].store(vd::pin_flag);
    for (int i = 0; i < 6; ++i)
        BOOST_TEST(heap_write(m) >= 0, "write " << i << " is not held back by foreign pins");
    // A pin of the version its buffer holds does hold it: version 9 is newest (buffer 2), 8 in 1.
    const std::uint64_t v = vd::state_version(m);
    BOOST_REQUIRE(v == 9u);
    p.pin[4].store(vd::make_pin(5, v - 1, 1));
    for (int i = 0; i < 4; ++i) {
        const int b = heap_write(m);
        BOOST_TEST((b == 0 || b == 2), "write " << i << " went to " << b
                                                << ": buffer 1 holds the pinned version " << v - 1);
    }
    BOOST_TEST(holds_version(m.buffer_data(m.buffer(1)), state_bytes, v - 1));
    // With no viewer marked, no pin line is read at all: the same pin holds nothing.
    m.client(2).viewer.store(0);
    m.shared->view_registrations.fetch_add(1);
    bool used_1 = false;
    for (int i = 0; i < 4; ++i) used_1 = used_1 || heap_write(m) == 1;
    BOOST_TEST(used_1, "no viewer: the writer reads no pin");
}

// ================================================================ the public API

BOOST_AUTO_TEST_CASE(views_through_the_api) {
    ChannelName name("views");
    venom::ChannelConfig cfg{state_bytes, 4, 4};
    cfg.state_buffers = 3;
    auto daemon = venom::DaemonChannel::create(name.str(), cfg);
    auto shell = venom::ShellChannel::connect(name.str());
    auto viewers = [&] { return marked_viewers(name.str()); };
    BOOST_TEST(viewers() == 0u, "no shell has viewed: writes read no pin line");
    {
        venom::StateView empty = shell.view();
        BOOST_TEST(viewers() == 0u, "the empty state pins nothing");
        BOOST_TEST(empty.active());
        BOOST_TEST(empty.version() == 0u);
        BOOST_TEST(empty.size() == 0u);
    }
    std::vector<unsigned char> bytes(state_bytes);
    auto write_version = [&](std::uint64_t v, std::error_code& ec) {
        fill_version(bytes.data(), bytes.size(), v);
        daemon.write_data(bytes.data(), bytes.size(), ec);
    };
    std::error_code ec;
    write_version(1, ec);
    BOOST_REQUIRE(!ec);
    venom::StateView a = shell.view();
    BOOST_TEST(viewers() == 1u, "the first view counts this shell in");
    venom::StateView b = shell.view(); // the same version: the same buffer, one pin
    BOOST_TEST(viewers() == 1u, "once per connection");
    BOOST_TEST(a.version() == 1u);
    BOOST_TEST(a.data() == b.data());
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0u);
    // Two buffers left for the writer (the newest and one other): writes go on.
    for (std::uint64_t v = 2; v <= 10; ++v) {
        write_version(v, ec);
        BOOST_TEST(!ec, "write " << v << ": " << ec.message());
    }
    BOOST_TEST(holds_version(a.data(), a.size(), 1));
    a.release();
    BOOST_TEST(!a.active());
    BOOST_TEST(holds_version(b.data(), b.size(), 1), "b still holds the shared pin");
    // A second pinned version: now only the newest is free, and the writer refuses.
    venom::StateView c = shell.view();
    BOOST_TEST(c.version() == 10u);
    write_version(11, ec);
    BOOST_TEST(!ec, "the version after c goes to the buffer neither view holds");
    const std::uint64_t busy_before = vd::attach(name.str(), {}).map.cb->state_busy.load();
    write_version(12, ec);
    BOOST_TEST((ec == venom::errc::state_busy));
    std::string text;
    try {
        daemon.write_data(bytes.data(), bytes.size());
    } catch (const venom::error& e) {
        text = e.what();
    }
    BOOST_TEST(contains(text, "views pin 2 of the 2 state buffers other than the newest"), text);
    BOOST_TEST((daemon.loan(16, ec).active() == false && ec == venom::errc::state_busy));
    BOOST_TEST(vd::attach(name.str(), {}).map.cb->state_busy.load() == busy_before + 3);
    BOOST_TEST(daemon.version() == 11u);
    b.release();
    write_version(12, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(holds_version(c.data(), c.size(), 10));

    // Moves carry the view; a moved-from view is inactive.
    venom::StateView moved = std::move(c);
    BOOST_TEST(!c.active());
    BOOST_TEST(moved.version() == 10u);
    moved = venom::StateView();
    BOOST_TEST(!moved.active());
    BOOST_TEST(viewers() == 1u, "counted until it disconnects");
    shell = venom::ShellChannel::connect(name.str()); // the old one disconnects
    BOOST_TEST(viewers() == 0u, "a shell that disconnects takes its 1 back");
}

BOOST_AUTO_TEST_CASE(a_view_outlives_its_shell_and_its_daemon) {
    ChannelName name("view_outlives");
    std::vector<unsigned char> bytes(state_bytes);
    venom::StateView v;
    {
        auto daemon =
            venom::DaemonChannel::create(name.str(), venom::ChannelConfig{state_bytes, 4, 2});
        fill_version(bytes.data(), bytes.size(), 1);
        daemon.write_data(bytes.data(), bytes.size());
        std::uint32_t id = 0;
        {
            auto shell = venom::ShellChannel::connect(name.str());
            id = shell.client_id();
            v = shell.view();
        }
        // The shell is gone but its view holds its slot (and so its pin): a newcomer gets the
        // other slot, and the writer keeps off the view's buffer.
        auto other = venom::ShellChannel::connect(name.str());
        BOOST_TEST(other.client_id() != id);
        for (std::uint64_t k = 2; k <= 8; ++k) {
            fill_version(bytes.data(), bytes.size(), k);
            daemon.write_data(bytes.data(), bytes.size());
        }
        BOOST_TEST(holds_version(v.data(), v.size(), 1));
    }
    // The daemon is gone too: the view's mapping is its own.
    BOOST_TEST(v.version() == 1u);
    BOOST_TEST(holds_version(v.data(), v.size(), 1));
    v.release();
}

namespace {
struct Pose {
    double x, y, z;
    std::uint64_t stamp;
    unsigned char pad[4064];
};
static_assert(sizeof(Pose) == state_bytes, "one state");
} // namespace

BOOST_AUTO_TEST_CASE(typed_views) {
    ChannelName name("view_typed");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{state_bytes, 4, 2});
    auto shell = venom::ShellChannel::connect(name.str());
    std::error_code ec;
    BOOST_TEST(!shell.view<Pose>(ec).active());
    BOOST_TEST((ec == venom::errc::wrong_size), "the empty state is no Pose");
    Pose p{};
    p.x = 1.5;
    p.stamp = 42;
    daemon.write(p);
    venom::TypedView<Pose> tv = shell.view<Pose>();
    BOOST_TEST(tv->x == 1.5);
    BOOST_TEST(tv.value().stamp == 42u);
    BOOST_TEST(tv.version() == 1u);
    daemon.write_data(std::string_view("short"));
    BOOST_CHECK_THROW(shell.view<Pose>(), venom::error);
    BOOST_TEST(tv->stamp == 42u, "the typed view still holds version 1");
    tv.release();
    BOOST_TEST(!tv.active());
}

// ================================================================ processes

#if !defined(_WIN32)
namespace {
struct ViewerStats {
    std::atomic<std::uint32_t> holding; ///< the child holds its views
    std::atomic<std::uint32_t> release; ///< the child may release them and exit
};
} // namespace

/// Holds views of two versions (the daemon writes between them), says so, and waits to be
/// told to release them (or is killed first). args: channel, stats block.
VENOM_CHILD_ROLE(viewer) {
    SharedBlock<ViewerStats> stats(args.at(1), false);
    auto shell = venom::ShellChannel::connect(args.at(0));
    venom::StateView first = shell.view();
    const std::uint64_t v1 = first.version();
    while (shell.version() == v1) std::this_thread::sleep_for(1ms);
    venom::StateView second = shell.view();
    stats->holding.store(1);
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (stats->release.load() == 0 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    return holds_version(first.data(), first.size(), first.version()) &&
                   holds_version(second.data(), second.size(), second.version())
               ? 0
               : 3;
}

namespace {
/// A daemon with 3 buffers and a child viewer holding two versions: the writer's one free
/// buffer is then the newest's - every write is state_busy until the views go.
struct ViewerSetup {
    ChannelName name{"view_proc"};
    std::string stats_name = "vt_viewer_" + std::to_string(getpid_portable());
    SharedBlock<ViewerStats> stats{stats_name, true};
    venom::DaemonChannel daemon =
        venom::DaemonChannel::create(name.str(), venom::ChannelConfig{state_bytes, 4, 4});
    std::vector<unsigned char> bytes = std::vector<unsigned char>(state_bytes);
    std::uint64_t next = 1;
    Child child;

    void write(std::error_code& ec) {
        fill_version(bytes.data(), bytes.size(), next);
        daemon.write_data(bytes.data(), bytes.size(), ec);
        if (!ec) ++next;
    }
    void start() {
        std::error_code ec;
        write(ec);
        BOOST_REQUIRE(!ec);
        child = spawn_self("viewer", {name.str(), stats_name});
        // Writes until the child has both views (it waits for a second version).
        BOOST_REQUIRE(eventually(
            [&] {
                std::error_code e;
                if (stats->holding.load() == 0) write(e);
                return stats->holding.load() != 0;
            },
            20s));
        write(ec); // the newest now differs from both views
    }
    std::uint64_t counter(std::atomic<std::uint64_t> vd::ControlBlock::*field) {
        return (vd::attach(name.str(), {}).map.cb->*field).load();
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(a_stopped_viewer_holds_its_buffers_a_killed_one_releases_them) {
    ViewerSetup s;
    s.start();
    // Stopped (SIGSTOP) with both views: every write is refused at once, never waited on.
    ::kill(s.child.pid(), SIGSTOP);
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    int busy = 0;
    for (int i = 0; i < 100; ++i) {
        s.write(ec);
        if (ec == venom::errc::state_busy) ++busy;
    }
    const double ms = ms_since(t0);
    BOOST_TEST_MESSAGE("100 writes against a stopped viewer: " << busy << " state_busy in " << ms
                                                               << " ms");
    BOOST_TEST(busy == 100);
    BOOST_TEST(ms < 1000.0, "refusals are immediate (one liveness probe per 10 ms at most)");
    // Killed: the next write in its pins' way probes it, finds it dead, clears its pins.
    const std::uint64_t cleared_before = s.counter(&vd::ControlBlock::pins_cleared);
    s.child.kill(SIGKILL);
    ::kill(s.child.pid(), SIGCONT);
    BOOST_TEST(s.child.wait(10s) == -SIGKILL);
    BOOST_TEST(eventually(
                   [&] {
                       s.write(ec);
                       return !ec;
                   },
                   2s),
               "writes go on once the viewer is dead: " << ec.message());
    BOOST_TEST(s.counter(&vd::ControlBlock::pins_cleared) >= cleared_before + 1);
    BOOST_TEST(marked_viewers(s.name.str()) == 0u,
               "the dead viewer's 1 was taken back with its pins");
    for (int i = 0; i < 10; ++i) {
        s.write(ec);
        BOOST_TEST(!ec);
    }
}

BOOST_AUTO_TEST_CASE(a_viewer_that_releases_frees_its_buffers) {
    ViewerSetup s;
    s.start();
    std::error_code ec;
    s.write(ec);
    BOOST_TEST((ec == venom::errc::state_busy));
    s.stats->release.store(1);
    BOOST_TEST(s.child.wait(10s) == 0, "the viewer's bytes stayed put while it held them");
    s.write(ec);
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(s.counter(&vd::ControlBlock::pins_cleared) == 0u,
               "a clean exit releases its own pins");
    BOOST_TEST(marked_viewers(s.name.str()) == 0u, "and its 1 in the viewer count");
}

namespace successor {
const vd::ChannelMap* map = nullptr;
std::uint32_t slot = 0;
std::atomic<int> calls{0};
/// As the daemon finds the viewer dead, a successor takes its slot (a new generation) and
/// pins - by the worst luck - a word bit-identical to one of the dead viewer's.
void takes_the_slot(vd::fault f) {
    if (f != vd::fault::pin_owner_dead) return;
    calls.fetch_add(1); // (each probe of the write: another successor, as unlucky)
    vd::ClientRecord& rec = map->client(slot);
    rec.generation.store(rec.generation.load() + (std::uint64_t{1} << 32)); // the same low 32 bits
}
} // namespace successor

BOOST_AUTO_TEST_CASE(a_successor_between_the_probe_and_the_clear_keeps_its_pins) {
    ViewerSetup s;
    s.start();
    const vd::Attachment a = vd::attach(s.name.str(), {});
    std::uint32_t slot = a.map.max_clients;
    for (std::uint32_t i = 0; i < a.map.max_clients; ++i)
        if (a.map.client(i).viewer.load() != 0) slot = i;
    BOOST_REQUIRE(slot < a.map.max_clients);
    std::uint64_t before[vd::views_per_shell];
    for (std::uint32_t k = 0; k < vd::views_per_shell; ++k)
        before[k] = a.map.pins(slot).pin[k].load();
    s.child.kill(SIGKILL);
    BOOST_TEST(s.child.wait(10s) == -SIGKILL);
    successor::map = &a.map;
    successor::slot = slot;
    successor::calls.store(0);
    vd::fault_hook.store(&successor::takes_the_slot);
    std::error_code ec;
    for (int i = 0; i < 20 && successor::calls.load() == 0; ++i) {
        s.write(ec);
        std::this_thread::sleep_for(2ms); // past pin_owner_recheck: the probe comes
    }
    vd::fault_hook.store(nullptr);
    BOOST_TEST(successor::calls.load() >= 1, "the daemon probed the dead viewer");
    for (std::uint32_t k = 0; k < vd::views_per_shell; ++k)
        BOOST_TEST(a.map.pins(slot).pin[k].load() == before[k],
                   "pin word " << k << " is the successor's now: kept");
    BOOST_TEST(s.counter(&vd::ControlBlock::pins_cleared) == 0u);
}

BOOST_AUTO_TEST_CASE(the_next_owner_of_a_dead_viewers_slot_cleans_up_after_it) {
    ViewerSetup s;
    s.start();
    // Killed with its views while no write is in their way: the first to touch the slot again
    // is a newcomer, which takes the dead viewer's 1 back and zeroes its pins at connect.
    const std::uint64_t cleared_before = s.counter(&vd::ControlBlock::pins_cleared);
    s.child.kill(SIGKILL);
    BOOST_TEST(s.child.wait(10s) == -SIGKILL);
    BOOST_TEST(marked_viewers(s.name.str()) == 1u);
    std::vector<venom::ShellChannel> newcomers;
    // every slot
    for (int i = 0; i < 4; ++i) newcomers.push_back(venom::ShellChannel::connect(s.name.str()));
    BOOST_TEST(marked_viewers(s.name.str()) == 0u);
    std::error_code ec;
    s.write(ec);
    BOOST_TEST(!ec, "the dead viewer's buffers are free again: " << ec.message());
    BOOST_TEST(s.counter(&vd::ControlBlock::pins_cleared) == cleared_before,
               "the newcomer cleared them, not the writer");
}
#endif

// ================================================================ stress

BOOST_AUTO_TEST_CASE(readers_holding_views_under_a_busy_writer_see_nothing_move) {
    ChannelName name("view_stress");
    venom::ChannelConfig cfg{state_bytes, 4, 8};
    cfg.state_buffers = 4;
    auto daemon = venom::DaemonChannel::create(name.str(), cfg);
    std::vector<unsigned char> first(state_bytes);
    fill_version(first.data(), first.size(), 1);
    daemon.write_data(first.data(), first.size());
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> views{0}, moved{0}, busy{0}, written{0};
    std::thread writer([&] {
        std::vector<unsigned char> bytes(state_bytes);
        std::uint64_t v = daemon.version();
        while (!done.load()) {
            fill_version(bytes.data(), bytes.size(), v + 1);
            std::error_code ec;
            daemon.write_data(bytes.data(), bytes.size(), ec);
            if (ec) busy.fetch_add(1);
            else {
                ++v;
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
                // Hold it across several writes, checking every byte each time.
                for (int k = 0; k < 3; ++k) {
                    if (!holds_version(v.data(), v.size(), v.version())) moved.fetch_add(1);
                    std::this_thread::yield();
                }
                if ((i + r) % 4 == 0) held.push_back(std::move(v)); // now and then keep one a while
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
    BOOST_TEST_MESSAGE(views.load() << " views taken, " << written.load() << " versions written, "
                                    << busy.load() << " writes refused (state_busy), "
                                    << moved.load() << " views whose bytes moved");
    BOOST_TEST(moved.load() == 0u);
    BOOST_TEST(views.load() > 100u);
    BOOST_TEST(written.load() > 100u);
}

VENOM_TEST_MAIN("view")
