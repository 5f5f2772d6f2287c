"""A GNSS fault episode in flight: the vehicle hovers, the fault goes in through ArduPilot SITL's
own parameters (SIM_GPS1_*: the built-in simulator takes the same names), and everything the
vehicle says meanwhile is kept on the vehicle clock for the checks to judge."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers.errors import CommandRejected, WaitTimeout
from drivers.link.connection import Timed
from drivers.mavlink import mavlink
from drivers.services import flavour
from drivers.services.vehicle import Vehicle, ground_distance_m

WATCHED = ["HEARTBEAT", "GPS_RAW_INT", "EKF_STATUS_REPORT", "SYS_STATUS", "STATUSTEXT",
           "SIMSTATE", "GLOBAL_POSITION_INT"]  # fmt: skip
M_PER_DEG_LAT = math.radians(1.0) * 6_378_137.0  # SIM_GPS1_GLTCH_X is in degrees of latitude
# ArduPilot Copter FS_EKF_ACTION (Parameters.cpp): 1 LAND, 2 ALT_HOLD (in modes needing a position)
EKF_ACTIONS = {"LAND": 1, "ALT_HOLD": 2}
WARNING = mavlink.MAV_SEVERITY_WARNING  # a warning is this severe or more (lower number)


def gnss_params(vehicle: Vehicle) -> None:
    """Skip unless the vehicle takes ArduPilot SITL's GNSS fault parameters."""
    if vehicle.autopilot != mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        pytest.skip("GNSS faults are injected through ArduPilot SITL's SIM_GPS1_* parameters; "
                    "this autopilot has no such parameters")  # fmt: skip


@dataclass
class Episode:
    """What the vehicle said from the fault's start (t0, vehicle time) on."""

    t0: float
    mode0: int
    got: list[Timed] = field(default_factory=list)
    truth0: tuple[float, float] | None = None  # SIMSTATE lat/lon (deg) when the fault began

    def of(self, mtype: str) -> list[Timed]:
        return [x for x in self.got if x.msg.get_type() == mtype]

    def first(self, mtype: str, match: Callable[[Any], object]) -> float | None:
        """Seconds from the fault's start to the first `mtype` that matches (None: never)."""
        return next((x.t - self.t0 for x in self.of(mtype) if match(x.msg)), None)

    def warned(self, pattern: str) -> tuple[float | None, str]:
        """Seconds to the first STATUSTEXT of severity WARNING or worse matching `pattern`."""
        for x in self.of("STATUSTEXT"):
            if x.msg.severity <= WARNING and re.search(pattern, x.msg.text):
                return x.t - self.t0, x.msg.text
        return None, ""

    def texts(self) -> list[str]:
        return [f"{x.t - self.t0:.1f} s {x.msg.text!r}" for x in self.of("STATUSTEXT")]

    def new_mode(self) -> Timed | None:
        return next((x for x in self.of("HEARTBEAT") if x.msg.custom_mode != self.mode0), None)

    def deviation(self) -> list[tuple[float, float]]:
        """(t, metres) of the TRUE position (SIMSTATE) from where it was when the fault began:
        a hovering vehicle should stay there."""
        if self.truth0 is None:
            return []
        lat0, lon0 = self.truth0
        return [(x.t - self.t0, ground_distance_m(lat0, lon0, x.msg.lat / 1e7, x.msg.lng / 1e7))
                for x in self.of("SIMSTATE")]  # fmt: skip


def hover(vehicle: Vehicle, settings: dict[str, Any]) -> None:
    """EKF failsafe configured as the profile says; streams the checks read; armed, hovering."""
    f = settings["flight"]
    gnss_params(vehicle)
    vehicle.set_param("FS_EKF_ACTION", EKF_ACTIONS[settings["action"]])
    for name, hz in (("GPS_RAW_INT", 5), ("EKF_STATUS_REPORT", 5), ("HEARTBEAT", 2)):
        vehicle.request_stream(name, hz)
    vehicle.wait_armable(f["ready_timeout_s"])
    # a healthy start: no glitch left over from the previous check's fault (its parameters are
    # back, but the estimator may still be rejecting the fix it had been offset from)
    good, bad = mavlink.EKF_POS_HORIZ_ABS, mavlink.EKF_GPS_GLITCHING | mavlink.EKF_CONST_POS_MODE
    vehicle.link.wait("EKF_STATUS_REPORT with an absolute position and no GPS glitch",
                      ["EKF_STATUS_REPORT"], lambda m: m.flags & good and not m.flags & bad,
                      timeout_s=f["ready_timeout_s"], include_latest=True)  # fmt: skip
    vehicle.set_mode("GUIDED")
    _arm_when_ready(vehicle, f["ready_timeout_s"])
    vehicle.takeoff(f["alt_m"], 1.0, f["leg_timeout_s"])


def _arm_when_ready(vehicle: Vehicle, timeout_s: float) -> None:
    """Arm once the vehicle accepts: after the previous check's GNSS fault, ArduPilot's
    estimator takes a while to settle on the restored receiver ("Need Position Estimate",
    "GPS and AHRS differ by 50.0m") though its pre-arm flag and EKF report look ready. Setting
    up the flight, not a figure of any check; bounded, and every refusal is named."""
    deadline = vehicle.link.clock.now() + timeout_s
    while True:
        try:
            vehicle.arm()
            return
        except CommandRejected as exc:
            if vehicle.link.clock.now() + 1.0 > deadline:
                raise WaitTimeout(f"the vehicle did not accept arming within {timeout_s:g} s "
                                  f"after the previous GNSS fault: {exc}") from exc  # fmt: skip
            vehicle.link.elapse(1.0)


def want_truth(vehicle: Vehicle) -> None:
    """The simulator's truth (SIMSTATE, as ArduPilot SITL sends it) or a skip saying why."""
    try:
        vehicle.request_stream("SIMSTATE", 5)
        vehicle.link.wait("a SIMSTATE (the simulator's true position)", ["SIMSTATE"],
                          lambda m: m.lat != 0 or m.lng != 0, timeout_s=3.0)  # fmt: skip
    except (CommandRejected, WaitTimeout) as exc:  # refused, or never came: no truth here
        pytest.skip(f"the vehicle gives no true position (SIMSTATE): {exc}")


def run(vehicle: Vehicle, inject: Callable[[], None], watch_s: float,
        step: Callable[[float], None] | None = None) -> Episode:  # fmt: skip
    """Start the fault (`inject`), then keep all WATCHED for watch_s vehicle seconds; `step`
    (if any) is called about every half second with the seconds elapsed, to vary the fault."""
    link = vehicle.link
    hb = vehicle.latest("HEARTBEAT")
    truth = vehicle.latest("SIMSTATE")
    with link.subscribe(WATCHED) as sub:
        t0 = link.clock.now()
        ep = Episode(t0, hb.custom_mode if hb else -1,
                     truth0=(truth.lat / 1e7, truth.lng / 1e7) if truth else None)
        inject()
        while (now := link.clock.now()) < t0 + watch_s:
            if step is not None:
                step(now - t0)
            link.elapse(min(0.5, t0 + watch_s - now))
        while (item := sub.get(0.0)) is not None:
            m = item.msg
            if m.get_srcSystem() == vehicle.sysid and m.get_srcComponent() == 1:
                ep.got.append(item)
    return ep


def bring_down(vehicle: Vehicle, settings: dict[str, Any]) -> None:
    """Land where it is (a vertical descent needs no position) and wait until disarmed."""
    f = settings["flight"]
    if vehicle.armed and vehicle.mode != "LAND":
        vehicle.set_mode("LAND")
    vehicle.wait_heartbeat("disarmed on the ground", lambda m: not m.base_mode & 128,
                           f["land_timeout_s"])  # fmt: skip


def mode_name(vehicle: Vehicle, custom_mode: int) -> str:
    return flavour.mode_name(vehicle.autopilot, custom_mode)
