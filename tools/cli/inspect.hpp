// SPDX-License-Identifier: BSL-1.0
// tools/cli/inspect.hpp - looking into a channel without taking part in it.
//
// An Inspection finds a channel the way a shell does (venom/detail/liveness.hpp: the daemon's
// name record, then the segment file it names, mapped read-only and sized by fstat), and reads
// its control block, client records and liveness locks. It never writes to the segment, never
// takes a lock and never runs Boost's code over the segment's bytes, so a daemon and its shells
// cannot tell that they are being watched, and hostile bytes in the segment cannot steer it
// outside the mapping.
// It shows channels of every user (Trust::any_owner), but never opens anything that is not a
// regular file. (It maps other users' segments too: their owners can truncate them under it,
// which raises SIGBUS in any process touching the lost pages; run it as the channel's user
// where that matters.) The statuses:
//
//   alive     the segment file's daemon byte is held: a live daemon serves the channel
//   starting  the name lock is held but no record names a ready segment yet
//   stale     files are left in /dev/shm but no process holds the name: the daemon was killed
//   closed    the daemon marked the channel closed but died before removing its files
//   no_access the files belong to another user and may not be read, or are not plain files
//   missing   no file of that name
#pragma once

#include <venom/venom.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace venom_cli {

namespace vd = venom::detail;
using steady = std::chrono::steady_clock;

enum class Status { missing, alive, starting, stale, closed, no_access };

inline const char* status_name(Status s) {
    switch (s) {
    case Status::missing: return "missing";
    case Status::alive: return "alive";
    case Status::starting: return "starting";
    case Status::stale: return "stale";
    case Status::closed: return "closed";
    case Status::no_access: return "no_access";
    }
    return "unknown";
}

inline const char* wait_policy_name(std::uint32_t w) {
    switch (w) {
    case 0: return "spin_then_block";
    case 1: return "busy_poll";
    default: return "unknown";
    }
}

/// The counters of a channel at one moment (relaxed loads: each is exact, together they are
/// close, which is what a monitor needs).
struct Counters {
    steady::time_point at{};
    std::uint64_t version = 0;      ///< state writes so far
    std::uint64_t state_length = 0; ///< bytes of the newest state
    std::uint64_t head = 0, tail = 0;
    std::uint64_t handled = 0, malformed = 0, stale = 0, handler_errors = 0, repairs = 0;
    /// writes refused for views; dead shells' pins cleared
    std::uint64_t state_busy = 0, pins_cleared = 0;
    /// buffers other than the newest that views hold now
    std::uint32_t pinned_buffers = 0;

    std::uint64_t depth(std::uint32_t capacity) const {
        if (tail < head) return 0;
        return std::min<std::uint64_t>(tail - head, capacity);
    }
};

struct ClientSlot {
    std::uint32_t id = 0, pid = 0;
    bool alive = false;         ///< its shell holds the slot's lock byte
    bool connected = false;     ///< its record says connected (a killed shell leaves that behind)
    std::uint64_t requests = 0; ///< requests sent in its current (or last) connection
    std::uint64_t connections = 0; ///< connections this slot has had (its generation)
    std::uint64_t connected_unix_ns = 0;
};

class Inspection {
public:
    std::string name;
    Status status = Status::missing;
    std::string problem;        ///< why the segment could not be read; empty if it could
    venom::errc problem_code{}; ///< the venom error behind `problem`, if any
    bool shm_file = false, lock_file = false;
    bool name_held = false, daemon_alive = false;

    /// Looks at channel `name`. Throws only invalid_name (and bad_alloc); everything about the
    /// channel's condition ends up in status and problem.
    static Inspection open(const std::string& name) {
        venom::validate_name(name);
        for (int attempt = 0;; ++attempt) {
            Inspection ins;
            ins.name = name;
            if (ins.try_open() || attempt >= 20) return ins;
            // A daemon replaced or removed the files while we looked: look again.
        }
    }

    bool mapped() const noexcept { return att_ != nullptr; }
    const vd::ChannelMap& map() const noexcept { return att_->map; }
    const vd::ControlBlock& cb() const noexcept { return *att_->map.cb; }
    /// The uid owning the channel's files (valid when mapped()).
    std::uint32_t owner() const noexcept { return att_ ? att_->owner : 0; }

    Counters sample() const {
        Counters c;
        c.at = steady::now();
        if (!mapped()) return c;
        const auto& m = map();
        const auto& b = cb();
        const std::uint64_t word = b.state_word.load(std::memory_order_acquire);
        c.version = vd::state_version_of(word);
        if (c.version != 0 && vd::state_buffer_of(word) < m.state_buffers)
            c.state_length = std::min<std::uint64_t>(
                m.buffer(vd::state_buffer_of(word)).length.load(std::memory_order_relaxed),
                m.data_size);
        c.head = b.head.load(std::memory_order_acquire); // head first: then tail >= head
        c.tail = m.shared->tail.load(std::memory_order_acquire);
        c.handled = b.commands_handled.load(std::memory_order_relaxed);
        c.malformed = b.commands_malformed.load(std::memory_order_relaxed);
        c.stale = b.commands_stale.load(std::memory_order_relaxed);
        c.handler_errors = b.handler_errors.load(std::memory_order_relaxed);
        c.repairs = b.queue_repairs.load(std::memory_order_relaxed);
        c.state_busy = b.state_busy.load(std::memory_order_relaxed);
        c.pins_cleared = b.pins_cleared.load(std::memory_order_relaxed);
        // As the writer would count them (view_pins.hpp), read from outside: a moment's picture.
        const std::uint32_t mask = vd::pinned_buffers_any(m);
        for (std::uint32_t i = 0; i < m.state_buffers; ++i)
            if (i != vd::state_buffer_of(word) && (mask >> i) & 1u) ++c.pinned_buffers;
        return c;
    }

    /// The client slots in use: held by a live shell, or marked connected by a dead one.
    /// `all`: every slot.
    std::vector<ClientSlot> clients(bool all = false) const {
        std::vector<ClientSlot> out;
        if (!mapped()) return out;
        const auto& m = map();
        for (std::uint32_t i = 0; i < m.max_clients; ++i) {
            const auto& r = m.client(i);
            ClientSlot s;
            s.id = i;
            s.alive = vd::client_alive(att_->segment_file, i);
            s.connected = r.state.load(std::memory_order_acquire) == vd::client_connected;
            if (!all && !s.alive && !s.connected) continue;
            s.pid = r.pid.load(std::memory_order_relaxed);
            s.requests = m.client_requests(i).load(std::memory_order_relaxed);
            s.connections = r.generation.load(std::memory_order_relaxed);
            s.connected_unix_ns = r.connected_unix_ns.load(std::memory_order_relaxed);
            out.push_back(s);
        }
        return out;
    }

    std::uint32_t clients_alive() const {
        std::uint32_t n = 0;
        if (!mapped()) return n;
        for (std::uint32_t i = 0; i < map().max_clients; ++i)
            if (vd::client_alive(att_->segment_file, i)) ++n;
        return n;
    }

    /// Seconds since the daemon created the segment.
    double age_seconds() const {
        if (!mapped()) return 0;
        const std::uint64_t now = vd::unix_now_ns(), then = cb().created_unix_ns;
        return now > then ? static_cast<double>(now - then) / 1e9 : 0.0;
    }

    /// Identifies the daemon incarnation (a restarted daemon makes a new segment).
    std::uint64_t incarnation() const {
        return mapped() ? (cb().created_unix_ns ^ (std::uint64_t{cb().daemon_pid} << 40)) : 0;
    }

private:
    /// false: the files changed while we looked; try again.
    bool try_open() {
        const std::string lock_path = vd::lock_path(name);
        lock_file = vd::look_at(lock_path).exists;
        vd::Trust anyone;
        anyone.any_owner = true;
        vd::NameRecord record{};
        bool have_record = false;
        try {
            if (lock_file) {
                auto l = vd::LockFile::open_trusted(lock_path, anyone, false);
                name_held = l.held_by_other(vd::name_lock_byte);
                have_record = vd::read_record(l, name, record);
            }
            // On Linux the liveness locks are in the segment file itself (incarnation 0).
            const std::string seg_path =
                vd::liveness_path(name, have_record ? record.incarnation : 0);
            shm_file = vd::look_at(seg_path).exists;
            if (!shm_file && !lock_file) {
                status = Status::missing;
                return true;
            }
            if (shm_file) {
                auto f = vd::LockFile::open_trusted(seg_path, anyone, false);
                daemon_alive = vd::daemon_alive(f);
            }
        } catch (const venom::error& e) {
            if (e.code() == venom::errc::channel_not_found) return false; // vanished meanwhile
            status = e.code() == venom::errc::permission_denied ? Status::no_access : Status::stale;
            problem = e.what();
            problem_code = static_cast<venom::errc>(e.code().value());
            return true;
        }
        status = daemon_alive ? Status::alive : name_held ? Status::starting : Status::stale;
        if (!shm_file) {
            problem = "only the lock file is left";
            return true;
        }
        if (!have_record) {
            if (status == Status::alive) status = Status::starting;
            if (status != Status::starting) {
                problem = "no daemon record names the segment (its daemon died while creating it)";
                problem_code = venom::errc::corrupt_channel;
            }
            return true;
        }
        vd::AttachOptions how;
        how.trust = anyone;
        how.writable = false;
        how.require_live = false;
        try {
            att_ = std::make_unique<vd::Attachment>(vd::attach(name, how));
        } catch (const venom::error& e) {
            if (e.code() == venom::errc::channel_not_found) return false;
            if (e.code() == venom::errc::permission_denied) status = Status::no_access;
            problem = e.what();
            problem_code = static_cast<venom::errc>(e.code().value());
            return true;
        }
        daemon_alive = att_->daemon_alive;
        status = daemon_alive ? Status::alive : name_held ? Status::starting : Status::stale;
        if (!daemon_alive && cb().state.load(std::memory_order_acquire) == vd::channel_closed)
            status = Status::closed;
        return true;
    }

    std::unique_ptr<vd::Attachment> att_;
};

/// Names of the venom channels that have a file in /dev/shm, sorted.
inline std::vector<std::string> channel_names() {
    std::set<std::string> names;
    const std::string dir = vd::shm_directory();
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string f = e->d_name;
            const std::string prefix = "venom.";
            std::string n;
            auto ends_with = [&](const std::string& suffix) {
                return f.size() > prefix.size() + suffix.size() &&
                       f.compare(0, prefix.size(), prefix) == 0 &&
                       f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0;
            };
            if (ends_with(".shm")) n = f.substr(prefix.size(), f.size() - prefix.size() - 4);
            else if (ends_with(".lock")) n = f.substr(prefix.size(), f.size() - prefix.size() - 5);
            else continue;
            try {
                venom::validate_name(n);
                names.insert(n);
            } catch (const venom::error&) {
                // some other program's file that happens to start with "venom."
            }
        }
        ::closedir(d);
    }
    return {names.begin(), names.end()};
}

enum class Removal { removed, daemon_alive, not_found };

/// Removes a stale channel's files: takes the name lock the way a daemon does (so no daemon
/// can start on the name meanwhile; a file of another user's is refused with
/// permission_denied), removes what the dead daemon left, then the lock file.
inline Removal remove_stale(const std::string& name) {
    venom::validate_name(name);
    const std::string seg_path = vd::segment_path(name), lock_path = vd::lock_path(name);
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (!vd::look_at(seg_path).exists && !vd::look_at(lock_path).exists)
            return Removal::not_found;
        auto lock = vd::LockFile::open_or_create_own(lock_path, vd::AccessControl(0, true));
        if (!lock.try_lock(vd::name_lock_byte)) return Removal::daemon_alive;
        if (!lock.still_linked()) continue; // a daemon shutting down unlinked it: look again
        vd::NameRecord previous{};
        const bool had = vd::read_record(lock, name, previous, true);
        try {
            vd::remove_leftovers(name, had ? previous.incarnation : 0);
        } catch (const venom::error& e) {
            if (e.code() == venom::errc::channel_exists) return Removal::daemon_alive;
            throw;
        }
        lock.unlink_if_linked();
        return Removal::removed; // the lock goes with `lock`
    }
    throw venom::error(venom::errc::system_failure, "the files of \"" + name + "\" keep changing");
}

} // namespace venom_cli
