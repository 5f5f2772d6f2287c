"""MAVLink parameter protocol: REQUEST_LIST (paced), REQUEST_READ, SET (echoed).

Follows ArduPilot: unknown names get no answer; values travel float-cast.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from sim.mav import MAVLinkMessage, mavlink
from sim.params import DEFS, NAMES, REAL32

if TYPE_CHECKING:
    from sim.core import Sim
    from sim.links import Link

LIST_PER_STEP = 10  # PARAM_VALUEs per physics step while streaming a list


def _name(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.split("\0", 1)[0]


def param_value(sim: Sim, name: str, ptype: int | None = None) -> MAVLinkMessage:
    d = DEFS[name]
    return mavlink.MAVLink_param_value_message(
        name.encode(), float(sim.params[name]), d.ptype if ptype is None else ptype, len(NAMES),
        NAMES.index(name),
    )


# Fault param_service_stalls, as ArduPilot's GCS_Param.cpp: reads wait in one queue shared by
# every channel (room for REPLY_QUEUE; a read that finds it full is dropped) and are answered in
# order, REPLIES_PER_STEP a physics step. An answer for a channel whose peer has left cannot be
# sent, and it holds up every answer behind it: the service is silent on every channel for
# STALL_S, then such answers are dropped (ArduPilot SITL: until a peer connects again).
REPLY_QUEUE = 20
REPLIES_PER_STEP = 2
STALL_S = 8.0  # vehicle seconds (the check allows 5 s)


class ParamProtocol:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.pending: deque[tuple[Link, str]] = deque()
        self.replies: deque[tuple[Link, MAVLinkMessage]] = deque()  # param_service_stalls only
        self.stalled_until: float | None = None

    def _for_us(self, msg: MAVLinkMessage) -> bool:
        return msg.target_system == self.sim.sysid and msg.target_component in (0, 1)

    def on_request_list(self, link: Link, msg: MAVLinkMessage) -> None:
        if self._for_us(msg):
            # Restart rather than interleave if a list is asked for again.
            self.pending = deque(p for p in self.pending if p[0] is not link)
            self.pending.extend((link, n) for n in NAMES)

    def on_request_read(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg):
            return
        name = _name(msg.param_id)
        if msg.param_index >= 0:
            name = NAMES[msg.param_index] if msg.param_index < len(NAMES) else ""
        if name not in DEFS:
            return
        answer = param_value(self.sim, name)
        if not self.sim.faults.on("param_service_stalls"):
            self.sim.send(link, answer)
        elif len(self.replies) < REPLY_QUEUE:
            self.replies.append((link, answer))

    def _answer_queued(self) -> None:
        """Fault param_service_stalls: the shared queue, held up by an answer no one can take."""
        now = self.sim.clock.now
        for _ in range(REPLIES_PER_STEP):
            if not self.replies:
                return
            link, answer = self.replies[0]
            if link.has_peer():  # (again: a peer that connects ends the stall, as ArduPilot)
                self.stalled_until = None
                self.replies.popleft()
                self.sim.send(link, answer)
                continue
            if self.stalled_until is None:
                self.stalled_until = now + STALL_S
            if now < self.stalled_until:
                return
            self.replies = deque(r for r in self.replies if r[0].has_peer())
            self.stalled_until = None

    def on_set(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg):
            return
        name = _name(msg.param_id)
        if name not in DEFS:
            return  # ArduPilot stays silent on unknown names
        if self.sim.faults.on("crash_on_nan_param_set") and math.isnan(msg.param_value):
            self.sim.crash(f"PARAM_SET {name} with a NaN value")
        value = msg.param_value
        if self.sim.faults.on("param_float_rounded") and DEFS[name].ptype == REAL32:
            value = float(round(value))  # known-bad: a float parameter stored as an integer
        if self.sim.faults.on("param_range_unchecked") and math.isfinite(value):
            self.sim.params.values[name] = float(value)  # known-bad: no range check
        elif not self.sim.faults.on("param_writes_ignored"):
            # A rejected value (NaN, out of range) leaves the old one; the echo shows it.
            self.sim.params.set(name, value)
        # known-bad param_echo_wrong_type: the echo claims REAL32 (reads keep the right type)
        echo_type = REAL32 if self.sim.faults.on("param_echo_wrong_type") else None
        # ArduPilot sends the new value on every link, so all GCSs stay in step.
        self.sim.broadcast(param_value(self.sim, name, echo_type))

    def tick(self) -> None:
        self._answer_queued()
        for _ in range(min(LIST_PER_STEP, len(self.pending))):
            link, name = self.pending.popleft()
            self.sim.send(link, param_value(self.sim, name))
