"""The Link against a scripted peer: statistics, vehicle clock, waits, GCS heartbeats, tlog."""

import socket
import threading
import time
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import development

from drivers.errors import VehicleLost, VehicleSilent, WaitTimeout
from drivers.link.connection import UDP_RCVBUF, Link
from drivers.mavlink import frame_header, mavlink, mavutil
from tests.fake_peer import FakePeer


@pytest.fixture
def peer():
    p = FakePeer()
    yield p
    p.close()


@pytest.fixture
def link(peer, tmp_path):
    with Link(peer.url, vehicle_sysid=1, silence_s=2.0, tlog=tmp_path / "t.tlog") as conn:
        yield conn


def feed_clock(peer: FakePeer, until_ms: int, step_ms: int = 100, wall_step: float = 0.005):
    """Play a vehicle whose clock runs at step_ms per wall_step (20x by default), in a thread."""

    def run():
        for t in range(0, until_ms + 1, step_ms):
            peer.system_time(t)
            time.sleep(wall_step)  # pacing of the fake vehicle itself, not a wait for a condition

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def until(predicate, what, wall_s=5.0):
    deadline = time.monotonic() + wall_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_sequence_gaps_become_loss_per_stream(peer, link):
    for seq in (254, 255, 0, 3):
        peer.heartbeat(seq=seq)
    until(lambda: link.stats.stream(1, 1).received == 4, "4 heartbeats")
    assert link.stats.stream(1, 1).lost == 2


def test_frames_outside_the_dialect_count_by_their_own_header(peer, link):
    # PX4 sends messages pymavlink's dialect lacks (CURRENT_MODE, 436); they share its sequence
    # numbers, so a stream that skipped them would count every one as lost
    mode = development.MAVLink_current_mode_message(0, 1 << 16, 1 << 16)
    peer.heartbeat(seq=10)
    peer.send(mode, seq=11)
    peer.heartbeat(seq=12)
    other = FakePeer(sysid=7, compid=42)  # an unknown frame from another sender keeps its source
    frame = other.frame(development.MAVLink_mission_checksum_message(0, 1234), seq=99)
    peer.send_raw(frame)
    until(lambda: link.stats.stream(1, 1).received == 3, "two heartbeats and the unknown frame")
    until(lambda: link.stats.stream(7, 42).received == 1, "the other sender's unknown frame")
    ours = link.stats.stream(1, 1)
    assert (ours.lost, ours.outside_dialect) == (0, {"UNKNOWN_436": 1})
    assert link.stats.stream(7, 42).outside_dialect == {"UNKNOWN_53": 1}
    assert link.stats.stream(0, 0).received == 0  # nothing is filed under pymavlink's blank 0/0
    got = link.latest("UNKNOWN_436")
    assert got and (got.msg.get_srcSystem(), got.msg.get_seq(), got.msg.get_msgId()) == (1, 11, 436)
    other.close()


def test_the_header_of_an_unknown_mavlink1_frame_is_read_too():
    sender = mavlink.MAVLink(None, srcSystem=3, srcComponent=4)
    sender.seq = 77
    buf = development.MAVLink_mission_checksum_message(0, 1).pack(sender, force_mavlink1=True)
    (msg,) = mavlink.MAVLink(None).parse_buffer(buf)
    assert msg.get_type() == "UNKNOWN_53" and msg.get_srcSystem() == 0  # pymavlink leaves it
    hdr = frame_header(msg)
    assert (hdr.srcSystem, hdr.srcComponent, hdr.seq, hdr.msgId) == (3, 4, 77, 53)


def test_bad_frames_are_counted_not_fatal(peer, link):
    frame = bytearray(peer.frame(peer.mav.system_time_encode(0, 1000)))
    frame[-1] ^= 0xFF  # break the CRC
    peer.send_raw(bytes(frame))
    peer.heartbeat()
    until(lambda: link.latest("HEARTBEAT") is not None, "the heartbeat after the bad frame")
    assert link.stats.bad_frames >= 1
    assert link.latest("SYSTEM_TIME") is None


def test_wait_is_bounded_in_vehicle_time(peer, link):
    # given a vehicle whose clock runs at 20x, when we wait 2 vehicle seconds for what never comes
    feeder = feed_clock(peer, until_ms=20_000)
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waited 2 s of vehicle time for a COMMAND_ACK"):
        link.wait("a COMMAND_ACK", ["COMMAND_ACK"], timeout_s=2.0)
    # then it gave up after ~2 vehicle seconds, i.e. ~0.1 s of wall time, not 2 s
    assert time.monotonic() - start < 1.5
    feeder.join()


def test_wait_returns_the_matching_message_with_its_vehicle_time(peer, link):
    feeder = feed_clock(peer, until_ms=3_000)
    got = link.wait(
        "SYSTEM_TIME past 1 s", ["SYSTEM_TIME"], lambda m: m.time_boot_ms >= 1000, timeout_s=5
    )
    assert got.msg.time_boot_ms >= 1000 and got.t == pytest.approx(1.0, abs=0.6)
    feeder.join()


def test_a_silent_vehicle_fails_the_wait_instead_of_hanging(peer, link):
    peer.system_time(1000)
    with pytest.raises(VehicleSilent, match=r"while waiting for a HEARTBEAT.*silence_s = 2 s"):
        link.wait("a HEARTBEAT", ["HEARTBEAT"], timeout_s=60)


def test_a_connect_to_a_vehicle_that_never_accepts_gives_up_after_silence_s():
    # a hung vehicle's listen backlog full: the kernel drops further SYNs and connect() would
    # retry for minutes
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        waiting = [socket.socket() for _ in range(3)]
        for s in waiting:
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
        start = time.monotonic()
        with pytest.raises(VehicleLost, match=r"cannot connect .* no answer .* within 0.5 s"):
            Link(f"tcp:127.0.0.1:{port}", silence_s=0.5)
        assert time.monotonic() - start < 3.0
        for s in waiting:
            s.close()


def test_a_closed_connection_is_reported_at_once(peer, link):
    peer.system_time(1000)
    until(lambda: link.clock.started, "the first clock sample")
    peer.close()
    start = time.monotonic()
    with pytest.raises(VehicleLost, match="connection closed"):
        link.wait("a HEARTBEAT", ["HEARTBEAT"], timeout_s=60)
    assert time.monotonic() - start < 1.0


def test_gcs_heartbeats_follow_vehicle_time(peer, link):
    # given 5 s of vehicle time, played in ~0.25 s of wall time
    feed_clock(peer, until_ms=5_000).join()
    until(lambda: link.clock.now() >= 5.0, "vehicle time 5 s")
    # then the link sent one heartbeat per vehicle second (plus one on opening)
    mav = mavlink.MAVLink(None)
    beats = [m for m in mav.parse_buffer(bytes(peer.received)) or [] if m.get_type() == "HEARTBEAT"]
    assert 5 <= len(beats) <= 7
    assert beats[0].type == mavlink.MAV_TYPE_GCS


def test_tlog_is_readable_by_pymavlink(peer, link, tmp_path):
    peer.heartbeat()
    peer.system_time(1234)
    until(lambda: link.latest("SYSTEM_TIME") is not None, "SYSTEM_TIME")
    link.close()
    log = mavutil.mavlink_connection(str(tmp_path / "t.tlog"))
    seen = []
    while (msg := log.recv_match()) is not None:
        seen.append((msg.get_type(), msg.get_srcSystem(), getattr(msg, "_timestamp", 0)))
    types = {(t, s) for t, s, _ in seen}
    assert ("HEARTBEAT", 255) in types  # what we sent
    assert ("HEARTBEAT", 1) in types and ("SYSTEM_TIME", 1) in types  # what we received
    assert all(abs(ts - time.time()) < 60 for _, _, ts in seen)  # wall-clock stamps, as MAVProxy


def test_a_udp_link_has_room_for_a_burst():
    # PX4 SITL sends thousands of frames a second over UDP; a default buffer (~200 KB) lost 69
    # in a row when the receive loop stalled on a busy machine
    with Link("udpin:127.0.0.1:0") as udp:
        got = udp._conn.port.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert got >= min(UDP_RCVBUF, int(Path("/proc/sys/net/core/rmem_max").read_text()))
