// SPDX-License-Identifier: BSL-1.0
/// \file venom/error.hpp
/// venom's error codes, their category and the exception type.
///
/// Set-up paths (create, connect, config) throw venom::error; hot paths also offer forms that
/// report a std::error_code instead. Every message says what to do about the error.
#pragma once

#include <venom/version.hpp> // first: the C++17 check

#include <string>
#include <system_error>

namespace venom {

/// Error codes of the "venom" category. Values are stable: they may cross process boundaries.
enum class errc : int {
    channel_not_found = 1, ///< no live daemon serves this name
    channel_exists,        ///< a live daemon already serves this name
    too_many_clients,      ///< every client slot (max_clients) is taken
    message_too_large,     ///< a command, response or state is over its configured maximum
    buffer_too_small,      ///< the caller's buffer cannot hold the data; nothing was truncated
    timeout,               ///< the operation's time limit passed
    daemon_gone,           ///< the daemon stopped or died; the channel is closed
    /// the segment was made by an incompatible venom build or is not venom's
    incompatible_layout,
    invalid_config,    ///< a ChannelConfig/ShellOptions value is zero, absurd or overflows
    invalid_name,      ///< the channel name is empty, too long or has a forbidden character
    permission_denied, ///< the OS refused access to the channel's shared memory or lock file
    handler_failed,    ///< the daemon's handler threw; the message carries its what()
    out_of_memory,     ///< the shared-memory file system has no room for the channel
    corrupt_channel,   ///< a value read from shared memory is out of range
    system_failure,    ///< an OS call failed in an unexpected way (see the message)
    state_busy,        ///< the state writer is busy: a StateLoan is out (publish or drop it)
    wrong_size,        ///< a typed read: the state's size is not sizeof(T) (no T was read)
};

namespace detail {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "venom"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::channel_not_found:
            return "channel not found: no live daemon serves this name; start the daemon first "
                   "(DaemonChannel::create) or check the name";
        case errc::channel_exists:
            return "channel exists: a live daemon already serves this name; stop it or choose "
                   "another name";
        case errc::too_many_clients:
            return "too many clients: every client slot is taken; disconnect a shell or create "
                   "the channel with a larger ChannelConfig::max_clients";
        case errc::message_too_large:
            return "message too large: the data exceeds the channel's configured maximum; raise "
                   "ChannelConfig::max_cmd_size, max_response_size or data_size";
        case errc::buffer_too_small:
            return "buffer too small: nothing was copied; call again with a larger buffer";
        case errc::timeout:
            return "timed out: the operation did not complete within its time limit; retry, "
                   "pass a longer timeout, or check that the daemon is serving (run or poll)";
        case errc::daemon_gone:
            return "daemon gone: the channel's daemon stopped serving, closed the channel or "
                   "died; retry once it serves again, or reconnect to its successor";
        case errc::incompatible_layout:
            return "incompatible layout: the channel was created by an incompatible venom build "
                   "or is not a venom channel; rebuild both sides with the same venom version";
        case errc::invalid_config:
            return "invalid config: a size or count is zero, too large or overflows; see the "
                   "limits in the README";
        case errc::invalid_name: return "invalid name: use 1 to 100 characters from [A-Za-z0-9._-]";
        case errc::permission_denied:
            return "permission denied: the channel's files belong to a user this process does "
                   "not trust, or are not plain files, or this user may not open them; see the "
                   "detail, README \"Security\", ChannelConfig::access and "
                   "ShellOptions::trusted_uid";
        case errc::handler_failed:
            return "handler failed: the daemon's handler threw an exception for this request; "
                   "check the exception's text that follows, then fix the command or the handler";
        case errc::out_of_memory:
            return "out of shared memory: the shared-memory file system (/dev/shm) has no room "
                   "for the channel; free space or enlarge it (Docker: --shm-size)";
        case errc::corrupt_channel:
            return "corrupt channel: a value in shared memory is out of range; the daemon should "
                   "be restarted";
        case errc::state_busy:
            return "state busy: nothing was written; a StateLoan of this daemon is still out "
                   "(publish or drop it), or shells' views pin every state buffer but the newest "
                   "(they must release views, or the channel needs more state_buffers); retry the "
                   "loan or write_data";
        case errc::wrong_size:
            return "wrong size: the state's size is not the size of the type read; no value was "
                   "read. Check that the daemon writes that type (write<T>, loan<T>), and that "
                   "both sides were built with the same definition of it";
        case errc::system_failure:
            return "system failure: an operating-system call failed unexpectedly; check the "
                   "detail that follows (resources, permissions of the channel's files) and retry";
        }
        return "unknown venom error";
    }
};

} // namespace detail

/// The "venom" error category. \note never throws, never allocates after first use.
inline const std::error_category& venom_category() noexcept {
    static const detail::category_impl instance;
    return instance;
}

/// The std::error_code of `e` in venom_category(). Found by argument-dependent lookup, it lets an
/// errc convert to a std::error_code, so `ec == venom::errc::timeout` works.
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), venom_category()};
}

/// Thrown by set-up paths and the throwing forms of the hot paths. code() == venom::errc::X works.
class error : public std::system_error {
public:
    /// An error whose what() is the code's message.
    explicit error(errc e) : std::system_error(make_error_code(e)) {}
    /// An error whose what() holds `detail` and the code's message.
    error(errc e, const std::string& detail) : std::system_error(make_error_code(e), detail) {}
    /// The same for any std::error_code: a venom one, or std::errc::invalid_argument (a
    /// StateLoan that is not out).
    error(std::error_code ec, const std::string& detail) : std::system_error(ec, detail) {}
};

} // namespace venom

namespace std {
template <> struct is_error_code_enum<venom::errc> : true_type {};
} // namespace std
