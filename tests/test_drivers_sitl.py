"""The SITL drivers (ArduPilot, PX4) against fake processes: start failures, slow readiness,
retries, crashes, teardown of the whole process group, port leases under parallel drivers,
and Ctrl-C. No real SITL binary is needed (tests/test_ardupilot_sitl.py runs the real one)."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drivers import make_driver
from drivers.errors import DriverError
from drivers.mavlink import mavlink
from drivers.ports import PortLease, is_free, lease_block, tcp, udp
from drivers.services.flavour import custom_mode, gcs_failsafe_params, mode_name
from drivers.vehicles.ardupilot_sitl import ENV_BINARY, ENV_DEFAULTS, ArduPilotSitl
from drivers.vehicles.px4_sitl import ENV_BUILD, Px4Sitl
from drivers.vehicles.sim_driver import SimDriver
from profiles import load_profile
from tests.fake_sitl import alive, fake_ardupilot, fake_px4_build

ROOT = Path(__file__).resolve().parent.parent
BASE = {"speedup": 1, "seed": 0, "sysid": 1, "faults": []}  # what the schema fills in


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests give every path explicitly; a developer's environment must not leak in."""
    for name in (ENV_BINARY, ENV_DEFAULTS, ENV_BUILD):
        monkeypatch.delenv(name, raising=False)


def ardupilot(tmp_path: Path, mode: str = "ok", **cfg: object) -> ArduPilotSitl:
    binary = fake_ardupilot(tmp_path / "fake", mode)
    driver = ArduPilotSitl({"driver": "ardupilot-sitl", **BASE, "binary": str(binary), **cfg},
                           tmp_path / "logs")  # fmt: skip
    driver.start_timeout_s = 5.0
    return driver


def record(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "fake" / "record.json").read_text())


def wait_until(cond, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def stop_after():
    drivers: list = []
    yield drivers.append
    for d in drivers:
        d.stop()


# -- configuration ----------------------------------------------------------------------------
def test_missing_binary_names_all_three_ways(tmp_path):
    driver = ArduPilotSitl({"driver": "ardupilot-sitl", **BASE}, tmp_path)
    with pytest.raises(DriverError) as err:
        driver.start()
    for way in ("vehicle.binary", "--sitl-binary", ENV_BINARY):
        assert way in str(err.value)


def test_binary_from_the_environment_and_not_executable(tmp_path, monkeypatch):
    plain = tmp_path / "arducopter"
    plain.write_text("#!/bin/sh\n")
    monkeypatch.setenv(ENV_BINARY, str(plain))
    with pytest.raises(DriverError, match="not executable"):
        ArduPilotSitl({"driver": "ardupilot-sitl", **BASE}, tmp_path).start()
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "nowhere"))
    with pytest.raises(DriverError, match="does not exist"):
        ArduPilotSitl({"driver": "ardupilot-sitl", **BASE}, tmp_path).start()


def test_flags_ports_and_folders(tmp_path, stop_after):
    defaults = [tmp_path / "a.parm", tmp_path / "b.parm"]
    for f in defaults:
        f.write_text("")
    driver = ardupilot(
        tmp_path, model="quad", speedup=10, home=[-33.5, -70.25, 520.0, 90], sysid=7,
        defaults=[str(f) for f in defaults], serial={"4": "sim:gps"},
    )  # fmt: skip
    stop_after(driver)
    url = driver.start()
    argv = record(tmp_path)["argv"][1:]
    i = driver.instance
    assert argv == [
        "--model", "quad", "--speedup", "10", "--home=-33.5,-70.25,520,90",
        "--defaults", f"{defaults[0]},{defaults[1]}", "--wipe", "-I", str(i), "--sysid", "7",
        "--serial4", "sim:gps",
    ]  # fmt: skip
    base = 5760 + 10 * i
    assert url == f"tcp:127.0.0.1:{base}"
    assert driver.urls == [f"tcp:127.0.0.1:{base + n}" for n in (0, 2, 3)]
    assert driver.sysid == 7 and driver.heartbeat.get_srcSystem() == 7
    assert Path(record(tmp_path)["cwd"]).parent == tmp_path / "logs"  # its working folder
    # its console goes to the log through a reader thread: the line may trail the heartbeat
    log = tmp_path / "logs" / "ardupilot-1.log"
    deadline = time.monotonic() + 5.0
    while "Connection on serial port" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "Connection on serial port" in log.read_text()
    assert {"restart", "reboot", "wipe", "flight"} <= driver.capabilities


def test_defaults_from_the_environment_base_port_and_no_wipe(tmp_path, monkeypatch, stop_after):
    parm = tmp_path / "copter.parm"
    parm.write_text("")
    monkeypatch.setenv(ENV_DEFAULTS, str(parm))
    port = _free_tcp_block()
    driver = ardupilot(tmp_path, wipe=False, base_port=port)
    stop_after(driver)
    assert driver.start() == f"tcp:127.0.0.1:{port}"
    argv = record(tmp_path)["argv"]
    assert "--wipe" not in argv and ["--defaults", str(parm)] == argv[5:7]
    assert argv.index("--base-port") < argv.index("-I")  # as SITL's --help asks


def test_missing_defaults_file_and_sim_faults_are_refused(tmp_path):
    with pytest.raises(DriverError, match="defaults file"):
        ardupilot(tmp_path, defaults="nowhere.parm").start()
    with pytest.raises(DriverError, match="built-in simulator"):
        ardupilot(tmp_path, faults=["no_gcs_failsafe"]).start()
    with pytest.raises(DriverError, match="serial 0"):
        ardupilot(tmp_path, serial={"0": "uart:/dev/ttyS0"})


def test_wrong_sysid_is_a_driver_error_not_a_retry(tmp_path):
    driver = ardupilot(tmp_path, sysid=3)
    # the fake answers with whatever --sysid it got; make the profile disagree afterwards
    driver.argv = lambda binary, i: [str(binary), "-I", str(i), "--sysid", "4"]  # type: ignore
    with pytest.raises(DriverError, match="answered as system 4"):
        driver.start()
    assert driver.starts == 1 and driver.liveness() == "ardupilot-sitl not started"


# -- start-up: failures, bounds, retries -------------------------------------------------------
def test_exit_at_once_is_a_driver_error_with_its_last_output(tmp_path):
    driver = ardupilot(tmp_path, "exit")
    driver.start_attempts = 2
    with pytest.raises(DriverError) as err:
        driver.start()
    text = str(err.value)
    assert "in 2 attempt(s)" in text and "exited with code 3" in text
    assert "bind failed on port 5760" in text  # the process's own last words
    assert not alive(record(tmp_path)["pids"][0])


def test_slow_readiness_is_bounded(tmp_path):
    driver = ardupilot(tmp_path, "silent")
    driver.start_timeout_s, driver.start_attempts = 0.5, 2
    began = time.monotonic()
    with pytest.raises(DriverError, match=r"no autopilot HEARTBEAT .* within 0.5 s"):
        driver.start()
    assert time.monotonic() - began < 5.0
    assert not alive(record(tmp_path)["pids"][0])


def test_a_process_that_never_listens_is_bounded_too(tmp_path):
    driver = ardupilot(tmp_path, "deaf")
    driver.start_timeout_s, driver.start_attempts = 0.5, 1
    with pytest.raises(DriverError, match="could not connect"):
        driver.start()


def test_a_failed_start_is_retried_on_fresh_ports(tmp_path, stop_after):
    driver = ardupilot(tmp_path, "fail_first")
    stop_after(driver)
    first_tried = []
    real_launch = driver._launch
    driver._launch = lambda i, log: (first_tried.append(i), real_launch(i, log))[1]
    url = driver.start()
    assert driver.starts == 2 and len(set(first_tried)) == 2  # a second, different block
    assert url == f"tcp:127.0.0.1:{5760 + 10 * first_tried[1]}"
    assert "bind failed" in (tmp_path / "logs" / "ardupilot-1.log").read_text()


# -- running: crash, restart, teardown ---------------------------------------------------------
def test_crash_mid_run_is_reported_and_ensure_running_restarts(tmp_path, stop_after):
    driver = ardupilot(tmp_path, "crash")
    stop_after(driver)
    driver.start()
    assert driver.liveness() is None
    assert wait_until(lambda: driver.liveness() is not None)
    why = driver.liveness()
    assert "exited with code 7" in why and "PANIC: fake crash" in why
    url = driver.ensure_running()
    assert driver.liveness() is None and driver.starts == 2 and url == driver.urls[0]


def test_restart_and_the_harness_connects_after_the_probe(tmp_path, stop_after):
    driver = ardupilot(tmp_path)
    stop_after(driver)
    url = driver.start()
    host, port = url.split(":")[1:]
    with socket.create_connection((host, int(port)), timeout=2) as conn:  # the harness's turn
        conn.settimeout(2)
        assert conn.recv(64)  # heartbeats flow to the next client
    first = record(tmp_path)["pids"][0]
    driver.restart()
    assert not alive(first) and driver.liveness() is None


def test_stop_kills_the_whole_group_even_a_child_ignoring_sigterm(tmp_path):
    driver = ardupilot(tmp_path, "orphan")
    driver.start()
    pids = record(tmp_path)["pids"]
    assert len(pids) == 2 and all(map(alive, pids))
    driver.stop()
    assert wait_until(lambda: not any(map(alive, pids))), [p for p in pids if alive(p)]
    driver.stop()  # idempotent
    assert driver.liveness() == "ardupilot-sitl not started"


# -- ports: leases never collide ---------------------------------------------------------------
def _free_tcp_block() -> int:
    for port in range(47000, 48000, 10):
        if all(is_free(p) for p in tcp(port, port + 2, port + 3)):
            return port
    raise AssertionError("no free test port block")


PARALLEL = """
import json, sys, time
from pathlib import Path
from drivers.vehicles.ardupilot_sitl import ArduPilotSitl
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():  # both start together
    time.sleep(0.005)
d = ArduPilotSitl({"driver": "ardupilot-sitl", "binary": str(folder / "arducopter"), "sysid": 1},
                  folder / "logs")
d.start()
print(json.dumps({"instance": d.instance, "ports": [str(p) for p in d.lease.ports]}), flush=True)
sys.stdin.readline()
d.stop()
"""


def test_two_drivers_started_at_once_never_collide(tmp_path):
    # as two xdist workers do: separate processes, starting in the same instant
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    for n in range(2):
        fake_ardupilot(tmp_path / f"d{n}")
        procs.append(subprocess.Popen(
            [sys.executable, "-c", PARALLEL, str(tmp_path / f"d{n}"), str(go)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        ))  # fmt: skip
    try:
        time.sleep(0.5)  # both imported and waiting
        go.touch()
        got = [json.loads(p.stdout.readline() or "{}") for p in procs]
    finally:
        for p in procs:
            p.communicate("stop\n", timeout=20)
    assert all(g.get("instance") is not None for g in got), got
    assert got[0]["instance"] != got[1]["instance"]
    assert not set(got[0]["ports"]) & set(got[1]["ports"])


def test_two_drivers_in_one_process_lease_apart(tmp_path, stop_after):
    first, second = ardupilot(tmp_path / "a"), ardupilot(tmp_path / "b")
    for d in (first, second):
        stop_after(d)
        d.start()
    assert first.instance != second.instance and second.liveness() is None
    first.stop()  # its block is free again for the next driver
    third = ardupilot(tmp_path / "c")
    stop_after(third)
    third.start()
    assert third.instance == first.instance


def test_a_lease_excludes_others_until_released_and_skips_busy_ports():
    blocks = [(n, udp(47600 + n)) for n in range(3)]
    key, lease = lease_block(blocks)
    with pytest.raises(OSError):
        PortLease(lease.ports)  # held, even within one process (flock is per open file)
    other, lease2 = lease_block(blocks)
    assert other != key
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:  # not skyproof's
        squatter.bind(("127.0.0.1", 47600 + 2))
        with pytest.raises(DriverError, match="no free port block"):
            lease_block(blocks)
    lease.release()
    assert lease_block(blocks)[0] == key
    lease2.release()


# -- Ctrl-C ------------------------------------------------------------------------------------
INNER = """
import json, time
from pathlib import Path
import pytest
from drivers.vehicles.ardupilot_sitl import ArduPilotSitl

@pytest.fixture(scope="session")
def driver():
    d = ArduPilotSitl({{"driver": "ardupilot-sitl", "binary": {binary!r}, "sysid": 1}},
                      Path({logs!r}))
    d.start()
    yield d
    d.stop()

def test_runs_until_interrupted(driver):
    Path({ready!r}).write_text("ready")
    time.sleep(120)
"""


def test_ctrl_c_leaves_no_process(tmp_path):
    binary = fake_ardupilot(tmp_path / "fake", "orphan")
    ready = tmp_path / "ready"
    inner = tmp_path / "inner" / "test_inner.py"
    inner.parent.mkdir()
    inner.write_text(textwrap.dedent(INNER.format(
        binary=str(binary), logs=str(tmp_path / "logs"), ready=str(ready))))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner)],
        cwd=inner.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert wait_until(ready.exists, 30), "the inner run never got its vehicle"
        pids = record(tmp_path)["pids"]
        assert all(map(alive, pids))
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in out, out
    assert wait_until(lambda: not any(map(alive, pids))), [p for p in pids if alive(p)]


# -- PX4 SITL (SIH) ----------------------------------------------------------------------------
def px4(tmp_path: Path, mode: str = "ok", **cfg: object) -> Px4Sitl:
    build = fake_px4_build(tmp_path / "fake", mode)
    driver = Px4Sitl({"driver": "px4-sitl", **BASE, "build_dir": str(build), **cfg},
                     tmp_path / "logs")  # fmt: skip
    driver.start_timeout_s = 5.0
    return driver


def test_px4_missing_build_names_both_ways(tmp_path):
    with pytest.raises(DriverError) as err:
        Px4Sitl({"driver": "px4-sitl", **BASE}, tmp_path).start()
    assert "vehicle.build_dir" in str(err.value) and ENV_BUILD in str(err.value)
    with pytest.raises(DriverError, match="missing or not executable"):
        Px4Sitl({"driver": "px4-sitl", **BASE, "build_dir": str(tmp_path)}, tmp_path).start()


def test_px4_starts_with_sih_env_own_rootfs_and_per_instance_ports(tmp_path, stop_after):
    driver = px4(tmp_path, speedup=5, home=[22.5431, 113.9425, 20.0, 0])
    stop_after(driver)
    url = driver.start()
    n = driver.instance
    rec = record(tmp_path)
    build = tmp_path / "fake" / "build"
    work = Path(rec["cwd"])
    assert rec["argv"][1:] == ["-d", "-i", str(n), "-w", str(work), str(build / "etc")]
    assert work.parent == tmp_path / "logs"
    env = rec["env"]
    assert (env["PX4_SYS_AUTOSTART"], env["PX4_SIMULATOR"], env["PX4_SIM_MODEL"]) == (
        "10040", "sihsim", "sihsim_quadx")  # fmt: skip
    assert (env["PX4_SIM_SPEED_FACTOR"], env["PX4_HOME_LAT"], env["PX4_HOME_ALT"]) == (
        "5", "22.5431", "20")  # fmt: skip
    assert url == f"udpin:127.0.0.1:{14540 + n}"
    assert driver.urls == [url, f"udpin:127.0.0.1:{14560 + n}"]  # the driver's second link
    # its px4-rc.mavlink is beside the working folder, out of reach of FTP (rooted there)
    rc = Path(env["PATH"].split(":")[0])
    assert (rc / "px4-rc.mavlink").is_file() and rc.parent == work.parent and rc != work
    assert driver.sysid == n + 1  # PX4's start script sets MAV_SYS_ID to instance + 1
    assert driver.capabilities == {"restart", "flight"}


def test_px4_failures_crash_and_teardown(tmp_path, stop_after):
    silent = px4(tmp_path / "silent", "silent")
    silent.start_timeout_s, silent.start_attempts = 0.5, 1
    with pytest.raises(DriverError, match="no autopilot HEARTBEAT"):
        silent.start()
    with pytest.raises(DriverError, match=r"out of 0\.\.9"):
        px4(tmp_path / "pinned", instance=12).start()
    driver = px4(tmp_path, "crash")
    stop_after(driver)
    driver.start()
    assert wait_until(lambda: driver.liveness() is not None)
    assert "exited with code 7" in driver.liveness()
    driver.ensure_running()
    pid = record(tmp_path)["pids"][0]
    driver.stop()
    assert not alive(pid)


# -- wiring: make_driver, SimDriver.urls, flavour, profiles ------------------------------------
def test_make_driver_knows_every_driver(tmp_path):
    assert isinstance(make_driver({"driver": "ardupilot-sitl", **BASE}, tmp_path), ArduPilotSitl)
    assert isinstance(make_driver({"driver": "px4-sitl", **BASE}, tmp_path), Px4Sitl)
    sim = make_driver({"driver": "sim", **BASE}, tmp_path)
    assert isinstance(sim, SimDriver) and sim.urls == []  # none until it starts
    with pytest.raises(ValueError, match="known: sim, ardupilot-sitl, px4-sitl"):
        make_driver({"driver": "nope"}, tmp_path)


def test_px4_flavour():
    px4_ap = mavlink.MAV_AUTOPILOT_PX4
    # COM_FAIL_ACT_T 0: no hold before the action, which then comes after the timeout
    assert gcs_failsafe_params(px4_ap, "RTL", 5) == {
        "COM_DL_LOSS_T": 5, "NAV_DLL_ACT": 2, "COM_FAIL_ACT_T": 0}
    assert gcs_failsafe_params(px4_ap, "LAND", 7)["NAV_DLL_ACT"] == 3
    assert custom_mode(mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, "GUIDED") == 4
    # PX4 packs main_mode << 16 | sub_mode << 24: AUTO (4).LAND (6), ALTCTL (2)
    assert custom_mode(px4_ap, "LAND") == 4 << 16 | 6 << 24
    assert custom_mode(px4_ap, "ALT_HOLD") == 2 << 16
    assert mode_name(px4_ap, custom_mode(px4_ap, "RTL")) == "RTL"
    assert mode_name(mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 6) == "RTL"


def test_ardupilot_profile_shares_the_verification_half_with_sim():
    sitl = load_profile(ROOT / "profiles" / "ardupilot-sitl.yaml")
    sim = load_profile(ROOT / "profiles" / "sim.yaml")
    assert sitl.vehicle["driver"] == "ardupilot-sitl" and "binary" not in sitl.vehicle
    assert sitl.verification_hash() == sim.verification_hash()
    assert sitl.vehicle["home"] == sim.vehicle["home"] and sitl.vehicle["speedup"] == 10
