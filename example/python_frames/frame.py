# SPDX-License-Identifier: BSL-1.0
"""The 8K frame format, in Python: the same bytes as example/video_frames/frame.hpp, so the C++
producer (venom_video_producer) and the Python one (producer.py) feed the same consumers.

A state is a 64-byte header and 7680 x 4320 x 3 bytes of pixels (99.5 MB). The check is
sampled: the producer writes a frame-dependent value into 4096 64-bit words spread evenly over
the pixels and puts their checksum, with the frame number, in the header."""
import numpy as np

WIDTH, HEIGHT, CHANNELS = 7680, 4320, 3
SHAPE = (HEIGHT, WIDTH, CHANNELS)
PIXEL_BYTES = WIDTH * HEIGHT * CHANNELS  # 99,532,800
MAGIC = 0x454D4152464B3856  # "V8KFRAME"
SAMPLES = 4096
SAMPLE_STRIDE = PIXEL_BYTES // 8 // SAMPLES  # in 64-bit words
HEADER = np.dtype([("magic", "<u8"), ("frame_no", "<u8"), ("produced_ns", "<i8"),
                   ("width", "<u4"), ("height", "<u4"), ("channels", "<u4"), ("samples", "<u4"),
                   ("checksum", "<u8"), ("reserved", "<u8", 2)])
assert HEADER.itemsize == 64  # the pixels start on a cache line
FRAME_BYTES = HEADER.itemsize + PIXEL_BYTES
MASK = (1 << 64) - 1


def mix(x):
    """splitmix64's finaliser, on a Python int."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def mix_array(x):
    """mix() on a numpy uint64 array (multiplication wraps modulo 2**64, as in C++)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def views(buf):
    """(header, pixels, sampled words) as numpy arrays over `buf` (a venom.StateView or
    StateLoan of FRAME_BYTES): no copy. pixels is the (4320, 7680, 3) uint8 image."""
    header = np.frombuffer(buf, HEADER, count=1)[0]
    pixels = np.frombuffer(buf, np.uint8, count=PIXEL_BYTES, offset=HEADER.itemsize).reshape(SHAPE)
    words = np.frombuffer(buf, np.uint64, count=PIXEL_BYTES // 8, offset=HEADER.itemsize)
    return header, pixels, words[: SAMPLES * SAMPLE_STRIDE : SAMPLE_STRIDE]


def expected_stamps(frame_no):
    return mix_array(np.uint64(frame_no * SAMPLES) + np.arange(SAMPLES, dtype=np.uint64))


def checksum(sampled):
    """The header's checksum of the sampled words (frame.hpp's checksum)."""
    h = 0
    for i, w in enumerate(sampled.tolist()):
        h = (mix(h ^ w) + i) & MASK
    return h
