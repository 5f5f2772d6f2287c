"""The altitude limit (GB 42590-2023 4.8, an interpretation: limits on altitude): with an
altitude limit set (ArduPilot: the altitude fence, FENCE_ALT_MAX), a GUIDED climb commanded
above it is refused (ArduPilot's mode_guided.cpp rejects a destination outside the fence) or
capped: the vehicle gets no higher than the limit plus a margin. A climb within the limit is
obeyed first, so that a vehicle that refuses every climb does not pass.

FENCE_ACTION is 0 (report only) here: what is judged is the limit on the command, not the breach
action that the geofence suite judges."""

from __future__ import annotations

import pytest

from drivers.errors import CommandRejected
from drivers.services import flavour

HOLD_M = 0.5  # "reached" for the climb within the limit
# the watch after the refused climb lasts as long as the climb would take at this rate (slower
# than any copter's default climb: ArduPilot WPNAV_SPEED_UP 2.5 m/s), plus a little
SLOWEST_CLIMB_M_S = 1.0


@pytest.mark.requirement("GB42590-4.8", "AP-GUIDED-FENCE")
@pytest.mark.needs("flight")
def test_climb_above_the_altitude_limit_is_refused_or_capped(vehicle, settings, measure):
    s = settings
    limit, margin = s["alt_limit_m"], s["alt_margin_m"]
    # given an altitude limit of alt_limit_m (the altitude fence, report only)
    try:
        params = flavour.fence_params(vehicle.autopilot, "alt_max", "REPORT", limit)
    except NotImplementedError as exc:
        pytest.skip(f"{exc}: the harness cannot set this vehicle's altitude limit")
    for name, value in params.items():
        vehicle.set_param(name, value)
    vehicle.wait_armable(s["ready_timeout_s"])
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(s["takeoff_alt_m"], 1.0, s["leg_timeout_s"])
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
