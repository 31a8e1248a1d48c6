# SPDX-License-Identifier: BSL-1.0
"""venom from Python against the usual Python IPC, in one run, reported as ratios.

    PYTHONPATH=build/python python3 python/bench/bench_python.py [--rounds 5] [--requests 3000]
                                                                 [--frames 15] [--size 64]

1. Request round trip (--size bytes each way, echoed by a server process): venom (ShellChannel
   .request from the main thread, and from another thread: no helper-thread handoff), against
   multiprocessing.Pipe (send_bytes / recv_bytes) and pyzmq REQ/REP over ipc://. The servers
   are Python too (DaemonChannel.run, a recv/send loop, a REP socket). Every answer is checked.
2. 8K frame handoff (7680 x 4320 x 3 bytes, 99.5 MB): the consumer asks the producer process
   for the next frame and holds it as a (4320, 7680, 3) numpy array. venom: request, then a view
   (numpy.frombuffer over the shared memory: no copy). multiprocessing.shared_memory: a Pipe
   message, then a copy out of the shared block (the producer may overwrite the block at its next
   frame, so a consumer that keeps the frame copies it). The frame number in the header is
   checked each time.

The mechanisms alternate in rounds, and each ratio is the median of per-round ratios: absolute
times drift on a shared or virtual machine, ratios taken a fraction of a second apart do not.
With --pin the servers run on the first allowed CPU and the client on the others (as venom_bench
pins its daemon and shell); the placement, the load average before and after and the CPU share other
processes took meanwhile are printed with the tables, so a figure from a busy machine says so.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

import venom

SHAPE = (4320, 7680, 3)
PIXEL_BYTES = SHAPE[0] * SHAPE[1] * SHAPE[2]
HEADER = 64
FRAME_BYTES = HEADER + PIXEL_BYTES


# ---- servers (child processes, started with the "spawn" method) ----------------------------------

def stop_on_sigterm(daemon):
    """terminate() (SIGTERM) ends run(), so the with block closes the channel (its files)."""
    import signal
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())


def venom_echo_server(name, ready):
    with venom.DaemonChannel.create(name, venom.ChannelConfig(4096, 16, 4)) as daemon:
        stop_on_sigterm(daemon)
        ready.set()
        daemon.run(lambda cid, cmd: cmd)  # the memoryview itself: copied into the answer slot


def pipe_echo_server(conn, ready):
    ready.set()
    while True:
        msg = conn.recv_bytes()
        if not msg:
            return
        conn.send_bytes(msg)


def zmq_echo_server(address, ready):
    import zmq
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(address)
    ready.set()
    while True:
        msg = sock.recv()
        if msg == b"":
            sock.send(b"")
            break
        sock.send(msg)
    sock.close(0)
    ctx.term()


def venom_frame_server(name, ready):
    config = venom.ChannelConfig(FRAME_BYTES, 4, 2, state_buffers=3)
    with venom.DaemonChannel.create(name, config) as daemon:
        counter = [0]

        def next_frame(cid, cmd):
            counter[0] += 1
            with daemon.loan(FRAME_BYTES) as loan:  # the next buffer, in place
                header = memoryview(loan)[:8]
                header[:] = counter[0].to_bytes(8, "little")
                header.release()
                loan.publish()
            return counter[0].to_bytes(8, "little")
        stop_on_sigterm(daemon)
        ready.set()
        daemon.run(next_frame)


def shm_frame_server(shm_name, conn, ready):
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=shm_name)
    header = shm.buf[:8]
    ready.set()
    n = 0
    while conn.recv_bytes():
        n += 1
        header[:] = n.to_bytes(8, "little")
        conn.send_bytes(n.to_bytes(8, "little"))
    header.release()
    shm.close()


# ---- helpers ----------------------------------------------------------------------------------------

SERVER_CPUS = None  # --pin: the servers' CPU set (the client takes the others)


def pinned(target, cpus, *args):
    """target(*args) in a process whose CPUs are `cpus` (None: as inherited)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    target(*args)


def start(ctx, target, *args):
    ready = ctx.Event()
    p = ctx.Process(target=pinned, args=(target, SERVER_CPUS, *args, ready), daemon=True)
    p.start()
    if not ready.wait(60):
        p.kill()
        sys.exit(f"bench: {target.__name__} did not start within 60 s")
    return p


def stop(servers, channel):
    """Ends the server processes; a venom server that did not close its channel in time is
    killed and its files removed (3 x 99.5 MB for the frames)."""
    for p in servers:
        p.terminate()
    for p in servers:
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join(10)
    for suffix in (".shm", ".lock"):
        try:
            os.unlink(f"/dev/shm/venom.{channel}{suffix}")
        except FileNotFoundError:
            pass


def timed(call, n):
    """n calls of call(), each timed (ns)."""
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        call()
        out.append(clock() - t0)
    return out


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))]


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def fmt_us(ns):
    return f"{ns / 1000:.1f} µs"


def machine_note(load0, load1, busy_share):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    placement = (f"servers pinned to CPU {sorted(SERVER_CPUS)}, the client to CPU "
                 f"{sorted(os.sched_getaffinity(0))}" if SERVER_CPUS else "nothing pinned")
    return (f"{os.cpu_count()} CPUs ({model}); {placement}; load average {load0:.2f} before, {load1:.2f} after; CPU busy "
            f"{100 * busy_share:.0f}% of all CPUs during the run (this benchmark's processes "
            f"included)")


# ---- 1. round trips -------------------------------------------------------------------------------

def bench_rtt(ctx, args):
    import zmq
    payload = bytes(range(256)) * (args.size // 256) + bytes(args.size % 256)
    name = f"venom_pybench_{os.getpid()}"
    servers = [start(ctx, venom_echo_server, name)]
    shell = venom.ShellChannel.connect(name, connect_timeout=10.0)
    parent, child = ctx.Pipe()
    servers.append(start(ctx, pipe_echo_server, child))
    address = f"ipc://{tempfile.gettempdir()}/venom_pybench_{os.getpid()}.ipc"
    servers.append(start(ctx, zmq_echo_server, address))
    zctx = zmq.Context()
    req = zctx.socket(zmq.REQ)
    req.connect(address)

    def venom_call():
        if shell.request(payload) != payload:
            raise SystemExit("venom: wrong answer")

    def pipe_call():
        parent.send_bytes(payload)
        if parent.recv_bytes() != payload:
            raise SystemExit("Pipe: wrong answer")

    def zmq_call():
        req.send(payload)
        if req.recv() != payload:
            raise SystemExit("zmq: wrong answer")

    def venom_thread(n):
        out = []
        t = threading.Thread(target=lambda: out.extend(timed(venom_call, n)))
        t.start()
        t.join()
        return out

    rows = {
        "venom, request from the main thread": lambda n: timed(venom_call, n),
        "venom, request from another thread": venom_thread,
        "multiprocessing.Pipe": lambda n: timed(pipe_call, n),
        "pyzmq REQ/REP ipc://": lambda n: timed(zmq_call, n),
    }
    for f in rows.values():  # warm-up
        f(args.requests // 10 + 1)
    samples = {k: [] for k in rows}
    ratios = {k: [] for k in rows}
    for _ in range(args.rounds):
        p50 = {}
        for k, f in rows.items():
            s = f(args.requests)
            samples[k] += s
            p50[k] = pct(s, 0.5)
        base = p50["venom, request from the main thread"]
        for k in rows:
            ratios[k].append(p50[k] / base)

    req.send(b"")
    req.recv()
    req.close(0)
    zctx.term()
    parent.send_bytes(b"")
    shell.close()
    stop(servers, name)
    print(f"\n### Request round trip, {args.size} B each way, Python server and client "
          f"({args.rounds} rounds x {args.requests} requests)\n")
    print("| mechanism | p50 | p99 | p50 / venom (main thread), median of rounds |")
    print("|---|---|---|---|")
    for k in rows:
        print(f"| {k} | {fmt_us(pct(samples[k], 0.5))} | {fmt_us(pct(samples[k], 0.99))} | "
              f"{statistics.median(ratios[k]):.2f}x |")


# ---- 2. frames -------------------------------------------------------------------------------------

def bench_frames(ctx, args):
    from multiprocessing import shared_memory
    name = f"venom_pybench_frames_{os.getpid()}"
    servers = [start(ctx, venom_frame_server, name)]
    shell = venom.ShellChannel.connect(name, connect_timeout=30.0)
    shm = shared_memory.SharedMemory(create=True, size=FRAME_BYTES)
    parent, child = ctx.Pipe()
    servers.append(start(ctx, shm_frame_server, shm.name, child))

    def venom_frame():
        n = int.from_bytes(shell.request(b"next"), "little")
        with shell.view() as v:  # the newest frame, in place
            pixels = np.frombuffer(v, np.uint8, count=PIXEL_BYTES, offset=HEADER).reshape(SHAPE)
            header = np.frombuffer(v, np.uint64, count=1)
            if int(header[0]) != n or pixels.shape != SHAPE:
                raise SystemExit("venom: wrong frame")
            int(pixels[-1, -1, -1])  # the array is usable
            del pixels, header

    def shm_frame():
        parent.send_bytes(b"next")
        n = int.from_bytes(parent.recv_bytes(), "little")
        frame = np.frombuffer(shm.buf, np.uint8).copy()  # the producer writes here next time
        pixels = frame[HEADER:].reshape(SHAPE)
        if int(frame[:8].view(np.uint64)[0]) != n:
            raise SystemExit("shared_memory: wrong frame")
        int(pixels[-1, -1, -1])
        del frame, pixels

    rows = {"venom: request + view (numpy array over the shared memory)": venom_frame,
            "multiprocessing.shared_memory: Pipe message + copy out": shm_frame}
    for f in rows.values():
        timed(f, 2)  # warm-up: first-touch page faults of the copies' destination
    samples = {k: [] for k in rows}
    ratios = {k: [] for k in rows}
    for _ in range(args.rounds):
        med = {}
        for k, f in rows.items():
            s = timed(f, args.frames)
            samples[k] += s
            med[k] = statistics.median(s)
        base = med[next(iter(rows))]
        for k in rows:
            ratios[k].append(med[k] / base)
    parent.send_bytes(b"")
    shell.close()
    stop(servers, name)
    shm.close()
    shm.unlink()
    print(f"\n### 8K frame handoff (7680x4320x3 = {FRAME_BYTES / 1e6:.1f} MB), from asking the "
          f"producer process to holding the frame as a {SHAPE} numpy array "
          f"({args.rounds} rounds x {args.frames} frames)\n")
    print("| mechanism | median per frame | p90 | / venom, median of rounds |")
    print("|---|---|---|---|")
    for k in rows:
        med = statistics.median(samples[k])
        print(f"| {k} | {med / 1e6:.3f} ms | {pct(samples[k], 0.9) / 1e6:.3f} ms | "
              f"{statistics.median(ratios[k]):.1f}x |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=3000, help="requests per mechanism per round")
    ap.add_argument("--frames", type=int, default=15, help="frames per mechanism per round")
    ap.add_argument("--size", type=int, default=64, help="request and answer size (bytes)")
    ap.add_argument("--only", choices=["rtt", "frames"], help="one of the two benchmarks")
    ap.add_argument("--pin", action="store_true",
                    help="servers on the first allowed CPU, the client on the others")
    args = ap.parse_args()
    global SERVER_CPUS
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2:
        SERVER_CPUS = {cpus[0]}
        os.sched_setaffinity(0, set(cpus[1:]))
    ctx = mp.get_context("spawn")
    load0 = os.getloadavg()[0]
    c0 = cpu_times()
    t0 = time.time()
    print(f"venom {venom.__version__} Python benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}, "
          f"Python {sys.version.split()[0]}, numpy {np.__version__}")
    if args.only != "frames":
        bench_rtt(ctx, args)
    if args.only != "rtt":
        bench_frames(ctx, args)
    c1 = cpu_times()
    busy = 1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0])
    print(f"\n{time.time() - t0:.0f} s; " + machine_note(load0, os.getloadavg()[0], busy))


if __name__ == "__main__":
    main()
