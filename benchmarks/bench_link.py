"""Link ingest rate against bare pymavlink, on the same captured stream over the same loopback TCP.

    .venv/bin/python -m benchmarks.bench_link [--frames N]   (from the repository root)

The baseline is pymavlink alone: recv() + parse_buffer() of 64 KiB chunks. The Link does that
plus what makes it useful: the .tlog record, per-stream statistics, the vehicle clock and the
dispatch to subscribers. The figure that matters is the ratio (target: Link >= 85 % of bare).
"""

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

from drivers.link.connection import Link
from drivers.mavlink import mavlink


class _Buf:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b


def captured_stream(frames: int) -> bytes:
    """A vehicle's typical mix: attitude and position dominate, with heartbeats and time."""
    out = _Buf()
    mav = mavlink.MAVLink(out, srcSystem=1, srcComponent=1)
    for i in range(frames):
        t = i * 10
        kind = i % 10
        if kind < 4:
            mav.attitude_send(t, 0.1, 0.2, 0.3, 0.01, 0.02, 0.03)
        elif kind < 7:
            mav.global_position_int_send(t, 225431000, 1139425000, 30000, 10000, 1, 2, 3, 9000)
        elif kind == 7:
            mav.system_time_send(int(time.time() * 1e6), t)
        elif kind == 8:
            mav.sys_status_send(0, 0, 0, 500, 12600, 100, 90, 0, 0, 0, 0, 0, 0)
        else:
            mav.heartbeat_send(2, 3, 81, 4, 4)
    mav.statustext_send(6, b"end of stream")
    return bytes(out.data)


class Server:
    """Sends the stream once to whoever connects, then holds the connection until done()."""

    def __init__(self, data: bytes) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(data,), daemon=True)
        self._thread.start()

    def _run(self, data: bytes) -> None:
        conn, _ = self._server.accept()
        conn.sendall(data)
        self._done.wait(60)
        conn.close()
        self._server.close()

    def done(self) -> None:
        self._done.set()
        self._thread.join(5)


def bare(data: bytes, frames: int) -> float:
    server = Server(data)
    sock = socket.create_connection(("127.0.0.1", server.port))
    mav = mavlink.MAVLink(None)
    mav.robust_parsing = True
    got = 0
    start = time.perf_counter()
    while got <= frames:  # the stream's frames and its closing STATUSTEXT
        got += len(mav.parse_buffer(sock.recv(65536)) or ())
    elapsed = time.perf_counter() - start
    sock.close()
    server.done()
    return frames / elapsed


def with_link(data: bytes, frames: int, tlog_dir: Path) -> float:
    server = Server(data)
    start = time.perf_counter()
    with Link(
        f"tcp:127.0.0.1:{server.port}", vehicle_sysid=1, tlog=tlog_dir / "bench.tlog"
    ) as link:
        link.gcs_heartbeats = False  # keep the benchmark one-way
        # a check waiting for the stream's last frame: one subscriber, as in real use
        link.wait("the end of the stream", ["STATUSTEXT"], timeout_s=1e9)
        stream = link.stats.stream(1, 1)
        elapsed = time.perf_counter() - start
    assert stream.lost == 0
    server.done()
    return frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = captured_stream(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        bares, links = [], []
        for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
            bares.append(bare(data, args.frames))
            links.append(with_link(data, args.frames, Path(tmp)))
    b, lk = max(bares), max(links)
    print(f"stream: {args.frames} frames, {len(data) / 1e6:.1f} MB, best of {args.rounds}")
    print(f"bare pymavlink parse_buffer : {b:10.0f} msg/s")
    print(f"skyproof Link ingest        : {lk:10.0f} msg/s")
    print(f"ratio Link / bare           : {lk / b:10.2f}  (target >= 0.85)")


if __name__ == "__main__":
    main()
