// SPDX-License-Identifier: BSL-1.0
// test/config_error_test.cpp - error codes, configuration and name validation, and every error
// the public API reports (with the channel still usable afterwards), plus the API's forms:
// handler forms, request overloads, poll/stop, moves, versions.
#include "test_support.hpp"

#include <boost/interprocess/mapped_region.hpp>
#if defined(_WIN32)
#include <boost/interprocess/windows_shared_memory.hpp>
#else
#include <boost/interprocess/shared_memory_object.hpp>
#endif

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <set>
#include <type_traits>

using namespace venom_test;
using venom::errc;
using Clock = std::chrono::steady_clock;

namespace {

/// Shell options whose request waits are bounded, so a failing test cannot hang.
venom::ShellOptions bounded_options() {
    venom::ShellOptions o;
    o.request_timeout = 10s;
    return o;
}

venom::ShellChannel connect_bounded(const std::string& name) {
    return venom::ShellChannel::connect(name, bounded_options());
}

/// A second, raw view of a channel's segment (what another process would map). The segment of
/// the daemon instance that serves the name (Windows: each instance has its own; Linux: 0).
struct RawChannel {
    venom::detail::Attachment att;
    explicit RawChannel(const std::string& name) : att(venom::detail::attach(name, {})) {}
    const venom::detail::ChannelMap& map() const { return att.map; }
    venom::detail::ControlBlock& cb() const { return *att.map.cb; }
};

/// The directory of a channel's files: /dev/shm (Linux), %TEMP% (Windows: lock and liveness
/// files; the shared memory itself is no file there).
std::string channel_file_directory() {
#if defined(_WIN32)
    return venom::detail::temp_directory();
#else
    return "/dev/shm";
#endif
}

/// Files in the channel file directory that belong to channel `name` ("venom.<name>.*").
std::vector<std::string> shm_files_of(const std::string& name) {
    std::vector<std::string> out;
    const std::string prefix = "venom." + name + ".";
    for (const auto& entry : std::filesystem::directory_iterator(channel_file_directory())) {
        const std::string f = entry.path().filename().string();
        if (f.compare(0, prefix.size(), prefix) == 0) out.push_back(f);
    }
    return out;
}

auto echo_handler() {
    return [](std::uint32_t, venom::ByteView cmd) { return cmd.to_vector(); };
}

constexpr int first_errc = 1;
constexpr int last_errc = 17;

} // namespace

// ==== error codes ====

BOOST_AUTO_TEST_CASE(errc_values_are_stable_and_in_the_venom_category) {
    // The values cross process boundaries (response status words): they must not move.
    BOOST_TEST(static_cast<int>(errc::channel_not_found) == 1);
    BOOST_TEST(static_cast<int>(errc::channel_exists) == 2);
    BOOST_TEST(static_cast<int>(errc::too_many_clients) == 3);
    BOOST_TEST(static_cast<int>(errc::message_too_large) == 4);
    BOOST_TEST(static_cast<int>(errc::buffer_too_small) == 5);
    BOOST_TEST(static_cast<int>(errc::timeout) == 6);
    BOOST_TEST(static_cast<int>(errc::daemon_gone) == 7);
    BOOST_TEST(static_cast<int>(errc::incompatible_layout) == 8);
    BOOST_TEST(static_cast<int>(errc::invalid_config) == 9);
    BOOST_TEST(static_cast<int>(errc::invalid_name) == 10);
    BOOST_TEST(static_cast<int>(errc::permission_denied) == 11);
    BOOST_TEST(static_cast<int>(errc::handler_failed) == 12);
    BOOST_TEST(static_cast<int>(errc::out_of_memory) == 13);
    BOOST_TEST(static_cast<int>(errc::corrupt_channel) == 14);
    BOOST_TEST(static_cast<int>(errc::system_failure) == 15);
    BOOST_TEST(static_cast<int>(errc::state_busy) == 16);
    BOOST_TEST(static_cast<int>(errc::wrong_size) == 17);

    std::set<std::string> messages;
    for (int v = first_errc; v <= last_errc; ++v) {
        BOOST_TEST_CONTEXT("errc value " << v) {
            const auto e = static_cast<errc>(v);
            const std::error_code ec = e; // implicit: is_error_code_enum
            BOOST_TEST(ec.value() == v);
            BOOST_TEST(ec.category().name() == std::string("venom"));
            BOOST_TEST(&ec.category() == &venom::venom_category());
            BOOST_TEST((ec == e));
            BOOST_TEST((venom::make_error_code(e) == e));
            BOOST_TEST(!ec.message().empty());
            BOOST_TEST(ec.message() != "unknown venom error");
            messages.insert(ec.message());
            for (int w = first_errc; w <= last_errc; ++w)
                if (w != v) BOOST_TEST(!(ec == static_cast<errc>(w)), "equal to value " << w);
            // Not equal to a generic code with the same number.
            BOOST_TEST((ec != std::error_code(v, std::generic_category())));
        }
    }
    BOOST_TEST(messages.size() == static_cast<std::size_t>(last_errc - first_errc + 1),
               "every code has its own message");
    BOOST_TEST(!venom::venom_category().message(0).empty());
    BOOST_TEST(!venom::venom_category().message(999).empty());
    BOOST_TEST((std::make_error_code(std::errc::timed_out) != errc::timeout));
}

BOOST_AUTO_TEST_CASE(every_errc_message_says_what_to_do) {
    // "Every message says what to do about the error" (error.hpp). A message passes when it has
    // a summary, a colon, and an instruction: one of these advice words.
    const std::set<std::string> advice{
        "start", "stop",      "choose",  "disconnect", "create", "raise",
        "retry", "reconnect", "rebuild", "see",        "use",    "run",
        "free",  "enlarge",   "restart", "restarted",  "check",  "increase",
        "pass",  "should",    "try",     "call again"};
    for (int v = first_errc; v <= last_errc; ++v) {
        const std::string msg = venom::make_error_code(static_cast<errc>(v)).message();
        std::vector<std::string> words;
        std::string w;
        for (char c : msg + " ") {
            if (std::isalpha(static_cast<unsigned char>(c))) {
                w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            } else if (!w.empty()) {
                words.push_back(w);
                w.clear();
            }
        }
        bool has_advice = contains(msg, "call again");
        for (const auto& word : words) has_advice = has_advice || advice.count(word) != 0;
        BOOST_TEST(contains(msg, ":"), "errc " << v << ": \"" << msg << "\" has no summary");
        BOOST_TEST(has_advice, "errc " << v << ": \"" << msg << "\" does not say what to do");
    }
}

BOOST_AUTO_TEST_CASE(venom_error_is_a_system_error) {
    static_assert(std::is_base_of_v<std::system_error, venom::error>);
    static_assert(std::is_base_of_v<std::exception, venom::error>);
    try {
        throw venom::error(errc::timeout, "the detail");
    } catch (const std::system_error& e) {
        BOOST_TEST((e.code() == errc::timeout));
        BOOST_TEST(contains(e.what(), "the detail"));
    }
    try {
        throw venom::error(errc::daemon_gone);
    } catch (const std::exception& e) {
        BOOST_TEST(!std::string(e.what()).empty());
    }
    const venom::error e(venom::make_error_code(errc::corrupt_channel), "x");
    BOOST_TEST((e.code() == errc::corrupt_channel));
}

// ==== configuration ====

BOOST_AUTO_TEST_CASE(channel_config_rejects_each_field_at_zero_and_over_its_limit) {
    using venom::limits;
    const venom::ChannelConfig base{1024, 8, 4};
    BOOST_CHECK_NO_THROW(base.validate());

    struct Case {
        const char* field;
        std::function<void(venom::ChannelConfig&)> set;
    };
    const std::vector<Case> cases{
        {"data_size", [](auto& c) { c.data_size = 0; }},
        {"data_size", [](auto& c) { c.data_size = limits::max_data_size + 1; }},
        {"cmd_slots", [](auto& c) { c.cmd_slots = 0; }},
        {"cmd_slots", [](auto& c) { c.cmd_slots = limits::max_cmd_slots + 1; }},
        {"max_clients", [](auto& c) { c.max_clients = 0; }},
        {"max_clients", [](auto& c) { c.max_clients = limits::max_clients + 1; }},
        {"max_cmd_size", [](auto& c) { c.max_cmd_size = 0; }},
        {"max_cmd_size", [](auto& c) { c.max_cmd_size = limits::max_message_size + 1; }},
        {"max_response_size", [](auto& c) { c.max_response_size = 0; }},
        {"max_response_size", [](auto& c) { c.max_response_size = limits::max_message_size + 1; }},
        {"state_buffers", [](auto& c) { c.state_buffers = 0; }},
        {"state_buffers", [](auto& c) { c.state_buffers = limits::min_state_buffers - 1; }},
        {"state_buffers", [](auto& c) { c.state_buffers = limits::max_state_buffers + 1; }},
        {"wait", [](auto& c) { c.wait = static_cast<venom::WaitPolicy>(7); }},
        {"spin_time", [](auto& c) { c.spin_time = std::chrono::microseconds(-1); }},
        {"spin_time", [](auto& c) { c.spin_time = 1s + 1us; }},
        {"access", [](auto& c) { c.access = static_cast<venom::Access>(9); }},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        venom::ChannelConfig c = base;
        cases[i].set(c);
        const std::string ctx =
            std::string("case ") + std::to_string(i) + " (" + cases[i].field + ")";
        const std::string what = error_of([&] { c.validate(); }, errc::invalid_config, ctx);
        BOOST_TEST(contains(what, cases[i].field),
                   ctx << ": message \"" << what << "\" names the field");
    }
}

BOOST_AUTO_TEST_CASE(channel_config_accepts_each_field_at_its_limit) {
    using venom::limits;
    const venom::ChannelConfig base{1, 1, 1};
    BOOST_CHECK_NO_THROW(base.validate());
    std::vector<std::function<void(venom::ChannelConfig&)>> at_limit{
        [](auto& c) { c.data_size = limits::max_data_size; },
        [](auto& c) { c.cmd_slots = limits::max_cmd_slots; },
        [](auto& c) { c.max_clients = limits::max_clients; },
        [](auto& c) { c.max_cmd_size = limits::max_message_size; },
        [](auto& c) { c.max_cmd_size = 1; },
        [](auto& c) { c.max_response_size = limits::max_message_size; },
        [](auto& c) { c.max_response_size = 1; },
        [](auto& c) { c.state_buffers = limits::min_state_buffers; },
        [](auto& c) { c.state_buffers = limits::max_state_buffers; },
        [](auto& c) { c.wait = venom::WaitPolicy::busy_poll; },
        [](auto& c) { c.spin_time = std::chrono::microseconds(0); },
        [](auto& c) { c.spin_time = 1s; },
        [](auto& c) { c.access = venom::Access::everyone; },
        [](auto& c) { c.access = venom::Access::group; },
    };
    for (std::size_t i = 0; i < at_limit.size(); ++i) {
        venom::ChannelConfig c = base;
        at_limit[i](c);
        BOOST_CHECK_NO_THROW(c.validate());
    }
}

BOOST_AUTO_TEST_CASE(oversized_channel_is_rejected_before_any_shared_memory_exists) {
    using venom::limits;
    // Each field is within its own limit, but together they need more than max_segment_size.
    std::vector<venom::ChannelConfig> huge;
    venom::ChannelConfig a{limits::max_data_size, 1, 1};
    a.state_buffers = limits::max_state_buffers; // 8 x 64 GiB
    huge.push_back(a);
    venom::ChannelConfig b{limits::max_data_size, limits::max_cmd_slots, limits::max_clients};
    b.max_cmd_size = limits::max_message_size;      // staging: 1024 x 64 MiB, answers the same,
    b.max_response_size = limits::max_message_size; // state 3 x 64 GiB
    huge.push_back(b);
    venom::ChannelConfig c{std::size_t{48} << 30, 1, limits::max_clients};
    c.max_response_size = limits::max_message_size; // 1024 x (64 + 64) MiB: 128 GiB,
    c.max_cmd_size = limits::max_message_size;
    c.state_buffers = 2; // + 2 x 48 GiB: 224 GiB, under the limit
    BOOST_CHECK_NO_THROW(venom::detail::Sizes::of(c));
    c.state_buffers = 3; // + 3 x 48 GiB: 272 GiB, over it
    huge.push_back(c);
    for (std::size_t i = 0; i < huge.size(); ++i) {
        ChannelName name("cfg_huge");
        BOOST_CHECK_NO_THROW(huge[i].validate());
        const std::string what =
            error_of([&] { (void)venom::DaemonChannel::create(name.str(), huge[i]); },
                     errc::invalid_config, "huge config " + std::to_string(i));
        BOOST_TEST(contains(what, "shared memory"), what);
        const auto left = shm_files_of(name.str());
        BOOST_TEST(left.empty(), "files left in " << channel_file_directory() << ": "
                                                  << (left.empty() ? "" : left.front()));
    }
    // A config that fails validate() leaves nothing either.
    ChannelName name("cfg_zero");
    error_of(
        [&] {
            (void)venom::DaemonChannel::create(name.str(), venom::ChannelConfig{0, 1, 1});
        },
        errc::invalid_config, "data_size 0");
    BOOST_TEST(shm_files_of(name.str()).empty());
}

BOOST_AUTO_TEST_CASE(shell_options_validate) {
    BOOST_CHECK_NO_THROW(venom::ShellOptions{}.validate());
    struct Case {
        const char* field;
        std::function<void(venom::ShellOptions&)> set;
    };
    const std::vector<Case> bad{
        {"wait", [](auto& o) { o.wait = static_cast<venom::WaitPolicy>(3); }},
        {"spin_time", [](auto& o) { o.spin_time = std::chrono::microseconds(-1); }},
        {"spin_time", [](auto& o) { o.spin_time = 2s; }},
        {"request_timeout", [](auto& o) { o.request_timeout = std::chrono::nanoseconds(-1); }},
        {"daemon_check", [](auto& o) { o.daemon_check = 0ms; }},
        {"daemon_check", [](auto& o) { o.daemon_check = -5ms; }},
        {"daemon_check", [](auto& o) { o.daemon_check = 10001ms; }},
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        venom::ShellOptions o;
        bad[i].set(o);
        const std::string ctx =
            std::string("ShellOptions ") + bad[i].field + " case " + std::to_string(i);
        const std::string what = error_of([&] { o.validate(); }, errc::invalid_config, ctx);
        BOOST_TEST(contains(what, bad[i].field), ctx << ": " << what);
        // connect checks the options before it looks for the channel.
        ChannelName name("opt");
        error_of([&] { (void)venom::ShellChannel::connect(name.str(), o); }, errc::invalid_config,
                 ctx + " via connect");
    }
    const std::vector<std::function<void(venom::ShellOptions&)>> good{
        [](auto& o) { o.wait = venom::WaitPolicy::busy_poll; },
        [](auto& o) { o.spin_time = 0us; },
        [](auto& o) { o.spin_time = 1s; },
        [](auto& o) { o.request_timeout = 0ns; },
        [](auto& o) { o.daemon_check = 1ms; },
        [](auto& o) { o.daemon_check = 10s; },
    };
    for (const auto& set : good) {
        venom::ShellOptions o;
        set(o);
        BOOST_CHECK_NO_THROW(o.validate());
    }
}

// ==== names ====

BOOST_AUTO_TEST_CASE(invalid_names_are_rejected) {
    const std::vector<std::string> bad{"",
                                       std::string(101, 'a'),
                                       std::string(1000, 'b'),
                                       "a/b",
                                       "/abc",
                                       "a b",
                                       " ",
                                       ".",
                                       "..",
                                       "caf\xc3\xa9",
                                       "\xff",
                                       std::string("a\0b", 3),
                                       "a\\b",
                                       "a*b",
                                       "a:b",
                                       "tab\there",
                                       "new\nline"};
    for (std::size_t i = 0; i < bad.size(); ++i) {
        const std::string ctx = "bad name #" + std::to_string(i);
        const std::string what =
            error_of([&] { venom::validate_name(bad[i]); }, errc::invalid_name, ctx);
        BOOST_TEST(!what.empty(), ctx);
        error_of(
            [&] {
                (void)venom::DaemonChannel::create(bad[i], venom::ChannelConfig{64, 2, 2});
            },
            errc::invalid_name, ctx + " via create");
        error_of([&] { (void)venom::ShellChannel::connect(bad[i]); }, errc::invalid_name,
                 ctx + " via connect");
    }
}

BOOST_AUTO_TEST_CASE(valid_names_of_1_to_100_chars_are_accepted) {
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    for (std::size_t len = 1; len <= venom::limits::max_name_length; ++len) {
        std::string n;
        for (std::size_t i = 0; i < len; ++i) n += alphabet[(len * 7 + i) % alphabet.size()];
        if (n == "." || n == "..") n[0] = 'x';
        BOOST_CHECK_NO_THROW(venom::validate_name(n));
    }
    for (char c : alphabet) BOOST_CHECK_NO_THROW(venom::validate_name(std::string(1, c) + "x"));
    BOOST_CHECK_NO_THROW(venom::validate_name("..."));
    BOOST_CHECK_NO_THROW(venom::validate_name("-"));

    // A real channel with a 100-character name (unique: built from a ChannelName).
    ChannelName base("name100");
    std::string n = base.str();
    n += std::string(venom::limits::max_name_length - n.size(), 'z');
    BOOST_REQUIRE(n.size() == 100u);
    remove_channel_files(n);
    {
        auto d = venom::DaemonChannel::create(n, venom::ChannelConfig{64, 2, 2});
        d.write_data("long");
        auto s = connect_bounded(n);
        BOOST_TEST(to_string(s.read_data()) == "long");
    }
    BOOST_TEST(!channel_files_exist(n));
    remove_channel_files(n);
}

// ==== create / connect ====

BOOST_AUTO_TEST_CASE(create_with_bad_config_throws_invalid_config) {
    ChannelName name("badcfg");
    venom::ChannelConfig c{64, 2, 2};
    c.state_buffers = 1;
    const std::string what = error_of([&] { (void)venom::DaemonChannel::create(name.str(), c); },
                                      errc::invalid_config, "state_buffers 1");
    BOOST_TEST(contains(what, "state_buffers"));
    error_of(
        [&] {
            (void)venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 0, 2});
        },
        errc::invalid_config, "cmd_slots 0");
    BOOST_TEST(!channel_files_exist(name.str()));
    // The name is still free for a good config.
    BOOST_CHECK_NO_THROW(
        (void)venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 2, 2}));
}

BOOST_AUTO_TEST_CASE(connect_to_a_missing_channel_is_channel_not_found) {
    ChannelName name("missing");
    const std::string what = error_of([&] { (void)venom::ShellChannel::connect(name.str()); },
                                      errc::channel_not_found, "missing channel");
    BOOST_TEST(!what.empty());
    // A lock file (and segment) left behind with no daemon holding them: still not found.
    {
        std::FILE* f = std::fopen(venom::detail::lock_path(name.str()).c_str(), "w");
        BOOST_REQUIRE(f != nullptr);
        std::fclose(f);
        error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
                 "lock file without a daemon");
        remove_channel_files(name.str());
    }
    // After the daemon is gone, the channel is missing again.
    { auto d = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 2, 2}); }
    error_of([&] { (void)venom::ShellChannel::connect(name.str()); }, errc::channel_not_found,
             "channel whose daemon was destroyed");
}

BOOST_AUTO_TEST_CASE(create_twice_is_channel_exists_and_the_first_still_works) {
    ChannelName name("twice");
    auto first = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    first.write_data("first");
    const std::string what = error_of(
        [&] {
            (void)venom::DaemonChannel::create(name.str(), venom::ChannelConfig{128, 4, 2});
        },
        errc::channel_exists, "second create");
    BOOST_TEST(contains(what, name.str()));
    auto shell = connect_bounded(name.str());
    BOOST_TEST(to_string(shell.read_data()) == "first");
    BOOST_TEST(shell.config().data_size == 64u);
    Server server(first, echo_handler());
    BOOST_TEST(to_string(shell.request(std::string("still here"))) == "still here");
}

BOOST_AUTO_TEST_CASE(too_many_clients_and_client_id_reuse) {
    ChannelName name("clients");
    constexpr std::uint32_t max_clients = 4;
    auto daemon =
        venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, max_clients});
    std::vector<std::optional<venom::ShellChannel>> shells(max_clients);
    std::set<std::uint32_t> ids;
    for (auto& s : shells) {
        s.emplace(connect_bounded(name.str()));
        BOOST_TEST(s->client_id() < max_clients);
        ids.insert(s->client_id());
    }
    BOOST_TEST(ids.size() == max_clients);
    const std::string what = error_of([&] { (void)connect_bounded(name.str()); },
                                      errc::too_many_clients, "connect number max_clients + 1");
    BOOST_TEST(contains(what, std::to_string(max_clients)), what);

    const std::uint32_t freed = shells[2]->client_id();
    shells[2].reset();
    auto again = connect_bounded(name.str());
    BOOST_TEST(again.client_id() == freed);
    error_of([&] { (void)connect_bounded(name.str()); }, errc::too_many_clients, "full again");

    // Each shell's id is what the handler sees, and the reused slot answers its new owner.
    Server server(daemon, [](std::uint32_t id, venom::ByteView) { return std::to_string(id); });
    BOOST_TEST(to_string(again.request(std::string("who"))) == std::to_string(freed));
    for (auto& s : shells)
        if (s)
            BOOST_TEST(to_string(s->request(std::string("who"))) == std::to_string(s->client_id()));
}

// ==== size errors ====

BOOST_AUTO_TEST_CASE(write_data_over_data_size_is_message_too_large) {
    ChannelName name("bigstate");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{100, 2, 2});
    daemon.write_data(std::string(100, 'x'));
    const std::string what = error_of([&] { daemon.write_data(std::string(101, 'y')); },
                                      errc::message_too_large, "write_data 101 > 100");
    BOOST_TEST(contains(what, "101"));
    BOOST_TEST(daemon.version() == 1u);
    auto shell = connect_bounded(name.str());
    BOOST_TEST(to_string(shell.read_data()) == std::string(100, 'x'));
}

BOOST_AUTO_TEST_CASE(command_over_max_cmd_size_fails_at_the_shell) {
    ChannelName name("bigcmd");
    venom::ChannelConfig config{64, 4, 2};
    config.max_cmd_size = 16;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = connect_bounded(name.str());
    RawChannel raw(name.str());

    const std::string cmd(17, 'c');
    char resp[64];
    std::string what =
        error_of([&] { (void)shell.request(cmd.data(), cmd.size(), resp, sizeof resp); },
                 errc::message_too_large, "17-byte command, pointer form");
    BOOST_TEST(contains(what, "max_cmd_size"), what);
    error_of([&] { (void)shell.request(cmd); }, errc::message_too_large,
             "17-byte command, vector form");
    std::error_code ec;
    const auto t0 = Clock::now();
    BOOST_TEST(shell.request(cmd.data(), cmd.size(), resp, sizeof resp, 5s, ec) == 0u);
    BOOST_TEST((ec == errc::message_too_large));
    BOOST_TEST(ms_since(t0) < 1000.0, "refused without waiting");

    // Nothing reached the queue: the daemon has nothing to handle.
    BOOST_TEST(raw.map().shared->tail.load() == 0u);
    int calls = 0;
    BOOST_TEST(daemon.poll([&](std::uint32_t, venom::ByteView) { ++calls; }) == 0u);
    BOOST_TEST(calls == 0);

    // Exactly max_cmd_size still goes through.
    Server server(daemon,
                  [](std::uint32_t, venom::ByteView c) { return std::to_string(c.size()); });
    BOOST_TEST(to_string(shell.request(std::string(16, 'd'))) == "16");
}

BOOST_AUTO_TEST_CASE(response_over_max_response_size_fails_at_that_client_only) {
    ChannelName name("bigresp");
    venom::ChannelConfig config{64, 8, 3};
    config.max_response_size = 32;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto a = connect_bounded(name.str());
    auto b = connect_bounded(name.str());
    Server server(daemon, [](std::uint32_t, venom::ByteView cmd) {
        if (cmd == "big") return std::string(33, 'B');
        if (cmd == "max") return std::string(32, 'M');
        return cmd.to_string();
    });
    std::string what = error_of([&] { (void)a.request(std::string("big")); },
                                errc::message_too_large, "33-byte answer");
    BOOST_TEST(contains(what, "max_response_size"), what);
    char buf[64];
    std::error_code ec;
    BOOST_TEST(a.request("big", 3, buf, sizeof buf, 5s, ec) == 0u);
    BOOST_TEST((ec == errc::message_too_large));
    BOOST_TEST(contains(a.last_error_text(), "33"), a.last_error_text());
    // The daemon keeps serving, both the failing client and the others.
    BOOST_TEST(to_string(b.request(std::string("hello b"))) == "hello b");
    BOOST_TEST(to_string(a.request(std::string("hello a"))) == "hello a");
    BOOST_TEST(to_string(a.request(std::string("max"))) == std::string(32, 'M'));
}

BOOST_AUTO_TEST_CASE(response_writer_over_capacity_is_message_too_large) {
    ChannelName name("writerbig");
    venom::ChannelConfig config{64, 8, 2};
    config.max_response_size = 8;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = connect_bounded(name.str());
    std::atomic<std::size_t> capacity{0};
    Server server(daemon, [&](std::uint32_t, venom::ByteView cmd, venom::ResponseWriter& w) {
        capacity = w.capacity();
        if (cmd == "resize") w.resize(9);
        else if (cmd == "append") w.append(std::string_view("123456789"));
        else w.append(std::string_view("ok"));
    });
    error_of([&] { (void)shell.request(std::string("resize")); }, errc::message_too_large,
             "resize(9)");
    error_of([&] { (void)shell.request(std::string("append")); }, errc::message_too_large,
             "append 9");
    BOOST_TEST(to_string(shell.request(std::string("fine"))) == "ok");
    BOOST_TEST(capacity.load() == 8u);
}

// ==== handler errors ====

BOOST_AUTO_TEST_CASE(handler_exception_is_handler_failed_and_the_daemon_goes_on) {
    ChannelName name("boom");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 2});
    auto shell = connect_bounded(name.str());
    std::atomic<int> calls{0};
    Server server(daemon, [&](std::uint32_t, venom::ByteView cmd) -> std::vector<std::uint8_t> {
        ++calls;
        if (cmd == "throw") throw std::runtime_error("boom");
        if (cmd == "throw-int") throw 42;
        if (cmd == "throw-venom") throw venom::error(errc::timeout, "inner timeout");
        if (cmd == "throw-long") throw std::runtime_error("long:" + std::string(5000, 'L'));
        return cmd.to_vector();
    });
    const std::string what = error_of([&] { (void)shell.request(std::string("throw")); },
                                      errc::handler_failed, "runtime_error");
    BOOST_TEST(contains(what, "boom"), what);
    char buf[16];
    std::error_code ec;
    BOOST_TEST(shell.request("throw", 5, buf, sizeof buf, 5s, ec) == 0u);
    BOOST_TEST((ec == errc::handler_failed));
    BOOST_TEST(contains(shell.last_error_text(), "boom"), shell.last_error_text());
    error_of([&] { (void)shell.request(std::string("throw-int")); }, errc::handler_failed,
             "throw 42");
    // A venom::error thrown by the handler is the handler's failure, not the shell's timeout.
    const std::string w2 = error_of([&] { (void)shell.request(std::string("throw-venom")); },
                                    errc::handler_failed, "handler throws venom timeout");
    BOOST_TEST(contains(w2, "inner timeout"), w2);
    // A what() longer than the slot's error text is cut, not overflowed.
    BOOST_TEST(shell.request("throw-long", 10, buf, sizeof buf, 5s, ec) == 0u);
    BOOST_TEST((ec == errc::handler_failed));
    BOOST_TEST(shell.last_error_text().size() <= venom::detail::error_text_capacity);
    BOOST_TEST(contains(shell.last_error_text(), "long:LLLL"), shell.last_error_text());
    BOOST_TEST(to_string(shell.request(std::string("alive"))) == "alive");
    BOOST_TEST(calls.load() == 6);
}

// ==== buffer_too_small ====

BOOST_AUTO_TEST_CASE(read_data_buffer_too_small) {
    ChannelName name("smallread");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 2, 2});
    auto shell = connect_bounded(name.str());
    daemon.write_data("0123456789");
    char buf[16];
    std::memset(buf, '#', sizeof buf);
    const std::string what =
        error_of([&] { (void)shell.read_data(buf, 4); }, errc::buffer_too_small, "read 10 into 4");
    BOOST_TEST(contains(what, "10"), what);
    std::error_code ec;
    std::uint64_t version = 0;
    BOOST_TEST(shell.read_data(buf, 9, ec, &version) == 10u); // the length needed
    BOOST_TEST((ec == errc::buffer_too_small));
    BOOST_TEST(version == 1u);
    BOOST_TEST(std::string(buf, sizeof buf) == std::string(16, '#'), "nothing copied");
    BOOST_TEST(shell.read_data(buf, 10, ec) == 10u);
    BOOST_TEST(!ec);
    BOOST_TEST(std::string(buf, 10) == "0123456789");
}

BOOST_AUTO_TEST_CASE(request_buffer_too_small) {
    ChannelName name("smallresp");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    Server server(daemon, [](std::uint32_t, venom::ByteView cmd) {
        return std::string(cmd.to_string() + "-0123456789"); // cmd + 11 bytes
    });
    char buf[64];
    const std::string what = error_of([&] { (void)shell.request("ab", 2, buf, 4); },
                                      errc::buffer_too_small, "13-byte answer into 4");
    BOOST_TEST(contains(what, "13"), what);
    std::error_code ec;
    BOOST_TEST(shell.request("abc", 3, buf, 5, 5s, ec) == 14u); // the length needed
    BOOST_TEST((ec == errc::buffer_too_small));
    BOOST_TEST(contains(shell.last_error_text(), "14"));
    // The next request gets its own answer.
    const std::size_t n = shell.request("xy", 2, buf, sizeof buf, 5s, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(std::string(buf, n) == "xy-0123456789");
}

// ==== timeout ====

BOOST_AUTO_TEST_CASE(request_timeout_then_the_next_request_gets_its_own_answer) {
    ChannelName name("timeout");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    char buf[64];
    auto t0 = Clock::now();
    error_of([&] { (void)shell.request("first", 5, buf, sizeof buf, 50ms); }, errc::timeout,
             "no daemon loop");
    const double waited = ms_since(t0);
    BOOST_TEST(waited >= 50.0);
    BOOST_TEST(waited < 2000.0);
    // "first" is still queued, and the daemon may read it from the shell's staging area until
    // it answers: the next requests wait for that answer first, and are not sent when their
    // own time runs out before it.
    std::error_code ec;
    t0 = Clock::now();
    BOOST_TEST(shell.request("second", 6, buf, sizeof buf, 30ms, ec) == 0u);
    BOOST_TEST((ec == errc::timeout));
    BOOST_TEST(ms_since(t0) >= 30.0);
    BOOST_TEST(contains(shell.last_error_text(), "was not sent"), shell.last_error_text());
    error_of([&] { (void)shell.request(std::string("third"), 20ms); }, errc::timeout,
             "vector form");

    std::vector<std::string> seen;
    std::mutex seen_mutex;
    Server server(daemon, [&](std::uint32_t, venom::ByteView cmd) {
        std::lock_guard<std::mutex> g(seen_mutex);
        seen.push_back(cmd.to_string());
        return cmd.to_vector();
    });
    const std::size_t n = shell.request("fourth", 6, buf, sizeof buf, 5s, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(std::string(buf, n) == "fourth", "the answer of an earlier, timed-out request");
    BOOST_TEST(to_string(shell.request(std::string("fifth"))) == "fifth");
    server.stop();
    // The timed-out "first" ran (it was queued); "second" and "third" were never sent.
    const std::vector<std::string> expected{"first", "fourth", "fifth"};
    BOOST_TEST(seen == expected, boost::test_tools::per_element());
}

// ==== daemon_gone ====

BOOST_AUTO_TEST_CASE(daemon_gone_wakes_a_blocked_request_promptly) {
    ChannelName name("gone");
    std::optional<venom::DaemonChannel> daemon;
    daemon.emplace(venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2}));
    daemon->write_data("last words");
    auto shell = connect_bounded(name.str());
    std::optional<RawChannel> raw; // it holds the liveness file open (Windows: keeps its name)
    raw.emplace(name.str());

    std::error_code ec;
    std::atomic<bool> returned{false};
    Clock::time_point returned_at{};
    std::thread t([&] {
        char buf[16];
        shell.request("x", 1, buf, sizeof buf, 20s, ec);
        returned_at = Clock::now();
        returned = true;
    });
    // Wait until the command is queued and the shell is waiting for its answer.
    BOOST_TEST(eventually([&] { return raw->map().shared->tail.load() == 1u; }, 5s));
    std::this_thread::sleep_for(50ms);
    BOOST_TEST(!returned.load());
    const auto t0 = Clock::now();
    daemon.reset();
    BOOST_TEST(eventually([&] { return returned.load(); }, 5s));
    t.join();
    const double ms = std::chrono::duration<double, std::milli>(returned_at - t0).count();
    BOOST_TEST_MESSAGE("blocked request noticed the daemon's end after " << ms << " ms");
    BOOST_TEST(ms < 1000.0);
    BOOST_TEST((ec == errc::daemon_gone), ec.message());

    // A new request fails at once, without queueing anything.
    char buf[16];
    const auto t1 = Clock::now();
    BOOST_TEST(shell.request("y", 1, buf, sizeof buf, 5s, ec) == 0u);
    BOOST_TEST((ec == errc::daemon_gone));
    BOOST_TEST(ms_since(t1) < 200.0);
    BOOST_TEST(raw->map().shared->tail.load() == 1u);
    error_of([&] { (void)shell.request(std::string("z")); }, errc::daemon_gone, "thrown form");
    // The last state stays readable.
    BOOST_TEST(to_string(shell.read_data()) == "last words");
    BOOST_TEST(channel_files_gone_after_close(name.str()));
    { venom::ShellChannel closing = std::move(shell); }
    raw.reset();
    BOOST_TEST(!channel_files_exist(name.str())); // the last shell closed: nothing at all is left
}

BOOST_AUTO_TEST_CASE(wait_for_update_true_false_and_daemon_gone) {
    ChannelName name("update");
    std::optional<venom::DaemonChannel> daemon;
    daemon.emplace(venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2}));
    auto shell = connect_bounded(name.str());
    BOOST_TEST(shell.version() == 0u);

    // Already newer: true at once.
    daemon->write_data("v1");
    BOOST_TEST(shell.wait_for_update(0, 1s));
    // Timeout: false, after the time.
    auto t0 = Clock::now();
    BOOST_TEST(!shell.wait_for_update(1, 50ms));
    BOOST_TEST(ms_since(t0) >= 50.0);
    // A write from another thread wakes the waiter.
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        daemon->write_data("v2");
    });
    t0 = Clock::now();
    const bool woke = shell.wait_for_update(1, 5s);
    const double ms = ms_since(t0);
    writer.join();
    BOOST_TEST(woke);
    BOOST_TEST(ms < 2000.0);
    BOOST_TEST(shell.version() == 2u);

    // Blocked in another thread when the daemon goes: daemon_gone, promptly.
    std::atomic<int> outcome{0}; // 1 daemon_gone, 2 returned, 3 other error
    Clock::time_point done{};
    std::thread waiter([&] {
        try {
            shell.wait_for_update(2, 20s);
            outcome = 2;
        } catch (const venom::error& e) {
            outcome = e.code() == errc::daemon_gone ? 1 : 3;
        }
        done = Clock::now();
    });
    std::this_thread::sleep_for(50ms);
    t0 = Clock::now();
    daemon.reset();
    BOOST_TEST(eventually([&] { return outcome.load() != 0; }, 5s));
    waiter.join();
    BOOST_TEST(outcome.load() == 1);
    const double gone_ms = std::chrono::duration<double, std::milli>(done - t0).count();
    BOOST_TEST(gone_ms < 1000.0);
    // And afterwards at once.
    error_of([&] { (void)shell.wait_for_update(2, 5s); }, errc::daemon_gone,
             "after the daemon is gone");
}

// ==== layout ====

BOOST_AUTO_TEST_CASE(incompatible_layout_magic_and_version) {
    ChannelName name("layout");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    daemon.write_data("ok");

    // A daemon of another layout version says so in its record (which only it writes): the
    // shell refuses it as incompatible, naming both versions.
    {
        auto lock = venom::detail::LockFile::open_own(venom::detail::lock_path(name.str()));
        venom::detail::NameRecord r{};
        BOOST_REQUIRE(venom::detail::read_record(lock, name.str(), r));
        r.layout = venom::detail::layout_version + 1;
        venom::detail::write_record(lock, &r);
        const std::string what = error_of([&] { (void)connect_bounded(name.str()); },
                                          errc::incompatible_layout, "record of another version");
        BOOST_TEST(contains(what, std::to_string(venom::detail::layout_version + 1)), what);
        r.layout = venom::detail::layout_version;
        venom::detail::write_record(lock, &r);
    }

    // A segment whose own magic or version disagrees with a valid record was written over:
    // corrupt_channel, not "rebuild with another venom".
    RawChannel raw(name.str());
    venom::detail::ControlBlock* cb = &raw.cb();
    BOOST_TEST(cb->version == venom::detail::layout_version);
    cb->magic = venom::detail::channel_magic ^ 0xff;
    std::string what =
        error_of([&] { (void)connect_bounded(name.str()); }, errc::corrupt_channel, "bad magic");
    BOOST_TEST(contains(what, "magic"), what);
    cb->magic = venom::detail::channel_magic;
    cb->version = venom::detail::layout_version + 1;
    what =
        error_of([&] { (void)connect_bounded(name.str()); }, errc::corrupt_channel, "bad version");
    BOOST_TEST(contains(what, std::to_string(venom::detail::layout_version + 1)), what);
    cb->version = venom::detail::layout_version;

    auto shell = connect_bounded(name.str());
    BOOST_TEST(to_string(shell.read_data()) == "ok");
}

// ==== handler forms ====

BOOST_AUTO_TEST_CASE(handler_returning_vector) {
    ChannelName name("hvec");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    Server server(daemon, [](std::uint32_t, venom::ByteView cmd) {
        std::vector<std::uint8_t> v(cmd.begin(), cmd.end());
        std::reverse(v.begin(), v.end());
        return v;
    });
    BOOST_TEST(to_string(shell.request(std::string("abc"))) == "cba");
}

BOOST_AUTO_TEST_CASE(handler_returning_string) {
    ChannelName name("hstr");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    Server server(daemon,
                  [](std::uint32_t, venom::ByteView cmd) { return "got:" + cmd.to_string(); });
    BOOST_TEST(to_string(shell.request(std::string("abc"))) == "got:abc");
}

BOOST_AUTO_TEST_CASE(handler_returning_void_answers_empty) {
    ChannelName name("hvoid");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    std::atomic<int> calls{0};
    std::string last;
    Server server(daemon, [&](std::uint32_t, venom::ByteView cmd) {
        last = cmd.to_string();
        ++calls;
    });
    BOOST_TEST(shell.request(std::string("fire")).empty());
    char buf[8] = {};
    std::error_code ec;
    BOOST_TEST(shell.request("and forget", 10, buf, sizeof buf, 5s, ec) == 0u);
    BOOST_TEST(!ec);
    BOOST_TEST(calls.load() == 2);
    server.stop();
    BOOST_TEST(last == "and forget");
}

BOOST_AUTO_TEST_CASE(handler_zero_allocation_form) {
    ChannelName name("hwriter");
    venom::ChannelConfig config{64, 4, 2};
    config.max_response_size = 100;
    auto daemon = venom::DaemonChannel::create(name.str(), config);
    auto shell = connect_bounded(name.str());
    Server server(daemon, [](std::uint32_t id, venom::ByteView cmd, venom::ResponseWriter& w) {
        if (cmd == "fill") { // write straight into the slot, then resize
            std::memset(w.data(), 'F', w.capacity());
            w.resize(w.capacity());
            return;
        }
        if (cmd == "empty") return;
        w.append(std::string_view("id="));
        w.append(std::to_string(id));
        w.append(":");
        w.append(cmd.data(), cmd.size());
    });
    BOOST_TEST(to_string(shell.request(std::string("hey"))) ==
               "id=" + std::to_string(shell.client_id()) + ":hey");
    BOOST_TEST(to_string(shell.request(std::string("fill"))) == std::string(100, 'F'));
    BOOST_TEST(shell.request(std::string("empty")).empty());
    // After a long answer, a short one has its own length.
    BOOST_TEST(to_string(shell.request(std::string("x"))) ==
               "id=" + std::to_string(shell.client_id()) + ":x");
}

// ==== request overloads ====

BOOST_AUTO_TEST_CASE(request_overloads) {
    ChannelName name("overloads");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    Server server(daemon,
                  [](std::uint32_t, venom::ByteView cmd) { return "<" + cmd.to_string() + ">"; });

    const std::vector<std::uint8_t> v1 = shell.request(std::string("str"));
    BOOST_TEST(to_string(v1) == "<str>");
    BOOST_TEST(to_string(shell.request(std::string_view("view"))) == "<view>");
    BOOST_TEST(to_string(shell.request(std::vector<std::uint8_t>{'v', 'e', 'c'})) == "<vec>");
    BOOST_TEST(to_string(shell.request("literal")) == "<literal>");
    BOOST_TEST(to_string(shell.request(std::string("timed"), 5s)) == "<timed>");
    BOOST_TEST(to_string(shell.request(std::string_view("timed view"),
                                       std::chrono::milliseconds(5000))) == "<timed view>");
    BOOST_TEST(to_string(shell.request(std::string(""))) == "<>");

    char buf[32];
    BOOST_TEST(std::string(buf, shell.request("ptr", 3, buf, sizeof buf)) == "<ptr>");
    BOOST_TEST(std::string(buf, shell.request("ptr-timed", 9, buf, sizeof buf, 5s)) ==
               "<ptr-timed>");
    std::error_code ec = venom::make_error_code(errc::system_failure); // must be cleared
    const std::size_t n = shell.request("ec", 2, buf, sizeof buf, 5s, ec);
    BOOST_TEST(!ec);
    BOOST_TEST(std::string(buf, n) == "<ec>");
}

// ==== poll and stop ====

BOOST_AUTO_TEST_CASE(poll_handles_what_is_pending_without_waiting) {
    ChannelName name("poll");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 8, 4});
    std::vector<std::string> seen;
    auto handler = [&](std::uint32_t, venom::ByteView cmd) {
        seen.push_back(cmd.to_string());
        return cmd.to_vector();
    };
    // Nothing pending: returns 0 at once.
    auto t0 = Clock::now();
    BOOST_TEST(daemon.poll(handler) == 0u);
    BOOST_TEST(ms_since(t0) < 100.0);

    // Three commands left in the queue by requests that timed out.
    std::vector<venom::ShellChannel> shells;
    for (int i = 0; i < 3; ++i) shells.push_back(connect_bounded(name.str()));
    char buf[16];
    for (int i = 0; i < 3; ++i) {
        std::error_code ec;
        const std::string cmd = "c" + std::to_string(i);
        shells[i].request(cmd.data(), cmd.size(), buf, sizeof buf, 1ms, ec);
        BOOST_TEST((ec == errc::timeout));
    }
    t0 = Clock::now();
    BOOST_TEST(daemon.poll(handler) == 3u);
    BOOST_TEST(daemon.poll(handler) == 0u);
    BOOST_TEST(ms_since(t0) < 500.0);
    const std::vector<std::string> expected{"c0", "c1", "c2"};
    BOOST_TEST(seen == expected, boost::test_tools::per_element());

    // A real request, served by polling from this thread while the shell waits in another.
    std::error_code ec;
    std::size_t n = 0;
    char answer[16];
    std::atomic<bool> done{false};
    std::thread t([&] {
        n = shells[1].request("real", 4, answer, sizeof answer, 5s, ec);
        done = true;
    });
    std::size_t handled = 0;
    const auto end = Clock::now() + 5s;
    while (!done.load() && Clock::now() < end) {
        handled += daemon.poll(handler);
        std::this_thread::sleep_for(1ms);
    }
    t.join();
    BOOST_TEST(handled == 1u);
    BOOST_TEST(!ec);
    BOOST_TEST(std::string(answer, n) == "real");
}

BOOST_AUTO_TEST_CASE(stop_from_inside_the_handler_makes_run_return) {
    ChannelName name("stopin");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    std::atomic<bool> run_returned{false};
    std::thread t([&] {
        daemon.run([&](std::uint32_t, venom::ByteView cmd) {
            if (cmd == "stop") daemon.stop();
            return cmd.to_vector();
        });
        run_returned = true;
    });
    BOOST_TEST(to_string(shell.request(std::string("before"))) == "before");
    BOOST_TEST(!run_returned.load());
    BOOST_TEST(to_string(shell.request(std::string("stop"))) ==
               "stop"); // answered, then run returns
    const bool returned = eventually([&] { return run_returned.load(); }, 5s);
    BOOST_TEST(returned);
    if (!returned) daemon.stop();
    t.join();
    // Not serving now: a request fails at once with daemon_gone (README: stop()), saying so;
    // a new run() serves again.
    const std::string what = error_of([&] { (void)shell.request(std::string("nobody"), 5s); },
                                      errc::daemon_gone, "after stop");
    BOOST_TEST(contains(what, "stopped serving"), what);
    daemon.poll(echo_handler()); // serving again from here on (run() in a thread starts later)
    Server server(daemon, echo_handler());
    BOOST_TEST(to_string(shell.request(std::string("again"))) == "again");
}

BOOST_AUTO_TEST_CASE(stop_from_another_thread_ends_an_idle_run_promptly) {
    ChannelName name("stopout");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    std::vector<double> times;
    for (int round = 0; round < 7; ++round) {
        std::atomic<bool> returned{false};
        Clock::time_point at{};
        std::thread t([&] {
            daemon.run(echo_handler());
            at = Clock::now();
            returned = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(30 + 7 * round)); // idle, blocked
        BOOST_TEST(!returned.load());
        const auto t0 = Clock::now();
        daemon.stop();
        const bool ok = eventually([&] { return returned.load(); }, 5s);
        BOOST_TEST(ok);
        t.join();
        times.push_back(std::chrono::duration<double, std::milli>(at - t0).count());
        BOOST_TEST(times.back() < 1000.0);
    }
    std::sort(times.begin(), times.end());
    BOOST_TEST_MESSAGE("stop -> run returned: median " << times[times.size() / 2] << " ms, max "
                                                       << times.back() << " ms");
    // stop() wakes the blocked run(); without the wake it would sleep out its 100 ms slice.
    BOOST_TEST(times[times.size() / 2] < 20.0);
}

// ==== moves, versions ====

BOOST_AUTO_TEST_CASE(daemon_and_shell_are_movable) {
    static_assert(std::is_nothrow_move_constructible_v<venom::DaemonChannel>);
    static_assert(std::is_nothrow_move_assignable_v<venom::DaemonChannel>);
    static_assert(std::is_nothrow_move_constructible_v<venom::ShellChannel>);
    static_assert(std::is_nothrow_move_assignable_v<venom::ShellChannel>);
    static_assert(!std::is_copy_constructible_v<venom::DaemonChannel>);
    static_assert(!std::is_copy_constructible_v<venom::ShellChannel>);

    ChannelName name("move");
    ChannelName other("move_other");
    auto d1 = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    venom::DaemonChannel d2 = std::move(d1);
    d2.write_data("moved daemon");
    BOOST_TEST(d2.name() == name.str());
    BOOST_TEST(d2.version() == 1u);

    auto s1 = connect_bounded(name.str());
    const std::uint32_t id = s1.client_id();
    venom::ShellChannel s2 = std::move(s1);
    BOOST_TEST(s2.client_id() == id);
    BOOST_TEST(to_string(s2.read_data()) == "moved daemon");

    // Move-assigning over a live daemon closes the channel it held.
    auto d3 = venom::DaemonChannel::create(other.str(), venom::ChannelConfig{64, 4, 2});
    BOOST_TEST(channel_files_exist(other.str()));
    d3 = std::move(d2);
    BOOST_TEST(!channel_files_exist(other.str()));
    BOOST_TEST(d3.name() == name.str());

    // Move-assigning over a connected shell frees that shell's slot.
    auto s3 = connect_bounded(name.str());
    const std::uint32_t s3_id = s3.client_id();
    s3 = std::move(s2);
    BOOST_TEST(s3.client_id() == id);
    auto s4 = connect_bounded(name.str());
    BOOST_TEST(s4.client_id() == s3_id);

    Server server(d3, [](std::uint32_t cid, venom::ByteView) { return std::to_string(cid); });
    BOOST_TEST(to_string(s3.request(std::string("who"))) == std::to_string(id));
    BOOST_TEST(to_string(s4.request(std::string("who"))) == std::to_string(s3_id));
}

BOOST_AUTO_TEST_CASE(version_counts_writes_and_empty_state_reads_zero) {
    ChannelName name("version");
    auto daemon = venom::DaemonChannel::create(name.str(), venom::ChannelConfig{64, 4, 2});
    auto shell = connect_bounded(name.str());
    BOOST_TEST(daemon.version() == 0u);
    BOOST_TEST(shell.version() == 0u);
    char buf[64];
    std::memset(buf, '#', sizeof buf);
    BOOST_TEST(shell.read_data(buf, sizeof buf) == 0u);
    BOOST_TEST(shell.read_data().empty());
    std::error_code ec;
    std::uint64_t v = 99;
    BOOST_TEST(shell.read_data(buf, 0, ec, &v) == 0u);
    BOOST_TEST(!ec);
    BOOST_TEST(v == 0u);
    for (std::uint64_t i = 1; i <= 25; ++i) {
        daemon.write_data("state " + std::to_string(i));
        BOOST_TEST(daemon.version() == i);
        BOOST_TEST(shell.version() == i);
        const std::size_t n = shell.read_data(buf, sizeof buf, ec, &v);
        BOOST_TEST(!ec);
        BOOST_TEST(v == i);
        BOOST_TEST(std::string(buf, n) == "state " + std::to_string(i));
    }
    daemon.write_data(std::string_view(""));
    BOOST_TEST(daemon.version() == 26u);
    BOOST_TEST(shell.read_data().empty());
    const std::vector<std::uint8_t> bytes{1, 2, 3};
    daemon.write_data(bytes);
    daemon.write_data(bytes.data(), bytes.size());
    BOOST_TEST(shell.version() == 28u);
    BOOST_TEST((shell.read_data() == bytes));
}

VENOM_TEST_MAIN("config_error")
