"""Losing Remote ID in flight (mavlink.io Open Drone ID: a component that stops hearing the
transponder declares a Remote ID malfunction in the LOCATION status and tells the operator):
the transponder falls silent while the vehicle flies, and within loss_report_s of its last
report the vehicle warns (a STATUSTEXT of severity WARNING or worse) and the LOCATION it still
sends says REMOTE_ID_SYSTEM_FAILURE. Each is watched for twice its bound, so a late one is
timed, not merely missed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from drivers.link.connection import Timed
from drivers.mavlink import mavlink
from drivers.services.remote_id import LOCATION, status_name
from suites.remote_id.flight import land, take_off
from suites.remote_id.test_location import drain

FAILURE = mavlink.MAV_ODID_STATUS_REMOTE_ID_SYSTEM_FAILURE
WARNING = mavlink.MAV_SEVERITY_WARNING
WAIT_FACTOR = 2.0  # watch this many times the bound, so a late report is timed


@dataclass(frozen=True)
class Loss:
    last_report_t: float  # vehicle time of the transponder's last HEARTBEAT and ARM_STATUS
    watched_s: float
    texts: list[Timed]  # the vehicle's STATUSTEXTs after it
    locations: list[Timed]  # the LOCATIONs the autopilot sent after it


def fly_and_lose_the_transponder(rid: Any, settings: dict[str, Any]) -> Loss:
    """Take off, hover; the transponder falls silent; watch; land."""
    v, f = rid.vehicle, settings["flight"]
    take_off(v, f)
    watch = WAIT_FACTOR * settings["loss_report_s"]
    with (v.link.subscribe(["STATUSTEXT"]) as texts,
          rid.transponder.link.subscribe([LOCATION]) as feed):  # fmt: skip
        last = rid.transponder.go_silent()
        v.link.elapse(max(0.0, last + watch - v.link.clock.now()))
    land(v, f)
    return Loss(
        last, watch,
        [x for x in drain(texts, lambda m: m.get_srcSystem() == v.sysid) if x.t >= last],
        [x for x in drain(feed, rid.transponder.from_autopilot) if x.t >= last],
    )  # fmt: skip


@pytest.mark.requirement("RID-FAILURE", "GB42590-4.2")
@pytest.mark.needs("flight")
def test_transponder_lost_in_flight_is_reported(rid, settings, measure):
    # given a flying vehicle, when its transponder falls silent
    loss = fly_and_lose_the_transponder(rid, settings)
    # then the vehicle warns the operator within loss_report_s of the last report
    warnings = [x for x in loss.texts if x.msg.severity <= WARNING
                and re.search(settings["loss_text"], x.msg.text)]  # fmt: skip
    said = "; ".join(f"{x.t - loss.last_report_t:.1f} s: {x.msg.text}" for x in loss.texts[:6])
    if not warnings:
        pytest.fail(f"no warning (STATUSTEXT, severity WARNING or worse, matching "
                    f"{settings['loss_text']!r}) in the {loss.watched_s:g} s after the "
                    f"transponder's last report (said: {said or 'nothing'})")
    m = measure.at_most("transponder loss warned after", warnings[0].t - loss.last_report_t,
                        "s", settings["loss_report_s"] + settings["timing_resolution_s"])
    assert m.ok, f"{m}: {warnings[0].msg.text!r} (said: {said})"


@pytest.mark.requirement("RID-FAILURE", "GB42590-A")
@pytest.mark.needs("flight")
def test_transponder_lost_in_flight_sets_location_status_failure(rid, settings, measure):
    # given a flying vehicle, when its transponder falls silent
    loss = fly_and_lose_the_transponder(rid, settings)
    # then the LOCATION the autopilot sends says REMOTE_ID_SYSTEM_FAILURE within loss_report_s
    failed = [x for x in loss.locations if x.msg.status == FAILURE]
    said = sorted({status_name(x.msg.status) for x in loss.locations})
    if not failed:
        pytest.fail(f"LOCATION status never REMOTE_ID_SYSTEM_FAILURE in the {loss.watched_s:g} "
                    f"s after the transponder's last report: {len(loss.locations)} LOCATION "
                    f"said {', '.join(said) or 'nothing'}")
    m = measure.at_most("LOCATION status REMOTE_ID_SYSTEM_FAILURE after",
                        failed[0].t - loss.last_report_t, "s",
                        settings["loss_report_s"] + settings["timing_resolution_s"])
    assert m.ok, f"{m} (statuses said after the loss: {', '.join(said)})"
