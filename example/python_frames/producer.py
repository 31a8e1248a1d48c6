# SPDX-License-Identifier: BSL-1.0
"""A Python producer of 8K frames (the Python variant of venom_video_producer): each frame drawn
with numpy straight into the channel's next state buffer (daemon.loan: no copy into shared
memory), then published.

    python3 producer.py [channel] [seconds] [fps]

state_buffers = 3 (299 MB of /dev/shm; Docker: --shm-size=512m): the newest frame, the one
being drawn, and one a consumer still viewing the previous frame may hold. When consumers hold
every buffer but the newest, the frame is skipped (StateBusy, counted). SIGINT/SIGTERM end it."""
import signal
import statistics
import sys
import time

import numpy as np

import frame
import venom

# The picture's gradient, pixel (y, x) = (x + y) mod 256 (as the C++ producer draws it): it
# repeats every TILE_ROWS rows, so one tile of them (5.9 MB) is made once and copied down.
TILE_ROWS = 256
TILE = np.ascontiguousarray(np.broadcast_to(
    ((np.arange(frame.WIDTH)[None, :] + np.arange(TILE_ROWS)[:, None]) % 256)
    .astype(np.uint8)[:, :, None], (TILE_ROWS, frame.WIDTH, frame.CHANNELS)))
BAR_ROWS = 16


def draw(loan, n, painted):
    """Frame n into the loan, in place. A buffer comes back with the frame it held
    state_buffers frames ago, so the gradient is drawn once per buffer; each frame adds its bar
    and stamps. Every array here is a view of the loan and dies on return (publish needs that)."""
    _, pixels, sampled = frame.views(loan)
    header = np.frombuffer(loan, frame.HEADER, count=1)  # a writable record array
    if loan.address not in painted:
        for y in range(0, frame.HEIGHT, TILE_ROWS):
            rows = min(TILE_ROWS, frame.HEIGHT - y)
            pixels[y:y + rows] = TILE[:rows]
        painted.add(loan.address)
    bar = (n * BAR_ROWS) % frame.HEIGHT
    pixels[bar:bar + BAR_ROWS] = n % 256
    sampled[:] = frame.expected_stamps(n)
    header[0] = (frame.MAGIC, n, time.monotonic_ns(), frame.WIDTH, frame.HEIGHT, frame.CHANNELS,
                 frame.SAMPLES, frame.checksum(sampled), (0, 0))


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "video_frames"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0  # 0: until a signal
    fps = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    config = venom.ChannelConfig(frame.FRAME_BYTES, 4, 8, state_buffers=3)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    with venom.DaemonChannel.create(name, config) as daemon:
        print(f'producer.py: "{name}", {frame.WIDTH}x{frame.HEIGHT} RGB frames of '
              f"{frame.FRAME_BYTES / 1e6:.1f} MB at {fps:.0f} fps, drawn in place with numpy",
              flush=True)
        painted, frame_ms = set(), []
        n = busy = 0
        start = time.monotonic()
        while not stopping:
            due = start + n / fps
            if seconds > 0 and (due - start >= seconds or time.monotonic() - start >= seconds):
                break  # on time, or (on a machine too busy for the rate) at the time limit
            time.sleep(max(0.0, due - time.monotonic()))
            n += 1
            t0 = time.monotonic()
            try:
                loan = daemon.loan(frame.FRAME_BYTES)  # a free buffer; readers keep the last
            except venom.StateBusy:
                busy += 1  # consumers' views hold every other buffer: skip this frame
                continue
            draw(loan, n, painted)
            loan.publish()  # consumers see frame n from now on, whole
            frame_ms.append((time.monotonic() - t0) * 1e3)
        elapsed = time.monotonic() - start
        print(f"producer.py: {n} frames in {elapsed:.2f} s ({n / elapsed:.1f} fps); each drawn in "
              f"place and published (median {statistics.median(frame_ms or [0]):.2f} ms per "
              f"frame): {n - busy} copies of {frame.FRAME_BYTES / 1e6:.1f} MB into shared memory "
              f"not made; {busy} skipped (views held every other buffer)")


if __name__ == "__main__":
    main()
