# SPDX-License-Identifier: BSL-1.0
"""C++ and Python on one channel: the C++ example daemon with a Python shell, and a Python
daemon (peer.py, the example's protocol) with the C++ example shell."""
import re

import venom
from conftest import example_binary


def test_cpp_daemon_python_shell(name, spawn):
    daemon = spawn([example_binary("VENOM_EXAMPLE_DAEMON"), name, "60"])
    assert daemon.expect("daemon: serving").startswith(f'daemon: serving "{name}"')
    with venom.ShellChannel.connect(name, connect_timeout=10.0) as shell:
        assert re.fullmatch(rb"tick \d+: hello from the daemon", shell.read_data())
        for _ in range(1000):
            assert shell.request(b"ping", timeout=20.0) == b"pong"
        assert shell.request("set from python") == b"ok"
        seen = shell.version
        assert shell.wait_for_update(seen, timeout=10.0)  # the daemon's 100 ms ticker
        state = shell.read_data()
        assert re.fullmatch(rb"tick \d+: from python \(from client %d\)" % shell.client_id, state)
        with shell.view() as v:
            assert bytes(memoryview(v)).startswith(b"tick ")
        assert shell.request(b"what") == b"unknown command"
    daemon.proc.terminate()  # SIGTERM: its handler calls stop()
    assert daemon.wait() == 0
    assert daemon.lines[-1].startswith("daemon: stopped after 100")  # 1000 pings + 2 + ...


def test_python_daemon_cpp_shell(name, spawn):
    d = spawn("daemon", name, 8, "tick")
    d.expect("ready")
    shell = spawn([example_binary("VENOM_EXAMPLE_SHELL"), name, "2000"])
    assert shell.wait() == 0, shell.lines
    out = "\n".join(shell.lines)
    assert 'state = "hello from python"' in out
    assert "ping -> pong" in out
    assert re.search(r"2000 round trips, p50 [0-9.]+ us", out)
    assert re.search(r"set hello from shell (\d+) -> ok", out)
    assert re.search(r'state = "hello from shell (\d+) \(from client \1\)"', out)
