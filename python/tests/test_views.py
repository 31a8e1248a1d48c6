# SPDX-License-Identifier: BSL-1.0
"""Zero copy: a view's memory is the channel's mapping; lifetimes; loans written in place."""
import ctypes
import gc

import numpy as np
import pytest

import venom


def mapping_of(address):
    """The /proc/self/maps line (start, end, path) whose range holds `address`."""
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if start <= address < end:
                return start, end, parts[5] if len(parts) > 5 else ""
    return None


def test_view_is_the_mapping_not_a_copy(name):
    size = 8 << 20
    config = venom.ChannelConfig(size, 4, 2)
    with venom.DaemonChannel.create(name, config) as daemon:
        payload = np.arange(size, dtype=np.uint64).view(np.uint8)[:size]
        daemon.write_data(payload)
        with venom.ShellChannel.connect(name) as shell:
            with shell.view() as v:
                assert v.version == 1 and len(v) == size and v.nbytes == size
                a = np.asarray(v)
                b = np.frombuffer(v, dtype=np.uint64)
                ptr = a.__array_interface__["data"][0]
                # The array's data pointer is the view's, inside the channel's shared mapping.
                assert ptr == v.address == b.ctypes.data
                start, end, path = mapping_of(ptr)
                assert path == f"/dev/shm/venom.{name}.shm"
                assert start <= ptr and ptr + size <= end
                # No copy: numpy owns nothing, and both arrays are the same memory.
                assert not a.flags.owndata and not a.flags.writeable
                assert np.shares_memory(a, b)
                assert v.exports == 2
                assert np.array_equal(b[:1000], np.arange(1000, dtype=np.uint64))
                # The bytes stay put while the view is held: the daemon writes other buffers.
                daemon.write_data(b"\xff" * size)
                assert shell.version == 2
                assert np.array_equal(b[:1000], np.arange(1000, dtype=np.uint64))
                with pytest.raises(ValueError):
                    a[0] = 1  # read-only
                with pytest.raises(BufferError):
                    v.release()  # like mmap.close(): arrays of it are alive
                del a, b
                assert v.exports == 0
            assert v.released
            with shell.view() as w:
                assert w.version == 2 and np.asarray(w)[:4].tolist() == [255] * 4


def test_view_after_release_raises(name):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2)) as daemon:
        daemon.write_data(b"abc")
        with venom.ShellChannel.connect(name) as shell:
            v = shell.view()
            assert v.tobytes() == b"abc"
            m = memoryview(v)
            assert m.readonly and bytes(m) == b"abc"
            tail = m[1:]  # a slice shares m's export
            with pytest.raises(BufferError):
                v.release()
            del m
            with pytest.raises(BufferError):
                v.release()  # the slice still holds it
            assert bytes(tail) == b"bc"
            tail.release()
            v.release()
            v.release()  # idempotent
            for access in (lambda: memoryview(v), lambda: np.asarray(v),
                           lambda: np.frombuffer(v, np.uint8), lambda: bytes(v),
                           lambda: v.version, lambda: len(v), lambda: v.address, v.tobytes):
                with pytest.raises(ValueError):
                    access()
            assert "released" in repr(v)
            # Writable buffers are refused: it is the daemon's published state.
            with shell.view() as w:
                with pytest.raises((BufferError, TypeError)):
                    (ctypes.c_char * 1).from_buffer(w)  # wants a writable buffer
                with pytest.raises(ValueError):
                    np.frombuffer(w, np.uint8).setflags(write=True)
                gc.collect()


def test_view_outlives_its_shell_and_daemon(name):
    daemon = venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 1))
    daemon.write_data(b"last words")
    shell = venom.ShellChannel.connect(name)
    v = shell.view()
    shell.close()
    daemon.close()
    assert bytes(memoryview(v)) == b"last words"  # the view keeps its shell's mapping
    v.release()


def test_empty_state_view(name):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 1)) as daemon:
        with venom.ShellChannel.connect(name) as shell:
            with shell.view() as v:
                assert v.version == 0 and len(v) == 0 and bytes(memoryview(v)) == b""
            assert daemon.version == 0


def test_loan_written_in_place(name):
    size = 1 << 20
    with venom.DaemonChannel.create(name, venom.ChannelConfig(size, 4, 2)) as daemon:
        with venom.ShellChannel.connect(name) as shell:
            loan = daemon.loan(size)
            assert loan.active and loan.version == 1 and len(loan) == size
            px = np.frombuffer(loan, np.uint8)
            assert px.flags.writeable and px.ctypes.data == loan.address
            px[:] = 7
            assert shell.version == 0  # nothing visible before publish
            with pytest.raises(venom.StateBusy):
                daemon.loan(16)  # one loan at a time
            with pytest.raises(venom.StateBusy):
                daemon.write_data(b"x")
            with pytest.raises(BufferError):
                loan.publish()  # an array of it is alive
            with pytest.raises(BufferError):
                daemon.close()
            del px
            loan.publish(1000)
            assert not loan.active
            with pytest.raises(ValueError):
                memoryview(loan)
            with shell.view() as v:
                assert v.version == 1 and len(v) == 1000
                assert mapping_of(v.address)[2] == f"/dev/shm/venom.{name}.shm"
                assert set(np.asarray(v).tolist()) == {7}
            # A dropped loan (the with block unpublished) moves no version.
            with daemon.loan(10) as dropped:
                memoryview(dropped)[:3] = b"abc"
            assert daemon.version == 1 and not dropped.active
            with pytest.raises(venom.MessageTooLarge):
                daemon.loan(size + 1)
            with daemon.loan(3) as l:
                memoryview(l)[:] = b"xyz"
                l.publish()
            assert shell.read_data() == b"xyz"


def test_state_busy_when_views_pin_every_other_buffer(name):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(64, 4, 2, state_buffers=2)) as d:
        d.write_data(b"one")
        with venom.ShellChannel.connect(name) as shell:
            v = shell.view()
            d.write_data(b"two")  # the other buffer
            with pytest.raises(venom.StateBusy) as e:
                d.write_data(b"three")  # "one" is pinned, "two" is the newest
            assert e.value.code == venom.errc.state_busy
            assert "views pin" in d.busy_reason()
            v.release()
            d.write_data(b"three")
            assert shell.read_data() == b"three"
