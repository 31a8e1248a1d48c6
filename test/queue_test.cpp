// SPDX-License-Identifier: BSL-1.0
// test/queue_test.cpp - tests of the bounded MPSC command queue (detail/command_queue.hpp):
// queue_push (one CAS claims and publishes), queue_front / queue_release, and the daemon's
// repairs of writes from outside the protocol (queue_skip, queue_repair_tail).
//   1. Over a channel laid out on an ordinary heap buffer (HeapChannel): positions, slot words
//      and staging areas checked word by word, half-finished protocol states written by hand
//      (a producer stopped right after its slot CAS, holes, a tail run ahead), and racing
//      producer threads that each keep at most one command queued, as shells do.
//   2. On real channels through the public API: repairs that only the daemon's poll()/run()
//      make (claim_timeout), forged and stale publishes, answers for older request ids,
//      payload sizes around the inline capacity, and shells in other processes (killed with a
//      command queued, or many shells through a one-slot ring).
//   3. Stray ring words (values no protocol step writes) that the daemon resets, and a
//      command erased from the ring, which fails its request instead of hanging it.
#include "test_support.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <optional>
#include <set>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

using namespace venom_test;
using venom::errc;
using Clock = std::chrono::steady_clock;
namespace vd = venom::detail;

using venom_test::HeapChannel;

namespace {

venom::ChannelConfig queue_config(std::uint32_t cmd_slots, std::uint32_t max_cmd_size = 100,
                                  std::uint32_t clients = 4) {
    venom::ChannelConfig c{64, cmd_slots, clients};
    c.max_cmd_size = max_cmd_size;
    c.max_response_size = 64;
    return c;
}

std::vector<unsigned char> payload_of(std::uint64_t i, std::size_t n) {
    std::vector<unsigned char> b(n);
    for (std::size_t k = 0; k < n; ++k)
        b[k] = static_cast<unsigned char>((i * 131 + k * 17 + 1) & 0xff);
    return b;
}

/// Writes a command into client `client`'s staging area, as a shell does before it pushes.
void stage(const vd::ChannelMap& m, std::uint32_t client, std::uint64_t request,
           const std::vector<unsigned char>& bytes) {
    if (!bytes.empty()) std::memcpy(m.staging_data(client), bytes.data(), bytes.size());
    m.staging(client).length.store(static_cast<std::uint32_t>(bytes.size()),
                                   std::memory_order_relaxed);
    m.staging(client).request.store(request, std::memory_order_relaxed);
}

struct Item {
    std::uint32_t client = 0;
    std::uint64_t request = 0;
    std::vector<unsigned char> payload;
};

/// The daemon's half by hand: the published command at head, if any, read from its sender's
/// staging area, then released.
std::optional<Item> pop(const vd::ChannelMap& m, std::uint64_t& head) {
    std::uint32_t client = 0;
    if (!vd::queue_front(m, head, client)) return std::nullopt;
    Item it;
    it.client = client;
    if (client < m.max_clients) {
        const vd::StagingHeader& st = m.staging(client);
        it.request = st.request.load(std::memory_order_relaxed);
        const std::uint32_t n =
            std::min<std::uint32_t>(st.length.load(std::memory_order_relaxed), m.max_cmd_size);
        const unsigned char* p = m.staging_data(client);
        it.payload.assign(p, p + n);
    }
    vd::queue_release(m, head);
    return it;
}

/// How many ring slots hold a publish of `client` (at most one for an honest shell).
std::uint32_t published_by(const vd::ChannelMap& m, std::uint32_t client) {
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < m.ring_slots; ++i) {
        const std::uint64_t w = m.slot(i).word.load(std::memory_order_acquire);
        if ((w & vd::slot_published_bit) != 0 &&
            ((w >> vd::slot_client_shift) & vd::slot_client_mask) == client)
            ++n;
    }
    return n;
}

/// Puts the queue at position `pos` (head = tail = pos, every slot free for its next
/// position), as if `pos` commands had gone through it. HeapChannel only (its head is ours).
void start_queue_at(const vd::ChannelMap& m, std::uint64_t pos) {
    for (std::uint64_t p = pos; p < pos + m.ring_slots; ++p) m.slot(p).word.store(vd::slot_free(p));
    m.shared->tail.store(pos);
    m.cb->head.store(pos);
}

venom::ShellOptions bounded_options() {
    venom::ShellOptions o;
    o.request_timeout = 10s;
    return o;
}

/// A raw view of a real channel's segment, mapped read-write like a shell's but without a
/// shell's protections: what a buggy or hostile shell can write.
struct RawChannel {
    vd::Attachment att;
    explicit RawChannel(const std::string& name) : att(vd::attach(name, {})) {}
    const vd::ChannelMap& map() const { return att.map; }
    vd::ControlBlock& cb() const { return *att.map.cb; }
};

/// A request sent from its own thread (request() blocks) while the test polls the daemon.
class AsyncRequest {
public:
    AsyncRequest(venom::ShellChannel& shell, std::string cmd,
                 std::chrono::milliseconds timeout = 5000ms)
        : cmd_(std::move(cmd)), t_([this, &shell, timeout] {
              answer_.resize(4096);
              const std::size_t n = shell.request(cmd_.data(), cmd_.size(), answer_.data(),
                                                  answer_.size(), timeout, ec_);
              answer_.resize(ec_ ? 0 : n);
              if (ec_) text_ = shell.last_error_text();
              done_.store(true, std::memory_order_release);
          }) {}
    ~AsyncRequest() { join(); }
    bool done() const { return done_.load(std::memory_order_acquire); }
    void join() {
        if (t_.joinable()) t_.join();
    }
    const std::error_code& ec() const { return ec_; }
    const std::string& answer() const { return answer_; }
    const std::string& error_text() const { return text_; }

private:
    std::string cmd_;
    std::string answer_;
    std::string text_;
    std::error_code ec_;
    std::atomic<bool> done_{false};
    std::thread t_;
};

/// Polls the daemon every millisecond until `until` holds or `limit` passes; returns how many
/// commands poll() reported.
template <class Handler, class Until>
std::size_t poll_until(venom::DaemonChannel& d, Handler& h, Until until,
                       std::chrono::milliseconds limit) {
    std::size_t handled = 0;
    const auto end = Clock::now() + limit;
    while (!until() && Clock::now() < end) {
        handled += d.poll(h);
        std::this_thread::sleep_for(1ms);
    }
    return handled;
}

/// The handler most real-channel tests use: records (client, command) and answers "re:" + cmd.
struct Recorder {
    std::vector<std::pair<std::uint32_t, std::string>> seen;
    std::string operator()(std::uint32_t client, venom::ByteView cmd) {
        seen.emplace_back(client, cmd.to_string());
        return "re:" + cmd.to_string();
    }
    std::vector<std::string> commands() const {
        std::vector<std::string> out;
        for (const auto& s : seen) out.push_back(s.second);
        return out;
    }
};

/// Linux: runs the calling thread on CPU `i` (modulo the CPUs it may use), so that racing
/// threads really run at once instead of taking turns on one CPU. Elsewhere: nothing.
void pin_to_cpu(std::uint32_t i) {
#if defined(__linux__)
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    const int n = CPU_COUNT(&allowed);
    if (n < 2) return;
    int want = static_cast<int>(i % static_cast<std::uint32_t>(n));
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed) || want-- != 0) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        return;
    }
#else
    (void)i;
#endif
}

/// The request id a shell's connection uses for its counter value `counter`.
std::uint64_t request_id(const vd::ChannelMap& m, std::uint32_t client, std::uint64_t counter) {
    return vd::make_request_id(m.client(client).generation.load(), counter);
}

} // namespace

// ================================================================================ heap queue

BOOST_AUTO_TEST_CASE(ring_is_min_of_cmd_slots_and_max_clients_rounded_up_to_a_power_of_two) {
    // A client has at most one command queued, so the ring has min(cmd_slots, max_clients)
    // slots, rounded up to a power of two; cmd_slots itself is kept as configured.
    struct Case {
        std::uint32_t cmd_slots, max_clients, ring;
    };
    const Case cases[] = {{1, 4, 1}, {2, 4, 2},   {3, 4, 4},   {4, 4, 4},       {5, 8, 8},
                          {7, 9, 8}, {8, 9, 8},   {9, 16, 16}, {100, 200, 128}, {8, 4, 4},
                          {8, 3, 4}, {100, 5, 8}, {3, 1, 1},   {64, 2, 2},      {1, 1, 1}};
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT("cmd_slots " << k.cmd_slots << ", max_clients " << k.max_clients) {
            const venom::ChannelConfig config = queue_config(k.cmd_slots, 100, k.max_clients);
            HeapChannel ch(config);
            const vd::ChannelMap& m = ch.map();
            BOOST_TEST(vd::Sizes::of(config).ring_slots == k.ring);
            BOOST_TEST(m.ring_slots == k.ring);
            BOOST_TEST(m.ring_mask == k.ring - 1);
            BOOST_TEST(ch.cb().ring_slots == k.ring);
            BOOST_TEST(ch.cb().cmd_slots == k.cmd_slots,
                       "the control block keeps cmd_slots as configured");
            BOOST_TEST(m.cmd_slots == k.cmd_slots);
            // Every slot of the ring is usable (clients 0.. each queue one command; a ring
            // larger than max_clients, after rounding, takes a client's second command - the
            // queue itself does not count per client), and one more push finds it full.
            for (std::uint32_t i = 0; i < k.ring; ++i) {
                const std::uint32_t c = i % k.max_clients;
                stage(m, c, i + 1, payload_of(i, 3));
                std::uint64_t pos = ~std::uint64_t{0};
                BOOST_TEST((vd::queue_push(m, c, pos) == vd::push_result::pushed), "push " << i);
                BOOST_TEST(pos == i);
            }
            std::uint64_t pos = 777;
            BOOST_TEST((vd::queue_push(m, 0, pos) == vd::push_result::full), "ring + 1 commands");
            BOOST_TEST(pos == 777u, "a refused push leaves pos alone");
            // The slots are whole cache lines apart: slot(p) and slot(p + ring) are one slot.
            BOOST_TEST(&m.slot(0) == &m.slot(k.ring));
            if (k.ring > 1)
                BOOST_TEST(reinterpret_cast<unsigned char*>(&m.slot(1)) -
                               reinterpret_cast<unsigned char*>(&m.slot(0)) ==
                           std::ptrdiff_t(vd::cache_line));
            BOOST_TEST(m.shared_bytes >=
                       sizeof(vd::SharedLines) + std::uint64_t{k.ring} * vd::cache_line);
        }
    }
    // A real channel: the daemon's and the shell's configs report cmd_slots as given.
    for (const Case& k : {Case{3, 4, 4}, Case{16, 3, 4}}) {
        BOOST_TEST_CONTEXT("real channel, cmd_slots " << k.cmd_slots << ", max_clients "
                                                      << k.max_clients) {
            ChannelName name("q_round");
            auto daemon = venom::DaemonChannel::create(
                name.str(), venom::ChannelConfig{64, k.cmd_slots, k.max_clients});
            auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
            RawChannel raw(name.str());
            BOOST_TEST(daemon.config().cmd_slots == k.cmd_slots);
            BOOST_TEST(shell.config().cmd_slots == k.cmd_slots);
            BOOST_TEST(raw.cb().cmd_slots == k.cmd_slots);
            BOOST_TEST(raw.cb().ring_slots == k.ring);
            BOOST_TEST(raw.map().ring_slots == k.ring);
        }
    }
}

BOOST_AUTO_TEST_CASE(fifo_across_many_wrap_arounds) {
    for (std::uint32_t cmd_slots : {1u, 2u, 3u, 5u, 8u, 100u}) {
        const std::uint32_t ring = vd::next_pow2(cmd_slots);
        BOOST_TEST_CONTEXT("cmd_slots " << cmd_slots << ", ring " << ring) {
            // One client per ring slot (one command queued per client) and a spare one.
            HeapChannel ch(queue_config(cmd_slots, 100, ring + 1));
            const vd::ChannelMap& m = ch.map();
            BOOST_REQUIRE(m.ring_slots == ring);
            const std::uint32_t spare = ring;
            const std::uint64_t total = 10u * ring + 17;
            std::uint64_t pushed = 0, popped = 0, head = 0, bad = 0;
            std::string first_bad;
            auto fail = [&](const std::string& what) {
                if (bad++ == 0)
                    first_bad = what + " (pushed " + std::to_string(pushed) + ", popped " +
                                std::to_string(popped) + ")";
            };
            auto client_of = [&](std::uint64_t k) { return static_cast<std::uint32_t>(k % ring); };
            auto bytes_of = [&](std::uint64_t k) {
                return payload_of(k, k % (m.max_cmd_size + 1));
            };
            std::uint64_t batch = 1;
            while (popped < total && bad == 0) {
                // Push a batch (1, 2, ... ring items, cycling), then pop it: every occupancy.
                // The items of a batch come from distinct clients (each has one staging area).
                const std::uint64_t n = std::min<std::uint64_t>(batch, total - pushed);
                for (std::uint64_t i = 0; i < n; ++i, ++pushed) {
                    const std::uint32_t c = client_of(pushed);
                    stage(m, c, 1000 + pushed, bytes_of(pushed));
                    std::uint64_t pos = 0;
                    if (vd::queue_push(m, c, pos) != vd::push_result::pushed) {
                        fail("push refused in a queue with room");
                        break;
                    }
                    if (pos != pushed) fail("pushed at the wrong position");
                    if (m.shared->tail.load() != pushed + 1) fail("tail not moved past the push");
                    if (m.slot(pos).word.load() != vd::slot_published(pos, c))
                        fail("slot word is not the publish");
                }
                if (n == ring) { // exactly full now: the spare client finds no room
                    stage(m, spare, 1, bytes_of(0));
                    std::uint64_t pos = 4242;
                    if (vd::queue_push(m, spare, pos) != vd::push_result::full)
                        fail("push into a full queue");
                    if (pos != 4242) fail("a refused push set pos");
                    if (m.shared->tail.load() != pushed) fail("a refused push moved tail");
                    if (vd::queue_has_space(m)) fail("a full queue reports space");
                }
                while (popped < pushed) {
                    auto it = pop(m, head);
                    if (!it) {
                        fail("a published command is not at the head");
                        break;
                    }
                    if (it->client != client_of(popped) || it->request != 1000 + popped ||
                        it->payload != bytes_of(popped))
                        fail("wrong command at the head");
                    if (m.slot(popped).word.load() != vd::slot_free(popped + ring))
                        fail("a released slot is not free for its next lap");
                    ++popped;
                    if (ch.cb().head.load() != popped) fail("the head mirror lags");
                }
                std::uint32_t c = 0;
                if (vd::queue_front(m, head, c)) fail("a drained queue has a command");
                if (!vd::queue_has_space(m)) fail("an empty queue has no space");
                if (vd::queue_head_passed_unpublished(m, head))
                    fail("a drained queue reports a hole");
                for (std::uint32_t k = 0; k <= ring; ++k)
                    if (vd::queue_holds_client(m, k)) fail("a drained queue holds a client");
                batch = batch % ring + 1;
            }
            BOOST_TEST(bad == 0u, first_bad);
            BOOST_TEST(popped == total);
            BOOST_TEST(ch.cb().head.load() == total);
            BOOST_TEST(m.shared->tail.load() == total);
            BOOST_TEST(head == total);
            BOOST_TEST(ch.cb().queue_repairs.load() == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(full_queue_then_space_after_one_release) {
    for (std::uint32_t ring : {4u, 2u, 1u}) {
        BOOST_TEST_CONTEXT("ring " << ring) {
            HeapChannel ch(queue_config(ring, 100, ring + 1));
            const vd::ChannelMap& m = ch.map();
            const std::uint32_t extra = ring;
            for (std::uint32_t c = 0; c < ring; ++c) {
                stage(m, c, 10 + c, payload_of(c, 1));
                std::uint64_t pos = 0;
                BOOST_TEST((vd::queue_push(m, c, pos) == vd::push_result::pushed));
            }
            stage(m, extra, 10 + extra, payload_of(extra, 1));
            std::uint64_t pos = 12345;
            BOOST_TEST((vd::queue_push(m, extra, pos) == vd::push_result::full));
            BOOST_TEST(m.shared->tail.load() == ring, "a refused push does not move the tail");
            BOOST_TEST(!vd::queue_has_space(m));
            BOOST_TEST((vd::queue_push(m, extra, pos) == vd::push_result::full), "still full");
            BOOST_TEST(pos == 12345u);
            if (m.shared->tail.load() != ring) continue; // the rest assumes a correct queue

            std::uint64_t head = 0;
            auto first = pop(m, head);
            BOOST_REQUIRE(first.has_value());
            BOOST_TEST(first->client == 0u);
            BOOST_TEST(first->request == 10u);
            BOOST_TEST(vd::queue_has_space(m), "one release makes room");
            BOOST_TEST((vd::queue_push(m, extra, pos) == vd::push_result::pushed));
            BOOST_TEST(pos == ring);
            // Client 0, answered, sends again: full again.
            stage(m, 0, 99, payload_of(0, 1));
            BOOST_TEST((vd::queue_push(m, 0, pos) == vd::push_result::full));
            BOOST_TEST(!vd::queue_has_space(m));
            for (std::uint32_t i = 1; i <= ring; ++i) {
                auto it = pop(m, head);
                BOOST_REQUIRE(it.has_value());
                BOOST_TEST(it->client == i, "position " << i);
                BOOST_TEST(it->request == 10u + i);
            }
            BOOST_TEST(!pop(m, head).has_value());
            BOOST_TEST((vd::queue_push(m, 0, pos) == vd::push_result::pushed));
            BOOST_TEST(pos == ring + 1);
        }
    }
}

BOOST_AUTO_TEST_CASE(positions_wrap_modulo_2_pow_52_and_2_pow_64) {
    // The slot word keeps a position modulo 2^52 (12 low bits for the flag and client id); the
    // tail and head are 64-bit counters. A daemon that has handled 2^52 commands (at 100 M/s, a
    // year and a half) and one at the end of the 64-bit range go on as at position 0.
    for (std::uint64_t start :
         {(std::uint64_t{1} << 52) - 6, ~std::uint64_t{0} - 6, (std::uint64_t{1} << 53) - 3}) {
        BOOST_TEST_CONTEXT("from position " << std::hex << start) {
            HeapChannel ch(queue_config(3, 100, 5)); // ring 4: clients 0..3 fill it, 4 is spare
            const vd::ChannelMap& m = ch.map();
            start_queue_at(m, start);
            std::uint64_t head = start;
            for (std::uint64_t round = 0; round < 4; ++round) {
                for (std::uint32_t c = 0; c < 4; ++c) {
                    const std::uint64_t want = start + 4 * round + c;
                    stage(m, c, want, payload_of(want, 5 + c));
                    std::uint64_t pos = 0;
                    BOOST_TEST((vd::queue_push(m, c, pos) == vd::push_result::pushed));
                    BOOST_TEST(pos == want);
                    BOOST_TEST(m.slot(pos).word.load() == vd::slot_published(want, c));
                }
                BOOST_TEST(vd::queue_holds_client(m, 1));
                std::uint64_t pos = 0;
                stage(m, 4, 1, payload_of(0, 1));
                BOOST_TEST((vd::queue_push(m, 4, pos) == vd::push_result::full));
                BOOST_TEST(!vd::queue_has_space(m));
                BOOST_TEST(!vd::queue_repair_tail(m, head),
                           "a wrapped tail is not 'more than a ring ahead'");
                BOOST_TEST(!vd::queue_head_passed_unpublished(m, head));
                for (std::uint32_t c = 0; c < 4; ++c) {
                    const std::uint64_t want = start + 4 * round + c;
                    auto it = pop(m, head);
                    BOOST_REQUIRE(it.has_value());
                    BOOST_TEST(it->client == c);
                    BOOST_TEST(it->request == want);
                    BOOST_TEST((it->payload == payload_of(want, 5 + c)));
                }
                BOOST_TEST(!pop(m, head).has_value());
                BOOST_TEST(vd::queue_has_space(m));
                BOOST_TEST(!vd::queue_head_passed_unpublished(m, head));
            }
            BOOST_TEST(head == start + 16);
            BOOST_TEST(m.shared->tail.load() == head);
        }
    }
}

BOOST_AUTO_TEST_CASE(racing_pushes_each_take_one_position) {
    // Producer threads released at once race for the same tail positions; the losers of a slot
    // CAS move on (they see the position taken and help tail past it) and land on the next
    // ones, or find the queue full only when it is. Each thread speaks for several client ids
    // (one staging area and at most one queued command each) and pushes for all of them back
    // to back, so the threads' pushes interleave. A lost CAS cannot be forced without a hook
    // in queue_push: this test makes many races (the message says how many pushes landed past
    // the tail they first read); the deterministic half of a loss (finding tail's slot
    // published) is producer_stopped_after_its_slot_cas_does_not_stop_others.
    for (std::uint32_t ring : {8u, 2u}) {
        BOOST_TEST_CONTEXT("ring " << ring) {
            const std::uint32_t threads_n =
                std::max(2u, std::min(4u, std::thread::hardware_concurrency()));
            constexpr std::uint32_t per_thread = 4; // client ids per thread
            const std::uint32_t clients = threads_n * per_thread;
            HeapChannel ch(queue_config(ring, 16, clients));
            const vd::ChannelMap& m = ch.map();
            const std::uint32_t rounds = static_cast<std::uint32_t>(scaled(3000));
            std::atomic<std::uint32_t> prepare{0}, staged{0}, finished{0};
            std::atomic<bool> quit{false};
            std::vector<std::uint64_t> pos_of(clients);
            std::vector<vd::push_result> result_of(clients);
            std::atomic<std::uint64_t> moved_on{0};
            std::vector<std::thread> threads;
            for (std::uint32_t p = 0; p < threads_n; ++p) {
                threads.emplace_back([&, p] {
                    pin_to_cpu(p);
                    for (std::uint32_t r = 1; r <= rounds; ++r) {
                        // Staged before the start (once the consumer has read round r - 1's
                        // commands), so that the pushes leave together.
                        while (prepare.load(std::memory_order_acquire) < r) {
                            if (quit.load(std::memory_order_relaxed)) return;
                            std::this_thread::yield();
                        }
                        for (std::uint32_t j = 0; j < per_thread; ++j) {
                            const std::uint32_t c = p + j * threads_n;
                            stage(m, c, (std::uint64_t{r} << 16) | c, payload_of(r + c, 16));
                        }
                        // The threads release each other (the last to arrive releases the
                        // rest) while the consumer sleeps, so they leave together. A tight
                        // spin, with a yield now and then for machines with fewer cores.
                        staged.fetch_add(1, std::memory_order_acq_rel);
                        for (unsigned spins = 1;
                             staged.load(std::memory_order_acquire) < r * threads_n; ++spins) {
                            if (quit.load(std::memory_order_relaxed)) return;
                            if (spins % 4096 == 0) std::this_thread::yield();
                        }
                        for (std::uint32_t j = 0; j < per_thread; ++j) {
                            const std::uint32_t c = p + j * threads_n;
                            const std::uint64_t seen =
                                m.shared->tail.load(std::memory_order_relaxed);
                            std::uint64_t pos = ~std::uint64_t{0};
                            result_of[c] = vd::queue_push(m, c, pos);
                            pos_of[c] = pos;
                            if (result_of[c] == vd::push_result::pushed && pos != seen)
                                moved_on.fetch_add(1);
                        }
                        finished.fetch_add(1, std::memory_order_acq_rel);
                    }
                });
            }
            std::uint64_t head = 0, bad = 0;
            std::string first_bad;
            auto fail = [&](std::uint32_t r, const std::string& what) {
                if (bad++ == 0) first_bad = "round " + std::to_string(r) + ": " + what;
            };
            const auto deadline = Clock::now() + 60s;
            const std::uint32_t expect_pushed = std::min(clients, ring);
            for (std::uint32_t r = 1; r <= rounds && bad == 0; ++r) {
                const std::uint64_t t0 = m.shared->tail.load();
                prepare.store(r, std::memory_order_release);
                while (finished.load(std::memory_order_acquire) < r * threads_n) {
                    if (Clock::now() > deadline) break;
                    std::this_thread::sleep_for(20us); // off the CPUs the producers race on
                }
                if (finished.load() < r * threads_n) {
                    fail(r, "producers did not finish in 60 s");
                    break;
                }
                std::set<std::uint64_t> positions;
                std::uint32_t pushed = 0;
                for (std::uint32_t c = 0; c < clients; ++c) {
                    if (result_of[c] != vd::push_result::pushed) continue;
                    ++pushed;
                    positions.insert(pos_of[c]);
                    if (pos_of[c] < t0 || pos_of[c] >= t0 + expect_pushed)
                        fail(r, "a position outside the round's");
                    else if (m.slot(pos_of[c]).word.load() != vd::slot_published(pos_of[c], c))
                        fail(r, "a position holds another client's publish");
                }
                if (pushed != expect_pushed)
                    fail(r, std::to_string(pushed) + " pushed of " + std::to_string(clients) +
                                " into " + std::to_string(ring) + " free slots");
                if (positions.size() != pushed) fail(r, "two pushes got one position");
                if (m.shared->tail.load() != t0 + expect_pushed)
                    fail(r, "tail not past every push");
                std::set<std::uint32_t> seen_clients;
                for (std::uint32_t i = 0; i < expect_pushed; ++i) {
                    auto it = pop(m, head);
                    if (!it) {
                        fail(r, "a pushed command is not in the queue");
                        break;
                    }
                    if (it->request != ((std::uint64_t{r} << 16) | it->client) ||
                        it->payload != payload_of(r + it->client, 16))
                        fail(r, "a command's staging area does not match its sender");
                    seen_clients.insert(it->client);
                }
                if (seen_clients.size() != expect_pushed)
                    fail(r, "a client's command came out twice");
                if (pop(m, head).has_value()) fail(r, "more commands than pushes");
            }
            quit = true;
            prepare.store(rounds + 1);
            for (auto& t : threads) t.join();
            BOOST_TEST(bad == 0u, first_bad);
            BOOST_TEST_MESSAGE("ring " << ring << ", " << threads_n << " threads x " << per_thread
                                       << " clients: " << moved_on.load()
                                       << " pushes landed past the tail they first read "
                                          "(lost a CAS or helped tail)");
        }
    }
}

BOOST_AUTO_TEST_CASE(producer_stopped_after_its_slot_cas_does_not_stop_others) {
    HeapChannel ch(queue_config(8, 100, 8));
    const vd::ChannelMap& m = ch.map();
    std::uint64_t head = 0;
    // Warm up: the positions are not 0 any more.
    for (std::uint64_t i = 0; i < 5; ++i) {
        stage(m, 3, i, payload_of(i, 2));
        std::uint64_t pos = 0;
        BOOST_REQUIRE((vd::queue_push(m, 3, pos) == vd::push_result::pushed));
        BOOST_REQUIRE(pop(m, head).has_value());
    }
    const std::uint64_t t = m.shared->tail.load();
    BOOST_REQUIRE(t == 5u);
    // By hand: client 0 staged its command and won the slot CAS at t, then stopped (SIGSTOP,
    // preemption) before moving tail.
    stage(m, 0, 100, payload_of(100, 70));
    std::uint64_t expected = vd::slot_free(t);
    BOOST_REQUIRE(m.slot(t).word.compare_exchange_strong(expected, vd::slot_published(t, 0)));
    BOOST_TEST(m.shared->tail.load() == t, "the stopped producer did not move tail");
    std::uint32_t c = 99;
    BOOST_TEST(vd::queue_front(m, head, c), "the daemon sees the publish before tail moves");
    BOOST_TEST(c == 0u);
    BOOST_TEST(vd::queue_holds_client(m, 0));
    BOOST_TEST(!vd::queue_head_passed_unpublished(m, head));
    // The next producer helps tail past t and lands at t + 1; the one after at t + 2.
    stage(m, 1, 101, payload_of(101, 48));
    std::uint64_t pos = 0;
    BOOST_TEST((vd::queue_push(m, 1, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == t + 1);
    BOOST_TEST(m.shared->tail.load() == t + 2);
    stage(m, 2, 102, payload_of(102, 0));
    BOOST_TEST((vd::queue_push(m, 2, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == t + 2);
    // The stopped producer resumes: its tail CAS finds tail moved on and changes nothing.
    std::uint64_t its_t = t;
    BOOST_TEST(!m.shared->tail.compare_exchange_strong(its_t, t + 1));
    BOOST_TEST(m.shared->tail.load() == t + 3);
    // The daemon takes all three in position order, each with its sender's staged bytes.
    const std::uint32_t order[] = {0, 1, 2};
    const std::size_t sizes[] = {70, 48, 0};
    for (std::uint32_t i = 0; i < 3; ++i) {
        auto it = pop(m, head);
        BOOST_REQUIRE(it.has_value());
        BOOST_TEST(it->client == order[i]);
        BOOST_TEST(it->request == 100u + i);
        BOOST_TEST((it->payload == payload_of(100 + i, sizes[i])));
    }
    BOOST_TEST(!pop(m, head).has_value());
    BOOST_TEST(ch.cb().queue_repairs.load() == 0u);

    // A ring of one: the helper moves tail past the stopped producer's position, then finds
    // the queue full (the slot is that same position's) and returns without publishing.
    HeapChannel one(queue_config(1, 100, 2));
    const vd::ChannelMap& m1 = one.map();
    stage(m1, 0, 1, payload_of(1, 1));
    expected = vd::slot_free(0);
    BOOST_REQUIRE(m1.slot(0).word.compare_exchange_strong(expected, vd::slot_published(0, 0)));
    stage(m1, 1, 2, payload_of(2, 1));
    pos = 555;
    BOOST_TEST((vd::queue_push(m1, 1, pos) == vd::push_result::full));
    BOOST_TEST(pos == 555u);
    BOOST_TEST(m1.shared->tail.load() == 1u, "helped past position 0");
    BOOST_TEST(m1.slot(0).word.load() == vd::slot_published(0, 0),
               "the stopped producer's publish is intact");
    std::uint64_t head1 = 0;
    auto it = pop(m1, head1);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->client == 0u);
    BOOST_TEST((vd::queue_push(m1, 1, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == 1u);
    it = pop(m1, head1);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->client == 1u);
    BOOST_TEST(it->request == 2u);
}

BOOST_AUTO_TEST_CASE(multi_producer_one_command_per_client_every_item_once_in_order) {
    // Producer p is client p, with its own staging area; like a shell, it stages and pushes its
    // next command only once the consumer has answered the previous one (its response slot's
    // seq), so it has at most one command queued. More producers than ring slots: pushes find
    // the queue full and retry.
    struct Case {
        std::uint32_t cmd_slots, producers;
    };
    for (const Case cs : {Case{3, 8}, Case{1, 3}, Case{16, 6}}) {
        BOOST_TEST_CONTEXT("cmd_slots " << cs.cmd_slots << ", " << cs.producers << " producers") {
            const std::uint32_t producers = cs.producers;
            const std::uint64_t per_producer = static_cast<std::uint64_t>(scaled(5000));
            constexpr std::uint32_t max_cmd = 130;
            HeapChannel ch(queue_config(cs.cmd_slots, max_cmd, producers));
            const vd::ChannelMap& m = ch.map();
            const auto started = Clock::now();
            const auto deadline = started + 60s;
            std::atomic<bool> timed_out{false};
            std::atomic<std::uint64_t> full_pushes{0}, moved_on{0};
            auto size_of = [](std::uint32_t p, std::uint64_t i) {
                return static_cast<std::size_t>((i * 7 + p) % (max_cmd + 1));
            };
            auto request_of = [](std::uint64_t i) { return vd::make_request_id(1, i + 1); };

            std::vector<std::thread> threads;
            for (std::uint32_t p = 0; p < producers; ++p) {
                threads.emplace_back([&, p] {
                    for (std::uint64_t i = 0; i < per_producer; ++i) {
                        const std::uint64_t req = request_of(i);
                        stage(m, p, req, payload_of((std::uint64_t{p} << 32) | i, size_of(p, i)));
                        std::uint64_t pos = 0;
                        unsigned spins = 0;
                        const std::uint64_t seen = m.shared->tail.load(std::memory_order_relaxed);
                        while (vd::queue_push(m, p, pos) != vd::push_result::pushed) {
                            full_pushes.fetch_add(1, std::memory_order_relaxed);
                            if (++spins % 16 == 0) {
                                if (Clock::now() > deadline) {
                                    timed_out = true;
                                    return;
                                }
                                std::this_thread::yield();
                            }
                        }
                        if (pos != seen) moved_on.fetch_add(1, std::memory_order_relaxed);
                        spins = 0;
                        while (!vd::answered(m, p, req)) {
                            if (++spins % 16 == 0) {
                                if (Clock::now() > deadline) {
                                    timed_out = true;
                                    return;
                                }
                                std::this_thread::yield();
                            }
                        }
                    }
                });
            }

            std::vector<std::uint64_t> next(producers, 0);
            std::uint64_t consumed = 0, out_of_order = 0, malformed = 0, doubled = 0, head = 0;
            const std::uint64_t total = per_producer * producers;
            unsigned idle = 0;
            while (consumed < total) {
                std::uint32_t c = 0;
                if (!vd::queue_front(m, head, c)) {
                    if (++idle % 16 == 0) {
                        if (Clock::now() > deadline) {
                            timed_out = true;
                            break;
                        }
                        std::this_thread::yield();
                    }
                    continue;
                }
                ++consumed;
                if (c >= producers) {
                    ++malformed;
                    vd::queue_release(m, head);
                    continue;
                }
                if (published_by(m, c) != 1) ++doubled; // before its answer: one command queued
                const vd::StagingHeader& st = m.staging(c);
                const std::uint64_t req = st.request.load(std::memory_order_relaxed);
                const std::uint32_t n = st.length.load(std::memory_order_relaxed);
                const std::uint64_t i = next[c];
                const auto expect = payload_of((std::uint64_t{c} << 32) | i, size_of(c, i));
                const bool bytes_ok = n == expect.size() &&
                                      std::equal(expect.begin(), expect.end(), m.staging_data(c));
                if (req != request_of(i)) ++out_of_order; // a duplicate, a loss or a reordering
                else if (!bytes_ok) ++malformed;
                next[c] = (req & vd::request_counter_mask); // resynchronise on the id we saw
                // As the daemon does: answer, then free the slot.
                vd::publish_answer(m, c, req, vd::status_ok, 0);
                vd::queue_release(m, head);
            }
            for (auto& t : threads) t.join();
            BOOST_TEST_MESSAGE(producers
                               << " producers x " << per_producer << " commands through a "
                               << m.ring_slots << "-slot ring in " << ms_since(started) << " ms; "
                               << full_pushes.load() << " pushes found it full, " << moved_on.load()
                               << " landed past the tail first read");
            BOOST_TEST(!timed_out.load());
            BOOST_TEST(consumed == total);
            BOOST_TEST(malformed == 0u);
            BOOST_TEST(out_of_order == 0u);
            BOOST_TEST(doubled == 0u);
            for (std::uint32_t p = 0; p < producers; ++p)
                BOOST_TEST(next[p] == per_producer, "producer " << p);
            std::uint32_t c = 0;
            BOOST_TEST(!vd::queue_front(m, head, c), "nothing left over");
            BOOST_TEST(m.shared->tail.load() == total);
            BOOST_TEST(ch.cb().queue_repairs.load() == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(queue_holds_client_sees_every_published_slot) {
    HeapChannel ch(queue_config(4, 100, 8));
    const vd::ChannelMap& m = ch.map();
    for (std::uint32_t c = 0; c < 8; ++c) BOOST_TEST(!vd::queue_holds_client(m, c));
    std::uint64_t head = 0, pos = 0;
    stage(m, 2, 1, payload_of(1, 1));
    BOOST_REQUIRE((vd::queue_push(m, 2, pos) == vd::push_result::pushed));
    stage(m, 5, 1, payload_of(1, 1));
    BOOST_REQUIRE((vd::queue_push(m, 5, pos) == vd::push_result::pushed));
    BOOST_TEST(vd::queue_holds_client(m, 2));
    BOOST_TEST(vd::queue_holds_client(m, 5));
    BOOST_TEST(!vd::queue_holds_client(m, 0),
               "client 0's id is 0 in the word: not the free words' zero bits");
    BOOST_TEST(!vd::queue_holds_client(m, 3));
    BOOST_REQUIRE(pop(m, head).has_value());
    BOOST_TEST(!vd::queue_holds_client(m, 2), "released");
    BOOST_TEST(vd::queue_holds_client(m, 5), "still queued behind");
    // Client 0 publishes in the last slot of the ring (wraps the scan's range).
    stage(m, 0, 1, payload_of(1, 1));
    BOOST_REQUIRE((vd::queue_push(m, 0, pos) == vd::push_result::pushed));
    stage(m, 7, 1, payload_of(1, 1));
    BOOST_REQUIRE((vd::queue_push(m, 7, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == 3u);
    BOOST_TEST(vd::queue_holds_client(m, 0));
    BOOST_TEST(vd::queue_holds_client(m, 7));
    while (pop(m, head).has_value()) {}
    for (std::uint32_t c = 0; c < 8; ++c) BOOST_TEST(!vd::queue_holds_client(m, c), "client " << c);
    // A published word anywhere in the ring counts, even one a stray write left ahead of tail.
    m.slot(m.shared->tail.load() + 2).word.store(vd::slot_published(m.shared->tail.load() + 2, 6));
    BOOST_TEST(vd::queue_holds_client(m, 6));
}

BOOST_AUTO_TEST_CASE(holes_are_skipped_by_queue_skip_and_a_late_publish_wins) {
    HeapChannel ch(queue_config(8, 100, 8));
    const vd::ChannelMap& m = ch.map();
    const std::uint64_t R = m.ring_slots;
    BOOST_REQUIRE(R == 8u);
    start_queue_at(m, 21);
    std::uint64_t head = 21;
    // A stray write moves tail one past the head: a position no publish will fill.
    m.shared->tail.fetch_add(1);
    std::uint32_t c = 0;
    BOOST_TEST(!vd::queue_front(m, head, c));
    BOOST_TEST(vd::queue_head_passed_unpublished(m, head));
    // Producers go on behind the hole.
    stage(m, 1, 7, payload_of(7, 9));
    std::uint64_t pos = 0;
    BOOST_REQUIRE((vd::queue_push(m, 1, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == 22u);
    BOOST_TEST(vd::queue_skip(m, head));
    BOOST_TEST(head == 22u);
    BOOST_TEST(ch.cb().head.load() == 22u);
    BOOST_TEST(m.slot(21).word.load() == vd::slot_free(21 + R),
               "the hole's slot is free for its next lap");
    BOOST_TEST(!vd::queue_head_passed_unpublished(m, head));
    auto it = pop(m, head);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->client == 1u);
    BOOST_TEST(it->request == 7u);

    // A producer that read tail before the stray write publishes at the hole after all: the
    // skip loses to it, and the command is handled.
    m.shared->tail.fetch_add(1); // hole at 23
    BOOST_TEST(vd::queue_head_passed_unpublished(m, head));
    stage(m, 2, 8, payload_of(8, 3));
    std::uint64_t expected = vd::slot_free(head);
    BOOST_REQUIRE(m.slot(head).word.compare_exchange_strong(expected, vd::slot_published(head, 2)));
    BOOST_TEST(!vd::queue_skip(m, head), "a publish is never skipped");
    BOOST_TEST(head == 23u);
    it = pop(m, head);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->client == 2u);

    // Garbage for an older position (0, a past lap's publish, bits whose position reads as
    // older) at a passed head is a hole, and the skip frees the slot for its next lap
    // (queue_holds_client no longer sees it).
    for (std::uint64_t junk :
         {std::uint64_t{0}, vd::slot_published(head - R, 3), std::uint64_t{0xDEADBEEFDEADBEEFull},
          vd::slot_published(head - 1, 3)}) {
        BOOST_TEST_CONTEXT("word " << std::hex << junk) {
            BOOST_REQUIRE(vd::slot_position_diff(junk, head) < 0);
            m.slot(head).word.store(junk);
            m.shared->tail.store(head + 1);
            BOOST_TEST(!vd::queue_front(m, head, c));
            BOOST_TEST(vd::queue_head_passed_unpublished(m, head));
            const std::uint64_t before = head;
            BOOST_TEST(vd::queue_skip(m, head));
            BOOST_TEST(head == before + 1);
            BOOST_TEST(m.slot(before).word.load() == vd::slot_free(before + R));
            BOOST_TEST(!vd::queue_holds_client(m, 3));
        }
    }
    // A publish for the slot's next lap at a passed head may be a producer's real command
    // (a stray word made it help tail on, and it published a lap later): the skip moves head on
    // and leaves it, and it is handled at its own position.
    const std::uint64_t hole = head;
    stage(m, 3, 33, payload_of(33, 5));
    m.slot(hole).word.store(vd::slot_published(hole + R, 3));
    m.shared->tail.store(hole + R + 1); // as if positions hole + 1 .. hole + R were taken too
    BOOST_TEST(vd::queue_head_passed_unpublished(m, head));
    BOOST_TEST(vd::queue_skip(m, head));
    BOOST_TEST(head == hole + 1);
    BOOST_TEST(m.slot(hole).word.load() == vd::slot_published(hole + R, 3),
               "a next lap's publish is left alone");
    BOOST_TEST(vd::queue_holds_client(m, 3));
    for (std::uint64_t p = hole + 1; p < hole + R; ++p) {
        BOOST_TEST(vd::queue_skip(m, head), "hole at " << p);
    }
    BOOST_TEST(head == hole + R);
    it = pop(m, head);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->client == 3u);
    BOOST_TEST(it->request == 33u);
    BOOST_TEST(!vd::queue_holds_client(m, 3));
    BOOST_TEST(m.shared->tail.load() == head);

    // And the queue works on.
    stage(m, 0, 9, payload_of(9, 60));
    BOOST_REQUIRE((vd::queue_push(m, 0, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == head);
    it = pop(m, head);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST((it->payload == payload_of(9, 60)));
}

BOOST_AUTO_TEST_CASE(tail_run_ahead_or_behind_is_put_back) {
    HeapChannel ch(queue_config(8, 100, 8));
    const vd::ChannelMap& m = ch.map();
    const std::uint64_t R = m.ring_slots;
    BOOST_REQUIRE(R == 8u);
    start_queue_at(m, 40);
    std::uint64_t head = 40;
    // One command queued, then a stray write moves tail more than a ring ahead.
    stage(m, 0, 1, payload_of(1, 4));
    std::uint64_t pos = 0;
    BOOST_REQUIRE((vd::queue_push(m, 0, pos) == vd::push_result::pushed));
    for (std::uint64_t ahead : {R + 1, R + 5, (std::uint64_t{1} << 40) + 3}) {
        BOOST_TEST_CONTEXT("tail = head + " << ahead) {
            m.shared->tail.store(head + ahead);
            stage(m, 1, 2, payload_of(2, 4));
            BOOST_TEST((vd::queue_push(m, 1, pos) == vd::push_result::full),
                       "producers find it full");
            BOOST_TEST(vd::queue_repair_tail(m, head));
            BOOST_TEST(m.shared->tail.load() == head, "put back to head");
            BOOST_TEST(!vd::queue_repair_tail(m, head), "once");
            // The next push helps past the command still queued at head and lands after it.
            BOOST_TEST((vd::queue_push(m, 1, pos) == vd::push_result::pushed));
            BOOST_TEST(pos == head + 1);
            auto it = pop(m, head);
            BOOST_REQUIRE(it.has_value());
            BOOST_TEST(it->client == 0u, "the command queued before the stray write is kept");
            it = pop(m, head);
            BOOST_REQUIRE(it.has_value());
            BOOST_TEST(it->client == 1u);
            stage(m, 0, 1, payload_of(1, 4));
            BOOST_REQUIRE((vd::queue_push(m, 0, pos) == vd::push_result::pushed));
        }
    }
    // head - 1 .. head + R are legitimate tails (a full queue; a publish the daemon consumed
    // before its producer moved tail): left alone.
    BOOST_REQUIRE(pop(m, head).has_value());
    for (std::int64_t d = -1; d <= static_cast<std::int64_t>(R); ++d) {
        m.shared->tail.store(head + static_cast<std::uint64_t>(d));
        BOOST_TEST(!vd::queue_repair_tail(m, head), "tail = head + " << d);
        BOOST_TEST(m.shared->tail.load() == head + static_cast<std::uint64_t>(d));
    }
    // head - 1: the next push helps it forward and lands at head.
    m.shared->tail.store(head - 1);
    stage(m, 2, 3, payload_of(3, 4));
    BOOST_TEST((vd::queue_push(m, 2, pos) == vd::push_result::pushed));
    BOOST_TEST(pos == head);
    BOOST_TEST(m.shared->tail.load() == head + 1);
    BOOST_REQUIRE(pop(m, head).has_value());
    // Further behind: put back to head.
    for (std::uint64_t behind : {std::uint64_t{2}, std::uint64_t{5}, std::uint64_t{1} << 40}) {
        BOOST_TEST_CONTEXT("tail = head - " << behind) {
            m.shared->tail.store(head - behind);
            BOOST_TEST(vd::queue_repair_tail(m, head));
            BOOST_TEST(m.shared->tail.load() == head);
            stage(m, 2, 4, payload_of(4, 4));
            BOOST_TEST((vd::queue_push(m, 2, pos) == vd::push_result::pushed));
            BOOST_TEST(pos == head);
            auto it = pop(m, head);
            BOOST_REQUIRE(it.has_value());
            BOOST_TEST(it->client == 2u);
        }
    }
}

/// The repair of a far-behind tail races with producers walking that tail up (each of their
/// steps is a CAS of it): it must not need to win at its first attempt, and must stay bounded
/// when it never wins. The hook stands in for the producers, moving tail between the daemon's
/// read and its CAS every time.
namespace tail_race {
std::atomic<const vd::ChannelMap*> map{nullptr};
std::atomic<unsigned> moves_left{0};
std::atomic<unsigned> calls{0};
void move_tail(vd::fault f) {
    if (f != vd::fault::tail_repair) return;
    calls.fetch_add(1);
    if (moves_left.load() == 0) return;
    moves_left.fetch_sub(1);
    map.load()->shared->tail.fetch_add(1); // a producer helped tail on
}
} // namespace tail_race

BOOST_AUTO_TEST_CASE(tail_repair_outlasts_producers_moving_the_tail) {
    HeapChannel ch(queue_config(8, 100, 8));
    const vd::ChannelMap& m = ch.map();
    start_queue_at(m, 40);
    const std::uint64_t head = 40;
    tail_race::map.store(&m);
    vd::fault_hook.store(&tail_race::move_tail);
    struct Unhook {
        ~Unhook() { vd::fault_hook.store(nullptr); }
    } unhook;
    for (std::uint64_t behind : {std::uint64_t{1} << 40, std::uint64_t{1} << 51}) {
        for (unsigned moves : {1u, 100u, vd::repair_tail_max_attempts - 1}) {
            BOOST_TEST_CONTEXT("tail = head - " << behind << ", moved " << moves
                                                << " times during the repair") {
                m.shared->tail.store(head - behind);
                tail_race::moves_left.store(moves);
                tail_race::calls.store(0);
                BOOST_TEST(vd::queue_repair_tail(m, head),
                           "repaired although it lost " << moves << " CASes");
                BOOST_TEST(m.shared->tail.load() == head);
                BOOST_TEST(tail_race::calls.load() == moves + 1);
            }
        }
    }
    // Producers that win every time: the repair gives up after its bound (check_queue tries
    // again at its next look) rather than spin on.
    m.shared->tail.store(head - (std::uint64_t{1} << 40));
    tail_race::moves_left.store(~0u);
    tail_race::calls.store(0);
    BOOST_TEST(!vd::queue_repair_tail(m, head));
    BOOST_TEST(tail_race::calls.load() == vd::repair_tail_max_attempts);
    BOOST_TEST(m.shared->tail.load() ==
               head - (std::uint64_t{1} << 40) + vd::repair_tail_max_attempts);
    // Moved into the legitimate range meanwhile (head - 1 .. head + R): nothing to repair.
    m.shared->tail.store(head - 3);
    tail_race::moves_left.store(2);
    tail_race::calls.store(0);
    BOOST_TEST(!vd::queue_repair_tail(m, head));
    BOOST_TEST(m.shared->tail.load() == head - 1, "left where the producers put it");
    BOOST_TEST(tail_race::calls.load() == 2u);
}

// ================================================================================ real channel

BOOST_AUTO_TEST_CASE(capacity_1_channel_loses_nothing) {
    ChannelName name("q_cap1");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 1, 2});
    auto a = venom::ShellChannel::connect(name.str(), bounded_options());
    auto b = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    BOOST_REQUIRE(m.ring_slots == 1u);
    Recorder rec;
    char buf[16];
    std::error_code ec;
    a.request("A", 1, buf, sizeof buf, 5ms, ec); // queued, not answered: no loop runs
    BOOST_TEST((ec == errc::timeout));
    BOOST_TEST(m.shared->tail.load() == 1u);
    BOOST_TEST(vd::queue_holds_client(m, a.client_id()));
    b.request("B", 1, buf, sizeof buf, 5ms,
              ec); // the queue is full: B waits for space, then times out
    BOOST_TEST((ec == errc::timeout));
    BOOST_TEST(m.shared->tail.load() == 1u, "the second command was queued into a full queue");
    BOOST_TEST(!vd::queue_holds_client(m, b.client_id()));
    BOOST_TEST(daemon.poll(rec) == 1u);
    BOOST_TEST((rec.commands() == std::vector<std::string>{"A"}), boost::test_tools::per_element());
    // a's next request first waits for A's answer (it is in), then goes; b's too.
    AsyncRequest c(a, "C");
    poll_until(
        daemon, rec, [&] { return c.done(); }, 5000ms);
    c.join();
    BOOST_TEST(!c.ec(), c.ec().message());
    BOOST_TEST(c.answer() == "re:C");
    AsyncRequest d(b, "D");
    poll_until(
        daemon, rec, [&] { return d.done(); }, 5000ms);
    d.join();
    BOOST_TEST(!d.ec(), d.ec().message());
    BOOST_TEST(d.answer() == "re:D");
    // Both at once, each waiting for the one slot in turn, many times.
    std::vector<std::string> answers_a, answers_b;
    {
        Server server(daemon, std::ref(rec));
        std::thread ta([&] {
            for (int i = 0; i < 200; ++i)
                answers_a.push_back(to_string(a.request("a" + std::to_string(i))));
        });
        for (int i = 0; i < 200; ++i)
            answers_b.push_back(to_string(b.request("b" + std::to_string(i))));
        ta.join();
    }
    for (int i = 0; i < 200; ++i) {
        BOOST_TEST(answers_a.at(i) == "re:a" + std::to_string(i));
        BOOST_TEST(answers_b.at(i) == "re:b" + std::to_string(i));
    }
    BOOST_TEST(rec.seen.size() == 3u + 400u);
    BOOST_TEST(raw.cb().commands_handled.load() == 403u);
    BOOST_TEST(raw.cb().queue_repairs.load() == 0u);
    BOOST_TEST(raw.cb().commands_stale.load() == 0u);
}

BOOST_AUTO_TEST_CASE(stopped_producer_on_a_real_channel_daemon_handles_both_in_order) {
    ChannelName name("q_stopped");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 3});
    auto a = venom::ShellChannel::connect(name.str(), bounded_options());
    auto b = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    {
        AsyncRequest warm(b, "warm"); // positions are not 0 any more
        poll_until(
            daemon, rec, [&] { return warm.done(); }, 5000ms);
    }
    rec.seen.clear();
    // By hand, what shell a would have done before it was stopped: its command staged, the
    // slot CAS won at t, tail not moved.
    const std::uint32_t ida = a.client_id();
    const std::uint64_t forged = request_id(m, ida, 0xABCD);
    const std::string first = "first, from a producer stopped after its CAS";
    stage(m, ida, forged, std::vector<unsigned char>(first.begin(), first.end()));
    const std::uint64_t t = m.shared->tail.load();
    std::uint64_t expected = vd::slot_free(t);
    BOOST_REQUIRE(m.slot(t).word.compare_exchange_strong(expected, vd::slot_published(t, ida)));
    // Shell b's request lands at t + 1.
    AsyncRequest second(b, "second");
    std::uint32_t c = 0;
    BOOST_TEST(eventually([&] { return vd::queue_front(m, t + 1, c); }, 5s));
    BOOST_TEST(c == b.client_id());
    BOOST_TEST(m.shared->tail.load() == t + 2);
    poll_until(
        daemon, rec, [&] { return second.done(); }, 5000ms);
    second.join();
    BOOST_TEST(!second.ec(), second.ec().message());
    BOOST_TEST(second.answer() == "re:second");
    BOOST_REQUIRE(rec.seen.size() == 2u);
    BOOST_TEST(rec.seen[0].first == ida);
    BOOST_TEST(rec.seen[0].second == first);
    BOOST_TEST(rec.seen[1].first == b.client_id());
    BOOST_TEST(rec.seen[1].second == "second");
    // a's command was answered in a's response slot, under its id.
    vd::ResponseSlot& r = m.response(ida);
    BOOST_TEST(r.seq.load() == forged);
    BOOST_TEST(std::string(reinterpret_cast<const char*>(m.response_payload(r)), r.length.load()) ==
               "re:" + first);
    // a, resumed, sends its own request: its own answer, not the forged id's.
    AsyncRequest mine(a, "mine");
    poll_until(
        daemon, rec, [&] { return mine.done(); }, 5000ms);
    mine.join();
    BOOST_TEST(!mine.ec(), mine.ec().message());
    BOOST_TEST(mine.answer() == "re:mine");
    BOOST_TEST(raw.cb().queue_repairs.load() == 0u);
}

BOOST_AUTO_TEST_CASE(hole_is_skipped_only_after_claim_timeout_through_poll) {
    ChannelName name("q_hole_poll");
    venom::ChannelConfig config{64, 8, 8};
    config.claim_timeout = 150ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    BOOST_REQUIRE(m.ring_slots == 8u);
    Recorder rec;
    const std::uint64_t head0 = raw.cb().head.load();
    // A stray write moves tail three past the head: positions head0 .. head0 + 2 will never
    // be published.
    m.shared->tail.fetch_add(3);
    AsyncRequest req(shell, "behind the holes", 10000ms);
    std::uint32_t c = 0;
    BOOST_REQUIRE(eventually([&] { return vd::queue_front(m, head0 + 3, c); }, 5s));
    const auto t0 = Clock::now();
    BOOST_TEST(daemon.poll(rec) == 0u);
    BOOST_TEST(raw.cb().queue_repairs.load() == 0u, "skipped at first sight");
    Clock::time_point skipped_by{};
    std::uint64_t skipped_in_one_poll = 0;
    const auto end = t0 + 10s;
    while (Clock::now() < end && !req.done()) {
        const std::uint64_t before = raw.cb().queue_repairs.load();
        daemon.poll(rec);
        const std::uint64_t after = raw.cb().queue_repairs.load();
        if (before == 0 && after != 0) {
            skipped_by = Clock::now();
            skipped_in_one_poll = after;
        }
        std::this_thread::sleep_for(1ms);
    }
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:behind the holes");
    BOOST_REQUIRE((skipped_by != Clock::time_point{}));
    // The poll that skipped ended at least claim_timeout after the first poll that saw the
    // hole began (the daemon starts the clock there) ...
    BOOST_TEST((skipped_by - t0 >= config.claim_timeout),
               "skipped after " << ms_since(t0) << " ms");
    // ... and once the first hole aged out, the other holes of the same stray write below the
    // tail went with it, not claim_timeout each.
    BOOST_TEST(skipped_in_one_poll == 3u);
    BOOST_TEST(raw.cb().queue_repairs.load() == 3u);
    BOOST_TEST(raw.cb().head.load() == head0 + 4);
    BOOST_TEST((rec.commands() == std::vector<std::string>{"behind the holes"}),
               boost::test_tools::per_element());
    BOOST_TEST(raw.cb().commands_handled.load() == 1u);
}

BOOST_AUTO_TEST_CASE(hole_is_skipped_after_claim_timeout_through_run) {
    ChannelName name("q_hole_run");
    venom::ChannelConfig config{64, 8, 4};
    config.claim_timeout = 60ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Server server(daemon);
    BOOST_TEST(to_string(shell.request("before")) == "before");
    // The daemon answers before it releases the slot: its head mirror may lag the answer.
    BOOST_REQUIRE(eventually([&] { return raw.cb().head.load() == m.shared->tail.load(); }, 5s));
    const std::uint64_t head0 = raw.cb().head.load();
    // Two holes in a row, then a request: answered once the first has aged out.
    const auto t0 = Clock::now();
    m.shared->tail.fetch_add(2);
    const std::string answer = to_string(shell.request("after two holes", 10s));
    const auto elapsed = Clock::now() - t0;
    BOOST_TEST(answer == "after two holes");
    BOOST_TEST((elapsed >= config.claim_timeout), "answered after " << ms_since(t0) << " ms");
    BOOST_TEST(raw.cb().queue_repairs.load() == 2u);
    BOOST_TEST(eventually([&] { return raw.cb().head.load() == head0 + 3; }, 5s),
               "head " << raw.cb().head.load() - head0);
    BOOST_TEST(to_string(shell.request("next")) == "next");
    BOOST_TEST(raw.cb().queue_repairs.load() == 2u);
    // Counted after the answer is published.
    BOOST_TEST(eventually([&] { return raw.cb().commands_handled.load() == 3u; }, 5s));
}

BOOST_AUTO_TEST_CASE(tail_more_than_a_ring_ahead_is_put_back_and_shells_push_again) {
    ChannelName name("q_tail_ahead");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint64_t head0 = raw.cb().head.load();
    m.shared->tail.store(head0 + m.ring_slots + 3);
    AsyncRequest req(shell, "after the repair");
    // The shell finds the queue full and waits for space (nothing is published meanwhile).
    std::this_thread::sleep_for(30ms);
    BOOST_TEST(!req.done());
    BOOST_TEST(m.shared->tail.load() == head0 + m.ring_slots + 3);
    BOOST_TEST(!vd::queue_holds_client(m, shell.client_id()));
    BOOST_TEST(daemon.poll(rec) == 0u); // repairs the tail, wakes the shell
    BOOST_TEST(raw.cb().queue_repairs.load() == 1u);
    poll_until(
        daemon, rec, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:after the repair");
    BOOST_TEST(raw.cb().head.load() == head0 + 1, "pushed at the head the tail was put back to");
    BOOST_TEST(raw.cb().queue_repairs.load() == 1u);
    // Through run(), too.
    m.shared->tail.store(raw.cb().head.load() + 1000);
    Server server(daemon);
    BOOST_TEST(to_string(shell.request("again", 10s)) == "again");
    BOOST_TEST(raw.cb().queue_repairs.load() == 2u);
}

BOOST_AUTO_TEST_CASE(forged_publish_of_an_out_of_range_client_is_dropped) {
    ChannelName name("q_forged");
    constexpr std::uint32_t max_clients = 3;
    auto daemon =
        venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, max_clients});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint64_t head0 = raw.cb().head.load();
    // By hand: publishes naming client ids no slot has (max_clients, and the largest the word
    // can carry), pushed with queue_push itself.
    for (std::uint32_t bogus : {max_clients, static_cast<std::uint32_t>(vd::slot_client_mask)}) {
        std::uint64_t pos = 0;
        BOOST_REQUIRE((vd::queue_push(m, bogus, pos) == vd::push_result::pushed));
        BOOST_TEST(m.slot(pos).word.load() == vd::slot_published(pos, bogus));
    }
    BOOST_TEST(vd::queue_holds_client(m, max_clients));
    BOOST_TEST(daemon.poll(rec) == 2u);
    BOOST_TEST(rec.seen.empty(), "the handler never sees a malformed command");
    BOOST_TEST(raw.cb().commands_malformed.load() == 2u);
    BOOST_TEST(raw.cb().commands_handled.load() == 0u);
    BOOST_TEST(raw.cb().head.load() == head0 + 2, "dropped and released: the queue is not wedged");
    BOOST_TEST(!vd::queue_holds_client(m, max_clients));
    BOOST_TEST(m.response(shell.client_id()).seq.load() == 0u, "nothing was answered");
    AsyncRequest req(shell, "fine");
    poll_until(
        daemon, rec, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:fine");
    BOOST_TEST(raw.cb().commands_handled.load() == 1u);
    BOOST_TEST(raw.cb().commands_malformed.load() == 2u);
    BOOST_TEST(raw.cb().queue_repairs.load() == 0u);
}

BOOST_AUTO_TEST_CASE(stale_commands_are_dropped_and_counted) {
    ChannelName name("q_stale_cmd");
    constexpr std::uint32_t max_clients = 3;
    auto daemon =
        venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, max_clients});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint32_t id = shell.client_id();
    const std::uint32_t free_slot = max_clients - 1;
    BOOST_REQUIRE(m.client(free_slot).state.load() == vd::client_free);
    BOOST_REQUIRE(free_slot != id);
    std::uint64_t pos = 0;
    // 1. A complete command of a client slot nobody holds (its sender disconnected).
    stage(m, free_slot, vd::make_request_id(m.client(free_slot).generation.load(), 1),
          payload_of(1, 5));
    BOOST_REQUIRE((vd::queue_push(m, free_slot, pos) == vd::push_result::pushed));
    BOOST_TEST(daemon.poll(rec) == 1u);
    BOOST_TEST(raw.cb().commands_stale.load() == 1u);
    // 2. A command in the connected shell's staging area with another connection's generation
    // (the slot's previous holder's).
    const std::uint64_t gen = m.client(id).generation.load();
    BOOST_REQUIRE(gen >= 1u);
    stage(m, id, vd::make_request_id(gen - 1, 9), payload_of(2, 3));
    BOOST_REQUIRE((vd::queue_push(m, id, pos) == vd::push_result::pushed));
    BOOST_TEST(daemon.poll(rec) == 1u);
    BOOST_TEST(raw.cb().commands_stale.load() == 2u);
    // ... and with a generation the slot has not reached (a forged or corrupt id).
    stage(m, id, vd::make_request_id(gen + 1, 9), payload_of(2, 3));
    BOOST_REQUIRE((vd::queue_push(m, id, pos) == vd::push_result::pushed));
    BOOST_TEST(daemon.poll(rec) == 1u);
    BOOST_TEST(raw.cb().commands_stale.load() == 3u);
    BOOST_TEST(rec.seen.empty(), "the handler never sees a stale command");
    BOOST_TEST(raw.cb().commands_handled.load() == 0u);
    BOOST_TEST(m.response(id).seq.load() == 0u, "nothing was answered");
    BOOST_TEST(m.response(free_slot).seq.load() == 0u);
    // The shell's own request stages over it and is answered.
    AsyncRequest req(shell, "fresh");
    poll_until(
        daemon, rec, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:fresh");
    BOOST_TEST(raw.cb().commands_stale.load() == 3u);
    BOOST_TEST(raw.cb().commands_malformed.load() == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_staging_length_gets_an_error_answer_and_is_counted) {
    ChannelName name("q_malformed");
    constexpr std::uint32_t max_cmd = 100;
    venom::ChannelConfig config{64, 8, 2};
    config.max_cmd_size = max_cmd;
    config.max_response_size = 200;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint32_t id = shell.client_id();
    // The shell's command is queued; before the daemon reads it, a stray write changes the
    // length in the shell's staging area.
    std::uint64_t malformed = 0;
    for (std::uint32_t bad_length : {max_cmd + 1, 0xFFFFFFFFu}) {
        BOOST_TEST_CONTEXT("staging length " << bad_length) {
            AsyncRequest req(shell, "short");
            std::uint32_t c = 0;
            BOOST_REQUIRE(
                eventually([&] { return vd::queue_front(m, raw.cb().head.load(), c); }, 5s));
            BOOST_TEST(c == id);
            m.staging(id).length.store(bad_length);
            poll_until(
                daemon, rec, [&] { return req.done(); }, 5000ms);
            req.join();
            BOOST_TEST((req.ec() == errc::corrupt_channel), req.ec().message());
            BOOST_TEST(contains(req.error_text(), "length out of range"), req.error_text());
            BOOST_TEST(raw.cb().commands_malformed.load() == ++malformed);
            BOOST_TEST(rec.seen.empty(), "the handler never sees a malformed command");
        }
    }
    // The boundary: a length of exactly max_cmd_size is a command (whatever the staging bytes).
    {
        AsyncRequest req(shell, "x");
        std::uint32_t c = 0;
        BOOST_REQUIRE(eventually([&] { return vd::queue_front(m, raw.cb().head.load(), c); }, 5s));
        m.staging(id).length.store(max_cmd);
        poll_until(
            daemon, rec, [&] { return req.done(); }, 5000ms);
        req.join();
        BOOST_TEST(!req.ec(), req.ec().message());
        BOOST_TEST(req.answer().size() == 3u + max_cmd);
        BOOST_REQUIRE(rec.seen.size() == 1u);
        BOOST_TEST(rec.seen[0].second.size() == max_cmd);
    }
    // The shell goes on normally.
    AsyncRequest req(shell, "fine");
    poll_until(
        daemon, rec, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:fine");
    BOOST_TEST(raw.cb().commands_malformed.load() == 2u);
    BOOST_TEST(raw.cb().commands_handled.load() == 2u);
    // A command over max_cmd_size never reaches the queue.
    const std::uint64_t tail = m.shared->tail.load();
    const std::string over(max_cmd + 1, 'o');
    error_of([&] { (void)shell.request(over); }, errc::message_too_large,
             "a command of max_cmd_size + 1 bytes");
    BOOST_TEST(m.shared->tail.load() == tail);
}

BOOST_AUTO_TEST_CASE(shell_ignores_an_answer_for_an_older_request_id) {
    ChannelName name("q_stale_answer");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 2});
    // A waiting shell re-checks its slot at least every daemon_check (each block is sliced).
    venom::ShellOptions options = bounded_options();
    options.daemon_check = 5ms;
    auto shell = venom::ShellChannel::connect(name.str(), options);
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    // One normal exchange: request id (generation << 32) | 1.
    {
        AsyncRequest first(shell, "one");
        poll_until(
            daemon, rec, [&] { return first.done(); }, 5000ms);
        first.join();
        BOOST_TEST(first.answer() == "re:one");
    }
    const std::uint32_t id = shell.client_id();
    const std::uint64_t gen = m.client(id).generation.load() & vd::request_counter_mask;
    vd::ResponseSlot& r = m.response(id);
    BOOST_TEST(r.seq.load() == vd::make_request_id(gen, 1));

    // The shell sends request 2 and waits. By hand: answers for older ids land in its slot (an
    // earlier request of this connection, a previous connection's, a counter of 0); the shell
    // sees each when it re-checks (every 5 ms at most), and must not take it.
    AsyncRequest second(shell, "two");
    std::uint32_t c = 0;
    BOOST_REQUIRE(eventually([&] { return vd::queue_front(m, raw.cb().head.load(), c); }, 5s));
    BOOST_TEST(c == id);
    const std::uint64_t older[] = {vd::make_request_id(gen, 1), vd::make_request_id(gen - 1, 2),
                                   vd::make_request_id(gen, 0), vd::make_request_id(gen + 1, 2)};
    for (std::uint64_t stale : older) {
        const std::string text = "STALE";
        std::memcpy(m.response_payload(r), text.data(), text.size());
        r.length.store(static_cast<std::uint32_t>(text.size()));
        r.status.store(vd::status_ok);
        r.seq.store(stale, std::memory_order_release);
        vd::notify_published(m.response_event(id)); // raw has no events: the futex word itself
        std::this_thread::sleep_for(40ms);
        BOOST_TEST(!second.done(), "the shell took the answer for id " << std::hex << stale);
    }
    // The daemon answers request 2.
    poll_until(
        daemon, rec, [&] { return second.done(); }, 5000ms);
    second.join();
    BOOST_TEST(!second.ec(), second.ec().message());
    BOOST_TEST(second.answer() == "re:two");
    BOOST_TEST(r.seq.load() == vd::make_request_id(gen, 2));
}

BOOST_AUTO_TEST_CASE(payload_sizes_echo_back_exactly_through_the_public_api) {
    // Commands and answers of 0..max bytes: inside the staging header's / answer header's line
    // (48 bytes), just past it, whole and partial lines, and max_cmd_size with the staging area
    // ending on the client area's last byte (the shell maps its neighbours read-only, so an
    // overrun faults).
    const std::uint32_t page = std::max<std::uint32_t>(vd::page_size(), vd::min_page_size);
    const std::uint32_t max_cmd = page - static_cast<std::uint32_t>(vd::client_fixed_bytes);
    ChannelName name("q_sizes");
    venom::ChannelConfig config{64, 4, 2};
    config.max_cmd_size = max_cmd;
    config.max_response_size = max_cmd;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    BOOST_TEST(raw.map().client_stride == page, "the staging area ends at the client area's end");
    const std::size_t sizes[] = {0,  1,  15,  16,  47,  48,   49,           63,
                                 64, 65, 111, 112, 113, 1000, max_cmd - 1u, max_cmd};
    auto check_all = [&](const char* form) {
        for (std::size_t n : sizes) {
            BOOST_TEST_CONTEXT(form << ", " << n << " bytes") {
                const auto p = payload_of(n + 3, n);
                // The vector form.
                BOOST_TEST((shell.request(p) == std::vector<std::uint8_t>(p.begin(), p.end())));
                // The buffer form: the exact capacity; nothing written past the answer.
                std::vector<std::uint8_t> out(n + 64, 0xEE);
                std::error_code ec;
                const std::size_t got = shell.request(p.data(), p.size(), out.data(), n, 10s, ec);
                BOOST_TEST(!ec, ec.message());
                BOOST_TEST(got == n);
                BOOST_TEST(std::equal(p.begin(), p.end(), out.begin()));
                BOOST_TEST(std::all_of(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                                       [](std::uint8_t b) { return b == 0xEE; }),
                           "bytes past the answer were written");
                if (n != 0) {
                    const std::size_t need =
                        shell.request(p.data(), p.size(), out.data(), n - 1, 10s, ec);
                    BOOST_TEST((ec == errc::buffer_too_small));
                    BOOST_TEST(need == n);
                }
            }
        }
    };
    {
        // The handler checks the command's bytes itself, so a bad command is told from a bad
        // answer.
        std::atomic<int> bad_commands{0};
        Server server(daemon, [&](std::uint32_t, venom::ByteView cmd) {
            if (cmd.to_vector() != payload_of(cmd.size() + 3, cmd.size())) ++bad_commands;
            return cmd.to_vector();
        });
        check_all("vector handler");
        server.stop();
        BOOST_TEST(bad_commands.load() == 0);
    }
    {
        Server server(daemon, [](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& w) {
            if (!cmd.empty()) std::memcpy(w.data(), cmd.data(), cmd.size());
            w.resize(cmd.size());
        });
        check_all("ResponseWriter handler");
    }
    BOOST_TEST(raw.cb().commands_malformed.load() == 0u);
    BOOST_TEST(raw.cb().handler_errors.load() == 0u);
}

// ================================================================ shells in other processes

/// Connects to args[0] and sends one request that nobody will answer (the parent never polls
/// before it kills this process).
VENOM_CHILD_ROLE(queue_one_and_hang) {
    auto shell = connect_when_up(args.at(0));
    (void)shell.request(std::string("from a shell that will be killed"), 60s);
    return 3; // answered: the parent should not have let that happen
}

/// Connects to args[0] and sends args[2] requests "<args[1]>:<i>:<padding>", each of which
/// must come back as "ok:" + the command.
VENOM_CHILD_ROLE(sequence_shell) {
    venom::ShellOptions o;
    o.request_timeout = 20s;
    auto shell = connect_when_up(args.at(0), o);
    const int count = std::stoi(args.at(2));
    for (int i = 0; i < count; ++i) {
        std::string cmd = args.at(1) + ":" + std::to_string(i) + ":";
        cmd.append(static_cast<std::size_t>(i * 13 % 150), static_cast<char>('a' + i % 26));
        const std::string got = to_string(shell.request(cmd));
        if (got != "ok:" + cmd) {
            std::fprintf(stderr, "shell %s: request %d answered \"%s\"\n", args.at(1).c_str(), i,
                         got.c_str());
            return 2;
        }
    }
    return 0;
}

BOOST_AUTO_TEST_CASE(killed_shell_with_a_command_queued_holds_its_slot_until_consumed) {
    ChannelName name("q_killed");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 1});
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Child child = spawn_self("queue_one_and_hang", {name.str()});
    BOOST_REQUIRE(eventually([&] { return vd::queue_holds_client(m, 0); }, 20s));
    child.kill(SIGKILL);
    BOOST_TEST(child.wait() == -SIGKILL);
    // Its client lock is free now, but its command is still queued and names slot 0, whose
    // staging area the daemon has yet to read: no shell may take the slot.
    BOOST_TEST(vd::queue_holds_client(m, 0));
    const std::string why =
        error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::too_many_clients,
                 "connect while the dead shell's command is queued");
    BOOST_TEST(contains(why, "consumed"), why);
    // The daemon runs it (its sender's record still says connected: it was killed, not
    // disconnected), answers into a slot nobody reads, and frees the queue slot.
    Recorder rec;
    BOOST_TEST(daemon.poll(rec) == 1u);
    BOOST_REQUIRE(rec.seen.size() == 1u);
    BOOST_TEST(rec.seen[0].second == "from a shell that will be killed");
    BOOST_TEST(!vd::queue_holds_client(m, 0));
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    BOOST_TEST(shell.client_id() == 0u);
    AsyncRequest req(shell, "the slot's next holder");
    poll_until(
        daemon, rec, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:the slot's next holder");

    // In process: a shell that disconnects with a command queued (its request timed out).
    // With a second slot free, the next shell is given that one; the queued command is
    // dropped as stale (its sender's record is free).
    ChannelName name2("q_left");
    auto daemon2 = venom::DaemonChannel::create(name2.str(), venom::ChannelConfig{64, 4, 2});
    RawChannel raw2(name2.str());
    std::uint32_t left_id = 0;
    {
        auto leaving = venom::ShellChannel::connect(name2.str(), bounded_options());
        left_id = leaving.client_id();
        std::error_code ec;
        char buf[8];
        leaving.request("left behind", 11, buf, sizeof buf, 5ms, ec);
        BOOST_TEST((ec == errc::timeout));
    }
    BOOST_TEST(vd::queue_holds_client(raw2.map(), left_id));
    auto next = venom::ShellChannel::connect(name2.str(), bounded_options());
    BOOST_TEST(next.client_id() != left_id,
               "a slot with its predecessor's command queued is passed over");
    Recorder rec2;
    BOOST_TEST(daemon2.poll(rec2) == 1u);
    BOOST_TEST(rec2.seen.empty());
    BOOST_TEST(raw2.cb().commands_stale.load() == 1u);
    BOOST_TEST(!vd::queue_holds_client(raw2.map(), left_id));
    auto third = venom::ShellChannel::connect(name2.str(), bounded_options());
    BOOST_TEST(third.client_id() == left_id, "free again once consumed");
}

BOOST_AUTO_TEST_CASE(shells_in_other_processes_through_a_small_ring) {
    for (std::uint32_t cmd_slots : {1u, 3u}) {
        BOOST_TEST_CONTEXT("cmd_slots " << cmd_slots) {
            constexpr int shells = 4;
            const int per_shell = static_cast<int>(scaled(300));
            ChannelName name("q_procs");
            auto daemon = venom::DaemonChannel::create(name.str(),
                                                       venom::ChannelConfig{64, cmd_slots, shells});
            // Run by the daemon's thread only; read after the server has stopped.
            std::map<std::string, int> next;
            int out_of_order = 0, unparsable = 0;
            auto handler = [&](std::uint32_t, venom::ByteView cmd) {
                const std::string s = cmd.to_string();
                const auto a = s.find(':');
                const auto b = a == std::string::npos ? a : s.find(':', a + 1);
                if (b == std::string::npos) {
                    ++unparsable;
                } else {
                    int& n = next[s.substr(0, a)];
                    if (std::stoi(s.substr(a + 1, b - a - 1)) != n) ++out_of_order;
                    ++n;
                }
                return "ok:" + s;
            };
            std::vector<Child> children;
            {
                Server server(daemon, handler);
                for (int k = 0; k < shells; ++k)
                    children.push_back(spawn_self(
                        "sequence_shell",
                        {name.str(), "s" + std::to_string(k), std::to_string(per_shell)}));
                for (int k = 0; k < shells; ++k)
                    BOOST_TEST(children[k].wait(120s) == 0, "shell " << k);
            }
            BOOST_TEST(unparsable == 0);
            BOOST_TEST(out_of_order == 0);
            BOOST_TEST(next.size() == std::size_t(shells));
            for (const auto& [shell, n] : next) BOOST_TEST(n == per_shell, "shell " << shell);
        }
    }
}

BOOST_AUTO_TEST_CASE(stopped_daemon_keeps_the_command_and_the_next_request_waits_for_its_answer) {
    // A request told "stopped" leaves its command queued (the daemon reads the staging area
    // when it serves again), so the shell's next request must not stage over it: it waits for
    // the first one's answer first. (Before b008b65 it staged over it: the first command was
    // lost and the second ran twice.)
    ChannelName name("q_stopped_daemon");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 2});
    venom::ShellOptions options = bounded_options();
    options.daemon_check = 5ms;
    auto shell = venom::ShellChannel::connect(name.str(), options);
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    const std::uint32_t id = shell.client_id();
    daemon.stop(); // no run(): stops serving now; requests queue and fail with daemon_gone
    error_of([&] { (void)shell.request(std::string("one")); }, errc::daemon_gone, "request one");
    BOOST_TEST(vd::queue_holds_client(m, id), "'one' stays queued");
    std::error_code ec;
    char buf[16];
    shell.request("two", 3, buf, sizeof buf, 2s, ec);
    BOOST_TEST((ec == errc::daemon_gone), ec.message());
    BOOST_TEST(published_by(m, id) == 1u, "one command of one client queued");
    const vd::StagingHeader& st = m.staging(id);
    BOOST_TEST(
        std::string(reinterpret_cast<const char*>(m.staging_data(id)), st.length.load()) == "one",
        "the queued command's staging area was written over");
    Recorder rec;
    BOOST_TEST(daemon.poll(rec) == 1u); // serves again
    BOOST_TEST((rec.commands() == std::vector<std::string>{"one"}),
               boost::test_tools::per_element());
    AsyncRequest three(shell, "three");
    poll_until(
        daemon, rec, [&] { return three.done(); }, 5000ms);
    three.join();
    BOOST_TEST(!three.ec(), three.ec().message());
    BOOST_TEST(three.answer() == "re:three");
    BOOST_TEST((rec.commands() == std::vector<std::string>{"one", "three"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(forged_republish_of_a_handled_command_is_dropped_as_stale) {
    ChannelName name("q_republish");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 3});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint32_t id = shell.client_id();
    AsyncRequest first(shell, "once");
    poll_until(
        daemon, rec, [&] { return first.done(); }, 5000ms);
    first.join();
    BOOST_TEST(first.answer() == "re:once");
    const std::uint64_t answered_id = m.response(id).seq.load();
    // By hand: a stray write publishes the shell's client id again; its staging area still
    // holds the command just handled.
    for (int i = 0; i < 2; ++i) {
        std::uint64_t pos = 0;
        BOOST_REQUIRE((vd::queue_push(m, id, pos) == vd::push_result::pushed));
        BOOST_TEST(daemon.poll(rec) == 1u);
    }
    BOOST_TEST(rec.seen.size() == 1u, "a handled command ran again");
    BOOST_TEST(raw.cb().commands_stale.load() == 2u);
    BOOST_TEST(m.response(id).seq.load() == answered_id);
    BOOST_TEST(raw.cb().commands_handled.load() == 1u);
    // The shell's next request is a new id: it runs.
    AsyncRequest next(shell, "twice?");
    poll_until(
        daemon, rec, [&] { return next.done(); }, 5000ms);
    next.join();
    BOOST_TEST(!next.ec(), next.ec().message());
    BOOST_TEST(next.answer() == "re:twice?");
    BOOST_TEST(raw.cb().commands_stale.load() == 2u);
}

// ================================================================ stray ring words

// A slot word that fits neither "free for q" nor "published for q" (q the position its slot
// stands for, head .. head + R - 1) is reset after claim_timeout (90a3931). Before that, a
// word at the tail older than the tail's position (0: a memset through a wrong pointer; a past
// lap's publish) made queue_push report full for ever while the daemon, seeing head == tail,
// repaired nothing; and since b008b65 a word for a later position that no position of its slot
// matches was left by queue_skip lap after lap until it became such an older word.
BOOST_AUTO_TEST_CASE(stray_old_word_at_the_tail_is_reset_through_run_and_poll) {
    ChannelName name("q_stray_old");
    venom::ChannelConfig config{64, 4, 4};
    config.claim_timeout = 40ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    {
        Server server(daemon);
        BOOST_TEST(to_string(shell.request("before")) == "before");
        BOOST_REQUIRE(
            eventually([&] { return raw.cb().head.load() == m.shared->tail.load(); }, 5s));
        const std::uint64_t t = m.shared->tail.load();
        m.slot(t).word.store(0); // slot_free(0): "free for position 0", older than t
        BOOST_TEST(!vd::queue_has_space(m));
        const auto t0 = Clock::now();
        BOOST_TEST(to_string(shell.request("after", 10s)) == "after");
        BOOST_TEST((Clock::now() - t0 >= config.claim_timeout),
                   "answered after " << ms_since(t0) << " ms");
        BOOST_TEST(raw.cb().queue_repairs.load() == 1u);
    }
    // Through poll(): the same, with a past lap's publish; repaired no earlier than
    // claim_timeout after the first poll that could see it.
    Recorder rec;
    const std::uint64_t t = m.shared->tail.load();
    BOOST_REQUIRE(raw.cb().head.load() == t);
    m.slot(t).word.store(vd::slot_published(t - m.ring_slots, 3));
    AsyncRequest req(shell, "after a past lap's word", 10000ms);
    const auto t0 = Clock::now();
    Clock::time_point repaired_by{};
    while (!req.done() && Clock::now() < t0 + 10s) {
        const std::uint64_t before = raw.cb().queue_repairs.load();
        daemon.poll(rec);
        if (repaired_by == Clock::time_point{} && raw.cb().queue_repairs.load() != before)
            repaired_by = Clock::now();
        std::this_thread::sleep_for(1ms);
    }
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:after a past lap's word");
    BOOST_REQUIRE((repaired_by != Clock::time_point{}));
    BOOST_TEST((repaired_by - t0 >= config.claim_timeout),
               "repaired after " << ms_since(t0) << " ms");
    BOOST_TEST(raw.cb().queue_repairs.load() == 2u);
    BOOST_TEST((rec.commands() == std::vector<std::string>{"after a past lap's word"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stray_word_of_a_later_unaligned_position_is_reset) {
    ChannelName name("q_stray_later");
    venom::ChannelConfig config{64, 4, 4};
    config.claim_timeout = 5ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    const std::uint64_t R = m.ring_slots;
    BOOST_REQUIRE(R == 4u);
    Server server(daemon);
    BOOST_TEST(to_string(shell.request("before")) == "before");
    BOOST_REQUIRE(eventually([&] { return raw.cb().head.load() == m.shared->tail.load(); }, 5s));
    const std::uint64_t t = m.shared->tail.load();
    // A position one lap and one slot ahead: no position of this slot ever matches it.
    m.slot(t + 1).word.store(vd::slot_free(t + 1 + R + 1));
    int failed_at = -1;
    for (int i = 0; i < 8 * static_cast<int>(R) && failed_at < 0; ++i) {
        std::error_code ec;
        char buf[16];
        shell.request("n", 1, buf, sizeof buf, 2s, ec);
        if (ec) failed_at = i;
    }
    BOOST_TEST(failed_at == -1,
               "request " << failed_at << " after the stray write failed; queue_repairs "
                          << raw.cb().queue_repairs.load() << ", head " << raw.cb().head.load() - t
                          << " and tail " << m.shared->tail.load() - t << " past t");
    BOOST_TEST(raw.cb().queue_repairs.load() >= 1u);
}

BOOST_AUTO_TEST_CASE(stray_publish_naming_a_free_client_slot_is_reset_and_frees_the_slot) {
    // A past lap's publish naming client 1 anywhere in the ring makes queue_holds_client(1)
    // true: no shell may take slot 1 (its predecessor's command looks queued) until the word
    // is reset.
    ChannelName name("q_stray_holds");
    venom::ChannelConfig config{64, 2, 2};
    config.claim_timeout = 20ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto first = venom::ShellChannel::connect(name.str(), bounded_options());
    BOOST_REQUIRE(first.client_id() == 0u);
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    const std::uint64_t t = m.shared->tail.load();
    m.slot(t + 1).word.store(vd::slot_published(t + 1 - m.ring_slots, 1));
    BOOST_TEST(vd::queue_holds_client(m, 1));
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::too_many_clients,
             "connect while a stray word names slot 1");
    Server server(daemon);
    BOOST_TEST(eventually([&] { return !vd::queue_holds_client(m, 1); }, 10s),
               "the stray word stayed");
    auto second = venom::ShellChannel::connect(name.str(), bounded_options());
    BOOST_TEST(second.client_id() == 1u);
    BOOST_TEST(to_string(second.request("slot 1 again")) == "slot 1 again");
    BOOST_TEST(to_string(first.request("slot 0")) == "slot 0");
    BOOST_TEST(raw.cb().queue_repairs.load() == 1u);
}

BOOST_AUTO_TEST_CASE(a_command_erased_from_the_ring_fails_its_request_instead_of_hanging) {
    // Only a write from outside the protocol can erase a publish (the daemon answers before it
    // frees the slot): the waiting shell sees that no ring word names it and no answer came,
    // and ends the request with corrupt_channel (90a3931) instead of waiting for ever.
    ChannelName name("q_erased");
    venom::ChannelConfig config{64, 4, 2};
    config.claim_timeout = 20ms;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    venom::ShellOptions options = bounded_options();
    options.daemon_check = 5ms;
    auto shell = venom::ShellChannel::connect(name.str(), options);
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    Recorder rec;
    const std::uint64_t head0 = raw.cb().head.load();
    AsyncRequest req(shell, "erased", 10000ms);
    std::uint32_t c = 0;
    BOOST_REQUIRE(eventually([&] { return vd::queue_front(m, head0, c); }, 5s));
    m.slot(head0).word.store(vd::slot_free(head0)); // the publish erased; tail has passed it
    BOOST_TEST(eventually([&] { return req.done(); }, 5s));
    req.join();
    BOOST_TEST((req.ec() == errc::corrupt_channel), req.ec().message());
    BOOST_TEST(contains(req.error_text(), "vanished"), req.error_text());
    // The daemon skips the hole the erased publish left; the shell's next request is served.
    AsyncRequest next(shell, "next");
    poll_until(
        daemon, rec, [&] { return next.done(); }, 5000ms);
    next.join();
    BOOST_TEST(!next.ec(), next.ec().message());
    BOOST_TEST(next.answer() == "re:next");
    BOOST_TEST((rec.commands() == std::vector<std::string>{"next"}),
               boost::test_tools::per_element());
    BOOST_TEST(raw.cb().queue_repairs.load() == 1u);
}

VENOM_TEST_MAIN("queue")
