# SPDX-License-Identifier: BSL-1.0
"""example/python_frames: the consumer's check accepts a frame the Python producer drew into a
loan, and rejects one with a wrong sampled word or a wrong bar (so "0 bad" in its run means
something)."""
import os
import sys

import numpy as np

import venom

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "example", "python_frames"))
import consumer  # noqa: E402
import frame  # noqa: E402
import producer  # noqa: E402


def test_frame_check_accepts_and_rejects(name):
    config = venom.ChannelConfig(frame.FRAME_BYTES, 4, 2, state_buffers=2)
    with venom.DaemonChannel.create(name, config) as daemon:
        with venom.ShellChannel.connect(name) as shell:
            painted = set()
            for n, damage in ((5, None), (6, "stamp"), (7, "bar"), (8, None)):
                loan = daemon.loan(frame.FRAME_BYTES)
                producer.draw(loan, n, painted)
                if damage == "stamp":
                    header, pixels, sampled = frame.views(loan)
                    sampled[1000] ^= np.uint64(1)
                    del header, pixels, sampled  # publish() wants no array of the loan alive
                elif damage == "bar":
                    header, pixels, sampled = frame.views(loan)
                    row = (n * consumer.BAR_ROWS) % frame.HEIGHT + consumer.BAR_ROWS // 2
                    pixels[row, 100:104, :] = 0  # 12 bytes: more than one stamp could cover
                    del header, pixels, sampled
                loan.publish()
                with shell.view() as v:
                    assert consumer.check(v) == (n if damage is None else None), (n, damage)
