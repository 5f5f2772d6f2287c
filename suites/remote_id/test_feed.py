"""What the autopilot feeds its Remote ID transponder, on the ground: OPEN_DRONE_ID_LOCATION at
least once a second, BASIC_ID, SYSTEM, OPERATOR_ID and SELF_ID each at least every 3 s (rates
in vehicle time, from arrivals on the transponder's channel), and the operator's data the
ground station gave (identity, operator, purpose, location) passed on intact.

Timing: arrivals are stamped with the vehicle clock, which the harness reads to within
`timing_resolution_s`; a figure beyond its limit by no more than that is not judged a failure
(the measurement cannot tell), and the figure says so."""

from __future__ import annotations

import pytest

from drivers.services.remote_id import LOCATION, STATIC
from suites.remote_id.timing import longest_gap, mean_interval


@pytest.mark.requirement("RID-LOCATION-RATE", "GB42590-4.2", "GB42590-A")
def test_location_is_sent_at_least_once_a_second(rid, settings, measure):
    # given a vehicle with Open Drone ID on and its transponder healthy, when we listen on the
    # transponder's channel for sample_s vehicle seconds
    start = rid.vehicle.link.clock.now()
    got = rid.transponder.collect(settings["sample_s"], (LOCATION,))
    times = [x.t for x in got]
    # then LOCATION arrives at least once a second on average, the longest gap on record
    limit, res = settings["location_max_interval_s"], settings["timing_resolution_s"]
    measure.record_value("LOCATION messages", len(times), "")
    measure.record_value("LOCATION longest gap", longest_gap(times, start, start +
                                                              settings["sample_s"]), "s")
    m = measure.at_most("LOCATION mean interval", mean_interval(times), "s", limit + res)
    assert m.ok, (f"{m} (the limit {limit:g} s and the timing resolution {res:g} s): "
                  f"{len(times)} OPEN_DRONE_ID_LOCATION in {settings['sample_s']:g} s")


@pytest.mark.requirement("RID-STATIC-RATE", "GB42590-A")
def test_static_messages_are_sent_at_least_every_3s(rid, settings, measure):
    # given the transponder healthy and the operator's data given, when we listen on its
    # channel for sample_s vehicle seconds
    start = rid.vehicle.link.clock.now()
    got = rid.transponder.collect(settings["sample_s"], STATIC)
    end = start + settings["sample_s"]
    # then each of BASIC_ID, SYSTEM, OPERATOR_ID and SELF_ID arrives at least every
    # static_max_interval_s: the longest gap of each, the window's edges included
    limit, res = settings["static_max_interval_s"], settings["timing_resolution_s"]
    failed = []
    for name in STATIC:
        times = [x.t for x in got if x.msg.get_type() == name]
        short = name.removeprefix("OPEN_DRONE_ID_")
        measure.record_value(f"{short} messages", len(times), "")
        m = measure.at_most(f"{short} longest gap", longest_gap(times, start, end), "s",
                            limit + res)
        if not m.ok:
            failed.append(f"{m} ({len(times)} {name} in {settings['sample_s']:g} s)")
    assert not failed, "; ".join(failed) + (
        f" (the limit {limit:g} s and the timing resolution {res:g} s)")


@pytest.mark.requirement("RID-OPERATOR", "GB42590-A")
def test_operator_data_reaches_the_transponder_intact(rid, settings, measure):
    # given the ground station has given the operator's data (BASIC_ID, OPERATOR_ID, SELF_ID,
    # SYSTEM with the operator's location, then SYSTEM_UPDATE once a second), when we listen
    # on the transponder's channel long enough for every static message to come twice
    window = 2 * settings["static_max_interval_s"] + 1.0
    got = rid.transponder.collect(window, (*STATIC, "OPEN_DRONE_ID_SYSTEM_UPDATE"))
    newest = {x.msg.get_type(): x.msg for x in got}
    measure.record_value("Open Drone ID messages heard", len(got), "")
    # then each carries what was given: the UAS serial and type, operator ID, purpose text,
    # and the operator's location (present: not 0, 0)
    op, feed = settings["operator"], rid.operator
    wrong = [f"no {name} in {window:g} s" for name in STATIC if name not in newest]
    if (m := newest.get("OPEN_DRONE_ID_BASIC_ID")) is not None:
        uas = bytes(m.uas_id).rstrip(b"\0").decode(errors="replace")
        if uas != op["uas_id"] or m.ua_type == 0:
            wrong.append(f"BASIC_ID says UAS {uas!r} of UA type {m.ua_type}, given "
                         f"{op['uas_id']!r} of a type")
    if (m := newest.get("OPEN_DRONE_ID_OPERATOR_ID")) is not None and (
            _text(m.operator_id) != op["operator_id"]):
        wrong.append(f"OPERATOR_ID says {_text(m.operator_id)!r}, given {op['operator_id']!r}")
    if (m := newest.get("OPEN_DRONE_ID_SELF_ID")) is not None and (
            _text(m.description) != op["self_id"]):
        wrong.append(f"SELF_ID says {_text(m.description)!r}, given {op['self_id']!r}")
    for name in ("OPEN_DRONE_ID_SYSTEM", "OPEN_DRONE_ID_SYSTEM_UPDATE"):
        if (m := newest.get(name)) is None:
            continue
        at = (m.operator_latitude, m.operator_longitude)
        if at == (0, 0):
            wrong.append(f"{name.removeprefix('OPEN_DRONE_ID_')} has no operator location "
                         "(0, 0)")
        elif at != (feed.lat_e7, feed.lon_e7):
            wrong.append(f"{name.removeprefix('OPEN_DRONE_ID_')} says the operator is at "
                         f"{at}, given {(feed.lat_e7, feed.lon_e7)} (degE7)")
    measure.at_most("operator data items missing or changed", len(wrong), "", 0)
    assert not wrong, "; ".join(wrong)


def _text(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode(errors="replace")
    return raw.rstrip(b"\0").decode(errors="replace")
