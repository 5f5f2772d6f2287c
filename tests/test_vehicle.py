"""The Vehicle API against the built-in simulator: parameters with their journal, commands with
COMMAND_ACK, refusals explained, modes and arming confirmed by HEARTBEAT."""

import os
import signal

import pytest

from drivers.errors import CommandRejected, WaitTimeout
from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.services import link_quality, mission
from drivers.services.vehicle import Vehicle
from drivers.vehicles.sim_driver import SimDriver


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    driver = SimDriver({"driver": "sim", "speedup": 20}, tmp_path_factory.mktemp("sim"))
    driver.start()
    yield driver
    driver.stop()


@pytest.fixture
def vehicle(sim):
    with Link(sim.ensure_running(), vehicle_sysid=1, silence_s=5, liveness=sim.liveness) as link:
        v = Vehicle(link)
        v.connect()
        yield v
        assert not v.restore_params()


def test_connect_starts_the_vehicle_clock_and_streams(vehicle):
    assert vehicle.link.clock.started
    got = vehicle.link.wait("ATTITUDE", ["ATTITUDE"], timeout_s=2)
    assert got.t > 0 and vehicle.mode == "STABILIZE" and not vehicle.armed


def test_set_param_journals_the_original_and_restore_puts_it_back(vehicle):
    original = vehicle.get_param("RTL_ALT")
    assert vehicle.set_param("RTL_ALT", original + 100) == original + 100
    assert vehicle.set_param("RTL_ALT", original + 200) == original + 200
    assert vehicle.journal["RTL_ALT"].original == original  # the first value, not the middle one
    assert vehicle.restore_params() == []
    assert vehicle.get_param("RTL_ALT") == original and not vehicle.journal


def test_integer_parameters_decode_as_integers(vehicle):
    assert vehicle.get_param("FS_GCS_ENABLE") == 0.0
    assert vehicle.set_param("FS_GCS_ENABLE", 1) == 1.0


def test_an_unknown_parameter_times_out_in_vehicle_time_saying_which(vehicle):
    with pytest.raises(WaitTimeout, match="parameter NO_SUCH_PARAM: no PARAM_VALUE after 2 tries"):
        vehicle.get_param("NO_SUCH_PARAM", timeout_s=0.5, retries=2)


def test_an_unsupported_command_returns_its_result(vehicle):
    result = vehicle.command(31999)  # no such MAV_CMD
    assert result == mavlink.MAV_RESULT_UNSUPPORTED


def test_a_refused_arm_says_why(vehicle, sim):
    sim.restart()  # a freshly booted vehicle is still warming up: pre-arm checks fail
    with Link(sim.url, vehicle_sysid=1, silence_s=5, liveness=sim.liveness) as link:
        fresh = Vehicle(link)
        fresh.connect()
        with pytest.raises(
            CommandRejected, match=r"COMPONENT_ARM_DISARM answered DENIED \(.*PreArm"
        ):
            fresh.arm()


def test_mode_and_arming_are_confirmed_by_heartbeat(vehicle):
    vehicle.wait_armable(30)
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    assert vehicle.armed and vehicle.mode == "GUIDED"
    vehicle.disarm(force=True)
    assert not vehicle.armed


def test_a_mission_uploads_and_downloads_intact(vehicle):
    home = mission.Item(22.5431, 113.9425, 0)
    plan = [home] + [mission.Item(22.5431 + i * 1e-4, 113.9425, 10 + i) for i in range(1, 5)]
    stats = mission.upload(vehicle, plan)
    assert stats.retries == 0 and stats.duration_s < 5
    back = mission.download(vehicle)
    assert [(round(i.lat, 6), round(i.lon, 6), i.alt) for i in back[1:]] == [
        (round(i.lat, 6), round(i.lon, 6), i.alt) for i in plan[1:]
    ]


def test_link_quality_figures_come_in_vehicle_time(vehicle):
    probes = link_quality.timesync(vehicle, count=5, interval_s=0.5, timeout_s=1.0)
    rtts = [p.rtt_s for p in probes]
    assert None not in rtts and all(0 <= r < 0.5 for r in rtts), rtts
    acks = link_quality.command_round_trips(vehicle, count=3, interval_s=0.5)
    assert all(p.rtt_s is not None and p.rtt_s < 0.5 for p in acks), acks
    window = link_quality.observe(vehicle.link, 1, 1, 5.0)
    assert window.duration_s == pytest.approx(5.0, abs=0.5)
    assert window.rate("HEARTBEAT") == pytest.approx(1.0, abs=0.25)
    assert window.rate("ATTITUDE") == pytest.approx(10, rel=0.2)  # as Vehicle.connect asked
    assert window.lost == 0 and window.loss_ratio == 0.0
    assert link_quality.percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_a_vehicle_that_hangs_while_being_put_back_is_reported_not_raised(tmp_path):
    # the fixture's teardown must go on to stop a vehicle that hung (SIGSTOP) mid-restore
    sim = SimDriver({"driver": "sim", "speedup": 20}, tmp_path)
    try:
        with Link(sim.start(), vehicle_sysid=1, silence_s=5, liveness=sim.liveness) as link:
            v = Vehicle(link)
            v.connect()
            v.set_param("RTL_ALT", v.get_param("RTL_ALT") + 100)
            os.kill(sim.process.pid, signal.SIGSTOP)
            problems = v.restore_params()
            assert len(problems) == 1 and "RTL_ALT: not restored, the vehicle" in problems[0]
            assert "is stopped (SIGSTOP)" in problems[0]
            assert v.answers_parameters() is False
    finally:
        sim.stop()
    assert sim.liveness() == "simulator stopped by the harness"
