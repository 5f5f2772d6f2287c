"""A flooder: a plain socket that writes prepared frames to a vehicle at a rate in vehicle
time, from a thread of its own (and a burst at once, from the caller's)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Sequence
from typing import Any

from drivers.attack.peer import LOOPBACK


class Flooder:
    """Writes prepared frames to a vehicle URL at `rate_hz` of vehicle time, in a thread."""

    def __init__(self, url: str, frames: Sequence[bytes], rate_hz: float) -> None:
        kind, host, port = url.split(":")
        if kind != "tcp" or host not in (LOOPBACK, "localhost"):
            raise ValueError(f"the flooder speaks tcp:127.0.0.1:PORT, not {url}")
        self.frames, self.rate_hz = list(frames), rate_hz
        self.sock = socket.create_connection((LOOPBACK, int(port)), timeout=5.0)
        self.sent = 0
        self.bytes = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, clock: Any, duration_s: float) -> None:
        """Flood for `duration_s` vehicle seconds of `clock` (a VehicleClock)."""
        self._thread = threading.Thread(
            target=self._run, args=(clock, duration_s), name="flooder", daemon=True
        )
        self._thread.start()

    def _run(self, clock: Any, duration_s: float) -> None:
        start = clock.now()
        end = start + duration_s
        try:
            while not self._stop.is_set() and (now := clock.now()) < end:
                due = int((now - start) * self.rate_hz) + 1  # frames that should be out by now
                while self.sent < due:
                    frame = self.frames[self.sent % len(self.frames)]
                    self.sock.sendall(frame)
                    self.sent += 1
                    self.bytes += len(frame)
                self._drain()
                # pacing a sender: about one frame's worth of wall time
                self._stop.wait(min(0.01, 1.0 / self.rate_hz / max(clock.pace, 1e-3)))
        except OSError as exc:
            self.error = f"flood connection failed: {exc}"

    def burst(self, frames: Sequence[bytes]) -> None:
        """Frames written at once, as fast as the socket takes them (from the caller's thread;
        use it once the paced flood is over or between its writes)."""
        data = b"".join(frames)
        self.sock.sendall(data)
        self.sent += len(frames)
        self.bytes += len(data)

    def _drain(self) -> None:
        """Read and drop what the vehicle sends us, so its output buffer never fills."""
        while select.select([self.sock], [], [], 0)[0]:
            if not self.sock.recv(65536):
                raise OSError("closed by the vehicle")

    def wait(self, timeout_wall_s: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout_wall_s)

    def close(self) -> None:
        self._stop.set()
        self.wait(2.0)
        self.sock.close()

    def __enter__(self) -> Flooder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
