"""Basic control: the vehicle arms when ready, takes off in GUIDED to the asked altitude, and
lands and disarms on command (GB 42590-2023 4.8 controllability; MAVLink command protocol).

Each time bound is measured, not waited for: the wait runs to twice the bound, so a vehicle
that is slow gets its figure (and fails on it) rather than a timeout."""

import pytest

from drivers.errors import WaitTimeout
from drivers.mavlink import mavlink

ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED
WAIT_FACTOR = 2.0  # a wait runs this many times its bound


@pytest.mark.requirement("MAV-ARM", "MAV-COMMAND", "GB42590-4.8")
@pytest.mark.needs("flight")
def test_arm_takeoff_land(vehicle, settings, measure):
    alt, tol = settings["takeoff_alt_m"], settings["alt_tolerance_m"]
    climb_s, land_s = settings["climb_timeout_s"], settings["land_timeout_s"]
    # given a vehicle that passed its pre-arm checks, armed in GUIDED
    vehicle.wait_armable(settings["ready_timeout_s"])
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    # when it takes off to the profile's altitude
    start = vehicle.link.clock.now()
    try:
        took = vehicle.takeoff(alt, tol, WAIT_FACTOR * climb_s).t - start
    except WaitTimeout:
        took = float("inf")
    climb = measure.at_most("time to take-off altitude", took, "s", climb_s)
    assert climb.ok, f"{climb} (to {alt:g} m - {tol:g} m; now at {vehicle.relative_alt_m:.1f} m)"
    # then it holds that altitude
    held = vehicle.link.collect(
        ["GLOBAL_POSITION_INT"], 3.0, lambda m: m.get_srcSystem() == vehicle.sysid
    )
    worst = max((abs(p.msg.relative_alt / 1000 - alt) for p in held), default=float("inf"))
    hold = measure.at_most("altitude error while holding", worst, "m", tol)
    assert hold.ok, f"{hold} (asked {alt:g} m)"
    # when it is told to land, then it lands and disarms within land_timeout_s
    start = vehicle.link.clock.now()
    vehicle.set_mode("LAND")
    try:
        vehicle.link.wait(
            "landed state ON_GROUND",
            ["EXTENDED_SYS_STATE"],
            lambda m: (
                m.get_srcSystem() == vehicle.sysid
                and m.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND
            ),
            timeout_s=WAIT_FACTOR * land_s,
        )
        left = WAIT_FACTOR * land_s - (vehicle.link.clock.now() - start)
        disarmed = vehicle.wait_heartbeat("disarm after landing", lambda m: not m.base_mode & ARMED,
                                          max(0.0, left))  # fmt: skip
        took = disarmed.t - start
    except WaitTimeout:
        took = float("inf")
    down = measure.at_most("time to land and disarm", took, "s", land_s)
    state = vehicle.latest("EXTENDED_SYS_STATE")
    assert down.ok and state.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND, f"{down}; {state}"
