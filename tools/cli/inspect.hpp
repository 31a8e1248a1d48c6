// SPDX-License-Identifier: BSL-1.0
// tools/cli/inspect.hpp - the tool's look into a channel: venom/inspect.hpp (public API only),
// in the shape list, stat, read and rm print.
//
// An Inspection is one venom::ChannelInspector: the channel's files and locks looked at, and
// its segment mapped read-only when it can be. It never writes to the segment, never takes a
// lock and never runs Boost's code over the segment's bytes (venom/inspect.hpp says how). It
// maps other users' segments too (InspectOptions::map_untrusted): their owners can truncate them
// under it, which raises SIGBUS in any process touching the lost pages; run the tool as the
// channel's user where that matters. Channels whose files this user may not open show their
// liveness only (from the kernel's lock table), never "dead" while they live.
#pragma once

#include "format.hpp"

#include <venom/venom.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace venom_cli {

using steady = std::chrono::steady_clock;
using Status = venom::channel_status;

inline const char* status_name(Status s) { return venom::to_string(s); }

inline const char* wait_policy_name(venom::WaitPolicy w) {
    return w == venom::WaitPolicy::busy_poll ? "busy_poll" : "spin_then_block";
}

inline const char* access_name(venom::Access a) {
    switch (a) {
    case venom::Access::group: return "group";
    case venom::Access::everyone: return "everyone";
    default: return "owner_only";
    }
}

/// The counters of a channel at one moment.
using Counters = venom::ChannelSample;

class Inspection {
public:
    std::string name;
    Status status = Status::missing;
    std::string problem;        ///< what is off, and what to do; empty if nothing
    venom::errc problem_code{}; ///< the venom error behind `problem`, if any
    bool name_held = false, daemon_alive = false;

    /// Looks at channel `name`. Throws only invalid_name (and bad_alloc); everything about the
    /// channel's condition ends up in status and problem.
    static Inspection open(const std::string& name) {
        venom::InspectOptions o;
        o.map_untrusted = true; // the operator's tool shows every user's channels
        Inspection ins;
        ins.inspector_ = venom::ChannelInspector::open(name, o);
        const venom::ChannelInfo& i = ins.info();
        ins.name = name;
        ins.status = i.status;
        ins.problem = i.problem_text;
        if (i.problem && i.problem.category() == venom::venom_category())
            ins.problem_code = static_cast<venom::errc>(i.problem.value());
        ins.name_held = i.daemon.name_held;
        ins.daemon_alive = i.daemon.alive;
        return ins;
    }

    const venom::ChannelInfo& info() const noexcept { return inspector_.opened(); }
    /// Whether the segment is mapped: configuration, counters, clients and errors are there.
    bool mapped() const noexcept { return inspector_.readable(); }
    const venom::ChannelConfig& config() const noexcept { return info().layout.config; }
    std::uint32_t daemon_pid() const noexcept { return info().daemon.pid; }
    /// The daemon's pid as text, "?" if it is not known.
    std::string pid_text() const {
        return daemon_pid() != 0 ? std::to_string(daemon_pid()) : std::string("?");
    }

    /// The counters now (a few loads from the mapping).
    Counters sample() const noexcept { return inspector_.sample(); }
    /// The daemon now: liveness (a lock query), serving, heartbeat.
    venom::DaemonInfo daemon() const noexcept {
        return mapped() ? inspector_.daemon() : info().daemon;
    }
    /// The client slots in use (as open() saw them).
    const std::vector<venom::ClientInfo>& clients() const noexcept { return info().clients; }
    /// Live shells now.
    std::uint32_t clients_alive() const noexcept {
        return mapped() ? inspector_.clients_alive() : info().clients_alive;
    }
    /// The last error answers (as open() saw them), oldest first.
    const std::vector<venom::HandlerError>& recent_errors() const noexcept {
        return info().recent_errors;
    }
    /// Seconds since the daemon created the segment (0 if not known).
    double age_seconds() const {
        const std::uint64_t then = info().daemon.created_unix_ns;
        if (then == 0) return 0;
        const std::uint64_t now = unix_now_ns();
        return now > then ? static_cast<double>(now - then) / 1e9 : 0.0;
    }
    /// Identifies the daemon instance (a restarted daemon has another); 0 if not known.
    std::uint64_t incarnation() const noexcept { return info().incarnation_id; }
    /// The newest state, read without a client slot (ChannelInspector::read_state).
    std::size_t read_state(void* buf, std::size_t cap, std::uint64_t& version,
                           std::error_code& ec) const noexcept {
        return inspector_.read_state(buf, cap, version, ec);
    }

private:
    venom::ChannelInspector inspector_;
};

/// Names of the venom channels that have a file in the channel directory, sorted.
inline std::vector<std::string> channel_names() {
    std::error_code ec;
    return venom::list_channels(ec); // an unreadable directory lists nothing
}

} // namespace venom_cli
