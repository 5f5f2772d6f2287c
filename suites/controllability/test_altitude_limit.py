"""The altitude limit (GB 42590-2023 4.8, an interpretation: limits on altitude): with an
altitude limit set (ArduPilot: the altitude fence, FENCE_ALT_MAX), a GUIDED climb commanded
above it is refused (ArduPilot's mode_guided.cpp rejects a destination outside the fence) or
capped: the vehicle gets no higher than the limit plus a margin. A climb within the limit is
obeyed first, so that a vehicle that refuses every climb does not pass. A climb commanded by
velocity set-points (no destination to refuse) must stop at the limit too (ArduPilot's fence
avoidance, AC_Avoid::adjust_velocity_z, brakes FENCE_MARGIN under it).

FENCE_ACTION is 0 (report only) here: what is judged is the limit on the command, not the breach
action that the geofence suite judges."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.errors import CommandRejected
from drivers.mavlink import mavlink
from drivers.services import flavour
from drivers.services.flight import take_off
from drivers.services.vehicle import Vehicle

HOLD_M = 0.5  # "reached" for the climb within the limit
# the watch after the refused climb lasts as long as the climb would take at this rate (slower
# than any copter's default climb: ArduPilot WPNAV_SPEED_UP 2.5 m/s), plus a little
SLOWEST_CLIMB_M_S = 1.0


def hover_under_the_limit(vehicle: Vehicle, s: dict[str, Any]) -> None:
    """The altitude fence at alt_limit_m, report only (the limit on the command is judged, not
    a breach action), and the vehicle hovering at takeoff_alt_m in GUIDED."""
    try:
        params = flavour.fence_params(vehicle.autopilot, "alt_max", "REPORT", s["alt_limit_m"])
    except NotImplementedError as exc:
        pytest.skip(f"{exc}: the harness cannot set this vehicle's altitude limit")
    for name, value in params.items():
        vehicle.set_param(name, value)
    take_off(vehicle, s["takeoff_alt_m"], s["ready_timeout_s"], s["leg_timeout_s"])


@pytest.mark.requirement("GB42590-4.8", "AP-GUIDED-FENCE")
@pytest.mark.needs("flight")
def test_climb_above_the_altitude_limit_is_refused_or_capped(vehicle, settings, measure):
    s = settings
    limit, margin = s["alt_limit_m"], s["alt_margin_m"]
    # given an altitude limit of alt_limit_m (the altitude fence, report only)
    hover_under_the_limit(vehicle, s)
    pos = vehicle.latest("GLOBAL_POSITION_INT")
    lat, lon = pos.lat / 1e7, pos.lon / 1e7
    try:
        # and a vehicle that obeys a climb within the limit (halfway up to it)
        within = (s["takeoff_alt_m"] + limit) / 2
        vehicle.goto(lat, lon, within, radius_m=5.0, timeout_s=s["leg_timeout_s"])
        vehicle.link.wait(f"relative altitude {within:g} m (a climb within the limit)",
                          ["GLOBAL_POSITION_INT"],
                          lambda m: m.relative_alt / 1000 >= within - HOLD_M,
                          timeout_s=s["leg_timeout_s"], include_latest=True)  # fmt: skip
        # when a climb to climb_above_m above the limit is commanded (DO_REPOSITION, GUIDED)
        target = limit + s["climb_above_m"]
        watch_s = (target - within) / SLOWEST_CLIMB_M_S + 2.0
        with vehicle.link.subscribe(["GLOBAL_POSITION_INT"]) as sub:
            try:
                vehicle.goto(lat, lon, target, radius_m=5.0, timeout_s=s["leg_timeout_s"])
                refused = ""
            except CommandRejected as exc:
                refused = str(exc)
            # then (refused or not) it stays under the limit for as long as the climb would take
            vehicle.link.collect(["GLOBAL_POSITION_INT"], watch_s)
        track = []
        while (item := sub.get(0.0)) is not None:
            if item.msg.get_srcSystem() == vehicle.sysid:
                track.append((item.t, item.msg.relative_alt / 1000))
    finally:
        vehicle.land(s["land_timeout_s"])
    measure.record_value("climb above the limit refused (1) or accepted (0)", bool(refused), "")
    measure.series("altitude above home", "m", track, high=limit + margin)
    highest = max((a for _, a in track), default=float("nan"))
    m = measure.at_most("highest altitude above home", highest, "m", limit + margin)
    assert m.ok, (f"{m}: the climb to {target:g} m above home was "
                  + ("accepted" if not refused else f"refused ({refused})")
                  + f" with the altitude limit at {limit:g} m")  # fmt: skip


VELOCITY_ONLY = (mavlink.POSITION_TARGET_TYPEMASK_X_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_Y_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_Z_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_AX_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_AY_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_AZ_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_YAW_IGNORE
                 | mavlink.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE)  # fmt: skip
SETPOINT_S = 0.5  # a velocity set-point every this many vehicle seconds (ArduPilot drops one
# after 3 s without another)


@pytest.mark.requirement("GB42590-4.8", "AP-AVOID-FENCE")
@pytest.mark.needs("flight")
def test_velocity_climb_stops_at_the_altitude_limit(vehicle, settings, measure):
    s = settings
    limit, margin, rate = s["alt_limit_m"], s["alt_margin_m"], s["climb_m_s"]
    # given an altitude limit of alt_limit_m (the altitude fence, report only) and a vehicle
    # hovering under it in GUIDED
    hover_under_the_limit(vehicle, s)
    # when it is told to climb at climb_m_s (velocity set-points, no destination to refuse)
    # for as long as it takes to reach climb_above_m above the limit
    link = vehicle.link
    climb_s = (limit + s["climb_above_m"] - vehicle.relative_alt_m) / rate
    track = []
    try:
        end = link.clock.now() + climb_s
        while link.clock.now() < end:
            link.send(link.mav.set_position_target_local_ned_encode(
                0, vehicle.sysid, vehicle.compid, mavlink.MAV_FRAME_LOCAL_NED, VELOCITY_ONLY,
                0, 0, 0, 0, 0, -rate, 0, 0, 0, 0, 0))  # fmt: skip
            track += [(x.t, x.msg.relative_alt / 1000)
                      for x in link.collect(["GLOBAL_POSITION_INT"], SETPOINT_S)
                      if x.msg.get_srcSystem() == vehicle.sysid]  # fmt: skip
    finally:
        vehicle.land(s["land_timeout_s"])
    # then it stops at the limit (ArduPilot: FENCE_MARGIN under it), no higher than the margin
    measure.series("altitude above home", "m", track, high=limit + margin)
    highest = max((a for _, a in track), default=float("nan"))
    m = measure.at_most("highest altitude above home", highest, "m", limit + margin)
    assert m.ok, (f"{m}: told to climb at {rate:g} m/s for {climb_s:.1f} s with the altitude "
                  f"limit at {limit:g} m")  # fmt: skip
