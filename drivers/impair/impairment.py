"""What a degraded radio link does to MAVLink frames, one direction at a time.

`Impairment` describes the link; `Channel` applies it to whole frames and schedules them. A
Channel knows no sockets and no wall clock: it is handed the time (in vehicle seconds, see
proxy_time.py) and hands back the frames that are due, in the order the far side must see them.

Properties the tests rely on:
- Seeded: while an impairment is set, every frame takes the same fixed set of random draws
  from the channel's own random.Random whatever is switched on, so the frames meet the same
  dice in every run with the same seed, and turning on duplication does not move the losses.
  (A clear channel takes no draws: it is the relay's fast path.)
- FIFO: frames leave in arrival order (a serial radio is a pipe), so jitter varies the spacing
  but never reorders; only `reorder` does, by holding one frame behind the next.
"""

import math
import random
from collections import deque
from dataclasses import dataclass, field, fields

# The random draws every frame takes, in this order (see Channel.push_frame).
_LOSS, _GE_STEP, _GE_LOSS, _JITTER, _DUP, _REORDER, _CORRUPT, _POS, _XOR = range(9)
_DRAWS = 9
_BITS_PER_BYTE = 10  # serial 8N1: start bit + 8 data bits + stop bit


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a probability in [0, 1], not {value!r}")


@dataclass(frozen=True)
class GilbertElliott:
    """Bursty loss: a two-state Markov chain stepped once per frame.

    p: probability good -> bad; r: probability bad -> good (mean burst in bad state 1/r frames);
    loss_good, loss_bad: loss probability in each state."""

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _probability(f"GilbertElliott.{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class Impairment:
    """One direction of a link. Times are VEHICLE seconds; probabilities are per frame."""

    loss: float = 0.0  # independent random loss
    burst: GilbertElliott | None = None  # bursty loss, on top of `loss`
    latency_s: float = 0.0
    jitter_s: float = 0.0  # uniform +- jitter on top of latency (never a negative delay)
    duplicate: float = 0.0  # the frame is sent twice
    reorder: float = 0.0  # the frame is held back behind the next one
    corrupt: float = 0.0  # one byte of payload or CRC is flipped (the CRC check then fails)
    bandwidth_bps: float | None = None  # line rate in baud, 10 bits a byte (57600 ~ 5760 B/s)
    queue_bytes: int | None = None  # radio buffer under a bandwidth cap; a frame that finds it
    # full is dropped (None: unbounded)

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            _probability(name, getattr(self, name))
        if self.latency_s < 0 or self.jitter_s < 0:
            raise ValueError(f"latency_s and jitter_s must be >= 0: {self}")
        if self.bandwidth_bps is not None and self.bandwidth_bps <= 0:
            raise ValueError(f"bandwidth_bps must be > 0 or None, not {self.bandwidth_bps!r}")
        if self.queue_bytes is not None and self.queue_bytes <= 0:
            raise ValueError(f"queue_bytes must be > 0 or None, not {self.queue_bytes!r}")


@dataclass
class Counters:
    """What one direction did. `frames`/`bytes`/`unparsed` count what came in; `forwarded`
    counts items written to the far side (frames, duplicates and unparsed chunks)."""

    frames: int = 0  # whole MAVLink frames received
    bytes: int = 0  # all bytes received, frames and unparsed chunks
    unparsed: int = 0  # chunks pymavlink could not frame (forwarded raw, never impaired)
    dropped: int = 0  # by loss, burst loss, an outage or a full radio buffer
    duplicated: int = 0
    reordered: int = 0  # frames that left behind a frame that arrived after them
    corrupted: int = 0
    delayed: int = 0  # frames that waited (latency, jitter, bandwidth, the queue ahead)
    forwarded: int = 0
    forwarded_bytes: int = 0
    undelivered: int = 0  # due, but nobody to deliver to (no harness connected, vehicle gone)
    # frames received per (sysid, compid, message type), before any impairment: what each
    # sender put into the link
    sent_by: dict[tuple[int, int, str], int] = field(default_factory=dict)


def corrupt_frame(frame: bytes, u_pos: float, u_xor: float) -> bytes:
    """Flip one byte between the end of the header and the end of the CRC. A CRC-16 catches
    every single-byte error, so the far side's parser must report BAD_DATA."""
    header = 10 if frame[0] == 0xFD else 6  # MAVLink 2 / MAVLink 1
    end = min(len(frame), header + frame[1] + 2)
    pos = header + min(int(u_pos * (end - header)), end - header - 1)
    out = bytearray(frame)
    out[pos] ^= 1 + min(int(u_xor * 255), 254)
    return bytes(out)


class Channel:
    """Applies an Impairment to the frames of one direction and holds them until they are due."""

    REORDER_HOLD_S = 1.0  # a held frame leaves anyway when no next frame comes this soon

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.impairment = Impairment()
        self.counters = Counters()
        self._queue: deque[tuple[float, bytes, bool]] = deque()  # (due, data, is_frame)
        self._held: tuple[float, list[bytes]] | None = None  # (release at, copies)
        self._bad = False  # Gilbert-Elliott state
        self._link_free = -math.inf  # when the capped link has sent everything queued
        self._last_due = -math.inf  # FIFO: nothing may be due before what is ahead of it
        self.outage_until = -math.inf

    @property
    def impairment(self) -> Impairment:
        return self._impairment

    @impairment.setter
    def impairment(self, impairment: Impairment) -> None:
        self._impairment = impairment
        self._plain = impairment == Impairment()  # the fast path: relay, take no draws

    # -- input ---------------------------------------------------------------------------------
    def push_frame(self, frame: bytes, now: float) -> None:
        c, imp, rnd = self.counters, self._impairment, self.rng.random
        c.frames += 1
        c.bytes += len(frame)
        if self._plain and self._held is None:
            if now < self.outage_until:
                c.dropped += 1
            elif now >= self._last_due:
                self._last_due = now
                self._queue.append((now, frame, True))
            else:  # behind frames that an earlier impairment delayed
                c.delayed += 1
                self._queue.append((self._last_due, frame, True))
            return
        u = [rnd() for _ in range(_DRAWS)]
        if now < self.outage_until or self._lost(u):
            c.dropped += 1
            return
        if u[_CORRUPT] < imp.corrupt:
            frame = corrupt_frame(frame, u[_POS], u[_XOR])
            c.corrupted += 1
        copies = [frame, frame] if u[_DUP] < imp.duplicate else [frame]
        c.duplicated += len(copies) - 1
        if self._held is None and u[_REORDER] < imp.reorder:
            self._held = (now + self.REORDER_HOLD_S, copies)
            return
        waited = self._enqueue(copies, now, u[_JITTER], is_frame=True)
        if waited is None:
            return
        if waited:
            c.delayed += 1
        if self._held is not None:  # the frame held back leaves behind this one
            _, held = self._held
            self._held = None
            if self._enqueue(held, now, u[_JITTER], is_frame=True) is not None:
                c.reordered += 1
                c.delayed += 1

    def push_unparsed(self, data: bytes, now: float) -> None:
        """Bytes that are not a frame: they keep their place in the byte stream (latency,
        bandwidth, outages) but meet no dice, so they take no random draws either."""
        self.counters.unparsed += 1
        self.counters.bytes += len(data)
        if now < self.outage_until:
            self.counters.dropped += 1
            return
        self._enqueue([data], now, 0.5, is_frame=False)

    def _lost(self, u: list[float]) -> bool:
        imp = self.impairment
        lost = u[_LOSS] < imp.loss
        ge = imp.burst
        if ge is not None:
            if self._bad:
                self._bad = not u[_GE_STEP] < ge.r
            else:
                self._bad = u[_GE_STEP] < ge.p
            lost |= u[_GE_LOSS] < (ge.loss_bad if self._bad else ge.loss_good)
        return lost

    def _enqueue(self, copies: list[bytes], now: float, u_jitter: float, *, is_frame: bool):
        """Schedule the copies; returns whether they wait, or None if the buffer was full."""
        imp = self.impairment
        delay = imp.latency_s + (2.0 * u_jitter - 1.0) * imp.jitter_s
        waited = False
        for data in copies:
            start = now
            if imp.bandwidth_bps:
                busy = max(0.0, self._link_free - now)
                if imp.queue_bytes is not None and (
                    busy * imp.bandwidth_bps / _BITS_PER_BYTE + len(data) > imp.queue_bytes
                ):
                    self.counters.dropped += 1
                    return None
                start = max(now, self._link_free) + len(data) * _BITS_PER_BYTE / imp.bandwidth_bps
                self._link_free = start
            due = max(start + max(0.0, delay), self._last_due)
            self._last_due = due
            waited = waited or due > now
            self._queue.append((due, data, is_frame))
        return waited

    # -- output --------------------------------------------------------------------------------
    def ready(self, now: float) -> list[tuple[bytes, bool]]:
        """Pop what is due by `now`, in order: (data, is_frame) pairs."""
        if self._held is not None and now >= self._held[0]:
            _, held = self._held
            self._held = None
            if self._enqueue(held, now, 0.5, is_frame=True) is not None:
                self.counters.delayed += 1
        out = []
        q = self._queue
        while q and q[0][0] <= now:
            _, data, is_frame = q.popleft()
            out.append((data, is_frame))
        return out

    def next_due(self) -> float | None:
        """Vehicle time of the next thing to send, None when nothing waits."""
        dues = [self._queue[0][0]] if self._queue else []
        if self._held is not None:
            dues.append(self._held[0])
        return min(dues) if dues else None

    def discard(self) -> int:
        """Forget everything waiting (its receiver went away); returns how many items."""
        n = len(self._queue) + (len(self._held[1]) if self._held else 0)
        self._queue.clear()
        self._held = None
        self._last_due = self._link_free = -math.inf
        return n

    def release_held(self) -> None:
        if self._held is not None:
            self._held = (-math.inf, self._held[1])
