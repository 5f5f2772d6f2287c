"""Every check can fail: against each named simulator fault, the suite that speaks to it fails
exactly the checks that should catch the fault (the suite's other checks still pass), and the
failure says why with the measured figure."""

import pytest

from tests.run_pytest import run_pytest, write_profile

# fault -> (the suite folder it is run against, the checks that must fail there, a phrase of
# their failure: the figure and its bound, or what was waited for)
EXPECTED = {
    "heartbeat_gaps": (
        "suites/basic",
        {"test_heartbeat_rate", "test_heartbeat_largest_gap"},
        "largest heartbeat gap = ",
    ),
    "param_writes_ignored": ("suites/basic", {"test_param_round_trip"}, "read back = "),
    "takeoff_stalls": ("suites/basic", {"test_arm_takeoff_land"}, "for relative altitude 10 m"),
    "no_gcs_failsafe": (
        "suites/failsafe",
        {"test_failsafe_fires_on_time", "test_failsafe_takes_the_configured_action_and_says_so"},
        "the mode never changed",
    ),
    "gcs_failsafe_late": (
        "suites/failsafe",
        {"test_failsafe_fires_on_time"},
        "failsafe no earlier than (last old-mode beat) = ",
    ),
    "gcs_failsafe_wrong_action": (
        "suites/failsafe",
        {"test_failsafe_takes_the_configured_action_and_says_so"},
        "the vehicle went to LAND, the profile expects RTL",
    ),
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_fails_exactly_its_checks(fault, tmp_path):
    suite, checks, says = EXPECTED[fault]
    # given the default profile with one simulator fault switched on
    profile = write_profile(
        tmp_path / f"{fault}.yaml", f"name: known-bad {fault}\nvehicle:\n  faults: [{fault}]\n"
    )
    # when the suite that speaks to it runs
    run = run_pytest(suite, "--profile", str(profile), report_dir=tmp_path / "reports")
    # then the run fails, naming exactly the checks that should catch this fault
    assert run.code == 1, run.output[-3000:]
    failed = {name for name, outcome in run.outcomes().items() if outcome != "passed"}
    assert failed == checks, run.output[-3000:]
    messages = " ".join(c["message"] for c in run.results["checks"])
    assert says in messages, messages
    assert "verdict: FAIL" in (run.run_dir / "summary.md").read_text()
