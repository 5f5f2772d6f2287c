"""GCS link loss: with the failsafe configured as the profile says, losing the ground station's
uplink makes a flying vehicle take the configured action after the configured timeout (within
tolerance, in vehicle time), announce it and finish it safely; and when the link returns, the
ground station has control again. The uplink is cut in the impairment proxy, so the same checks
run against SITL and bench vehicles."""

from dataclasses import dataclass

import pytest

from drivers.flavour import gcs_failsafe_params
from drivers.mavlink import mavlink
from drivers.proxy import ImpairmentProxy
from drivers.vehicle import Vehicle


@dataclass(frozen=True)
class Cut:
    last_heartbeat_t: float  # vehicle time of the last GCS heartbeat that reached the vehicle
    before_t: float  # newest HEARTBEAT still in the flight mode
    after_t: float | None  # first HEARTBEAT in another mode (None: no change seen)
    mode: str


def fly(vehicle: Vehicle, settings: dict) -> None:
    """Configure the failsafe, then arm and take off in GUIDED."""
    for name, value in gcs_failsafe_params(
        vehicle.autopilot, settings["action"], settings["gcs_timeout_s"]
    ).items():
        vehicle.set_param(name, value)
    vehicle.wait_armable(settings["ready_timeout_s"])
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(settings["takeoff_alt_m"], 1.0, 60)


def cut_uplink(vehicle: Vehicle, proxy: ImpairmentProxy, settings: dict, outage_s: float) -> Cut:
    """Drop everything the harness sends for outage_s; watch for the vehicle's mode change."""
    link = vehicle.link
    link.gcs_heartbeats = False  # so the last heartbeat that got through is known exactly
    last = link.last_heartbeat_t
    proxy.outage(outage_s, "up")
    link.gcs_heartbeats = True  # a real ground station keeps trying; the proxy drops them
    flying = vehicle.latest("HEARTBEAT").custom_mode
    before_t = link.latest("HEARTBEAT").t
    bound = settings["gcs_timeout_s"] + settings["tolerance_s"] + 8.0
    with link.subscribe(["HEARTBEAT"]) as sub:
        deadline = link.clock.now() + bound
        while link.clock.now() < deadline:
            got = sub.get(link.poll_s(deadline))
            link.check_alive("the vehicle's mode change after the uplink was cut")
            if (
                not got
                or got.msg.get_srcSystem() != vehicle.sysid
                or got.msg.get_srcComponent() != 1
            ):
                continue
            if got.msg.custom_mode != flying:
                return Cut(last, before_t, got.t, vehicle.mode)
            before_t = got.t
    return Cut(last, before_t, None, vehicle.mode)


def wait_landed(vehicle: Vehicle, timeout_s: float) -> None:
    vehicle.wait_heartbeat("disarmed on the ground", lambda m: not m.base_mode & 128, timeout_s)


@pytest.mark.requirement("AP-FS-GCS", "GB42590-4.3")
@pytest.mark.needs("flight")
def test_failsafe_fires_on_time(proxy, vehicle, settings, measure):
    # given a flying vehicle with the GCS failsafe set to gcs_timeout_s
    fly(vehicle, settings)
    timeout, tol = settings["gcs_timeout_s"], settings["tolerance_s"]
    # when the uplink is lost
    cut = cut_uplink(vehicle, proxy, settings, outage_s=timeout + tol + 60)
    # then the mode changes gcs_timeout_s after the last heartbeat that got through; HEARTBEAT
    # comes at 1 Hz, so the change happened between the last old-mode beat and the first new one
    earliest = measure.at_most(
        "failsafe no earlier than (last old-mode beat)", cut.before_t - cut.last_heartbeat_t,
        "s", timeout + tol,
    )  # fmt: skip
    latest = measure.at_least(
        "failsafe no later than (first new-mode beat)",
        (cut.after_t or float("inf")) - cut.last_heartbeat_t, "s", timeout - tol,
    )  # fmt: skip
    fired = cut.after_t is not None
    assert fired and earliest.ok and latest.ok, (
        f"expected the failsafe {timeout:g} ± {tol:g} s after the last GCS heartbeat; "
        + (f"{earliest}; {latest}" if fired else "the mode never changed")
    )
    # and it brings the vehicle down safely on its own
    wait_landed(vehicle, settings["land_timeout_s"])


@pytest.mark.requirement("AP-FS-GCS", "GB42590-4.3")
@pytest.mark.needs("flight")
def test_failsafe_takes_the_configured_action_and_says_so(proxy, vehicle, settings, measure):
    # given a flying vehicle with the GCS failsafe set to the profile's action
    fly(vehicle, settings)
    since = vehicle.link.clock.now()
    # when the uplink is lost
    cut = cut_uplink(vehicle, proxy, settings, outage_s=settings["gcs_timeout_s"] + 60)
    # then it switches to that action and announces the failsafe
    action = settings["action"]
    said = [t for t in vehicle.recent_statustext(since) if "failsafe" in t.lower()]
    measure.record_value("STATUSTEXTs announcing a failsafe", len(said), "")
    assert cut.mode == action, f"the vehicle went to {cut.mode}, the profile expects {action}"
    assert said, f"no STATUSTEXT announced the failsafe; it said {vehicle.recent_statustext(since)}"
    # and completes it safely: down and disarmed
    wait_landed(vehicle, settings["land_timeout_s"])


@pytest.mark.requirement("AP-FS-GCS", "GB42590-4.3")
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
    # then the vehicle obeys: it lands and disarms
    wait_landed(vehicle, settings["land_timeout_s"])
    m = measure.at_most(
        "time to land after control returned", vehicle.link.clock.now() - start, "s",
        settings["land_timeout_s"],
    )  # fmt: skip
    state = vehicle.latest("EXTENDED_SYS_STATE").landed_state
    assert m.ok and state == mavlink.MAV_LANDED_STATE_ON_GROUND, f"{m}; landed_state {state}"
