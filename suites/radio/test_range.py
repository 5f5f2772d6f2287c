"""Radio range: flying out to the profile's range points, both ends of the radio keep their RSSI
and fade margin above the profile's minimum, and the RSSI follows the distance (falls as the
vehicle flies away). The ground radio is taken to stand where the vehicle takes off, as it does
in the built-in simulator; on a real range, put it there.

RSSI and noise come from RADIO_STATUS in SiK units, converted with dBm ~ raw / 1.9 - 127
(QGroundControl's conversion: a secondary source). Fade margin = RSSI above the reported noise
floor. Reports with 255 (unknown) are left out, never averaged in."""

import math
import queue
import statistics
from dataclasses import dataclass

import pytest

from drivers.link.connection import Link, Subscription
from drivers.services.radio_status import ENDS, Report
from drivers.services.vehicle import Vehicle, ground_distance_m, offset


@dataclass(frozen=True)
class Sample:
    report: Report
    distance_m: float  # from the take-off point (3-D), at the newest position before the report


@dataclass(frozen=True)
class Window:
    name: str  # "near home", "300 m"
    start: float  # vehicle time
    end: float


def hover(link: Link, name: str, hold_s: float) -> Window:
    start = link.clock.now()
    link.elapse(hold_s)
    return Window(name, start, link.clock.now())


def drain(sub: Subscription, lat0: float, lon0: float) -> list[Sample]:
    """The RADIO_STATUS reports the subscription holds, each with the distance flown by then."""
    samples, pos = [], None
    while True:
        try:
            got = sub.queue.get_nowait()
        except queue.Empty:
            return samples
        if got.msg.get_type() == "GLOBAL_POSITION_INT":
            pos = got.msg
        elif pos is not None:
            ground = ground_distance_m(lat0, lon0, pos.lat / 1e7, pos.lon / 1e7)
            samples.append(Sample(Report.of(got), math.hypot(ground, pos.relative_alt / 1000)))


def fly_out_and_back(vehicle: Vehicle, settings: dict) -> tuple[list[Sample], list[Window]]:
    """Take off, hover near home, fly to each range point and hover there, come back and land.
    Returns the RADIO_STATUS samples of the way out and the hover windows."""
    s, link = settings, vehicle.link
    vehicle.wait_armable(s["ready_timeout_s"])
    start = vehicle.latest("GLOBAL_POSITION_INT")
    lat0, lon0 = start.lat / 1e7, start.lon / 1e7
    with link.subscribe(["RADIO_STATUS", "GLOBAL_POSITION_INT"]) as sub:
        vehicle.set_mode("GUIDED")
        vehicle.arm()
        vehicle.takeoff(s["alt_m"], 1.0, s["leg_timeout_s"])
        windows = [hover(link, "near home", s["hold_s"])]
        for d in s["range_points_m"]:
            lat, lon = offset(lat0, lon0, d, s["bearing_deg"])
            vehicle.goto(lat, lon, s["alt_m"], speed_m_s=s["speed_m_s"],
                         radius_m=s["arrive_radius_m"], timeout_s=s["leg_timeout_s"])  # fmt: skip
            windows.append(hover(link, f"{d:g} m", s["hold_s"]))
    samples = [x for x in drain(sub, lat0, lon0) if x.report.t >= windows[0].start]
    vehicle.goto(lat0, lon0, s["alt_m"], speed_m_s=s["speed_m_s"],
                 radius_m=s["arrive_radius_m"], timeout_s=s["leg_timeout_s"])  # fmt: skip
    vehicle.land(s["land_timeout_s"])
    return samples, windows


@pytest.mark.requirement("MAV-RADIO-STATUS", "GB42590-4.11")
@pytest.mark.needs("flight")
def test_rssi_and_fade_margin_along_a_flight_out(vehicle, radio, settings, measure):
    # given the radio settings the profile gives the vehicle (a simulator's range, say)
    for name, value in radio.get("params", {}).items():
        vehicle.set_param(name, value)
    # when the vehicle flies out to each range point and back, hovering at each
    samples, windows = fly_out_and_back(vehicle, settings)
    heard = measure.at_least("RADIO_STATUS reports on the way out", len(samples), "", 1)
    if not heard.ok:
        pytest.fail(f"{heard}: the radio said nothing the whole flight")
    _plot(samples, settings, measure)
    # then, at both ends, RSSI and fade margin stay above the minimum all the way out, and
    # the RSSI follows the distance: the farthest point hears less than near home
    failed = [why for end in ENDS for why in _judge(end, samples, windows, settings, measure)]
    assert not failed, "; ".join(failed)


def _judge(end: str, samples: list[Sample], windows: list[Window], s: dict, measure) -> list[str]:
    """Record one end's figures; return what failed, as people read it."""
    rssi = [v for x in samples if (v := x.report.rssi_dbm(end)) is not None]
    margin = [v for x in samples if (v := x.report.margin_db(end)) is not None]
    if not rssi or not margin:
        return [f"{end}: no known RSSI or noise on the way out (all 255)"]
    judged = [
        measure.at_least(f"{end} RSSI, lowest on the way out", min(rssi), "dBm",
                         s["rssi_min_dbm"]),
        measure.at_least(f"{end} fade margin, lowest on the way out", min(margin), "dB",
                         s["fade_margin_min_db"]),
    ]  # fmt: skip
    missing, medians = [], {}
    for w in windows:
        inside = [v for x in samples if w.start <= x.report.t <= w.end
                  and (v := x.report.rssi_dbm(end)) is not None]  # fmt: skip
        if not inside:
            missing.append(f"{end}: no known RSSI while hovering {w.name}")
            continue
        medians[w.name] = statistics.median(inside)
        measure.record_value(f"{end} RSSI at {w.name}, median", medians[w.name], "dBm")
    near, far = windows[0].name, windows[-1].name
    if s["rssi_drop_min_db"] > 0 and near in medians and far in medians:
        judged.append(measure.at_least(f"{end} RSSI drop from {near} to {far}",
                                       medians[near] - medians[far], "dB", s["rssi_drop_min_db"]))
    return missing + [str(m) for m in judged if not m.ok]


def _plot(samples: list[Sample], s: dict, measure) -> None:
    for end in ENDS:
        rssi = [(x.report.t, x.report.rssi_dbm(end)) for x in samples]
        margin = [(x.report.t, x.report.margin_db(end)) for x in samples]
        measure.series(f"{end} RSSI", "dBm", [(t, v) for t, v in rssi if v is not None],
                       low=s["rssi_min_dbm"])  # fmt: skip
        measure.series(f"{end} fade margin", "dB", [(t, v) for t, v in margin if v is not None],
                       low=s["fade_margin_min_db"])  # fmt: skip
    measure.series("distance from the ground radio", "m",
                   [(x.report.t, x.distance_m) for x in samples])  # fmt: skip
    measure.record_value("farthest distance with a report", max(x.distance_m for x in samples), "m")
