"""The vehicle as the fuzzer sees it: a connection of the fuzzer's own to channel 0, the
vehicle's state when fuzzing began, and one verdict per batch of frames.

A batch is sent as one write, then padded with zero bytes (a truncated frame is completed and
dropped there, so no batch leaks into the next); a barrier read proves the vehicle handled it.
Then the vehicle must still be there and heartbeating, hold its mode, arming and position, keep
the probe parameter (the malformed frames would have moved it), hold every ranged parameter a
PARAM_SET touched inside its range (rejected or clamped), and report finite attitude.

A vehicle that dies is restarted (the driver's `restart` capability) so that hypothesis can
shrink the failure to a minimal batch; restarts and vehicle seconds are the budget's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.attack.peer import Peer
from drivers.attack.probes import Probe, next_heartbeat, read_param
from drivers.attack.strategies import Case, Target
from drivers.errors import VehicleError, WaitTimeout
from drivers.link.connection import Link
from drivers.services import flavour
from drivers.services.vehicle import ARMED, Vehicle, ground_distance_m

PAD = bytes(300)  # longer than any MAVLink 2 frame: completes whatever was cut short


@dataclass(frozen=True)
class Problem:
    """What a batch did to the vehicle: `kind` names the effect for a finding's signature
    (vehicle-died, state-changed, ...), `text` says it with the figures."""

    kind: str
    text: str


@dataclass
class Baseline:
    mode: int
    armed: bool
    position: Any  # GLOBAL_POSITION_INT


class FuzzTarget:
    READY_S = 30.0  # vehicle seconds for a (re)started vehicle's first position fix

    def __init__(
        self,
        driver: Any,
        profile: Any,
        settings: dict[str, Any],
        tlog_stem: Path,
    ) -> None:
        self.driver, self.profile, self.settings = driver, profile, settings
        self.fuzz = settings["fuzz"]
        self.ranges: dict[str, tuple[float, float]] = {}  # the vehicle's family's, once known
        self.tlog_stem = tlog_stem
        self.restarts = self.examples = 0
        self.spent_s = 0.0  # vehicle seconds of connections already closed
        self.worst_gap_s = 0.0
        self.link: Link | None = None
        self.vehicle: Vehicle | None = None
        self.probe: Probe | None = None
        self.peer: Peer | None = None
        self.base: Baseline | None = None
        self._connections = 0
        self.tlogs: list[Path] = []  # one per connection (a restart makes a new one)
        self.target = self._connect()

    # -- connection ------------------------------------------------------------------------
    def _connect(self) -> Target:
        try:
            return self._open()
        except BaseException:
            self._close_link()  # never leave a connection behind (SITL's SERIAL0 takes one)
            raise

    def _open(self) -> Target:
        self._connections += 1
        gcs = self.profile.link["gcs"]
        tlog = self.tlog_stem.with_name(f"{self.tlog_stem.name}-fuzz{self._connections}.tlog")
        self.tlogs.append(tlog)
        self.link = Link(
            self.driver.ensure_running(),
            vehicle_sysid=self.driver.sysid,
            gcs_sysid=gcs["sysid"],
            gcs_compid=gcs["compid"],
            silence_s=self.profile.link["silence_s"],
            tlog=tlog,
            liveness=self.driver.liveness,
        )
        v = self.vehicle = Vehicle(self.link, sysid=self.driver.sysid)
        v.connect()
        fix = self.link.wait(
            "a position fix (GLOBAL_POSITION_INT with a latitude)",
            ["GLOBAL_POSITION_INT"],
            lambda m: m.get_srcSystem() == v.sysid and m.lat != 0,
            timeout_s=self.READY_S,
            include_latest=True,
        )
        self.probe = Probe(v, self.settings)  # LookupError: no probe for this family
        ranges = self.settings["param_ranges"].get(flavour.family(v.autopilot), {})
        self.ranges = {k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()}
        for name in self.ranges:  # journaled, so close() puts back what clamping changed
            v.set_param(name, v.get_param(name))
        self.peer = Peer.lend(self.link, 0, None, v.sysid)
        hb = v.latest("HEARTBEAT")
        self.base = Baseline(hb.custom_mode, bool(hb.base_mode & ARMED), fix.msg)
        mode_name = self.settings["probe"]["mode"]
        now = flavour.mode_name(v.autopilot, hb.custom_mode)
        other = flavour.set_mode_params(v.autopilot, mode_name if now != mode_name else "LOITER")
        return Target(
            v.sysid,
            v.compid,
            self.probe.name,
            self.probe.base + 7 * self.probe.step,
            other,
            self.ranges,
            nonfinite_takeoff_legal=flavour.nonfinite_takeoff_alt_is_default(v.autopilot),
        )

    def connected(self) -> Link:
        """The fuzzer's live connection (a vehicle that died is restarted first)."""
        if not self._alive():
            self._reconnect()
        assert self.link is not None
        return self.link

    def _alive(self) -> bool:
        return bool(
            self.link is not None
            and not self.link.closed_reason
            and not self.link.went_silent
            and self.driver.liveness() is None
        )

    def _reconnect(self) -> None:
        self._close_link()
        self.driver.restart()
        self.restarts += 1
        self._connect()

    def _close_link(self) -> None:
        if self.link is not None:
            self.spent_s += self.link.clock.now()
            self.link.close()
            self.link = None

    @property
    def vehicle_s(self) -> float:
        return self.spent_s + (self.link.clock.now() if self.link else 0.0)

    # -- one batch -------------------------------------------------------------------------
    def run(self, batch: list[Case]) -> Problem | None:
        """Send one batch; None if the vehicle came through it, else what went wrong."""
        if not self._alive():
            self._reconnect()
        assert self.link and self.vehicle and self.probe and self.peer and self.base
        self.examples += 1
        self.link.send_raw(b"".join(c.frame for c in batch) + PAD)
        try:
            self.peer.barrier(timeout_s=3.0)
            problem = self._judge(batch)
            if problem is not None:
                self._put_back()  # so the next batch is judged on its own
            return problem
        except VehicleError as exc:
            died = self.driver.liveness()
            return Problem("vehicle-died" if died else "vehicle-silent",
                           f"the vehicle stopped answering after the batch: {died or exc}")

    def _judge(self, batch: list[Case]) -> Problem | None:
        problems = self._problems(batch)
        if not problems:
            return None
        return Problem(problems[0][0], "; ".join(text for _, text in problems))

    def _problems(self, batch: list[Case]) -> list[tuple[str, str]]:
        assert self.link and self.vehicle and self.probe and self.base
        v, link, base = self.vehicle, self.link, self.base
        problems = []
        before = link.latest("HEARTBEAT")
        bound = self.fuzz["max_gap_s"]
        try:  # the next beat shows the mode and arming the batch left, and that it beats
            left = bound - (link.clock.now() - before.t) if before else bound
            hb = next_heartbeat(v, max(0.05, left))
        except WaitTimeout:
            return [("heartbeat-gap", f"no HEARTBEAT within {bound:g} s of the previous one")]
        if before is not None:
            self.worst_gap_s = max(self.worst_gap_s, link.clock.now() - before.t)
        if hb.custom_mode != base.mode:
            problems.append(("state-changed",
                             f"mode changed to {flavour.mode_name(v.autopilot, hb.custom_mode)}"))
        if bool(hb.base_mode & ARMED) != base.armed:
            problems.append(("state-changed", f"armed became {not base.armed}"))
        pos = v.latest("GLOBAL_POSITION_INT")
        tol = self.fuzz["position_tolerance_m"]
        if pos is not None:
            b = base.position
            moved = ground_distance_m(pos.lat / 1e7, pos.lon / 1e7, b.lat / 1e7, b.lon / 1e7)
            climbed = abs(pos.relative_alt - base.position.relative_alt) / 1000
            if moved > tol or climbed > tol:
                problems.append(("moved", f"moved {moved:.1f} m, climbed {climbed:.1f} m "
                                 f"(bound {tol:g} m)"))
        att = v.latest("ATTITUDE")
        if att is not None and not all(map(math.isfinite, (att.roll, att.pitch, att.yaw))):
            problems.append(("state-not-finite",
                             f"attitude not finite: {att.roll}, {att.pitch}, {att.yaw}"))
        value = self.probe.read()
        if value != self.probe.base:
            problems.append(("frame-taken", f"{self.probe.name} changed to {value:g} "
                             "(a malformed frame was taken)"))
        for name in sorted({n for c in batch for n in self.ranges if f"PARAM_SET {n}=" in c.what}):
            lo, hi = self.ranges[name]
            got = read_param(v, name)
            if not (math.isfinite(got) and lo <= got <= hi):
                problems.append(("stored-out-of-range",
                                 f"{name} = {got:g}, outside its range {lo:g}..{hi:g}"))
        return problems

    def _put_back(self) -> None:
        """After a batch that changed the vehicle: the probe parameter, the ranged parameters
        and the mode set back; a vehicle that armed, moved or will not take them is restarted
        (counted in `restarts`). Otherwise every later batch would be blamed for this one."""
        assert self.vehicle and self.probe and self.base
        v, base = self.vehicle, self.base
        try:
            if v.armed or self._moved():
                raise VehicleError("armed or moved by the batch")
            self.probe.reset()
            for name in self.ranges:
                v.set_param(name, v.journal[name].original)
            hb = v.latest("HEARTBEAT")
            if hb is not None and hb.custom_mode != base.mode:
                v.set_mode(flavour.mode_name(v.autopilot, base.mode))
        except VehicleError:
            self._reconnect()

    def _moved(self) -> bool:
        assert self.vehicle and self.base
        pos, b = self.vehicle.latest("GLOBAL_POSITION_INT"), self.base.position
        if pos is None:
            return False
        moved = ground_distance_m(pos.lat / 1e7, pos.lon / 1e7, b.lat / 1e7, b.lon / 1e7)
        climbed = abs(pos.relative_alt - b.relative_alt) / 1000
        return max(moved, climbed) > self.fuzz["position_tolerance_m"]

    # -- the end ---------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Put back what the fuzzing changed; return what could not be."""
        problems: list[str] = []
        if self._alive() and self.vehicle is not None:
            problems = self.vehicle.restore_params()
            if self.vehicle.armed:
                problems.append("the vehicle was left armed")
        self._close_link()
        if problems:
            self.driver.restart()
        return problems
