# SPDX-License-Identifier: BSL-1.0
"""A Python consumer of 8K frames: each new frame viewed in place as a (4320, 7680, 3) uint8
numpy array (no copy), checked there, then released; prints the frame rate, what a view cost
and the CPU it used.

    python3 consumer.py [channel] [seconds]

It runs until the producer stops (or the time limit); exit 1 if a frame failed its check. An
inference or render step would use `pixels` where the check is: the frame stays whole and
unchanged while the view is held (the producer draws into other buffers meanwhile). Release
it - delete the arrays first - before waiting for the next frame: a view kept across frames
holds a buffer the producer then cannot draw into."""
import statistics
import sys
import time

import numpy as np

import frame
import venom


BAR_ROWS = 16  # both producers paint rows (n * 16) % 4320 .. + 16 of frame n with n % 256


def check(view):
    """The frame's number if it passes (header, its 4096 sampled words, their checksum, and
    frame n's bar through the image array), else None. All arrays are views of the shared
    memory; they die when this returns."""
    if len(view) != frame.FRAME_BYTES:
        return None
    header, pixels, sampled = frame.views(view)
    assert pixels.shape == frame.SHAPE and not pixels.flags.owndata  # the image, in place
    n = int(header["frame_no"])
    ok = (int(header["magic"]) == frame.MAGIC and int(header["width"]) == frame.WIDTH
          and int(header["height"]) == frame.HEIGHT
          and np.array_equal(sampled, frame.expected_stamps(n))
          and frame.checksum(sampled) == int(header["checksum"]))
    # A row of the bar, as the image's row: n % 256 but where a sampled word (8 bytes at most
    # per row: words are 24296 bytes apart, a row is 23040) was stamped over it.
    bar_row = pixels[(n * BAR_ROWS) % frame.HEIGHT + BAR_ROWS // 2]
    ok = ok and np.count_nonzero(bar_row != n % 256) <= 8
    return n if ok else None


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "video_frames"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    shell = venom.ShellChannel.connect(name, connect_timeout=5.0)  # the producer may be starting
    seen = shell.version
    frames = bad = skipped = 0
    last = None
    view_ms, latency_ms = [], []
    first = latest = None
    cpu0, start = time.process_time(), time.monotonic()
    while time.monotonic() < start + seconds:
        try:
            if not shell.wait_for_update(seen, timeout=0.2):
                continue
        except venom.DaemonGone:
            break  # the producer has stopped
        t0 = time.monotonic()
        with shell.view() as view:  # the newest frame, where it lies
            seen = view.version
            n = check(view)
            produced_ns = int(np.frombuffer(view, frame.HEADER, count=1)["produced_ns"][0]) \
                if len(view) == frame.FRAME_BYTES else 0
        t1 = time.monotonic()
        if n is None:
            bad += 1
            print(f"consumer: version {seen} failed its check", file=sys.stderr)
            continue
        view_ms.append((t1 - t0) * 1e3)
        latency_ms.append((t0 * 1e9 - produced_ns) / 1e6)  # steady_clock = CLOCK_MONOTONIC
        first = first or t1
        latest = t1
        if last is not None and n > last + 1:
            skipped += n - last - 1
        last = n
        frames += 1
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - start
    fps = (frames - 1) / (latest - first) if frames > 1 and latest > first else 0.0
    print(f"consumer: {frames} frames verified, {bad} bad, {skipped} skipped; {fps:.1f} fps")
    if frames:
        print(f"consumer: each frame a {frame.SHAPE} uint8 numpy array over the shared memory "
              f"(view + check median {statistics.median(view_ms):.2f} ms; from the "
              f"producer's start of the frame to its view median "
              f"{statistics.median(latency_ms):.2f} ms): {frames} copies of "
              f"{frame.FRAME_BYTES / 1e6:.1f} MB not made; CPU {100 * cpu / wall:.1f}% of one core")
    shell.close()
    return 1 if bad or frames == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
