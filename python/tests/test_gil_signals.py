# SPDX-License-Identifier: BSL-1.0
"""Waits release the GIL (other threads run meanwhile); Ctrl-C (SIGINT) interrupts a waiting
request, run() and wait_for_update() in the main thread with KeyboardInterrupt, promptly."""
import os
import signal
import threading
import time

import pytest

import venom

# How soon after SIGINT the KeyboardInterrupt must be raised. The binding checks signals every
# 50 ms; the bound leaves room for a loaded 2-core machine (the measured delay is printed).
INTERRUPT_BOUND = 0.5


def count_for(seconds, out):
    """Pure-Python work (never releases the GIL itself) for `seconds`: its count in out[0]."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    out[0] = n


def test_blocked_request_lets_other_threads_run(name, spawn):
    d = spawn("daemon", name)
    d.expect("ready")
    with venom.ShellChannel.connect(name) as shell:
        for requester in ("main", "thread"):
            counted = [0]
            worker = threading.Thread(target=count_for, args=(0.3, counted))
            answers = []

            def ask():
                answers.append(shell.request(b"sleep:0.6", timeout=10))
            worker.start()
            if requester == "main":
                ask()  # blocks the main thread for ~0.6 s
            else:
                t = threading.Thread(target=ask)
                t.start()
                t.join(10)
            worker.join(10)
            assert answers == [b"slept"]
            # With the GIL held for the whole wait, the counter would stay near 0.
            assert counted[0] > 10000, (requester, counted[0])


def test_blocked_wait_for_update_lets_other_threads_run(name):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)):
        with venom.ShellChannel.connect(name) as shell:
            counted = [0]
            worker = threading.Thread(target=count_for, args=(0.3, counted))
            worker.start()
            assert shell.wait_for_update(shell.version, timeout=0.5) is False
            worker.join(10)
            assert counted[0] > 10000, counted[0]


def interrupted_within(child, ready_line):
    child.expect(ready_line)
    time.sleep(0.3)  # it is waiting now
    sent = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    line = child.expect("KeyboardInterrupt")
    delay = float(line.split()[1]) - sent
    print(f"{child.args[2]}: KeyboardInterrupt {delay * 1000:.1f} ms after SIGINT")
    assert child.wait() == 3, child.lines
    assert 0 <= delay < INTERRUPT_BOUND, delay
    return delay


def test_ctrl_c_interrupts_a_waiting_request(name, spawn):
    d = spawn("daemon", name)
    d.expect("ready")
    interrupted_within(spawn("request", name, "sleep:30"), "sending")
    # The daemon is unharmed (its handler is still in the interrupted request's 30 s sleep, so
    # a request would queue behind it: read the state instead).
    with venom.ShellChannel.connect(name) as shell:
        assert shell.read_data() == b"hello from python"


def test_ctrl_c_interrupts_run(name, spawn):
    d = spawn("daemon", name)
    interrupted_within(d, "ready")
    # It closed its channel on the way out.
    with pytest.raises(venom.ChannelNotFound):
        venom.ShellChannel.connect(name)


def test_ctrl_c_interrupts_wait_for_update(name, spawn):
    d = spawn("daemon", name)
    d.expect("ready")
    interrupted_within(spawn("wait", name), "waiting")


def test_interrupted_request_then_the_next_one(name):
    """In this process: SIGINT while the main thread waits for a slow answer; the shell's next
    request waits for the interrupted one to end, then gets its own answer."""
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)) as daemon:
        def handler(cid, cmd):
            if cmd == b"slow":
                time.sleep(0.8)
            return bytes(cmd)
        server = threading.Thread(target=daemon.run, args=(handler,), daemon=True)
        server.start()
        with venom.ShellChannel.connect(name) as shell:
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
            t0 = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                shell.request(b"slow")
            assert time.monotonic() - t0 < 0.2 + INTERRUPT_BOUND
            assert shell.request(b"fast", timeout=10) == b"fast"
        daemon.stop()
        server.join(10)


def test_handler_keyboard_interrupt_stops_run(name):
    """A handler that raises KeyboardInterrupt (a BaseException) stops run(), which re-raises it;
    its client gets handler_failed."""
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)) as daemon:
        def handler(cid, cmd):
            raise KeyboardInterrupt
        errors = []

        def ask():
            with venom.ShellChannel.connect(name) as shell:
                try:
                    shell.request(b"x", timeout=10)
                except venom.Error as e:
                    errors.append(e)
        t = threading.Thread(target=ask)
        t.start()
        with pytest.raises(KeyboardInterrupt):
            daemon.run(handler)
        t.join(10)
        assert len(errors) == 1 and isinstance(errors[0], venom.HandlerFailed)
        assert "interrupted" in str(errors[0])


def test_close_after_an_interrupted_request(name):
    """Closing a shell whose interrupted request is still in flight on its helper thread: the
    helper keeps the connection until the request ends, then the slot is free again."""
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 1)) as daemon:
        def handler(cid, cmd):
            if cmd == b"slow":
                time.sleep(0.5)
            return b"ok"
        server = threading.Thread(target=daemon.run, args=(handler,), daemon=True)
        server.start()
        shell = venom.ShellChannel.connect(name)
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            shell.request(b"slow")
        shell.close()  # the helper still waits for the answer: the slot is still taken
        with pytest.raises(venom.TooManyClients):
            venom.ShellChannel.connect(name)
        deadline = time.monotonic() + 10
        while True:
            try:
                again = venom.ShellChannel.connect(name)
                break
            except venom.TooManyClients:
                assert time.monotonic() < deadline, "the slot never came back"
                time.sleep(0.01)
        assert again.request(b"fast", timeout=10) == b"ok"
        again.close()
        daemon.stop()
        server.join(10)


def test_run_in_the_main_thread_lets_other_threads_run(name):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)) as daemon:
        counted = [0]

        def work_then_stop():
            count_for(0.3, counted)
            daemon.stop()
        worker = threading.Thread(target=work_then_stop)
        worker.start()
        daemon.run(lambda cid, cmd: b"")  # returns once the worker, which needs the GIL, stops it
        worker.join(10)
        assert counted[0] > 10000, counted[0]
