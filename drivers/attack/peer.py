"""Hostile traffic toward a vehicle: a second station on one of its channels, and a flooder.

    Peer: a connection of our own to channel N (or the harness's link when N is its channel),
          holding the key so that its barrier reads and stream requests are accepted; attack
          frames are built raw (drivers/attack/frames.py) with any identity and written through it.
    Flooder (attack/flooder.py): a plain socket that writes prepared frames at a rate in vehicle
             time, and leaves mid-conversation (half-closing once it has written its last frame).

Why the peer holds the key: a check judges refusal by effect, so after the attack frames it
needs an ordered, accepted request on the same connection ("barrier": once its answer is in,
everything sent before it has been handled) and a clock of the vehicle's (streams it asks for,
signed, where ArduPilot sends nothing until asked). The vehicle cannot tell the attack frames
from those of a separate connection: signing streams are (link id, sysid, compid), not sockets.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from drivers.attack.frames import FrameBuilder, Signature
from drivers.link.connection import Link, Message
from drivers.link.keys import SigningKey
from drivers.link.signer import Signer
from drivers.mavlink import mavlink
from drivers.services.vehicle import Vehicle

LOOPBACK = "127.0.0.1"


class Peer:
    """A station on one channel of the vehicle, holding the key."""

    STREAMS: ClassVar[dict[str, float]] = {"SYSTEM_TIME": 4}  # for waits in vehicle time

    def __init__(
        self,
        link: Link,
        channel: int,
        signer: Signer | None,
        *,
        owned: bool,
        vehicle_sysid: int,
    ) -> None:
        self.link = link
        self.channel = channel
        self.signer = signer
        self.owned = owned  # False: the harness's own link, lent for this check
        self.vehicle_sysid = vehicle_sysid
        self._builder: FrameBuilder | None = None

    def __repr__(self) -> str:
        return f"Peer(channel={self.channel}, url={self.link.url}, signer={self.signer!r})"

    @classmethod
    def connect(
        cls,
        url: str,
        channel: int,
        key: SigningKey,
        *,
        link_id: int,
        sysid: int,
        compid: int,
        vehicle_sysid: int,
        adopt_s: float,
        silence_s: float,
        tlog: Path | None = None,
        liveness: Callable[[], str | None] | None = None,
    ) -> Peer:
        """A new connection to `url` that signs with `key` once the vehicle's clock is known."""
        link = Link(
            url,
            vehicle_sysid=vehicle_sysid,
            gcs_sysid=sysid,
            gcs_compid=compid,
            silence_s=silence_s,
            tlog=tlog,
            liveness=liveness,
        )
        link.gcs_heartbeats = False  # not a ground station: its heartbeats would hide a loss
        signer = Signer(key, link_id)
        try:
            signer.attach(link)
            signer.adopt(f"a signed HEARTBEAT on channel {channel}", adopt_s, vehicle_sysid)
            Vehicle(link, sysid=vehicle_sysid).connect(cls.STREAMS)
        except BaseException:
            link.close()
            raise
        return cls(link, channel, signer, owned=True, vehicle_sysid=vehicle_sysid)

    @classmethod
    def lend(cls, link: Link, channel: int, signer: Signer | None, vehicle_sysid: int) -> Peer:
        """The harness's own (already signed) link, for attacks on its channel."""
        return cls(link, channel, signer, owned=False, vehicle_sysid=vehicle_sysid)

    # -- frames --------------------------------------------------------------------------------
    @property
    def frames_link_id(self) -> int:
        """The link id of frames built for this peer: a stream apart from its connection's own,
        whose heartbeats (another thread) could otherwise overtake a frame's timestamp."""
        assert self.signer is not None, "this peer has no key"
        return (self.signer.link_id + 100) % 256

    def signature(self, link_id: int | None = None, timestamp: int | None = None) -> Signature:
        """A signature as our key would make it, by default on `frames_link_id`'s stream."""
        assert self.signer is not None, "this peer has no key"
        return Signature(
            self.signer.key,
            self.frames_link_id if link_id is None else link_id,
            self.signer.next_timestamp() if timestamp is None else timestamp,
        )

    @property
    def builder(self) -> FrameBuilder:
        """Frames with this peer's own identity."""
        if self._builder is None:
            self._builder = FrameBuilder(self.link.mav.srcSystem, self.link.mav.srcComponent)
        return self._builder

    def send(self, *frames: bytes) -> None:
        for frame in frames:
            self.link.send_raw(frame)

    # -- judging -------------------------------------------------------------------------------
    def barrier(self, timeout_s: float = 3.0) -> Message:
        """Return once the vehicle has handled everything sent on this connection before: a
        read of parameter index 0 (every vehicle has one), answered in order. Returns the
        answer (its signing timestamp bounds the vehicle's clock when it was sent)."""
        return self.link.request(
            self.link.mav.param_request_read_encode(self.vehicle_sysid, 1, b"", 0),
            f"the answer to a barrier read on channel {self.channel}",
            ["PARAM_VALUE"],
            lambda m: m.get_srcSystem() == self.vehicle_sysid and m.param_index == 0,
            timeout_s=timeout_s,
        ).msg

    @contextlib.contextmanager
    def watch(self, types: Sequence[str]) -> Iterator[list[Message]]:
        """Every message of `types` this connection receives inside the block."""
        got: list[Message] = []
        with self.link.subscribe(types) as sub:
            try:
                yield got
            finally:
                while (item := sub.get(0)) is not None:
                    got.append(item.msg)

    @contextlib.contextmanager
    def heartbeats(
        self, builder: FrameBuilder, hz: float = 1.0, *, sign: bool = False
    ) -> Iterator[list[float]]:
        """Spoofed GCS heartbeats from `builder`'s identity at `hz` in vehicle time, unsigned
        unless `sign`, while the block runs. Yields the vehicle times they were sent at."""
        sent: list[float] = []
        stop = threading.Event()
        msg = mavlink.MAVLink_heartbeat_message(
            mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID, 0, 0, mavlink.MAV_STATE_ACTIVE, 3
        )

        def run() -> None:
            clock = self.link.clock
            while not stop.is_set():
                now = clock.now()
                if not sent or now - sent[-1] >= 1.0 / hz:
                    self.link.send_raw(builder.frame(msg, self.signature() if sign else None))
                    sent.append(now)
                # pacing a sender (not a condition): a slice of the period in wall time
                stop.wait(min(0.05, 0.1 / hz / max(clock.pace, 1e-3)))

        thread = threading.Thread(target=run, name=f"spoofed heartbeats ch{self.channel}")
        thread.start()
        try:
            yield sent
        finally:
            stop.set()
            thread.join(timeout=2.0)

    def close(self) -> None:
        if self.owned:
            if self.signer is not None:
                self.signer.detach()
            self.link.close()
