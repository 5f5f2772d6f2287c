"""Connectivity: the vehicle announces itself at its nominal rate, without the gaps that make a
ground station declare it lost (a peer is usually taken as lost after 4-5 missed beats)."""

import itertools

import pytest

from drivers.link.connection import Timed
from drivers.services.vehicle import Vehicle


def heartbeats(vehicle: Vehicle, duration_s: float) -> list[Timed]:
    return vehicle.link.collect(
        ["HEARTBEAT"],
        duration_s,
        lambda m: m.get_srcSystem() == vehicle.sysid and m.get_srcComponent() == vehicle.compid,
    )


@pytest.mark.requirement("MAV-HEARTBEAT")
def test_heartbeat_rate(vehicle, settings, measure):
    # given a connected vehicle, when we listen for sample_s seconds of its time
    window = settings["sample_s"]
    beats = heartbeats(vehicle, window)
    # then it beats at its nominal rate
    rate = (len(beats) - 1) / (beats[-1].t - beats[0].t) if len(beats) > 2 else len(beats) / window
    low, high = settings["heartbeat_hz"]
    m = measure.within("heartbeat rate", rate, "Hz", low, high)
    assert m.ok, f"{m} ({len(beats)} beats in {window:g} s of vehicle time)"


@pytest.mark.requirement("MAV-HEARTBEAT-GAP")
def test_heartbeat_largest_gap(vehicle, settings, measure):
    # given a connected vehicle, when we listen for sample_s seconds of its time
    window = settings["sample_s"]
    start = vehicle.link.clock.now()
    beats = heartbeats(vehicle, window)
    # then no two beats (nor the window's edges and a beat) are further apart than max_gap_s
    times = [start, *(b.t for b in beats), start + window]
    gap = max(b - a for a, b in itertools.pairwise(times))
    m = measure.at_most("largest heartbeat gap", gap, "s", settings["max_gap_s"])
    assert m.ok, f"{m} ({len(beats)} beats in {window:g} s of vehicle time)"
