// SPDX-License-Identifier: BSL-1.0
/// \file venom/config.hpp
/// What a daemon chooses when it creates a channel (ChannelConfig), what a shell chooses when it
/// connects (ShellOptions), the limits on both, and name validation.
#pragma once

#include <venom/version.hpp> // first: the C++17 check comes before any C++17 in this header

#include <venom/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace venom {

/// How a waiting side (daemon for commands, shell for its answer or a state update) waits.
enum class WaitPolicy : std::uint32_t {
    /// Spin for ChannelConfig::spin_time / ShellOptions::spin_time, then block in the kernel.
    /// An idle process uses ~0% CPU. The default.
    spin_then_block = 0,
    /// Never block: spin until the event, the timeout or a stop. Lowest latency, one core at
    /// 100% while waiting. Use only with a core to spare for every busy-polling process.
    busy_poll = 1,
};

/// Who may open a channel's shared memory (and its lock file). Set by the daemon.
enum class Access : std::uint32_t {
    owner_only = 0, ///< mode 0600 (default): only the creating user
    group = 1,      ///< mode 0660: the creating user's group too
    everyone = 2,   ///< mode 0666: every local user
};

/// The limits checked by ChannelConfig::validate() and by the name check.
struct limits {
    static constexpr std::size_t max_name_length = 100; ///< longest channel name (characters)
    /// Largest ChannelConfig::data_size: 64 GiB.
    static constexpr std::size_t max_data_size = std::size_t{64} << 30;
    static constexpr std::uint32_t max_cmd_slots = 1u << 20; ///< largest ChannelConfig::cmd_slots
    static constexpr std::uint32_t max_clients = 1024;       ///< largest ChannelConfig::max_clients
    /// Largest ChannelConfig::max_cmd_size and max_response_size: 64 MiB.
    static constexpr std::uint32_t max_message_size = 64u << 20;
    static constexpr std::uint32_t min_state_buffers = 2; ///< fewest ChannelConfig::state_buffers
    static constexpr std::uint32_t max_state_buffers = 8; ///< most ChannelConfig::state_buffers
    /// Largest shared-memory segment a ChannelConfig may need, all its areas together: 256 GiB
    /// (DaemonChannel::create throws invalid_config above it).
    static constexpr std::uint64_t max_segment_size = std::uint64_t{256} << 30;
};

/// A channel's shape, fixed at creation. An aggregate: the first three fields follow
/// venom_memory's ChannelConfig{data_size, cmd_slots, max_clients}; the rest have defaults.
struct ChannelConfig {
    std::size_t data_size; ///< largest state (bytes) write_data accepts; >= 1
    /// Command queue capacity (slots); >= 1. A command's bytes live in its shell's own staging
    /// area, so each shell has at most one command queued: the queue has min(cmd_slots,
    /// max_clients) slots, rounded up to a power of two (each one 64-byte line).
    std::uint32_t cmd_slots;
    std::uint32_t max_clients;              ///< shells connected at once; >= 1
    std::uint32_t max_cmd_size = 4096;      ///< largest command payload (bytes); >= 1
    std::uint32_t max_response_size = 4096; ///< largest response payload (bytes); >= 1
    /// State buffers the seqlock rotates through. More buffers give readers more time to copy a
    /// completed version while the writer fills the next one (readers progress under a busy
    /// writer); each costs data_size bytes of shared memory. 2..8.
    std::uint32_t state_buffers = 3;
    WaitPolicy wait = WaitPolicy::spin_then_block; ///< how the daemon waits for commands
    std::chrono::microseconds spin_time{50};       ///< spin before blocking (spin_then_block)
    Access access = Access::owner_only;            ///< who may connect
    /// A shell claims a queue position and publishes its command there in one atomic step
    /// (its bytes are copied into its own staging area first), so no shell - stopped, killed
    /// or slow - can hold the queue. Only a write from outside the protocol (a buggy shell
    /// scribbling on the shared queue lines) can leave a position that is passed but never
    /// published; the daemon skips such a position after claim_timeout. 1 ms..10 s.
    std::chrono::milliseconds claim_timeout{5};

    /// Throws venom::error(errc::invalid_config) naming the bad field. No allocation in
    /// shared memory happens before this passes.
    void validate() const {
        auto fail = [](const std::string& what) {
            throw error(errc::invalid_config, "ChannelConfig: " + what);
        };
        if (data_size == 0 || data_size > limits::max_data_size)
            fail("data_size must be 1.." + std::to_string(limits::max_data_size) + ", got " +
                 std::to_string(data_size));
        if (cmd_slots == 0 || cmd_slots > limits::max_cmd_slots)
            fail("cmd_slots must be 1.." + std::to_string(limits::max_cmd_slots) + ", got " +
                 std::to_string(cmd_slots));
        if (max_clients == 0 || max_clients > limits::max_clients)
            fail("max_clients must be 1.." + std::to_string(limits::max_clients) + ", got " +
                 std::to_string(max_clients));
        if (max_cmd_size == 0 || max_cmd_size > limits::max_message_size)
            fail("max_cmd_size must be 1.." + std::to_string(limits::max_message_size) + ", got " +
                 std::to_string(max_cmd_size));
        if (max_response_size == 0 || max_response_size > limits::max_message_size)
            fail("max_response_size must be 1.." + std::to_string(limits::max_message_size) +
                 ", got " + std::to_string(max_response_size));
        if (state_buffers < limits::min_state_buffers || state_buffers > limits::max_state_buffers)
            fail("state_buffers must be " + std::to_string(limits::min_state_buffers) + ".." +
                 std::to_string(limits::max_state_buffers) + ", got " +
                 std::to_string(state_buffers));
        if (wait != WaitPolicy::spin_then_block && wait != WaitPolicy::busy_poll)
            fail("wait is not a WaitPolicy value");
        if (spin_time.count() < 0 || spin_time > std::chrono::seconds(1))
            fail("spin_time must be 0..1 s");
        if (claim_timeout < std::chrono::milliseconds(1) ||
            claim_timeout > std::chrono::seconds(10))
            fail("claim_timeout must be 1 ms..10 s, got " + std::to_string(claim_timeout.count()) +
                 " ms");
        if (access != Access::owner_only && access != Access::group && access != Access::everyone)
            fail("access is not an Access value");
    }
};

/// What a shell chooses when it connects. All fields have defaults.
struct ShellOptions {
    WaitPolicy wait = WaitPolicy::spin_then_block; ///< how request() and wait_for_update() wait
    std::chrono::microseconds spin_time{50};       ///< spin before blocking (spin_then_block)
    /// Default time limit of request() (and of waiting for a free queue slot) when no timeout
    /// is passed. The maximum means no limit; a dead daemon is still noticed (daemon_check).
    std::chrono::nanoseconds request_timeout = std::chrono::nanoseconds::max();
    /// While blocked, how often a shell checks that the daemon is alive. A daemon that dies
    /// without closing the channel is reported as errc::daemon_gone within about this time.
    std::chrono::milliseconds daemon_check{20};
    /// How long connect() keeps retrying while no daemon serves the name yet (a daemon that is
    /// still starting). 0, the default: connect() never waits.
    std::chrono::milliseconds connect_timeout{0};
    /// Linux: whose channels this shell trusts besides its own user's and root's. A channel
    /// whose files belong to any other user is refused with permission_denied (another user
    /// could have created it to spoof the daemon). Set this to the daemon's uid when a daemon
    /// runs as a different, trusted user (a service account). no_uid: nobody else. Windows:
    /// unused (the objects' security descriptors decide who may open them).
    std::uint32_t trusted_uid = no_uid;
    static constexpr std::uint32_t no_uid = 0xffffffffu; ///< trusted_uid: nobody else

    /// Throws venom::error(errc::invalid_config) naming the bad field; ShellChannel::connect
    /// calls it first.
    void validate() const {
        auto fail = [](const std::string& what) {
            throw error(errc::invalid_config, "ShellOptions: " + what);
        };
        if (connect_timeout.count() < 0) fail("connect_timeout must not be negative");
        if (wait != WaitPolicy::spin_then_block && wait != WaitPolicy::busy_poll)
            fail("wait is not a WaitPolicy value");
        if (spin_time.count() < 0 || spin_time > std::chrono::seconds(1))
            fail("spin_time must be 0..1 s");
        if (request_timeout.count() < 0) fail("request_timeout must not be negative");
        if (daemon_check.count() <= 0 || daemon_check > std::chrono::seconds(10))
            fail("daemon_check must be 1 ms..10 s");
    }
};

/// Throws venom::error(errc::invalid_name) unless name has 1..limits::max_name_length
/// characters of [A-Za-z0-9._-] and is not "." or "..".
inline void validate_name(std::string_view name) {
    const bool length_ok = !name.empty() && name.size() <= limits::max_name_length;
    bool chars_ok = length_ok && name != "." && name != "..";
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        chars_ok = chars_ok && ok;
    }
    if (!chars_ok)
        throw error(errc::invalid_name, "channel name \"" + std::string(name.substr(0, 120)) +
                                            "\" (" + std::to_string(name.size()) + " chars)");
}

} // namespace venom
