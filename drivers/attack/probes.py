"""Judging refusal by effect: a probe is a harmless change (a parameter moved, a mode asked for)
that a frame would make if the vehicle took it. After the frames, a barrier on the same
connection proves they were handled; then the parameter is read back over the harness's link,
the next HEARTBEAT gives the mode, and the COMMAND_ACKs seen say whether a command was ACCEPTED.
Silence alone never counts as a refusal."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from drivers.attack.peer import Peer
from drivers.errors import WaitTimeout
from drivers.link.connection import Message
from drivers.mavlink import mavlink
from drivers.services import flavour, params
from drivers.services.vehicle import Vehicle

ACCEPTED = mavlink.MAV_RESULT_ACCEPTED


class Probe:
    """The profile's probe parameter and mode (suites.security.probe), journaled so the vehicle
    fixture puts the parameter back whatever happens."""

    def __init__(self, vehicle: Vehicle, settings: dict[str, Any]) -> None:
        cfg = settings["probe"]
        own = flavour.per_family(cfg, vehicle.autopilot, "suites.security.probe")  # LookupError
        self.vehicle = vehicle
        self.name: str = own["param"]
        self.step: float = own["step"]
        self.mode_name: str = cfg["mode"]
        self.base = vehicle.get_param(self.name)
        vehicle.set_param(self.name, self.base)  # journaled from here on
        self.ptype = vehicle.journal[self.name].param_type
        self.mode_at_start = vehicle.mode
        self._n = 0

    def value(self) -> float:
        """A value the parameter has not had yet in this check."""
        self._n += 1
        return self.base + self._n * self.step

    def param_set(self, value: float) -> Message:
        v = self.vehicle
        wire = params.encode(value, self.ptype, v.bytewise_params)
        return mavlink.MAVLink_param_set_message(
            v.sysid, v.compid, self.name.encode(), wire, self.ptype
        )

    def mode_command(self, current: str) -> Message:
        """DO_SET_MODE to the probe mode, or to STABILIZE if the vehicle is already in it."""
        target = self.mode_name if current != self.mode_name else "STABILIZE"
        v = self.vehicle
        return mavlink.MAVLink_command_long_message(
            v.sysid, v.compid, mavlink.MAV_CMD_DO_SET_MODE, 0,
            *flavour.set_mode_params(v.autopilot, target), 0, 0, 0, 0,
        )  # fmt: skip

    def read(self) -> float:
        return read_param(self.vehicle, self.name)

    def reset(self) -> None:
        if self.read() != self.base:
            self.vehicle.set_param(self.name, self.base)

    def restore_mode(self) -> None:
        """Put back a mode an accepted attack changed (isolation: the next check starts alike)."""
        if self.vehicle.mode != self.mode_at_start and not self.vehicle.armed:
            self.vehicle.set_mode(self.mode_at_start)


@dataclass
class Outcome:
    """What the vehicle showed after some frames: the probe parameter, its mode, the ACKs."""

    param: float
    mode: str
    acks: list[Message] = field(default_factory=list)

    def accepted(self, command: int) -> int:
        return sum(1 for a in self.acks if a.command == command and a.result == ACCEPTED)

    def effects(self, probe: Probe, mode_before: str) -> list[str]:
        """Each visible effect, as a person reads it (empty: nothing took effect)."""
        found = []
        if self.param != probe.base:
            found.append(f"{probe.name} became {self.param:g} (was {probe.base:g})")
        if self.mode != mode_before:
            found.append(f"mode became {self.mode} (was {mode_before})")
        if n := self.accepted(mavlink.MAV_CMD_DO_SET_MODE):
            found.append(f"{n} COMMAND_ACK ACCEPTED for DO_SET_MODE")
        return found


_SENTINELS = itertools.cycle(range(1, 9))  # barriers read index 0
_INDEX: dict[str, int] = {}  # parameter name -> index, once an answer said it


def read_param(vehicle: Vehicle, name: str, timeout_s: float = 2.0, tries: int = 3) -> float:
    """A parameter's value now. A PARAM_VALUE for it may be stale (an echo of an earlier
    PARAM_SET, a late answer to an earlier read), so a read of another parameter follows as a
    sentinel: answers come in order, so the last value before the sentinel's is the answer.
    Each read has a sentinel index of its own, so a late answer to an earlier one cannot match."""
    v, link = vehicle, vehicle.link
    for _ in range(tries):
        sentinel = next(i for i in _SENTINELS if i != _INDEX.get(name))
        last: Message | None = None
        with link.subscribe(["PARAM_VALUE"]) as sub:
            link.send(link.mav.param_request_read_encode(v.sysid, v.compid, name.encode(), -1))
            link.send(link.mav.param_request_read_encode(v.sysid, v.compid, b"", sentinel))
            deadline = link.clock.now() + timeout_s
            while link.clock.now() < deadline:
                got = sub.get(link.poll_s(deadline))
                link.check_alive(f"PARAM_VALUE {name}")
                if got is None or got.msg.get_srcSystem() != v.sysid:
                    continue
                msg = got.msg
                if params.name_of(msg.param_id) == name:
                    last, _INDEX[name] = msg, msg.param_index
                elif msg.param_index == sentinel and last is not None:
                    return params.decode(last.param_value, last.param_type, v.bytewise_params)
    raise WaitTimeout(f"no PARAM_VALUE {name} (then the sentinel's) in {tries} tries")


def next_heartbeat(vehicle: Vehicle, timeout_s: float = 6.0) -> Message:
    """The vehicle's next HEARTBEAT (not the one already seen): its mode now. The bound is
    generous: heartbeat regularity is the basic suite's concern, not a refusal's."""
    return vehicle.link.wait(
        "the vehicle's next HEARTBEAT",
        ["HEARTBEAT"],
        lambda m: m.get_srcSystem() == vehicle.sysid and m.get_srcComponent() == vehicle.compid,
        timeout_s=timeout_s,
    ).msg


def mode_of(vehicle: Vehicle, hb: Message) -> str:
    return flavour.mode_name(vehicle.autopilot, hb.custom_mode)


def attempt(peer: Peer, vehicle: Vehicle, probe: Probe, *frames: bytes) -> Outcome:
    """Send `frames` on the peer's channel; once they were handled, see what they changed."""
    with peer.watch(["COMMAND_ACK"]) as acks:
        peer.send(*frames)
        peer.barrier()
        value = probe.read()
        hb = next_heartbeat(vehicle)
    return Outcome(value, mode_of(vehicle, hb), acks)
