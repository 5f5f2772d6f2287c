"""The commanded horizontal speed (GB 42590-2023 4.8, an interpretation: limits on speed): a
GUIDED leg flown straight at a ground speed commanded with MAV_CMD_DO_CHANGE_SPEED is flown at
that speed, within the profile's tolerance: the mean over the leg's middle half (clear of
acceleration and braking; distance over time, both the vehicle's own: GLOBAL_POSITION_INT
positions and time_boot_ms), and the peak over the whole leg (its vx, vy)."""

from __future__ import annotations

import math

import pytest

from drivers.services.flight import take_off
from drivers.services.vehicle import ground_distance_m, offset


@pytest.mark.requirement("GB42590-4.8")
@pytest.mark.needs("flight")
def test_commanded_ground_speed_is_held(vehicle, settings, measure):
    s = settings
    speed, tol, leg = s["speed_m_s"], s["speed_tolerance"], s["leg_m"]
    # given a vehicle hovering in GUIDED
    take_off(vehicle, s["takeoff_alt_m"], s["ready_timeout_s"], s["leg_timeout_s"])
    start = vehicle.latest("GLOBAL_POSITION_INT")
    lat0, lon0 = start.lat / 1e7, start.lon / 1e7
    to = offset(lat0, lon0, leg, 0.0)
    # when it is sent leg_m north at speed_m_s (DO_REPOSITION, then DO_CHANGE_SPEED)
    try:
        with vehicle.link.subscribe(["GLOBAL_POSITION_INT"]) as sub:
            vehicle.goto(*to, s["takeoff_alt_m"], speed_m_s=speed, radius_m=1.0,
                         timeout_s=s["leg_timeout_s"])  # fmt: skip
        track = []
        while (item := sub.get(0.0)) is not None:
            m = item.msg
            if m.get_srcSystem() == vehicle.sysid:
                track.append((m.time_boot_ms / 1000,
                              ground_distance_m(lat0, lon0, m.lat / 1e7, m.lon / 1e7),
                              math.hypot(m.vx, m.vy) / 100))  # fmt: skip
    finally:
        vehicle.land(s["land_timeout_s"])
    # then over the leg's middle half its mean ground speed is speed_m_s, within the tolerance,
    # and it never goes faster than that tolerance allows
    t0 = track[0][0] if track else 0.0
    measure.series("ground speed", "m/s", [(t - t0, v) for t, _, v in track],
                   speed * (1 - tol), speed * (1 + tol))  # fmt: skip
    middle = [(t, d) for t, d, _ in track if leg / 4 <= d <= 3 * leg / 4]
    assert len(middle) >= 2, (f"only {len(middle)} positions on the leg's middle half "
                              f"({leg / 4:g}..{3 * leg / 4:g} m): its speed cannot be measured")
    (ta, da), (tb, db) = middle[0], middle[-1]
    mean = measure.within("mean ground speed over the leg's middle half", (db - da) / (tb - ta),
                          "m/s", speed * (1 - tol), speed * (1 + tol))  # fmt: skip
    peak = measure.at_most("peak ground speed on the leg", max(v for _, _, v in track), "m/s",
                           speed * (1 + tol))  # fmt: skip
    assert mean.ok and peak.ok, f"asked for {speed:g} m/s: {mean}; {peak}"
