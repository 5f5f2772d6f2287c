"""Signing one connection: `Signer` signs what a Link sends and verifies what it receives
(drivers/link/keys.py says why verification is pymavlink's, with its flaw mended)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from drivers.link.keys import TICKS_PER_S, SigningKey, frame_timestamp, is_signed
from drivers.mavlink import mavlink

if TYPE_CHECKING:
    from drivers.link.connection import Link


class Signer:
    """Signs what one Link sends and verifies what it receives, with one lock around pymavlink's
    signing state (the receive thread adopts timestamps while the sender increments them)."""

    def __init__(
        self,
        key: SigningKey,
        link_id: int,
        *,
        unsigned_allowed: Iterable[int] = (
            mavlink.MAVLINK_MSG_ID_RADIO_STATUS,
            mavlink.MAVLINK_MSG_ID_RADIO,
        ),
    ) -> None:
        self.key = key
        self.link_id = link_id
        self.unsigned_allowed = frozenset(unsigned_allowed)
        self.accept_unsigned = False  # while the vehicle turns signing off
        self.lock = threading.RLock()
        self.good = self.bad = self.unsigned_rejected = 0
        self.newest_ts = 0  # newest verified timestamp from the other side
        self.newest_at: float | None = None  # our link's vehicle time when it arrived
        self._link: Link | None = None
        self._plain_send: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"Signer(link_id={self.link_id}, key={self.key!r}, good={self.good}, bad={self.bad})"

    @property
    def signing_state(self) -> Any:
        assert self._link is not None, "signer not attached"
        return self._link.mav.signing

    def attach(self, link: Link, *, sign_now: bool = False) -> None:
        """Verify from now on; sign only once adopt() saw the other side's clock (or at once
        with sign_now, for a peer that shares our adopted timestamp)."""
        mav = link.mav
        with self.lock:
            self._link = link
            s = mav.signing
            s.secret_key = self.key.reveal()
            s.link_id = self.link_id
            s.timestamp = 0  # adopt the vehicle's clock from its first good frame
            s.stream_timestamps.clear()
            s.allow_unsigned_callback = self._allow_unsigned
            s.sign_outgoing = sign_now
            mav.check_signature = self._check  # instance attribute: shadows pymavlink's method
            self._plain_send = mav.send
            mav.send = self._send

    def detach(self) -> None:
        link = self._link
        if link is None:
            return
        with self.lock:
            mav = link.mav
            s = mav.signing
            s.sign_outgoing = False
            s.secret_key = None
            s.allow_unsigned_callback = None
            s.stream_timestamps.clear()
            for name in ("check_signature", "send"):
                mav.__dict__.pop(name, None)
            self._link = None

    def _send(self, msg: Any, force_mavlink1: bool = False) -> None:
        assert self._plain_send is not None
        with self.lock:
            self._plain_send(msg, force_mavlink1=force_mavlink1)

    def _check(self, msgbuf: bytearray, src_system: int, src_component: int) -> bool:
        """pymavlink's check, with the stream's timestamp put back when it fails."""
        assert self._link is not None
        mav = self._link.mav
        s = mav.signing
        stream = (msgbuf[-13], src_system, src_component)
        with self.lock:
            before = s.stream_timestamps.get(stream)
            ok = type(mav).check_signature(mav, msgbuf, src_system, src_component)
            if not ok:
                self.bad += 1
                if before is None:
                    s.stream_timestamps.pop(stream, None)
                else:
                    s.stream_timestamps[stream] = before
                return False
            self.good += 1
            ts = frame_timestamp(msgbuf)
            if ts > self.newest_ts:
                self.newest_ts, self.newest_at = ts, self._link.clock.now()
            return True

    def _allow_unsigned(self, _mav: Any, msg_id: int) -> bool:
        if self.accept_unsigned or msg_id in self.unsigned_allowed:
            return True
        self.unsigned_rejected += 1
        return False

    def adopt(self, what: str, timeout_s: float, sysid: int | None = None) -> None:
        """Wait for a frame from the vehicle that verifies with our key (pymavlink then takes its
        timestamp as ours), and sign from then on."""
        link = self._link
        assert link is not None, "signer not attached"
        link.wait(
            what,
            ["HEARTBEAT"],
            lambda m: (
                is_signed(m)
                and getattr(m, "_signed", False)
                and (sysid is None or m.get_srcSystem() == sysid)
            ),
            timeout_s=timeout_s,
        )
        with self.lock:
            self.signing_state.sign_outgoing = True

    def next_timestamp(self) -> int:
        """A timestamp no frame of ours has used yet (for frames built outside pymavlink's send)."""
        with self.lock:
            s = self.signing_state
            s.timestamp += 1
            return s.timestamp

    def vehicle_clock(self) -> int:
        """The other side's signing clock now, estimated from its newest verified frame plus the
        vehicle time since (its signing clock runs with its own time, at any speedup)."""
        assert self._link is not None and self.newest_at is not None, "no verified frame yet"
        elapsed = max(0.0, self._link.clock.now() - self.newest_at)
        return self.newest_ts + int(elapsed * TICKS_PER_S)
