# SPDX-License-Identifier: BSL-1.0
"""A child process of the tests: python3 peer.py ROLE NAME [ARGS...] (see the roles below).

Every role prints one line when it is ready (flushed), so the test waits for that line, with
a bound, instead of sleeping. Times printed are time.monotonic() (CLOCK_MONOTONIC: the same
clock in every process of the machine)."""
import os
import signal
import sys
import threading
import time

import venom


def say(*words):
    print(*words, flush=True)


def handler(client_id, cmd):
    """The test daemon's protocol (also the C++ example's: ping -> pong, set TEXT -> ok)."""
    c = bytes(cmd)
    if c == b"ping":
        return b"pong"
    if c.startswith(b"echo:"):
        return c[5:]
    if c.startswith(b"sleep:"):
        time.sleep(float(c[6:]))
        return b"slept"
    if c == b"boom":
        raise KeyError("no such key: boom")
    if c.startswith(b"set "):
        with STATE_LOCK:
            STATE[0] = c[4:] + b" (from client %d)" % client_id
            DAEMON.write_data(STATE[0])
        return b"ok"
    if c == b"big":
        return b"x" * (DAEMON.config.max_response_size + 1)
    if c == b"pid":
        return str(os.getpid()).encode()
    return b"unknown command"


DAEMON = None
STATE = [b"hello from python"]
STATE_LOCK = threading.Lock()


def role_daemon(name, *args):
    """A Python daemon serving `handler` with run() in the main thread. SIGTERM: a Python signal
    handler calls stop() (run returns, exit 0); SIGINT: KeyboardInterrupt out of run (exit 3).
    ARGS: [max_clients] [tick]: with "tick", it republishes its state every 100 ms, as the C++
    example daemon does."""
    global DAEMON
    max_clients = int(args[0]) if args else 8
    DAEMON = venom.DaemonChannel.create(name, venom.ChannelConfig(65536, 64, max_clients))
    DAEMON.write_data(STATE[0])
    if "tick" in args:
        def tick():
            while True:
                time.sleep(0.1)
                with STATE_LOCK:
                    try:
                        DAEMON.write_data(STATE[0])
                    except ValueError:  # closed: the daemon is ending
                        return
        threading.Thread(target=tick, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: DAEMON.stop())
    say("ready", os.getpid())
    try:
        DAEMON.run(handler)
    except KeyboardInterrupt:
        say("KeyboardInterrupt", repr(time.monotonic()))
        DAEMON.close()
        sys.exit(3)
    say("stopped")
    DAEMON.close()


def role_shell(name):
    """Connects, says so with its client id, then sleeps (until killed)."""
    shell = venom.ShellChannel.connect(name, connect_timeout=5.0)
    say("connected", shell.client_id)
    time.sleep(120)


def role_request(name, cmd):
    """One request from the main thread; a KeyboardInterrupt while it waits is reported with the
    time it was raised (exit 3)."""
    shell = venom.ShellChannel.connect(name, connect_timeout=5.0)
    say("sending")
    try:
        answer = shell.request(cmd.encode())
    except KeyboardInterrupt:
        say("KeyboardInterrupt", repr(time.monotonic()))
        sys.exit(3)
    say("answer", answer.decode())


def role_wait(name):
    """wait_for_update with no limit from the main thread, interrupted by SIGINT (exit 3)."""
    shell = venom.ShellChannel.connect(name, connect_timeout=5.0)
    say("waiting")
    try:
        shell.wait_for_update(shell.version + 1000000)
    except KeyboardInterrupt:
        say("KeyboardInterrupt", repr(time.monotonic()))
        sys.exit(3)


def role_requests(name, count):
    """`count` verified echo requests (each shell its own payloads), then prints "done N"."""
    shell = venom.ShellChannel.connect(name, connect_timeout=5.0)
    me = os.getpid()
    for i in range(int(count)):
        payload = b"%d:%d" % (me, i)
        answer = shell.request(b"echo:" + payload, timeout=20.0)
        if answer != payload:
            say("wrong answer", answer)
            sys.exit(1)
    say("done", count)


if __name__ == "__main__":
    globals()["role_" + sys.argv[1]](*sys.argv[2:])
