"""Every check can fail: against each named simulator fault, the default profile fails exactly
the checks that speak to that fault, and says why with the measured figure."""

import pytest

from tests.run_pytest import run_pytest, write_profile

# fault -> the checks it must fail (and no others)
EXPECTED = {
    "heartbeat_gaps": {"test_heartbeat_rate", "test_heartbeat_largest_gap"},
    "param_writes_ignored": {"test_param_round_trip"},
    "takeoff_stalls": {"test_arm_takeoff_land"},
}
# a phrase of each failure's message: the figure and its bound, or what was waited for
SAYS = {
    "heartbeat_gaps": "largest heartbeat gap = ",
    "param_writes_ignored": "read back = ",
    "takeoff_stalls": "for relative altitude 10 m",
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_checks(fault, tmp_path):
    # given the default profile with one simulator fault switched on
    profile = write_profile(
        tmp_path / f"{fault}.yaml", f"name: known-bad {fault}\nvehicle:\n  faults: [{fault}]\n"
    )
    # when the suites run against it
    run = run_pytest("suites", "--profile", str(profile), report_dir=tmp_path / "reports")
    # then the run fails, naming exactly the checks that should catch this fault
    assert run.code == 1, run.output[-3000:]
    failed = {name for name, outcome in run.outcomes().items() if outcome != "passed"}
    assert failed == EXPECTED[fault], run.output[-3000:]
    messages = " ".join(c["message"] for c in run.results["checks"])
    assert SAYS[fault] in messages, messages
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()
