"""Floods (PGFuzz, NDSS 2021; GB 42590-2023 4.11 to be confirmed, 4.3): valid and garbage frames
at the profile's rate on another channel, for a set time of the vehicle's clock. Meanwhile the
vehicle keeps heartbeating within the nominal gap bound, acknowledges a command within a bound,
and its GCS failsafe still fires as configured when the harness's uplink is cut."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from drivers import frames
from drivers.attacks import Flooder
from drivers.errors import WaitTimeout
from drivers.frames import FrameBuilder
from drivers.link_quality import command_round_trips
from drivers.mavlink import mavlink
from suites.failsafe.test_gcs_loss import cut_uplink, fly, wait_landed
from suites.security.probes import read_param

M = mavlink
FLOODER = (200, 191)  # not a ground station: its heartbeats must not count as the GCS's


def flood_frames(
    vehicle_sysid: int, garbage_ratio: float, seed: int, count: int = 200
) -> list[bytes]:
    """A fixed mix (same seed, same bytes): requests the vehicle answers, heartbeats and telemetry
    of an onboard computer, and garbage (random bytes, bad CRC, truncated frames)."""
    rng = random.Random(f"flood:{seed}")
    sender = FrameBuilder(*FLOODER)
    valid = [
        M.MAVLink_param_request_read_message(vehicle_sysid, 1, b"", 0),
        M.MAVLink_timesync_message(0, 1),
        M.MAVLink_heartbeat_message(
            M.MAV_TYPE_ONBOARD_CONTROLLER, M.MAV_AUTOPILOT_INVALID, 0, 0, 4, 3
        ),
        M.MAVLink_attitude_message(0, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0),
    ]
    out = []
    for i in range(count):
        frame = sender.frame(valid[i % len(valid)])
        if rng.random() < garbage_ratio:
            frame = rng.choice([
                lambda f: bytes(rng.getrandbits(8) for _ in range(rng.randint(8, 64))),
                lambda f: frames.bad_crc(f, rng.randint(0, 15)),
                lambda f: frames.truncate(f, rng.randint(1, len(f) - 1)),
            ])(frame)  # fmt: skip
        out.append(frame)
    return out


def flooder(vehicle: Any, vehicle_driver: Any, settings: dict[str, Any], profile: Any) -> Flooder:
    flood = settings["flood"]
    urls = list(getattr(vehicle_driver, "urls", None) or [vehicle_driver.ensure_running()])
    if flood["channel"] >= len(urls):
        pytest.skip(
            f"the vehicle serves {len(urls)} channel(s); flood.channel is {flood['channel']}"
        )
    seed = int(profile.vehicle.get("seed", 0))
    return Flooder(
        urls[flood["channel"]],
        flood_frames(vehicle.sysid, flood["garbage_ratio"], seed),
        flood["rate_hz"],
    )


def autopilot(vehicle: Any):
    return lambda m: m.get_srcSystem() == vehicle.sysid and m.get_srcComponent() == vehicle.compid


@pytest.mark.requirement("ROB-FLOOD", "MAV-HEARTBEAT-GAP", "GB42590-4.11")
def test_heartbeats_continue_under_a_flood(vehicle, vehicle_driver, settings, profile, measure):
    # given a connected vehicle, and a flood of valid and garbage frames on another channel
    flood = settings["flood"]
    link = vehicle.link
    with flooder(vehicle, vehicle_driver, settings, profile) as f:
        start = link.clock.now()
        f.start(link.clock, flood["duration_s"])
        # when the flood lasts duration_s of the vehicle's time
        beats = link.collect(["HEARTBEAT"], flood["duration_s"], autopilot(vehicle))
        f.wait()
    end = start + flood["duration_s"]
    # then its heartbeats keep coming, no gap longer than the bound
    times = [start, *(b.t for b in beats), end]
    gap = max(b - a for a, b in itertools.pairwise(times))
    measure.record_value("flood rate achieved", f.sent / flood["duration_s"], "frames/s")
    m = measure.at_most("largest heartbeat gap under the flood", gap, "s", flood["max_gap_s"])
    assert f.error is None, f.error
    assert f.sent >= 0.9 * flood["rate_hz"] * flood["duration_s"], f"only {f.sent} frames flooded"
    assert m.ok, f"{m} ({len(beats)} heartbeats while {f.sent} frames flooded)"


@pytest.mark.requirement("ROB-FLOOD", "MAV-COMMAND", "GB42590-4.11")
def test_commands_are_acknowledged_under_a_flood(
    vehicle, vehicle_driver, settings, profile, measure
):
    # given a flood of valid and garbage frames on another channel
    flood = settings["flood"]
    bound = flood["ack_within_s"]
    with flooder(vehicle, vehicle_driver, settings, profile) as f:
        f.start(vehicle.link.clock, flood["duration_s"])
        # when we send a harmless command every second, resent every 0.25 s until the bound
        probes = command_round_trips(
            vehicle,
            max(3, int(flood["duration_s"]) - 2),
            interval_s=1.0,
            ack_timeout_s=0.25,
            within_s=bound,
        )
        f.close()
    # then each is acknowledged within the bound
    late = [p for p in probes if p.rtt_s is None or p.rtt_s > bound]
    rtts = [p.rtt_s for p in probes if p.rtt_s is not None]
    measure.record_value(
        "slowest acknowledged command under the flood", max(rtts, default=float("nan")), "s"
    )
    m = measure.at_most(f"commands not acknowledged within {bound:g} s", len(late), "", 0)
    assert f.error is None, f.error
    assert m.ok, f"{m} (of {len(probes)}, while {f.sent} frames flooded)"


@pytest.mark.requirement("ROB-FLOOD", "MAV-PARAM", "MAV-COMMAND", "GB42590-4.11")
def test_vehicle_answers_again_after_a_flood(vehicle, vehicle_driver, settings, profile, measure):
    # given a flood of valid and garbage frames on another channel, ending in a burst of
    # parameter requests, whose sender then leaves (its answers wait for a channel no one reads)
    flood = settings["flood"]
    link = vehicle.link
    sender = FrameBuilder(*FLOODER)
    requests = [  # indexed reads of different parameters: each one a reply to queue
        sender.frame(M.MAVLink_param_request_read_message(vehicle.sysid, vehicle.compid, b"", i))
        for i in range(flood["request_burst"])
    ]
    with flooder(vehicle, vehicle_driver, settings, profile) as f:
        f.start(link.clock, flood["duration_s"])
        f.wait()
        f.burst(requests)
        f.close()
    # when the harness reads a parameter and sends a command, retrying for recover_s
    end = link.clock.now()
    deadline = end + flood["recover_s"]
    answered = None
    while answered is None and link.clock.now() < deadline:
        try:
            read_param(vehicle, settings["probe"]["param"], timeout_s=0.5, tries=1)
            answered = link.clock.now()
        except WaitTimeout:
            continue
    probes = command_round_trips(vehicle, 1, interval_s=0.0, ack_timeout_s=0.5, within_s=2.0)
    # then both services answer again within the bound
    took = (answered if answered is not None else float("inf")) - end
    m = measure.at_most("time until a parameter read is answered after the flood", took, "s",
                        flood["recover_s"])  # fmt: skip
    measure.record_value("frames flooded", f.sent, "")
    assert m.ok, f"{m}: the parameter service stayed silent after {f.sent} flooded frames"
    assert probes[0].rtt_s is not None, "a command was not acknowledged after the flood"


@pytest.mark.requirement("ROB-FLOOD", "AP-FS-GCS", "GB42590-4.3")
@pytest.mark.needs("flight")
def test_gcs_failsafe_fires_under_a_flood(
    proxy, vehicle, vehicle_driver, settings, profile, measure
):
    # given a flying vehicle with the GCS failsafe configured, and a flood on another channel
    fs = settings["failsafe"]
    fly(vehicle, fs)
    timeout, tol = fs["gcs_timeout_s"], fs["tolerance_s"]
    with flooder(vehicle, vehicle_driver, settings, profile) as f:
        f.start(vehicle.link.clock, timeout + tol + 10)
        # when the harness's uplink is lost
        cut = cut_uplink(vehicle, proxy, fs, outage_s=timeout + tol + 60)
        f.close()
    measure.record_value("frames flooded", f.sent, "")
    # then the failsafe fires on time with the configured action, flood or not
    fired = cut.after_t is not None
    not_late = measure.at_most(
        "failsafe no later than: last beat in the old mode",
        cut.before_t - cut.last_heartbeat_t,
        "s",
        timeout + tol,
    )
    not_early = measure.at_least(
        "failsafe no earlier than: first beat in the new mode",
        (cut.after_t or float("inf")) - cut.last_heartbeat_t, "s", timeout - tol,
    )  # fmt: skip
    assert fired, f"the mode never changed while {f.sent} frames flooded"
    assert not_late.ok and not_early.ok and cut.mode == fs["action"], (
        f"{not_late}; {not_early}; mode {cut.mode}")  # fmt: skip
    wait_landed(vehicle, fs["land_timeout_s"])
