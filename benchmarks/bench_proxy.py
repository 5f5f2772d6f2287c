"""The impairment proxy at zero impairment against a direct connection, measured in the same run.

    .venv/bin/python -m benchmarks.bench_proxy [--frames N] [--pings N] [--rounds N]  (repo root)

Throughput: a vehicle (another process) streams N frames as fast as loopback TCP takes them; the
harness reads and parses them with pymavlink, directly or through the proxy (which parses every
frame too). Latency: the vehicle echoes each frame; the harness sends one PING at a time and
waits for it back, so a round trip crosses the proxy twice. The proxy runs in a
process of its own, as it does in a test run (drivers/impair/proxy.py).
"""

import argparse
import ctypes
import multiprocessing
import signal
import socket
import statistics
import sys
import time

from drivers.impair.proxy import ImpairmentProxy
from drivers.mavlink import mavlink


class _Buf:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b


def vehicle_stream(frames: int) -> bytes:
    """A vehicle's usual mix: attitude and position dominate, with heartbeats and time."""
    out = _Buf()
    mav = mavlink.MAVLink(out, srcSystem=1, srcComponent=1)
    for i in range(frames):
        kind = i % 10
        if kind < 4:
            mav.attitude_send(i * 10, 0.1, 0.2, 0.3, 0.01, 0.02, 0.03)
        elif kind < 7:
            mav.global_position_int_send(i * 10, 225431000, 1139425000, 30000, 10000, 1, 2, 3, 9)
        elif kind == 8:
            mav.system_time_send(0, i * 10)
        else:
            mav.heartbeat_send(2, 3, 81, 4, 4)
    return bytes(out.data)


def _vehicle(server: socket.socket, mode: str, data: bytes) -> None:
    """Runs in a child process: per connection, stream `data` once (after the harness's first
    frame, as a vehicle streams once a ground station asks), or echo what comes."""
    if sys.platform.startswith("linux"):  # die with the benchmark, however it ends
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    while True:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode == "stream":
            conn.recv(65536)
            conn.sendall(data)
            while conn.recv(65536):  # hold the connection until the reader has it all
                pass
        else:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)
        conn.close()


def start_vehicle(mode: str, data: bytes = b"") -> tuple[str, multiprocessing.Process]:
    server = socket.create_server(("127.0.0.1", 0))
    proc = multiprocessing.get_context("fork").Process(
        target=_vehicle, args=(server, mode, data), daemon=True
    )
    proc.start()
    url = f"tcp:127.0.0.1:{server.getsockname()[1]}"
    server.close()  # the child has its own copy
    return url, proc


def connect(url: str) -> socket.socket:
    _, host, port = url.split(":")
    sock = socket.create_connection((host, int(port)), timeout=30.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def throughput(url: str, frames: int) -> float:
    """Frames a second the harness parsed, from connecting to the last frame."""
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    start = time.perf_counter()
    sock = connect(url)
    sock.sendall(mav.heartbeat_encode(6, 8, 0, 0, 4).pack(mav))  # "go"
    got = 0
    while got < frames:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"stream ended after {got} of {frames} frames")
        got += len(mav.parse_buffer(chunk) or ())
    elapsed = time.perf_counter() - start
    sock.close()
    return frames / elapsed


def round_trips(url: str, pings: int) -> list[float]:
    """Round-trip times (µs) of one PING at a time through the echoing vehicle."""
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    sock = connect(url)
    rtts = []
    for i in range(pings + 50):  # the first 50 warm up the path
        frame = mav.ping_encode(i, i, 1, 1).pack(mav)
        start = time.perf_counter()
        sock.sendall(frame)
        back = b""
        while len(back) < len(frame):
            back += sock.recv(65536)
        if i >= 50:
            rtts.append((time.perf_counter() - start) * 1e6)
    sock.close()
    return rtts


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--pings", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    stream_url, streamer = start_vehicle("stream", vehicle_stream(args.frames))
    echo_url, echoer = start_vehicle("echo")
    rates: dict[str, list[float]] = {"direct": [], "proxy": []}
    rtts: dict[str, list[float]] = {"direct": [], "proxy": []}
    try:
        for _ in range(args.rounds):  # interleaved, so both see the same machine load
            rates["direct"].append(throughput(stream_url, args.frames))
            with ImpairmentProxy(stream_url) as proxy:
                rates["proxy"].append(throughput(proxy.url, args.frames))
            rtts["direct"] += round_trips(echo_url, args.pings)
            with ImpairmentProxy(echo_url) as proxy:
                rtts["proxy"] += round_trips(proxy.url, args.pings)
    finally:
        streamer.kill()
        echoer.kill()

    best = {k: max(v) for k, v in rates.items()}
    print(f"throughput, {args.frames} frames, best of {args.rounds} rounds:")
    for k in ("direct", "proxy"):
        print(f"  {k:7s} {best[k]:10,.0f} frames/s")
    print(f"  ratio   {best['proxy'] / best['direct']:10.2f} (proxy / direct)")
    print(f"round trip, {len(rtts['direct'])} PINGs each (the proxy is crossed twice):")
    p = {k: (percentile(v, 50), percentile(v, 95)) for k, v in rtts.items()}
    for k in ("direct", "proxy"):
        print(f"  {k:7s} p50 {p[k][0]:8.0f} µs   p95 {p[k][1]:8.0f} µs")
    added = (p["proxy"][0] - p["direct"][0], p["proxy"][1] - p["direct"][1])
    print(f"  added   p50 {added[0]:8.0f} µs   p95 {added[1]:8.0f} µs (both crossings)")
    print(
        f"  ratio   p50 {p['proxy'][0] / p['direct'][0]:8.2f}      p95 "
        f"{p['proxy'][1] / p['direct'][1]:8.2f} (proxy / direct)"
    )


if __name__ == "__main__":
    main()
