"""A MAVLink link to one vehicle: a receive loop, subscriptions, a .tlog, stream statistics,
the vehicle clock, and the GCS heartbeat, all over pymavlink.

Everything time-related runs on the vehicle's clock (see clock.py): `wait` and `collect` take
their bounds in vehicle seconds. The only wall-clock bound is `silence_s`: if the vehicle sends
nothing at all for that long, no vehicle-time bound could ever expire, so the wait fails with
VehicleSilent instead of hanging.
"""

import errno
import queue
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

from drivers.errors import VehicleLost, VehicleSilent, WaitTimeout
from drivers.link.clock import VehicleClock
from drivers.link.keys import redact_secrets
from drivers.link.stats import LinkStats
from drivers.link.tlog import TlogWriter
from drivers.mavlink import DIALECT, TIME_BOOT_TYPES, frame_header, mavlink, mavutil

Message = Any  # a pymavlink MAVLink_message; pymavlink has no useful static type for it
_NO_AUTOPILOT = mavlink.MAV_AUTOPILOT_INVALID
_UNKNOWN = mavlink.MAVLINK_MSG_ID_UNKNOWN


class Timed(NamedTuple):
    """A received message and the vehicle time at which it arrived."""

    t: float
    msg: Message


class _Task:
    """A periodic task of a link (see Link.every)."""

    def __init__(self, interval_s: float, run: Callable[[], None]) -> None:
        self.interval_s, self.run, self.next_t = interval_s, run, 0.0


class Subscription:
    def __init__(self, types: frozenset[str] | None) -> None:
        self.types = types
        self.queue: queue.SimpleQueue[Timed] = queue.SimpleQueue()

    def get(self, wall_timeout: float) -> Timed | None:
        try:
            return self.queue.get(timeout=wall_timeout)
        except queue.Empty:
            return None


class _TeeFile:
    """What pymavlink writes frames to: the connection, and the tlog beside it."""

    def __init__(self, conn: Any, link: "Link") -> None:
        self._conn, self._link = conn, link

    def write(self, buf: bytes) -> None:
        self._conn.write(buf)
        if self._link.tlog is not None:
            # a frame that carries a secret (SETUP_SIGNING's key) is recorded redacted
            self._link.tlog.write(redact_secrets(bytes(buf)))


class _TcpWithTimeout(mavutil.mavtcp):
    """pymavlink's TCP connection, whose connect() gives up after `timeout_s` (wall)."""

    def __init__(self, device: str, timeout_s: float, **kwargs: Any) -> None:
        self.connect_timeout_s = timeout_s
        super().__init__(device, autoreconnect=False, retries=0, **kwargs)

    def do_connect(self) -> None:
        try:
            self.port = socket.create_connection(self.destination_addr, self.connect_timeout_s)
        except TimeoutError as exc:
            raise TimeoutError(
                errno.ETIMEDOUT, f"no answer to connect within {self.connect_timeout_s:g} s"
            ) from exc
        self.port.setblocking(False)
        mavutil.set_close_on_exec(self.port.fileno())
        self.port.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


UDP_RCVBUF = 4 << 20  # bytes; the kernel caps it at net.core.rmem_max


def _widen_udp_buffer(conn: Any) -> None:
    """A UDP vehicle does not wait for us: a default socket buffer (~200 KB) overflows within a
    tenth of a second of a stalled receive loop at PX4 SITL's rates (thousands of frames a
    second), and the frames dropped in our own socket would look like the vehicle's loss."""
    sock = getattr(conn, "port", None)
    if isinstance(sock, socket.socket) and sock.type == socket.SOCK_DGRAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)


class Link:
    """One connection (MAVProxy-style string: tcp:HOST:PORT, udpin:..., udpout:..., /dev/tty...)."""

    POLL_S = 0.05  # longest wall time a waiting caller goes without re-checking its bound

    def __init__(
        self,
        url: str,
        *,
        vehicle_sysid: int | None = None,
        vehicle_compid: int = mavlink.MAV_COMP_ID_AUTOPILOT1,
        gcs_sysid: int = 255,
        gcs_compid: int = mavlink.MAV_COMP_ID_MISSIONPLANNER,
        silence_s: float = 10.0,
        tlog: Path | None = None,
        liveness: Callable[[], str | None] | None = None,
        baud: int = 115200,
        peer: str | None = None,
        clock: VehicleClock | None = None,
        heartbeat_type: int = mavlink.MAV_TYPE_GCS,
    ) -> None:
        """`clock`: another link's vehicle clock, for a second channel to the same vehicle
        (one that may carry no time_boot_ms of its own): this link reads it, never feeds it.
        `heartbeat_type`: what our HEARTBEAT says we are (a ground station by default)."""
        self.url = url
        self.peer = peer or url  # what messages call the other end (the vehicle, behind a proxy)
        self.vehicle_sysid = vehicle_sysid
        self.vehicle_compid = vehicle_compid  # the autopilot: its clock and state are the vehicle's
        self.silence_s = silence_s
        self.liveness = liveness
        self._feeds_clock = clock is None
        self.clock = VehicleClock() if clock is None else clock
        self.heartbeat_type = heartbeat_type
        self.stats = LinkStats()
        self.tlog = TlogWriter(tlog) if tlog else None
        self.gcs_heartbeats = True  # checks switch it off to simulate a lost ground station
        self.closed_reason: str | None = None
        self.went_silent = False  # a wait gave up on a vehicle that stopped sending
        self.last_heartbeat_t = 0.0  # vehicle time of our newest GCS heartbeat
        self._latest: dict[tuple[int, str], Timed] = {}  # (compid, type) -> newest
        self._subs: tuple[Subscription, ...] = ()
        self._subs_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._next_heartbeat = 0.0
        self._tasks: tuple[_Task, ...] = ()  # run from the receive loop, in vehicle time
        self.task_error: str | None = None  # the first exception a periodic task raised
        self.opened_wall = time.monotonic()
        self.statustexts: deque[Timed] = deque(maxlen=50)  # for messages that explain a refusal
        try:
            if url.startswith("tcp:"):
                mavutil.set_dialect(DIALECT)
                # a hung vehicle whose listen backlog is full would hold connect() for minutes
                self._conn = _TcpWithTimeout(
                    url[4:], silence_s, source_system=gcs_sysid, source_component=gcs_compid
                )
            else:
                self._conn = mavutil.mavlink_connection(
                    url,
                    source_system=gcs_sysid,
                    source_component=gcs_compid,
                    dialect=DIALECT,
                    autoreconnect=False,
                    retries=0,
                    baud=baud,  # serial devices only
                )
        except OSError as exc:
            if self.tlog:
                self.tlog.close()
            raise VehicleLost(f"cannot connect to {url}: {exc.strerror or exc}") from exc
        self.mav = self._conn.mav
        self.mav.file = _TeeFile(self._conn, self)
        self._is_stream = url.startswith("tcp:")
        _widen_udp_buffer(self._conn)
        self._thread = threading.Thread(target=self._receive_loop, name=f"link {url}", daemon=True)
        self._thread.start()
        self.send_heartbeat()  # a listening (udpin) vehicle learns our address from it

    # -- sending -------------------------------------------------------------------------------
    def send(self, msg: Message) -> None:
        with self._send_lock:
            self.mav.send(msg)

    def send_raw(self, frame: bytes) -> None:
        """Bytes exactly as given: a frame built elsewhere, a replay, a malformed one."""
        with self._send_lock:
            self.mav.file.write(frame)

    def send_heartbeat(self) -> None:
        self.last_heartbeat_t = self.clock.now()
        self.send(
            self.mav.heartbeat_encode(
                self.heartbeat_type, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE
            )
        )

    def every(self, interval_s: float, task: Callable[[], None]) -> Callable[[], None]:
        """Run `task` every `interval_s` vehicle seconds (the first time at once), from this
        link's receive loop, so it keeps pace with the vehicle like our heartbeat does; e.g. a
        component the harness plays on another channel. Returns a function that stops it."""
        entry = _Task(interval_s, task)
        self._tasks = (*self._tasks, entry)

        def cancel() -> None:
            self._tasks = tuple(t for t in self._tasks if t is not entry)

        return cancel

    # -- receiving -----------------------------------------------------------------------------
    def _receive_loop(self) -> None:
        fd = self._conn.fd
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                data = self._conn.recv(65536)
                if not data:
                    if self._is_stream:
                        self.closed_reason = f"{self.peer}: connection closed by the vehicle"
                        return
                    continue
                msgs = self.mav.parse_buffer(data)
                if msgs:
                    self._ingest(msgs)
        except (OSError, ValueError) as exc:
            if not self._stop.is_set():
                self.closed_reason = f"{self.peer}: {exc}"

    def _ingest(self, msgs: list[Message]) -> None:
        """One received chunk: frames that arrived together share their arrival time, the one
        the chunk's newest time sample of the vehicle gives.

        This is the hot path (the benchmark holds it to >= 85 % of bare pymavlink): one pass
        over the messages, touching each header directly; per-chunk work once per chunk."""
        if self.tlog is not None:
            self.tlog.write_many([m.get_msgbuf() for m in msgs])
        stats, clock = self.stats, self.clock
        if self.vehicle_sysid is None:
            self._find_vehicle(msgs)
        vehicle, autopilot = self.vehicle_sysid, self.vehicle_compid
        for msg in reversed(msgs) if self._feeds_clock else ():  # the newest is near the end
            if msg._type in TIME_BOOT_TYPES:
                hdr = msg._header
                if hdr.srcSystem == vehicle and hdr.srcComponent == autopilot:
                    clock.observe(msg.time_boot_ms)
                    break
        now = clock.now()
        streams, subs, latest, texts = stats.streams, self._subs, self._latest, self.statustexts
        last_key, stream = None, None  # a chunk's frames mostly come from one sender in a row
        for msg in msgs:
            mtype = msg._type
            if mtype == "BAD_DATA":
                stats.bad_frames += 1
                continue
            hdr = msg._header
            if hdr.msgId == _UNKNOWN:  # outside the dialect: pymavlink left its header empty
                hdr = msg._header = frame_header(msg)
            src, comp = key = hdr.srcSystem, hdr.srcComponent
            if key != last_key:
                stream, last_key = streams.get(key) or stats.add(key), key
            stream.update(hdr.seq, mtype)
            timed = Timed(now, msg)
            if src == vehicle:
                latest[(comp, mtype)] = timed
                if mtype == "STATUSTEXT":
                    texts.append(timed)
            for sub in subs:
                if sub.types is None or mtype in sub.types:
                    sub.queue.put(timed)
        if self.gcs_heartbeats and now >= self._next_heartbeat and clock.started:
            # 1 Hz in vehicle time, as a ground station at that speedup would send them.
            self._next_heartbeat = now + 1.0
            self.send_heartbeat()
        if self._tasks and clock.started:
            self._run_tasks(now)

    def _run_tasks(self, now: float) -> None:
        for task in self._tasks:
            if now < task.next_t:
                continue
            task.next_t = max(task.next_t + task.interval_s, now)  # never a burst to catch up
            try:
                task.run()
            except Exception as exc:  # the receive loop must go on: kept for the check to say
                self.task_error = self.task_error or f"{task.run!r}: {exc!r}"

    def _find_vehicle(self, msgs: list[Message]) -> None:
        """The vehicle is the sender of the first autopilot HEARTBEAT, if no sysid was given."""
        for msg in msgs:
            if msg._type == "HEARTBEAT" and msg.autopilot != _NO_AUTOPILOT:
                self.vehicle_sysid = msg._header.srcSystem
                return

    # -- reading state -------------------------------------------------------------------------
    def latest(self, mtype: str, compid: int | None = None) -> Timed | None:
        """The newest message of this type from the vehicle's autopilot (or from `compid`, e.g.
        its Remote ID transmitter), with its arrival time."""
        return self._latest.get((self.vehicle_compid if compid is None else compid, mtype))

    @contextmanager
    def subscribe(self, types: Iterable[str] | None = None) -> Iterator[Subscription]:
        sub = Subscription(frozenset(types) if types is not None else None)
        with self._subs_lock:
            self._subs = (*self._subs, sub)
        try:
            yield sub
        finally:
            with self._subs_lock:
                self._subs = tuple(s for s in self._subs if s is not sub)

    def poll_s(self, deadline: float) -> float:
        """Wall seconds a waiting caller may block before its vehicle-time `deadline` is due:
        at speedup 20 a fixed 50 ms poll would round every bound up to a vehicle second."""
        left = (deadline - self.clock.now()) / max(self.clock.pace, 1e-3)
        return min(self.POLL_S, max(0.001, left))

    def check_alive(self, waiting_for: str) -> None:
        """Raise if the vehicle is gone or silent, naming what we were waiting for."""
        if self.closed_reason or (self.liveness and self.liveness()):
            # the process's own account (exit code, last output) says more than the socket's
            reasons = [self.closed_reason, self.liveness() if self.liveness else None]
            said = "; ".join(r for r in reasons if r)
            raise VehicleLost(f"vehicle lost while waiting for {waiting_for}: {said}")
        # Until the first time_boot_ms arrives, the bound counts from the link's opening.
        since = self.clock.wall_of_last_sample if self.clock.started else self.opened_wall
        quiet = time.monotonic() - since
        if quiet > self.silence_s:
            self.went_silent = True
            raise VehicleSilent(
                f"vehicle sent nothing that advances its clock for {quiet:.1f} s (wall) while "
                f"waiting for {waiting_for}; the limit is link.silence_s = {self.silence_s:g} s"
            )

    def request(
        self,
        msg: Message,
        what: str,
        types: Iterable[str],
        match: Callable[[Message], bool] | None = None,
        *,
        timeout_s: float,
    ) -> Timed:
        """Send `msg` and wait for its answer; listening starts before sending, so a fast
        answer cannot slip past."""
        with self.subscribe(types) as sub:
            self.send(msg)
            return self.wait(what, types, match, timeout_s=timeout_s, sub=sub)

    def wait(
        self,
        what: str,
        types: Iterable[str],
        match: Callable[[Message], bool] | None = None,
        *,
        timeout_s: float,
        include_latest: bool = False,
        sub: Subscription | None = None,
    ) -> Timed:
        """The first message of `types` (from anyone) that satisfies `match`, within `timeout_s`
        vehicle seconds. With include_latest, the vehicle's newest message counts too; with
        `sub`, messages already queued on that subscription count."""
        types = frozenset(types)
        with nullcontext(sub) if sub else self.subscribe(types) as sub:
            if include_latest:
                for mtype in types:
                    got = self.latest(mtype)
                    if got and (match is None or match(got.msg)):
                        return got
            deadline = self.clock.now() + timeout_s
            while True:
                got = sub.get(self.poll_s(deadline))
                if got and (match is None or match(got.msg)):
                    return got
                self.check_alive(what)
                if self.clock.now() >= deadline:
                    raise WaitTimeout(
                        f"waited {timeout_s:g} s of vehicle time for {what}; "
                        f"{self._describe_latest(types)}"
                    )

    def collect(
        self,
        types: Iterable[str],
        duration_s: float,
        match: Callable[[Message], bool] | None = None,
    ) -> list[Timed]:
        """Every matching message received during the next `duration_s` vehicle seconds."""
        got: list[Timed] = []
        with self.subscribe(types) as sub:
            end = self.clock.now() + duration_s
            while self.clock.now() < end:
                item = sub.get(self.poll_s(end))
                if item and item.t <= end and (match is None or match(item.msg)):
                    got.append(item)
                self.check_alive(f"{duration_s:g} s of {', '.join(sorted(types))}")
        return got

    def elapse(self, duration_s: float) -> None:
        """Let `duration_s` of vehicle time pass (pacing in vehicle time, e.g. between probes)."""
        self.collect((), duration_s)

    def _describe_latest(self, types: frozenset[str]) -> str:
        seen = [f"last {t}: {m.msg}" for t in sorted(types) if (m := self.latest(t))]
        return "; ".join(seen) if seen else f"no {'/'.join(sorted(types))} seen from the vehicle"

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._conn.close()
        if self.tlog is not None:
            self.tlog.close()

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
