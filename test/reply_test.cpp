// SPDX-License-Identifier: BSL-1.0
// test/reply_test.cpp - deferred answers (venom::Reply, detail/reply_slots.hpp): a handler of
// the form handler(client, cmd, Reply) that answers later, from other threads.
//   1. 16 shells x N requests, each answered by a pool of 4 threads in random order, every
//      answer checked against its request: shells as threads (also under TSan, through
//      reply_thread_test.cpp, which compiles only the in-process cases of this file), and as
//      processes re-running this binary; run() and poll().
//   2. A dropped Reply answers handler_failed; a throwing handler's Reply answers its what(),
//      unless the handler moved it away (that one answers); fail() with a code of its own;
//      one answer per Reply; an answer too large leaves the Reply active.
//   3. A Reply sent after its shell timed out: the shell's next request still succeeds, with
//      its own answer.
//   4. A shell SIGKILLed with a Reply open, a new shell in its slot, then the old Reply sent:
//      dropped (stale, counted in replies_stale), and the new shell gets only its own answer.
//   5. A Reply that outlives its daemon sends nothing and reports daemon_gone.
//   6. Deadlines (ShellChannel::request_until): a command whose deadline passed while it was
//      queued is never handled, answered timeout and counted (commands_expired); a deadline
//      already passed sends nothing; Reply::deadline() is the shell's deadline or time limit.
#include "test_support.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using namespace venom_test;
using namespace std::chrono_literals;
using venom::errc;

namespace {

venom::ChannelConfig reply_config(std::uint32_t clients = 16) {
    venom::ChannelConfig c{64, clients, clients};
    c.max_cmd_size = 256;
    c.max_response_size = 256;
    return c;
}

/// Threads that answer Replies handed to them, picking a random one of those waiting each
/// time (so answers go out in another order than the requests came), after a short random
/// pause now and then.
class AnswerPool {
public:
    explicit AnswerPool(unsigned threads = 4) {
        for (unsigned t = 0; t < threads; ++t) threads_.emplace_back([this, t] { loop(t); });
    }
    ~AnswerPool() { finish(); }
    void add(venom::Reply r, std::string answer) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            pending_.push_back({std::move(r), std::move(answer)});
        }
        cv_.notify_one();
    }
    /// Answers what is left, then ends the threads.
    void finish() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::uint64_t send_errors() const { return send_errors_.load(); }
    std::uint64_t sent() const { return sent_.load(); }

private:
    struct Job {
        venom::Reply reply;
        std::string answer;
    };
    void loop(unsigned seed) {
        std::mt19937 rng(seed * 7919u + 1u);
        for (;;) {
            Job job;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return done_ || !pending_.empty(); });
                if (pending_.empty()) return;
                const std::size_t k = rng() % pending_.size();
                job = std::move(pending_[k]);
                pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(k));
            }
            if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
            std::error_code ec;
            job.reply.send(std::string_view(job.answer), ec);
            if (ec) send_errors_.fetch_add(1);
            else sent_.fetch_add(1);
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> pending_;
    bool done_ = false;
    std::vector<std::thread> threads_;
    std::atomic<std::uint64_t> send_errors_{0}, sent_{0};
};

/// The answer the echo pool gives to a command.
std::string answer_to(std::string_view cmd) { return "re:" + std::string(cmd); }

/// One shell's part of the storm: n requests "s<k>:<i>", each answer checked. Returns the
/// number of wrong or failed answers (and prints the first).
int shell_storm(const std::string& name, int k, long n) {
    auto s = venom::ShellChannel::connect(name);
    int bad = 0;
    for (long i = 0; i < n; ++i) {
        const std::string cmd = "s" + std::to_string(k) + ":" + std::to_string(i);
        char buf[256];
        std::error_code ec;
        const std::size_t len = s.request(cmd.data(), cmd.size(), buf, sizeof buf, 10s, ec);
        if (ec || std::string(buf, len) != answer_to(cmd)) {
            if (bad++ == 0)
                std::fprintf(stderr, "shell %d request %ld: %s, answer \"%s\" (%s)\n", k, i,
                             ec ? ec.message().c_str() : "ok",
                             ec ? "" : std::string(buf, len).c_str(), s.last_error_text().c_str());
        }
    }
    return bad;
}

std::uint64_t replies_stale(const std::string& name) {
    return venom::inspect_channel(name).sample.replies_stale;
}

} // namespace

// ================================================================ in-process cases

BOOST_AUTO_TEST_CASE(sixteen_shell_threads_answered_by_a_pool_in_random_order) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config());
    AnswerPool pool;
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
        pool.add(std::move(reply), answer_to(cmd.as_string_view()));
    });
    const long n = scaled(1000);
    std::atomic<int> bad{0};
    std::vector<std::thread> shells;
    for (int k = 0; k < 16; ++k)
        shells.emplace_back([&, k] { bad += shell_storm(name.str(), k, n); });
    for (auto& t : shells) t.join();
    runner.stop();
    pool.finish();
    BOOST_TEST(bad.load() == 0);
    BOOST_TEST(pool.sent() == static_cast<std::uint64_t>(16 * n));
    BOOST_TEST(pool.send_errors() == 0u);
    BOOST_TEST(replies_stale(name.str()) == 0u);
}

BOOST_AUTO_TEST_CASE(poll_serves_the_reply_form_too) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(4));
    AnswerPool pool(2);
    std::atomic<bool> done{false};
    std::thread poller([&] {
        auto handler = [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
            pool.add(std::move(reply), answer_to(cmd.as_string_view()));
        };
        while (!done.load())
            if (d.poll(handler) == 0) std::this_thread::sleep_for(50us);
    });
    std::atomic<int> bad{0};
    std::vector<std::thread> shells;
    for (int k = 0; k < 4; ++k)
        shells.emplace_back([&, k] { bad += shell_storm(name.str(), k, scaled(200)); });
    for (auto& t : shells) t.join();
    done = true;
    poller.join();
    BOOST_TEST(bad.load() == 0);
}

BOOST_AUTO_TEST_CASE(a_dropped_reply_answers_handler_failed) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::mutex mu;
    std::vector<venom::Reply> kept;
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
        if (cmd == "drop") return; // destroyed at the end of the call, unanswered
        std::lock_guard<std::mutex> lock(mu);
        kept.push_back(std::move(reply)); // "keep": destroyed later by another thread
    });
    auto s = venom::ShellChannel::connect(name.str());
    error_of([&] { s.request("drop", 5s); }, errc::handler_failed, "dropped in the handler");
    BOOST_TEST(contains(s.last_error_text(), "the daemon dropped the request unanswered"),
               s.last_error_text());
    std::thread later([&] {
        std::this_thread::sleep_for(50ms);
        std::lock_guard<std::mutex> lock(mu);
        kept.clear();
    });
    error_of([&] { s.request("keep", 5s); }, errc::handler_failed, "dropped by another thread");
    later.join();
    runner.stop();
    const auto sample = venom::inspect_channel(name.str()).sample;
    BOOST_TEST(sample.handler_errors == 2u);
    BOOST_TEST(sample.replies_stale == 0u);
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_answers_its_what_unless_it_moved_its_reply_away) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    AnswerPool pool(1);
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
        if (cmd == "throw") throw std::runtime_error("bad command");
        if (cmd == "send then throw") {
            reply.send(std::string_view("sent first"));
            throw std::runtime_error("after the answer");
        }
        pool.add(std::move(reply), "the pool's answer");
        throw std::runtime_error("moved away first");
    });
    auto s = venom::ShellChannel::connect(name.str());
    error_of([&] { s.request("throw", 5s); }, errc::handler_failed, "throw");
    BOOST_TEST(contains(s.last_error_text(), "bad command"), s.last_error_text());
    BOOST_TEST(to_string(s.request("send then throw", 5s)) == "sent first");
    BOOST_TEST(to_string(s.request("move then throw", 5s)) == "the pool's answer");
    BOOST_TEST(to_string(s.request("move then throw", 5s)) == "the pool's answer");
    runner.stop();
    const auto sample = venom::inspect_channel(name.str()).sample;
    BOOST_TEST(sample.handler_errors == 4u, "each throw counts");
    BOOST_TEST(sample.replies_stale == 0u);
}

BOOST_AUTO_TEST_CASE(fail_sends_a_code_of_its_own_and_a_reply_answers_once) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::vector<std::error_code> seen;
    std::vector<std::string> problems; // the daemon's thread: Boost.Test is not thread-safe
    auto check = [&](bool ok, const char* what) {
        if (!ok) problems.push_back(what);
    };
    Server runner(d, [&](std::uint32_t client, venom::ByteView cmd, venom::Reply reply) {
        check(reply.client() == client, "client()");
        check(reply.active(), "active() before the answer");
        check(reply.deadline() > std::chrono::steady_clock::now(), "deadline(): 5 s ahead");
        if (cmd == "timeout") {
            seen.push_back(reply.fail(errc::timeout, "took too long"));
        } else if (cmd == "none") {
            seen.push_back(reply.fail(errc{}, "no code"));
        } else if (cmd == "big") {
            std::error_code ec;
            reply.send(std::string(257, 'x'), ec); // max_response_size is 256
            seen.push_back(ec);
            check(reply.active(), "an answer too large leaves the Reply active");
            std::string text;
            try {
                reply.send(std::string(300, 'x'));
            } catch (const venom::error& e) {
                text = e.what();
            }
            check(contains(text, "max_response_size is 256"), "the too-large text");
            reply.send(std::string_view("short"));
        } else {
            reply.send(std::string_view("once"));
        }
        check(!reply.active(), "active() after the answer");
        seen.push_back(reply.fail(errc::timeout, "again")); // answered already: nothing
        std::error_code ec;
        reply.send(std::string_view("twice"), ec);
        seen.push_back(ec);
    });
    auto s = venom::ShellChannel::connect(name.str());
    error_of([&] { s.request("timeout", 5s); }, errc::timeout, "fail(timeout)");
    BOOST_TEST(s.last_error_text() == "took too long");
    error_of([&] { s.request("none", 5s); }, errc::handler_failed, "fail(errc{})");
    BOOST_TEST(s.last_error_text() == "no code");
    BOOST_TEST(to_string(s.request("big", 5s)) == "short");
    BOOST_TEST(to_string(s.request("other", 5s)) == "once");
    runner.stop();
    BOOST_TEST(problems.empty(), (problems.empty() ? "" : problems.front()));
    const auto invalid = std::make_error_code(std::errc::invalid_argument);
    BOOST_REQUIRE(seen.size() == 11u);
    BOOST_TEST(!seen[0]);
    BOOST_TEST((seen[1] == invalid));
    BOOST_TEST((seen[2] == invalid));
    BOOST_TEST(!seen[3]);
    BOOST_TEST((seen[4] == invalid));
    BOOST_TEST((seen[5] == invalid));
    BOOST_TEST((seen[6] == errc::message_too_large));
    BOOST_TEST((seen[7] == invalid));
    BOOST_TEST((seen[8] == invalid));
    BOOST_TEST((seen[9] == invalid));
    BOOST_TEST((seen[10] == invalid));
    const auto sample = venom::inspect_channel(name.str()).sample;
    BOOST_TEST(sample.handler_errors == 2u, "the two fail()s");
    BOOST_TEST(sample.errors_logged == 2u);
}

BOOST_AUTO_TEST_CASE(a_reply_sent_after_its_shell_timed_out_lets_the_next_request_succeed) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::mutex mu;
    std::condition_variable cv;
    std::deque<venom::Reply> slow;
    AnswerPool pool(1);
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
        if (cmd.as_string_view().substr(0, 4) == "slow") {
            std::lock_guard<std::mutex> lock(mu);
            slow.push_back(std::move(reply));
            cv.notify_all();
            return;
        }
        pool.add(std::move(reply), answer_to(cmd.as_string_view()));
    });
    auto take_slow = [&] {
        std::unique_lock<std::mutex> lock(mu);
        BOOST_REQUIRE(cv.wait_for(lock, 5s, [&] { return !slow.empty(); }));
        venom::Reply r = std::move(slow.front());
        slow.pop_front();
        return r;
    };
    auto s = venom::ShellChannel::connect(name.str());
    // (a) the late answer comes before the next request: that one goes straight through.
    error_of([&] { s.request("slow 1", 30ms); }, errc::timeout, "slow 1");
    venom::Reply late = take_slow();
    late.send(std::string_view("late answer to slow 1"));
    BOOST_TEST(to_string(s.request("next 1", 5s)) == "re:next 1");
    // (b) the next request is already waiting (for the timed-out one's answer) when the late
    // answer comes: it is sent then, and gets its own answer, not the late one.
    error_of([&] { s.request("slow 2", 30ms); }, errc::timeout, "slow 2");
    venom::Reply late2 = take_slow();
    std::error_code late2_ec;
    std::thread sender([&] {
        std::this_thread::sleep_for(100ms);
        late2.send(std::string_view("late answer to slow 2"), late2_ec);
    });
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST(to_string(s.request("next 2", 5s)) == "re:next 2");
    BOOST_TEST(ms_since(t0) >= 90.0, "it waited for the late answer first");
    sender.join();
    BOOST_TEST(!late2_ec, late2_ec.message());
    BOOST_TEST(replies_stale(name.str()) == 0u, "late answers of a live shell are delivered");
}

BOOST_AUTO_TEST_CASE(a_reply_that_outlives_its_daemon_reports_daemon_gone) {
    ChannelName name("reply");
    auto d = std::make_unique<venom::DaemonChannel>(
        venom::DaemonChannel::create(name.str(), reply_config(2)));
    std::mutex mu;
    std::condition_variable cv;
    std::vector<venom::Reply> kept;
    auto runner =
        std::make_unique<Server>(*d, [&](std::uint32_t, venom::ByteView, venom::Reply reply) {
            std::lock_guard<std::mutex> lock(mu);
            kept.push_back(std::move(reply));
            cv.notify_all();
        });
    auto s = venom::ShellChannel::connect(name.str());
    std::error_code shell_ec;
    std::thread asker([&] {
        char buf[64];
        s.request("a", 1, buf, sizeof buf, 10s, shell_ec);
    });
    auto s2 = venom::ShellChannel::connect(name.str());
    std::error_code shell2_ec;
    std::thread asker2([&] {
        char buf[64];
        s2.request("b", 1, buf, sizeof buf, 10s, shell2_ec);
    });
    {
        std::unique_lock<std::mutex> lock(mu);
        BOOST_REQUIRE(cv.wait_for(lock, 5s, [&] { return kept.size() == 2; }));
    }
    runner.reset();
    d.reset(); // the channel closes: both requests end with daemon_gone
    asker.join();
    asker2.join();
    BOOST_TEST((shell_ec == errc::daemon_gone), shell_ec.message());
    BOOST_TEST((shell2_ec == errc::daemon_gone), shell2_ec.message());
    std::error_code ec;
    kept[0].send(std::string_view("too late"), ec);
    BOOST_TEST((ec == errc::daemon_gone), ec.message());
    BOOST_TEST(!kept[0].active());
    std::string text;
    try {
        kept[1].send(std::string_view("too late"));
    } catch (const venom::error& e) {
        BOOST_TEST((e.code() == errc::daemon_gone));
        text = e.what();
    }
    BOOST_TEST(contains(text, "DaemonChannel was destroyed"), text);
    kept.clear(); // (and their destructors have nothing to do)
}

// ================================================================ deadlines

BOOST_AUTO_TEST_CASE(a_command_whose_deadline_passed_in_the_queue_is_never_handled) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::mutex mu;
    std::vector<std::string> handled;
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd) {
        {
            std::lock_guard<std::mutex> lock(mu);
            handled.push_back(cmd.to_string());
        }
        if (cmd == "slow") std::this_thread::sleep_for(50ms);
        return answer_to(cmd.as_string_view());
    });
    auto a = venom::ShellChannel::connect(name.str());
    auto b = venom::ShellChannel::connect(name.str());
    std::string slow_answer;
    std::thread slow([&] { slow_answer = to_string(a.request("slow", 5s)); });
    std::this_thread::sleep_for(10ms); // the daemon is inside "slow" now
    char buf[64];
    std::error_code ec;
    b.request_until(std::chrono::steady_clock::now() + 1ms, "late", 4, buf, sizeof buf, ec);
    BOOST_TEST((ec == errc::timeout), ec.message());
    slow.join();
    BOOST_TEST(slow_answer == "re:slow");
    // The daemon takes "late" after "slow", long past its deadline: it answers timeout.
    const auto t0 = std::chrono::steady_clock::now();
    while (venom::inspect_channel(name.str()).sample.commands_expired == 0 && ms_since(t0) < 5000)
        std::this_thread::sleep_for(1ms);
    // b's next request waits for that answer first, then goes through.
    BOOST_TEST(to_string(b.request("next", 5s)) == "re:next");
    runner.stop();
    const venom::ChannelInfo info = venom::inspect_channel(name.str());
    BOOST_TEST(info.sample.commands_expired == 1u);
    BOOST_TEST(info.sample.handler_errors == 0u);
    BOOST_TEST(info.sample.commands_handled == 2u, "slow and next");
    BOOST_REQUIRE(!info.recent_errors.empty());
    BOOST_TEST(contains(info.recent_errors.back().text, "deadline passed"),
               info.recent_errors.back().text);
    std::lock_guard<std::mutex> lock(mu);
    BOOST_TEST(handled == (std::vector<std::string>{"slow", "next"}), "the handler never saw it");
}

BOOST_AUTO_TEST_CASE(request_until_in_time_is_answered_and_a_passed_deadline_sends_nothing) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::atomic<int> calls{0};
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd) {
        ++calls;
        return answer_to(cmd.as_string_view());
    });
    auto s = venom::ShellChannel::connect(name.str());
    char buf[64];
    const std::size_t n =
        s.request_until(std::chrono::steady_clock::now() + 5s, "ok", 2, buf, sizeof buf);
    BOOST_TEST(std::string(buf, n) == "re:ok");
    std::error_code ec;
    s.request_until(std::chrono::steady_clock::now() - 1ms, "x", 1, buf, sizeof buf, ec);
    BOOST_TEST((ec == errc::timeout));
    BOOST_TEST(contains(s.last_error_text(), "nothing was sent"), s.last_error_text());
    error_of([&] { s.request_until(std::chrono::steady_clock::now(), "x", 1, buf, sizeof buf); },
             errc::timeout, "throwing form");
    BOOST_TEST(to_string(s.request("after", 5s)) == "re:after");
    runner.stop();
    BOOST_TEST(calls.load() == 2);
    BOOST_TEST(venom::inspect_channel(name.str()).sample.commands_expired == 0u);
}

BOOST_AUTO_TEST_CASE(reply_deadline_is_the_shells_deadline_or_time_limit) {
    ChannelName name("reply");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(2));
    std::vector<std::chrono::steady_clock::time_point> seen;
    Server runner(d, [&](std::uint32_t, venom::ByteView, venom::Reply reply) {
        seen.push_back(reply.deadline());
        reply.send(std::string_view("ok"));
    });
    auto s = venom::ShellChannel::connect(name.str());
    char buf[64];
    const auto until = std::chrono::steady_clock::now() + 3s;
    s.request_until(until, "a", 1, buf, sizeof buf);
    const auto before = std::chrono::steady_clock::now();
    s.request("b", 1, buf, sizeof buf, 2s);
    const auto after = std::chrono::steady_clock::now();
    s.request("c", 1, buf, sizeof buf); // ShellOptions::request_timeout: none
    runner.stop();
    BOOST_REQUIRE(seen.size() == 3u);
    BOOST_TEST((seen[0] == until), "the deadline, to the nanosecond");
    BOOST_TEST((seen[1] >= before + 2s && seen[1] <= after + 2s), "the time limit from the take");
    BOOST_TEST((seen[2] == std::chrono::steady_clock::time_point::max()));
}

// ================================================================ processes
#if !defined(VENOM_REPLY_IN_PROCESS_ONLY)

VENOM_CHILD_ROLE(reply_storm_shell) { // args: name, k, n
    return shell_storm(args.at(0), std::stoi(args.at(1)), std::stol(args.at(2))) == 0 ? 0 : 1;
}

VENOM_CHILD_ROLE(reply_victim) { // args: name; one request that is never answered
    auto s = venom::ShellChannel::connect(args.at(0));
    (void)s.request("victim", 60s);
    return 0;
}

BOOST_AUTO_TEST_CASE(sixteen_shell_processes_answered_by_a_pool_in_random_order) {
    ChannelName name("reply_mp");
    auto d = venom::DaemonChannel::create(name.str(), reply_config());
    AnswerPool pool;
    Server runner(d, [&](std::uint32_t, venom::ByteView cmd, venom::Reply reply) {
        pool.add(std::move(reply), answer_to(cmd.as_string_view()));
    });
    const long n = scaled(1000);
    std::vector<Child> children;
    for (int k = 0; k < 16; ++k)
        children.push_back(
            spawn_self("reply_storm_shell", {name.str(), std::to_string(k), std::to_string(n)}));
    for (int k = 0; k < 16; ++k)
        BOOST_TEST(children[static_cast<std::size_t>(k)].wait(120s) == 0, "shell " << k);
    runner.stop();
    pool.finish();
    BOOST_TEST(pool.sent() == static_cast<std::uint64_t>(16 * n));
    BOOST_TEST(pool.send_errors() == 0u);
    BOOST_TEST(replies_stale(name.str()) == 0u);
}

#if !defined(_WIN32)
BOOST_AUTO_TEST_CASE(a_stale_reply_of_a_killed_shell_never_reaches_the_next_shell_in_its_slot) {
    ChannelName name("reply_mp");
    auto d = venom::DaemonChannel::create(name.str(), reply_config(1)); // one slot: reused
    std::mutex mu;
    std::condition_variable cv;
    std::deque<venom::Reply> open;
    std::atomic<std::uint32_t> other_clients{0};
    Server runner(d, [&](std::uint32_t client, venom::ByteView cmd, venom::Reply reply) {
        if (client != 0) ++other_clients;
        (void)cmd;
        std::lock_guard<std::mutex> lock(mu);
        open.push_back(std::move(reply));
        cv.notify_all();
    });
    auto take = [&] {
        std::unique_lock<std::mutex> lock(mu);
        BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return !open.empty(); }));
        venom::Reply r = std::move(open.front());
        open.pop_front();
        return r;
    };
    Child victim = spawn_self("reply_victim", {name.str()});
    venom::Reply old = take(); // the victim's request, open
    victim.kill(SIGKILL);
    BOOST_TEST(victim.wait(10s) == -SIGKILL);
    // A new shell in the same slot (the only one). The victim's command left the queue when
    // the handler returned, so nothing holds the slot back.
    venom::ShellOptions o;
    o.connect_timeout = 5s;
    std::optional<venom::ShellChannel> s = venom::ShellChannel::connect(name.str(), o);
    BOOST_TEST(s->client_id() == 0u);
    // (a) the old Reply before the new shell asks anything: its slot has a new connection.
    std::error_code ec;
    old.send(std::string_view("for the victim"), ec);
    BOOST_TEST((ec == std::errc::connection_aborted), ec.message());
    BOOST_TEST(!old.active());
    BOOST_TEST(replies_stale(name.str()) == 1u);
    // The new shell's request gets its own answer.
    std::string got;
    std::thread asker([&] { got = to_string(s->request("mine", 10s)); });
    venom::Reply mine = take();
    mine.send(std::string_view("for the new shell"));
    asker.join();
    BOOST_TEST(got == "for the new shell");
    BOOST_TEST(replies_stale(name.str()) == 1u);
    // (b) a killed shell's Reply sent while the next shell's request is open: dropped (the
    // slot's open request and generation moved on), and the open one still answered.
    s.reset();
    Child victim2 = spawn_self("reply_victim", {name.str()});
    venom::Reply old2 = take();
    victim2.kill(SIGKILL);
    BOOST_TEST(victim2.wait(10s) == -SIGKILL);
    s = venom::ShellChannel::connect(name.str(), o);
    std::thread asker2([&] { got = to_string(s->request("mine 2", 10s)); });
    venom::Reply mine2 = take();
    old2.send(std::string_view("for the second victim"), ec);
    BOOST_TEST((ec == std::errc::connection_aborted), ec.message());
    BOOST_TEST(replies_stale(name.str()) == 2u);
    mine2.send(std::string_view("for the third shell"));
    asker2.join();
    BOOST_TEST(got == "for the third shell");
    runner.stop();
    BOOST_TEST(other_clients.load() == 0u);
}
#endif

#endif // !VENOM_REPLY_IN_PROCESS_ONLY

VENOM_TEST_MAIN("reply")
