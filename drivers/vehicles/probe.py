"""A short-lived readiness probe: has a starting vehicle process sent its first HEARTBEAT?

Start-up comes before any vehicle clock exists, so the bound is in wall seconds. The probe is
bare sockets plus pymavlink's parser (no mavutil connection, no thread), so it closes cleanly
and at once: ArduPilot serves one client per TCP port and must see it go before the harness's
own link can take its place.
"""

import contextlib
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from drivers.mavlink import mavlink

LOOPBACK = "127.0.0.1"


class ProbeFailed(Exception):
    """No autopilot HEARTBEAT within the bound, or the process died first; says which."""


def _endpoint(url: str) -> tuple[str, int]:
    kind, _, rest = url.partition(":")
    host, _, port = rest.rpartition(":")
    if kind not in ("tcp", "udpin") or host != LOOPBACK or not port.isdigit():
        raise ValueError(
            f"probe URL {url!r}: expected tcp:{LOOPBACK}:PORT or udpin:{LOOPBACK}:PORT"
        )
    return kind, int(port)


def _open(kind: str, port: int, deadline: float, gone: Callable[[], str | None]) -> socket.socket:
    """TCP: connect, retrying while the process has not bound its port yet. UDP: listen."""
    if kind == "udpin":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        return sock
    last = "not tried"
    while time.monotonic() < deadline:
        if why := gone():
            raise ProbeFailed(why)
        try:
            return socket.create_connection((LOOPBACK, port), timeout=0.5)
        except OSError as exc:
            last = exc.strerror or str(exc)
            time.sleep(0.1)
    raise ProbeFailed(f"could not connect to tcp:{LOOPBACK}:{port} ({last})")


def first_heartbeat(url: str, timeout_s: float, gone: Callable[[], str | None]) -> Any:
    """The first HEARTBEAT from an autopilot (not a ground station) at `url` within `timeout_s`
    wall seconds. `gone()` returns why the process is no longer running, or None."""
    kind, port = _endpoint(url)
    deadline = time.monotonic() + timeout_s
    sock = _open(kind, port, deadline, gone)
    parser = mavlink.MAVLink(None)
    parser.robust_parsing = True
    seen = 0
    try:
        while (left := deadline - time.monotonic()) > 0:
            if why := gone():
                raise ProbeFailed(why)
            ready, _, _ = select.select([sock], [], [], min(left, 0.2))
            if not ready:
                continue
            data = sock.recv(65536)
            if not data and kind == "tcp":
                raise ProbeFailed(f"{url} closed the connection before its first HEARTBEAT")
            for msg in parser.parse_buffer(data) or []:
                seen += 1
                if msg.get_type() == "HEARTBEAT" and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID:
                    return msg
        raise ProbeFailed(
            f"no autopilot HEARTBEAT at {url} within {timeout_s:g} s (wall); "
            f"{seen} other message(s) seen"
        )
    finally:
        with contextlib.suppress(OSError):
            if kind == "tcp":
                sock.shutdown(socket.SHUT_RDWR)  # the vehicle sees EOF now, not at GC time
        sock.close()
