"""The impairment proxy's relay: the loop that forwards, impairs and schedules frames. It runs in
the proxy's own process (drivers/impair/proxy.py starts it and forwards the control calls), so that
parsing every frame twice (here, and in the harness's Link) uses two cores, not one.

Vehicle time. A verdict must not change with the simulator's speedup, so every duration the
relay applies (latency, jitter, outage length, the bandwidth cap's serialisation time) is in
VEHICLE seconds. The relay parses the frames passing through (pymavlink, MAVLink 2 via
drivers.mavlink), feeds its own VehicleClock from the time_boot_ms of the vehicle's frames
travelling "down" (fed on arrival, so even frames an outage drops keep it running), and
schedules on that time: a 500 ms latency at speedup 20 leaves after 25 ms of wall time.
Wall-clock waits are derived from the observed pace (vehicle seconds per wall second). Before
the vehicle's first time_boot_ms, and when it falls silent, the schedule runs as proxy_time.py
describes (wall time; never faster than the vehicle).

Frames. Impairments act on whole frames: the bytes forwarded are the frame's own
(msg.get_msgbuf()), so signed frames pass untouched. Bytes pymavlink cannot frame are forwarded
raw in their place in the stream and counted as "unparsed". With no impairment the relay is
transparent: the same bytes, in the same order, as soon as they arrive.

One loop thread (selectors) does all socket work and sends delayed frames when they are due; no
sleep per frame. The harness side accepts one TCP client at a time: a new connection replaces the
old one (a harness may reconnect). If a tcp vehicle closes its connection, the relay closes the
harness's too, as a direct link would report, and reconnects to the vehicle when the harness
connects again.
"""

import contextlib
import dataclasses
import random
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from drivers.impair.impairment import Channel, Counters, Impairment
from drivers.impair.proxy_sockets import LOOPBACK, TcpEnd, UdpEnd, open_vehicle, parse_vehicle_url
from drivers.impair.proxy_time import VehicleTimeline
from drivers.link.clock import VehicleClock
from drivers.mavlink import TIME_BOOT_TYPES, mavlink

DIRECTIONS = ("up", "down")  # up: harness -> vehicle; down: vehicle -> harness
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def _parser() -> Any:
    mav = mavlink.MAVLink(None)
    mav.robust_parsing = True  # bad bytes come back as BAD_DATA instead of vanishing in a raise
    return mav


class Relay:
    WAKE_MAX_S = 0.01  # while frames wait, re-check at least this often (the pace may change)
    IDLE_S = 0.5
    RECONNECT_TIMEOUT_S = 2.0

    def __init__(
        self,
        vehicle_url: str,
        *,
        seed: int = 0,
        vehicle_sysid: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._addr = parse_vehicle_url(vehicle_url)  # ValueError before anything is opened
        self.vehicle_url = vehicle_url
        self.vehicle_sysid = vehicle_sysid  # None: the first autopilot HEARTBEAT going down
        self.seed = seed
        self.clock = VehicleClock()
        self._time = VehicleTimeline(self.clock)
        self._channels = {d: Channel(random.Random(f"{seed}:{d}")) for d in DIRECTIONS}
        self.counters: dict[str, Counters] = {d: c.counters for d, c in self._channels.items()}
        self.error: str | None = None  # set if the loop thread died of a bug
        self._lock = threading.Lock()  # guards the channels (loop thread vs. control calls)
        self._stop = threading.Event()
        self._closed = False
        self._sockets_closed = False
        self._vehicle: TcpEnd | UdpEnd | None = open_vehicle(self._addr, connect_timeout_s)
        self._client: TcpEnd | None = None
        self._parsers = {d: _parser() for d in DIRECTIONS}
        self._masks: dict[int, int] = {}
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            self._listener = socket.create_server((LOOPBACK, 0))
        except OSError:
            self._vehicle.close()
            self._wake_r.close()
            self._wake_w.close()
            raise
        self._listener.setblocking(False)
        self._wake_r.setblocking(False)
        self.url = f"tcp:{LOOPBACK}:{self._listener.getsockname()[1]}"
        self._sel.register(self._listener, _READ, self._on_accept)
        self._sel.register(self._wake_r, _READ, self._on_wake)
        self._watch(self._vehicle, self._on_vehicle)
        self._thread = threading.Thread(
            target=self._run, name=f"impairment proxy {self.url}", daemon=True
        )
        self._thread.start()

    # -- control (any thread) ------------------------------------------------------------------
    def set(self, direction: str, impairment: Impairment) -> None:
        """Impair "up" (harness -> vehicle), "down" or "both" from the next frame on."""
        if not isinstance(impairment, Impairment):
            raise TypeError(f"expected an Impairment, got {type(impairment).__name__}")
        with self._lock:
            for ch in self._pick(direction):
                ch.impairment = impairment
        self._wake()

    def clear(self) -> None:
        """Back to a transparent relay: no impairment, no outage, no frame held back. Frames
        already delayed still leave in order."""
        with self._lock:
            for ch in self._channels.values():
                ch.impairment = Impairment()
                ch.outage_until = float("-inf")
                ch.release_held()
        self._wake()

    def outage(self, duration_s: float, direction: str = "both") -> None:
        """Drop every frame arriving in the next `duration_s` vehicle seconds."""
        if duration_s < 0:
            raise ValueError(f"outage duration must be >= 0, not {duration_s!r}")
        end = self._time.now() + duration_s
        with self._lock:
            for ch in self._pick(direction):
                ch.outage_until = max(ch.outage_until, end)

    def in_outage(self, direction: str = "both") -> bool:
        now = self._time.now()
        return any(now < ch.outage_until for ch in self._pick(direction))

    def counters_snapshot(self) -> dict[str, Counters]:
        """Copies of both directions' counters, taken together."""
        with self._lock:
            return {d: dataclasses.replace(c, sent_by=dict(c.sent_by))
                    for d, c in self.counters.items()}

    @property
    def pace(self) -> float:
        """Observed speedup of the vehicle (vehicle seconds per wall second)."""
        return self._time.pace

    @property
    def vehicle_side_port(self) -> int:
        """The proxy's own port toward the vehicle (the udpin port it listens on, say)."""
        vehicle = self._vehicle
        return vehicle.sock.getsockname()[1] if vehicle is not None else 0

    @property
    def harness_connected(self) -> bool:
        return self._client is not None

    def _pick(self, direction: str) -> list[Channel]:
        if direction == "both":
            return list(self._channels.values())
        if direction not in self._channels:
            raise ValueError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
        return [self._channels[direction]]

    # -- the loop thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for key, mask in self._sel.select(self._timeout()):
                    key.data(mask)
                self._flush()
        except Exception:  # a bug must not leave a half-working relay: close, and say why
            self.error = traceback.format_exc()
        finally:
            self._close_sockets()

    def _timeout(self) -> float:
        with self._lock:
            dues = [d for ch in self._channels.values() if (d := ch.next_due()) is not None]
        if not dues:
            return self.IDLE_S
        return min(self._time.wall_delay(min(dues) - self._time.now()), self.WAKE_MAX_S)

    def _on_wake(self, _mask: int) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _on_accept(self, _mask: int) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._client is not None:  # the harness reconnected: the newest connection wins
            self._drop_client()
        if self._vehicle is None:  # the vehicle closed on the last client: reach it again
            try:
                self._vehicle = open_vehicle(self._addr, self.RECONNECT_TIMEOUT_S)
            except Exception:
                sock.close()  # no vehicle behind the proxy: tell the harness at once
                return
            self._parsers["down"] = _parser()
            self._watch(self._vehicle, self._on_vehicle)
        self._client = TcpEnd(sock)
        self._parsers["up"] = _parser()
        self._watch(self._client, self._on_client)

    def _on_client(self, mask: int) -> None:
        client = self._client
        if client is None:
            return
        if mask & _WRITE and not self._flush_end(client):
            return
        if mask & _READ:
            data = client.recv()
            if data == b"":
                self._drop_client()
            elif data:
                self._ingest("up", data)

    def _on_vehicle(self, mask: int) -> None:
        vehicle = self._vehicle
        if vehicle is None:
            return
        if mask & _WRITE and not self._flush_end(vehicle):
            return
        if not mask & _READ:
            return
        for _ in range(64 if isinstance(vehicle, UdpEnd) else 1):  # drain datagrams in a batch
            data = vehicle.recv()
            if data is None:
                return
            if data == b"":
                self._lose_vehicle()
                return
            self._ingest("down", data)

    def _ingest(self, direction: str, data: bytes) -> None:
        wall = time.monotonic()
        msgs = self._parsers[direction].parse_buffer(data)
        if not msgs:
            return
        if direction == "down":
            self._feed_clock(msgs, wall)
        now = self._time.now(wall)
        ch = self._channels[direction]
        bad = mavlink.MAVLink_bad_data
        with self._lock:
            sent_by = ch.counters.sent_by
            for msg in msgs:
                if isinstance(msg, bad):
                    ch.push_unparsed(bytes(msg.get_msgbuf()), now)
                else:
                    key = (msg.get_srcSystem(), msg.get_srcComponent(), msg.get_type())
                    sent_by[key] = sent_by.get(key, 0) + 1
                    ch.push_frame(msg.get_msgbuf(), now)

    def _feed_clock(self, msgs: list[Any], wall: float) -> None:
        # Frames read together arrived together: only the last time sample among them is news
        # (the last, not the largest, so that a reboot inside the batch is still seen).
        newest = None
        for msg in msgs:
            mtype = msg.get_type()
            if mtype in TIME_BOOT_TYPES:
                if msg.get_srcSystem() == self.vehicle_sysid:
                    newest = msg.time_boot_ms
            elif (
                mtype == "HEARTBEAT"
                and self.vehicle_sysid is None
                and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID
            ):
                self.vehicle_sysid = msg.get_srcSystem()
        if newest is not None:
            self._time.observe(newest, wall)

    def _flush(self) -> None:
        now = self._time.now()
        for direction, ch in self._channels.items():
            with self._lock:
                items = ch.ready(now)
            if not items:
                continue
            c = ch.counters
            end = self._client if direction == "down" else self._vehicle
            datas = [data for data, _ in items]
            # Counted before the write, so a far side that sees a frame also sees it counted;
            # bytes before frames, so whoever sees the frame count final sees the bytes final.
            c.forwarded_bytes += sum(map(len, datas))
            c.forwarded += len(datas)
            sent = 0
            if end is not None:
                try:
                    sent = end.send(datas)
                except OSError:
                    self._end_failed(end)
                else:
                    self._watch(end, self._on_client if end is self._client else self._on_vehicle)
            if sent < len(datas):
                c.forwarded -= len(datas) - sent
                c.forwarded_bytes -= sum(map(len, datas[sent:]))
                c.undelivered += len(datas) - sent

    # -- socket bookkeeping --------------------------------------------------------------------
    def _watch(self, end: TcpEnd | UdpEnd, callback: Callable[[int], None]) -> None:
        """Register `end`, asking for write readiness only while it has bytes waiting."""
        mask = _READ | (_WRITE if end.wants_write else 0)
        fd = end.fileno()
        old = self._masks.get(fd)
        if old == mask:
            return
        if old is None:
            self._sel.register(end.sock, mask, callback)
        else:
            self._sel.modify(end.sock, mask, callback)
        self._masks[fd] = mask

    def _unwatch(self, end: TcpEnd | UdpEnd) -> None:
        fd = end.fileno()
        if self._masks.pop(fd, None) is not None:
            self._sel.unregister(end.sock)

    def _flush_end(self, end: TcpEnd | UdpEnd) -> bool:
        try:
            end.flush()
        except OSError:
            self._end_failed(end)
            return False
        self._watch(end, self._on_client if end is self._client else self._on_vehicle)
        return True

    def _end_failed(self, end: TcpEnd | UdpEnd) -> None:
        if end is self._client:
            self._drop_client()
        elif end is self._vehicle:
            self._lose_vehicle()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._unwatch(client)
        client.close()
        with self._lock:
            self.counters["down"].undelivered += self._channels["down"].discard()

    def _lose_vehicle(self) -> None:
        """A tcp vehicle closed its connection: close the harness's too, as a direct link would."""
        vehicle, self._vehicle = self._vehicle, None
        if vehicle is None:
            return
        self._unwatch(vehicle)
        vehicle.close()
        with self._lock:
            self.counters["up"].undelivered += self._channels["up"].discard()
        self._drop_client()

    def _wake(self) -> None:
        # closed, or already full of wake-ups: the loop is awake either way
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _close_sockets(self) -> None:
        with self._lock:
            if self._sockets_closed:
                return
            self._sockets_closed = True
        for end in (self._client, self._vehicle):
            if end is not None:
                end.close()
        self._client = self._vehicle = None
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._sel.close()

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the loop and close every socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._close_sockets()

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Relay({self.vehicle_url!r} via {self.url})"
