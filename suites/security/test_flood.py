"""Floods (PGFuzz, NDSS 2021; GB 42590-2023 4.11 to be confirmed, 4.3): valid and garbage frames
at the profile's rate on another channel, for a set time of the vehicle's clock. Meanwhile the
vehicle keeps heartbeating within the nominal gap bound, acknowledges a command within a bound,
and its GCS failsafe still fires as configured when the harness's uplink is cut."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.attack import frames
from drivers.attack.flooder import Flooder
from drivers.attack.frames import FrameBuilder
from drivers.attack.probes import read_param
from drivers.errors import WaitTimeout
from drivers.impair.uplink import cut_uplink
from drivers.mavlink import mavlink
from drivers.pytest_vehicle import restart_after
from drivers.services.flavour import per_family
from drivers.services.flight import fly, wait_landed
from drivers.services.link_quality import command_round_trips

M = mavlink
FLOODER = (200, 191)  # not a ground station: its heartbeats must not count as the GCS's
BURST_HZ = 1000.0  # parameter reads a vehicle second in the burst: faster than a vehicle answers
LEAVE_WITHIN_S = 5.0  # vehicle seconds the flooder waits for the vehicle to see it go


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


def assert_flooded(f: Flooder, flood: dict[str, Any], measure: Any) -> None:
    """The flood's precondition: it reached (90 % of) the profile's rate in vehicle time. A
    flooder that fell short (the harness starved of CPU at a high speedup) tested less than the
    check claims, so the check fails saying so rather than pass."""
    assert f.error is None, f.error
    m = measure.at_least("flood rate achieved", f.achieved_hz, "frames/s", 0.9 * flood["rate_hz"])
    assert m.ok, (f"{m}: the harness's flood fell short of flood.rate_hz = {flood['rate_hz']:g} "
                  f"({f.flooded} frames in {f.flooded_s:.1f} vehicle s): it proves nothing")


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
    assert_flooded(f, flood, measure)
    m = measure.at_most("largest heartbeat gap under the flood", gap, "s", flood["max_gap_s"])
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
    assert_flooded(f, flood, measure)
    m = measure.at_most(f"commands not acknowledged within {bound:g} s", len(late), "", 0)
    assert m.ok, f"{m} (of {len(probes)}, while {f.sent} frames flooded)"


def param_silence_s(vehicle: Any, param: str, since: float, watch_s: float, wait_s: float) -> float:
    """The longest time reads of `param` went unanswered from `since` (vehicle seconds), a read
    every 0.5 s: over watch_s, so a service that answers once and then stalls is seen (the
    vehicle may take a read before the attack's last frames); a silence still running at the
    end of watch_s is followed until an answer, and is inf if none comes within wait_s."""
    link = vehicle.link
    last_answer, longest = since, 0.0
    while True:
        asked = link.clock.now()
        try:
            read_param(vehicle, param, timeout_s=0.5, tries=1)
        except WaitTimeout:
            if link.clock.now() - last_answer >= wait_s:
                return float("inf")
            continue
        now = link.clock.now()
        longest, last_answer = max(longest, now - last_answer), now
        if now - since >= watch_s:
            return longest
        link.elapse(max(0.0, asked + 0.5 - now))


def flood_then_leave(
    vehicle: Any, vehicle_driver: Any, settings: dict[str, Any], profile: Any, measure: Any
) -> tuple[float, float | None, int]:
    """One attack: the paced flood for duration_s, then the burst of indexed parameter reads at
    BURST_HZ, then the flooder leaves right after the last (half-closing, so the vehicle reads
    the whole burst before it sees the sender go). A burst faster than a vehicle answers keeps
    answers queued for the flooder's channel up to the moment it leaves, whatever the timing
    of either side: that is the precondition of ArduPilot's parameter-service stall, met on
    every attempt. Returns when the vehicle saw the sender go (vehicle time), when it was first
    seen answering the burst (None: never), and the frames sent."""
    flood = settings["flood"]
    sender = FrameBuilder(*FLOODER)
    # indexed reads of parameters the vehicle has (PARAM_VALUE says how many), each one a reply
    # to queue; from index 1: the flood's own reads ask for index 0, so an answer to the burst
    # is told apart
    known = vehicle.latest("PARAM_VALUE")
    count = known.param_count if known is not None and known.param_count > 1 else 2
    requests = [
        sender.frame(M.MAVLink_param_request_read_message(
            vehicle.sysid, vehicle.compid, b"", 1 + i % (count - 1)))
        for i in range(flood["request_burst"])
    ]  # fmt: skip

    def answers_burst(m: Any) -> bool:
        return (m.get_type() == "PARAM_VALUE" and m.get_srcSystem() == vehicle.sysid
                and m.param_index >= 1)  # fmt: skip

    clock = vehicle.link.clock
    with flooder(vehicle, vehicle_driver, settings, profile) as f:
        f.start(clock, flood["duration_s"])
        f.wait()
        assert_flooded(f, flood, measure)
        answered = f.send_paced(requests, BURST_HZ, clock, answers_burst)
        closed = f.leave(clock, LEAVE_WITHIN_S)
    return (clock.now() if closed is None else closed), answered, f.sent


@pytest.fixture
def fresh_vehicle_after(request: pytest.FixtureRequest, vehicle_driver: Any) -> Iterator[None]:
    """The recovery attack may leave the vehicle's service stalled for good (ArduPilot: an
    answer queued for the departed sender holds the channel's queue): the next check gets a
    fresh vehicle, not this one's state. Asked for before `vehicle`, so it runs after it."""
    yield
    restart_after(request.node, vehicle_driver,
                  "restarted after the flood recovery attack: it may leave a service stalled")


@pytest.mark.requirement("ROB-FLOOD", "MAV-PARAM", "MAV-COMMAND", "GB42590-4.11")
def test_vehicle_answers_again_after_a_flood(
    fresh_vehicle_after, vehicle, vehicle_driver, settings, profile, measure, findings
):
    # given a vehicle whose parameter service answers; the attack (a flood of valid and garbage
    # frames on another channel, a burst of parameter reads, the sender leaving while they are
    # being answered) is repeated `attempts` times, each from a vehicle that answers again (a
    # vehicle may stall after some attacks only: the check says in how many)
    flood = settings["flood"]
    try:
        param = per_family(settings["probe"], vehicle.autopilot, "suites.security.probe")["param"]
    except LookupError as exc:
        pytest.skip(str(exc))
    link = vehicle.link
    silences: list[float] = []
    sent = answered = 0
    if param_silence_s(vehicle, param, link.clock.now(), 0, flood["stall_wait_s"]) == float("inf"):
        pytest.fail(f"the parameter service did not answer before the flood "
                    f"(waited {flood['stall_wait_s']:g} s)")  # fmt: skip
    for _ in range(flood["attempts"]):
        # when the attack ends and the harness reads a parameter every 0.5 s for watch_s
        left, answered_t, frames = flood_then_leave(
            vehicle, vehicle_driver, settings, profile, measure
        )
        sent += frames
        answered += answered_t is not None
        silences.append(
            param_silence_s(vehicle, param, left, flood["watch_s"], flood["stall_wait_s"])
        )
        if silences[-1] == float("inf"):
            break  # silent past stall_wait_s: no vehicle that answers for a next attempt
    probes = command_round_trips(vehicle, 1, interval_s=0.0, ack_timeout_s=0.5, within_s=2.0)
    # then after every attempt no read goes unanswered for longer than recover_s, and a command
    # is acknowledged after the last
    bound = flood["recover_s"]
    stalled = [s for s in silences if s > bound]
    shown = ", ".join("no answer" if s == float("inf") else f"{s:.1f} s" for s in silences)
    measure.record_value("frames flooded", sent, "")
    measure.record_value("attacks whose burst the vehicle was answering when its sender left",
                         answered, "")  # fmt: skip
    measure.record_value("longest silence of the parameter service after a flood",
                         max(silences), "s")  # fmt: skip
    m = measure.at_most(f"attempts after which a parameter read took longer than {bound:g} s",
                        len(stalled), "", 0)  # fmt: skip
    cut_short = (
        f"; no further attempt: no answer within {flood['stall_wait_s']:g} s"
        if len(silences) < flood["attempts"]
        else ""
    )
    stall = (
        f"the parameter service stayed silent longer than {bound:g} s after the flood in "
        f"{len(stalled)} of {len(silences)} attempts (silences: {shown}; {sent} frames "
        f"flooded; the vehicle was answering the burst in {answered} of {len(silences)}"
        f"{cut_short})"
    )
    unacked = probes[0].rtt_s is None
    # each defect its own finding, so that accepting one never hides the other
    if not m.ok:
        findings.add("parameter-service-stalled", "after a flood whose sender left", stall)
    if unacked:
        findings.add("command-unacknowledged", "after a flood", "no COMMAND_ACK after the flood")
    assert m.ok, stall
    assert not unacked, "a command was not acknowledged after the flood"


@pytest.mark.requirement("ROB-FLOOD", "GB42590-4.3", ardupilot="AP-FS-GCS", px4="PX4-DL-LOSS")
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
    assert_flooded(f, settings["flood"], measure)
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
