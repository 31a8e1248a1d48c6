// SPDX-License-Identifier: BSL-1.0
/// \file venom/inspect.hpp
/// Looking at channels from outside: which exist, whether their daemon lives and beats, their
/// configuration, clients, queue, counters and last errors. For health checks, exporters and
/// the `venom` tool.
///
///     for (const std::string& name : venom::list_channels()) {
///         const venom::ChannelInfo c = venom::inspect_channel(name);
///         std::printf("%s %s\n", name.c_str(), venom::to_string(c.status));
///     }
///
/// Read-only, by construction: nothing here writes to or locks anything of a channel it looks
/// at (files are opened read-only, the segment is mapped read-only, locks are only queried), so
/// a daemon and its shells cannot tell they are watched, and an inspection never takes a
/// client slot. Any process may inspect; what it learns depends on what it may open (another
/// user's channel of Access::owner_only: its liveness only, from the kernel's lock table on
/// Linux). Every value read from a segment is treated as hostile: bounds come from the mapping's
/// real size, counts are clamped, texts are cut, and nothing read is used as an index unchecked.
/// No call waits on another process; each makes a bounded number of file-system calls.
/// Windows: LockFileEx has no query, so a liveness probe takes the byte's lock for an instant
/// (a shell connecting at that moment passes the slot over and takes it on its second pass),
/// and a channel file deleted while an inspector holds it open keeps its name, and is listed,
/// until the inspector is destroyed.
#pragma once

#include <venom/config.hpp>
#include <venom/daemon_channel.hpp>
#include <venom/detail/daemon_log.hpp>
#include <venom/detail/inspect_os.hpp>
#include <venom/detail/liveness.hpp>
#include <venom/detail/seqlock.hpp>
#include <venom/detail/view_pins.hpp>
#include <venom/error.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace venom {

/// The layout version this build reads and writes (a daemon of another one shows as
/// incompatible_layout).
inline constexpr std::uint32_t layout_version = detail::layout_version;

/// What a channel's files say about it.
enum class channel_status : std::uint8_t {
    missing,       ///< no file of that name
    alive,         ///< a live daemon serves it
    stopped,       ///< a live daemon holds it but has stop()ped serving (its state is readable)
    starting,      ///< a live daemon holds the name and is building the segment
    stale,         ///< files are left but no process holds them: the daemon died
    closed,        ///< the daemon closed the channel and died before removing its files
    died_creating, ///< the daemon died while it built the segment (its record says so)
    foreign,       ///< files named like a channel that no venom daemon made (or not files)
    unknown,       ///< cannot tell (another user's files, and no lock table to read)
};

/// "alive", "died_creating", ...: the status's name.
inline const char* to_string(channel_status s) noexcept {
    switch (s) {
    case channel_status::missing: return "missing";
    case channel_status::alive: return "alive";
    case channel_status::stopped: return "stopped";
    case channel_status::starting: return "starting";
    case channel_status::stale: return "stale";
    case channel_status::closed: return "closed";
    case channel_status::died_creating: return "died_creating";
    case channel_status::foreign: return "foreign";
    case channel_status::unknown: return "unknown";
    }
    return "unknown";
}

/// Whether a channel's daemon is gone and its files are left (what remove_stale removes).
inline bool is_leftover(channel_status s) noexcept {
    return s == channel_status::stale || s == channel_status::closed ||
           s == channel_status::died_creating;
}

/// Where a channel's files are.
struct ChannelPaths {
    std::string lock;    ///< the name lock file
    std::string segment; ///< Linux: the segment file; Windows: the incarnation's liveness file
};

/// The paths of channel `name` (Windows: of its current incarnation, if it has a record).
/// Throws invalid_name.
inline ChannelPaths channel_paths(std::string_view name) {
    validate_name(name);
    ChannelPaths p;
    p.lock = detail::lock_path(name);
#ifdef _WIN32
    std::uint64_t incarnation = 0;
    try {
        incarnation = detail::find_incarnation(name);
    } catch (const error&) {
        // no ready record: the segment has no name yet
    }
    p.segment = incarnation != 0 ? detail::liveness_path(name, incarnation) : std::string();
#else
    p.segment = detail::segment_path(name);
#endif
    return p;
}

/// The directory where channel files are (Linux "/dev/shm/"; Windows %TEMP%).
inline std::string channel_directory() { return detail::channel_files_directory(); }

/// Names of the channels with a file in channel_directory(), sorted, each once. Only names
/// that pass validate_name are listed; nothing is opened. On Windows another user's channels
/// are not listed (their files are in their own %TEMP%). Sets `ec` (and returns what it found)
/// if the directory cannot be read.
inline std::vector<std::string> list_channels(std::error_code& ec) {
    std::vector<std::string> names;
    detail::scan_channel_names(names, ec);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}
/// As above; throws permission_denied or system_failure if the directory cannot be read.
inline std::vector<std::string> list_channels() {
    std::error_code ec;
    std::vector<std::string> names = list_channels(ec);
    if (ec) throw error(ec, "listing the channels in " + channel_directory());
    return names;
}

/// How to inspect.
struct InspectOptions {
    /// Map segments of users a shell would not trust (ShellOptions::trusted_uid, root and this
    /// user are trusted). Their owner can truncate such a segment under the mapping, which
    /// raises SIGBUS in this process at the next read of a lost page: only for tools that
    /// accept that (the venom tool does). Off: such a channel's status and liveness are still
    /// told, its details are not (readable false, permission_denied).
    bool map_untrusted = false;
    /// A further uid whose segments are trusted, as ShellOptions::trusted_uid.
    std::uint32_t trusted_uid = ShellOptions::no_uid;
    bool clients = true; ///< fill ChannelInfo::clients (one lock query per slot)
    bool errors = true;  ///< fill ChannelInfo::recent_errors
};

/// The daemon, as its record, its lock and its heartbeat tell.
struct DaemonInfo {
    std::uint32_t pid = 0;             ///< 0: not known
    std::uint32_t uid = 0;             ///< its effective uid (Linux)
    bool alive = false;                ///< it holds the segment's "ready" lock
    bool name_held = false;            ///< someone holds the name lock (a daemon, or starting)
    bool serving = false;              ///< alive, and the channel is ready (not stopped/closed)
    std::uint64_t created_unix_ns = 0; ///< when it created the segment (system clock)
    std::uint64_t beats = 0;           ///< heartbeats so far
    /// Time since its last heartbeat: run() stamps one at least every 100 ms while idle and
    /// every 64 commands while busy; poll() every 16th call that finds nothing (so a daemon
    /// polling once a second beats every 16 s). Empty: it never beat (a daemon that only
    /// publishes), or the stamp is ahead of this process's clock (another time namespace).
    /// Old, with queue_depth > 0 and commands_handled not moving: stuck in a handler; old
    /// with an empty queue: run()/poll() is not being called.
    std::optional<std::chrono::nanoseconds> heartbeat_age;
};

/// One client slot that is held by a live shell, or marked connected by a dead one.
struct ClientInfo {
    std::uint32_t id = 0;                ///< the slot (ShellChannel::client_id)
    std::uint32_t pid = 0;               ///< its shell's process id, as its record says
    bool alive = false;                  ///< its shell holds the slot's lock (lives)
    bool connected = false;              ///< its record says connected (a dead shell leaves it)
    std::uint64_t requests = 0;          ///< requests sent in its current (or last) connection
    std::uint64_t connections = 0;       ///< connections this slot has had
    std::uint64_t connected_unix_ns = 0; ///< when its current (or last) connection began
};

/// One error answer of the daemon's log (its last 16 are kept).
struct HandlerError {
    std::uint64_t ordinal = 0; ///< counted from 0 over the daemon's life
    std::uint64_t unix_ns = 0; ///< when it was answered (system clock)
    std::uint64_t request = 0; ///< the request id answered
    std::uint32_t client = 0;  ///< the client slot it answered
    std::uint32_t code = 0;    ///< the venom::errc value, as stored
    bool known_code = false;   ///< code names an errc of this build
    std::string text;          ///< the answer's text (what() of the handler's exception), cut
    bool truncated = false;    ///< the text was longer than the log keeps (88 bytes)
};

/// The counters of a channel at one moment (each exact, together close: what a monitor needs).
struct ChannelSample {
    std::chrono::steady_clock::time_point at{}; ///< when it was taken
    std::uint64_t state_version = 0;            ///< states published so far
    std::uint64_t state_length = 0;             ///< bytes of the newest state
    std::uint64_t head = 0;                     ///< queue position the daemon handles next
    std::uint64_t tail = 0;                     ///< queue position the next command claims
    std::uint64_t queue_depth = 0;              ///< commands queued now (0..ring_slots)
    std::uint64_t commands_handled = 0;         ///< commands the handler ran
    std::uint64_t commands_malformed = 0;       ///< commands with out-of-range fields
    std::uint64_t commands_stale = 0;           ///< dropped: their sender disconnected
    std::uint64_t handler_errors = 0;           ///< handler threw, or answered too much
    std::uint64_t queue_repairs = 0;            ///< holes skipped, tails put back
    std::uint64_t state_busy = 0;               ///< writes refused: views pinned every buffer
    std::uint64_t pins_cleared = 0;             ///< dead shells' view pins cleared
    std::uint64_t replies_stale = 0;    ///< deferred answers (venom::Reply) whose shell had gone
    std::uint64_t commands_expired = 0; ///< not handled: their deadline passed first (timeout)
    std::uint64_t errors_logged = 0;    ///< error answers logged (handler errors and malformed)
    std::uint64_t beats = 0;            ///< the daemon's heartbeats
    std::uint32_t pinned_buffers = 0;   ///< buffers other than the newest held by views now
    std::optional<std::chrono::nanoseconds> heartbeat_age; ///< as DaemonInfo::heartbeat_age
};

/// The configuration as the channel's control block records it.
struct ChannelLayoutInfo {
    ChannelConfig config{1, 1, 1};   ///< as passed to DaemonChannel::create
    std::uint64_t segment_bytes = 0; ///< the segment's size
    std::uint32_t ring_slots = 0;    ///< queue slots (cmd_slots, max_clients, power of two)
    std::uint32_t page_size = 0;     ///< the page size regions are aligned to
};

/// Everything inspect_channel() learnt about one channel.
struct ChannelInfo {
    std::string name;                                ///< the channel's name
    channel_status status = channel_status::missing; ///< what its files say
    /// The segment was mapped and checked: layout, sample, clients and errors hold values.
    bool readable = false;
    /// Why it is not readable, or what is off about it (permission_denied, corrupt_channel,
    /// incompatible_layout, ...): empty code if nothing.
    std::error_code problem;
    std::string problem_text;         ///< says what, and what to do; empty if nothing
    std::uint32_t layout_version = 0; ///< the daemon's, from its record; 0 if unknown
    std::uint32_t owner_uid = 0;      ///< owner of the channel's files (Linux)
    ChannelPaths paths;               ///< its files
    DaemonInfo daemon;                ///< its daemon
    ChannelLayoutInfo layout;         ///< its configuration (readable only)
    ChannelSample sample;             ///< its counters (readable only)
    std::vector<ClientInfo> clients;  ///< its client slots in use (readable, options.clients)
    /// The last error answers, oldest first (readable, options.errors)
    std::vector<HandlerError> recent_errors;
    std::uint32_t clients_alive = 0; ///< live shells (also learnt without reading the segment)
    /// Identifies the daemon's instance: a restarted daemon has another. 0 if unknown.
    std::uint64_t incarnation_id = 0;
};

namespace detail {

/// steady_clock nanoseconds -> the age a tool shows; empty for "never" or a stamp from the
/// future (over a second ahead of this clock: another time namespace, or hostile bytes).
inline std::optional<std::chrono::nanoseconds> heartbeat_age(std::uint64_t stamp_ns,
                                                             clock::time_point now) noexcept {
    if (stamp_ns == 0) return std::nullopt;
    const std::uint64_t now_ns = steady_ns(now);
    constexpr std::uint64_t future_tolerance_ns = 1000000000; // clocks read on two cores
    if (stamp_ns > now_ns) {
        if (stamp_ns - now_ns > future_tolerance_ns) return std::nullopt;
        return std::chrono::nanoseconds(0);
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(
        std::min<std::uint64_t>(now_ns - stamp_ns, static_cast<std::uint64_t>(INT64_MAX))));
}

/// What the name lock file holds.
enum class record_kind { none, ready, building, zero, garbage };

/// A look at one channel: the files and locks, and (when it may) the segment mapped read-only.
class Inspection {
public:
    ChannelInfo info;
    std::unique_ptr<Attachment> att; ///< the read-only mapping, if readable

    /// false: the files changed while it looked (look again).
    bool look(std::string_view name, const InspectOptions& o) {
        info = ChannelInfo{};
        att.reset();
        info.name = std::string(name);
        info.paths.lock = lock_path(name);
        const FileFacts lf = look_at(info.paths.lock);
        // The record, if the lock file may be read: where the segment is and whose it is.
        NameRecord r{};
        record_kind kind = record_kind::none;
        LockFile lock;
        bool lock_unreadable = false;
        if (lf.exists) {
            info.owner_uid = lf.owner;
            if (!lf.regular) return foreign(info.paths.lock, lf);
            try {
                Trust anyone;
                anyone.any_owner = true;
                lock = LockFile::open_trusted(info.paths.lock, anyone, false);
            } catch (const error& e) {
                if (e.code() == errc::channel_not_found) return false; // removed meanwhile
                if (e.code() != errc::permission_denied) throw;
                lock_unreadable = true;
            }
            if (lock.is_open()) {
                info.daemon.name_held = lock.held_by_other(name_lock_byte);
                kind = read_kind(lock, name, r);
            }
        }
        const std::uint64_t incarnation =
            kind == record_kind::ready || kind == record_kind::building ? r.incarnation : 0;
        info.paths.segment = liveness_path(name, incarnation);
        const FileFacts sf = look_at(info.paths.segment);
        if (!lf.exists && !sf.exists) return true; // missing
        if (sf.exists && !sf.regular) return foreign(info.paths.segment, sf);
        if (!lf.exists) info.owner_uid = sf.owner;
        if (kind == record_kind::ready || kind == record_kind::building) {
            info.daemon.pid = r.daemon_pid;
            info.daemon.uid = r.daemon_uid;
            info.layout_version = r.layout;
            info.daemon.created_unix_ns = r.created_unix_ns;
            if (kind == record_kind::ready)
                info.incarnation_id = r.created_unix_ns ^ (std::uint64_t{r.daemon_pid} << 40);
        }
        LockFile seg;
        bool seg_unreadable = false;
        if (sf.exists) {
            try {
                Trust anyone;
                anyone.any_owner = true;
                seg = LockFile::open_trusted(info.paths.segment, anyone, false);
            } catch (const error& e) {
                if (e.code() == errc::channel_not_found) return false;
                if (e.code() != errc::permission_denied) throw;
                seg_unreadable = true;
            }
#ifdef _WIN32
            // A probe takes the lock for an instant on Windows: never the one a daemon that is
            // building its segment is about to take (its create would fail).
            if (seg.is_open() && kind != record_kind::building)
                info.daemon.alive = daemon_alive(seg);
#else
            if (seg.is_open()) info.daemon.alive = daemon_alive(seg);
#endif
        }
        if (lock_unreadable || seg_unreadable) return from_lock_table(lf, sf);
        if (lf.exists && sf.exists && lf.owner != sf.owner) {
            info.status = channel_status::foreign;
            set_problem(errc::permission_denied,
                        "the files of \"" + info.name + "\" belong to different users (uid " +
                            std::to_string(lf.owner) + " and " + std::to_string(sf.owner) +
                            "): not one daemon's; let their owners or root remove them");
            return true;
        }
        return classify(name, o, kind, r, lf.exists, sf.exists, seg);
    }

private:
    /// What the lock file holds; `r` gets a ready or building record.
    static record_kind read_kind(const LockFile& lock, std::string_view name, NameRecord& r) {
        using K = record_kind;
        NameRecord raw{};
        const std::size_t n = lock.read_at(0, &raw, sizeof raw);
        const auto* p = reinterpret_cast<const unsigned char*>(&raw);
        if (std::all_of(p, p + n, [](unsigned char c) { return c == 0; })) return K::zero;
        if (read_record(lock, name, r)) return K::ready;
        if (read_record(lock, name, r, true)) return K::building;
        return K::garbage;
    }
    bool foreign(const std::string& path, const FileFacts& f) {
        info.status = channel_status::foreign;
        info.owner_uid = f.owner;
        set_problem(errc::permission_denied, path + " is a " + kind_of(f) + " owned by uid " +
                                                 std::to_string(f.owner) +
                                                 ", not a venom channel file; it was not opened");
        return true;
    }
    static std::string kind_of(const FileFacts& f) {
#ifdef _WIN32
        return f.regular ? "file" : "directory";
#else
        return f.kind();
#endif
    }
    void set_problem(errc code, std::string text) {
        info.problem = make_error_code(code);
        info.problem_text = std::move(text);
    }

    /// Another user's files that this one may not open: liveness from the kernel's locks.
    bool from_lock_table(const FileFacts& lf, const FileFacts& sf) {
        const std::string owner = "uid " + std::to_string(info.owner_uid);
#ifdef _WIN32
        (void)lf;
        (void)sf;
        info.status = channel_status::unknown;
        set_problem(errc::permission_denied, "the files of \"" + info.name +
                                                 "\" may not be "
                                                 "opened by this user: ask " +
                                                 owner);
        return true;
#else
        LockTable t;
        if (!t.read()) {
            info.status = channel_status::unknown;
            set_problem(errc::permission_denied,
                        "the files of \"" + info.name + "\" belong to " + owner +
                            " and may not be read here, and /proc/locks cannot be read: run as " +
                            owner + " or root to see whether its daemon lives");
            return true;
        }
        info.daemon.name_held = lf.exists && t.held(lf.dev, lf.ino, name_lock_byte);
        info.daemon.alive = sf.exists && t.held(sf.dev, sf.ino, segment_daemon_byte);
        info.clients_alive =
            sf.exists ? t.count_from(sf.dev, sf.ino, segment_first_client_byte) : 0;
        info.status = info.daemon.alive       ? channel_status::alive
                      : info.daemon.name_held ? channel_status::starting
                                              : channel_status::stale;
        info.daemon.serving = false; // not known without the segment
        set_problem(errc::permission_denied,
                    "the files of \"" + info.name + "\" belong to " + owner +
                        " and may not be read by this user: liveness is from the kernel's lock "
                        "table; run as " +
                        owner + " or root for its details");
        return true;
#endif
    }

    /// The status from what the files hold (venom/inspect.hpp's table), then the segment.
    bool classify(std::string_view name, const InspectOptions& o, record_kind kind,
                  const NameRecord& r, bool has_lock, bool has_seg, const LockFile& seg) {
        using K = record_kind;
        const bool held = info.daemon.name_held, alive = info.daemon.alive;
        if (!has_lock) {
            // A daemon creates its lock file first and removes it last.
            if (alive) {
                info.status = channel_status::alive;
                set_problem(errc::corrupt_channel,
                            info.paths.lock +
                                " was removed while its daemon runs: shells cannot "
                                "find it; stop the daemon and start it again");
            } else {
                info.status = channel_status::foreign;
                set_problem(errc::corrupt_channel,
                            info.paths.segment +
                                " has no lock file beside it, so no venom daemon "
                                "made it (a daemon creates its lock file first "
                                "and removes it last); remove it if it is not "
                                "another program's");
            }
            return true;
        }
        if (kind == K::garbage) {
            info.status = held ? channel_status::starting : channel_status::foreign;
            if (!held)
                set_problem(errc::corrupt_channel,
                            info.paths.lock +
                                " holds no venom record: not made by a venom daemon "
                                "(or written over); remove it if it is not "
                                "another program's");
            return true;
        }
        if (kind != K::ready) {
            if (held) {
                info.status = channel_status::starting;
                return true;
            }
            if (!has_seg) {
                info.status = channel_status::stale;
                set_problem(errc::channel_not_found,
                            kind == K::building
                                ? "its daemon (pid " + std::to_string(r.daemon_pid) +
                                      ") died while creating it; only the lock file is left"
                                : std::string("only the lock file is left"));
                return true;
            }
            if (kind == K::building) {
                info.status = channel_status::died_creating;
                set_problem(errc::corrupt_channel, "its daemon (pid " +
                                                       std::to_string(r.daemon_pid) +
                                                       ") died while creating the segment");
            } else {
                info.status = channel_status::closed;
                set_problem(errc::channel_not_found,
                            "its daemon closed it and died before removing its files");
            }
            return true;
        }
        if (!has_seg) {
            info.status = held ? channel_status::starting : channel_status::stale;
            if (!held) set_problem(errc::channel_not_found, "only the lock file is left");
            return true;
        }
        if (!matches_segment(seg, r.segment_dev, r.segment_ino)) {
            info.status = held ? channel_status::starting : channel_status::foreign;
            if (!held)
                set_problem(errc::corrupt_channel,
                            info.paths.segment +
                                " is not the segment file its daemon's record "
                                "names (replaced by hand?)");
            return true;
        }
        // The record names this segment: alive, stopped, closed or stale, and readable when
        // its layout is ours and its owner is one this process may map.
        info.status = alive ? channel_status::alive : channel_status::stale;
        if (!o.map_untrusted) {
            Trust t;
            t.extra_uid = o.trusted_uid;
            if (!t.trusts(info.owner_uid)) {
                set_problem(errc::permission_denied,
                            "the channel belongs to uid " + std::to_string(info.owner_uid) +
                                ", whom this process does not trust to map (it could truncate "
                                "the segment: SIGBUS); InspectOptions::map_untrusted maps it");
                return true;
            }
        }
        AttachOptions how;
        how.trust.any_owner = true;
        how.writable = false;
        how.require_live = false;
        try {
            att = std::make_unique<Attachment>(attach(name, how));
        } catch (const error& e) {
            if (e.code() == errc::channel_not_found) return false; // replaced meanwhile
            set_problem(static_cast<errc>(e.code().value()), e.what());
            return true;
        }
        // attach() checked the record again: it may have moved on meanwhile.
        if (att->record.created_unix_ns != r.created_unix_ns ||
            att->record.daemon_pid != r.daemon_pid)
            return false;
        info.readable = true;
        const std::uint32_t st = att->map.cb->state.load(std::memory_order_acquire);
        info.daemon.alive = att->daemon_alive;
        if (!info.daemon.alive)
            info.status = st == channel_closed ? channel_status::closed : channel_status::stale;
        else if (st == channel_stopped) info.status = channel_status::stopped;
        else if (st == channel_closed) info.status = channel_status::closed; // closing now
        else info.status = channel_status::alive;
        info.daemon.serving = info.status == channel_status::alive;
        read_segment(o);
        return true;
    }

    void read_segment(const InspectOptions& o) {
        const ChannelMap& m = att->map;
        const ControlBlock& cb = *m.cb;
        ChannelLayoutInfo& l = info.layout;
        l.config.data_size = m.data_size;
        l.config.cmd_slots = m.cmd_slots;
        l.config.max_clients = m.max_clients;
        l.config.max_cmd_size = m.max_cmd_size;
        l.config.max_response_size = m.max_response_size;
        l.config.state_buffers = m.state_buffers;
        l.config.claim_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::nanoseconds(std::min<std::uint64_t>(m.claim_timeout_ns, INT64_MAX)));
        const std::uint64_t spin = std::min<std::uint64_t>(cb.spin_time_ns, 1000000000);
        l.config.spin_time =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(spin));
        if (cb.wait_policy == static_cast<std::uint32_t>(WaitPolicy::busy_poll))
            l.config.wait = WaitPolicy::busy_poll;
        switch (cb.access) {
        case static_cast<std::uint32_t>(Access::group): l.config.access = Access::group; break;
        case static_cast<std::uint32_t>(Access::everyone):
            l.config.access = Access::everyone;
            break;
        default: l.config.access = Access::owner_only; break;
        }
        l.segment_bytes = att->mapping.size();
        l.ring_slots = m.ring_slots;
        l.page_size = m.page_size;
        info.daemon.beats = cb.beats.load(std::memory_order_relaxed);
        info.sample = sample(*att);
        info.daemon.heartbeat_age = info.sample.heartbeat_age;
        info.clients_alive = 0;
        for (std::uint32_t i = 0; i < m.max_clients; ++i) {
            if (!o.clients) {
                if (client_alive(att->segment_file, i)) ++info.clients_alive;
                continue;
            }
            const ClientRecord& rec = m.client(i);
            ClientInfo c;
            c.id = i;
            c.alive = client_alive(att->segment_file, i);
            c.connected = rec.state.load(std::memory_order_acquire) == client_connected;
            if (c.alive) ++info.clients_alive;
            if (!c.alive && !c.connected) continue;
            c.pid = rec.pid.load(std::memory_order_relaxed);
            c.requests = m.client_requests(i).load(std::memory_order_relaxed);
            c.connections = rec.generation.load(std::memory_order_relaxed);
            c.connected_unix_ns = rec.connected_unix_ns.load(std::memory_order_relaxed);
            info.clients.push_back(c);
        }
        if (o.errors) info.recent_errors = recent_errors(cb);
    }

public:
    /// The counters now (relaxed loads of the daemon's lines; the queue's head before its
    /// tail, so tail >= head unless the bytes are hostile).
    static ChannelSample sample(const Attachment& a) noexcept {
        const ChannelMap& m = a.map;
        const ControlBlock& b = *m.cb;
        ChannelSample s;
        s.at = clock::now();
        const std::uint64_t word = b.state_word.load(std::memory_order_acquire);
        s.state_version = state_version_of(word);
        const std::uint32_t newest = state_buffer_of(word);
        if (s.state_version != 0 && newest < m.state_buffers)
            s.state_length = std::min<std::uint64_t>(
                m.buffer(newest).length.load(std::memory_order_relaxed), m.data_size);
        s.head = b.head.load(std::memory_order_acquire);
        s.tail = m.shared->tail.load(std::memory_order_acquire);
        s.queue_depth =
            s.tail < s.head ? 0 : std::min<std::uint64_t>(s.tail - s.head, m.ring_slots);
        s.commands_handled = b.commands_handled.load(std::memory_order_relaxed);
        s.commands_malformed = b.commands_malformed.load(std::memory_order_relaxed);
        s.commands_stale = b.commands_stale.load(std::memory_order_relaxed);
        s.handler_errors = b.handler_errors.load(std::memory_order_relaxed);
        s.queue_repairs = b.queue_repairs.load(std::memory_order_relaxed);
        s.state_busy = b.state_busy.load(std::memory_order_relaxed);
        s.pins_cleared = b.pins_cleared.load(std::memory_order_relaxed);
        s.replies_stale = b.replies_stale.load(std::memory_order_relaxed);
        s.commands_expired = b.commands_expired.load(std::memory_order_relaxed);
        s.errors_logged = b.errors_logged.load(std::memory_order_relaxed);
        s.beats = b.beats.load(std::memory_order_relaxed);
        s.heartbeat_age =
            heartbeat_age(b.heartbeat_steady_ns.load(std::memory_order_relaxed), s.at);
        // As the writer would count them (view_pins.hpp), read from outside: a moment's picture.
        const std::uint32_t mask = pinned_buffers_any(m);
        for (std::uint32_t i = 0; i < m.state_buffers; ++i)
            if (i != newest && ((mask >> i) & 1u) != 0) ++s.pinned_buffers;
        return s;
    }

    /// The logged errors still in the log, oldest first (at most error_log_entries).
    static std::vector<HandlerError> recent_errors(const ControlBlock& cb) {
        std::vector<HandlerError> out;
        const ErrorRange range = log_range(cb);
        for (std::uint64_t k = range.first; k < range.end; ++k) {
            ErrorBody body;
            if (!read_error(cb, k, body)) continue; // being written, or overwritten meanwhile
            HandlerError e;
            e.ordinal = k;
            e.unix_ns = body.unix_ns;
            e.request = body.request;
            e.client = body.client;
            e.code = body.code;
            e.known_code = body.code >= static_cast<std::uint32_t>(errc::channel_not_found) &&
                           body.code <= static_cast<std::uint32_t>(errc::wrong_size);
            e.text.assign(body.text, body.text_length);
            e.truncated = body.full_length > body.text_length;
            out.push_back(std::move(e));
        }
        return out;
    }
};

/// A look at the channel, retried while its files change under it (a daemon starting,
/// closing or taking over): a bounded number of times, then the last look is kept.
inline void inspect_into(Inspection& ins, std::string_view name, const InspectOptions& o) {
    constexpr int max_looks = 20;
    for (int k = 0; k < max_looks && !ins.look(name, o); ++k) {}
}

} // namespace detail

/// Looks at channel `name` once (see the file's comment for what it reads and never does).
/// Everything about the channel's condition is in the result (status, readable, problem);
/// throws only invalid_name, system_failure (an OS call failed unexpectedly) and bad_alloc.
inline ChannelInfo inspect_channel(std::string_view name, const InspectOptions& options = {}) {
    validate_name(name);
    detail::Inspection ins;
    detail::inspect_into(ins, name, options);
    return std::move(ins.info);
}

/// As above; an invalid name or a failed OS call sets `ec` (and returns what was learnt).
inline ChannelInfo inspect_channel(std::string_view name, const InspectOptions& options,
                                   std::error_code& ec) {
    ec.clear();
    try {
        return inspect_channel(name, options);
    } catch (const error& e) {
        ec = e.code();
        ChannelInfo info;
        info.name = std::string(name);
        info.status = channel_status::unknown;
        info.problem = e.code();
        info.problem_text = e.what();
        return info;
    }
}

/// A channel held open for repeated looks (a monitor's refresh): it keeps the read-only
/// mapping, so sample() is a few loads, no system call. Movable, not copyable; one thread at a
/// time. The mapping keeps the segment's memory alive after its daemon is gone (the counters
/// then stop moving): current() tells when the name now belongs to another daemon instance,
/// and a new open() sees that one.
class ChannelInspector {
public:
    ChannelInspector() = default; ///< looks at nothing (opened() has status missing)

    /// Looks at `name` as inspect_channel() does, and keeps what it mapped. Throws as
    /// inspect_channel().
    static ChannelInspector open(std::string_view name, const InspectOptions& options = {}) {
        validate_name(name);
        ChannelInspector c;
        c.options_ = options;
        c.ins_ = std::make_unique<detail::Inspection>();
        detail::inspect_into(*c.ins_, name, options);
        return c;
    }

    /// What open() learnt.
    const ChannelInfo& opened() const noexcept { return ins_ ? ins_->info : empty_info(); }
    /// Whether the segment is mapped (sample() and read_state() have something to read).
    bool readable() const noexcept { return ins_ && ins_->att; }

    /// The counters now; a default sample (all zero) if not readable().
    ChannelSample sample() const noexcept {
        if (!readable()) {
            ChannelSample s;
            s.at = std::chrono::steady_clock::now();
            return s;
        }
        return detail::Inspection::sample(*ins_->att);
    }

    /// The mapped daemon's liveness now (a lock query), its serving state, its heartbeat and
    /// the live clients; for a refreshing view that does not re-open the files each time.
    /// Without a mapping, the snapshot from open().
    DaemonInfo daemon() const noexcept {
        if (!readable()) return opened().daemon;
        DaemonInfo d = ins_->info.daemon;
        const detail::Attachment& a = *ins_->att;
        d.alive = detail::daemon_alive(a.segment_file);
        const std::uint32_t st = a.map.cb->state.load(std::memory_order_acquire);
        d.serving = d.alive && st == detail::channel_ready;
        d.beats = a.map.cb->beats.load(std::memory_order_relaxed);
        d.heartbeat_age = detail::heartbeat_age(
            a.map.cb->heartbeat_steady_ns.load(std::memory_order_relaxed), detail::clock::now());
        return d;
    }

    /// Live shells now (a lock query per slot); 0 if not readable().
    std::uint32_t clients_alive() const noexcept {
        if (!readable()) return 0;
        std::uint32_t n = 0;
        for (std::uint32_t i = 0; i < ins_->att->map.max_clients; ++i)
            if (detail::client_alive(ins_->att->segment_file, i)) ++n;
        return n;
    }

    /// A fresh, whole look at the channel (files, status, clients, errors), as
    /// inspect_channel(); the mapping kept is replaced by the new one.
    ChannelInfo info() {
        if (!ins_) return empty_info();
        const std::string name = ins_->info.name;
        detail::inspect_into(*ins_, name, options_);
        return ins_->info;
    }

    /// Whether the channel's name still belongs to the daemon instance that was mapped (its
    /// record names the same one). false once it closed, died and was replaced, or if nothing
    /// is mapped.
    bool current() const noexcept {
        if (!readable()) return false;
        try {
            detail::Trust anyone;
            anyone.any_owner = true;
            const auto lock =
                detail::LockFile::open_trusted(detail::lock_path(ins_->info.name), anyone, false);
            detail::NameRecord r{};
            return detail::read_record(lock, ins_->info.name, r) &&
                   r.created_unix_ns == ins_->att->record.created_unix_ns &&
                   r.daemon_pid == ins_->att->record.daemon_pid &&
                   r.incarnation == ins_->att->record.incarnation;
        } catch (...) {
            return false;
        }
    }

    /// Copies the newest complete state into buf[0, capacity), as a shell's read_data() would
    /// but without a client slot, and from a channel whose daemon is gone too (its last state).
    /// Returns the state's length; `version` gets its version. Errors in `ec`:
    /// buffer_too_small (nothing copied; the length is returned), corrupt_channel, timeout (a
    /// writer kept lapping the copy for 2 s), channel_not_found (not readable()).
    std::size_t read_state(void* buf, std::size_t capacity, std::uint64_t& version,
                           std::error_code& ec) const noexcept {
        version = 0;
        if (!readable()) {
            ec = make_error_code(errc::channel_not_found);
            return 0;
        }
        const detail::snapshot s = detail::seqlock_read(ins_->att->map, buf, capacity);
        ec = s.ec;
        version = s.version;
        return s.length;
    }

private:
    static const ChannelInfo& empty_info() noexcept {
        static const ChannelInfo none{};
        return none;
    }
    InspectOptions options_;
    std::unique_ptr<detail::Inspection> ins_;
};

} // namespace venom
