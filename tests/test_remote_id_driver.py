"""The harness's Open Drone ID parts (drivers/services/remote_id.py) and what they stand on:
periodic tasks of a link in vehicle time (Link.every), a second channel reading the first one's
vehicle clock, the transponder's beats, vehicles booted with parameters (vehicle.params), and the
suite skipping on a vehicle without Open Drone ID."""

import itertools
import time
from pathlib import Path

import pytest

from drivers import make_driver
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.services.remote_id import TRANSPONDER, Transponder
from drivers.vehicles.ardupilot_sitl import ArduPilotSitl
from drivers.vehicles.sim_driver import SimDriver
from tests.fake_peer import FakePeer
from tests.run_pytest import run_pytest, write_profile
from tests.test_link import feed_clock, until

M = mavlink


@pytest.fixture
def peers():
    both = (FakePeer(), FakePeer())  # the vehicle's channel 0 (ours) and its transponder port
    yield both
    for p in both:
        p.close()


def play(peer: FakePeer, from_ms: int, to_ms: int) -> None:
    """The vehicle's clock from from_ms to to_ms, at 20x (pacing of the fake vehicle itself)."""
    for ms in range(from_ms, to_ms + 1, 100):
        peer.system_time(ms)
        time.sleep(0.005)


def received(peer: FakePeer, mtype: str) -> list:
    return [m for m in M.MAVLink(None).parse_buffer(bytes(peer.received)) or []
            if m.get_type() == mtype]  # fmt: skip


def test_every_runs_a_task_once_a_vehicle_second_until_stopped(peers):
    gcs_peer, _ = peers
    with Link(gcs_peer.url, vehicle_sysid=1, silence_s=2.0) as link:
        ticks = []
        stop = link.every(1.0, lambda: ticks.append(link.clock.now()))
        feed_clock(gcs_peer, until_ms=4_000).join()
        until(lambda: link.clock.now() >= 4.0, "vehicle time 4 s")
        stop()
        n = len(ticks)
        play(gcs_peer, 4_100, 6_000)
        until(lambda: link.clock.now() >= 6.0, "vehicle time 6 s")
        assert 4 <= n <= 6, ticks
        assert len(ticks) == n  # stopped
        # on a one-second grid from the first: never early; a tick run late (the link saw no
        # vehicle time for a moment) does not shift the grid, nor is it followed by a burst
        assert all(t - ticks[0] >= k - 0.01 for k, t in enumerate(ticks)), ticks
        assert all(b - a >= 0.5 for a, b in itertools.pairwise(ticks)), ticks


def test_a_second_channel_reads_the_first_ones_clock_and_never_feeds_it(peers):
    gcs_peer, tx_peer = peers
    with Link(gcs_peer.url, vehicle_sysid=1, silence_s=2.0) as gcs:
        feed_clock(gcs_peer, until_ms=2_000).join()
        until(lambda: gcs.clock.now() >= 2.0, "vehicle time 2 s")
        with Link(tx_peer.url, vehicle_sysid=1, silence_s=2.0, clock=gcs.clock) as tx:
            tx_peer.system_time(900_000)  # a wildly different time on the second channel
            tx_peer.heartbeat()
            until(lambda: tx.latest("HEARTBEAT") is not None, "the heartbeat on channel 2")
            assert gcs.clock.now() < 3.0  # untouched by the second channel's sample
            assert 2.0 <= tx.latest("HEARTBEAT").t < 3.0  # stamped with the vehicle's time


def test_transponder_beats_healthy_failing_then_falls_silent(peers):
    gcs_peer, tx_peer = peers
    with Link(gcs_peer.url, vehicle_sysid=1, silence_s=2.0) as gcs:
        t = Transponder(tx_peer.url, gcs, 1)
        try:
            feed_clock(gcs_peer, until_ms=2_500).join()
            until(lambda: len(received(tx_peer, "OPEN_DRONE_ID_ARM_STATUS")) >= 3, "3 beats")
            t.failing("no GNSS")
            play(gcs_peer, 2_600, 4_000)
            until(lambda: received(tx_peer, "OPEN_DRONE_ID_ARM_STATUS")[-1].status
                  == M.MAV_ODID_ARM_STATUS_PRE_ARM_FAIL_GENERIC, "a failing report")
            last = t.go_silent()
            n = len(received(tx_peer, "OPEN_DRONE_ID_ARM_STATUS"))
            play(gcs_peer, 4_100, 7_000)
            until(lambda: gcs.clock.now() >= 6.5, "vehicle time 6.5 s")
        finally:
            t.close()
    beats = received(tx_peer, "HEARTBEAT")
    assert {(b.get_srcSystem(), b.get_srcComponent(), b.type) for b in beats} == {
        (1, TRANSPONDER, M.MAV_TYPE_ODID)}
    status = received(tx_peer, "OPEN_DRONE_ID_ARM_STATUS")
    assert status[0].status == M.MAV_ODID_ARM_STATUS_GOOD_TO_ARM and status[0].error == ""
    assert status[-1].error == "no GNSS"
    assert len(status) == n and 2.5 <= last <= 4.1  # silent since its last beat


def test_vehicle_params_boot_the_sim_and_ardupilot_sitl(tmp_path):
    sim = SimDriver({"driver": "sim", "params": {"DID_ENABLE": 1, "DID_MAVPORT": 1}}, tmp_path)
    argv = sim.argv()
    assert argv[argv.index("DID_ENABLE=1") - 1] == "--param" and "DID_MAVPORT=1" in argv
    parm = tmp_path / "copter.parm"
    parm.write_text("")
    ap = ArduPilotSitl({"driver": "ardupilot-sitl", "defaults": str(parm),
                        "params": {"DID_ENABLE": 1, "DID_OPTIONS": 0.5}}, tmp_path / "logs")
    argv = ap.argv(tmp_path / "arducopter", 3)
    first, mine = argv[argv.index("--defaults") + 1].split(",")
    assert first == str(parm)  # the profile's values come last, so they win
    assert Path(mine).read_text() == "DID_ENABLE 1\nDID_OPTIONS 0.5\n"
    with pytest.raises(ValueError, match=r"vehicle\.params: driver 'endpoint' cannot boot"):
        make_driver({"driver": "endpoint", "connect": "tcp:127.0.0.1:1",
                     "params": {"DID_ENABLE": 1}}, tmp_path)


def test_remote_id_checks_skip_on_a_vehicle_without_open_drone_id(tmp_path):
    # given the default simulator vehicle (DID_ENABLE=0, as ArduPilot ships) and the suite on
    profile = write_profile(tmp_path / "no-odid.yaml", "name: no Open Drone ID\n"
                            "suites:\n  remote_id: {}\n")  # fmt: skip
    # when the Remote ID suite runs, then every check skips and says why
    run = run_pytest("suites/remote_id", "--profile", str(profile),
                     report_dir=tmp_path / "reports")  # fmt: skip
    checks = run.results["checks"]
    assert len(checks) == 11, run.output[-2000:]
    assert {c["outcome"] for c in checks} == {"skipped"}, run.output[-2000:]
    assert all("Open Drone ID is off on this vehicle (DID_ENABLE=0)" in c["message"]
               for c in checks), [c["message"] for c in checks][:2]
