"""GCS link loss: with the failsafe configured as the profile says, losing the ground station's
uplink makes a flying vehicle take the configured action after the configured timeout (within
tolerance, in vehicle time), announce it and finish it safely; when the link returns the
failsafe clears (PX4: once the ground station also changes mode, as PX4 keeps it until then),
the ground station has control again and a second loss is handled again; and
another system's heartbeats do not stand in for the ground station's (ArduPilot counts only
SYSID_MYGCS). The uplink is cut in the impairment proxy, so the same checks run against SITL
and bench vehicles.

Timing resolution: the mode shows only in the vehicle's HEARTBEAT (1 Hz), so the moment the
failsafe fired is known to lie between the last beat in the old mode and the first in the new
one. `cut_uplink` times our last heartbeat so that the vehicle's beats fall half a period
outside each end of the accepted window [timeout - tolerance, timeout + tolerance]: a failsafe
more than half a beat outside the window is then seen outside it, every time."""

from typing import Any

import pytest

from drivers.errors import WaitTimeout
from drivers.impair.uplink import cut_uplink
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.services.flavour import failsafe_kept_until_mode_change
from drivers.services.flight import fly, wait_landed
from drivers.services.vehicle import Vehicle

BEAT_S = 1.0  # HEARTBEAT period (MAVLink's 1 Hz; test_heartbeat_rate holds a vehicle to it)
CRITICAL = mavlink.MAV_STATE_CRITICAL  # HEARTBEAT system_status while a failsafe is active
WAIT_FACTOR = 2.0  # a wait runs this many times the bound it measures, so the bound can fail
ANNOUNCE_S = 3.0  # vehicle seconds after the link returns for texts held back during the outage


@pytest.mark.requirement("GB42590-4.3", ardupilot="AP-FS-GCS", px4="PX4-DL-LOSS")
@pytest.mark.needs("flight")
def test_failsafe_fires_on_time(proxy, vehicle, settings, measure):
    # given a flying vehicle with the GCS failsafe set to gcs_timeout_s
    fly(vehicle, settings)
    timeout, tol = settings["gcs_timeout_s"], settings["tolerance_s"]
    # when the uplink is lost
    cut = cut_uplink(vehicle, proxy, settings, outage_s=timeout + tol + 60)
    # then the mode changes gcs_timeout_s after the last heartbeat that got through; HEARTBEAT
    # comes at 1 Hz, so the change happened between the last old-mode beat and the first new one
    fired = cut.after_t is not None
    not_late = measure.at_most(
        "failsafe no later than: last beat in the old mode", cut.before_t - cut.last_heartbeat_t,
        "s", timeout + tol,
    )  # fmt: skip
    not_early = measure.at_least(
        "failsafe no earlier than: first beat in the new mode",
        (cut.after_t or float("inf")) - cut.last_heartbeat_t, "s", timeout - tol,
    )  # fmt: skip
    assert fired and not_late.ok and not_early.ok, (
        f"expected the failsafe {timeout:g} ± {tol:g} s after the last GCS heartbeat; "
        + (f"{not_late}; {not_early}" if fired else "the mode never changed")
    )
    # and it brings the vehicle down safely on its own
    wait_landed(vehicle, settings["land_timeout_s"])


@pytest.mark.requirement("GB42590-4.3", ardupilot="AP-FS-GCS", px4="PX4-DL-LOSS")
@pytest.mark.needs("flight")
def test_failsafe_takes_the_configured_action_and_says_so(proxy, vehicle, settings, measure):
    # given a flying vehicle with the GCS failsafe set to the profile's action
    fly(vehicle, settings)
    since = vehicle.link.clock.now()
    # when the uplink is lost (until the vehicle acts: then the ground station is back)
    cut = cut_uplink(
        vehicle, proxy, settings, outage_s=settings["gcs_timeout_s"] + 60, restore_on_change=True
    )
    # then it switches to that action and announces the failsafe, by STATUSTEXT, during the
    # outage or within ANNOUNCE_S of the link's return: an autopilot may send texts only to a
    # ground station it hears (PX4 holds them until a GCS heartbeat arrives on that link, and
    # drops those older than 5 s)
    vehicle.link.collect(["STATUSTEXT"], ANNOUNCE_S)
    action = settings["action"]
    said = [t for t in vehicle.recent_statustext(since) if "failsafe" in t.lower()]
    measure.record_value("STATUSTEXTs announcing a failsafe", len(said), "")
    assert cut.mode == action, f"the vehicle went to {cut.mode}, the profile expects {action}"
    assert said, (
        f"no STATUSTEXT announced the failsafe, during the outage or {ANNOUNCE_S:g} s after the "
        f"link returned; it said {vehicle.recent_statustext(since)}"
    )
    # and completes it safely: down and disarmed
    wait_landed(vehicle, settings["land_timeout_s"])


@pytest.mark.requirement("GB42590-4.3", ardupilot="AP-FS-GCS", px4="PX4-DL-LOSS")
@pytest.mark.needs("flight")
def test_control_returns_with_the_link(proxy, vehicle, settings, measure):
    # given a flying vehicle whose uplink was lost long enough to trigger the failsafe
    fly(vehicle, settings)
    outage = settings["gcs_timeout_s"] + settings["tolerance_s"] + 2.0
    cut_uplink(vehicle, proxy, settings, outage_s=outage)
    vehicle.link.wait(
        "the end of the uplink outage",
        ["HEARTBEAT"],
        lambda m: not proxy.in_outage("up"),
        timeout_s=outage + 5,
    )
    # when the link is back and the ground station commands LAND
    start = vehicle.link.clock.now()
    vehicle.set_mode("LAND")
    # then the vehicle obeys: it lands and disarms within land_timeout_s (waited for twice as
    # long, so a slow landing gets its figure)
    bound = settings["land_timeout_s"]
    try:
        wait_landed(vehicle, WAIT_FACTOR * bound - (vehicle.link.clock.now() - start))
        took = vehicle.link.clock.now() - start
    except WaitTimeout:
        took = float("inf")
    m = measure.at_most("time to land after control returned", took, "s", bound)
    state = vehicle.latest("EXTENDED_SYS_STATE").landed_state
    assert m.ok and state == mavlink.MAV_LANDED_STATE_ON_GROUND, f"{m}; landed_state {state}"


@pytest.mark.requirement("GB42590-4.3", ardupilot="AP-FS-GCS", px4="PX4-DL-LOSS")
@pytest.mark.needs("flight")
def test_failsafe_clears_with_the_link_and_fires_again(proxy, vehicle, settings, measure):
    # given a flying vehicle whose uplink was lost until the failsafe fired
    fly(vehicle, settings)
    timeout = settings["gcs_timeout_s"]
    watch = WAIT_FACTOR * timeout + 3.0
    first = cut_uplink(
        vehicle, proxy, settings, outage_s=watch + 10, watch_s=watch, restore_on_change=True
    )
    assert first.after_t is not None, (
        f"the first loss of the link did not trigger the failsafe within {watch:g} s"
    )
    # when the link is back (our heartbeats reach the vehicle again), and, on an autopilot that
    # keeps the failsafe until the ground station takes control (PX4), the station changes mode
    back = vehicle.link.clock.now()
    if failsafe_kept_until_mode_change(vehicle.autopilot):
        vehicle.set_mode("GUIDED")
    # then the failsafe clears: HEARTBEAT system_status leaves MAV_STATE_CRITICAL
    try:
        cleared = vehicle.wait_heartbeat(
            "the failsafe to clear (HEARTBEAT system_status not CRITICAL)",
            lambda m: m.system_status != CRITICAL, WAIT_FACTOR * timeout,
        ).t - back  # fmt: skip
    except WaitTimeout:
        cleared = float("inf")
    clear = measure.at_most("time from the link's return to the failsafe cleared", cleared, "s",
                            timeout)  # fmt: skip
    said = [t for t in vehicle.recent_statustext(back) if "cleared" in t.lower()]
    measure.record_value("STATUSTEXTs saying a failsafe cleared", len(said), "")
    # and when the ground station takes control back and the link is lost a second time,
    # the failsafe fires again (its timing is test_failsafe_fires_on_time's to judge)
    vehicle.set_mode("GUIDED")
    second = cut_uplink(
        vehicle, proxy, settings, outage_s=watch + 10, watch_s=watch, restore_on_change=True
    )
    again = measure.at_most(
        "second loss: first beat in the failsafe's mode after our last heartbeat",
        (second.after_t or float("inf")) - second.last_heartbeat_t, "s", WAIT_FACTOR * timeout,
    )  # fmt: skip
    assert clear.ok and again.ok, f"{clear}; {again} (mode {second.mode})"
    # and it comes down on its own
    wait_landed(vehicle, settings["land_timeout_s"])


def _other_sysid(ours: int) -> int:
    return 254 if ours != 254 else 253


@pytest.mark.requirement("GB42590-4.3", ardupilot="AP-FS-GCS")  # ArduPilot's SYSID_MYGCS alone
@pytest.mark.needs("flight")
def test_another_systems_heartbeat_does_not_hold_off_the_failsafe(
    proxy, vehicle, vehicle_driver, settings, profile, measure
):
    # given a flying vehicle (ArduPilot: only SYSID_MYGCS's heartbeats count for the GCS
    # failsafe) and, on another of its channels, a ground station with another system id
    if vehicle.autopilot != mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA:
        pytest.skip("only ArduPilot documents that the GCS failsafe counts SYSID_MYGCS alone")
    urls: list[Any] = list(getattr(vehicle_driver, "urls", None) or [])
    if len(urls) < 2:
        pytest.skip(f"the vehicle serves {len(urls)} channel(s); the other station needs a second")
    fly(vehicle, settings)
    timeout = settings["gcs_timeout_s"]
    other_id = _other_sysid(profile.link["gcs"]["sysid"])
    with Link(
        urls[1], vehicle_sysid=vehicle.sysid, gcs_sysid=other_id,
        gcs_compid=mavlink.MAV_COMP_ID_MISSIONPLANNER, silence_s=profile.link["silence_s"],
        liveness=vehicle_driver.liveness,
    ) as other:  # fmt: skip
        Vehicle(other, sysid=vehicle.sysid).connect({"SYSTEM_TIME": 4})  # it beats at 1 Hz
        # (each link's clock counts from its own first sample: the same vehicle clock, offset)
        offset = vehicle.link.clock.now() - other.clock.now()
        # when our uplink is lost while the other station keeps sending GCS heartbeats
        watch = WAIT_FACTOR * timeout + 3.0
        cut = cut_uplink(vehicle, proxy, settings, outage_s=watch + 10, watch_s=watch)
        kept_on = other.last_heartbeat_t + offset - cut.last_heartbeat_t
    measure.record_value(f"system {other_id}'s heartbeats went on after ours for", kept_on, "s")
    assert kept_on > 0, f"system {other_id} stopped beating before our uplink was cut"
    # then the failsafe fires all the same (its timing is test_failsafe_fires_on_time's)
    fired = measure.at_most(
        "first beat in the failsafe's mode after our last heartbeat",
        (cut.after_t or float("inf")) - cut.last_heartbeat_t, "s", WAIT_FACTOR * timeout,
    )  # fmt: skip
    assert fired.ok, (
        f"{fired}: the mode never changed while system {other_id} sent GCS heartbeats on "
        f"channel 1 ({kept_on:.1f} s beyond ours)"
        if cut.after_t is None
        else f"{fired}"
    )
    # and the vehicle comes down on its own
    wait_landed(vehicle, settings["land_timeout_s"])
