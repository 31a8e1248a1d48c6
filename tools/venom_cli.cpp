// SPDX-License-Identifier: BSL-1.0
// tools/venom_cli.cpp - `venom`, the operator's tool: see into the venom channels running on
// this machine (like AeronStat for Aeron or iox2 for iceoryx2).
//
//   venom list                          channels: daemon alive/dead, clients, state, updates, age
//   venom stat NAME [--watch]           one channel in detail: config, clients, queue, counters
//   venom read NAME [--follow]          its state (--hex, --text, --raw), each new version
//   venom call NAME CMD                 one request, its answer
//   venom rm NAME                       remove a stale channel (refuses while its daemon lives)
//   venom bench [ARGS...]               runs venom_bench, if it is built next to venom
//   venom bridge ARGS...                runs venom_bridge (channels between hosts over DDS), if
//                                       it is built next to venom
//   venom serve NAME --echo|--exec CMD  hosts a channel: state from stdin or a file, answers by
//                                       a command (tools/cli/serve.hpp)
//   venom wait NAME [--timeout MS]      until a live daemon serves NAME (tools/cli/wait.hpp)
//   venom top                           every channel, refreshed: rates, queue, heartbeat, errors
//                                       (tools/cli/top.hpp; colour: tools/cli/color.hpp)
//   venom completion bash               a bash completion script; `venom help --man`: the man
//                                       page (both from the command table: tools/cli/docs.hpp)
//
// `list` and `stat` only look (venom/inspect.hpp, through tools/cli/inspect.hpp): they map the
// segment read-only and probe its liveness locks, never writing or locking anything. The tool
// uses venom's public API only (tools/dev.sh check greps for the detail namespace). `read` and
// `call` connect as an ordinary shell (they hold a client slot while they run). Exit codes: see
// print_main_help() and the README ("The venom tool").
#include "cli/args.hpp"
#include "cli/color.hpp"
#include "cli/docs.hpp"
#include "cli/format.hpp"
#include "cli/inspect.hpp"
#include "cli/json.hpp"
#include "cli/os.hpp"
#include "cli/serve.hpp"
#include "cli/top.hpp"
#include "cli/wait.hpp"

#include <venom/venom.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace venom_cli;
using namespace std::chrono_literals;

namespace {

// ---- exit codes, errors ------------------------------------------------------------------------

enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,       ///< the operation failed (timeout, handler failed, too many clients...)
    exit_usage = 2,        ///< bad command, option or argument
    exit_not_found = 3,    ///< no such channel
    exit_not_running = 4,  ///< the channel's daemon is not running (stale), or went away
    exit_daemon_alive = 5, ///< a live daemon serves the channel: rm refused, serve cannot take it
    exit_not_built = 6,    ///< bench/bridge: venom_bench or venom_bridge is not built
};

const char* const exit_code_help =
    "exit codes:\n"
    "  0  success\n"
    "  1  the operation failed; the message says why (timeout, handler failed, ...)\n"
    "  2  usage error: unknown command or option, missing or bad argument\n"
    "  3  no such channel\n"
    "  4  the channel's daemon is not running: a stale channel (its daemon was killed), or\n"
    "     the daemon stopped while the command ran; stat and read still print what it holds\n"
    "  5  a live daemon serves the channel: rm refused, or serve cannot take the name\n"
    "  6  bench/bridge: not built (venom_bench or venom_bridge)\n";

/// A failure with its exit code and a key for --json ("channel_not_found", ...).
struct Failure {
    int code;
    std::string key;
    std::string message;
};
[[noreturn]] void fail(int code, std::string key, std::string message) {
    throw Failure{code, std::move(key), std::move(message)};
}

/// A usage error: exit 2, with the command's synopsis.
struct Usage {
    std::string message;
};
[[noreturn]] void usage_error(std::string message) { throw Usage{std::move(message)}; }

const char* errc_key(int v) {
    switch (static_cast<venom::errc>(v)) {
    case venom::errc::channel_not_found: return "channel_not_found";
    case venom::errc::channel_exists: return "channel_exists";
    case venom::errc::too_many_clients: return "too_many_clients";
    case venom::errc::message_too_large: return "message_too_large";
    case venom::errc::buffer_too_small: return "buffer_too_small";
    case venom::errc::timeout: return "timeout";
    case venom::errc::daemon_gone: return "daemon_gone";
    case venom::errc::incompatible_layout: return "incompatible_layout";
    case venom::errc::invalid_config: return "invalid_config";
    case venom::errc::invalid_name: return "invalid_name";
    case venom::errc::permission_denied: return "permission_denied";
    case venom::errc::handler_failed: return "handler_failed";
    case venom::errc::out_of_memory: return "out_of_memory";
    case venom::errc::corrupt_channel: return "corrupt_channel";
    case venom::errc::system_failure: return "system_failure";
    case venom::errc::state_busy: return "state_busy";
    case venom::errc::wrong_size: return "wrong_size";
    }
    return "error";
}

int exit_for(const std::error_code& ec) {
    if (ec == venom::errc::channel_not_found) return exit_not_found;
    if (ec == venom::errc::daemon_gone) return exit_not_running;
    if (ec == venom::errc::invalid_name) return exit_usage;
    return exit_failed;
}

// ---- signals -----------------------------------------------------------------------------------

/// Set by Ctrl-C (and SIGINT/SIGTERM on POSIX) once catch_interrupts() ran (tools/cli/os.hpp).
const os::StopFlag& g_interrupted = os::interrupted;

/// For the commands that run until stopped (--watch, --follow): Ctrl-C ends them cleanly (the
/// client slot is given back), and a closed pipe (`| head`) ends them quietly.
void catch_interrupts() { os::catch_interrupts(); }

/// Sleeps `d` unless interrupted; false if interrupted.
bool nap(std::chrono::milliseconds d) {
    const auto end = steady::now() + d;
    while (!g_interrupted) {
        const auto now = steady::now();
        if (now >= end) return true;
        std::this_thread::sleep_for(std::min<steady::duration>(end - now, 20ms));
    }
    return false;
}

bool stdout_broken() { return std::ferror(stdout) != 0; }

// ---- command-line parsing ----------------------------------------------------------------------

struct Context {
    std::string command;
    bool json = false;
};

struct CommandSpec {
    const char* name;
    const char* synopsis;
    const char* summary;
    const char* description;
    OptionTable options;
    const char* options_caption; ///< the --help listing's title
    int (*run)(Context&, const std::vector<std::string>&);
};

/// The words after the command, against its table; a bad one is a usage error (exit 2).
Args parse(const std::vector<std::string>& words, const OptionTable& table,
           std::size_t max_positionals) {
    try {
        return parse_args(table, words, max_positionals);
    } catch (const ArgError& e) {
        usage_error(e.what());
    }
}

const Option json_option{"json", 0, nullptr, "print JSON (one object per line) instead of text",
                         nullptr};

/// Typed getters: a value that does not parse is a usage error, as parse()'s are.
long long integer_arg(const Args& a, const char* opt, long long fallback) {
    try {
        return a.integer(opt, fallback);
    } catch (const ArgError& e) {
        usage_error(e.what());
    }
}

std::string channel_arg(const Args& a) {
    if (a.positionals().empty()) usage_error("missing the channel NAME");
    const auto& name = a.positionals()[0];
    try {
        venom::validate_name(name);
    } catch (const venom::error& e) {
        usage_error(std::string("bad channel NAME: ") + e.what());
    }
    return name;
}

std::chrono::milliseconds ms_arg(const Args& a, const char* opt, long long fallback,
                                 long long min_value = 0) {
    if (!a.has(opt)) return std::chrono::milliseconds(fallback);
    const long long v = integer_arg(a, opt, fallback);
    if (v < min_value)
        usage_error(std::string("--") + opt + " must be at least " + std::to_string(min_value) +
                    ", got " + std::to_string(v));
    // No duration anywhere near the limit is meant; a huge one is a mistake to say, not to wrap.
    constexpr long long max_ms = 1000LL * 60 * 60 * 24 * 365 * 100; // a century
    if (v > max_ms)
        usage_error(std::string("--") + opt + " must be at most " + std::to_string(max_ms) +
                    " (a century), got " + std::to_string(v));
    return std::chrono::milliseconds(v);
}

long long count_arg(const Args& a) {
    const long long v = integer_arg(a, "count", 0);
    if (v < 0) usage_error("--count must not be negative, got " + std::to_string(v));
    return v;
}

/// The colours of a command's text output from its --color option (color.hpp): none with
/// --json, nor with auto unless stdout is a terminal, NO_COLOR is unset or empty and TERM is
/// not dumb. A bad value is a usage error.
Palette palette_arg(const Context& ctx, const Args& a) {
    try {
        return Palette::from(color_when(a), ctx.json);
    } catch (const ArgError& e) {
        usage_error(e.what());
    }
}

/// The file whose absence makes `name` missing: the segment (Linux); on Windows a missing
/// channel has no incarnation, so no liveness file path: its name lock file.
std::string missing_file(const std::string& name) {
    const venom::ChannelPaths p = venom::channel_paths(name);
    return p.segment.empty() ? p.lock : p.segment;
}

[[noreturn]] void channel_missing(const std::string& name) {
    fail(exit_not_found, "channel_not_found",
         "no channel \"" + name + "\" on this machine (no " + missing_file(name) + ")");
}

[[noreturn]] void channel_not_running(const Inspection& ins) {
    std::string what = "channel \"" + ins.name + "\" has no running daemon";
    if (ins.status == Status::starting) what = "channel \"" + ins.name + "\" is still starting";
    else if (ins.status == Status::stopped)
        what = "channel \"" + ins.name + "\" is stopped: its daemon (pid " + ins.pid_text() +
               ") does not serve requests now";
    else if (ins.mapped())
        what += ": it is stale, its daemon (pid " + ins.pid_text() + ") is dead; `venom rm " +
                ins.name + "` removes it";
    else if (!ins.problem.empty()) what += " (" + ins.problem + ")";
    fail(exit_not_running, "daemon_not_running", what);
}

bool stale_like(Status s) { return venom::is_leftover(s); }

// ---- showing bytes (read, call) ----------------------------------------------------------------

struct Format {
    enum Kind { automatic, text, hex, raw } kind = automatic;
    std::size_t limit = 4096; ///< bytes shown; 0: all
};

Format format_arg(const Context& ctx, const Args& a) {
    Format f;
    const int n = int{a.has("hex")} + int{a.has("text")} + int{a.has("raw")};
    if (n > 1) usage_error("choose one of --hex, --text and --raw");
    if (a.has("hex")) f.kind = Format::hex;
    if (a.has("text")) f.kind = Format::text;
    if (a.has("raw")) {
        if (ctx.json) usage_error("--raw writes bytes, --json writes JSON: choose one");
        f.kind = Format::raw;
        f.limit = 0;
        os::binary_stdout(); // Windows: no \n -> \r\n in the bytes (tools/cli/os.hpp)
    }
    if (a.has("limit")) {
        const long long l = integer_arg(a, "limit", 0);
        if (l < 0) usage_error("--limit must not be negative, got " + std::to_string(l));
        f.limit = static_cast<std::size_t>(l);
    }
    return f;
}

/// The shown part of n bytes.
std::size_t shown_bytes(const Format& f, std::size_t n) {
    return f.limit != 0 && n > f.limit ? f.limit : n;
}

bool looks_like_text(const std::uint8_t* p, std::size_t n, std::size_t shown) {
    // A limit may cut a UTF-8 character in two: judge the whole when it is small.
    return is_text(p, n <= (1u << 20) ? n : shown);
}

/// Adds "text" or "hex" (and "truncated") for bytes to a JSON object.
void json_bytes(Json& j, const Format& f, const std::uint8_t* p, std::size_t n) {
    const std::size_t shown = shown_bytes(f, n);
    const bool text =
        f.kind == Format::text || (f.kind == Format::automatic && looks_like_text(p, n, shown));
    if (text) j.kv("text", escaped_text(p, shown));
    else j.kv("hex", hex_string(p, shown));
    j.kv("truncated", shown < n);
}

/// Writes bytes to stdout as text, hex or raw. `prefix` opens the first line (follow mode).
void print_bytes(const Context& ctx, const Format& f, const std::uint8_t* p, std::size_t n,
                 const std::string& prefix) {
    if (f.kind == Format::raw) {
        if (n != 0) std::fwrite(p, 1, shown_bytes(f, n), stdout);
        std::fflush(stdout);
        return;
    }
    const std::size_t shown = shown_bytes(f, n);
    const bool text =
        f.kind == Format::text || (f.kind == Format::automatic && looks_like_text(p, n, shown));
    std::string out = prefix;
    if (text) {
        out += escaped_text(p, shown);
        if (out.empty() || out.back() != '\n') out += '\n';
    } else {
        if (!prefix.empty()) out += std::to_string(n) + " bytes\n";
        out += hex_dump(p, shown);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (shown < n)
        std::fprintf(stderr, "venom %s: showed %zu of %zu bytes; --limit 0 shows all\n",
                     ctx.command.c_str(), shown, n);
}

// ---- venom list --------------------------------------------------------------------------------

const Option list_options[] = {
    {"names", 0, nullptr, "print only the channels' names, one per line (for scripts)", nullptr},
    color_option,
    json_option,
};

void summary_json(Json& j, const Inspection& ins, const Counters& c) {
    j.begin_object();
    j.kv("name", ins.name)
        .kv("status", status_name(ins.status))
        .kv("stale", stale_like(ins.status));
    // Liveness is known whenever the status is: from the locks, or the kernel's lock table for
    // another user's files. Only "unknown" leaves it open.
    if (ins.status == Status::unknown) j.key("daemon_alive").null();
    else j.kv("daemon_alive", ins.daemon_alive);
    if (ins.daemon_pid() != 0) j.kv("daemon_pid", ins.daemon_pid());
    else j.key("daemon_pid").null();
    j.kv("readable", ins.mapped()).kv("owner_uid", ins.info().owner_uid);
    if (ins.mapped()) {
        const auto& m = ins.config();
        j.kv("clients", ins.clients_alive()).kv("max_clients", m.max_clients);
        j.kv("state_size", m.data_size).kv("state_length", c.state_length);
        j.kv("updates", c.state_version).kv("age_s", ins.age_seconds());
        j.kv("segment_bytes", ins.info().layout.segment_bytes);
    }
    if (!ins.problem.empty()) j.kv("problem", ins.problem);
    j.end_object();
}

int cmd_list(Context& ctx, const std::vector<std::string>& args) {
    const Args given = parse(args, list_options, 0);
    const Palette pal = palette_arg(ctx, given);
    if (given.has("names")) { // the bare names (the completion script's source): nothing else
        if (ctx.json) usage_error("choose one of --names and --json");
        for (const auto& n : venom::list_channels()) std::printf("%s\n", n.c_str());
        return exit_ok;
    }
    std::vector<Inspection> found;
    for (const auto& n : channel_names()) {
        auto ins = Inspection::open(n);
        if (ins.status != Status::missing) found.push_back(std::move(ins));
    }
    if (ctx.json) {
        Json j;
        j.begin_object().key("channels").begin_array();
        for (const auto& ins : found) summary_json(j, ins, ins.sample());
        j.end_array().end_object().print();
        return exit_ok;
    }
    if (found.empty()) {
        std::printf("no venom channels in %s\n", venom::channel_directory().c_str());
        return exit_ok;
    }
    struct Row {
        std::string name, daemon, clients, state, updates, age, note;
        Status status = Status::missing;
    };
    std::vector<Row> rows;
    std::size_t stale = 0;
    for (const auto& ins : found) {
        Row r;
        r.name = ins.name;
        r.status = ins.status;
        const auto c = ins.sample();
        // "dead" only for a daemon known to be gone; "alive" whenever a live one holds the
        // channel (also another user's, whose files this user may not read).
        const char* life = "dead";
        switch (ins.status) {
        case Status::alive:
        case Status::stopped:
        case Status::starting: life = "alive"; break;
        case Status::unknown: life = "unknown"; break;
        case Status::foreign: life = "-"; break;
        default: break;
        }
        r.daemon = std::string(life);
        if (ins.daemon_pid() != 0 && ins.status != Status::foreign)
            r.daemon = ins.pid_text() + " " + life;
        if (ins.mapped()) {
            const auto& m = ins.config();
            r.clients = std::to_string(ins.clients_alive()) + "/" + std::to_string(m.max_clients);
            r.state = human_bytes(m.data_size);
            r.updates = std::to_string(c.state_version);
            r.age = human_duration(ins.age_seconds());
        } else {
            r.clients = r.state = r.updates = r.age = "-";
        }
        const bool unreadable_other =
            ins.problem_code == venom::errc::permission_denied && ins.status != Status::foreign;
        switch (ins.status) {
        case Status::stale: r.note = "STALE"; break;
        case Status::closed: r.note = "STALE (closed)"; break;
        case Status::died_creating: r.note = "STALE (died creating)"; break;
        case Status::starting: r.note = "starting"; break;
        case Status::stopped: r.note = "stopped"; break;
        case Status::foreign: r.note = "NOT VENOM'S"; break;
        case Status::unknown: r.note = "unknown"; break;
        default: break;
        }
        if (unreadable_other)
            r.note += std::string(r.note.empty() ? "" : ", ") + "no access (uid " +
                      std::to_string(ins.info().owner_uid) + ")";
        if (stale_like(ins.status)) ++stale;
        if (!ins.problem.empty() && !unreadable_other) {
            // venom's messages end with what to do in general; the row keeps what went wrong.
            std::string p = ins.problem;
            if (ins.problem_code != venom::errc{}) {
                const std::string advice =
                    ": " + venom::make_error_code(ins.problem_code).message();
                if (p.size() > advice.size() &&
                    p.compare(p.size() - advice.size(), advice.size(), advice) == 0)
                    p.erase(p.size() - advice.size());
            }
            r.note += (r.note.empty() ? "" : ": ") + p;
        }
        rows.push_back(std::move(r));
    }
    std::size_t w[6] = {4, 6, 7, 5, 7, 3};
    for (const auto& r : rows) {
        const std::string* f[6] = {&r.name, &r.daemon, &r.clients, &r.state, &r.updates, &r.age};
        for (int i = 0; i < 6; ++i) w[i] = std::max(w[i], f[i]->size());
    }
    // b, the DAEMON cell, comes padded (and coloured: the padding counts only its text).
    auto line = [&](const std::string& a, const std::string& b, const std::string& c,
                    const std::string& d, const std::string& e, const std::string& f) {
        char buf[512];
        std::snprintf(buf, sizeof buf, "%-*s  %s  %-*s  %*s  %*s  %*s", static_cast<int>(w[0]),
                      a.c_str(), b.c_str(), static_cast<int>(w[2]), c.c_str(),
                      static_cast<int>(w[3]), d.c_str(), static_cast<int>(w[4]), e.c_str(),
                      static_cast<int>(w[5]), f.c_str());
        return std::string(buf);
    };
    const std::string daemon_header = "DAEMON" + std::string(w[1] - 6, ' ');
    std::printf(
        "%s\n",
        pal.header(line("NAME", daemon_header, "CLIENTS", "STATE", "UPDATES", "AGE")).c_str());
    for (const auto& r : rows) {
        const std::string daemon = pal.pad(r.daemon, w[1], Palette::code_for(r.status));
        // The note is the row's last cell: colouring it (its first word: the status) moves
        // no column.
        std::string note;
        if (!r.note.empty()) {
            const std::size_t word = std::min(r.note.find(':'), r.note.find(','));
            note = "  " + pal.status(r.note.substr(0, word), r.status) +
                   (word == std::string::npos ? "" : r.note.substr(word));
        }
        std::printf("%s%s\n", line(r.name, daemon, r.clients, r.state, r.updates, r.age).c_str(),
                    note.c_str());
    }
    if (stale != 0)
        std::printf(
            "\n%zu stale channel%s: the daemon died and left its files; `venom rm NAME` "
            "(or `venom rm --all-stale`) removes them\n",
            stale, stale == 1 ? "" : "s");
    return exit_ok;
}

// ---- venom stat --------------------------------------------------------------------------------

const Option stat_options[] = {
    {"watch", 'w', nullptr, "refresh every second (every --interval) until Ctrl-C", nullptr},
    {"interval", 0, "MS",
     "rates are measured over MS milliseconds (default 200); with --watch, the refresh period "
     "(default 1000)",
     nullptr},
    {"count", 0, "N", "with --watch: stop after N refreshes", nullptr},
    color_option,
    json_option,
};

/// A live daemon whose heartbeat is this old while commands wait and none is handled: STUCK?.
constexpr double stuck_after_s = 1.0;

double per_second(std::uint64_t a, std::uint64_t b, double dt) {
    return dt > 0 && b >= a ? static_cast<double>(b - a) / dt : 0.0;
}

/// How long ago the daemon beat, or why that is not known.
std::string heartbeat_text(const Inspection& ins, const Counters& c0, const Counters& c1) {
    const auto& age = c1.heartbeat_age;
    if (!age) {
        if (c1.beats == 0) return "never (run()/poll() not called)";
        return "unknown (its clock reads ahead of this one)";
    }
    const double s = std::chrono::duration<double>(*age).count();
    std::string t = fixed(s, 2) + " s ago (" + std::to_string(c1.beats) + " beats)";
    if (ins.status == Status::alive && s >= stuck_after_s && c1.queue_depth != 0 &&
        c1.commands_handled == c0.commands_handled)
        t = "STUCK? " + fixed(s, 1) + " s, queue depth " + std::to_string(c1.queue_depth) +
            ", nothing handled in " +
            std::to_string(static_cast<long long>(
                std::chrono::duration<double, std::milli>(c1.at - c0.at).count())) +
            " ms";
    else if (ins.status != Status::alive && ins.status != Status::stopped) t += ", no daemon";
    return t;
}

/// "HH:MM:SS.mmm" (local time) of a unix time in nanoseconds.
std::string clock_text(std::uint64_t unix_ns) {
    const std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000u);
    const std::tm tm = os::local_time(t);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<unsigned>(unix_ns / 1000000u % 1000u));
    return buf;
}

/// An error's code as the tool names errc values ("handler_failed"), or its number.
std::string error_code_text(const venom::HandlerError& e) {
    return e.known_code ? std::string(errc_key(static_cast<int>(e.code)))
                        : "code " + std::to_string(e.code);
}

void stat_json(const Inspection& ins, const Counters& c0, const Counters& c1) {
    Json j;
    const double dt = std::chrono::duration<double>(c1.at - c0.at).count();
    const venom::ChannelInfo& info = ins.info();
    j.begin_object();
    j.kv("name", ins.name)
        .kv("status", status_name(ins.status))
        .kv("stale", stale_like(ins.status));
    j.key("daemon").begin_object();
    if (ins.status == Status::unknown) j.key("alive").null();
    else j.kv("alive", ins.daemon_alive);
    if (ins.daemon_pid() != 0) j.kv("pid", ins.daemon_pid());
    j.end_object();
    if (!ins.problem.empty()) j.kv("problem", ins.problem);
    j.kv("readable", ins.mapped()).kv("owner_uid", info.owner_uid);
    j.kv("tool_layout_version", venom::layout_version);
    if (info.layout_version != 0) j.kv("layout_version", info.layout_version);
    if (ins.mapped()) {
        const auto& m = ins.config();
        j.key("segment")
            .begin_object()
            .kv("path", info.paths.segment)
            .kv("bytes", info.layout.segment_bytes)
            .end_object();
        j.kv("created_unix_ns", info.daemon.created_unix_ns).kv("age_s", ins.age_seconds());
        j.key("config")
            .begin_object()
            .kv("data_size", m.data_size)
            .kv("state_buffers", m.state_buffers)
            .kv("cmd_slots", m.cmd_slots)
            .kv("max_cmd_size", m.max_cmd_size)
            .kv("max_clients", m.max_clients)
            .kv("max_response_size", m.max_response_size)
            .kv("access", access_name(m.access))
            .kv("spin_time_us", static_cast<std::uint64_t>(m.spin_time.count()))
            .kv("claim_timeout_ms", static_cast<std::uint64_t>(m.claim_timeout.count()))
            .end_object();
        j.kv("wait_policy", wait_policy_name(m.wait));
        j.key("heartbeat").begin_object();
        if (c1.heartbeat_age)
            j.kv("age_s", std::chrono::duration<double>(*c1.heartbeat_age).count());
        else j.key("age_s").null();
        j.kv("beats", c1.beats).end_object();
        j.key("state")
            .begin_object()
            .kv("version", c1.state_version)
            .kv("length", c1.state_length)
            .kv("updates_per_s", per_second(c0.state_version, c1.state_version, dt))
            .kv("pinned_buffers", c1.pinned_buffers)
            .kv("state_busy", c1.state_busy)
            .kv("pins_cleared", c1.pins_cleared)
            .end_object();
        j.key("queue")
            .begin_object()
            .kv("depth", c1.queue_depth)
            .kv("capacity", m.cmd_slots)
            .kv("head", c1.head)
            .kv("tail", c1.tail)
            .end_object();
        j.key("commands")
            .begin_object()
            .kv("handled", c1.commands_handled)
            .kv("handled_per_s", per_second(c0.commands_handled, c1.commands_handled, dt))
            .kv("malformed_dropped", c1.commands_malformed)
            .kv("stale_dropped", c1.commands_stale)
            .kv("handler_errors", c1.handler_errors)
            .kv("expired", c1.commands_expired)
            .kv("stale_replies", c1.replies_stale)
            .kv("queue_repairs", c1.queue_repairs)
            .end_object();
        j.key("errors").begin_object().kv("logged", c1.errors_logged);
        j.key("recent").begin_array();
        for (const auto& e : ins.recent_errors())
            j.begin_object()
                .kv("ordinal", e.ordinal)
                .kv("unix_ns", e.unix_ns)
                .kv("client", e.client)
                .kv("request", e.request)
                .kv("code", error_code_text(e))
                .kv("text", escaped_text(reinterpret_cast<const std::uint8_t*>(e.text.data()),
                                         e.text.size()))
                .kv("truncated", e.truncated)
                .end_object();
        j.end_array().end_object();
        const auto& slots = ins.clients();
        j.key("clients")
            .begin_object()
            .kv("connected", ins.clients_alive())
            .kv("max", m.max_clients);
        j.key("slots").begin_array();
        for (const auto& sl : slots)
            j.begin_object()
                .kv("id", sl.id)
                .kv("pid", sl.pid)
                .kv("alive", sl.alive)
                .kv("requests", sl.requests)
                .kv("connections", sl.connections)
                .kv("connected_unix_ns", sl.connected_unix_ns)
                .end_object();
        j.end_array().end_object();
    }
    j.end_object().print();
}

std::string stat_text(const Inspection& ins, const Counters& c0, const Counters& c1,
                      const Palette& pal) {
    std::ostringstream o;
    const double dt = std::chrono::duration<double>(c1.at - c0.at).count();
    const venom::ChannelInfo& info = ins.info();
    std::string status = status_name(ins.status);
    if (stale_like(ins.status))
        status =
            "STALE: its daemon died and left its files (`venom rm " + ins.name + "` removes them)";
    else if (ins.status == Status::foreign)
        status = "NOT VENOM'S: no venom daemon made these files";
    o << "channel   " << ins.name << "  (" << pal.status(status, ins.status) << ")\n";
    if (!ins.problem.empty()) o << "problem   " << ins.problem << "\n";
    if (!ins.mapped()) {
        if (ins.status == Status::alive || ins.status == Status::starting)
            o << "daemon    " << (ins.daemon_pid() != 0 ? "pid " + ins.pid_text() + " " : "")
              << "(alive)\n";
        return o.str();
    }
    const auto& m = ins.config();
    o << "daemon    pid " << ins.pid_text() << (ins.daemon_alive ? " (alive)" : " (dead)")
      << ", created " << human_duration(ins.age_seconds()) << " ago, waits "
      << wait_policy_name(m.wait) << "\n";
    const std::string beat = heartbeat_text(ins, c0, c1);
    o << "heartbeat "
      << (beat.rfind("STUCK?", 0) == 0 ? pal.stuck("STUCK?") + beat.substr(6) : beat) << "\n";
    o << "layout    version " << info.layout_version << " (this tool reads "
      << venom::layout_version << "), " << info.paths.segment << ", "
      << human_bytes(info.layout.segment_bytes) << "\n";
    o << "config    data_size " << human_bytes(m.data_size) << " x " << m.state_buffers
      << " state buffers, cmd_slots " << m.cmd_slots << " x " << human_bytes(m.max_cmd_size)
      << ", max_clients " << m.max_clients << ", max_response_size "
      << human_bytes(m.max_response_size) << ", access " << access_name(m.access) << "\n";
    o << "state     version " << c1.state_version << " (" << human_bytes(c1.state_length) << "), "
      << fixed(per_second(c0.state_version, c1.state_version, dt)) << " updates/s\n";
    o << "views     " << c1.pinned_buffers << " of the " << m.state_buffers - 1
      << " buffers other than the newest held by views; writes refused (state_busy) "
      << c1.state_busy << "; dead shells' pins cleared " << c1.pins_cleared << "\n";
    o << "queue     depth " << c1.queue_depth << " of " << m.cmd_slots << " (head " << c1.head
      << ", tail " << c1.tail << ")\n";
    o << "commands  handled " << c1.commands_handled << " ("
      << fixed(per_second(c0.commands_handled, c1.commands_handled, dt))
      << "/s); dropped: " << c1.commands_malformed << " malformed, " << c1.commands_stale
      << " from gone clients, " << c1.commands_expired << " expired; handler errors "
      << c1.handler_errors << "; stale replies " << c1.replies_stale << "; queue repairs "
      << c1.queue_repairs << "\n";
    const auto& errors = ins.recent_errors();
    o << "errors    " << c1.errors_logged << " logged";
    if (!errors.empty())
        o << "; last " << errors.size() << (errors.size() == 1 ? "" : " (oldest first)") << ":";
    o << "\n";
    for (const auto& e : errors)
        o << "  " << clock_text(e.unix_ns) << "  client " << e.client << "  " << error_code_text(e)
          << "  \""
          << escaped_text(reinterpret_cast<const std::uint8_t*>(e.text.data()), e.text.size())
          << (e.truncated ? "..." : "") << "\"\n";
    const auto& slots = ins.clients();
    o << "clients   " << ins.clients_alive() << " of " << m.max_clients << " connected\n";
    if (!slots.empty()) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  %-5s %-8s %-6s %-10s %-11s %s\n", "SLOT", "PID", "ALIVE",
                      "REQUESTS", "CONNECTIONS", "CONNECTED");
        o << buf;
        const std::uint64_t now = unix_now_ns();
        for (const auto& sl : slots) {
            const double ago = now > sl.connected_unix_ns
                                   ? static_cast<double>(now - sl.connected_unix_ns) / 1e9
                                   : 0;
            std::snprintf(
                buf, sizeof buf, "  %-5u %-8u %-6s %-10llu %-11llu %s ago\n", sl.id, sl.pid,
                sl.alive ? "yes" : "no (dead)", static_cast<unsigned long long>(sl.requests),
                static_cast<unsigned long long>(sl.connections), human_duration(ago).c_str());
            o << buf;
        }
    }
    return o.str();
}

/// The exit code stat reports for a channel's condition.
int stat_code(const Inspection& ins) {
    if (ins.status == Status::missing) return exit_not_found;
    if (stale_like(ins.status)) return exit_not_running;
    // Another user's live channel: its liveness is shown, its details cannot be.
    if (!ins.mapped() && ins.status != Status::starting && ins.status != Status::alive)
        return exit_failed;
    return exit_ok;
}

int cmd_stat(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, stat_options, 1);
    const std::string name = channel_arg(a);
    const Palette pal = palette_arg(ctx, a);
    const bool watch = a.has("watch");
    const auto interval = ms_arg(a, "interval", watch ? 1000 : 200, 1);
    const long long count = count_arg(a);
    if (!watch && a.has("count")) usage_error("--count needs --watch");

    if (!watch) {
        auto ins = Inspection::open(name);
        if (ins.status == Status::missing) channel_missing(name);
        const Counters c0 = ins.sample();
        Counters c1 = c0;
        if (ins.mapped() && ins.status == Status::alive) {
            std::this_thread::sleep_for(interval);
            c1 = ins.sample();
        }
        if (ctx.json) stat_json(ins, c0, c1);
        else std::fputs(stat_text(ins, c0, c1, pal).c_str(), stdout);
        return stat_code(ins);
    }

    catch_interrupts();
    const bool tty = os::stdout_is_terminal() && !ctx.json;
    std::optional<Counters> prev;
    std::uint64_t prev_incarnation = 0;
    int code = exit_ok;
    for (long long n = 0; !g_interrupted && (count == 0 || n < count); ++n) {
        if (n != 0 && !nap(interval)) break;
        auto ins = Inspection::open(name);
        code = stat_code(ins);
        Counters c1 = ins.sample();
        Counters c0 = c1;
        if (prev && prev_incarnation == ins.incarnation()) {
            c0 = *prev;
        } else if (ins.mapped() && ins.status == Status::alive) {
            if (!nap(std::min<std::chrono::milliseconds>(interval, 200ms))) break;
            c1 = ins.sample();
        }
        prev = c1;
        prev_incarnation = ins.incarnation();
        if (ctx.json) {
            if (ins.status == Status::missing) {
                Json j;
                j.begin_object().kv("name", name).kv("status", "missing").end_object().print();
            } else {
                stat_json(ins, c0, c1);
            }
        } else {
            std::string text =
                ins.status == Status::missing
                    ? "channel   " + name + "  (missing: no " + missing_file(name) + ")\n"
                    : stat_text(ins, c0, c1, pal);
            if (tty) text = "\033[H\033[2J" + text;
            else if (n != 0) text = "\n" + text;
            std::fputs(text.c_str(), stdout);
            std::fflush(stdout);
        }
        if (stdout_broken()) break;
    }
    return g_interrupted ? exit_ok : code;
}

// ---- venom read --------------------------------------------------------------------------------

const Option read_options[] = {
    {"follow", 'f', nullptr,
     "print each new version as it is published (waits for updates, no polling) until Ctrl-C",
     nullptr},
    {"count", 0, "N", "with --follow: stop after N versions", nullptr},
    {"timeout", 0, "MS",
     "with --follow: fail (exit 1) when no new version comes within MS milliseconds", nullptr},
    {"json", 0, nullptr, "print JSON (one object per version) instead of text", nullptr},
    {"hex", 0, nullptr, "show the bytes as a hex dump", nullptr},
    {"text", 0, nullptr, "show the bytes as text (anything not printable as \\xNN)", nullptr},
    {"raw", 0, nullptr, "write the bytes exactly as they are, nothing added", nullptr},
    {"limit", 0, "BYTES", "show at most BYTES bytes (default 4096; 0: all; --raw: all)", nullptr},
};

/// Copies the newest state into buf (grown as needed); returns its version, n = its length.
template <class ReadFn>
std::uint64_t read_state(ReadFn&& read, std::vector<std::uint8_t>& buf, std::size_t& n) {
    if (buf.empty()) buf.resize(4096);
    for (;;) {
        std::error_code ec;
        std::uint64_t v = 0;
        n = read(buf.data(), buf.size(), ec, v);
        if (!ec) return v;
        if (ec == venom::errc::buffer_too_small) {
            buf.resize(n);
            continue;
        }
        throw venom::error(ec, "reading the state");
    }
}

void print_version(const Context& ctx, const Format& f, const std::string& name, std::uint64_t v,
                   const std::vector<std::uint8_t>& buf, std::size_t n, bool follow, bool stale) {
    if (ctx.json) {
        Json j;
        j.begin_object().kv("name", name).kv("version", v).kv("length", std::uint64_t{n});
        if (stale) j.kv("stale", true);
        json_bytes(j, f, buf.data(), n);
        j.end_object().print();
        return;
    }
    if (v == 0 && f.kind != Format::raw) {
        if (follow) std::printf("[v0] (no state published yet)\n");
        else
            std::fprintf(stderr, "venom read: \"%s\" has no state yet (version 0)\n", name.c_str());
        std::fflush(stdout);
        return;
    }
    print_bytes(ctx, f, buf.data(), n,
                follow && f.kind != Format::raw ? "[v" + std::to_string(v) + "] " : "");
}

int cmd_read(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, read_options, 1);
    const std::string name = channel_arg(a);
    const Format f = format_arg(ctx, a);
    const bool follow = a.has("follow");
    const long long count = count_arg(a);
    const auto timeout = ms_arg(a, "timeout", 0, 1);
    if (!follow && (a.has("count") || a.has("timeout")))
        usage_error("--count and --timeout need --follow");

    auto ins = Inspection::open(name);
    if (ins.status == Status::missing) channel_missing(name);
    std::vector<std::uint8_t> buf;
    std::size_t n = 0;

    if (ins.status == Status::alive) {
        std::optional<venom::ShellChannel> shell;
        try {
            shell.emplace(venom::ShellChannel::connect(name));
        } catch (const venom::error& e) {
            if (e.code() == venom::errc::channel_not_found) { // died just now: look again
                ins = Inspection::open(name);
                if (ins.status == Status::missing) channel_missing(name);
            } else if (!(e.code() == venom::errc::too_many_clients && !follow)) {
                throw;
            }
        }
        if (shell) {
            if (follow) catch_interrupts();
            auto live = [&](void* p, std::size_t cap, std::error_code& ec, std::uint64_t& v) {
                return shell->read_data(p, cap, ec, &v);
            };
            std::uint64_t v = read_state(live, buf, n);
            print_version(ctx, f, name, v, buf, n, follow, false);
            long long printed = 1;
            auto deadline =
                timeout.count() != 0 ? steady::now() + timeout : steady::time_point::max();
            while (follow && !g_interrupted && !stdout_broken() &&
                   (count == 0 || printed < count)) {
                bool updated = false;
                // Each wait ends by the deadline (and after 100 ms at most, to see Ctrl-C): a
                // version that comes later is never taken as in time.
                auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::min<steady::duration>(100ms, deadline - steady::now()));
                if (slice < 1ms) slice = 1ms;
                try {
                    updated = shell->wait_for_update(v, slice);
                } catch (const venom::error& e) {
                    if (e.code() != venom::errc::daemon_gone) throw;
                    fail(exit_not_running, "daemon_gone",
                         "the daemon of \"" + name + "\" went away after version " +
                             std::to_string(v));
                }
                if (!updated) {
                    if (steady::now() >= deadline)
                        fail(exit_failed, "timeout",
                             "no new version of \"" + name + "\" within " +
                                 std::to_string(timeout.count()) + " ms");
                    continue;
                }
                v = read_state(live, buf, n);
                print_version(ctx, f, name, v, buf, n, true, false);
                ++printed;
                if (timeout.count() != 0) deadline = steady::now() + timeout;
            }
            return exit_ok;
        }
        // All client slots are taken: read the state the way `stat` looks, without a slot.
        if (ins.status == Status::alive && !ctx.json)
            std::fprintf(stderr,
                         "venom read: every client slot of \"%s\" is taken; reading without one\n",
                         name.c_str());
    }
    if (ins.status == Status::starting) channel_not_running(ins);
    if (!ins.mapped()) {
        if (stale_like(ins.status)) channel_not_running(ins);
        fail(exit_failed,
             ins.problem_code != venom::errc{} ? errc_key(static_cast<int>(ins.problem_code))
                                               : "unreadable",
             "cannot read \"" + name + "\": " + ins.problem);
    }
    // Post-mortem (or slot-less) read: the seqlock, read-only, straight from the mapping.
    auto direct = [&](void* p, std::size_t cap, std::error_code& ec, std::uint64_t& v) {
        return ins.read_state(p, cap, v, ec);
    };
    const std::uint64_t v = read_state(direct, buf, n);
    const bool stale = ins.status != Status::alive && ins.status != Status::stopped;
    print_version(ctx, f, name, v, buf, n, follow, stale);
    if (!stale) return exit_ok;
    if (ctx.json) return exit_not_running; // its object says "stale":true
    std::fprintf(
        stderr,
        "venom read: \"%s\" is stale: its daemon (pid %u) is dead; this is the last state it "
        "published (version %llu)\n",
        name.c_str(), ins.daemon_pid(), static_cast<unsigned long long>(v));
    return exit_not_running;
}

// ---- venom call --------------------------------------------------------------------------------

const Option call_options[] = {
    {"timeout", 0, "MS", "give up after MS milliseconds (default 5000; 0: no limit)", nullptr},
    {"hex", 0, nullptr,
     "CMD is hex digits (\"70 69 6e 67\"), and the answer is shown as a hex dump", nullptr},
    {"text", 0, nullptr, "show the answer as text (anything not printable as \\xNN)", nullptr},
    {"raw", 0, nullptr, "write the answer's bytes exactly as they are", nullptr},
    {"limit", 0, "BYTES", "show at most BYTES of the answer (default 4096; 0: all)", nullptr},
    {"json", 0, nullptr, "print JSON instead of text", nullptr},
};

std::string read_stdin() {
    std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return s;
}

int cmd_call(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, call_options, 2);
    const std::string name = channel_arg(a);
    if (a.positionals().size() < 2)
        usage_error("missing the command CMD (text; \"-\" reads it from stdin)");
    const Format f = format_arg(ctx, a);
    const auto timeout = ms_arg(a, "timeout", 5000, 0);
    std::string text = a.positionals()[1];
    if (text == "-") text = read_stdin();
    std::vector<std::uint8_t> cmd(text.begin(), text.end());
    if (f.kind == Format::hex) {
        auto bytes = parse_hex(text);
        if (!bytes)
            usage_error("with --hex, CMD must be pairs of hex digits, got \"" + text.substr(0, 40) +
                        "\"");
        cmd = std::move(*bytes);
    }

    auto ins = Inspection::open(name);
    if (ins.status == Status::missing) channel_missing(name);
    if (ins.status != Status::alive) channel_not_running(ins);
    std::optional<venom::ShellChannel> shell;
    try {
        shell.emplace(venom::ShellChannel::connect(name));
    } catch (const venom::error& e) {
        if (e.code() != venom::errc::channel_not_found) throw;
        ins = Inspection::open(name);
        if (ins.status == Status::missing) channel_missing(name);
        channel_not_running(ins);
    }
    const auto limit =
        timeout.count() == 0 ? std::chrono::nanoseconds::max() : std::chrono::nanoseconds(timeout);
    const auto t0 = steady::now();
    const std::vector<std::uint8_t> answer = shell->request(cmd, limit);
    const double us = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
    if (ctx.json) {
        Json j;
        j.begin_object()
            .kv("name", name)
            .kv("client_id", shell->client_id())
            .kv("request_bytes", std::uint64_t{cmd.size()})
            .kv("length", std::uint64_t{answer.size()})
            .kv("round_trip_us", us);
        json_bytes(j, f, answer.data(), answer.size());
        j.end_object().print();
    } else {
        print_bytes(ctx, f, answer.data(), answer.size(), "");
    }
    return exit_ok;
}

// ---- venom rm ----------------------------------------------------------------------------------

const Option rm_options[] = {
    {"all-stale", 0, nullptr, "remove every stale channel on this machine", nullptr},
    {"json", 0, nullptr, "print JSON instead of text", nullptr},
};

int cmd_rm(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, rm_options, std::numeric_limits<std::size_t>::max());
    std::vector<std::string> names = a.positionals();
    const bool all_stale = a.has("all-stale");
    if (all_stale && !names.empty()) usage_error("give channel names or --all-stale, not both");
    if (!all_stale && names.empty()) usage_error("missing the channel NAME");
    for (const auto& n : names) {
        try {
            venom::validate_name(n);
        } catch (const venom::error& e) {
            usage_error(std::string("bad channel NAME: ") + e.what());
        }
    }
    if (all_stale)
        for (const auto& n : channel_names())
            if (stale_like(Inspection::open(n).status)) names.push_back(n);

    int code = exit_ok;
    Json j;
    j.begin_object().key("results").begin_array();
    for (const auto& n : names) {
        const auto before = Inspection::open(n);
        const std::string pid = before.pid_text();
        const bool pid_known = before.daemon_pid() != 0;
        const venom::removal r = venom::remove_stale(n);
        std::string result, message;
        switch (r) {
        case venom::removal::removed:
            result = "removed";
            message = (before.status == Status::foreign ? "removed files named like channel \""
                                                        : "removed stale channel \"") +
                      n + "\"" + (pid_known ? " (its daemon, pid " + pid + ", was dead)" : "");
            break;
        case venom::removal::daemon_alive:
            result = "daemon_alive";
            message = "channel \"" + n + "\" is served by a live daemon" +
                      (pid_known ? " (pid " + pid + ")" : "") + "; stop the daemon instead";
            code = exit_daemon_alive;
            break;
        case venom::removal::not_found:
            result = "channel_not_found";
            message = "no channel \"" + n + "\" on this machine";
            if (code == exit_ok) code = exit_not_found;
            break;
        }
        j.begin_object().kv("name", n).kv("result", result).kv("message", message).end_object();
        if (!ctx.json) {
            if (r == venom::removal::removed) std::printf("%s\n", message.c_str());
            else std::fprintf(stderr, "venom rm: %s\n", message.c_str());
        }
    }
    j.end_array().end_object();
    if (ctx.json) j.print();
    else if (all_stale && names.empty()) std::printf("no stale channels\n");
    return code;
}

// ---- venom bench -------------------------------------------------------------------------------

const Option bench_options[] = {
    {"json", 0, nullptr,
     "print venom_bench's JSON report on stdout (its text report goes to stderr); `--json FILE` "
     "is venom_bench's own option",
     nullptr},
};
const char* const bench_caption = "options (all others go to venom_bench)";

int cmd_bench(Context& ctx, const std::vector<std::string>& args) {
    const std::string dir = os::executable_dir();
    const std::string exe = std::string("venom_bench") + os::executable_suffix;
    std::vector<std::string> candidates = {dir + "/" + exe, dir + "/../bench/" + exe};
    // b2 builds tools/bin/<toolset>/<variant>/.../venom and bench/bin/<same>/venom_bench.
    const std::string b2_tools = "/tools/bin/";
    if (const auto at = dir.rfind(b2_tools); at != std::string::npos)
        candidates.push_back(dir.substr(0, at) + "/bench/bin/" + dir.substr(at + b2_tools.size()) +
                             "/" + exe);
    std::string bench;
    for (const auto& c : candidates)
        if (os::is_executable(c)) {
            bench = c;
            break;
        }
    bool help = false;
    std::vector<std::string> pass;
    bool json = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h") help = true;
        if (args[i] == "--json" && (i + 1 == args.size() || args[i + 1].rfind("-", 0) == 0)) {
            json = true; // ours: no file after it
            continue;
        }
        pass.push_back(args[i]);
    }
    if (help) {
        const std::string opts = options_help(bench_options, bench_caption);
        std::printf(
            "usage: venom bench [ARGS...]\n\nRuns the benchmark venom_bench with ARGS, if it is "
            "built next to venom (%s).\n\n%s\n",
            bench.empty() ? "it is not built" : bench.c_str(), opts.c_str());
        if (bench.empty()) return exit_ok;
        std::printf("venom_bench --help:\n\n");
        std::fflush(stdout);
    }
    if (bench.empty()) {
        std::string looked;
        for (const auto& c : candidates) looked += (looked.empty() ? "" : ", ") + c;
        fail(exit_not_built, "not_built",
             "venom_bench is not built (looked for " + looked +
                 "); build it with `cmake --build BUILD_DIR --target venom_bench`");
    }
    std::string json_file;
    if (json && !help) {
        std::string why;
        const auto made = os::make_temp_file(why);
        if (!made) fail(exit_failed, "system_failure", why);
        json_file = *made;
        pass.push_back("--json");
        pass.push_back(json_file);
    }
    std::vector<std::string> all{bench};
    all.insert(all.end(), pass.begin(), pass.end());
    std::fflush(stdout);
    (void)ctx;
    if (json_file.empty()) {
        // POSIX: venom_bench takes our place (returns only if it could not start); Win32: it
        // runs, and its exit code is ours (tools/cli/os.hpp, hand_over).
        const os::RunResult r = os::hand_over(all);
        if (!r.started) fail(exit_failed, "system_failure", "cannot run " + bench + ": " + r.error);
        return r.exit_code.value_or(exit_failed);
    }
    // --json: the text report goes to stderr, the JSON file to stdout.
    const os::RunResult r = os::run_and_wait(all, true);
    if (FILE* in = std::fopen(json_file.c_str(), "rb")) {
        char b[65536];
        std::size_t k;
        while ((k = std::fread(b, 1, sizeof b, in)) > 0) std::fwrite(b, 1, k, stdout);
        std::fclose(in);
    }
    std::remove(json_file.c_str());
    if (!r.started) fail(exit_failed, "system_failure", "cannot run " + bench + ": " + r.error);
    return r.exit_code.value_or(exit_failed); // killed by a signal: failed, as before
}

// ---- venom bridge ------------------------------------------------------------------------------

const Option bridge_options[] = {
    {"json", 0, nullptr, "venom_bridge's own: one JSON object per line on stdout per event",
     nullptr},
};
const char* const bridge_caption =
    "options (all go to venom_bridge; `venom bridge --help` lists them)";

/// Runs venom_bridge (bridge/) with ARGS the way cmd_bench runs venom_bench: found next to
/// venom (or in ../bridge/ of a CMake build tree), it takes this process's place (exec), so
/// SIGINT/SIGTERM reach the bridge itself.
int cmd_bridge(Context& ctx, const std::vector<std::string>& args) {
    const std::string dir = os::executable_dir();
    const std::string exe = std::string("venom_bridge") + os::executable_suffix;
    const std::vector<std::string> candidates = {dir + "/" + exe, dir + "/../bridge/" + exe};
    std::string bridge;
    for (const auto& c : candidates)
        if (os::is_executable(c)) {
            bridge = c;
            break;
        }
    bool help = false;
    for (const auto& a : args) help = help || a == "--help" || a == "-h";
    if (help && bridge.empty()) {
        const std::string opts = options_help(bridge_options, bridge_caption);
        std::printf(
            "usage: venom bridge ARGS...\n\nRuns venom_bridge with ARGS, if it is built next "
            "to venom (it is not built).\n\n%s\n",
            opts.c_str());
        return exit_ok;
    }
    if (bridge.empty()) {
        std::string looked;
        for (const auto& c : candidates) looked += (looked.empty() ? "" : ", ") + c;
        fail(exit_not_built, "not_built",
             "venom_bridge is not built (looked for " + looked +
                 "); it needs Cyclone DDS (Debian: cyclonedds-dev cyclonedds-tools), then "
                 "`cmake --build BUILD_DIR --target venom_bridge`");
    }
    std::vector<std::string> all{bridge};
    all.insert(all.end(), args.begin(), args.end());
    std::fflush(stdout);
    (void)ctx;
    // POSIX: venom_bridge takes our place (returns only if it could not start).
    const os::RunResult r = os::hand_over(all);
    if (!r.started) fail(exit_failed, "system_failure", "cannot run " + bridge + ": " + r.error);
    return r.exit_code.value_or(exit_failed);
}

// ---- venom serve -------------------------------------------------------------------------------

const Option serve_options[] = {
    {"echo", 0, nullptr, "answer each request with its own bytes", nullptr},
    {"exec", 0, "CMD",
     "answer each request by running /bin/sh -c CMD: the request on its stdin, its stdout the "
     "answer when it exits 0; else an error answer with its exit code and the start of its "
     "stderr (env VENOM_CHANNEL, VENOM_CLIENT). One request at a time",
     nullptr},
    {"exec-timeout", 0, "MS",
     "with --exec: kill CMD (SIGKILL, its process group) after MS milliseconds; the request "
     "gets an error answer (default 10000)",
     nullptr},
    {"state-file", 0, "FILE",
     "publish FILE's contents as the state, again whenever it changes (instead of stdin's "
     "lines)",
     "@files"},
    {"poll", 0, "MS", "with --state-file: look at FILE every MS milliseconds (default 100)",
     nullptr},
    {"exit-on-eof", 0, nullptr,
     "stop serving (exit 0) at the end of stdin; without it serving goes on", nullptr},
    {"data-size", 0, "BYTES", "largest state, N[K|M|G] (default 64K)", nullptr},
    {"cmd-slots", 0, "N", "command queue slots (default 128)", nullptr},
    {"max-clients", 0, "N", "shells connected at once (default 16)", nullptr},
    {"max-cmd-size", 0, "BYTES", "largest request, N[K|M] (default 4096)", nullptr},
    {"max-response-size", 0, "BYTES", "largest answer, N[K|M] (default 4096)", nullptr},
    {"state-buffers", 0, "N", "state buffers the seqlock rotates through, 2..8 (default 3)",
     nullptr},
    {"access", 0, "WHO",
     "who may connect: owner (mode 0600, the default), group (0660) or everyone (0666)",
     "owner group everyone"},
    {"wait", 0, "POLICY",
     "how the daemon waits for requests: spin_then_block (the default: ~0% CPU idle) or "
     "busy_poll (one core at 100%)",
     "spin_then_block busy_poll"},
    {"json", 0, nullptr, "print JSON (one object per line) instead of text", nullptr},
};

#ifndef _WIN32 // serve is POSIX only for now: see the Windows cmd_serve below

/// An option's size (N[K|M|G]) within lo..hi, else a usage error naming the option.
std::uint64_t size_arg(const Args& a, const char* opt, std::uint64_t fallback, std::uint64_t lo,
                       std::uint64_t hi) {
    std::uint64_t v = fallback;
    try {
        v = a.size(opt, fallback);
    } catch (const ArgError& e) {
        usage_error(e.what());
    }
    if (v < lo || v > hi)
        usage_error(std::string("--") + opt + " must be " + std::to_string(lo) + ".." +
                    std::to_string(hi) + ", got " + *a.value(opt));
    return v;
}

/// An option's count within lo..hi, else a usage error naming the option.
std::uint32_t count_in(const Args& a, const char* opt, std::uint32_t fallback, std::uint32_t lo,
                       std::uint32_t hi) {
    const long long v = integer_arg(a, opt, fallback);
    if (v < lo || v > hi)
        usage_error(std::string("--") + opt + " must be " + std::to_string(lo) + ".." +
                    std::to_string(hi) + ", got " + std::to_string(v));
    return static_cast<std::uint32_t>(v);
}

int cmd_serve(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, serve_options, 1);
    ServeSettings s;
    s.name = channel_arg(a);
    s.json = ctx.json;
    const bool echo = a.has("echo"), exec = a.has("exec");
    if (echo && exec) usage_error("choose one of --echo and --exec");
    if (!echo && !exec) usage_error("say how requests are answered: --echo, or --exec CMD");
    if (a.has("exec-timeout") && !exec) usage_error("--exec-timeout needs --exec");
    if (a.has("poll") && !a.has("state-file")) usage_error("--poll needs --state-file");
    if (a.has("exit-on-eof") && a.has("state-file"))
        usage_error("--exit-on-eof is about stdin, which is not read with --state-file");
    s.mode = exec ? ServeSettings::Mode::exec : ServeSettings::Mode::echo;
    if (exec) {
        s.exec_command = *a.value("exec");
        if (s.exec_command.empty()) usage_error("--exec needs a command");
    }
    s.exec_timeout = ms_arg(a, "exec-timeout", 10000, 1);
    s.state_file = a.value_or("state-file", "");
    s.poll_interval = ms_arg(a, "poll", 100, 1);
    s.exit_on_eof = a.has("exit-on-eof");

    using venom::limits;
    auto& c = s.config;
    c.data_size =
        static_cast<std::size_t>(size_arg(a, "data-size", 64 * 1024, 1, limits::max_data_size));
    c.cmd_slots = count_in(a, "cmd-slots", 128, 1, limits::max_cmd_slots);
    c.max_clients = count_in(a, "max-clients", 16, 1, limits::max_clients);
    c.max_cmd_size =
        static_cast<std::uint32_t>(size_arg(a, "max-cmd-size", 4096, 1, limits::max_message_size));
    c.max_response_size = static_cast<std::uint32_t>(
        size_arg(a, "max-response-size", 4096, 1, limits::max_message_size));
    c.state_buffers =
        count_in(a, "state-buffers", 3, limits::min_state_buffers, limits::max_state_buffers);
    const std::string access = a.value_or("access", "owner");
    if (access == "owner") c.access = venom::Access::owner_only;
    else if (access == "group") c.access = venom::Access::group;
    else if (access == "everyone") c.access = venom::Access::everyone;
    else usage_error("--access must be owner, group or everyone, got \"" + access + "\"");
    const std::string wait = a.value_or("wait", "spin_then_block");
    if (wait == "spin_then_block") c.wait = venom::WaitPolicy::spin_then_block;
    else if (wait == "busy_poll") c.wait = venom::WaitPolicy::busy_poll;
    else usage_error("--wait must be spin_then_block or busy_poll, got \"" + wait + "\"");
    try {
        c.validate();
        return serve(s);
    } catch (const venom::error& e) {
        if (e.code() == venom::errc::channel_exists)
            fail(exit_daemon_alive, "channel_exists",
                 "a live daemon already serves \"" + s.name + "\"; stop it first (`venom stat " +
                     s.name + "` shows its pid), or choose another name");
        if (e.code() == venom::errc::invalid_config) usage_error(e.what());
        throw;
    }
}

#else // _WIN32

/// serve on Windows: not built yet. It needs a Win32 process runner for --exec (CreateProcess
/// with pipes in subprocess.hpp), a reader thread for stdin and SetConsoleCtrlHandler for its
/// stop watcher (tools/cli/serve.hpp); the README's "Windows" section says so too. Exit 2.
int cmd_serve(Context&, const std::vector<std::string>&) {
    fail(exit_usage, "not_supported",
         "not supported on Windows yet (it needs a Win32 process runner)");
}

#endif

// ---- venom completion ---------------------------------------------------------------------------

std::vector<CommandDoc> command_docs(); // the command table, for the generated documents

/// "X.Y.Z", the venom version this tool is built from.
std::string version_text() {
    return std::to_string(venom::version_major) + "." + std::to_string(venom::version_minor) + "." +
           std::to_string(venom::version_patch);
}

int cmd_completion(Context& ctx, const std::vector<std::string>& args) {
    (void)ctx;
    const Args a = parse(args, OptionTable{}, 1); // no options: --json too is refused
    if (a.positionals().empty()) usage_error("missing the SHELL (bash)");
    if (a.positionals()[0] != "bash")
        usage_error("no completion for \"" + a.positionals()[0] + "\": only bash");
    std::fputs(bash_completion(command_docs(), version_text()).c_str(), stdout);
    return exit_ok;
}

// ---- venom wait, venom top (tools/cli/wait.hpp, tools/cli/top.hpp) ----------------------------

const Option wait_options[] = {
    {"timeout", 0, "MS",
     "give up after MS milliseconds (exit 1); 0: look once; default: wait until Ctrl-C", nullptr},
    {"interval", 0, "MS", "look every MS milliseconds (default 10)", nullptr},
    color_option,
    json_option,
};

int cmd_wait(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, wait_options, 1);
    WaitSettings s;
    s.name = channel_arg(a);
    if (a.has("timeout")) s.timeout = ms_arg(a, "timeout", 0, 0);
    s.interval = ms_arg(a, "interval", 10, 1);
    const Palette pal = palette_arg(ctx, a);
    catch_interrupts();
    const WaitOutcome w = wait_for_daemon(s, g_interrupted);
    const std::string now = venom::to_string(w.status);
    switch (w.result) {
    case WaitOutcome::Result::served: break;
    case WaitOutcome::Result::timed_out:
        fail(exit_failed, "timeout",
             "no live daemon serves " + s.name + " after " + std::to_string(s.timeout->count()) +
                 " ms (now: " + now + ")");
    case WaitOutcome::Result::interrupted:
        fail(exit_failed, "interrupted",
             "interrupted after " + std::to_string(w.waited.count()) +
                 " ms: no live daemon serves " + s.name + " yet (now: " + now + ")");
    }
    if (ctx.json) {
        Json j;
        j.begin_object()
            .kv("command", "wait")
            .kv("name", s.name)
            .kv("status", now)
            .kv("pid", w.pid)
            .kv("waited_ms", static_cast<std::int64_t>(w.waited.count()))
            .end_object()
            .print();
    } else {
        std::printf("%s %s (pid %u) after %lld ms\n", s.name.c_str(),
                    pal.status(now, w.status).c_str(), w.pid,
                    static_cast<long long>(w.waited.count()));
    }
    return exit_ok;
}

const Option top_options[] = {
    {"interval", 0, "MS", "refresh every MS milliseconds (default 1000)", nullptr},
    {"count", 0, "N", "stop after N refreshes (default: until Ctrl-C)", nullptr},
    {"sort", 0, "KEY",
     "order the rows by name (the default), req, upd, clients, depth, errors (highest first) "
     "or heartbeat (oldest first)",
     "name req upd clients depth heartbeat errors"},
    {"alive", 0, nullptr, "show only channels whose status is alive", nullptr},
    color_option,
    json_option,
};

int cmd_top(Context& ctx, const std::vector<std::string>& args) {
    const Args a = parse(args, top_options, 0);
    TopSettings s;
    s.interval = ms_arg(a, "interval", 1000, 1);
    s.count = count_arg(a);
    const std::string sort = a.value_or("sort", "name");
    const auto key = top_sort_from(sort);
    if (!key)
        usage_error("--sort must be name, req, upd, clients, depth, heartbeat or errors, got \"" +
                    sort + "\"");
    s.sort = *key;
    s.alive_only = a.has("alive");
    s.json = ctx.json;
    s.tty = os::stdout_is_terminal() && !ctx.json;
    s.palette = palette_arg(ctx, a);
    catch_interrupts();
    return run_top(s, g_interrupted);
}

// ---- the command table, help -------------------------------------------------------------------

const CommandSpec commands[] = {
    {"list", "venom list [--names | --json]",
     "channels on this machine: daemon alive/dead, clients, state, updates, age",
     "Lists the venom channels that have files in /dev/shm: the daemon's pid and whether it is\n"
     "alive, connected clients / max_clients, the state's size, the updates published so far and\n"
     "the channel's age. A channel whose daemon died (kill -9) and left its files is marked "
     "STALE.\n"
     "It only looks: nothing in the channels is written or locked.",
     list_options, "options", cmd_list},
    {"stat", "venom stat NAME [--watch] [--interval MS] [--count N] [--json]",
     "one channel in detail: config, client slots, queue, counters, rates",
     "Shows channel NAME: layout version and configuration, the daemon (pid, alive, wait policy),\n"
     "each client slot in use (id, pid, alive, requests), queue depth and capacity, commands\n"
     "handled, malformed or stale commands dropped, handler errors, the state's version and its\n"
     "update rate. --watch refreshes every second. It only looks: nothing is written or locked.\n"
     "A stale channel is shown too (exit code 4).",
     stat_options, "options", cmd_stat},
    {"read", "venom read NAME [--hex|--text|--raw] [--follow] [--json]",
     "print the channel's state; --follow: each new version",
     "Prints the state the daemon of NAME publishes: as text when it is text, else as a hex dump\n"
     "(--hex, --text, --raw choose). --follow prints each new version as it appears (with its\n"
     "version number), waiting for updates the way a shell does (no polling). Of a stale channel,\n"
     "read prints the last state its daemon published, and exits with 4.",
     read_options, "options", cmd_read},
    {"call", "venom call NAME CMD [--timeout MS] [--hex] [--json]",
     "send one request, print the answer",
     "Connects to NAME as a shell, sends CMD (its text; \"-\" reads it from stdin; --hex: hex "
     "digits)\n"
     "and prints the answer. On failure it prints venom's error message and exits non-zero.",
     call_options, "options", cmd_call},
    {"rm", "venom rm NAME... | --all-stale [--json]",
     "remove a stale channel (refuses while its daemon is alive)",
     "Removes the files a dead daemon left in /dev/shm. It takes the channel's name lock first, "
     "as\n"
     "a daemon does: while a live daemon serves the channel that fails, and rm refuses (exit 5).",
     rm_options, "options", cmd_rm},
    {"bench", "venom bench [ARGS...]",
     "run the benchmark venom_bench, if it is built next to venom",
     "Runs venom_bench (bench/) with ARGS when it is built next to venom (the same folder, or\n"
     "../bench/ in a CMake build tree); `venom bench --help` shows its options.",
     bench_options, bench_caption, cmd_bench},
    {"bridge", "venom bridge (--export NAME[:ro] | --import NAME[:group|:everyone])... [options]",
     "carry channels between hosts over Cyclone DDS (venom_bridge, if built)",
     "Runs venom_bridge (bridge/) with ARGS when it is built next to venom (the same folder, or\n"
     "../bridge/ in a CMake build tree): it serves local channels to other hosts (--export) and\n"
     "keeps local mirrors of remote ones (--import) over Cyclone DDS; `venom bridge --help`\n"
     "shows its options. It is built only where CMake finds Cyclone DDS.",
     bridge_options, bridge_caption, cmd_bridge},
    {"serve",
     "venom serve NAME (--echo | --exec CMD) [--state-file FILE] [--exit-on-eof] "
     "[--data-size N[K|M]] [options] [--json]",
     "host a channel from a shell script: the state from stdin or a file, answers by a command",
     "Creates channel NAME and serves it until SIGINT or SIGTERM (then it removes the channel's\n"
     "files and exits 0). The state: each line of stdin (without its newline) is published as it\n"
     "comes; at the end of stdin serving goes on (--exit-on-eof: it stops). With --state-file,\n"
     "FILE's contents are published, and again whenever FILE changes; stdin is not read.\n"
     "Requests: --echo answers each with its own bytes; --exec CMD runs /bin/sh -c CMD for each,\n"
     "one request at a time (a slow CMD delays the others), with the request's bytes on its\n"
     "stdin and VENOM_CHANNEL, VENOM_CLIENT in its environment. CMD exits 0: its stdout is the\n"
     "answer. Otherwise the caller gets an error (venom call exits 1): \"exited with K: \" and\n"
     "the first 200 bytes of its stderr, \"killed by signal S\", \"timed out after MS ms\"\n"
     "(--exec-timeout; CMD's process group is killed), or message_too_large when it writes more\n"
     "than max_response_size bytes. Whatever CMD leaves running in its process group is killed\n"
     "when it ends. A live daemon already serving NAME: exit 5.",
     serve_options, "options", cmd_serve},
    {"wait", "venom wait NAME [--timeout MS] [--interval MS] [--color WHEN] [--json]",
     "wait until a live daemon serves the channel",
     "Looks at NAME every --interval (10 ms) until a live daemon serves it, then prints its pid\n"
     "and exits 0. It only looks (no client slot is taken, so it works when every slot is\n"
     "full). --timeout MS: exit 1 (\"timeout\") when none serves it by then; --timeout 0 looks\n"
     "once. Without --timeout it waits until Ctrl-C (exit 1, \"interrupted\").",
     wait_options, "options", cmd_wait},
    {"top", "venom top [--interval MS] [--count N] [--sort KEY] [--alive] [--color WHEN] [--json]",
     "every channel, refreshed: status, clients, request and update rates, queue, heartbeat",
     "Shows every channel, refreshed every --interval (1000 ms): its status, the daemon's pid,\n"
     "live clients / max_clients, requests handled and states published per second, the queue's\n"
     "depth, the age of the daemon's last heartbeat (\"never\": it never ran run()/poll()), the\n"
     "error answers logged (+ those since the last refresh) and the channel's age. STUCK?: the\n"
     "daemon lives, but its heartbeat is over 1 s old while commands wait in the queue and none\n"
     "is handled: a handler that does not return. It only looks: nothing is written or locked.\n"
     "Ctrl-C ends it (exit 0). --json: one object per refresh.",
     top_options, "options", cmd_top},
    {"completion", "venom completion bash", "print a bash completion script for venom",
     "Prints a bash completion script, generated from the tool's own option tables: commands,\n"
     "options, their values, and channel names (from `venom list --names`). Load it with\n"
     "`source <(venom completion bash)`, or save it as\n"
     "~/.local/share/bash-completion/completions/venom (CMake installs it as\n"
     "share/bash-completion/completions/venom). `venom help --man` prints the man page.",
     OptionTable{}, "options", cmd_completion},
};

std::vector<CommandDoc> command_docs() {
    std::vector<CommandDoc> docs;
    for (const auto& c : commands)
        docs.push_back({c.name, c.synopsis, c.summary, c.description, c.options});
    return docs;
}

const CommandSpec* find_command(const std::string& name) {
    for (const auto& c : commands)
        if (name == c.name) return &c;
    return nullptr;
}

void print_main_help(FILE* out) {
    std::fprintf(
        out,
        "venom %d.%d.%d - look into the venom channels on this machine, or host one\n\n"
        "usage: venom COMMAND [options]      (venom COMMAND --help: its options)\n\ncommands:\n",
        venom::version_major, venom::version_minor, venom::version_patch);
    int width = 0;
    for (const auto& c : commands) width = std::max(width, static_cast<int>(std::strlen(c.name)));
    for (const auto& c : commands) std::fprintf(out, "  %-*s %s\n", width, c.name, c.summary);
    std::fprintf(
        out,
        "\nEvery command takes --json: one JSON object per line on stdout, errors too.\n"
        "venom --version: this tool's venom version and the shared-memory layout it reads.\n"
        "venom help --man: the manual page (roff: `venom help --man | man -l -`).\n\n%s",
        exit_code_help);
}

void print_command_help(const CommandSpec& c) {
    std::ostringstream o;
    o << "usage: " << c.synopsis << "\n\n"
      << c.description << "\n\n"
      << options_help(c.options, c.options_caption) << "\n"
      << exit_code_help;
    std::fputs(o.str().c_str(), stdout);
}

/// An error, once: as text on stderr, or with --json as one JSON object on stdout (and nothing
/// on stderr, so a script reading both streams never sees it twice).
void report(const Context& ctx, int code, const std::string& key, const std::string& message) {
    if (!ctx.json) {
        const std::string who = ctx.command.empty() ? "venom" : "venom " + ctx.command;
        std::fprintf(stderr, "%s: %s\n", who.c_str(), message.c_str());
    } else {
        Json j;
        j.begin_object();
        if (!ctx.command.empty()) j.kv("command", ctx.command);
        j.key("error")
            .begin_object()
            .kv("code", key)
            .kv("exit_code", code)
            .kv("message", message)
            .end_object();
        j.end_object().print();
    }
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    Context ctx;
    for (const auto& a : args) ctx.json = ctx.json || a == "--json";
    const CommandSpec* spec = nullptr;
    try {
        if (args.empty()) usage_error("missing the COMMAND");
        const std::string first = args[0];
        if (first == "--help" || first == "-h" || first == "help") {
            if (args.size() > 1) {
                if (args[1] == "--man") { // the man page, roff (tools/cli/docs.hpp)
                    std::fputs(man_page(command_docs(), version_text(), exit_code_help).c_str(),
                               stdout);
                    return exit_ok;
                }
                if (const auto* c = find_command(args[1])) {
                    print_command_help(*c);
                    return exit_ok;
                }
                usage_error("no command \"" + args[1] + "\"");
            }
            print_main_help(stdout);
            return exit_ok;
        }
        if (first == "--version") {
            std::printf("venom %d.%d.%d (shared-memory layout version %u)\n", venom::version_major,
                        venom::version_minor, venom::version_patch, venom::layout_version);
            return exit_ok;
        }
        spec = find_command(first);
        if (spec == nullptr) usage_error("unknown command \"" + first + "\"");
        ctx.command = spec->name;
        args.erase(args.begin());
        if (spec->run != cmd_bench && spec->run != cmd_bridge)
            for (const auto& a : args)
                if (a == "--help" || a == "-h") {
                    print_command_help(*spec);
                    return exit_ok;
                }
        return spec->run(ctx, args);
    } catch (const Usage& u) {
        report(ctx, exit_usage, "usage", u.message);
        if (ctx.json) return exit_usage; // the JSON object says it all
        if (spec != nullptr)
            std::fprintf(stderr, "usage: %s\n(venom %s --help for details)\n", spec->synopsis,
                         spec->name);
        else {
            std::string names;
            for (const auto& c : commands) names += std::string(names.empty() ? "" : " ") + c.name;
            std::fprintf(stderr,
                         "usage: venom COMMAND [options]; commands: %s\n(venom --help for "
                         "details)\n",
                         names.c_str());
        }
        return exit_usage;
    } catch (const Failure& f) {
        report(ctx, f.code, f.key, f.message);
        return f.code;
    } catch (const venom::error& e) {
        const int code = exit_for(e.code());
        report(ctx, code, errc_key(e.code().value()), e.what());
        return code;
    } catch (const std::exception& e) {
        report(ctx, exit_failed, "failure", e.what());
        return exit_failed;
    }
}
