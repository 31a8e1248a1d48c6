// SPDX-License-Identifier: BSL-1.0
/// \file venom/venom.hpp
/// Everything: `#include <venom/venom.hpp>`
///
/// venom: a header-only shared-memory IPC library on Boost.Interprocess. A daemon (single writer)
/// creates a named channel holding a seqlock-protected state area, a lock-free MPSC command
/// queue and one response slot per client; shells connect, read the state and send requests.
#pragma once

#include <venom/bytes.hpp>
#include <venom/config.hpp>
#include <venom/daemon_channel.hpp>
#include <venom/error.hpp>
#include <venom/inspect.hpp>
#include <venom/reply.hpp>
#include <venom/shell_channel.hpp>
#include <venom/version.hpp>

/// venom's public API. DaemonChannel creates a channel, publishes its state and serves requests;
/// ShellChannel connects, reads the state and sends requests; ChannelConfig and ShellOptions are
/// their settings, errc and error their errors. venom::detail is the implementation, not the API.
namespace venom {
/// This process's id (as the channel's tools show it), on Linux and Windows alike.
inline std::uint32_t process_id() noexcept { return detail::current_pid(); }
} // namespace venom
