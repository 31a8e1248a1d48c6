# SPDX-License-Identifier: BSL-1.0
"""venom: shared-memory IPC between processes of one machine (the C++ library's Python module).

A daemon (DaemonChannel.create) owns a named channel: a state that every shell reads without
locks, and a command queue with one answer slot per client (request/response). Shells
(ShellChannel.connect) read the state, view it in place (view(): zero copy, numpy-ready) and
send requests. C++ and Python daemons and shells talk to each other.

    import venom
    with venom.DaemonChannel.create("demo", venom.ChannelConfig(4096, 16, 4)) as daemon:
        daemon.write_data(b"hello")
        with venom.ShellChannel.connect("demo") as shell:
            assert shell.read_data() == b"hello"

Errors raise venom.Error (e.code: a venom.errc member; str(e): venom's message) or a subclass:
TimeoutError, DaemonGone, ChannelNotFound, ChannelExists, TooManyClients, MessageTooLarge,
HandlerFailed, StateBusy, InvalidConfig, PermissionDenied. Every wait releases the GIL; in the
main thread Ctrl-C interrupts a waiting request(), run() or wait_for_update() within ~50 ms.
"""
from ._venom import (  # noqa: F401  (the public names)
    Access,
    ChannelConfig,
    ChannelExists,
    ChannelNotFound,
    DaemonChannel,
    DaemonGone,
    Error,
    HandlerFailed,
    InvalidConfig,
    MessageTooLarge,
    PermissionDenied,
    ShellChannel,
    StateBusy,
    StateLoan,
    StateView,
    TimeoutError,
    TooManyClients,
    WaitPolicy,
    __version__,
    errc,
    process_id,
)

__all__ = [
    "Access", "ChannelConfig", "ChannelExists", "ChannelNotFound", "DaemonChannel", "DaemonGone",
    "Error", "HandlerFailed", "InvalidConfig", "MessageTooLarge", "PermissionDenied",
    "ShellChannel", "StateBusy", "StateLoan", "StateView", "TimeoutError", "TooManyClients",
    "WaitPolicy", "errc", "process_id",
]

# help() and repr() name the classes where users find them: venom.X, not venom._venom.X.
for _cls in (Access, ChannelConfig, DaemonChannel, ShellChannel, StateLoan, StateView, WaitPolicy,
             errc):
    _cls.__module__ = __name__
del _cls
