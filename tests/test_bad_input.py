"""Bad input and bad luck: a clear message, a non-zero exit, nothing already written lost, and no
process left behind."""

import re
import signal
import sys

import pytest

from drivers.errors import DriverError
from drivers.vehicles.sim_driver import SimDriver
from tests.run_pytest import ROOT, run_pytest, write_profile
from tests.watched_run import WatchedRun


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


# -- an unusable place for the reports ----------------------------------------------------------
@pytest.mark.parametrize("where", ["a-file", "a-file/runs", "/proc/skyproof", "/sys/skyproof"],
                         ids=["a-file", "under-a-file", "proc", "read-only-mount"])  # fmt: skip
def test_a_report_folder_that_cannot_be_made_is_one_line_and_exit_4(tmp_path, where):
    (tmp_path / "a-file").write_text("not a folder")
    bad = tmp_path / where  # an absolute `where` stays as it is
    run = run_pytest("suites", report_dir=bad)
    assert run.code == 4, run.output  # pytest's usage error, as for a bad profile
    assert f"ERROR: skyproof: cannot create the run folder in {bad}: " in run.output
    assert "give --report-dir a folder you can write to" in run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output


def test_a_vehicle_files_folder_that_cannot_be_made_is_one_line_and_exit_4(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    run = run_pytest("suites", "--vehicle-files", str(tmp_path / "a-file"), report_dir=tmp_path)
    assert run.code == 4 and "give --vehicle-files a folder you can write to" in run.output
    assert "Traceback" not in run.output


# -- a vehicle that hangs or dies between checks ----------------------------------------------
BASIC = ["suites/basic/test_params.py", "suites/basic/test_flight.py",
         "suites/basic/test_heartbeat.py"]  # fmt: skip  (the order they run in)


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL], ids=["hangs", "dies"])
def test_a_vehicle_lost_between_checks_costs_at_most_one_check(tmp_path, sig):
    profile = write_profile(tmp_path / "quick.yaml", "link:\n  silence_s: 2\n")
    run = WatchedRun(*BASIC, "--profile", str(profile), report_dir=tmp_path / "r")
    # when the vehicle is stopped (or killed) just after the first check passed: in that
    # check's teardown or the next one's setup
    run.wait_for("the first check's verdict", run.seen(r"test_param_round_trip PASSED"))
    (lost,) = run.signal_sims(sig)
    done = run.finish()
    outcomes = done.outcomes()
    # then at most one check pays for it, the others pass on a fresh vehicle, and the check
    # whose vehicle was replaced says why
    assert len(outcomes) == 5 and list(outcomes.values()).count("passed") >= 4, outcomes
    why = "is stopped (SIGSTOP)" if sig == signal.SIGSTOP else "exited with code -9"
    restarts = [r for c in done.results["checks"] for r in c["restarts"]]
    assert any(why in r for r in restarts), restarts
    assert run.ended_at - run.signalled_at < 20  # 4 quick checks, one of them a little late
    assert not run.leftovers() and lost in run.sims


def test_a_vehicle_frozen_or_killed_at_any_moment_fails_one_check_the_next_gets_a_fresh_one(
    tmp_path,
):
    scenario = ROOT / "tests" / "scenarios" / "dying_vehicle.py"
    profile = write_profile(tmp_path / "quick.yaml", "link:\n  silence_s: 2\n")
    run = run_pytest(str(scenario), "--profile", str(profile), report_dir=tmp_path / "r")
    assert "2 failed, 6 passed, 1 error" in run.output, run.output[-3000:]
    assert "vehicle lost while waiting for a heartbeat that never comes" in run.output
    assert "simulator exited with code -9" in run.output
    # a stopped (SIGSTOP) process is seen at once, not only after link.silence_s
    assert re.search(r"while waiting for a heartbeat from a frozen vehicle: simulator \(pid \d+\) "
                     r"is stopped \(SIGSTOP\)", run.output)  # fmt: skip
    outcomes = run.outcomes()
    assert outcomes["test_vehicle_frozen_in_setup"] == "error"  # one bounded failure
    assert outcomes["test_vehicle_frozen_in_teardown"] == "passed"  # its verdict stands
    checks = {c["nodeid"].split("::")[-1]: c for c in run.results["checks"]}
    assert "is stopped (SIGSTOP)" in checks["test_vehicle_frozen_in_setup"]["message"]
    assert any("stopped after this check: simulator" in r and "SIGSTOP" in r
               for r in checks["test_vehicle_frozen_in_teardown"]["restarts"])  # fmt: skip


# -- Ctrl-C and SIGTERM -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sig", "hung", "stopped"),
    [(signal.SIGINT, False, "interrupted (Ctrl-C)"),
     (signal.SIGINT, True, "interrupted (Ctrl-C)"),
     (signal.SIGTERM, False, "terminated by SIGTERM"),
     (signal.SIGTERM, True, "terminated by SIGTERM")],
    ids=["ctrl-c", "ctrl-c-hung-vehicle", "sigterm", "sigterm-hung-vehicle"],
)  # fmt: skip
def test_an_interrupted_run_ends_at_once_with_an_honest_report_and_nothing_left(
    tmp_path, sig, hung, stopped
):
    profile = write_profile(tmp_path / "slow.yaml", "vehicle:\n  speedup: 4\n")
    run = WatchedRun(*BASIC, "--profile", str(profile), report_dir=tmp_path / "r")
    # given a run whose third check (the flight) is under way: its tlog is being written
    tlogs = tmp_path / "r"
    run.wait_for("the flight check's tlog", lambda: any(
        t.stat().st_size > 2000 for t in tlogs.glob("*/tlogs/*test_arm_takeoff_land.tlog")))
    if hung:  # and, for a worse case, its vehicle hung
        run.signal_sims(signal.SIGSTOP)
    # when the user presses Ctrl-C, or CI cancels the job (SIGTERM)
    run.signal(sig)
    done = run.finish()
    # then the run ends promptly, as interrupted, with its reports for what ran
    assert done.code == 2, done.output[-3000:]
    assert run.ended_at - run.signalled_at <= 5.0, f"took {run.ended_at - run.signalled_at:.1f} s"
    assert "Traceback" not in done.output and "INTERNALERROR" not in done.output
    assert done.outcomes() == {
        "test_param_round_trip": "passed", "test_float_param_keeps_its_fraction": "passed",
        "test_arm_takeoff_land": "interrupted",
        "test_heartbeat_rate": "not_run", "test_heartbeat_largest_gap": "not_run",
    }  # fmt: skip
    assert done.results["verdict"] == "INCOMPLETE" and done.results["run"]["stopped"] == stopped
    summary = (done.run_dir / "summary.md").read_text()
    assert "**verdict: INCOMPLETE** — 2 passed, 1 interrupted, 2 not run" in summary, summary
    junit = (done.run_dir / "junit.xml").read_text()
    assert "test_param_round_trip" in junit and "test_float_param_keeps_its_fraction" in junit
    # and no simulator, nor a port it held, is left behind (a stopped one neither)
    assert not run.leftovers(), run.leftovers()


def test_sigterm_to_the_xdist_controller_alone_ends_every_worker_at_once(tmp_path):
    # given a run on two xdist workers whose flight check is under way, its vehicles then hung
    profile = write_profile(tmp_path / "slow.yaml", "vehicle:\n  speedup: 4\n")
    run = WatchedRun(*BASIC, "-n", "2", "--profile", str(profile), report_dir=tmp_path / "r")
    flight = "*/tlogs/*test_arm_takeoff_land.tlog"
    run.wait_for("the flight check's tlog", lambda: any(
        t.stat().st_size > 2000 for t in (tmp_path / "r").glob(flight)))
    run.signal_sims(signal.SIGSTOP)
    # when only the controller gets SIGTERM (`docker stop`, a CI runner cancelling the job)
    run.signal(signal.SIGTERM)
    done = run.finish()
    # then the whole run ends promptly as interrupted, and nothing is left behind
    assert done.code == 2, done.output[-3000:]
    assert run.ended_at - run.signalled_at <= 5.0, f"took {run.ended_at - run.signalled_at:.1f} s"
    assert done.results["verdict"] == "INCOMPLETE", done.results["verdict"]
    assert done.outcomes()["test_arm_takeoff_land"] in ("interrupted", "error"), done.outcomes()
    assert not run.leftovers(), run.leftovers()


# -- wall-time bounds ---------------------------------------------------------------------------
def test_a_check_past_its_wall_time_bound_fails_naming_it_and_the_run_goes_on(tmp_path):
    scenario = ROOT / "tests" / "scenarios" / "overrunning_check.py"
    profile = write_profile(tmp_path / "quick.yaml", "link:\n  silence_s: 2\n")
    run = run_pytest(str(scenario), "--profile", str(profile), report_dir=tmp_path / "r")
    assert run.code == 1 and "1 failed, 2 passed" in run.output, run.output[-3000:]
    (over,) = [c for c in run.results["checks"] if c["outcome"] == "failed"]
    assert "ran past its wall-time bound of 2 s (its timeout marker or --timeout)" in (
        over["message"]
    )
    assert any("vehicle stopped after this check" in r for r in over["restarts"])


def test_the_profiles_wall_time_bounds_fail_a_check_and_stop_a_run(tmp_path):
    # the floors shrunk (tests/scenarios/tight_bounds.py) so that real checks meet them in
    # seconds; the bounds are still derived and applied as in any run
    profile = write_profile(tmp_path / "slow.yaml", "vehicle:\n  speedup: 2\n")
    tight = {"SKYPROOF_TEST_CHECK_FLOOR_S": "6", "SKYPROOF_TEST_RUN_FLOOR_S": "600"}
    run = WatchedRun("-p", "tests.scenarios.tight_bounds", BASIC[1], BASIC[0], "--profile",
                     str(profile), report_dir=tmp_path / "check", env=tight)  # fmt: skip
    done = run.finish()
    # the flight takes ~20 s at speedup 2: cut at 6 s, failed, its vehicle replaced, and the
    # run goes on with a fresh one
    assert done.outcomes() == {
        "test_arm_takeoff_land": "failed",
        "test_param_round_trip": "passed", "test_float_param_keeps_its_fraction": "passed",
    }, done.output  # fmt: skip
    flight = next(c for c in done.results["checks"] if c["outcome"] == "failed")
    assert "ran past its wall-time bound of 6 s (6 s + 0 × " in flight["message"]
    assert "vehicle s of suites.basic bounds / speedup 2)" in flight["message"]
    assert any("vehicle stopped after this check" in r for r in flight["restarts"])
    assert not run.leftovers()
    # and a run past its own bound starts no further check: the rest are not run
    tight = {"SKYPROOF_TEST_CHECK_FLOOR_S": "600", "SKYPROOF_TEST_RUN_FLOOR_S": "0.01"}
    run = WatchedRun("-p", "tests.scenarios.tight_bounds", BASIC[0], "--profile", str(profile),
                     report_dir=tmp_path / "run", env=tight)  # fmt: skip
    done = run.finish()
    assert done.code == 2 and done.results["verdict"] == "INCOMPLETE", done.output
    assert done.outcomes() == {"test_param_round_trip": "passed",
                               "test_float_param_keeps_its_fraction": "not_run"}  # fmt: skip
    assert "the run passed its wall-time bound of 0 s" in done.results["run"]["stopped"]
    assert not run.leftovers()
