"""GNSS radio security (GB 42590-2023 4.3, "warning on navigation failure", and low-altitude radio
security; both mappings are interpretations): a hovering vehicle loses its GNSS fix, is jammed, or
is spoofed (its reported position jumps, or drifts slowly, away from the truth). It must notice
within a bound (any flag: GPS_RAW_INT fix, EKF_STATUS_REPORT flags, SYS_STATUS GPS health), warn
its operator (a STATUSTEXT of severity WARNING or worse), take its configured action (ArduPilot
Copter: the EKF failsafe, FS_EKF_ACTION) when it can no longer navigate, and not fly after a
false position: the TRUE position (SIMSTATE, the simulator's truth, which ArduPilot SITL and the
built-in simulator both send) must stay within a stated distance of where it was holding.

Faults go in through ArduPilot SITL's parameters (SIM_GPS1_ENABLE, SIM_GPS1_JAM,
SIM_GPS1_GLTCH_X/Y in degrees), which the built-in simulator takes too; the fixture puts them
back, and conftest.py hands the next check a fresh vehicle. Times count from just before the
parameter was sent, so they include its trip to the vehicle. A wait runs twice the bound it
measures, so a late vehicle gets its figure."""

from __future__ import annotations

import pytest

from drivers.mavlink import mavlink
from drivers.services.vehicle import ground_distance_m
from suites.gnss.episode import (
    M_PER_DEG_LAT,
    Episode,
    bring_down,
    hover,
    mode_name,
    run,
    want_truth,
)

NO_FIX = mavlink.GPS_FIX_TYPE_2D_FIX  # below this (0 no GPS, 1 no fix): the fix is lost
GLITCHING = mavlink.EKF_GPS_GLITCHING
POS_ABS = mavlink.EKF_POS_HORIZ_ABS
GPS_SENSOR = mavlink.MAV_SYS_STATUS_SENSOR_GPS
WAIT_FACTOR = 2.0


def _lost_fix(m) -> bool:
    return m.fix_type < NO_FIX


def _nav_flagged(m) -> bool:
    return bool(m.flags & GLITCHING or not m.flags & POS_ABS)


def _gps_unhealthy(m) -> bool:
    return bool(m.onboard_control_sensors_enabled & GPS_SENSOR
                and not m.onboard_control_sensors_health & GPS_SENSOR)  # fmt: skip


def _judge_failure(vehicle, ep: Episode, settings, measure, what: str) -> list[str]:
    """Detection (a flag), warning (a STATUSTEXT) and the configured action, each in time."""
    s, failed = settings, []
    seen = [t for t in (ep.first("GPS_RAW_INT", _lost_fix),
                        ep.first("EKF_STATUS_REPORT", _nav_flagged),
                        ep.first("SYS_STATUS", _gps_unhealthy)) if t is not None]
    detect = measure.at_most(f"{what}: first flag (GPS_RAW_INT fix lost, EKF_STATUS_REPORT GPS "
                             "glitching or no absolute position, SYS_STATUS GPS unhealthy)",
                             min(seen, default=float("inf")), "s",
                             s["detect_within_s"])  # fmt: skip
    if not detect.ok:
        failed.append(f"{what} not flagged in time: {detect}")
    warned_t, _ = ep.warned(s["warn_text"])
    warn = measure.at_most(f"{what}: first warning STATUSTEXT",
                           float("inf") if warned_t is None else warned_t, "s",
                           s["warn_within_s"])  # fmt: skip
    if not warn.ok:
        failed.append(f"{what} not announced in time: {warn} (texts: {ep.texts()[:6]})")
    changed = ep.new_mode()
    expected = s["action"]
    took = measure.at_most(f"{what}: failsafe action (first HEARTBEAT in a new mode)",
                           float("inf") if changed is None else changed.t - ep.t0, "s",
                           s["action_within_s"])  # fmt: skip
    if changed is None:
        failed.append(f"no action on the {what}: the vehicle stayed in "
                      f"{mode_name(vehicle, ep.mode0)}; {took}")  # fmt: skip
    else:
        mode = mode_name(vehicle, changed.msg.custom_mode)
        if not took.ok:
            failed.append(f"{what}: the action came late: {took} ({mode})")
        if mode != expected:
            failed.append(f"{what}: the failsafe action was {mode}, FS_EKF_ACTION asks for "
                          f"{expected}")  # fmt: skip
    return failed


@pytest.mark.requirement("GB42590-4.3", "AP-FS-EKF")
@pytest.mark.needs("flight")
def test_gnss_loss_is_warned_and_acted_on(vehicle, settings, measure):
    # given a vehicle hovering in GUIDED with the EKF failsafe set to the profile's action
    hover(vehicle, settings)
    watch = WAIT_FACTOR * max(settings["action_within_s"], settings["warn_within_s"])
    # when its GNSS receiver loses the fix (SIM_GPS1_ENABLE 0)
    ep = run(vehicle, lambda: vehicle.set_param("SIM_GPS1_ENABLE", 0), watch)
    failed = _judge_failure(vehicle, ep, settings, measure, "GNSS loss")
    bring_down(vehicle, settings)
    # then it flags the loss, warns, and takes the configured action, each within its bound
    assert not failed, "; ".join(failed)


@pytest.mark.requirement("GB42590-4.3", "GNSS-JAM", "AP-FS-EKF")
@pytest.mark.needs("flight")
def test_jamming_is_detected_and_acted_on(vehicle, settings, measure):
    # given a vehicle hovering in GUIDED with the EKF failsafe set to the profile's action
    hover(vehicle, settings)
    watch = WAIT_FACTOR * max(settings["action_within_s"], settings["warn_within_s"])
    # when its GNSS receiver is jammed (SIM_GPS1_JAM 1: the fix comes and goes, accuracy of
    # hundreds of metres, the position wanders)
    ep = run(vehicle, lambda: vehicle.set_param("SIM_GPS1_JAM", 1), watch)
    failed = _judge_failure(vehicle, ep, settings, measure, "GNSS jamming")
    bring_down(vehicle, settings)
    # then it flags the jamming, warns, and takes the configured action, each within its bound
    assert not failed, "; ".join(failed)


@pytest.mark.requirement("GB42590-4.3", "GNSS-SPOOF")
@pytest.mark.needs("flight")
@pytest.mark.parametrize("kind", ["jump", "drift"])
def test_spoofed_position_is_detected_and_not_followed(vehicle, settings, measure, kind):
    # given a vehicle hovering in GUIDED, and the simulator's truth (SIMSTATE)
    s = settings["spoof"][kind]
    hover(vehicle, settings)
    want_truth(vehicle)
    offset_m = s["offset_m"]
    if kind == "jump":
        # when the reported position jumps offset_m north (SIM_GPS1_GLTCH_X, degrees)
        ep = run(vehicle, lambda: vehicle.set_param("SIM_GPS1_GLTCH_X", offset_m / M_PER_DEG_LAT),
                 WAIT_FACTOR * s["detect_within_s"] + s["hold_s"])  # fmt: skip
    else:
        # when it drifts north at rate_m_s until offset_m (set every half second)
        ramp_s = offset_m / s["rate_m_s"]
        sent = {"m": 0.0}

        def step(elapsed: float) -> None:
            want = min(offset_m, s["rate_m_s"] * elapsed)
            if want - sent["m"] >= 0.25 or (want == offset_m and sent["m"] < offset_m):
                vehicle.set_param("SIM_GPS1_GLTCH_X", want / M_PER_DEG_LAT)
                sent["m"] = want

        ep = run(vehicle, lambda: None, ramp_s + s["hold_s"], step)
    bring_down(vehicle, settings)
    # then it flags the spoofing (EKF_STATUS_REPORT GPS glitching, or a STATUSTEXT) in time
    failed = []
    times = [t for t in (ep.first("EKF_STATUS_REPORT", lambda m: m.flags & GLITCHING),
                         ep.warned(settings["glitch_text"])[0]) if t is not None]
    detect = measure.at_most(f"spoofing ({kind}): first GPS glitching flag or warning",
                             min(times, default=float("inf")), "s", s["detect_within_s"])
    if not detect.ok:
        failed.append(f"spoofing ({kind}) not detected in time: {detect} "
                      f"(texts: {ep.texts()[:6]})")  # fmt: skip
    # and its true position stays within max_deviation_m of where it was holding
    track = ep.deviation()
    measure.series(f"true position off the hover point ({kind})", "m", track,
                   high=settings["max_deviation_m"])  # fmt: skip
    assert track, "no SIMSTATE (the simulator's truth) arrived during the episode"
    far = measure.at_most(f"spoofing ({kind}): farthest the true position went from the hover "
                          f"point (false position {offset_m:g} m off)",
                          max(d for _, d in track), "m", settings["max_deviation_m"])  # fmt: skip
    if not far.ok:
        failed.append(f"the vehicle followed the false position: {far}")
    pos = vehicle.latest("GLOBAL_POSITION_INT")
    truth = vehicle.latest("SIMSTATE")
    if pos is not None and truth is not None:
        measure.record_value(f"its own position estimate off the truth at the end ({kind})",
                             ground_distance_m(pos.lat / 1e7, pos.lon / 1e7, truth.lat / 1e7,
                                               truth.lng / 1e7), "m")  # fmt: skip
    assert not failed, "; ".join(failed)
