"""A real ground station against the built-in simulator: MAVProxy, headless, connects, fetches the
parameter list and changes the flight mode. What MAVProxy claims is checked independently, by our
own Link/Vehicle connected to the same simulator port (tcp: many clients share one channel).

MAVProxy runs its --cmd commands at start-up, before it has seen a HEARTBEAT, so it cannot map a
mode name to a number yet ("Unknown mode ALT_HOLD") and cannot wait for a GPS fix; its `mode`
command also takes the number, which needs neither, so the test sends ALT_HOLD (2), a mode with no
GPS requirement. Feeding commands on stdin after "GPS lock" is not possible in --non-interactive
mode, and ManagedProcess gives the child no stdin. (`--default-modules=param,mode,misc --cmd
"repeat add 1 mode GUIDED"` does reach GUIDED once the name maps and the fix is there, but it keeps
sending the command every second for good, so it is not used.)
"""

import math
import sys
from pathlib import Path

import MAVProxy  # noqa: F401  (no importorskip: a missing MAVProxy must fail CI loudly)
import pytest

from drivers.link.connection import Link
from drivers.mavlink import COPTER_MODES, mavlink
from drivers.process import ManagedProcess
from drivers.services.vehicle import Vehicle
from drivers.vehicles.sim_driver import SimDriver

MAVPROXY = Path(sys.executable).with_name("mavproxy.py")
SPEEDUP = 10  # MAVProxy's own timers (param fetch retries, heartbeat loss) run on the wall clock
START_WALL_S = 30.0  # MAVProxy's start-up (OpenCV/matplotlib-sized imports) on a loaded machine
ALT_HOLD = COPTER_MODES["ALT_HOLD"]
MAVPROXY_ID = (255, 230)  # MAVProxy's default source system and component
pytestmark = pytest.mark.timeout(120)  # last resort only: every wait below is bounded


def test_mavproxy_fetches_all_parameters_and_changes_mode(tmp_path):
    assert MAVPROXY.is_file(), f"mavproxy.py not installed beside {sys.executable}"
    sim = SimDriver({"driver": "sim", "speedup": SPEEDUP}, tmp_path)
    url = sim.start()
    mavproxy = None
    try:
        with Link(url, vehicle_sysid=1, silence_s=5, liveness=sim.liveness) as link:
            vehicle = Vehicle(link)
            vehicle.connect()
            vehicle.wait_heartbeat("STABILIZE after boot", lambda m: m.custom_mode == 0, 2)
            state = tmp_path / "mavproxy"
            with link.subscribe(["COMMAND_ACK"]) as acks:
                mavproxy = ManagedProcess(
                    [sys.executable, str(MAVPROXY), "--master", url, "--non-interactive",
                     "--default-modules=param,mode", "--streamrate=-1",
                     f"--state-basedir={state}", "--cmd", f"mode {ALT_HOLD}"],
                    tmp_path / "mavproxy.log",
                    cwd=tmp_path,
                )
                received, saved = mavproxy.wait_for_lines(
                    r"Received (\d+) parameters|Saved (\d+) parameters to (\S+)", 2, START_WALL_S
                )
                # MAVProxy shows the mode it reads from the vehicle's HEARTBEAT.
                mavproxy.wait_for_lines(r"\bMode ALT_HOLD\b", 1, START_WALL_S)

                # -- the mode change, seen independently -----------------------------------------
                vehicle.wait_heartbeat(
                    f"HEARTBEAT custom_mode {ALT_HOLD} (ALT_HOLD) after MAVProxy's mode command",
                    lambda m: m.custom_mode == ALT_HOLD,
                    timeout_s=3,
                )
                assert vehicle.mode == "ALT_HOLD" and not vehicle.armed
                # The vehicle's answer went to MAVProxy (the tcp channel is shared, so we see it).
                ack = next(
                    (got.msg for got in iter(lambda: acks.get(0), None)
                     if got.msg.command == mavlink.MAV_CMD_DO_SET_MODE),
                    None,
                )
                assert ack is not None, "no COMMAND_ACK for DO_SET_MODE went by"
                assert ack.result == mavlink.MAV_RESULT_ACCEPTED
                assert (ack.target_system, ack.target_component) == MAVPROXY_ID

            # -- the parameter list, checked against the vehicle ---------------------------------
            count = int(received.group(1))
            assert int(saved.group(2)) == count
            parm = Path(saved.group(3))
            assert parm.is_file() and state in parm.parents
            stored = {}
            for line in parm.read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    name, value = line.split()
                    stored[name] = float(value)
            assert len(stored) == count
            for name, value in stored.items():
                actual = vehicle.get_param(name)
                assert math.isclose(actual, value, rel_tol=1e-6, abs_tol=1e-5), (
                    f"{name}: MAVProxy saved {value}, the vehicle has {actual}"
                )
            # Every PARAM_VALUE carries the vehicle's parameter count.
            assert vehicle.latest("PARAM_VALUE").param_count == count, "MAVProxy missed some"

            # -- MAVProxy goes, the vehicle stays as it was -----------------------------------
            code = mavproxy.stop()
            mavproxy = None
            assert code in (0, 1), f"MAVProxy ignored SIGTERM (exit {code})"  # 1: its SIGTERM exit
            link.wait("a HEARTBEAT after MAVProxy left", ["HEARTBEAT"], timeout_s=3)
            assert vehicle.mode == "ALT_HOLD" and not vehicle.armed
    finally:
        if mavproxy is not None:
            log = mavproxy.log_path
            mavproxy.stop()
            print(f"MAVProxy's output ({log}):\n{log.read_text()}")
        sim.stop()
    assert "Traceback" not in (tmp_path / "mavproxy.log").read_text()
    sim_log = (tmp_path / "sim-1.log").read_text()
    assert "internal error" not in sim_log, f"the simulator hit a bug of its own:\n{sim_log}"
