"""Geofence (GB 42590-2023 4.1, electronic fence; the mapping is an interpretation): a fence
uploaded through the mission protocol (mission type FENCE: inclusion and exclusion polygons and
circles) reads back intact; with the fence enabled, a flight plan that crosses an inclusion
polygon, or climbs through the altitude ceiling (FENCE_ALT_MAX), breaches it, and the vehicle
takes the configured action (FENCE_ACTION) within a bound, reports the breach in FENCE_STATUS
and a STATUSTEXT, and does not go beyond the boundary by more than the profile's margin.

The flight plan is an AUTO mission (a route that strays, as a planning mistake would): GUIDED
destinations outside a fence are refused by ArduPilot, and its fence avoidance holds a vehicle
flown by velocity short of the boundary, so neither would breach it. Timing: the breach is the
first GLOBAL_POSITION_INT beyond the boundary (5 Hz); the action shows in the 1 Hz HEARTBEAT.
A vehicle checks its fence on a newer position than the one it reports, so it may act or report
a little before that (a negative figure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.errors import WaitTimeout
from drivers.link.connection import Timed
from drivers.mavlink import mavlink
from drivers.services import flavour, mission
from drivers.services.flight import take_off
from drivers.services.vehicle import Vehicle
from suites.geofence.plan import INCLUSION, Square, differences, flight_plan, full_fence, polygon

FENCE = mavlink.MAV_MISSION_TYPE_FENCE
ARMED = mavlink.MAV_MODE_FLAG_SAFETY_ARMED
WATCHED = ["GLOBAL_POSITION_INT", "HEARTBEAT", "FENCE_STATUS", "STATUSTEXT"]


@pytest.fixture
def plans(vehicle: Vehicle) -> Iterator[None]:
    """The fence and mission a check uploads are cleared after it, so the next check (and the
    next suite) starts without them."""
    yield
    if not vehicle.armed:
        for mission_type in (FENCE, mission.MISSION):
            mission.clear(vehicle, mission_type=mission_type)


def _position(vehicle: Vehicle, flight: dict[str, Any]) -> Any:
    """Where the vehicle stands (it must know: the fence is laid out around it)."""
    what, mtype, ready = flavour.position_ready(vehicle.autopilot)
    vehicle.link.wait(what, [mtype], ready, timeout_s=flight["ready_timeout_s"],
                      include_latest=True)  # fmt: skip
    return vehicle.link.wait("a GLOBAL_POSITION_INT with a position", ["GLOBAL_POSITION_INT"],
                             lambda m: m.lat != 0 or m.lon != 0, timeout_s=5,
                             include_latest=True).msg  # fmt: skip


@pytest.mark.requirement("MAV-MISSION", "GB42590-4.1")
def test_fence_reads_back_intact(vehicle, settings, measure, plans):
    # given a fence of every kind laid out around the vehicle: an inclusion square, an
    # exclusion triangle, an inclusion and an exclusion circle
    pos = _position(vehicle, settings["flight"])
    items = full_fence(Square(pos.lat / 1e7, pos.lon / 1e7, settings["half_side_m"]))
    # when it is uploaded as mission type FENCE and read back
    stats = mission.upload(vehicle, items, mission_type=FENCE)
    got = mission.download(vehicle, mission_type=FENCE)
    measure.record_value("fence upload retries", stats.retries, "")
    # then every item comes back as sent: command, position, vertex count or radius
    wrong = differences(items, got)
    m = measure.at_most("fence items changed or missing", len(wrong), "", 0)
    assert m.ok, f"{m}: " + "; ".join(wrong[:5])


@dataclass
class Breach:
    """What a flight through a fence showed, on the vehicle clock."""

    beyond: list[tuple[float, float]]  # (t, metres beyond the boundary) of every position
    breach_t: float | None  # first position beyond it
    action: Timed | None  # first HEARTBEAT out of AUTO (once in AUTO)
    report: Timed | None  # first FENCE_STATUS saying breached (once in AUTO)
    text: Timed | None  # first STATUSTEXT matching breach_text (once in AUTO)


def fly_through(vehicle: Vehicle, settings: dict[str, Any], kind: str,
                beyond: Callable[[Any], float], target: tuple[float, float, float]) -> Breach:
    """Enable the fence of `kind`, take off, fly the plan to `target` (lat, lon, alt above
    home) in AUTO and watch until the vehicle is disarmed again (landed by its action or, if it
    took none within flight.leg_timeout_s, by us); `beyond` says how far a GLOBAL_POSITION_INT
    lies beyond the fence."""
    s, f = settings, settings["flight"]
    link = vehicle.link
    start = vehicle.latest("GLOBAL_POSITION_INT")
    mission.upload(vehicle, flight_plan(start.lat / 1e7, start.lon / 1e7, target[:2],
                                        target[2], f["speed_m_s"]))  # fmt: skip
    alt_max = s["ceiling_m"] if kind == "alt_max" else None
    try:
        params = flavour.fence_params(vehicle.autopilot, kind, s["action"], alt_max)
    except NotImplementedError as exc:
        pytest.skip(f"{exc}: the harness cannot configure this vehicle's fence")
    for name, value in params.items():
        vehicle.set_param(name, value)
    vehicle.request_stream("FENCE_STATUS", 2)
    take_off(vehicle, f["alt_m"], f["ready_timeout_s"], f["leg_timeout_s"])
    auto = flavour.custom_mode(vehicle.autopilot, "AUTO")
    with link.subscribe(WATCHED) as sub:
        vehicle.set_mode("AUTO")
        in_auto_t = link.clock.now()
        try:
            # the action takes it out of AUTO (none within the leg: judged below), and it
            # lands (RTL, LAND) and disarms, or we land it
            vehicle.wait_heartbeat("the vehicle leaving AUTO (its fence action)",
                                   lambda m: m.custom_mode != auto, f["leg_timeout_s"])
            vehicle.wait_heartbeat("the vehicle disarmed after its fence action",
                                   lambda m: not m.base_mode & ARMED, f["land_timeout_s"])
        except WaitTimeout:
            pass  # what it did not do is judged from what it did
        finally:
            took_over_t = link.clock.now()  # what follows is ours, not the vehicle's action
            if vehicle.armed:  # no action, or one that never landed: bring it down
                vehicle.land(f["land_timeout_s"])
    got = []
    while (item := sub.get(0.0)) is not None:
        if item.msg.get_srcSystem() == vehicle.sysid and item.msg.get_srcComponent() == 1:
            got.append(item)
    out = [(x.t, beyond(x.msg)) for x in got if x.msg.get_type() == "GLOBAL_POSITION_INT"]
    breach_t = next((t for t, b in out if b > 0), None)
    # the vehicle may see its breach a little before we do (its position is newer than the
    # one it reports): its reaction counts from the start of the flight plan, timed from ours
    after = [x for x in got if breach_t is not None and x.t >= in_auto_t]
    return Breach(
        out, breach_t,
        next((x for x in after if x.msg.get_type() == "HEARTBEAT"
              and x.msg.custom_mode != auto and x.t < took_over_t), None),
        next((x for x in after if x.msg.get_type() == "FENCE_STATUS"
              and x.msg.breach_status), None),
        next((x for x in after if x.msg.get_type() == "STATUSTEXT"
              and re.search(s["breach_text"], x.msg.text)), None),
    )  # fmt: skip


def judge(vehicle: Vehicle, b: Breach, settings: dict[str, Any], measure: Any,
          boundary: str, margin_m: float) -> None:
    """The breach's figures against the profile's bounds; one assertion naming all that failed."""
    s = settings
    measure.series(f"distance beyond the {boundary}", "m", b.beyond, high=margin_m)
    if b.breach_t is None:
        closest = max((d for _, d in b.beyond), default=float("nan"))
        pytest.fail(f"the flight never crossed the {boundary}: it came within {-closest:.1f} m "
                    "of it, so the fence's action could not be judged")
    failed = []
    expected = s["action"]
    if b.action is None:
        failed.append(f"no action: the vehicle stayed in AUTO after breaching the {boundary}")
    else:
        mode = flavour.mode_name(vehicle.autopilot, b.action.msg.custom_mode)
        m = measure.at_most("fence action after the breach", b.action.t - b.breach_t, "s",
                            s["action_within_s"])
        if not m.ok:
            failed.append(f"{m} ({mode})")
        if mode != expected:
            failed.append(f"the fence action was {mode}, FENCE_ACTION asks for {expected}")
    for what, got in (("FENCE_STATUS breach_status 1", b.report),
                      (f"STATUSTEXT matching {s['breach_text']!r}", b.text)):  # fmt: skip
        if got is None:
            failed.append(f"no {what} after the breach")
            continue
        m = measure.at_most(f"{what.split(' matching')[0]} after the breach",
                            got.t - b.breach_t, "s", s["report_within_s"])
        if not m.ok:
            failed.append(str(m))
    far = measure.at_most(f"farthest beyond the {boundary}", max(d for _, d in b.beyond), "m",
                          margin_m)
    if not far.ok:
        failed.append(str(far))
    assert not failed, "; ".join(failed)


@pytest.mark.requirement("GB42590-4.1", "AP-FENCE")
@pytest.mark.needs("flight")
def test_polygon_breach_is_acted_on(vehicle, settings, measure, plans):
    # given an inclusion square half_side_m around the vehicle, enabled with FENCE_ACTION
    pos = _position(vehicle, settings["flight"])
    square = Square(pos.lat / 1e7, pos.lon / 1e7, settings["half_side_m"])
    mission.upload(vehicle, polygon(INCLUSION, square.corners()), mission_type=FENCE)
    # when a flight plan leads north out of it, beyond_m past the boundary
    target = (*square.at(settings["half_side_m"] + settings["beyond_m"], 0.0),
              settings["flight"]["alt_m"])
    b = fly_through(vehicle, settings, "polygon",
                    lambda m: square.beyond_m(m.lat / 1e7, m.lon / 1e7), target)  # fmt: skip
    # then the breach is acted on in time, reported, and the vehicle stays near the boundary
    judge(vehicle, b, settings, measure, "inclusion polygon", settings["max_overshoot_m"])


@pytest.mark.requirement("GB42590-4.1", "AP-FENCE")
@pytest.mark.needs("flight")
def test_altitude_ceiling_is_enforced(vehicle, settings, measure, plans):
    # given an altitude fence at ceiling_m above home, enabled with FENCE_ACTION
    pos = _position(vehicle, settings["flight"])
    ceiling = settings["ceiling_m"]
    # when a flight plan climbs above_m through it, straight up
    target = (pos.lat / 1e7, pos.lon / 1e7, ceiling + settings["above_m"])
    b = fly_through(vehicle, settings, "alt_max",
                    lambda m: m.relative_alt / 1000 - ceiling, target)  # fmt: skip
    # then the breach is acted on in time, reported, and the climb stops near the ceiling
    judge(vehicle, b, settings, measure, "altitude ceiling", settings["max_alt_overshoot_m"])
