# SPDX-License-Identifier: BSL-1.0
"""Fixtures: unique channel names (pid + counter) whose files are removed afterwards, and child
processes (peer.py roles, the C++ examples) killed at teardown with bounded waits."""
import glob
import itertools
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")
_counter = itertools.count()

# Bounds: nothing a test waits for may take longer than this on a loaded 2-core machine.
READY_TIMEOUT = 20.0
EXIT_TIMEOUT = 20.0


def example_binary(var):
    """Path of a C++ example from the environment (ctest sets them); skipped when unset unless
    VENOM_REQUIRE_EXAMPLES=1 (ctest), where a missing binary fails."""
    path = os.environ.get(var)
    if path and os.access(path, os.X_OK):
        return path
    if os.environ.get("VENOM_REQUIRE_EXAMPLES") == "1":
        pytest.fail(f"{var} is not set to an executable (ctest sets it)")
    pytest.skip(f"{var} not set: the C++ example is needed")


@pytest.fixture
def name():
    n = f"pyt_{os.getpid()}_{next(_counter)}"
    yield n
    for f in glob.glob(f"/dev/shm/venom.{n}.*"):  # a killed daemon leaves its files
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass


class Child:
    def __init__(self, args):
        self.args = args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=os.environ.copy())
        self.lines = []

    def readline(self, timeout=READY_TIMEOUT):
        """The child's next line, within `timeout` seconds (fails the test otherwise)."""
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout):
                pytest.fail(f"{self.args}: no line within {timeout} s; so far {self.lines}")
            line = self.proc.stdout.readline()
        finally:
            sel.close()
        if not line:
            pytest.fail(f"{self.args}: ended (rc {self.proc.poll()}) after {self.lines}")
        self.lines.append(line.rstrip("\n"))
        return self.lines[-1]

    def expect(self, prefix, timeout=READY_TIMEOUT):
        """Reads lines until one starts with `prefix`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.01, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line

    def wait(self, timeout=EXIT_TIMEOUT):
        """Exit code, and the rest of the output, within `timeout`."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"{self.args}: still running after {timeout} s; output {self.lines}")
        self.lines += out.splitlines()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=EXIT_TIMEOUT)
        except (subprocess.TimeoutExpired, ValueError):
            pass


@pytest.fixture
def spawn():
    """spawn("daemon", name, ...) runs peer.py ROLE ...; spawn(["/path/bin", ...]) any program.
    Every child is killed (SIGKILL) and reaped at teardown."""
    children = []

    def start(role_or_args, *args):
        if isinstance(role_or_args, list):
            argv = role_or_args
        else:
            argv = [sys.executable, PEER, role_or_args, *map(str, args)]
        c = Child(argv)
        children.append(c)
        return c

    yield start
    for c in children:
        c.kill()
