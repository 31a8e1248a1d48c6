// SPDX-License-Identifier: BSL-1.0
// bridge/test/bridge_probe.cpp - the helper program of bridge/test/bridge_test.sh and
// bridge/bench.sh: an origin daemon and the remote shells that check a venom_bridge pair.
// venom's public API only (venom/venom.hpp): it knows nothing of the bridge or of DDS, so the
// same commands run against a local channel (a self-check) and through a mirror.
//
// Every subcommand has its own deadline (--deadline-ms, or the SECONDS/MS it is given) and a
// hard alarm() a few seconds past it, so nothing waits without a bound; each client subcommand
// prints one JSON line of results on stdout and exits 0 (its check passed), 1 (it failed) or 2
// (usage). --ready-file F: touched once the shell(s) connected (the scripts wait for it).
//
//   echo-daemon NAME [opts]   the origin: answers every command with its bytes, except
//       "set X"         writes X as the state, answers "ok V" (V: the version it made)
//       "sleep MS"      sleeps MS (<= 10 s), answers "slept"        (a slow command)
//       "mark TAG"      remembers TAG, answers "marked TAG"         (did the handler see it?)
//       "big N SEED"    writes an N-byte pattern state (below), answers "big V CHECKSUM"
//       "stats"         answers {"handled":..,"marks":[..],"ordered":..,"order_violations":..}
//       "e ID K ..."    (shells' payload) echoed; K must follow the previous K of that ID, or
//                       it counts as an order violation
//     --data-size B --clients N --max-msg B --seconds S (lifetime, default 600)
//     --slow-ms MS (every command sleeps MS first) --initial TEXT (first state)
//     --big N --seed S (a pattern state at start) --flood N [--flood-mbps R] (pattern states
//     of N bytes written continuously at about R MB/s, default 300) --stamp-hz HZ (a 16-byte
//     state {steady-clock ns, seq} HZ times a second: state-latency's source)
//     Prints {"event":"ready",...} once serving, {"event":"exit",...} at the end (SIGTERM:
//     a clean close).
//   shells NAME N COUNT [--verify] [--size B]   N shells at once, COUNT echoes each; the payload
//       names the shell and the counter, --verify compares every answer byte with it
//   set-read NAME [COUNT]     "set X" then read_data at once: X, version >= V (read-your-writes)
//   big NAME BYTES [--request] [--seed S] [--version V] [--want-checksum C]   a large state:
//       with --request, asks the daemon to write it (big N SEED) and reads it back; without,
//       waits for a pattern state of BYTES bytes (seed S, version >= V, checksum C if given).
//       Checks length, version, pattern and checksum.
//   wait-gone NAME MS [--pending-ms P]   waits (at most MS) until the shell sees daemon_gone;
//       prints its unix time (compare with the kill's) and whether read_data still gives the
//       last state; --pending-ms: a second shell sent "sleep P" first, whose answer must never
//       arrive after the gone
//   expire NAME [--sleep-ms 50] [--timeout-ms 1]   shell 1 sends "sleep 50"; while it runs
//       shell 2 sends "mark TAG" with a 1 ms time limit: it must time out, and "stats" must show
//       the handler never saw TAG
//   rtt NAME SIZE SECONDS     round trips of SIZE-byte commands: p50/p90/p99 (us)
//   state-latency NAME SECONDS   origin stamp (--stamp-hz) -> this shell's wait_for_update (us)
//   versions-per-second NAME SECONDS [--bytes B]   whole pattern versions seen per second and
//       their bandwidth; every version seen is checked whole
//   wait-state NAME MS [--version V] [--text T | --seed S | --checksum C]   waits until a daemon
//       of NAME serves here with a state of version >= V (default 1) holding T (or the pattern
//       of seed S, or bytes of checksum C); reconnects across daemon_gone; prints when (unix
//       ns), the state's version, checksum and first bytes, and the channel's config
//   ask NAME TEXT [--no-limit]   one request, its answer as JSON ("answer"); --no-limit: the
//       request has no time limit of its own (ShellOptions default); prints how it ended
//       ("status": ok or the error code's value, "errc_timeout": whether it was timeout) and
//       after how long ("ms"), the alarm at 30 s
//   counters NAME             the channel's counters (venom::inspect_channel), one JSON line
//   local-ok NAME             exit 0 iff a daemon of NAME is alive on this host (isolation check)
//
// Pattern states (big, --big, --flood): a 32-byte header {magic, seed, length, stamp} and then
// 64-bit words word(seed, i); a tail shorter than a word is bytes of the seed. A state is
// "whole" when every word matches its header's seed: a torn or mixed version fails that.

#include <venom/venom.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <unistd.h>

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::uint64_t pattern_magic = 0x676469726272766eULL; // "nvrbridg"
constexpr std::size_t pattern_header = 32;                     // magic, seed, length, stamp
constexpr int exit_pass = 0;
constexpr int exit_fail = 1;
constexpr int exit_usage = 2;
/// The hard bound past a subcommand's own deadline (alarm(): SIGALRM ends the process).
constexpr unsigned alarm_margin_s = 5;
constexpr std::size_t max_sleep_ms = 10000;

std::int64_t steady_ns() {
    return std::chrono::duration_cast<nanoseconds>(steady::now().time_since_epoch()).count();
}
std::int64_t unix_ns() {
    return std::chrono::duration_cast<nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- pattern states -----------------------------------------------------------------------

std::uint64_t word_of(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + i * 0xD6E8FEB86659FD93ULL;
    return x ^ (x >> 29);
}

void fill_pattern(unsigned char* p, std::size_t n, std::uint64_t seed) {
    const std::uint64_t head[4] = {pattern_magic, seed, n, static_cast<std::uint64_t>(steady_ns())};
    std::memcpy(p, head, std::min(n, sizeof head));
    const std::size_t words = n / 8;
    for (std::size_t i = pattern_header / 8; i < words; ++i) {
        const std::uint64_t w = word_of(seed, i);
        std::memcpy(p + i * 8, &w, 8);
    }
    for (std::size_t j = std::max(words * 8, pattern_header); j < n; ++j)
        p[j] = static_cast<unsigned char>(seed + j);
}

/// Whether p[0..n) is one whole pattern version; its seed in *seed.
bool check_pattern(const unsigned char* p, std::size_t n, std::uint64_t* seed) {
    if (n < pattern_header) return false;
    std::uint64_t head[4];
    std::memcpy(head, p, sizeof head);
    if (head[0] != pattern_magic || head[2] != n) return false;
    *seed = head[1];
    const std::size_t words = n / 8;
    std::uint64_t bad = 0;
    for (std::size_t i = pattern_header / 8; i < words; ++i) {
        std::uint64_t w;
        std::memcpy(&w, p + i * 8, 8);
        bad |= w ^ word_of(head[1], i);
    }
    for (std::size_t j = std::max(words * 8, pattern_header); j < n; ++j)
        bad |= static_cast<unsigned char>(p[j] ^ static_cast<unsigned char>(head[1] + j));
    return bad == 0;
}

/// FNV-1a over 64-bit words (and the tail bytes): the checksum "big" reports.
std::uint64_t checksum(const unsigned char* p, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

// ---- small helpers ------------------------------------------------------------------------

struct Args {
    std::vector<std::string> pos;
    std::map<std::string, std::string> opt;
    bool has(const std::string& k) const { return opt.count(k) != 0; }
    std::string get(const std::string& k, const std::string& d) const {
        auto it = opt.find(k);
        return it == opt.end() ? d : it->second;
    }
    std::uint64_t num(const std::string& k, std::uint64_t d) const {
        auto it = opt.find(k);
        return it == opt.end() ? d : std::strtoull(it->second.c_str(), nullptr, 10);
    }
};

/// Options that take no value.
bool is_flag(const std::string& k) { return k == "verify" || k == "request" || k == "no-limit"; }

Args parse(int argc, char** argv, int from) {
    Args a;
    for (int i = from; i < argc; ++i) {
        std::string s = argv[i];
        if (s.rfind("--", 0) == 0) {
            std::string k = s.substr(2);
            if (is_flag(k) || i + 1 >= argc) a.opt[k] = "1";
            else a.opt[k] = argv[++i];
        } else {
            a.pos.push_back(s);
        }
    }
    return a;
}

std::uint64_t to_u64(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 10); }

std::string jstr(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
            o += b;
        } else {
            o += c;
        }
    }
    return o + "\"";
}

/// One JSON object, built field by field, printed as one line.
class Json {
public:
    Json& raw(const char* k, const std::string& v) {
        sep();
        s_ << jstr(k) << ':' << v;
        return *this;
    }
    Json& str(const char* k, const std::string& v) { return raw(k, jstr(v)); }
    template <class T> Json& num(const char* k, T v) {
        std::ostringstream o;
        o.precision(3);
        o << std::fixed << v;
        std::string t = o.str();
        if (std::is_integral_v<T>) t = std::to_string(v);
        return raw(k, t);
    }
    Json& boolean(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
    std::string text() const { return "{" + s_.str() + "}"; }
    void print() const {
        std::printf("%s\n", text().c_str());
        std::fflush(stdout);
    }

private:
    void sep() {
        if (!first_) s_ << ',';
        first_ = false;
    }
    std::ostringstream s_;
    bool first_ = true;
};

/// Percentiles (us) of latencies in ns, as a JSON object.
std::string percentiles(std::vector<std::int64_t> v) {
    if (v.empty()) return "null";
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
        return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
    };
    double sum = 0;
    for (auto x : v) sum += static_cast<double>(x);
    Json j;
    j.num("count", v.size())
        .num("min", at(0))
        .num("p50", at(0.5))
        .num("p90", at(0.9))
        .num("p99", at(0.99))
        .num("max", at(1.0))
        .num("mean", sum / static_cast<double>(v.size()) / 1000.0);
    return j.text();
}

std::string errc_name(const std::error_code& ec) {
    if (ec == venom::errc::timeout) return "timeout";
    if (ec == venom::errc::daemon_gone) return "daemon_gone";
    if (ec == venom::errc::channel_not_found) return "channel_not_found";
    if (ec == venom::errc::handler_failed) return "handler_failed";
    if (ec == venom::errc::permission_denied) return "permission_denied";
    if (ec == venom::errc::too_many_clients) return "too_many_clients";
    if (ec == venom::errc::buffer_too_small) return "buffer_too_small";
    return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

venom::ShellChannel connect(const std::string& name, milliseconds wait) {
    venom::ShellOptions o;
    o.connect_timeout = wait;
    o.spin_time = std::chrono::microseconds(20);
    return venom::ShellChannel::connect(name, o);
}

void touch_ready(const Args& a) {
    if (!a.has("ready-file")) return;
    std::ofstream(a.get("ready-file", "")) << getpid() << "\n";
}

/// Time left to the deadline, at least 1 ms.
nanoseconds left(steady::time_point deadline) {
    return std::max<nanoseconds>(deadline - steady::now(), milliseconds(1));
}

std::string text_of(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

// ---- echo-daemon --------------------------------------------------------------------------

std::atomic<venom::DaemonChannel*> g_daemon{nullptr};
std::atomic<bool> g_quit{false};

extern "C" void on_signal(int) {
    g_quit.store(true);
    if (auto* d = g_daemon.load()) d->stop(); // async-signal-safe
}

struct Stamp {
    std::uint64_t ns; // steady clock (shared by every namespace of this machine)
    std::uint64_t seq;
};

int echo_daemon(const Args& a) {
    const std::string name = a.pos.at(0);
    const std::size_t big = a.num("big", 0), flood = a.num("flood", 0);
    venom::ChannelConfig c{std::max<std::size_t>({a.num("data-size", 1 << 16), big, flood}), 64,
                           static_cast<std::uint32_t>(a.num("clients", 32))};
    c.max_cmd_size = c.max_response_size = static_cast<std::uint32_t>(a.num("max-msg", 4096));
    c.spin_time = std::chrono::microseconds(20);
    const auto lifetime = std::chrono::seconds(a.num("seconds", 600));
    alarm(static_cast<unsigned>(a.num("seconds", 600)) + alarm_margin_s);
    const auto slow = milliseconds(a.num("slow-ms", 0));

    venom::DaemonChannel d = venom::DaemonChannel::create(name, c);
    if (a.has("initial")) d.write_data(a.get("initial", ""));
    if (big != 0) {
        venom::StateLoan l = d.loan(big);
        fill_pattern(l.data(), big, a.num("seed", 1));
        l.publish();
    }
    std::mutex mu;
    std::vector<std::string> marks;
    std::map<std::string, std::uint64_t> next_of; // "e ID K": K must follow K - 1 per ID
    std::uint64_t order_violations = 0, ordered = 0;
    std::atomic<std::uint64_t> handled{0}, written{0};

    auto handler = [&](std::uint32_t, venom::ByteView cmd) -> std::string {
        handled.fetch_add(1);
        if (slow.count() > 0) std::this_thread::sleep_for(slow);
        const std::string_view s = cmd.as_string_view();
        if (s.rfind("set ", 0) == 0) {
            d.write_data(s.substr(4).data(), s.size() - 4);
            return "ok " + std::to_string(d.version());
        }
        if (s.rfind("sleep ", 0) == 0) {
            std::this_thread::sleep_for(milliseconds(
                std::min<std::uint64_t>(to_u64(std::string(s.substr(6))), max_sleep_ms)));
            return "slept";
        }
        if (s.rfind("mark ", 0) == 0) {
            std::lock_guard<std::mutex> g(mu);
            marks.emplace_back(s.substr(5));
            return "marked " + std::string(s.substr(5));
        }
        if (s.rfind("big ", 0) == 0) {
            std::istringstream in{std::string(s.substr(4))};
            std::size_t n = 0;
            std::uint64_t seed = 0;
            in >> n >> seed;
            venom::StateLoan l = d.loan(n);
            fill_pattern(l.data(), n, seed);
            const std::uint64_t sum = checksum(l.data(), n);
            l.publish();
            return "big " + std::to_string(d.version()) + " " + std::to_string(sum);
        }
        if (s == "stats") {
            std::lock_guard<std::mutex> g(mu);
            std::string m = "[";
            for (std::size_t i = 0; i < marks.size(); ++i) m += (i ? "," : "") + jstr(marks[i]);
            Json j;
            j.num("handled", handled.load()).raw("marks", m + "]").num("version", d.version());
            j.num("ordered", ordered).num("order_violations", order_violations);
            return j.text();
        }
        if (s.rfind("e ", 0) == 0) { // a shells echo: its commands arrive in order per shell
            std::istringstream in{std::string(s.substr(2, 64))};
            std::string id;
            std::uint64_t k = 0;
            in >> id >> k;
            std::lock_guard<std::mutex> g(mu);
            auto it = next_of.find(id);
            if ((it == next_of.end() && k != 0) || (it != next_of.end() && it->second != k))
                ++order_violations;
            next_of[id] = k + 1;
            ++ordered;
        }
        return std::string(s); // echo
    };

    std::vector<std::thread> writers;
    if (flood != 0) {
        // Pattern versions at about flood-mbps MB/s (faster than the link: the bridge skips).
        writers.emplace_back([&] {
            const double mbps = static_cast<double>(a.num("flood-mbps", 300));
            const auto period = nanoseconds(
                static_cast<std::int64_t>(static_cast<double>(flood) / (mbps * 1e6) * 1e9));
            std::uint64_t seed = 1000;
            auto next = steady::now();
            while (!g_quit.load()) {
                std::error_code ec;
                venom::StateLoan l = d.loan(flood, ec);
                if (ec) { // views pin the buffers (state_busy): try again soon
                    std::this_thread::sleep_for(milliseconds(1));
                    continue;
                }
                fill_pattern(l.data(), flood, ++seed);
                l.publish(flood, ec);
                written.fetch_add(1);
                next += period;
                std::this_thread::sleep_until(next);
                if (steady::now() > next + period * 4) next = steady::now();
            }
        });
    }
    if (a.num("stamp-hz", 0) != 0) {
        writers.emplace_back([&] {
            const auto period =
                nanoseconds(1000000000LL / static_cast<std::int64_t>(a.num("stamp-hz", 1)));
            std::uint64_t seq = 0;
            auto next = steady::now();
            while (!g_quit.load()) {
                const Stamp st{static_cast<std::uint64_t>(steady_ns()), ++seq};
                std::error_code ec;
                d.write_data(&st, sizeof st, ec);
                written.fetch_add(1);
                next += period;
                std::this_thread::sleep_until(next);
            }
        });
    }
    std::thread watchdog([&] {
        const auto end = steady::now() + lifetime;
        while (!g_quit.load() && steady::now() < end) std::this_thread::sleep_for(milliseconds(20));
        g_quit.store(true);
        d.stop();
    });

    g_daemon.store(&d);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    Json r;
    r.str("event", "ready").str("name", name).num("pid", getpid()).num("version", d.version());
    r.num("data_size", c.data_size).num("t_unix_ns", unix_ns());
    r.print();
    d.run(handler);
    g_quit.store(true);
    for (auto& t : writers) t.join();
    watchdog.join();
    g_daemon.store(nullptr);
    Json e;
    e.str("event", "exit").num("handled", handled.load()).num("written", written.load());
    e.num("version", d.version()).num("t_unix_ns", unix_ns());
    e.print();
    return exit_pass;
}

// ---- shells -------------------------------------------------------------------------------

int shells(const Args& a) {
    const std::string name = a.pos.at(0);
    const std::size_t n = to_u64(a.pos.at(1)), count = to_u64(a.pos.at(2));
    const std::size_t size = a.num("size", 0);
    const bool verify = a.has("verify");
    const auto deadline = steady::now() + milliseconds(a.num("deadline-ms", 60000));
    alarm(static_cast<unsigned>(a.num("deadline-ms", 60000) / 1000) + alarm_margin_s);

    std::vector<venom::ShellChannel> sh;
    try {
        for (std::size_t i = 0; i < n; ++i) sh.push_back(connect(name, milliseconds(5000)));
    } catch (const venom::error& e) {
        Json j;
        j.str("cmd", "shells").boolean("ok", false).str("error", e.what()).print();
        return exit_fail;
    }
    touch_ready(a);
    std::mutex mu;
    std::vector<std::int64_t> lat;
    std::map<std::string, std::uint64_t> errors;
    std::string first_error;
    std::atomic<std::uint64_t> good{0}, mismatched{0}, failed{0};
    const auto t0 = steady::now();
    std::vector<std::thread> ts;
    for (std::size_t i = 0; i < n; ++i) {
        ts.emplace_back([&, i] {
            std::vector<std::int64_t> mine;
            mine.reserve(count);
            std::vector<std::uint8_t> resp(std::max<std::size_t>(size, 64) + 64);
            for (std::size_t k = 0; k < count && steady::now() < deadline; ++k) {
                std::string p = "e " + std::to_string(getpid()) + "." + std::to_string(i) + " " +
                                std::to_string(k) + " ";
                if (p.size() < size)
                    p.append(size - p.size(), static_cast<char>('a' + (k + i) % 26));
                std::error_code ec;
                const auto s = steady_ns();
                const std::size_t m = sh[i].request(
                    p.data(), p.size(), resp.data(), resp.size(),
                    std::min<nanoseconds>(left(deadline), std::chrono::seconds(5)), ec);
                const auto e = steady_ns();
                if (ec) {
                    failed.fetch_add(1);
                    std::lock_guard<std::mutex> g(mu);
                    ++errors[errc_name(ec)];
                    if (first_error.empty())
                        first_error = errc_name(ec) + ": " + sh[i].last_error_text();
                    if (ec == venom::errc::daemon_gone) break;
                    continue;
                }
                mine.push_back(e - s);
                if (verify && (m != p.size() || std::memcmp(resp.data(), p.data(), m) != 0))
                    mismatched.fetch_add(1);
                else good.fetch_add(1);
            }
            std::lock_guard<std::mutex> g(mu);
            lat.insert(lat.end(), mine.begin(), mine.end());
        });
    }
    for (auto& t : ts) t.join();
    const double ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
    std::string errs = "{";
    for (auto& [k, v] : errors)
        errs += (errs.size() > 1 ? "," : "") + jstr(k) + ":" + std::to_string(v);
    const bool ok = good.load() == n * count && mismatched.load() == 0;
    Json j;
    j.str("cmd", "shells").boolean("ok", ok).num("shells", n).num("count", count);
    j.num("verified", good.load())
        .num("mismatched", mismatched.load())
        .num("failed", failed.load());
    j.raw("errors", errs + "}").str("first_error", first_error).num("elapsed_ms", ms);
    j.raw("rtt_us", percentiles(lat));
    j.print();
    return ok ? exit_pass : exit_fail;
}

// ---- set-read -----------------------------------------------------------------------------

int set_read(const Args& a) {
    const std::string name = a.pos.at(0);
    const std::size_t count = a.pos.size() > 1 ? to_u64(a.pos[1]) : 100;
    const auto deadline = steady::now() + milliseconds(a.num("deadline-ms", 30000));
    alarm(static_cast<unsigned>(a.num("deadline-ms", 30000) / 1000) + alarm_margin_s);
    venom::ShellChannel s = connect(name, milliseconds(5000));
    touch_ready(a);
    std::uint64_t ok = 0, stale = 0, failed = 0, min_lag_ok = 0;
    std::string first_error;
    std::vector<std::int64_t> lat;
    std::vector<std::uint8_t> buf(s.config().data_size + 1);
    for (std::size_t i = 0; i < count && steady::now() < deadline; ++i) {
        const std::string x = "v-" + std::to_string(getpid()) + "-" + std::to_string(i);
        const std::string cmd = "set " + x;
        std::error_code ec;
        const auto t = steady_ns();
        std::vector<std::uint8_t> r;
        try {
            r = s.request(cmd, std::min<nanoseconds>(left(deadline), std::chrono::seconds(5)));
        } catch (const venom::error& e) {
            ++failed;
            if (first_error.empty()) first_error = e.what();
            if (e.code() == venom::errc::daemon_gone) break;
            continue;
        }
        lat.push_back(steady_ns() - t);
        const std::string ans = text_of(r);
        const std::uint64_t v = ans.rfind("ok ", 0) == 0 ? to_u64(ans.substr(3)) : 0;
        std::uint64_t got_version = 0;
        const std::size_t n = s.read_data(buf.data(), buf.size(), ec, &got_version);
        const bool same = !ec && n == x.size() && std::memcmp(buf.data(), x.data(), n) == 0;
        if (v != 0 && same && got_version >= v) {
            ++ok;
        } else {
            ++stale;
            if (first_error.empty())
                first_error = "answer \"" + ans + "\", then read_data gave \"" +
                              std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(
                                                                         std::min(n, buf.size()))) +
                              "\" version " + std::to_string(got_version);
        }
        (void)min_lag_ok;
    }
    const bool pass = ok == count;
    Json j;
    j.str("cmd", "set-read").boolean("ok", pass).num("count", count).num("read_your_writes", ok);
    j.num("stale_reads", stale).num("failed", failed).str("first_error", first_error);
    j.raw("rtt_us", percentiles(lat)).print();
    return pass ? exit_pass : exit_fail;
}

// ---- big ----------------------------------------------------------------------------------

int big(const Args& a) {
    const std::string name = a.pos.at(0);
    const std::size_t bytes = to_u64(a.pos.at(1));
    const auto t0 = steady::now();
    const auto deadline = t0 + milliseconds(a.num("deadline-ms", 10000));
    alarm(static_cast<unsigned>(a.num("deadline-ms", 10000) / 1000) + alarm_margin_s);
    venom::ShellChannel s = connect(name, milliseconds(5000));
    touch_ready(a);
    std::uint64_t want_seed = a.num("seed", 0), want_version = 0, want_sum = 0;
    bool have_sum = a.has("want-checksum"), immediately = false;
    if (have_sum) want_sum = a.num("want-checksum", 0);
    want_version = a.num("version", 0);
    std::string error;
    if (a.has("request")) {
        if (want_seed == 0) want_seed = 0x5eed0000ULL + static_cast<std::uint64_t>(getpid());
        try {
            const std::string ans = text_of(s.request(
                "big " + std::to_string(bytes) + " " + std::to_string(want_seed), left(deadline)));
            std::istringstream in(ans);
            std::string tag;
            in >> tag >> want_version >> want_sum;
            have_sum = tag == "big";
            if (!have_sum) error = "answer \"" + ans + "\"";
        } catch (const venom::error& e) {
            error = e.what();
        }
        immediately = s.version() >= want_version;
    }
    std::vector<std::uint8_t> buf;
    std::uint64_t version = 0, seed = 0, sum = 0;
    bool whole = false, found = false;
    while (error.empty() && steady::now() < deadline) {
        std::error_code ec;
        buf.resize(s.config().data_size);
        const std::size_t n = s.read_data(buf.data(), buf.size(), ec, &version);
        if (!ec && n == bytes && version >= want_version) {
            whole = check_pattern(buf.data(), n, &seed);
            if (whole && (want_seed == 0 || seed == want_seed)) {
                sum = checksum(buf.data(), n);
                found = true;
                break;
            }
        }
        try {
            s.wait_for_update(version, std::min<nanoseconds>(left(deadline), milliseconds(100)));
        } catch (const venom::error& e) {
            error = e.what();
        }
    }
    const double ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
    const bool pass = found && (!have_sum || sum == want_sum);
    Json j;
    j.str("cmd", "big").boolean("ok", pass).num("bytes", bytes).num("version", version);
    j.num("want_version", want_version).num("seed", seed).boolean("whole", whole);
    j.num("checksum", sum).num("want_checksum", want_sum).boolean("there_at_answer", immediately);
    j.num("elapsed_ms", ms).num("t_unix_ns", unix_ns()).str("error", error).print();
    return pass ? exit_pass : exit_fail;
}

// ---- wait-gone ----------------------------------------------------------------------------

int wait_gone(const Args& a) {
    const std::string name = a.pos.at(0);
    const auto bound = milliseconds(to_u64(a.pos.at(1)));
    alarm(static_cast<unsigned>(bound.count() / 1000) + alarm_margin_s + 5);
    venom::ShellChannel s = connect(name, milliseconds(5000));
    const std::uint64_t pending_ms = a.num("pending-ms", 0);
    std::atomic<int> pending_state{0}; // 0 none, 1 waiting, 2 answered, 3 failed
    std::atomic<std::int64_t> pending_at{0};
    std::string pending_error;
    std::thread pending;
    std::unique_ptr<venom::ShellChannel> p2;
    if (pending_ms != 0) {
        p2 = std::make_unique<venom::ShellChannel>(connect(name, milliseconds(5000)));
        pending_state = 1;
        pending = std::thread([&] {
            try {
                p2->request("sleep " + std::to_string(pending_ms), bound + std::chrono::seconds(5));
                pending_state = 2;
            } catch (const venom::error& e) {
                pending_error = errc_name(e.code());
                pending_state = 3;
            }
            pending_at = unix_ns();
        });
        std::this_thread::sleep_for(milliseconds(50)); // it is on its way
    }
    std::vector<std::uint8_t> last(s.config().data_size);
    std::uint64_t last_version = 0;
    std::error_code ec;
    std::size_t last_n = s.read_data(last.data(), last.size(), ec, &last_version);
    touch_ready(a);
    const auto t0 = steady::now(), deadline = t0 + bound;
    std::int64_t gone_at = 0;
    std::string how;
    while (steady::now() < deadline) {
        try {
            const std::uint64_t v = s.version();
            if (s.wait_for_update(v, std::min<nanoseconds>(left(deadline), milliseconds(50)))) {
                last_n = s.read_data(last.data(), last.size(), ec, &last_version);
            }
        } catch (const venom::error& e) {
            gone_at = unix_ns();
            how = errc_name(e.code());
            break;
        }
    }
    // read_data keeps the last state after the daemon is gone
    std::vector<std::uint8_t> after(s.config().data_size);
    std::uint64_t after_version = 0;
    const std::size_t after_n = s.read_data(after.data(), after.size(), ec, &after_version);
    const bool kept = !ec && after_n == last_n && after_version == last_version &&
                      std::memcmp(after.data(), last.data(), after_n) == 0;
    if (pending.joinable()) pending.join();
    const bool pending_ok = pending_ms == 0 || pending_state.load() == 3;
    const bool pass = gone_at != 0 && kept && pending_ok;
    Json j;
    j.str("cmd", "wait-gone").boolean("ok", pass).num("gone_unix_ns", gone_at).str("how", how);
    j.num("waited_ms", std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    j.boolean("state_kept", kept).num("state_version", after_version).num("state_bytes", after_n);
    if (pending_ms != 0)
        j.str("pending", pending_state == 2   ? "answered"
                         : pending_state == 3 ? "failed"
                                              : "waiting")
            .str("pending_error", pending_error)
            .num("pending_unix_ns", pending_at.load());
    j.print();
    return pass ? exit_pass : exit_fail;
}

// ---- expire -------------------------------------------------------------------------------

int expire(const Args& a) {
    const std::string name = a.pos.at(0);
    const auto sleep_ms = a.num("sleep-ms", 50), timeout_ms = a.num("timeout-ms", 1);
    alarm(30);
    venom::ShellChannel s1 = connect(name, milliseconds(5000)),
                        s2 = connect(name, milliseconds(5000));
    touch_ready(a);
    const std::string tag = "late-" + std::to_string(getpid());
    std::string r1, r2, r3;
    std::thread slow([&] {
        try {
            r1 = text_of(s1.request("sleep " + std::to_string(sleep_ms), std::chrono::seconds(10)));
        } catch (const venom::error& e) {
            r1 = "error " + errc_name(e.code());
        }
    });
    std::this_thread::sleep_for(milliseconds(std::max<std::uint64_t>(sleep_ms / 5, 2)));
    const auto t = steady_ns();
    try {
        r2 = text_of(s2.request("mark " + tag, milliseconds(timeout_ms)));
    } catch (const venom::error& e) {
        r2 = "error " + errc_name(e.code());
    }
    const double r2_ms = static_cast<double>(steady_ns() - t) / 1e6;
    slow.join();
    std::this_thread::sleep_for(milliseconds(sleep_ms + 20)); // the late one's turn has passed
    try {
        r3 = text_of(s2.request("stats", std::chrono::seconds(10)));
    } catch (const venom::error& e) {
        r3 = "error " + errc_name(e.code());
    }
    const bool seen = r3.find(jstr(tag)) != std::string::npos;
    const bool pass = r2 == "error timeout" && r1 == "slept" && r3.rfind("{", 0) == 0 && !seen;
    Json j;
    j.str("cmd", "expire").boolean("ok", pass).str("slow_answer", r1).str("late_answer", r2);
    j.num("late_ms", r2_ms)
        .boolean("handler_saw_late", seen)
        .raw("stats", r3.rfind("{", 0) == 0 ? r3 : jstr(r3));
    j.print();
    return pass ? exit_pass : exit_fail;
}

// ---- rtt, state-latency, versions-per-second ----------------------------------------------

int rtt(const Args& a) {
    const std::string name = a.pos.at(0);
    const std::size_t size = std::max<std::size_t>(to_u64(a.pos.at(1)), 1);
    const auto secs = std::chrono::seconds(to_u64(a.pos.at(2)));
    alarm(static_cast<unsigned>(secs.count()) + alarm_margin_s + 5);
    venom::ShellChannel s = connect(name, milliseconds(5000));
    touch_ready(a);
    const std::string cmd(size, 'x');
    std::vector<std::uint8_t> resp(size + 64);
    std::vector<std::int64_t> lat;
    lat.reserve(1 << 20);
    std::uint64_t failed = 0;
    for (int i = 0; i < 200; ++i) { // warm-up: caches, DDS discovery of the request path
        std::error_code ec;
        s.request(cmd.data(), cmd.size(), resp.data(), resp.size(), std::chrono::seconds(2), ec);
    }
    const auto end = steady::now() + secs;
    while (steady::now() < end && lat.size() < (std::size_t{1} << 22)) {
        std::error_code ec;
        const auto t = steady_ns();
        s.request(cmd.data(), cmd.size(), resp.data(), resp.size(), std::chrono::seconds(2), ec);
        if (ec) {
            ++failed;
            if (ec == venom::errc::daemon_gone || failed > 100) break;
            continue;
        }
        lat.push_back(steady_ns() - t);
    }
    Json j;
    j.str("cmd", "rtt").boolean("ok", !lat.empty() && failed == 0).num("size", size);
    j.num("failed", failed).raw("rtt_us", percentiles(lat)).print();
    return !lat.empty() && failed == 0 ? exit_pass : exit_fail;
}

int state_latency(const Args& a) {
    const std::string name = a.pos.at(0);
    const auto secs = std::chrono::seconds(to_u64(a.pos.at(1)));
    alarm(static_cast<unsigned>(secs.count()) + alarm_margin_s + 5);
    venom::ShellChannel s = connect(name, milliseconds(5000));
    touch_ready(a);
    std::vector<std::int64_t> lat;
    std::uint64_t seen = s.version(), versions = 0, gaps = 0, last_seq = 0;
    std::string error;
    const auto end = steady::now() + secs;
    while (steady::now() < end) {
        try {
            if (!s.wait_for_update(seen, std::min<nanoseconds>(left(end), milliseconds(100))))
                continue;
        } catch (const venom::error& e) {
            error = e.what();
            break;
        }
        const std::int64_t now = steady_ns();
        Stamp st{};
        std::error_code ec;
        std::uint64_t v = 0;
        s.read(st, ec, &v);
        if (ec || v <= seen) {
            seen = std::max(seen, s.version());
            continue;
        }
        seen = v;
        ++versions;
        if (last_seq != 0 && st.seq != last_seq + 1) ++gaps;
        last_seq = st.seq;
        lat.push_back(now - static_cast<std::int64_t>(st.ns));
    }
    Json j;
    j.str("cmd", "state-latency").boolean("ok", !lat.empty() && error.empty());
    j.num("versions", versions).num("skipped_gaps", gaps).str("error", error);
    j.raw("latency_us", percentiles(lat)).print();
    return !lat.empty() && error.empty() ? exit_pass : exit_fail;
}

int versions_per_second(const Args& a) {
    const std::string name = a.pos.at(0);
    const auto secs = std::chrono::seconds(to_u64(a.pos.at(1)));
    const std::size_t want_bytes = a.num("bytes", 0);
    alarm(static_cast<unsigned>(secs.count()) + alarm_margin_s + 15);
    venom::ShellChannel s = connect(name, milliseconds(10000));
    touch_ready(a);
    std::uint64_t seen = 0, whole = 0, torn = 0, other = 0, bytes = 0, skipped = 0;
    std::string error;
    // Wait (up to 10 s) for the first pattern version of the size: the window starts there.
    const auto first_deadline = steady::now() + std::chrono::seconds(10);
    bool started = false;
    steady::time_point t0{}, end{}, t_last{};
    std::uint64_t prev_seed = 0;
    while (steady::now() < (started ? end : first_deadline)) {
        try {
            const auto until = started ? end : first_deadline;
            if (!s.wait_for_update(seen, std::min<nanoseconds>(left(until), milliseconds(200))))
                continue;
            venom::StateView v = s.view();
            if (v.version() <= seen) continue;
            seen = v.version();
            std::uint64_t seed = 0;
            if (want_bytes != 0 && v.size() != want_bytes) {
                ++other;
                continue;
            }
            const bool ok = check_pattern(v.data(), v.size(), &seed);
            if (!started) { // the first one only opens the window
                started = true;
                t0 = steady::now();
                end = t0 + secs;
                prev_seed = seed;
                continue;
            }
            if (ok) {
                ++whole;
                t_last = steady::now();
                bytes += v.size();
                if (seed > prev_seed + 1) skipped += seed - prev_seed - 1;
                prev_seed = seed;
            } else {
                ++torn;
            }
        } catch (const venom::error& e) {
            error = e.what();
            break;
        }
    }
    // Rates over the arrivals: from the window's first version to the last whole one (a
    // window end between two arrivals of 100 MB versions would otherwise skew them).
    const double el = started ? std::chrono::duration<double>(steady::now() - t0).count() : 0.0;
    const double span = whole > 0 ? std::chrono::duration<double>(t_last - t0).count() : 0.0;
    const double bps = span > 0 ? static_cast<double>(bytes) / span : 0;
    const bool pass = started && torn == 0 && whole > 0 && error.empty();
    Json j;
    j.str("cmd", "versions-per-second").boolean("ok", pass).num("bytes", want_bytes);
    j.num("whole_versions", whole)
        .num("torn", torn)
        .num("other_sizes", other)
        .num("skipped", skipped);
    j.num("seconds", el).num("span_s", span);
    j.num("versions_per_s", span > 0 ? static_cast<double>(whole) / span : 0.0);
    j.num("MB_per_s", bps / 1e6).num("Mbit_per_s", bps * 8 / 1e6).str("error", error).print();
    return pass ? exit_pass : exit_fail;
}

// ---- wait-state ---------------------------------------------------------------------------

/// Waits (at most MS) until a daemon of NAME serves on this host with a state of version >= V
/// (--version) whose bytes are T (--text) or a pattern of seed S (--seed); reconnects across
/// daemon_gone (a mirror's new incarnation). Prints when, the version and the channel's config.
int wait_state(const Args& a) {
    const std::string name = a.pos.at(0);
    const auto bound = milliseconds(to_u64(a.pos.at(1)));
    alarm(static_cast<unsigned>(bound.count() / 1000) + alarm_margin_s);
    const auto t0 = steady::now(), deadline = t0 + bound;
    const std::uint64_t want_v = a.num("version", 1);
    const bool want_text = a.has("text"), want_seed = a.has("seed"), want_sum = a.has("checksum");
    const std::string text = a.get("text", "");
    std::uint64_t version = 0, connects = 0, sum = 0, bytes = 0;
    std::string got, error, cfg = "null";
    bool done = false;
    while (!done && steady::now() < deadline) {
        std::unique_ptr<venom::ShellChannel> s;
        try {
            s = std::make_unique<venom::ShellChannel>(
                connect(name, std::chrono::duration_cast<milliseconds>(left(deadline))));
            ++connects;
        } catch (const venom::error& e) {
            error = e.what();
            break;
        }
        const venom::ChannelConfig c = s->config();
        Json cj;
        cj.num("data_size", c.data_size)
            .num("cmd_slots", c.cmd_slots)
            .num("max_clients", c.max_clients);
        cj.num("max_cmd_size", c.max_cmd_size).num("max_response_size", c.max_response_size);
        cj.num("state_buffers", c.state_buffers);
        cfg = cj.text();
        std::vector<std::uint8_t> buf(c.data_size);
        try {
            while (steady::now() < deadline) {
                std::error_code ec;
                const std::size_t n = s->read_data(buf.data(), buf.size(), ec, &version);
                if (!ec && version >= want_v) {
                    std::uint64_t seed = 0;
                    const bool text_ok =
                        !want_text ||
                        (n == text.size() && std::memcmp(buf.data(), text.data(), n) == 0);
                    const bool seed_ok = !want_seed || (check_pattern(buf.data(), n, &seed) &&
                                                        seed == a.num("seed", 0));
                    sum = checksum(buf.data(), n);
                    bytes = n;
                    const bool sum_ok = !want_sum || sum == a.num("checksum", 0);
                    got = std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(
                                                                     std::min<std::size_t>(n, 64)));
                    if (text_ok && seed_ok && sum_ok) {
                        done = true;
                        break;
                    }
                }
                s->wait_for_update(version,
                                   std::min<nanoseconds>(left(deadline), milliseconds(50)));
            }
        } catch (const venom::error& e) { // daemon_gone: a new incarnation comes
            error = e.what();
        }
    }
    for (char& ch : got)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e)
            ch = '.';
    Json j;
    j.str("cmd", "wait-state").boolean("ok", done).num("t_unix_ns", unix_ns());
    j.num("waited_ms", std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    j.num("version", version).str("state", got).num("bytes", bytes).num("checksum", sum);
    j.num("connects", connects).raw("config", cfg).str("error", done ? "" : error).print();
    return done ? exit_pass : exit_fail;
}

// ---- ask ----------------------------------------------------------------------------------

/// One request, its answer printed as a JSON string (or, if it is a JSON object, as it is).
int ask(const Args& a) {
    if (a.has("no-limit")) {
        alarm(30);
        venom::ShellChannel s = connect(a.pos.at(0), milliseconds(5000));
        const auto t0 = steady::now();
        std::string status = "ok";
        bool is_timeout = false;
        try {
            (void)s.request(a.pos.at(1).c_str());
        } catch (const venom::error& e) {
            status = e.what();
            is_timeout = e.code() == venom::errc::timeout;
        }
        Json j;
        j.str("cmd", "ask").boolean("ok", true).str("status", status);
        j.boolean("errc_timeout", is_timeout)
            .num("ms", std::chrono::duration<double, std::milli>(steady::now() - t0).count())
            .print();
        return exit_pass;
    }
    alarm(15);
    venom::ShellChannel s = connect(a.pos.at(0), milliseconds(5000));
    const std::string r = text_of(s.request(a.pos.at(1), std::chrono::seconds(10)));
    Json j;
    j.str("cmd", "ask")
        .boolean("ok", true)
        .raw("answer", r.rfind("{", 0) == 0 ? r : jstr(r))
        .print();
    return exit_pass;
}

// ---- counters, local-ok -------------------------------------------------------------------

/// commands_expired exists from layout 8 on (issue 12, design section 2c); earlier: absent (-1).
template <class S, class = void> struct expired_of {
    static std::int64_t get(const S&) { return -1; }
};
template <class S>
struct expired_of<S, std::void_t<decltype(std::declval<const S&>().commands_expired)>> {
    static std::int64_t get(const S& s) { return static_cast<std::int64_t>(s.commands_expired); }
};

int counters(const Args& a) {
    const std::string name = a.pos.at(0);
    alarm(10);
    const venom::ChannelInfo i = venom::inspect_channel(name);
    const venom::ChannelSample& s = i.sample;
    Json j;
    j.str("cmd", "counters").str("name", name).str("status", venom::to_string(i.status));
    j.boolean("alive", i.daemon.alive).num("pid", i.daemon.pid).num("layout", i.layout_version);
    j.num("version", s.state_version).num("handled", s.commands_handled);
    j.num("malformed", s.commands_malformed).num("stale", s.commands_stale);
    j.num("commands_expired", expired_of<venom::ChannelSample>::get(s)).print();
    return i.daemon.alive ? exit_pass : exit_fail;
}

int local_ok(const Args& a) {
    alarm(10);
    const venom::ChannelInfo i = venom::inspect_channel(a.pos.at(0));
    Json j;
    j.str("cmd", "local-ok").str("name", a.pos.at(0)).str("status", venom::to_string(i.status));
    j.boolean("alive", i.daemon.alive).print();
    return i.daemon.alive ? exit_pass : exit_fail;
}

int usage() {
    std::fprintf(stderr,
                 "usage: bridge_probe echo-daemon NAME [opts] | shells NAME N COUNT [--verify] "
                 "| set-read NAME [COUNT] | big NAME BYTES [--request] | wait-gone NAME MS "
                 "| expire NAME | rtt NAME SIZE SECONDS | state-latency NAME SECONDS "
                 "| versions-per-second NAME SECONDS [--bytes B] | counters NAME | local-ok NAME\n"
                 "(see the head of bridge/test/bridge_probe.cpp)\n");
    return exit_usage;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    const std::string cmd = argv[1];
    const Args a = parse(argc, argv, 2);
    struct Cmd {
        const char* name;
        std::size_t positional;
        int (*run)(const Args&);
    };
    static const Cmd table[] = {
        {"echo-daemon", 1, echo_daemon},
        {"shells", 3, shells},
        {"set-read", 1, set_read},
        {"big", 2, big},
        {"wait-gone", 2, wait_gone},
        {"expire", 1, expire},
        {"rtt", 3, rtt},
        {"state-latency", 2, state_latency},
        {"versions-per-second", 2, versions_per_second},
        {"wait-state", 2, wait_state},
        {"counters", 1, counters},
        {"ask", 2, ask},
        {"local-ok", 1, local_ok},
    };
    for (const Cmd& c : table) {
        if (cmd != c.name) continue;
        if (a.pos.size() < c.positional) return usage();
        try {
            return c.run(a);
        } catch (const std::exception& e) {
            Json j;
            j.str("cmd", cmd).boolean("ok", false).str("error", e.what()).print();
            return exit_fail;
        }
    }
    return usage();
}
