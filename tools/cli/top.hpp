// SPDX-License-Identifier: BSL-1.0
// tools/cli/top.hpp - `venom top`: every channel on this machine, refreshed every --interval.
//
// State: a map name -> Entry {ChannelInspector, the previous ChannelSample}. The inspector
// keeps each channel's read-only mapping, so a refresh of a known channel is a few loads and
// lock queries (ChannelInspector::sample/daemon/clients_alive), not a new look at its files.
// Nothing is written or locked in any channel, and no client slot is taken (venom/inspect.hpp).
//
// One refresh:
//   1. venom::list_channels() again. Names no longer listed are dropped; new names are opened.
//   2. A known name is opened again (its rates start over) when its inspector is not
//      current() (the name now belongs to another daemon instance, or nothing was mapped: a
//      channel starting, foreign, or not ours to read), or when the liveness its daemon()
//      shows now no longer matches the status it was opened with (a daemon died or stopped:
//      the new look tells stale from closed, stopped from closing). A name whose look finds it
//      missing (removed meanwhile) is dropped.
//   3. Every readable channel is sampled. One without a previous sample (the first refresh,
//      or just (re)opened) is sampled twice, first_window apart (or --interval, if shorter),
//      so that its rates are known in the refresh that shows it.
// Rates: (commands_handled, state_version) differences over the two samples' steady-clock
// times. ERRORS: errors_logged (error answers: handler errors and malformed commands), with
// "+N" for those since the previous sample. STUCK?: alive, the heartbeat older than
// stuck_heartbeat, commands in the queue, and commands_handled not moving between the two
// samples: a handler that does not return (DaemonInfo::heartbeat_age's own reading).
//
// Output: text (a header row and one row per channel; on a terminal the screen is cleared
// before each refresh, otherwise the blocks are separated by a blank line) or, with --json,
// one JSON object per refresh. Colour only through the Palette (color.hpp).
//
// Time and bounds: a refresh is bounded (inspections never wait on another process; the
// double sample sleeps at most first_window); between refreshes it sleeps --interval in
// slices that look at the stop flag. --count N stops after N refreshes; without it the loop
// ends at Ctrl-C (exit 0) or when stdout is closed (`| head`).
#pragma once

#include "color.hpp"
#include "format.hpp"
#include "json.hpp"
#include "os.hpp"
#include "wait.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace venom_cli {

/// The window of the first pair of samples of a channel (its first rates).
inline constexpr std::chrono::milliseconds first_window{200};
/// A heartbeat older than this, with a queue that does not move, shows STUCK?.
inline constexpr std::chrono::seconds stuck_heartbeat{1};
/// The status word of a channel that looks stuck in a handler.
inline constexpr const char* stuck_word = "STUCK?";
/// Clears a terminal and puts the cursor home (before each refresh on a tty).
inline constexpr const char* clear_screen = "\033[H\033[2J";

enum class TopSort { name, req, upd, clients, depth, heartbeat, errors };

/// "name", "req", ...: the --sort words; nullopt for anything else.
inline std::optional<TopSort> top_sort_from(std::string_view w) {
    if (w == "name") return TopSort::name;
    if (w == "req") return TopSort::req;
    if (w == "upd") return TopSort::upd;
    if (w == "clients") return TopSort::clients;
    if (w == "depth") return TopSort::depth;
    if (w == "heartbeat") return TopSort::heartbeat;
    if (w == "errors") return TopSort::errors;
    return std::nullopt;
}

struct TopSettings {
    std::chrono::milliseconds interval{1000}; ///< between refreshes (at least 1 ms)
    long long count = 0;                      ///< refreshes to show; 0: until Ctrl-C
    TopSort sort = TopSort::name;
    bool alive_only = false; ///< hide channels whose status is not alive
    bool json = false;
    bool tty = false; ///< stdout is a terminal: clear the screen per refresh (text only)
    Palette palette;  ///< colour for text output
};

/// One channel in one refresh.
struct TopRow {
    std::string name;
    venom::channel_status status = venom::channel_status::missing;
    bool readable = false; ///< the counters below were read (else only status and pid)
    bool stuck = false;
    std::uint32_t pid = 0; ///< 0: not known
    std::uint32_t clients = 0;
    std::uint32_t max_clients = 0;
    std::optional<double> requests_per_s; ///< empty: not readable
    std::optional<double> updates_per_s;
    std::uint64_t queue_depth = 0;
    std::optional<double> heartbeat_age_s; ///< empty: never beat, or not readable
    std::uint64_t errors = 0;
    std::uint64_t new_errors = 0; ///< since the previous sample
    std::optional<double> age_s;  ///< since the daemon created the segment
};

/// The refreshing view: the inspectors, and the rows of the last refresh.
class Top {
public:
    /// One refresh (see the file's comment). `stop` cuts the double sample's sleep short
    /// (the rows then have the rates of a shorter window). Throws what list_channels() throws
    /// (the channel directory cannot be read) and what ChannelInspector::open() throws.
    std::vector<TopRow> refresh(const TopSettings& s, const os::StopFlag& stop) {
        const std::vector<std::string> names = venom::list_channels();
        for (auto it = entries_.begin(); it != entries_.end();)
            it = std::binary_search(names.begin(), names.end(), it->first) ? std::next(it)
                                                                           : entries_.erase(it);
        bool need_window = false;
        for (const std::string& n : names) {
            auto it = entries_.find(n);
            if (it == entries_.end() || must_reopen(it->second)) {
                Entry e;
                e.ins = venom::ChannelInspector::open(n, options());
                if (e.ins.opened().status == venom::channel_status::missing) {
                    if (it != entries_.end()) entries_.erase(it);
                    continue; // removed between the listing and the look
                }
                it = entries_.insert_or_assign(n, std::move(e)).first;
            }
            if (!it->second.prev && it->second.ins.readable()) {
                it->second.prev = it->second.ins.sample();
                need_window = true;
            }
        }
        if (need_window)
            sleep_until_or_stop(std::chrono::steady_clock::now() +
                                    std::min<std::chrono::milliseconds>(first_window, s.interval),
                                stop);
        std::vector<TopRow> rows;
        const std::uint64_t now_unix = unix_now_ns();
        for (auto& [name, e] : entries_) {
            TopRow r = row(name, e, now_unix);
            if (!s.alive_only || r.status == venom::channel_status::alive)
                rows.push_back(std::move(r));
        }
        sort_rows(rows, s.sort);
        return rows;
    }

    /// Numeric keys descending, the heartbeat oldest first (none last), ties by name.
    static void sort_rows(std::vector<TopRow>& rows, TopSort key) {
        auto number = [key](const TopRow& r) -> double {
            switch (key) {
            case TopSort::req: return r.requests_per_s.value_or(-1);
            case TopSort::upd: return r.updates_per_s.value_or(-1);
            case TopSort::clients: return r.clients;
            case TopSort::depth: return static_cast<double>(r.queue_depth);
            case TopSort::heartbeat: return r.heartbeat_age_s.value_or(-1);
            case TopSort::errors: return static_cast<double>(r.errors);
            case TopSort::name: return 0;
            }
            return 0;
        };
        std::sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
            const double x = number(a), y = number(b);
            if (x != y) return x > y;
            return a.name < b.name;
        });
    }

private:
    struct Entry {
        venom::ChannelInspector ins;
        std::optional<venom::ChannelSample> prev; ///< the sample the next rates start from
    };

    static venom::InspectOptions options() {
        venom::InspectOptions o;
        o.clients = false;      // clients_alive() counts the live ones; the slots are not shown
        o.errors = false;       // the count is in the sample; the texts are not shown
        o.map_untrusted = true; // as the rest of the tool (inspect.hpp: SIGBUS accepted)
        return o;
    }

    /// The status the daemon's liveness shows now, from the status it was opened with.
    static venom::channel_status status_now(const Entry& e, const venom::DaemonInfo& d) {
        using venom::channel_status;
        const channel_status opened = e.ins.opened().status;
        if (!e.ins.readable()) return opened;
        if (d.serving) return channel_status::alive;
        if (d.alive)
            return opened == channel_status::stopped || opened == channel_status::closed
                       ? opened
                       : channel_status::stopped;
        return venom::is_leftover(opened) ? opened : channel_status::stale;
    }

    static bool must_reopen(const Entry& e) {
        if (!e.ins.current()) return true;
        return status_now(e, e.ins.daemon()) != e.ins.opened().status;
    }

    static TopRow row(const std::string& name, Entry& e, std::uint64_t now_unix) {
        using seconds_d = std::chrono::duration<double>;
        TopRow r;
        r.name = name;
        const venom::ChannelInfo& info = e.ins.opened();
        const venom::DaemonInfo d = e.ins.daemon();
        r.status = status_now(e, d);
        r.pid = d.pid;
        r.readable = e.ins.readable();
        if (d.created_unix_ns != 0 && now_unix >= d.created_unix_ns)
            r.age_s = static_cast<double>(now_unix - d.created_unix_ns) / 1e9;
        if (!r.readable) {
            r.clients = info.clients_alive;
            return r;
        }
        const venom::ChannelSample cur = e.ins.sample();
        const venom::ChannelSample prev = e.prev ? *e.prev : cur;
        r.clients = e.ins.clients_alive();
        r.max_clients = info.layout.config.max_clients;
        const double dt = seconds_d(cur.at - prev.at).count();
        auto rate = [dt](std::uint64_t a, std::uint64_t b) {
            return dt > 0 && b >= a ? static_cast<double>(b - a) / dt : 0.0;
        };
        r.requests_per_s = rate(prev.commands_handled, cur.commands_handled);
        r.updates_per_s = rate(prev.state_version, cur.state_version);
        r.queue_depth = cur.queue_depth;
        if (cur.heartbeat_age) r.heartbeat_age_s = seconds_d(*cur.heartbeat_age).count();
        r.errors = cur.errors_logged;
        r.new_errors =
            cur.errors_logged >= prev.errors_logged ? cur.errors_logged - prev.errors_logged : 0;
        r.stuck = r.status == venom::channel_status::alive && cur.heartbeat_age &&
                  *cur.heartbeat_age > stuck_heartbeat && cur.queue_depth > 0 &&
                  cur.commands_handled == prev.commands_handled;
        e.prev = cur;
        return r;
    }

    std::map<std::string, Entry> entries_;
};

/// The refresh as one JSON line.
inline std::string top_json(const TopSettings& s, const std::vector<TopRow>& rows) {
    Json j;
    j.begin_object()
        .kv("unix_ns", unix_now_ns())
        .kv("interval_s", std::chrono::duration<double>(s.interval).count());
    j.key("channels").begin_array();
    auto opt = [&j](const char* k, const std::optional<double>& v) {
        if (v) j.kv(k, *v);
        else j.key(k).null();
    };
    for (const TopRow& r : rows) {
        j.begin_object().kv("name", r.name).kv("status", venom::to_string(r.status));
        j.kv("stuck", r.stuck);
        if (r.pid != 0) j.kv("pid", r.pid);
        else j.key("pid").null();
        j.kv("clients", r.clients);
        if (r.readable) j.kv("max_clients", r.max_clients);
        else j.key("max_clients").null();
        opt("requests_per_s", r.requests_per_s);
        opt("updates_per_s", r.updates_per_s);
        if (r.readable) j.kv("queue_depth", r.queue_depth);
        else j.key("queue_depth").null();
        opt("heartbeat_age_s", r.heartbeat_age_s);
        if (r.readable) j.kv("errors", r.errors).kv("new_errors", r.new_errors);
        else j.key("errors").null().key("new_errors").null();
        opt("age_s", r.age_s);
        j.end_object();
    }
    j.end_array().end_object();
    return j.str();
}

/// The refresh as a table: a header row and a row per channel, columns as wide as their
/// widest cell (measured without escape codes). Ends with a newline.
inline std::string top_text(const TopSettings& s, const std::vector<TopRow>& rows) {
    constexpr std::size_t columns = 10;
    static const char* const head[columns] = {"NAME",  "STATUS", "PID",       "CLIENTS", "REQ/S",
                                              "UPD/S", "DEPTH",  "HEARTBEAT", "ERRORS",  "AGE"};
    // Left-aligned: NAME and STATUS; the numbers are right-aligned.
    static const bool left[columns] = {true,  true,  false, false, false,
                                       false, false, false, false, false};
    struct Cells {
        std::string c[columns];
        const char* status_code = "";
    };
    std::vector<Cells> table;
    for (const TopRow& r : rows) {
        Cells x;
        x.c[0] = r.name;
        x.c[1] = r.stuck ? stuck_word : venom::to_string(r.status);
        x.status_code = r.stuck ? Palette::stuck_code : Palette::code_for(r.status);
        x.c[2] = r.pid != 0 ? std::to_string(r.pid) : "-";
        x.c[3] = r.readable ? std::to_string(r.clients) + "/" + std::to_string(r.max_clients)
                            : (r.clients != 0 ? std::to_string(r.clients) : "-");
        x.c[4] = r.requests_per_s ? fixed(*r.requests_per_s) : "-";
        x.c[5] = r.updates_per_s ? fixed(*r.updates_per_s) : "-";
        x.c[6] = r.readable ? std::to_string(r.queue_depth) : "-";
        x.c[7] = !r.readable         ? "-"
                 : r.heartbeat_age_s ? fixed(*r.heartbeat_age_s, 2) + "s"
                                     : "never";
        x.c[8] = !r.readable
                     ? "-"
                     : std::to_string(r.errors) +
                           (r.new_errors != 0 ? " (+" + std::to_string(r.new_errors) + ")" : "");
        x.c[9] = r.age_s ? human_duration(*r.age_s) : "-";
        table.push_back(std::move(x));
    }
    std::size_t width[columns];
    for (std::size_t i = 0; i < columns; ++i) {
        width[i] = std::string_view(head[i]).size();
        for (const Cells& x : table) width[i] = std::max(width[i], x.c[i].size());
    }
    const Palette& p = s.palette;
    auto line = [&](const std::string* cell, const char* status_code, bool header) {
        std::string out;
        for (std::size_t i = 0; i < columns; ++i) {
            if (i != 0) out += "  ";
            // The last column is not padded on the right (no trailing blanks).
            const std::size_t w = i + 1 == columns && left[i] ? 0 : width[i];
            out += p.pad(cell[i], w, header ? "" : i == 1 ? status_code : "", !left[i]);
        }
        return header ? p.header(out) + "\n" : out + "\n";
    };
    std::string head_cells[columns];
    for (std::size_t i = 0; i < columns; ++i) head_cells[i] = head[i];
    std::string out = line(head_cells, "", true);
    for (const Cells& x : table) out += line(x.c, x.status_code, false);
    if (rows.empty())
        out += s.alive_only ? "(no live channels)\n"
                            : "(no channels in " + venom::channel_directory() + ")\n";
    return out;
}

/// Runs top until --count refreshes, `stop` (Ctrl-C) or a closed stdout. Returns the exit code
/// (0); throws as Top::refresh().
inline int run_top(const TopSettings& s, const os::StopFlag& stop) {
    Top top;
    for (long long n = 0; stop == 0 && (s.count == 0 || n < s.count); ++n) {
        if (n != 0 && !sleep_until_or_stop(std::chrono::steady_clock::now() + s.interval, stop))
            break;
        const std::vector<TopRow> rows = top.refresh(s, stop);
        std::string out;
        if (s.json) {
            out = top_json(s, rows) + "\n";
        } else {
            out = top_text(s, rows);
            if (s.tty) out = clear_screen + out;
            else if (n != 0) out = "\n" + out;
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
        if (std::ferror(stdout) != 0) break; // `| head` closed it: a quiet end
    }
    return 0;
}

} // namespace venom_cli
