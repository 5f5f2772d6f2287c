"""Bad input and bad luck: a clear message, a non-zero exit, nothing already written lost, and no
process left behind."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from drivers.errors import DriverError
from drivers.sim_driver import SimDriver
from tests.run_pytest import ROOT, run_pytest, write_profile


def test_a_malformed_profile_names_file_line_field_and_fix(tmp_path):
    bad = write_profile(tmp_path / "bad.yaml", "vehicle:\n  spedup: 20\n")
    run = run_pytest("suites", "--profile", str(bad), report_dir=tmp_path / "r")
    assert run.code == 4, run.output  # pytest's usage error
    assert f"{bad}:4" in run.output and "vehicle.spedup" in run.output and "speedup" in run.output
    assert "Traceback" not in run.output


def test_a_missing_profile_is_named(tmp_path):
    run = run_pytest("suites", "--profile", "profiles/nope.yaml", report_dir=tmp_path / "r")
    assert run.code == 4 and "nope.yaml" in run.output and "Traceback" not in run.output


def test_a_simulator_that_cannot_start_is_a_clear_driver_error(tmp_path, monkeypatch):
    driver = SimDriver({"driver": "sim"}, tmp_path)
    monkeypatch.setattr(driver, "argv", lambda: [sys.executable, "-m", "no_such_simulator"])
    with pytest.raises(DriverError, match=r"(?s)did not start.*No module named no_such_simulator"):
        driver.start()
    assert driver.process is None


def test_a_dying_vehicle_fails_its_check_and_the_next_check_gets_a_fresh_one(tmp_path):
    scenario = ROOT / "tests" / "scenarios" / "dying_vehicle.py"
    profile = write_profile(tmp_path / "quick.yaml", "link:\n  silence_s: 2\n")
    run = run_pytest(str(scenario), "--profile", str(profile), report_dir=tmp_path / "r")
    assert "2 failed, 3 passed" in run.output, run.output[-3000:]
    assert "vehicle lost while waiting for a heartbeat that never comes" in run.output
    assert "simulator exited with code -9" in run.output
    # a stopped (SIGSTOP) process is seen at once, not only after link.silence_s
    assert re.search(r"while waiting for a heartbeat from a frozen vehicle: simulator \(pid \d+\) "
                     r"is stopped \(SIGSTOP\)", run.output)  # fmt: skip


def sim_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    return [int(p) for p, pp, args in rows if int(pp) == pid and "-m sim" in args]


def test_ctrl_c_leaves_no_process_and_keeps_the_results(tmp_path):
    profile = write_profile(tmp_path / "slow.yaml", "vehicle:\n  speedup: 1\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites",
            "--profile",
            str(profile),
            "--report-dir",
            str(tmp_path / "r"),
            "--history",
            str(tmp_path / "history.sqlite"),
            "--vehicle-files",
            str(tmp_path / "vehicle-files"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (sims := sim_children(proc.pid)):  # the check is under way once its vehicle runs
        assert time.monotonic() < deadline and proc.poll() is None, "no simulator started"
        time.sleep(0.1)
    time.sleep(1.0)  # let the first check get into its wait
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest: interrupted
    for pid in sims:
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid), f"simulator {pid} survived"
    (run,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir() and not p.is_symlink()]
    assert (run / "results.json").exists() and (run / "junit.xml").exists()


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except OSError:
        return True
