// test/queue_test.cpp - unit tests of the bounded MPSC command queue (detail::queue_try_claim /
// queue_publish / queue_front / queue_release) over a channel laid out on an ordinary heap
// buffer, then protocol states written by hand into a real channel: a claimant that died before
// publishing, a stale answer in a response slot, malformed commands.
#include "test_support.hpp"

#include <memory>
#include <new>
#include <optional>

using namespace venom_test;
using venom::errc;
using Clock = std::chrono::steady_clock;
namespace vd = venom::detail;

using venom_test::HeapChannel;

namespace {


venom::ChannelConfig queue_config(std::uint32_t capacity, std::uint32_t max_cmd_size = 64,
                                  std::uint32_t clients = 4) {
    venom::ChannelConfig c{64, capacity, clients};
    c.max_cmd_size = max_cmd_size;
    c.max_response_size = 64;
    return c;
}

/// Claims and publishes one command; false if the queue is full.
bool push(const vd::ChannelMap& m, vd::ClientRecord& me, std::uint32_t client, std::uint64_t request,
          const void* data, std::size_t n) {
    std::uint64_t pos = 0;
    if (vd::queue_try_claim(m, me, pos) == vd::claim_result::full) return false;
    vd::queue_publish(m, me, pos, client, request, data, n);
    return true;
}

struct Item {
    std::uint32_t client;
    std::uint64_t request;
    std::vector<unsigned char> payload;
};

/// Consumes the published command at head, if any.
std::optional<Item> pop(const vd::ChannelMap& m, std::uint64_t& head) {
    vd::CmdSlot* s = vd::queue_front(m, head);
    if (s == nullptr) return std::nullopt;
    Item it;
    it.client = s->client.load(std::memory_order_relaxed);
    it.request = s->request.load(std::memory_order_relaxed);
    const std::uint32_t n = s->length.load(std::memory_order_relaxed);
    const unsigned char* p = m.slot_payload(*s);
    it.payload.assign(p, p + n);
    vd::queue_release(m, head);
    return it;
}

std::vector<unsigned char> payload_of(std::uint64_t i, std::size_t n) {
    std::vector<unsigned char> b(n);
    for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<unsigned char>((i * 131 + k * 17 + 1) & 0xff);
    return b;
}

venom::ShellOptions bounded_options() {
    venom::ShellOptions o;
    o.request_timeout = 10s;
    return o;
}

/// A raw view of a real channel's segment (what another process would map): the segment of the
/// daemon instance that serves the name (Windows: each instance has its own; Linux: 0).
struct RawChannel {
    vd::Attachment att;
    explicit RawChannel(const std::string& name) : att(vd::attach(name, {})) {}
    const vd::ChannelMap& map() const { return att.map; }
    vd::ControlBlock& cb() const { return *att.map.cb; }
};

/// A request sent from its own thread (request() blocks) while the test polls the daemon.
class AsyncRequest {
public:
    AsyncRequest(venom::ShellChannel& shell, std::string cmd, std::chrono::milliseconds timeout = 5000ms)
        : cmd_(std::move(cmd)), t_([this, &shell, timeout] {
              answer_.resize(256);
              const std::size_t n =
                  shell.request(cmd_.data(), cmd_.size(), answer_.data(), answer_.size(), timeout, ec_);
              answer_.resize(ec_ ? 0 : n);
              done_.store(true, std::memory_order_release);
          }) {}
    ~AsyncRequest() { join(); }
    bool done() const { return done_.load(std::memory_order_acquire); }
    void join() {
        if (t_.joinable()) t_.join();
    }
    const std::error_code& ec() const { return ec_; }
    std::string answer() const { return answer_; }

private:
    std::string cmd_;
    std::string answer_;
    std::error_code ec_;
    std::atomic<bool> done_{false};
    std::thread t_;
};

/// Polls the daemon every millisecond until `until` holds or `limit` passes; returns how many
/// commands poll() reported.
template <class Handler, class Until>
std::size_t poll_until(venom::DaemonChannel& d, Handler& h, Until until, std::chrono::milliseconds limit) {
    std::size_t handled = 0;
    const auto end = Clock::now() + limit;
    while (!until() && Clock::now() < end) {
        handled += d.poll(h);
        std::this_thread::sleep_for(1ms);
    }
    return handled;
}

} // namespace

// ================================================================================ heap queue

BOOST_AUTO_TEST_CASE(fifo_wrap_around_many_times) {
    for (std::uint32_t cap : {1u, 3u, 7u, 128u}) {
        BOOST_TEST_CONTEXT("capacity " << cap) {
            HeapChannel ch(queue_config(cap));
            const vd::ChannelMap& m = ch.map();
            vd::ClientRecord& me = m.client(1);
            const std::uint64_t total = 10u * cap + 17;
            std::uint64_t pushed = 0, popped = 0, head = 0, bad = 0;
            std::string first_bad;
            auto fail = [&](const std::string& what) {
                if (bad++ == 0) first_bad = what + " (pushed " + std::to_string(pushed) + ", popped " +
                                            std::to_string(popped) + ")";
            };
            std::uint64_t batch = 1;
            while (popped < total) {
                // Push a batch (1, 2, ... cap items, cycling), then pop it: every occupancy.
                const std::uint64_t n = std::min<std::uint64_t>(batch, total - pushed);
                for (std::uint64_t i = 0; i < n; ++i, ++pushed) {
                    std::uint64_t pos = 0;
                    if (vd::queue_try_claim(m, me, pos) != vd::claim_result::claimed) {
                        fail("claim refused in a queue with room");
                        break;
                    }
                    if (pos != pushed || me.pending_pos.load() != pos) fail("claimed the wrong position");
                    const auto p = payload_of(pushed, pushed % (m.max_cmd_size + 1));
                    vd::queue_publish(m, me, pos, 1, 1000 + pushed, p.data(), p.size());
                    if (me.pending_pos.load() != vd::no_pending) fail("pending_pos not cleared");
                }
                if (n == cap) { // exactly full now
                    std::uint64_t pos = 0;
                    if (vd::queue_try_claim(m, me, pos) != vd::claim_result::full)
                        fail("claim succeeded in a full queue");
                    if (vd::queue_has_space(m)) fail("a full queue reports space");
                }
                while (popped < pushed) {
                    auto it = pop(m, head);
                    if (!it) {
                        fail("a published command is not at the head");
                        break;
                    }
                    const auto p = payload_of(popped, popped % (m.max_cmd_size + 1));
                    if (it->request != 1000 + popped || it->client != 1u || it->payload != p)
                        fail("wrong command at the head");
                    ++popped;
                }
                if (vd::queue_front(m, head) != nullptr) fail("a drained queue has a command"); // empty again
                if (!vd::queue_has_space(m)) fail("an empty queue has no space");
                batch = batch % cap + 1;
                if (bad != 0) break;
            }
            BOOST_TEST(bad == 0u, first_bad);
            BOOST_TEST(popped == total);
            BOOST_TEST(ch.cb().tail.load() == total);
            BOOST_TEST(ch.cb().head.load() == total);
            BOOST_TEST(head == total);
            // Every slot was freed for its next lap: seq == seq_free(position + capacity).
            for (std::uint64_t pos = total - std::min<std::uint64_t>(cap, total); pos < total; ++pos)
                BOOST_TEST(m.slot(pos).seq.load() == vd::seq_free(pos + cap), "slot of position " << pos);
        }
    }
}

BOOST_AUTO_TEST_CASE(full_queue_then_space_after_one_release) {
    for (std::uint32_t cap : {4u, 2u, 1u}) {
        BOOST_TEST_CONTEXT("capacity " << cap) {
            HeapChannel ch(queue_config(cap));
            const vd::ChannelMap& m = ch.map();
            vd::ClientRecord& me = m.client(0);
            const char c = 'x';
            for (std::uint32_t i = 0; i < cap; ++i) BOOST_TEST(push(m, me, 0, i, &c, 1));
            std::uint64_t pos = 12345;
            BOOST_TEST((vd::queue_try_claim(m, me, pos) == vd::claim_result::full));
            BOOST_TEST(ch.cb().tail.load() == cap, "a refused claim does not move the tail");
            BOOST_TEST(!vd::queue_has_space(m));
            BOOST_TEST((vd::queue_try_claim(m, me, pos) == vd::claim_result::full), "still full");
            if (ch.cb().tail.load() != cap) continue; // the rest assumes a correct queue

            std::uint64_t head = 0;
            auto first = pop(m, head);
            BOOST_TEST(first.has_value());
            if (!first) continue;
            BOOST_TEST(first->request == 0u);
            BOOST_TEST(vd::queue_has_space(m));
            BOOST_TEST((vd::queue_try_claim(m, me, pos) == vd::claim_result::claimed));
            BOOST_TEST(pos == cap);
            vd::queue_publish(m, me, pos, 0, cap, &c, 1);
            BOOST_TEST((vd::queue_try_claim(m, me, pos) == vd::claim_result::full));
            for (std::uint64_t i = 1; i <= cap; ++i) {
                auto it = pop(m, head);
                BOOST_TEST(it.has_value());
                if (!it) break;
                BOOST_TEST(it->request == i);
            }
            BOOST_TEST(!pop(m, head).has_value());
        }
    }
    // Claimed but unpublished slots count as taken too.
    HeapChannel ch(queue_config(2));
    std::uint64_t pos = 0;
    BOOST_TEST((vd::queue_try_claim(ch.map(), ch.map().client(0), pos) == vd::claim_result::claimed));
    BOOST_TEST((vd::queue_try_claim(ch.map(), ch.map().client(1), pos) == vd::claim_result::claimed));
    BOOST_TEST((vd::queue_try_claim(ch.map(), ch.map().client(2), pos) == vd::claim_result::full));
    BOOST_TEST(!vd::queue_has_space(ch.map()));
}

BOOST_AUTO_TEST_CASE(capacity_1_channel_does_not_lose_commands) {
    // With cmd_slots == 1 (accepted by ChannelConfig::validate), a published command at
    // position p has seq p + 1, which is also "free" for position p + 1 (p + cmd_slots).
    ChannelName name("q_cap1");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 1, 2});
    auto a = venom::ShellChannel::connect(name.str(), bounded_options());
    auto b = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    std::vector<std::string> seen;
    auto handler = [&](std::uint32_t, venom::ByteView cmd) {
        seen.push_back(cmd.to_string());
        return "re:" + cmd.to_string();
    };
    char buf[16];
    std::error_code ec;
    a.request("A", 1, buf, sizeof buf, 5ms, ec); // queued, not answered: no loop runs
    BOOST_TEST((ec == errc::timeout));
    BOOST_TEST(raw.cb().tail.load() == 1u);
    b.request("B", 1, buf, sizeof buf, 5ms, ec); // the queue is full: B must wait, not queue
    BOOST_TEST((ec == errc::timeout));
    // (Before layout 2, B claimed position 1 over A's unconsumed command: tail became 2 ...)
    BOOST_TEST(raw.cb().tail.load() == 1u, "the second command was queued into a full queue");
    poll_until(daemon, handler, [&] { return !seen.empty(); }, 200ms);
    // (... and the daemon never saw A nor B: both were skipped as dead claims.)
    const std::vector<std::string> expected{"A"};
    BOOST_TEST(seen == expected, boost::test_tools::per_element());
    BOOST_TEST(raw.cb().slots_unblocked.load() == 0u);
    // Whatever happened, the channel serves again afterwards.
    AsyncRequest req(a, "C");
    poll_until(daemon, handler, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(req.answer() == "re:C");
}

BOOST_AUTO_TEST_CASE(max_size_payloads_fill_every_slot_without_overlap) {
    // max_cmd_size not a multiple of the cache line: the stride rounds up.
    constexpr std::uint32_t max_cmd = 1000;
    constexpr std::uint32_t cap = 5;
    HeapChannel ch(queue_config(cap, max_cmd));
    const vd::ChannelMap& m = ch.map();
    BOOST_TEST(m.slot_stride % vd::cache_line == 0u);
    BOOST_TEST(m.slot_stride >= vd::header_bytes + max_cmd);
    std::uint64_t head = 0;
    for (int lap = 0; lap < 3; ++lap) {
        for (std::uint64_t i = 0; i < cap; ++i) {
            const auto p = payload_of(lap * 100 + i, max_cmd);
            BOOST_TEST(push(m, m.client(0), 0, i, p.data(), p.size()));
        }
        for (std::uint64_t i = 0; i < cap; ++i) {
            auto it = pop(m, head);
            BOOST_REQUIRE(it.has_value());
            BOOST_TEST(it->request == i);
            BOOST_TEST((it->payload == payload_of(lap * 100 + i, max_cmd)), "lap " << lap << " item " << i);
        }
    }
    // Zero bytes.
    BOOST_TEST(push(m, m.client(0), 0, 77, nullptr, 0));
    auto it = pop(m, head);
    BOOST_REQUIRE(it.has_value());
    BOOST_TEST(it->payload.empty());
    BOOST_TEST(it->request == 77u);
}

BOOST_AUTO_TEST_CASE(payload_sizes_through_the_public_api) {
    ChannelName name("q_sizes");
    constexpr std::uint32_t max_cmd = 1000;
    venom::ChannelConfig config{64, 4, 2};
    config.max_cmd_size = max_cmd;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    // The answer: the command's length and checksum.
    auto handler = [](std::uint32_t, venom::ByteView cmd) {
        return std::to_string(cmd.size()) + ":" + std::to_string(fnv1a(cmd.data(), cmd.size()));
    };
    std::atomic<bool> stop{false};
    std::thread server([&] {
        while (!stop.load()) {
            if (daemon.poll(handler) == 0) std::this_thread::sleep_for(200us);
        }
    });
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{max_cmd - 1}, std::size_t{max_cmd}}) {
        const auto p = payload_of(n, n);
        const std::string expected = std::to_string(n) + ":" + std::to_string(fnv1a(p.data(), p.size()));
        BOOST_TEST(to_string(shell.request(p)) == expected, "command of " << n << " bytes");
    }
    const auto over = payload_of(1, max_cmd + 1);
    try {
        (void)shell.request(over);
        BOOST_ERROR("a command of max_cmd_size + 1 bytes was sent");
    } catch (const venom::error& e) {
        BOOST_TEST((e.code() == errc::message_too_large));
    }
    BOOST_TEST(to_string(shell.request(std::string("after"))) == "5:" + std::to_string(fnv1a("after", 5)));
    stop = true;
    server.join();
}

BOOST_AUTO_TEST_CASE(multi_producer_every_item_once_in_per_producer_order) {
    constexpr std::uint32_t producers = 4;
    const std::uint64_t per_producer = static_cast<std::uint64_t>(scaled(50000));
    HeapChannel ch(queue_config(64, 16, producers));
    const vd::ChannelMap& m = ch.map();
    const auto started = Clock::now();
    const auto deadline = started + 25s;
    std::atomic<bool> timed_out{false};

    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            vd::ClientRecord& me = m.client(p);
            for (std::uint64_t i = 0; i < per_producer; ++i) {
                const std::uint64_t tag = (std::uint64_t{p} << 32) | i;
                unsigned char payload[16];
                std::memcpy(payload, &tag, 8);
                std::memcpy(payload + 8, &i, 8);
                unsigned spins = 0;
                while (!push(m, me, p, tag, payload, sizeof payload)) {
                    if (++spins % 64 == 0) {
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
    std::uint64_t consumed = 0, out_of_order = 0, malformed = 0, head = 0;
    const std::uint64_t total = per_producer * producers;
    unsigned idle = 0;
    while (consumed < total) {
        vd::CmdSlot* s = vd::queue_front(m, head);
        if (s == nullptr) {
            if (++idle % 64 == 0) {
                if (Clock::now() > deadline) {
                    timed_out = true;
                    break;
                }
                std::this_thread::yield();
            }
            continue;
        }
        const std::uint32_t client = s->client.load(std::memory_order_relaxed);
        const std::uint64_t request = s->request.load(std::memory_order_relaxed);
        const std::uint32_t length = s->length.load(std::memory_order_relaxed);
        std::uint64_t tag = 0, seq = 0;
        if (length == 16) {
            std::memcpy(&tag, m.slot_payload(*s), 8);
            std::memcpy(&seq, m.slot_payload(*s) + 8, 8);
        }
        vd::queue_release(m, head);
        ++consumed;
        if (client >= producers || length != 16 || tag != request || (tag >> 32) != client ||
            (tag & 0xffffffffu) != seq) {
            ++malformed;
            continue;
        }
        if (seq != next[client]) ++out_of_order; // a duplicate, a loss or a reordering
        next[client] = seq + 1;
    }
    for (auto& t : threads) t.join();
    BOOST_TEST_MESSAGE(producers << " producers x " << per_producer << " items through a 64-slot queue in "
                                 << ms_since(started) << " ms");

    BOOST_TEST(!timed_out.load());
    BOOST_TEST(consumed == total);
    BOOST_TEST(malformed == 0u);
    BOOST_TEST(out_of_order == 0u);
    for (std::uint32_t p = 0; p < producers; ++p) BOOST_TEST(next[p] == per_producer, "producer " << p);
    BOOST_TEST(vd::queue_front(m, head) == nullptr, "nothing left over");
    BOOST_TEST(ch.cb().tail.load() == total);
    for (std::uint32_t p = 0; p < producers; ++p)
        BOOST_TEST(m.client(p).pending_pos.load() == vd::no_pending);
}

BOOST_AUTO_TEST_CASE(claimed_but_unpublished_slot_blocks_the_consumer) {
    HeapChannel ch(queue_config(8));
    const vd::ChannelMap& m = ch.map();
    std::uint64_t head = 0;
    const char a = 'a', b = 'b';
    // By hand: a producer claimed position 0 (tail advanced, pending_pos set) and has not
    // published yet.
    vd::ClientRecord& slow = m.client(0);
    std::uint64_t pos0 = 0;
    BOOST_REQUIRE((vd::queue_try_claim(m, slow, pos0) == vd::claim_result::claimed));
    BOOST_TEST(pos0 == 0u);
    BOOST_TEST(ch.cb().tail.load() == 1u);
    BOOST_TEST(slow.pending_pos.load() == 0u);
    BOOST_TEST(m.slot(0).seq.load() == vd::seq_free(0), "claimed, not published");
    BOOST_TEST(vd::queue_front(m, head) == nullptr);
    // Another producer publishes position 1: still nothing at the head.
    BOOST_TEST(push(m, m.client(1), 1, 11, &b, 1));
    BOOST_TEST(vd::queue_front(m, head) == nullptr);
    BOOST_TEST(m.slot(1).seq.load() == vd::seq_published(1));
    // The same, with the claimant's fields half written but seq not yet stored.
    vd::CmdSlot& s0 = m.slot(0);
    s0.client.store(0);
    s0.request.store(10);
    s0.length.store(1);
    BOOST_TEST(vd::queue_front(m, head) == nullptr);
    // Publishing releases both, in position order.
    vd::queue_publish(m, slow, pos0, 0, 10, &a, 1);
    BOOST_TEST(slow.pending_pos.load() == vd::no_pending);
    auto first = pop(m, head);
    auto second = pop(m, head);
    BOOST_REQUIRE(first.has_value());
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(first->request == 10u);
    BOOST_TEST(second->request == 11u);
    BOOST_TEST(!pop(m, head).has_value());
}

// ================================================================================ real channel

BOOST_AUTO_TEST_CASE(daemon_skips_a_slot_whose_claimant_died) {
    ChannelName name("q_deadclaim");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 4});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    std::vector<std::string> seen;
    auto handler = [&](std::uint32_t, venom::ByteView cmd) {
        seen.push_back(cmd.to_string());
        return "re:" + cmd.to_string();
    };

    // By hand: client slot 3 (not connected, its lock byte free) claimed the head position and
    // died before publishing.
    vd::ClientRecord& dead = m.client(3);
    BOOST_REQUIRE(dead.state.load() == vd::client_free);
    const std::uint64_t head_pos = raw.cb().head.load();
    std::uint64_t pos = 0;
    BOOST_REQUIRE((vd::queue_try_claim(m, dead, pos) == vd::claim_result::claimed));
    BOOST_TEST(pos == head_pos);
    BOOST_TEST(dead.pending_pos.load() == head_pos);
    BOOST_TEST(raw.cb().tail.load() == head_pos + 1);

    BOOST_TEST(daemon.poll(handler) == 0u);
    BOOST_TEST(raw.cb().slots_unblocked.load() == 0u, "not skipped before 10 ms");

    // A real request queued behind the dead claim is answered once the daemon skips it.
    const auto t0 = Clock::now();
    AsyncRequest req(shell, "after the dead claim");
    poll_until(daemon, handler, [&] { return req.done(); }, 5000ms);
    req.join();
    const double ms = ms_since(t0);
    BOOST_TEST_MESSAGE("the dead claim was skipped and the request answered after " << ms << " ms");
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:after the dead claim");
    BOOST_TEST(raw.cb().slots_unblocked.load() == 1u);
    BOOST_TEST(ms < 2000.0);
    BOOST_TEST(seen.size() == 1u);
    BOOST_TEST(raw.cb().head.load() == head_pos + 2);
    // And the channel goes on normally.
    AsyncRequest req2(shell, "next");
    poll_until(daemon, handler, [&] { return req2.done(); }, 5000ms);
    req2.join();
    BOOST_TEST(req2.answer() == "re:next");
    BOOST_TEST(raw.cb().slots_unblocked.load() == 1u);
}

BOOST_AUTO_TEST_CASE(daemon_waits_for_a_live_slow_claimant) {
    ChannelName name("q_liveclaim");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 4});
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    int calls = 0;
    std::vector<std::uint32_t> clients;
    auto handler = [&](std::uint32_t id, venom::ByteView cmd) {
        ++calls;
        clients.push_back(id);
        return "re:" + cmd.to_string();
    };
    // By hand: the connected shell (its lock byte held) claimed the head and is slow to publish.
    const std::uint32_t id = shell.client_id();
    vd::ClientRecord& rec = m.client(id);
    std::uint64_t pos = 0;
    BOOST_REQUIRE((vd::queue_try_claim(m, rec, pos) == vd::claim_result::claimed));
    const auto end = Clock::now() + 150ms;
    while (Clock::now() < end) {
        BOOST_TEST_REQUIRE(daemon.poll(handler) == 0u);
        std::this_thread::sleep_for(2ms);
    }
    BOOST_TEST(raw.cb().slots_unblocked.load() == 0u, "a live claimant's slot is never skipped");
    BOOST_TEST(raw.cb().head.load() == pos);
    // It publishes (with a request id the shell never waits for): the daemon handles it.
    const std::uint64_t gen = rec.generation.load() & 0xffffffffu;
    const std::string cmd = "late";
    vd::queue_publish(m, rec, pos, id, (gen << 32) | 0xFFFFu, cmd.data(), cmd.size());
    BOOST_TEST(daemon.poll(handler) == 1u);
    BOOST_TEST(calls == 1);
    BOOST_TEST(raw.map().response(id).seq.load() == ((gen << 32) | 0xFFFFu));
    // The shell's own request gets its own answer, not the one left for the foreign id.
    AsyncRequest req(shell, "mine");
    poll_until(daemon, handler, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:mine");
    BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(shell_ignores_an_answer_for_an_older_request_id) {
    ChannelName name("q_stale");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 2});
    // A waiting shell re-checks its slot at least every daemon_check (each block is sliced).
    venom::ShellOptions options = bounded_options();
    options.daemon_check = 5ms;
    auto shell = venom::ShellChannel::connect(name.str(), options);
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    auto handler = [](std::uint32_t, venom::ByteView cmd) { return "re:" + cmd.to_string(); };

    // One normal exchange: request id (generation << 32) | 1.
    {
        AsyncRequest first(shell, "one");
        poll_until(daemon, handler, [&] { return first.done(); }, 5000ms);
        first.join();
        BOOST_TEST(first.answer() == "re:one");
    }
    const std::uint32_t id = shell.client_id();
    const std::uint64_t gen = m.client(id).generation.load() & 0xffffffffu;
    vd::ResponseSlot& r = m.response(id);
    BOOST_TEST(r.seq.load() == ((gen << 32) | 1u));

    // The shell sends request 2 and waits. By hand: answers for older ids land in its slot (an
    // earlier request of this connection, a previous connection's); the shell sees each one
    // when it re-checks (every 5 ms at most).
    AsyncRequest second(shell, "two");
    BOOST_TEST(eventually([&] { return vd::queue_front(m, raw.cb().head.load()) != nullptr; }, 5s));
    const std::uint64_t older[] = {(gen << 32) | 1u, ((gen - 1) << 32) | 2u, (gen << 32) | 0u};
    for (std::uint64_t stale : older) {
        const std::string text = "STALE";
        std::memcpy(m.response_payload(r), text.data(), text.size());
        r.length.store(static_cast<std::uint32_t>(text.size()));
        r.status.store(vd::status_ok);
        r.seq.store(stale, std::memory_order_release);
        std::this_thread::sleep_for(40ms);
        BOOST_TEST(!second.done(), "the shell took the answer for id " << std::hex << stale);
    }
    // The daemon answers request 2.
    poll_until(daemon, handler, [&] { return second.done(); }, 5000ms);
    second.join();
    BOOST_TEST(!second.ec(), second.ec().message());
    BOOST_TEST(second.answer() == "re:two");
}

BOOST_AUTO_TEST_CASE(malformed_commands_are_dropped_and_counted) {
    ChannelName name("q_malformed");
    constexpr std::uint32_t max_clients = 3;
    constexpr std::uint32_t max_cmd = 100;
    venom::ChannelConfig config{64, 8, max_clients};
    config.max_cmd_size = max_cmd;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = venom::ShellChannel::connect(name.str(), bounded_options());
    RawChannel raw(name.str());
    const vd::ChannelMap& m = raw.map();
    int calls = 0;
    auto handler = [&](std::uint32_t, venom::ByteView cmd) {
        ++calls;
        return "re:" + cmd.to_string();
    };
    const std::uint32_t id = shell.client_id();
    const std::uint64_t request = ((m.client(id).generation.load() & 0xffffffffu) << 32) | 0x7777u;
    // By hand: publish headers whose fields are out of range (no payload is written).
    vd::ClientRecord& scratch = m.client(max_clients - 1); // an unconnected record
    auto publish_raw = [&](std::uint32_t client, std::uint32_t length) {
        std::uint64_t pos = 0;
        BOOST_REQUIRE((vd::queue_try_claim(m, scratch, pos) == vd::claim_result::claimed));
        vd::CmdSlot& s = m.slot(pos);
        s.client.store(client, std::memory_order_relaxed);
        s.request.store(request, std::memory_order_relaxed);
        s.length.store(length, std::memory_order_relaxed);
        s.seq.store(vd::seq_published(pos), std::memory_order_release);
        scratch.pending_pos.store(vd::no_pending);
    };
    publish_raw(max_clients, 1);          // client id == max_clients
    publish_raw(0xFFFFFFFFu, 1);          // client id far out
    publish_raw(id, max_cmd + 1);         // one byte over max_cmd_size
    publish_raw(id, 0xFFFFFFFFu);         // absurd length
    BOOST_TEST(daemon.poll(handler) == 4u);
    BOOST_TEST(calls == 0, "the handler never sees a malformed command");
    BOOST_TEST(raw.cb().commands_malformed.load() == 4u);
    BOOST_TEST(raw.cb().commands_handled.load() == 0u);
    BOOST_TEST(m.response(id).seq.load() != request, "nothing was answered");

    // A well-formed command from a client slot nobody holds is stale, dropped too.
    publish_raw(max_clients - 1, 0);
    BOOST_TEST(daemon.poll(handler) == 1u);
    BOOST_TEST(calls == 0);
    BOOST_TEST(raw.cb().commands_stale.load() == 1u);

    // The daemon keeps serving.
    AsyncRequest req(shell, "fine");
    poll_until(daemon, handler, [&] { return req.done(); }, 5000ms);
    req.join();
    BOOST_TEST(!req.ec(), req.ec().message());
    BOOST_TEST(req.answer() == "re:fine");
    BOOST_TEST(calls == 1);
    BOOST_TEST(raw.cb().commands_handled.load() == 1u);
    BOOST_TEST(raw.cb().commands_malformed.load() == 4u);
}

VENOM_TEST_MAIN("queue")
