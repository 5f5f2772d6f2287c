"""The PX4 SITL driver and profile against a real PX4 build (SIH, no Gazebo): start, the
harness's link, bytewise parameters, armable in vehicle time, two instances side by side in
folders of their own, a stop that leaves nothing behind, and profiles/px4-sitl.yaml end to end
with no harness error.

Runs when SKYPROOF_PX4_BUILD_DIR names a px4_sitl_default build folder; skipped otherwise.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.ports import is_free
from drivers.services.vehicle import Vehicle
from drivers.vehicles.px4_sitl import ENV_BUILD, Px4Sitl, px4_instance_free
from profiles import load_profile
from tests.fake_sitl import alive
from tests.run_pytest import run_pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not os.environ.get(ENV_BUILD), reason=f"{ENV_BUILD} is not set (no PX4 SITL build)"
)


def make(log_dir: Path) -> Px4Sitl:
    """The shipped vehicle half (SIH quad, speed factor 5, the sim's home), build from the
    environment."""
    return Px4Sitl(load_profile(ROOT / "profiles" / "px4-sitl.yaml").vehicle, log_dir)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Px4Sitl]:
    d = make(tmp_path)
    yield d
    d.stop()


def test_start_connect_bytewise_params_and_armable(driver):
    # given a PX4 started by the driver
    url = driver.start()
    assert driver.heartbeat.autopilot == mavlink.MAV_AUTOPILOT_PX4
    with Link(url, vehicle_sysid=driver.sysid, liveness=driver.liveness, silence_s=20) as link:
        vehicle = Vehicle(link, sysid=driver.sysid)
        vehicle.connect()
        # then it says it encodes integer parameters bytewise, and they read as integers:
        # COM_DL_LOSS_T is 10 s scaled by the speed factor (PX4 SITL's start script)
        assert vehicle.bytewise_params
        assert vehicle.get_param("COM_DL_LOSS_T") == 10 * driver.cfg["speedup"]
        before = vehicle.get_param("SDLOG_UTC_OFFSET")
        assert vehicle.set_param("SDLOG_UTC_OFFSET", -300) == -300  # negative: all four bytes
        assert vehicle.restore_params() == [] and vehicle.get_param("SDLOG_UTC_OFFSET") == before
        # and it becomes armable within 60 s of its own time
        started = link.clock.now()
        assert vehicle.wait_armable(60).t - started <= 60
    # in a folder of its own, beside the driver's logs
    assert driver.work_dir is not None and driver.work_dir.parent == driver.log_dir
    assert (driver.work_dir / "parameters.bson").exists()


def test_two_instances_run_side_by_side(tmp_path):
    # given two drivers started at once (as two pytest-xdist workers do)
    first, second = make(tmp_path / "a"), make(tmp_path / "b")
    try:
        first.start()
        second.start()
        # then each has its own instance, ports, system id and folder, and both beat
        assert first.instance != second.instance and first.sysid != second.sysid
        assert not set(first.lease.ports) & set(second.lease.ports)
        assert first.work_dir != second.work_dir
        for d in (first, second):
            with Link(d.urls[0], vehicle_sysid=d.sysid, liveness=d.liveness, silence_s=20) as link:
                link.wait("a HEARTBEAT", ["HEARTBEAT"], lambda m, d=d: m.get_srcSystem() == d.sysid,
                          timeout_s=float("inf"))  # fmt: skip
    finally:
        first.stop()
        second.stop()


def test_stop_leaves_nothing(driver):
    driver.start()
    pid, ports, instance = driver.process.pid, driver.lease.ports, driver.instance
    # PX4 binds 0.0.0.0; the lease's 127.0.0.1 bind check must see its ports as taken (all
    # but 14540+N and 14560+N, which PX4 sends to and the harness's stations bind)
    ours = {int(url.rsplit(":", 1)[1]) for url in driver.urls}
    taken = [p for p in ports if p.number not in ours]
    assert len(taken) == len(ports) - 2 and not any(is_free(p) for p in taken)
    assert not px4_instance_free(instance)
    driver.stop()
    assert not alive(pid)
    assert all(is_free(p) for p in ports), [str(p) for p in ports if not is_free(p)]
    assert px4_instance_free(instance)


def test_the_profile_runs_with_no_harness_error(tmp_path):
    # given the shipped PX4 profile, when a user runs it
    run = run_pytest("--profile", "profiles/px4-sitl.yaml", report_dir=tmp_path, timeout_s=600)
    assert run.code in (0, 1), run.output[-3000:]  # 0 all passed, 1 a check failed
    checks = run.results["checks"]
    # then every check ran to a verdict: none errored, and every failure is a measured figure
    # outside its bound (the vehicle's behaviour), not an exception of the harness's
    errored = [c["nodeid"] for c in checks if c["outcome"] == "error"]
    assert not errored, errored
    unmeasured = [
        f"{c['nodeid']}: {c['message'][:300]}"
        for c in checks
        if c["outcome"] == "failed"
        and not (c["message"].startswith("AssertionError")
                 and any(not m["ok"] for m in c["measurements"]))
    ]  # fmt: skip
    assert not unmeasured, "\n".join(unmeasured)
    assert sum(c["outcome"] == "passed" for c in checks) >= len(checks) // 2
    assert run.results["vehicle_identity"]["autopilot"] == "PX4"


def test_stations_take_turns_on_the_second_channel(driver):
    # given a PX4 started by the driver, whose UDP links answer the first address they hear
    driver.start()
    # when two stations, one after the other, use the second channel
    for gcs_sysid in (250, 251):
        with Link(driver.urls[1], vehicle_sysid=driver.sysid, gcs_sysid=gcs_sysid,
                  liveness=driver.liveness, silence_s=20) as link:  # fmt: skip
            # then each hears it and is answered there (fixed ports on both ends)
            link.wait("a HEARTBEAT on the second channel", ["HEARTBEAT"],
                      lambda m: m.get_srcSystem() == driver.sysid, timeout_s=10)  # fmt: skip
            answer = link.request(
                link.mav.param_request_read_encode(driver.sysid, 1, b"", 0), "parameter 0",
                ["PARAM_VALUE"], lambda m: m.param_index == 0, timeout_s=5,
            )  # fmt: skip
            assert answer.msg.get_srcSystem() == driver.sysid
