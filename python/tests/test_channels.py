# SPDX-License-Identifier: BSL-1.0
"""Python daemons with Python shells: requests, state, errors, timeouts, slots, run/poll/stop."""
import os
import pydoc
import signal
import threading
import time

import pytest

import venom


def small_config(**kw):
    return venom.ChannelConfig(4096, 16, kw.pop("max_clients", 4), **kw)


def serve_in_thread(daemon, handler):
    """daemon.run(handler) on a thread (a non-main thread: serves there); returns a join()
    that stops it first."""
    t = threading.Thread(target=daemon.run, args=(handler,), daemon=True)
    t.start()

    def stop_and_join():
        daemon.stop()
        t.join(10)
        assert not t.is_alive(), "run() did not return after stop()"
    return stop_and_join


def test_config_keywords_and_defaults():
    c = venom.ChannelConfig(1024, 8, 2, max_cmd_size=100, state_buffers=4,
                            wait=venom.WaitPolicy.busy_poll, spin_time=1e-5, claim_timeout=0.01)
    assert (c.data_size, c.cmd_slots, c.max_clients) == (1024, 8, 2)
    assert (c.max_cmd_size, c.max_response_size, c.state_buffers) == (100, 4096, 4)
    assert c.wait == venom.WaitPolicy.busy_poll and c.access == venom.Access.owner_only
    assert c.spin_time == pytest.approx(1e-5) and c.claim_timeout == pytest.approx(0.01)
    with pytest.raises(TypeError):
        venom.ChannelConfig(1024, 8, 2, 100)  # the optional fields are keyword-only


def test_invalid_config_and_name(name):
    with pytest.raises(venom.InvalidConfig) as e:
        venom.DaemonChannel.create(name, venom.ChannelConfig(0, 8, 2))
    assert e.value.code == venom.errc.invalid_config
    assert "data_size must be" in str(e.value)
    with pytest.raises(venom.Error) as e:
        venom.DaemonChannel.create("no/slash", small_config())
    assert e.value.code == venom.errc.invalid_name and type(e.value) is venom.Error


def test_in_process_request_state_and_errors(name):
    with venom.DaemonChannel.create(name, small_config(max_response_size=64)) as daemon:
        daemon.write_data(b"state one")
        seen = []

        def handler(client_id, cmd):
            assert isinstance(cmd, memoryview) and cmd.readonly
            seen.append((client_id, bytes(cmd)))
            if cmd == b"boom":
                raise ValueError("bad command 'boom'")
            if cmd == b"big":
                return b"x" * 65
            if cmd == b"none":
                return None
            if cmd == b"text":
                return "h\u00e9"
            if cmd[:5] == b"echo ":
                return cmd  # the memoryview itself: copied before it is released
            if cmd[:6] == b"slice ":
                return cmd[6:]
            return bytes(cmd[::-1])
        join = serve_in_thread(daemon, handler)
        with venom.ShellChannel.connect(name) as shell:
            assert shell.client_id == 0 and shell.version == 1
            assert shell.read_data() == b"state one"
            assert shell.request(b"abc") == b"cba"
            assert shell.request(bytearray(b"xyz")) == b"zyx"
            assert shell.request(memoryview(b"123")) == b"321"
            assert shell.request(b"none") == b""
            assert shell.request(b"text") == "h\u00e9".encode()
            assert shell.request(b"echo me") == b"echo me"
            assert shell.request(b"slice of it") == b"of it"
            with pytest.raises(venom.HandlerFailed) as e:
                shell.request(b"boom")
            assert e.value.code == venom.errc.handler_failed
            assert "ValueError: bad command 'boom'" in str(e.value)
            assert "handler failed" in str(e.value)  # venom's message follows the text
            with pytest.raises(venom.MessageTooLarge):
                shell.request(b"big")  # the answer is over max_response_size
            with pytest.raises(venom.MessageTooLarge):
                shell.request(b"c" * 4097)  # the command is over max_cmd_size
            assert shell.request(b"ok") == b"ko"  # the daemon went on
            daemon.write_data("state two")
            assert shell.read_data() == b"state two" and shell.version == 2
        join()
    assert seen[0] == (0, b"abc")


def test_timeout_then_next_request(name):
    with venom.DaemonChannel.create(name, small_config()) as daemon:
        def handler(client_id, cmd):
            if cmd == b"slow":
                time.sleep(0.4)
            return bytes(cmd)
        join = serve_in_thread(daemon, handler)
        with venom.ShellChannel.connect(name) as shell:
            t0 = time.monotonic()
            with pytest.raises(venom.TimeoutError) as e:
                shell.request(b"slow", timeout=0.05)
            assert time.monotonic() - t0 < 0.35  # its own limit, not the handler's 0.4 s
            assert e.value.code == venom.errc.timeout
            assert isinstance(e.value, TimeoutError)  # the builtin too
            # The next request waits for the timed-out one's answer first, then gets its own.
            assert shell.request(b"fast", timeout=5.0) == b"fast"
        with venom.ShellChannel.connect(name, request_timeout=0.05) as shell:
            with pytest.raises(venom.TimeoutError):
                shell.request(b"slow")  # the connect's default limit
        join()


def test_channel_not_found_exists_and_too_many_clients(name):
    with pytest.raises(venom.ChannelNotFound) as e:
        venom.ShellChannel.connect(name)
    assert e.value.code == venom.errc.channel_not_found
    t0 = time.monotonic()
    with pytest.raises(venom.ChannelNotFound):
        venom.ShellChannel.connect(name, connect_timeout=0.2)
    assert 0.19 <= time.monotonic() - t0 < 5
    with venom.DaemonChannel.create(name, small_config(max_clients=1)):
        with pytest.raises(venom.ChannelExists):
            venom.DaemonChannel.create(name, small_config())
        first = venom.ShellChannel.connect(name)
        with pytest.raises(venom.TooManyClients):
            venom.ShellChannel.connect(name)
        first.close()
        assert first.closed
        with pytest.raises(ValueError):
            first.read_data()
        venom.ShellChannel.connect(name).close()  # the slot is free again


def test_connect_timeout_waits_for_a_starting_daemon(name):
    def start_later():
        time.sleep(0.3)
        holder.append(venom.DaemonChannel.create(name, small_config()))
    holder = []
    t = threading.Thread(target=start_later)
    t.start()
    with venom.ShellChannel.connect(name, connect_timeout=10.0) as shell:
        assert shell.name == name
    t.join()
    holder[0].close()


def test_daemon_gone_closed_and_killed(name, spawn):
    daemon = venom.DaemonChannel.create(name, small_config())
    shell = venom.ShellChannel.connect(name)
    daemon.close()
    with pytest.raises(venom.DaemonGone) as e:
        shell.request(b"x")
    assert e.value.code == venom.errc.daemon_gone
    shell.close()
    # A daemon process killed (SIGKILL) while a shell waits for its answer.
    d = spawn("daemon", name)
    d.expect("ready")
    with venom.ShellChannel.connect(name) as shell:
        result = []

        def ask():
            try:
                shell.request(b"sleep:30")
            except venom.Error as err:
                result.append((time.monotonic(), err))
        t = threading.Thread(target=ask)
        t.start()
        time.sleep(0.2)
        killed = time.monotonic()
        d.proc.kill()
        t.join(10)
        assert result, "the request did not end after its daemon was killed"
        at, err = result[0]
        assert isinstance(err, venom.DaemonGone) and "died" in str(err)
        assert at - killed < 2.0  # noticed through the lock within daemon_check (20 ms)
        with pytest.raises(venom.DaemonGone):
            shell.wait_for_update(shell.version, timeout=5)


def test_python_daemon_python_shells(name, spawn):
    d = spawn("daemon", name)
    d.expect("ready")
    shells = [spawn("requests", name, 500) for _ in range(3)]
    for s in shells:
        assert s.wait() == 0, s.lines
        assert s.lines[-1] == "done 500"
    with venom.ShellChannel.connect(name) as shell:
        assert shell.read_data() == b"hello from python"
        assert shell.request(b"set new state") == b"ok"
        assert shell.read_data() == b"new state (from client %d)" % shell.client_id
        with pytest.raises(venom.HandlerFailed) as e:
            shell.request(b"boom")
        assert "KeyError: 'no such key: boom'" in str(e.value)
    d.proc.send_signal(signal.SIGTERM)  # its Python handler calls stop(): run() returns
    assert d.wait() == 0
    assert "stopped" in d.lines


def test_killed_python_shell_frees_its_slot(name, spawn):
    with venom.DaemonChannel.create(name, small_config(max_clients=1)) as daemon:
        join = serve_in_thread(daemon, lambda cid, cmd: b"ok")
        s = spawn("shell", name)
        assert s.expect("connected") == "connected 0"
        with pytest.raises(venom.TooManyClients):
            venom.ShellChannel.connect(name)
        s.proc.kill()
        s.proc.wait(10)
        # The slot's lock went with the process: the next shell gets slot 0.
        with venom.ShellChannel.connect(name, connect_timeout=2.0) as shell:
            assert shell.client_id == 0
            assert shell.request(b"x") == b"ok"
        join()


def test_wait_for_update(name):
    with venom.DaemonChannel.create(name, small_config()) as daemon:
        with venom.ShellChannel.connect(name) as shell:
            seen = shell.version
            t0 = time.monotonic()
            assert shell.wait_for_update(seen, timeout=0.15) is False
            assert 0.14 <= time.monotonic() - t0 < 3
            threading.Timer(0.1, lambda: daemon.write_data(b"new")).start()
            assert shell.wait_for_update(seen, timeout=10) is True
            assert shell.version == seen + 1 and shell.read_data() == b"new"


def test_poll_and_stop_from_another_thread(name):
    with venom.DaemonChannel.create(name, small_config()) as daemon:
        assert daemon.poll(lambda cid, cmd: b"") == 0
        with venom.ShellChannel.connect(name) as shell:
            answers = []
            t = threading.Thread(target=lambda: answers.append(shell.request(b"hi", timeout=10)))
            t.start()
            deadline = time.monotonic() + 10
            handled = 0
            while handled == 0 and time.monotonic() < deadline:
                handled = daemon.poll(lambda cid, cmd: b"polled " + bytes(cmd))
                time.sleep(0.001)
            t.join(10)
            assert handled == 1 and answers == [b"polled hi"]
        # One run()/poll() at a time: a poll() from inside a handler is refused.
        inner = []

        def reentrant(cid, cmd):
            try:
                daemon.poll(lambda c, m: b"")
            except ValueError as e:
                inner.append(str(e))
            return b"ok"
        with venom.ShellChannel.connect(name) as shell:
            t = threading.Thread(target=lambda: shell.request(b"x", timeout=10))
            t.start()
            deadline = time.monotonic() + 10
            while not inner and time.monotonic() < deadline:
                daemon.poll(reentrant)
                time.sleep(0.001)
            t.join(10)
        assert inner and "already in progress" in inner[0]
        # stop() from another thread ends a run() in the main thread.
        threading.Timer(0.2, daemon.stop).start()
        t0 = time.monotonic()
        daemon.run(lambda cid, cmd: b"")
        assert 0.15 < time.monotonic() - t0 < 5


def test_handler_may_not_keep_cmd(name):
    kept = []
    with venom.DaemonChannel.create(name, small_config()) as daemon:
        def handler(cid, cmd):
            if cmd == b"keep":
                kept.append(memoryview(cmd))  # an export alive after the call
                return b"kept"
            kept.append(cmd)  # the memoryview itself: released after the call
            return b"fine"
        join = serve_in_thread(daemon, handler)
        with venom.ShellChannel.connect(name) as shell:
            assert shell.request(b"plain") == b"fine"
            with pytest.raises(ValueError):
                bytes(kept[0])  # released: never reads the staging area later
            with pytest.raises(venom.HandlerFailed) as e:
                shell.request(b"keep")
            assert "valid only during the call" in str(e.value)
        join()


def test_help_is_useful():
    text = pydoc.render_doc(venom.ShellChannel, renderer=pydoc.plaintext)
    for words in ("class ShellChannel", "request(", "Sends cmd", "view(", "zero copy",
                  "wait_for_update(", "connect(", "GIL"):
        assert words in text, words
    assert venom.ShellChannel.__module__ == "venom"
    assert venom.__version__.count(".") == 2
    assert venom.process_id() == os.getpid()


EXIT_WHILE_SERVING = r"""
import sys, threading, time, venom
name = sys.argv[1]
d = venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2))
threading.Thread(target=d.run, args=(lambda c, cmd: bytes(cmd),), daemon=True).start()
s = venom.ShellChannel.connect(name)
def spam():
    while True:
        try:
            s.request(b"x", timeout=1.0)
        except venom.Error:
            pass
threading.Thread(target=spam, daemon=True).start()
time.sleep(0.3)
print("exiting", flush=True)
"""


def test_interpreter_exit_while_daemon_threads_serve(name):
    # Daemon threads in run() and in request() when the interpreter exits: the process ends
    # normally (it aborted: a thread ended by the exiting interpreter unwound through C++).
    import subprocess
    import sys
    for _ in range(3):
        p = subprocess.run([sys.executable, "-c", EXIT_WHILE_SERVING, name],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (p.returncode, p.stderr[-500:])
        assert "exiting" in p.stdout
        venom_files = [f"/dev/shm/venom.{name}.shm", f"/dev/shm/venom.{name}.lock"]
        for f in venom_files:  # the parked daemon's files (its process is gone): stale
            if os.path.exists(f):
                os.unlink(f)
