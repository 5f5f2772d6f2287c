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


STALL_BURST = 200  # reads within one vehicle second that trip param_service_stalls
STALL_S = 8.0  # vehicle seconds the service then stays silent (ArduPilot SITL: over 30 s)


class ParamProtocol:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.pending: deque[tuple[Link, str]] = deque()
        self.recent_reads: deque[float] = deque()  # vehicle times of reads in the last second
        self.stalled_until = float("-inf")

    def _for_us(self, msg: MAVLinkMessage) -> bool:
        return msg.target_system == self.sim.sysid and msg.target_component in (0, 1)

    def on_request_list(self, link: Link, msg: MAVLinkMessage) -> None:
        if self._for_us(msg):
            # Restart rather than interleave if a list is asked for again.
            self.pending = deque(p for p in self.pending if p[0] is not link)
            self.pending.extend((link, n) for n in NAMES)

    def _stalled(self) -> bool:
        """Fault param_service_stalls: a burst of reads silences the service for STALL_S,
        as seen on ArduPilot SITL after a flood of PARAM_REQUEST_READ."""
        if not self.sim.faults.on("param_service_stalls"):
            return False
        now = self.sim.clock.now
        self.recent_reads.append(now)
        while self.recent_reads and self.recent_reads[0] < now - 1.0:
            self.recent_reads.popleft()
        if len(self.recent_reads) >= STALL_BURST:
            self.stalled_until = now + STALL_S
        return now < self.stalled_until

    def on_request_read(self, link: Link, msg: MAVLinkMessage) -> None:
        if not self._for_us(msg) or self._stalled():
            return
        if msg.param_index >= 0:
            if msg.param_index < len(NAMES):
                self.sim.send(link, param_value(self.sim, NAMES[msg.param_index]))
            return
        name = _name(msg.param_id)
        if name in DEFS:
            self.sim.send(link, param_value(self.sim, name))

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
        for _ in range(min(LIST_PER_STEP, len(self.pending))):
            link, name = self.pending.popleft()
            self.sim.send(link, param_value(self.sim, name))
