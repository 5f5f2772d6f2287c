"""Basic control: the vehicle arms when ready, takes off in GUIDED to the asked altitude, and
lands and disarms on command (GB 42590-2023 4.8 controllability; MAVLink command protocol)."""

import pytest

from drivers.mavlink import mavlink


@pytest.mark.requirement("MAV-ARM", "MAV-COMMAND", "GB42590-4.8")
@pytest.mark.needs("flight")
def test_arm_takeoff_land(vehicle, settings, measure):
    alt, tol = settings["takeoff_alt_m"], settings["alt_tolerance_m"]
    # given a vehicle that passed its pre-arm checks, armed in GUIDED
    vehicle.wait_armable(settings["ready_timeout_s"])
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    # when it takes off to the profile's altitude
    start = vehicle.link.clock.now()
    reached = vehicle.takeoff(alt, tol, settings["climb_timeout_s"])
    climb = measure.at_most(
        "time to take-off altitude", reached.t - start, "s", settings["climb_timeout_s"]
    )
    # then it holds that altitude
    held = vehicle.link.collect(
        ["GLOBAL_POSITION_INT"], 3.0, lambda m: m.get_srcSystem() == vehicle.sysid
    )
    worst = max((abs(p.msg.relative_alt / 1000 - alt) for p in held), default=float("inf"))
    hold = measure.at_most("altitude error while holding", worst, "m", tol)
    assert climb.ok and hold.ok, f"{climb}; {hold}"
    # when it is told to land, then it lands and disarms within land_timeout_s
    start = vehicle.link.clock.now()
    landed = vehicle.land(settings["land_timeout_s"])
    down = measure.at_most(
        "time to land and disarm", landed.t - start, "s", settings["land_timeout_s"]
    )
    state = vehicle.latest("EXTENDED_SYS_STATE")
    assert down.ok and state.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND, f"{down}; {state}"
