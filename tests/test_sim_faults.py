"""The simulator's link and failsafe faults over raw pymavlink, each beside the healthy behaviour
it breaks (so a test shows the fault is what changes the figure). Waits are bounded; vehicle
time is read from ATTITUDE (20 Hz here) or SYSTEM_TIME."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from drivers.attack.frames import FrameBuilder
from tests import test_sim_vehicle as base
from tests.sim_process import launch, stop
from tests.test_sim_vehicle import (
    GUIDED,
    LAND,
    RTL,
    M,
    SimUnderTest,
    _airborne,
    _count,
    _plan,
    _upload,
    mavutil,
)

sim = base.sim  # the fixture that starts simulators (and stops them afterwards)
FAST_ATTITUDE_US = 50_000  # 20 Hz: a fine vehicle clock for the timing tests


def _after(s: SimUnderTest, send: Callable[[], None], mtype: str,
           cond: Callable[[object], bool], vehicle_limit: float) -> float | None:
    """Vehicle seconds from `send()` until a `mtype` meeting `cond` arrives (None: never within
    `vehicle_limit`). The clock is the newest ATTITUDE seen before each message."""
    t0 = now = s.wait("ATTITUDE").time_boot_ms / 1000
    send()
    while now - t0 < vehicle_limit:
        msg = s.wait([mtype, "ATTITUDE"])
        if msg.get_type() == "ATTITUDE":
            now = msg.time_boot_ms / 1000
        elif cond(msg):
            return now - t0
    return None


def _fine_clock(s: SimUnderTest) -> None:
    s.conn.mav.command_long_send(
        1, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0, M.MAVLINK_MSG_ID_ATTITUDE, FAST_ATTITUDE_US,
        0, 0, 0, 0, 0)
    s.wait("COMMAND_ACK", lambda m: m.command == M.MAV_CMD_SET_MESSAGE_INTERVAL)


def _autopilot_loss(s: SimUnderTest, vehicle_s: float) -> tuple[int, int]:
    """(frames received, frames missing by seq) from the autopilot over `vehicle_s` seconds."""
    first = s.wait("SYSTEM_TIME")
    received, lost, last_seq, t0 = 0, 0, first.get_seq(), first.time_boot_ms
    while True:
        msg = s.conn.recv_match(blocking=True, timeout=2.0)
        assert msg is not None, "the simulator fell silent"
        if msg.get_srcComponent() != 1 or msg.get_type() == "BAD_DATA":
            continue
        lost += (msg.get_seq() - last_seq - 1) & 0xFF
        last_seq = msg.get_seq()
        received += 1
        if msg.get_type() == "SYSTEM_TIME" and msg.time_boot_ms - t0 >= vehicle_s * 1000:
            return received, lost


# ---------------------------------------------------------------- link faults

@pytest.mark.parametrize(("fault", "expect_hz"), [(None, 20), ("message_interval_ignored", 4)])
def test_message_interval_ignored_acks_but_keeps_the_rate(sim, fault, expect_hz):
    s = sim(*(["--fault", fault] if fault else []))
    us = 50_000  # 20 Hz asked; ATTITUDE's default is 4 Hz
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, us) == 0
    n = _count(s, "ATTITUDE", 5)
    assert abs(n - 5 * expect_hz) <= 0.1 * 5 * expect_hz + 1, f"{n} ATTITUDE in 5 s"


@pytest.mark.parametrize(
    ("fault", "low", "high"), [(None, 0.0, 0.0), ("drops_frames", 0.025, 0.08)])
def test_drops_frames_leaves_gaps_in_the_sequence(sim, fault, low, high):
    s = sim(*(["--fault", fault] if fault else []))
    _fine_clock(s)  # ~30 frames a second, so 10 s hold ~300 numbered frames
    received, lost = _autopilot_loss(s, 10)
    share = lost / (received + lost)
    assert received > 250 and low <= share <= high, f"{lost} missing of {received + lost}"


@pytest.mark.parametrize(
    ("fault", "low", "high"), [(None, 0.0, 0.1), ("slow_timesync", 0.38, 0.6)])
def test_slow_timesync_answers_late_in_vehicle_time(sim, fault, low, high):
    s = sim(*(["--fault", fault] if fault else []))
    _fine_clock(s)
    sent_ns = s.wait("ATTITUDE").time_boot_ms * 1_000_000
    s.conn.mav.timesync_send(0, 987_654_321)
    reply = s.wait("TIMESYNC", lambda m: m.ts1 == 987_654_321)
    late = (reply.tc1 - sent_ns) / 1e9  # tc1: the vehicle's time as the answer left
    assert low <= late <= high, f"answered {late:.3f} vehicle s after the request"


@pytest.mark.parametrize(
    ("fault", "low", "high"), [(None, 0.0, 0.1), ("slow_command_ack", 0.75, 0.9)])
def test_slow_command_ack_acts_at_once_and_acks_late(sim, fault, low, high):
    s = sim(*(["--fault", fault] if fault else []))
    _fine_clock(s)
    took = _after(
        s, lambda: s.conn.mav.command_long_send(1, 1, M.MAV_CMD_DO_SET_MODE, 0, 1, GUIDED, 0, 0,
                                                0, 0, 0),
        "COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_SET_MODE, 3)
    assert took is not None and low <= took <= high, f"ACK after {took} vehicle s"
    hb = s.wait("HEARTBEAT")
    assert hb.custom_mode == GUIDED  # the command acted


@pytest.mark.parametrize("fault", [None, "ignores_command_retries"])
def test_ignores_command_retries_drops_confirmation_above_zero(sim, fault):
    s = sim(*(["--fault", fault] if fault else []))
    _fine_clock(s)
    # a retransmission (confirmation 1) of a command whose first copy was lost
    took = _after(
        s, lambda: s.conn.mav.command_long_send(1, 1, M.MAV_CMD_DO_SET_MODE, 1, 1, GUIDED, 0, 0,
                                                0, 0, 0),
        "COMMAND_ACK", lambda m: m.command == M.MAV_CMD_DO_SET_MODE, 2)
    mode = s.wait("HEARTBEAT").custom_mode
    if fault is None:
        assert took is not None and mode == GUIDED
    else:
        assert took is None and mode != GUIDED, "the retry was answered or acted on"
        assert s.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == 0  # a first try still works


@pytest.mark.parametrize("fault", [None, "resends_mute_acks"])
def test_resends_mute_acks_of_a_command_resent_too_often(sim, fault):
    s = sim(*(["--fault", fault] if fault else []))
    _fine_clock(s)
    request = M.MAV_CMD_REQUEST_MESSAGE

    def copy(confirmation: int) -> Callable[[], None]:
        return lambda: s.conn.mav.command_long_send(
            1, 1, request, confirmation, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0)

    # a command and 30 resends, each within 1 s of the one before: all answered
    for confirmation in range(31):
        took = _after(s, copy(confirmation), "COMMAND_ACK", lambda m: m.command == request, 1)
        assert took is not None, f"resend {confirmation} unanswered"
    # the 31st resend is answered only when healthy
    took = _after(s, copy(31), "COMMAND_ACK", lambda m: m.command == request, 1.5)
    assert (took is None) == (fault is not None), took
    # and so is the same command asked anew, though it acts (the message it asks for comes)
    seen, t0 = set(), s.boot_s()
    copy(0)()
    while True:  # 1.5 vehicle seconds of what comes back
        msg = s.wait(["COMMAND_ACK", "AUTOPILOT_VERSION", "ATTITUDE"])
        if msg.get_type() != "ATTITUDE":
            seen.add(msg.get_type())
        elif msg.time_boot_ms / 1000 - t0 >= 1.5:
            break
    assert seen == ({"AUTOPILOT_VERSION"} if fault else {"AUTOPILOT_VERSION", "COMMAND_ACK"})
    # another command is still answered
    assert s.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_ATTITUDE, 50_000) == 0


@pytest.mark.parametrize("fault", [None, "mission_ack_not_repeated"])
def test_resent_last_mission_item_is_acked_again(sim, fault):
    # Regression (healthy): the final MISSION_ACK was lost, the GCS resends the last item, and
    # the vehicle says ACCEPTED again; the fault keeps the old silence.
    s = sim(*(["--fault", fault] if fault else []))
    s.wait_warm()
    _fine_clock(s)
    plan = _plan()
    assert _upload(s, plan) == M.MAV_MISSION_ACCEPTED
    took = _after(s, lambda: s.conn.mav.send(plan[-1]), "MISSION_ACK",
                  lambda m: m.type == M.MAV_MISSION_ACCEPTED, 3)
    if fault is None:
        assert took is not None, "no MISSION_ACK for the resent last item"
    else:
        assert took is None, "the fault still re-acknowledged the resent item"


# ---------------------------------------------------------------- failsafe faults

def _gcs_failsafe(s: SimUnderTest) -> None:
    """Fly, go quiet as a GCS, and wait for the GCS failsafe's RTL (FS_GCS_TIMEOUT 5 s)."""
    assert s.set_param("FS_GCS_ENABLE", 1) == 1
    _airborne(s)
    s.gcs_heartbeat()  # the last one
    s.wait("HEARTBEAT", lambda m: m.custom_mode == RTL)


@pytest.mark.parametrize("fault", [None, "failsafe_silent"])
def test_failsafe_silent_acts_without_statustext(sim, fault):
    s = sim(*(["--fault", fault] if fault else []))
    _gcs_failsafe(s)
    # the GCS is back: a healthy vehicle says the failsafe cleared
    _after(s, s.gcs_heartbeat, "STATUSTEXT", lambda m: m.text == "GCS Failsafe Cleared", 2)
    said = [t for t in s.texts if "failsafe" in t.lower()]
    if fault is None:
        assert any(t.startswith("Failsafe: GCS lost") for t in said), said
        assert "GCS Failsafe Cleared" in said, said
    else:
        assert said == [], f"the silent failsafe spoke: {said}"


@pytest.mark.parametrize(
    ("fault", "result"),
    [(None, M.MAV_RESULT_ACCEPTED), ("failsafe_locks_control", M.MAV_RESULT_FAILED)])
def test_failsafe_locks_control_until_disarmed(sim, fault, result):
    s = sim(*(["--fault", fault] if fault else []))
    _gcs_failsafe(s)
    s.gcs_heartbeat()  # the link is back
    assert s.command(M.MAV_CMD_DO_SET_MODE, 1, LAND) == result
    if fault is None:
        return
    s.wait("HEARTBEAT", lambda m: not m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)  # RTL landed
    assert s.command(M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED


# ---------------------------------------------------------------- parameter service

def _peer_reads_then_leaves(port: int, reads: int, wait_for_answers: bool) -> None:
    """A second station on link 1 asks for `reads` parameters by index in one write, then
    half-closes (right away, or once every read was answered) and waits for the simulator
    to close its side (bounded)."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=base.WALL_LIMIT_S)
    sender = FrameBuilder(200, 191)
    peer.sendall(b"".join(
        sender.frame(M.MAVLink_param_request_read_message(1, 1, b"", 1 + i % 60))
        for i in range(reads)))  # fmt: skip
    parser = M.MAVLink(None)
    parser.robust_parsing = True
    answers = 0
    while wait_for_answers and answers < reads:
        answers += sum(m.get_type() == "PARAM_VALUE"
                       for m in parser.parse_buffer(peer.recv(4096)) or [])  # fmt: skip
    peer.shutdown(socket.SHUT_WR)
    while peer.recv(4096):
        pass
    peer.close()


@pytest.mark.parametrize(("fault", "reads", "wait_for_answers", "low", "high"), [
    (None, 200, False, 0.0, 1.0),
    ("param_service_stalls", 200, False, 7.5, 9.5),  # answers queued for a peer gone: stalled
    ("param_service_stalls", 10, True, 0.0, 1.0),  # every answer taken before it left: fine
])  # fmt: skip
def test_param_service_stalls_when_a_peer_leaves_with_answers_queued(
    fault, reads, wait_for_answers, low, high
):
    proc, (port, port1) = launch(*(["--fault", fault] if fault else []), speedup=20, listens=2)
    conn = mavutil.mavlink_connection(f"tcp:127.0.0.1:{port}", source_system=255,
                                      source_component=190, dialect="ardupilotmega")  # fmt: skip
    try:
        s = SimUnderTest(proc, port, conn)
        _fine_clock(s)
        _peer_reads_then_leaves(port1, reads, wait_for_answers)
        # then link 0's reads (one every 0.5 s of vehicle time) are answered again after
        t0 = now = asked = s.boot_s()
        s.conn.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
        while now - t0 < high:
            msg = s.wait(["PARAM_VALUE", "ATTITUDE"])
            if msg.get_type() == "PARAM_VALUE":
                break
            now = msg.time_boot_ms / 1000
            if now - asked >= 0.5:
                s.conn.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
                asked = now
        assert low <= now - t0 < high, f"a read answered {now - t0:.1f} vehicle s after"
    finally:
        conn.close()
        stop(proc)
