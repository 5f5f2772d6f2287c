"""OPEN_DRONE_ID_LOCATION against the vehicle itself: its timestamp is fresh (UTC seconds after
the hour, no older than freshness_s against the vehicle's own UTC from SYSTEM_TIME); in flight
its position, altitude, speed and direction agree with what the autopilot reports on its own
link (GLOBAL_POSITION_INT, VFR_HUD: the vehicle's estimate stands in for the truth) within the
profile's tolerances, 95th percentile, and its fields keep their encodings; its status says
GROUND on the ground and AIRBORNE in flight.

Each LOCATION is compared with the vehicle's own figures at the moment it arrived, interpolated
between the vehicle's messages around it (the two channels share the vehicle clock)."""

from __future__ import annotations

import math
import queue
from collections import Counter
from typing import Any

import pytest

from drivers.link.connection import Subscription, Timed
from drivers.mavlink import mavlink
from drivers.services.remote_id import LOCATION, status_name
from drivers.services.vehicle import ground_distance_m, offset
from suites.remote_id.flight import airborne, land, take_off
from suites.remote_id.timing import (
    UNKNOWN_TIME,
    angle_diff_deg,
    interpolate,
    nearest,
    p95,
    timestamp_age,
    utc_at,
)

GROUND, AIRBORNE = mavlink.MAV_ODID_STATUS_GROUND, mavlink.MAV_ODID_STATUS_AIRBORNE
UNKNOWN_DIRECTION, UNKNOWN_HSPEED, UNKNOWN_VSPEED = 36100, 25500, 6300
MIN_SAMPLES = 5  # LOCATION messages a content figure needs before it means anything


def drain(sub: Subscription, keep: Any = lambda m: True) -> list[Timed]:
    got = []
    while True:
        try:
            item = sub.queue.get_nowait()
        except queue.Empty:
            return got
        if keep(item.msg):
            got.append(item)


@pytest.mark.requirement("RID-FRESHNESS", "GB42590-A")
def test_location_timestamp_is_fresh(rid, settings, measure):
    # given a vehicle with a position fix and its transponder healthy, when we listen for
    # sample_s vehicle seconds to LOCATION (its channel) and SYSTEM_TIME (our link)
    v = rid.vehicle
    with v.link.subscribe(["SYSTEM_TIME"]) as clock_sub:
        got = rid.transponder.collect(settings["sample_s"], (LOCATION,))
    system_times = drain(clock_sub, lambda m: m.get_srcSystem() == v.sysid)
    ages = []
    for x in got:
        utc = utc_at(system_times, x.t)
        if x.msg.timestamp != UNKNOWN_TIME and utc is not None:
            ages.append((x.t, timestamp_age(x.msg.timestamp, utc)))
    enough = measure.at_least("LOCATION messages with a known timestamp", len(ages), "", 3)
    if not enough.ok:
        pytest.fail(f"{enough} of {len(got)} LOCATION in {settings['sample_s']:g} s: nothing "
                    "to judge the freshness by")
    measure.series("LOCATION timestamp age", "s", ages, high=settings["freshness_s"])
    # then every timestamp is at most freshness_s old against the vehicle's own UTC, and not
    # ahead of it by more than future_tolerance_s
    res = settings["timing_resolution_s"]
    old = measure.at_most("LOCATION timestamp age, oldest", max(a for _, a in ages), "s",
                          settings["freshness_s"] + res)
    ahead = measure.at_most("LOCATION timestamp ahead of the vehicle's UTC, most",
                            -min(a for _, a in ages), "s", settings["future_tolerance_s"])
    failed = [str(m) for m in (old, ahead) if not m.ok]
    assert not failed, "; ".join(failed) + (
        f" (UTC seconds after the hour, against the vehicle's SYSTEM_TIME; {len(ages)} "
        f"LOCATION; the timing resolution {res:g} s included)")


@pytest.mark.requirement("RID-ENCODING", "FAA-RID-ACCURACY", "GB42590-A")
@pytest.mark.needs("flight")
def test_location_matches_the_vehicle_in_flight(rid, settings, measure):
    # given a vehicle flying flight.distance_m out on flight.bearing_deg at flight.speed_m_s
    s, v, f = settings, rid.vehicle, settings["flight"]
    v.request_stream("VFR_HUD", 5)  # groundspeed to compare with, often enough
    start = take_off(v, f)
    lat, lon = offset(start.lat / 1e7, start.lon / 1e7, f["distance_m"], f["bearing_deg"])
    with (v.link.subscribe(["GLOBAL_POSITION_INT", "VFR_HUD"]) as own,
          rid.transponder.link.subscribe([LOCATION]) as feed):  # fmt: skip
        v.goto(lat, lon, f["alt_m"], speed_m_s=f["speed_m_s"], radius_m=2.0,
               timeout_s=f["leg_timeout_s"])  # fmt: skip
    land(v, f)
    mine = drain(own, lambda m: m.get_srcSystem() == v.sysid and m.get_srcComponent() == 1)
    positions = [x for x in mine if x.msg.get_type() == "GLOBAL_POSITION_INT"]
    huds = [x for x in mine if x.msg.get_type() == "VFR_HUD"]
    locations = drain(feed, rid.transponder.from_autopilot)
    # when each LOCATION of the flight out is set beside the vehicle's own figures
    errors: dict[str, list[tuple[float, float]]] = {
        "position": [], "altitude": [], "speed": [], "direction": []}
    for x in locations:
        pos = nearest(positions, x.t)
        if pos is None or not huds or not airborne(pos.msg):
            continue
        _compare(x, positions, huds, s, errors)
    n = measure.at_least("LOCATION messages in flight", len(errors["position"]), "",
                         MIN_SAMPLES)
    if not n.ok:
        pytest.fail(f"{n} ({len(locations)} LOCATION in all): too few to judge the content")
    # then, 95th percentile, each is within its tolerance; and every field in its encoding
    tolerances = {"position": ("m", s["position_tolerance_m"]),
                  "altitude": ("m", s["altitude_tolerance_m"]),
                  "speed": ("m/s", s["speed_tolerance_m_s"]),
                  "direction": ("deg", s["direction_tolerance_deg"])}  # fmt: skip
    failed = []
    for what, (unit, tol) in tolerances.items():
        points = errors[what]
        if not points:
            failed.append(f"no LOCATION to judge the {what} by (moving faster than "
                          f"{s['min_speed_m_s']:g} m/s)")
            continue
        measure.series(f"LOCATION {what} error", unit, points, high=tol)
        values = [e for _, e in points]
        measure.record_value(f"LOCATION {what} error, largest", max(values), unit)
        m = measure.at_most(f"LOCATION {what} error, 95th percentile", p95(values), unit, tol)
        if not m.ok:
            failed.append(str(m))
    bad = [why for x in locations if (why := _encoding_error(x.msg))]
    enc = measure.at_most("LOCATION fields outside their encodings", len(bad), "", 0)
    if not enc.ok:
        failed.append(f"{enc}: {'; '.join(sorted(set(bad))[:3])}")
    assert not failed, "; ".join(failed) + f" ({n.value:g} LOCATION in flight)"


def _compare(x: Timed, positions: list[Timed], huds: list[Timed], s: dict,
             errors: dict) -> None:
    """The vehicle's own figures at the LOCATION's arrival (interpolated between its messages
    around it), and how far the LOCATION is from each."""
    loc, t = x.msg, x.t
    lat = interpolate(positions, t, lambda m: m.lat / 1e7)
    lon = interpolate(positions, t, lambda m: m.lon / 1e7)
    if loc.latitude == 0 and loc.longitude == 0:
        errors["position"].append((t, math.inf))  # unknown in flight: as wrong as can be
    else:
        errors["position"].append(
            (t, ground_distance_m(loc.latitude / 1e7, loc.longitude / 1e7, lat, lon)))
    alt = interpolate(positions, t, lambda m: m.alt / 1000)
    errors["altitude"].append((t, abs(loc.altitude_geodetic - alt)))
    speed = interpolate(huds, t, lambda m: m.groundspeed)
    errors["speed"].append((t, math.inf if loc.speed_horizontal == UNKNOWN_HSPEED
                            else abs(loc.speed_horizontal / 100 - speed)))
    vn = interpolate(positions, t, lambda m: m.vx / 100)
    ve = interpolate(positions, t, lambda m: m.vy / 100)
    if math.hypot(vn, ve) >= s["min_speed_m_s"]:
        course = math.degrees(math.atan2(ve, vn)) % 360
        errors["direction"].append((t, 180.0 if loc.direction == UNKNOWN_DIRECTION
                                    else angle_diff_deg(loc.direction / 100, course)))


def _encoding_error(loc: Any) -> str:
    """Why a LOCATION field is outside its encoding (common.xml), or ""."""
    if not (loc.direction <= 35999 or loc.direction == UNKNOWN_DIRECTION):
        return f"direction {loc.direction} cdeg (0..35999, 36100 unknown)"
    if not (loc.speed_horizontal <= 25425 or loc.speed_horizontal == UNKNOWN_HSPEED):
        return f"speed_horizontal {loc.speed_horizontal} cm/s (<= 25425, 25500 unknown)"
    if not (abs(loc.speed_vertical) <= 6200 or loc.speed_vertical == UNKNOWN_VSPEED):
        return f"speed_vertical {loc.speed_vertical} cm/s (+-6200, 6300 unknown)"
    if not (abs(loc.latitude) <= 900_000_000 and abs(loc.longitude) <= 1_800_000_000):
        return f"position {loc.latitude}, {loc.longitude} degE7"
    if not (0 <= loc.timestamp <= 3600 or loc.timestamp == UNKNOWN_TIME):
        return f"timestamp {loc.timestamp} s (0..3600, 0xFFFF unknown)"
    return ""


@pytest.mark.requirement("RID-STATUS", "GB42590-A")
@pytest.mark.needs("flight")
def test_location_status_follows_ground_and_air(rid, settings, measure):
    # given a vehicle disarmed on the ground with its transponder healthy
    v, f = rid.vehicle, settings["flight"]
    hold = f["hold_s"]
    phases = [("on the ground before the flight", GROUND,
               rid.transponder.collect(hold, (LOCATION,)))]
    # when it takes off and hovers, then lands and disarms
    take_off(v, f)
    phases.append(("flying", AIRBORNE, rid.transponder.collect(hold, (LOCATION,))))
    land(v, f)
    phases.append(("on the ground after landing", GROUND,
                   rid.transponder.collect(hold, (LOCATION,))))
    # then LOCATION status says GROUND on the ground and AIRBORNE in the air, every time
    failed = []
    for when, expected, got in phases:
        said = Counter(status_name(x.msg.status) for x in got)
        wrong = sum(n for name, n in said.items() if name != status_name(expected))
        m = measure.at_most(f"LOCATION status not {status_name(expected)} {when}", wrong, "", 0)
        if not got:
            failed.append(f"no LOCATION {when} ({hold:g} s)")
        elif not m.ok:
            failed.append(f"{m} (said {dict(said)})")
    assert not failed, "; ".join(failed)
