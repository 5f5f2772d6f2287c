"""A flooder: a plain socket that writes prepared frames to a vehicle at a rate in vehicle
time, from a thread of its own (or paced from the caller's), and leaves mid-conversation
(half-closing once it has written its last frame).

Over TCP (tcp:127.0.0.1:PORT, ArduPilot SITL, the built-in simulator) it connects; over UDP
(udpin:127.0.0.1:PORT, PX4 SITL: the vehicle sends to PORT) it binds PORT and writes to the
address the vehicle's first datagram came from, one frame a datagram as MAVLink over UDP goes
(PX4 reads at most 8000 bytes a datagram, mavlink_receiver.cpp). UDP has no connection to
leave: `leave` closes the socket and the vehicle cannot see it go."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from drivers.attack.peer import LOOPBACK
from drivers.mavlink import mavlink


class Flooder:
    """Writes prepared frames to a vehicle URL at `rate_hz` of vehicle time, in a thread."""

    FIRST_DATAGRAM_S = 5.0  # wall: a UDP vehicle sends at once (its heartbeat, its streams)

    def __init__(self, url: str, frames: Sequence[bytes], rate_hz: float) -> None:
        kind, host, port = url.split(":")
        if kind not in ("tcp", "udpin") or host not in (LOOPBACK, "localhost"):
            raise ValueError(
                f"the flooder speaks tcp:127.0.0.1:PORT or udpin:127.0.0.1:PORT, not {url}"
            )
        self.frames, self.rate_hz = list(frames), rate_hz
        self.udp_peer: tuple[str, int] | None = None
        if kind == "tcp":
            self.sock = socket.create_connection((LOOPBACK, int(port)), timeout=5.0)
        else:
            self.sock = self._udp_bound(int(port), url)
        self.sent = 0
        self.bytes = 0
        self.flooded_s = 0.0  # vehicle seconds the timed flood ran
        self.flooded = 0  # frames it wrote in them
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock: Any = None
        self._left = False

    def _udp_bound(self, port: int, url: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((LOOPBACK, port))
            if not select.select([sock], [], [], self.FIRST_DATAGRAM_S)[0]:
                raise OSError(f"nothing from the vehicle on {url} in {self.FIRST_DATAGRAM_S:g} s")
            self.udp_peer = sock.recvfrom(65536)[1]
        except BaseException:
            sock.close()
            raise
        return sock

    def _write(self, frames: Sequence[bytes]) -> None:
        if self.udp_peer is None:
            self.sock.sendall(b"".join(frames))
            return
        for frame in frames:
            self.sock.sendto(frame, self.udp_peer)

    def start(self, clock: Any, duration_s: float) -> None:
        """Flood for `duration_s` vehicle seconds of `clock` (a VehicleClock)."""
        self._clock = clock
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
                    self._write([frame])
                    self.sent += 1
                    self.bytes += len(frame)
                self._drain()
                # pacing a sender: about one frame's worth of wall time
                self._stop.wait(min(0.01, 1.0 / self.rate_hz / max(clock.pace, 1e-3)))
        except OSError as exc:
            self.error = f"flood connection failed: {exc}"
        finally:
            self.flooded_s, self.flooded = clock.now() - start, self.sent

    @property
    def achieved_hz(self) -> float:
        """Frames a vehicle second the timed flood actually wrote (0 before it ran)."""
        return self.flooded / self.flooded_s if self.flooded_s > 0 else 0.0

    def _drain(self) -> None:
        """Read and drop what the vehicle sends us, so its output buffer never fills."""
        while select.select([self.sock], [], [], 0)[0]:
            if not self.sock.recv(65536) and self.udp_peer is None:
                raise OSError("closed by the vehicle")

    def send_paced(
        self, frames: Sequence[bytes], rate_hz: float, clock: Any, answering: Callable[[Any], bool]
    ) -> float | None:
        """Write `frames` at `rate_hz` of vehicle time from the caller's thread (once the paced
        flood is over), reading what the vehicle sends meanwhile. Returns the vehicle time of
        the first message `answering` accepts (None: none came)."""
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        answered_t, start, done = None, clock.now(), 0
        while done < len(frames):
            due = min(len(frames), int((clock.now() - start) * rate_hz) + 1)
            self._write(frames[done:due])
            self.sent += due - done
            self.bytes += sum(map(len, frames[done:due]))
            done = due
            for msg in self._receive(clock, parser, wait=done < len(frames)) or []:
                if answered_t is None and answering(msg):
                    answered_t = clock.now()
        return answered_t

    def leave(self, clock: Any, within_s: float) -> float | None:
        """Half-close, so the vehicle reads everything we sent before it sees us go, then wait
        (at most `within_s` of vehicle time) for it to close its side; returns when it did.

        Why not just close(): a close with the vehicle's replies unread sends a reset, which
        discards whatever the vehicle had not read yet, so what it saw of the attack would
        depend on scheduling."""
        self._left = True
        if self.udp_peer is not None:  # no connection: gone as the socket closes
            self.sock.close()
            return clock.now()
        self.sock.shutdown(socket.SHUT_WR)
        parser = mavlink.MAVLink(None)
        deadline = clock.now() + within_s
        try:
            while clock.now() < deadline:
                if self._receive(clock, parser, wait=True) is None:
                    return clock.now()
        except ConnectionResetError:  # the vehicle reset the connection: it has seen us go
            return clock.now()
        return None

    def _receive(self, clock: Any, parser: Any, *, wait: bool) -> list[Any] | None:
        """Messages waiting (or arriving within a short slice of wall time, if `wait`); None
        once the vehicle has closed its side."""
        # pacing a reader (not a condition): a slice of wall time; callers bound their waits
        slice_s = min(0.01, 0.01 / max(clock.pace, 1e-3)) if wait else 0
        got: list[Any] = []
        while select.select([self.sock], [], [], slice_s)[0]:
            data = self.sock.recv(65536)
            if not data and self.udp_peer is None:
                return None
            got += [m for m in parser.parse_buffer(data) or [] if m.get_type() != "BAD_DATA"]
            slice_s = 0
        return got

    def wait(self, timeout_wall_s: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout_wall_s)

    QUIET_S = 1.0  # vehicle seconds without a PARAM_VALUE: the flood's reads are all answered
    SETTLE_S = 5.0  # vehicle seconds at most to wait for that

    def close(self) -> None:
        """Stop flooding and go. Unless the check chose how to leave (`leave`), go politely:
        first read the answers to the flood's own parameter reads, so none is left queued for
        a peer that is gone (ArduPilot's parameter service stalls on such an answer: that is
        the recovery check's attack, not a side effect for the other flood checks to cause).
        Idempotent."""
        if self.sock.fileno() == -1:
            return
        self._stop.set()
        self.wait(2.0)
        if not self._left and self._clock is not None:
            with contextlib.suppress(OSError):
                self._settle(self._clock)
        self.sock.close()

    def _settle(self, clock: Any) -> None:
        parser = mavlink.MAVLink(None)
        parser.robust_parsing = True
        start = last = clock.now()
        while clock.now() - last < self.QUIET_S and clock.now() - start < self.SETTLE_S:
            got = self._receive(clock, parser, wait=True)
            if got is None:
                return  # the vehicle closed: nothing can be queued for us
            if any(m.get_type() == "PARAM_VALUE" for m in got):
                last = clock.now()

    def __enter__(self) -> Flooder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
