"""The ArduPilot SITL driver against a real SITL binary: start, heartbeat, the harness's link
after the readiness probe, parameters, armable within a bound of vehicle time, crash and
restart, and a stop that leaves nothing behind.

Runs when SKYPROOF_ARDUPILOT_BINARY names a binary (SKYPROOF_ARDUPILOT_DEFAULTS its defaults
file, e.g. Tools/autotest/default_params/copter.parm); skipped otherwise.
"""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.link.connection import Link
from drivers.mavlink import mavlink
from drivers.ports import is_free
from drivers.services.vehicle import Vehicle
from drivers.vehicles.ardupilot_sitl import ENV_BINARY, ArduPilotSitl
from profiles import load_profile
from tests.fake_sitl import alive

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not os.environ.get(ENV_BINARY), reason=f"{ENV_BINARY} is not set (no ArduPilot SITL binary)"
)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[ArduPilotSitl]:
    """The shipped vehicle half (speedup 10, the sim's home), binary from the environment."""
    vehicle = load_profile(ROOT / "profiles" / "ardupilot-sitl.yaml").vehicle
    d = ArduPilotSitl(vehicle, tmp_path)
    yield d
    d.stop()


def connect(url: str, driver: ArduPilotSitl) -> Link:
    return Link(url, vehicle_sysid=driver.sysid, liveness=driver.liveness, silence_s=20)


def test_start_connect_params_and_armable(driver):
    # given a SITL started by the driver (its probe has come and gone on SERIAL0)
    url = driver.start()
    assert driver.heartbeat.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    # when the harness connects to SERIAL0 and SERIAL1 at once
    with connect(url, driver) as link, connect(driver.urls[1], driver) as serial1:
        vehicle = Vehicle(link, sysid=driver.sysid)
        vehicle.connect()
        serial1.wait("a HEARTBEAT on SERIAL1", ["HEARTBEAT"], timeout_s=5)
        console = (driver.log_dir / "ardupilot-1.log").read_text()
        assert "Closed connection on SERIAL0" in console  # the probe left...
        assert "New connection on SERIAL0" in console  # ...and the harness took its place
        # then parameters round-trip and are put back
        before = vehicle.get_param("RTL_ALT")
        assert vehicle.set_param("RTL_ALT", before + 100) == before + 100
        assert vehicle.get_param("RTL_ALT") == before + 100
        assert vehicle.restore_params() == [] and vehicle.get_param("RTL_ALT") == before
        # and the vehicle becomes armable within 60 s of its own time
        started = link.clock.now()
        ready = vehicle.wait_armable(60)
        assert ready.t - started <= 60


def test_crash_is_reported_and_ensure_running_restarts(driver):
    driver.start()
    pid = driver.process.pid
    os.kill(pid, signal.SIGKILL)  # the vehicle dies under the harness
    driver.process.proc.wait(5)
    assert "exited with code -9" in driver.liveness()
    url = driver.ensure_running()
    assert driver.liveness() is None and driver.starts == 2
    with connect(url, driver) as link:
        Vehicle(link, sysid=driver.sysid).connect()


def test_stop_leaves_nothing(driver):
    driver.start()
    pid, ports = driver.process.pid, driver.lease.ports
    # SITL binds 0.0.0.0; the lease's 127.0.0.1 bind check must see those ports as taken
    assert not any(is_free(p) for p in ports)
    driver.stop()
    assert not alive(pid)
    assert all(is_free(p) for p in ports), [str(p) for p in ports if not is_free(p)]
